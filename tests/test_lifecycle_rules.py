"""What a run decides to do after a create (schedule, start), from the row, the ledger and the server's view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from provisioner.api.campaign import Campaign
from provisioner.provision.ledger import Entry, EntryState, Ledger
from provisioner.provision.lifecycle import SCHEDULE_FIELD, Steps, Target, decide, describe_schedule, with_steps
from provisioner.provision.outcomes import RowOutcome, Status
from provisioner.provision.payloads import Payload

SCOPE = ("https://h", "acct", "stream")
WEEKLY: dict[str, Any] = {
    "startDateTime": "2027-01-04 09:00:00",
    "endDateTime": "2030-12-31 18:00:00",
    "recurrenceObject": {"recurType": "Weekly", "weeklyDetails": {"onceEveryNweeks": 2, "whichDays": ["Mon", "Wed"]}},
}
DAILY: dict[str, Any] = {**WEEKLY, "recurrenceObject": {"recurType": "Daily"}}
SENT = dt.datetime(2026, 11, 29, 6, 0, tzinfo=dt.UTC)


def payload(*, start: bool = False, schedule: dict[str, Any] | None = None) -> Payload:
    return Payload(2, "Spring East", {"name": "Spring East"}, schedule=schedule, start=start)


def listed(status: str | None = "Ready", scheduling: bool | None = None, campaign_id: str = "cd-1") -> Campaign:
    raw: dict[str, object] = {"_id": campaign_id, "name": "Spring East", "status": status}
    if scheduling is not None:
        raw["schedule"] = {"isSchedulingEnabled": scheduling, "isRecurrenceEnabled": scheduling}
    return Campaign(campaign_id, "Spring East", status, raw)


def entry(campaign_id: str = "cd-1", **facts: Any) -> Entry:
    return Entry("spring east", "Spring East", EntryState.CREATED, campaign_id, "run-1", 1, None, SENT, **facts)


def test_describe_schedule_says_it_in_the_sheets_terms() -> None:
    assert describe_schedule(WEEKLY) == "Weekly every 2 weeks on Mon, Wed, 2027-01-04 09:00 to 2030-12-31 18:00"
    assert describe_schedule(DAILY) == "Daily, 2027-01-04 09:00 to 2030-12-31 18:00"
    assert describe_schedule(None) == "none"


def test_a_new_campaign_gets_its_rows_schedule_and_start() -> None:
    steps = Steps.for_new(payload(start=True, schedule=WEEKLY))
    assert (steps.schedule, steps.start, steps.acts) == ("set", True, True)
    assert not Steps.for_new(payload()).acts


@pytest.mark.parametrize(
    ("status", "start", "note"),
    [
        ("Ready", True, None),
        ("Preparing", True, None),
        (None, True, None),
        ("Active", False, "already Active on the platform; not started again"),
        ("Completed", False, "not started: it is Completed; provisioner starts only campaigns that are Ready"),
        ("Stopped", False, "not started: it is Stopped; provisioner starts only campaigns that are Ready"),
    ],
)
def test_start_only_a_campaign_waiting_to_start(status: str | None, start: bool, note: str | None) -> None:
    steps = decide(Target(payload(start=True), listed(status), created=False), None, update=False)
    assert (steps.start, steps.note) == (start, note)


def test_a_campaign_the_ledger_says_was_started_is_never_started_again_whatever_its_status() -> None:
    started = entry(started_at=SENT)
    for status in ("Ready", "Stopped", "Completed"):
        steps = decide(Target(payload(start=True), listed(status), created=False), started, update=True)
        assert not steps.start and steps.started_at == SENT
        assert steps.note is not None and "never started twice" in steps.note


def test_started_facts_of_another_campaign_of_that_name_do_not_count() -> None:
    """The campaign was deleted and made again: the new one has not been started."""
    steps = decide(
        Target(payload(start=True), listed("Ready"), created=False), entry("cd-old", started_at=SENT), update=False
    )
    assert steps.start and steps.started_at is None


def test_a_start_whose_reply_was_lost_is_settled_by_the_status() -> None:
    intent = entry(start_sent_at=SENT)
    took = decide(Target(payload(start=True), listed("Active"), created=False), intent, update=False)
    assert (took.start, took.confirm_start, took.started_at) == (False, True, SENT)
    did_not = decide(Target(payload(start=True), listed("Ready"), created=False), intent, update=False)
    assert (did_not.start, did_not.confirm_start) == (True, False)


def test_a_schedule_set_earlier_and_still_shown_is_kept_and_said() -> None:
    known = entry(schedule_set=True, schedule=WEEKLY)
    steps = decide(Target(payload(schedule=WEEKLY), listed(scheduling=True), created=False), known, update=True)
    assert (steps.schedule, steps.change, steps.schedule_now) == ("keep", None, describe_schedule(WEEKLY))


@pytest.mark.parametrize("update", [False, True])
def test_a_changed_schedule_differs_and_is_sent_only_with_update(update: bool) -> None:
    known = entry(schedule_set=True, schedule=WEEKLY)
    steps = decide(Target(payload(schedule=DAILY), listed(scheduling=True), created=False), known, update=update)
    assert steps.schedule == ("set" if update else "keep")
    assert steps.change is not None
    assert (steps.change.field, steps.change.server, steps.change.sheet) == (
        SCHEDULE_FIELD,
        describe_schedule(WEEKLY),
        describe_schedule(DAILY),
    )
    outcome = with_steps(RowOutcome(2, "Spring East", Status.UNCHANGED, "cd-1"), steps)
    assert outcome.status is Status.DIFFERS and outcome.changes == (steps.change,)


def test_a_schedule_disabled_on_the_platform_is_set_again() -> None:
    known = entry(schedule_set=True, schedule=WEEKLY)
    steps = decide(Target(payload(schedule=WEEKLY), listed(scheduling=False), created=False), known, update=True)
    assert steps.schedule == "set"
    assert steps.change is not None and steps.change.server == "none"


def test_a_schedule_nobody_recorded_is_unknown_so_it_differs() -> None:
    steps = decide(Target(payload(schedule=WEEKLY), listed(scheduling=True), created=False), None, update=False)
    assert steps.change is not None and steps.change.server == "set on the platform"


def test_an_empty_schedule_cell_clears_only_a_schedule_this_tool_set() -> None:
    ours = entry(schedule_set=True, schedule=WEEKLY)
    cleared = decide(Target(payload(), listed(scheduling=True), created=False), ours, update=True)
    assert cleared.schedule == "clear"
    assert cleared.change is not None and cleared.change.sheet == "none"
    theirs = decide(Target(payload(), listed(scheduling=True), created=False), None, update=True)
    assert (theirs.schedule, theirs.change) == ("keep", None)


def test_the_ledger_keeps_follow_up_facts_per_campaign_id(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.begin(SCOPE, "Spring East", "run-1")
        ledger.created(SCOPE, "Spring East", "cd-1", "run-1")
        ledger.scheduled(SCOPE, ("Spring East", "cd-1"), WEEKLY)
        ledger.starting(SCOPE, ("Spring East", "cd-1"))
        ledger.started(SCOPE, ("Spring East", "cd-1"), SENT)
        kept = ledger.entries(SCOPE)["spring east"]
        assert (kept.schedule_set, kept.schedule, kept.started_at) == (True, WEEKLY, SENT)
        assert kept.start_sent_at is not None
        # The platform deleted it and another campaign of that name now carries the facts' row: they reset.
        ledger.scheduled(SCOPE, ("Spring East", "cd-2"), None)
        moved = ledger.entries(SCOPE)["spring east"]
        assert (moved.campaign_id, moved.schedule_set, moved.schedule, moved.started_at) == ("cd-2", True, None, None)
        # A new create of the name clears them too.
        ledger.begin(SCOPE, "Spring East", "run-2")
        fresh = ledger.entries(SCOPE)["spring east"]
        assert (fresh.schedule_set, fresh.start_sent_at, fresh.started_at) == (False, None, None)


def test_a_campaign_the_ledger_never_saw_gets_an_entry_for_its_start(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.starting(SCOPE, ("Theirs", "cd-9"))
        ledger.not_started(SCOPE, ("Theirs", "cd-9"))
        got = ledger.entries(SCOPE)["theirs"]
        assert (got.campaign_id, got.start_sent_at, got.started_at) == ("cd-9", None, None)


def test_facts_of_a_campaign_do_not_follow_its_name_to_another_id(tmp_path: Path) -> None:
    """Deleted on the platform and made again by hand: the compare records the new id, which was never started."""
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.created(SCOPE, "Spring East", "cd-1", "run-1")
        ledger.scheduled(SCOPE, ("Spring East", "cd-1"), WEEKLY)
        ledger.schedule_due(SCOPE, ("Spring East", "cd-1"), WEEKLY)
        ledger.started(SCOPE, ("Spring East", "cd-1"), SENT)
        ledger.wrote(SCOPE, ("Spring East", "cd-1"), "run-2", {"name": "Spring East"}, "u1")
        same = ledger.entries(SCOPE)["spring east"]
        assert (same.started_at, same.schedule, same.schedule_due) == (SENT, WEEKLY, WEEKLY)
        ledger.wrote(SCOPE, ("Spring East", "cd-2"), "run-3", {"name": "Spring East"}, "u2")
        other = ledger.entries(SCOPE)["spring east"]
        assert (other.campaign_id, other.started_at, other.schedule_set, other.schedule_due) == (
            "cd-2",
            None,
            False,
            None,
        )
        ledger.started(SCOPE, ("Spring East", "cd-2"), SENT)
        ledger.created(SCOPE, "Spring East", "cd-3", "run-4")
        assert ledger.entries(SCOPE)["spring east"].started_at is None


@pytest.mark.parametrize("status", [None, "Scheduled", "Rescheduled"])
def test_a_lost_start_is_not_confirmed_by_a_status_that_does_not_tell(status: str | None) -> None:
    steps = decide(Target(payload(start=True), listed(status), created=False), entry(start_sent_at=SENT), update=False)
    assert (steps.start, steps.confirm_start, steps.started_at) == (False, False, None)
    assert steps.note is not None and "cannot" not in steps.note and "does not tell" in steps.note
