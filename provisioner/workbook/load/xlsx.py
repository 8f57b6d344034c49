"""Read the two sheets of an .xlsx with calamine, after the guard and the extent scan let it through.

Cells hidden under a merged range are marked, so that the validator reports them instead of reading them
as empty.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import python_calamine

from provisioner.errors import InputError
from provisioner.workbook.load.extent import cell_name, check_sheet_xml
from provisioner.workbook.load.find import match_sheets
from provisioner.workbook.load.grid import Grid, Limits
from provisioner.workbook.load.guard import inspect_zip, read_member, refuse_not_a_workbook


def read_xlsx(path: Path, limits: Limits) -> dict[str, Grid]:
    """Read the Campaigns and CallingHours sheets of a workbook, keyed by canonical sheet name."""
    name = path.name
    refuse_not_a_workbook(path, limits)
    try:
        with zipfile.ZipFile(path) as zf:
            sheet_parts = inspect_zip(zf, path, limits)
            book = _open_calamine(path)
            titles = [m.name for m in book.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
            grids: dict[str, Grid] = {}
            for canonical, title in match_sheets(name, titles).items():
                where = f"{name}, sheet '{title}'"
                part = sheet_parts.get(title)
                if part is None:
                    raise InputError(f"{where}: the file is damaged (the sheet's data is missing).", path=str(path))
                errors = check_sheet_xml(read_member(zf, part, path), where, limits)
                grids[canonical] = Grid(title, where, _calamine_rows(book, title, where, path), errors)
            return grids
    except zipfile.BadZipFile:
        raise InputError(f"{name} is damaged (not a complete zip/xlsx file).", path=str(path)) from None


def _open_calamine(path: Path) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001  (calamine raises many kinds; all mean "unreadable")
        raise InputError(
            f"{path.name} is damaged and cannot be read ({_calamine_reason(exc)}).", path=str(path)
        ) from None


def _calamine_rows(book: python_calamine.CalamineWorkbook, title: str, where: str, path: Path) -> list[list[object]]:
    try:
        sheet = book.get_sheet_by_name(title)
    except Exception as exc:  # noqa: BLE001  (as above)
        raise InputError(f"{where} is damaged and cannot be read ({_calamine_reason(exc)}).", path=str(path)) from None
    grid = cast(list[list[object]], sheet.to_python(skip_empty_area=False))  # from A1, as rows are numbered
    return _mark_merged(grid, sheet.merged_cell_ranges)


def _calamine_reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _mark_merged(grid: list[list[object]], ranges: object) -> list[list[object]]:
    if not ranges:
        return grid
    for (r0, c0), (r1, c1) in ranges:  # type: ignore[attr-defined]
        hidden = _MergedCell(cell_name(r0 + 1, c0 + 1), cell_name(r1 + 1, c1 + 1))
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            # A range may reach column XFD and row 1,048,576; only the cells the grid holds can be marked.
            for c in range(c0, min(c1, len(grid[r]) - 1) + 1):
                if (r, c) != (r0, c0):
                    grid[r][c] = hidden
    return grid


@dataclass(frozen=True)
class _MergedCell:
    """A cell hidden under a merged range; the validator reports it instead of reading it as empty."""

    first: str
    last: str

    def __str__(self) -> str:
        return f"(merged {self.first}:{self.last})"


def merged_range(value: object) -> str | None:
    """Return 'A2:A4' when the cell lies under a merged range (other than its top-left cell), else None."""
    return f"{value.first}:{value.last}" if isinstance(value, _MergedCell) else None
