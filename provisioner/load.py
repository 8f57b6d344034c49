"""Load a workbook (.xlsx) or a CSV folder into raw sheets whose index is the spreadsheet row number.

Nothing here judges cell values: that is the validator's job. This module refuses files it cannot read
safely (not a workbook, encrypted, old .xls, zip or XML bombs, formulas without cached values, too large),
finds the two sheets and maps their headers to the canonical column keys of :mod:`provisioner.spec`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import pandas as pd
import python_calamine

from provisioner import spec
from provisioner.errors import InputError
from provisioner.problems import Problem, Severity, show_value

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
    sheets = {name: _to_sheet(name, title, grid, limits, problems) for name, (title, grid) in grids.items()}
    return Workbook(path, kind, sheets[spec.CAMPAIGNS], sheets[spec.CALLING_HOURS], tuple(problems))


# --- xlsx -----------------------------------------------------------------------------------------


def _read_xlsx(path: Path, limits: Limits) -> dict[str, tuple[str, list[list[object]]]]:
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
        raise InputError(
            f"{name} is not an Excel workbook (.xlsx). Save it from Excel or LibreOffice as "
            "'Excel Workbook (.xlsx)', or give a folder holding campaigns.csv and calling_hours.csv.",
            path=str(path),
        )
    sheet_parts = _inspect_zip(path, limits)
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001  (calamine raises many kinds; all mean "unreadable")
        raise InputError(f"{name} is damaged and cannot be read ({type(exc).__name__}).", path=str(path)) from None
    titles = [m.name for m in book.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
    found = _match_sheets(name, titles)
    grids: dict[str, tuple[str, list[list[object]]]] = {}
    for canonical, title in found.items():
        part = sheet_parts.get(title)
        if part is not None:
            _refuse_uncached_formulas(path, part, title)
        sheet = book.get_sheet_by_name(title)
        pad = [""] * (sheet.start[1] if sheet.start else 0)  # iter_rows omits leading empty columns
        rows = (pad + list(r) for r in sheet.iter_rows()) if pad else sheet.iter_rows()
        grid = _bounded_rows(rows, limits, name, title, sheet.total_height)
        grid = _mark_merged(grid, sheet.merged_cell_ranges)
        grids[canonical] = (title, grid)
    return grids


def _cfb_message(path: Path) -> str:
    with path.open("rb") as fh:
        blob = fh.read(1 << 20)
    if "EncryptionInfo".encode("utf-16-le") in blob:
        return (
            f"{path.name} is password-protected. Open it, remove the password (File > Info > Protect Workbook "
            "> Encrypt with Password: clear it) and save it again."
        )
    return f"{path.name} is an old Excel 97-2003 (.xls) file. Open it and save it as 'Excel Workbook (.xlsx)'."


def _inspect_zip(path: Path, limits: Limits) -> dict[str, str]:
    """Check the zip for bombs and hostile XML; return sheet title -> worksheet part name."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
            if "mimetype" in names and b"opendocument" in zf.read("mimetype"):
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
                    f"{limits.max_unzipped_bytes / 2**20:.0f} MB accepted.",
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
                    with zf.open(info) as member:
                        prolog = member.read(4096)
                    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                        raise InputError(
                            f"{path.name} contains an XML document type declaration ({info.filename}); "
                            "workbooks saved by Excel or LibreOffice never do, and it can hide an entity bomb. "
                            "Open the file in a spreadsheet program and save it again.",
                            path=str(path),
                        )
            return _sheet_parts(zf)
    except zipfile.BadZipFile:
        raise InputError(f"{path.name} is damaged (not a complete zip/xlsx file).", path=str(path)) from None


_SHEET_TAG = re.compile(rb'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL_TAG = re.compile(rb'<Relationship\b[^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"')
_REL_TAG_REV = re.compile(rb'<Relationship\b[^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"')


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    try:
        workbook = zf.read("xl/workbook.xml")
        rels = zf.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return {}
    targets = {rid: target for rid, target in _REL_TAG.findall(rels)}
    targets.update({rid: target for target, rid in _REL_TAG_REV.findall(rels)})
    parts: dict[str, str] = {}
    for raw_name, rid in _SHEET_TAG.findall(workbook):
        target = targets.get(rid)
        if target is None:
            continue
        part = target.decode().lstrip("/")
        parts[_xml_unescape(raw_name.decode())] = part if part.startswith("xl/") else "xl/" + part
    return parts


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_CACHED = re.compile(rb"<v>[^<]+</v>|<is>")


def _refuse_uncached_formulas(path: Path, part: str, title: str) -> None:
    with zipfile.ZipFile(path) as zf:
        try:
            xml = zf.read(part)
        except KeyError:
            return
    if b"<f" not in xml:
        return
    missing: list[str] = []
    for attrs, inner in _CELL.findall(xml):
        if inner and b"<f" in inner and not _CACHED.search(inner):
            ref = _REF.search(attrs)
            missing.append(ref.group(1).decode() if ref else "?")
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{path.name}, sheet '{title}': cells {shown} hold formulas whose results were never calculated "
            "(the file was written by a program, not saved from Excel). Open it in Excel or LibreOffice and save "
            "it, or replace the formulas with values.",
            path=str(path),
        )


def _bounded_rows(
    rows: Iterable[Sequence[object]], limits: Limits, file_name: str, title: str, claimed: int
) -> list[list[object]]:
    grid: list[list[object]] = []
    blank_run = 0
    for row in rows:
        if len(grid) > limits.max_rows:
            raise InputError(
                f"{file_name}, sheet '{title}' has more than {limits.max_rows:,} rows, the most this tool accepts "
                f"in one file (raise the cap with --max-rows, or split the file).",
                path=file_name,
            )
        values = list(row)
        if all(v == "" or v is None for v in values):
            blank_run += 1
            # A used range that claims a million empty rows must not cost a million list entries.
            if blank_run > 1000 and claimed > limits.max_rows:
                break
        else:
            blank_run = 0
        grid.append(values)
    return grid


def _mark_merged(grid: list[list[object]], ranges: object) -> list[list[object]]:
    if not ranges:
        return grid
    for (r0, c0), (r1, c1) in ranges:  # type: ignore[attr-defined]
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0) and c < len(grid[r]):
                    grid[r][c] = _MergedCell(_cell_name(r0, c0), _cell_name(r1, c1))
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
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


# --- CSV ------------------------------------------------------------------------------------------


def _read_csv_folder(folder: Path, limits: Limits) -> dict[str, tuple[str, list[list[object]]]]:
    files = {spec.normalize_header(p.stem): p for p in folder.iterdir() if p.suffix.lower() == ".csv"}
    grids: dict[str, tuple[str, list[list[object]]]] = {}
    missing: list[str] = []
    for canonical, aliases in spec.SHEET_ALIASES.items():
        wanted = {spec.normalize_header(a.removesuffix(".csv")) for a in aliases}
        match = next((files[k] for k in files if k in wanted), None)
        if match is None:
            missing.append(_csv_name(canonical))
            continue
        grids[canonical] = (match.name, _read_csv(match, limits))
    if missing:
        present = ", ".join(sorted(p.name for p in files.values())) or "no CSV files"
        raise InputError(f"{folder} must hold {' and '.join(missing)} (found: {present}).", path=str(folder))
    return grids


def _csv_name(canonical: str) -> str:
    return "campaigns.csv" if canonical == spec.CAMPAIGNS else "calling_hours.csv"


def _read_csv(path: Path, limits: Limits) -> list[list[object]]:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(
            f"{path.name} is {size / 2**20:.0f} MB, larger than the {limits.max_file_bytes / 2**20:.0f} MB accepted.",
            path=str(path),
        )
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{path.name} is saved as UTF-16 ('Unicode Text'). Save it as 'CSV UTF-8 (Comma delimited)'.",
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
    if "\x00" in text:
        raise InputError(f"{path.name} contains NUL bytes; it is not a text CSV file.", path=str(path))
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    if first_line.count("\t") > max(first_line.count(","), first_line.count(";")):
        raise InputError(
            f"{path.name} is separated by tabs; save it as CSV separated by commas or semicolons.",
            path=str(path),
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        grid: list[list[object]] = [list(r) for r in reader]
    except csv.Error as exc:
        raise InputError(f"{path.name} is not valid CSV: {exc}.", path=str(path)) from None
    if len(grid) > limits.max_rows + 1:
        raise InputError(
            f"{path.name} has more than {limits.max_rows:,} rows, the most this tool accepts in one file.",
            path=str(path),
        )
    return grid


# --- common ---------------------------------------------------------------------------------------


def _match_sheets(file_name: str, titles: list[str]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for title in titles:
        by_norm.setdefault(spec.normalize_header(title), title)
    found: dict[str, str] = {}
    for canonical, aliases in spec.SHEET_ALIASES.items():
        for alias in aliases:
            match = by_norm.get(spec.normalize_header(alias.removesuffix(".csv")))
            if match is not None:
                found[canonical] = match
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
    return found


def _to_sheet(name: str, title: str, grid: list[list[object]], limits: Limits, problems: list[Problem]) -> Sheet:
    columns = spec.SHEET_COLUMNS[name]
    index = spec.header_index(columns)
    header_row = grid[0] if grid else []
    if not any(_text(h) for h in header_row):
        _refuse_misplaced_header(name, title, grid, index)
    width = max((len(r) for r in grid), default=0)
    raw_headers = [_text(h) for h in header_row] + [""] * (width - len(header_row))
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    source_names: list[str] = []
    empty_sheet = Sheet(name, title, pd.DataFrame(), pd.DataFrame(), {})
    for pos, header in enumerate(raw_headers):
        source_names.append(header or f"(column {_cell_name(0, pos)[:-1]})")
        if not header:
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
    body = [r + [""] * (width - len(r)) for r in grid[1:]]
    row_numbers = range(2, 2 + len(body))
    keep = [i for i, r in enumerate(body) if any(not _blank(v) for v in r)]
    rows_index = pd.Index([row_numbers[i] for i in keep], name="row")
    kept = [body[i] for i in keep]
    _refuse_huge_cells(kept, rows_index, raw_headers, title, limits)
    source = pd.DataFrame(kept, index=rows_index, columns=range(width), dtype=object)
    source.columns = pd.Index(_dedupe(source_names))
    frame = pd.DataFrame({key: source.iloc[:, pos] for key, pos in positions.items()}, index=rows_index, dtype=object)
    return Sheet(name, title, frame, source, headers)


def _refuse_misplaced_header(name: str, title: str, grid: list[list[object]], index: dict[str, spec.Column]) -> None:
    for number, row in enumerate(grid[:HEADER_SEARCH_ROWS], start=1):
        hits = sum(1 for v in row if spec.normalize_header(_text(v)) in index)
        if hits >= 2:
            raise InputError(
                f"Sheet '{title}': the header row must be row 1, but the headers are on row {number}. "
                f"Delete the rows above them.",
            )
    if not any(any(not _blank(v) for v in r) for r in grid):
        raise InputError(f"Sheet '{title}' is empty: it needs a header row and at least one {name} row.")
    raise InputError(f"Sheet '{title}' has no header row: row 1 must hold the column names.")


def _refuse_huge_cells(
    rows: list[list[object]], index: pd.Index, headers: list[str], title: str, limits: Limits
) -> None:
    for row_number, row in zip(index, rows, strict=True):
        for pos, value in enumerate(row):
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise InputError(
                    f"Sheet '{title}' row {row_number}, column \"{headers[pos] or pos + 1}\": the cell holds "
                    f"{len(value):,} characters, more than the {limits.max_cell_chars:,} a spreadsheet cell can.",
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
