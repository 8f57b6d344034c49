"""Load a workbook (.xlsx) or a CSV folder into raw sheets whose index is the spreadsheet row number.

Nothing here judges cell values: that is the validator's job. This package refuses files it cannot read
safely (:mod:`.guard`: not a workbook, encrypted, old .xls, zip or XML bombs; :mod:`.extent`: formulas
without cached values or showing errors, stray cells far beyond the data), reads them (:mod:`.xlsx`,
:mod:`.csvfolder`), finds the two sheets (:mod:`.find`) and maps their headers to the canonical column keys
of :mod:`provisioner.workbook.spec` (:mod:`.headers`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from provisioner.errors import InputError
from provisioner.workbook import spec
from provisioner.workbook.load.csvfolder import read_csv_folder
from provisioner.workbook.load.find import csv_sheets
from provisioner.workbook.load.grid import Limits
from provisioner.workbook.load.headers import to_sheet
from provisioner.workbook.load.sheet import Sheet, Workbook
from provisioner.workbook.load.xlsx import merged_range, read_xlsx
from provisioner.workbook.problems import Problem

__all__ = ["Limits", "Sheet", "Workbook", "csv_sheets", "input_digest", "load_workbook", "merged_range"]


def load_workbook(path: Path, limits: Limits | None = None) -> Workbook:
    """Read an .xlsx workbook or a folder of CSV files; raise InputError when it cannot be read at all."""
    limits = limits or Limits()
    path = Path(path)
    if path.is_dir():
        grids = read_csv_folder(path, limits)
        kind: Literal["xlsx", "csv"] = "csv"
    elif path.is_file():
        grids = read_xlsx(path, limits)
        kind = "xlsx"
    else:
        raise InputError(f"{path} does not exist.", path=str(path))
    problems: list[Problem] = []
    sheets = {name: to_sheet(name, grid, limits, problems) for name, grid in grids.items()}
    return Workbook(path, kind, sheets[spec.CAMPAIGNS], sheets[spec.CALLING_HOURS], tuple(problems))


def input_digest(path: Path) -> str:
    """Return the SHA-256 of the input: the file, or the CSV files of a folder in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv") if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
