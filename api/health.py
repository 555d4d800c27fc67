"""``GET /api/health/``: liveness and readiness of the database and the channel layer."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 2.0


# A row of the database cache's table (created by a migration whatever CACHE_TYPE says), written
# and committed by every health check: an expired entry, so the cache reads it as absent.
HEARTBEAT_TABLE = settings.DATABASE_CACHES["default"]["LOCATION"]
HEARTBEAT_KEY = "pulseguard:health:heartbeat"


def database_ok() -> bool:
    """Whether the database takes a committed write, not just a read.

    On a full disk (or a read-only file system or replica) ``SELECT 1`` still works while every
    check and every change fails, so health commits a one-row upsert: a commit is what needs
    the space (SQLite's WAL, PostgreSQL's WAL).
    """
    table = connection.ops.quote_name(HEARTBEAT_TABLE)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, '', %s) "
                "ON CONFLICT (cache_key) DO UPDATE SET expires = excluded.expires",
                [HEARTBEAT_KEY, timezone.now()],
            )
        return True
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready"
        log.warning("health database=failed error=%r", exc)
        return False


def channel_layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False

    async def probe() -> None:
        # A send to a group nobody joined is a real round trip to Redis, and free in memory.
        await asyncio.wait_for(layer.group_send("health", {"type": "health.ping"}), PROBE_TIMEOUT)

    try:
        async_to_sync(probe)()
        return True
    except Exception as exc:  # noqa: BLE001
        log.warning("health channel_layer=failed error=%r", exc)
        return False


class HealthView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "database": serializers.CharField(),
                "channel_layer": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        checks = {"database": database_ok(), "channel_layer": channel_layer_ok()}
        body = {"status": "ok" if all(checks.values()) else "error"}
        body.update({name: "ok" if ok else "failed" for name, ok in checks.items()})
        return Response(body, status=200 if all(checks.values()) else 503)
