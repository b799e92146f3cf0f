// Saves each answer as soon as it is chosen, so nothing is lost if the page is
// closed. Without JavaScript the "Save and continue" button does the same job,
// so this file only adds to the page and never replaces the form.
//
// Answers not yet saved are kept here, in memory, until the server says it has
// them. If the network or the server is away for a moment, they are sent again,
// all together, after a pause that grows (1 s, 2 s, 4 s … up to 30 s), and at
// once when the browser says it is back online. Whatever is still waiting when
// the page is hidden or left is sent one last time.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave-url]");
  var status = document.getElementById("save-status");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!form || !status || !meta || !window.fetch || !window.Promise || !window.Map) return;

  var url = form.getAttribute("data-autosave-url");
  var instrument = form.getAttribute("data-instrument");
  var token = meta.getAttribute("content");
  // Item id -> the latest answer not yet saved. Map keeps the order answers were given.
  var pending = new Map();
  var sending = false;
  var retryTimer = null;
  var failures = 0;
  var stopped = false; // the link ended or the answers were sent: nothing more can be saved
  var textTimers = {};

  var SAVING = "Saving…";
  var SAVED = "Saved";
  var WAITING = "Not saved yet, we'll keep trying. Your answers stay on this page.";
  var MESSAGES = {
    400: "That answer couldn't be saved. Please choose it again.",
    404: "This page has closed. Please open your link again; answers saved so far are kept.",
    409: "Your answers have already been sent, so they can no longer be changed.",
    413: "That answer is too long to save. Please shorten it."
  };
  // Worth trying again: the server or the way to it is away for a moment.
  var TRY_AGAIN = { 408: true, 429: true, 500: true, 502: true, 503: true, 504: true };

  function show(message, kind) {
    status.textContent = message;
    status.classList.toggle("is-error", kind === "error");
    status.classList.toggle("is-waiting", kind === "waiting");
  }

  function messageFor(response, body) {
    if (response.status === 400 && body && /reload/i.test(body.error || "")) {
      return body.error; // the page's security token ran out; the server says to reload
    }
    if (response.status === 410 && body && body.error) {
      return body.error; // the link was closed, replaced or ran out: the server says which
    }
    return MESSAGES[response.status] || MESSAGES[400];
  }

  function request(entries, keepalive) {
    var answers = entries.map(function (entry) {
      return { instrument: instrument, item: entry[0], value: entry[1] };
    });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: Boolean(keepalive),
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": token },
      body: JSON.stringify({ answers: answers })
    });
  }

  // Forget what the server now has; an answer changed while it was on its way stays waiting.
  function settle(entries) {
    entries.forEach(function (entry) {
      if (pending.has(entry[0]) && pending.get(entry[0]) === entry[1]) pending.delete(entry[0]);
    });
  }

  function retryLater(seconds) {
    failures += 1;
    show(WAITING, "waiting");
    var backoff = Math.min(30, Math.pow(2, failures - 1));
    var wait = Math.max(backoff, seconds || 0) * 1000 * (0.8 + Math.random() * 0.4);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () { retryTimer = null; flush(); }, wait);
  }

  function flush() {
    if (sending || stopped || retryTimer !== null || pending.size === 0) return;
    var entries = Array.from(pending.entries());
    sending = true;
    if (failures === 0) show(SAVING);
    request(entries).then(function (response) {
      sending = false;
      if (response.ok) {
        failures = 0;
        settle(entries);
        if (pending.size === 0) show(SAVED);
        flush();
        return;
      }
      if (TRY_AGAIN[response.status]) {
        retryLater(parseInt(response.headers.get("Retry-After"), 10));
        return;
      }
      return response.json().catch(function () { return null; }).then(function (body) {
        // Refused for good: sending it again would be refused again.
        settle(entries);
        failures = 0;
        if (response.status === 409 || response.status === 410 || response.status === 404) {
          stopped = true;
          pending.clear();
        }
        show(messageFor(response, body), "error");
        flush();
      });
    }, function () {
      sending = false; // no answer at all: offline, or the server is unreachable
      retryLater(0);
    });
  }

  function save(item, value) {
    if (stopped) return;
    pending.set(item, value);
    flush();
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
      delete textTimers[item];
      save(item, field.value);
    }
  });

  // Text is saved a moment after typing stops, as well as when the box is left.
  form.addEventListener("input", function (event) {
    var field = event.target;
    var item = itemOf(field);
    if (!item || field.tagName !== "TEXTAREA") return;
    clearTimeout(textTimers[item]);
    textTimers[item] = setTimeout(function () {
      delete textTimers[item];
      save(item, field.value);
    }, 1500);
  });

  // Back online: try at once instead of waiting for the next turn.
  window.addEventListener("online", function () {
    if (retryTimer !== null) {
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    flush();
  });

  // The page is hidden (another app, the screen locked) or left: send what is waiting, with
  // keepalive so the request outlives the page. Text still being typed goes too.
  function sendWhatIsWaiting() {
    Object.keys(textTimers).forEach(function (item) {
      clearTimeout(textTimers[item]);
      var box = form.querySelector('[data-item="' + item + '"] textarea');
      if (box && !stopped) pending.set(item, box.value);
    });
    textTimers = {};
    if (stopped || pending.size === 0) return;
    var entries = Array.from(pending.entries());
    request(entries, true).then(function (response) {
      if (response.ok) {
        settle(entries);
        if (pending.size === 0) show(SAVED);
      }
    }, function () { /* still waiting: the retries go on if the page comes back */ });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") sendWhatIsWaiting();
  });
  window.addEventListener("pagehide", sendWhatIsWaiting);
})();
