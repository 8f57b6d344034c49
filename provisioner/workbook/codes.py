"""Every problem code the validator reports, in one registry: the codes are a public contract (``validate --json``).

Each code says what kind of cause it has, which orders the report (the layout first, then cells, then the
links between sheets), and what it means in one line for users. ``python -m provisioner.workbook.codes``
prints the table that ``docs/problem-codes.md`` holds.
"""

from __future__ import annotations

import sys
from enum import IntEnum, StrEnum
from typing import Final


class Cause(IntEnum):
    """What a problem is about; problems are shown in this order, as an earlier kind often causes later ones."""

    LAYOUT = 1  # sheets and columns: a missing column makes every row's cell "missing"
    CELL = 2  # one cell's value
    LINKS = 3  # rows compared with other rows or the other sheet


class Code(StrEnum):
    """A stable problem code; its value is the ``code`` of a problem in ``validate --json``."""

    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    UNKNOWN_COLUMN = "unknown_column"
    NO_ROWS = "no_rows"
    MISSING_VALUE = "missing_value"
    MERGED_CELL = "merged_cell"
    CONTROL_CHARACTER = "control_character"
    TOO_LONG = "too_long"
    NOT_A_NUMBER = "not_a_number"
    NOT_WHOLE = "not_whole"
    OUT_OF_RANGE = "out_of_range"
    NOT_ALLOWED = "not_allowed"
    LIST_COUNT = "list_count"
    COMMA_SEPARATED_LISTS = "comma_separated_lists"
    PHONE_STORED_AS_NUMBER = "phone_stored_as_number"
    PHONE_NOT_INTERNATIONAL = "phone_not_international"
    PHONE_INVALID = "phone_invalid"
    UNKNOWN_TIMEZONE = "unknown_timezone"
    LEGACY_TIMEZONE = "legacy_timezone"
    NOT_A_DAY = "not_a_day"
    NOT_A_TIME = "not_a_time"
    DATE_NOT_TIME = "date_not_time"
    TIME_HAS_SECONDS = "time_has_seconds"
    NOT_A_DATETIME = "not_a_datetime"
    AMBIGUOUS_DATE = "ambiguous_date"
    NOT_YES_NO = "not_yes_no"
    DUPLICATE_NAME = "duplicate_name"
    END_BEFORE_START = "end_before_start"
    OVERLAPPING_WINDOW = "overlapping_window"
    NO_CALLING_HOURS = "no_calling_hours"
    UNUSED_HOURS_KEY = "unused_hours_key"
    SCHEDULE_INCOMPLETE = "schedule_incomplete"
    SCHEDULE_END_NOT_AFTER_START = "schedule_end_not_after_start"
    SCHEDULE_ENDED = "schedule_ended"
    TIME_SKIPPED_BY_CLOCK_CHANGE = "time_skipped_by_clock_change"
    WEEKLY_WITHOUT_DAYS = "weekly_without_days"
    WEEKLY_ONLY = "weekly_only"
    START_AND_SCHEDULE = "start_and_schedule"
    SCHEDULE_DAY_WITHOUT_HOURS = "schedule_day_without_hours"
    SCHEDULE_ENDS_AT_MIDNIGHT = "schedule_ends_at_midnight"

    @property
    def cause(self) -> Cause:
        """Say what kind of cause the code reports."""
        return _CAUSES.get(self, Cause.CELL)

    @property
    def description(self) -> str:
        """Say in one line what the code means for the person fixing the file."""
        return _DESCRIPTIONS[self]

    @property
    def warns(self) -> bool:
        """Tell whether the code is a warning, which does not block the run."""
        return self in _WARNINGS


_CAUSES: Final[dict[Code, Cause]] = {
    Code.MISSING_COLUMN: Cause.LAYOUT,
    Code.DUPLICATE_COLUMN: Cause.LAYOUT,
    Code.UNKNOWN_COLUMN: Cause.LAYOUT,
    Code.NO_ROWS: Cause.LAYOUT,
    Code.DUPLICATE_NAME: Cause.LINKS,
    Code.END_BEFORE_START: Cause.LINKS,
    Code.OVERLAPPING_WINDOW: Cause.LINKS,
    Code.NO_CALLING_HOURS: Cause.LINKS,
    Code.UNUSED_HOURS_KEY: Cause.LINKS,
    Code.SCHEDULE_INCOMPLETE: Cause.LINKS,
    Code.SCHEDULE_END_NOT_AFTER_START: Cause.LINKS,
    Code.SCHEDULE_ENDED: Cause.LINKS,
    Code.TIME_SKIPPED_BY_CLOCK_CHANGE: Cause.LINKS,
    Code.WEEKLY_WITHOUT_DAYS: Cause.LINKS,
    Code.WEEKLY_ONLY: Cause.LINKS,
    Code.START_AND_SCHEDULE: Cause.LINKS,
    Code.SCHEDULE_DAY_WITHOUT_HOURS: Cause.LINKS,
    Code.SCHEDULE_ENDS_AT_MIDNIGHT: Cause.LINKS,
}

_WARNINGS: Final = frozenset(
    {
        Code.UNKNOWN_COLUMN,
        Code.COMMA_SEPARATED_LISTS,
        Code.LEGACY_TIMEZONE,
        Code.SCHEDULE_DAY_WITHOUT_HOURS,
        Code.SCHEDULE_ENDS_AT_MIDNIGHT,
    }
)

_DESCRIPTIONS: Final[dict[Code, str]] = {
    Code.MISSING_COLUMN: "A required column is not in the header row (a misspelt header gets a 'did you mean').",
    Code.DUPLICATE_COLUMN: "Two headers mean the same column; keep one.",
    Code.UNKNOWN_COLUMN: "A header is not one the tool reads; the column is ignored.",
    Code.NO_ROWS: "The Campaigns sheet has a header row but no campaign rows.",
    Code.MISSING_VALUE: "A required cell is empty.",
    Code.MERGED_CELL: "The cell is hidden under merged cells; unmerge them and fill in every row.",
    Code.CONTROL_CHARACTER: "The text holds invisible control characters; retype it.",
    Code.TOO_LONG: "The text is longer than the platform allows.",
    Code.NOT_A_NUMBER: "The cell must hold a whole number.",
    Code.NOT_WHOLE: "The number has a fraction or a decimal comma; a whole number is required.",
    Code.OUT_OF_RANGE: "The number is outside the range the platform allows.",
    Code.NOT_ALLOWED: "The value is not one of the column's allowed values.",
    Code.LIST_COUNT: "Contact Lists must name 1 to 10 lists.",
    Code.COMMA_SEPARATED_LISTS: "Contact Lists seem separated by commas; the separator is ; or a line break.",
    Code.PHONE_STORED_AS_NUMBER: "The caller ID was stored as a number, which lost the + or digits.",
    Code.PHONE_NOT_INTERNATIONAL: "The caller ID lacks the + and country code.",
    Code.PHONE_INVALID: "The caller ID is not a valid phone number.",
    Code.UNKNOWN_TIMEZONE: "The time zone is not an IANA name such as America/New_York.",
    Code.LEGACY_TIMEZONE: "The time zone is a legacy abbreviation (EST, CET); use the IANA name of the place.",
    Code.NOT_A_DAY: "The day is not MO…SU (or Mon, Monday…) or a range such as MO-FR.",
    Code.NOT_A_TIME: "The cell does not hold a time of day such as 9:00 AM or 17:30.",
    Code.DATE_NOT_TIME: "The cell holds a date where a time of day belongs.",
    Code.TIME_HAS_SECONDS: "The time has seconds; the platform takes hours and minutes only.",
    Code.NOT_A_DATETIME: "The cell does not hold a date and time such as 2027-01-04 09:00.",
    Code.AMBIGUOUS_DATE: "The date reads as day/month or month/day (04/01/2027); write YYYY-MM-DD HH:MM.",
    Code.NOT_YES_NO: "The cell must be yes or no (y/n, true/false and 1/0 are read too).",
    Code.DUPLICATE_NAME: "Two campaigns have the same name (case does not count).",
    Code.END_BEFORE_START: "A calling window ends before it starts (windows cannot run past midnight).",
    Code.OVERLAPPING_WINDOW: "Two calling windows of the same key overlap on a day.",
    Code.NO_CALLING_HOURS: "No CallingHours rows belong to the campaign.",
    Code.UNUSED_HOURS_KEY: "No campaign uses these CallingHours rows (usually a typo in the key or name).",
    Code.SCHEDULE_INCOMPLETE: "A schedule needs Schedule Start, Schedule End and Recurrence; one of them is empty.",
    Code.SCHEDULE_END_NOT_AFTER_START: "The schedule ends before it starts, or when it starts.",
    Code.SCHEDULE_ENDED: "The schedule's end has passed in the campaign's time zone.",
    Code.TIME_SKIPPED_BY_CLOCK_CHANGE: "The time does not exist in the campaign's time zone: clocks jump past it.",
    Code.WEEKLY_WITHOUT_DAYS: "A weekly schedule needs Schedule Days.",
    Code.WEEKLY_ONLY: "Every N Weeks and Schedule Days belong to weekly schedules; this one is daily.",
    Code.START_AND_SCHEDULE: "Start is yes on a campaign with a schedule, which starts it itself; choose one.",
    Code.SCHEDULE_DAY_WITHOUT_HOURS: "A weekly schedule runs on a day its campaign's calling hours leave without a "
    "window: it will not dial that day.",
    Code.SCHEDULE_ENDS_AT_MIDNIGHT: "Schedule End is midnight, the very start of its day: that day is not included.",
}


def markdown() -> str:
    """Return the table of every code, as ``docs/problem-codes.md`` holds it."""
    lines = [
        "# Problem codes",
        "",
        "Generated by `python -m provisioner.workbook.codes > docs/problem-codes.md`; do not edit by hand.",
        "",
        "`validate --json` gives each problem a `code` from this table. Problems are listed by cause: the layout "
        "of the sheets first, then single cells, then links between rows and sheets. Warnings do not block a run.",
        "",
        "| Code | Cause | Severity | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for code in sorted(Code, key=lambda c: (c.cause, list(Code).index(c))):
        severity = "warning" if code.warns else "error"
        lines.append(f"| `{code.value}` | {code.cause.name.lower()} | {severity} | {code.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
