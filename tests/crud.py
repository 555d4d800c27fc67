"""CRUD and isolation cases written once, fed data by each resource's test class.

A subclass sets ``url`` and ``model`` and implements ``make(owner)`` (an object owned by
``owner``), ``create_payload(owner_obj_factory)`` and ``update_payload``. Every case
asserts the database, not only the JSON (as Healthchecks' tests do).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db.models import Model


@pytest.mark.django_db
class CrudCases:
    url: ClassVar[str]
    model: ClassVar[type[Model]]
    update_payload: ClassVar[dict[str, Any]]
    read_only: ClassVar[bool] = False

    def make(self, owner: Any) -> Model:
        raise NotImplementedError

    def create_payload(self, owner: Any) -> dict[str, Any]:
        raise NotImplementedError

    def detail(self, obj: Model) -> str:
        return f"{self.url}{obj.pk}/"

    def test_it_lists_only_the_users_own_objects(self, alice, charlie, alice_client):
        mine, theirs = self.make(alice), self.make(charlie)
        ids = {row["id"] for row in alice_client.get(self.url).json()["results"]}
        assert mine.pk in ids and theirs.pk not in ids

    def test_staff_see_every_users_objects(self, alice, charlie, bob_client):
        a, c = self.make(alice), self.make(charlie)
        ids = {row["id"] for row in bob_client.get(self.url).json()["results"]}
        assert {a.pk, c.pk} <= ids

    def test_it_returns_the_users_own_object(self, alice, alice_client):
        obj = self.make(alice)
        r = alice_client.get(self.detail(obj))
        assert r.status_code == 200 and r.json()["id"] == obj.pk

    def test_it_returns_404_for_another_users_object(self, alice, charlie_client):
        obj = self.make(alice)
        assert charlie_client.get(self.detail(obj)).status_code == 404

    def test_it_returns_404_for_an_unknown_id(self, alice_client):
        assert alice_client.get(f"{self.url}999999/").status_code == 404

    def test_anonymous_requests_get_401(self, alice, anon_client):
        obj = self.make(alice)
        assert anon_client.get(self.url).status_code == 401
        assert anon_client.get(self.detail(obj)).status_code == 401

    def test_it_creates_an_object_owned_by_the_user(self, alice, alice_client):
        if self.read_only:
            assert alice_client.post(self.url, {}, format="json").status_code == 405
            return
        before = self.model.objects.count()
        r = alice_client.post(self.url, self.create_payload(alice), format="json")
        assert r.status_code == 201, r.content
        assert self.model.objects.count() == before + 1
        assert self.model.objects.for_user(alice).filter(pk=r.json()["id"]).exists()

    def test_it_updates_the_users_own_object(self, alice, alice_client):
        obj = self.make(alice)
        r = alice_client.patch(self.detail(obj), self.update_payload, format="json")
        if self.read_only:
            assert r.status_code == 405
            return
        assert r.status_code == 200, r.content
        obj.refresh_from_db()
        for field, value in self.update_payload.items():
            assert getattr(obj, field) == value

    def test_another_user_cannot_update_or_delete_and_nothing_changes(self, alice, charlie_client):
        obj = self.make(alice)
        before = {f: getattr(obj, f) for f in self.update_payload}
        assert charlie_client.patch(self.detail(obj), self.update_payload, format="json").status_code in (404, 405)
        assert charlie_client.delete(self.detail(obj)).status_code in (404, 405)
        obj.refresh_from_db()
        assert {f: getattr(obj, f) for f in self.update_payload} == before

    def test_it_deletes_the_users_own_object(self, alice, alice_client):
        obj = self.make(alice)
        r = alice_client.delete(self.detail(obj))
        if self.read_only:
            assert r.status_code == 405 and self.model.objects.filter(pk=obj.pk).exists()
            return
        assert r.status_code == 204
        assert not self.model.objects.filter(pk=obj.pk).exists()
