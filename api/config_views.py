"""``/api/config/export/`` and ``/api/config/import/`` (SPEC §16): the account as one JSON or YAML document."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.configuration import ConfigError, export_config, import_config
from api.parsers import AltYAMLParser, SafeJSONParser, TextYAMLParser, YAMLParser, dump_yaml
from api.permissions import named_team
from authentication import audit
from authentication.models import Role


class YAMLRenderer(BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return dump_yaml(data).encode("utf-8")


class FormatErrorMixin:
    """An unknown ``?format=`` is bad input (400), not a missing page."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)  # type: ignore[misc]
        except (Http404, NotFound) as exc:
            raise ValidationError({"format": ["Use json or yaml."]}) from exc


class ConfigExportView(FormatErrorMixin, APIView):
    renderer_classes = [JSONRenderer, YAMLRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "yaml"]), OpenApiParameter("team", str)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        """Your servers (with their notification configs), maintenance windows and status pages."""
        response = Response(export_config(request.user, named_team(request, Role.MEMBER)))
        extension = "yaml" if request.accepted_renderer.format == "yaml" else "json"
        response["Content-Disposition"] = f'inline; filename="pulseguard-config.{extension}"'
        return response


class ConfigImportView(APIView):
    # The project's JSON parser (deep nesting is a 400) and the bounded YAML loader.
    parser_classes = [SafeJSONParser, YAMLParser, AltYAMLParser, TextYAMLParser]

    @extend_schema(
        parameters=[OpenApiParameter("dry_run", bool), OpenApiParameter("team", str)],
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request) -> Response:
        """Upsert the document's objects, all or nothing; ``?dry_run=true`` only counts."""
        dry_run = request.query_params.get("dry_run", "false").lower() in {"1", "true", "yes"}
        team = named_team(request, Role.MEMBER)
        try:
            # One audit row per import, with its counts, written in the import's transaction.
            with transaction.atomic():
                counts = import_config(request.user, request.data, dry_run=dry_run, team=team)
                if not dry_run:
                    changes = {name: [None, count] for name, count in counts.items()}
                    name = f"configuration of {team.name}"
                    audit.record(
                        request, "import", team_id=team.pk, object_type="config", object_name=name, changes=changes
                    )
        except ConfigError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(counts)
