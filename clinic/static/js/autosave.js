// Saves each answer as soon as it is chosen, so nothing is lost if the page is
// closed. Without JavaScript the "Save and continue" button does the same job,
// so this file only adds to the page and never replaces the form.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave-url]");
  var status = document.getElementById("save-status");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!form || !status || !meta || !window.fetch || !window.Promise) return;

  var url = form.getAttribute("data-autosave-url");
  var instrument = form.getAttribute("data-instrument");
  var token = meta.getAttribute("content");
  // One save at a time, in the order answers were given, so a quick change of
  // mind can never be overtaken by the earlier answer.
  var queue = Promise.resolve();
  var textTimers = {};
  var failed = false;

  var MESSAGES = {
    400: "That answer couldn't be saved. Please choose it again.",
    404: "This page has closed. Please open your link again; answers saved so far are kept.",
    409: "Your answers have already been sent, so they can no longer be changed.",
    413: "That answer is too long to save. Please shorten it."
  };
  var OFFLINE = "We couldn't save just now. Check your connection, or use the Save and continue button.";

  function show(message, isError) {
    status.textContent = message;
    status.classList.toggle("is-error", Boolean(isError));
  }

  function messageFor(response, body) {
    if (response.status === 400 && body && /reload/i.test(body.error || "")) {
      return body.error; // the page's security token ran out; the server says to reload
    }
    if (response.status === 410 && body && body.error) {
      return body.error; // the link was closed, replaced or ran out: the server says which
    }
    return MESSAGES[response.status] || OFFLINE;
  }

  function send(item, value) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": token },
      body: JSON.stringify({ instrument: instrument, item: item, value: value })
    }).then(function (response) {
      if (response.ok) {
        failed = false;
        show("Saved");
        return;
      }
      return response.json().catch(function () { return null; }).then(function (body) {
        failed = true;
        show(messageFor(response, body), true);
      });
    }, function () {
      failed = true;
      show(OFFLINE, true);
    });
  }

  function save(item, value) {
    if (!failed) show("Saving…");
    queue = queue.then(function () { return send(item, value); });
  }

  function itemOf(field) {
    var holder = field.closest("[data-item]");
    return holder ? holder.getAttribute("data-item") : null;
  }

  form.addEventListener("change", function (event) {
    var field = event.target;
    var item = itemOf(field);
    if (!item) return;
    if (field.type === "radio" && field.checked) {
      save(item, parseInt(field.value, 10));
    } else if (field.tagName === "TEXTAREA") {
      clearTimeout(textTimers[item]);
      save(item, field.value);
    }
  });

  // Text is saved a moment after typing stops, as well as when the box is left.
  form.addEventListener("input", function (event) {
    var field = event.target;
    var item = itemOf(field);
    if (!item || field.tagName !== "TEXTAREA") return;
    clearTimeout(textTimers[item]);
    textTimers[item] = setTimeout(function () { save(item, field.value); }, 1500);
  });
})();
