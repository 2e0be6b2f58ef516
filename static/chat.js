// The chat page, made live (it works without this file: a form, a refresh link).
// - New messages arrive over SSE (htmx's hx-sse:connect on #messages, upserted by
//   data-seq). If the stream fails or is refused, this polls ?after={last seen seq}
//   every 3 s (until the stream is back, if it comes back by itself).
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
    if (window.htmx) {
      htmx.ajax("GET", "/chats/" + chatId + "/messages?after=" + lastSeq(), { target: "#messages", swap: "upsert key:data-seq" });
    }
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
    var isPoll = action.indexOf(base + "messages?after=") !== -1;
    var isStream = action.indexOf(base + "events") !== -1;
    if ((!isPoll && !isStream) || ctx.response.status < 400) return;
    event.preventDefault();
    if (ctx.response.status === 404) {
      stopPolling();
      window.location.reload();
    } else if (isStream) {
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
