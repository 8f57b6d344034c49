"""The workbook contract: sheets, columns, accepted header spellings, allowed values and limits.

The template writer, the loader, the validator and the payload builder all read this one table, so a
column is described once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

Kind = Literal["text", "names", "int", "choice", "phone", "timezone", "day", "time", "datetime", "days", "flag"]

CAMPAIGNS: Final = "Campaigns"
CALLING_HOURS: Final = "CallingHours"
INSTRUCTIONS: Final = "Instructions"

NAME_MAX: Final = 48
DESCRIPTION_MAX: Final = 256
CONTACT_LISTS_MAX: Final = 10

DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: How the Schedule Start and Schedule End columns want a date and time written (and the template shows it).
DATETIME_TEXT: Final = "YYYY-MM-DD HH:MM"
WEEKS_MAX: Final = 52
#: Modes the vendor documents but whose create body needs queue settings this endpoint does not take.
OTHER_DIALING_MODES: Final = ("Progressive", "Preview")


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its canonical key, its template label and every spelling accepted as header."""

    key: str
    label: str
    kind: Kind
    required: bool
    description: str
    example: str
    api: tuple[str, ...] = ()  # API field names, short first, then the full dotted path of the vendor's page
    choices: tuple[str, ...] = ()  # the API's spelling
    bounds: tuple[int, int] | None = None
    max_len: int | None = None
    default: str | None = None
    aliases: tuple[str, ...] = field(default=())

    def spellings(self) -> tuple[str, ...]:
        """Return every header text this column accepts (before normalisation)."""
        return (self.key, self.label, *self.api, *self.aliases)

    @property
    def allowed(self) -> str:
        """Describe the allowed values in words, for messages and the Instructions sheet."""
        if self.choices:
            return ", ".join(self.choices)
        if self.bounds:
            return f"a whole number from {self.bounds[0]} to {self.bounds[1]}"
        if self.kind == "phone":
            return "a phone number in international format: + then country code and number"
        if self.kind == "timezone":
            return "an IANA time zone name such as America/New_York or Europe/London"
        if self.kind == "day":
            return "MO, TU, WE, TH, FR, SA, SU (or Mon, Monday…), or a range such as MO-FR"
        if self.kind == "time":
            return "a time such as 9:00 AM, 17:30 or 9am"
        if self.kind == "datetime":
            return f"a date and time in the campaign's time zone: {DATETIME_TEXT} (2027-01-04 09:00) or a date cell"
        if self.kind == "days":
            return "days (MO, Mon, Monday…) or ranges such as MO-FR, separated by , ; or line breaks"
        if self.kind == "names":
            return f"1 to {CONTACT_LISTS_MAX} list names separated by ; or line breaks"
        if self.max_len:
            return f"text, at most {self.max_len} characters"
        return "text"


CAMPAIGN_COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "name",
        "Campaign Name",
        "text",
        True,
        "Name of the campaign as it will appear on the platform; unique, case does not count.",
        "Spring Renewals East",
        api=("name",),
        max_len=NAME_MAX,
        aliases=("campaign",),
    ),
    Column(
        "description",
        "Description",
        "text",
        True,
        "What the campaign is for.",
        "Renewal reminders for the eastern region",
        api=("description",),
        max_len=DESCRIPTION_MAX,
    ),
    Column(
        "contact_lists",
        "Contact Lists",
        "names",
        True,
        "Contact lists to call, by name, as they exist on the platform.",
        "Renewals East Q2",
        api=("contactLists",),
        aliases=("contact_list",),
    ),
    Column(
        "dnc_list",
        "DNC List",
        "text",
        True,
        "The Do Not Call list to scrub against, by name.",
        "Global DNC",
        api=("dncLists", "dncLists.name"),
        aliases=("dnc", "do not call list", "dnc_lists"),
    ),
    Column(
        "priority",
        "Priority",
        "int",
        True,
        "Campaign priority; higher runs first.",
        "3",
        api=("priority",),
        bounds=(1, 5),
    ),
    Column(
        "dialing_mode",
        "Dialing Mode",
        "choice",
        False,
        "How calls are placed. This tool creates Agentless campaigns only.",
        "Agentless",
        api=("dialingMode",),
        choices=("Agentless",),
        default="Agentless",
    ),
    Column(
        "caller_id",
        "Caller ID",
        "phone",
        True,
        "Number shown to the people called. Type it as text with the + so Excel keeps it.",
        "+14155550123",
        api=("callerId", "callerId.phoneNumber", "dialingStrategy.callerId.phoneNumber"),
        aliases=("phoneNumber", "caller_id_number"),
    ),
    Column(
        "frequency",
        "Frequency",
        "choice",
        True,
        "How the calling hours repeat.",
        "WEEKLY",
        api=("frequency", "callingHours.frequency", "dialingStrategy.callingHours.frequency"),
        choices=("WEEKLY", "DAILY", "CUSTOM"),
    ),
    Column(
        "timezone",
        "Time Zone",
        "timezone",
        True,
        "Time zone in which the calling hours apply.",
        "America/New_York",
        api=("timezone", "callingHours.timezone", "dialingStrategy.callingHours.timezone"),
        aliases=("tz", "time_zone"),
    ),
    Column(
        "dialing_order",
        "Dialing Order",
        "choice",
        True,
        "FIFO calls the oldest records first, LIFO the newest.",
        "FIFO",
        api=("dialingOrder", "dialingStrategy.dialingOrder"),
        choices=("FIFO", "LIFO"),
    ),
    Column(
        "max_attempts_per_record",
        "Max Attempts per Record",
        "int",
        True,
        "How many times one contact may be called.",
        "3",
        api=("maxAttemptsPerRecord", "dialingStrategy.maxAttemptsPerRecord"),
        bounds=(1, 100),
        aliases=("max attempts",),
    ),
    Column(
        "default_retry_period",
        "Retry Period (min)",
        "int",
        True,
        "Minutes to wait before calling a contact again.",
        "60",
        api=("defaultRetryPeriod", "dialingStrategy.defaultRetryPeriod"),
        bounds=(1, 1440),
        aliases=("retry period", "default retry period (min)"),
    ),
    Column(
        "max_ring_time",
        "Max Ring Time (s)",
        "int",
        True,
        "Seconds to let a call ring before hanging up.",
        "30",
        api=("maxRingTime", "dialingStrategy.maxRingTime"),
        bounds=(5, 120),
        aliases=("ring time",),
    ),
    Column(
        "experience_flow_name",
        "Experience Flow",
        "text",
        True,
        "Name of the voice flow (bot or IVR) that talks to the person called.",
        "Renewal Reminder Flow",
        api=("experienceFlowName",),
        aliases=("experience flow name", "flow", "flow name"),
    ),
    Column(
        "enable_machine_detect",
        "Machine Detection",
        "choice",
        True,
        "no: off; detect: detect answering machines and run the flow; disconnect: hang up on machines.",
        "detect",
        api=("enableMachineDetect",),
        choices=("no", "detect", "disconnect"),
        aliases=("amd", "answering machine detection", "machine detect"),
    ),
    Column(
        "campaign_type",
        "Campaign Type",
        "choice",
        False,
        "Always voice for this tool.",
        "voice",
        api=("campaignType",),
        choices=("voice",),
        default="voice",
    ),
    Column(
        "calling_hours",
        "Calling Hours Key",
        "text",
        False,
        "Which CallingHours rows this campaign uses; leave empty to use the campaign's own name.",
        "Weekday Business Hours",
        aliases=("hours", "hours key", "calling hours"),
    ),
    Column(
        "schedule_start",
        "Schedule Start",
        "datetime",
        False,
        "When the schedule starts the campaign. A schedule needs Schedule Start, Schedule End and Recurrence; "
        "leave them all empty for none.",
        "2027-01-04 09:00",
        api=("startDateTime",),
        aliases=("schedule start date",),
    ),
    Column(
        "schedule_end",
        "Schedule End",
        "datetime",
        False,
        "When the schedule ends, in the campaign's Time Zone; later than Schedule Start and than now.",
        "2030-12-31 18:00",
        api=("endDateTime",),
        aliases=("schedule end date",),
    ),
    Column(
        "recurrence",
        "Recurrence",
        "choice",
        False,
        "How the schedule repeats: Daily, or Weekly on the Schedule Days.",
        "Weekly",
        api=("recurType", "recurrenceObject.recurType"),
        choices=("Daily", "Weekly"),
        aliases=("schedule recurrence", "repeat"),
    ),
    Column(
        "every_n_weeks",
        "Every N Weeks",
        "int",
        False,
        "Weekly schedules only: repeat every N weeks; empty means every week (1).",
        "1",
        api=("onceEveryNweeks", "recurrenceObject.weeklyDetails.onceEveryNweeks"),
        bounds=(1, WEEKS_MAX),
        aliases=("once every n weeks",),
    ),
    Column(
        "schedule_days",
        "Schedule Days",
        "days",
        False,
        "Weekly schedules only, and required there: the days of the week the schedule runs.",
        "MO-FR",
        api=("whichDays", "recurrenceObject.weeklyDetails.whichDays"),
        aliases=("schedule day",),
    ),
    Column(
        "start",
        "Start",
        "flag",
        False,
        "yes: start the campaign as soon as it is Ready, and phones ring within its calling hours. A campaign with "
        "a schedule is started by its schedule: leave Start at no.",
        "no",
        choices=("yes", "no"),
        default="no",
        aliases=("start campaign", "start now"),
    ),
)
#: The columns of a campaign's schedule: all empty (no schedule), or a complete schedule.
SCHEDULE_KEYS: Final = ("schedule_start", "schedule_end", "recurrence", "every_n_weeks", "schedule_days")

HOURS_COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "campaign",
        "Campaign or Hours Key",
        "text",
        True,
        "A campaign name, or a key that several campaigns name in their Calling Hours Key column.",
        "Weekday Business Hours",
        aliases=("campaign name", "key", "hours key", "calling hours key"),
    ),
    Column(
        "day",
        "Day",
        "day",
        True,
        "Day of the week, or a range of days.",
        "MO-FR",
        api=("day", "days.day", "callingHours.days.day", "dialingStrategy.callingHours.days.day"),
        aliases=("days", "weekday"),
    ),
    Column(
        "start",
        "Start",
        "time",
        True,
        "When calling may start on that day.",
        "9:00 AM",
        api=("start", "days.start", "dialingStrategy.callingHours.days.start"),
        aliases=("start time", "from"),
    ),
    Column(
        "end",
        "End",
        "time",
        True,
        "When calling must stop on that day.",
        "5:00 PM",
        api=("end", "days.end", "dialingStrategy.callingHours.days.end"),
        aliases=("end time", "to", "until"),
    ),
)

SHEET_COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    CAMPAIGNS: CAMPAIGN_COLUMNS,
    CALLING_HOURS: HOURS_COLUMNS,
}
SHEET_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    CAMPAIGNS: (CAMPAIGNS, "campaign", "campaigns.csv"),
    CALLING_HOURS: (CALLING_HOURS, "calling hours", "hours", "callinghour", "calling_hours.csv"),
}

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
#: Units written out in a header, read as the spec's abbreviations: "(secs)" is "(s)", "(minutes)" is "(min)".
_UNITS: Final = (
    (re.compile(r"\(\s*(?:secs?|seconds?)\s*\)"), "(s)"),
    (re.compile(r"\(\s*(?:mins|minutes?)\s*\)"), "(min)"),
)


def normalize_header(text: str) -> str:
    """Fold a header or sheet name for matching: case, spaces and punctuation do not count, nor spelt-out units."""
    folded = text.casefold()
    for pattern, unit in _UNITS:
        folded = pattern.sub(unit, folded)
    return _NON_ALNUM.sub("", folded)


def header_index(columns: tuple[Column, ...]) -> dict[str, Column]:
    """Map every normalised accepted spelling to its column."""
    index: dict[str, Column] = {}
    for column in columns:
        for spelling in column.spellings():
            index.setdefault(normalize_header(spelling), column)
    return index


#: The results workbook: its Results sheet is itself a valid input (re-fed to ``run`` to retry failed rows),
#: so the loader recognises these leading columns as the outcome of an earlier run, not as campaign data.
RESULTS: Final = "Results"
RESULT_COLUMNS: Final = (
    "row",
    "name",
    "status",
    "campaign_id",
    "campaign_status",
    "started_at",
    "schedule",
    "error",
    "changes",
    "attempts",
    "finished_at",
)
#: The header each outcome column shows. Results workbooks written before these labels carry the keys as
#: headers; the loader recognises both.
RESULT_LABELS: Final[Mapping[str, str]] = {
    "row": "Row",
    "name": "Name",
    "status": "Status",
    "campaign_id": "Campaign ID",
    "campaign_status": "Campaign status",
    "started_at": "Started at",
    "schedule": "Schedule",
    "error": "Reason",
    "changes": "Changes",
    "attempts": "Attempts",
    "finished_at": "Finished at",
}
RESULT_HEADERS: Final = tuple(RESULT_LABELS[key] for key in RESULT_COLUMNS)
ERRORS: Final = "Errors"
SUMMARY: Final = "Summary"
