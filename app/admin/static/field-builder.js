// The collection editor's field builder: add, remove and reorder field rows in place.
// Without this script the page still works: an empty row adds a field, a checkbox removes
// one and the position inputs order them; here the buttons do it and positions follow.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  const list = document.getElementById("field-rows");
  const template = document.getElementById("field-row-template");
  const add = document.getElementById("add-field");
  if (!list || !template || !add) {
    return;
  }
  let next = 0;
  list.querySelectorAll("[name$='.name']").forEach((input) => {
    next = Math.max(next, Number(input.name.split(".")[0].slice("field-".length)) + 1);
  });

  function renumber() {
    list.querySelectorAll("[data-field-row]").forEach((row, place) => {
      row.querySelector("[data-position]").value = String(place + 1);
    });
  }

  add.addEventListener("click", () => {
    // The template is one row; its ids and names get the next free row number.
    list.insertAdjacentHTML("beforeend", template.innerHTML.replace(/field-\d+([.-])/g, `field-${next}$1`));
    next += 1;
    renumber();
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
