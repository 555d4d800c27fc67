"""``manage.py export_config --user NAME [--format yaml]``: print a user's configuration (SPEC §16)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.configuration import export_config
from api.parsers import dump_yaml


def find_user(username: str) -> Any:
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist as exc:
        raise CommandError(f"No user named {username!r}.") from exc


class Command(BaseCommand):
    help = "Print a user's servers, notification configs and status pages as JSON or YAML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Whose configuration.")
        parser.add_argument("--format", choices=["json", "yaml"], default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        doc = export_config(find_user(options["user"]))
        if options["format"] == "yaml":
            self.stdout.write(dump_yaml(doc), ending="")
        else:
            self.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False))
