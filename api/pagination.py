"""Pagination defaults: pages of 50 (``page_size`` up to 500); cursor pages for history."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination


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
        """DRF's decoding, plus: the position must be a time, the first ordering field's type.

        DRF hands any position to the query, so a forged ``?cursor=cD0yMDI2`` ("p=2026")
        reached the database as a malformed timestamp and answered 500; now it is the same
        404 as any other invalid cursor.
        """
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                valid = "\x00" not in cursor.position and parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor
