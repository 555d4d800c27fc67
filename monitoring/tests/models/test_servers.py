"""Server rules on the model: how pages, windows and the tag filter pick servers."""

from __future__ import annotations

import pytest

from monitoring.models import MaintenanceWindow, Server, StatusPage
from monitoring.models.servers import picks
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db


def test_servers_are_picked_by_id_or_by_a_whole_tag(alice, bob):
    db = make_server(alice, name="db", tags=["db", "eu"])
    db2 = make_server(alice, name="db-2", tags=["db-2"])
    web = make_server(alice, name="web", tags=["web"])
    make_server(bob, name="bob-db", tags=["db"])
    picked = Server.objects.filter(owner=alice).picked([web.pk], ["db"])
    assert set(picked) == {db, web}  # "db" is not a prefix match of "db-2"
    assert set(Server.objects.filter(owner=alice).picked([], ["db-2", "eu"])) == {db, db2}
    assert list(Server.objects.filter(owner=alice).picked([], [])) == []


def test_one_server_is_picked_by_the_same_rule(alice):
    db = make_server(alice, name="db", tags=["db"])
    assert picks(db.pk, db.tags, [], ["db"]) and picks(db.pk, [], [db.pk], [])
    assert not picks(db.pk, db.tags, [db.pk + 1], ["db-2"])
    window = MaintenanceWindow(owner=alice, name="w", tags=["db"])
    page = StatusPage.objects.create(owner=alice, slug="p", title="P", tags=["db"], is_public=True)
    assert window.covers(db.pk, db.tags, set()) and StatusPage.objects.public().shows(db)
    assert list(page.shown_servers()) == [db]
