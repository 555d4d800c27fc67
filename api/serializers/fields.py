"""Fields and rules the API's serializers share: ids, tags, owned servers, form booleans, private URLs."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty

from monitoring.models import (
    MaintenanceWindow,
    NotificationConfig,
    Server,
    StatusPage,
)
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


class OwnedServerField(serializers.PrimaryKeyRelatedField):
    """Ids of servers that belong to the owner of the object being written.

    The owner is the requesting user for a new object, and the object's owner for an edit (so
    staff editing a user's window pick among that user's servers, never their own). Any other
    id, another user's or one that does not exist, gets the same "does not exist" error: an id
    tells nobody whether another account has it."""

    def get_queryset(self) -> Any:
        return Server.objects.filter(owner_id=self.owner_id())

    def owner_id(self) -> int:
        instance = self.root.instance
        if isinstance(instance, NotificationConfig):
            return instance.server.owner_id
        if isinstance(instance, (StatusPage, MaintenanceWindow)):
            return instance.owner_id
        return self.context["request"].user.pk
