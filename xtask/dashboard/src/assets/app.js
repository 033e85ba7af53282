// core_data dashboard: the only script. Submits the database picker when it
// changes and asks before cancelling or terminating a backend. No framework,
// no inline script (the CSP forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.question || "Are you sure?")) { event.preventDefault(); }
    });
  });
});
