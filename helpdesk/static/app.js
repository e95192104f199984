// helpdesk: small enhancements only; every page works without this file. No inline script (CSP).
(function () {
  "use strict";
  // "Select all" checkbox of the desk queue.
  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll('input[type=checkbox][name=ticket]').forEach(function (item) {
        item.checked = box.checked;
      });
    });
  });
  // Forms that need a confirmation (merge): data-confirm="question".
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
}());
