"""Thin viewsets: querysets, serializers, filtersets and actions; rules live in services."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import re
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import permissions, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.filtersets import (
    CertificateCheckFilterSet,
    EscalationPolicyFilterSet,
    IncidentFilterSet,
    MaintenanceWindowFilterSet,
    NotificationConfigFilterSet,
    NotificationDeliveryFilterSet,
    PingResultFilterSet,
    ServerFilterSet,
    ServerStatusFilterSet,
    StatusPageFilterSet,
)
from api.pagination import HistoryCursorPagination
from api.permissions import refusal
from api.serializers.certificates import (
    CertificateCheckSerializer,
    CertificateQuerySerializer,
    CheckSslQuerySerializer,
    CheckSslSerializer,
)
from api.serializers.escalation import AcknowledgeSerializer, EscalationPolicySerializer
from api.serializers.maintenance import MaintenanceWindowSerializer
from api.serializers.notifications import (
    NotificationConfigSerializer,
    NotificationDeliverySerializer,
    SendTestResultSerializer,
)
from api.serializers.results import (
    HistorySerializer,
    IncidentSerializer,
    PingResultSerializer,
    ServerStatusSerializer,
    UptimeQuerySerializer,
    UptimeSerializer,
)
from api.serializers.servers import PushSerializer, RunChecksResultSerializer, RunChecksSerializer, ServerSerializer
from api.serializers.statuspages import StatusPageSerializer
from api.viewsets import OwnedModelViewSet, OwnedReadOnlyViewSet
from authentication import audit, keys
from authentication.throttle import CountedThrottle, hit, parse_rate
from core.shared_threads import RETRY_AFTER, waited
from monitoring import payloads
from monitoring.choices import DeliveryStatus, Protocol
from monitoring.models import (
    CertificateCheck,
    EscalationPolicy,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    Server,
    ServerLocation,
    ServerStatus,
    StatusPage,
)
from monitoring.services import net
from monitoring.services.alerts import delivery, escalation
from monitoring.services.engine import certificates, checks, push
from monitoring.services.engine.certificates import NOT_HTTPS, checks_certificate
from monitoring.services.history import metrics
from monitoring.services.history.charts import history
from monitoring.services.history.uptime import uptime
from monitoring.tasks import engine

#: A server's ``locations`` in one query for a page of servers (``services.locations.servers.slugs``).
LOCATION_ROWS = Prefetch("location_states", queryset=ServerLocation.objects.select_related("location"))


@contextlib.contextmanager
def check_now_slot(user: Any, server: Server) -> Iterator[bool]:
    """Hold one of the user's CHECK_NOW_PER_USER slots for a check now, or yield False when all are
    taken (SPEC §23: a user's check-nows against silent targets must not take every worker).

    A slot is a cache key, taken with ``add`` (atomic in every cache backend) and kept no longer
    than the check can take, so the slots of a process that dies come free on their own.
    """
    hold = int(server.timeout) + 30
    api_key = getattr(user, "api_key", None)  # a team API key has slots of its own (it has no pk)
    who = f"key{api_key.pk}" if api_key is not None else user.pk
    for n in range(settings.CHECK_NOW_PER_USER):
        key = f"check-now:{who}:{n}"
        if cache.add(key, 1, timeout=hold):
            try:
                yield True
            finally:
                cache.delete(key)
            return
    yield False


class ServerViewSet(OwnedModelViewSet):
    queryset = Server.objects.select_related("team", "owner", "server_status")
    serializer_class = ServerSerializer
    filterset_class = ServerFilterSet
    ordering_fields = ["name", "status", "host", "check_interval", "created_at", "id"]

    def get_queryset(self) -> QuerySet[Server]:
        queryset = super().get_queryset()
        if self.action in ("history", "uptime", "certificate", "check", "list"):
            return queryset  # answers that show no server (a list reads its page as rows): no need for its configs
        # A server shows its configs' ids (SPEC §18) and its depends_on: one query each for the page.
        return queryset.prefetch_related(
            Prefetch("notification_configs", queryset=NotificationConfig.objects.only("id")),
            "depends_on",
            LOCATION_ROWS,
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A page read as rows (``ServerSerializer.pages``): each server as its serializer shows it,
        # for a fraction of the CPU of 50 servers' 55 fields read one by one (issue 20). No
        # docstring: the schema keeps describing the list as before.
        pages = self.get_serializer().pages(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(pages)  # type: ignore[arg-type]
        return Response(pages[:]) if page is None else self.get_paginated_response(page)

    @extend_schema(request=None, responses=PingResultSerializer)
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Run one check now and answer its PingResult (not for push monitors: 400)."""
        server = self.get_object()
        if server.is_push:
            return Response({"detail": checks.NOT_PROBED}, status=status.HTTP_400_BAD_REQUEST)
        with check_now_slot(request.user, server) as slot:
            if not slot:
                detail = f"At most {settings.CHECK_NOW_PER_USER} checks now at once; try again when one has finished."
                return Response(
                    {"detail": detail}, status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": "5"}
                )
            record = engine.run_check(server)
        if record is None:
            return Response({"detail": "The server was deleted while it was checked."}, status=404)
        # After the check, which runs on the engine outside any transaction of this request.
        audit.record(request, "check", team_id=server.team_id, obj=server)
        return Response(PingResultSerializer(record.ping).data)

    def delete_instance(self, instance: Server) -> None:
        checks.delete_servers(Server.objects.filter(pk=instance.pk))

    @extend_schema(request=None, responses=ServerSerializer)
    @action(detail=True, methods=["post"], url_path="push-token")
    def push_token(self, request: Request, pk: str | None = None) -> Response:
        """Give a push monitor a new push token; the old push URL answers 404 from now on."""
        server = self.get_object()
        if not server.is_push:
            return Response({"detail": "Only push monitors have a push token."}, status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            old = server.push_token
            push.rotate_token(server)
            changes = audit.diff({"push_token": old}, {"push_token": server.push_token})
            audit.record(request, "update", team_id=server.team_id, obj=server, changes=changes)
        return Response(self.get_serializer(self.get_queryset().get(pk=server.pk)).data)

    @extend_schema(parameters=[UptimeQuerySerializer], responses=UptimeSerializer)
    @action(detail=True, methods=["get"])
    def uptime(self, request: Request, pk: str | None = None) -> Response:
        """Uptime, response-time percentiles and incidents over ``window`` (24h, 7d, 30d, 90d).

        ``?location=<slug>`` counts the checks run from there only, read from raw rows: hourly
        rollups are of all locations together (SPEC §20, §23)."""
        params = UptimeQuerySerializer(data=request.query_params, context={"request": request})
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return Response(uptime(self.get_object(), data["window"], location=data.get("location")))

    @extend_schema(parameters=[UptimeQuerySerializer], responses=HistorySerializer)
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Checks, failures and response times in buckets for charts: 5 min (24h), 1 h (7d, 30d), 1 day (90d).

        ``?location=<slug>``: the checks run from there only, read from raw rows (hourly rollups
        are of all locations together, so hours already pruned are empty buckets)."""
        params = UptimeQuerySerializer(data=request.query_params, context={"request": request})
        params.is_valid(raise_exception=True)
        data = params.validated_data
        report = history(self.get_object(), data["window"], location=data.get("location"))
        # The buckets are plain dicts already: rendering them field by field through
        # HistorySerializer (the schema) was half of a 30-day chart's cost (720 × 8 fields).
        # They are this request's own, so each start becomes its text in place (first key still).
        buckets: list[dict[str, Any]] = report["buckets"]  # type: ignore[assignment]
        for bucket, start in zip(buckets, payloads.isos(b["start"] for b in buckets), strict=True):
            bucket["start"] = start
        return Response(report)

    @extend_schema(request=None, responses=ServerSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        server = self.get_object()
        try:
            with transaction.atomic():
                checks.pause(server)
                audit.record(request, "pause", team_id=server.team_id, obj=server)
            return Response(self.get_serializer(self.get_queryset().get(pk=server.pk)).data)
        except Server.DoesNotExist:
            raise NotFound("The server was deleted meanwhile.") from None

    @extend_schema(request=None, responses=ServerSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        server = self.get_object()
        try:
            with transaction.atomic():
                checks.resume(server)
                audit.record(request, "resume", team_id=server.team_id, obj=server)
            return Response(self.get_serializer(self.get_queryset().get(pk=server.pk)).data)
        except Server.DoesNotExist:
            raise NotFound("The server was deleted meanwhile.") from None

    @extend_schema(parameters=[CertificateQuerySerializer], request=None, responses=CertificateCheckSerializer)
    @action(detail=True, methods=["get", "post"])
    def certificate(self, request: Request, pk: str | None = None) -> Response:
        """The latest TLS certificate check; POST or ``?refresh=1`` checks now (https servers)."""
        server = self.get_object()
        params = CertificateQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        if request.method == "POST" or params.validated_data["refresh"]:
            why = refusal(request.user, server.team_id)  # a check now, even by GET: a member's action
            if why:
                raise PermissionDenied(why)
            if not checks_certificate(server):
                return Response({"detail": NOT_HTTPS}, status=status.HTTP_400_BAD_REQUEST)
            # On the engine: no database connection is held while the handshake waits.
            [check] = engine.run_certificate_checks([(server, None)], concurrency=1) or [None]
            if check is None:
                return Response({"detail": "The server was deleted while it was checked."}, status=404)
            # A certificate check now is a "check" of the server; ``certificate`` tells it from a check now.
            changes = {"certificate": [None, "checked"]}
            audit.record(request, "check", team_id=server.team_id, obj=server, changes=changes)
            return Response(CertificateCheckSerializer(check).data)
        latest = CertificateCheck.objects.latest_for(server)
        if latest is None:
            return Response({"detail": "No certificate check yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(CertificateCheckSerializer(latest).data)


class PingResultViewSet(OwnedReadOnlyViewSet):
    queryset = PingResult.objects.all()
    serializer_class = PingResultSerializer
    filterset_class = PingResultFilterSet
    pagination_class = HistoryCursorPagination
    ordering_fields: list[str] = []  # the cursor fixes the order


class ServerStatusViewSet(OwnedReadOnlyViewSet):
    queryset = ServerStatus.objects.select_related("server")
    serializer_class = ServerStatusSerializer
    filterset_class = ServerStatusFilterSet
    ordering_fields = ["server", "status", "last_check", "uptime_percentage"]

    def get_queryset(self) -> QuerySet[ServerStatus]:
        queryset = super().get_queryset()
        if self.action == "list":  # what the payloads read; locations at once (ServerStatusListSerializer)
            return queryset.only(*payloads.STATUS_FIELDS)
        return queryset.prefetch_related(
            Prefetch("server__location_states", queryset=ServerLocation.objects.select_related("location"))
        )


class NotificationConfigViewSet(OwnedModelViewSet):
    queryset = NotificationConfig.objects.select_related("team").prefetch_related(
        Prefetch("servers", queryset=Server.objects.only("id"))
    )
    serializer_class = NotificationConfigSerializer
    filterset_class = NotificationConfigFilterSet
    ordering_fields = ["id", "notification_type", "recipient"]

    @extend_schema(request=None, responses=NotificationConfigSerializer)
    @action(detail=True, methods=["post"], url_path="attach-all")
    def attach_all(self, request: Request, pk: str | None = None) -> Response:
        """Attach the config to every server of its team (SPEC §18); an audited update."""
        config = self.get_object()
        with transaction.atomic():
            before = sorted(s.pk for s in config.servers.all())
            config.servers.set(Server.objects.filter(team_id=config.team_id))
            after = sorted(config.servers.values_list("pk", flat=True))
            if after != before:
                changes = audit.diff({"servers": before}, {"servers": after})
                audit.record(request, "update", team_id=config.team_id, obj=config, changes=changes)
        return Response(self.get_serializer(self.get_queryset().get(pk=config.pk)).data)

    @extend_schema(request=None, responses=SendTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a test message now and answer whether the receiver took it."""
        sent = delivery.send_test(self.get_object())
        delivered = sent.status == DeliveryStatus.SENT
        return Response({"delivered": delivered, "error": sent.last_error or None, "delivery": sent.pk})


class NotificationDeliveryViewSet(OwnedReadOnlyViewSet):
    queryset = NotificationDelivery.objects.select_related("config", "change", "certificate_check")
    serializer_class = NotificationDeliverySerializer
    filterset_class = NotificationDeliveryFilterSet
    ordering_fields = ["created_at", "next_attempt_at", "delivered_at", "id"]


class IncidentViewSet(OwnedReadOnlyViewSet):
    queryset = Incident.objects.select_related("server", "acknowledged_by")
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilterSet
    ordering_fields = ["started_at", "ended_at", "duration_seconds", "id"]

    @extend_schema(request=AcknowledgeSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def ack(self, request: Request, pk: str | None = None) -> Response:
        """Acknowledge the open incident (members and up): escalation and reminders stop (SPEC §18)."""
        incident = self.get_object()
        params = AcknowledgeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        note = params.validated_data["note"]
        try:
            with transaction.atomic():
                was_acked = incident.acknowledged_at is not None
                incident = escalation.acknowledge(incident.pk, user=request.user, by=_actor_name(request), note=note)
                if not was_acked:
                    changes = {"acknowledged_at": [None, payloads.iso(incident.acknowledged_at)], "note": [None, note]}
                    audit.record(request, "acknowledge", team_id=incident.server.team_id, obj=incident, changes=changes)
        except escalation.NotAcknowledgeable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(self.get_serializer(incident).data)


def _actor_name(request: Request) -> str:
    """Who acknowledged, as the timeline shows it: the user, or the API key's name."""
    key = getattr(request.user, "api_key", None)
    if key is not None:
        return f"API key {key.name}"
    return str(getattr(request.user, "username", "") or "")


class EscalationPolicyViewSet(OwnedModelViewSet):
    queryset = EscalationPolicy.objects.select_related("team", "owner").prefetch_related("servers")
    serializer_class = EscalationPolicySerializer
    filterset_class = EscalationPolicyFilterSet
    ordering_fields = ["name", "created_at", "id"]


class RunChecksView(APIView):
    """Staff only: run a pass now, synchronously, over ``server_ids`` or every active server."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=RunChecksSerializer, responses=RunChecksResultSerializer)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = RunChecksSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        servers = list(
            Server.objects.filter(pk__in=params.servers_to_check()).exclude(protocol=Protocol.PUSH).order_by("id")
        )
        summary = engine.run_once(servers)
        # One "check" row per server, in its own team: a pass spans teams, and each team's
        # admins see their servers' checks (one row naming a count would belong to no team).
        audit.record_many(request, "check", [(server.team_id, server) for server in servers])
        return Response(summary.as_dict())


class CheckSslView(APIView):
    """``GET /api/check-ssl/?url=https://host[:port]``: check a certificate now, store nothing."""

    @extend_schema(parameters=[CheckSslQuerySerializer], responses=CheckSslSerializer)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = CheckSslQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        target = params.validated_data["url"]
        if not connection.in_atomic_block:
            # The handshake may take CHECK_SSL_TIMEOUT: hold no database connection meanwhile (SPEC §23).
            connection.close()
        try:
            outcome = certificates.inspect(target["host"], target["port"], timeout=settings.CHECK_SSL_TIMEOUT)
        except net.PrivateAddressError as exc:
            return Response({"url": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {
                "valid": outcome.valid,
                "expiry_date": outcome.expires_at.isoformat() if outcome.expires_at else None,
                "days_remaining": outcome.days_remaining,
                "issuer": outcome.issuer,
                "subject": outcome.subject,
                "needs_renewal": outcome.needs_renewal,
                "error": outcome.error,
            }
        )


class CertificateCheckViewSet(OwnedReadOnlyViewSet):
    queryset = CertificateCheck.objects.completed().select_related("server")
    serializer_class = CertificateCheckSerializer
    filterset_class = CertificateCheckFilterSet
    ordering_fields = ["checked_at", "expires_at", "days_remaining", "server"]


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` (SPEC §14): a bearer METRICS_TOKEN when one is set, else loopback only.

    A team API key (Bearer or ``X-Api-Key``, SPEC §17) scrapes its team's series, from anywhere.
    """
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    is_token = (
        bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    )
    raw_key = None if is_token else keys.presented_key(request)
    if raw_key is not None:
        key = keys.find(raw_key)
        if key is None:
            response = HttpResponse(f"{keys.UNKNOWN}\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        keys.touch([key])
        return HttpResponse(metrics.render(team_id=key.team_id), content_type=CONTENT_TYPE_LATEST)
    if token:
        if not is_token:
            response = HttpResponse(
                "A bearer token is required (METRICS_TOKEN).\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _is_loopback(request.META.get("REMOTE_ADDR", "")):
        return HttpResponse(
            "Metrics answer loopback clients only; set METRICS_TOKEN to scrape from elsewhere.\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


class StatusPageViewSet(OwnedModelViewSet):
    # The logo's bytes are served by /status/<slug>/logo, never read here; subscriber_count in
    # the same query (confirmed ones, SPEC §21).
    queryset = (
        StatusPage.objects.select_related("team", "owner")
        .prefetch_related("servers")
        .defer("logo")
        .annotate(confirmed_subscribers=Count("subscribers", filter=Q(subscribers__confirmed_at__isnull=False)))
        .order_by("slug")  # a GROUP BY leaves Meta.ordering out
    )
    serializer_class = StatusPageSerializer
    filterset_class = StatusPageFilterSet
    ordering_fields = ["slug", "title", "created_at", "id"]


class MaintenanceWindowViewSet(OwnedModelViewSet):
    queryset = MaintenanceWindow.objects.select_related("team", "owner").prefetch_related("servers")
    serializer_class = MaintenanceWindowSerializer
    filterset_class = MaintenanceWindowFilterSet
    ordering_fields = ["name", "starts_at", "created_at", "id"]


class PushRateThrottle(CountedThrottle):
    """Pushes per push token, at PUSH_THROTTLE_RATE (read per request); made-up tokens count nothing."""

    def rate(self) -> str:
        return settings.PUSH_THROTTLE_RATE

    def key(self, request: Request, view: APIView) -> str | None:
        server = getattr(view, "server", None)
        return f"push:{server.pk}" if server is not None else None


PUSH_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A Healthchecks-style signal after the token (SPEC §19); an exit status is checked in the view.
PUSH_SIGNAL = r"start|fail|log|-?[0-9]{1,12}"


class PushView(APIView):
    """``GET``/``POST /api/push/<token>/``: a job reports that it ran (SPEC §11). No login: the
    token is the credential. Every answer is ``{"ok": …}``.

    Healthchecks-style signals (SPEC §19) at ``/api/push/<token>/<signal>`` and
    ``/ping/<token>[/<signal>]``: ``start``, ``fail``, ``log`` or an exit status (0–255). There the
    query string holds the parameters and a POST body is the job's output, its first 10 KiB kept
    with the result; on the plain ``/api/push/<token>/`` the body holds the parameters, as before.

    Under ASGI a push without a body (and not ``/start`` or ``/log``) never reaches this view:
    ``api.lean_push`` answers it the same way, written by a group commit.
    """

    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PushRateThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Find the monitor before the throttle runs: only a real one's pushes are counted.

        A token is token_urlsafe; anything else (a NUL, which PostgreSQL refuses in a query) is
        unknown before it reaches the database."""
        token = kwargs.get("token", "")
        if not PUSH_TOKEN.fullmatch(token):
            raise NotFound("No push monitor has this token.")
        self.server = Server.objects.filter(push_token=token, protocol=Protocol.PUSH).first()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        parameters=[PushSerializer],
        request=PushSerializer,
        responses={
            200: OpenApiResponse(description='{"ok": true}'),
            400: OpenApiResponse(description="bad parameters, or an exit status outside 0–255; nothing stored"),
            404: OpenApiResponse(description="unknown token"),
            409: OpenApiResponse(description="the monitor is paused; nothing stored"),
            503: OpenApiResponse(description="too many pushes right now; retry after Retry-After seconds"),
        },
    )
    def post(self, request: Request, token: str, signal: str | None = None) -> Response:
        server = self.server
        if waited(getattr(request._request, "scope", {})) > settings.PUSH_MAX_WAIT_SECONDS:
            # Queued so long that its client is giving up and will retry: storing it too would
            # count the run twice (core.shared_threads).
            response = Response({"ok": False, "detail": "Too many pushes right now; retry shortly."}, status=503)
            response["Retry-After"] = str(RETRY_AFTER)
            return response
        if server is None:
            return Response({"ok": False, "detail": "No push monitor has this token."}, status=404)
        code = None
        if signal is not None and signal not in ("start", "fail", "log"):
            code = int(signal)
            if not 0 <= code <= 255:
                detail = {"exit_status": ["An exit status is 0 to 255."]}
                return Response({"ok": False, **detail}, status=status.HTTP_400_BAD_REQUEST)
        # The plain push URL takes its parameters from the body too; a signal (and every /ping/
        # URL) only from the query string: its body is the job's output.
        as_params = signal is None and request.resolver_match.url_name in ("push", "push-bare")
        body = request.data if as_params else {}
        if not hasattr(body, "items"):
            detail = "Send parameters as a JSON object, a form or a query string."
            return Response({"ok": False, "detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        params = PushSerializer(data={**request.query_params.dict(), **dict(body.items())})
        if not params.is_valid():
            return Response({"ok": False, **params.errors}, status=status.HTTP_400_BAD_REQUEST)
        if not server.is_active:
            return Response({"ok": False, "detail": "This monitor is paused; the push was not stored."}, status=409)
        data = params.validated_data
        output = "" if as_params or request.method != "POST" else push.body_text(request._request.read(push.MAX_BODY))
        up, msg = data["status"] == "up", data["msg"]
        if signal == "start":
            push.record_start(server)
            return Response({"ok": True})
        if signal == "log":
            push.record_log(server, msg=msg, body=output)
            return Response({"ok": True})
        if signal == "fail":
            up = False
        elif code is not None:
            up, said = push.exit_status(code)
            msg = f"{said}: {msg}" if said and msg else said or msg
        push.record_push(server, up=up, msg=msg, ping=data["ping"], value=data["value"], body=output)
        return Response({"ok": True})

    @extend_schema(
        parameters=[PushSerializer], request=None, responses={200: OpenApiResponse(description='{"ok": true}')}
    )
    def get(self, request: Request, token: str, signal: str | None = None) -> Response:
        return self.post(request, token, signal)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(response.data, dict):
            response.data = {"ok": False, **response.data}
        return response


MAX_PUSH_BATCH = 1000


def _item_error(code: int, **detail: Any) -> dict[str, Any]:
    return {"ok": False, "status": code, **detail}


class PushBatchView(APIView):
    """``POST /api/push/``: a JSON list of up to MAX_PUSH_BATCH pushes ``{token, status, msg, ping,
    value}`` (SPEC §19), answered by a list of per-item results in the same order: ``{"ok": true}``
    or the item's error with the status a single push would get (``{"ok": false, "status": 404,
    "detail": …}``). One bad item never stops the others.

    1. Look up every token's monitor in one query.
    2. Count each item against its token's throttle (PUSH_THROTTLE_RATE), one upsert per token:
       the items past the limit answer 429.
    3. Check each item's parameters as a single push's (``PushSerializer``); a paused monitor's 409.
    4. Record the rest in one transaction (``push.record_pushes``).
    """

    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list[type] = []  # each item counts against its own token (step 2)

    @extend_schema(
        operation_id="push_batch",
        request={"application/json": {"type": "array", "maxItems": MAX_PUSH_BATCH, "items": {"type": "object"}}},
        responses={
            200: OpenApiResponse(description='one result per item, in order: {"ok": true} or the item\'s error'),
            400: OpenApiResponse(description="not a JSON list, or more than 1,000 items; nothing stored"),
            503: OpenApiResponse(description="too many pushes right now; retry after Retry-After seconds"),
        },
    )
    def post(self, request: Request) -> Response:
        if waited(getattr(request._request, "scope", {})) > settings.PUSH_MAX_WAIT_SECONDS:
            response = Response({"ok": False, "detail": "Too many pushes right now; retry shortly."}, status=503)
            response["Retry-After"] = str(RETRY_AFTER)
            return response
        items = request.data
        if not isinstance(items, list):
            detail = 'Send a JSON list of pushes: [{"token": …, "status": "up"}, …].'
            return Response({"ok": False, "detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        if len(items) > MAX_PUSH_BATCH:
            detail = f"At most {MAX_PUSH_BATCH} pushes in one request (got {len(items)})."
            return Response({"ok": False, "detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        answers: list[dict[str, Any]] = [{"ok": True} for _ in items]
        tokens = [item.get("token") if isinstance(item, dict) else None for item in items]
        wanted = {t for t in tokens if isinstance(t, str) and PUSH_TOKEN.fullmatch(t)}
        servers = {s.push_token: s for s in Server.objects.filter(push_token__in=wanted, protocol=Protocol.PUSH)}
        per_server: dict[int, list[int]] = {}
        for index, (item, token) in enumerate(zip(items, tokens, strict=True)):
            if not isinstance(item, dict):
                answers[index] = _item_error(400, detail="Each push is a JSON object with its token.")
            elif token is None:
                answers[index] = _item_error(400, token=["This field is required."])
            elif not isinstance(token, str) or token not in servers:
                answers[index] = _item_error(404, detail="No push monitor has this token.")
            else:
                per_server.setdefault(servers[token].pk, []).append(index)
        allowed, period = parse_rate(settings.PUSH_THROTTLE_RATE)
        for server_id, indexes in per_server.items():
            count, resets_at = hit(f"push:{server_id}", period, len(indexes))
            room = max(0, allowed - (count - len(indexes)))
            retry = max(1, int(resets_at - time.time()))
            for index in indexes[room:]:
                answers[index] = _item_error(429, detail=f"Too many pushes; retry after {retry} s.")
        pushes = []
        for index in sorted(i for indexes in per_server.values() for i in indexes):
            if not answers[index]["ok"]:
                continue
            server = servers[tokens[index]]
            params = PushSerializer(data={k: v for k, v in items[index].items() if k != "token"})
            if not params.is_valid():
                answers[index] = _item_error(400, **params.errors)
            elif not server.is_active:
                answers[index] = _item_error(409, detail="This monitor is paused; the push was not stored.")
            else:
                data = params.validated_data
                pushes.append(push.Push(server, data["status"] == "up", data["msg"], data["ping"], data["value"]))
        push.record_pushes(pushes)
        return Response(answers)


SIGNAL_PARAMETER = OpenApiParameter(
    "signal",
    str,
    OpenApiParameter.PATH,
    description="start, fail, log, or the job's exit status 0–255 (any other number: 400, nothing stored).",
)


@extend_schema_view(
    get=extend_schema(operation_id="api_push_signal_retrieve", parameters=[SIGNAL_PARAMETER]),
    post=extend_schema(
        operation_id="api_push_signal_create",
        parameters=[SIGNAL_PARAMETER],
        request={"text/plain": OpenApiTypes.STR},
    ),
)
class PushSignalView(PushView):
    """A Healthchecks-style signal (SPEC §19): parameters in the query string, a POST body is the
    job's output (its first 10 KiB kept with the result)."""


@extend_schema_view(get=extend_schema(exclude=True), post=extend_schema(exclude=True))
class PushAliasView(PushView):
    """The same push at another address (``/api/push/<token>`` without the slash, and Healthchecks'
    ``/ping/<token>[/<signal>]``): left out of the schema, which documents each push once."""
