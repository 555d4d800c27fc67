// /status-pages/: list, create, edit and delete status pages through /api/status-pages/.
(function () {
  "use strict";
  var form = document.getElementById("page-form");
  function edit(page) {
    document.getElementById("form-title").textContent = page.id ? "Edit " + page.title : "New status page";
    // The servers field is a searchable picker over the API (any number of servers).
    PG.buildForm(form, PG.STATUS_PAGE_FIELDS, page, function (payload) {
      var req = page.id ? PG.api("PATCH", "/api/status-pages/" + page.id + "/", payload) : PG.api("POST", "/api/status-pages/", payload);
      return req.then(function (r) { if (r.ok) { load(); edit({}); } return r; });
    }, page.id ? "Save page" : "Create page");
  }
  function load() {
    PG.api("GET", "/api/status-pages/?page_size=200").then(function (r) {
      var body = document.querySelector("#pages tbody"); body.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 4, text: "No status pages yet." })])); }
      items.forEach(function (p) {
        var e = PG.el("button", { type: "button", text: "Edit" }); e.addEventListener("click", function () { edit(p); form.querySelector("input").focus(); });
        var posts = PG.el("a", { href: "/status-pages/" + p.id + "/", class: "btn", text: "Posts" });
        var d = PG.el("button", { type: "button", class: "danger", text: "Delete" });
        d.addEventListener("click", function () { if (confirm("Delete " + p.title + "?")) { PG.api("DELETE", "/api/status-pages/" + p.id + "/").then(load); } });
        body.appendChild(PG.el("tr", {}, [PG.el("td", { text: p.title }), PG.el("td", {}, [PG.el("a", { href: p.url, text: p.url })]),
          PG.el("td", { text: p.is_public ? "yes" : "no" }), PG.el("td", { class: "actions" }, [posts, " ", e, " ", d])]));
      });
    });
  }
  edit({}); load();
  PG.live({ onOpen: function () {}, onMessage: function () {} });
})();
