// A server's page: actions, uptime, certificate, heartbeat bar, response-time chart from
// /api/servers/{id}/history/ (SPEC §9), incidents, checks paged, notifications, all live.
(function () {
  "use strict";
  var root = document.getElementById("server-page");
  var id = root.dataset.serverId, base = "/api/servers/" + id + "/";
  var $ = function (s) { return document.getElementById(s); };
  var beats = [];

  function say(text) { $("action-result").textContent = text; }
  function setStatus(st) {
    $("status").className = "status " + st.status; $("status").textContent = st.status;
    $("message").textContent = st.message || "–";
    $("last-check").textContent = PG.fmtTime(st.last_check);
    $("response").textContent = PG.fmtMs(st.last_response_time);
    $("pause").hidden = st.status === "paused"; $("resume").hidden = st.status !== "paused";
  }

  if ($("check-now")) {
    $("check-now").addEventListener("click", function () {
      say("checking…");
      PG.api("POST", base + "check/").then(function (r) { say(r.ok ? "checked: " + r.data.status + (r.data.error_message ? " (" + r.data.error_message + ")" : "") : "check failed"); loadChecks(); });
    });
  }

  // Push monitors: the URL comes from the API (it carries the token, so the page does not).
  function copyText(input) {
    function fallback() {
      input.focus(); input.select();
      var done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
    }
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(input.value).catch(fallback); }
    return fallback();
  }
  if ($("push-url")) {
    PG.api("GET", base).then(function (r) { if (r.ok) { $("push-url").value = r.data.push_url || ""; } });
    $("copy-push-url").addEventListener("click", function () {
      copyText($("push-url")).then(function () { $("push-result").textContent = "copied"; },
        function () { $("push-url").select(); $("push-result").textContent = "selected: press Ctrl+C (⌘C) to copy"; });
    });
    $("new-push-url").addEventListener("click", function () {
      if (!confirm("Make a new push URL? The current one stops working at once.")) { return; }
      PG.api("POST", base + "push-token/").then(function (r) {
        if (r.ok) { $("push-url").value = r.data.push_url || ""; $("push-result").textContent = "new URL made; update your job"; }
        else { $("push-result").textContent = "failed: " + ((r.data && r.data.detail) || r.status); }
      });
    });
  }
  $("pause").addEventListener("click", function () { PG.api("POST", base + "pause/").then(function (r) { if (r.ok) { setStatus({ status: r.data.status, message: r.data.status_message, last_check: r.data.last_check }); say("paused"); } }); });
  $("resume").addEventListener("click", function () { PG.api("POST", base + "resume/").then(function (r) { if (r.ok) { setStatus({ status: r.data.status, message: r.data.status_message, last_check: r.data.last_check }); say("resumed"); } }); });
  $("delete").addEventListener("click", function () {
    if (!confirm("Delete this server and its history?")) { return; }
    PG.api("DELETE", base).then(function (r) { if (r.ok) { location.href = "/"; } else { say("delete failed"); } });
  });

  function loadUptime() {
    var windows = ["24h", "7d", "30d", "90d"], out = {};
    Promise.all(windows.map(function (w) { return PG.api("GET", base + "uptime/?window=" + w).then(function (r) { out[w] = r.ok ? r.data : null; }); }))
      .then(function () {
        $("uptimes").textContent = windows.map(function (w) { return w + " " + PG.fmtPct(out[w] && out[w].uptime_percentage); }).join(" · ");
      });
  }

  function loadCertificate() {
    if (root.dataset.protocol !== "https") { return; }
    PG.api("GET", base + "certificate/").then(function (r) {
      if (!r.ok) { $("certificate").textContent = "not checked yet"; return; }
      var c = r.data;
      $("certificate").textContent = (c.valid ? "valid" : "invalid" + (c.error ? " (" + c.error + ")" : "")) +
        (c.expires_at ? ", expires " + new Date(c.expires_at).toLocaleDateString() + " (" + c.days_remaining + " days)" : "") + (c.issuer ? ", " + c.issuer : "");
    });
  }

  function drawBeats() {
    var bar = $("heartbeat"); bar.textContent = "";
    beats.slice(-60).forEach(function (p) {
      bar.appendChild(PG.el("span", { class: p.status === "success" ? "ok" : "bad", title: PG.fmtTime(p.check_timestamp) + ": " + p.status + (p.response_time != null ? ", " + Math.round(p.response_time) + " ms" : "") }));
    });
  }

  // The chart from history buckets; also called by tests with data of their own.
  function drawChart(buckets) {
    var svg = $("chart"), ns = "http://www.w3.org/2000/svg", W = 600, H = 200, pad = 24;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var withData = buckets.filter(function (b) { return b.checks > 0; });
    if (!withData.length) { $("chart-note").textContent = "No history yet."; return; }
    var max = Math.max.apply(null, withData.map(function (b) { return b.response_time_avg || 0; }).concat([1]));
    var step = (W - pad) / Math.max(buckets.length - 1, 1), pts = [];
    function mk(tag, attrs) { var e = document.createElementNS(ns, tag); Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); }); svg.appendChild(e); return e; }
    mk("line", { class: "axis", x1: pad, y1: H - pad, x2: W, y2: H - pad });
    buckets.forEach(function (b, i) {
      var x = pad + i * step;
      if (b.failures > 0) { mk("rect", { class: "down", x: x - step / 2, y: 0, width: Math.max(step, 1), height: H - pad }); }
      if (b.checks > 0 && b.response_time_avg != null) { pts.push(x.toFixed(1) + "," + (H - pad - (b.response_time_avg / max) * (H - 2 * pad)).toFixed(1)); }
    });
    mk("polyline", { class: "line", points: pts.join(" ") });
    mk("text", { x: 2, y: 12 }).textContent = Math.round(max) + " ms";
    mk("text", { x: 2, y: H - pad }).textContent = "0";
    $("chart-note").textContent = withData.length + " of " + buckets.length + " buckets have checks; red marks failures.";
  }
  window.PGServer = { drawChart: drawChart };

  function loadChart(window_) {
    Array.prototype.forEach.call(document.querySelectorAll(".windows button"), function (b) { b.setAttribute("aria-pressed", String(b.dataset.window === window_)); });
    PG.api("GET", base + "history/?window=" + window_).then(function (r) {
      if (r.ok && r.data && r.data.buckets) { drawChart(r.data.buckets); } else { drawChart([]); }
    }, function () { drawChart([]); });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".windows button"), function (b) { b.addEventListener("click", function () { loadChart(b.dataset.window); }); });

  function loadIncidents() {
    PG.api("GET", "/api/incidents/?server=" + id).then(function (r) {
      var box = $("incidents"); box.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { box.textContent = "No incidents."; return; }
      var ul = PG.el("ul");
      items.forEach(function (i) {
        ul.appendChild(PG.el("li", { text: "Down " + PG.fmtTime(i.started_at) + (i.ended_at ? " for " + Math.max(1, Math.round(i.duration_seconds / 60)) + " min" : " — ongoing") + (i.first_error ? ": " + i.first_error : "") }));
      });
      box.appendChild(ul);
    });
  }

  var pages = [], pageIndex = 0;
  function loadChecks(url) {
    if (!url) { pages = ["/api/ping-results/?server=" + id + "&page_size=20"]; pageIndex = 0; url = pages[0]; }
    PG.api("GET", url).then(function (r) {
      if (!r.ok) { return; }
      var body = $("checks").querySelector("tbody"); body.textContent = "";
      r.data.results.forEach(function (p) {
        body.appendChild(PG.el("tr", {}, [PG.el("td", { text: PG.fmtTime(p.check_timestamp) }), PG.el("td", { text: p.status }),
          PG.el("td", { text: PG.fmtMs(p.response_time) }), PG.el("td", { text: p.status_code == null ? "–" : String(p.status_code) }), PG.el("td", { class: "message", text: p.error_message || "" })]));
      });
      if (!r.data.results.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 5, text: "No checks yet." })])); }
      $("checks-older").disabled = !r.data.next; $("checks-older").dataset.url = r.data.next || "";
      $("checks-newer").disabled = pageIndex === 0;
      if (pageIndex === 0) { beats = r.data.results.slice().reverse(); drawBeats(); }
    });
  }
  $("checks-older").addEventListener("click", function () { var u = this.dataset.url; pageIndex += 1; pages[pageIndex] = u; loadChecks(u); });
  $("checks-newer").addEventListener("click", function () { pageIndex = Math.max(0, pageIndex - 1); loadChecks(pages[pageIndex]); });

  function loadNotifications() {
    PG.api("GET", "/api/notification-configs/?server=" + id).then(function (r) {
      var body = $("notifications").querySelector("tbody"); body.textContent = "";
      (r.ok ? r.data.results : []).forEach(function (c) {
        var result = PG.el("span", { role: "status" });
        var test = PG.el("button", { type: "button", text: "Send test" });
        test.addEventListener("click", function () {
          result.textContent = "sending…";
          PG.api("POST", "/api/notification-configs/" + c.id + "/test/").then(function (t) { result.textContent = t.ok && t.data.delivered ? "delivered" : "failed: " + ((t.data && t.data.error) || t.status); });
        });
        var toggle = PG.el("button", { type: "button", text: c.enabled ? "Disable" : "Enable" });
        toggle.addEventListener("click", function () { PG.api("PATCH", "/api/notification-configs/" + c.id + "/", { enabled: !c.enabled }).then(loadNotifications); });
        var del = PG.el("button", { type: "button", class: "danger", text: "Remove" });
        del.addEventListener("click", function () { PG.api("DELETE", "/api/notification-configs/" + c.id + "/").then(loadNotifications); });
        body.appendChild(PG.el("tr", { "data-config-id": c.id }, [PG.el("td", { text: c.notification_type }), PG.el("td", { class: "message", text: c.recipient }),
          PG.el("td", { text: c.enabled ? "yes" : "no" }), PG.el("td", {}, [test, " ", toggle, " ", del, " ", result])]));
      });
    });
  }
  function notificationForm() {
    PG.buildForm($("notification-form"), PG.NOTIFICATION_FIELDS, {}, function (payload) {
      payload.server = Number(id);
      return PG.api("POST", "/api/notification-configs/", payload).then(function (r) {
        if (r.ok) {
          if (r.data.secret) { $("secret-note").hidden = false; $("secret-note").textContent = "Webhook signing secret (shown once): " + r.data.secret; }
          notificationForm(); loadNotifications();
        }
        return r;
      });
    }, "Add notification");
  }

  loadUptime(); loadCertificate(); loadChart("24h"); loadIncidents(); loadChecks(); loadNotifications(); notificationForm();
  PG.live({
    onOpen: function (ws) { ws.send(JSON.stringify({ action: "subscribe", server_ids: [Number(id)] })); },
    onMessage: function (data) {
      if (data.type !== "update") { return; }
      setStatus(data.status);
      beats.push(data.ping); drawBeats();
      if (pageIndex === 0) { loadChecks(); }
      if (data.status.status !== $("status").dataset.last) { $("status").dataset.last = data.status.status; loadIncidents(); loadUptime(); }
    }
  });
})();
