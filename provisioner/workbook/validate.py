"""Validate a loaded workbook: read every cell, check every rule, and report all problems at once.

Three passes, each reporting everything it finds:
1. cells are read into typed values (:mod:`provisioner.workbook.cells`); a cell that cannot be read is a problem;
2. a pandera schema per sheet checks the column rules lazily (:mod:`provisioner.workbook.schema`);
3. checks across cells, rows and sheets (:mod:`provisioner.workbook.links`): unique names, windows in order and
   not overlapping, every campaign has hours, every hours key is used; and each row's schedule and Start
   (:mod:`provisioner.workbook.schedule`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import pandas as pd

from provisioner.workbook import cells, spec
from provisioner.workbook.codes import Code
from provisioner.workbook.links import Window, check_links, duplicate_names, fold_key, windows_by_key
from provisioner.workbook.load import Sheet, Workbook, merged_range
from provisioner.workbook.problems import Problem, errors_only, sort_key
from provisioner.workbook.schedule import schedule_problems
from provisioner.workbook.schema import schema_problems

__all__ = ["Validated", "Window", "fold_key", "validate"]


@dataclass(frozen=True)
class Validated:
    """A workbook after validation: typed values, windows per hours key, and every problem found."""

    workbook: Workbook
    campaigns: pd.DataFrame  # typed values by Column.key; index = spreadsheet row; equal cells share one value
    windows: dict[str, list[Window]]  # folded hours key -> windows in weekday order
    problems: tuple[Problem, ...]
    blocked: dict[int, str]  # Campaigns row -> why it must not be sent (its own or its hours' problems)

    @property
    def valid(self) -> bool:
        """Tell whether nothing blocks the run (warnings allowed)."""
        return not errors_only(self.problems)

    @property
    def sendable_rows(self) -> list[int]:
        """Return the Campaigns rows that can be created, in input order."""
        return [int(r) for r in self.campaigns.index if r not in self.blocked]

    def hours_key(self, row: int) -> str:
        """Return the folded CallingHours key a campaign row uses."""
        return self._hours_keys[row]

    @cached_property
    def _hours_keys(self) -> dict[int, str]:
        """Fold every row's key at once: building the bodies asks for each row's, and a lookup by row is slow."""
        table = self.campaigns
        rows, names, keys = table.index.tolist(), table["name"].tolist(), table["calling_hours"].tolist()
        return {row: fold_key(key or name) for row, name, key in zip(rows, names, keys, strict=True)}


Parser = Callable[[object], object]


def _parser(column: spec.Column) -> Parser:
    if column.kind == "choice":
        return lambda v: cells.parse_choice(v, column.choices)
    parsers: dict[str, Parser] = {
        "text": cells.parse_text,
        "names": cells.parse_names,
        "int": cells.parse_int,
        "phone": cells.parse_phone,
        "timezone": cells.parse_timezone,
        "day": cells.parse_days,
        "time": cells.parse_time,
        "datetime": cells.parse_datetime,
        "days": cells.parse_day_list,
        "flag": cells.parse_flag,
    }
    return parsers[column.kind]


# --- pass 1 and the whole ------------------------------------------------------------------------


class _Unreadable(NamedTuple):
    """Why a cell cannot be read: the problem it raises on every row that holds it."""

    code: Code
    message: str
    shows_value: bool


class _Warned(NamedTuple):
    """A value that reads, with a warning it raises on every row that holds it."""

    value: object
    code: Code
    message: str


def _typed(sheet: Sheet, problems: list[Problem], failed: set[tuple[int, str]]) -> pd.DataFrame:
    """Pass 1: read every cell of every known column into its typed value."""
    rows = sheet.frame.index.tolist()
    out: dict[str, list[object]] = {}
    for column in spec.SHEET_COLUMNS[sheet.name]:
        if column.key not in sheet.frame:
            out[column.key] = [column.default] * len(rows)
            continue
        parse = _parser(column)
        # A column repeats a few values (days, times, choices, caller IDs) over thousands of rows: read each
        # distinct cell once. The key holds the type because 1, 1.0 and True are equal but read differently.
        outcomes: dict[tuple[type, object], object] = {}
        values: list[object] = []
        for row, raw in zip(rows, sheet.frame[column.key].tolist(), strict=True):
            key = (type(raw), raw)
            if key not in outcomes:
                outcomes[key] = _read(raw, column, parse)
            outcome = outcomes[key]
            if isinstance(outcome, _Unreadable):
                shown = raw if outcome.shows_value else None
                problems.append(sheet.problem(row, column.key, outcome.code, outcome.message, shown))
                failed.add((row, column.key))
                outcome = None
            elif isinstance(outcome, _Warned):
                problems.append(sheet.problem(row, column.key, outcome.code, outcome.message, raw))
                outcome = outcome.value
            values.append(outcome)
        out[column.key] = values
    return pd.DataFrame(out, index=sheet.frame.index, dtype=object)


def _read(raw: object, column: spec.Column, parse: Parser) -> object:
    """Read one cell: the column's default when blank, else its typed value or why it cannot be read."""
    merged = merged_range(raw)
    if merged:
        message = f"This cell is part of the merged cells {merged}; unmerge them and fill in every row."
        return _Unreadable(Code.MERGED_CELL, message, shows_value=False)
    if cells.is_blank(raw):
        return column.default
    try:
        value = parse(raw)
    except cells.CellError as err:
        return _Unreadable(err.code, f"{column.label} {err.message}", shows_value=True)
    return _warned(value, column) or value


def _warned(value: object, column: spec.Column) -> _Warned | None:
    """Say what looks wrong in a value that reads (it is still sent): commas between lists, zone abbreviations."""
    if isinstance(value, list) and cells.comma_separated(value):
        return _Warned(
            value,
            Code.COMMA_SEPARATED_LISTS,
            f"{column.label} are separated by ; or line breaks, not commas: this cell is read as "
            f"{len(value)} list(s) named {', '.join(repr(v) for v in value)}. "
            "If a list name holds a comma, ignore this.",
        )
    if column.kind == "timezone" and (instead := cells.abbreviated_zone(str(value))):
        return _Warned(
            value,
            Code.LEGACY_TIMEZONE,
            f"{column.label} {value} is a legacy abbreviation with fixed or old rules; use {instead}, the zone of "
            "the place, which follows its daylight saving.",
        )
    return None


def validate(workbook: Workbook, now: dt.datetime | None = None) -> Validated:
    """Validate both sheets and their links; never stops at the first problem.

    ``now`` (time-zone aware) is the moment every schedule must end after; the current time by default.
    """
    problems: list[Problem] = list(workbook.problems)
    camp_sheet, hours_sheet = workbook.campaigns, workbook.hours
    failed: set[tuple[int, str]] = set()
    campaigns = _typed(camp_sheet, problems, failed)
    hours = _typed(hours_sheet, problems, failed)
    problems += schema_problems(camp_sheet, campaigns, failed)
    problems += schema_problems(hours_sheet, hours, failed)
    if campaigns.empty:
        problems.append(camp_sheet.problem(None, None, Code.NO_ROWS, "The Campaigns sheet has no campaign rows."))
    problems += duplicate_names(camp_sheet, campaigns)
    hours_keys = _folded(hours["campaign"].tolist())
    windows = windows_by_key(hours_sheet, hours, hours_keys, problems)
    # Without the name or key column every campaign and every hours row would be reported as unlinked.
    if "name" in camp_sheet.frame and "campaign" in hours_sheet.frame:
        problems += check_links(camp_sheet, hours_sheet, campaigns, hours, hours_keys, windows)
    problems += schedule_problems(
        camp_sheet, campaigns, failed, now or dt.datetime.now(dt.UTC), _calling_days(campaigns, windows)
    )

    problems.sort(key=sort_key)
    return Validated(workbook, campaigns, windows, tuple(problems), _blocked(workbook, campaigns, hours, problems))


def _calling_days(campaigns: pd.DataFrame, windows: dict[str, list[Window]]) -> dict[int, frozenset[str]]:
    """Map each campaign row whose calling hours are known to the days they have a window on."""
    days = {key: frozenset(w.day for w in found) for key, found in windows.items()}
    rows, names, keys = (campaigns.index.tolist(), campaigns["name"].tolist(), campaigns["calling_hours"].tolist())
    chosen = {row: fold_key(key or name) for row, name, key in zip(rows, names, keys, strict=True) if key or name}
    return {row: days[key] for row, key in chosen.items() if key in days}


def _folded(keys: list[object]) -> list[str | None]:
    """Fold each hours key (None when empty), each distinct key once: a key repeats on every row of its windows."""
    folded = {key: fold_key(key) for key in set(keys) if key}
    return [folded.get(key) for key in keys]


def _blocked(
    workbook: Workbook, campaigns: pd.DataFrame, hours: pd.DataFrame, problems: list[Problem]
) -> dict[int, str]:
    """Say, for every campaign row that must not be sent, why (its own problems or its hours' problems)."""
    reasons: dict[int, list[str]] = defaultdict(list)
    bad_hours: dict[str, list[int]] = defaultdict(list)
    # A missing column is reported once, on the header row, but no row can be sent without it.
    missing = [p.message for p in problems if p.code == Code.MISSING_COLUMN]
    for row in campaigns.index.tolist() if missing else ():
        reasons[row].extend(missing)
    for p in errors_only(problems):
        if p.row is None or p.code == Code.MISSING_COLUMN:
            continue
        if p.sheet == workbook.campaigns.title:
            reasons[p.row].append(p.message)
        elif p.sheet == workbook.hours.title and p.row in hours.index and hours.at[p.row, "campaign"]:
            bad_hours[fold_key(hours.at[p.row, "campaign"])].append(p.row)
    if bad_hours:
        rows, names, keys = campaigns.index.tolist(), campaigns["name"].tolist(), campaigns["calling_hours"].tolist()
        for row, name, key in zip(rows, names, keys, strict=True):
            target = key or name
            if target and fold_key(target) in bad_hours and not reasons.get(row):
                rows_text = ", ".join(str(r) for r in sorted(set(bad_hours[fold_key(target)])))
                reasons[row].append(
                    f"Its calling hours '{target}' have problems on {workbook.hours.title} row(s) {rows_text}."
                )
    return {row: " | ".join(text) for row, text in reasons.items() if text}
