"""Load a workbook (.xlsx) or a CSV folder into raw sheets whose index is the spreadsheet row number.

Nothing here judges cell values: that is the validator's job. This module refuses files it cannot read
safely (not a workbook, encrypted, old .xls, zip or XML bombs, formulas without cached values or showing
errors, too large, stray cells far beyond the data),
finds the two sheets and maps their headers to the canonical column keys of :mod:`provisioner.workbook.spec`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, NamedTuple, cast

import pandas as pd
import python_calamine

from provisioner.errors import InputError
from provisioner.workbook import spec
from provisioner.workbook.problems import Problem, Severity, show_value

CFB_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: old .xls, or an encrypted .xlsx
ZIP_MAGIC: Final = b"PK\x03\x04"
HEADER_SEARCH_ROWS: Final = 20


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile or accidental input from exhausting the machine; all configurable."""

    max_file_bytes: int = 100 * 1024 * 1024
    max_unzipped_bytes: int = 512 * 1024 * 1024
    max_compression_ratio: int = 200  # ratio above which a large member is treated as a zip bomb
    max_rows: int = 200_000  # per sheet, not counting the header
    max_cell_chars: int = 32_767  # Excel's own limit for one cell
    max_cells: int = 5_000_000  # per sheet, counting the empty cells up to the last row and column with a value


@dataclass(frozen=True)
class Sheet:
    """One sheet as read: cells as the file holds them, columns keyed canonically, index = spreadsheet row."""

    name: str  # canonical sheet name from spec
    title: str  # the sheet name (or file name) as found in the input
    frame: pd.DataFrame  # known columns, keyed by Column.key; object dtype, cell values untouched
    source: pd.DataFrame  # every column under its header as written (for the results workbook)
    headers: dict[str, str]  # Column.key -> header as written in the file

    def header(self, key: str) -> str:
        """Return the header of a column as written in the file, or its template label if absent."""
        if key in self.headers:
            return self.headers[key]
        return {c.key: c.label for c in spec.SHEET_COLUMNS[self.name]}.get(key, key)

    def problem(
        self,
        row: int | None,
        key: str | None,
        code: str,
        message: str,
        value: object = None,
        severity: Severity = "error",
    ) -> Problem:
        """Make the problem record for a cell, row or column of this sheet (the one place problems are made)."""
        return Problem(
            sheet=self.title,
            row=int(row) if row is not None else None,
            column=self.header(key) if key else None,
            value=show_value(value),
            code=code,
            message=message,
            severity=severity,
        )


@dataclass(frozen=True)
class Workbook:
    """Both sheets of an input plus the problems found in its layout (missing, unknown, repeated columns)."""

    path: Path
    kind: Literal["xlsx", "csv"]
    campaigns: Sheet
    hours: Sheet
    problems: tuple[Problem, ...] = field(default=())


def load_workbook(path: Path, limits: Limits | None = None) -> Workbook:
    """Read an .xlsx workbook or a folder of CSV files; raise InputError when it cannot be read at all."""
    limits = limits or Limits()
    path = Path(path)
    if path.is_dir():
        grids = _read_csv_folder(path, limits)
        kind: Literal["xlsx", "csv"] = "csv"
    elif path.is_file():
        grids = _read_xlsx(path, limits)
        kind = "xlsx"
    else:
        raise InputError(f"{path} does not exist.", path=str(path))
    problems: list[Problem] = []
    sheets = {name: _to_sheet(name, grid, limits, problems) for name, grid in grids.items()}
    return Workbook(path, kind, sheets[spec.CAMPAIGNS], sheets[spec.CALLING_HOURS], tuple(problems))


class _Grid(NamedTuple):
    """One sheet's cells as read, before its headers are matched."""

    title: str  # the sheet name, or the CSV file name
    where: str  # how messages name it: "book.xlsx, sheet 'Campaigns'" or "campaigns.csv"
    rows: list[list[object]]
    errors: tuple[_ErrorCell, ...] = ()  # cells showing a formula error, which calamine reads as empty


class _ErrorCell(NamedTuple):
    """A cell that shows a formula error such as #N/A; row and column count from 1."""

    row: int
    column: int
    error: str


# --- xlsx -----------------------------------------------------------------------------------------


def _read_xlsx(path: Path, limits: Limits) -> dict[str, _Grid]:
    name = path.name
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(
            f"{name} is {size / 2**20:.0f} MB, larger than the {limits.max_file_bytes / 2**20:.0f} MB this tool "
            "accepts (raise the cap with --max-file-mb if the file is genuine).",
            path=str(path),
        )
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(CFB_MAGIC):
        raise InputError(_cfb_message(path), path=str(path))
    if not head.startswith(ZIP_MAGIC):
        raise InputError(_not_a_workbook_message(path, size), path=str(path))
    try:
        with zipfile.ZipFile(path) as zf:
            sheet_parts = _inspect_zip(zf, path, limits)
            book = _open_calamine(path)
            titles = [m.name for m in book.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
            grids: dict[str, _Grid] = {}
            for canonical, title in _match_sheets(name, titles).items():
                where = f"{name}, sheet '{title}'"
                part = sheet_parts.get(title)
                if part is None:
                    raise InputError(f"{where}: the file is damaged (the sheet's data is missing).", path=str(path))
                errors = _check_sheet_xml(_read_member(zf, part, path), where, limits)
                grids[canonical] = _Grid(title, where, _calamine_rows(book, title, where, path), errors)
            return grids
    except zipfile.BadZipFile:
        raise InputError(f"{name} is damaged (not a complete zip/xlsx file).", path=str(path)) from None


def _not_a_workbook_message(path: Path, size: int) -> str:
    name = path.name
    if size == 0:
        return f"{name} is empty (0 bytes): the file was not saved or copied completely."
    if name.startswith("~$"):
        return (
            f"{name} is the lock file Excel keeps beside a workbook that is open, not a workbook; "
            f"give the workbook itself ({name[2:]})."
        )
    return (
        f"{name} is not an Excel workbook (.xlsx). Save it from Excel or LibreOffice as "
        "'Excel Workbook (.xlsx)', or give a folder holding campaigns.csv and calling_hours.csv."
    )


def _cfb_message(path: Path) -> str:
    with path.open("rb") as fh:
        blob = fh.read(1 << 20)
    if "EncryptionInfo".encode("utf-16-le") in blob:
        return (
            f"{path.name} is password-protected. Open it, remove the password (File > Info > Protect Workbook "
            "> Encrypt with Password: clear it) and save it again."
        )
    return f"{path.name} is an old Excel 97-2003 (.xls) file. Open it and save it as 'Excel Workbook (.xlsx)'."


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


def _inspect_zip(zf: zipfile.ZipFile, path: Path, limits: Limits) -> dict[str, str]:
    """Check the zip for bombs and hostile XML; return sheet title -> worksheet part name."""
    infos = zf.infolist()
    names = {i.filename for i in infos}
    if "mimetype" in names and b"opendocument" in _read_member(zf, "mimetype", path):
        raise InputError(
            f"{path.name} is an OpenDocument spreadsheet (.ods). In LibreOffice use File > Save As > "
            "'Excel 2007-365 (.xlsx)'.",
            path=str(path),
        )
    if "xl/workbook.xml" not in names:
        raise InputError(f"{path.name} is a zip file but not an Excel workbook (.xlsx).", path=str(path))
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise InputError(
            f"{path.name} unpacks to {total / 2**20:.0f} MB, more than the "
            f"{limits.max_unzipped_bytes / 2**20:.0f} MB accepted (a zip bomb, or far too much data).",
            path=str(path),
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 16 * 2**20 and ratio > limits.max_compression_ratio:
            raise InputError(
                f"{path.name} looks like a zip bomb: {info.filename} expands {ratio:.0f} times.",
                path=str(path),
            )
        if info.filename.endswith((".xml", ".rels")):
            _refuse_doctype(zf, info, path)
    return _sheet_parts(zf, path, names)


_UNPACK_ERRORS: Final = (zipfile.BadZipFile, zlib.error, EOFError)


def _read_member(zf: zipfile.ZipFile, part: str, path: Path) -> bytes:
    try:
        return zf.read(part)
    except KeyError:
        raise InputError(f"{path.name} is damaged: {part} is missing from it.", path=str(path)) from None
    except _UNPACK_ERRORS as exc:
        raise _damaged(path, part, exc) from None


def _damaged(path: Path, part: str, exc: Exception) -> InputError:
    return InputError(f"{path.name} is damaged: {part} inside it cannot be unpacked ({exc}).", path=str(path))


_PROLOG: Final = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_PROLOG_MAX: Final = 1 << 20
_PROLOG_CHUNK: Final = 1 << 16


def _refuse_doctype(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """Refuse a part that declares a document type: the only way XML defines entities (bombs, external files)."""
    head = b""
    try:
        with zf.open(info) as member:
            while (chunk := member.read(_PROLOG_CHUNK)) and len(head) <= _PROLOG_MAX:
                head += chunk
                end = _prolog_end(head)
                # Read on while a comment or processing instruction may be cut by the chunk's end.
                if len(head) - end >= 2 and not head.startswith((b"<!--", b"<?"), end):
                    break
    except _UNPACK_ERRORS as exc:
        raise _damaged(path, info.filename, exc) from None
    end = _prolog_end(head)
    if len(head) > _PROLOG_MAX and head.startswith((b"<!--", b"<?"), end):
        raise InputError(
            f"{path.name} is not a workbook Excel or LibreOffice wrote: {info.filename} starts with over a megabyte "
            "of XML comments. Open the file in a spreadsheet program and save it again.",
            path=str(path),
        )
    if head.startswith(b"<!", end) and not head.startswith(b"<!--", end):
        raise InputError(
            f"{path.name} contains an XML document type declaration ({info.filename}); workbooks saved by Excel "
            "or LibreOffice never do, and it can hide an entity bomb. Open the file in a spreadsheet program and "
            "save it again.",
            path=str(path),
        )


def _prolog_end(head: bytes) -> int:
    match = _PROLOG.match(head)
    return match.end() if match else 0


_WORKBOOK_RELS: Final = "xl/_rels/workbook.xml.rels"
_SHEET_TAG: Final = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_RELATIONSHIP_TAG: Final = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_NAME_ATTR: Final = re.compile(rb"\bname=(?:\"([^\"]*)\"|'([^']*)')")
_RID_ATTR: Final = re.compile(rb"\b\w+:id=(?:\"([^\"]*)\"|'([^']*)')")
_ID_ATTR: Final = re.compile(rb"\bId=(?:\"([^\"]*)\"|'([^']*)')")
_TARGET_ATTR: Final = re.compile(rb"\bTarget=(?:\"([^\"]*)\"|'([^']*)')")


def _sheet_parts(zf: zipfile.ZipFile, path: Path, names: set[str]) -> dict[str, str]:
    workbook = _read_member(zf, "xl/workbook.xml", path)
    rels = _read_member(zf, _WORKBOOK_RELS, path) if _WORKBOOK_RELS in names else b""
    targets: dict[str, str] = {}
    for attrs in _RELATIONSHIP_TAG.findall(rels):
        rid, target = _attr(_ID_ATTR, attrs), _attr(_TARGET_ATTR, attrs)
        if rid is not None and target is not None:
            part = target.lstrip("/")  # absolute, or relative to xl/ (some writers repeat the xl/)
            targets[rid] = posixpath.normpath(part if part.startswith("xl/") else posixpath.join("xl", part))
    parts: dict[str, str] = {}
    for attrs in _SHEET_TAG.findall(workbook):
        name, rid = _attr(_NAME_ATTR, attrs), _attr(_RID_ATTR, attrs)
        if name is not None and rid in targets:
            parts[html.unescape(name)] = targets[rid]
    return parts


def _attr(pattern: re.Pattern[bytes], attrs: bytes) -> str | None:
    match = pattern.search(attrs)
    return None if match is None else (match[1] if match[1] is not None else match[2]).decode()


# --- sheet XML: read once per sheet, before calamine, which allocates the whole used range at once -----------


class _Extent(NamedTuple):
    """The smallest range from A1 holding every cell with a value: the size calamine allocates."""

    rows: int
    columns: int
    row_cell: str  # a cell on the last row
    column_cell: str  # a cell in the last column


def _check_sheet_xml(xml: bytes, where: str, limits: Limits) -> tuple[_ErrorCell, ...]:
    """Refuse what calamine must not read; return the cells that show formula errors."""
    errors = _formula_errors(xml, where)
    extent = _walk_extent(xml) if any(p.search(xml) for p in _CELLS_WITHOUT_REF) else _ref_extent(xml)
    if extent.rows > limits.max_rows + 1:  # + the header row
        raise InputError(
            f"{where} has more than {limits.max_rows:,} rows: cell {extent.row_cell} holds a value on row "
            f"{extent.rows:,}. If it is a stray entry delete it (Ctrl+End in Excel jumps to the last used cell); "
            "otherwise split the file, or raise the cap with --max-rows.",
        )
    if extent.rows * extent.columns > limits.max_cells:
        raise InputError(
            f"{where}: its cells with values span A1:{_column_letters(extent.columns)}{extent.rows} "
            f"({extent.rows:,} rows by {extent.columns:,} columns), more than the {limits.max_cells:,} cells this "
            f"tool reads. Delete the stray cells right of or below the data (cell {extent.column_cell} is one; "
            "Ctrl+End in Excel jumps to the last used cell).",
        )
    return errors


_CELL: Final = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_REF: Final = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_CACHED: Final = re.compile(rb"<v>[^<]+</v>|<is>")
_ERROR_VALUE: Final = re.compile(rb"<v>([^<]*)</v>")


def _formula_errors(xml: bytes, where: str) -> tuple[_ErrorCell, ...]:
    """Refuse formulas that were never calculated; return the cells showing an error such as #N/A."""
    if b"<f" not in xml and b't="e"' not in xml:
        return ()
    uncached: list[str] = []
    errors: list[_ErrorCell] = []
    for attrs, inner in _CELL.findall(xml):
        ref = _REF.search(attrs)
        if b't="e"' in attrs and ref:
            error = _ERROR_VALUE.search(inner)
            text = error.group(1).decode(errors="replace") if error else "#error"
            errors.append(_ErrorCell(int(ref[2]), _column_number(ref[1]), text))
        elif inner and b"<f" in inner and not _CACHED.search(inner):
            uncached.append((ref[1] + ref[2]).decode() if ref else "?")
    if uncached:
        raise InputError(
            f"{where}: cells {_some(uncached)} hold formulas whose results were never calculated "
            "(the file was written by a program, not saved from Excel). Open it in Excel or LibreOffice and save "
            "it, or replace the formulas with values.",
        )
    return tuple(errors)


def _some(cells: list[str]) -> str:
    return ", ".join(cells[:5]) + (f" and {len(cells) - 5} more" if len(cells) > 5 else "")


# A cell written without a reference (or with another attribute first): its place is counted, not read.
# Two patterns, not one alternation, so that each is searched for its literal start.
_CELLS_WITHOUT_REF: Final = (re.compile(rb'<c(?:>|\s(?!r="))'), re.compile(rb':c(?:>|\s(?!r="))'))
_HOLDS_VALUE: Final = rb'"[^>]*>\s*<(?:\w+:)?(?:v|is|f)\b'  # calamine skips cells that carry only a style
_VALUE_REF: Final = re.compile(rb'r="([A-Za-z]+)0*([0-9]+)' + _HOLDS_VALUE)
_TAIL: Final = 1 << 16


def _ref_extent(xml: bytes) -> _Extent:
    """Find the extent from the cell references cheaply: the tail of the sheet, then only cells beyond it."""
    refs = _tail_refs(xml)
    rows = max((int(number) for _, number in refs), default=0)
    columns = max((_column_number(letters) for letters, _ in refs), default=0)
    # Files list their rows in order, so the tail holds the last row; this scan finds any cell that an
    # out-of-order file puts farther down or farther right.
    beyond = rb"(?=[A-Za-z]+0*(?:" + _above(rows) + rb')"|(?:' + _letters_above(columns) + rb')0*[0-9]+")'
    refs += re.compile(rb'r="' + beyond + rb"([A-Za-z]+)0*([0-9]+)" + _HOLDS_VALUE).findall(xml)
    if not refs:
        return _Extent(0, 0, "", "")
    last_row = max(refs, key=lambda ref: int(ref[1]))
    last_column = max(refs, key=lambda ref: _column_number(ref[0]))
    return _Extent(int(last_row[1]), _column_number(last_column[0]), _ref_text(*last_row), _ref_text(*last_column))


def _tail_refs(xml: bytes) -> list[tuple[bytes, bytes]]:
    window = _TAIL
    while True:
        refs: list[tuple[bytes, bytes]] = _VALUE_REF.findall(xml, max(0, len(xml) - window))
        if refs or window >= len(xml):
            return refs
        window *= 16


def _above(number: int) -> bytes:
    """Return a pattern matching the decimal numbers greater than ``number`` (no leading zeros)."""
    digits = str(number)
    options = [f"[1-9][0-9]{{{len(digits)},}}"]
    for i, digit in enumerate(digits):
        if digit != "9":
            options.append(f"{digits[:i]}[{int(digit) + 1}-9][0-9]{{{len(digits) - i - 1}}}")
    return "|".join(options).encode()


def _letters_above(column: int) -> bytes:
    """Return a pattern matching the column letters (either case) of the columns after ``column``."""
    letters = _column_letters(column) if column else ""
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


def _walk_extent(xml: bytes) -> _Extent:
    """Find the extent by placing every cell as calamine does: a cell without a reference follows the one before."""
    row = column = 0
    last_row = last_column = (0, "")
    for match in _ROW_OR_CELL.finditer(xml):
        kind, attrs = match.groups()
        ref = _REF_ATTR.search(attrs)
        if kind == b"row":
            row, column = (int(ref[2]) if ref else row + 1), 0
            continue
        cell_row, column = (int(ref[2]), _column_number(ref[1])) if ref and ref[1] else (row, column + 1)
        if attrs.endswith(b"/") or not _VALUE_NEXT.match(xml, match.end()):
            continue
        name = f"{_column_letters(column)}{cell_row}"
        last_row = max(last_row, (cell_row, name))
        last_column = max(last_column, (column, name))
    return _Extent(last_row[0], last_column[0], last_row[1], last_column[1])


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _ref_text(letters: bytes, number: bytes) -> str:
    return f"{letters.decode().upper()}{int(number)}"


# --- merged cells ---------------------------------------------------------------------------------


def _mark_merged(grid: list[list[object]], ranges: object) -> list[list[object]]:
    if not ranges:
        return grid
    for (r0, c0), (r1, c1) in ranges:  # type: ignore[attr-defined]
        hidden = _MergedCell(_cell_name(r0, c0), _cell_name(r1, c1))
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


def _cell_name(row: int, col: int) -> str:
    return f"{_column_letters(col + 1)}{row + 1}"


# --- CSV ------------------------------------------------------------------------------------------


def csv_sheets(names: Iterable[str]) -> dict[str, str]:
    """Map each sheet to the file name, among ``names``, that holds it as CSV (sheets without one are left out)."""
    files = {spec.normalize_header(n[: -len(".csv")]): n for n in names if n.lower().endswith(".csv")}
    found: dict[str, str] = {}
    for canonical, aliases in spec.SHEET_ALIASES.items():
        wanted = {spec.normalize_header(a.removesuffix(".csv")) for a in aliases}
        match = next((files[k] for k in files if k in wanted), None)
        if match is not None:
            found[canonical] = match
    return found


def _read_csv_folder(folder: Path, limits: Limits) -> dict[str, _Grid]:
    names = [p.name for p in folder.iterdir()]
    found = csv_sheets(names)
    missing = [_csv_name(canonical) for canonical in spec.SHEET_ALIASES if canonical not in found]
    if missing:
        present = ", ".join(sorted(n for n in names if n.lower().endswith(".csv"))) or "no CSV files"
        raise InputError(f"{folder} must hold {' and '.join(missing)} (found: {present}).", path=str(folder))
    return {canonical: _Grid(name, name, _read_csv(folder / name, limits)) for canonical, name in found.items()}


def _csv_name(canonical: str) -> str:
    return "campaigns.csv" if canonical == spec.CAMPAIGNS else "calling_hours.csv"


#: Delimiters a CSV file is seen with; only the first two are read.
_DELIMITERS: Final = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|' characters"}


def _read_csv(path: Path, limits: Limits) -> list[list[object]]:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(
            f"{path.name} is {size / 2**20:.0f} MB, larger than the {limits.max_file_bytes / 2**20:.0f} MB accepted.",
            path=str(path),
        )
    data = path.read_bytes()
    if data.startswith((ZIP_MAGIC, CFB_MAGIC)):
        raise InputError(
            f"{path.name} is an Excel file renamed to .csv, not CSV text. Give the workbook itself (as .xlsx), "
            "or save each sheet as 'CSV UTF-8 (Comma delimited)'.",
            path=str(path),
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{path.name} is saved as UTF-16 ('Unicode Text'). Save it as 'CSV UTF-8 (Comma delimited)'.",
            path=str(path),
        )
    if b"\x00" in data:
        raise InputError(
            f"{path.name} contains NUL bytes: it is UTF-16 text without a byte order mark, or not text at all. "
            "Save it as 'CSV UTF-8 (Comma delimited)'.",
            path=str(path),
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path.name} is not UTF-8 text (line {line} has a byte UTF-8 does not allow; it was probably saved "
            "as Latin-1/ANSI). Save it as 'CSV UTF-8 (Comma delimited)'.",
            path=str(path),
        ) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first_line.count)
    if delimiter not in ",;":
        raise InputError(
            f"{path.name} is separated by {_DELIMITERS[delimiter]}; save it as CSV separated by commas or semicolons.",
            path=str(path),
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    grid: list[list[object]] = []
    line = 1  # where the row being read starts
    try:
        for row in reader:
            grid.append(list(row))
            line = reader.line_num + 1
            if len(grid) > limits.max_rows + 1:
                raise InputError(
                    f"{path.name} has more than {limits.max_rows:,} rows, the most this tool accepts in one file.",
                    path=str(path),
                )
    except csv.Error as exc:
        raise InputError(f"{path.name}, line {line}: {_csv_reason(exc)}", path=str(path)) from None
    return grid


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return 'a cell starts with a quote mark (") that is never closed, so the rest of the file would be one cell.'
    if "expected after" in text:
        return 'text follows the closing quote mark of a cell; inside a quoted cell write a quote mark as "".'
    if "field larger than field limit" in text:
        return "a cell is longer than 131,072 characters."
    return f"this is not valid CSV ({text})."


# --- common ---------------------------------------------------------------------------------------


def _match_sheets(file_name: str, titles: list[str]) -> dict[str, str]:
    by_norm: dict[str, list[str]] = {}
    for title in titles:
        by_norm.setdefault(spec.normalize_header(title), []).append(title)
    found: dict[str, list[str]] = {}
    for canonical, aliases in spec.SHEET_ALIASES.items():
        for alias in aliases:
            matches = by_norm.get(spec.normalize_header(alias.removesuffix(".csv")))
            if matches:
                found[canonical] = matches
                break
    # A results workbook fed back as input keeps its campaigns on the Results sheet.
    if spec.CAMPAIGNS not in found and "results" in by_norm:
        found[spec.CAMPAIGNS] = by_norm["results"]
    missing = [c for c in spec.SHEET_ALIASES if c not in found]
    if missing:
        raise InputError(
            f"{file_name} has no sheet named {' or '.join(repr(m) for m in missing)} "
            f"(sheets found: {', '.join(repr(t) for t in titles) or 'none'}). Sheet names may differ in case and "
            "spacing, e.g. 'calling hours'.",
            path=file_name,
        )
    for canonical, matches in found.items():
        if len(matches) > 1:
            raise InputError(
                f"{file_name} has {len(matches)} sheets that could be the {canonical} sheet: "
                f"{', '.join(repr(t) for t in matches)} (case, spaces and punctuation in sheet names do not "
                "count). Rename or delete all but one.",
                path=file_name,
            )
    return {canonical: matches[0] for canonical, matches in found.items()}


def _to_sheet(name: str, grid: _Grid, limits: Limits, problems: list[Problem]) -> Sheet:
    columns = spec.SHEET_COLUMNS[name]
    index = spec.header_index(columns)
    rows = grid.rows
    header_row = rows[0] if rows else []
    _refuse_misplaced_header(name, grid, index)
    width = max((len(r) for r in rows), default=0)
    raw_headers = [_text(h) for h in header_row] + [""] * (width - len(header_row))
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    source_names: list[str] = []
    empty_sheet = Sheet(name, grid.title, pd.DataFrame(), pd.DataFrame(), {})
    outcome_columns = _outcome_columns(name, grid.title, raw_headers)
    for pos, header in enumerate(raw_headers):
        source_names.append(header or f"(column {_column_letters(pos + 1)})")
        if not header or pos < outcome_columns:
            continue
        column = index.get(spec.normalize_header(header))
        if column is None:
            problems.append(
                empty_sheet.problem(
                    1,
                    None,
                    "unknown_column",
                    f'Column "{header}" is not one this tool reads; it is ignored.',
                    header,
                    severity="warning",
                )
            )
            continue
        if column.key in headers:
            problems.append(
                empty_sheet.problem(
                    1,
                    None,
                    "duplicate_column",
                    f'Columns "{headers[column.key]}" and "{header}" both mean {column.label}; keep only one.',
                    header,
                )
            )
            continue
        headers[column.key] = header
        positions[column.key] = pos
    for column in columns:
        if column.required and column.key not in headers:
            spellings = ", ".join(f'"{s}"' for s in dict.fromkeys((column.label, column.key, *column.api)))
            problems.append(
                empty_sheet.problem(
                    1,
                    None,
                    "missing_column",
                    f'The required column "{column.label}" is missing. Accepted headers: {spellings} '
                    "(case, spaces and punctuation do not count).",
                )
            )
    _refuse_error_cells(grid, positions, raw_headers)
    body = [r if len(r) == width else r + [""] * (width - len(r)) for r in rows[1:]]
    row_numbers = range(2, 2 + len(body))
    keep = [i for i, r in enumerate(body) if not all(map(_blank, r))]
    rows_index = pd.Index([row_numbers[i] for i in keep], name="row")
    kept = [body[i] for i in keep]
    _refuse_huge_cells(kept, rows_index, raw_headers, grid.where, limits)
    source = pd.DataFrame(kept, index=rows_index, columns=range(width), dtype=object).iloc[:, outcome_columns:]
    source.columns = pd.Index(_dedupe(source_names[outcome_columns:]))
    frame = pd.DataFrame(
        {key: source.iloc[:, pos - outcome_columns] for key, pos in positions.items()}, index=rows_index, dtype=object
    )
    return Sheet(name, grid.title, frame, source, headers)


def _outcome_columns(name: str, title: str, headers: list[str]) -> int:
    """Count the leading outcome columns of a results workbook fed back as input (0 for any other sheet).

    They describe an earlier run, not the campaign: its ``name`` would otherwise clash with the input's own
    name column. Rows already created are found on the server by the next run and not sent again.
    """
    width = len(spec.RESULT_COLUMNS)
    if name != spec.CAMPAIGNS or spec.normalize_header(title) != spec.normalize_header(spec.RESULTS):
        return 0
    leading = [spec.normalize_header(h) for h in headers[:width]]
    return width if leading == [spec.normalize_header(c) for c in spec.RESULT_COLUMNS] else 0


def _refuse_misplaced_header(name: str, grid: _Grid, index: dict[str, spec.Column]) -> None:
    """Refuse a sheet whose row 1 is not its header row: a title above the headers, no headers, or nothing."""
    first = _known_headers(grid.rows[0], index) if grid.rows else 0
    if first >= 2:
        return
    for number, row in enumerate(grid.rows[1:HEADER_SEARCH_ROWS], start=2):
        if _known_headers(row, index) >= 2:
            raise InputError(
                f"{grid.where}: the header row must be row 1, but the headers are on row {number}. "
                f"Delete the rows above them.",
            )
    if first:
        return  # one known column: the missing-column problems say what else row 1 needs
    if not any(any(not _blank(v) for v in r) for r in grid.rows):
        raise InputError(f"{grid.where} is empty: it needs a header row and at least one {name} row.")
    texts = [repr(_text(v)[:40]) for v in grid.rows[0] if not _blank(v)]
    holds = f"holds {', '.join(texts[:3])}{', …' if len(texts) > 3 else ''}" if texts else "is empty"
    labels = " and ".join(repr(c.label) for c in spec.SHEET_COLUMNS[name][:2])
    raise InputError(
        f"{grid.where} has no header row: row 1 must hold the column names, such as {labels}, but it {holds}."
    )


def _known_headers(row: list[object], index: dict[str, spec.Column]) -> int:
    return sum(1 for v in row if spec.normalize_header(_text(v)) in index)


def _refuse_error_cells(grid: _Grid, positions: dict[str, int], headers: list[str]) -> None:
    read = set(positions.values())
    shown = [
        f'{_column_letters(e.column)}{e.row} ({e.error}, column "{headers[e.column - 1]}")'
        for e in grid.errors
        if e.row > 1 and e.column - 1 in read
    ]
    if shown:
        raise InputError(
            f"{grid.where}: cells {_some(shown)} show a formula error instead of a value. Correct the formulas, "
            "or type in the values they should give.",
        )


def _refuse_huge_cells(
    rows: list[list[object]], index: pd.Index, headers: list[str], where: str, limits: Limits
) -> None:
    for row_number, row in zip(index, rows, strict=True):
        for pos, value in enumerate(row):
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise InputError(
                    f'{where}, row {row_number}, column "{headers[pos] or _column_letters(pos + 1)}": the cell '
                    f"holds {len(value):,} characters, more than the {limits.max_cell_chars:,} a spreadsheet cell "
                    "can.",
                )


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out: list[str] = []
    for n in names:
        count = seen.get(n, 0)
        seen[n] = count + 1
        out.append(n if count == 0 else f"{n} ({count + 1})")
    return out


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def input_digest(path: Path) -> str:
    """Return the SHA-256 of the input: the file, or the CSV files of a folder in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv") if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
