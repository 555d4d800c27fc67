"""Team slugs: ``[a-z0-9-]``, unique; a user's personal team is named after the user."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.text import slugify


def free_slug(wanted: str, taken: Callable[[str], bool], *, fallback: str = "team") -> str:
    """``wanted`` made a slug (at most 50 characters), with ``-2``, ``-3``, … until ``taken`` says no."""
    base = slugify(wanted).replace("_", "-").strip("-")[:40].strip("-") or fallback
    slug, n = base, 1
    while taken(slug):
        n += 1
        slug = f"{base}-{n}"
    return slug
