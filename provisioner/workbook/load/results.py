"""Read the outcome columns of a results workbook: what an earlier run did to each row, for ``delete``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import InputError
from provisioner.workbook import spec
from provisioner.workbook.load.grid import Limits, text
from provisioner.workbook.load.headers import outcome_keys
from provisioner.workbook.load.xlsx import read_xlsx


@dataclass(frozen=True)
class ResultRow:
    """One row of a Results sheet as the run that wrote it reported it."""

    row: int  # the input row it reports on (the Results sheet's own row when that cell is empty)
    name: str
    status: str
    campaign_id: str | None


def read_result_rows(path: Path, limits: Limits | None = None) -> list[ResultRow]:
    """Return every row of a results workbook's Results sheet; raise InputError for any other workbook."""
    grid = read_xlsx(Path(path), limits or Limits())[spec.CAMPAIGNS]
    keys = outcome_keys([text(h) for h in grid.rows[0]]) if grid.rows else []
    if spec.normalize_header(grid.title) != spec.normalize_header(spec.RESULTS) or "campaign_id" not in keys:
        raise InputError(
            f"{path} is not a results workbook: it needs a {spec.RESULTS!r} sheet whose columns start with "
            f"{', '.join(spec.RESULT_HEADERS[:4])} (as `provisioner run` writes it).",
            path=str(path),
        )
    rows = []
    for number, cells in enumerate(grid.rows[1:], start=2):
        values = dict(zip(keys, (text(c) for c in cells), strict=False))
        if not any(values.values()):
            continue
        row = values.get("row", "")
        rows.append(
            ResultRow(
                row=int(float(row)) if row.replace(".", "", 1).isdigit() else number,
                name=values.get("name", ""),
                status=values.get("status", "").lower(),
                campaign_id=values.get("campaign_id") or None,
            )
        )
    return rows
