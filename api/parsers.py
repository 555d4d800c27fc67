"""The JSON parser every API view uses: a body too deeply nested is a 400, not a RecursionError 500."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's JSONParser, except that nesting past Python's recursion limit is a ParseError.

    ``"[" * 1000 + "]" * 1000`` makes ``json.loads`` raise RecursionError, which DRF does not
    catch (it catches ValueError); the anonymous register and token endpoints answered 500.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
