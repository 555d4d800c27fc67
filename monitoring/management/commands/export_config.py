"""``manage.py export_config --user NAME [--team SLUG] [--format yaml]``: print a team's configuration
(SPEC §16; the user's personal team unless ``--team`` names one of the user's teams)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.configuration import export_config
from api.parsers import dump_yaml
from authentication.models import Team


def find_user(username: str) -> Any:
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist as exc:
        raise CommandError(f"No user named {username!r}.") from exc


def find_team(user: Any, slug: str | None) -> Team | None:
    """The team ``--team`` names, which ``user`` must be in (None: the user's personal team)."""
    if not slug:
        return None
    team = Team.objects.filter(slug=slug, memberships__user=user).first()
    if team is None:
        raise CommandError(f"{user.get_username()} is in no team with the slug {slug!r}.")
    return team


class Command(BaseCommand):
    help = "Print a team's servers, notification configs and status pages as JSON or YAML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Whose configuration.")
        parser.add_argument("--team", help="The slug of one of the user's teams (default: the personal team).")
        parser.add_argument("--format", choices=["json", "yaml"], default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        user = find_user(options["user"])
        doc = export_config(user, find_team(user, options["team"]))
        if options["format"] == "yaml":
            self.stdout.write(dump_yaml(doc), ending="")
        else:
            self.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False))
