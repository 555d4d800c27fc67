"""``make test`` runs the suite on several pytest-xdist workers (TEST_WORKERS): what keeps them apart."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection


def worker() -> str:
    name = os.environ.get("PYTEST_XDIST_WORKER")
    if not name:
        pytest.skip("not run by a pytest-xdist worker (make test runs it on TEST_WORKERS of them)")
    return name


def test_each_worker_starts_processes_on_a_channel_layer_prefix_of_its_own() -> None:
    name = worker()
    assert os.environ["CHANNEL_LAYER_PREFIX"].endswith(f"_{name}")
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    if "prefix" in config:  # the Redis layer
        assert config["prefix"] == os.environ["CHANNEL_LAYER_PREFIX"]


@pytest.mark.django_db
def test_each_worker_has_a_database_of_its_own() -> None:
    assert str(connection.settings_dict["NAME"]).endswith(f"_{worker()}")
