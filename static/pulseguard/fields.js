// The one description of the server form (SPEC §3, §16). The add and edit pages build their
// inputs, help and visibility from this list, and send exactly these names to /api/servers/.
// Extension point: a new server field (issue 10's HTTP options/assertions, push monitors'
// protocol "push" and grace_seconds) is one more entry here, with `show` saying for which
// protocols it applies; field errors from the API land beside it with no other change.
(function () {
  "use strict";
  var PG = window.PG = window.PG || {};
  function web(v) { return v.protocol === "http" || v.protocol === "https"; }
  function probed(v) { return v.protocol !== "push"; }
  function pushed(v) { return v.protocol === "push"; }
  PG.SERVER_FIELDS = [
    { name: "name", label: "Name", type: "text", required: true, help: "Shown on the dashboard, alerts and status pages." },
    { name: "protocol", label: "Kind", type: "select", default: "https",
      choices: [["https", "HTTPS"], ["http", "HTTP"], ["tcp", "TCP port"], ["push", "Push (a job calls its URL)"]] },
    // Paste a whole address here (or into Host): it fills Kind, Host, Port and Path.
    { name: "url", label: "URL", type: "text", formOnly: true, show: probed, fills: PG.splitUrl, wide: true,
      placeholder: "https://shop.example.com:8443/health",
      help: "Optional: paste an address to fill in Kind, Host, Port and Path below." },
    { name: "host", label: "Host", type: "text", required: true, show: probed, placeholder: "shop.example.com", fills: PG.splitUrl, fillsOnPaste: true,
      help: "A hostname or IP address; a pasted URL is split into the fields." },
    { name: "port", label: "Port", type: "number", step: 1, show: probed, help: "Defaults to 80 for HTTP and 443 for HTTPS; required for TCP." },
    { name: "path", label: "Path", type: "text", default: "/", show: web },
    { name: "check_interval", label: "Check every (seconds)", type: "number", step: 1, default: 60,
      help: "10 … 86400. Push: how often the job is expected to push." },
    { name: "schedule", label: "Cron schedule", type: "text", show: pushed, placeholder: "0 3 * * *",
      help: "Optional: when the job runs (minute hour day month weekday), instead of Check every. Due at the next time after its last push, plus grace." },
    { name: "schedule_timezone", label: "Schedule time zone", type: "text", default: "UTC", show: pushed,
      help: "An IANA name such as UTC or Europe/Berlin." },
    { name: "grace_seconds", label: "Grace (seconds)", type: "number", step: 1, default: 60, show: pushed,
      help: "0 … 86400. No push for interval + grace is a failed check." },
    // Hidden (so never sent) for push: a push server has no timeout (SPEC §23).
    { name: "timeout", label: "Timeout (seconds)", type: "number", empty: undefined, show: probed,
      help: "Empty: 10 s, or less than the interval." },
    { name: "retries", label: "Retries", type: "number", step: 1, default: 1, help: "Consecutive failed checks before it is DOWN." },
    { name: "degraded_threshold_ms", label: "Degraded above (ms)", type: "number", step: 1, show: probed,
      help: "A successful check slower than this is DEGRADED. Empty: never." },
    { name: "method", label: "HTTP method", type: "select", default: "GET", show: web,
      choices: [["GET", "GET"], ["HEAD", "HEAD"], ["POST", "POST"], ["PUT", "PUT"], ["PATCH", "PATCH"], ["DELETE", "DELETE"], ["OPTIONS", "OPTIONS"]] },
    { name: "expected_status_codes", label: "Expected status codes", type: "text", default: "200-399", show: web, help: "e.g. 200-299,301" },
    { name: "keyword", label: "Keyword", type: "text", show: web, help: "Must appear in the response body. Empty: not checked." },
    { name: "keyword_absent", label: "Fail when the keyword is present", type: "checkbox", default: false, show: web },
    { name: "max_redirects", label: "Follow redirects (at most)", type: "number", step: 1, default: 10, show: web,
      help: "0 … 20; with 0 the 3xx itself is judged against the expected codes." },
    { name: "request_headers", label: "Request headers (JSON object)", type: "json", empty: {}, wide: true, show: web,
      placeholder: '{"Accept": "application/json"}', help: "Header name → value, at most 50." },
    { name: "request_body", label: "Request body", type: "textarea", wide: true, show: web, help: "Sent with the method above; up to 64 KiB." },
    { name: "basic_auth_username", label: "Basic auth user", type: "text", show: web },
    { name: "basic_auth_password", label: "Basic auth password", type: "password", keepIfEmpty: true, show: web,
      help: "Never shown again; leave empty to keep the current one." },
    { name: "assertions", label: "Assertions (JSON list)", type: "json", empty: [], wide: true, show: web,
      help: 'All must hold, e.g. [{"source": "json:$.status", "op": "==", "value": "ok"}].' },
    // Empty sends nothing, so the API's default applies (SPEC §23); [] turns the alerts off.
    { name: "cert_expiry_alert_days", label: "Certificate alerts (days before expiry)", type: "json", short: true, empty: undefined,
      show: function (v) { return v.protocol === "https"; }, placeholder: "[30, 14, 7, 1]",
      help: "Empty: the default [30, 14, 7, 1]; [] for no certificate alerts." },
    { name: "verify_tls", label: "Verify the TLS certificate", type: "checkbox", default: true, show: function (v) { return v.protocol === "https"; } },
    { name: "tags", label: "Tags", type: "tags", wide: true, help: "Comma-separated, e.g. prod, eu-west. Status pages can pick servers by tag." },
    { name: "notifications", label: "Send alerts", type: "checkbox", default: true },
    { name: "is_active", label: "Active (checked on schedule)", type: "checkbox", default: true }
  ];
  PG.NOTIFICATION_FIELDS = [
    { name: "notification_type", label: "Channel", type: "select", default: "webhook",
      choices: [["webhook", "Webhook"], ["email", "E-mail"], ["slack", "Slack"], ["discord", "Discord"], ["sms", "SMS"]] },
    { name: "recipient", label: "Recipient", type: "text", required: true, help: "URL for webhook/Slack/Discord, an address for e-mail, +E.164 for SMS." },
    { name: "enabled", label: "Enabled", type: "checkbox", default: true },
    { name: "notify_on_failure", label: "On DOWN", type: "checkbox", default: true },
    { name: "notify_on_recovery", label: "On recovery", type: "checkbox", default: true },
    { name: "notify_on_degraded", label: "On degraded (slow)", type: "checkbox", default: false },
    { name: "cooldown_minutes", label: "Cooldown (minutes)", type: "number", step: 1, default: 15 }
  ];
  // `kind` only steers the form (formOnly: never sent); the page clears the other kind's fields.
  function oneOff(v) { return v.kind === "once"; }
  function recurring(v) { return v.kind === "recurring"; }
  var browserZone = "UTC";
  try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { browserZone = "UTC"; }
  PG.MAINTENANCE_FIELDS = [
    { name: "name", label: "Name", type: "text", required: true, help: "Shown on public status pages while it is active or upcoming." },
    { name: "kind", label: "When", type: "select", default: "once", formOnly: true,
      choices: [["once", "Once (from … to)"], ["recurring", "Every day or week"]] },
    { name: "starts_at", label: "Starts", type: "datetime", show: oneOff, help: "Your browser's local time." },
    { name: "ends_at", label: "Ends", type: "datetime", show: oneOff },
    { name: "recurrence", label: "Repeats", type: "select", default: "weekly", show: recurring,
      choices: [["daily", "Daily"], ["weekly", "Weekly"]] },
    { name: "weekdays", label: "On", type: "multiselect", show: function (v) { return recurring(v) && v.recurrence === "weekly"; },
      choices: [[0, "Monday"], [1, "Tuesday"], [2, "Wednesday"], [3, "Thursday"], [4, "Friday"], [5, "Saturday"], [6, "Sunday"]],
      help: "Hold Ctrl/⌘ to pick several." },
    { name: "start_time", label: "From (HH:MM)", type: "time", show: recurring },
    { name: "duration_minutes", label: "For (minutes)", type: "number", step: 1, show: recurring, help: "1 … 10080 (a week)." },
    { name: "timezone", label: "Time zone", type: "text", default: browserZone, show: recurring, help: "An IANA name, e.g. Europe/Berlin." },
    { name: "servers", label: "Servers", type: "servers", wide: true, help: "Search and tick; the chosen appear above the box." },
    { name: "tags", label: "And every server tagged", type: "tags" },
    { name: "enabled", label: "Enabled", type: "checkbox", default: true }
  ];
  PG.STATUS_PAGE_FIELDS = [
    { name: "title", label: "Title", type: "text", required: true },
    { name: "slug", label: "Address", type: "text", required: true, help: "/status/<address>/ — lower-case letters, digits and hyphens." },
    { name: "description", label: "Description", type: "textarea", wide: true },
    { name: "servers", label: "Servers", type: "servers", wide: true, help: "Search and tick; the chosen appear above the box." },
    { name: "tags", label: "Or every server tagged", type: "tags" },
    { name: "is_public", label: "Public (no login needed)", type: "checkbox", default: false },
    { name: "show_response_times", label: "Show response times", type: "checkbox", default: false },
    { name: "publish_outages", label: "Publish outages in the feeds", type: "checkbox", default: false }
  ];
  // Incident posts (SPEC §21): status and message make the first update.
  PG.POST_STATUSES = [["investigating", "Investigating"], ["identified", "Identified"], ["monitoring", "Monitoring"], ["resolved", "Resolved"]];
  PG.POST_FIELDS = [
    { name: "title", label: "Title", type: "text", required: true, wide: true },
    { name: "impact", label: "Impact", type: "select", default: "minor", choices: [["none", "None"], ["minor", "Minor"], ["major", "Major"], ["critical", "Critical"]] },
    { name: "status", label: "Status", type: "select", default: "investigating", choices: PG.POST_STATUSES },
    { name: "message", label: "Message", type: "textarea", required: true, wide: true, help: "Markdown: paragraphs, *emphasis*, [links](https://…) and lists; anything else shows as written." },
    { name: "servers", label: "Affected servers", type: "servers", wide: true, help: "Servers of the page's team." }
  ];
  PG.ANNOUNCEMENT_FIELDS = [
    { name: "notice", label: "Notice", type: "textarea", required: true, wide: true, help: "Shown as a banner; the same Markdown subset." },
    { name: "starts_at", label: "From (optional)", type: "datetime" },
    { name: "ends_at", label: "Until (optional)", type: "datetime" }
  ];
})();
