"""A team with one user per role, for the team API, invitation and page tests.

``ops``: alice owns it, ada is admin, mel member, vic viewer; charlie is in no team but his own
and bob is staff (both from the root conftest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from authentication.models import AuditEntry, Membership, Role, Team
from conftest import client_for


@dataclass
class Crew:
    team: Team
    users: dict[str, User]

    def client(self, who: str) -> APIClient:
        return client_for(self.users[who])

    def role(self, who: str) -> str | None:
        return Membership.objects.filter(team=self.team, user=self.users[who]).values_list("role", flat=True).first()


@pytest.fixture(name="crew")
def crew_fixture(alice: User, bob: User, charlie: User) -> Crew:
    team = Team.objects.create(name="Operations", slug="ops")
    users = {"owner": alice, "staff": bob, "stranger": charlie}
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    for who, name in (("admin", "ada"), ("member", "mel"), ("viewer", "vic")):
        users[who] = User.objects.create_user(name, f"{name}@example.com", f"{name}-password-1")
        Membership.objects.create(team=team, user=users[who], role=who)
    return Crew(team=team, users=users)


def audit_rows(action: str, **filters: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, **filters).order_by("id"))
