"""Builders shared by tests: real workbooks written with openpyxl."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl

from provisioner.provision.retry import RetryPolicy
from provisioner.provision.wiring import RunOptions
from provisioner.workbook import spec

GOOD_CAMPAIGN: dict[str, Any] = {
    "name": "Spring Renewals East",
    "description": "Renewal reminders",
    "contact_lists": "Renewals East",
    "dnc_list": "Global DNC",
    "priority": 3,
    "caller_id": "+14155550123",
    "frequency": "WEEKLY",
    "timezone": "America/New_York",
    "dialing_order": "FIFO",
    "max_attempts_per_record": 3,
    "default_retry_period": 60,
    "max_ring_time": 30,
    "experience_flow_name": "Renewal Flow",
    "enable_machine_detect": "detect",
}
LABELS = {c.key: c.label for cols in spec.SHEET_COLUMNS.values() for c in cols}
#: A Results header to the outcome key it shows (``Campaign ID`` -> ``campaign_id``); input headers stay as they are.
OUTCOME_KEYS = {label: key for key, label in spec.RESULT_LABELS.items()}

#: A run that retries fast: tests against the sandbox need no real backoff.
FAST = RunOptions(
    concurrency=8,
    retry=RetryPolicy(max_attempts=8, backoff_base_s=0.01, backoff_cap_s=0.05),
    reconcile_delay_s=0.0,
    max_sends=6,
    request_timeout_s=2.0,
)


def campaign(**changes: Any) -> dict[str, Any]:
    """Return a valid campaign row with some values changed."""
    return {**GOOD_CAMPAIGN, **changes}


def window(key: str, day: object = "MO-FR", start: object = dt.time(9), end: object = dt.time(17)) -> dict[str, Any]:
    """Return one CallingHours row."""
    return {"campaign": key, "day": day, "start": start, "end": end}


def write_book(
    path: Path,
    campaigns: Sequence[dict[str, Any]],
    hours: Sequence[dict[str, Any]] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> Path:
    """Write a real .xlsx with Campaigns and CallingHours sheets; headers default to the template labels."""
    hours = [window(c["name"]) for c in campaigns] if hours is None else hours
    names = {**LABELS, **(headers or {})}
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = spec.CAMPAIGNS
    _fill(sheet, campaigns, names)
    _fill(book.create_sheet(spec.CALLING_HOURS), hours, names)
    book.save(path)
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    """Return the Results sheet of a results workbook as dicts, outcome columns keyed as ``RowOutcome`` names them."""
    rows = list(openpyxl.load_workbook(path, read_only=True)[spec.RESULTS].iter_rows(values_only=True))
    header = [OUTCOME_KEYS.get(str(name), name) for name in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def _fill(sheet: Any, rows: Sequence[dict[str, Any]], names: dict[str, str]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row)) or ["name"]
    sheet.append([names.get(k, k) for k in keys])
    for row in rows:
        sheet.append([row.get(k) for k in keys])
