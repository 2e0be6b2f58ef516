// Chaat's own small script. Every page works without it; it only adds comfort.
// Runs under `script-src 'self'`: no eval, no inline handlers, no innerHTML of user data.
// Content that htmx swaps in later is handled too (event delegation + MutationObserver).
//
//   form[data-confirm="Question?"]   asks before submitting (for htmx forms use hx-confirm)
//   time[datetime][data-format]      rewritten in the reader's time zone and locale;
//                                    data-format is "date", "datetime" or "time"
//   input[type=file][data-preview]   shows the chosen picture in the <img> whose id is
//                                    the attribute's value, and refuses files over
//                                    data-max-bytes before they are uploaded
//   [aria-invalid="true"]            the first one gets focus when a page loads
//   .messages                        starts scrolled to the newest message and stays
//                                    there as messages arrive, unless the reader scrolled up
//   .composer textarea               Enter sends, Shift+Enter starts a new line
(function () {
  "use strict";

  // ---- Confirmations ----
  // Capture phase, so a cancelled submit never reaches htmx's own listeners.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form instanceof HTMLFormElement && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // ---- Local times ----
  var timeFormats = {
    date: { day: "numeric", month: "short", year: "numeric" },
    datetime: { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" },
    time: { hour: "2-digit", minute: "2-digit" }
  };
  var longFormat = { dateStyle: "full", timeStyle: "short" };

  function localizeTimes(root) {
    var times = root.querySelectorAll("time[datetime][data-format]:not([data-localized])");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var options = timeFormats[el.getAttribute("data-format")];
      var when = new Date(el.getAttribute("datetime"));
      if (!options || isNaN(when.getTime())) continue;
      el.setAttribute("data-localized", "");
      try {
        el.textContent = new Intl.DateTimeFormat(undefined, options).format(when);
        if (!el.title) el.title = new Intl.DateTimeFormat(undefined, longFormat).format(when);
      } catch (e) {
        // An old browser without these Intl options keeps the server's UTC text.
      }
    }
  }

  // ---- Message lists: stay pinned to the newest message ----
  var NEAR_BOTTOM_PX = 80;

  function scrollToEnd(list) {
    list.scrollTop = list.scrollHeight;
  }

  function pinMessages(root) {
    var lists = root.querySelectorAll(".messages:not([data-pinned])");
    for (var i = 0; i < lists.length; i++) {
      (function (list) {
        list.setAttribute("data-pinned", "");
        list.chaatAtEnd = true;
        scrollToEnd(list);
        list.addEventListener("scroll", function () {
          list.chaatAtEnd = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
        }, { passive: true });
        // Older messages prepended at the top keep their place by CSS scroll anchoring;
        // new ones at the end scroll into view only if the reader was at the end.
        new MutationObserver(function () {
          if (list.chaatAtEnd) scrollToEnd(list);
        }).observe(list, { childList: true });
      })(lists[i]);
    }
  }

  // Sending a message always brings you back to the newest one.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("composer")) return;
    var chat = form.closest(".chat");
    var list = chat && chat.querySelector(".messages");
    if (list) {
      list.chaatAtEnd = true;
      scrollToEnd(list);
    }
  });

  // ---- Composer: Enter sends ----
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.isComposing || !(field instanceof HTMLTextAreaElement)) return;
    var form = field.closest("form.composer");
    if (!form) return;
    event.preventDefault();
    // attachments.js marks a form holding files: those may go without text.
    if (field.value.trim() === "" && !form.hasAttribute("data-files")) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  });

  // ---- Picture preview before upload ----
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
    var targetId = input.getAttribute("data-preview");
    if (!targetId) return;
    var file = input.files && input.files[0];
    var maxBytes = Number(input.getAttribute("data-max-bytes")) || 0;
    input.setCustomValidity("");
    if (!file) return;
    if (maxBytes && file.size > maxBytes) {
      input.setCustomValidity("This file is too large. Choose a picture up to " +
        Math.round(maxBytes / 1048576) + " MB.");
      input.reportValidity();
      return;
    }
    var img = document.getElementById(targetId);
    if (!img || !/^image\//.test(file.type)) return;
    // A data: URL, because the CSP allows img-src 'self' data: (not blob:).
    var reader = new FileReader();
    reader.addEventListener("load", function () {
      img.src = String(reader.result);
      img.alt = "Preview of your new display picture";
    });
    reader.readAsDataURL(file);
  });

  // ---- Start-up and swapped-in content ----
  function enhance(root) {
    localizeTimes(root);
    pinMessages(root);
  }

  function start() {
    enhance(document);
    var invalid = document.querySelector('main [aria-invalid="true"]');
    if (invalid) invalid.focus();
    new MutationObserver(function (mutations) {
      for (var i = 0; i < mutations.length; i++) {
        var added = mutations[i].addedNodes;
        for (var j = 0; j < added.length; j++) {
          var node = added[j];
          if (node.nodeType !== 1) continue;
          // The node itself may be what we look for (querySelectorAll skips the root).
          enhance(node.parentNode || node);
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
