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
      // {"servers": [{"index": 3, "name": "db-7", "errors": {...}}], "detail": "line 4, …"}: one line per bad item.
      function describe(v) {
        if (Array.isArray(v)) { return v.map(describe).join(" "); }
        if (v && typeof v === "object") {
          if ("index" in v && "errors" in v) { return "[" + v.index + "]" + (v.name ? " " + v.name : "") + " — " + describe(v.errors); }
          return Object.keys(v).map(function (k) { return k + ": " + describe(v[k]); }).join("; ");
        }
        return String(v);
      }
      Object.keys(r.data || {}).forEach(function (kind) {
        var v = r.data[kind], label = kind === "detail" ? "" : kind + " ";
        (Array.isArray(v) && v.length && typeof v[0] === "object" ? v : [v]).forEach(function (item) {
          ul.appendChild(PG.el("li", { text: label + describe(item) }));
        });
      });
      result.appendChild(ul);
    });
  });
  PG.live({ onOpen: function () {}, onMessage: function () {} });
})();
