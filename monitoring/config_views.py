"""``/api/config/export/`` and ``/api/config/import/`` (SPEC §16): the account as one JSON or YAML document."""

from __future__ import annotations

from typing import Any

import yaml
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.configuration import ConfigError, export_config, import_config

MAX_DOCUMENT_BYTES = 5_000_000


class YAMLParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ParseError(f"The document is larger than {MAX_DOCUMENT_BYTES // 1_000_000} MB.")
        try:
            return yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ParseError(f"YAML parse error - {exc}") from exc


class AltYAMLParser(YAMLParser):
    media_type = "application/x-yaml"


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class YAMLRenderer(BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


class FormatErrorMixin:
    """An unknown ``?format=`` is bad input (400), not a missing page."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)  # type: ignore[misc]
        except (Http404, NotFound) as exc:
            raise ValidationError({"format": ["Use json or yaml."]}) from exc


class ConfigExportView(FormatErrorMixin, APIView):
    renderer_classes = [JSONRenderer, YAMLRenderer]

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=["json", "yaml"])], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        """Your servers (with their notification configs), maintenance windows and status pages."""
        response = Response(export_config(request.user))
        extension = "yaml" if request.accepted_renderer.format == "yaml" else "json"
        response["Content-Disposition"] = f'inline; filename="pulseguard-config.{extension}"'
        return response


class ConfigImportView(APIView):
    parser_classes = [JSONParser, YAMLParser, AltYAMLParser, TextYAMLParser]

    @extend_schema(
        parameters=[OpenApiParameter("dry_run", bool)], request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT
    )
    def post(self, request: Request) -> Response:
        """Upsert the document's objects, all or nothing; ``?dry_run=true`` only counts."""
        dry_run = request.query_params.get("dry_run", "false").lower() in {"1", "true", "yes"}
        try:
            counts = import_config(request.user, request.data, dry_run=dry_run)
        except ConfigError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(counts)
