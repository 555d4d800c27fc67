// /status-pages/: list, create, edit and delete status pages through /api/status-pages/; for a
// page being edited, its layout (groups, order, display names), logo and subscribers.
(function () {
  "use strict";
  var form = document.getElementById("page-form");
  var extras = document.getElementById("page-extras");
  var current = null;       // the page being edited (API representation)
  var servers = [];         // the team's servers, for the layout's pickers
  var groups = [];          // the layout being edited: [{name, servers: [{server, display_name}]}]

  function edit(page) {
    // The same page again (its settings were just saved): the layout being edited, which that
    // save does not carry, stays as it is; another page starts from its own saved layout.
    var samePage = !!(current && page.id === current.id);
    current = page.id ? page : null;
    document.getElementById("form-title").textContent = page.id ? "Edit " + page.title : "New status page";
    // The servers field is a searchable picker over the API (any number of servers).
    PG.buildForm(form, PG.STATUS_PAGE_FIELDS, page, function (payload) {
      if (payload.domain === "") { payload.domain = null; }
      var req = page.id ? PG.api("PATCH", "/api/status-pages/" + page.id + "/", payload) : PG.api("POST", "/api/status-pages/", payload);
      return req.then(function (r) { if (r.ok) { load(); edit(page.id ? r.data : {}); } return r; });
    }, page.id ? "Save page" : "Create page");
    extras.hidden = !current;
    if (current) { if (!samePage) { showLayout(); } showLogo(); loadSubscribers(); }
  }

  // Layout ------------------------------------------------------------------------------------
  function button(text, onClick, cls, label) {
    var b = PG.el("button", { type: "button", text: text, class: cls || null, "aria-label": label || null });
    b.addEventListener("click", onClick);
    return b;
  }
  function move(list, i, by) {
    var j = i + by;
    if (j < 0 || j >= list.length) { return; }
    var x = list[i]; list[i] = list[j]; list[j] = x;
    drawGroups();
  }
  function serverSelect(value) {
    var sel = PG.el("select", { "aria-label": "Server" });
    sel.appendChild(PG.el("option", { value: "", text: "— pick a server —" }));
    servers.forEach(function (s) {
      var o = PG.el("option", { value: String(s.id), text: s.name });
      if (String(s.id) === String(value)) { o.selected = true; }
      sel.appendChild(o);
    });
    return sel;
  }
  function drawGroups() {
    var box = document.getElementById("groups");
    box.textContent = "";
    if (!groups.length) { box.appendChild(PG.el("p", { class: "help", text: "No groups: the page lists its servers by name." })); }
    groups.forEach(function (g, gi) {
      var name = PG.el("input", { type: "text", value: g.name, "aria-label": "Group name", placeholder: "Group name" });
      name.addEventListener("input", function () { g.name = name.value; });
      var head = PG.el("div", { class: "group-head" }, [name,
        button("↑", function () { move(groups, gi, -1); }, null, "Move group up"),
        button("↓", function () { move(groups, gi, 1); }, null, "Move group down"),
        button("Remove group", function () { groups.splice(gi, 1); drawGroups(); }, "danger")]);
      var rows = PG.el("ol", { class: "group-servers" });
      g.servers.forEach(function (entry, si) {
        var sel = serverSelect(entry.server);
        sel.addEventListener("change", function () { entry.server = Number(sel.value) || null; });
        var dn = PG.el("input", { type: "text", value: entry.display_name || "", placeholder: "Display name (optional)", "aria-label": "Display name" });
        dn.addEventListener("input", function () { entry.display_name = dn.value; });
        rows.appendChild(PG.el("li", {}, [sel, dn,
          button("↑", function () { move(g.servers, si, -1); }, null, "Move server up"),
          button("↓", function () { move(g.servers, si, 1); }, null, "Move server down"),
          button("×", function () { g.servers.splice(si, 1); drawGroups(); }, "danger", "Remove server from group")]));
      });
      var add = button("Add server", function () { g.servers.push({ server: null, display_name: "" }); drawGroups(); });
      box.appendChild(PG.el("div", { class: "group-editor", "data-group": String(gi) }, [head, rows, add]));
    });
  }
  function showLayout() {
    groups = JSON.parse(JSON.stringify(current.groups || []));
    document.getElementById("layout-result").textContent = "";
    PG.api("GET", "/api/servers/?page_size=500&ordering=name").then(function (r) {
      servers = (r.ok ? r.data.results : []).filter(function (s) { return !current.team || !s.team || s.team === current.team; });
      drawGroups();
    });
  }
  document.getElementById("add-group").addEventListener("click", function () {
    groups.push({ name: "", servers: [] }); drawGroups();
  });
  document.getElementById("save-layout").addEventListener("click", function () {
    var out = document.getElementById("layout-result");
    var payload = groups.map(function (g) {
      return { name: g.name, servers: g.servers.filter(function (e) { return e.server; }).map(function (e) { return { server: e.server, display_name: e.display_name || "" }; }) };
    });
    out.className = ""; out.textContent = "Saving…";
    PG.api("PATCH", "/api/status-pages/" + current.id + "/", { groups: payload }).then(function (r) {
      if (r.ok) { current = r.data; groups = JSON.parse(JSON.stringify(r.data.groups)); drawGroups(); out.textContent = "Saved."; load(); return; }
      out.className = "form-error";
      out.textContent = (r.data && (r.data.groups || r.data.detail)) ? [].concat(r.data.groups || r.data.detail).join(" ") : "Error " + r.status;
    });
  });

  // Logo --------------------------------------------------------------------------------------
  function showLogo() {
    var img = document.getElementById("logo-preview");
    img.hidden = !current.logo;
    document.getElementById("logo-none").hidden = !!current.logo;
    if (current.logo) { img.src = current.logo + "?v=" + Date.now(); }
    document.getElementById("logo-result").textContent = "";
  }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function logoDone(r) {
    var out = document.getElementById("logo-result");
    if (r.ok) { current = r.data; showLogo(); out.className = ""; out.textContent = "Saved."; return; }
    out.className = "form-error";
    out.textContent = r.data && r.data.logo ? [].concat(r.data.logo).join(" ") : "Error " + r.status;
  }
  document.getElementById("logo-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("logo-file").files[0];
    if (!file) { logoDone({ ok: false, status: 400, data: { logo: ["Choose a PNG or SVG file first."] } }); return; }
    var data = new FormData();
    data.append("logo", file);
    // Multipart, so not PG.api (which sends JSON): the browser sets the boundary.
    fetch("/api/status-pages/" + current.id + "/", { method: "PATCH", credentials: "same-origin", body: data,
      headers: { Accept: "application/json", "X-CSRFToken": csrf() } })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { return { ok: r.ok, status: r.status, data: d }; }); })
      .then(logoDone);
  });
  document.getElementById("logo-remove").addEventListener("click", function () {
    PG.api("PATCH", "/api/status-pages/" + current.id + "/", { logo: null }).then(logoDone);
  });

  // Subscribers -------------------------------------------------------------------------------
  function loadSubscribers() {
    var body = document.querySelector("#subscribers tbody"), note = document.getElementById("subscribers-note");
    body.textContent = ""; note.textContent = "";
    document.getElementById("subscriber-count").textContent = "(" + (current.subscriber_count || 0) + " confirmed)";
    PG.api("GET", "/api/status-pages/" + current.id + "/subscribers/?page_size=200").then(function (r) {
      if (r.status === 403) { note.textContent = "Only the team's admins and owners see who subscribed."; return; }
      var items = r.ok ? r.data.results : [];
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 5, text: "No subscribers yet." })])); }
      items.forEach(function (s) {
        var d = button("Delete", function () {
          if (!confirm("Remove " + s.target + "?")) { return; }
          PG.api("DELETE", "/api/status-pages/" + current.id + "/subscribers/" + s.id + "/").then(function () { refreshCurrent(); });
        }, "danger");
        body.appendChild(PG.el("tr", {}, [PG.el("td", { text: s.kind === "email" ? "E-mail" : "Webhook" }),
          PG.el("td", { class: "wrap", text: s.target }), PG.el("td", { text: s.confirmed ? "yes" : "waiting" }),
          PG.el("td", { text: PG.fmtTime(s.created_at) }), PG.el("td", { class: "actions" }, [d])]));
      });
      if (r.ok && r.data.next) { note.textContent = "Showing the newest 200."; }
    });
  }
  function refreshCurrent() {
    PG.api("GET", "/api/status-pages/" + current.id + "/").then(function (r) { if (r.ok) { current = r.data; loadSubscribers(); load(); } });
  }

  function load() {
    PG.api("GET", "/api/status-pages/?page_size=200").then(function (r) {
      var body = document.querySelector("#pages tbody"); body.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 5, text: "No status pages yet." })])); }
      items.forEach(function (p) {
        var e = PG.el("button", { type: "button", text: "Edit" }); e.addEventListener("click", function () { edit(p); form.querySelector("input").focus(); });
        var posts = PG.el("a", { href: "/status-pages/" + p.id + "/", class: "btn", text: "Posts" });
        var d = PG.el("button", { type: "button", class: "danger", text: "Delete" });
        d.addEventListener("click", function () { if (confirm("Delete " + p.title + "?")) { PG.api("DELETE", "/api/status-pages/" + p.id + "/").then(function () { if (current && current.id === p.id) { edit({}); } load(); }); } });
        body.appendChild(PG.el("tr", {}, [PG.el("td", { text: p.title }), PG.el("td", {}, [PG.el("a", { href: p.url, text: p.url })]),
          PG.el("td", { text: p.is_public ? "yes" : "no" }), PG.el("td", { text: String(p.subscriber_count || 0) }),
          PG.el("td", { class: "actions" }, [posts, " ", e, " ", d])]));
      });
    });
  }
  edit({}); load();
  PG.live({ onOpen: function () {}, onMessage: function () {} });
})();
