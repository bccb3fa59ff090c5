/* Gatehouse: the portal's one script (CSP script-src 'self'). Pages work without it. */
(function () {
  "use strict";

  // After a failed submit the page comes back with errors: put the focus where the fix is, the
  // first invalid field, or else the form's error summary, so keyboard and screen-reader users
  // land on it instead of at the top of the page (and autofocus on another field is overridden).
  function focusFirstProblem() {
    var invalid = document.querySelector('main [aria-invalid="true"]:not([type="hidden"]):not([disabled])');
    if (invalid) {
      invalid.focus();
      return;
    }
    var summary = document.querySelector("main .form-errors");
    if (summary) {
      summary.setAttribute("tabindex", "-1");
      summary.focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstProblem);
  } else {
    focusFirstProblem();
  }
})();
