"""Read a folder of CSV files (campaigns.csv, calling_hours.csv) as the two sheets of a workbook.

Refuses what is not CSV text a reader can trust: Excel files renamed to .csv, UTF-16, NUL bytes, text that
is not UTF-8, separators other than commas or semicolons, unclosed quotes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Final

from provisioner.errors import InputError
from provisioner.workbook import spec
from provisioner.workbook.load.find import csv_sheets
from provisioner.workbook.load.grid import Grid, Limits
from provisioner.workbook.load.guard import CFB_MAGIC, ZIP_MAGIC


def read_csv_folder(folder: Path, limits: Limits) -> dict[str, Grid]:
    """Read campaigns.csv and calling_hours.csv of a folder, keyed by canonical sheet name."""
    names = [p.name for p in folder.iterdir()]
    found = csv_sheets(names)
    missing = [_csv_name(canonical) for canonical in spec.SHEET_ALIASES if canonical not in found]
    if missing:
        present = ", ".join(sorted(n for n in names if n.lower().endswith(".csv"))) or "no CSV files"
        raise InputError(f"{folder} must hold {' and '.join(missing)} (found: {present}).", path=str(folder))
    return {canonical: Grid(name, name, _read_csv(folder / name, limits)) for canonical, name in found.items()}


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
