"""Incident posts, their updates and announcements of a status page (SPEC §21)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from monitoring.choices import PostStatus
from monitoring.models import Announcement, IncidentPost, PostUpdate
from monitoring.models.posts import MAX_MESSAGE
from monitoring.services.statuspage_posts import create_post


class PageServerField(serializers.PrimaryKeyRelatedField):
    """Ids of servers the page shows (``context["page"]``); any other id "does not exist": a
    post names its servers in public, so only those already on the page."""

    def get_queryset(self) -> Any:
        return self.context["page"].shown_servers()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, int) and not -(2**63) <= data < 2**63:  # too big for the column: none has it
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class PostUpdateSerializer(serializers.ModelSerializer):
    message = serializers.CharField(max_length=MAX_MESSAGE, help_text="Markdown: paragraphs, emphasis, links, lists.")

    class Meta:
        model = PostUpdate
        fields = ["id", "status", "message", "created_at"]
        read_only_fields = ["created_at"]


class IncidentPostSerializer(serializers.ModelSerializer):
    """A post; on create, ``status`` and ``message`` make its first update. Afterwards its status
    changes only by a new update (``POST …/posts/{id}/updates/``)."""

    servers = PageServerField(many=True, required=False)
    status = serializers.ChoiceField(choices=PostStatus.choices, required=False)
    message = serializers.CharField(max_length=MAX_MESSAGE, write_only=True, required=False)
    updates = PostUpdateSerializer(many=True, read_only=True)

    class Meta:
        model = IncidentPost
        fields = [
            "id",
            "page",
            "title",
            "impact",
            "servers",
            "status",
            "message",
            "resolved_at",
            "updates",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["page", "resolved_at", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            errors = {
                name: ["This field is required when a post is created (its first update)."]
                for name in ("status", "message")
                if not attrs.get(name)
            }
            if errors:
                raise serializers.ValidationError(errors)
        else:
            errors = {
                name: ["Add an update instead: POST /api/status-pages/{id}/posts/{post_id}/updates/."]
                for name in ("status", "message")
                if name in attrs
            }
            if errors:
                raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> IncidentPost:
        return create_post(
            validated_data["page"],
            title=validated_data["title"],
            impact=validated_data.get("impact", IncidentPost._meta.get_field("impact").default),
            servers=validated_data.get("servers", []),
            status=validated_data["status"],
            message=validated_data["message"],
        )


class AnnouncementSerializer(serializers.ModelSerializer):
    notice = serializers.CharField(max_length=2000, help_text="Markdown: paragraphs, emphasis, links, lists.")

    class Meta:
        model = Announcement
        fields = ["id", "page", "notice", "starts_at", "ends_at", "created_at", "updated_at"]
        read_only_fields = ["page", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        starts = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts is not None and ends is not None and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        return attrs
