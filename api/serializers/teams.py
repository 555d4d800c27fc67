"""Teams, their members and invitations (SPEC §17). The rules are ``authentication.memberships``'."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.fields import FormBooleansMixin
from authentication import teams
from authentication.models import Invitation, Membership, Role, Team
from authentication.models.teams import slug_validator


class TeamSerializer(FormBooleansMixin, serializers.ModelSerializer):
    # No UniqueValidator: a taken slug is refused by memberships with a message that says so.
    slug = serializers.CharField(
        max_length=50, required=False, validators=[slug_validator], help_text="Made from the name when left out."
    )
    role = serializers.SerializerMethodField(help_text="Your role in the team (none: staff seeing another team).")
    personal = serializers.SerializerMethodField(help_text="A user's personal team: it cannot be deleted.")

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "role", "personal", "require_two_factor", "created_at"]
        read_only_fields = ["created_at"]

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, team: Team) -> str | None:
        return teams.role_in(self.context["request"].user, team.pk)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_personal(self, team: Team) -> bool:
        return team.personal_for_id is not None


class MemberUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    user = MemberUserSerializer(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["user", "role", "joined_at"]
        read_only_fields = ["joined_at"]


class InvitationSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    invited_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = ["created_at", "expires_at"]

    def validate_email(self, value: str) -> str:
        return value.strip()
