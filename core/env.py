"""Strict readers for the environment, and the choice of settings module.

Every setting that comes from the environment goes through one of these helpers,
so a value PulseGuard does not understand stops start-up with a message naming the
variable instead of being silently read as something else (the same idea as
``envbool`` in Healthchecks' ``hc/settings.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

BASE_DIR = Path(__file__).resolve().parent.parent

ENV_FILES = {
    "development": ".env.dev",
    "staging": ".env.stg",
    "production": ".env.prod",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def environment() -> str:
    """The ENVIRONMENT name; ``development`` when unset."""
    name = os.environ.get("ENVIRONMENT", "development").strip().lower() or "development"
    if name not in ENV_FILES:
        raise ImproperlyConfigured(f"ENVIRONMENT={name!r} is not understood: use one of {', '.join(ENV_FILES)}.")
    return name


def load_env_files(base_dir: Path = BASE_DIR) -> str:
    """Read ``.env.<env>`` then ``.env`` into ``os.environ`` without overriding it.

    Precedence, strongest first: real environment variables, ``.env``, then the
    environment's own file. Returns the environment name.
    """
    name = environment()
    values: dict[str, str | None] = {}
    for filename in (ENV_FILES[name], ".env"):
        path = base_dir / filename
        if path.is_file():
            values.update(dotenv_values(path))
    for key, value in values.items():
        if value is not None:
            os.environ.setdefault(key, value)
    return name


def settings_module() -> str:
    """The dotted settings module for the chosen ENVIRONMENT, after reading its env files."""
    return f"core.settings.{load_env_files()}"


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str = "false") -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false.")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envchoice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not understood: use one of {', '.join(choices)}.")
    return value
