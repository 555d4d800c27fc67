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
  // More kinds of checks (SPEC §19): each field shows for the kinds that use it (validators.PROTOCOL_FIELDS).
  function kind() { var kinds = arguments; return function (v) { return Array.prototype.indexOf.call(kinds, v.protocol) >= 0; }; }
  function db(v) { return v.protocol === "postgres" || v.protocol === "mysql" || v.protocol === "redis"; }
  function webOrWs(v) { return web(v) || v.protocol === "websocket"; }
  // Host and port come from the dsn for the database kinds; ping and dns have no port.
  function addressed(v) { return probed(v) && !db(v); }
  function ported(v) { return addressed(v) && v.protocol !== "ping" && v.protocol !== "dns"; }
  PG.SERVER_FIELDS = [
    { name: "name", label: "Name", type: "text", required: true, help: "Shown on the dashboard, alerts and status pages." },
    { name: "protocol", label: "Kind", type: "select", default: "https",
      choices: [["https", "HTTPS"], ["http", "HTTP"], ["tcp", "TCP port"], ["ping", "Ping (ICMP)"], ["dns", "DNS"],
        ["smtp", "SMTP"], ["postgres", "PostgreSQL"], ["mysql", "MySQL / MariaDB"], ["redis", "Redis"], ["grpc", "gRPC health"],
        ["websocket", "WebSocket"], ["push", "Push (a job calls its URL)"]] },
    // Paste a whole address here (or into Host): it fills Kind, Host, Port and Path.
    { name: "url", label: "URL", type: "text", formOnly: true, show: function (v) { return web(v) || v.protocol === "tcp"; }, fills: PG.splitUrl, wide: true,
      placeholder: "https://shop.example.com:8443/health",
      help: "Optional: paste an address to fill in Kind, Host, Port and Path below." },
    { name: "host", label: "Host", type: "text", required: true, show: addressed, placeholder: "shop.example.com", fills: PG.splitUrl, fillsOnPaste: true,
      help: "A hostname or IP address; a pasted URL is split into the fields." },
    { name: "port", label: "Port", type: "number", step: 1, show: ported,
      help: "Defaults to 80 for HTTP and 443 for HTTPS, 25 for SMTP, 80/443 for WebSocket; required for TCP and gRPC." },
    { name: "path", label: "Path", type: "text", default: "/", show: webOrWs },
    { name: "dsn", label: "DSN (connection URL)", type: "password", keepIfEmpty: true, show: db, wide: true,
      placeholder: "postgresql://monitor:secret@db.example.com:5432/app",
      help: "postgresql://, mysql://, redis:// or rediss://. Host and port are taken from it. Never shown again; leave empty to keep the current one." },
    { name: "db_query", label: "Query", type: "text", show: db, wide: true, placeholder: "SELECT 1",
      help: "PostgreSQL and MySQL: SQL run on each check (empty: SELECT 1). Redis: PING." },
    { name: "ping_count", label: "Packets", type: "number", step: 1, default: 3, show: kind("ping"), help: "1 … 10 echo requests per check." },
    { name: "packet_loss_threshold", label: "Fail at packet loss (%)", type: "number", step: 1, default: 100, show: kind("ping"),
      help: "100: only when every packet is lost." },
    { name: "dns_record_type", label: "Record type", type: "select", default: "A", show: kind("dns"),
      choices: [["A", "A"], ["AAAA", "AAAA"], ["CNAME", "CNAME"], ["MX", "MX"], ["NS", "NS"], ["TXT", "TXT"], ["SOA", "SOA"], ["SRV", "SRV"], ["CAA", "CAA"]] },
    { name: "dns_resolver", label: "Resolver", type: "text", show: kind("dns"), placeholder: "9.9.9.9 or 9.9.9.9:53",
      help: "Empty: the system's resolver." },
    { name: "dns_expected", label: "Expected answers (JSON list)", type: "json", empty: [], wide: true, show: kind("dns"),
      placeholder: '["93.184.215.14"]', help: 'Every one must be among the answers, e.g. ["10 mail.example.com"] for MX. Empty: any answer.' },
    { name: "smtp_starttls", label: "STARTTLS", type: "select", show: kind("smtp"), default: "",
      choices: [["", "By port (yes on 25 and 587)"], ["true", "Yes"], ["false", "No"]], help: "Port 465 is TLS from the start." },
    { name: "grpc_service", label: "gRPC service", type: "text", show: kind("grpc"), help: "Empty: the server as a whole." },
    { name: "grpc_tls", label: "gRPC over TLS", type: "checkbox", default: false, show: kind("grpc") },
    { name: "ws_tls", label: "wss:// (TLS)", type: "checkbox", default: false, show: kind("websocket"), help: "Also on port 443." },
    { name: "ws_send", label: "Message to send", type: "textarea", wide: true, show: kind("websocket"),
      help: "Optional: sent after the handshake; the first message back is judged by the keyword and assertions." },
    { name: "tcp_send", label: "Send", type: "text", wide: true, show: kind("tcp"), placeholder: "PING\\r\\n",
      help: "Optional bytes to send; escapes \\r \\n \\t \\0 \\xHH." },
    { name: "tcp_expect", label: "Expect", type: "text", wide: true, show: kind("tcp"), placeholder: "+PONG",
      help: "Must appear in the first 4 KiB answered." },
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
    { name: "keyword", label: "Keyword", type: "text", show: webOrWs, help: "Must appear in the response body (WebSocket: the first message). Empty: not checked." },
    { name: "keyword_absent", label: "Fail when the keyword is present", type: "checkbox", default: false, show: webOrWs },
    { name: "max_redirects", label: "Follow redirects (at most)", type: "number", step: 1, default: 10, show: web,
      help: "0 … 20; with 0 the 3xx itself is judged against the expected codes." },
    { name: "request_headers", label: "Request headers (JSON object)", type: "json", empty: {}, wide: true, show: webOrWs,
      placeholder: '{"Accept": "application/json"}', help: "Header name → value, at most 50." },
    { name: "request_body", label: "Request body", type: "textarea", wide: true, show: web, help: "Sent with the method above; up to 64 KiB." },
    { name: "basic_auth_username", label: "Basic auth user", type: "text", show: web },
    { name: "basic_auth_password", label: "Basic auth password", type: "password", keepIfEmpty: true, show: web,
      help: "Never shown again; leave empty to keep the current one." },
    { name: "assertions", label: "Assertions (JSON list)", type: "json", empty: [], wide: true, show: webOrWs,
      help: 'All must hold, e.g. [{"source": "json:$.status", "op": "==", "value": "ok"}].' },
    // Empty sends nothing, so the API's default applies (SPEC §23); [] turns the alerts off.
    { name: "cert_expiry_alert_days", label: "Certificate alerts (days before expiry)", type: "json", short: true, empty: undefined,
      show: kind("https", "smtp"), placeholder: "[30, 14, 7, 1]",
      help: "Empty: the default [30, 14, 7, 1]; [] for no certificate alerts." },
    { name: "verify_tls", label: "Verify the TLS certificate", type: "checkbox", default: true, show: kind("https", "smtp", "grpc", "websocket") },
    { name: "tags", label: "Tags", type: "tags", wide: true, help: "Comma-separated, e.g. prod, eu-west. Status pages can pick servers by tag." },
    { name: "notifications", label: "Send alerts", type: "checkbox", default: true },
    { name: "notification_configs", label: "Alerts go to", type: "configs", wide: true,
      help: "The team's notification configs (set them up on the Notifications page); defaults come ticked on a new server." },
    { name: "depends_on", label: "Depends on", type: "servers", wide: true,
      help: "The team's servers this one cannot be reached without (a router, a database): while one is DOWN, this server's DOWN alerts are suppressed." },
    // Probe locations (SPEC §20): where it is checked from, in order, and how many must agree.
    { name: "locations", label: "Checked from", type: "locations", wide: true, show: probed,
      help: "Tick the places it is checked from (add places on the Locations page); at least one." },
    { name: "quorum", label: "DOWN when down from (locations)", type: "number", step: 1, show: probed,
      help: "How many of its locations must see it down; empty: more than half of them." },
    { name: "is_active", label: "Active (checked on schedule)", type: "checkbox", default: true }
  ];
  // Per channel (SPEC §7, §18): what `recipient` and `secret` mean, and which take an api_base_url.
  var CHANNELS = {
    webhook: { recipient: ["An http(s) URL; the JSON body is signed with a generated secret.", "https://hooks.example.com/pulseguard"] },
    email: { recipient: ["An e-mail address.", "ops@example.com"] },
    slack: { recipient: ["The incoming-webhook URL.", "https://hooks.slack.com/services/…"] },
    discord: { recipient: ["The webhook URL.", "https://discord.com/api/webhooks/…"] },
    sms: { recipient: ["A phone number in E.164 form.", "+14155550123"] },
    msteams: { recipient: ["The Teams incoming-webhook (Workflows) URL.", "https://….webhook.office.com/…"] },
    apprise: { recipient: ["Any Apprise URL (a hundred-odd services).", "tgram://bottoken/chatid"] },
    telegram: { recipient: ["The chat id, or a public channel's @name.", "-1001234567890"], secret: "The bot token (from @BotFather).",
      base: "https://api.telegram.org" },
    pagerduty: { secret: "The routing key of an Events API v2 integration.", base: "https://events.pagerduty.com" },
    opsgenie: { secret: "The API key of an Opsgenie API integration (sent as GenieKey).", base: "https://api.opsgenie.com" },
    ntfy: { recipient: ["The topic.", "ops-alerts"], secret: "Optional: an access token, for a protected topic.", base: "https://ntfy.sh" },
    pushover: { recipient: ["Your user key, or a group key.", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"], secret: "The application's API token.",
      base: "https://api.pushover.net" },
    gotify: { secret: "The application token.", base: "", baseRequired: true },
    matrix: { recipient: ["The room id (not an #alias).", "!abcdefg:example.org"], secret: "The bot user's access token.", base: "", baseRequired: true }
  };
  function channel(v) { return CHANNELS[v.notification_type] || {}; }
  PG.NOTIFICATION_FIELDS = [
    { name: "notification_type", label: "Channel", type: "select", default: "webhook",
      choices: [["webhook", "Webhook"], ["email", "E-mail"], ["slack", "Slack"], ["discord", "Discord"], ["sms", "SMS"],
        ["msteams", "Microsoft Teams"], ["telegram", "Telegram"], ["pagerduty", "PagerDuty"], ["opsgenie", "Opsgenie"],
        ["ntfy", "ntfy"], ["pushover", "Pushover"], ["gotify", "Gotify"], ["matrix", "Matrix"], ["apprise", "Apprise URL"]] },
    { name: "recipient", label: "Recipient", type: "text", show: function (v) { return !!channel(v).recipient; },
      help: "Where alerts go.", helpFor: function (v) { return (channel(v).recipient || [""])[0]; },
      placeholderFor: function (v) { return (channel(v).recipient || ["", ""])[1]; } },
    { name: "secret", label: "Token or key", type: "password", show: function (v) { return !!channel(v).secret; },
      help: "Never shown again.", helpFor: function (v) { return (channel(v).secret || "") + " Never shown again."; } },
    { name: "api_base_url", label: "Server URL", type: "text", show: function (v) { return channel(v).base !== undefined; },
      help: "The service's root.", helpFor: function (v) {
        var c = channel(v);
        return c.baseRequired ? "Required: the URL of your " + v.notification_type + " server." : "Empty: " + c.base + ". Set it for a self-hosted or regional server.";
      } },
    { name: "enabled", label: "Enabled", type: "checkbox", default: true },
    { name: "events", label: "Alerts on", type: "checks", wide: true,
      default: ["down", "recovery", "degraded", "certificate", "maintenance", "location", "test"],
      choices: [["down", "DOWN"], ["recovery", "Recovery"], ["degraded", "Degraded (slow)"], ["certificate", "Certificate"],
        ["maintenance", "Maintenance start and end"], ["reminder", "Reminders"], ["location", "Location"], ["test", "Test messages"]] },
    { name: "cooldown_minutes", label: "Cooldown (minutes)", type: "number", step: 1, default: 15 },
    { name: "title_template", label: "Title template", type: "text", wide: true, placeholder: "{server.name} is {status}",
      help: "Optional. Placeholders: {server.name} {server.url} {status} {previous_status} {message} {time} {downtime} {incident_url} {ack_url}; {{ and }} for braces." },
    { name: "body_template", label: "Message template", type: "textarea", wide: true, placeholder: "{message} — {incident_url}",
      help: "Optional: replaces the message (a webhook's \"message\"); same placeholders." }
  ];
  // The Notifications page: a team config, the servers it serves, and whether new servers get it.
  PG.CONFIG_FIELDS = PG.NOTIFICATION_FIELDS.concat([
    { name: "servers", label: "Servers", type: "servers", wide: true, help: "Search and tick; or use Attach to all in the list." },
    { name: "is_default", label: "Default: attach to every new server of the team", type: "checkbox", default: false }
  ]);
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
    { name: "publish_outages", label: "Publish outages: each automatic DOWN and recovery to subscribers and feeds", type: "checkbox", default: false },
    { name: "accent_color", label: "Accent colour", type: "text", placeholder: "#0969da", help: "#rgb or #rrggbb; empty for the default." },
    { name: "domain", label: "Own domain", type: "text", placeholder: "status.example.com", help: "A bare host name whose DNS points here; it serves this page at /." },
    { name: "footer_text", label: "Footer text", type: "textarea", wide: true }
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
