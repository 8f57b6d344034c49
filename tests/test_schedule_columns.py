"""The Campaigns sheet's schedule and Start columns: read from real files, checked row by row, sent as the API takes
them, and read back from the results workbook a run writes."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from typer.testing import CliRunner

from provisioner._cli import app
from provisioner.api.campaign import Campaign
from provisioner.exit_codes import ExitCode
from provisioner.jobs.run import run_job
from provisioner.provision.compare import compare, differences
from provisioner.provision.payloads import Payload, build_payloads
from provisioner.workbook import spec
from provisioner.workbook.load import load_workbook
from provisioner.workbook.validate import Validated, validate
from tests.helpers import GOOD_CAMPAIGN, LABELS, campaign, write_book
from tests.test_run import Start, config, job, results

ROOT = Path(__file__).resolve().parents[1]
#: 12:00 UTC: 08:00 in New York, 05:00 in Los Angeles.
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
FIRST = dt.datetime(2027, 1, 4, 9)
LAST = dt.datetime(2030, 12, 31, 18)
WEEKLY: dict[str, Any] = {
    "schedule_start": FIRST,
    "schedule_end": LAST,
    "recurrence": "Weekly",
    "schedule_days": "MO-FR",
}
DAILY: dict[str, Any] = {"schedule_start": FIRST, "schedule_end": LAST, "recurrence": "Daily"}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri"]


def checked(path: Path, now: dt.datetime | None = NOW) -> Validated:
    return validate(load_workbook(path), now)


def book_of(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write each row as its own campaign (named R2, R3… after its spreadsheet row) with its own calling hours."""
    named = [campaign(name=f"R{number}", **row) for number, row in enumerate(rows, start=2)]
    return write_book(tmp_path / "in.xlsx", named)


def payloads_by_row(result: Validated) -> dict[int, Payload]:
    return {p.row: p for p in build_payloads(result)}


def weekly(days: list[str], every: int = 1, start: str = "2027-01-04 09:00:00") -> dict[str, Any]:
    return {
        "startDateTime": start,
        "endDateTime": "2030-12-31 18:00:00",
        "recurrenceObject": {"recurType": "Weekly", "weeklyDetails": {"onceEveryNweeks": every, "whichDays": days}},
    }


# --- reading the cells -----------------------------------------------------------------------------


SCHEDULE_STARTS: list[tuple[object, str]] = [
    (FIRST, "2027-01-04 09:00:00"),  # a date-time cell, as Excel stores what is typed in a date-time column
    (dt.date(2027, 1, 4), "2027-01-04 00:00:00"),  # a date cell: midnight
    (46391.375, "2027-01-04 09:00:00"),  # a serial number in a General cell: days since 1899-12-30
    (46391, "2027-01-04 00:00:00"),
    (46391.375 - 1e-9, "2027-01-04 09:00:00"),  # 8:59:59.9999 as a binary fraction stores 9:00
    ("2027-01-04 09:00", "2027-01-04 09:00:00"),
    ("2027-01-04 9:00 AM", "2027-01-04 09:00:00"),
    ("2027-01-04 9:30 pm", "2027-01-04 21:30:00"),
    ("2027-01-04T09:00:00", "2027-01-04 09:00:00"),
    ("  2027-01-04    09:00 ", "2027-01-04 09:00:00"),
    ("2027-1-4 9am", "2027-01-04 09:00:00"),
    ("2027-01-04", "2027-01-04 00:00:00"),
    ("46391.375", "2027-01-04 09:00:00"),  # a serial number that went through a CSV export
]


def test_schedule_start_reads_every_form_a_spreadsheet_stores(tmp_path: Path) -> None:
    result = checked(book_of(tmp_path, [{**DAILY, "schedule_start": cell} for cell, _ in SCHEDULE_STARTS]))
    assert result.valid, result.problems
    sent = payloads_by_row(result)
    got = [sent[row].schedule["startDateTime"] for row in range(2, 2 + len(SCHEDULE_STARTS))]
    assert got == [text for _, text in SCHEDULE_STARTS]


START_CELLS: list[tuple[object, bool]] = [
    (True, True),  # Excel's TRUE/FALSE cells
    (False, False),
    (1, True),
    (0, False),
    ("yes", True),
    (" Y ", True),
    ("No", False),
    ("n", False),
    ("TRUE", True),
    ("false", False),
    ("1", True),
    (None, False),  # empty: no
]


def test_start_reads_yes_and_no_in_every_usual_spelling(tmp_path: Path) -> None:
    result = checked(book_of(tmp_path, [{"start": cell} for cell, _ in START_CELLS]))
    assert result.valid, result.problems
    sent = payloads_by_row(result)
    assert [sent[row].start for row in range(2, 2 + len(START_CELLS))] == [started for _, started in START_CELLS]
    assert all(p.schedule is None and p.body["schedule"] == {"isSchedulingEnabled": False} for p in sent.values())


def test_schedule_days_read_as_the_day_column_does_and_go_out_in_week_order_once_each(tmp_path: Path) -> None:
    days: list[tuple[object, list[str]]] = [
        ("MO-FR", WEEKDAYS),
        ("FR-MO", ["Mon", "Fri", "Sat", "Sun"]),  # a range over the weekend
        ("Wednesday, mo; Mon", ["Mon", "Wed"]),
        ("Tue\nThu", ["Tue", "Thu"]),  # one per line, as Alt+Enter types them
        ("sa\r\nSU\nsat", ["Sat", "Sun"]),
        ("MO to WE and fri", ["Mon", "Tue", "Wed", "Fri"]),
    ]
    result = checked(book_of(tmp_path, [{**WEEKLY, "schedule_days": cell} for cell, _ in days]))
    assert result.valid, result.problems
    sent = payloads_by_row(result)
    for row, (_, which) in enumerate(days, start=2):
        assert sent[row].schedule == weekly(which), row


def test_the_payloads_exactly(tmp_path: Path) -> None:
    rows = [
        {**WEEKLY, "every_n_weeks": 2, "recurrence": "weekly", "schedule_days": "Mon, Wed, Fri"},
        {**WEEKLY, "every_n_weeks": 3.0},  # a whole number stored as a float
        {**DAILY, "recurrence": "DAILY"},
        {"start": "yes"},
        {},
    ]
    result = checked(book_of(tmp_path, rows))
    assert result.valid, result.problems
    sent = payloads_by_row(result)
    assert sent[2].schedule == weekly(["Mon", "Wed", "Fri"], every=2)
    assert sent[3].schedule == weekly(WEEKDAYS, every=3)
    assert sent[4].schedule == {
        "startDateTime": "2027-01-04 09:00:00",
        "endDateTime": "2030-12-31 18:00:00",
        "recurrenceObject": {"recurType": "Daily"},
    }
    assert sent[5].schedule is None and sent[6].schedule is None
    assert [sent[row].start for row in range(2, 7)] == [False, False, False, True, False]
    enabled = [sent[row].body["schedule"] for row in range(2, 7)]
    assert enabled == [{"isSchedulingEnabled": True}] * 3 + [{"isSchedulingEnabled": False}] * 2
    # Apart from isSchedulingEnabled, a row's schedule and Start change nothing in its create body.
    plain = {key: value for key, value in sent[6].body.items() if key not in ("name", "schedule")}
    assert all({k: v for k, v in p.body.items() if k not in ("name", "schedule")} == plain for p in sent.values())


def test_the_api_field_names_are_accepted_as_headers(tmp_path: Path) -> None:
    headers = {
        "schedule_start": "startDateTime",
        "schedule_end": "endDateTime",
        "recurrence": "recurrenceObject.recurType",
        "every_n_weeks": "onceEveryNweeks",
        "schedule_days": "whichDays",
        "start": "START",
    }
    path = write_book(tmp_path / "in.xlsx", [campaign(**WEEKLY, every_n_weeks=2)], headers=headers)
    result = checked(path)
    assert result.valid and not result.problems, result.problems
    assert build_payloads(result)[0].schedule == weekly(WEEKDAYS, every=2)


def test_a_workbook_without_the_new_columns_reads_as_before(tmp_path: Path) -> None:
    result = checked(write_book(tmp_path / "in.xlsx", [campaign()]))
    assert result.valid and not result.problems
    (payload,) = build_payloads(result)
    assert (payload.schedule, payload.start) == (None, False)
    assert payload.body["schedule"] == {"isSchedulingEnabled": False}
    assert result.campaigns.at[2, "start"] == "no"


def test_a_csv_folder_reads_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    keys = [*GOOD_CAMPAIGN, *spec.SCHEDULE_KEYS, "start"]
    rows = [
        {
            **GOOD_CAMPAIGN,
            "name": "Weekly",
            **WEEKLY,
            "schedule_start": " 2027-01-04 9:00 AM",
            "schedule_days": "TU;TH",
        },
        {**GOOD_CAMPAIGN, "name": "Daily", **DAILY, "schedule_end": "2030-12-31T18:00:00"},
        {**GOOD_CAMPAIGN, "name": "Started", "start": "TRUE"},
    ]
    with (folder / "campaigns.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([LABELS[key] for key in keys])
        for row in rows:
            writer.writerow(["" if row.get(key) is None else row[key] for key in keys])
    with (folder / "calling_hours.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [["Campaign", "Day", "Start", "End"], *[[r["name"], "MO-FR", "9:00", "17:00"] for r in rows]]
        )
    result = checked(folder)
    assert result.valid, result.problems
    sent = {p.name: p for p in build_payloads(result)}
    assert sent["Weekly"].schedule == weekly(["Tue", "Thu"])
    assert sent["Daily"].schedule == {
        "startDateTime": "2027-01-04 09:00:00",
        "endDateTime": "2030-12-31 18:00:00",
        "recurrenceObject": {"recurType": "Daily"},
    }
    assert [(p.start, p.schedule is None) for p in sent.values()] == [(False, False), (False, False), (True, True)]


# --- the problems --------------------------------------------------------------------------------

#: Each row (from 2) with what it gets wrong, as (column label, code); rows with nothing wrong are sent.
CASES: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    (WEEKLY, []),
    ({**WEEKLY, "schedule_start": "04/01/2027 09:00"}, [("Schedule Start", "ambiguous_date")]),
    ({**WEEKLY, "schedule_start": "next Monday"}, [("Schedule Start", "not_a_datetime")]),
    ({**WEEKLY, "schedule_start": dt.time(9)}, [("Schedule Start", "not_a_datetime")]),
    ({**WEEKLY, "schedule_end": "2027-02-30 09:00"}, [("Schedule End", "not_a_datetime")]),
    ({**WEEKLY, "schedule_end": "2030-12-31 18:00:30"}, [("Schedule End", "time_has_seconds")]),
    ({**WEEKLY, "recurrence": "Monthly"}, [("Recurrence", "not_allowed")]),
    ({**WEEKLY, "every_n_weeks": 53}, [("Every N Weeks", "out_of_range")]),
    ({**WEEKLY, "every_n_weeks": 1.5}, [("Every N Weeks", "not_whole")]),
    ({**WEEKLY, "schedule_days": "MO, Funday"}, [("Schedule Days", "not_a_day")]),
    ({"start": "maybe"}, [("Start", "not_yes_no")]),
    ({"start": 2}, [("Start", "not_yes_no")]),
    ({"schedule_start": FIRST}, [("Schedule End", "schedule_incomplete"), ("Recurrence", "schedule_incomplete")]),
    (
        {"schedule_days": "MO"},
        [(label, "schedule_incomplete") for label in ("Schedule Start", "Schedule End", "Recurrence")],
    ),
    ({**WEEKLY, "schedule_end": dt.datetime(2027, 1, 4, 8)}, [("Schedule End", "schedule_end_not_after_start")]),
    ({**WEEKLY, "schedule_end": FIRST}, [("Schedule End", "schedule_end_not_after_start")]),
    (
        {**WEEKLY, "schedule_start": dt.datetime(2026, 1, 5, 9), "schedule_end": dt.datetime(2026, 5, 29, 18)},
        [("Schedule End", "schedule_ended")],
    ),
    (
        {**WEEKLY, "schedule_start": dt.datetime(2027, 3, 14, 2, 30)},
        [("Schedule Start", "time_skipped_by_clock_change")],
    ),
    ({**WEEKLY, "schedule_start": dt.datetime(2027, 11, 7, 1, 30)}, []),  # happens twice that night: either is fine
    ({**WEEKLY, "schedule_days": None}, [("Schedule Days", "weekly_without_days")]),
    (
        {**WEEKLY, "recurrence": "Daily", "every_n_weeks": 2},
        [("Every N Weeks", "weekly_only"), ("Schedule Days", "weekly_only")],
    ),
    ({**WEEKLY, "start": "yes"}, [("Start", "start_and_schedule")]),
    ({**WEEKLY, "start": "no"}, []),
    # The zone is unknown, so the clock is not checked: only the zone is reported.
    (
        {**WEEKLY, "timezone": "Mars/Olympus_Mons", "schedule_start": dt.datetime(2027, 3, 14, 2, 30)},
        [("Time Zone", "unknown_timezone")],
    ),
    ({"start": "yes"}, []),
]


def test_every_problem_is_reported_at_its_row_and_column_with_its_code(tmp_path: Path) -> None:
    path = book_of(tmp_path, [row for row, _ in CASES])
    result = checked(path)
    expected = {(row, label, code) for row, (_, wrong) in enumerate(CASES, start=2) for label, code in wrong}
    assert {(p.row, p.column, p.code) for p in result.problems} == expected
    bad = {row for row, _, _ in expected}
    assert result.sendable_rows == [row for row in range(2, 2 + len(CASES)) if row not in bad]
    header = [cell.value for cell in openpyxl.load_workbook(path)[spec.CAMPAIGNS][1]]
    for problem in result.problems:
        assert problem.sheet == spec.CAMPAIGNS and problem.severity == "error"
        assert problem.cell == f"{get_column_letter(header.index(problem.column) + 1)}{problem.row}", problem


def test_the_messages_say_what_to_do(tmp_path: Path) -> None:
    rows = [
        {**WEEKLY, "schedule_start": "04/01/2027"},
        {**WEEKLY, "start": True},
        {"recurrence": "Weekly"},
        {**WEEKLY, "schedule_start": dt.datetime(2027, 3, 14, 2, 30)},
        {**WEEKLY, "schedule_start": dt.datetime(2026, 1, 5, 9), "schedule_end": dt.datetime(2026, 5, 29, 18)},
    ]
    found = {(p.row, p.code): p for p in checked(book_of(tmp_path, rows)).problems}
    ambiguous = found[2, "ambiguous_date"]
    assert ambiguous.value == "04/01/2027" and "Write it as YYYY-MM-DD HH:MM" in ambiguous.message
    both = found[3, "start_and_schedule"]
    assert both.value == "TRUE" and "a schedule starts the campaign itself; choose one" in both.message
    assert found[4, "schedule_incomplete"].message == (
        "Schedule Start is empty, but this row has a schedule (Recurrence filled in). A schedule needs Schedule "
        "Start, Schedule End and Recurrence: fill them in, or empty every schedule cell for a campaign without a "
        "schedule."
    )
    assert "2027-03-14 02:30 does not exist in America/New_York" in found[5, "time_skipped_by_clock_change"].message
    assert found[6, "schedule_ended"].message == (
        "The schedule ends 2026-05-29 18:00 (America/New_York), which has passed: it is 2026-06-01 08:00 there now. "
        "Schedule End must be later than now."
    )


def test_now_is_the_campaign_s_own_time_zone_s(tmp_path: Path) -> None:
    # At NOW it is 08:00 in New York and 05:00 in Los Angeles: a schedule ending at 06:00 has ended only in one.
    ends = dt.datetime(2026, 6, 1, 6)
    rows = [
        {**WEEKLY, "schedule_start": dt.datetime(2026, 1, 5, 9), "schedule_end": ends, "timezone": zone}
        for zone in ("America/New_York", "America/Los_Angeles")
    ]
    result = checked(book_of(tmp_path, rows))
    assert [(p.row, p.code) for p in result.problems] == [(2, "schedule_ended")]
    assert checked(book_of(tmp_path, rows), NOW - dt.timedelta(hours=3)).valid


def test_now_defaults_to_the_current_time(tmp_path: Path) -> None:
    rows = [
        {**WEEKLY, "schedule_start": dt.datetime(2019, 1, 7, 9), "schedule_end": dt.datetime(2020, 1, 1, 9)},
        {**WEEKLY, "schedule_end": dt.datetime(2099, 12, 31, 18)},
    ]
    result = checked(book_of(tmp_path, rows), now=None)
    assert [(p.row, p.code) for p in result.problems] == [(2, "schedule_ended")]


# --- the template, the example, a run and its results -------------------------------------------


def test_the_template_s_example_filled_with_a_schedule_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    assert CliRunner().invoke(app, ["template", str(path)]).exit_code == 0
    book = openpyxl.load_workbook(path)
    sheet = book[spec.CAMPAIGNS]
    header = [cell.value for cell in sheet[1]]
    for key, value in {**WEEKLY, "schedule_start": "2027-01-04 9:00 AM", "every_n_weeks": 2}.items():
        sheet.cell(row=2, column=header.index(LABELS[key]) + 1, value=value)
    book.save(path)
    result = checked(path)
    assert result.valid, result.problems
    (payload,) = build_payloads(result)
    assert (payload.schedule, payload.start) == (weekly(WEEKDAYS, every=2), False)


def test_the_dialling_example_starts_ten_and_schedules_five_weekly() -> None:
    result = checked(ROOT / "examples" / "dialling.xlsx", now=None)
    assert result.valid and not result.problems, result.problems
    sent = build_payloads(result)
    assert len(sent) == 30
    assert sum(p.start for p in sent) == 10
    schedules = [p.schedule for p in sent if p.schedule is not None]
    assert len(schedules) == 5 and not any(p.start and p.schedule for p in sent)
    assert {s["recurrenceObject"]["recurType"] for s in schedules} == {"Weekly"}
    assert {(s["startDateTime"], s["endDateTime"]) for s in schedules} == {
        ("2027-01-04 09:00:00", "2036-12-31 18:00:00")
    }


def test_compare_ignores_the_schedule_the_server_shows() -> None:
    result = checked(ROOT / "examples" / "dialling.xlsx")
    body = next(p.body for p in build_payloads(result) if p.schedule is not None)
    assert body["schedule"] == {"isSchedulingEnabled": True}
    unscheduled = {**body, "schedule": {"isSchedulingEnabled": False}}  # the ledger's body before the schedule
    for shown in ({"isSchedulingEnabled": True, "isRecurrenceEnabled": True}, {"isSchedulingEnabled": False}, None):
        server = {**body, "schedule": shown, "_id": "cd-1", "status": "Ready", "updatedAt": "2026-06-01T12:00:00Z"}
        assert differences(body, server, None) == ()
        record = Campaign("cd-1", body["name"], "Ready", server)
        assert compare(body, record, unscheduled, "2026-06-01T12:00:00Z").action == "unchanged"


def write_results(tmp_path: Path, path: Path) -> Path:
    """Run ``provisioner run --sandbox`` on a workbook and return the results workbook it wrote."""
    out = tmp_path / "results.xlsx"
    run = CliRunner().invoke(app, ["run", str(path), "--sandbox", "--out", str(out)], catch_exceptions=False)
    assert run.exit_code == ExitCode.OK, run.output
    return out


MIXED: list[dict[str, Any]] = [
    {**WEEKLY, "schedule_start": 46391.375, "every_n_weeks": 2, "schedule_days": "Mon\nWed"},
    {**DAILY, "schedule_end": "2030-12-31 6:00 PM"},
    {"start": True},
    {"start": "y"},
    {"start": "no"},
    {},
]


def test_the_results_workbook_loads_back_with_the_same_payloads(tmp_path: Path) -> None:
    path = book_of(tmp_path, MIXED)
    out = write_results(tmp_path, path)
    again = checked(out)
    assert again.valid and not again.problems, again.problems
    assert build_payloads(again) == build_payloads(checked(path))


def test_a_rerun_finds_every_row_unchanged_even_without_the_ledger(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    path = book_of(tmp_path, MIXED)
    first = run_job(job(tmp_path, path, box))
    assert first.exit_code == ExitCode.OK
    assert {r["status"] for r in results(first)} == {"created"}
    assert first.results_path is not None
    for state in ("ledger.sqlite3", "other.sqlite3"):  # the second compares every row by reading it from the server
        for source in (path, first.results_path):
            again = run_job(job(tmp_path, source, box, state_path=tmp_path / state))
            assert {r["status"] for r in results(again)} == {"unchanged"}, (state, source)
    assert box.server is not None and box.server.sandbox.requests["create"] == len(MIXED)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_workbook_saved_by_libreoffice_reads_the_same(tmp_path: Path) -> None:
    path = book_of(tmp_path, MIXED)
    saved = tmp_path / "saved"
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"  # apart from any other LibreOffice
    command = ["soffice", profile, "--headless", "--norestore", "--convert-to", "xlsx", "--outdir", str(saved)]
    subprocess.run([*command, str(path)], check=True, capture_output=True, timeout=300)
    theirs = checked(saved / path.name)
    assert theirs.valid and not theirs.problems, theirs.problems
    assert build_payloads(theirs) == build_payloads(checked(path))


def test_a_schedule_that_would_not_do_what_it_seems_is_warned_of_not_refused(tmp_path: Path) -> None:
    rows = [
        {**WEEKLY, "schedule_days": "MO, SA-SU"},  # its calling hours are Monday to Friday
        {**DAILY, "schedule_end": dt.date(2030, 12, 31)},  # a date alone: 00:00, the very start of that day
    ]
    result = checked(book_of(tmp_path, rows))
    assert result.valid  # warnings: the rows are sent
    found = {(p.row, p.column, p.code, p.severity): p.message for p in result.problems}
    assert found == {
        (2, "Schedule Days", "schedule_day_without_hours", "warning"): (
            "The schedule runs on SA, SU, but this campaign's calling hours have no window on those days: it will "
            "not dial then. Add a window in CallingHours, or take the day out of Schedule Days."
        ),
        (3, "Schedule End", "schedule_ends_at_midnight", "warning"): (
            "The schedule ends at 00:00 on 2030-12-31, the very start of that day, so 2030-12-31 itself is not "
            "included. To include it, write 2030-12-31 23:59."
        ),
    }
