"""Pass 2 of validation: a pandera schema per sheet checks the column rules (required, lengths, ranges, choices).

Each check carries its problem code as its pandera ``error``, so a failure maps back to its rule by code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from provisioner.workbook import spec
from provisioner.workbook.codes import Code
from provisioner.workbook.load import Sheet
from provisioner.workbook.problems import Problem

Message = Callable[[spec.Column, object], str]

#: The check pandera reports for an empty cell of a column that may not be empty.
_NOT_NULLABLE: Final = "not_nullable"


def _rules(column: spec.Column) -> dict[Code, tuple[pa.Check, Message]]:
    """Return the column's checks, each under the code it reports; the check carries the code as its error."""
    rules: dict[Code, tuple[pa.Check, Message]] = {}
    if column.max_len:
        limit = column.max_len
        rules[Code.TOO_LONG] = (
            pa.Check.str_length(max_value=limit, error=Code.TOO_LONG.value),
            lambda c, v: f"{c.label} is {len(str(v))} characters long; the platform allows at most {limit}.",
        )
    if column.bounds:
        low, high = column.bounds
        rules[Code.OUT_OF_RANGE] = (
            pa.Check.in_range(low, high, error=Code.OUT_OF_RANGE.value),
            lambda c, v: f"{c.label} must be {c.allowed}; {v} is outside that range.",
        )
    if column.choices:
        rules[Code.NOT_ALLOWED] = (pa.Check.isin(column.choices, error=Code.NOT_ALLOWED.value), _choice_message)
    if column.kind == "names":
        most = spec.CONTACT_LISTS_MAX
        rules[Code.LIST_COUNT] = (
            pa.Check(lambda s: s.map(len).between(1, most), element_wise=False, error=Code.LIST_COUNT.value),
            lambda c, v: f"{c.label} must name 1 to {most} lists; this cell names {len(v)}.",  # type: ignore[arg-type]
        )
    return rules


def _choice_message(column: spec.Column, value: object) -> str:
    if column.key == "dialing_mode" and str(value).casefold() in {m.casefold() for m in spec.OTHER_DIALING_MODES}:
        return (
            f"{value} campaigns need agent queue settings that the agentless create call does not take; "
            "this tool creates Agentless campaigns only."
        )
    return f"{column.label} must be one of: {column.allowed}."


#: Keyed by sheet and column: both sheets have a "start" column.
_RULES: Final = {(name, c.key): _rules(c) for name, cols in spec.SHEET_COLUMNS.items() for c in cols}
_SCHEMAS: Final = {
    name: pa.DataFrameSchema(
        {
            c.key: pa.Column(
                None,
                checks=[check for check, _ in _RULES[name, c.key].values()],
                nullable=not c.required,
                required=False,
            )
            for c in columns
        },
        name=name,
    )
    for name, columns in spec.SHEET_COLUMNS.items()
}


def schema_problems(sheet: Sheet, typed: pd.DataFrame, already: set[tuple[int, str]]) -> list[Problem]:
    """Check the typed cells against the sheet's schema; skip the cells in ``already`` (unreadable ones)."""
    try:
        _SCHEMAS[sheet.name].validate(typed, lazy=True)
    except SchemaErrors as exc:
        columns = {c.key: c for c in spec.SHEET_COLUMNS[sheet.name]}
        problems: list[Problem] = []
        for case in exc.failure_cases.itertuples(index=False):
            key = str(case.column)
            row = case.index
            # A column absent from the file is one missing-column problem, not one problem per row.
            if row is None or (row, key) in already or key not in columns or key not in sheet.frame:
                continue
            column = columns[key]
            raw = sheet.frame.at[row, key]
            if case.check == _NOT_NULLABLE:
                problems.append(sheet.problem(row, key, Code.MISSING_VALUE, f"{column.label} is required.", raw))
                continue
            code = Code(case.check)
            message = _RULES[sheet.name, key][code][1]
            problems.append(sheet.problem(row, key, code, message(column, typed.at[row, key]), raw))
        return problems
    return []
