"""Counted words for printed lines: "1 campaign", "2 campaigns"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return the count followed by the word in the right number (``plural`` defaults to singular + "s")."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
