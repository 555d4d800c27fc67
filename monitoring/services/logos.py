"""Status page logos (SPEC §21): PNG or SVG judged by content, at most 256 KiB, SVG sanitised.

An SVG is an active document: served from our origin, a ``<script>`` in it would run with our
cookies. So an SVG is rebuilt by nh3 (the Rust ``ammonia`` sanitiser) from an allow-list of
drawing elements and attributes before it is stored; what is stored is what is served.
Scripts, ``on*`` handlers, ``<foreignObject>``, ``<style>``, ``style=`` and every URL that is
not a same-document ``#fragment`` (so nothing from another host, no ``javascript:``) are
dropped. The response adds a sandboxing CSP as a second wall (``monitoring.web.public``).
"""

from __future__ import annotations

import re

import nh3

MAX_LOGO_BYTES = 262_144
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG = "image/png"
SVG = "image/svg+xml"

SVG_TAGS = {
    "svg", "g", "defs", "symbol", "use", "title", "desc", "path", "rect", "circle", "ellipse", "line",
    "polyline", "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop",
    "clipPath", "mask", "pattern", "marker",
}  # fmt: skip
SVG_ATTRIBUTES = {
    "xmlns", "xmlns:xlink", "version", "id", "class", "viewBox", "preserveAspectRatio", "width", "height",
    "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "d", "points", "pathLength",
    "transform", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "stroke-opacity",
    "opacity", "color", "clip-path", "clip-rule", "mask", "visibility", "display",
    "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform", "spreadMethod",
    "fx", "fy", "fr", "patternUnits", "patternContentUnits", "patternTransform", "clipPathUnits",
    "maskUnits", "maskContentUnits", "markerWidth", "markerHeight", "refX", "refY", "orient",
    "marker-start", "marker-mid", "marker-end", "font-family", "font-size", "font-weight", "font-style",
    "text-anchor", "dominant-baseline", "letter-spacing", "dx", "dy", "rotate", "textLength",
    "href", "xlink:href",
}  # fmt: skip
# Attributes that hold a URL: only a same-document reference ("#id") survives.
LINKS = {"href", "xlink:href"}
LOCAL_REF = re.compile(r"#[A-Za-z_][\w.-]*")
# A presentation value may point at a paint server, "url(#id)"; any other url( is dropped.
LOCAL_URL = re.compile(r"\s*url\(\s*['\"]?#[A-Za-z_][\w.-]*['\"]?\s*\)\s*(none|currentColor|#[0-9a-fA-F]{3,8})?\s*")
PROLOG = re.compile(r"^(\s|<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(\[.*?\])?\s*>)*", re.S | re.I)


class LogoError(ValueError):
    """Why an upload is not a logo (the API answers 400 naming ``logo``)."""


def _keep(element: str, attribute: str, value: str) -> str | None:
    if attribute in LINKS:
        return value if LOCAL_REF.fullmatch(value.strip()) else None
    if "url(" in value.lower() and not LOCAL_URL.fullmatch(value):
        return None
    if "javascript:" in value.lower().replace(" ", ""):
        return None
    return value


def sanitize_svg(text: str) -> str:
    """The SVG rebuilt from the allow-list; raises LogoError when no ``<svg>`` root is left."""
    cleaned = nh3.clean(
        text,
        tags=SVG_TAGS,
        clean_content_tags={"script", "style", "foreignObject", "foreignobject"},
        attributes={"*": SVG_ATTRIBUTES},
        attribute_filter=_keep,
        url_schemes=set(),
        link_rel=None,
        strip_comments=True,
    ).strip()
    # The HTML serialiser writes &nbsp;, which XML does not know.
    cleaned = cleaned.replace("&nbsp;", "&#160;")
    if not re.match(r"<svg[\s>]", cleaned) or not cleaned.endswith("</svg>"):
        raise LogoError("The SVG has no <svg> root element left after sanitising.")
    if 'xmlns="http://www.w3.org/2000/svg"' not in cleaned[: cleaned.index(">")]:
        cleaned = cleaned.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    if "xlink:href" in cleaned and "xmlns:xlink" not in cleaned[: cleaned.index(">")]:
        cleaned = cleaned.replace("<svg", '<svg xmlns:xlink="http://www.w3.org/1999/xlink"', 1)
    return cleaned


def read_logo(data: bytes) -> tuple[bytes, str]:
    """(bytes to store, content type) of an uploaded logo, judged by its content; else LogoError."""
    if len(data) > MAX_LOGO_BYTES:
        raise LogoError(f"The logo is {len(data):,} bytes; at most {MAX_LOGO_BYTES:,} (256 KiB).")
    if data.startswith(PNG_MAGIC):
        if data[12:16] != b"IHDR":
            raise LogoError("Not a valid PNG image.")
        return data, PNG
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LogoError("The logo must be a PNG or an SVG image.") from exc
    # The prolog goes (an internal DTD subset would reach the sanitiser as text, and entities
    # are not wanted anyway); what is left must start with the <svg> root.
    body = PROLOG.sub("", text, count=1)
    if "\x00" in text or not re.match(r"<svg[\s>]", body):
        raise LogoError("The logo must be a PNG or an SVG image.")
    return sanitize_svg(body).encode(), SVG
