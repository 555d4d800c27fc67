// The incident list (SPEC §18): the team's open incidents with an Acknowledge button each,
// then the recently resolved ones. A viewer's acknowledgement is refused by the API (403), and
// the refusal is shown beside the button.
(function () {
  "use strict";
  function fill(box, url, empty) {
    PG.api("GET", url).then(function (r) {
      box.textContent = "";
      var items = r.ok ? r.data.results : [];
      if (!items.length) { box.textContent = empty; return; }
      var ul = PG.el("ul");
      items.forEach(function (i) { ul.appendChild(PG.incidentItem(i, { canAck: true, showServer: true, onChange: load })); });
      box.appendChild(ul);
    });
  }
  function load() {
    fill(document.getElementById("incidents-open"), "/api/incidents/?open=true&page_size=100", "No open incidents.");
    fill(document.getElementById("incidents-closed"), "/api/incidents/?open=false&page_size=25", "None yet.");
  }
  load();
})();
