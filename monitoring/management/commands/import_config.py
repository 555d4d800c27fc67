"""``manage.py import_config FILE --user NAME [--team SLUG] [--dry-run]``: import a configuration (SPEC §16)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.configuration import ConfigError, import_config
from api.parsers import describe_yaml_error, load_yaml
from monitoring.management.commands.export_config import find_team, find_user


class Command(BaseCommand):
    help = "Import servers, notification configs and status pages from a JSON or YAML file ('-' reads stdin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A JSON or YAML document as export_config writes it, or '-'.")
        parser.add_argument("--user", required=True, help="Who imports (the audit log's actor).")
        parser.add_argument("--team", help="The slug of one of the user's teams (default: the personal team).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = find_user(options["user"])
        team = find_team(user, options["team"])
        try:
            text = sys.stdin.read() if options["file"] == "-" else Path(options["file"]).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from exc
        try:
            doc = load_yaml(text)  # YAML is a superset of JSON; bounded as the API's import is
        except yaml.YAMLError as exc:
            raise CommandError(f"Cannot read {options['file']}: {describe_yaml_error(exc)}") from exc
        try:
            counts = import_config(user, doc, dry_run=options["dry_run"], team=team)
        except ConfigError as exc:
            raise CommandError("Nothing was imported; fix these errors:\n" + json.dumps(exc.errors, indent=2)) from exc
        prefix = "Dry run, nothing written: would have " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}created {counts['created']}, updated {counts['updated']}, unchanged {counts['unchanged']}"
        )
