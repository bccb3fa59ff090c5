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

  // allauth's WebAuthn script (passkey sign-in, adding a key, the security-key step) reports a
  // cancelled or failed browser prompt as an "allauth.error" event and otherwise only logs it: say
  // so on the page, in the notice the page provides or in one put at the top of the card.
  document.addEventListener("allauth.error", function () {
    var notice = document.querySelector("[data-webauthn-error]");
    if (!notice) {
      notice = document.createElement("p");
      notice.className = "notice notice-error";
      notice.setAttribute("role", "alert");
      notice.setAttribute("data-webauthn-error", "");
      notice.textContent =
        "Your browser did not use a passkey or security key (it was cancelled, timed out, or this device has none). Try again, or use another way.";
      var host = document.querySelector("main .card") || document.querySelector("main");
      host.insertBefore(notice, host.firstChild);
    }
    notice.hidden = false;
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstProblem);
  } else {
    focusFirstProblem();
  }
})();
