"""Row problems as data: one frozen record per problem, knowing its sheet, spreadsheet row and column."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from provisioner.workbook.cells import format_time
from provisioner.workbook.codes import Cause, Code

Severity = Literal["error", "warning"]

_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: Longest value text kept in a problem; a huge cell must not make a huge report.
MAX_VALUE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, located as a spreadsheet user sees it (header is row 1)."""

    sheet: str
    row: int | None
    column: str | None
    value: str | None
    code: str
    message: str
    severity: Severity = "error"
    cell: str | None = None  # the cell's address, e.g. G4, when the problem is about one cell

    def as_dict(self) -> dict[str, object]:
        """Return the problem as a plain JSON-ready dict."""
        return asdict(self)

    @property
    def location(self) -> str:
        """Say where the problem is, e.g. ``Campaigns!E7 (row 7, column "Priority")`` or ``Campaigns row 7``."""
        parts = [f"row {self.row}"] if self.row is not None else []
        if self.column:
            parts.append(f'column "{self.column}"')
        if self.cell:
            return f"{self.sheet}!{self.cell} ({', '.join(parts)})"
        return " ".join([self.sheet, ", ".join(parts)]) if parts else self.sheet


def show_value(value: object) -> str | None:
    """Render a cell value for a report: None for empty, text clipped to ``MAX_VALUE_CHARS``."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    if isinstance(value, str) and not value.strip():
        return None
    text = value if isinstance(value, str) else _plain(value)
    # A cell may hold escape sequences; shown raw they would drive the reader's terminal.
    text = _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as the spreadsheet shows it
    if isinstance(value, dt.time):
        return format_time(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # spreadsheets store every number as a float; show 7, as the cell does
    return str(value)


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    """Return the problems that block a run (severity ``error``)."""
    return [p for p in problems if p.severity == "error"]


def sort_key(problem: Problem) -> tuple[int, str, int, str]:
    """Order problems by cause (layout, cells, links: earlier causes explain later ones), then sheet, row, column."""
    return (cause_of(problem.code), problem.sheet, problem.row or 0, problem.column or "")


def cause_of(code: str) -> Cause:
    """Return the cause of a problem code; a code from outside the registry counts as a cell problem."""
    try:
        return Code(code).cause
    except ValueError:
        return Cause.CELL
