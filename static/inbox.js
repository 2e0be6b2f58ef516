// The live inbox (SPEC §6), on every page of a logged-in person. Every page works
// without it. One event stream per tab: a chat page's own stream (#messages) or, on
// other pages, #inbox-stream (GET /events). htmx's SSE extension dispatches each named
// event as a DOM event on the stream's element, with the HTML in event.detail.data:
//
//   chat      a chat list item (li#chat-{id}): upserted and moved to the top of
//             #chat-list; may show a browser notification (below)
//   badges    span#inbox-state (counts, notification settings) and the two nav badges:
//             replaced; the title's "(N) " follows the unread count
//   request   an incoming friend request (upserted into #incoming-requests on /friends)
//             or an answer to one of mine (replaces it in the sent list)
//   typing    "alice is typing…" under the open chat, for at most 6 s or until her
//             next message arrives
//   read      "Seen" under my last message the other person read (direct chats)
//
// Also: while the composer is typed in, POST /chats/{id}/typing at most once per 3 s;
// and Settings' notification form asks the browser's permission when it turns them on.
// Badge changes are not announced (no live region); new messages are announced once by
// the open chat's own list.
(function () {
  "use strict";
  if (!window.htmx) return;
  // A stream keeps running in a hidden tab: that is when notifications matter.
  htmx.config.sse = Object.assign({}, htmx.config.sse || {}, { pauseOnBackground: false });

  var TYPING_SHOWN_MS = 6000;
  var TYPING_EVERY_MS = 3000;
  var prefs = { notify: "off", previews: "on" };

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers:inherited"))["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  // Server-rendered, escaped HTML (our own templates) into nodes; scripts never run.
  function parse(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  function data(event) {
    return (event.detail && typeof event.detail.data === "string") ? event.detail.data : "";
  }

  function on(name, handler) {
    // Capture: the events are dispatched on the stream's element.
    document.addEventListener(name, function (event) {
      if (event.detail && typeof event.detail.data === "string") handler(event);
    }, true);
  }

  // ---- chat: upsert the list item, move it to the top ----
  on("chat", function (event) {
    var item = parse(data(event)).querySelector("li[id^='chat-']");
    if (!item) return;
    var old = document.getElementById(item.id);
    var before = old ? { seq: Number(old.dataset.chatSeq) || 0 } : null;
    var list = document.getElementById("chat-list");
    if (old) old.remove();
    if (list) {
      list.insertBefore(item, list.firstChild);
      var empty = document.getElementById("chat-list-empty");
      if (empty) empty.remove();
    }
    maybeNotify(item, before);
  });

  // ---- badges: replace them, and the title's count ----
  function placeBadge(fragment, badgeId, linkId) {
    var old = document.getElementById(badgeId);
    if (old) old.remove();
    var badge = fragment.querySelector("#" + badgeId);
    var link = document.getElementById(linkId);
    if (badge && link) link.appendChild(badge);
  }
  on("badges", function (event) {
    // Every stream's first event: from now on no change of the inbox is missed (the
    // browser tests wait for this instead of guessing when the stream is up).
    document.documentElement.dataset.inbox = "live";
    var fragment = parse(data(event));
    var state = fragment.querySelector("#inbox-state");
    if (state) {
      prefs.notify = state.dataset.notify || "off";
      prefs.previews = state.dataset.previews || "on";
      var unread = Number(state.dataset.unread) || 0;
      var bare = document.title.replace(/^\(\d+\+?\) /, "");
      document.title = unread > 0 ? "(" + unread + ") " + bare : bare;
    }
    placeBadge(fragment, "badge-chats", "nav-chats");
    placeBadge(fragment, "badge-friends", "nav-friends");
  });

  // ---- request: on /friends, the incoming list, or an answer to mine ----
  on("request", function (event) {
    var item = parse(data(event)).querySelector("li[id^='request-']");
    if (!item) return;
    var old = document.getElementById(item.id);
    if (item.dataset.status) {
      // An answer: it takes the place of my request in the sent list, if shown.
      if (old) {
        old.replaceWith(item);
      }
      return;
    }
    var list = document.getElementById("incoming-requests");
    if (!list) return;
    if (old) old.remove();
    list.insertBefore(item, list.firstChild);
    var empty = document.getElementById("incoming-empty");
    if (empty) empty.remove();
    htmx.process(item);
  });

  // ---- typing ----
  var typingEl = document.getElementById("typing");
  var typingTimer = null;
  var typingUser = null;
  function hideTyping() {
    clearTimeout(typingTimer);
    typingUser = null;
    if (typingEl) {
      typingEl.hidden = true;
      typingEl.textContent = "";
    }
  }
  on("typing", function (event) {
    if (!typingEl) return;
    var who = parse(data(event)).querySelector("[data-user]");
    if (!who) return;
    typingUser = who.getAttribute("data-user");
    typingEl.textContent = who.textContent;
    typingEl.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
  });

  // ---- read: "Seen" under my last message they read ----
  var messages = document.getElementById("messages");
  var seenSeq = messages ? Number(messages.dataset.seenSeq) || 0 : 0;
  function placeSeen() {
    if (!messages || !seenSeq) return;
    var mine = messages.querySelectorAll("li.message.mine[data-seq]");
    var target = null;
    for (var i = 0; i < mine.length; i++) {
      if (Number(mine[i].getAttribute("data-seq")) <= seenSeq) target = mine[i];
    }
    var marker = messages.querySelector(".seen-marker");
    if (marker && marker.parentNode === target) return;
    if (marker) marker.remove();
    if (!target) return;
    marker = document.createElement("p");
    marker.className = "seen-marker";
    marker.textContent = "Seen";
    target.appendChild(marker);
  }
  on("read", function (event) {
    var el = parse(data(event)).querySelector("[data-seq]");
    var seq = el ? Number(el.getAttribute("data-seq")) || 0 : 0;
    if (seq > seenSeq) seenSeq = seq;
    placeSeen();
  });
  if (messages) {
    placeSeen();
    new MutationObserver(function (mutations) {
      for (var i = 0; i < mutations.length; i++) {
        var added = mutations[i].addedNodes;
        for (var j = 0; j < added.length; j++) {
          var node = added[j];
          // Her message arrived: she is no longer typing it.
          if (node.nodeType === 1 && typingUser && node.getAttribute("data-sender") === typingUser) hideTyping();
        }
      }
      placeSeen();
    }).observe(messages, { childList: true });
  }

  // ---- Sending "typing" while the composer is typed in ----
  var lastTyping = 0;
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || !field.closest("form.composer") || !messages) return;
    var now = Date.now();
    if (now - lastTyping < TYPING_EVERY_MS || field.value.trim() === "") return;
    lastTyping = now;
    fetch("/chats/" + messages.dataset.chat + "/typing", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "HX-Request": "true" },
    }).catch(function () {});
  });

  // ---- Notifications ----
  function maybeNotify(item, before) {
    if (prefs.notify !== "on" || !("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible") return;
    if (!item.hasAttribute("data-notifies") || item.hasAttribute("data-from-me")) return;
    var seq = Number(item.dataset.chatSeq) || 0;
    var unread = Number(item.dataset.unread) || 0;
    // A new message (not a read, a mute or a rename) that is unread.
    if (unread < 1 || (before && seq <= before.seq)) return;
    var preview = item.querySelector(".chat-row-preview");
    var sender = item.dataset.sender || item.dataset.title || "";
    var body = prefs.previews === "on" && preview ? preview.textContent : sender + " sent a message";
    var note = new Notification(item.dataset.title || "Chaat", { body: body, tag: "chat-" + item.dataset.chat });
    note.onclick = function () {
      window.focus();
      window.location.href = "/chats/" + item.dataset.chat;
      note.close();
    };
  }

  // Settings: the browser's permission is asked only when notifications are turned on.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "notifications-form") return;
    var choice = form.querySelector("input[name=notify]:checked");
    if (!choice || choice.value !== "on" || !("Notification" in window) || Notification.permission !== "default") return;
    event.preventDefault();
    Promise.resolve(Notification.requestPermission()).then(function () { form.submit(); }, function () { form.submit(); });
  });
  var permission = document.getElementById("notifications-permission");
  if (permission && "Notification" in window && Notification.permission === "denied") {
    permission.textContent = "Your browser blocks notifications from Chaat: allow them in its settings for this site.";
  }

  // An error answer to /events is not swapped into the page; the extension retries.
  document.addEventListener("htmx:before:response", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var action = ctx && ctx.request && String(ctx.request.action);
    if (action && action.indexOf("/events") !== -1 && ctx.response && ctx.response.status >= 400 && !/\/chats\//.test(action)) {
      event.preventDefault();
    }
  });
})();
