// Live dashboard, request grid and person page: polls the page's live/ URL every few seconds
// and swaps in the parts ([data-live-part]) the server rendered again. Same-origin script, no
// inline code (CSP); pauses while the tab is hidden or a form in a part has focus.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root) { return; }
  var url = root.getAttribute("data-live-url");
  var seconds = parseFloat(root.getAttribute("data-live-interval") || "5");
  var status = document.getElementById("live-status");
  var updates = 0;
  var last = {};

  function say(state) {
    if (!status) { return; }
    status.textContent = status.getAttribute("data-text-" + state) || state;
    status.className = "ops-live " + state;
  }

  function busy() {
    var active = document.activeElement;
    return active && active.closest && active.closest("[data-live-part] form") !== null;
  }

  function apply(body) {
    var changed = false;
    Object.keys(body.parts || {}).forEach(function (name) {
      var target = document.querySelector("[data-live-part='" + name + "']");
      if (target && last[name] !== body.parts[name]) {
        if (last[name] !== undefined || target.innerHTML.trim() !== body.parts[name].trim()) {
          target.innerHTML = body.parts[name];
          changed = true;
        }
        last[name] = body.parts[name];
      }
    });
    if (body.charts) {
      document.dispatchEvent(new CustomEvent("ops:charts", { detail: body.charts }));
    }
    if (changed) {
      updates += 1;
      document.body.setAttribute("data-live-updates", String(updates));
    }
    document.body.setAttribute("data-live-rendered-at", body.renderedAt || "");
  }

  function poll() {
    if (document.hidden || busy()) {
      say("paused");
      window.setTimeout(poll, seconds * 1000);
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) { apply(body); say("live"); })
      .catch(function () { say("error"); })
      .then(function () { window.setTimeout(poll, seconds * 1000); });
  }

  document.body.setAttribute("data-live-updates", "0");
  window.setTimeout(poll, seconds * 1000);
})();
