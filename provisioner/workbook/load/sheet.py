"""A sheet as loaded: its cells keyed by canonical column, where each came from, and how its problems are made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from provisioner.workbook import spec
from provisioner.workbook.codes import Code
from provisioner.workbook.load.extent import cell_name
from provisioner.workbook.problems import Problem, show_value


@dataclass(frozen=True)
class Sheet:
    """One sheet as read: cells as the file holds them, columns keyed canonically, index = spreadsheet row."""

    name: str  # canonical sheet name from spec
    title: str  # the sheet name (or file name) as found in the input
    frame: pd.DataFrame  # known columns, keyed by Column.key; object dtype, cell values untouched
    source: pd.DataFrame  # every column under its header as written (for the results workbook)
    headers: dict[str, str]  # Column.key -> header as written in the file
    positions: dict[str, int] = field(default_factory=dict)  # Column.key -> its column in the file, from 0

    def header(self, key: str) -> str:
        """Return the header of a column as written in the file, or its template label if absent."""
        if key in self.headers:
            return self.headers[key]
        return {c.key: c.label for c in spec.SHEET_COLUMNS[self.name]}.get(key, key)

    def problem(
        self,
        row: int | None,
        key: str | None,
        code: Code,
        message: str,
        value: object = None,
        *,
        position: int | None = None,
    ) -> Problem:
        """Make the problem record for a cell, row or column of this sheet (the one place problems are made).

        ``position`` places a problem about a header that no column key names (from 0, as ``positions``).
        """
        if position is None and key is not None:
            position = self.positions.get(key)
        return Problem(
            sheet=self.title,
            row=int(row) if row is not None else None,
            column=self.header(key) if key else None,
            value=show_value(value),
            code=code,
            message=message,
            severity="warning" if code.warns else "error",
            cell=cell_name(int(row), position + 1) if row is not None and position is not None else None,
        )


@dataclass(frozen=True)
class Workbook:
    """Both sheets of an input plus the problems found in its layout (missing, unknown, repeated columns)."""

    path: Path
    kind: Literal["xlsx", "csv"]
    campaigns: Sheet
    hours: Sheet
    problems: tuple[Problem, ...] = field(default=())
