// Moved out of templates/config.html so that the Content-Security-Policy can allow only this origin's scripts.
(function () {
  "use strict";
  var result = document.getElementById("import-result");
  document.getElementById("import-file").addEventListener("change", function () {
    var f = this.files[0]; if (!f) { return; }
    f.text().then(function (t) { document.getElementById("import-text").value = t; });
  });
  document.getElementById("import-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = document.getElementById("import-text").value, dry = document.getElementById("dry-run").checked;
    var json = /^\s*[\[{]/.test(text);
    PG.api("POST", "/api/config/import/" + (dry ? "?dry_run=true" : ""), text, json ? "application/json" : "application/yaml").then(function (r) {
      result.textContent = "";
      if (r.ok) {
        result.appendChild(PG.el("p", { class: "notice", text: (dry ? "Dry run — nothing written. Would have: " : "Imported: ") +
          "created " + r.data.created + ", updated " + r.data.updated + ", unchanged " + r.data.unchanged + "." }));
        return;
      }
      result.appendChild(PG.el("p", { class: "notice bad", text: "Nothing was imported. Fix these and try again:" }));
      var ul = PG.el("ul");
      Object.keys(r.data || {}).forEach(function (kind) {
        var v = r.data[kind];
        if (Array.isArray(v) && v.length && typeof v[0] === "object") {
          v.forEach(function (errs, i) { if (errs && Object.keys(errs).length) { ul.appendChild(PG.el("li", { text: kind + " item " + (i + 1) + ": " + JSON.stringify(errs) })); } });
        } else { ul.appendChild(PG.el("li", { text: kind + ": " + (Array.isArray(v) ? v.join(" ") : JSON.stringify(v)) })); }
      });
      result.appendChild(ul);
    });
  });
  PG.live({ onOpen: function () {}, onMessage: function () {} });
})();
