"""The vendor's body rules, restated from its pages: :func:`create_body_problems`, :func:`schedule_body_problems`
and the checker under them.

They are written here on purpose instead of being read from :mod:`provisioner.workbook.spec`: the sandbox is
the oracle the client's own validation is tested against, and one shared table would let a single mistake
pass both.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import zoneinfo
from datetime import datetime
from typing import Any, Final

_CREATE_FIELDS: Final = frozenset(
    {
        "name",
        "description",
        "contactLists",
        "dncLists",
        "priority",
        "dialingMode",
        "dialingStrategy",
        "experienceFlowName",
        "enableMachineDetect",
        "campaignType",
        "schedule",
    }
)
_DIALING_MODES: Final = ("Agentless", "Progressive", "Preview")
_MACHINE_DETECT: Final = ("no", "detect", "disconnect")
_FREQUENCIES: Final = ("WEEKLY", "DAILY", "CUSTOM")
_DIALING_ORDERS: Final = ("FIFO", "LIFO")
_STRATEGY_NUMBERS: Final = {
    "maxAttemptsPerRecord": (1, 100),
    "defaultRetryPeriod": (1, 1440),  # minutes
    "maxRingTime": (5, 120),  # seconds
}
_DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_E164: Final = re.compile(r"\+[0-9]{8,15}")
_CLOCK_TIME: Final = re.compile(r"(1[0-2]|0?[1-9]):([0-5][0-9]) (AM|PM)")
_CREATE_SCHEDULE_FIELDS: Final = frozenset({"isSchedulingEnabled"})
#: The schedule call's body (enableSchedule=true), its recurrence object and the weekly details in that.
_SCHEDULE_FIELDS: Final = frozenset({"startDateTime", "endDateTime", "recurrenceObject"})
_RECURRENCE_FIELDS: Final = frozenset({"recurType", "weeklyDetails"})
_WEEKLY_FIELDS: Final = frozenset({"onceEveryNweeks", "whichDays"})
_RECUR_TYPES: Final = ("Daily", "Weekly")
_WEEK_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SCHEDULE_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_SCHEDULE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"  # the vendor's YYYY-MM-DD HH:mm:ss

#: Stands for a key missing from a request body, so ``None`` (JSON null) can be told apart from it.
ABSENT: Final = object()


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _minutes(clock_time: str) -> int | None:
    """Return minutes after midnight of an ``h:mm AM/PM`` text, or None if it is not one."""
    match = _CLOCK_TIME.fullmatch(clock_time)
    if match is None:
        return None
    hour, minute, half = int(match[1]) % 12, int(match[2]), match[3]
    return (hour + (12 if half == "PM" else 0)) * 60 + minute


def _describe(value: object) -> str:
    """Name a JSON value's type and show it briefly, e.g. ``number 30.5`` or ``array ["a"]``."""
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    else:
        kind = "null" if value is None else "object"
    shown = json.dumps(value)
    return f"{kind} {shown if len(shown) <= 40 else shown[:39] + '…'}"


class Check:
    """Collects every problem in a request body as ``path: problem`` texts."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        """Record one problem at ``path``."""
        self.problems.append(f"{path}: {problem}")

    def message(self) -> str:
        """Return every problem recorded so far, joined with ``; ``."""
        return "; ".join(self.problems)

    def _present(self, value: object, path: str) -> bool:
        if value is ABSENT:
            self.fail(path, "required")
            return False
        return True

    def text(
        self,
        value: object,
        path: str,
        *,
        choices: tuple[str, ...] = (),
        max_len: int | None = None,
        allow_empty: bool = False,
    ) -> str | None:
        """Return ``value`` if it is a fitting string, else record why not and return None."""
        if not self._present(value, path):
            return None
        if not isinstance(value, str):
            self.fail(path, f"must be a string, not {_describe(value)}")
            return None
        if choices and value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}, not {_describe(value)}")
            return None
        size = len(value.strip())
        if size == 0 and not allow_empty:
            self.fail(path, "must not be empty")
            return None
        if max_len is not None and size > max_len:
            self.fail(path, f"must be at most {max_len} characters, not {size}")
            return None
        return value

    def unknown(self, mapping: dict[str, Any], known: frozenset[str], prefix: str) -> None:
        """Record every key of ``mapping`` outside ``known``, at ``prefix`` + key."""
        for key in sorted(mapping.keys() - known):
            self.fail(f"{prefix}{key}", "unknown field")

    def boolean(self, value: object, path: str) -> bool | None:
        """Return ``value`` if it is true or false, else record why not and return None."""
        if not self._present(value, path):
            return None
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, not {_describe(value)}")
            return None
        return value

    def whole(self, value: object, path: str, low: int, high: int | None = None) -> int | None:
        """Return ``value`` if it is a whole number in range, else record why not and return None."""
        wanted = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if not self._present(value, path):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number {wanted}, not {_describe(value)}")
            return None
        if value < low or (high is not None and value > high):
            self.fail(path, f"must be {wanted}, not {value}")
            return None
        return value

    def mapping(self, value: object, path: str) -> dict[str, Any] | None:
        """Return ``value`` if it is a JSON object, else record why not and return None."""
        if not self._present(value, path):
            return None
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, not {_describe(value)}")
            return None
        return value

    def array(self, value: object, path: str, *, max_items: int | None = None) -> list[Any] | None:
        """Return ``value`` if it is a non-empty array of at most ``max_items``, else record why not."""
        if not self._present(value, path):
            return None
        if not isinstance(value, list) or not value:
            self.fail(path, f"must be a non-empty array, not {_describe(value)}")
            return None
        if max_items is not None and len(value) > max_items:
            self.fail(path, f"must hold at most {max_items} items, not {len(value)}")
            return None
        return value


def create_body_problems(
    body: dict[str, Any], campaign_type_query: str | None, known_lists: frozenset[str] | None
) -> list[str]:
    """Return every way a create request breaks the vendor's page (empty when it is valid)."""
    check = Check()
    if campaign_type_query != "voice":
        check.fail("campaignType (query parameter)", "must be voice")
    check.unknown(body, _CREATE_FIELDS, "")
    check.text(body.get("name", ABSENT), "name", max_len=48)
    check.text(body.get("description", ABSENT), "description", max_len=256, allow_empty=True)
    lists = check.array(body.get("contactLists", ABSENT), "contactLists", max_items=10)
    for index, item in enumerate(lists or ()):
        path = f"contactLists[{index}]"
        name = check.text(item, path)
        if name is not None and known_lists is not None and name not in known_lists:
            check.fail(path, f"Contact list '{name}' not found")
    dnc = check.mapping(body.get("dncLists", ABSENT), "dncLists")
    if dnc is not None:
        check.text(dnc.get("name", ABSENT), "dncLists.name")
    check.text(body.get("priority", ABSENT), "priority", choices=("1", "2", "3", "4", "5"))
    mode = check.text(body.get("dialingMode", ABSENT), "dialingMode", choices=_DIALING_MODES)
    if mode is not None and mode != "Agentless":
        check.fail("dialingMode", f"{mode} needs queue settings (queue_name); this body takes Agentless only")
    strategy = check.mapping(body.get("dialingStrategy", ABSENT), "dialingStrategy")
    if strategy is not None:
        _strategy_problems(check, strategy)
    check.text(body.get("experienceFlowName", ABSENT), "experienceFlowName")
    check.text(body.get("enableMachineDetect", ABSENT), "enableMachineDetect", choices=_MACHINE_DETECT)
    check.text(body.get("campaignType", ABSENT), "campaignType", choices=("voice",))
    schedule = check.mapping(body["schedule"], "schedule") if "schedule" in body else None
    if schedule is not None:
        check.unknown(schedule, _CREATE_SCHEDULE_FIELDS, "schedule.")
        check.boolean(schedule.get("isSchedulingEnabled", ABSENT), "schedule.isSchedulingEnabled")
    return check.problems


def schedule_body_problems(body: dict[str, Any], *, now: datetime, zone: str) -> list[str]:
    """Return every way an enabling schedule-call body breaks the vendor's page (empty when it is valid).

    ``startDateTime`` and ``endDateTime`` are ``YYYY-MM-DD HH:mm:ss`` in the campaign's time zone ``zone``;
    the end must be later than the start and than ``now`` (an aware moment on the server's clock) there.
    """
    check = Check()
    check.unknown(body, _SCHEDULE_FIELDS, "")
    start, end = (_schedule_time(check, body.get(key, ABSENT), key) for key in ("startDateTime", "endDateTime"))
    local_now = now.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)
    if end is not None and end <= local_now:
        check.fail("endDateTime", f"must be later than now ({local_now:{_SCHEDULE_FORMAT}} in {zone})")
    if start is not None and end is not None and end <= start:
        check.fail("endDateTime", "must be later than startDateTime")
    recurrence = check.mapping(body.get("recurrenceObject", ABSENT), "recurrenceObject")
    if recurrence is None:
        return check.problems
    check.unknown(recurrence, _RECURRENCE_FIELDS, "recurrenceObject.")
    kind = check.text(recurrence.get("recurType", ABSENT), "recurrenceObject.recurType", choices=_RECUR_TYPES)
    weekly = recurrence.get("weeklyDetails", ABSENT)
    if kind == "Daily" and weekly is not ABSENT:
        check.fail("recurrenceObject.weeklyDetails", "only a Weekly recurrence takes it")
    if kind == "Weekly":
        details = check.mapping(weekly, "recurrenceObject.weeklyDetails")
        if details is not None:
            _weekly_problems(check, details, "recurrenceObject.weeklyDetails")
    return check.problems


def _schedule_time(check: Check, value: object, path: str) -> datetime | None:
    """Return a ``YYYY-MM-DD HH:mm:ss`` text as a naive datetime, else record why it is not one."""
    text = check.text(value, path)
    if text is None:
        return None
    moment = None
    if _SCHEDULE_TIME.fullmatch(text):
        with contextlib.suppress(ValueError):  # a day the calendar lacks, such as 2026-02-30
            moment = datetime.strptime(text, _SCHEDULE_FORMAT)  # noqa: DTZ007  (a wall time in the campaign's zone)
    if moment is None:
        check.fail(path, f"must be a date and time as YYYY-MM-DD HH:mm:ss, such as 2026-05-04 09:00:00, not {text!r}")
    return moment


def _weekly_problems(check: Check, details: dict[str, Any], path: str) -> None:
    """Check ``weeklyDetails``: every how many weeks, and on which days (Mon…Sun)."""
    check.unknown(details, _WEEKLY_FIELDS, f"{path}.")
    check.whole(details.get("onceEveryNweeks", ABSENT), f"{path}.onceEveryNweeks", 1)
    for index, day in enumerate(check.array(details.get("whichDays", ABSENT), f"{path}.whichDays") or ()):
        check.text(day, f"{path}.whichDays[{index}]", choices=_WEEK_DAYS)


def _strategy_problems(check: Check, strategy: dict[str, Any]) -> None:
    """Check ``dialingStrategy`` and everything under it."""
    caller = check.mapping(strategy.get("callerId", ABSENT), "dialingStrategy.callerId")
    if caller is not None:
        path = "dialingStrategy.callerId.phoneNumber"
        number = check.text(caller.get("phoneNumber", ABSENT), path)
        if number is not None and not _E164.fullmatch(number):
            check.fail(path, "must be in E.164 form: + then 8 to 15 digits")
    hours = check.mapping(strategy.get("callingHours", ABSENT), "dialingStrategy.callingHours")
    if hours is not None:
        prefix = "dialingStrategy.callingHours"
        check.text(hours.get("frequency", ABSENT), f"{prefix}.frequency", choices=_FREQUENCIES)
        zone = check.text(hours.get("timezone", ABSENT), f"{prefix}.timezone")
        if zone is not None and zone not in _time_zones():
            check.fail(f"{prefix}.timezone", f"{zone!r} is not an IANA time zone name")
        for index, block in enumerate(check.array(hours.get("days", ABSENT), f"{prefix}.days") or ()):
            _day_problems(check, block, f"{prefix}.days[{index}]")
    check.text(strategy.get("dialingOrder", ABSENT), "dialingStrategy.dialingOrder", choices=_DIALING_ORDERS)
    for key, (low, high) in _STRATEGY_NUMBERS.items():
        check.whole(strategy.get(key, ABSENT), f"dialingStrategy.{key}", low, high)


def _day_problems(check: Check, block: object, path: str) -> None:
    """Check one ``{day, start, end}`` calling-hours block."""
    entry = check.mapping(block, path)
    if entry is None:
        return
    check.text(entry.get("day", ABSENT), f"{path}.day", choices=_DAYS)
    minutes: list[int | None] = []
    for key in ("start", "end"):
        text = check.text(entry.get(key, ABSENT), f"{path}.{key}")
        at = None if text is None else _minutes(text)
        if text is not None and at is None:
            check.fail(f"{path}.{key}", f"must be a time such as 9:00 AM, not {text!r}")
        minutes.append(at)
    start, end = minutes
    if start is not None and end is not None and start >= end:
        check.fail(path, "start must be before end")
