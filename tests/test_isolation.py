"""Isolation (SPEC §17), NetBox-style: one table of endpoint × persona → what it answers.

Personas: the four roles of team ``acme``, a ``stranger`` (owner of another team), and ``staff``.
``ALLOW`` means the request got past the team rules (any answer but 401, 403, 404 or a 5xx);
``DENY`` is 403 (the role may not); ``HIDE`` is 404 (another team's object). Every route under
/api/ must appear in the table or in ``NOT_TEAM_SCOPED`` (with the reason): a new endpoint
that forgets the rule fails here until someone decides what each persona gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver

from authentication import keys
from authentication.models import Invitation, Membership, Team
from conftest import client_for
from monitoring.models import (
    Announcement,
    CertificateCheck,
    EscalationPolicy,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    ProbeLocation,
    Server,
    StatusPage,
    Subscriber,
)
from monitoring.services.engine.checks import record_outcome
from monitoring.services.locations.agents import create_token
from monitoring.services.statuspage_posts import create_post
from monitoring.tests.factories import make_outcome

User = get_user_model()
PERSONAS = ("owner", "admin", "member", "viewer", "stranger", "staff")
ALLOW, DENY, HIDE = "allow", "403", "404"

READ = dict.fromkeys(("owner", "admin", "member", "viewer", "staff"), ALLOW) | {"stranger": HIDE}
WRITE = READ | {"viewer": DENY}
LIST = dict.fromkeys(PERSONAS, ALLOW)  # a list answers everyone: the stranger's is empty (checked below)
MANAGE = WRITE | {"member": DENY}  # admins and owners


@dataclass(frozen=True)
class Row:
    route: str  # the URL name it covers
    method: str
    path: str  # formatted with the world's ids
    expect: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ROWS = [
    # servers
    Row("server-list", "get", "/api/servers/", LIST),
    Row(
        "server-list",
        "post",
        "/api/servers/",
        WRITE | {"stranger": "400"},
        {"name": "n", "protocol": "tcp", "host": "db.example.com", "port": 5432, "team": "acme"},
    ),  # fmt: skip
    Row("server-detail", "get", "/api/servers/{server}/", READ),
    Row("server-detail", "patch", "/api/servers/{server}/", WRITE, {"name": "renamed"}),
    Row("server-detail", "delete", "/api/servers/{server}/", WRITE),
    Row("server-check", "post", "/api/servers/{server}/check/", WRITE),
    Row("server-pause", "post", "/api/servers/{server}/pause/", WRITE),
    Row("server-resume", "post", "/api/servers/{server}/resume/", WRITE),
    Row("server-push-token", "post", "/api/servers/{push}/push-token/", WRITE),
    Row("server-uptime", "get", "/api/servers/{server}/uptime/", READ),
    Row("server-history", "get", "/api/servers/{server}/history/", READ),
    Row("server-certificate", "get", "/api/servers/{server}/certificate/", READ),
    Row("server-certificate", "post", "/api/servers/{server}/certificate/", WRITE),
    # what hangs off servers
    Row("pingresult-list", "get", "/api/ping-results/", LIST),
    Row("pingresult-detail", "get", "/api/ping-results/{ping}/", READ),
    Row("serverstatus-list", "get", "/api/server-status/", LIST),
    Row("serverstatus-detail", "get", "/api/server-status/{status}/", READ),
    Row("incident-list", "get", "/api/incidents/", LIST),
    Row("incident-detail", "get", "/api/incidents/{incident}/", READ),
    Row("incident-ack", "post", "/api/incidents/{incident}/ack/", WRITE, {"note": "on it"}),
    Row("certificatecheck-list", "get", "/api/certificates/", LIST),
    Row("certificatecheck-detail", "get", "/api/certificates/{certificate}/", READ),
    Row("notificationdelivery-list", "get", "/api/notification-deliveries/", LIST),
    Row("notificationdelivery-detail", "get", "/api/notification-deliveries/{delivery}/", READ),
    # notification configs
    Row("notificationconfig-list", "get", "/api/notification-configs/", LIST),
    Row(
        "notificationconfig-list",
        "post",
        "/api/notification-configs/",
        WRITE | {"stranger": "400"},
        {"server": "{server}", "notification_type": "email", "recipient": "new@example.com"},
    ),  # fmt: skip
    Row("notificationconfig-detail", "get", "/api/notification-configs/{config}/", READ),
    Row("notificationconfig-detail", "patch", "/api/notification-configs/{config}/", WRITE, {"enabled": False}),
    Row("notificationconfig-detail", "delete", "/api/notification-configs/{config}/", WRITE),
    Row("notificationconfig-test", "post", "/api/notification-configs/{config}/test/", WRITE),
    Row("notificationconfig-attach-all", "post", "/api/notification-configs/{config}/attach-all/", WRITE),
    # status pages and maintenance windows
    Row("statuspage-list", "get", "/api/status-pages/", LIST),
    Row(
        "statuspage-list",
        "post",
        "/api/status-pages/",
        WRITE | {"stranger": "400"},
        {"slug": "new-page", "title": "New", "team": "acme"},
    ),  # fmt: skip
    Row("statuspage-detail", "get", "/api/status-pages/{page}/", READ),
    Row("statuspage-detail", "patch", "/api/status-pages/{page}/", WRITE, {"title": "Renamed"}),
    Row("statuspage-detail", "delete", "/api/status-pages/{page}/", WRITE),
    Row("statuspage-summary", "get", "/api/status-pages/acme-private/summary/", READ),
    # nobody but the page's team's admins and owners sees a subscriber's address (SPEC §21)
    Row("statuspage-subscribers", "get", "/api/status-pages/{page}/subscribers/", MANAGE),
    Row("statuspage-subscriber", "get", "/api/status-pages/{page}/subscribers/{subscriber}/", MANAGE),
    Row("statuspage-subscriber", "delete", "/api/status-pages/{page}/subscribers/{subscriber}/", MANAGE),
    # a page's incident posts, their updates and announcements (SPEC §21): the page's team decides
    Row("statuspage-posts", "get", "/api/status-pages/{page}/posts/", READ),
    Row(
        "statuspage-posts",
        "post",
        "/api/status-pages/{page}/posts/",
        WRITE,
        {"title": "Slow", "status": "investigating", "message": "Looking", "servers": ["{server}"]},
    ),  # fmt: skip
    Row("statuspage-post", "get", "/api/status-pages/{page}/posts/{post}/", READ),
    Row("statuspage-post", "patch", "/api/status-pages/{page}/posts/{post}/", WRITE, {"impact": "major"}),
    Row("statuspage-post", "delete", "/api/status-pages/{page}/posts/{post}/", WRITE),
    Row(
        "statuspage-post-updates",
        "post",
        "/api/status-pages/{page}/posts/{post}/updates/",
        WRITE,
        {"status": "identified", "message": "Found it"},
    ),  # fmt: skip
    Row("statuspage-announcements", "get", "/api/status-pages/{page}/announcements/", READ),
    Row("statuspage-announcements", "post", "/api/status-pages/{page}/announcements/", WRITE, {"notice": "Hi"}),
    Row("statuspage-announcement", "get", "/api/status-pages/{page}/announcements/{announcement}/", READ),
    Row(
        "statuspage-announcement",
        "patch",
        "/api/status-pages/{page}/announcements/{announcement}/",
        WRITE,
        {"notice": "Changed"},
    ),  # fmt: skip
    Row("statuspage-announcement", "delete", "/api/status-pages/{page}/announcements/{announcement}/", WRITE),
    Row("maintenancewindow-list", "get", "/api/maintenance-windows/", LIST),
    Row(
        "maintenancewindow-list",
        "post",
        "/api/maintenance-windows/",
        WRITE | {"stranger": "400"},
        {"name": "w", "tags": ["db"], "starts_at": "2030-01-01T00:00Z", "ends_at": "2030-01-01T01:00Z", "team": "acme"},
    ),  # fmt: skip
    Row("maintenancewindow-detail", "get", "/api/maintenance-windows/{window}/", READ),
    Row("maintenancewindow-detail", "patch", "/api/maintenance-windows/{window}/", WRITE, {"name": "Renamed"}),
    Row("maintenancewindow-detail", "delete", "/api/maintenance-windows/{window}/", WRITE),
    # escalation policies (api/tests/test_escalation_api.py goes deeper)
    Row("escalationpolicy-list", "get", "/api/escalation-policies/", LIST),
    Row(
        "escalationpolicy-list",
        "post",
        "/api/escalation-policies/",
        WRITE | {"stranger": "400"},
        {"name": "p", "team": "acme", "steps": [{"after_minutes": 0, "notification_configs": []}]},
    ),  # fmt: skip
    Row("escalationpolicy-detail", "get", "/api/escalation-policies/{policy}/", READ),
    Row("escalationpolicy-detail", "patch", "/api/escalation-policies/{policy}/", WRITE, {"name": "Renamed"}),
    Row("escalationpolicy-detail", "delete", "/api/escalation-policies/{policy}/", WRITE),
    # teams, members and invitations (authentication/tests/test_teams_api.py and test_invitations.py go deeper)
    Row("team-list", "post", "/api/teams/", LIST, {"name": "New team"}),  # anyone may make a team
    Row("team-detail", "get", "/api/teams/acme/", READ),
    Row("team-detail", "patch", "/api/teams/acme/", MANAGE, {"name": "Acme Inc"}),
    Row("team-detail", "delete", "/api/teams/acme/", MANAGE | {"admin": DENY}),  # owners only
    Row("team-members", "get", "/api/teams/acme/members/", READ),
    Row("team-member", "patch", "/api/teams/acme/members/{viewer_user}/", MANAGE, {"role": "member"}),
    Row("team-member", "delete", "/api/teams/acme/members/{member_user}/", WRITE),  # the member leaves
    Row("team-invitations", "get", "/api/teams/acme/invitations/", MANAGE),
    Row("team-invitations", "post", "/api/teams/acme/invitations/", MANAGE, {"email": "new@example.com"}),
    Row("team-invitation", "delete", "/api/teams/acme/invitations/{invitation}/", MANAGE),
    # team API keys (authentication/tests/test_api_keys.py goes deeper; a key itself is refused them)
    Row("team-api-keys", "get", "/api/teams/acme/api-keys/", MANAGE),
    Row("team-api-keys", "post", "/api/teams/acme/api-keys/", MANAGE, {"name": "CI", "scope": "read"}),
    Row("team-api-key", "get", "/api/teams/acme/api-keys/{api_key}/", MANAGE),
    Row("team-api-key", "delete", "/api/teams/acme/api-keys/{api_key}/", MANAGE),
    # probe locations (SPEC §20; api/tests/test_locations.py goes deeper): lists also show the
    # shared ones to everyone; agent tokens are for the team's admins and owners, as API keys
    Row("location-list", "get", "/api/locations/", LIST),
    Row("location-list", "post", "/api/locations/", WRITE | {"stranger": "400"}, {"name": "Lyon", "team": "acme"}),
    Row("location-detail", "get", "/api/locations/acme-paris/", READ),
    Row("location-detail", "patch", "/api/locations/acme-paris/", WRITE, {"name": "Paris 2"}),
    Row("location-detail", "delete", "/api/locations/acme-paris/", WRITE),
    Row("location-tokens", "get", "/api/locations/acme-paris/tokens/", MANAGE),
    Row("location-tokens", "post", "/api/locations/acme-paris/tokens/", MANAGE, {"name": "agent"}),
    Row("location-token", "get", "/api/locations/acme-paris/tokens/{agent_token}/", MANAGE),
    Row("location-token", "delete", "/api/locations/acme-paris/tokens/{agent_token}/", MANAGE),
    # configuration as code, per team
    Row("config-export", "get", "/api/config/export/?team=acme", WRITE | {"stranger": "400"}),
    Row(
        "config-import",
        "post",
        "/api/config/import/?team=acme&dry_run=true",
        WRITE | {"stranger": "400"},
        {"version": 1, "servers": []},
    ),  # fmt: skip
    # the audit log: every list answers (empty for those who admin no team); naming the team
    # is for its admins and owners
    Row("auditentry-list", "get", "/api/audit-log/", LIST),
    Row("auditentry-list", "get", "/api/audit-log/?team=acme", MANAGE | {"stranger": "400"}),
    # the probe agent API takes an agent token only: every person, whatever their role, is refused
    # (tokens, locations and another location's servers: monitoring/tests/locations/test_agent_api.py)
    Row("agent-claim", "post", "/api/agent/claim/", dict.fromkeys(PERSONAS, DENY), {"owner": "a"}),
    Row("agent-results", "post", "/api/agent/results/", dict.fromkeys(PERSONAS, DENY), {"owner": "a", "results": []}),
    Row("agent-heartbeat", "post", "/api/agent/heartbeat/", dict.fromkeys(PERSONAS, DENY)),
]

#: Routes that are not about a team's objects, and why.
NOT_TEAM_SCOPED = {
    "api-root": "the API's index",
    "schema": "the OpenAPI schema (public)",
    "docs": "Swagger UI (public)",
    "redoc": "ReDoc (public)",
    "health": "the health check (public)",
    "push": "a push URL: its token is the credential",
    "push-batch": "a batch of pushes: each item's token is its credential",
    "push-bare": "a push URL without its slash: its token is the credential",
    "push-signal": "a push signal (start, fail, log, exit status): its token is the credential",
    "auth-register": "sign-up (anonymous)",
    "token-obtain": "sign-in",
    "token-refresh": "sign-in",
    "token-verify": "sign-in",
    "auth-me": "the caller's own account",
    "auth-2fa": "the caller's own two-factor sign-in (tested in authentication/tests/test_two_factor.py)",
    "auth-2fa-confirm": "the caller's own two-factor sign-in (tested in authentication/tests/test_two_factor.py)",
    "statuspage-subscribe": "a visitor's sign-up to a public page (anonymous, throttled per address): "
    "monitoring/tests/web/test_subscribers.py",
    "checks-run": "staff only (IsAdminUser), tested in test_servers",
    "check-ssl": "an ad-hoc check of any host, no team object",
    "invitation-accept": "the invitation's token and the invitee's e-mail decide, not a role: "
    "authentication/tests/test_invitations.py",
    "events-status": "the SSE feed: its scope by team and role is tested against a live server in "
    "monitoring/tests/test_sse.py and test_live_keys.py",
}


@pytest.fixture
def world(db: Any, http_target: Any) -> dict[str, Any]:
    """Team acme with one of each object, its four roles, a stranger with a team of their own, staff."""
    people = {name: User.objects.create_user(name, f"{name}@example.com", f"{name}-password-1") for name in PERSONAS}
    people["staff"].is_staff = True
    people["staff"].save()
    acme = Team.objects.create(name="Acme", slug="acme")
    for role in ("owner", "admin", "member", "viewer"):
        Membership.objects.create(team=acme, user=people[role], role=role)
    server = Server.objects.create(
        owner=people["owner"], team=acme, name="web", protocol="http", host="127.0.0.1", port=http_target.port
    )
    push = Server.objects.create(owner=people["owner"], team=acme, name="cron", protocol="push", check_interval=60)
    config = NotificationConfig.objects.create_for(server, notification_type="email", recipient="ops@example.com")
    record_outcome(server, make_outcome(ok=False))  # a ping, a status change, an incident, an alert
    ping, incident = PingResult.objects.get(server=server), Incident.objects.get(server=server)
    delivery = NotificationDelivery.objects.get(config=config)
    certificate = CertificateCheck.objects.create(server=server, valid=True, days_remaining=60)
    page = StatusPage.objects.create(owner=people["owner"], team=acme, slug="acme-private", title="Acme")
    page.servers.add(server)
    subscriber = Subscriber.objects.create(page=page, kind="email", target="fan@example.com")
    post = create_post(page, title="Outage", status="investigating", message="Looking", servers=[server])
    announcement = Announcement.objects.create(page=page, notice="Maintenance tonight")
    window = MaintenanceWindow.objects.create(owner=people["owner"], team=acme, name="Patch", tags=["web"])
    policy = EscalationPolicy.objects.create(
        owner=people["owner"], team=acme, name="On call", steps=[{"after_minutes": 0, "notification_configs": []}]
    )
    invitation = Invitation.objects.create(team=acme, email="invited@example.com", token_hash="0" * 64)
    api_key, _ = keys.create(acme, "deploys", "write", people["owner"])
    location = ProbeLocation.objects.create(name="Paris", slug="acme-paris", team=acme)
    agent_token, _ = create_token(location, "paris-1", people["owner"])
    return {
        "people": people,
        "ids": {
            "server": server.pk,
            "push": push.pk,
            "config": config.pk,
            "ping": ping.pk,
            "status": server.server_status.pk,
            "incident": incident.pk,
            "certificate": certificate.pk,
            "delivery": delivery.pk,
            "page": page.pk,
            "subscriber": subscriber.pk,
            "post": post.pk,
            "announcement": announcement.pk,
            "window": window.pk,
            "policy": policy.pk,
            "viewer_user": people["viewer"].pk,
            "member_user": people["member"].pk,
            "invitation": invitation.pk,
            "api_key": api_key.pk,
            "agent_token": agent_token.pk,
        },
    }


def fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_each_persona_gets_what_its_role_allows(world: dict[str, Any], row: Row, persona: str) -> None:
    client = client_for(world["people"][persona])
    path = row.path.format(**world["ids"])
    kwargs = {"format": "json"} if row.method != "get" else {}
    body = fill(row.body, world["ids"]) if row.method != "get" else None
    response = (
        getattr(client, row.method)(path, body, **kwargs) if body is not None else getattr(client, row.method)(path)
    )
    expected = row.expect[persona]
    got = response.status_code
    if expected == ALLOW:
        assert got < 500 and got not in (401, 403, 404), (persona, row.id, got, response.content[:300])
    else:
        assert str(got) == expected, (persona, row.id, got, response.content[:300])
    if row.method == "get" and expected == ALLOW and persona == "stranger" and "results" in (_json(response) or {}):
        # Shared objects (the shared probe locations, SPEC §20) are everyone's.
        theirs = [item for item in _json(response)["results"] if not item.get("shared")]
        assert theirs == [], (row.id, "a stranger's list shows another team's objects")


def _json(response: Any) -> Any:
    try:
        return response.json()
    except (ValueError, TypeError):
        return None


def _routes(patterns: list[Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and (prefix + str(pattern.pattern)).startswith("api/") and pattern.name:
            names.add(pattern.name)
    return names


def test_every_api_route_is_in_the_table_or_says_why_not() -> None:
    covered = {row.route for row in ROWS} | set(NOT_TEAM_SCOPED)
    missing = sorted(_routes(get_resolver().url_patterns) - covered)
    assert not missing, f"API routes with no isolation rows (add them to ROWS or NOT_TEAM_SCOPED): {missing}"
