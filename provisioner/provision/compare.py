"""Compare a row of the sheet with its campaign on the server, field by field, in the sheet's own terms.

The server does not echo everything it was sent: ``experienceFlowName`` comes back as an ``experienceFlow`` id,
and ``enableMachineDetect`` as a boolean (a create's reply) or not at all (a read by id). For those the ledger's
record of the last body written stands in for the server's value, as long as what the server does show agrees
with it. ``dncLists`` comes back with an id beside the name, and lists of campaigns lack ``dialingStrategy``:
only a read by id is compared.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from provisioner.api.campaign import ACTIVE, Campaign
from provisioner.workbook import spec

Action = Literal["update", "unchanged", "locked"]

#: The status of a campaign the vendor does not let anyone edit.
LOCKED_STATUS: Final = ACTIVE
#: The field a change list names when the platform changed the campaign since our last write.
DRIFT_FIELD: Final = "Changed on the platform"
_NOT_SHOWN: Final = "(not shown)"
_NONE: Final = "none"
_EITHER: Final = "detect or disconnect"  # what a boolean true says: machine detection on, in one of two modes
_DASH: Final = "–"  # an en dash between a window's start and end, as the sheet's examples write it


@dataclass(frozen=True, slots=True)
class Change:
    """One field whose server value differs from the sheet's, both in the sheet's terms."""

    field: str  # the sheet's column label ("Priority"), or "Calling hours MO"
    server: str
    sheet: str
    delta: str | None = None  # for lists: "+ CL North, − CL South"

    def __str__(self) -> str:
        """Say the change as the results and the plan show it: ``Priority 3 → 2``."""
        if self.delta is not None:
            return f"{self.field} {self.delta}"
        return f"{self.field} {self.server} → {self.sheet}"

    def as_json(self) -> dict[str, str]:
        """Return the change as ``plan --json`` prints it."""
        return {"field": self.field, "server": self.server, "sheet": self.sheet}


@dataclass(frozen=True, slots=True)
class Comparison:
    """What a row needs: its action, its changes, and what the ledger may record of the server's state."""

    action: Action
    changes: tuple[Change, ...]
    updated_at: str | None  # the server's updatedAt when compared
    holds: dict[str, Any] | None  # the body the server is known to hold now (None: changed on the platform)
    read: Campaign | None = None  # the campaign as read by id, when the list could not settle the row


def _label(key: str) -> str:
    return next(c.label for c in spec.CAMPAIGN_COLUMNS if c.key == key)


def _strategy(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body["dialingStrategy"]  # type: ignore[no-any-return]


def _hours(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _strategy(body)["callingHours"]  # type: ignore[no-any-return]


#: Fields the server echoes in the shape they were sent: a sheet column and how to read it from a body or record.
_ECHOED: Final[tuple[tuple[str, Callable[[Mapping[str, Any]], object]], ...]] = (
    ("name", lambda b: b["name"].strip()),  # the server trims the name it stores
    ("description", lambda b: b["description"]),
    ("dnc_list", lambda b: b["dncLists"]["name"]),
    ("priority", lambda b: b["priority"]),
    ("dialing_mode", lambda b: b["dialingMode"]),
    ("caller_id", lambda b: _strategy(b)["callerId"]["phoneNumber"]),
    ("frequency", lambda b: _hours(b)["frequency"]),
    ("timezone", lambda b: _hours(b)["timezone"]),
    ("dialing_order", lambda b: _strategy(b)["dialingOrder"]),
    ("max_attempts_per_record", lambda b: _strategy(b)["maxAttemptsPerRecord"]),
    ("default_retry_period", lambda b: _strategy(b)["defaultRetryPeriod"]),
    ("max_ring_time", lambda b: _strategy(b)["maxRingTime"]),
)


_BEFORE_LISTS: Final = ("name", "description")


def _read(record: Mapping[str, Any], path: Callable[[Mapping[str, Any]], object]) -> str:
    try:
        value = path(record)
    except (KeyError, TypeError):
        return _NOT_SHOWN
    return _NOT_SHOWN if value is None else str(value)


def _days(record: Mapping[str, Any]) -> dict[str, str]:
    """Return each day's windows as the sheet would say them (``9:00 AM–5:00 PM, …``), earliest first."""
    try:
        days = _hours(record)["days"]
    except (KeyError, TypeError):
        return {}
    windows: dict[str, list[tuple[str, str]]] = {}
    for window in days if isinstance(days, list) else []:
        if isinstance(window, dict):
            windows.setdefault(str(window.get("day")), []).append((str(window.get("start")), str(window.get("end"))))
    return {
        day: ", ".join(f"{start}{_DASH}{end}" for start, end in sorted(spans, key=lambda s: _minutes(s[0])))
        for day, spans in windows.items()
    }


def _minutes(text: str) -> tuple[int, str]:
    try:
        moment = dt.datetime.strptime(text.strip(), "%I:%M %p").time()  # noqa: DTZ007  (a time of day, no date)
    except ValueError:
        return (24 * 60, text)
    return (moment.hour * 60 + moment.minute, text)


def _lists(record: Mapping[str, Any]) -> list[str]:
    value = record.get("contactLists")
    return [str(name) for name in value] if isinstance(value, list) else []


def _machine_detect(record: Mapping[str, Any], last: Mapping[str, Any] | None) -> str | None:
    """Return the server's machine detection in the sheet's terms; None when neither it nor the ledger says."""
    shown = record.get("enableMachineDetect")
    sent = last.get("enableMachineDetect") if last is not None else None
    sent = sent if isinstance(sent, str) else None
    if isinstance(shown, str):
        return shown
    if isinstance(shown, bool):
        if sent is not None and (sent != "no") == shown:
            return sent
        return _EITHER if shown else "no"
    return sent  # a read by id does not show it: the body last written is all there is


def differences(
    sheet: Mapping[str, Any], server: Mapping[str, Any], last: Mapping[str, Any] | None
) -> tuple[Change, ...]:
    """Return every field where the server's record differs from the sheet's body, in the sheet's order.

    ``last`` is the body the ledger says was last written: it stands in for what the server cannot echo.
    """
    echoed = [
        (key, Change(_label(key), shown, wanted))
        for key, path in _ECHOED
        if (shown := _read(server, path)) != (wanted := _read(sheet, path))
    ]
    # Contact Lists come third on the sheet, after the name and the description.
    changes = [c for key, c in echoed if key in _BEFORE_LISTS] + _list_change(_lists(server), _lists(sheet))
    changes += [c for key, c in echoed if key not in _BEFORE_LISTS]
    server_days, sheet_days = _days(server), _days(sheet)
    changes += [
        Change(f"Calling hours {day}", server_days.get(day, _NONE), sheet_days.get(day, _NONE))
        for day in (*spec.DAYS, *sorted((set(server_days) | set(sheet_days)) - set(spec.DAYS)))
        if server_days.get(day) != sheet_days.get(day)
    ]
    flow = last.get("experienceFlowName") if last is not None else None
    if isinstance(flow, str) and flow != sheet.get("experienceFlowName"):
        changes.append(Change(_label("experience_flow_name"), flow, str(sheet.get("experienceFlowName"))))
    detect, wanted = _machine_detect(server, last), str(sheet.get("enableMachineDetect"))
    if detect not in (None, wanted) and not (detect == _EITHER and wanted != "no"):
        changes.append(Change(_label("enable_machine_detect"), str(detect), wanted))
    return tuple(changes)


def _list_change(server: list[str], sheet: list[str]) -> list[Change]:
    added = [name for name in sheet if name not in server]
    removed = [name for name in server if name not in sheet]
    if not added and not removed:
        return []
    delta = ", ".join([f"+ {name}" for name in added] + [f"− {name}" for name in removed])
    return [Change(_label("contact_lists"), "; ".join(server), "; ".join(sheet), delta)]


def same_body(body: Mapping[str, Any], last: Mapping[str, Any] | None) -> bool:
    """Tell whether a row's body is the one the ledger says was last written (compared as JSON)."""
    return last is not None and json.loads(json.dumps(body, sort_keys=True)) == last


def unchanged_since_written(
    body: Mapping[str, Any], listed: Campaign, last: Mapping[str, Any] | None, updated_at: str | None
) -> bool:
    """Tell, from the list alone, that the server still holds the row: same body written, ``updatedAt`` unmoved."""
    return listed.updated_at is not None and listed.updated_at == updated_at and same_body(body, last)


def compare(
    sheet: Mapping[str, Any], server: Campaign, last: Mapping[str, Any] | None, last_updated_at: str | None
) -> Comparison:
    """Compare a row with its campaign as read by id; note drift when the platform changed it since our write."""
    changes = differences(sheet, server.raw, last)
    off_last = last is None or bool(differences(last, server.raw, last))
    # updatedAt also moves when the server itself changes a campaign (Preparing turning Ready): drift is a move
    # that changed what we wrote.
    drifted = last is not None and off_last and last_updated_at not in (None, server.updated_at)
    if not changes:
        return Comparison("unchanged", (), server.updated_at, dict(sheet))
    holds = None if off_last else dict(last or {})
    if drifted:
        note = f"updated {server.updated_at}, after our last write ({last_updated_at}); the server column shows it"
        changes = (Change(DRIFT_FIELD, str(server.updated_at), str(last_updated_at), note), *changes)
    action: Action = "locked" if server.status == LOCKED_STATUS else "update"
    return Comparison(action, changes, server.updated_at, holds)
