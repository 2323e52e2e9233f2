// The content form's richer controls: the Markdown toolbar, the HTML editor, colour pickers,
// the media and reference pickers, and adding, removing and reordering list items and blocks
// in place. A block added on the page gets its controls started as those loaded with the page
// (startControls).
// Without this script every control still works (see app/admin/forms.py): ids are typed,
// empty rows add items, positions order blocks and checkboxes remove them.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- Markdown toolbar: wrap or prefix the selection of the textarea it belongs to.
  const MARKS = {
    bold: ["**", "**", "bold text"],
    italic: ["_", "_", "italic text"],
    code: ["`", "`", "code"],
    link: ["[", "](https://)", "link text"],
    heading: ["## ", "", "Heading"],
    list: ["- ", "", "item"],
    quote: ["> ", "", "quote"],
  };

  function mark(area, kind) {
    const [before, after, placeholder] = MARKS[kind];
    const start = area.selectionStart;
    const end = area.selectionEnd;
    const chosen = area.value.slice(start, end) || placeholder;
    const lineStart = before.endsWith(" ") && start > 0 && area.value[start - 1] !== "\n" ? "\n" : "";
    area.setRangeText(lineStart + before + chosen + after, start, end, "end");
    area.selectionStart = start + lineStart.length + before.length;
    area.selectionEnd = area.selectionStart + chosen.length;
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // --- HTML editor (fields and block properties of type quill or tinymce): Quill over the
  // field's textarea. The textarea stays the posted value: Quill's HTML is copied into it on
  // every change (and once more before the form is sent), never on load, so an untouched
  // field saves its stored HTML as it was, not as Quill would rewrite it. Quill starts from
  // the server's cleaned copy of that HTML (data-html-start), parsed by its clipboard in a
  // detached document.
  const HTML_TOOLBAR = [
    [{ header: [2, 3, 4, false] }],
    ["bold", "italic", "underline", "link"],
    [{ list: "ordered" }, { list: "bullet" }],
    ["blockquote", "code-block"],
    ["clean"],
  ];
  const BUTTON_NAMES = {
    bold: "Bold", italic: "Italic", underline: "Underline", link: "Link",
    "list ordered": "Numbered list", "list bullet": "Bulleted list",
    blockquote: "Quote", "code-block": "Code block", clean: "Clear formatting",
  };
  const editors = [];

  // Quill 2.0.3's getSemanticHTML writes every space as &nbsp; (so stored text would never
  // wrap between words): a lone one becomes a space again, and a run alternates, starting
  // with &nbsp;, as a browser writes spaces that must all show. A no-break space typed
  // between two words cannot be told apart from a space, and is saved as one.
  function plainSpaces(html) {
    return html.replace(/(?:&nbsp;)+/g, (run) => {
      const count = run.length / "&nbsp;".length;
      return count === 1 ? " " : Array.from({ length: count }, (_, place) => (place % 2 ? " " : "&nbsp;")).join("");
    });
  }

  function editorHtml(quill) {
    return quill.getLength() <= 1 ? "" : plainSpaces(quill.getSemanticHTML());
  }

  function startHtmlEditor(holder) {
    const area = document.getElementById(holder.dataset.htmlEditor);
    const surface = document.createElement("div");
    surface.className = "html-surface";
    holder.insertBefore(surface, area);
    const quill = new window.Quill(surface, {
      theme: "snow", placeholder: area.placeholder, modules: { toolbar: HTML_TOOLBAR },
    });
    // The server's cleaned copy of the stored HTML: the stored HTML's own style and event
    // attributes would be refused by the Content-Security-Policy (and reported) when parsed.
    quill.setContents(quill.clipboard.convert({ html: holder.dataset.htmlStart || "" }), "silent");
    // Loading is no edit: undo must not go back past it (to an empty editor, saved as such).
    quill.history.clear();
    const start = quill.getContents();
    if (area.matches(":disabled")) {
      quill.disable(); // a form the user may not save (its fieldset disabled) is read only
    }
    // The editable area takes the textarea's name, state and description for assistive technology.
    const editable = quill.root;
    editable.setAttribute("role", "textbox");
    editable.setAttribute("aria-multiline", "true");
    editable.setAttribute("aria-labelledby", area.id + "-label");
    for (const name of ["aria-describedby", "aria-invalid", "aria-required"]) {
      if (area.hasAttribute(name)) {
        editable.setAttribute(name, area.getAttribute(name));
      }
    }
    // Quill's buttons carry only their format's name: name them as a person would.
    holder.querySelectorAll(".ql-toolbar button").forEach((button) => {
      const format = Array.from(button.classList).find((name) => name.startsWith("ql-")).slice(3);
      const key = button.value ? `${format} ${button.value}` : format;
      button.setAttribute("aria-label", BUTTON_NAMES[key] || key);
      button.title = BUTTON_NAMES[key] || key;
    });
    holder.querySelectorAll(".ql-header .ql-picker-label").forEach((label) => label.setAttribute("aria-label", "Heading level"));
    area.hidden = true;
    const editor = { area, quill, changed: false };
    quill.on("text-change", () => {
      // Back to what it loaded with (edits undone): the stored HTML again, not Quill's rewrite.
      const undone = quill.getLength() === start.length() && quill.getContents().diff(start).ops.length === 0;
      editor.changed = !undone;
      area.value = undone ? area.defaultValue : editorHtml(quill);
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });
    editors.push(editor);
  }

  if (window.Quill) {
    // Capture phase: the value is in the textarea before anything reads the form. An editor
    // of a block removed on the page is left alone.
    document.addEventListener("submit", () => editors.forEach((editor) => {
      if (editor.changed && editor.area.isConnected) {
        editor.area.value = editorHtml(editor.quill);
      }
    }), true);
  }

  // The refused save's links to a field lead to its input: for an HTML field, whose textarea
  // is hidden behind Quill, to Quill's editable area; for radio buttons, whose fieldset
  // takes no focus, to the checked button (or the first).
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest(".form-problems a[href^='#']") : null;
    const editor = link && editors.find((each) => `#${each.area.id}` === link.getAttribute("href"));
    const group = link && !editor ? document.getElementById(link.getAttribute("href").slice(1)) : null;
    if (editor) {
      event.preventDefault();
      editor.quill.root.scrollIntoView({ block: "center" });
      editor.quill.focus();
    } else if (group && group.matches("[role=radiogroup]")) {
      const radio = group.querySelector("input[type=radio]:checked") || group.querySelector("input[type=radio]");
      if (radio) {
        event.preventDefault();
        radio.scrollIntoView({ block: "center" });
        radio.focus();
      }
    }
  });

  // --- Date-times: a datetime-local input left half filled (a day without its time) posts
  // "" (the form is novalidate, so nothing stops it), which would remove the stored value.
  // Such a save is stopped (admin.js then does not count the form as sent) and the input
  // says why.
  const INCOMPLETE = "Enter a complete date and time, or clear it.";

  function markIncomplete(input) {
    const id = `${input.id}-incomplete`;
    if (!document.getElementById(id)) {
      const note = document.createElement("small");
      note.id = id;
      note.className = "field-error";
      note.textContent = INCOMPLETE;
      (input.closest(".datetime-utc") || input).after(note);
      const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      input.setAttribute("aria-describedby", described.concat(id).join(" "));
      input.dataset.incomplete = input.getAttribute("aria-invalid") || "";
    }
    input.setAttribute("aria-invalid", "true");
  }

  function clearIncomplete(input) {
    const note = document.getElementById(`${input.id}-incomplete`);
    if (!note || input.validity.badInput) {
      return;
    }
    note.remove();
    const described = input.getAttribute("aria-describedby").split(" ").filter((id) => id && id !== note.id);
    if (described.length) {
      input.setAttribute("aria-describedby", described.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
    if (input.dataset.incomplete) {
      input.setAttribute("aria-invalid", input.dataset.incomplete); // the server's own refusal stays
    } else {
      input.removeAttribute("aria-invalid");
    }
    delete input.dataset.incomplete;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const incomplete = form instanceof HTMLFormElement
      ? Array.from(form.querySelectorAll("input[type=datetime-local]")).filter((input) => input.validity.badInput)
      : [];
    if (incomplete.length) {
      event.preventDefault();
      incomplete.forEach(markIncomplete);
      incomplete[0].focus();
    }
  }, true);
  document.addEventListener("input", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === "datetime-local") {
      clearIncomplete(event.target);
    }
  });

  // --- Colour fields: the picker and the text box show the same colour; the text box is the
  // value (a stored "red" stays until the picker is used), the picker writes #rrggbb.
  function hexColour(text) {
    const value = text.trim().toLowerCase();
    if (/^#[0-9a-f]{6}$/.test(value)) {
      return value;
    }
    return /^#[0-9a-f]{3}$/.test(value) ? "#" + Array.from(value.slice(1), (c) => c + c).join("") : null;
  }

  function startColourPicker(picker) {
    const text = document.getElementById(picker.dataset.colorFor);
    const follow = () => {
      const hex = hexColour(text.value);
      if (hex) {
        picker.value = hex;
      }
    };
    follow();
    text.addEventListener("input", follow);
    picker.addEventListener("input", () => {
      text.value = picker.value;
      text.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  // The controls a script starts, inside `root`: the page at load, and each block added on
  // it (a copy of its type's template, whose controls the page's load never saw).
  function startControls(root) {
    if (window.Quill) {
      root.querySelectorAll("[data-html-editor]").forEach(startHtmlEditor);
    }
    root.querySelectorAll("input[data-color-for]").forEach(startColourPicker);
  }

  startControls(document);

  // Whether `element` is shown, so it can take the focus: the content of a closed <details>
  // keeps its boxes (it is only not painted), so that is asked apart.
  function inView(element) {
    return element.getClientRects().length > 0 && !element.closest("details:not([open])");
  }

  // --- Pickers: a choice fills its input and shows what was picked.
  // The picker is the control: its id input (the posted value, typed without script) folds
  // away under its summary, unless the server left it in view (an id the picker could not
  // show, or a refused one).
  document.querySelectorAll("details.picker-id[data-fold]").forEach((details) => {
    details.open = false;
  });

  // A picker field's label is the id input's: while that input is folded away, a click on
  // the label (which would focus an input nobody sees) leads to the button opening the picker.
  document.addEventListener("click", (event) => {
    const label = event.target instanceof Element ? event.target.closest("label[for]") : null;
    const input = label ? document.getElementById(label.htmlFor) : null;
    const opener = input && input.closest("details.picker-id") ? document.getElementById(input.id + "-choose") : null;
    if (opener && !inView(input) && inView(opener)) {
      event.preventDefault();
      opener.focus();
    }
  });

  // After a pick or a clear the focus goes back to the button that opens the picker, as Esc
  // gives it back: the id input left in view (an id the picker could not show) is no
  // different, so the focus lands in one place whatever the value was.
  function focusPicker(input) {
    const opener = document.getElementById(input.id + "-choose");
    if (opener) {
      opener.focus();
    }
  }

  function pick(button) {
    const input = document.getElementById(button.dataset.pickTarget);
    if (!input) {
      return;
    }
    input.value = button.dataset.pickValue;
    const shown = document.getElementById(input.id + "-picked");
    shown.replaceChildren();
    if (button.dataset.pickThumb) {
      const image = document.createElement("img");
      image.src = button.dataset.pickThumb;
      image.alt = "";
      image.width = 120;
      image.height = 90;
      shown.append(image);
    }
    const label = document.createElement("span");
    label.textContent = button.dataset.pickLabel;
    shown.append(label);
    const slot = document.getElementById(input.id + "-picker");
    awaited.delete(slot); // a search still under way must not open the panel again
    slot.replaceChildren();
    focusPicker(input);
  }

  // A picker's panel is swapped in only from the answer to the slot's latest request, and
  // only while that request is still awaited: an answer arriving after Esc closed the panel
  // (or cancelled its opening), or after a newer search, must not fill the slot again.
  const awaited = new WeakMap();
  function pickerSlot(detail) {
    const slot = detail.target;
    return slot instanceof Element && slot.classList.contains("picker-slot") ? slot : null;
  }
  document.addEventListener("htmx:beforeRequest", (event) => {
    const slot = pickerSlot(event.detail);
    if (slot) {
      awaited.set(slot, event.detail.xhr);
    }
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    const slot = pickerSlot(event.detail);
    if (!slot) {
      return;
    }
    if (awaited.get(slot) === event.detail.xhr) {
      awaited.delete(slot);
    } else {
      event.detail.shouldSwap = false;
    }
  });

  // Esc closes the open picker around the focus (or, with the focus elsewhere, every open
  // one), the one still being fetched too, and gives the focus back to the button that
  // opened it, as a dialog would.
  function closePickers(event) {
    const around = document.activeElement ? document.activeElement.closest(".picker") : null;
    const open = Array.from((around || document).querySelectorAll(".picker-slot"))
      .filter((slot) => slot.childElementCount > 0 || awaited.has(slot));
    if (!open.length) {
      return;
    }
    event.preventDefault(); // a search box would clear its text instead
    open.forEach((slot) => {
      awaited.delete(slot);
      slot.replaceChildren();
    });
    const opener = document.getElementById(open[0].id.replace(/-picker$/, "-choose"));
    if (opener) {
      opener.focus();
    }
  }

  function clearPick(id) {
    const input = document.getElementById(id);
    input.value = "";
    document.getElementById(id + "-picked").replaceChildren();
    focusPicker(input);
  }

  // --- Repeated rows (list items and blocks): move, remove, add.
  // A row's first control shown: an HTML editor's editable area stands in for its hidden
  // textarea (Quill's own select and link box are hidden too until used).
  function firstControl(row) {
    return Array.from(row.querySelectorAll("input:not([type=hidden]), select, textarea, .ql-editor"))
      .find(inView) || null;
  }

  function renumber(container) {
    container.querySelectorAll(":scope > [data-repeat-row]").forEach((row, place) => {
      const position = row.querySelector("[data-position]");
      if (position) {
        position.value = String(place + 1);
      }
    });
  }

  function move(button) {
    const row = button.closest("[data-repeat-row]");
    const container = row.parentElement;
    const kind = button.dataset.move;
    if (kind === "remove") {
      const neighbour = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber(container);
      // The last row gone, the focus would be lost with it: it goes to what adds one (the
      // "Add a block" select, the "Add an item" button).
      const adder = container.closest("fieldset.repeat")
        .querySelector(":scope > .block-add select, :scope > [data-list-add]");
      const focus = (neighbour && firstControl(neighbour)) || adder;
      if (focus) {
        focus.focus();
      }
      return;
    }
    if (kind === "up" && row.previousElementSibling) {
      container.insertBefore(row, row.previousElementSibling);
    } else if (kind === "down" && row.nextElementSibling) {
      container.insertBefore(row.nextElementSibling, row);
    }
    renumber(container);
    button.focus();
  }

  let added = 0;
  // A blank row of each list, taken before any is removed: "Add an item" still has a row
  // to copy once the list's last one is gone.
  const blankRows = new WeakMap();
  document.querySelectorAll("ol[data-repeat]").forEach((list) => {
    const first = list.querySelector(":scope > [data-repeat-row]");
    if (first) {
      const blank = first.cloneNode(true);
      blank.querySelector("input").value = "";
      blankRows.set(list, blank);
    }
  });

  function addListItem(button) {
    const list = button.parentElement.querySelector("[data-repeat]");
    const last = list.querySelector(":scope > [data-repeat-row]:last-child") || blankRows.get(list);
    if (!last) {
      return;
    }
    const copy = last.cloneNode(true);
    const input = copy.querySelector("input");
    const label = copy.querySelector("label");
    added += 1;
    input.id = `${input.id.replace(/-\d+$/, "")}-new${added}`;
    input.value = "";
    label.htmlFor = input.id;
    list.append(copy);
    input.focus();
  }

  // The attributes of a block's template that carry its number: its inputs' names and ids
  // and what refers to them (labels, ARIA, the HTML editor's preview, the colour picker).
  // The rest is the schema's text (labels, placeholders, help, values): "__n__" there stays.
  const NUMBERED_ATTRIBUTES = ["id", "name", "for", "aria-describedby", "aria-labelledby", "aria-controls",
    "data-html-editor", "data-color-for", "hx-post", "hx-include", "hx-target"];

  // A copy of a block's template numbered ``number``. Only the template's marks (its
  // ``data-block-marks``: the block's name and id prefixes, each ending in "__n__") take the
  // number, so a property named with "__n__" in it keeps its name.
  function numberedBlock(template, number) {
    const marks = template.dataset.blockMarks.split(" ");
    const block = template.content.cloneNode(true);
    block.querySelectorAll("*").forEach((element) => {
      NUMBERED_ATTRIBUTES.forEach((attribute) => {
        const value = element.getAttribute(attribute);
        if (value !== null) {
          const numbered = marks.reduce((text, mark) => text.replaceAll(mark, mark.replace(/__n__$/, number)), value);
          element.setAttribute(attribute, numbered);
        }
      });
    });
    return block;
  }

  function addBlock(button) {
    const id = button.dataset.blockAdd;
    const select = document.getElementById(id + "-add");
    const template = document.querySelector(`template[data-block-template="${id}:${select.value}"]`);
    if (!template) {
      select.focus();
      return;
    }
    const container = document.getElementById(id).querySelector("[data-repeat]");
    // Never the number of a stored block removed on the page: the server reads a block's
    // inputs against the stored block of its number, to keep what was not edited.
    let next = Math.max(container.children.length, Number(container.dataset.stored || 0));
    container.querySelectorAll("[name$='.-type']").forEach((input) => {
      const number = Number(input.name.split(".").slice(-2, -1)[0]);
      next = Math.max(next, number + 1);
    });
    // Its inputs (radio buttons' names too) and ids take the block's number: unique per block.
    container.append(numberedBlock(template, String(next)));
    const block = container.lastElementChild;
    startControls(block);
    if (window.htmx) {
      window.htmx.process(block); // its HTML editor's preview button
    }
    select.value = "";  // already added: saving must not add it again
    renumber(container);
    const first = firstControl(block);
    if (first) {
      first.focus();
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) {
      return;
    }
    if (target.dataset.md) {
      mark(document.getElementById(target.dataset.mdFor), target.dataset.md);
    } else if (target.dataset.pickValue !== undefined) {
      pick(target);
    } else if (target.dataset.pickClear) {
      clearPick(target.dataset.pickClear);
    } else if (target.dataset.move && target.closest("[data-repeat]")) {
      move(target);
    } else if (target.dataset.listAdd !== undefined) {
      addListItem(target);
    } else if (target.dataset.blockAdd) {
      addBlock(target);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) {
      closePickers(event);
    }
  });
})();
