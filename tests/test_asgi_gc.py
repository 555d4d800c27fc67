"""The web worker's startup objects are frozen out of the garbage collector (issue 20).

Without the freeze, every full collection walks the ~170,000 objects Django, DRF and the apps
leave behind at import, and the request that triggers it pays tens to hundreds of milliseconds
(profiled at 10,000 servers: docs/PERFORMANCE.md, "Issue 20: web workers").
"""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

from conftest import subprocess_env

PROBE = """
import gc
import core.asgi
import django.urls
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_importing_the_asgi_application_freezes_what_startup_loaded() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen, tracked = map(int, result.stdout.split())
    # The URLconf (every view module) is loaded before the freeze, so nearly everything is frozen.
    assert frozen > 50_000
    assert tracked < frozen / 10
