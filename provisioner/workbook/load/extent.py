"""Scan a worksheet's XML, once, before calamine reads it: calamine allocates the whole used range at once.

The scan finds the extent (the last row and column holding a value), formulas never calculated and cells
showing formula errors, with regular expressions over the raw bytes: a tree of a large sheet would cost the
memory the scan is there to protect.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from openpyxl.utils.cell import column_index_from_string, get_column_letter

from provisioner.errors import InputError
from provisioner.workbook.load.grid import ErrorCell, Limits, some

#: Column XFD, the last a spreadsheet has.
LAST_COLUMN: Final = 16_384


class Extent(NamedTuple):
    """The smallest range from A1 holding every cell with a value: the size calamine allocates."""

    rows: int
    columns: int
    row_cell: str  # a cell on the last row
    column_cell: str  # a cell in the last column


class BeyondLastColumn(ValueError):
    """A cell placed right of column XFD, where no spreadsheet puts one."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column  # its letters, or its number when it has none


def check_sheet_xml(xml: bytes, where: str, limits: Limits) -> tuple[ErrorCell, ...]:
    """Refuse what calamine must not read; return the cells that show formula errors."""
    try:
        errors = _formula_errors(xml, where)
        extent = walk_extent(xml) if any(p.search(xml) for p in _CELLS_WITHOUT_REF) else ref_extent(xml)
    except BeyondLastColumn as exc:
        raise InputError(
            f"{where}: a cell in column {exc.column} lies beyond column XFD, the last one a spreadsheet has, so no "
            "spreadsheet program wrote this file. Open it in one and save it again.",
        ) from None
    if extent.rows > limits.max_rows + 1:  # + the header row
        raise InputError(
            f"{where} has more than {limits.max_rows:,} rows: cell {extent.row_cell} holds a value on row "
            f"{extent.rows:,}. If it is a stray entry delete it (Ctrl+End in Excel jumps to the last used cell); "
            "otherwise split the file, or raise the cap with --max-rows.",
        )
    if extent.rows * extent.columns > limits.max_cells:
        raise InputError(
            f"{where}: its cells with values span A1:{get_column_letter(extent.columns)}{extent.rows} "
            f"({extent.rows:,} rows by {extent.columns:,} columns), more than the {limits.max_cells:,} cells this "
            f"tool reads. Delete the stray cells right of or below the data (cell {extent.column_cell} is one; "
            "Ctrl+End in Excel jumps to the last used cell).",
        )
    return errors


def column_number(letters: bytes) -> int:
    """Return the number of a column from its letters (either case): A is 1, XFD is 16,384."""
    text = letters.decode().upper()
    try:
        number: int = column_index_from_string(text)
    except ValueError:
        number = LAST_COLUMN + 1
    if number > LAST_COLUMN:
        raise BeyondLastColumn(f"{text}…" if len(text) > 8 else text)
    return number


def cell_name(row: int, column: int) -> str:
    """Name a cell as a spreadsheet does, e.g. ``C7``, from its row and column numbers (from 1)."""
    if column > LAST_COLUMN:
        raise BeyondLastColumn(f"{column:,}")
    return f"{get_column_letter(column)}{row}"


_CELL: Final = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_REF: Final = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_CACHED: Final = re.compile(rb"<v>[^<]+</v>|<is>")
_ERROR_VALUE: Final = re.compile(rb"<v>([^<]*)</v>")


def _formula_errors(xml: bytes, where: str) -> tuple[ErrorCell, ...]:
    """Refuse formulas that were never calculated; return the cells showing an error such as #N/A."""
    if b"<f" not in xml and b't="e"' not in xml:
        return ()
    uncached: list[str] = []
    errors: list[ErrorCell] = []
    for attrs, inner in _CELL.findall(xml):
        ref = _REF.search(attrs)
        if b't="e"' in attrs and ref:
            error = _ERROR_VALUE.search(inner)
            text = error.group(1).decode(errors="replace") if error else "#error"
            errors.append(ErrorCell(int(ref[2]), column_number(ref[1]), text))
        elif inner and b"<f" in inner and not _CACHED.search(inner):
            uncached.append((ref[1] + ref[2]).decode() if ref else "?")
    if uncached:
        raise InputError(
            f"{where}: cells {some(uncached)} hold formulas whose results were never calculated "
            "(the file was written by a program, not saved from Excel). Open it in Excel or LibreOffice and save "
            "it, or replace the formulas with values.",
        )
    return tuple(errors)


# A cell written without a reference (or with another attribute first): its place is counted, not read.
# Two patterns, not one alternation, so that each is searched for its literal start.
_CELLS_WITHOUT_REF: Final = (re.compile(rb'<c(?:>|\s(?!r="))'), re.compile(rb':c(?:>|\s(?!r="))'))
_HOLDS_VALUE: Final = rb'"[^>]*>\s*<(?:\w+:)?(?:v|is|f)\b'  # calamine skips cells that carry only a style
_VALUE_REF: Final = re.compile(rb'r="([A-Za-z]+)0*([0-9]+)' + _HOLDS_VALUE)
_TAIL: Final = 1 << 16


def ref_extent(xml: bytes) -> Extent:
    """Find the extent from the cell references cheaply: the tail of the sheet, then only cells beyond it."""
    refs = _tail_refs(xml)
    rows = max((int(number) for _, number in refs), default=0)
    columns = max((column_number(letters) for letters, _ in refs), default=0)
    # Files list their rows in order, so the tail holds the last row; this scan finds any cell that an
    # out-of-order file puts farther down or farther right.
    beyond = rb"(?=[A-Za-z]+0*(?:" + numbers_above(rows) + rb')"|(?:' + letters_above(columns) + rb')0*[0-9]+")'
    refs += re.compile(rb'r="' + beyond + rb"([A-Za-z]+)0*([0-9]+)" + _HOLDS_VALUE).findall(xml)
    if not refs:
        return Extent(0, 0, "", "")
    last_row = max(refs, key=lambda ref: int(ref[1]))
    last_column = max(refs, key=lambda ref: column_number(ref[0]))
    return Extent(int(last_row[1]), column_number(last_column[0]), _ref_text(*last_row), _ref_text(*last_column))


def _tail_refs(xml: bytes) -> list[tuple[bytes, bytes]]:
    window = _TAIL
    while True:
        refs: list[tuple[bytes, bytes]] = _VALUE_REF.findall(xml, max(0, len(xml) - window))
        if refs or window >= len(xml):
            return refs
        window *= 16


def numbers_above(number: int) -> bytes:
    """Return a pattern matching the decimal numbers greater than ``number`` (no leading zeros)."""
    digits = str(number)
    options = [f"[1-9][0-9]{{{len(digits)},}}"]
    for i, digit in enumerate(digits):
        if digit != "9":
            options.append(f"{digits[:i]}[{int(digit) + 1}-9][0-9]{{{len(digits) - i - 1}}}")
    return "|".join(options).encode()


def letters_above(column: int) -> bytes:
    """Return a pattern matching the column letters (either case) of the columns after ``column``."""
    letters = get_column_letter(column) if column else ""
    options = [f"[A-Za-z]{{{len(letters) + 1},}}"]
    for i, letter in enumerate(letters):
        if letter != "Z":
            after = chr(ord(letter) + 1)
            same = "".join(f"[{c}{c.lower()}]" for c in letters[:i])
            options.append(f"{same}[{after}-Z{after.lower()}-z][A-Za-z]{{{len(letters) - i - 1}}}")
    return "|".join(options).encode()


_ROW_OR_CELL: Final = re.compile(rb"<(?:\w+:)?(row|c)\b([^>]*)>")
_REF_ATTR: Final = re.compile(rb'\br="([A-Za-z]*)0*([0-9]+)"')
_VALUE_NEXT: Final = re.compile(rb"\s*<(?:\w+:)?(?:v|is|f)\b")


def walk_extent(xml: bytes) -> Extent:
    """Find the extent by placing every cell as calamine does: a cell without a reference follows the one before."""
    row = column = 0
    last_row = last_column = (0, "")
    for match in _ROW_OR_CELL.finditer(xml):
        kind, attrs = match.groups()
        ref = _REF_ATTR.search(attrs)
        if kind == b"row":
            row, column = (int(ref[2]) if ref else row + 1), 0
            continue
        cell_row, column = (int(ref[2]), column_number(ref[1])) if ref and ref[1] else (row, column + 1)
        if attrs.endswith(b"/") or not _VALUE_NEXT.match(xml, match.end()):
            continue
        name = cell_name(cell_row, column)
        last_row = max(last_row, (cell_row, name))
        last_column = max(last_column, (column, name))
    return Extent(last_row[0], last_column[0], last_row[1], last_column[1])


def _ref_text(letters: bytes, number: bytes) -> str:
    return f"{letters.decode().upper()}{int(number)}"
