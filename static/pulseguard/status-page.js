// /status/<slug>/: re-reads the public summary JSON every few seconds and redraws in place.
// Only what the summary carries (names, statuses, uptime, incident and maintenance times,
// incident posts and announcements) ever reaches this page.
(function () {
  "use strict";
  var root = document.getElementById("status-page");
  if (!root) { return; }
  var url = root.dataset.summaryUrl, every = Number(root.dataset.refreshSeconds || 15) * 1000;

  var pct = PG.fmtPct;  // format.js: the same words as the server-rendered first paint
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null) { e.textContent = text; }
    return e;
  }
  function dayClass(d) {
    if (d.uptime_percentage == null) { return "day none"; }
    if (d.uptime_percentage >= 99.9) { return "day good"; }
    if (d.uptime_percentage >= 95) { return "day fair"; }
    return "day bad";
  }

  // An announcement whose end has come leaves the page at once, between two reads of the summary.
  var announcementTimer = null;
  function expireAnnouncements() {
    var now = Date.now(), next = Infinity;
    var box = document.getElementById("announcements");
    Array.prototype.forEach.call(box.querySelectorAll(".announcement"), function (a) {
      var ends = a.dataset.endsAt ? Date.parse(a.dataset.endsAt) : NaN;
      if (!isNaN(ends) && ends <= now) { a.remove(); } else if (!isNaN(ends)) { next = Math.min(next, ends); }
    });
    box.hidden = !box.querySelector(".announcement");
    clearTimeout(announcementTimer);
    if (next !== Infinity) { announcementTimer = setTimeout(expireAnnouncements, Math.min(next - now + 50, 2147483647)); }
  }

  // ``html`` of posts and announcements is the summary's: the Markdown subset, made and cleaned
  // against an allow-list on the server (monitoring.services.markdown), so it goes in as HTML.
  function renderPosts(s) {
    var box = document.getElementById("announcements");
    box.textContent = "";
    (s.announcements || []).forEach(function (a) {
      var div = el("div", "announcement");
      div.dataset.endsAt = a.ends_at || "";
      div.innerHTML = a.html;
      box.appendChild(div);
    });
    expireAnnouncements();
    var posts = document.getElementById("posts");
    posts.textContent = "";
    document.getElementById("posts-section").hidden = !(s.posts || []).length;
    (s.posts || []).forEach(function (p) {
      var art = el("article", "post impact-" + p.impact);
      art.id = "post-" + p.id;
      art.appendChild(el("h3", null, p.title));
      art.appendChild(el("div", "meta", "Impact: " + p.impact + (p.servers.length ? " · Affects " + p.servers.join(", ") : "")));
      var u = p.updates[0];
      if (u) {
        var up = el("div", "update");
        up.appendChild(el("span", "word", u.status.charAt(0).toUpperCase() + u.status.slice(1)));
        up.appendChild(document.createTextNode(" "));
        up.appendChild(el("span", "when", PG.fmtTime(u.created_at)));
        var msg = el("div", "message");
        msg.innerHTML = u.html;
        up.appendChild(msg);
        art.appendChild(up);
      }
      posts.appendChild(art);
    });
  }

  function render(s) {
    renderPosts(s);
    var overall = document.getElementById("overall");
    overall.className = "overall " + s.status;
    overall.textContent = { up: "All systems operational", down: "Some systems are down", degraded: "Some systems are degraded", maintenance: "Maintenance in progress" }[s.status] || "Status unknown";
    // Servers arrive in display order, each with its group's name (groups in their set order).
    var list = document.getElementById("servers");
    list.textContent = "";
    var ul = null, current = null;
    s.servers.forEach(function (srv) {
      var group = srv.group || "";
      if (ul === null || group !== current) {
        current = group;
        if (group) { list.appendChild(el("h3", "group-name", group)); }
        ul = el("ul", "group");
        list.appendChild(ul);
      }
      var li = el("li", "server");
      var head = el("div", "head");
      head.appendChild(el("span", "name", srv.name));
      head.appendChild(el("span", "status " + srv.status, srv.status));
      li.appendChild(head);
      var up = el("div", "uptime");
      up.textContent = "24h " + pct(srv.uptime["24h"]) + " · 30d " + pct(srv.uptime["30d"]) + " · 90d " + pct(srv.uptime["90d"]) +
        (srv.response_time != null ? " · " + Math.round(srv.response_time) + " ms" : "");
      li.appendChild(up);
      var bar = el("div", "bar");
      bar.setAttribute("aria-label", "Daily uptime, last 90 days");
      srv.days.forEach(function (d) {
        var b = el("span", dayClass(d));
        b.title = d.date + ": " + (d.uptime_percentage == null ? "no checks" : pct(d.uptime_percentage));
        bar.appendChild(b);
      });
      li.appendChild(bar);
      ul.appendChild(li);
    });
    if (!s.servers.length) {
      var empty = el("ul", "group");
      empty.appendChild(el("li", "server", "No services on this page yet."));
      list.appendChild(empty);
    }
    var inc = document.getElementById("incidents");
    inc.textContent = "";
    if (!s.incidents.length) { inc.appendChild(el("li", "none", "No outages found by checks in the last 90 days.")); }
    s.incidents.forEach(function (i) {
      var text = i.server + ": down " + PG.fmtTime(i.started_at) +
        (i.ended_at ? " for " + PG.fmtDuration(i.duration_seconds) : " — ongoing");
      inc.appendChild(el("li", i.ended_at ? "past" : "open", text));
    });
    var maint = document.getElementById("maintenance");
    maint.textContent = "";
    document.getElementById("maintenance-section").hidden = !(s.maintenance || []).length;
    (s.maintenance || []).forEach(function (m) {
      var li = el("li", m.active ? "active" : "upcoming");
      li.appendChild(el("strong", null, m.name));
      li.appendChild(document.createTextNode(" — " + (m.active ? "in progress" : "scheduled") + " "));
      li.appendChild(el("span", "when", PG.fmtTime(m.starts_at) + " – " + PG.fmtTime(m.ends_at)));
      maint.appendChild(li);
    });
    document.getElementById("updated").textContent = "Updated " + PG.fmtTime(s.generated_at);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { render(s); window.__statusPageRefreshes = (window.__statusPageRefreshes || 0) + 1; } })
      .catch(function () {})
      .then(function () { setTimeout(poll, every); });
  }
  // The subscribe form: e-mail (a confirmation link follows) or webhook, posted as JSON.
  var form = document.getElementById("subscribe-form");
  if (form) {
    var email = document.getElementById("subscribe-email"), hook = document.getElementById("subscribe-webhook");
    var result = document.getElementById("subscribe-result");
    form.addEventListener("change", function () {
      var byHook = form.querySelector("input[name=how]:checked").value === "webhook";
      hook.hidden = !byHook; email.hidden = byHook;
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var byHook = !hook.hidden;
      var body = byHook ? { webhook_url: hook.value.trim() } : { email: email.value.trim() };
      result.className = ""; result.textContent = "Sending…";
      fetch(form.getAttribute("action"), { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) })
        .then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { return { ok: r.ok, status: r.status, data: d }; }); })
        .then(function (r) {
          if (r.ok) { result.textContent = r.data.detail || "Subscribed."; form.reset(); hook.hidden = true; email.hidden = false; return; }
          result.className = "error";
          var d = r.data || {};
          var msg = (d.email || d.webhook_url || d.non_field_errors || [d.detail || ("Error " + r.status)]);
          result.textContent = Array.isArray(msg) ? msg.join(" ") : String(msg);
        })
        .catch(function () { result.className = "error"; result.textContent = "Could not reach the server; try again."; });
    });
  }
  window.renderStatusPage = render;
  expireAnnouncements();
  setTimeout(poll, every);
})();
