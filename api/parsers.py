"""Request parsers that refuse what would exhaust the process: deep JSON, YAML bombs, huge bodies.

Every API view parses JSON with ``SafeJSONParser``. The configuration import also reads YAML,
through ``load_yaml``: one loader for the API and the ``import_config`` command, which bounds a
document by its nodes *after alias expansion*, as it is composed and before anything is built.
A byte limit cannot do that: 600 bytes of aliases (``&a [*b, *b, …]`` nine levels deep) expand
to a billion nodes, and merge keys (``<<: [*a, *a]``) double a mapping per level the same way.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
import threading
from collections.abc import Iterator
from typing import Any

import yaml
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:  # libyaml's scanner and parser, an order of magnitude faster; composing stays in Python
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _Parser.__init__(self)


#: Deeper than any configuration needs (a document is five levels deep); the composer recurses.
MAX_DEPTH = 64
MAX_DOCUMENT_BYTES = 5_000_000


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a big document is built, read or written.

    Reading, writing or importing one makes hundreds of thousands of small objects that stay
    alive until the end, and the collector walks all of them again at every full collection:
    a third of a 5,000-server YAML export, three quarters of its import. Reference counting
    still frees whatever is not a cycle; cycles wait until the block ends. Nested blocks and
    other threads' blocks leave the collector on only when the last one ends.
    """
    global _pauses, _was_enabled
    with _pause_lock:
        if not _pauses:
            _was_enabled = gc.isenabled()
        _pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if not _pauses and _was_enabled:
                gc.enable()


_pauses = 0
_was_enabled = True
_pause_lock = threading.Lock()


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


class YAMLLimitError(yaml.MarkedYAMLError):
    """A bound of ``load_yaml`` was passed (depth, nodes) or a key is not a string."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting every node the document would have with its aliases expanded.

    Each composed node's expanded size (itself plus its children's, an alias counting as the
    whole node it names) is kept per node, so a size is known the moment its node is done and
    composition stops at the first node past the bound: the work is linear in the text, never
    in the expansion. An alias to a node still being composed would contain itself: refused.

    The bound is ``max_nodes`` or the nodes written out so far, whichever is more: aliases may
    not grow a document past it, while a document written in full may have more nodes, as its
    JSON twin may (a 5,000-server export has 355,000; bytes bound those, at 5 MB). Characters
    are counted the same way, bounded by ``MAX_DOCUMENT_BYTES``: ten thousand aliases of one
    megabyte string are few nodes, but each error message that quotes it would copy it.
    """

    max_nodes: int

    def compose_document(self) -> Node | None:
        self._sizes: dict[Node, tuple[int, int]] = {}  # nodes, characters
        self._depth = 0
        self._written = 0
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        mark = self.peek_event().start_mark
        alias = self.check_event(AliasEvent)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YAMLLimitError(f"the document is nested more than {MAX_DEPTH} deep", mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        size = self._sizes.get(node)
        if size is None:
            if alias:
                raise YAMLLimitError("an alias refers to a node that contains it", mark)
            children = [self._sizes[child] for child in _children(node)]
            own = len(node.value) if isinstance(node, ScalarNode) else 0
            size = (1 + sum(n for n, _ in children), own + sum(c for _, c in children))
            self._sizes[node] = size
            self._written += 1
        if size[0] > max(self.max_nodes, self._written):
            raise YAMLLimitError(
                f"the document has more than {self.max_nodes:,} nodes once its aliases are expanded", mark
            )
        if size[1] > MAX_DOCUMENT_BYTES:
            raise YAMLLimitError(
                f"the document has more than {MAX_DOCUMENT_BYTES:,} characters once its aliases are expanded", mark
            )
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _BoundedLoader(_BoundedComposer, _Parser, SafeConstructor, Resolver):
    def __init__(self, stream: str, max_nodes: int) -> None:
        _Parser.__init__(self, stream)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.max_nodes = max_nodes

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # A document is JSON's data model: keys are strings (a YAML `1:` or `~:` key is not).
        mapping = super().construct_mapping(node, deep=deep)
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise YAMLLimitError(f"the key {key!r} is not a string; quote it", key_node.start_mark)
        return mapping


def load_yaml(text: str) -> Any:
    """The one YAML document in ``text``, JSON-shaped; ``YAMLLimitError``/``yaml.YAMLError`` when not.

    Bounded by ``CONFIG_IMPORT_MAX_NODES`` nodes after alias expansion (or the nodes it writes
    out in full, if more) and ``MAX_DEPTH`` levels.
    """
    loader = _BoundedLoader(text, max_nodes=settings.CONFIG_IMPORT_MAX_NODES)
    try:
        with collector_paused():
            return loader.get_single_data()
    finally:
        loader.dispose()


# --- Writing YAML (the configuration export).
#
# The document is JSON-shaped (dicts, lists, strings, numbers, booleans, None), so it is written
# here line by line in PyYAML's block style rather than through PyYAML's representer, which built
# a node per value and resolved each one's tag: 3 of the 4.5 s of a 5,000-server export. A string
# is written plain when the loader reads it back as that same string, else double-quoted with
# JSON's escapes (which YAML's double-quoted style shares) and every character YAML may not hold
# raw escaped too.

#: Strings written plain when the resolver also reads them as strings: no indicator first, no
#: ": " or " #", no leading or trailing space, nothing outside this set.
_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+=()-]*(?:[ :][A-Za-z0-9_./@+=()-]+)*\Z")
#: Characters a YAML stream may not hold raw (or reads as line breaks) that JSON leaves raw.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_STR_TAG = "tag:yaml.org,2002:str"


def _yaml_str(value: str) -> str:
    if _PLAIN.match(value) and Resolver().resolve(ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _yaml_float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (math.inf, -math.inf):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    # 1e-05 reads back as a string in YAML 1.1: a float needs a dot (PyYAML writes 1.0e-05).
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


class _YAMLWriter:
    """One document's text, in block style with two-space indents (lists inside mappings not
    indented, as PyYAML writes them); strings are rendered once each (``seen``)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.seen: dict[str, str] = {}

    def scalar(self, value: Any) -> str:
        if isinstance(value, str):
            text = self.seen.get(value)
            if text is None:
                text = self.seen[value] = _yaml_str(value)
            return text
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, float):
            return _yaml_float(value)
        if isinstance(value, dict):
            return "{}"  # an empty one; others are blocks
        if isinstance(value, list):
            return "[]"
        return self.scalar(str(value))  # a Decimal, a zone: its text, so an export never fails on a type

    def mapping(self, mapping: dict[Any, Any], pad: str) -> None:
        out, seen = self.out, self.seen
        for key, value in mapping.items():
            name = seen.get(key) if type(key) is str else None
            if name is None:
                name = self.scalar(str(key))
            kind = type(value)  # the common cases first, without a call: 400,000 values at 5,000 servers
            if kind is str:
                text = seen.get(value)
                if text is None:
                    text = self.scalar(value)
            elif kind is bool:
                text = "true" if value else "false"
            elif kind is int:
                text = str(value)
            elif value and isinstance(value, dict):
                out.append(f"{pad}{name}:\n")
                self.mapping(value, pad + "  ")
                continue
            elif value and isinstance(value, list):
                out.append(f"{pad}{name}:\n")
                self.sequence(value, pad)
                continue
            else:
                text = self.scalar(value)
            out.append(f"{pad}{name}: {text}\n")

    def sequence(self, items: list[Any], pad: str) -> None:
        for item in items:
            if item and isinstance(item, (dict, list)):
                first = len(self.out)
                if isinstance(item, dict):
                    self.mapping(item, pad + "  ")
                else:
                    self.sequence(item, pad + "  ")
                self.out[first] = f"{pad}- {self.out[first][len(pad) + 2 :]}"  # the item's first line
            else:
                self.out.append(f"{pad}- {self.scalar(item)}\n")


def dump_yaml(doc: Any) -> str:
    """``doc`` (JSON-shaped) as YAML in its own key order, which ``load_yaml`` reads back as ``doc``.

    Beside plain types it writes what serializers hand out: str, dict and list subclasses
    (Django's SafeString, DRF's ReturnDict) as their base type, and anything else (a Decimal, a
    zone) as its text.
    """
    writer = _YAMLWriter()
    with collector_paused():
        if doc and isinstance(doc, dict):
            writer.mapping(doc, "")
        elif doc and isinstance(doc, list):
            writer.sequence(doc, "")
        else:
            writer.out.append(f"{writer.scalar(doc)}\n")
        return "".join(writer.out)


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """One line that gives the line and column, e.g. ``line 3, column 5: found unhashable key``.

    PyYAML's own text spans several lines with a snippet of the document; shown in the web
    page or as JSON, its line breaks came out as literal ``\\n``.
    """
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        if mark is not None:
            return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
        return problem
    return " ".join(str(exc).split())


class YAMLParser(BaseParser):
    """``application/yaml`` bodies through ``load_yaml``; whatever it refuses is a 400 giving the line."""

    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ParseError(f"The document is larger than {MAX_DOCUMENT_BYTES // 1_000_000} MB.")
        try:
            return load_yaml(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ParseError(f"YAML parse error - the document is not UTF-8 ({exc.reason}).") from None
        except yaml.YAMLError as exc:
            raise ParseError(f"YAML parse error - {describe_yaml_error(exc)}") from None
        except RecursionError:  # the constructor's own recursion, below MAX_DEPTH in practice
            raise ParseError("YAML parse error - the document is nested too deeply.") from None


class AltYAMLParser(YAMLParser):
    media_type = "application/x-yaml"


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"
