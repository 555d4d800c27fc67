"""docker-compose.yml, the Dockerfile, the Makefile and the README agree with the project.

Docker cannot run here, so these parse the files and check that every command, module and
environment variable they name exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_SOURCES = [*ROOT.glob("core/settings/*.py"), ROOT / "core" / "env.py"]


def settings_variables() -> set[str]:
    text = "\n".join(p.read_text() for p in SETTINGS_SOURCES)
    return set(re.findall(r"env\w*\(\s*[\"']([A-Z_]+)[\"']", text)) | {"ENVIRONMENT"}


def serve_variables() -> set[str]:
    """The variables bin/serve itself reads (``${NAME:-…}``)."""
    return set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "bin" / "serve").read_text()))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_four_services():
    assert set(compose()["services"]) == {"postgres", "redis", "web", "scheduler"}


def test_compose_commands_exist_in_the_project():
    services = compose()["services"]
    commands = get_commands()
    for name in ("web", "scheduler"):
        command = " ".join(services[name]["command"])
        for sub in re.findall(r"manage\.py (\w+)", command):
            assert sub in commands, f"{name}: manage.py {sub} does not exist"
        for module in re.findall(r"(\w+(?:\.\w+)*):application", command):
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
    assert "start_scheduler" in " ".join(services["scheduler"]["command"])
    assert re.search(r"exec bin/serve$", " ".join(services["web"]["command"]))
    serve = ROOT / "bin" / "serve"
    assert serve.is_file() and os.access(serve, os.X_OK) and "core.asgi:application" in serve.read_text()


def test_compose_web_runs_several_workers_with_a_bounded_pool():
    env = compose()["services"]["web"]["environment"]
    assert env["WEB_WORKERS"] == "${WEB_WORKERS:-2}" and env["DB_POOL_MAX_SIZE"] == "${DB_POOL_MAX_SIZE:-8}"
    assert env["CHANNEL_LAYER_TYPE"] == "redis"  # bin/serve refuses several workers without it


def test_compose_environment_uses_only_variables_the_settings_read():
    known = settings_variables()
    for name in ("web", "scheduler"):
        env = compose()["services"][name]["environment"]
        if name == "web":
            known |= serve_variables()
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
        assert env["ENVIRONMENT"] == "production" and env["CHANNEL_LAYER_TYPE"] == "redis"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_HOST"] == "redis"


def test_compose_waits_for_healthy_services_and_checks_health():
    services = compose()["services"]
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/api/health/" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["scheduler"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_every_service_has_a_health_check():
    commands = get_commands()
    for name, service in compose()["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no health check"
        for sub in re.findall(r"manage\.py (\w+)", " ".join(test)):
            assert sub in commands, f"{name}: manage.py {sub} does not exist"


def test_the_agent_compose_runs_run_agent_with_no_database_and_only_variables_the_settings_read():
    """docker-compose.agent.yml (SPEC §20): an agent elsewhere, its URL and token from the
    environment, no database, Redis or other service beside it."""
    services = yaml.safe_load((ROOT / "docker-compose.agent.yml").read_text())["services"]
    assert set(services) == {"agent"}
    agent = services["agent"]
    command = " ".join(agent["command"])
    assert re.findall(r"manage\.py (\w+)", command) == ["run_agent"] and "run_agent" in get_commands()
    assert "--url" in command and "--token" in command
    env = agent["environment"]
    assert "DATABASE_URL" not in env and "REDIS_HOST" not in env and "depends_on" not in agent
    own = {"PULSEGUARD_URL", "AGENT_TOKEN"}  # read by the command line, not the settings
    unknown = set(env) - settings_variables() - own
    assert not unknown, f"the agent sets variables nothing reads: {unknown}"
    assert env["ENVIRONMENT"] == "production"


def test_dockerfile_installs_requirements_and_serves_asgi():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in text
    assert "collectstatic" in text and 'CMD ["bin/serve"]' in text


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-r")):
                assert "==" in line, f"{name}: {line} is not pinned"


def test_readme_shows_the_two_newcomer_commands_and_the_makefile_has_them():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_env_files_exist_for_every_environment():
    for name in (".env.dev", ".env.stg", ".env.prod"):
        text = (ROOT / name).read_text()
        assert "SECRET_KEY=" not in text or name == ".env.dev", f"{name} must not hold a secret"
