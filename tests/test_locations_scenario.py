"""Issue 18's "done when" (SPEC §20), played with real processes on this machine.

One central server (daphne and ``start_scheduler`` on this test's database), three probe agents
(``manage.py run_agent`` subprocesses, each its own location, with a DATABASE_URL that points
nowhere: they hold nothing but their token), a local HTTP target that answers 503 only to the
User-Agent of the locations it is told to block (``PulseGuard/<version> (+<slug>)``), and a
local webhook receiver for the alerts. Everything is set up through the REST API, as a new user
would. The scenario, in order:

1. Servers checked from the three places with a quorum of 2 are UP; one place blocked makes the
   server DEGRADED "down from 1 of 3 locations: <name>", two make it DOWN with one DOWN alert.
2. An agent killed with kill -9 and started again: the checks it had leased are claimed again
   once the lease ends, none lost.
3. An agent stopped: one "location offline" alert (AGENT_STALE_SECONDS is 5 here), and one
   "online" when it is back.
4. The central server stopped for 30 s while the agents run: they buffer, and afterwards, per
   (server, location), the check times follow the schedule with no gap beyond an interval and
   no check twice.

And the same set-up walked in Chromium, running exactly the command the web UI shows.

The agents check every INTERVAL seconds (``run_agent --interval``), so the schedule is short.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import pytest
import requests
from django.conf import settings

from conftest import subprocess_env
from monitoring.models import PingResult, ProbeLocation
from tests.targets import LocalHTTPServer, free_port
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.test_web_browser import shoot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]

ROOT = Path(settings.BASE_DIR)
INTERVAL = 5  # seconds between an agent's checks of a server (run_agent --interval)
LEASE = 3  # CHECK_LEASE_SECONDS on the central server (the least it takes)
# AGENT_STALE_SECONDS: short, but longer than the 5 s between two notes of an agent being heard
# (services.locations.agents.TOUCH_EVERY), or a live agent's location flaps offline.
STALE = 15
OUTAGE = 30.0  # seconds the central server is away
WAIT = 30.0  # the most any single step may take (a loaded 2-core machine)
START = 90.0  # the most a process may take to start (three at once import Django on 2 busy cores)
#: Where the three agents run: (slug, name).
PLACES = [("fra", "Frankfurt"), ("tyo", "Tokyo"), ("iad", "Virginia")]
SERVERS = ["shop", "api", "blog"]  # "shop" is the one blocked; the others are counted
PASSWORD = "a-long-passphrase-42"
#: A database an agent could never use (nothing listens on port 9): the agents touch none.
NOWHERE = "postgres://nobody@127.0.0.1:9/nowhere"
AGENT_AGENT = re.compile(r"^PulseGuard/\S+ \(\+([a-z0-9-]+)\)$")


class PlacesTarget:
    """The monitored sites: ``/<name>`` answers 200, or 503 to a location ``block``ed there.

    The location is read from the probe's User-Agent; a request without one answers 400, so a
    probe that stopped naming its location fails loudly.
    """

    def __init__(self) -> None:
        self.blocked: dict[str, set[str]] = {}
        self.seen: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = AGENT_AGENT.match(self.headers.get("User-Agent", ""))
                path = self.path.split("?", 1)[0]
                if found is None:
                    code = 400
                else:
                    outer.seen.add(found.group(1))
                    code = 503 if found.group(1) in outer.blocked.get(path, set()) else 200
                body = b"blocked here" if code == 503 else b"ok"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def block(self, path: str, *slugs: str) -> None:
        self.blocked[path] = set(slugs)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``condition`` until it answers something true (which is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(requests.RequestException):
            held = condition()
            if held:
                return held
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g}s")
        time.sleep(0.2)


class Process:
    """A subprocess whose output goes to a temporary file, shown when the test fails."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log: IO[bytes] = tempfile.NamedTemporaryFile(prefix="pulseguard-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def output(self) -> str:
        """What it wrote so far (read through its own handle: the process's offset stays as it is)."""
        return Path(self.log.name).read_text(errors="replace")


class World:
    """The central server, the agents, the target and the webhook receiver of one scenario."""

    def __init__(self, target: PlacesTarget, hook: LocalHTTPServer) -> None:
        self.target = target
        self.hook = hook
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = subprocess_env(
            MONITOR_ALLOW_PRIVATE_TARGETS="true",
            NOTIFICATION_SEND_INTERVAL="1",
            NOTIFICATION_COOLDOWN_MINUTES="0",
            CHECK_LEASE_SECONDS=str(LEASE),
            AGENT_STALE_SECONDS=str(STALE),
            AUTH_THROTTLE_RATE="1000/minute",
            LOG_LEVEL="warning",
        )
        self.processes: list[Process] = []
        self.web: Process | None = None
        self.scheduler: Process | None = None
        self.agents: dict[str, Process] = {}
        self.tokens: dict[str, str] = {}
        self.api = requests.Session()

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        process = Process(name, args, env)
        self.processes.append(process)
        return process

    def start_web(self) -> None:
        self.web = self.spawn(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "core.asgi:application"],
            self.env,
        )
        wait_for(
            lambda: requests.get(f"{self.base}/api/health/", timeout=5).status_code == 200, "daphne answering", START
        )

    def start_scheduler(self) -> None:
        self.scheduler = self.spawn(
            "scheduler", [sys.executable, "manage.py", "start_scheduler", "--tick", "0.5"], self.env
        )

    def start_agent(self, slug: str) -> Process:
        """``run_agent`` for ``slug``, with nothing but the URL and the token (and a short interval);
        ``ready`` waits until it runs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "CHANNEL"))}
        env.update(DATABASE_URL=NOWHERE, ENVIRONMENT="development", MONITOR_ALLOW_PRIVATE_TARGETS="true")
        args = ["manage.py", "run_agent", "--url", self.base, "--token", self.tokens[slug]]
        self.agents[slug] = self.spawn(
            f"agent {slug}", [sys.executable, *args, "--interval", str(INTERVAL), "--tick", "0.5"], env
        )
        return self.agents[slug]

    def ready(self, slug: str) -> None:
        agent = self.agents[slug]
        wait_for(lambda: "running against" in agent.output() or agent.proc.poll() is not None, f"agent {slug}", START)
        assert agent.proc.poll() is None, agent.output()

    def call(self, method: str, where: str, /, **body: Any) -> Any:
        response = self.api.request(method, f"{self.base}{where}", json=body or None, timeout=WAIT)
        assert response.status_code < 300, f"{method} {where}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def sign_up(self) -> None:
        name = f"ops-{uuid.uuid4().hex[:8]}"
        self.call("POST", "/api/auth/register/", username=name, email=f"{name}@example.com", password=PASSWORD)
        access = self.call("POST", "/api/auth/token/", username=name, password=PASSWORD)["access"]
        self.api.headers["Authorization"] = f"Bearer {access}"

    def status(self, server: dict) -> dict:
        return self.call("GET", f"/api/servers/{server['id']}/")

    def alerts(self, event: str, **fields: Any) -> list[dict]:
        bodies = [r.json() for r in list(self.hook.requests) if r.path == "/hook"]
        return [b for b in bodies if b.get("event") == event and all(b.get(k) == v for k, v in fields.items())]

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop(signal.SIGKILL if process.name.startswith("agent") else signal.SIGTERM)
        for process in self.processes:
            print(f"--- {process.name} (exit {process.proc.returncode}) ---\n{process.output()[-3000:]}")
            process.log.close()


@pytest.fixture
def world() -> Iterator[World]:
    target = PlacesTarget()
    with LocalHTTPServer() as hook:
        hook.set("/hook", 200, "thanks")
        world = World(target, hook)
        try:
            yield world
        finally:
            world.close()
            target.close()


def check_times(server: dict, slug: str, since: datetime, until: datetime) -> list[datetime]:
    return sorted(
        PingResult.objects.filter(
            server_id=server["id"], location__slug=slug, check_timestamp__gte=since, check_timestamp__lte=until
        ).values_list("check_timestamp", flat=True)
    )


def server_status(world: World, server: dict) -> tuple[str, str]:
    found = world.status(server)
    return found["status"], found.get("message") or found.get("status_message") or ""


def latest_status(world: World, server: dict) -> dict:
    rows = world.call("GET", "/api/server-status/")
    rows = rows["results"] if isinstance(rows, dict) else rows
    return next(row for row in rows if row["server"] == server["id"])


def assert_on_schedule(times: list[datetime], what: str, slack: float = 2.5) -> None:
    """No check twice, none missing: consecutive check times are one interval apart (a little
    jitter on a loaded machine allowed), never closer than half an interval."""
    assert len(times) >= 2, f"{what}: {len(times)} checks"
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= INTERVAL / 2, f"{what}: a check twice (gaps {gaps})"
    assert max(gaps) <= INTERVAL + slack, f"{what}: a check missing (gaps {gaps})"


def test_three_agents_quorum_kill_stop_and_a_central_outage(world: World) -> None:
    world.start_web()
    world.start_scheduler()
    world.sign_up()

    # The places, a token for each (shown once), and a webhook told of downs and locations.
    for slug, name in PLACES:
        place = world.call("POST", "/api/locations/", name=name, slug=slug, description=f"agent in {name}")
        assert place["status"] in ("online", "offline") and place["shared"] is False
        made = world.call("POST", f"/api/locations/{slug}/tokens/", name=f"{slug}-agent")
        assert made["token"].startswith("pga_")
        world.tokens[slug] = made["token"]
    # 1. Three agents, each with its token only (started now: they take a while on a busy machine).
    for slug, _ in PLACES:
        world.start_agent(slug)
    listed = world.call("GET", f"/api/locations/{PLACES[0][0]}/tokens/")
    listed = listed["results"] if isinstance(listed, dict) else listed
    assert [t["name"] for t in listed] == ["fra-agent"] and "token" not in listed[0]
    servers = {
        name: world.call(
            "POST",
            "/api/servers/",
            name=name,
            protocol="http",
            host="127.0.0.1",
            port=world.target.port,
            path=f"/{name}",
            locations=[slug for slug, _ in PLACES],
            quorum=2,
            check_interval=10,
            timeout=2,
        )
        for name in SERVERS
    }
    assert servers["shop"]["locations"] == ["fra", "tyo", "iad"] and servers["shop"]["quorum"] == 2
    hook = world.call(
        "POST",
        "/api/notification-configs/",
        notification_type="webhook",
        recipient=world.hook.url("/hook"),
        secret="s" * 32,
        cooldown_minutes=0,
        events=["down", "recovery", "degraded", "location"],
    )
    world.call("POST", f"/api/notification-configs/{hook['id']}/attach-all/")
    shop = servers["shop"]

    # Every place checks every server.
    for slug, _ in PLACES:
        world.ready(slug)
    wait_for(lambda: all(server_status(world, s)[0] == "up" for s in servers.values()), "every server UP", START)
    wait_for(lambda: world.target.seen == {"fra", "tyo", "iad"}, "probes naming each of the three places")
    every_place_up = {"fra": "up", "tyo": "up", "iad": "up"}
    wait_for(
        lambda: {row["slug"]: row["status"] for row in latest_status(world, shop)["locations"]} == every_place_up,
        "each place's state in /api/server-status/",
    )

    world.target.block("/shop", "fra")
    status, message = wait_for(
        lambda: (found := server_status(world, shop))[0] == "degraded" and found, "DEGRADED with fra blocked"
    )
    assert message == "down from 1 of 3 locations: Frankfurt"
    world.target.block("/shop", "fra", "tyo")
    wait_for(lambda: server_status(world, shop)[0] == "down", "DOWN with fra and tyo blocked")
    wait_for(lambda: world.alerts("down"), "the DOWN alert")
    world.target.block("/shop")
    wait_for(lambda: server_status(world, shop)[0] == "up", "UP again")
    wait_for(lambda: world.alerts("recovery"), "the recovery alert")
    assert len(world.alerts("down")) == 1, world.alerts("down")
    assert {a["server"]["name"] for a in world.alerts("down")} == {"shop"}

    # 2. kill -9 an agent, and start it again (as a supervisor would): its leased checks are
    # claimed again when the lease ends, so each server's check there is late, never lost.
    killed = datetime.now().astimezone()
    world.agents["iad"].stop(signal.SIGKILL)
    world.start_agent("iad")
    world.ready("iad")
    restarted = (datetime.now().astimezone() - killed).total_seconds()
    wait_for(
        lambda: all(
            check_times(s, "iad", killed + timedelta(seconds=LEASE), killed + timedelta(days=1))
            for s in servers.values()
        ),
        "every server checked from iad again after the kill",
    )
    time.sleep(4 * INTERVAL)
    for name, server in servers.items():
        times = check_times(server, "iad", killed - timedelta(seconds=4 * INTERVAL), killed + timedelta(days=1))
        # Across the kill the gap is at most the lease (or the new agent's start) and an interval.
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) <= max(LEASE, restarted) + 2 * INTERVAL + 2, f"{name} at iad: gaps {gaps}"
        assert min(gaps) >= INTERVAL / 2, f"{name} at iad: a check twice (gaps {gaps})"

    # 3. An agent stopped: its location goes offline once (told once), and online once back.
    # (Before their agents first called, the new locations were offline: "never heard".)
    tokyo = {"slug": "tyo", "name": "Tokyo"}
    offline, online = (len(world.alerts("location", status=s, location=tokyo)) for s in ("offline", "online"))
    world.agents["tyo"].stop(signal.SIGTERM)
    wait_for(
        lambda: len(world.alerts("location", status="offline", location=tokyo)) > offline,
        "the location offline alert",
        STALE + WAIT,
    )
    time.sleep(7)  # the scheduler's offline step (every 5 s) has run again: still one
    assert len(world.alerts("location", status="offline", location=tokyo)) == offline + 1
    world.start_agent("tyo")
    world.ready("tyo")
    wait_for(
        lambda: len(world.alerts("location", status="online", location=tokyo)) > online, "the location online alert"
    )
    assert len(world.alerts("location", status="online", location=tokyo)) == online + 1
    offline += 1
    wait_for(
        lambda: {row["slug"]: row["status"] for row in latest_status(world, shop)["locations"]}["tyo"] == "up",
        "tyo checking again",
    )

    # 4. The central server away for 30 s: the agents go on checking and keep the results; once
    # it answers again they are sent (within an interval), none lost, none twice.
    time.sleep(2 * INTERVAL)
    assert world.web is not None and world.scheduler is not None
    world.scheduler.stop()
    world.web.stop()
    went = datetime.now().astimezone()
    time.sleep(OUTAGE)
    back = datetime.now().astimezone()
    world.start_web()
    wait_for(
        lambda: all(
            check_times(s, slug, back, back + timedelta(days=1)) for s in servers.values() for slug, _ in PLACES
        ),
        "results from every place after the outage",
    )
    world.start_scheduler()
    time.sleep(2 * INTERVAL)
    for name, server in servers.items():
        for slug, _ in PLACES:
            times = check_times(
                server, slug, went - timedelta(seconds=2 * INTERVAL), back + timedelta(seconds=2 * INTERVAL)
            )
            assert_on_schedule(times, f"{name} at {slug} across the outage")
            # Every check of the outage is there (about OUTAGE / INTERVAL of them), stored once.
            during = [t for t in times if went <= t <= back]
            assert len(during) >= OUTAGE / INTERVAL - 2, f"{name} at {slug}: {len(during)} checks in the outage"
            assert len(set(times)) == len(times)
    assert all(p.proc.poll() is None for p in world.agents.values()), "an agent stopped during the outage"
    assert len(world.alerts("down")) == 1, world.alerts("down")
    assert len(world.alerts("location", status="offline", location=tokyo)) == offline


def test_a_new_user_sets_up_two_locations_in_the_browser_and_runs_the_commands_it_shows(world: World) -> None:
    """As a new user would: sign up, add two locations on /locations/, make a token for each, run
    exactly the command the page shows, add a server checked from all three places with a quorum
    of 2, and see each place's state on the server page. Photographed into logs/screens/."""
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    # The migration's shared "local" location, which a transactional test run before this one
    # flushed away with every other row.
    ProbeLocation.objects.local()
    world.start_web()
    world.start_scheduler()  # the scheduler checks the third place, its own ("local")
    # The page's command starts with "python": the one of this environment.
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "CHANNEL"))}
    shell_env.update(
        DATABASE_URL=NOWHERE,
        ENVIRONMENT="development",
        MONITOR_ALLOW_PRIVATE_TARGETS="true",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            js_errors: list[str] = []
            page.on("pageerror", lambda exc: js_errors.append(str(exc)))
            page.goto(f"{world.base}/accounts/register/")
            page.fill("#id_username", "walker")
            page.fill("#id_email", "walker@example.com")
            page.fill("#id_password", PASSWORD)
            page.fill("#id_password2", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("main")).to_contain_text("No servers yet")

            page.click("nav >> text=Locations")
            page.wait_for_url(re.compile(r"/locations/$"))
            rows = page.locator("#location-list tbody tr")
            expect(rows).to_have_count(1, timeout=WAIT * 1000)  # the shared "local"
            commands = {}
            for name, slug in (("Frankfurt", "frankfurt"), ("Tokyo", "tokyo")):
                page.fill("#f-name", name)
                page.click("text=Add location")
                row = page.locator(f'#location-list tr[data-slug="{slug}"]')
                expect(row).to_contain_text(name, timeout=WAIT * 1000)
                row.locator("text=Agent tokens").click()
                expect(page.locator("#tokens-title")).to_have_text(f"Agent tokens of {name}")
                command = page.locator("#agent-command-text")
                shown_before = command.input_value()  # the last location's, hidden now
                page.fill("#token-name", f"{slug}-1")
                page.click("text=Make token")
                expect(page.locator("#agent-command")).to_be_visible(timeout=WAIT * 1000)
                expect(command).not_to_have_value(shown_before)
                expect(command).to_have_value(re.compile(r"run_agent --url .* --token pga_"), timeout=WAIT * 1000)
                commands[slug] = command.input_value()
            shoot(page, "i18e2e-locations")

            # Each agent runs exactly the command shown (in a shell, in the project directory).
            for slug, command in commands.items():
                assert command.startswith("python manage.py run_agent --url "), command
                world.agents[slug] = world.spawn(f"agent {slug}", ["/bin/sh", "-c", f"exec {command}"], shell_env)
                world.ready(slug)
            page.reload()
            for slug in commands:
                expect(page.locator(f'#location-list tr[data-slug="{slug}"]')).to_contain_text(
                    "online", timeout=WAIT * 1000
                )

            # A server checked from all three places, DOWN when 2 agree.
            page.goto(f"{world.base}/servers/new/")
            page.fill("#f-name", "Shop")
            page.select_option("#f-protocol", "http")
            page.fill("#f-host", "127.0.0.1")
            page.fill("#f-port", str(world.target.port))
            picker = page.locator("#f-locations")
            expect(picker.locator('input[value="local"]')).to_be_checked()
            picker.locator('input[value="frankfurt"]').check()
            picker.locator('input[value="tokyo"]').check()
            page.fill("#f-quorum", "2")
            page.click("#server-form button[type=submit]")
            page.wait_for_url(re.compile(r"/servers/\d+/$"))
            expect(page.locator("body")).to_contain_text(
                "DOWN when 2 of its 3 locations see it down", timeout=WAIT * 1000
            )
            table = page.locator("table#locations tbody tr")
            expect(table).to_have_count(3, timeout=WAIT * 1000)

            def every_place_up() -> bool:
                page.reload()
                texts = [table.nth(i).inner_text() for i in range(table.count())]
                return len(texts) == 3 and all(re.search(r"\bup\b", t) for t in texts)

            wait_for(every_place_up, "every place's state on the server page", START)
            assert world.target.seen >= {"local", "frankfurt", "tokyo"}
            shoot(page, "i18e2e-server")
            page.goto(f"{world.base}/locations/")
            expect(rows).to_have_count(3)
            shoot(page, "i18e2e-locations-online")
            assert not js_errors, js_errors
        finally:
            browser.close()
