// Files in the composer and the picture viewer (SPEC 8). Without this script the
// composer is a multipart form with a plain file input, and pictures are links.
//
//   form.composer   gets [data-js]: the file input hides behind an "Attach files"
//                   button; files can be picked, pasted or dropped, each is listed with
//                   its name, size, a progress bar and a remove button. A send with
//                   files is one XHR of the whole form (upload progress per file); the
//                   answer (a fresh composer, or the form with the error) replaces the
//                   form. Text alone goes through htmx as before (urlencoded).
//   a[data-viewer]  opens the full picture in a <dialog>: Escape or "Close" closes it,
//                   the arrow keys go to the previous or next picture of the page.
// Runs under `script-src 'self'`: no inline handlers, file names go in as text only.
(function () {
  "use strict";

  var files = new WeakMap(); // form -> [File]

  function sizeText(bytes) {
    if (bytes < 1000) return bytes + " bytes";
    if (bytes < 1000000) return Math.round(bytes / 1000) + " KB";
    return (bytes / 1000000).toFixed(1) + " MB";
  }

  function setUp(form) {
    if (!form || form.hasAttribute("data-js")) return;
    form.setAttribute("data-js", "");
    // Text alone is sent urlencoded by htmx; files go with our own upload below.
    form.removeAttribute("enctype");
    var list = document.createElement("ul");
    list.className = "composer-list";
    list.setAttribute("aria-label", "Files to send");
    list.setAttribute("aria-live", "polite");
    form.insertBefore(list, form.firstChild);
    if (!files.has(form)) files.set(form, []);
    render(form);
  }

  function pending(form) {
    return files.get(form) || [];
  }

  function add(form, chosen) {
    var list = pending(form);
    for (var i = 0; i < chosen.length; i++) list.push(chosen[i]);
    files.set(form, list);
    render(form);
  }

  function render(form) {
    var ul = form.querySelector(".composer-list");
    if (!ul) return;
    var list = pending(form);
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    list.forEach(function (file, index) {
      var li = document.createElement("li");
      li.className = "composer-file";
      var name = document.createElement("span");
      name.className = "composer-file-name";
      name.textContent = file.name || "pasted file";
      var size = document.createElement("span");
      size.className = "composer-file-size";
      size.textContent = sizeText(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + (file.name || "pasted file"));
      remove.addEventListener("click", function () {
        list.splice(index, 1);
        render(form);
        var text = form.querySelector("textarea");
        if (text) text.focus();
      });
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", "Upload of " + (file.name || "pasted file"));
      li.appendChild(name);
      li.appendChild(size);
      li.appendChild(remove);
      li.appendChild(bar);
      ul.appendChild(li);
    });
    if (list.length) form.setAttribute("data-files", String(list.length));
    else form.removeAttribute("data-files");
  }

  function composerOf(node) {
    return node && node.closest ? node.closest("form.composer") : null;
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.classList.contains("composer-files")) return;
    var form = composerOf(input);
    if (!form || !form.hasAttribute("data-js")) return;
    add(form, input.files);
    input.value = "";
  });

  document.addEventListener("paste", function (event) {
    var form = composerOf(event.target);
    var data = event.clipboardData;
    if (!form || !data || !data.files || data.files.length === 0) return;
    event.preventDefault();
    add(form, data.files);
  });

  document.addEventListener("dragover", function (event) {
    var form = composerOf(event.target);
    if (!form) return;
    event.preventDefault();
    form.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (event) {
    var form = composerOf(event.target);
    if (form) form.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var form = composerOf(event.target);
    if (!form) return;
    event.preventDefault();
    form.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) add(form, event.dataTransfer.files);
  });

  // Capture phase: a send with files never reaches htmx.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("composer")) return;
    var list = pending(form);
    if (!list.length) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    upload(form, list);
  }, true);

  function upload(form, list) {
    if (form.hasAttribute("data-uploading")) return;
    form.setAttribute("data-uploading", "");
    var body = new FormData(form); // csrf_token first, as the server requires
    body.delete("files");
    list.forEach(function (file) { body.append("files", file, file.name || "pasted file"); });
    var bars = form.querySelectorAll(".composer-file progress");
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("HX-Request", "true");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      // Files go in order: each bar fills while the bytes pass its place in the body.
      var before = e.total - list.reduce(function (sum, f) { return sum + f.size; }, 0);
      var at = e.loaded - before;
      list.forEach(function (file, i) {
        var done = file.size ? Math.max(0, Math.min(1, at / file.size)) : (at >= 0 ? 1 : 0);
        if (bars[i]) bars[i].value = Math.round(done * 100);
        at -= file.size;
      });
    });
    xhr.addEventListener("load", function () {
      var ok = xhr.status >= 200 && xhr.status < 300;
      var isForm = /^\s*<form|^\s*<p class="composer/.test(xhr.responseText);
      if (!isForm) {
        fail(form, "Sending failed (" + xhr.status + "). Please try again.");
        return;
      }
      var holder = document.createElement("div");
      holder.innerHTML = xhr.responseText; // the server's own rendered, escaped composer
      var fresh = holder.firstElementChild;
      if (!fresh) return fail(form, "Sending failed. Please try again.");
      if (!ok && fresh.tagName === "FORM") files.set(fresh, list); // keep the files to send again
      form.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
      if (fresh.tagName === "FORM") setUp(fresh);
      var text = fresh.querySelector("textarea");
      if (text) text.focus();
    });
    xhr.addEventListener("error", function () { fail(form, "The upload failed. Check your connection and send again."); });
    xhr.send(body);
  }

  function fail(form, message) {
    form.removeAttribute("data-uploading");
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = false;
    var error = form.querySelector(".field-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "field-error";
      error.setAttribute("role", "alert");
      form.appendChild(error);
    }
    error.textContent = message;
    form.querySelectorAll(".composer-file progress").forEach(function (bar) { bar.value = 0; });
  }

  // ---- Viewer ----
  var viewer = null;
  var shownLink = null;

  function pictures() {
    return Array.prototype.slice.call(document.querySelectorAll("a[data-viewer]"));
  }

  function build() {
    viewer = document.createElement("dialog");
    viewer.className = "viewer";
    viewer.setAttribute("aria-label", "Picture");
    var bar = document.createElement("div");
    bar.className = "viewer-bar";
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", function () { viewer.close(); });
    var original = document.createElement("a");
    original.className = "viewer-original";
    original.textContent = "Open original";
    original.target = "_blank";
    original.rel = "noopener";
    bar.appendChild(original);
    bar.appendChild(close);
    var img = document.createElement("img");
    viewer.appendChild(bar);
    viewer.appendChild(img);
    viewer.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        var all = pictures();
        var i = all.indexOf(shownLink);
        var next = all[i + (event.key === "ArrowRight" ? 1 : -1)];
        if (next) { event.preventDefault(); show(next); }
      }
    });
    viewer.addEventListener("click", function (event) {
      if (event.target === viewer) viewer.close(); // a click on the backdrop
    });
    viewer.addEventListener("close", function () {
      if (shownLink && document.contains(shownLink)) shownLink.focus();
    });
    document.body.appendChild(viewer);
  }

  function show(link) {
    if (!viewer) build();
    shownLink = link;
    var thumb = link.querySelector("img");
    var img = viewer.querySelector("img");
    img.src = link.getAttribute("href");
    img.alt = thumb ? thumb.alt : "";
    viewer.querySelector(".viewer-original").href = link.getAttribute("href");
    if (!viewer.open) viewer.showModal();
    viewer.querySelector("button").focus();
  }

  document.addEventListener("click", function (event) {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    var link = event.target.closest && event.target.closest("a[data-viewer]");
    if (!link || typeof HTMLDialogElement === "undefined") return;
    event.preventDefault();
    show(link);
  });

  // The composer is swapped by htmx after each send: set the new one up too.
  function setUpAll() { setUp(document.querySelector("form.composer")); }
  document.addEventListener("htmx:after:swap", setUpAll);
  document.addEventListener("htmx:afterSwap", setUpAll);
  new MutationObserver(setUpAll).observe(document.documentElement, { childList: true, subtree: true });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpAll);
  else setUpAll();
})();
