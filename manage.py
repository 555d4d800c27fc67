#!/usr/bin/env python
"""Django's command-line utility; ENVIRONMENT picks the settings module."""

from __future__ import annotations

import os
import sys


def main() -> None:
    from django.core.exceptions import ImproperlyConfigured

    try:
        from core.env import settings_module

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings errors are the operator's to fix: say what and how, without a traceback.
        sys.exit(f"PulseGuard configuration error: {exc}")


if __name__ == "__main__":
    main()
