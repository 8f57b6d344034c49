"""Read one cell into the value the API wants, surviving what Excel and LibreOffice do to data.

Each parser takes a raw cell (str, float, int, bool, datetime, time or None) and returns the normalised
value, or raises :class:`CellError` with a stable code and a message a non-programmer understands. The
parsers never guess: a value that would need fixing is an error, not a silent repair.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from difflib import get_close_matches
from functools import cache, lru_cache
from typing import Final

import phonenumbers

from provisioner.workbook import spec
from provisioner.workbook.codes import Code

EXCEL_EPOCH_DATES: Final = (dt.date(1899, 12, 30), dt.date(1899, 12, 31), dt.date(1900, 1, 1))
DAY_NAMES: Final[dict[str, str]] = {
    alias: code
    for code, names in {
        "MO": ("mo", "mon", "monday"),
        "TU": ("tu", "tue", "tues", "tuesday"),
        "WE": ("we", "wed", "weds", "wednesday"),
        "TH": ("th", "thu", "thur", "thurs", "thursday"),
        "FR": ("fr", "fri", "friday"),
        "SA": ("sa", "sat", "saturday"),
        "SU": ("su", "sun", "sunday"),
    }.items()
    for alias in names
}


class CellError(ValueError):
    """A cell that cannot be read as its column requires; carries a stable code and a plain message."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_blank(value: object) -> bool:
    """Tell whether a cell is empty (None, NaN, or only spaces)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return isinstance(value, str) and not value.strip()


# Below space (except tab, line feed, return), DEL and C1 controls, bidi overrides and isolates, zero-width
# space and BOM: invisible, and able to make two different names look the same. ZWJ/ZWNJ stay (emoji, Persian).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")


def parse_text(value: object) -> str:
    """Read a text cell: trimmed; a number Excel stored for digits comes back without ``.0``."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value).strip()
    if _CONTROL.search(text):
        raise CellError(Code.CONTROL_CHARACTER, "contains invisible control characters; retype the text.")
    return text


def parse_names(value: object) -> list[str]:
    """Read a list of names separated by ``;`` or line breaks, trimmed, empty entries dropped."""
    return [part.strip() for part in re.split(r"[;\n\r]+", parse_text(value)) if part.strip()]


def comma_separated(names: list[str]) -> bool:
    """Tell whether a list of names looks separated by commas, which :func:`parse_names` reads as one name."""
    return any("," in name for name in names)


_INT_TEXT = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+$")


def parse_int(value: object) -> int:
    """Read a whole number; ``3.0`` is 3, ``3.5`` or ``three`` is an error."""
    if isinstance(value, bool):
        raise CellError(Code.NOT_A_NUMBER, "must be a whole number, not TRUE/FALSE.")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CellError(Code.NOT_WHOLE, f"must be a whole number; {value:g} has a fraction.")
    text = parse_text(value) if isinstance(value, str) else ""
    if _THOUSANDS.match(text):  # "1,000"; but "1,5" is a decimal comma, not fifteen
        text = text.replace(",", "")
    elif "," in text:
        raise CellError(Code.NOT_WHOLE, f"must be a whole number; {text} has a decimal comma.")
    if _INT_TEXT.match(text):
        return int(float(text))
    try:
        number = float(text)
    except ValueError:
        raise CellError(Code.NOT_A_NUMBER, "must be a whole number.") from None
    raise CellError(Code.NOT_WHOLE, f"must be a whole number; {number:g} has a fraction.")


def parse_choice(value: object, choices: tuple[str, ...]) -> str:
    """Read an enumerated value ignoring case: the API's spelling when it matches one, else the text as typed."""
    text = parse_text(value)
    folded = text.casefold()
    return next((choice for choice in choices if choice.casefold() == folded), text)


_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")


def parse_phone(value: object) -> str:
    """Read a caller ID as E.164 (+ and country code), explaining what Excel did when it was stored as a number."""
    fix = "Format the Caller ID column as Text and type the number with + and the country code, e.g. +14155550123."
    if isinstance(value, bool):
        raise CellError(Code.PHONE_INVALID, f"is not a phone number. {fix}")
    if isinstance(value, int | float):
        shown = f"{value:.0f}" if float(value).is_integer() else f"{value}"
        raise CellError(
            Code.PHONE_STORED_AS_NUMBER,
            f"was stored as a number ({shown}): the spreadsheet dropped the + (and may show it as "
            f"{float(value):.5E}). {fix}",
        )
    text = parse_text(value)
    if _SCIENTIFIC.match(text.replace(",", ".")):
        raise CellError(
            Code.PHONE_STORED_AS_NUMBER,
            f"reads {text}: the spreadsheet turned the phone number into a rounded number and digits are lost. {fix}",
        )
    if not text.startswith("+"):
        lost = "was stored as a number, which dropped the +" if text.isdigit() else "has no + and country code"
        raise CellError(Code.PHONE_NOT_INTERNATIONAL, f"{lost}. {fix}")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise CellError(Code.PHONE_INVALID, f"is not a phone number. {fix}") from None
    if not phonenumbers.is_valid_number(number):
        raise CellError(
            Code.PHONE_INVALID,
            "is not a valid phone number for its country code (check the digits and the country code).",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


#: Abbreviations people type for a time zone, and the IANA zone of the place they usually mean. Some are
#: zone names too (EST, CET…) but fixed offsets or old rules: the place's zone follows its daylight saving.
ABBREVIATED_ZONES: Final[dict[str, str]] = {
    "est": "America/New_York",
    "edt": "America/New_York",
    "est5edt": "America/New_York",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "cst6cdt": "America/Chicago",
    "mst": "America/Denver (or America/Phoenix, which has no daylight saving)",
    "mdt": "America/Denver",
    "mst7mdt": "America/Denver",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "pst8pdt": "America/Los_Angeles",
    "akst": "America/Anchorage",
    "hst": "Pacific/Honolulu",
    "wet": "Europe/Lisbon",
    "bst": "Europe/London",
    "cet": "Europe/Paris or Europe/Berlin (the country's capital)",
    "cest": "Europe/Paris or Europe/Berlin (the country's capital)",
    "met": "Europe/Paris or Europe/Berlin (the country's capital)",
    "eet": "Europe/Athens or Europe/Helsinki (the country's capital)",
    "aest": "Australia/Sydney (or Australia/Brisbane, which has no daylight saving)",
}


def abbreviated_zone(zone: str) -> str | None:
    """Return the IANA zone to use instead of a legacy abbreviation such as EST or CET, else None."""
    return ABBREVIATED_ZONES.get(zone.casefold())


def parse_timezone(value: object) -> str:
    """Read an IANA time zone name (case-insensitive) and return its canonical spelling."""
    text = parse_text(value)
    zones = _zones()
    canonical = zones.get(text.casefold().replace(" ", "_"))
    if canonical is not None:
        return canonical
    instead = abbreviated_zone(text)
    if instead is not None:
        raise CellError(Code.UNKNOWN_TIMEZONE, f"is an abbreviation, not a time zone name: use {instead}.")
    near = get_close_matches(text.casefold().replace(" ", "_"), list(zones), n=1, cutoff=0.75)
    hint = f" Did you mean {zones[near[0]]}?" if near else ""
    raise CellError(
        Code.UNKNOWN_TIMEZONE,
        f"is not a time zone name. Use an IANA name such as America/New_York or Europe/London.{hint}",
    )


def parse_days(value: object) -> list[str]:
    """Read a day (``MO``, ``Mon``, ``Monday``), a range (``MO-FR``) or a list (``MO, WE``) as day codes."""
    text = parse_text(value)
    days: list[str] = []
    for part in re.split(r"\s*[,;/&]\s*|\s+and\s+", text.casefold()):
        if not part:
            continue
        ends = [e.strip().rstrip(".") for e in re.split(r"\s*(?:-|–|—|\bto\b|\bthru\b|\bthrough\b)\s*", part)]
        codes = [DAY_NAMES.get(e) for e in ends]
        if len(ends) not in (1, 2) or any(c is None for c in codes):
            raise CellError(
                Code.NOT_A_DAY,
                "must be a day (MO, TU, WE, TH, FR, SA, SU, or Mon, Monday…) or a range such as MO-FR.",
            )
        first = spec.DAYS.index(str(codes[0]))
        last = spec.DAYS.index(str(codes[-1]))
        span = (last - first) % 7  # a range may wrap over the weekend: FR-MO
        days.extend(spec.DAYS[(first + i) % 7] for i in range(span + 1))
    if not days:
        raise CellError(Code.NOT_A_DAY, "must be a day such as MO or a range such as MO-FR.")
    return list(dict.fromkeys(days))


_LINE_BREAKS = re.compile(r"[\n\r]+")


def parse_day_list(value: object) -> list[str]:
    """Read days and ranges as :func:`parse_days` does, several lines too, as day codes in week order."""
    days: set[str] = set()
    try:
        for line in _LINE_BREAKS.split(parse_text(value)):
            if line.strip():
                days.update(parse_days(line))
    except CellError as err:
        if err.code != Code.NOT_A_DAY:
            raise
        raise CellError(
            Code.NOT_A_DAY,
            "must be days (MO, TU, WE, TH, FR, SA, SU, or Mon, Monday…) or ranges such as MO-FR, separated by "
            ", ; or line breaks.",
        ) from None
    return [day for day in spec.DAYS if day in days]


_YES: Final = frozenset({"yes", "y", "true", "1"})
_NO: Final = frozenset({"no", "n", "false", "0"})


def parse_flag(value: object) -> str:
    """Read yes or no (also y/n, true/false, 1/0 and TRUE/FALSE cells) as ``yes`` or ``no``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = parse_text(value).casefold()
    if text in _YES:
        return "yes"
    if text in _NO:
        return "no"
    raise CellError(Code.NOT_YES_NO, "must be yes or no.")


_DATE_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\s*[t ]\s*(.+))?$")
_DAY_MONTH_YEAR = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")
_SERIAL = re.compile(r"^\d+(?:\.\d+)?$")
_WRITE_IT: Final = f"Write it as {spec.DATETIME_TEXT}, e.g. 2027-01-04 09:00 (or 2027-01-04 9:00 AM)."


def parse_datetime(value: object) -> dt.datetime:
    """Read a date and time (no time zone: the campaign's) from a date-time or date cell, a serial number or text."""
    if isinstance(value, dt.datetime):
        if value.date() in EXCEL_EPOCH_DATES:
            raise CellError(Code.NOT_A_DATETIME, f"holds only a time of day, no date. {_WRITE_IT}")
        return _on_day(value.date(), value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)
    if isinstance(value, dt.date):
        return _on_day(value, 0)
    if isinstance(value, dt.time):
        raise CellError(Code.NOT_A_DATETIME, f"holds only a time of day ({format_time(value)}), no date. {_WRITE_IT}")
    if isinstance(value, bool):
        raise CellError(Code.NOT_A_DATETIME, f"must be a date and time. {_WRITE_IT}")
    if isinstance(value, int | float):
        return _from_serial(float(value))
    text = " ".join(parse_text(value).split()).casefold()
    if _SERIAL.match(text):
        return _from_serial(float(text))
    if _DAY_MONTH_YEAR.match(text):
        raise CellError(
            Code.AMBIGUOUS_DATE,
            "puts the day and the month in an order that differs between countries (day/month or month/day), "
            f"so it is not read at all. {_WRITE_IT}",
        )
    match = _DATE_TIME.match(text)
    if not match:
        raise CellError(Code.NOT_A_DATETIME, f"must be a date and time. {_WRITE_IT}")
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise CellError(Code.NOT_A_DATETIME, f"is not a date of the calendar. {_WRITE_IT}") from None
    if match[4] is None:
        return _on_day(day, 0)
    try:
        moment = parse_time(match[4])
    except CellError as err:
        if err.code == Code.TIME_HAS_SECONDS:
            raise
        raise CellError(Code.NOT_A_DATETIME, f"has a time that cannot be read. {_WRITE_IT}") from None
    return dt.datetime.combine(day, moment)


def _from_serial(serial: float) -> dt.datetime:
    """Read a spreadsheet's date serial number: days since 1899-12-30, the fraction being the time of day."""
    if serial < 1:
        raise CellError(Code.NOT_A_DATETIME, f"is a time of day or a number, not a date and time. {_WRITE_IT}")
    return _on_day(EXCEL_EPOCH_DATES[0], serial * 86400)


def _on_day(day: dt.date, seconds: float) -> dt.datetime:
    """Return the moment ``seconds`` after the start of ``day``, in whole minutes as calling hours are."""
    # A time stored as a fraction of a day can come back as 8:59:59.9999, which is 9:00.
    try:
        whole = round(seconds)
        return dt.datetime.combine(day + dt.timedelta(days=whole // 86400), _exact_minute(whole % 86400))
    except OverflowError:
        raise CellError(Code.NOT_A_DATETIME, f"is past the last date a calendar holds. {_WRITE_IT}") from None


_TIME_12 = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(?::(\d{2}))?\s*([ap])\.?\s*m?\.?$")
_TIME_24 = re.compile(r"^(\d{1,2})[:.](\d{2})(?::(\d{2})(?:\.\d+)?)?$")
_FRACTION = re.compile(r"^0?\.\d+$|^0$")


def parse_time(value: object) -> dt.time:
    """Read a time from a time cell, a datetime on Excel's epoch, a day fraction, or text like ``9am``/``17:30``."""
    if isinstance(value, dt.datetime):
        if value.date() not in EXCEL_EPOCH_DATES:
            raise CellError(
                Code.DATE_NOT_TIME,
                f"holds a date ({value.date().isoformat()}), not a time of day. Type a time such as 9:00 AM.",
            )
        return _exact_minute(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)
    if isinstance(value, dt.date):
        raise CellError(
            Code.DATE_NOT_TIME, f"holds a date ({value.isoformat()}), not a time. Type a time such as 9:00 AM."
        )
    if isinstance(value, dt.time):
        return _exact_minute(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)
    if isinstance(value, bool):
        raise CellError(Code.NOT_A_TIME, "must be a time such as 9:00 AM or 17:30.")
    if isinstance(value, int | float):
        return _from_fraction(float(value))
    text = parse_text(value).casefold()
    if _FRACTION.match(text):
        return _from_fraction(float(text))
    match = _TIME_12.match(text)
    if match:
        hour, minute, second = int(match[1]), int(match[2] or 0), int(match[3] or 0)
        if not 1 <= hour <= 12 or minute > 59 or second > 59:
            raise CellError(Code.NOT_A_TIME, "is not a valid time (hours 1-12 with AM/PM, minutes 00-59).")
        hour = hour % 12 + (12 if match[4] == "p" else 0)
        return _exact_minute(hour * 3600 + minute * 60 + second)
    match = _TIME_24.match(text)
    if match:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise CellError(Code.NOT_A_TIME, "is not a valid time (hours 0-23, minutes 00-59).")
        return _exact_minute(hour * 3600 + minute * 60 + second)
    raise CellError(Code.NOT_A_TIME, "must be a time such as 9:00 AM, 9am or 17:30.")


def _from_fraction(fraction: float) -> dt.time:
    if not 0 <= fraction < 1:
        raise CellError(
            Code.NOT_A_TIME,
            "is a number, not a time of day. Type a time such as 9:00 AM (or format the cell as Time).",
        )
    return _exact_minute(fraction * 86400)


def _exact_minute(seconds: float) -> dt.time:
    # Spreadsheets store times as binary fractions of a day, so 9:00 can come back as 8:59:59.9999.
    whole = round(seconds)
    if whole % 60:
        raise CellError(Code.TIME_HAS_SECONDS, "has seconds; the platform takes hours and minutes only.")
    if whole >= 86400:
        raise CellError(Code.NOT_A_TIME, "is not a time of day (it reaches midnight at the end of the day).")
    return dt.time(whole // 3600, whole // 60 % 60)


@lru_cache(maxsize=1440)  # every window of every campaign is formatted, and a day has only 1,440 minutes
def format_time(value: dt.time) -> str:
    """Format a time the way the API wants it: ``9:00 AM``, ``5:30 PM``, ``12:00 PM``."""
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"
