"""Dashboard at size (SPEC §16, issue 11): first paint with 5,000 servers, and the page's
responsiveness while live updates arrive at 100 checks a second.

1. Builds a fresh SQLite database (a temporary file) with one user owning N servers (default
   5,000), each with a status, and starts daphne on 127.0.0.1 against it.
2. Logs in with headless Chromium (Playwright) and loads ``/`` R times (default 5): reports
   first contentful paint, DOMContentLoaded and the HTML's response time (median and max).
3. Feeds the page's live-frame entry point (``PGDashboard.onMessage``, what the WebSocket
   handler calls) with synthetic ``update`` frames for the servers on the page, 100 a second
   for D seconds (default 10), while a requestAnimationFrame loop records frame gaps and a
   PerformanceObserver records long tasks (> 50 ms); then times a click on a row's link to
   the next frame. The transport itself (commit → socket) is measured by bench/live_latency.py.

4. With ``--old DIR`` (a checkout of the previous design, e.g. ``git archive COMMIT | tar -x -C
   DIR``), that tree's daphne serves the same database on the next port and every page load is
   made on both in turns, so both are measured in the same minutes of a shared machine. Besides
   ``/`` it loads the filtered lists an operator uses (``--paths``: a status filter, a search, a
   tag filter on a deep page), and ``--screenshot FILE`` saves this tree's first page.

    .venv/bin/python bench/dashboard_paint.py [--servers 5000] [--runs 5] [--seconds 10] [--port 8111]
    .venv/bin/python bench/dashboard_paint.py --servers 50000 --runs 3 --old /tmp/prev --screenshot /tmp/dash.png
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def build_database(path: str, servers: int) -> dict[str, str]:
    """Migrate the database at ``path`` and, unless it has servers already (``--database`` kept
    from an earlier run of the same size), add the bench user and its servers."""
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{path}", ENVIRONMENT="development", LOG_LEVEL="warning")
    had = Path(path).exists()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)
    if had:
        return env
    script = f"""
from django.contrib.auth.models import User
from django.utils import timezone
from monitoring.models import Server, ServerStatus
user = User.objects.create_user("bench", "bench@example.com", "bench-password-1")
now = timezone.now()
words = ["up", "up", "up", "down", "degraded"]
rows = Server.objects.bulk_create(
    [Server(owner=user, team=user.personal_team, name=f"srv-{{i:05d}}", host=f"h{{i}}.example.com",
            tags=["prod"] if i % 2 else ["dev"], status=words[i % 5]) for i in range({servers})], batch_size=1000)
ServerStatus.objects.bulk_create(
    [ServerStatus(server=s, status=s.status, uptime_percentage=99.5, last_check=now, last_response_time=42.0,
                  total_checks=100, failed_checks=1, last_status_change=now) for s in rows], batch_size=1000)
"""
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=BASE_DIR, env=env, check=True)
    return env


@contextlib.contextmanager
def daphne(env: dict[str, str], port: int, tree: Path = BASE_DIR):
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"],
        cwd=tree, env=dict(env, PYTHONPATH=str(tree)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):  # refused, or too slow on a busy machine
                if requests.get(f"{base}/api/health/", timeout=10).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


LIVE_LOAD = (Path(__file__).parent / "dashboard_live_load.js").read_text()


PAINT = (
    "() => new Promise(done => new PerformanceObserver((list, obs) => {"
    " const p = list.getEntriesByName('first-contentful-paint')[0]; if (!p) return; obs.disconnect();"
    " const n = performance.getEntriesByType('navigation')[0];"
    " done({fcp: p.startTime, dcl: n.domContentLoadedEventEnd, ttfb: n.responseEnd});"
    " }).observe({type: 'paint', buffered: true}))"
)
PATHS = "/,/?status=down,/?search=srv-01234,/?tag=prod&page=200"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--port", type=int, default=8111, help="this tree's port; the previous design's is the next")
    parser.add_argument("--old", type=Path, help="a checkout of the previous design, loaded in turns")
    parser.add_argument("--old-label", default="previous")
    parser.add_argument("--paths", default=PATHS, help=f"comma-separated pages to load (default {PATHS})")
    parser.add_argument("--screenshot", type=Path, help="save this tree's first page here (PNG)")
    parser.add_argument("--database", type=Path, help="an SQLite file to keep (built if missing, else reused)")
    opts = parser.parse_args()
    from playwright.sync_api import sync_playwright

    designs = [("this tree", BASE_DIR, opts.port)]
    if opts.old:
        designs.append((opts.old_label, opts.old.resolve(), opts.port + 1))
    paths = opts.paths.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        env = build_database(str(opts.database or Path(tmp) / "bench.sqlite3"), opts.servers)
        print(f"built {opts.servers} servers in {time.monotonic() - t0:.1f} s")
        with contextlib.ExitStack() as stack, sync_playwright() as pw:
            bases = {label: stack.enter_context(daphne(env, port, tree)) for label, tree, port in designs}
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = {}
            for label, base in bases.items():
                page = pages[label] = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{base}/accounts/login/")
                page.fill("input[name=username]", "bench")
                page.fill("input[name=password]", "bench-password-1")
                page.click("[type=submit]")
                page.wait_for_selector("tr[data-server-id]")
            timings: dict[tuple[str, str], list[dict[str, float]]] = {}
            for _ in range(opts.runs):
                for path in paths:
                    for label, base in bases.items():
                        pages[label].goto(f"{base}{path}", wait_until="load")
                        timings.setdefault((label, path), []).append(pages[label].evaluate(PAINT))
            for label, base in bases.items():
                page = pages[label]
                page.goto(f"{base}/", wait_until="load")
                rows = page.locator("tr[data-server-id]").count()
                print(f"{label}: rows on the first page: {rows} ({page.locator('.pager span').inner_text()})")
            if opts.screenshot:
                pages[designs[0][0]].screenshot(path=str(opts.screenshot), full_page=False)
                print(f"screenshot: {opts.screenshot}")
            for path in paths:
                for label, _, _ in designs:
                    runs = timings[(label, path)]
                    print(
                        f"{path} {label}: "
                        + "; ".join(
                            f"{name} median {statistics.median(t[key] for t in runs):.0f} ms, "
                            f"max {max(t[key] for t in runs):.0f} ms"
                            for key, name in (("fcp", "first contentful paint"), ("ttfb", "HTML received"))
                        )
                        + f" ({len(runs)} loads)"
                    )
                if opts.old:
                    new, old = (statistics.median(t["fcp"] for t in timings[(label, path)]) for label, _, _ in designs)
                    print(f"{path} ratio (first paint, this tree / {opts.old_label}): {new / old:.2f}x")
            for label, base in bases.items():
                page = pages[label]
                page.goto(f"{base}/", wait_until="load")
                live = page.evaluate(LIVE_LOAD, [opts.rate, opts.seconds])
                print(
                    f"{label} live: {live['sent']} updates in {opts.seconds:.0f} s ({opts.rate}/s); "
                    f"{live['frames']} frames, frame gap p50 {live['gap_p50']:.1f} ms, p99 {live['gap_p99']:.1f} ms, "
                    f"max {live['gap_max']:.1f} ms; long tasks {live['long_tasks']} "
                    f"(max {live['long_task_max']:.0f} ms); click to next frame {live['click_to_frame']:.1f} ms"
                )
            browser.close()


if __name__ == "__main__":
    main()
