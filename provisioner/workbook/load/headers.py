"""Match a sheet's header row to the columns of the spec and turn its cells into a :class:`Sheet`."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Final

import pandas as pd
from openpyxl.utils.cell import get_column_letter

from provisioner.errors import InputError
from provisioner.workbook import spec
from provisioner.workbook.codes import Code
from provisioner.workbook.load.grid import Grid, Limits, blank, some, text
from provisioner.workbook.load.sheet import Sheet
from provisioner.workbook.problems import Problem

HEADER_SEARCH_ROWS: Final = 20
#: How alike (0 to 1) an unknown header and a column's spelling must be for a 'did you mean'.
HINT_CUTOFF: Final = 0.75
#: Every spelling of an outcome column, normalised, to its key.
_OUTCOME_SPELLINGS: Final = {
    spec.normalize_header(spelling): key for key, label in spec.RESULT_LABELS.items() for spelling in (key, label)
}
#: The outcome columns every results workbook has started with.
_ALWAYS_THERE: Final = ("row", "name", "status")


def to_sheet(name: str, grid: Grid, limits: Limits, problems: list[Problem]) -> Sheet:
    """Match the header row to the spec's columns and key the cells by column; layout problems go to ``problems``."""
    columns = spec.SHEET_COLUMNS[name]
    index = spec.header_index(columns)
    rows = grid.rows
    header_row = rows[0] if rows else []
    _refuse_misplaced_header(name, grid, index)
    width = max((len(r) for r in rows), default=0)
    raw_headers = [text(h) for h in header_row] + [""] * (width - len(header_row))
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    source_names: list[str] = []
    empty_sheet = Sheet(name, grid.title, pd.DataFrame(), pd.DataFrame(), {})
    outcome_columns = _outcome_columns(name, grid.title, raw_headers)
    unknown: list[tuple[int, str]] = []
    for pos, header in enumerate(raw_headers):
        source_names.append(header or f"(column {get_column_letter(pos + 1)})")
        if not header or pos < outcome_columns:
            continue
        column = index.get(spec.normalize_header(header))
        if column is None:
            unknown.append((pos, header))
            continue
        if column.key in headers:
            problems.append(
                empty_sheet.problem(
                    1,
                    None,
                    Code.DUPLICATE_COLUMN,
                    f'Columns "{headers[column.key]}" and "{header}" both mean {column.label}; keep only one.',
                    header,
                    position=pos,
                )
            )
            continue
        headers[column.key] = header
        positions[column.key] = pos
    absent = [column for column in columns if column.key not in headers]
    meant = _misspelt(unknown, absent)
    for pos, header in unknown:
        column = meant.get(pos)
        if column is None or not column.required:
            hint = f' Did you mean "{column.label}"?' if column else ""
            message = f'Column "{header}" is not one this tool reads; it is ignored.{hint}'
            problems.append(empty_sheet.problem(1, None, Code.UNKNOWN_COLUMN, message, header, position=pos))
    typos = {column.key: (pos, raw_headers[pos]) for pos, column in meant.items()}
    for column in absent:
        if not column.required:
            continue
        if column.key in typos:
            pos, header = typos[column.key]
            message = (
                f'Column "{header}" is not one this tool reads. Did you mean "{column.label}"? The required '
                f'column "{column.label}" is missing.'
            )
            problems.append(empty_sheet.problem(1, None, Code.MISSING_COLUMN, message, header, position=pos))
            continue
        spellings = ", ".join(f'"{s}"' for s in dict.fromkeys((column.label, column.key, *column.api)))
        problems.append(
            empty_sheet.problem(
                1,
                None,
                Code.MISSING_COLUMN,
                f'The required column "{column.label}" is missing. Accepted headers: {spellings} '
                "(case, spaces and punctuation do not count).",
            )
        )
    _refuse_error_cells(grid, positions, raw_headers)
    body = [r if len(r) == width else r + [""] * (width - len(r)) for r in rows[1:]]
    row_numbers = range(2, 2 + len(body))
    keep = [i for i, r in enumerate(body) if not all(map(blank, r))]
    rows_index = pd.Index([row_numbers[i] for i in keep], name="row")
    kept = [body[i] for i in keep]
    _refuse_huge_cells(kept, rows_index, raw_headers, grid.where, limits)
    source = pd.DataFrame(kept, index=rows_index, columns=range(width), dtype=object).iloc[:, outcome_columns:]
    source.columns = pd.Index(_dedupe(source_names[outcome_columns:]))
    frame = pd.DataFrame(
        {key: source.iloc[:, pos - outcome_columns] for key, pos in positions.items()}, index=rows_index, dtype=object
    )
    return Sheet(name, grid.title, frame, source, headers, positions)


def _misspelt(unknown: list[tuple[int, str]], absent: list[spec.Column]) -> dict[int, spec.Column]:
    """Say which absent column each unknown header most likely misspells (position -> column), each column once."""
    spellings = {spec.normalize_header(s): c for c in absent for s in c.spellings()}
    meant: dict[int, spec.Column] = {}
    for pos, header in unknown:
        near = get_close_matches(spec.normalize_header(header), list(spellings), n=1, cutoff=HINT_CUTOFF)
        if near:
            column = spellings[near[0]]
            meant[pos] = column
            spellings = {k: c for k, c in spellings.items() if c is not column}
    return meant


def _outcome_columns(name: str, title: str, headers: list[str]) -> int:
    """Count the leading outcome columns of a results workbook fed back as input (0 for any other sheet).

    They describe an earlier run, not the campaign: its ``name`` would otherwise clash with the input's own
    name column. Rows already created are found on the server by the next run and not sent again. Each is
    recognised by its label or by its key (the header of results workbooks written before the labels), so a
    workbook written by an older or newer version, with fewer or more of them, is read too.
    """
    if name != spec.CAMPAIGNS or spec.normalize_header(title) != spec.normalize_header(spec.RESULTS):
        return 0
    return len(outcome_keys(headers))


def outcome_keys(headers: list[str]) -> list[str]:
    """Return the keys of a Results sheet's leading outcome columns, in order (none when it has not all of row,
    name and status first)."""
    seen: list[str] = []
    for header in headers:
        key = _OUTCOME_SPELLINGS.get(spec.normalize_header(header))
        if key is None or key in seen:
            break  # the input's own columns start here (its name column may be headed "name" too)
        seen.append(key)
    return seen if seen[: len(_ALWAYS_THERE)] == list(_ALWAYS_THERE) else []


def _refuse_misplaced_header(name: str, grid: Grid, index: dict[str, spec.Column]) -> None:
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
    if not any(any(not blank(v) for v in r) for r in grid.rows):
        raise InputError(f"{grid.where} is empty: it needs a header row and at least one {name} row.")
    texts = [repr(text(v)[:40]) for v in grid.rows[0] if not blank(v)]
    holds = f"holds {', '.join(texts[:3])}{', …' if len(texts) > 3 else ''}" if texts else "is empty"
    labels = " and ".join(repr(c.label) for c in spec.SHEET_COLUMNS[name][:2])
    raise InputError(
        f"{grid.where} has no header row: row 1 must hold the column names, such as {labels}, but it {holds}."
    )


def _known_headers(row: list[object], index: dict[str, spec.Column]) -> int:
    return sum(1 for v in row if spec.normalize_header(text(v)) in index)


def _refuse_error_cells(grid: Grid, positions: dict[str, int], headers: list[str]) -> None:
    read = set(positions.values())
    shown = [
        f'{get_column_letter(e.column)}{e.row} ({e.error}, column "{headers[e.column - 1]}")'
        for e in grid.errors
        if e.row > 1 and e.column - 1 in read
    ]
    if shown:
        raise InputError(
            f"{grid.where}: cells {some(shown)} show a formula error instead of a value. Correct the formulas, "
            "or type in the values they should give.",
        )


def _refuse_huge_cells(
    rows: list[list[object]], index: pd.Index, headers: list[str], where: str, limits: Limits
) -> None:
    for row_number, row in zip(index, rows, strict=True):
        for pos, value in enumerate(row):
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise InputError(
                    f'{where}, row {row_number}, column "{headers[pos] or get_column_letter(pos + 1)}": the cell '
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
