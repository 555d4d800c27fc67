// Moved out of templates/server_form.html so that the Content-Security-Policy can allow only this origin's scripts.
(function () {
  "use strict";
  var form = document.getElementById("server-form"), id = form.dataset.serverId;
  function start(values) {
    PG.buildForm(form, PG.SERVER_FIELDS, values, function (payload) {
      // A failed save leaves the form as typed; the API's field errors appear beside the fields.
      var req = id ? PG.api("PATCH", "/api/servers/" + id + "/", payload) : PG.api("POST", "/api/servers/", payload);
      return req.then(function (res) { if (res.ok) { location.href = "/servers/" + res.data.id + "/"; } return res; });
    }, id ? "Save changes" : "Add server");
    var first = form.querySelector("input, select"); if (first) { first.focus(); }
  }
  var clone = new URLSearchParams(location.search).get("clone");
  if (id) { PG.api("GET", "/api/servers/" + id + "/").then(function (res) { start(res.data || {}); }); }
  else if (clone && /^\d+$/.test(clone)) {
    // Clone: the other server's settings under a new name, saved as a new server.
    PG.api("GET", "/api/servers/" + clone + "/").then(function (res) {
      var v = res.ok ? res.data : {};
      if (v.name) { v.name = v.name + " (copy)"; }
      start(v);
    });
  } else { start({}); }
})();
