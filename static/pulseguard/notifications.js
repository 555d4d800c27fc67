// /notifications/: the team's notification configs (SPEC §18) through /api/notification-configs/:
// list, create, edit, send a test, attach to all the team's servers, delete.
(function () {
  "use strict";
  var form = document.getElementById("config-form"), note = document.getElementById("secret-note");
  var URL = "/api/notification-configs/";
  function edit(config) {
    document.getElementById("form-title").textContent = config.id ? "Edit " + config.notification_type + " → " + config.recipient : "New notification";
    PG.buildForm(form, PG.CONFIG_FIELDS, config, function (payload) {
      var req = config.id ? PG.api("PATCH", URL + config.id + "/", payload) : PG.api("POST", URL, payload);
      return req.then(function (r) {
        if (r.ok) {
          note.hidden = !r.data.secret;
          note.textContent = r.data.secret ? "Webhook signing secret (shown once): " + r.data.secret : "";
          load(); edit({});
        }
        return r;
      });
    }, config.id ? "Save notification" : "Add notification");
  }
  function button(text, cls, onClick) {
    var b = PG.el("button", { type: "button", class: cls || null, text: text });
    b.addEventListener("click", onClick);
    return b;
  }
  function load() {
    PG.api("GET", URL + "?page_size=200&ordering=notification_type").then(function (r) {
      var body = document.querySelector("#configs tbody"); body.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 6, text: "No notifications yet: add one below." })])); }
      items.forEach(function (c) {
        var result = PG.el("span", { role: "status", class: "help" });
        var test = button("Send test", null, function () {
          result.textContent = "sending…";
          PG.api("POST", URL + c.id + "/test/").then(function (t) { result.textContent = t.ok && t.data.delivered ? "delivered" : "failed: " + ((t.data && t.data.error) || t.status); });
        });
        var all = button("Attach to all", null, function () { PG.api("POST", URL + c.id + "/attach-all/").then(load); });
        var ed = button("Edit", null, function () { edit(c); form.querySelector("select, input").focus(); });
        var del = button("Delete", "danger", function () {
          if (confirm("Delete " + c.notification_type + " → " + c.recipient + "? Its servers stop alerting there.")) { PG.api("DELETE", URL + c.id + "/").then(load); }
        });
        var servers = c.servers.length + (c.servers.length === 1 ? " server" : " servers") + (c.is_default ? " · default" : "");
        body.appendChild(PG.el("tr", { "data-config-id": c.id }, [
          PG.el("td", { "data-label": "Channel", text: c.notification_type }),
          PG.el("td", { "data-label": "Recipient", class: "message", text: c.recipient }),
          PG.el("td", { "data-label": "Servers", class: "labelled", text: servers }),
          PG.el("td", { "data-label": "Alerts on", class: "labelled", text: (c.events || []).join(", ") || "nothing" }),
          PG.el("td", { "data-label": "Enabled", class: "labelled", text: c.enabled ? "yes" : "no" }),
          PG.el("td", { class: "actions" }, [ed, " ", test, " ", all, " ", del, " ", result])]));
      });
    });
  }
  edit({}); load();
})();
