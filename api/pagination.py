"""Pagination defaults: pages of 50 (``page_size`` up to 500); cursor pages for history."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, PageNumberPagination


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
