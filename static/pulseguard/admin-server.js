// Server admin: the HTTP fieldsets only matter for http/https servers; hide them for the others.
(function () {
  "use strict";
  function sync() {
    var protocol = document.getElementById("id_protocol");
    if (!protocol) { return; }
    var http = protocol.value === "http" || protocol.value === "https";
    document.querySelectorAll("fieldset.http-options").forEach(function (fieldset) {
      fieldset.hidden = !http;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var protocol = document.getElementById("id_protocol");
    if (protocol) { protocol.addEventListener("change", sync); }
    sync();
  });
})();
