// Varsel console: the little the pages need beyond HTML. Loaded from a file (the Content
// Security Policy allows no inline script); every page works without it except the live parts.
//
// 1. Live progress on an alert's page: Server-Sent Events from the node that served the page
//    (`data-events` on #progress). EventSource reconnects by itself after a drop; the node's
//    stream reads its own replica, so it keeps going through a leader change elsewhere.
// 2. The SMS counter on the send form: asks the server (its own GSM-7/UCS-2 and segment rules)
//    as the text changes, and shows the answer next to the text box.
"use strict";

(function () {
  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  // JSON enum names may come as "sms" or "CHANNEL_SMS"; keep the short lower-case form.
  function shortName(v, prefix) {
    return String(v).toLowerCase().replace(prefix, "");
  }

  function liveProgress() {
    var section = document.getElementById("progress");
    if (!section) return;
    var url = section.getAttribute("data-events");
    if (!url || !window.EventSource) return;
    var names = JSON.parse(section.getAttribute("data-status-names") || "{}");
    var problem = document.getElementById("live-problem");
    var updated = document.getElementById("updated");
    var updates = 0;
    var source = new EventSource(url);

    source.addEventListener("alert", function (ev) {
      var reply = JSON.parse(ev.data);
      var a = reply.alert || {};
      var p = a.progress || {};
      var status = shortName(a.status || "unspecified", /^alert_status_/);
      var statusEl = section.querySelector('[data-k="status"]');
      statusEl.textContent = names[status] || status;
      statusEl.className = "status " + status;
      statusEl.setAttribute("data-status", status);
      section.querySelector('[data-k="recipients"]').textContent = p.recipients || 0;
      section.querySelector('[data-k="acknowledged"]').textContent = p.acknowledged || 0;
      (p.channels || []).forEach(function (c) { updateChannel(section, c); });
      (a.answer_counts || []).forEach(function (n, i) {
        var cell = document.querySelector('#answers tr[data-answer="' + i + '"] [data-k="chosen"]');
        if (cell) cell.textContent = n;
      });
      updates += 1;
      updated.textContent = new Date().toLocaleTimeString(document.documentElement.lang);
      updated.setAttribute("data-updates", String(updates));
      problem.hidden = true;
      if (status === "completed" || status === "cancelled" || status === "expired") {
        // Answers keep coming after the last message went out: stay for them.
        var cancelForm = document.getElementById("cancel");
        if (cancelForm) cancelForm.closest("form").hidden = true;
        if (document.getElementById("answers")) return;
        source.close();
        var cancel = document.getElementById("cancel");
        if (cancel) cancel.closest("form").hidden = true;
      }
    });
    source.addEventListener("problem", function (ev) {
      var p = {};
      try { p = JSON.parse(ev.data); } catch (e) { p = { detail: ev.data }; }
      problem.textContent = p.detail || p.title || ev.data;
      problem.hidden = false;
    });
    source.addEventListener("error", function () {
      // EventSource retries by itself; say so while it does.
      if (source.readyState !== EventSource.CLOSED) {
        problem.textContent = section.getAttribute("data-reconnecting") || "…";
        problem.hidden = false;
      }
    });
  }

  function updateChannel(section, c) {
    var key = shortName(c.channel, /^channel_/);
    var tbody = section.querySelector("#channels tbody");
    var row = tbody.querySelector('tr[data-ch="' + key + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.setAttribute("data-ch", key);
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = key.toUpperCase();
      row.appendChild(th);
      ["queued", "sent", "delivered", "failed", "expired", "skipped"].forEach(function (k) {
        var td = document.createElement("td");
        td.className = "num";
        td.setAttribute("data-k", k);
        row.appendChild(td);
      });
      tbody.appendChild(row);
    }
    ["queued", "sent", "delivered", "failed", "expired", "skipped"].forEach(function (k) {
      row.querySelector('[data-k="' + k + '"]').textContent = c[k] || 0;
    });
  }

  function smsCounters() {
    var boxes = document.querySelectorAll("textarea[data-sms-counter]");
    Array.prototype.forEach.call(boxes, function (box) {
      var out = document.getElementById(box.getAttribute("data-sms-counter"));
      var timer = null;
      var seq = 0;
      function ask() {
        var mine = ++seq;
        fetch("/console/api/sms-segments", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ text: box.value })
        }).then(function (r) { return r.json(); }).then(function (j) {
          if (mine !== seq) return; // an older answer arriving late
          out.textContent = j.summary || j.detail || "";
          out.setAttribute("data-segments", String(j.segments || ""));
          out.setAttribute("data-encoding", j.encoding || "");
        }).catch(function () { out.textContent = ""; });
      }
      box.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(ask, 150);
      });
      ask();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveProgress();
    smsCounters();
  });
})();
