"""Status pages (SPEC §15)."""

from __future__ import annotations

from rest_framework import serializers

from api.serializers.fields import FormBooleansMixin, OwnedServerField, TagsField, TeamField
from monitoring.models import StatusPage


class StatusPageSerializer(FormBooleansMixin, serializers.ModelSerializer):
    servers = OwnedServerField(many=True, required=False)
    team = TeamField()
    tags = TagsField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "slug",
            "team",
            "title",
            "description",
            "servers",
            "tags",
            "is_public",
            "show_response_times",
            "publish_outages",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_url(self, page: StatusPage) -> str:
        return f"/status/{page.slug}/"
