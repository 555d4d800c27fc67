// One incident as a list item (SPEC §18): what happened, who acknowledged it, an Acknowledge
// note and button while it is open, and its timeline folded away. Used by the server page and
// the incident list. opts: {canAck, showServer, onChange}.
(function () {
  "use strict";
  PG.incidentItem = function (i, opts) {
    opts = opts || {};
    var text = "Down " + PG.fmtTime(i.started_at) + (i.ended_at ? " for " + PG.fmtDuration(i.duration_seconds) : " — ongoing") + (i.first_error ? ": " + i.first_error : "");
    if (i.acknowledged_at) { text += " (acknowledged " + PG.fmtTime(i.acknowledged_at) + (i.acknowledged_by ? " by " + i.acknowledged_by : "") + ")"; }
    var head = [];
    if (opts.showServer) { head.push(PG.el("a", { href: "/servers/" + i.server + "/", text: i.server_name })); head.push(" "); }
    head.push(PG.el("span", { text: text }));
    var li = PG.el("li", { class: "incident" + (i.is_open ? " open" : ""), "data-incident": String(i.id) }, head);
    if (i.is_open && !i.acknowledged_at && opts.canAck) {
      var note = PG.el("input", { type: "text", class: "ack-note", placeholder: "Note (optional)", "aria-label": "Acknowledgement note", maxlength: "1000" });
      var button = PG.el("button", { type: "button", class: "ack", text: "Acknowledge" });
      var result = PG.el("span", { role: "status", class: "ack-result" });
      button.addEventListener("click", function () {
        button.disabled = true;
        PG.api("POST", "/api/incidents/" + i.id + "/ack/", { note: note.value }).then(function (r) {
          if (r.ok) { if (opts.onChange) { opts.onChange(); } }
          else { button.disabled = false; result.textContent = (r.data && r.data.detail) || ("failed (" + r.status + ")"); }
        });
      });
      li.appendChild(PG.el("span", { class: "ack-row" }, [note, button, result]));
    }
    if (i.timeline && i.timeline.length) {
      var list = PG.el("ol", { class: "timeline" });
      i.timeline.forEach(function (e) {
        var line = PG.fmtTime(e.at) + " " + e.kind + (e.note ? ": " + e.note : "") + (e.configs && e.configs.length ? " → config " + e.configs.join(", ") : "") + (e.by ? " (by " + e.by + ")" : "");
        list.appendChild(PG.el("li", { text: line }));
      });
      li.appendChild(PG.el("details", {}, [PG.el("summary", { text: "Timeline" }), list]));
    }
    return li;
  };
})();
