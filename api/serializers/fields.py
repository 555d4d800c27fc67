"""Fields and rules the API's serializers share: ids, tags, owned servers, form booleans, private URLs."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from rest_framework import serializers
from rest_framework.fields import empty

from authentication.models import Role, Team
from authentication.teams import default_team, role_in, roles
from monitoring.models import (
    MaintenanceWindow,
    NotificationConfig,
    Server,
    StatusPage,
)
from monitoring.models.base import visible_team_ids
from monitoring.services import net
from monitoring.validators import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    validate_tags,
)

MAX_ID = 2**63 - 1  # BigAutoField


E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def private_address_message(host: str) -> str:
    """What a server host or a webhook URL aimed at a private or reserved address is told."""
    return (
        f"{host} is a private or reserved address; this installation does not monitor those "
        "(MONITOR_ALLOW_PRIVATE_TARGETS=false)."
    )


def refuse_private_url(url: str) -> None:
    """Refuse a webhook URL whose host is, or resolves to, a private or reserved address.

    The guard refuses it again at every send (a name may change what it resolves to); this
    answers at creation instead of letting the config fail at its first alert. A name that
    does not resolve yet is left to the send-time guard.
    """
    if settings.MONITOR_ALLOW_PRIVATE_TARGETS:
        return
    host = urlsplit(url).hostname or ""
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        if net.is_private(literal):
            raise serializers.ValidationError(private_address_message(host))
        return
    try:
        net.resolve(host, 443)
    except net.PrivateAddressError:
        raise serializers.ValidationError(private_address_message(host)) from None
    except OSError:
        pass


class FormBooleansMixin:
    """An HTML form (the browsable API) sends no value for an unticked checkbox; DRF reads that
    as ``False``, which created servers paused with alerts and TLS checks off. Here an omitted
    boolean takes the model default instead, as in JSON (an explicit ``false`` still counts)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        for field in fields.values():
            if isinstance(field, serializers.BooleanField):
                field.default_empty_html = empty
        return fields


class TagsField(serializers.ListField):
    """The tags of a server, a status page or a maintenance window: tokens, deduplicated in order.

    The model's ``validate_tags`` is the rule; the child field turns a null or a nested value
    into a per-item error first."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(
            child=serializers.CharField(max_length=MAX_TAG_LENGTH),
            max_length=MAX_TAGS,
            validators=[validate_tags],
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[str]:
        return list(dict.fromkeys(super().to_internal_value(data)))


class TeamField(serializers.SlugRelatedField):
    """``team``: the slug of one of the caller's teams (staff: any). Absent on a create, the
    object goes to the caller's default team (``teams.default_team``); an object never moves to
    another team (export it and import it there)."""

    default_error_messages = {
        "does_not_exist": "You are in no team with the slug {value}.",
        "invalid": "A team is named by its slug (text).",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "The slug of the team it belongs to (default: your personal team).")
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self) -> Any:
        teams = visible_team_ids(self.context["request"].user)
        return Team.objects.all() if teams is None else Team.objects.filter(pk__in=teams)

    def to_internal_value(self, data: Any) -> Team:
        if isinstance(data, str) and "\x00" in data:  # PostgreSQL takes no NUL in a query: never a slug
            self.fail("does_not_exist", value=data.replace("\x00", "\\0"))
        team = super().to_internal_value(data)
        instance = self.root.instance
        if isinstance(instance, models.Model) and getattr(instance, "team_id", team.pk) != team.pk:
            raise serializers.ValidationError("An object cannot move to another team: export it and import it there.")
        return team


REDACTED = "••••"


def reads_only(serializer: serializers.BaseSerializer[Any], team_id: int | None) -> bool:
    """Whether the caller is a ``viewer`` of the team (a read key is one too): it never sees a
    secret, a push URL or an API key (SPEC §17). Staff and the team's members see them."""
    request = serializer.context.get("request")
    user = getattr(request, "user", None)
    if user is None or getattr(user, "is_staff", False):
        return False
    return role_in(user, team_id) in (None, Role.VIEWER)


def target_team_id(root: serializers.BaseSerializer[Any]) -> int | None:
    """The team a serializer writes into: the object's for an edit, else the one the request names."""
    instance = root.instance
    if isinstance(instance, (StatusPage, MaintenanceWindow, Server, NotificationConfig)):
        return instance.team_id
    if root.context.get("team") is not None:  # an import: the whole document goes to one team
        return root.context["team"].pk
    user = root.context["request"].user
    slug = root.initial_data.get("team") if isinstance(getattr(root, "initial_data", None), dict) else None
    if isinstance(slug, str) and slug:
        visible = Team.objects.filter(slug=slug)
        teams = visible_team_ids(user)
        return (visible if teams is None else visible.filter(pk__in=teams)).values_list("pk", flat=True).first()
    team = default_team(user)
    return team.pk if team is not None else None


class OwnedServerField(serializers.PrimaryKeyRelatedField):
    """Ids of servers of the team of the object being written (``target_team_id``).

    A new notification config may name its team by its servers: it may pick servers of any
    team the caller is in (its serializer then checks they are all of the config's team). Any
    other id, another team's or one that does not exist, gets the same "does not exist" error:
    an id tells nobody whether another team has it."""

    def get_queryset(self) -> Any:
        root = self.root
        if getattr(root.Meta, "model", None) is NotificationConfig and root.instance is None:
            # The servers of the caller's own teams (staff too: they see others', never pick them).
            return Server.objects.filter(team_id__in=list(roles(self.context["request"].user)))
        return Server.objects.filter(team_id=target_team_id(root))


class OwnedConfigField(serializers.PrimaryKeyRelatedField):
    """Ids of notification configs of the team of the server being written (SPEC §18)."""

    def get_queryset(self) -> Any:
        return NotificationConfig.objects.filter(team_id=target_team_id(self.root))
