"""Settings by ENVIRONMENT: env files, strict helpers, and production's refusals.

Each case runs in a fresh interpreter, since settings are read once per process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOW = (
    "import json, os; from core.env import settings_module; "
    "os.environ['DJANGO_SETTINGS_MODULE'] = settings_module(); "
    "from django.conf import settings; "
    "print(json.dumps({'module': os.environ['DJANGO_SETTINGS_MODULE'], 'debug': settings.DEBUG, "
    "'engine': settings.DATABASES['default']['ENGINE'], 'name': str(settings.DATABASES['default']['NAME']), "
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], 'private': settings.MONITOR_ALLOW_PRIVATE_TARGETS, "
    "'log_level': settings.LOG_LEVEL, 'hosts': settings.ALLOWED_HOSTS}))"
)
STRONG_KEY = secrets.token_urlsafe(50)
CLEAN = {
    k: v
    for k, v in os.environ.items()
    if k
    not in {
        "ENVIRONMENT",
        "DATABASE_URL",
        "CHANNEL_LAYER_TYPE",
        "DEBUG",
        "SECRET_KEY",
        "LOG_LEVEL",
        "MONITOR_ALLOW_PRIVATE_TARGETS",
        "ALLOWED_HOSTS",
        "REDIS_URL",
        "DJANGO_SETTINGS_MODULE",
    }
}


def settings_for(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env={**CLEAN, **env}, capture_output=True, text=True, timeout=60
    )


def shown(**env: str) -> dict:
    result = settings_for(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_development_is_the_default_and_needs_no_services():
    s = shown()
    assert s["module"] == "core.settings.development"
    assert s["debug"] is True and s["private"] is True
    assert s["engine"].endswith("sqlite3") and s["name"] == str(ROOT / "db.sqlite3")
    assert s["layer"] == "channels.layers.InMemoryChannelLayer"


def test_real_environment_variables_override_the_env_file():
    s = shown(DEBUG="false", LOG_LEVEL="warning", ALLOWED_HOSTS="a.example, b.example")
    assert s["debug"] is False and s["log_level"] == "WARNING" and s["hosts"] == ["a.example", "b.example"]


def test_database_url_and_redis_layer_are_honoured():
    s = shown(DATABASE_URL="postgres://u:p@127.0.0.1:5432/monitor", CHANNEL_LAYER_TYPE="redis")
    assert s["engine"] == "django.db.backends.postgresql" and s["name"] == "monitor"
    assert s["layer"] == "channels_redis.core.RedisChannelLayer"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"ENVIRONMENT": "qa"}, "ENVIRONMENT"),
        ({"CHANNEL_LAYER_TYPE": "kafka"}, "CHANNEL_LAYER_TYPE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"REDIS_PORT": "six"}, "REDIS_PORT"),
        ({"OTP_THROTTLE_RATE": "ten an hour"}, "OTP_THROTTLE_RATE"),
        ({"LOGIN_CODE_TIMEOUT": "5"}, "LOGIN_CODE_TIMEOUT"),
    ],
)
def test_a_value_not_understood_stops_start_up_naming_the_variable(env, variable):
    result = settings_for(**env)
    assert result.returncode != 0
    assert variable in result.stderr


@pytest.mark.parametrize("key", ["", "dev-insecure-secret-key-change-me", "short"])
def test_production_refuses_a_missing_or_placeholder_secret_key(key):
    result = settings_for(ENVIRONMENT="production", SECRET_KEY=key)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_keeps_debug_off_and_private_targets_closed():
    s = shown(ENVIRONMENT="production", SECRET_KEY=STRONG_KEY, DEBUG="true")
    assert s["module"] == "core.settings.production"
    assert s["debug"] is False and s["private"] is False


def test_staging_reads_its_own_env_file():
    s = shown(ENVIRONMENT="staging", SECRET_KEY=STRONG_KEY)
    assert s["module"] == "core.settings.staging" and s["name"] == "pulseguard_staging"


def test_production_passes_check_deploy_but_for_the_https_switches():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**CLEAN, "ENVIRONMENT": "production", "SECRET_KEY": STRONG_KEY, "DATABASE_URL": "sqlite:///:memory:"},
    )
    assert result.returncode == 0, result.stderr
    allowed = {"security.W004", "security.W005", "security.W008", "security.W012", "security.W016", "security.W021"}
    found = {line.split("(")[1].split(")")[0] for line in result.stderr.splitlines() if line.startswith("?: (")}
    assert found <= allowed, found - allowed


def test_a_settings_error_from_manage_py_is_one_clear_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**CLEAN, "DEBUG": "maybe"},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "PulseGuard configuration error: DEBUG='maybe' is not a boolean: use true or false."


def test_logs_go_to_the_console_and_a_file_rotated_at_10_mb():
    from django.conf import settings

    handlers = settings.LOGGING["handlers"]
    assert handlers["console"]["class"] == "logging.StreamHandler"
    assert handlers["file"]["class"] == "core.logfiles.SharedRotatingFileHandler"
    assert handlers["file"]["maxBytes"] == 10 * 1024 * 1024
    assert handlers["file"]["filename"] == str(ROOT / "logs" / "pulseguard.log")
    assert set(settings.LOGGING["root"]["handlers"]) == {"console", "file"}


def test_trusted_proxies_must_be_addresses_or_networks():
    bad = settings_for(TRUSTED_PROXIES="10.0.0.5,proxy.internal")
    assert bad.returncode != 0 and "TRUSTED_PROXIES" in bad.stderr and "proxy.internal" in bad.stderr
    assert settings_for(TRUSTED_PROXIES="10.0.0.5, 192.168.0.0/24,::1").returncode == 0


def test_the_default_cache_is_the_database_one_every_process_shares():
    show = "from core.env import settings_module; import os; os.environ['DJANGO_SETTINGS_MODULE'] = settings_module(); "
    show += "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    out = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=CLEAN, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "django.core.cache.backends.db.DatabaseCache", out.stderr
