// Every page of the admin: an htmx request that fails (an error answer, or no answer) says
// so in the page's alert region, instead of failing silently in the console. A lost
// session needs nothing here: the server answers it with HX-Redirect to the sign-in page.
//
// The region says the server's own words when the answer has some: the `error` of a JSON
// `{error, details}` envelope (with each detail's parameter or field and message), or the
// text of the `role="alert"` element of an HTML fragment the app renders for the page (such
// as the row naming the filters POST /admin/logs/search could not read), or of the list
// region a refused list filter's answer draws (see refusedListRegion). Only text goes
// in: the fragment is parsed in a detached document (no script runs, nothing loads), its
// script, style and template elements dropped, and its text read, so no server markup is
// ever inserted here; swapping the answer itself is the page's choice (a list region's
// data-shows-refusals, or an htmx responseHandling). A fragment without such an element,
// and a whole page (the admin's error page, a proxy's), say no more than their status, so
// the status's own message is shown for them; for a lost session, a refusal, a body too
// large and too many requests that message wins over an envelope's words too (they say
// what to do).
(function () {
  "use strict";
  const MAX_TEXT = 500; // a message, not a page: longer text is cut
  const MESSAGES = {
    401: "Your session has ended: sign in again.",
    403: "Your role does not allow this, or the page is stale: reload it and try again.",
    404: "That is no longer there: reload the page.",
    413: "That is too large to send.",
    429: "Too many requests: wait a moment and try again.",
  };
  const STATUS_FIRST = [401, 403, 413, 429]; // their message says more than the server's words
  // Where a whole document shows, whatever precedes it (a comment, a byte order mark, spaces).
  const WHOLE_PAGE = /<(!doctype|html|head|body)[\s>]/i;
  const HEAD_PARTS = ["title", "meta", "link", "base"]; // a page's, at the top of what it sends

  function say(text) {
    const region = document.getElementById("request-error");
    if (region) {
      region.textContent = text;
      region.className = "message error";
      region.hidden = false;
    }
  }

  function flat(text) {
    const line = (text || "").replace(/\s+/g, " ").trim();
    return line.length > MAX_TEXT ? `${line.slice(0, MAX_TEXT - 1)}\u2026` : line;
  }

  // The envelope's error, then "<parameter> <message>" for each detail that has both.
  function envelopeMessage(text) {
    let body;
    try {
      body = JSON.parse(text);
    } catch (ex) {
      return "";
    }
    if (!body || typeof body.error !== "string") {
      return "";
    }
    const details = (Array.isArray(body.details) ? body.details : [])
      .filter((detail) => detail && typeof detail.message === "string")
      .map((detail) => [detail.parameter || detail.field || "", detail.message].join(" ").trim());
    return flat(details.length ? `${body.error}: ${details.join("; ")}` : body.error);
  }

  // The nodes of `text` parsed in a template of a detached document: inert (no script runs,
  // nothing loads, no handler is compiled), and table rows and cells keep their place.
  function parsedFragment(text) {
    const parsed = new DOMParser().parseFromString(`<template>${text}</template>`, "text/html");
    const template = parsed.querySelector("template");
    return template ? template.content : null;
  }

  // Whether `text` is a whole page: a document's own tags anywhere in it (markup, since a
  // fragment's text has its "<" escaped), a page's landmark, or a head's element at its top.
  function isWholePage(text, content) {
    return WHOLE_PAGE.test(text) || content.querySelector("main, nav") !== null ||
      Array.from(content.children).some((element) => HEAD_PARTS.includes(element.localName));
  }

  // The text of a fragment's role="alert" element, its list items joined by "; "; "" without one.
  function fragmentMessage(text) {
    const content = parsedFragment(text);
    if (!content || isWholePage(text, content)) {
      return ""; // a whole page, not a fragment meant for this one
    }
    return alertMessage(content);
  }

  // The text of the role="alert" element inside `container`, its list items joined by "; ".
  function alertMessage(container) {
    const found = container.querySelector("[role=alert]");
    if (!found) {
      return "";
    }
    const alert = found.cloneNode(true);
    alert.querySelectorAll("script, style, template, noscript").forEach((element) => element.remove());
    const items = Array.from(alert.querySelectorAll("li"), (item) => flat(item.textContent));
    alert.querySelectorAll("ul, ol").forEach((list) => list.remove());
    return flat([flat(alert.textContent), items.join("; ")].filter(Boolean).join(" "));
  }

  function serverMessage(xhr) {
    const type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    if (type.startsWith("text/html")) {
      return fragmentMessage(xhr.responseText || "");
    }
    if (type.includes("json") && !STATUS_FIRST.includes(xhr.status)) {
      return envelopeMessage(xhr.responseText);
    }
    return "";
  }

  // A list region marked data-shows-refusals (the content lists' results) shows a filter the
  // server refuses once the page has loaded as loading the list's URL shows it: that answer
  // (400 or 422, or 404 for a collection deactivated since the page loaded) is the list's
  // page, whose region holds the list as the server could draw it and a line saying why
  // (All content's list of every collection; a collection's own list, gone, draws no rows,
  // only the line saying the collection is not active, with a link to All content), and
  // its region replaces this one as a 200's does. htmx swaps no 4xx by default: only these
  // are swapped, and only when the answer holds such a region of the same id with such a
  // line (the admin's error page, a proxy's hold none). Any other failure (a lost
  // session's HX-Redirect, a refusal, a server error) leaves the list as it was. The
  // answer stays an error, so the alert region says the region's own line as well.
  const SHOWN_REFUSALS = [400, 404, 422];
  const refusalLines = new WeakMap(); // a swapped refusal's request -> its list's line

  // The region a refused list request's answer draws for the page's `target`, else null. The
  // answer is parsed in a detached document: no script runs, nothing loads.
  function refusedListRegion(xhr, target, answer) {
    const type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    if (!SHOWN_REFUSALS.includes(xhr.status) || !type.startsWith("text/html") ||
        !(target instanceof Element) || !target.id || !target.hasAttribute("data-shows-refusals")) {
      return null;
    }
    const drawn = new DOMParser().parseFromString(answer || "", "text/html").getElementById(target.id);
    return drawn && drawn.hasAttribute("data-shows-refusals") && alertMessage(drawn) ? drawn : null;
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    const drawn = refusedListRegion(detail.xhr, detail.target, detail.serverResponse);
    if (drawn) {
      detail.shouldSwap = true;
      refusalLines.set(detail.xhr, alertMessage(drawn));
    }
  });

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    say(refusalLines.get(xhr) || serverMessage(xhr) || MESSAGES[xhr.status] ||
      `The server could not do that (HTTP ${xhr.status}). Try again, or reload the page.`);
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

// The main navigation's "Menu" button (shown on narrow screens) folds the links away and
// back. The links are folded only once this script runs (the `js` class on <html>), so
// without script they stay in view.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(".nav-toggle") : null;
    if (button) {
      button.setAttribute("aria-expanded", String(button.getAttribute("aria-expanded") !== "true"));
    }
  });
})();

// A destructive form says so with data-confirm="Question?": it is sent only once the user
// accepts that question. A form whose action is picked from a list (the content list's bulk
// actions) puts the question on the destructive option instead, asked when that option is
// the chosen one. Listening in the capture phase on the document runs this before any
// listener on the form itself (htmx's among them), so a dismissed question stops both a
// plain submission and an htmx one.
(function () {
  "use strict";
  function question(form) {
    if (form.hasAttribute("data-confirm")) {
      return form.dataset.confirm;
    }
    for (const field of form.elements) {
      const chosen = field instanceof HTMLSelectElement ? field.selectedOptions[0] : null;
      if (chosen && chosen.hasAttribute("data-confirm")) {
        return chosen.dataset.confirm;
      }
    }
    return null;
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const asked = form instanceof HTMLFormElement ? question(form) : null;
    if (asked !== null && !window.confirm(asked)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();

// A form marked data-warn-unsaved asks before the page is left with changes not yet sent:
// the browser's own "leave the page?" prompt, only when a field's value differs from what
// the page loaded with (a change undone asks nothing), and never once the form is sent.
// Values are compared as the form would send them, so a script that keeps a hidden field
// in step with an editor (the content form's HTML editor) counts as a change too; a file
// by its name and size. Controls inside a data-unsaved-ignore element (a picker's search
// box) are tools, not values, and are left out. data-warn-unsaved="changed" (a refused
// save shown again: what was typed is stored nowhere) asks until the form is sent. The values
// are recorded when this script runs, before a page's own deferred scripts (field-builder.js):
// a script that set a value on load would have to run first, or every untouched page would ask.
(function () {
  "use strict";
  const loaded = new Map();
  const sent = new WeakSet();

  function sendable(form) {
    const tools = new Set();
    const values = new Set();
    for (const element of form.elements) {
      if (element.name) {
        (element.closest("[data-unsaved-ignore]") ? tools : values).add(element.name);
      }
    }
    return JSON.stringify(Array.from(new FormData(form))
      .filter(([name]) => values.has(name) || !tools.has(name))
      .map(([name, value]) => [name, value instanceof File ? `${value.name} (${value.size} bytes)` : value]));
  }

  document.querySelectorAll("form[data-warn-unsaved]").forEach((form) => {
    loaded.set(form, form.dataset.warnUnsaved === "changed" ? null : sendable(form));
  });
  // Bubble phase: a submission another listener stopped (a dismissed question) was not sent.
  document.addEventListener("submit", (event) => {
    if (event.target instanceof HTMLFormElement && !event.defaultPrevented) {
      sent.add(event.target);
    }
  });
  window.addEventListener("beforeunload", (event) => {
    for (const [form, values] of loaded) {
      if (!sent.has(form) && form.isConnected && (values === null || sendable(form) !== values)) {
        event.preventDefault();
        event.returnValue = ""; // browsers that show the prompt only when it is set
        return;
      }
    }
  });
})();
