// The dashboard: the rows on this page follow /ws/status/ (SPEC §5). Updates are batched into
// one repaint per animation frame, so 100 checks a second cost at most one DOM pass per frame.
(function () {
  "use strict";
  var POINTS = 30;
  var FLASH = getComputedStyle(document.documentElement).getPropertyValue("--flash").trim() || "#fff8c5";  // follows the dark theme
  var rows = {}, history = {}, pendingStatus = {}, pendingDraw = {}, scheduled = false;
  Array.prototype.forEach.call(document.querySelectorAll("tr[data-server-id]"), function (tr) {
    rows[tr.getAttribute("data-server-id")] = tr;
  });
  var ids = Object.keys(rows).map(Number);

  // The counts per status on top follow the rows' changes (one server leaves a count, joins another).
  function recount(from, to) {
    [[from, -1], [to, 1]].forEach(function (c) {
      var n = document.querySelector('.counts a[data-status="' + c[0] + '"] strong');
      if (n) { n.textContent = String(Math.max(0, Number(n.textContent) + c[1])); }
    });
  }

  // ... and the latest status changes gain the new one on top (ten at most, as rendered).
  function noteChange(tr, from, st) {
    var list = document.getElementById("changes"), link = tr.querySelector(".name a");
    if (!list || !link) { return; }
    var when = st.last_status_change || st.last_check || new Date().toISOString();
    var li = PG.el("li", {}, [PG.el("time", { datetime: when, text: PG.fmtTime(when) }), " ",
      PG.el("a", { href: link.getAttribute("href"), text: link.textContent }), " ",
      PG.el("span", { class: "status " + from, text: from }), " → ", PG.el("span", { class: "status " + st.status, text: st.status })]);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 10) { list.removeChild(list.lastChild); }
  }

  function setText(tr, cls, text) { var el = tr.querySelector("." + cls); if (el && el.textContent !== text) { el.textContent = text; } }

  function showStatus(st) {
    var tr = rows[st.server];
    if (!tr) { return; }
    var badge = tr.querySelector(".status");
    // A change of status flashes the row. The Web Animations API restarts the flash without
    // the forced synchronous layout (offsetWidth) a CSS-class restart needs: at 100 changes a
    // second those layouts made 2-second long tasks (bench/dashboard_paint.py).
    if (badge.textContent !== st.status) {
      recount(badge.textContent, st.status);
      noteChange(tr, badge.textContent, st);
      if (tr.animate) { tr.animate([{ backgroundColor: FLASH }, { backgroundColor: "transparent" }], { duration: 1200, easing: "ease-out" }); }
    }
    badge.className = "status " + st.status;
    badge.textContent = st.status;
    setText(tr, "uptime", PG.fmtPct(st.uptime_percentage));
    setText(tr, "response", PG.fmtMs(st.last_response_time));
    setText(tr, "last-check", PG.fmtTime(st.last_check));
    setText(tr, "message", st.message || "");
  }

  function addPing(p) {
    var points = history[p.server] = history[p.server] || [];
    if (points.length && points[points.length - 1].id >= p.id) {
      if (points.some(function (q) { return q.id === p.id; })) { return; }
      points.push({ id: p.id, ms: p.response_time, failed: p.status !== "success" });
      points.sort(function (a, b) { return a.id - b.id; });
    } else {
      points.push({ id: p.id, ms: p.response_time, failed: p.status !== "success" });
    }
    while (points.length > POINTS) { points.shift(); }
  }

  function draw(serverId) {
    var tr = rows[serverId], points = history[serverId] || [];
    if (!tr) { return; }
    var svg = tr.querySelector("svg.chart"), ns = "http://www.w3.org/2000/svg";
    if (!svg) { return; }
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var max = Math.max.apply(null, points.map(function (q) { return q.ms || 0; }).concat([1]));
    var step = 140 / Math.max(POINTS - 1, 1), coords = [];
    points.forEach(function (q, i) {
      var x = i * step, y = 26 - ((q.ms || 0) / max) * 24;
      coords.push(x.toFixed(1) + "," + y.toFixed(1));
      if (q.failed) {
        var dot = document.createElementNS(ns, "circle");
        dot.setAttribute("class", "fail"); dot.setAttribute("cx", x); dot.setAttribute("cy", 26); dot.setAttribute("r", 2);
        svg.appendChild(dot);
      }
    });
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", coords.join(" "));
    svg.appendChild(line);
  }

  function flush() {
    scheduled = false;
    var st = pendingStatus, dr = pendingDraw;
    pendingStatus = {}; pendingDraw = {};
    Object.keys(st).forEach(function (k) { showStatus(st[k]); });
    Object.keys(dr).forEach(draw);
  }
  function schedule() { if (!scheduled) { scheduled = true; requestAnimationFrame(flush); } }

  // One entry point for live frames; the benchmark feeds it synthetic updates too.
  function onMessage(data) {
    if (data.type === "latest") {
      data.statuses.forEach(function (s) { pendingStatus[s.server] = s; });
      data.pings.forEach(function (p) { addPing(p); pendingDraw[p.server] = true; });
    } else if (data.type === "update") {
      pendingStatus[data.status.server] = data.status;
      addPing(data.ping); pendingDraw[data.ping.server] = true;
    } else if (data.type === "status") {  // no check caused it: a pause or a resume (SPEC §5)
      pendingStatus[data.status.server] = data.status;
    } else { return; }
    schedule();
  }
  window.PGDashboard = { onMessage: onMessage, rows: rows };
  if (!ids.length) { return; }
  PG.live({
    onOpen: function (ws) {
      ws.send(JSON.stringify({ action: "latest", server_ids: ids, limit: 500 }));
      ws.send(JSON.stringify({ action: "subscribe", server_ids: ids }));
    },
    onMessage: onMessage
  });
})();
