"""A campaign as the API reports it, whatever envelope or id key the call used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

#: The campaign statuses the tool acts on (the vendor lists also Completed, Paused, Stopped, Scheduled…).
PREPARING: Final = "Preparing"  # just created: lists and DNC being processed; it cannot start yet
READY: Final = "Ready"  # waiting to be started
ACTIVE: Final = "Active"  # dialling; the platform allows no edits


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as the API reports it; ``raw`` is the record exactly as received."""

    id: str
    name: str  # empty when the record carries no name
    status: str | None
    raw: Mapping[str, object] = field(repr=False, compare=False)

    @property
    def created_at(self) -> dt.datetime | None:
        """Return when the server says it created the campaign (the server's clock), if it says."""
        return parse_timestamp(self.raw.get("createdAt"))

    @property
    def updated_at(self) -> str | None:
        """Return the server's ``updatedAt`` exactly as it wrote it (compared as text, never parsed), if given."""
        value = self.raw.get("updatedAt")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ContactList:
    """A contact list as the API reports it: its name and its type (``call``…), when given."""

    name: str
    list_type: str | None


@dataclass(frozen=True, slots=True)
class ContactLists:
    """The account's call contact lists; ``any_name`` when the server says it takes any list name (the sandbox)."""

    lists: tuple[ContactList, ...]
    any_name: bool = False

    def missing(self, names: Iterable[str]) -> list[str]:
        """Return those of ``names`` the server would not know, in order."""
        known = {c.name for c in self.lists}
        return [] if self.any_name else [name for name in names if name not in known]


def parse_timestamp(value: object) -> dt.datetime | None:
    """Read an ISO-8601 timestamp as the API writes it (``…Z``); None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def iso_timestamp(moment: dt.datetime) -> str:
    """Write a moment the way the API does: UTC, milliseconds, ``Z``."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
