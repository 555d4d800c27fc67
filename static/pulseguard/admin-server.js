// Server admin: the HTTP fieldset only matters for http/https servers; hide it for tcp.
(function () {
  "use strict";
  function sync() {
    var protocol = document.getElementById("id_protocol");
    var fieldset = document.querySelector("fieldset.http-options");
    if (!protocol || !fieldset) { return; }
    fieldset.hidden = protocol.value === "tcp";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var protocol = document.getElementById("id_protocol");
    if (protocol) { protocol.addEventListener("change", sync); }
    sync();
  });
})();
