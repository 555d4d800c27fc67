// How PulseGuard's pages write times, durations and percentages: one way, shared by the
// operator's pages (base.html) and the public status pages (status_page.html), so that the
// server-rendered first paint, live updates and status pages read alike.
// Times: the browser's local time with its zone ("Dec 3, 14:05:09 CET"; the year when not this one). The server
// renders <time datetime="ISO" data-local>…UTC</time> (right without JS), rewritten here.
// Durations: "30 s", "5 min", "2 h 3 min", "3 d 4 h" — monitoring.templatetags.pulseguard's
// `duration` filter follows the same rule for the server-rendered text.
(function () {
  "use strict";
  var PG = window.PG = window.PG || {};
  var TIME = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" };
  var TIME_YEAR = Object.assign({ year: "numeric" }, TIME);  // the year only when it is not this one
  var DAY = { year: "numeric", month: "short", day: "numeric" };

  PG.fmtTime = function (v) {
    if (!v) { return "never"; }
    var d = new Date(v);
    if (isNaN(d.getTime())) { return String(v); }
    return d.toLocaleString(undefined, d.getFullYear() === new Date().getFullYear() ? TIME : TIME_YEAR);
  };
  PG.fmtDate = function (v) { var d = new Date(v); return isNaN(d.getTime()) ? "–" : d.toLocaleDateString(undefined, DAY); };
  PG.fmtDuration = function (seconds) {
    if (seconds == null || isNaN(seconds)) { return "–"; }
    var total = Math.max(0, Math.round(Number(seconds)));
    if (total < 60) { return total + " s"; }
    var minutes = Math.round(total / 60);
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60), m = minutes % 60;
    if (hours < 24) { return hours + " h" + (m ? " " + m + " min" : ""); }
    var days = Math.floor(hours / 24), h = hours % 24;
    return days + " d" + (h ? " " + h + " h" : "");
  };
  PG.fmtMs = function (v) { return v == null ? "–" : Math.round(v) + " ms"; };
  PG.fmtPct = function (v) { return v == null ? "–" : Number(v).toFixed(2) + " %"; };

  // Server-rendered <time data-local> elements (and any added later by a caller) in local time.
  PG.localizeTimes = function (root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("time[data-local]"), function (t) {
      var text = t.hasAttribute("data-date") ? PG.fmtDate(t.getAttribute("datetime")) : PG.fmtTime(t.getAttribute("datetime"));
      if (t.textContent !== text) { t.textContent = text; }
    });
  };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", function () { PG.localizeTimes(); }); }
  else { PG.localizeTimes(); }
})();
