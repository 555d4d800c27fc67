// /maintenance/: list, create, edit and delete maintenance windows through
// /api/maintenance-windows/ (SPEC §12); the list re-reads itself so "active" and "next start"
// stay current, and whenever a server's status changes on the live feed.
(function () {
  "use strict";
  var form = document.getElementById("window-form"), names = {}, covered = [], built = null;
  var statusOf = {};
  var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

  function when(w) {
    if (!w.recurrence) { return PG.fmtTime(w.starts_at) + " – " + PG.fmtTime(w.ends_at); }
    var days = w.recurrence === "weekly" ? " on " + w.weekdays.map(function (d) { return DAYS[d]; }).join(", ") : "";
    return (w.recurrence === "daily" ? "Daily" : "Weekly") + days + " at " + w.start_time + " for " + w.duration_minutes + " min (" + w.timezone + ")";
  }
  function covers(w) {
    var parts = w.servers.map(function (id) { return names[id] || "#" + id; });
    if (w.tags.length) { parts.push("tagged " + w.tags.join(", ")); }
    return parts.join("; ");
  }

  function edit(w) {
    document.getElementById("form-title").textContent = w.id ? "Edit " + w.name : "New maintenance window";
    var values = Object.assign({}, w, { kind: w.id ? (w.recurrence ? "recurring" : "once") : "once" });
    // The servers field is a searchable picker over the API (any number of servers).
    built = PG.buildForm(form, PG.MAINTENANCE_FIELDS, values, function (payload) {
      // Switching kind clears the other kind's fields, so the window is one or the other.
      if (built.values().kind === "recurring") { payload.starts_at = null; payload.ends_at = null; }
      else { payload.recurrence = ""; payload.weekdays = []; payload.start_time = null; payload.duration_minutes = null; }
      if (payload.recurrence === "daily") { payload.weekdays = []; }
      var req = w.id ? PG.api("PATCH", "/api/maintenance-windows/" + w.id + "/", payload) : PG.api("POST", "/api/maintenance-windows/", payload);
      return req.then(function (r) { if (r.ok) { load(); edit({}); } return r; });
    }, w.id ? "Save window" : "Create window");
  }

  function load() {
    PG.api("GET", "/api/maintenance-windows/?page_size=200").then(function (r) {
      var body = document.querySelector("#windows tbody"); body.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 6, text: "No maintenance windows yet." })])); }
      nameServers(items);
      items.forEach(function (w) {
        var e = PG.el("button", { type: "button", text: "Edit" });
        e.addEventListener("click", function () { edit(w); form.querySelector("input").focus(); });
        var d = PG.el("button", { type: "button", class: "danger", text: "Delete" });
        d.addEventListener("click", function () { if (confirm("Delete " + w.name + "?")) { PG.api("DELETE", "/api/maintenance-windows/" + w.id + "/").then(load); } });
        var now = w.active ? PG.el("span", { class: "status maintenance", text: "active" }) : PG.el("span", { text: w.enabled ? "–" : "disabled" });
        body.appendChild(PG.el("tr", { "data-window-id": w.id }, [PG.el("td", { text: w.name }), PG.el("td", { class: "wrap", text: when(w) }),
          PG.el("td", { class: "wrap", text: covers(w) }), PG.el("td", {}, [now]),
          PG.el("td", { text: w.next_start ? PG.fmtTime(w.next_start) : "–" }), PG.el("td", {}, [e, " ", d])]));
      });
    });
  }

  // Names (and statuses) of the servers the windows cover, asked for by id: the page never
  // loads the whole fleet. New ones are followed on the live feed.
  var socket = null;
  function nameServers(items) {
    var want = [];
    items.forEach(function (w) { w.servers.forEach(function (sid) { if (!(sid in names) && want.indexOf(sid) < 0) { want.push(sid); } }); });
    for (var i = 0; i < want.length; i += 100) {
      PG.api("GET", "/api/servers/?page_size=100&id=" + want.slice(i, i + 100).join(",")).then(function (r) {
        var found = r.ok ? r.data.results : [];
        found.forEach(function (s) { names[s.id] = s.name; statusOf[s.id] = s.status; covered.push(s.id); });
        if (found.length) {
          Array.prototype.forEach.call(document.querySelectorAll("#windows tr[data-window-id]"), function (tr) {
            var w = items.filter(function (x) { return String(x.id) === tr.dataset.windowId; })[0];
            if (w) { tr.children[2].textContent = covers(w); }
          });
          subscribe(found.map(function (s) { return s.id; }));
        }
      });
    }
  }
  function subscribe(ids) { if (socket && socket.readyState === 1 && ids.length) { socket.send(JSON.stringify({ action: "subscribe", server_ids: ids })); } }
  edit({}); load();
  setInterval(load, 30000);
  PG.live({
    onOpen: function (ws) { socket = ws; subscribe(covered); },
    // A server entering or leaving maintenance: re-read the list for "active" and "next start".
    onMessage: function (data) {
      if (data.type !== "update" || !data.status) { return; }
      var was = statusOf[data.status.server], now = data.status.status;
      statusOf[data.status.server] = now;
      if ((was === "maintenance") !== (now === "maintenance")) { load(); }
    }
  });
})();
