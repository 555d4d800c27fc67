// /config/: download the configuration and import a file or pasted text (with a dry run).
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
          v.forEach(function (errs, i) {
            // {"index": 3, "name": "db-7", "errors": {...}} (SPEC §23), or the older list of one error object per item.
            var named = errs && errs.errors !== undefined && errs.index !== undefined;
            var where = named ? kind + " #" + errs.index + (errs.name ? " (" + errs.name + ")" : "") : kind + " item " + (i + 1);
            var body = named ? errs.errors : errs;
            if (body && Object.keys(body).length) {
              ul.appendChild(PG.el("li", { text: where + ": " + Object.keys(body).map(function (f) {
                return f + ": " + (Array.isArray(body[f]) ? body[f].join(" ") : JSON.stringify(body[f]));
              }).join("; ") }));
            }
          });
        } else { ul.appendChild(PG.el("li", { text: kind + ": " + (Array.isArray(v) ? v.join(" ") : JSON.stringify(v)) })); }
      });
      result.appendChild(ul);
    });
  });
  PG.live({ onOpen: function () {}, onMessage: function () {} });
})();
