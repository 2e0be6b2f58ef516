// Message actions, on every chat page (the latest messages and pages of history):
// - a permalink's message (?at=) is scrolled to and focused;
// - "Edit" turns the message into an inline editor: Enter saves, Shift+Enter is a new
//   line, Escape cancels (without JavaScript the link opens the edit page).
(function () {
  "use strict";
  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers:inherited"))["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }
  var highlighted = document.querySelector(".message.highlighted");
  if (highlighted) {
    highlighted.scrollIntoView({ block: "center" });
    highlighted.focus({ preventScroll: true });
  }

  function swapIn(li, html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    var fresh = t.content.firstElementChild;
    if (!fresh) return null;
    li.replaceWith(fresh);
    if (window.htmx) htmx.process(fresh);
    return fresh;
  }

  function openEditor(link) {
    var li = link.closest("li.message");
    var body = li && li.querySelector(".message-body");
    if (!body || li.querySelector(".inline-editor")) return;
    var details = link.closest("details");
    if (details) details.open = false;
    var form = document.createElement("form");
    form.className = "inline-editor";
    var id = "edit-" + li.id;
    form.innerHTML = '<label class="visually-hidden"></label><textarea rows="2" maxlength="4000" required></textarea>' +
      '<p class="muted small">Enter saves · Escape cancels</p><p class="field-error" role="alert" hidden></p>' +
      '<div class="form-actions"><button class="btn btn-primary" type="submit">Save</button> ' +
      '<button class="btn btn-quiet" type="button">Cancel</button></div>';
    var label = form.querySelector("label"), area = form.querySelector("textarea");
    var error = form.querySelector(".field-error");
    label.textContent = "Edit message";
    label.htmlFor = id;
    area.id = id;
    area.value = body.textContent;
    body.hidden = true;
    body.after(form);
    area.focus();
    function cancel() {
      form.remove();
      body.hidden = false;
      var summary = li.querySelector(".message-actions summary");
      if (summary) summary.focus();
    }
    function save() {
      fetch(link.getAttribute("href"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrfToken(), "HX-Request": "true" },
        body: "text=" + encodeURIComponent(area.value),
      }).then(function (resp) {
        return resp.text().then(function (text) {
          if (resp.ok) {
            var fresh = swapIn(li, text);
            var summary = fresh && fresh.querySelector(".message-actions summary");
            if (summary) summary.focus();
            return;
          }
          var doc = new DOMParser().parseFromString(text, "text/html");
          var why = doc.querySelector(".field-error, .error-message, main p");
          error.textContent = why ? why.textContent : "The message could not be saved.";
          error.hidden = false;
        });
      }).catch(function () {
        error.textContent = "The message could not be saved. Check your connection.";
        error.hidden = false;
      });
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); save(); });
    form.querySelector("button[type=button]").addEventListener("click", cancel);
    area.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); cancel(); }
      else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); save(); }
    });
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("li.message a.edit-link");
    if (!link) return;
    e.preventDefault();
    openEditor(link);
  });

  // "Reply" on the live chat page: the send form answers that message without a page
  // load (without JavaScript the link opens the page with ?reply_to=).
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("li.message a.reply-link");
    var banner = document.getElementById("composer-reply");
    var list = document.getElementById("messages");
    if (!link || !banner || !list || !list.dataset.chat) return;
    var li = link.closest("li.message");
    var input = banner.querySelector("input[name=reply_to]");
    if (!li || !input) return;
    e.preventDefault();
    var details = link.closest("details");
    if (details) details.open = false;
    input.value = li.getAttribute("data-seq");
    input.disabled = false;
    var author = li.querySelector(".message-author");
    banner.querySelector("strong").textContent = author ? author.textContent : "";
    var body = li.querySelector(".message-body");
    var text = body ? body.textContent : "";
    banner.querySelector(".quote-text").textContent = text.length > 120 ? text.slice(0, 120) + "…" : text;
    banner.hidden = false;
    var area = document.getElementById("composer-text");
    if (area) area.focus();
  });
  document.addEventListener("click", function (e) {
    var cancel = e.target.closest && e.target.closest("a[data-cancel-reply]");
    var banner = document.getElementById("composer-reply");
    var list = document.getElementById("messages");
    if (!cancel || !banner || !list || !list.dataset.chat) return;
    e.preventDefault();
    var input = banner.querySelector("input[name=reply_to]");
    if (input) { input.value = ""; input.disabled = true; }
    banner.hidden = true;
    var area = document.getElementById("composer-text");
    if (area) area.focus();
  });
  window.chaatSwapIn = swapIn;
})();

// The chat page, made live (it works without this file: a form, a refresh link).
// - New messages arrive over SSE (htmx's hx-sse:connect on #messages, upserted by
//   data-seq); a change to a message arrives as `event: update` and replaces it in
//   place (a message not on the page is left alone). If the stream fails or is refused,
//   this polls ?after={last seen seq}&since={last seen rev} every 3 s (until the stream
//   is back, if it comes back by itself): new messages are added, changed ones replaced.
// - While the page is visible, the read marker follows the newest message.
// - Messages are grouped as the server groups them (views::chats::continues): a text
//   continues the one before it when both are texts of one sender, of the same UTC day,
//   sent less than the list's data-group-within seconds apart.
(function () {
  "use strict";
  var list = document.getElementById("messages");
  if (!list || !list.dataset.chat) return;
  var chatId = list.dataset.chat;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers:inherited"))["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function lastSeq() {
    var max = Number(list.dataset.lastSeq) || 0;
    list.querySelectorAll("[data-seq]").forEach(function (el) {
      var seq = Number(el.getAttribute("data-seq"));
      if (seq > max) max = seq;
    });
    return max;
  }

  function lastRev() {
    var max = Number(list.dataset.lastRev) || 0;
    list.querySelectorAll("[data-rev]").forEach(function (el) {
      var rev = Number(el.getAttribute("data-rev"));
      if (rev > max) max = rev;
    });
    return max;
  }

  // Messages from an update event or a poll: each replaces its own element, or (a new
  // one) goes at the end; a change to a message this page does not show is dropped.
  function place(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    var newest = lastSeq();
    Array.prototype.slice.call(t.content.children).forEach(function (li) {
      var existing = li.id && document.getElementById(li.id);
      if (existing) {
        if (existing.querySelector(".inline-editor")) return;
        // Whoever was working in this message keeps their place (the focus).
        var focused = existing.contains(document.activeElement);
        existing.replaceWith(li);
        var summary = focused && li.querySelector(".message-actions summary");
        if (summary) summary.focus();
      } else if (Number(li.getAttribute("data-seq")) > newest) {
        list.appendChild(li);
      } else {
        return;
      }
      if (window.htmx) htmx.process(li);
    });
  }
  list.addEventListener("update", function (e) {
    if (e.detail && typeof e.detail.data === "string") place(e.detail.data);
  });

  // ---- Read marker ----
  var readUpTo = Number(list.dataset.lastSeq) || 0;
  var readTimer = null;
  function markRead() {
    if (document.visibilityState !== "visible") return;
    var seq = lastSeq();
    if (seq <= readUpTo) return;
    readUpTo = seq;
    fetch("/chats/" + chatId + "/read", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrfToken() },
      body: "seq=" + encodeURIComponent(seq),
    }).catch(function () { readUpTo = 0; });
  }
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(markRead, 250);
  }
  document.addEventListener("visibilitychange", scheduleRead);

  // ---- Grouping of messages that arrive live (the server's rule) ----
  var groupWithin = Number(list.dataset.groupWithin) || 0;
  function continues(prev, li) {
    if (!prev || prev.getAttribute("data-kind") !== "text" || li.getAttribute("data-kind") !== "text") return false;
    if (prev.getAttribute("data-sender") !== li.getAttribute("data-sender")) return false;
    var a = Number(prev.getAttribute("data-at")), b = Number(li.getAttribute("data-at"));
    return Math.floor(a / 86400) === Math.floor(b / 86400) && b - a < groupWithin;
  }
  function group() {
    var prev = null;
    Array.prototype.forEach.call(list.children, function (li) {
      if (li.classList.contains("message")) {
        if (continues(prev, li)) li.classList.add("continued");
        var empty = list.querySelector(".chat-empty");
        if (empty) empty.remove();
      }
      if (li.hasAttribute("data-seq")) prev = li;
      else if (li.classList.contains("day-separator")) prev = null;
    });
  }
  new MutationObserver(function () {
    group();
    scheduleRead();
  }).observe(list, { childList: true });

  // ---- Polling while the event stream is down ----
  var poller = null;
  function poll() {
    fetch("/chats/" + chatId + "/messages?after=" + lastSeq() + "&since=" + lastRev(), {
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    }).then(function (resp) {
      var to = resp.headers.get("HX-Redirect");
      if (to) { window.location.assign(to); return; }
      if (resp.status === 404) { stopPolling(); window.location.reload(); return; }
      if (!resp.ok) return;
      return resp.text().then(place);
    }).catch(function () {});
  }
  function stopPolling() {
    if (poller) clearInterval(poller);
    poller = null;
  }
  function startPolling() {
    if (!poller) poller = setInterval(poll, 3000);
  }
  // An error answer to the stream or to a poll must not be swapped into the page. A 404
  // means this chat is gone for us (removed from a group): reload to show it. A stream
  // refused for another reason (503: turned off, or the server is busy) means polling.
  document.addEventListener("htmx:before:response", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var action = ctx && ctx.request && String(ctx.request.action);
    if (!action || !ctx.response) return;
    var base = "/chats/" + chatId + "/";
    var isStream = action.indexOf(base + "events") !== -1;
    if (!isStream || ctx.response.status < 400) return;
    event.preventDefault();
    if (ctx.response.status === 404) {
      stopPolling();
      window.location.reload();
    } else {
      startPolling();
    }
  });
  list.addEventListener("htmx:sse:error", startPolling);
  list.addEventListener("htmx:sse:after:connection", function () {
    if (poller) {
      stopPolling();
      poll();
    }
  });
})();
