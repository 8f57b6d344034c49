"""Pass 3 of validation: rows against other rows and the other sheet.

Campaign names are unique, calling windows run forward and do not overlap, every campaign has calling hours
and every hours key is used by a campaign.
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from difflib import SequenceMatcher, get_close_matches
from typing import Final, NamedTuple

import pandas as pd

from provisioner.names import fold_name
from provisioner.workbook import cells, spec
from provisioner.workbook.codes import Code
from provisioner.workbook.load import Sheet
from provisioner.workbook.problems import Problem


class Window(NamedTuple):
    """One calling window of one day, as the API takes it."""

    day: str
    start: dt.time
    end: dt.time
    row: int  # the CallingHours row it came from


def fold_key(value: object) -> str:
    """Fold a CallingHours key for matching a row to its hours: case and surrounding/double spaces do not count."""
    return " ".join(str(value).split()).casefold()


def duplicate_names(sheet: Sheet, campaigns: pd.DataFrame) -> list[Problem]:
    """Report every campaign whose name (folded as the platform does) an earlier row already has."""
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
                    Code.DUPLICATE_NAME,
                    f"Another campaign on row {first_row[key]} has the same name (the platform ignores upper and "
                    "lower case); campaign names must be unique.",
                    sheet.frame.at[row, "name"],
                )
            )
        else:
            first_row[key] = row
    return problems


def windows_by_key(
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
                    Code.END_BEFORE_START,
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
                        Code.OVERLAPPING_WINDOW,
                        f"On {after.day} this window ({cells.format_time(after.start)}–{cells.format_time(after.end)}) "
                        f"overlaps the window on row {before.row} ({cells.format_time(before.start)}–"
                        f"{cells.format_time(before.end)}).",
                        sheet.frame.at[after.row, "start"],
                    )
                )
    return dict(windows)


def check_links(
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
        hint = suggest_key(folded, str(target))
        problems.append(
            camp_sheet.problem(
                row,
                column,
                Code.NO_CALLING_HOURS,
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
    # A campaign with its own Calling Hours Key does not use rows keyed by its name; a hint would name it back.
    keyed = {fold_key(n): (row, n, k) for row, n, k in zip(rows, names, keys, strict=True) if n and k}
    suggest_name = _Hints(
        sorted({fold_key(n) for n in names if n} | used), 0.75, lambda folded: _original_name(campaigns, folded)
    )
    for row, key, folded in unused:
        if folded in keyed:
            campaign_row, name, own_key = keyed[folded]
            message = (
                f"No campaign uses the calling hours '{key}': campaign '{name}' on row {campaign_row} has this name "
                f"but uses the calling hours '{own_key}' of its Calling Hours Key column; empty that cell to use "
                "these rows instead."
            )
        else:
            message = (
                f"No campaign uses the calling hours '{key}' (it matches no campaign name or Calling Hours Key; "
                f"usually a typo).{suggest_name(folded, str(key))}"
            )
        problems.append(hours_sheet.problem(row, "campaign", Code.UNUSED_HOURS_KEY, message, key))
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

    def __call__(self, folded: str, miss: str) -> str:
        """Return the hint for a miss (``folded`` as :func:`fold_key` folds ``miss``), or an empty string."""
        if folded not in self._found:
            if len(self._found) >= self.MAX_HINTS:
                return ""
            near = get_close_matches(folded, self._candidates, n=1, cutoff=self._cutoff)
            self._found[folded] = _hint(miss, self._original(near[0])) if near else ""
        return self._found[folded]


def _hint(miss: str, near: str) -> str:
    """Suggest ``near`` for ``miss``; when they differ only in characters that do not show, name those instead."""
    differences = [
        (miss[i1:i2], near[j1:j2])
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, miss, near, autojunk=False).get_opcodes()
        if tag != "equal"
    ]
    if all(_plain(ours) and _plain(theirs) for ours, theirs in differences):
        return f" Did you mean '{near}'?"
    shown = "; ".join(
        f"this has {_characters(ours)} where that has {_characters(theirs)}" for ours, theirs in differences[:3]
    )
    return f" It looks like '{near}' but differs in characters that may not show: {shown}. Retype one of them."


def _plain(text: str) -> bool:
    """Tell whether a text holds only printable ASCII characters, which every reader sees as they are."""
    return text.isascii() and text.isprintable()


def _characters(text: str) -> str:
    """Name the characters of a short text by code point and Unicode name; 'nothing' for none."""
    return ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})" for c in text) or "nothing"


def _original_key(hours: pd.DataFrame, folded: str) -> str:
    return next(str(k) for k in hours["campaign"] if k and fold_key(k) == folded)


def _original_name(campaigns: pd.DataFrame, folded: str) -> str:
    for column in ("name", "calling_hours"):
        for value in campaigns[column]:
            if value and fold_key(value) == folded:
                return str(value)
    return folded
