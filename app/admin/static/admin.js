// Every page of the admin: an htmx request that fails (an error answer, or no answer) says
// so in the page's alert region, instead of failing silently in the console. A lost
// session needs nothing here: the server answers it with HX-Redirect to the sign-in page.
(function () {
  "use strict";
  const MESSAGES = {
    403: "Your role does not allow this, or the page is stale: reload it and try again.",
    404: "That is no longer there: reload the page.",
    413: "That is too large to send.",
    429: "Too many requests: wait a moment and try again.",
  };

  function say(text) {
    const region = document.getElementById("request-error");
    if (region) {
      region.textContent = text;
      region.className = "message error";
      region.hidden = false;
    }
  }

  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    say(MESSAGES[status] || `The server could not do that (HTTP ${status}). Try again, or reload the page.`);
  });
  document.addEventListener("htmx:sendError", () => {
    say("The server could not be reached. Check the connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", () => {
    const region = document.getElementById("request-error");
    if (region) {
      region.hidden = true;
    }
  });
})();

// A list's "select all" box ticks or clears every box of its form named by data-select-all.
// Listening on the document keeps it working after htmx swaps the list in.
(function () {
  "use strict";
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.dataset.selectAll || !box.form) {
      return;
    }
    for (const item of box.form.querySelectorAll(`input[type="checkbox"][name="${box.dataset.selectAll}"]`)) {
      item.checked = box.checked;
    }
  });
})();
