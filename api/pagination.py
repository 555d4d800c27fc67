"""Pagination defaults: pages of 50 (``page_size`` up to 500); cursor pages for history."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class HistoryCursorPagination(CursorPagination):
    """Newest first; stable under inserts, so a client can walk history while checks run."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-check_timestamp", "-id")

    def decode_cursor(self, request: Any) -> Cursor | None:
        """DRF's decoding, plus: the position must be an aware time, the first ordering field's type.

        DRF hands any position to the query, so a forged ``?cursor=cD0yMDI2`` ("p=2026")
        reached the database as a malformed timestamp and answered 500; now it is the same
        404 as any other invalid cursor.
        """
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                position = None if "\x00" in cursor.position else parse_datetime(cursor.position)
            except ValueError:
                position = None
            # A cursor this API made always carries an aware time; a naive one is forged.
            valid = position is not None and position.tzinfo is not None
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any] | None:
        """Pages going back in time read only a recent window when the queryset can bound one
        (``PingResultQuerySet.recent``): the same rows, without sorting all of history."""
        cursor = self.decode_cursor(request)
        if hasattr(queryset, "recent") and not (cursor and cursor.reverse):
            position = parse_datetime(cursor.position) if cursor and cursor.position else None
            rows = (self.get_page_size(request) or self.page_size) + (cursor.offset if cursor else 0) + 1
            queryset = queryset.recent(rows, before=position)
        return super().paginate_queryset(queryset, request, view)
