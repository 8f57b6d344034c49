"""Pass 3 for a campaign's schedule and Start columns: they agree with each other, the time zone and the clock.

A schedule is all or nothing (Schedule Start, Schedule End and Recurrence together, the others optional), ends
after it starts and after now in the campaign's own time zone, names times that exist there, and only a Weekly
one takes Every N Weeks and Schedule Days (which it needs). A schedule starts its campaign itself, so Start =
yes beside one is refused: the person filling the sheet must choose.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import pandas as pd

from provisioner.workbook import spec
from provisioner.workbook.codes import Code
from provisioner.workbook.load import Sheet
from provisioner.workbook.problems import Problem

#: The schedule columns every schedule needs.
_REQUIRED: Final = ("schedule_start", "schedule_end", "recurrence")
_WEEKLY_ONLY: Final = ("every_n_weeks", "schedule_days")
_READ: Final = (*spec.SCHEDULE_KEYS, "timezone", "start")
_LABELS: Final = {c.key: c.label for c in spec.CAMPAIGN_COLUMNS}


def schedule_problems(
    sheet: Sheet,
    campaigns: pd.DataFrame,
    failed: set[tuple[int, str]],
    now: dt.datetime,
    calling_days: Mapping[int, frozenset[str]],
) -> list[Problem]:
    """Check every row's schedule and Start; ``failed`` holds the cells that could not be read (they are filled).

    ``calling_days`` maps a row to the days its calling hours have a window on (rows whose hours are known).
    """
    columns = [campaigns[key].tolist() for key in _READ]
    problems: list[Problem] = []
    for row, *cells in zip(campaigns.index.tolist(), *columns, strict=True):
        values = dict(zip(_READ, cells, strict=True))
        filled = [key for key in spec.SCHEDULE_KEYS if values[key] is not None or (row, key) in failed]
        if filled:
            problems += _row_problems(_Row(sheet, row), values, filled, now)
            problems += _warnings(_Row(sheet, row), values, calling_days.get(row))
    return problems


def _warnings(row: _Row, values: dict[str, Any], calling_days: frozenset[str] | None) -> list[Problem]:
    """Warn of a schedule that will not do what it seems to: days without calling hours, an end at midnight."""
    problems = []
    days = values["schedule_days"] if values["recurrence"] == "Weekly" else None
    idle = [day for day in spec.DAYS if days and calling_days is not None and day in days and day not in calling_days]
    if idle:
        listed = ", ".join(idle)
        problems.append(
            row.problem(
                "schedule_days",
                Code.SCHEDULE_DAY_WITHOUT_HOURS,
                f"The schedule runs on {listed}, but this campaign's calling hours have no window on "
                f"{'that day' if len(idle) == 1 else 'those days'}: it will not dial then. Add a window in "
                "CallingHours, or take the day out of Schedule Days.",
            )
        )
    end = values["schedule_end"]
    if end is not None and end.time() == dt.time(0, 0):
        day = f"{end:%Y-%m-%d}"
        problems.append(
            row.problem(
                "schedule_end",
                Code.SCHEDULE_ENDS_AT_MIDNIGHT,
                f"The schedule ends at 00:00 on {day}, the very start of that day, so {day} itself is not "
                f"included. To include it, write {day} 23:59.",
            )
        )
    return problems


class _Row:
    """One Campaigns row, making its problems with the cell's value as the file holds it."""

    def __init__(self, sheet: Sheet, row: int) -> None:
        self.sheet = sheet
        self.row = row

    def problem(self, key: str, code: Code, message: str) -> Problem:
        raw = self.sheet.frame.at[self.row, key] if key in self.sheet.frame else None
        return self.sheet.problem(self.row, key, code, message, raw)


def _row_problems(row: _Row, values: dict[str, Any], filled: list[str], now: dt.datetime) -> list[Problem]:
    """Return the problems of one row that has at least one schedule cell filled in."""
    problems = [
        row.problem(
            key,
            Code.SCHEDULE_INCOMPLETE,
            f"{_LABELS[key]} is empty, but this row has a schedule ({', '.join(_LABELS[k] for k in filled)} filled "
            "in). A schedule needs Schedule Start, Schedule End and Recurrence: fill them in, or empty every "
            "schedule cell for a campaign without a schedule.",
        )
        for key in _REQUIRED
        if key not in filled
    ]
    if values["start"] == "yes":
        problems.append(
            row.problem(
                "start",
                Code.START_AND_SCHEDULE,
                "Start is yes, but this row has a schedule, and a schedule starts the campaign itself; choose one: "
                "empty the schedule cells to start it now, or set Start to no to leave it to the schedule.",
            )
        )
    start, end = values["schedule_start"], values["schedule_end"]
    if start is not None and end is not None and end <= start:
        when = "when" if end == start else "before"
        problems.append(
            row.problem(
                "schedule_end",
                Code.SCHEDULE_END_NOT_AFTER_START,
                f"The schedule ends ({_shown(end)}) {when} it starts ({_shown(start)}); Schedule End must be later "
                "than Schedule Start.",
            )
        )
    if values["timezone"] is not None:
        problems += _clock_problems(row, values["timezone"], start, end, now)
    recurrence = values["recurrence"]
    if recurrence == "Weekly" and "schedule_days" not in filled:
        problems.append(
            row.problem(
                "schedule_days",
                Code.WEEKLY_WITHOUT_DAYS,
                "A weekly schedule needs Schedule Days: the days of the week it runs, such as MO-FR or Mon, Wed, Fri.",
            )
        )
    if recurrence == "Daily":
        problems += [
            row.problem(
                key,
                Code.WEEKLY_ONLY,
                f"{_LABELS[key]} belongs to weekly schedules, and this one is Daily: empty the cell, or set "
                "Recurrence to Weekly.",
            )
            for key in _WEEKLY_ONLY
            if key in filled
        ]
    return problems


def _clock_problems(
    row: _Row, zone_name: str, start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime
) -> list[Problem]:
    """Report times the zone's clocks skip, and an end that has passed there."""
    zone = _zone(zone_name)
    problems = [
        row.problem(
            key,
            Code.TIME_SKIPPED_BY_CLOCK_CHANGE,
            f"{_shown(moment)} does not exist in {zone_name}: the clocks jump forward past it that night. Choose a "
            "time outside the jump, such as an hour later.",
        )
        for key, moment in (("schedule_start", start), ("schedule_end", end))
        if moment is not None and not _exists(moment, zone)
    ]
    if end is not None and end.replace(tzinfo=zone) <= now:
        problems.append(
            row.problem(
                "schedule_end",
                Code.SCHEDULE_ENDED,
                f"The schedule ends {_shown(end)} ({zone_name}), which has passed: it is "
                f"{_shown(now.astimezone(zone))} there now. Schedule End must be later than now.",
            )
        )
    return problems


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _exists(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """Tell whether a wall-clock time occurs in a zone (a spring-forward gap skips it; a fall-back repeats it)."""
    there = moment.replace(tzinfo=zone)
    return there.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == moment


def _shown(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
