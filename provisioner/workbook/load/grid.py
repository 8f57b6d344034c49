"""What every reader hands on: a sheet's cells as read, the caps on input size, and small cell helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile or accidental input from exhausting the machine; all configurable."""

    max_file_bytes: int = 100 * 1024 * 1024
    max_unzipped_bytes: int = 512 * 1024 * 1024
    max_compression_ratio: int = 200  # ratio above which a large member is treated as a zip bomb
    max_rows: int = 200_000  # per sheet, not counting the header
    max_cell_chars: int = 32_767  # Excel's own limit for one cell
    max_cells: int = 5_000_000  # per sheet, counting the empty cells up to the last row and column with a value


class ErrorCell(NamedTuple):
    """A cell that shows a formula error such as #N/A; row and column count from 1."""

    row: int
    column: int
    error: str


class Grid(NamedTuple):
    """One sheet's cells as read, before its headers are matched."""

    title: str  # the sheet name, or the CSV file name
    where: str  # how messages name it: "book.xlsx, sheet 'Campaigns'" or "campaigns.csv"
    rows: list[list[object]]
    errors: tuple[ErrorCell, ...] = ()  # cells showing a formula error, which calamine reads as empty


def some(cells: list[str]) -> str:
    """List the first five cell names, and how many more there are."""
    return ", ".join(cells[:5]) + (f" and {len(cells) - 5} more" if len(cells) > 5 else "")


def text(value: object) -> str:
    """Return a cell as trimmed text; empty for None."""
    return "" if value is None else str(value).strip()


def blank(value: object) -> bool:
    """Tell whether a raw cell holds nothing (None or only spaces)."""
    return value is None or (isinstance(value, str) and not value.strip())
