// /status-pages/<id>/: a status page's incident posts (write one, add updates, resolve) and its
// announcements, through /api/status-pages/<id>/posts/ and …/announcements/ (SPEC §21).
(function () {
  "use strict";
  var root = document.getElementById("posts-page");
  if (!root) { return; }
  var base = "/api/status-pages/" + root.dataset.pageId + "/";
  var canChange = root.dataset.canChange === "true";
  var WORDS = {};
  PG.POST_STATUSES.forEach(function (s) { WORDS[s[0]] = s[1]; });

  function updateForm(post) {
    // Add an update: a status and a message; "Resolve" is the update with status resolved.
    var status = PG.el("select", { name: "status", "aria-label": "Status of the update" });
    PG.POST_STATUSES.forEach(function (s) { status.appendChild(PG.el("option", { value: s[0], text: s[1], selected: s[0] === post.status })); });
    var message = PG.el("textarea", { name: "message", rows: 2, placeholder: "What is new (Markdown subset)", "aria-label": "Message of the update" });
    var error = PG.el("span", { class: "error", role: "alert" });
    var add = PG.el("button", { type: "submit", class: "primary", text: "Add update" });
    var resolve = PG.el("button", { type: "button", text: "Resolve" });
    var form = PG.el("form", { class: "post-update", novalidate: true }, [status, message, PG.el("div", { class: "actions" }, [add, " ", resolve, " ", error])]);
    function send(body) {
      error.textContent = "";
      return PG.api("POST", base + "posts/" + post.id + "/updates/", body).then(function (r) {
        if (r.ok) { load(); return; }
        error.textContent = Object.keys(r.data || {}).map(function (k) { return k + ": " + [].concat(r.data[k]).join(" "); }).join(" ");
      });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); send({ status: status.value, message: message.value }); });
    resolve.addEventListener("click", function () { send({ status: "resolved", message: message.value.trim() || "This incident has been resolved." }); });
    return form;
  }

  function postCard(post) {
    var card = PG.el("div", { class: "card post", id: "post-" + post.id });
    card.appendChild(PG.el("h3", { text: post.title }));
    card.appendChild(PG.el("p", { class: "help", text: "Impact: " + post.impact + " · " + (WORDS[post.status] || post.status) +
      (post.resolved_at ? " · resolved " + PG.fmtTime(post.resolved_at) : "") }));
    var list = PG.el("ol", { class: "updates", reversed: true });
    post.updates.slice().reverse().forEach(function (u) {
      list.appendChild(PG.el("li", {}, [PG.el("strong", { text: WORDS[u.status] || u.status }), " ",
        PG.el("span", { class: "help", text: PG.fmtTime(u.created_at) }), PG.el("div", { class: "message", text: u.message })]));
    });
    card.appendChild(list);
    if (canChange) {
      if (!post.resolved_at) { card.appendChild(updateForm(post)); }
      var del = PG.el("button", { type: "button", class: "danger", text: "Delete post" });
      del.addEventListener("click", function () { if (confirm("Delete " + post.title + "?")) { PG.api("DELETE", base + "posts/" + post.id + "/").then(load); } });
      card.appendChild(PG.el("div", { class: "actions" }, [del]));
    }
    return card;
  }

  function loadPosts() {
    PG.api("GET", base + "posts/?page_size=100").then(function (r) {
      var open = document.getElementById("open-posts"), resolved = document.getElementById("resolved-posts");
      open.textContent = ""; resolved.textContent = "";
      var items = r.ok ? r.data.results : [];
      items.forEach(function (p) { (p.resolved_at ? resolved : open).appendChild(postCard(p)); });
      if (!open.children.length) { open.appendChild(PG.el("p", { class: "help", text: "No open incidents." })); }
      if (!resolved.children.length) { resolved.appendChild(PG.el("p", { class: "help", text: "None yet." })); }
    });
  }

  function loadAnnouncements() {
    PG.api("GET", base + "announcements/?page_size=100").then(function (r) {
      var body = document.querySelector("#announcements tbody"); body.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 4, text: "No announcements." })])); }
      items.forEach(function (a) {
        var actions = PG.el("td", { class: "actions" });
        if (canChange) {
          var d = PG.el("button", { type: "button", class: "danger", text: "Delete" });
          d.addEventListener("click", function () { PG.api("DELETE", base + "announcements/" + a.id + "/").then(loadAnnouncements); });
          actions.appendChild(d);
        }
        body.appendChild(PG.el("tr", {}, [PG.el("td", { text: a.notice }), PG.el("td", { text: a.starts_at ? PG.fmtTime(a.starts_at) : "now" }),
          PG.el("td", { text: a.ends_at ? PG.fmtTime(a.ends_at) : "until removed" }), actions]));
      });
    });
  }

  function load() { loadPosts(); loadAnnouncements(); }

  function newPost() {
    var form = document.getElementById("post-form");
    if (!form) { return; }
    PG.buildForm(form, PG.POST_FIELDS, {}, function (payload) {
      return PG.api("POST", base + "posts/", payload).then(function (r) { if (r.ok) { newPost(); loadPosts(); } return r; });
    }, "Publish post");
  }
  function newAnnouncement() {
    var form = document.getElementById("announcement-form");
    if (!form) { return; }
    PG.buildForm(form, PG.ANNOUNCEMENT_FIELDS, {}, function (payload) {
      return PG.api("POST", base + "announcements/", payload).then(function (r) { if (r.ok) { newAnnouncement(); loadAnnouncements(); } return r; });
    }, "Add announcement");
  }
  newPost(); newAnnouncement(); load();
  PG.live({ onOpen: function () {}, onMessage: function () {} });
})();
