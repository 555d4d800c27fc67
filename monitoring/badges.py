"""Shields-style flat SVG badges (SPEC §15): ``label | message`` in two coloured halves.

Widths are measured with Verdana 11 px advance widths (what shields.io uses and what GitHub's
image proxy renders the text in), so the text fits its box in a README.
"""

from __future__ import annotations

from html import escape

# Advance widths of Verdana at 11 px, per character; anything else counts as a wide letter.
_WIDTHS: dict[str, float] = {
    " ": 3.87, "%": 10.9, ".": 3.64, ",": 3.64, "-": 4.16, "(": 4.55, ")": 4.55, "/": 4.65, ":": 4.65,
    "0": 7.0, "1": 7.0, "2": 7.0, "3": 7.0, "4": 7.0, "5": 7.0, "6": 7.0, "7": 7.0, "8": 7.0, "9": 7.0,
    "a": 6.66, "b": 6.83, "c": 5.73, "d": 6.83, "e": 6.55, "f": 3.86, "g": 6.83, "h": 6.96, "i": 3.02,
    "j": 3.79, "k": 6.51, "l": 3.02, "m": 10.7, "n": 6.96, "o": 6.68, "p": 6.83, "q": 6.83, "r": 4.69,
    "s": 5.73, "t": 4.33, "u": 6.96, "v": 6.51, "w": 8.98, "x": 6.51, "y": 6.51, "z": 5.78,
    "A": 7.52, "B": 7.54, "C": 7.66, "D": 8.49, "E": 6.95, "F": 6.32, "G": 8.43, "H": 8.27, "I": 4.63,
    "J": 5.0, "K": 7.62, "L": 6.12, "M": 9.27, "N": 8.23, "O": 8.66, "P": 6.63, "Q": 8.66, "R": 7.6,
    "S": 7.52, "T": 6.78, "U": 8.05, "V": 7.52, "W": 10.9, "X": 7.54, "Y": 6.77, "Z": 7.53,
}  # fmt: skip

COLOURS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "lightgrey": "#9f9f9f",
    "blue": "#007ec6",
}
STATUS_COLOURS = {
    "up": "brightgreen",
    "degraded": "yellow",
    "down": "red",
    "maintenance": "blue",
    "paused": "lightgrey",
    "unknown": "lightgrey",
}


def text_width(text: str) -> float:
    return sum(_WIDTHS.get(ch, 7.5) for ch in text)


def uptime_colour(percent: float | None) -> str:
    if percent is None:
        return "lightgrey"
    for floor, colour in ((99.9, "brightgreen"), (99.0, "green"), (97.0, "yellow"), (95.0, "orange")):
        if percent >= floor:
            return colour
    return "red"


def response_colour(ms: float | None) -> str:
    if ms is None:
        return "lightgrey"
    for ceiling, colour in ((200, "brightgreen"), (500, "green"), (1000, "yellow"), (2000, "orange")):
        if ms < ceiling:
            return colour
    return "red"


def render_svg(label: str, message: str, colour: str) -> str:
    """A flat badge: grey label on the left, ``colour`` message on the right, 20 px high."""
    pad = 6
    lw = round(text_width(label) + 2 * pad)
    mw = round(text_width(message) + 2 * pad)
    width = lw + mw
    fill = COLOURS.get(colour, colour)
    label_e, message_e = escape(label), escape(message)
    # Text is drawn at 10x and scaled down, as shields does, for crisp sub-pixel placement.
    lx, mx = lw * 5, (lw + mw / 2) * 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label_e}: {message_e}"><title>{label_e}: {message_e}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{fill}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110">'
        f"{_text(lx, label_e)}{_text(mx, message_e)}</g></svg>"
    )


def _text(x: float, text: str) -> str:
    """The text once as a faint shadow one pixel lower, then in white on top."""
    shadow = f'<text aria-hidden="true" x="{x:.0f}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">'
    return f'{shadow}{text}</text><text x="{x:.0f}" y="140" transform="scale(.1)">{text}</text>'
