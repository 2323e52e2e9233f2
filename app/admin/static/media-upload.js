// Media library uploads: drop or choose several files; each is sent in its own request so it
// gets its own progress bar and its own error. Without this script the form posts all files
// at once and the page lists the results.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("upload-files");
  var folder = document.getElementById("upload-folder");
  var list = document.getElementById("upload-progress");
  var pending = 0;
  var stored = 0;

  // Why a file was not stored: its field messages ("the file is empty"), else the error
  // itself, as the page without script words it.
  function reasonOf(error) {
    var details = Array.isArray(error.details) ? error.details : [];
    var messages = details.filter(function (detail) {
      return detail && typeof detail.message === "string";
    }).map(function (detail) { return detail.message; });
    return messages.length ? messages.join("; ") : error.error;
  }

  // As in admin.js, a lost session, a refusal, a file too large and too many requests are
  // said by their status, whose words say what to do, not by the server's ("Forbidden").
  // A 403 here is the CSRF check's (its cookie ends with the browser's session: cookies
  // cleared, the browser restarted) or a role changed since the page was drawn, which only
  // shows its form to those who may upload: either way the page is to be reloaded, which
  // asks to sign in again when the session has ended.
  var STATUS_MESSAGES = {
    401: "Your session has ended: sign in again.",
    403: "Your session has ended or this page is out of date: reload it, and sign in again if asked.",
    // The limit as the page words it (data-max-size), so both say the same number.
    413: "Too large: the limit is " + form.dataset.maxSize + " per file.",
    415: "This file type is not accepted.",
    429: "Too many requests: wait a moment and try again.",
  };

  function messageOf(xhr) {
    var body = null;
    try { body = JSON.parse(xhr.responseText); } catch (ignored) { body = null; }
    if (STATUS_MESSAGES[xhr.status]) { return STATUS_MESSAGES[xhr.status]; }
    if (body && body.details && body.details.errors && body.details.errors.length) {
      return reasonOf(body.details.errors[0]);
    }
    if (body && body.error) { return body.error; }
    return "Upload failed (" + (xhr.status || "network error") + ").";
  }

  function finished() {
    pending -= 1;
    if (pending === 0 && stored > 0 && window.htmx) {
      // Refresh the folders and the library below (same URL, the #library part only).
      window.htmx.ajax("GET", window.location.href, {target: "#library", select: "#library", swap: "outerHTML"});
    }
  }

  function upload(file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    var bar = document.createElement("progress");
    var status = document.createElement("span");
    name.textContent = file.name + " ";
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    status.className = "upload-status";
    status.textContent = " waiting";
    item.append(name, bar, status);
    list.appendChild(item);
    pending += 1;

    var data = new FormData();
    data.append("files", file, file.name);
    if (folder && folder.value) { data.append("folder", folder.value); }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/admin/media/upload");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        bar.value = Math.round(100 * event.loaded / event.total);
        status.textContent = " " + bar.value + " %";
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (ignored) { body = null; }
      if (xhr.status === 201 && body && body.uploaded && body.uploaded.length) {
        bar.value = 100;
        status.textContent = " uploaded";
        item.className = "ok";
        stored += 1;
      } else {
        status.textContent = " " + (body && body.errors && body.errors.length ? reasonOf(body.errors[0]) : messageOf(xhr));
        item.className = "error";
      }
      finished();
    });
    xhr.addEventListener("error", function () {
      status.textContent = " Upload failed (network error).";
      item.className = "error";
      finished();
    });
    xhr.send(data);
  }

  function uploadAll(files) {
    stored = 0;
    Array.prototype.forEach.call(files, upload);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    uploadAll(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) { uploadAll(event.dataTransfer.files); }
  });
}());

// "Copy URL": copies a file's URL, made absolute (a URL kept relative to this site is of no
// use pasted elsewhere), with the Clipboard API. Without it (an insecure origin, a refused
// permission) the URL's box is selected, to copy by hand; without script the box is there,
// selectable, and the button hidden. Listening on the document covers the library's files
// refreshed after an upload.
(function () {
  "use strict";
  function say(button, text) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-copy-url]") : null;
    var box = button ? document.getElementById(button.dataset.copyUrl) : null;
    if (!box) { return; }
    var url = new URL(box.value, window.location.href).href;
    function byHand() {
      box.value = url;
      box.focus();
      box.select();
      say(button, "Press Ctrl+C");
    }
    if (!navigator.clipboard || !window.isSecureContext) { byHand(); return; }
    navigator.clipboard.writeText(url).then(function () { say(button, "Copied"); }, byHand);
  });
}());
