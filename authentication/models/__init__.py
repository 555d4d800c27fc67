"""Accounts and teams: who may act, in which team, with which role, and what they did."""

from authentication.models.accounts import OidcIdentity, RecoveryCode, TwoFactor
from authentication.models.audit import AuditEntry
from authentication.models.counters import RateCounter
from authentication.models.keys import ApiKey
from authentication.models.teams import ROLE_RANK, Invitation, Membership, Role, Team

__all__ = [
    "ROLE_RANK",
    "ApiKey",
    "AuditEntry",
    "Invitation",
    "Membership",
    "OidcIdentity",
    "RateCounter",
    "RecoveryCode",
    "Role",
    "Team",
    "TwoFactor",
]
