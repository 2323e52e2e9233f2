// The field builder (the collection editor's and the form editor's): add, remove and reorder
// field rows in place, and show each row only the settings that fit its type. It works on
// the page's #field-rows, #field-row-template and #add-field, whichever editor holds them.
// Without this script the page still works: an empty row adds a field, a checkbox removes
// one, the position inputs order them and every setting shows; here the buttons do it,
// positions follow, and a setting that does not fit the type is hidden unless it holds a
// value or a message (hidden, it would still be saved, so it is never out of sight).
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  const list = document.getElementById("field-rows");
  const template = document.getElementById("field-row-template");
  const add = document.getElementById("add-field");
  if (!list || !template || !add) {
    return;
  }
  // New rows are numbered after the highest number on the page, whatever it is: the server
  // reads a number past four digits (after a forged field-9999) as a new row, never drops it.
  let next = 0;
  list.querySelectorAll("[name$='.name']").forEach((input) => {
    next = Math.max(next, Number(input.name.split(".")[0].slice("field-".length)) + 1);
  });

  function renumber() {
    list.querySelectorAll("[data-field-row]").forEach((row, place) => {
      row.querySelector("[data-position]").value = String(place + 1);
      const legend = row.querySelector("[data-place]");
      if (legend) {
        legend.textContent = String(place + 1);
      }
    });
  }

  function holdsSomething(setting) {
    const control = setting.querySelector("input, textarea, select");
    if (!control || control.getAttribute("aria-invalid") === "true") {
      return Boolean(control);
    }
    return control.multiple ? control.selectedOptions.length > 0 : control.value.trim() !== "";
  }

  function showSettings(row) {
    const select = row.querySelector("[data-type]");
    // A type the builder has no label for (set through the API) shows every setting.
    const known = Boolean(select.querySelector(`optgroup option[value="${CSS.escape(select.value)}"]`));
    row.querySelectorAll("[data-setting]").forEach((setting) => {
      const fits = !known || setting.dataset.types.split(" ").includes(select.value);
      setting.hidden = !fits && !holdsSomething(setting);
    });
  }

  // A new collection's fields may refer to it: its name, as typed, is one of the targets
  // (a form's rows have no targets, and its page no #c-name).
  const ownName = document.getElementById("c-name");
  function offerOwnName(root) {
    if (!ownName || ownName.readOnly) {
      return;
    }
    const name = ownName.value.trim();
    root.querySelectorAll("select[name$='.collection']").forEach((select) => {
      let option = select.querySelector("option[data-own]");
      if (!option) {
        option = document.createElement("option");
        option.dataset.own = "";
        select.append(option);
      }
      option.value = name;
      option.textContent = `${name} (this collection)`;
      option.hidden = !name;
      option.disabled = !name;
    });
  }

  list.querySelectorAll("[data-field-row]").forEach(showSettings);
  offerOwnName(list);
  if (ownName) {
    ownName.addEventListener("input", () => offerOwnName(list));
  }
  list.addEventListener("change", (event) => {
    if (event.target.matches("[data-type]")) {
      showSettings(event.target.closest("[data-field-row]"));
    }
  });

  add.addEventListener("click", () => {
    // The template is one row; the attributes naming its inputs get the next free row
    // number, and only those: an option's value is a collection name ("field-0-notes").
    const row = template.content.firstElementChild.cloneNode(true);
    const numbered = /^field-[0-9]+([.-])/;
    [row, ...row.querySelectorAll("*")].forEach((element) => {
      ["id", "name", "for", "aria-describedby"].forEach((attribute) => {
        const value = element.getAttribute(attribute);
        if (value !== null) {
          const tokens = value.split(" ").map((token) => token.replace(numbered, `field-${next}$1`));
          element.setAttribute(attribute, tokens.join(" "));
        }
      });
    });
    list.append(row);
    next += 1;
    renumber();
    offerOwnName(list.lastElementChild);
    showSettings(list.lastElementChild);
    list.lastElementChild.querySelector("input").focus();
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-move]");
    if (!button) {
      return;
    }
    const row = button.closest("[data-field-row]");
    const move = button.dataset.move;
    if (move === "remove") {
      const neighbour = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      (neighbour ? neighbour.querySelector("input") : add).focus();
      return;
    }
    if (move === "up" && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (move === "down" && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    renumber();
    button.focus();
  });
})();
