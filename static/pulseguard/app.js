// PulseGuard's web UI helpers: the REST API with the session + CSRF, forms built from field
// specs with errors beside their fields, and the /ws/status/ live feed. No framework, no build.
(function () {
  "use strict";
  var PG = window.PG = window.PG || {};

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  // The team chosen in the header (SPEC §17): lists of the team's objects are filtered by it and
  // new objects go to it. Empty: all teams (new objects go to the personal team).
  PG.team = (document.body && document.body.dataset.team) || "";
  var TEAM_LISTS = /^\/api\/(servers|status-pages|maintenance-windows|notification-configs|incidents|ping-results|config\/export|config\/import)\/(\?|$)/;
  var TEAM_OWNED = /^\/api\/(servers|status-pages|maintenance-windows|notification-configs)\/$/;
  function inTeam(method, url, body) {
    if (!PG.team) { return { url: url, body: body }; }
    if (TEAM_OWNED.test(url) && method === "POST" && body && typeof body === "object" && !body.team) {
      body = Object.assign({}, body, { team: PG.team });
    } else if (TEAM_LISTS.test(url) && (method === "GET" || url.indexOf("/api/config/") === 0) && !/[?&]team=/.test(url)) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "team=" + encodeURIComponent(PG.team);
    }
    return { url: url, body: body };
  }

  // fetch() against /api/ with the session: resolves {ok, status, data}; never throws on 4xx.
  PG.api = function (method, url, body, contentType) {
    var scoped = inTeam(method, url, body);
    url = scoped.url;
    body = scoped.body;
    var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") { opts.headers["X-CSRFToken"] = cookie("csrftoken"); }
    if (body !== undefined) {
      opts.headers["Content-Type"] = contentType || "application/json";
      opts.body = contentType ? body : JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      if (r.status === 204) { return { ok: true, status: 204, data: null }; }
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = { detail: t.slice(0, 200) }; }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  };

  PG.el = function (tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; }
      else if (k === "class") { e.className = attrs[k]; }
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) { e.setAttribute(k, attrs[k] === true ? "" : attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return e;
  };

  // PG.fmtTime, fmtDuration, fmtMs and fmtPct live in format.js (shared with status pages).
  // An ISO instant as a datetime-local value (YYYY-MM-DDTHH:MM, local time).
  PG.localInput = function (iso) {
    var d = new Date(iso), p = function (n) { return String(n).padStart(2, "0"); };
    if (isNaN(d.getTime())) { return ""; }
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
  };

  // --- Forms from field specs -------------------------------------------------------------
  // A spec: {name, label, type: text|number|select|checkbox|tags|textarea|json|multiselect|password,
  //          choices: [[value, label]], help, required, wide, show: function(values) -> bool,
  //          empty: what an empty json or number box sends (undefined: leave it out, the API's
  //          default applies), keepIfEmpty: leave an empty box out of the save
  //          (a write-only secret that an edit keeps unless a new one is typed), formOnly: steers
  //          the form but is never sent}. Types datetime (an ISO instant) and time (HH:MM) too.
  function inputFor(spec, value) {
    var id = "f-" + spec.name, input;
    if (spec.type === "servers") { return PG.serverPicker(id, value || []); }
    if (spec.type === "checks") { return PG.checkList(id, spec.choices || [], value || []); }
    if (spec.type === "configs") { return PG.configList(id, value); }
    if (spec.type === "locations") { return PG.locationList(id, value); }
    if (spec.type === "select" || spec.type === "multiselect") {
      input = PG.el("select", { id: id, name: spec.name, multiple: spec.type === "multiselect" });
      (spec.choices || []).forEach(function (c) {
        var selected = spec.type === "multiselect" ? (value || []).map(String).indexOf(String(c[0])) >= 0 : String(value) === String(c[0]);
        input.appendChild(PG.el("option", { value: c[0], text: c[1], selected: selected }));
      });
    } else if (spec.type === "textarea" || spec.type === "json") {
      // A short JSON value (a list of numbers) is one line of text, not a block.
      input = PG.el(spec.short ? "input" : "textarea", { id: id, name: spec.name, type: spec.short ? "text" : null, placeholder: spec.placeholder || null });
      input.value = value == null ? "" : (typeof value === "string" ? value : spec.short ? JSON.stringify(value).replace(/,/g, ", ") : JSON.stringify(value, null, 2));
    } else if (spec.type === "checkbox") {
      input = PG.el("input", { id: id, name: spec.name, type: "checkbox", checked: !!value });
    } else if (spec.type === "datetime") {
      input = PG.el("input", { id: id, name: spec.name, type: "datetime-local" });
      input.value = value ? PG.localInput(value) : "";
    } else if (spec.type === "time") {
      input = PG.el("input", { id: id, name: spec.name, type: "time" });
      input.value = value || "";
    } else {
      var type = spec.type === "number" ? "number" : spec.type === "password" ? "password" : "text";
      input = PG.el("input", { id: id, name: spec.name, type: type, step: spec.step || (type === "number" ? "any" : null), placeholder: spec.placeholder || null });
      input.value = value == null ? "" : (spec.type === "tags" ? (value || []).join(", ") : value);
    }
    if (spec.required) { input.setAttribute("aria-required", "true"); }
    return input;
  }

  function readInput(spec, input) {
    if (spec.type === "servers" || spec.type === "checks") { return input.pgSelected.slice(); }
    if (spec.type === "configs" || spec.type === "locations") { return input.pgSelected ? input.pgSelected.slice() : undefined; }
    if (spec.type === "checkbox") { return input.checked; }
    if (spec.type === "multiselect") { return Array.prototype.filter.call(input.options, function (o) { return o.selected; }).map(function (o) { return Number(o.value) || o.value; }); }
    var v = input.value;
    if (spec.type === "number") { return v.trim() === "" ? ("empty" in spec ? spec.empty : null) : Number(v); }
    if (spec.type === "tags") { return v.split(",").map(function (t) { return t.trim(); }).filter(Boolean); }
    if (spec.type === "datetime") {
      // datetime-local is the browser's local time; the API gets an ISO 8601 instant.
      if (!v.trim()) { return null; }
      var d = new Date(v);
      return isNaN(d.getTime()) ? v : d.toISOString();
    }
    if (spec.type === "time") { return v.trim() ? v.slice(0, 5) : null; }
    if (spec.type === "json") { try { return v.trim() ? JSON.parse(v) : spec.empty; } catch (e) { return v; } }
    return v;
  }

  function writeInput(spec, input, value) {
    if (spec.type === "checkbox") { input.checked = !!value; } else { input.value = value == null ? "" : value; }
  }

  // A URL as the server form's fields: "https://shop.example.com:8443/health?x=1" →
  // {protocol: "https", host: "shop.example.com", port: 8443, path: "/health?x=1"}; null when
  // the text is no http(s)/tcp URL (then the Host field keeps what was typed).
  PG.splitUrl = function (text) {
    var m = /^\s*(https?|tcp):\/\/\S+\s*$/i.exec(text || "");
    if (!m) { return null; }
    var u;
    try { u = new URL(text.trim().replace(/^tcp:/i, "http:")); } catch (e) { return null; }
    var out = { protocol: m[1].toLowerCase(), host: u.hostname.replace(/^\[|\]$/g, ""), port: u.port ? Number(u.port) : null };
    if (out.protocol !== "tcp") { out.path = (u.pathname || "/") + u.search; }
    return out;
  };

  // Builds the form into `form` (a <form class="fields">); `submit(values)` returns PG.api's promise.
  // A spec's `fills(text)` may return other fields' values to set as the user types or pastes
  // (the URL box fills protocol, host, port and path).
  PG.buildForm = function (form, specs, values, submit, submitLabel) {
    form.textContent = "";
    var rows = {};
    specs.forEach(function (spec) {
      var input = inputFor(spec, values[spec.name] !== undefined ? values[spec.name] : spec.default);
      var err = PG.el("span", { class: "error", id: "err-" + spec.name, role: "alert" });
      var control = input.pgInput || input;  // a picker's search box takes the label and the focus
      control.setAttribute("aria-describedby", "err-" + spec.name + (spec.help ? " help-" + spec.name : ""));
      var label = PG.el("label", { for: control.id, text: spec.label + (spec.required ? " *" : "") });
      var row = PG.el("div", { class: "field" + (spec.type === "checkbox" ? " check" : "") + (spec.wide ? " wide" : ""), "data-field": spec.name },
        spec.type === "checkbox" ? [input, label, err] : [label, input, err]);
      if (spec.help) { row.appendChild(PG.el("span", { class: "help", id: "help-" + spec.name, text: spec.help })); }
      rows[spec.name] = { row: row, input: input, err: err, spec: spec };
      form.appendChild(row);
    });
    var general = PG.el("div", { class: "form-error wide", role: "alert" });
    var button = PG.el("button", { type: "submit", class: "primary", text: submitLabel || "Save" });
    form.appendChild(PG.el("div", { class: "actions" }, [button, general]));

    function current() {
      var out = {};
      specs.forEach(function (s) { out[s.name] = readInput(s, rows[s.name].input); });
      return out;
    }
    function sync() {
      var v = current();
      specs.forEach(function (s) {
        rows[s.name].row.hidden = s.show ? !s.show(v) : false;
        // Words that depend on other fields (a notification's recipient means a chat id for
        // Telegram, a topic for ntfy): `helpFor` and `placeholderFor` say them.
        var help = rows[s.name].row.querySelector(".help");
        if (s.helpFor && help) { help.textContent = s.helpFor(v); }
        if (s.placeholderFor) { (rows[s.name].input.pgInput || rows[s.name].input).placeholder = s.placeholderFor(v) || ""; }
      });
    }
    // A form rebuilt in place (edit another item, or a fresh one after a save) drops the
    // previous build's listeners: else one submit would post once per build, stale values too.
    if (form.pgListeners) {
      form.removeEventListener("change", form.pgListeners.change);
      form.removeEventListener("submit", form.pgListeners.submit);
    }
    function onSubmit(ev) {
      ev.preventDefault();
      var v = current(), payload = {};
      specs.forEach(function (s) {
        // Left out: hidden fields (a push server's timeout), form-only ones, a kept secret, and an
        // empty box whose `empty` is undefined (the API's default applies: certificate alert days).
        if (rows[s.name].row.hidden || s.readonly || s.formOnly || (s.keepIfEmpty && v[s.name] === "") || v[s.name] === undefined) { return; }
        payload[s.name] = v[s.name];
      });
      Object.keys(rows).forEach(function (k) { rows[k].err.textContent = ""; rows[k].row.classList.remove("invalid"); });
      general.textContent = "";
      button.disabled = true;
      submit(payload).then(function (res) {
        button.disabled = false;
        if (res.ok) { return; }
        PG.showErrors(rows, general, res.data);
      }, function () { button.disabled = false; general.textContent = "Could not reach PulseGuard; nothing was saved."; });
    }
    function onInput(ev) {
      var row = Object.keys(rows).map(function (k) { return rows[k]; }).filter(function (r) { return r.input === ev.target; })[0];
      if (!row || !row.spec.fills) { return; }
      // Host splits a URL only when one is pasted: typing "https://…" there letter by letter
      // must not rewrite the box under the cursor. The URL box fills as it is typed.
      if (row.spec.fillsOnPaste && ev.inputType && ev.inputType !== "insertFromPaste") { return; }
      var values = row.spec.fills(ev.target.value);
      if (!values) { return; }
      Object.keys(values).forEach(function (k) { if (rows[k]) { writeInput(rows[k].spec, rows[k].input, values[k]); } });
      sync();
    }
    if (form.pgListeners) { form.removeEventListener("input", form.pgListeners.input); }
    form.pgListeners = { change: sync, submit: onSubmit, input: onInput };
    form.addEventListener("change", sync);
    form.addEventListener("submit", onSubmit);
    form.addEventListener("input", onInput);
    sync();
    return { rows: rows, values: current };
  };

  // --- The server picker -----------------------------------------------------------------------
  // Maintenance windows and status pages pick servers from any number (5,000 and more): a search
  // box over /api/servers/?search= (the API searches, 50 at a time, "Show more" pages on), a
  // checkbox per server, and the chosen ones as chips above. The search box carries the field's
  // id (its label points there); the container keeps the chosen ids in `pgSelected`.
  var PICK_PAGE = 50;
  PG.serverPicker = function (id, selected) {
    var search = PG.el("input", { type: "search", id: id, placeholder: "Search servers by name or host", autocomplete: "off", "aria-controls": id + "-list" });
    var chosen = PG.el("div", { class: "chosen", "aria-label": "Chosen servers" });
    var list = PG.el("ul", { id: id + "-list", "aria-label": "Servers" });
    var more = PG.el("div", { class: "more" });
    var box = PG.el("div", { class: "picker" }, [chosen, search, list, more]);
    var names = {}, next = null, timer = null, seq = 0;
    box.pgSelected = (selected || []).map(Number);
    function toggle(sid, on) {
      var at = box.pgSelected.indexOf(sid);
      if (on && at < 0) { box.pgSelected.push(sid); }
      if (!on && at >= 0) { box.pgSelected.splice(at, 1); }
      drawChosen();
      var cb = list.querySelector('input[value="' + sid + '"]'); if (cb) { cb.checked = on; }
    }
    function drawChosen() {
      chosen.textContent = "";
      box.pgSelected.forEach(function (sid) {
        var chip = PG.el("button", { type: "button", title: "Remove", "aria-label": "Remove " + (names[sid] || "#" + sid) }, [(names[sid] || "#" + sid) + " ×"]);
        chip.addEventListener("click", function () { toggle(sid, false); search.focus(); });
        chosen.appendChild(chip);
      });
    }
    function row(s) {
      names[s.id] = s.name;
      var cb = PG.el("input", { type: "checkbox", value: s.id, checked: box.pgSelected.indexOf(s.id) >= 0 });
      cb.addEventListener("change", function () { toggle(s.id, cb.checked); });
      return PG.el("li", {}, [PG.el("label", {}, [cb, s.name, s.host ? PG.el("span", { class: "help", text: " " + s.host }) : null])]);
    }
    function load(url, append) {
      var mine = ++seq;
      PG.api("GET", url).then(function (r) {
        if (mine !== seq) { return; }  // a newer search answered first
        if (!append) { list.textContent = ""; }
        var items = r.ok ? r.data.results : [];
        items.forEach(function (s) { list.appendChild(row(s)); });
        next = r.ok ? r.data.next : null;
        more.textContent = "";
        var shown = list.children.length, total = r.ok ? r.data.count : 0;
        if (!shown) { more.textContent = search.value.trim() ? "No server matches." : "No servers yet."; }
        else if (next) {
          var btn = PG.el("button", { type: "button", text: "Show more" });
          btn.addEventListener("click", function () { load(next, true); });
          more.appendChild(document.createTextNode(shown + (total ? " of " + total : "") + " shown; type to narrow, or "));
          more.appendChild(btn);
        }
        drawChosen();
      });
    }
    function query() { return "/api/servers/?ordering=name&page_size=" + PICK_PAGE + "&search=" + encodeURIComponent(search.value.trim()); }
    search.addEventListener("input", function (ev) { ev.stopPropagation(); clearTimeout(timer); timer = setTimeout(function () { load(query(), false); }, 200); });
    search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(timer); load(query(), false); } });
    // The chosen servers' names, 100 ids a request, whatever page of the list they are on.
    for (var i = 0; i < box.pgSelected.length; i += 100) {
      PG.api("GET", "/api/servers/?page_size=100&id=" + box.pgSelected.slice(i, i + 100).join(",")).then(function (r) {
        (r.ok ? r.data.results : []).forEach(function (s) { names[s.id] = s.name; }); drawChosen();
      });
    }
    drawChosen();
    load(query(), false);
    box.pgInput = search;
    return box;
  };

  // --- Lists of checkboxes ------------------------------------------------------------------
  // PG.checkList: a checkbox per choice ([value, label]); the container keeps the ticked values
  // in `pgSelected` (in the choices' order). A config's events use it.
  PG.checkList = function (id, choices, selected) {
    var list = PG.el("ul", { "aria-label": "Choices" });
    var box = PG.el("div", { class: "picker checks", id: id, role: "group" }, [list]);
    var ticked = (selected || []).map(String);
    function read() {
      box.pgSelected = Array.prototype.filter.call(list.querySelectorAll("input"), function (cb) { return cb.checked; })
        .map(function (cb) { return cb.pgValue; });
    }
    choices.forEach(function (c) {
      var cb = PG.el("input", { type: "checkbox", value: c[0], checked: ticked.indexOf(String(c[0])) >= 0 });
      cb.pgValue = c[0];
      cb.addEventListener("change", read);
      list.appendChild(PG.el("li", {}, [PG.el("label", {}, [cb, c[1]])]));
    });
    read();
    return box;
  };

  // PG.configList: the team's notification configs as checkboxes (a server's alerts go to the
  // ticked ones). `selected` undefined (a new server): the team's default configs come ticked.
  PG.configList = function (id, selected) {
    var list = PG.el("ul", { "aria-label": "Notification configs" });
    var note = PG.el("div", { class: "more", text: "Loading…" });
    var box = PG.el("div", { class: "picker configs", id: id, role: "group" }, [list, note]);
    box.pgSelected = (selected || []).map(Number);
    PG.api("GET", "/api/notification-configs/?page_size=200&ordering=notification_type").then(function (r) {
      var items = r.ok ? r.data.results : [];
      note.textContent = items.length ? "" : "No notification configs yet: add them on the Notifications page.";
      if (selected === undefined) { box.pgSelected = items.filter(function (c) { return c.is_default; }).map(function (c) { return c.id; }); }
      items.forEach(function (c) {
        var cb = PG.el("input", { type: "checkbox", value: c.id, checked: box.pgSelected.indexOf(c.id) >= 0 });
        cb.addEventListener("change", function () {
          var at = box.pgSelected.indexOf(c.id);
          if (cb.checked && at < 0) { box.pgSelected.push(c.id); }
          if (!cb.checked && at >= 0) { box.pgSelected.splice(at, 1); }
        });
        list.appendChild(PG.el("li", {}, [PG.el("label", {}, [cb, c.notification_type + " → " + c.recipient,
          c.is_default ? PG.el("span", { class: "help", text: " (default)" }) : null,
          c.enabled ? null : PG.el("span", { class: "help", text: " (off)" })])]));
      });
    });
    return box;
  };

  // PG.locationList: the probe locations a server may be checked from (SPEC §20) as checkboxes,
  // numbered in the order they were ticked (that order is `locations`). `selected` undefined (a
  // new server): nothing is sent until one is changed, and the API's default (the scheduler's
  // own location, ticked here) applies.
  PG.locationList = function (id, selected) {
    var list = PG.el("ul", { "aria-label": "Locations" });
    var note = PG.el("div", { class: "more", text: "Loading…" });
    var box = PG.el("div", { class: "picker locations", id: id, role: "group" }, [list, note]);
    var marked = document.querySelector("[data-probe-location]");
    var ticked = (selected || [marked ? marked.dataset.probeLocation : "local"]).slice();
    box.pgSelected = selected === undefined ? undefined : ticked.slice();
    var boxes = {};
    function number() {
      Object.keys(boxes).forEach(function (slug) {
        var at = ticked.indexOf(slug);
        boxes[slug].order.textContent = at >= 0 ? String(at + 1) + "." : "";
      });
    }
    PG.api("GET", "/api/locations/?page_size=200").then(function (r) {
      var items = r.ok ? r.data.results : [];
      note.textContent = items.length ? "The order you tick them in is their order; the server page lists them so." : "";
      // The chosen ones first, in their order; then the others by name.
      items.sort(function (a, b) {
        var ia = ticked.indexOf(a.slug), ib = ticked.indexOf(b.slug);
        if (ia >= 0 || ib >= 0) { return (ia < 0 ? 1e6 : ia) - (ib < 0 ? 1e6 : ib); }
        return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      });
      items.forEach(function (loc) {
        var cb = PG.el("input", { type: "checkbox", value: loc.slug, checked: ticked.indexOf(loc.slug) >= 0 });
        var order = PG.el("span", { class: "order" });
        boxes[loc.slug] = { cb: cb, order: order };
        cb.addEventListener("change", function () {
          var at = ticked.indexOf(loc.slug);
          if (cb.checked && at < 0) { ticked.push(loc.slug); }
          if (!cb.checked && at >= 0) { ticked.splice(at, 1); }
          box.pgSelected = ticked.slice();
          number();
        });
        list.appendChild(PG.el("li", {}, [PG.el("label", {}, [cb, order, loc.name,
          PG.el("span", { class: "help", text: " " + loc.slug + (loc.shared ? " · shared" : "") + (loc.status === "offline" ? " · offline" : "") })])]));
      });
      number();
    });
    return box;
  };

  PG.showErrors = function (rows, general, data) {
    var rest = [];
    Object.keys(data || {}).forEach(function (k) {
      var msg = Array.isArray(data[k]) ? data[k].map(function (m) { return typeof m === "string" ? m : JSON.stringify(m); }).join(" ") : (typeof data[k] === "string" ? data[k] : JSON.stringify(data[k]));
      if (rows[k]) {
        rows[k].err.textContent = msg;
        rows[k].row.classList.add("invalid");
        rows[k].row.hidden = false;
      } else { rest.push((k === "non_field_errors" || k === "detail" ? "" : k + ": ") + msg); }
    });
    general.textContent = rest.join(" ") || (Object.keys(data || {}).length ? "Please fix the fields marked above." : "Save failed.");
    var first = Object.keys(data || {}).filter(function (k) { return rows[k]; })[0];
    if (first) { (rows[first].input.pgInput || rows[first].input).focus(); }
  };

  // --- Live feed ------------------------------------------------------------------------------
  // PG.live({onOpen(ws), onMessage(data)}): /ws/status/ with the session, reconnecting with backoff.
  // Pages that do not follow the feed hide its indicator.
  window.addEventListener("load", function () { var f = document.getElementById("feed"); if (f && !PG.liveStarted) { f.hidden = true; } });
  PG.live = function (handlers) {
    PG.liveStarted = true;
    // Reconnects back off exponentially (1 s doubling to 30 s) with full jitter: after a restart or
    // a Redis blip every open dashboard reconnects, and waiting a random part of the step spreads
    // them out instead of returning as one storm. A socket that stayed up 30 s starts afresh.
    var feed = document.getElementById("feed"), failures = 0, openedAt = 0;
    function connect() {
      var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/status/");
      ws.onopen = function () {
        openedAt = Date.now();
        if (feed) { feed.className = "live"; feed.textContent = "live"; }
        handlers.onOpen(ws);
      };
      ws.onmessage = function (msg) { handlers.onMessage(JSON.parse(msg.data)); };
      ws.onclose = function (event) {
        if (feed) { feed.className = "offline"; feed.textContent = "reconnecting…"; }
        if (event.code === 4001) { location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname); return; }
        if (openedAt && Date.now() - openedAt > 30000) { failures = 0; }
        openedAt = 0;
        var ceiling = Math.min(1000 * Math.pow(2, failures), 30000);
        failures += 1;
        setTimeout(connect, 250 + Math.random() * ceiling);
      };
    }
    connect();
  };

  var teamSwitch = document.getElementById("team-switch");
  if (teamSwitch) { teamSwitch.addEventListener("change", function () { teamSwitch.form.submit(); }); }
})();
