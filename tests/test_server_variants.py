"""The whole create path against the sandbox acting out each server the vendor's documents allow.

The sandbox and the client are written by the same hands, so by default they agree by construction. Here the
sandbox caps pages, honours only ``skip`` or only ``page``, hides older campaigns behind a default date window,
names ids ``id`` or ``_id``, answers contact lists by GET only, runs its clock an hour off, and lets other teams
create and delete campaigns while we read: the run must never create a campaign twice, and must say so when it
cannot be sure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from provisioner.exit_codes import ExitCode
from provisioner.jobs.doctor import Verdict, run_doctor
from provisioner.jobs.run import Job, JobResult, run_job
from provisioner.sandbox import SandboxConfig, ThreadedSandbox
from tests.helpers import FAST as HELPERS_FAST
from tests.helpers import campaign, window, write_book

FAST = dataclasses.replace(HELPERS_FAST, request_timeout_s=5.0)  # headroom on a busy machine
Start = Callable[..., ThreadedSandbox]
LONG_AGO = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def config(**kw: Any) -> SandboxConfig:
    """A fast sandbox that lists the contact list the test campaigns name."""
    return SandboxConfig(
        **{"rate_limit": 100_000, "window_s": 0.2, "contact_lists": frozenset({"Renewals East"}), **kw}
    )


def book(tmp_path: Path, names: list[str]) -> Path:
    rows = [campaign(name=name, calling_hours="Office") for name in names]
    return write_book(tmp_path / "in.xlsx", rows, [window("Office", "MO-FR")])


def run(tmp_path: Path, box: ThreadedSandbox, names: list[str], *, dry_run: bool = False) -> JobResult:
    job = Job(
        input_path=book(tmp_path, names),
        settings=box.settings,
        state_path=tmp_path / "ledger.sqlite3",
        options=FAST,
        rate_limit=100_000,
        rate_window_s=0.2,
    )
    return run_job(job, dry_run=dry_run)


def statuses(result: JobResult) -> dict[str, str]:
    return {o.name: o.status.value for o in result.report.outcomes}


def old_names() -> list[str]:
    return [f"Earlier {i:03d}" for i in range(130)]


def new_names() -> list[str]:
    return [f"New {i:02d}" for i in range(20)]


VARIANTS = {
    "capped-50": {"page_cap": 50},
    "capped-50-skip-only": {"page_cap": 50, "paging": "skip"},
    "capped-50-page-only": {"page_cap": 50, "paging": "page"},
    "capped-7-id": {"page_cap": 7, "list_id_field": "id"},
    "default-window": {"page_cap": 50, "default_window_days": 30},
    "contact-lists-by-get": {"page_cap": 50, "contact_list_method": "GET"},
    "clock-an-hour-ahead": {"page_cap": 50, "clock_skew_s": 3600},
    "others-create-and-delete": {"page_cap": 50, "churn_per_list_call": 2},
}


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def test_130_earlier_campaigns_and_20_new_ones_create_exactly_the_20(
    tmp_path: Path, threaded_sandbox: Start, variant: str
) -> None:
    """The required case: a capped server with campaigns made earlier, no ledger on this machine."""
    box = threaded_sandbox(config(**VARIANTS[variant]))
    sandbox = box.server.sandbox
    sandbox.seed(old_names(), created_at=LONG_AGO)
    if VARIANTS[variant].get("churn_per_list_call"):
        sandbox.seed([f"Elsewhere {i}" for i in range(40)], created_at=LONG_AGO - dt.timedelta(days=1), foreign=True)

    result = run(tmp_path, box, old_names() + new_names())

    assert result.exit_code is ExitCode.OK, result.report.summary.notes
    got = statuses(result)
    assert [n for n in got if got[n] == "created"] == new_names()
    assert all(got[n] == "differs" for n in old_names())  # seeded with other settings than the sheet's
    assert sandbox.duplicates() == {}
    assert len([c for c in sandbox.campaigns if c.name.startswith("New ")]) == 20


def test_a_campaign_deleted_on_the_platform_is_created_again_and_plan_says_why(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config(page_cap=50))
    names = ["Spring A", "Spring B", "Spring C"]
    first = run(tmp_path, box, names)
    assert set(statuses(first).values()) == {"created"}
    sandbox = box.server.sandbox
    deleted = next(c for c in sandbox.campaigns if c.name == "Spring B")
    sandbox.remove(deleted.id)

    plan = run(tmp_path, box, names, dry_run=True)
    assert plan.plan is not None
    assert [p.name for p in plan.plan.to_create] == ["Spring B"]
    why = next(iter(plan.plan.deleted.values()))
    assert deleted.id in why and f"run {first.report.summary.run_id}" in why and "deleted on the platform" in why

    again = run(tmp_path, box, names)
    assert statuses(again) == {"Spring A": "unchanged", "Spring B": "created", "Spring C": "unchanged"}
    sheet = openpyxl.load_workbook(again.results_path, read_only=True)["Results"]
    rows = {r[1]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert any("deleted on the platform" in str(cell) for cell in rows["Spring B"])
    assert sandbox.duplicates() == {}


@pytest.mark.parametrize(
    ("variant", "check", "verdict", "fragment"),
    [
        ({}, "paging", Verdict.OK, "honours 'skip': the list is read once"),
        ({"paging": "skip"}, "paging", Verdict.OK, "honours 'skip'"),
        ({"paging": "page"}, "paging", Verdict.WARN, "honours 'page' but not 'skip'"),
        ({"page_cap": 50}, "page-size", Verdict.INFO, "the server serves 50"),
        ({"default_window_days": 30}, "date-window", Verdict.INFO, "default date window hides 130 older"),
        ({"list_id_field": "id"}, "id-field", Verdict.OK, "as id;"),
        ({"clock_skew_s": 3600}, "clock", Verdict.WARN, "3600 s behind"),
        (
            {
                "contact_list_method": "GET",
                "contact_lists": frozenset({"North", "South"}),
            },
            "contact-lists",
            Verdict.OK,
            "2 contact lists visible",
        ),
    ],
)
def test_doctor_reports_what_each_server_does(
    threaded_sandbox: Start, variant: dict[str, Any], check: str, verdict: Verdict, fragment: str
) -> None:
    box = threaded_sandbox(config(**variant))
    box.server.sandbox.seed(old_names(), created_at=LONG_AGO)
    checkup = run_doctor(box.settings)
    found = {f.check: f for f in checkup.findings}
    assert found[check].verdict is verdict, found[check]
    assert fragment in found[check].detail, found[check]
    assert checkup.requests <= 10
    assert box.server.sandbox.requests["create"] == 0
    assert checkup.safe


def test_when_others_delete_faster_than_the_list_can_be_read_the_run_refuses_with_exit_3(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config(page_cap=50, churn_per_list_call=40))
    sandbox = box.server.sandbox
    sandbox.seed([f"Elsewhere {i}" for i in range(400)], created_at=LONG_AGO - dt.timedelta(days=1), foreign=True)
    sandbox.seed(old_names(), created_at=LONG_AGO)

    result = run(tmp_path, box, old_names() + new_names())

    assert result.exit_code is ExitCode.CONFIG
    said = " ".join(result.report.summary.notes)
    assert "could not be read completely in 3 tries" in said and "nothing was sent" in said
    assert {o.status.value for o in result.report.outcomes} == {"skipped"}
    assert [c for c in sandbox.campaigns if c.name.startswith("New ")] == []
    assert sandbox.requests["create"] == 0


def test_the_bare_sandbox_accepts_any_contact_list_name_so_plan_and_run_refuse_nothing(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    """Issue 12, item 1: `provisioner sandbox` then `plan` refused every row for lists it had never been told of."""
    box = threaded_sandbox(SandboxConfig(rate_limit=100_000, window_s=0.2))  # no --contact-lists, no INPUT
    planned = run(tmp_path, box, new_names(), dry_run=True)
    assert planned.plan is not None and planned.plan.missing_lists == {}
    assert [p.name for p in planned.plan.to_create] == new_names()
    assert set(statuses(run(tmp_path, box, new_names())).values()) == {"created"}


def test_a_sandbox_told_its_lists_still_refuses_the_others(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(contact_lists=frozenset({"Some other list"})))
    planned = run(tmp_path, box, new_names(), dry_run=True)
    assert planned.plan is not None and planned.plan.to_create == []
    assert list(planned.plan.missing_lists.values()) == [["Renewals East"]] * len(new_names())
