"""The one rule for when two campaign names are the same campaign: the platform's own.

The platform stores ``lname``, the name lower-cased, beside every campaign. Names are sent trimmed of outer
spaces, so the fold trims them too; inner spaces are kept, as the platform keeps them.
"""

from __future__ import annotations


def fold_name(name: str) -> str:
    """Return the key under which the platform considers ``name`` the same campaign (``lname``)."""
    # str.lower, not casefold: it maps like JavaScript's toLowerCase ("ß" stays "ß"), which is what lname holds.
    return name.strip().lower()
