"""What one getAllCampaignDetails request asks for, read the way a configured sandbox reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from provisioner.sandbox.config import SandboxConfig
from provisioner.sandbox.rules import ABSENT, Check

_LIST_FIELDS: Final = frozenset({"limit", "skip", "page", "type", "sortBy", "startDate", "endDate"})
_DEFAULT_LIMIT: Final = 10
_MAX_LIMIT: Final = 100
SORT_FIELDS: Final = ("createdAt", "name", "updatedAt")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One list request as the sandbox will answer it: which campaigns, in what order, which slice."""

    kind: str  # voice or sms
    limit: int  # the limit actually used (after any page cap)
    offset: int
    sort_field: str
    descending: bool
    start: datetime | None  # createdAt bounds, inclusive; both None: no bound
    end: datetime | None

    def admits(self, created: datetime) -> bool:
        """Say whether a campaign created at ``created`` falls within the requested dates."""
        return (self.start is None or created >= self.start) and (self.end is None or created <= self.end)


def parse_list_query(body: dict[str, Any], config: SandboxConfig, now: datetime) -> ListQuery:
    """Read a list request body under ``config``'s paging, cap and window; raise ValueError naming every problem."""
    check = Check()
    for key in sorted(body.keys() - _LIST_FIELDS):
        check.fail(key, "not supported by the sandbox")
    kind = check.text(body.get("type", ABSENT), "type", choices=("voice", "sms"))
    asked = check.whole(body.get("limit", _DEFAULT_LIMIT), "limit", 1, _MAX_LIMIT)
    limit = None if asked is None else min(asked, config.page_cap or asked)
    offset = _offset(check, body, config, limit)
    order = check.mapping(body.get("sortBy", {"createdAt": "desc"}), "sortBy")
    if order is not None and (len(order) != 1 or not order.keys() <= set(SORT_FIELDS)):
        check.fail("sortBy", f"must hold exactly one of {', '.join(SORT_FIELDS)}")
        order = None
    for sort_field, direction in (order or {}).items():
        check.text(direction, f"sortBy.{sort_field}", choices=("asc", "desc"))
    start, end = (_date(check, body.get(key), key) for key in ("startDate", "endDate"))
    if check.problems or kind is None or limit is None or offset is None or order is None:
        raise ValueError(check.message())
    if "startDate" not in body and "endDate" not in body and config.default_window_days is not None:
        start = now - timedelta(days=config.default_window_days)
    ((sort_field, direction),) = order.items()
    return ListQuery(kind, limit, offset, sort_field, direction == "desc", start, end)


def _offset(check: Check, body: dict[str, Any], config: SandboxConfig, limit: int | None) -> int | None:
    """Return where the page starts from ``skip`` or ``page``, whichever ``config.paging`` honours."""
    if config.paging == "skip" or (config.paging == "both" and "skip" in body):
        return check.whole(body.get("skip", 0), "skip", 0)
    page = check.whole(body.get("page", 1), "page", 1)
    return None if page is None or limit is None else (page - 1) * limit


def _date(check: Check, value: object, path: str) -> datetime | None:
    """Return an ISO 8601 date or time as an aware datetime (UTC when it names no offset), or None if absent."""
    if value is None:
        return None
    text = check.text(value, path)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        check.fail(path, f"must be an ISO 8601 date, not {text!r}")
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
