"""The probe agent API (SPEC §20): ``/api/agent/claim/``, ``/api/agent/results/``, ``/api/agent/heartbeat/``.

Only a probe agent's token is taken (``Authorization: Bearer pga_…``): no token, or one no row
has (never made, or revoked), is 401; a person's credentials (JWT, session) or a team API key
are 403. Every call notes that the token's location was heard (``services.locations.agents.touch``).

- claim: the location's due checks (``tasks.claims.claim_due_at``) with a lease held by the
  agent process's ``owner``, each with everything its probe needs (``services.locations.wire``:
  the target's credentials too, which is why only this token-authenticated call answers them).
- results: each result whose idempotency key was never seen is recorded, with its location,
  by ``recording.record``, and its key (``AgentReceipt``) is written in the same transaction:
  a batch sent twice, or sent again after a crash between, is stored exactly once. Two
  requests with the same key at once: the second one's receipt insert fails on the unique key
  and it is retried, finding the key seen.
- heartbeat: the note, and the leases of the agent's checks in flight renewed (or its unstarted
  ones given back); answers the location's name and status.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from api.serializers.agent import (
    ClaimAnswerSerializer,
    ClaimSerializer,
    HeartbeatAnswerSerializer,
    HeartbeatSerializer,
    ResultsAnswerSerializer,
    ResultsSerializer,
)
from authentication.keys import ApiKeyAuthentication, NotAPerson
from monitoring.models import AgentReceipt, AgentToken, ProbeLocation, Server
from monitoring.services.engine.recording import CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.services.locations import agents, wire
from monitoring.tasks import claims

log = logging.getLogger(__name__)

UNKNOWN = (
    "Unknown or revoked agent token: make one for this location (its page, or POST /api/locations/{slug}/tokens/)."
)
AGENTS_ONLY = (
    "The agent API takes a probe agent's token only (Authorization: Bearer pga_…), not a person's "
    "sign-in or a team API key."
)
#: Tries of a results batch that lost a race on an idempotency key to a concurrent request.
RESULTS_TRIES = 3


class AgentPrincipal(NotAPerson):
    """``request.user`` for a call made with an agent token: authenticated, not a person, no team role."""

    def __init__(self, token: AgentToken) -> None:
        self.agent_token = token
        self.username = f"agent:{token.prefix}"


class AgentTokenAuthentication(BaseAuthentication):
    """A Bearer ``pga_…`` token: the agent it is, or 401. Any other credentials: the next authenticator's."""

    def authenticate(self, request: Any) -> tuple[AgentPrincipal, AgentToken] | None:
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not agents.looks_like_token(raw):
            return None
        token = agents.find(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(UNKNOWN)
        return AgentPrincipal(token), token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="agent"'


class AgentOnly(permissions.BasePermission):
    """An agent token's call; anyone else signed in is refused (403), anyone not, 401."""

    message = AGENTS_ONLY

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.auth, AgentToken)


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = AgentTokenAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pga_…",
            "description": "A probe agent's token: Authorization: Bearer pga_…",
        }


class AgentView(APIView):
    # The other authenticators recognise a person or a key, only to refuse them 403 (not 401).
    authentication_classes = [
        AgentTokenAuthentication,
        ApiKeyAuthentication,
        JWTAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [AgentOnly]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        agents.touch(request.auth)

    @property
    def location(self) -> ProbeLocation:
        return self.request.auth.location  # type: ignore[no-any-return, union-attr]


def _location_ref(location: ProbeLocation) -> dict[str, str]:
    return {"slug": location.slug, "name": location.name}


class ClaimView(AgentView):
    """Claim the location's due checks, each with a lease until ``lease_until``."""

    @extend_schema(request=ClaimSerializer, responses={200: ClaimAnswerSerializer})
    def post(self, request: Request) -> Response:
        params = ClaimSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        now = timezone.now()
        lease = float(settings.CHECK_LEASE_SECONDS)
        claimed = claims.claim_due_at(
            self.location,
            now,
            owner=params.validated_data["owner"],
            limit=params.validated_data["limit"],
            horizon=params.validated_data["horizon"],
            lease=lease,
        )
        checks = []
        for server, row in claimed:
            due = row.next_check_at
            checks.append(
                {
                    "server": wire.server_fields(server),
                    "due_at": due,
                    "next_due_at": server.next_due(due, max(now, due)),
                    "lease_until": row.lease_until,
                }
            )
        answer = {
            "location": _location_ref(self.location),
            "server_time": now,
            "lease_seconds": lease,
            "checks": checks,
        }
        return Response(ClaimAnswerSerializer(answer).data)


class ResultsView(AgentView):
    """Store a batch of results, each once (by its ``key``)."""

    @extend_schema(request=ResultsSerializer, responses={200: ResultsAnswerSerializer})
    def post(self, request: Request) -> Response:
        params = ResultsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        owner = params.validated_data["owner"]
        results = params.validated_data["results"]
        for attempt in range(RESULTS_TRIES):
            try:
                answer = self.store(owner, results)
                break
            except IntegrityError:
                if attempt == RESULTS_TRIES - 1:
                    raise
                log.info("agent_results_race location=%s (retried)", self.location.slug)
        log.info(
            "agent_results location=%s owner=%s stored=%d duplicates=%d dropped=%d",
            self.location.slug,
            owner,
            answer["stored"],
            answer["duplicates"],
            answer["dropped"],
        )
        return Response(ResultsAnswerSerializer(answer).data)

    def store(self, owner: str, results: list[dict[str, Any]]) -> dict[str, int]:
        location = self.location
        with transaction.atomic():
            seen = set(AgentReceipt.objects.filter(key__in={r["key"] for r in results}).values_list("key", flat=True))
            fresh: list[dict[str, Any]] = []
            for result in results:
                if result["key"] not in seen:
                    seen.add(result["key"])
                    fresh.append(result)
            # Only servers checked from this location: a token speaks for its location alone.
            servers = {
                s.pk: s
                for s in Server.objects.filter(
                    pk__in={r["server_id"] for r in fresh}, location_states__location=location
                )
            }
            batch = [
                CheckResult(
                    servers[r["server_id"]],
                    ProbeOutcome(
                        r["status"],
                        response_time=r["response_time"],
                        status_code=r["status_code"],
                        error_message=r["error_message"],
                        value=r["value"],
                        detail=r["detail"],
                    ),
                    checked_at=r["checked_at"],
                    due_at=r["due_at"],
                    started_at=r["started_at"],
                    lease_owner="" if r["buffered"] else owner,
                    next_due_at=r["next_due_at"],
                    location=location,
                )
                for r in fresh
                if r["server_id"] in servers
            ]
            stored = len(record(batch))
            AgentReceipt.objects.bulk_create([AgentReceipt(key=r["key"], location=location) for r in fresh])
        return {"stored": stored, "duplicates": len(results) - len(fresh), "dropped": len(fresh) - stored}


class HeartbeatView(AgentView):
    """Say the agent is alive, renew the leases of its checks in flight, give back unstarted ones;
    answers its location and the central server's time."""

    @extend_schema(request=HeartbeatSerializer, responses={200: HeartbeatAnswerSerializer})
    def post(self, request: Request) -> Response:
        params = HeartbeatSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        location, now = self.location, timezone.now()
        owner = params.validated_data.get("owner", "")
        renew, release = params.validated_data["renew"], params.validated_data["release"]
        answer = {
            "location": _location_ref(location),
            "status": location.status,
            "server_time": now,
            "renewed": claims.renew_at(location, owner, renew, now, settings.CHECK_LEASE_SECONDS) if renew else 0,
            "released": claims.release_at(location, owner, release) if release else 0,
        }
        return Response(HeartbeatAnswerSerializer(answer).data)
