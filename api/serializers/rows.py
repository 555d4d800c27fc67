"""A serializer's representation of many objects, read as rows: one ``values_list`` for the
objects and one query per many-valued field, instead of model instances read field by field.

DRF renders a page of 50 servers through ~55 fields' ``get_attribute`` (28,000 calls per ten
pages) and builds a related manager per server per many-to-many field: most of the CPU of
``GET /api/servers/``. ``Rows`` reads each field once per page the way DRF would:

1. A field whose source is a column, or a column through to-one relations (``owner.username``,
   ``server_status.message``), or a to-one relation shown by its pk or a slug: one value of the
   row, copied as the database gave it where DRF's representation of a value of that type is the
   value itself (``AS_STORED``), else through the field's own ``to_representation``.
2. A many-to-many relation shown as pks: one query for the page, in the related model's
   ordering (what the related manager, or a prefetch of it, gives).
3. A field with ``values_of(pks)`` (``LocationsField``): its attribute for each object of the
   page, read in one query, then its ``to_representation``.
4. Any other field (a property, a method field): read by DRF itself from an instance built from
   the row's columns (``Model.from_db``), as if the ORM had read it.

``test_a_page_of_servers_is_what_their_serializer_shows`` holds the answer to the serializer's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import ManyRelatedField, PKOnlyObject, PrimaryKeyRelatedField, SlugRelatedField

#: Fields whose representation of a value of their column's type is that value (DRF calls
#: ``str``, ``int``, ``float``, keeps a bool, or a read-only field's value as is), so a row's value
#: is copied as the database gave it.
AS_STORED = {
    serializers.CharField,
    serializers.IntegerField,
    serializers.FloatField,
    serializers.BooleanField,
    serializers.ReadOnlyField,
}


def _lookup(model: type[models.Model], field: serializers.Field) -> tuple[str, bool] | None:
    """The ``values_list`` lookup of a field read from one column (step 1), and whether the row's
    value is its representation; None when it is no such field."""
    if isinstance(field, PrimaryKeyRelatedField) and field.pk_field is None:
        suffix, as_stored = [], True  # the related object's pk: its foreign key column
    elif isinstance(field, SlugRelatedField) and "." not in field.slug_field:
        suffix, as_stored = [field.slug_field], True
    elif isinstance(field, serializers.RelatedField | ManyRelatedField | serializers.SerializerMethodField):
        return None
    else:
        suffix, as_stored = [], type(field) in AS_STORED
    path = field.source_attrs
    if not path:  # source="*"
        return None
    opts = model._meta
    try:
        for name in path[:-1]:
            step = opts.get_field(name)
            if not (step.many_to_one or step.one_to_one):
                return None
            opts = step.related_model._meta  # type: ignore[union-attr]
        last = opts.get_field(path[-1])
        if suffix or isinstance(field, PrimaryKeyRelatedField):  # a forward to-one relation
            if not (last.concrete and (last.many_to_one or last.one_to_one)):
                return None
            if suffix and last.related_model._meta.get_field(suffix[0]).is_relation:  # type: ignore[union-attr]
                return None
        elif last.is_relation or not last.concrete:
            return None
    except FieldDoesNotExist:
        return None  # a property or a method
    return "__".join([*path, *suffix]), as_stored


def _is_many_pks(model: type[models.Model], field: serializers.Field) -> bool:
    """Whether ``field`` shows a many-to-many relation of ``model`` as pks (step 2)."""
    if not (
        isinstance(field, ManyRelatedField)
        and isinstance(field.child_relation, PrimaryKeyRelatedField)
        and field.child_relation.pk_field is None
        and len(field.source_attrs) == 1
    ):
        return False
    try:
        return bool(model._meta.get_field(field.source).many_to_many)
    except FieldDoesNotExist:
        return False


def _many_pks(model: type[models.Model], name: str, pks: list[Any]) -> dict[Any, list[Any]]:
    """The pks of the objects each of ``pks`` names through the many-to-many relation ``name``,
    in the related model's ordering (as its related manager gives them), in one query."""
    relation = model._meta.get_field(name)
    # The name the related model filters by this one with (what Django's prefetch filters by).
    back = relation.field.name if relation.auto_created else relation.related_query_name()  # type: ignore[union-attr]
    linked: dict[Any, list[Any]] = {pk: [] for pk in pks}
    target = relation.related_model._default_manager  # type: ignore[union-attr]
    for owner, pk in target.filter(**{f"{back}__in": pks}).values_list(back, "pk"):
        linked[owner].append(pk)
    return linked


class Rows:
    """How ``serializer`` represents ``names`` (default: every field it shows) of objects read as
    rows. ``columns_only``: a field that is not read from a column is a TypeError (the config
    export); ``instances``: build each row's instance even when no field needs it (step 4)."""

    def __init__(
        self,
        serializer: serializers.Serializer,
        names: Sequence[str] | None = None,
        columns_only: bool = False,
        instances: bool = False,
    ) -> None:
        self.serializer = serializer
        self.model: type[models.Model] = serializer.Meta.model  # type: ignore[attr-defined]
        fields = serializer.fields
        self.names = [n for n, f in fields.items() if not f.write_only] if names is None else list(names)
        opts = self.model._meta
        lookups: list[str] = [opts.pk.attname]  # type: ignore[union-attr]
        self.columns: list[tuple[str, int, Callable[[Any], Any] | None]] = []
        self.many: list[str] = []  # step 2
        self.bulk: list[str] = []  # step 3
        self.others: list[str] = []  # step 4
        for name in self.names:
            field = fields[name]
            found = _lookup(self.model, field)
            if found is not None:
                lookup, as_stored = found
                if "__" not in lookup:  # a column of the model: by its attname, which the instance reads too
                    lookup = opts.get_field(lookup).attname  # type: ignore[union-attr]
                if lookup not in lookups:
                    lookups.append(lookup)
                self.columns.append((name, lookups.index(lookup), None if as_stored else field.to_representation))
            elif columns_only:
                raise TypeError(f"A {self.model.__name__} field that is not a column: {name}.")
            elif _is_many_pks(self.model, field):
                self.many.append(name)
            elif hasattr(field, "values_of"):
                self.bulk.append(name)
            else:
                self.others.append(name)
        # Step 4's instance: every concrete column, as the ORM reads it (each column read once).
        self.attnames = [f.attname for f in opts.concrete_fields] if self.others or instances else []
        for attname in self.attnames:
            if attname not in lookups:
                lookups.append(attname)
        self.at = [lookups.index(attname) for attname in self.attnames]
        self.lookups = lookups

    def values(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """``queryset``'s rows as ``represent`` reads them."""
        return queryset.values_list(*self.lookups)

    def represent(self, rows: Sequence[tuple[Any, ...]], db: str) -> list[tuple[Any, Any, dict[str, Any]]]:
        """Each row's object as ``(pk, instance or None, representation)``, fields in ``names``
        order; ``db``: the alias the rows were read from (the instances')."""
        fields = self.serializer.fields
        pks = [row[0] for row in rows]
        many = {name: _many_pks(self.model, fields[name].source, pks) for name in self.many}
        bulk = {name: fields[name].values_of(pks) for name in self.bulk}  # type: ignore[attr-defined]
        out = []
        for row in rows:
            pk = row[0]
            item: dict[str, Any] = {}
            for name, index, to in self.columns:
                value = row[index]
                item[name] = value if value is None or to is None else to(value)
            for name in self.many:
                item[name] = many[name][pk]
            for name in self.bulk:
                item[name] = fields[name].to_representation(bulk[name][pk])
            instance = self.model.from_db(db, self.attnames, [row[i] for i in self.at]) if self.attnames else None
            for name in self.others:  # as ``Serializer.to_representation`` reads a field
                try:
                    attribute = fields[name].get_attribute(instance)
                except SkipField:
                    continue
                check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                item[name] = None if check is None else fields[name].to_representation(attribute)
            ordered = (
                item if not (self.many or self.bulk or self.others) else {n: item[n] for n in self.names if n in item}
            )
            out.append((pk, instance, ordered))
        return out


class RowPages:
    """``queryset`` as ``rows`` represents it and ``finish(instance, item)`` completes each item,
    sliced lazily: what a paginator pages. ``count()`` is the queryset's as the view filtered
    it (without the joins of the rows' lookups); each slice is one ``values_list`` query and one
    per many-valued field."""

    def __init__(
        self, queryset: QuerySet[Any], rows: Rows, finish: Callable[[Any, dict[str, Any]], dict[str, Any]]
    ) -> None:
        self.queryset = queryset
        self.rows = rows
        self.finish = finish

    @property
    def ordered(self) -> bool:
        return self.queryset.ordered

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[dict[str, Any]]:
        values = self.rows.values(self.queryset)[index]
        return [self.finish(instance, item) for _, instance, item in self.rows.represent(list(values), values.db)]
