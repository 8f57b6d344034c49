"""The results workbook: written from a real loaded input, read back with openpyxl (and with the loader)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from openpyxl.workbook.workbook import Workbook as OpenpyxlWorkbook
from openpyxl.worksheet.worksheet import Worksheet

from provisioner.exit_codes import ExitCode
from provisioner.logs import register_secret
from provisioner.provision.compare import Change
from provisioner.provision.outcomes import Report, RowOutcome, RunSummary, Status
from provisioner.report.workbook import ERROR_COLUMNS, STATUS_COLOURS, console_summary, human_duration, write_report
from provisioner.workbook import spec
from provisioner.workbook.load import Sheet, Workbook, load_workbook
from provisioner.workbook.problems import Problem
from provisioner.workbook.sizing import LINE_HEIGHT, row_height
from provisioner.workbook.spec import CAMPAIGN_COLUMNS
from tests.helpers import OUTCOME_KEYS, read_results

SECRET = f"client-secret-{uuid.uuid4().hex}"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJlLXBhcnQ"
STARTED = dt.datetime(2026, 11, 28, 6, 0, 3, tzinfo=dt.UTC)
FINISHED = STARTED + dt.timedelta(minutes=8, seconds=12)
TIME_FORMAT = "h:mm AM/PM"
HYPERLINK = '=HYPERLINK("http://evil.example/?x=1","click me")'

EXTRA_HEADERS = ["Owner", "Best Time", "Go-live"]
CAMPAIGN_HEADERS = [c.label for c in CAMPAIGN_COLUMNS] + EXTRA_HEADERS
NAMES = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]
# Typed-as-text cells of the input that a spreadsheet would run as formulas: (spreadsheet row, header) -> text
RISKY_INPUT = {
    (2, "Description"): HYPERLINK,
    (3, "Owner"): "+1 555 0100",
    (5, "Owner"): "-x",
    (6, "Owner"): "@x",
    (7, "Description"): "#N/A",
    (8, "Owner"): "\tindented",
}

OUTCOMES = [
    RowOutcome(2, "Alpha", Status.CREATED, "cmp-1", "Ready", None, 1, FINISHED),
    RowOutcome(3, "Bravo", Status.EXISTS, "cmp-2", "Preparing", None, 0, FINISHED),
    RowOutcome(5, "Charlie", Status.FAILED, error=f"HTTP 401: token {JWT} refused for {SECRET}", attempts=3),
    RowOutcome(6, "=1+2", Status.INVALID, error="-priority must be a whole number from 1 to 5"),
    RowOutcome(7, "Echo", Status.SKIPPED, error="@not attempted: the run stopped"),
    RowOutcome(8, "Foxtrot", Status.UNKNOWN, attempts=2, error="timed out", finished_at=FINISHED),
    RowOutcome(99, "Ghost", Status.FAILED, error="no such row"),
    RowOutcome(100, "Hotel", Status.UPDATED, "cmp-3", changes=(Change("Priority", "3", "2"),)),
    RowOutcome(101, "India", Status.UNCHANGED, "cmp-4"),
    RowOutcome(
        102,
        "Juliet",
        Status.DIFFERS,
        "cmp-5",
        changes=(Change("Priority", "3", "2"), Change("Contact Lists", "A", "B", "+ B, − A")),
    ),
    RowOutcome(103, "Kilo", Status.LOCKED, "cmp-6", changes=(Change("Priority", "3", "2"),)),
    RowOutcome(104, "Lima", Status.DELETED, "cmp-7", note="already gone; nothing to do"),
    RowOutcome(105, "Mike", Status.REFUSED, "cmp-8", error="refused: Active (--stop-active stops it)"),
]
PROBLEMS = (
    Problem("Campaigns", 6, "Priority", "=SUM(A1:A9)", "out_of_range", "must be a whole number from 1 to 5", cell="E6"),
    Problem("Campaigns", 1, None, "Owner", "unknown_column", 'Column "Owner" is not read.', "warning"),
    Problem("CallingHours", 3, "Start", "+9", "bad_time", f"cannot read the time (key {SECRET}, jwt {JWT})", cell="C3"),
)
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def write_input(path: Path) -> None:
    """Write a campaigns workbook as a user would: numbers, times, dates, text that looks like code."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = spec.CAMPAIGNS
    sheet.append(CAMPAIGN_HEADERS)
    for number, name in enumerate(NAMES):
        values: list[object] = [int(c.example) if c.kind == "int" else c.example for c in CAMPAIGN_COLUMNS]
        values[0] = name
        sheet.append([*values, f"owner {number}", dt.time(9, 30 + number), dt.date(2026, 3, 1 + number)])
        sheet.cell(row=sheet.max_row, column=len(values) + 2).number_format = TIME_FORMAT
        if number == 1:
            sheet.append([])  # the loader skips a blank line: spreadsheet rows are 2, 3, 5, 6…
    sheet.cell(row=3, column=CAMPAIGN_HEADERS.index("Priority") + 1).value = 2.5
    for (row, header), text in RISKY_INPUT.items():
        cell = sheet.cell(row=row, column=CAMPAIGN_HEADERS.index(header) + 1)
        cell.value = text
        cell.data_type = "s"
    hours = book.create_sheet(spec.CALLING_HOURS)
    hours.append([c.label for c in spec.HOURS_COLUMNS])
    hours.append(["Weekday Business Hours", "MO-FR", dt.time(9), dt.time(17, 30)])
    hours.append(["Weekday Business Hours", "SA", dt.time(10), dt.time(14)])
    for row in hours.iter_rows(min_row=2, min_col=3, max_col=4):
        for cell in row:
            cell.number_format = TIME_FORMAT
    book.save(path)


SUMMARY = RunSummary(
    run_id="run-7f3a",
    command="run",
    input_name="Spring.xlsx",
    input_sha256="ab" * 32,
    started=STARTED,
    finished=FINISHED,
    exit_code=ExitCode.FAILED,
    tool_version="1.2.3",
    host="https://platform.example",
    account_id="acct-1",
    stream_id="st-9",
    notes=("interrupted by SIGTERM", "2 campaigns left unknown"),  # two lines: a taller row
)


def make_report(outcomes: list[RowOutcome], problems: tuple[Problem, ...] = PROBLEMS, **field: Any) -> Report:
    return Report(replace(SUMMARY, **field), outcomes, problems)


@pytest.fixture(scope="module")
def secret_registered() -> None:
    """Have SECRET masked, as a run has its client secret; every test relying on it asks for this fixture."""
    register_secret(SECRET)


@pytest.fixture(scope="module")
def source(secret_registered: None, tmp_path_factory: pytest.TempPathFactory) -> Workbook:
    path = tmp_path_factory.mktemp("input") / "Spring.xlsx"
    write_input(path)
    return load_workbook(path)


@pytest.fixture(scope="module")
def written(source: Workbook, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "Spring.results.xlsx"
    assert write_report(path, make_report(OUTCOMES), source) == path
    return path


@pytest.fixture(scope="module")
def book(written: Path) -> OpenpyxlWorkbook:
    return openpyxl.load_workbook(written)


def rows(sheet: Worksheet) -> list[list[object]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def summary_fields(sheet: Worksheet) -> dict[str, object]:
    """Read the key/value table: from row 2 to the first blank line."""
    fields: dict[str, object] = {}
    for key, value in sheet.iter_rows(min_row=2, max_col=2, values_only=True):
        if key is None:
            break
        fields[str(key)] = value
    return fields


def counts_table(sheet: Worksheet) -> list[list[object]]:
    table = [list(r) for r in sheet.iter_rows(max_col=2, values_only=True)]
    start = table.index(["Status", "Campaigns"])
    return table[start + 1 : start + 2 + len(Status)]


def sheet_xml(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/sheet")}


# --- layout ---------------------------------------------------------------------------------------


def test_sheets_come_in_order(book: OpenpyxlWorkbook) -> None:
    assert book.sheetnames == [spec.SUMMARY, spec.RESULTS, spec.CALLING_HOURS, spec.ERRORS]


def test_summary_holds_the_run_facts(book: OpenpyxlWorkbook) -> None:
    fields = summary_fields(book[spec.SUMMARY])
    assert fields == {
        "Run ID": "run-7f3a",
        "Command": "run",
        "Input file": "Spring.xlsx",
        "Input SHA-256": "ab" * 32,
        "Started": "2026-11-28T06:00:03+00:00",
        "Finished": "2026-11-28T06:08:15+00:00",
        "Duration": "8 min 12 s",
        "Host": "https://platform.example",
        "Account ID": "acct-1",
        "Stream ID": "st-9",
        "Tool version": "1.2.3",
        "Exit code": 1,
        "Exit code meaning": ExitCode.FAILED.meaning,
        "Campaigns started": 0,
        "Schedules or starts not done": 0,
        "Problems": "2 errors, 1 warning",
        "Notes": "interrupted by SIGTERM\n2 campaigns left unknown",
    }


def test_summary_counts_every_status_in_enum_order_with_a_total_and_a_chart(
    book: OpenpyxlWorkbook, written: Path
) -> None:
    assert counts_table(book[spec.SUMMARY]) == [
        ["created", 1],
        ["exists", 1],
        ["failed", 2],
        ["invalid", 1],
        ["skipped", 1],
        ["unknown", 1],
        ["updated", 1],
        ["unchanged", 1],
        ["differs", 1],
        ["locked", 1],
        ["deleted", 1],
        ["refused", 1],
        ["Total", 13],
    ]
    with zipfile.ZipFile(written) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        assert b"Campaigns by status" in archive.read(charts[0])


def test_results_list_outcomes_in_order_then_the_input_columns_as_written(
    book: OpenpyxlWorkbook, written: Path
) -> None:
    table = rows(book[spec.RESULTS])
    assert table[0] == [*spec.RESULT_HEADERS, *CAMPAIGN_HEADERS]
    assert table[0][:11] == [
        "Row",
        "Name",
        "Status",
        "Campaign ID",
        "Campaign status",
        "Started at",
        "Schedule",
        "Reason",
        "Changes",
        "Attempts",
        "Finished at",
    ]
    assert [r[:3] for r in table[1:]] == [[o.row, o.name, o.status.value] for o in OUTCOMES]
    by_key = read_results(written)
    assert by_key[0]["campaign_id"] == "cmp-1"
    assert by_key[0]["campaign_status"] == "Ready"
    assert by_key[0]["attempts"] == 1
    assert by_key[0]["finished_at"] == "2026-11-28T06:08:15+00:00"
    assert by_key[3]["finished_at"] is None
    assert by_key[2]["Campaign Name"] == "Charlie"  # row 5 after the blank line: taken by row number
    assert by_key[1]["Priority"] == 2.5
    assert by_key[0]["Priority"] == 3
    assert by_key[0]["Go-live"] == dt.datetime(2026, 3, 1)
    assert by_key[6].get("Campaign Name") is None  # row 99 is not in the input
    assert table[7][: len(spec.RESULT_COLUMNS)] == [
        99,
        "Ghost",
        "failed",
        None,
        None,
        None,
        None,
        "no such row",
        None,
        0,
        None,
    ]
    assert by_key[9]["changes"] == "Priority 3 → 2\nContact Lists + B, − A"
    assert set(table[7][len(spec.RESULT_COLUMNS) :]) == {None}


def test_results_write_times_as_time_cells_with_the_template_format(book: OpenpyxlWorkbook) -> None:
    sheet = book[spec.RESULTS]
    column = len(spec.RESULT_COLUMNS) + CAMPAIGN_HEADERS.index("Best Time") + 1
    cell = sheet.cell(row=2, column=column)
    assert cell.value == dt.time(9, 30)
    assert cell.number_format == TIME_FORMAT


def test_each_status_has_its_own_fill(book: OpenpyxlWorkbook) -> None:
    sheet = book[spec.RESULTS]
    fills = {}
    for row in range(2, 2 + len(OUTCOMES)):
        cell = sheet.cell(row=row, column=spec.RESULT_COLUMNS.index("status") + 1)
        fills[cell.value] = cell.fill.fgColor.rgb
    assert fills == {s.value: "00" + STATUS_COLOURS[s] for s in Status}
    assert len(set(fills.values())) == len(Status)


def test_tables_have_styled_frozen_filtered_headers_and_fitted_widths(book: OpenpyxlWorkbook) -> None:
    for name, width, error_column in (
        (spec.RESULTS, len(spec.RESULT_COLUMNS) + len(CAMPAIGN_HEADERS), spec.RESULT_LABELS["error"]),
        (spec.ERRORS, len(ERROR_COLUMNS), "Message"),
        (spec.CALLING_HOURS, len(spec.HOURS_COLUMNS), None),
    ):
        sheet = book[name]
        last = openpyxl.utils.get_column_letter(width)
        assert sheet.freeze_panes == "A2", name
        assert sheet.auto_filter.ref == f"A1:{last}{sheet.max_row}", name
        header = sheet[1]
        assert all(cell.font.bold and cell.fill.fill_type == "solid" for cell in header), name
        letters = [openpyxl.utils.get_column_letter(i) for i in range(1, width + 1)]
        widths = [sheet.column_dimensions[letter].width for letter in letters]
        assert all(8 <= w <= 80 for w in widths), (name, widths)
        if error_column is not None:
            position = [c.value for c in header].index(error_column)
            assert widths[position] >= 40
            assert max(widths[:position] + widths[position + 1 :]) <= 60
            messages = [row[position] for row in sheet.iter_rows(min_row=2) if row[position].value]
            assert messages and all(cell.alignment.wrap_text for cell in messages), name


def test_calling_hours_are_written_back_as_read(book: OpenpyxlWorkbook) -> None:
    sheet = book[spec.CALLING_HOURS]
    assert rows(sheet) == [
        [c.label for c in spec.HOURS_COLUMNS],
        ["Weekday Business Hours", "MO-FR", dt.time(9), dt.time(17, 30)],
        ["Weekday Business Hours", "SA", dt.time(10), dt.time(14)],
    ]
    assert {sheet.cell(row=r, column=c).number_format for r in (2, 3) for c in (3, 4)} == {TIME_FORMAT}


def test_errors_list_every_problem(book: OpenpyxlWorkbook) -> None:
    table = rows(book[spec.ERRORS])
    assert table[0] == ["Sheet", "Cell", "Row", "Column", "Value", "Message", "Code", "Severity"]
    assert table[1] == [
        "Campaigns",
        "E6",
        6,
        "Priority",
        "=SUM(A1:A9)",
        PROBLEMS[0].message,
        "out_of_range",
        "error",
    ]
    assert table[2] == [
        "Campaigns",
        None,
        1,
        None,
        "Owner",
        'Column "Owner" is not read.',
        "unknown_column",
        "warning",
    ]
    assert table[3][:5] == ["CallingHours", "C3", 3, "Start", "+9"]
    assert len(table) == 1 + len(PROBLEMS)


def test_wrapped_text_gets_rows_tall_enough_and_every_cell_sits_at_the_top(book: OpenpyxlWorkbook) -> None:
    """LibreOffice draws a wrapped cell left at the default height over the rows below it."""
    for name in (spec.ERRORS, spec.RESULTS, spec.SUMMARY):
        sheet = book[name]
        widths = {
            cell.column: sheet.column_dimensions[openpyxl.utils.get_column_letter(cell.column)].width
            for cell in sheet[1]
        }
        for line in range(2, sheet.max_row + 1):
            wrapped = [
                (cell.value, widths[cell.column])
                for cell in sheet[line]
                if isinstance(cell.value, str) and cell.alignment.wrap_text
            ]
            assert sheet.row_dimensions[line].height == row_height(wrapped), (name, line)
        assert {cell.alignment.vertical for row in sheet.iter_rows() for cell in row if cell.value is not None} == {
            "top"
        }, name
    notes = next(row[0].row for row in book[spec.SUMMARY].iter_rows() if row[0].value == "Notes")
    assert book[spec.SUMMARY].row_dimensions[notes].height == row_height([("two\nlines", 66)])


def test_long_reasons_make_tall_rows_in_the_rows_written_as_xml(tmp_path: Path) -> None:
    long = "the server said no: " + "because " * 40
    outcomes = [RowOutcome(2, "Alpha", Status.FAILED, error=long), RowOutcome(3, "Bravo", Status.CREATED, "cmp-2")]
    path = write_report(tmp_path / "r.xlsx", make_report(outcomes), None)
    results = openpyxl.load_workbook(path)[spec.RESULTS]
    reason = spec.RESULT_COLUMNS.index("error") + 1
    width = results.column_dimensions[openpyxl.utils.get_column_letter(reason)].width
    height = results.row_dimensions[2].height
    assert height is not None and height == row_height([(long, width)]) and height > 3 * LINE_HEIGHT
    assert results.row_dimensions[3].height is None
    assert b'<row r="2" ht="' in sheet_xml(path)["xl/worksheets/sheet2.xml"]


def test_results_written_before_the_labels_load_back_by_their_snake_case_headers(
    written: Path, source: Workbook, tmp_path: Path
) -> None:
    typed = openpyxl.load_workbook(written)
    for column, key in enumerate(spec.RESULT_COLUMNS, start=1):
        typed[spec.RESULTS].cell(1, column).value = key  # the headers results workbooks had before
    typed.save(tmp_path / "old.results.xlsx")
    old, new = load_workbook(tmp_path / "old.results.xlsx"), load_workbook(written)
    assert list(old.campaigns.source.columns) == list(new.campaigns.source.columns) == CAMPAIGN_HEADERS
    assert old.campaigns.source.to_numpy().tolist() == new.campaigns.source.to_numpy().tolist()
    assert [p.code for p in old.problems] == [p.code for p in new.problems]
    assert "unknown_column" not in {p.code for p in new.problems if p.value in spec.RESULT_HEADERS}


def test_the_results_workbook_loads_back_with_the_same_input_values(written: Path, source: Workbook) -> None:
    again = load_workbook(written)
    original = source.campaigns.source
    matching = [o.row for o in OUTCOMES if o.row in original.index]
    assert again.campaigns.source[list(original.columns)].iloc[: len(matching)].to_numpy().tolist() == (
        original.loc[matching].to_numpy().tolist()
    )
    assert again.hours.source.to_numpy().tolist() == source.hours.source.to_numpy().tolist()
    assert list(again.hours.source.columns) == list(source.hours.source.columns)


# --- large sheets: their data rows are written as XML, not by openpyxl -------------------------------

LARGE = 2_100  # past the 200 rows sampled for widths, and past the first 2,000-row batch of XML
TRICKY_TEXT = [
    "<b>&amp;</b> & <i>",
    "say \"hi\" & 'bye'",
    " leading space",
    "trailing space ",
    "two\nlines",
    "ünïcødé 😀 中文",
    "=SUM(A1:A9)",
    "+1 555 0100",
    "-x",
    "@x",
    "#N/A",
    "\ttab",
    "]]> </t></is></c>",
]
LARGE_COLUMNS = ["Text", "Tricky", "Number", "Time", "Date", "Date and time", "Flag", "Sometimes"]


def literal(text: str) -> bool:
    """Tell whether a text must be stored quote-prefixed, as a spreadsheet would otherwise run it."""
    return text.startswith(("=", "+", "-", "@", "\t")) or text == "#N/A"


def large_value(column: str, i: int) -> object:
    """The input value of a column on line ``i``, of the types the loader reads from a workbook."""
    values: dict[str, object] = {
        "Text": f"Spring Renewals {i}",
        "Tricky": TRICKY_TEXT[i % len(TRICKY_TEXT)],
        "Number": i * 0.25 - 100,
        "Time": dt.time(i % 24, i % 60),
        "Date": dt.date(2026, 1, 1) + dt.timedelta(days=i % 365),
        "Date and time": dt.datetime(2026, 3, 1, 12, 30) + dt.timedelta(days=i, minutes=i % 600),  # never midnight
        "Flag": i % 2 == 0,
        "Sometimes": "" if i % 3 else f"note {i}",
    }
    return values[column]


def large_input() -> Workbook:
    index = pd.Index(range(2, LARGE + 2), name="row")
    campaigns = pd.DataFrame(
        {column: [large_value(column, i) for i in range(LARGE)] for column in LARGE_COLUMNS}, index, dtype=object
    )
    hours = pd.DataFrame(
        {"Key": TRICKY_TEXT, "Start": [dt.time(9, i) for i in range(len(TRICKY_TEXT))]},
        pd.Index(range(2, len(TRICKY_TEXT) + 2), name="row"),
        dtype=object,
    )
    empty = pd.DataFrame()
    return Workbook(
        Path("Large.xlsx"),
        "xlsx",
        Sheet(spec.CAMPAIGNS, "Campaigns", empty, campaigns, {}),
        Sheet(spec.CALLING_HOURS, "CallingHours", empty, hours, {}),
    )


def large_outcome(i: int) -> RowOutcome:
    status = list(Status)[i % len(Status)]
    error = None if status.done else TRICKY_TEXT[i % len(TRICKY_TEXT)]
    return RowOutcome(i + 2, f"Spring Renewals {i}", status, f"cmp-{i}" if status.done else None, None, error, i % 4)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "Large.results.xlsx"
    return write_report(path, make_report([large_outcome(i) for i in range(LARGE)]), large_input())


def test_large_sheets_read_back_in_openpyxl_with_their_values_types_and_styles(large: Path) -> None:
    book = openpyxl.load_workbook(large)
    results = book[spec.RESULTS]
    assert results.max_row == LARGE + 1  # the probe row openpyxl wrote is gone; nothing is missing
    header = [cell.value for cell in results[1]]
    assert header == [*spec.RESULT_HEADERS, *LARGE_COLUMNS]
    assert results.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}{LARGE + 1}"
    header = [OUTCOME_KEYS.get(name, name) for name in header]
    for i in (*range(len(TRICKY_TEXT) * 2), 198, 199, 200, 1999, 2000, 2001, LARGE - 1):
        line = dict(zip(header, results[i + 2], strict=True))
        outcome = large_outcome(i)
        assert (line["row"].value, line["row"].data_type) == (i + 2, "n")
        assert line["name"].value == outcome.name
        assert line["status"].value == outcome.status.value
        assert line["status"].fill.fgColor.rgb == "00" + STATUS_COLOURS[outcome.status]
        assert line["campaign_id"].value == outcome.campaign_id
        assert line["attempts"].value == outcome.attempts
        if outcome.error:
            assert line["error"].value == outcome.error
            assert line["error"].alignment.wrap_text
            assert line["error"].quotePrefix == literal(outcome.error)
        for column in LARGE_COLUMNS:
            value, cell = large_value(column, i), line[column]
            if isinstance(value, str):
                assert (cell.value, cell.data_type) == (value or None, "s" if value else "n"), (i, column)
                assert cell.quotePrefix == literal(value), (i, column)
        assert line["Number"].value == large_value("Number", i)
        assert (line["Time"].value, line["Time"].number_format) == (large_value("Time", i), TIME_FORMAT)
        date = large_value("Date", i)
        assert isinstance(date, dt.date)
        assert line["Date"].value == dt.datetime.combine(date, dt.time())
        assert line["Date"].number_format == "yyyy-mm-dd"
        assert line["Date and time"].value == large_value("Date and time", i)
        assert line["Date and time"].number_format == "yyyy-mm-dd h:mm:ss"
        assert (line["Flag"].value, line["Flag"].data_type) == (large_value("Flag", i), "b")
    hours = book[spec.CALLING_HOURS]
    assert [[cell.value for cell in row] for row in hours.iter_rows(min_row=2)] == [
        [text, dt.time(9, i)] for i, text in enumerate(TRICKY_TEXT)
    ]
    assert {cell.number_format for cell in hours["B"][1:]} == {TIME_FORMAT}
    with zipfile.ZipFile(large) as archive:
        last = openpyxl.utils.get_column_letter(len(spec.RESULT_COLUMNS) + len(LARGE_COLUMNS))
        assert f"'Results'!$A$1:${last}${LARGE + 1}".encode() in archive.read("xl/workbook.xml")
    for name, xml in sheet_xml(large).items():
        assert b"<f>" not in xml and b"<f " not in xml, name


def test_large_sheets_load_back_as_the_input_they_were_read_from(large: Path) -> None:
    again = load_workbook(large)
    source = large_input()
    original = source.campaigns.source
    reread = again.campaigns.source[LARGE_COLUMNS]
    assert reread.to_numpy().tolist() == original.to_numpy().tolist()
    assert [type(value) for value in reread.iloc[1]] == [str, str, float, dt.time, dt.date, dt.datetime, bool, str]
    assert again.hours.source.to_numpy().tolist() == source.hours.source.to_numpy().tolist()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_large_sheets_as_openpyxl_does(large: Path, tmp_path: Path) -> None:
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"  # apart from any other LibreOffice
    command = ["soffice", profile, "--headless", "--norestore", "--convert-to", "xlsx", "--outdir", str(tmp_path)]
    subprocess.run([*command, str(large)], check=True, capture_output=True, timeout=300)
    ours = openpyxl.load_workbook(large)
    theirs = openpyxl.load_workbook(tmp_path / large.name, data_only=True)  # LibreOffice saves True as =TRUE()
    for name in (spec.RESULTS, spec.CALLING_HOURS):
        assert rows(theirs[name]) == rows(ours[name]), name
    status = theirs[spec.RESULTS]["C2"]
    assert (status.value, status.fill.fgColor.rgb[2:]) == ("created", STATUS_COLOURS[Status.CREATED])
    # LibreOffice keeps the heights of the rows written as XML, so their wrapped reasons do not spill over.
    tall = [line for line in range(2, LARGE + 2) if ours[spec.RESULTS].row_dimensions[line].height]
    assert tall
    for line in tall[:50]:
        height = ours[spec.RESULTS].row_dimensions[line].height
        assert theirs[spec.RESULTS].row_dimensions[line].height == pytest.approx(height, abs=1), line


# --- safety ---------------------------------------------------------------------------------------


def test_text_that_looks_like_a_formula_stays_text(book: OpenpyxlWorkbook, written: Path) -> None:
    results = book[spec.RESULTS]
    header = [c.value for c in results[1]]
    line_of = {o.row: line for line, o in enumerate(OUTCOMES, start=2)}
    cells = [results.cell(row=line_of[row], column=header.index(name) + 1) for (row, name) in RISKY_INPUT]
    reason = spec.RESULT_COLUMNS.index("error") + 1
    cells += [
        results.cell(row=5, column=2),  # name "=1+2"
        results.cell(row=5, column=reason),  # error "-priority…"
        results.cell(row=6, column=reason),  # error "@not attempted…"
        book[spec.ERRORS].cell(row=2, column=5),  # value "=SUM(A1:A9)"
        book[spec.ERRORS].cell(row=4, column=5),  # value "+9"
    ]
    expected = [*RISKY_INPUT.values(), "=1+2", OUTCOMES[3].error, OUTCOMES[4].error, "=SUM(A1:A9)", "+9"]
    assert [c.value for c in cells] == expected
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    for name, xml in sheet_xml(written).items():
        assert b"<f>" not in xml and b"<f " not in xml, name


def test_secrets_and_jwts_are_masked(book: OpenpyxlWorkbook, written: Path) -> None:
    error = rows(book[spec.RESULTS])[3][spec.RESULT_COLUMNS.index("error")]
    assert error == "HTTP 401: token *** refused for ***"
    assert rows(book[spec.ERRORS])[3][5] == "cannot read the time (key ***, jwt ***)"
    with zipfile.ZipFile(written) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            assert SECRET.encode() not in data and JWT.encode() not in data, name


def test_control_characters_do_not_break_the_workbook(tmp_path: Path) -> None:
    outcome = RowOutcome(2, "bell\x07name", Status.FAILED, error="nul\x00byte")
    path = write_report(tmp_path / "r.xlsx", make_report([outcome]), None)
    line = rows(openpyxl.load_workbook(path)[spec.RESULTS])[1]
    assert line[1:3] == ["bell\ufffdname", "failed"]
    assert line[spec.RESULT_COLUMNS.index("error")] == "nul\ufffdbyte"


def test_cells_hidden_under_a_merged_range_are_written_empty(tmp_path: Path) -> None:
    path = tmp_path / "merged.xlsx"
    write_input(path)
    typed = openpyxl.load_workbook(path)
    column = CAMPAIGN_HEADERS.index("DNC List") + 1
    typed[spec.CAMPAIGNS].merge_cells(start_row=6, end_row=7, start_column=column, end_column=column)
    typed.save(path)
    report = write_report(tmp_path / "r.xlsx", make_report(OUTCOMES), load_workbook(path))
    results = openpyxl.load_workbook(report)[spec.RESULTS]
    dnc = [results.cell(row=line, column=len(spec.RESULT_COLUMNS) + column).value for line in (5, 6)]
    assert dnc == ["Global DNC", None]  # rows 6 and 7 of the input


# --- reports without outcomes or input ------------------------------------------------------------


def test_a_validate_report_has_summary_and_errors_only(source: Workbook, tmp_path: Path) -> None:
    finished = STARTED + dt.timedelta(seconds=0.4)
    report = make_report([], command="validate", exit_code=ExitCode.INVALID, finished=finished)
    path = write_report(tmp_path / "problems.xlsx", report, source)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [spec.SUMMARY, spec.ERRORS]
    summary = book[spec.SUMMARY]
    assert summary_fields(summary)["Duration"] == "0.4 s"
    assert summary_fields(summary)["Exit code"] == 2
    assert ["Status", "Campaigns"] not in [list(r) for r in summary.iter_rows(max_col=2, values_only=True)]
    with zipfile.ZipFile(path) as archive:
        assert not [n for n in archive.namelist() if n.startswith("xl/charts/")]
    assert len(rows(book[spec.ERRORS])) == 1 + len(PROBLEMS)


def test_errors_sheet_is_there_with_its_header_when_there_are_no_problems(tmp_path: Path) -> None:
    outcomes = [RowOutcome(2, "Alpha", Status.CREATED, "cmp-1")]
    report = make_report(outcomes, problems=(), exit_code=ExitCode.OK)
    book = openpyxl.load_workbook(write_report(tmp_path / "r.xlsx", report, None))
    assert book.sheetnames == [spec.SUMMARY, spec.RESULTS, spec.ERRORS]  # no input: no CallingHours
    assert rows(book[spec.ERRORS]) == [list(ERROR_COLUMNS)]
    assert rows(book[spec.RESULTS])[0] == list(spec.RESULT_HEADERS)
    assert summary_fields(book[spec.SUMMARY])["Problems"] == "none"


# --- atomic write ---------------------------------------------------------------------------------


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "r.xlsx").mkdir()
    with pytest.raises(IsADirectoryError):
        write_report(tmp_path / "r.xlsx", make_report(OUTCOMES), None)
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]


def test_an_existing_report_is_replaced_only_by_a_complete_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_report(tmp_path / "r.xlsx", make_report(OUTCOMES, run_id="first"), None)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space"):
            write_report(path, make_report(OUTCOMES, run_id="second"), None)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]

    write_report(path, make_report(OUTCOMES, run_id="third"), None)
    assert summary_fields(openpyxl.load_workbook(path)[spec.SUMMARY])["Run ID"] == "third"
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]


# --- console line ---------------------------------------------------------------------------------


def test_console_summary_is_one_line_with_counts_exit_code_duration_and_file(secret_registered: None) -> None:
    report = make_report(OUTCOMES, input_name=f"Spring\n{SECRET}.xlsx")
    line = console_summary(report, Path("out/Spring.results.xlsx"))
    assert line == (
        "Spring ***.xlsx: 1 created, 1 already existed, 2 failed, 1 invalid, 1 skipped, 1 with an unknown outcome, "
        "1 updated, 1 unchanged, 1 differ from the sheet (--update applies the changes), 1 locked (Active: not "
        f"editable), 1 deleted, 1 refused, 2 errors, 1 warning (exit 1: {ExitCode.FAILED.meaning}) in 8 min 12 s "
        "→ out/Spring.results.xlsx"
    )


def test_exit_2_after_skip_invalid_says_the_valid_rows_were_sent(tmp_path: Path) -> None:
    outcomes = [RowOutcome(2, "Alpha", Status.CREATED, "cmp-1"), RowOutcome(3, "Bravo", Status.INVALID, error="bad")]
    sent = make_report(outcomes, exit_code=ExitCode.INVALID)
    meaning = "some rows are invalid; the valid rows were sent (--skip-invalid)"
    assert f"(exit 2: {meaning})" in console_summary(sent)
    book = openpyxl.load_workbook(write_report(tmp_path / "r.xlsx", sent, None))
    assert summary_fields(book[spec.SUMMARY])["Exit code meaning"] == meaning
    nothing_sent = make_report([replace(outcomes[0], status=Status.SKIPPED), outcomes[1]], exit_code=ExitCode.INVALID)
    assert f"(exit 2: {ExitCode.INVALID.meaning})" in console_summary(nothing_sent)


def test_console_summary_without_outcomes_or_problems() -> None:
    report = make_report([], problems=(), command="validate", exit_code=ExitCode.OK, finished=STARTED)
    assert console_summary(report) == f"Spring.xlsx: nothing to do (exit 0: {ExitCode.OK.meaning}) in 0.0 s"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.42, "0.4 s"),
        (9.94, "9.9 s"),
        (42.4, "42 s"),
        (492, "8 min 12 s"),
        (3600, "1 h 0 min 0 s"),
        (7384.6, "2 h 3 min 5 s"),
    ],
)
def test_durations_read_the_way_people_say_them(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown
