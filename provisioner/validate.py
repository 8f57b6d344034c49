"""Validate a loaded workbook: read every cell, check every rule, and report all problems at once.

Three passes, each reporting everything it finds:
1. cells are read into typed values (:mod:`provisioner.cells`); a cell that cannot be read is a problem;
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
from typing import Final, NamedTuple

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from provisioner import cells, spec
from provisioner.load import Sheet, Workbook, merged_range
from provisioner.problems import Problem, errors_only, sort_key


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
    campaigns: pd.DataFrame  # typed values by Column.key; index = spreadsheet row
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
        return fold_key(self.campaigns.at[row, "calling_hours"] or self.campaigns.at[row, "name"])


def fold_key(value: object) -> str:
    """Fold a campaign name or hours key for matching: case and surrounding/double spaces do not count."""
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


def _typed(sheet: Sheet, problems: list[Problem], failed: set[tuple[int, str]]) -> pd.DataFrame:
    """Pass 1: read every cell of every known column into its typed value."""
    out: dict[str, list[object]] = {}
    for column in spec.SHEET_COLUMNS[sheet.name]:
        if column.key not in sheet.frame:
            default = column.default
            out[column.key] = [default] * len(sheet.frame)
            continue
        parse = _parser(column)
        values: list[object] = []
        for row, raw in zip(sheet.frame.index.tolist(), sheet.frame[column.key].tolist(), strict=True):
            if cells.is_blank(raw):
                values.append(column.default)
                continue
            merged = merged_range(raw)
            if merged:
                problems.append(
                    sheet.problem(
                        row,
                        column.key,
                        "merged_cell",
                        f"This cell is part of the merged cells {merged}; unmerge them and fill in every row.",
                    )
                )
                failed.add((row, column.key))
                values.append(None)
                continue
            try:
                values.append(parse(raw))
            except cells.CellError as err:
                problems.append(sheet.problem(row, column.key, err.code, f"{column.label} {err.message}", raw))
                failed.add((row, column.key))
                values.append(None)
        out[column.key] = values
    return pd.DataFrame(out, index=sheet.frame.index, dtype=object)


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
    windows = _windows(hours_sheet, hours, problems)
    problems += _links(camp_sheet, hours_sheet, campaigns, hours, windows)

    problems.sort(key=sort_key)
    return Validated(workbook, campaigns, windows, tuple(problems), _blocked(workbook, campaigns, hours, problems))


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
    for row, name, key in campaigns[["name", "calling_hours"]].itertuples():
        target = key or name
        if target and fold_key(target) in bad_hours and not reasons.get(row):
            rows = ", ".join(str(r) for r in sorted(set(bad_hours[fold_key(target)])))
            reasons[row].append(f"Its calling hours '{target}' have problems on {workbook.hours.title} row(s) {rows}.")
    return {row: " | ".join(text) for row, text in reasons.items() if text}


def _duplicate_names(sheet: Sheet, campaigns: pd.DataFrame) -> list[Problem]:
    first_row: dict[str, int] = {}
    problems: list[Problem] = []
    for row, name in zip(campaigns.index.tolist(), campaigns["name"].tolist(), strict=True):
        if not name:
            continue
        key = fold_key(name)
        if key in first_row:
            problems.append(
                sheet.problem(
                    row,
                    "name",
                    "duplicate_name",
                    f"Another campaign on row {first_row[key]} has the same name (the platform ignores case and "
                    "extra spaces); campaign names must be unique.",
                    sheet.frame.at[row, "name"],
                )
            )
        else:
            first_row[key] = row
    return problems


def _windows(sheet: Sheet, hours: pd.DataFrame, problems: list[Problem]) -> dict[str, list[Window]]:
    """Build each key's windows, reporting inverted and overlapping windows."""
    windows: dict[str, list[Window]] = defaultdict(list)
    for row, key, days, start, end in hours[["campaign", "day", "start", "end"]].itertuples():
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
        for day in days:
            windows[fold_key(key)].append(Window(day, start, end, row))
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
    windows: dict[str, list[Window]],
) -> list[Problem]:
    """Every campaign must have windows; every hours key must be used by a campaign."""
    problems: list[Problem] = []
    used: set[str] = set()
    hours_keys = {fold_key(k) for k in hours["campaign"] if k}
    for row, name, key in campaigns[["name", "calling_hours"]].itertuples():
        if not name:
            continue
        explicit = bool(key)
        folded = fold_key(key or name)
        used.add(folded)
        if folded in windows or folded in hours_keys:
            continue
        column = "calling_hours" if explicit else "name"
        target = key if explicit else name
        near = get_close_matches(folded, sorted(hours_keys), n=1, cutoff=0.8)
        hint = f" Did you mean '{_original_key(hours, near[0])}'?" if near else ""
        problems.append(
            camp_sheet.problem(
                row,
                column,
                "no_calling_hours",
                f"No CallingHours rows for '{target}': add rows whose Campaign column is '{target}'.{hint}",
                target,
            )
        )
    names = sorted({fold_key(n) for n in campaigns["name"] if n} | used)
    for row, key in zip(hours.index.tolist(), hours["campaign"].tolist(), strict=True):
        if not key or fold_key(key) in used:
            continue
        near = get_close_matches(fold_key(key), names, n=1, cutoff=0.75)
        hint = f" Did you mean '{_original_name(campaigns, near[0])}'?" if near else ""
        problems.append(
            hours_sheet.problem(
                row,
                "campaign",
                "unused_hours_key",
                f"No campaign uses the calling hours '{key}' (it matches no campaign name or Calling Hours Key; "
                f"usually a typo).{hint}",
                key,
            )
        )
    return problems


def _original_key(hours: pd.DataFrame, folded: str) -> str:
    return next(str(k) for k in hours["campaign"] if k and fold_key(k) == folded)


def _original_name(campaigns: pd.DataFrame, folded: str) -> str:
    for column in ("name", "calling_hours"):
        for value in campaigns[column]:
            if value and fold_key(value) == folded:
                return str(value)
    return folded
