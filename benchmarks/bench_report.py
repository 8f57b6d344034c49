"""Time write_report on a large run: 100,000 outcomes with 20 input columns (the budget is 10 s).

Also times openpyxl alone appending the same values unstyled to a write-only sheet, in the same run: what
writing the whole report through openpyxl would at least cost on this machine. write_report has openpyxl write
everything but the data rows of Results and CallingHours, which it writes as XML itself.
The machine may be shared: CPU time is the steadier figure when the wall time is not.

    python benchmarks/bench_report.py [--rows 100000] [--no-floor]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd
from openpyxl import Workbook as OpenpyxlWorkbook

from provisioner.exit_codes import ExitCode
from provisioner.provision.outcomes import Report, RowOutcome, RunSummary, Status
from provisioner.report.workbook import write_report
from provisioner.workbook import spec
from provisioner.workbook.load import Sheet, Workbook
from provisioner.workbook.problems import Problem

BUDGET_S = 10.0
STATUSES = list(Status)


def campaigns(rows: int) -> pd.DataFrame:
    """Return a Campaigns source frame: the template's 17 columns plus 3 of the user's own."""
    data = {
        "Campaign Name": [f"Spring Renewals {i}" for i in range(rows)],
        "Description": [f"Renewal reminders for region {i % 50}, wave {i}" for i in range(rows)],
        "Contact Lists": [f"Renewals {i % 40}; Backfill {i % 7}" for i in range(rows)],
        "DNC List": ["Global DNC"] * rows,
        "Priority": [float(1 + i % 5) for i in range(rows)],
        "Dialing Mode": ["Agentless"] * rows,
        "Caller ID": [f"+1415555{i % 10000:04d}" for i in range(rows)],
        "Frequency": ["WEEKLY"] * rows,
        "Time Zone": ["America/New_York"] * rows,
        "Dialing Order": ["FIFO"] * rows,
        "Max Attempts per Record": [3.0] * rows,
        "Retry Period (min)": [60.0] * rows,
        "Max Ring Time (s)": [30.0] * rows,
        "Experience Flow": ["Renewal Reminder Flow"] * rows,
        "Machine Detection": ["detect"] * rows,
        "Campaign Type": ["voice"] * rows,
        "Calling Hours Key": ["Weekday Business Hours"] * rows,
        "Owner": [f"agent{i % 30}@example.com" for i in range(rows)],
        "Go-live": [dt.datetime(2026, 3, 1) + dt.timedelta(days=i % 90) for i in range(rows)],
        "Notes": ["" if i % 3 else f"checked by team {i % 11}" for i in range(rows)],
    }
    return pd.DataFrame(data, index=pd.Index(range(2, rows + 2), name="row"), dtype=object)


def hours() -> pd.DataFrame:
    """Return a small CallingHours source frame."""
    data = {
        "Campaign or Hours Key": ["Weekday Business Hours", "Weekday Business Hours"],
        "Day": ["MO-FR", "SA"],
        "Start": [dt.time(9), dt.time(10)],
        "End": [dt.time(17), dt.time(14)],
    }
    return pd.DataFrame(data, index=pd.Index([2, 3], name="row"), dtype=object)


def workbook(rows: int) -> Workbook:
    """Return a loaded-looking input workbook of ``rows`` campaigns."""
    empty = pd.DataFrame()
    return Workbook(
        path=Path("Spring.xlsx"),
        kind="xlsx",
        campaigns=Sheet(spec.CAMPAIGNS, "Campaigns", empty, campaigns(rows), {}),
        hours=Sheet(spec.CALLING_HOURS, "CallingHours", empty, hours(), {}),
    )


def report(rows: int) -> Report:
    """Return a report with one outcome per row, every status present, and a problem per 100 rows."""
    finished = dt.datetime(2026, 11, 28, 6, 8, 15, tzinfo=dt.UTC)
    outcomes = []
    for i in range(rows):
        status = STATUSES[i % len(STATUSES)]
        outcomes.append(
            RowOutcome(
                row=i + 2,
                name=f"Spring Renewals {i}",
                status=status,
                campaign_id=f"cmp-{i:08d}" if status.done else None,
                campaign_status="Ready" if status.done else None,
                error=None if status.done else f"HTTP 400: contact list 'Renewals {i % 40}' not found",
                attempts=1,
                finished_at=finished,
            )
        )
    problems = tuple(
        Problem("Campaigns", i + 2, "Priority", "9", "out_of_range", "must be a whole number from 1 to 5")
        for i in range(0, rows, 100)
    )
    summary = RunSummary(
        run_id="bench",
        command="run",
        input_name="Spring.xlsx",
        input_sha256="0" * 64,
        started=finished - dt.timedelta(minutes=8),
        finished=finished,
        exit_code=ExitCode.FAILED,
        tool_version="bench",
    )
    return Report(summary, outcomes, problems)


def openpyxl_floor(book: Workbook, rep: Report, path: Path) -> float:
    """Time openpyxl alone writing the Results values, unstyled and unscrubbed."""
    source = book.campaigns.source
    inputs = dict(zip(source.index.tolist(), source.itertuples(index=False, name=None), strict=True))
    start = time.perf_counter()
    raw = OpenpyxlWorkbook(write_only=True)
    sheet = raw.create_sheet(spec.RESULTS)
    sheet.append([*spec.RESULT_COLUMNS, *source.columns])
    for o in rep.outcomes:
        iso = o.finished_at.isoformat() if o.finished_at else None
        sheet.append(
            [
                o.row,
                o.name,
                o.status.value,
                o.campaign_id,
                o.campaign_status,
                o.error,
                o.attempts,
                iso,
                *[v or None for v in inputs[o.row]],
            ]
        )
    raw.save(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-floor", action="store_true", help="skip timing openpyxl alone (it takes a while)")
    args = parser.parse_args()
    book, rep = workbook(args.rows), report(args.rows)
    columns = len(spec.RESULT_COLUMNS) + len(book.campaigns.source.columns)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Spring.results.xlsx"
        wall, cpu = time.perf_counter(), time.process_time()
        write_report(path, rep, book)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = path.stat().st_size
        floor = None if args.no_floor else openpyxl_floor(book, rep, Path(folder) / "floor.xlsx")
    cells = args.rows * columns
    print(f"rows: {args.rows:,}  columns: {columns}  cells: {cells:,}  file: {size / 2**20:.1f} MiB")
    print(f"write_report: {wall:.2f} s wall, {cpu:.2f} s CPU, {args.rows / wall:,.0f} rows/s")
    if floor is not None:
        print(f"openpyxl alone (same values, no styles): {floor:.2f} s, {args.rows / floor:,.0f} rows/s")
        print(f"write_report / openpyxl alone: {wall / floor:.2f} ({floor / wall:.1f} x faster)")
    per_100k = wall * 100_000 / args.rows
    print(f"per 100,000 rows: {per_100k:.1f} s, {per_100k / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget")


if __name__ == "__main__":
    main()
