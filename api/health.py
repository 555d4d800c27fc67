"""``GET /api/health/``: liveness and readiness of the database and the channel layer."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 2.0


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
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
