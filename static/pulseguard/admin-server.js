// Server admin: the HTTP fieldsets only matter for http/https servers, the push one for push.
(function () {
  "use strict";
  function sync() {
    var protocol = document.getElementById("id_protocol");
    if (!protocol) { return; }
    var http = protocol.value === "http" || protocol.value === "https";
    document.querySelectorAll("fieldset.http-options").forEach(function (fieldset) {
      fieldset.hidden = !http;
    });
    document.querySelectorAll("fieldset.push-options").forEach(function (fieldset) {
      fieldset.hidden = protocol.value !== "push";
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var protocol = document.getElementById("id_protocol");
    if (protocol) { protocol.addEventListener("change", sync); }
    sync();
  });
})();
