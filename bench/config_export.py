"""Config export at size: seconds to export N servers (each with a notification config) as JSON and YAML.

Makes a fresh SQLite database in a temporary directory (``migrate``), one user with ``--servers``
https servers (each with one e-mail config, in bulk), a status page and a maintenance window naming
all of them, then times ``export_config`` and both renderings, and the number of queries; then
parsing the YAML back and importing it as a dry run (everything unchanged).

    .venv/bin/python bench/config_export.py --servers 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.development")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=5000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.renderers import JSONRenderer

    from api.config_views import YAMLRenderer
    from api.configuration import export_config, import_config
    from api.parsers import load_yaml
    from monitoring.models import MaintenanceWindow, NotificationConfig, Server, ServerStatus, StatusPage

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-password-1")
    servers = Server.objects.bulk_create(
        Server(
            owner=user,
            team=user.personal_team,
            name=f"web-{i:05d}",
            protocol="https",
            host=f"web{i}.example.com",
            tags=["prod"],
        )
        for i in range(args.servers)
    )
    ServerStatus.objects.bulk_create(ServerStatus(server=s) for s in servers)
    NotificationConfig.objects.create(
        team_id=servers[0].team_id, notification_type="email", recipient="ops@example.com"
    ).servers.set(servers)
    StatusPage.objects.create(owner=user, slug="bench", title="Bench").servers.set(servers)
    MaintenanceWindow.objects.create(
        owner=user, name="Once", starts_at="2026-12-24T10:00:00Z", ends_at="2026-12-24T12:00:00Z"
    ).servers.set(servers)

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        doc = export_config(user)
        built = time.perf_counter() - started
    started = time.perf_counter()
    as_json = JSONRenderer().render(doc)
    json_seconds = time.perf_counter() - started
    started = time.perf_counter()
    as_yaml = YAMLRenderer().render(doc)
    yaml_seconds = time.perf_counter() - started
    print(
        f"{args.servers} servers: document {built:.2f} s ({len(queries)} queries), "
        f"JSON +{json_seconds:.2f} s ({len(as_json) / 1e6:.1f} MB), YAML +{yaml_seconds:.2f} s "
        f"({len(as_yaml) / 1e6:.1f} MB): YAML export {built + yaml_seconds:.2f} s"
    )
    started = time.perf_counter()
    parsed = load_yaml(as_yaml.decode())
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    counts = import_config(user, parsed, dry_run=True)
    print(f"YAML parse {parse_seconds:.2f} s, import (dry run) {time.perf_counter() - started:.2f} s: {counts}")


if __name__ == "__main__":
    main()
