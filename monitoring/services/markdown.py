"""The Markdown subset of status pages (SPEC §21): paragraphs, emphasis, links and lists only.

markdown-it-py parses with only those rules switched on and raw HTML off, so whatever else a
message holds (headings, images, code, tables, HTML) stays literal text, escaped, never
dropped. Links are only ``http(s):`` and ``mailto:`` (any other stays text). nh3 then cleans
the output against an allow-list of the tags this subset can make, as a second fence: a bug
in one of the two still yields nothing but those tags and those schemes.

Incident posts and announcements use it; ``render_markdown`` is safe to mark safe in templates.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_SCHEMES = {"http", "https", "mailto"}
ALLOWED_TAGS = {"p", "em", "strong", "a", "ul", "ol", "li", "br"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
_SCHEME = re.compile(r"^\s*(https?|mailto):", re.IGNORECASE)


def _link_allowed(url: str) -> bool:
    return bool(_SCHEME.match(url))


def _image_as_text(renderer: Any, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image is not in the subset: show what was written, ``![alt](src)``, as text."""
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    src = token.attrGet("src") or ""
    return _escape(f"![{alt}]({src})")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _only_allowed(tag: str, attribute: str, value: str) -> str | None:
    if attribute in ALLOWED_ATTRIBUTES.get(tag, ()) or (tag, attribute) == ("a", "rel"):  # rel: link_rel's
        return value
    return None


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": False})
    md.enable(["list", "emphasis", "link", "newline", "escape", "image"])
    md.validateLink = _link_allowed  # type: ignore[method-assign]
    md.add_render_rule("image", _image_as_text)
    return md


def render_markdown(text: str) -> str:
    """HTML of ``text`` in the subset: paragraphs, emphasis, http(s)/mailto links and lists."""
    html = _parser().render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_only_allowed,  # nh3 keeps title and lang on every tag otherwise
        url_schemes=ALLOWED_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
