// The content form's richer controls: the Markdown toolbar, the media and reference
// pickers, and adding, removing and reordering list items and blocks in place.
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

  // --- Pickers: a choice fills its input and shows what was picked.
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
    document.getElementById(input.id + "-picker").replaceChildren();
    input.focus();
  }

  // Esc closes the open picker around the focus (or, with the focus elsewhere, every open
  // one) and gives the focus back to the button that opened it, as a dialog would.
  function closePickers(event) {
    const around = document.activeElement ? document.activeElement.closest(".picker") : null;
    const open = Array.from((around || document).querySelectorAll(".picker-slot"))
      .filter((slot) => slot.childElementCount > 0);
    if (!open.length) {
      return;
    }
    event.preventDefault(); // a search box would clear its text instead
    open.forEach((slot) => slot.replaceChildren());
    const opener = document.getElementById(open[0].id.replace(/-picker$/, "-choose"));
    if (opener) {
      opener.focus();
    }
  }

  function clearPick(id) {
    const input = document.getElementById(id);
    input.value = "";
    document.getElementById(id + "-picked").replaceChildren();
    input.focus();
  }

  // --- Repeated rows (list items and blocks): move, remove, add.
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
      const focus = neighbour && neighbour.querySelector("input:not([type=hidden]), select, textarea");
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
    container.querySelectorAll("[name$='._type']").forEach((input) => {
      const number = Number(input.name.split(".").slice(-2, -1)[0]);
      next = Math.max(next, number + 1);
    });
    container.insertAdjacentHTML("beforeend", template.innerHTML.replaceAll("__n__", String(next)));
    select.value = "";  // already added: saving must not add it again
    renumber(container);
    const first = container.lastElementChild.querySelector("input:not([type=hidden]), select, textarea");
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
