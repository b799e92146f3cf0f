// A PDF being prepared: ask the server again every two seconds and, once it is ready (or
// has failed), put the new status in place. The page is not reloaded (a timed refresh
// takes the reader's place and focus away; WCAG 2.2.1), and the status box is a polite
// live region, so a screen reader hears "Your PDF is ready". Without JavaScript the
// "Check again" link does the same by hand.
(function () {
  var box = document.querySelector("[data-report-status]");
  if (!box || box.getAttribute("data-report-status") !== "pending") return;
  var poll = function () {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-report-status]");
        if (!fresh) return; // signed out, or another page: the "Check again" link is still there
        if (fresh.getAttribute("data-report-status") === "pending") {
          window.setTimeout(poll, 2000);
          return;
        }
        box.innerHTML = fresh.innerHTML;
        box.setAttribute("data-report-status", fresh.getAttribute("data-report-status"));
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  };
  window.setTimeout(poll, 2000);
})();
