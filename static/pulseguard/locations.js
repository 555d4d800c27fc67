// /locations/: probe locations (SPEC §20) through /api/locations/ — list, create, delete — and
// their agents' tokens: make one (the run_agent command with it is shown once, with a copy
// button), list and revoke.
(function () {
  "use strict";
  var page = document.getElementById("locations-page");
  var central = page.dataset.centralUrl || location.origin, staff = page.dataset.staff === "true";
  var own = page.dataset.probeLocation || "local";
  var form = document.getElementById("location-form"), chosen = null;
  var $ = function (s) { return document.getElementById(s); };

  var FIELDS = [
    { name: "name", label: "Name", type: "text", required: true, placeholder: "Frankfurt", help: "Where its agents run; shown on server pages." },
    { name: "slug", label: "Slug", type: "text", placeholder: "frankfurt", help: "Lower-case letters, digits and hyphens; empty: made from the name. Servers name it in their locations." },
    { name: "description", label: "Description", type: "textarea", wide: true }
  ];
  if (staff) { FIELDS.push({ name: "shared", label: "Shared: usable by every team (staff only)", type: "checkbox", default: false }); }

  function newForm() {
    PG.buildForm(form, FIELDS, {}, function (payload) {
      if (PG.team && !payload.shared) { payload.team = PG.team; }
      if (!payload.slug) { delete payload.slug; }
      return PG.api("POST", "/api/locations/", payload).then(function (r) { if (r.ok) { load(); newForm(); } return r; });
    }, "Add location");
  }

  function load() {
    PG.api("GET", "/api/locations/?page_size=200").then(function (r) {
      var body = document.querySelector("#location-list tbody"); body.textContent = "";
      (r.ok ? r.data.results : []).forEach(function (loc) {
        var tokens = PG.el("button", { type: "button", text: "Agent tokens" });
        tokens.addEventListener("click", function () { showTokens(loc); });
        var del = PG.el("button", { type: "button", class: "danger", text: "Delete" });
        del.addEventListener("click", function () {
          if (!confirm("Delete the location " + loc.name + "?")) { return; }
          PG.api("DELETE", "/api/locations/" + loc.slug + "/").then(function (d) {
            if (!d.ok) { alert((d.data && d.data.detail) || "Not deleted (" + d.status + ")."); }
            if (chosen && chosen.slug === loc.slug && d.ok) { $("tokens").hidden = true; chosen = null; }
            load();
          });
        });
        // A location no agent has called yet is neither up nor down: it waits for its first agent.
        var waiting = !loc.last_seen_at && loc.slug !== own;
        var status = PG.el("span", {
          class: "status " + (waiting ? "unknown" : loc.status === "online" ? "up" : "down"),
          text: waiting ? "waiting for its agent" : loc.status,
        });
        body.appendChild(PG.el("tr", { "data-slug": loc.slug }, [
          PG.el("td", { text: loc.name }), PG.el("td", {}, [PG.el("code", { text: loc.slug })]),
          PG.el("td", { class: "labelled", "data-label": "owner", text: loc.shared ? "shared" : loc.team }),
          PG.el("td", {}, [status]),
          PG.el("td", { class: "labelled", "data-label": "last seen", text: loc.last_seen_at ? PG.fmtTime(loc.last_seen_at) : (loc.slug === own ? "this server" : "never") }),
          // A shared location is staff's to change and give tokens for.
          PG.el("td", { class: "actions" }, loc.shared && !staff ? [] : [tokens, " ", del])]));
      });
    });
  }

  function showTokens(loc) {
    chosen = loc;
    $("tokens").hidden = false;
    $("agent-command").hidden = true;
    $("tokens-title").textContent = "Agent tokens of " + loc.name;
    $("token-error").textContent = "";
    loadTokens();
    $("tokens").scrollIntoView({ block: "nearest" });
  }

  function loadTokens() {
    var body = document.querySelector("#token-list tbody"); body.textContent = "";
    PG.api("GET", "/api/locations/" + chosen.slug + "/tokens/").then(function (r) {
      if (!r.ok) {
        body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 5, text: (r.data && r.data.detail) || "Not allowed." })]));
        $("token-form").hidden = true;
        return;
      }
      $("token-form").hidden = false;
      var items = r.data.results;
      if (!items.length) { body.appendChild(PG.el("tr", {}, [PG.el("td", { colspan: 5, text: "No tokens yet: make one to start an agent." })])); }
      items.forEach(function (t) {
        var revoke = PG.el("button", { type: "button", class: "danger", text: "Revoke" });
        revoke.addEventListener("click", function () {
          if (!confirm("Revoke " + t.name + "? Its agent stops at once.")) { return; }
          PG.api("DELETE", "/api/locations/" + chosen.slug + "/tokens/" + t.id + "/").then(loadTokens);
        });
        body.appendChild(PG.el("tr", { "data-token-id": t.id }, [PG.el("td", { text: t.name }), PG.el("td", {}, [PG.el("code", { text: t.prefix + "…" })]),
          PG.el("td", { class: "labelled", "data-label": "made", text: PG.fmtTime(t.created_at) }),
          PG.el("td", { class: "labelled", "data-label": "last used", text: t.last_used_at ? PG.fmtTime(t.last_used_at) : "never" }),
          PG.el("td", { class: "actions" }, [revoke])]));
      });
    });
  }

  $("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("token-error").textContent = "";
    PG.api("POST", "/api/locations/" + chosen.slug + "/tokens/", { name: $("token-name").value }).then(function (r) {
      if (!r.ok) {
        var d = r.data || {};
        $("token-error").textContent = (d.name && d.name.join(" ")) || d.detail || "Not made (" + r.status + ").";
        return;
      }
      $("token-name").value = "";
      $("agent-command-text").value = "python manage.py run_agent --url " + central + " --token " + r.data.token;
      $("copy-result").textContent = "";
      $("agent-command").hidden = false;
      loadTokens();
    });
  });

  $("copy-command").addEventListener("click", function () {
    var input = $("agent-command-text");
    function fallback() { input.select(); return document.execCommand && document.execCommand("copy") ? Promise.resolve() : Promise.reject(); }
    var copied = navigator.clipboard && window.isSecureContext ? navigator.clipboard.writeText(input.value).catch(fallback) : fallback();
    copied.then(function () { $("copy-result").textContent = "copied"; },
      function () { input.select(); $("copy-result").textContent = "selected: press Ctrl+C (⌘C) to copy"; });
  });

  newForm(); load();
})();
