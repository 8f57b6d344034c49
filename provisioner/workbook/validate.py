"""Validate a loaded workbook: read every cell, check every rule, and report all problems at once.

Three passes, each reporting everything it finds:
1. cells are read into typed values (:mod:`provisioner.workbook.cells`); a cell that cannot be read is a problem;
2. a pandera schema per sheet checks the column rules lazily (required, lengths, ranges, allowed values);
3. cross-sheet checks: unique names, windows in order and not overlapping, every campaign has hours, every
   hours key is used.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cached_property
from typing import Final, NamedTuple

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from provisioner.names import fold_name
from provisioner.workbook import cells, spec
from provisioner.workbook.load import Sheet, Workbook, merged_range
from provisioner.workbook.problems import Problem, errors_only, sort_key


class Window(NamedTuple):
    """One calling window of one day, as the API takes it."""

    day: str
    start: dt.time
    end: dt.time
    row: int  # the CallingHours row it came from


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


def fold_key(value: object) -> str:
    """Fold a CallingHours key for matching a row to its hours: case and surrounding/double spaces do not count."""
    return " ".join(str(value).split()).casefold()


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
    }
    return parsers[column.kind]


# --- pass 2: the pandera schemas ------------------------------------------------------------------


class _Rule(NamedTuple):
    check: pa.Check
    code: str
    message: Callable[[spec.Column, object], str]


def _rules(column: spec.Column) -> list[_Rule]:
    rules: list[_Rule] = []
    if column.max_len:
        limit = column.max_len
        rules.append(
            _Rule(
                pa.Check.str_length(max_value=limit),
                "too_long",
                lambda c, v: f"{c.label} is {len(str(v))} characters long; the platform allows at most {limit}.",
            )
        )
    if column.bounds:
        low, high = column.bounds
        rules.append(
            _Rule(
                pa.Check.in_range(low, high),
                "out_of_range",
                lambda c, v: f"{c.label} must be {c.allowed}; {v} is outside that range.",
            )
        )
    if column.choices:
        rules.append(_Rule(pa.Check.isin(column.choices), "not_allowed", _choice_message))
    if column.kind == "names":
        most = spec.CONTACT_LISTS_MAX
        rules.append(
            _Rule(
                pa.Check(lambda s: s.map(len).between(1, most), element_wise=False),
                "list_count",
                lambda c, v: f"{c.label} must name 1 to {most} lists; this cell names {len(v)}.",  # type: ignore[arg-type]
            )
        )
    return rules


def _choice_message(column: spec.Column, value: object) -> str:
    if column.key == "dialing_mode" and str(value).casefold() in {m.casefold() for m in spec.OTHER_DIALING_MODES}:
        return (
            f"{value} campaigns need agent queue settings that the agentless create call does not take; "
            "this tool creates Agentless campaigns only."
        )
    return f"{column.label} must be one of: {column.allowed}."


_RULES: Final = {c.key: _rules(c) for cols in spec.SHEET_COLUMNS.values() for c in cols}
_SCHEMAS: Final = {
    name: pa.DataFrameSchema(
        {
            c.key: pa.Column(None, checks=[r.check for r in _RULES[c.key]], nullable=not c.required, required=False)
            for c in columns
        },
        name=name,
    )
    for name, columns in spec.SHEET_COLUMNS.items()
}


def _schema_problems(sheet: Sheet, typed: pd.DataFrame, already: set[tuple[int, str]]) -> list[Problem]:
    try:
        _SCHEMAS[sheet.name].validate(typed, lazy=True)
    except SchemaErrors as exc:
        columns = {c.key: c for c in spec.SHEET_COLUMNS[sheet.name]}
        problems: list[Problem] = []
        for case in exc.failure_cases.itertuples(index=False):
            key = str(case.column)
            row = case.index
            if row is None or (row, key) in already or key not in columns:
                continue
            column = columns[key]
            raw = sheet.frame.at[row, key] if key in sheet.frame else None
            if case.check_number is None or pd.isna(case.check_number):
                problems.append(sheet.problem(row, key, "missing_value", f"{column.label} is required.", raw))
                continue
            rule = _RULES[key][int(case.check_number)]
            problems.append(sheet.problem(row, key, rule.code, rule.message(column, typed.at[row, key]), raw))
        return problems
    return []


# --- passes 1 and 3 -------------------------------------------------------------------------------


class _Unreadable(NamedTuple):
    """Why a cell cannot be read: the problem it raises on every row that holds it."""

    code: str
    message: str
    shows_value: bool


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
            values.append(outcome)
        out[column.key] = values
    return pd.DataFrame(out, index=sheet.frame.index, dtype=object)


def _read(raw: object, column: spec.Column, parse: Parser) -> object:
    """Read one cell: the column's default when blank, else its typed value or why it cannot be read."""
    merged = merged_range(raw)
    if merged:
        message = f"This cell is part of the merged cells {merged}; unmerge them and fill in every row."
        return _Unreadable("merged_cell", message, shows_value=False)
    if cells.is_blank(raw):
        return column.default
    try:
        return parse(raw)
    except cells.CellError as err:
        return _Unreadable(err.code, f"{column.label} {err.message}", shows_value=True)


def validate(workbook: Workbook) -> Validated:
    """Validate both sheets and their links; never stops at the first problem."""
    problems: list[Problem] = list(workbook.problems)
    camp_sheet, hours_sheet = workbook.campaigns, workbook.hours
    failed: set[tuple[int, str]] = set()
    campaigns = _typed(camp_sheet, problems, failed)
    hours = _typed(hours_sheet, problems, failed)
    problems += _schema_problems(camp_sheet, campaigns, failed)
    problems += _schema_problems(hours_sheet, hours, failed)
    if campaigns.empty:
        problems.append(camp_sheet.problem(None, None, "no_rows", "The Campaigns sheet has no campaign rows."))
    problems += _duplicate_names(camp_sheet, campaigns)
    hours_keys = _folded(hours["campaign"].tolist())
    windows = _windows(hours_sheet, hours, hours_keys, problems)
    problems += _links(camp_sheet, hours_sheet, campaigns, hours, hours_keys, windows)

    problems.sort(key=sort_key)
    return Validated(workbook, campaigns, windows, tuple(problems), _blocked(workbook, campaigns, hours, problems))


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
    for p in errors_only(problems):
        if p.row is None:
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


def _duplicate_names(sheet: Sheet, campaigns: pd.DataFrame) -> list[Problem]:
    first_row: dict[str, int] = {}
    problems: list[Problem] = []
    for row, name in zip(campaigns.index.tolist(), campaigns["name"].tolist(), strict=True):
        if not name:
            continue
        key = fold_name(name)
        if key in first_row:
            problems.append(
                sheet.problem(
                    row,
                    "name",
                    "duplicate_name",
                    f"Another campaign on row {first_row[key]} has the same name (the platform ignores upper and "
                    "lower case); campaign names must be unique.",
                    sheet.frame.at[row, "name"],
                )
            )
        else:
            first_row[key] = row
    return problems


def _windows(
    sheet: Sheet, hours: pd.DataFrame, hours_keys: list[str | None], problems: list[Problem]
) -> dict[str, list[Window]]:
    """Build each key's windows, reporting inverted and overlapping windows."""
    windows: dict[str, list[Window]] = defaultdict(list)
    columns = [hours[column].tolist() for column in ("day", "start", "end")]
    for row, key, days, start, end in zip(hours.index.tolist(), hours_keys, *columns, strict=True):
        if not key or not days or start is None or end is None:
            continue
        if start >= end:
            problems.append(
                sheet.problem(
                    row,
                    "end",
                    "end_before_start",
                    f"The window ends ({cells.format_time(end)}) before it starts ({cells.format_time(start)}); "
                    "a window cannot run past midnight: split it into two rows.",
                    sheet.frame.at[row, "end"],
                )
            )
            continue
        windows[key].extend([Window(day, start, end, row) for day in days])
    order = {d: i for i, d in enumerate(spec.DAYS)}
    for items in windows.values():
        items.sort(key=lambda w: (order[w.day], w.start, w.row))
        for before, after in itertools.pairwise(items):
            if before.day == after.day and after.start < before.end:
                problems.append(
                    sheet.problem(
                        after.row,
                        "start",
                        "overlapping_window",
                        f"On {after.day} this window ({cells.format_time(after.start)}–{cells.format_time(after.end)}) "
                        f"overlaps the window on row {before.row} ({cells.format_time(before.start)}–"
                        f"{cells.format_time(before.end)}).",
                        sheet.frame.at[after.row, "start"],
                    )
                )
    return dict(windows)


def _links(
    camp_sheet: Sheet,
    hours_sheet: Sheet,
    campaigns: pd.DataFrame,
    hours: pd.DataFrame,
    hours_keys: list[str | None],
    windows: dict[str, list[Window]],
) -> list[Problem]:
    """Every campaign must have windows; every hours key must be used by a campaign."""
    problems: list[Problem] = []
    used: set[str] = set()
    known = {key for key in hours_keys if key}
    suggest_key = _Hints(sorted(known), 0.8, lambda folded: _original_key(hours, folded))
    rows, names, keys = campaigns.index.tolist(), campaigns["name"].tolist(), campaigns["calling_hours"].tolist()
    for row, name, key in zip(rows, names, keys, strict=True):
        if not name:
            continue
        explicit = bool(key)
        folded = fold_key(key or name)
        used.add(folded)
        if folded in windows or folded in known:
            continue
        column = "calling_hours" if explicit else "name"
        target = key if explicit else name
        hint = suggest_key(folded)
        problems.append(
            camp_sheet.problem(
                row,
                column,
                "no_calling_hours",
                f"No CallingHours rows for '{target}': add rows whose Campaign column is '{target}'.{hint}",
                target,
            )
        )
    unused = [
        (row, key, folded)
        for row, key, folded in zip(hours.index.tolist(), hours["campaign"].tolist(), hours_keys, strict=True)
        if folded and folded not in used
    ]
    if not unused:
        return problems
    suggest_name = _Hints(
        sorted({fold_key(n) for n in names if n} | used), 0.75, lambda folded: _original_name(campaigns, folded)
    )
    for row, key, folded in unused:
        problems.append(
            hours_sheet.problem(
                row,
                "campaign",
                "unused_hours_key",
                f"No campaign uses the calling hours '{key}' (it matches no campaign name or Calling Hours Key; "
                f"usually a typo).{suggest_name(folded)}",
                key,
            )
        )
    return problems


class _Hints:
    """'Did you mean …?' for a misspelt key: each distinct miss searched once, and at most MAX_HINTS searches.

    A fuzzy search compares the miss with every candidate, so a file with thousands of typos would take minutes;
    past the budget the problems are still reported, without a hint.
    """

    MAX_HINTS: Final = 200

    def __init__(self, candidates: list[str], cutoff: float, original: Callable[[str], str]) -> None:
        self._candidates = candidates
        self._cutoff = cutoff
        self._original = original
        self._found: dict[str, str] = {}

    def __call__(self, folded: str) -> str:
        if folded not in self._found:
            if len(self._found) >= self.MAX_HINTS:
                return ""
            near = get_close_matches(folded, self._candidates, n=1, cutoff=self._cutoff)
            self._found[folded] = f" Did you mean '{self._original(near[0])}'?" if near else ""
        return self._found[folded]


def _original_key(hours: pd.DataFrame, folded: str) -> str:
    return next(str(k) for k in hours["campaign"] if k and fold_key(k) == folded)


def _original_name(campaigns: pd.DataFrame, folded: str) -> str:
    for column in ("name", "calling_hours"):
        for value in campaigns[column]:
            if value and fold_key(value) == folded:
                return str(value)
    return folded
