"""Write the blank campaigns workbook: example rows, dropdowns, limits and instructions, all from the spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from importlib.resources import files
from pathlib import Path
from time import strptime
from typing import Final

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from provisioner.workbook.sizing import FONT_NAME, row_height
from provisioner.workbook.spec import (
    CALLING_HOURS,
    CAMPAIGN_COLUMNS,
    CAMPAIGNS,
    DAYS,
    HOURS_COLUMNS,
    INSTRUCTIONS,
    SCHEDULE_KEYS,
    SHEET_COLUMNS,
    Column,
    normalize_header,
)

#: Rows below the header that carry dropdowns, limits and number formats.
DATA_ROWS: Final = 2000
_FIRST_DATA_ROW: Final = 2
_LAST_DATA_ROW: Final = _FIRST_DATA_ROW + DATA_ROWS - 1

TEXT_FORMAT: Final = "@"
TIME_FORMAT: Final = "h:mm AM/PM"
DATETIME_FORMAT: Final = "yyyy-mm-dd hh:mm"
_NUMBER_FORMATS: Final[Mapping[str, str]] = {"phone": TEXT_FORMAT, "time": TIME_FORMAT, "datetime": DATETIME_FORMAT}

#: The day dropdown offers the codes and the two common ranges; the loader accepts more, so it only warns.
_DAY_SUGGESTIONS: Final = (*DAYS, "MO-FR", "SA-SU")

#: The hidden sheet holding the time zone names of the Time Zone dropdown: too many for an inline list.
ZONES_SHEET: Final = "TimeZones"
#: Areas of the IANA names of places; the rest are aliases kept for old software (US/Eastern, EST, Etc/GMT+5).
_ZONE_AREAS: Final = frozenset(
    {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)

#: A cell the template writes.
_Value = str | int | time | None

#: A second window on the example key, to show that one key can hold several rows.
_EXTRA_WINDOW: Final[Mapping[str, _Value]] = {"day": "SA", "start": time(10), "end": time(14)}
#: The example campaign has no schedule: a copy of the example row must not dial on a date nobody chose.
_NO_SCHEDULE: Final[Mapping[str, _Value]] = dict.fromkeys(SCHEDULE_KEYS)

_INSTRUCTIONS_TABLE: Final = (
    ("Sheet", 14),
    ("Column", 24),
    ("Required", 11),
    ("Allowed values", 40),
    ("Default", 11),
    ("Example", 26),
    ("Description", 55),
    ("Also accepted headers", 40),
)

# Excel drops a workbook's validations as "corrupt" when these limits are passed.
_LIST_FORMULA_MAX: Final = 255
_TITLE_MAX: Final = 32
_MESSAGE_MAX: Final = 255

# Fixed so that regenerating the committed template does not change its metadata.
_CREATED: Final = datetime(2025, 1, 1, tzinfo=UTC)

_REQUIRED_FILL: Final = PatternFill("solid", fgColor="1F4E78")
_OPTIONAL_FILL: Final = PatternFill("solid", fgColor="BDD7EE")
_REQUIRED_FONT: Final = Font(name=FONT_NAME, bold=True, color="FFFFFF")
_OPTIONAL_FONT: Final = Font(name=FONT_NAME, bold=True, color="000000")
_FILL_LEGEND: Final = "Dark blue headers mark required columns, light blue headers optional ones."

_WIDTH_MIN: Final = 10
_WIDTH_MAX: Final = 40


def write_template(path: Path) -> Path:
    """Write the blank campaigns workbook to ``path``, replacing any file there, and return ``path``."""
    workbook = Workbook()
    workbook.properties.created = _CREATED
    workbook.properties.creator = "provisioner"
    campaigns = workbook.active
    campaigns.title = CAMPAIGNS
    _write_data_sheet(campaigns, CAMPAIGN_COLUMNS, [_example_row(CAMPAIGN_COLUMNS, _NO_SCHEDULE)])
    _write_data_sheet(
        workbook.create_sheet(CALLING_HOURS),
        HOURS_COLUMNS,
        [_example_row(HOURS_COLUMNS), _example_row(HOURS_COLUMNS, _EXTRA_WINDOW)],
    )
    _write_instructions(workbook.create_sheet(INSTRUCTIONS))
    _write_zones(workbook.create_sheet(ZONES_SHEET))
    workbook.save(path)
    return path


def zone_names() -> list[str]:
    """Return the IANA zone names of places (Europe/London…), from the tzdata package so the list is pinned."""
    names = files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return sorted(name for name in names if name.partition("/")[0] in _ZONE_AREAS or name == "UTC")


def _write_zones(sheet: Worksheet) -> None:
    """Fill the hidden sheet the Time Zone dropdown lists its names from."""
    for name in zone_names():
        sheet.append([name])
    sheet.sheet_state = "hidden"


def _cell_value(column: Column, text: str) -> str | int | time:
    """Turn text from the spec into the cell a user would type: a number, a time or the text itself."""
    if column.kind == "int":
        return int(text)
    if column.kind == "time":
        parsed = strptime(text, "%I:%M %p")
        return time(parsed.tm_hour, parsed.tm_min)
    return text


def _other_spellings(column: Column) -> tuple[str, ...]:
    """Return the accepted headers that differ from the label by more than case, spaces and punctuation."""
    seen = {normalize_header(column.label)}
    others: list[str] = []
    for spelling in column.spellings():
        folded = normalize_header(spelling)
        if folded not in seen:
            seen.add(folded)
            others.append(spelling)
    return tuple(others)


def list_formula(choices: Sequence[str]) -> str:
    """Return the inline list formula of an Excel dropdown offering ``choices``."""
    if any("," in choice for choice in choices):
        raise ValueError(f"a dropdown choice cannot contain a comma: {choices!r}")
    formula = '"' + ",".join(choices) + '"'
    if len(formula) > _LIST_FORMULA_MAX:
        raise ValueError(f"dropdown choices exceed Excel's {_LIST_FORMULA_MAX} characters: {choices!r}")
    return formula


def _example_row(columns: Sequence[Column], overrides: Mapping[str, _Value] | None = None) -> list[_Value]:
    """Build one example row from the columns' examples, with some cells replaced by key."""
    values = overrides or {}
    return [values.get(column.key, _cell_value(column, column.example)) for column in columns]


def _write_data_sheet(sheet: Worksheet, columns: Sequence[Column], rows: Sequence[list[_Value]]) -> None:
    """Fill a data sheet: styled header, example rows, formats, validations, widths and frozen header."""
    sheet.append([column.label for column in columns])
    for row in rows:
        sheet.append(row)
    for index, column in enumerate(columns, start=1):
        _mark_required(sheet.cell(row=1, column=index), column)
        number_format = _NUMBER_FORMATS.get(column.kind)
        if number_format is not None:
            for row_number in range(_FIRST_DATA_ROW, _LAST_DATA_ROW + 1):
                sheet.cell(row=row_number, column=index).number_format = number_format
        letter = get_column_letter(index)
        sheet.add_data_validation(_validation(column, f"{letter}{_FIRST_DATA_ROW}:{letter}{_LAST_DATA_ROW}"))
        widest = max(len(column.label), len(column.example))
        sheet.column_dimensions[letter].width = min(max(widest + 3, _WIDTH_MIN), _WIDTH_MAX)
    sheet.freeze_panes = f"A{_FIRST_DATA_ROW}"


def _mark_required(cell: Cell, column: Column) -> None:
    """Colour a column's header (or its label on the Instructions sheet) by whether it is required."""
    cell.fill = _REQUIRED_FILL if column.required else _OPTIONAL_FILL
    cell.font = _REQUIRED_FONT if column.required else _OPTIONAL_FONT


def _validation(column: Column, cells: str) -> DataValidation:
    """Build one column's validation: its dropdown or limits, if any, and a prompt saying what it accepts."""
    rule: dict[str, str] = {}
    if column.kind == "day":
        rule = {"type": "list", "formula1": list_formula(_DAY_SUGGESTIONS)}
    elif column.kind == "timezone":
        rule = {"type": "list", "formula1": f"{ZONES_SHEET}!$A$1:$A${len(zone_names())}"}
    elif column.choices:
        rule = {"type": "list", "formula1": list_formula(column.choices)}
    elif column.bounds is not None:
        low, high = column.bounds
        rule = {"type": "whole", "operator": "between", "formula1": str(low), "formula2": str(high)}
    elif column.max_len is not None:
        rule = {"type": "textLength", "operator": "lessThanOrEqual", "formula1": str(column.max_len)}
    validation = DataValidation(
        **rule,
        allow_blank=True,
        showInputMessage=True,
        promptTitle=column.label[:_TITLE_MAX],
        prompt=f"{column.description}\nAllowed: {column.allowed}."[:_MESSAGE_MAX],
    )
    if rule:
        validation.showErrorMessage = True
        # The loader accepts more than these dropdowns offer (other spellings, old zone names, y or TRUE for yes):
        # they only warn.
        validation.errorStyle = "warning" if column.kind in ("day", "timezone", "flag") else "stop"
        validation.errorTitle = column.label[:_TITLE_MAX]
        validation.error = f"Allowed: {column.allowed}."[:_MESSAGE_MAX]
    validation.add(cells)
    return validation


def _column(columns: Sequence[Column], key: str) -> Column:
    """Return the column with canonical ``key``."""
    return next(column for column in columns if column.key == key)


def _intro() -> list[str]:
    """Return the Instructions sheet's opening lines."""
    hours_key = _column(HOURS_COLUMNS, "campaign").label
    campaign_key = _column(CAMPAIGN_COLUMNS, "calling_hours").label
    return [
        f"{CAMPAIGNS}: one row per campaign to create. The example rows form one valid campaign; "
        "replace them with your own.",
        f"{CALLING_HOURS}: one row per calling window (a day or range of days, a start and an end).",
        f"A window belongs to the campaign named in its '{hours_key}' cell, or to every campaign that gives "
        f"that key in its '{campaign_key}' column.",
        "A campaign can have several windows on the same day, one row each, as long as they do not overlap.",
        "A new campaign dials nobody until it is started: set Start to yes to start it as soon as it is Ready, or "
        "give it a schedule (Schedule Start, Schedule End and Recurrence, in the campaign's Time Zone; a Weekly "
        "one also Schedule Days), which starts it itself. Not both: leave the schedule cells empty or Start at no.",
        "Header spelling is flexible: case, spaces and punctuation do not count, and the spellings under "
        "'Also accepted headers' work too.",
        f"{_FILL_LEGEND} Select a cell in a data row to see what it accepts.",
    ]


def _write_instructions(sheet: Worksheet) -> None:
    """Fill the Instructions sheet: a short introduction, then one table row per column of the contract."""
    sheet.append(["How to fill in this workbook"])
    sheet.cell(row=1, column=1).font = Font(name=FONT_NAME, bold=True, size=14)
    for line in _intro():
        sheet.append([line])
    sheet.append([])
    sheet.append([header for header, _ in _INSTRUCTIONS_TABLE])
    header_row = sheet.max_row
    for sheet_name, columns in SHEET_COLUMNS.items():
        for column in columns:
            sheet.append(
                [
                    sheet_name,
                    column.label,
                    "yes" if column.required else "no",
                    column.allowed,
                    column.default,
                    column.example,
                    column.description,
                    ", ".join(_other_spellings(column)) or None,
                ]
            )
            _mark_required(sheet.cell(row=sheet.max_row, column=2), column)
    for index, (_, width) in enumerate(_INSTRUCTIONS_TABLE, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.cell(row=header_row, column=index).font = Font(name=FONT_NAME, bold=True)
        sheet.cell(row=header_row, column=index).fill = PatternFill("solid", fgColor="D9D9D9")
    widths = [width for _, width in _INSTRUCTIONS_TABLE]
    for row in sheet.iter_rows(min_row=header_row + 1):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        texts = [(str(cell.value), width) for cell, width in zip(row, widths, strict=True) if cell.value is not None]
        sheet.row_dimensions[row[0].row].height = row_height(texts)
    sheet.freeze_panes = f"A{header_row + 1}"
