// "Leave this page": replace this page, and its entry in the browser's history, with the
// practice's neutral site, so Back does not bring the questionnaire up again. The partner
// session is ended in the background (the same form without JavaScript does it by a post).
(function () {
  "use strict";
  var form = document.querySelector("form.leave-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    var target = form.getAttribute("data-leave-to");
    if (!target) return; // no neutral site named: the plain form post does the job
    event.preventDefault();
    try {
      if (navigator.sendBeacon) navigator.sendBeacon(form.action, new FormData(form));
    } catch (ignored) { /* leaving matters more than ending the session */ }
    window.location.replace(target);
  });
})();
