// Server admin: the HTTP fieldsets only matter for http/https servers, the push one for push,
// and each field of "Other kinds of checks" for the kinds in KIND_FIELDS (validators.PROTOCOL_FIELDS).
(function () {
  "use strict";
  var DB = ["postgres", "mysql", "redis"];
  var KIND_FIELDS = {
    ping_count: ["ping"], packet_loss_threshold: ["ping"],
    dns_record_type: ["dns"], dns_resolver: ["dns"], dns_expected: ["dns"],
    smtp_starttls: ["smtp"], dsn: DB, db_query: DB,
    grpc_service: ["grpc"], grpc_tls: ["grpc"],
    ws_send: ["websocket"], ws_tls: ["websocket"],
    tcp_send: ["tcp"], tcp_expect: ["tcp"]
  };
  function sync() {
    var protocol = document.getElementById("id_protocol");
    if (!protocol) { return; }
    var http = protocol.value === "http" || protocol.value === "https";
    document.querySelectorAll("fieldset.http-options").forEach(function (fieldset) {
      fieldset.hidden = !http && !(protocol.value === "websocket" && fieldset.querySelector(".field-assertions"));
    });
    document.querySelectorAll("fieldset.push-options").forEach(function (fieldset) {
      fieldset.hidden = protocol.value !== "push";
    });
    var any = false;
    Object.keys(KIND_FIELDS).forEach(function (name) {
      var row = document.querySelector(".field-" + name);
      var shown = KIND_FIELDS[name].indexOf(protocol.value) >= 0;
      any = any || shown;
      if (row) { row.hidden = !shown; }
    });
    document.querySelectorAll("fieldset.kind-options").forEach(function (fieldset) { fieldset.hidden = !any; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var protocol = document.getElementById("id_protocol");
    if (protocol) { protocol.addEventListener("change", sync); }
    sync();
  });
})();
