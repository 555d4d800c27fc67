"""The database cache that test subprocesses share starts empty after each flush between
transactional tests (conftest's post_migrate receiver): Django's flush empties the models'
tables only, and a page cached by an earlier test's web process was once served to the next."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from conftest import shared_cache

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_flush_between_transactional_tests_empties_the_shared_cache():
    shared = shared_cache()
    shared.set("statuspage:summary:acme", "an earlier test's page", timeout=600)
    assert shared.get("statuspage:summary:acme") == "an earlier test's page"
    call_command("flush", verbosity=0, interactive=False)  # as TransactionTestCase does after each test
    assert shared.get("statuspage:summary:acme") is None
