// A server's page: actions, uptime, certificate, heartbeat bar, response-time chart from
// /api/servers/{id}/history/ (SPEC §9), incidents, checks paged, notifications, all live.
(function () {
  "use strict";
  var root = document.getElementById("server-page");
  var id = root.dataset.serverId, base = "/api/servers/" + id + "/";
  // A viewer of the server's team may look, not change (SPEC §17): no buttons that would be refused.
  var canChange = root.dataset.canChange === "true";
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
  function refused(r) { return (r.data && r.data.detail) || ("failed (" + r.status + ")"); }
  $("pause").addEventListener("click", function () { PG.api("POST", base + "pause/").then(function (r) { if (r.ok) { setStatus({ status: r.data.status, message: r.data.status_message, last_check: r.data.last_check }); say("paused"); } else { say(refused(r)); } }); });
  $("resume").addEventListener("click", function () { PG.api("POST", base + "resume/").then(function (r) { if (r.ok) { setStatus({ status: r.data.status, message: r.data.status_message, last_check: r.data.last_check }); say("resumed"); } else { say(refused(r)); } }); });
  $("delete").addEventListener("click", function () {
    if (!confirm("Delete this server and its history?")) { return; }
    PG.api("DELETE", base).then(function (r) { if (r.ok) { location.href = "/"; } else { say("delete failed: " + refused(r)); } });
  });

  function loadUptime() {
    var windows = ["24h", "7d", "30d", "90d"], out = {};
    Promise.all(windows.map(function (w) { return PG.api("GET", base + "uptime/?window=" + w).then(function (r) { out[w] = r.ok ? r.data : null; }); }))
      .then(function () {
        // Each window's figure on one line ("30d 99.95 %" never breaks inside at phone width).
        var box = $("uptimes"); box.textContent = "";
        windows.forEach(function (w, i) {
          if (i) { box.appendChild(document.createTextNode(" · ")); }
          box.appendChild(PG.el("span", { class: "nowrap", text: w + " " + PG.fmtPct(out[w] && out[w].uptime_percentage) }));
        });
      });
  }

  // The newest certificate check through the list endpoint: "none yet" is an empty list, not a
  // 404 in the console for every new https server until its first certificate check.
  function loadCertificate() {
    if (!$("certificate")) { return; }
    PG.api("GET", "/api/certificates/?server=" + id + "&latest=true").then(function (r) {
      var c = r.ok && r.data.results.length ? r.data.results[0] : null;
      if (!c) { $("certificate").textContent = "not checked yet"; return; }
      $("certificate").textContent = (c.valid ? "valid" : "invalid" + (c.error ? " (" + c.error + ")" : "")) +
        (c.expires_at ? ", expires " + PG.fmtDate(c.expires_at) + " (" + c.days_remaining + " days)" : "") + (c.issuer ? ", " + c.issuer : "");
    });
  }

  function drawBeats() {
    var bar = $("heartbeat"); bar.textContent = "";
    beats.slice(-60).forEach(function (p) {
      bar.appendChild(PG.el("span", { class: p.status === "success" ? "ok" : "bad", title: PG.fmtTime(p.check_timestamp) + ": " + p.status + (p.response_time != null ? ", " + Math.round(p.response_time) + " ms" : "") }));
    });
  }

  // The response-time chart over the whole window (also called by tests with data of their
  // own): time runs left to right from the window's first bucket to now, with a labelled time
  // axis; each bucket with checks is a point (runs of neighbouring buckets are joined by a
  // line), so a new server's first checks are visible dots at the right, not a sliver. Drawn
  // in the SVG's own pixel size so labels stay readable at phone width.
  var lastChart = null;
  function drawChart(buckets, bucketSeconds) {
    var svg = $("chart"), ns = "http://www.w3.org/2000/svg";
    if (!svg) { return; }
    lastChart = [buckets, bucketSeconds];
    var W = Math.max(Math.round(svg.getBoundingClientRect().width) || 600, 240), H = 220;
    // A probed server charts its response time, a push monitor the values its pushes carried (SPEC §19).
    var metric = root.dataset.protocol === "push" ? "value_avg" : "response_time_avg", unit = metric === "value_avg" ? "" : " ms";
    var withData = buckets.filter(function (b) { return b.checks > 0; });
    var max = Math.max.apply(null, withData.map(function (b) { return b[metric] || 0; }).concat([1]));
    var niceMax = Math.pow(10, Math.floor(Math.log10(max))), steps = [1, 2, 2.5, 5, 10];
    for (var k = 0; k < steps.length; k++) { if (steps[k] * niceMax >= max) { niceMax = steps[k] * niceMax; break; } }
    // The scale's labels (0, half, top) set the left margin: "12.5 ms" is not cut at the edge.
    var yLabels = [0, 0.5, 1].map(function (f) { var v = niceMax * f; return (v % 1 ? v.toFixed(1) : v) + unit; });
    var longest = Math.max.apply(null, yLabels.map(function (l) { return l.length; }));
    var left = Math.max(44, Math.ceil(longest * 6.5) + 8), right = 10, top = 10, bottom = 26, plotW = W - left - right, plotH = H - top - bottom;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    function mk(tag, attrs, text) {
      var e = document.createElementNS(ns, tag);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      if (text != null) { e.textContent = text; }
      svg.appendChild(e); return e;
    }
    $("chart-note").textContent = withData.length ? "" : "No history yet.";
    if (!buckets.length) { return; }
    // x: by time when the buckets carry their start, else by position (tests' plain lists).
    var size = (bucketSeconds || 0) * 1000;
    var t0 = buckets[0].start ? Date.parse(buckets[0].start) : 0;
    var t1 = buckets[0].start ? Date.parse(buckets[buckets.length - 1].start) + (size || 1) : buckets.length;
    function tOf(b, i) { return b.start ? Date.parse(b.start) + size / 2 : i + 0.5; }
    function x(t) { return left + ((t - t0) / Math.max(t1 - t0, 1)) * plotW; }
    function y(ms) { return top + plotH - (Math.max(ms, 0) / niceMax) * plotH; }  // the scale starts at 0
    // Grid and labels: 0, half and the top of the scale; time ticks at round hours or days.
    [0, 0.5, 1].forEach(function (f, i) {
      mk("line", { class: f ? "grid" : "axis", x1: left, y1: y(niceMax * f), x2: W - right, y2: y(niceMax * f) });
      mk("text", { x: left - 4, y: y(niceMax * f) + 3, "text-anchor": "end" }, yLabels[i]);  // 0.5 ms is not rounded to "1 ms"
    });
    if (buckets[0].start) {
      var span = t1 - t0, hour = 3600e3, day = 24 * hour;
      var every = span <= 2 * day ? (W < 500 ? 6 : 3) * hour : span <= 10 * day ? day : span <= 40 * day ? (W < 500 ? 7 : 5) * day : (W < 500 ? 30 : 15) * day;
      var local = new Date(t0); local.setMinutes(0, 0, 0);
      if (every >= day) { local.setHours(0); }
      for (var t = local.getTime(); t <= t1; t += every) {
        if (t < t0 || x(t) > W - 16) { continue; }  // a label at the right edge would be cut
        var d = new Date(t);
        var label = every < day ? String(d.getHours()).padStart(2, "0") + ":00" : d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
        mk("line", { class: "tick", x1: x(t), y1: top + plotH, x2: x(t), y2: top + plotH + 4 });
        mk("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, label);
      }
    }
    var run = [];
    function endRun() { if (run.length) { mk("polyline", { class: "line", points: run.join(" ") }); } run = []; }
    buckets.forEach(function (b, i) {
      var cx = x(tOf(b, i));
      if (b.failures > 0) {
        var w = Math.max(plotW / buckets.length, 2);
        mk("rect", { class: "down", x: cx - w / 2, y: top, width: w, height: plotH });
      }
      if (b.checks > 0 && b[metric] != null) {
        run.push(cx.toFixed(1) + "," + y(b[metric]).toFixed(1));
        var shown = unit ? Math.round(b[metric]) + unit : Number(b[metric].toPrecision(6)) + " (min " + b.value_min + ", max " + b.value_max + ")";
        mk("circle", { class: "point", cx: cx.toFixed(1), cy: y(b[metric]).toFixed(1), r: 2.5 }).appendChild(
          document.createElementNS(ns, "title")).textContent = (b.start ? PG.fmtTime(b.start) + ": " : "") + shown;
      } else { endRun(); }
    });
    endRun();
    // Points above the lines.
    Array.prototype.forEach.call(svg.querySelectorAll("circle.point"), function (c) { svg.appendChild(c); });
  }
  window.PGServer = { drawChart: drawChart };
  window.addEventListener("resize", function () { if (lastChart) { drawChart(lastChart[0], lastChart[1]); } });

  function loadChart(window_) {
    if (!$("chart")) { return; }
    Array.prototype.forEach.call(document.querySelectorAll(".windows button"), function (b) { b.setAttribute("aria-pressed", String(b.dataset.window === window_)); });
    PG.api("GET", base + "history/?window=" + window_).then(function (r) {
      if (r.ok && r.data && r.data.buckets) { drawChart(r.data.buckets, r.data.bucket_seconds); } else { drawChart([]); }
    }, function () { drawChart([]); });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".windows button"), function (b) { b.addEventListener("click", function () { loadChart(b.dataset.window); }); });

  function loadIncidents() {
    PG.api("GET", "/api/incidents/?server=" + id).then(function (r) {
      var box = $("incidents"); box.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { box.textContent = "No incidents."; return; }
      var ul = PG.el("ul");
      items.forEach(function (i) { ul.appendChild(PG.incidentItem(i, { canAck: canChange, onChange: loadIncidents })); });
      box.appendChild(ul);
    });
  }

  var pages = [], pageIndex = 0, push = root.dataset.protocol === "push";
  // A push's output (its POST body, up to 10 KiB) as text, never as HTML: folded under its first line.
  function output(text) {
    if (!text) { return PG.el("td", { "data-label": "Output", text: "–" }); }
    var first = text.split("\n", 1)[0];
    return PG.el("td", { "data-label": "Output", class: "output" }, [PG.el("details", {}, [
      PG.el("summary", { text: first.length > 60 ? first.slice(0, 60) + "…" : first || "output" }), PG.el("pre", { text: text })])]);
  }
  function loadChecks(url) {
    if (!url) { pages = ["/api/ping-results/?server=" + id + "&page_size=20"]; pageIndex = 0; url = pages[0]; }
    PG.api("GET", url).then(function (r) {
      if (!r.ok) { return; }
      var body = $("checks").querySelector("tbody"); body.textContent = "";
      // Checked from several locations (SPEC §20): each row says where from.
      var several = Number($("checks").dataset.locations || 0) > 1;
      r.data.results.forEach(function (p) {
        // data-label names the value for assistive tech and the phone layout's wrapped rows.
        // A push's log is shown as "log": it counts nowhere (SPEC §19).
        var log = p.kind === "log";
        body.appendChild(PG.el("tr", { class: log ? "kind-log" : null }, [PG.el("td", { "data-label": "Time", text: PG.fmtTime(p.check_timestamp) }),
          several ? PG.el("td", { "data-label": "Location", text: p.location }) : null, PG.el("td", { "data-label": "Result", text: log ? "log" : p.status }),
          PG.el("td", { "data-label": "Response", text: PG.fmtMs(p.response_time) }), PG.el("td", { "data-label": "Code", text: p.status_code == null ? "–" : String(p.status_code) }),
          PG.el("td", { "data-label": "Error", class: "message", text: p.error_message || "" }),
          push ? PG.el("td", { "data-label": "Value", class: "value", text: p.value == null ? "–" : String(p.value) }) : null, push ? output(p.body) : null]));
      });
      if (!r.data.results.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: (push ? 7 : 5) + (several ? 1 : 0), text: "No checks yet." })])); }
      $("checks-older").disabled = !r.data.next; $("checks-older").dataset.url = r.data.next || "";
      $("checks-newer").disabled = pageIndex === 0;
      if (pageIndex === 0) { beats = r.data.results.filter(function (p) { return p.kind !== "log"; }).reverse(); drawBeats(); }
    });
  }
  $("checks-older").addEventListener("click", function () { var u = this.dataset.url; pageIndex += 1; pages[pageIndex] = u; loadChecks(u); });
  $("checks-newer").addEventListener("click", function () { pageIndex = Math.max(0, pageIndex - 1); loadChecks(pages[pageIndex]); });

  function events(c) { return (c.events || []).join(", ") || "nothing"; }

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
        // A config is the team's (SPEC §18): Remove detaches it from this server; the Notifications page deletes.
        var del = PG.el("button", { type: "button", class: "danger", text: "Remove" });
        del.addEventListener("click", function () {
          var rest = c.servers.filter(function (s) { return s !== Number(id); });
          PG.api("PATCH", "/api/notification-configs/" + c.id + "/", { servers: rest }).then(loadNotifications);
        });
        body.appendChild(PG.el("tr", { "data-config-id": c.id }, [PG.el("td", { "data-label": "Channel", text: c.notification_type }), PG.el("td", { "data-label": "Recipient", class: "message", text: c.recipient }),
          PG.el("td", { "data-label": "Enabled", class: "labelled", text: c.enabled ? "yes" : "no" }), PG.el("td", { "data-label": "Alerts on", class: "labelled", text: events(c) }),
          PG.el("td", { class: "actions" }, canChange ? [test, " ", toggle, " ", del, " ", result] : [])]));
      });
    });
  }
  function notificationForm() {
    PG.buildForm($("notification-form"), PG.NOTIFICATION_FIELDS, {}, function (payload) {
      payload.server = Number(id);
      payload.team = root.dataset.team;  // the server's team, whichever team the header shows
      return PG.api("POST", "/api/notification-configs/", payload).then(function (r) {
        if (r.ok) {
          if (r.data.secret && r.data.notification_type === "webhook") { $("secret-note").hidden = false; $("secret-note").textContent = "Webhook signing secret (shown once): " + r.data.secret; }
          notificationForm(); loadNotifications();
        }
        return r;
      });
    }, "Add notification");
  }

  loadUptime(); loadCertificate(); loadChart("24h"); loadIncidents(); loadChecks(); loadNotifications(); notificationForm();
  // The latest state at each location (SPEC §20), re-read when a check comes in.
  function loadLocations() {
    var table = $("locations");
    if (!table) { return; }
    PG.api("GET", "/api/server-status/?server=" + id).then(function (r) {
      var state = r.ok && r.data.results[0];
      if (!state) { return; }
      state.locations.forEach(function (place) {
        var tr = table.querySelector('tr[data-location="' + place.slug + '"]');
        if (!tr) { return; }
        var badge = tr.children[1].querySelector(".status");
        badge.className = "status " + place.status; badge.textContent = place.status;
        tr.children[2].textContent = place.response_time == null ? "–" : PG.fmtMs(place.response_time);
        tr.children[3].textContent = place.last_check ? PG.fmtTime(place.last_check) : "never";
      });
    });
  }
  PG.live({
    onOpen: function (ws) { ws.send(JSON.stringify({ action: "subscribe", server_ids: [Number(id)] })); },
    onMessage: function (data) {
      if (data.type !== "update") { return; }
      setStatus(data.status);
      loadLocations();
      beats.push(data.ping); drawBeats();
      if (pageIndex === 0) { loadChecks(); }
      if (data.status.status !== $("status").dataset.last) {
        $("status").dataset.last = data.status.status; loadIncidents(); loadUptime();
        if ($("certificate") && $("certificate").textContent === "not checked yet") { loadCertificate(); }
      }
    }
  });
})();
