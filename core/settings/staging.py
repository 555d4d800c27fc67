"""Staging: production's safety rules with its own env file (.env.stg)."""

from core.settings.production import *  # noqa: F403 — Django's documented way to layer settings
