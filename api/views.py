"""Thin viewsets: querysets, serializers, filtersets and actions; rules live in services."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import QuerySet
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
from authentication.throttle import CountedThrottle
from core.shared_threads import RETRY_AFTER, waited
from monitoring import payloads
from monitoring.choices import DeliveryStatus, Protocol
from monitoring.models import (
    CertificateCheck,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    Server,
    ServerStatus,
    StatusPage,
)
from monitoring.services import net
from monitoring.services.alerts import delivery
from monitoring.services.engine import certificates, checks, push
from monitoring.services.engine.certificates import NOT_HTTPS, checks_certificate
from monitoring.services.history import metrics
from monitoring.services.history.charts import history
from monitoring.services.history.uptime import uptime
from monitoring.tasks import engine


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
        # A list shows every server's depends_on: one query for the page, not one per server.
        return queryset.prefetch_related("depends_on") if self.action == "list" else queryset

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
        """Uptime, response-time percentiles and incidents over ``window`` (24h, 7d, 30d, 90d)."""
        params = UptimeQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(uptime(self.get_object(), params.validated_data["window"]))

    @extend_schema(parameters=[UptimeQuerySerializer], responses=HistorySerializer)
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Checks, failures and response times in buckets for charts: 5 min (24h), 1 h (7d, 30d), 1 day (90d)."""
        params = UptimeQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        report = history(self.get_object(), params.validated_data["window"])
        # The buckets are plain dicts already: rendering them field by field through
        # HistorySerializer (the schema) was half of a 30-day chart's cost (720 × 8 fields).
        buckets = [{**bucket, "start": payloads.iso(bucket["start"])} for bucket in report["buckets"]]
        return Response({**report, "buckets": buckets})

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


class NotificationConfigViewSet(OwnedModelViewSet):
    queryset = NotificationConfig.objects.select_related("server")
    serializer_class = NotificationConfigSerializer
    filterset_class = NotificationConfigFilterSet
    ordering_fields = ["id", "server", "notification_type"]

    @extend_schema(request=None, responses=SendTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a test message now and answer whether the receiver took it."""
        sent = delivery.send_test(self.get_object())
        delivered = sent.status == DeliveryStatus.SENT
        return Response({"delivered": delivered, "error": sent.last_error or None, "delivery": sent.pk})


class NotificationDeliveryViewSet(OwnedReadOnlyViewSet):
    queryset = NotificationDelivery.objects.select_related("config")
    serializer_class = NotificationDeliverySerializer
    filterset_class = NotificationDeliveryFilterSet
    ordering_fields = ["created_at", "next_attempt_at", "delivered_at", "id"]


class IncidentViewSet(OwnedReadOnlyViewSet):
    queryset = Incident.objects.select_related("server")
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilterSet
    ordering_fields = ["started_at", "ended_at", "duration_seconds", "id"]


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
    queryset = StatusPage.objects.select_related("team", "owner").prefetch_related("servers")
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
        push.record_push(server, up=up, msg=msg, ping=data["ping"], body=output)
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
