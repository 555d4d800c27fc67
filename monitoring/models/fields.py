"""Storage-only field types: the Python value stays what the rest of the code expects."""

from __future__ import annotations

from typing import Any

from django.db import models


class RealField(models.FloatField):
    """A float stored as PostgreSQL ``real`` (4 bytes, about 7 significant digits).

    Response times in milliseconds need no more than that, and next to PingResult's
    ``smallint`` status_code the 4 saved bytes leave room for ``maintenance`` in the same
    8-byte-aligned row. Other databases keep their own float type. Values read back are
    rounded to 7 significant digits so 12.34 comes back as 12.34, not 12.340000152.
    """

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "real"
        return super().db_type(connection)

    def from_db_value(self, value: float | None, expression: Any, connection: Any) -> float | None:
        if value is None or connection.vendor != "postgresql":
            return value
        return float(f"{value:.7g}")


class BrinOnPostgresIndex(models.Index):
    """A BRIN index on PostgreSQL (a few pages for millions of append-only rows), a b-tree elsewhere."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)
