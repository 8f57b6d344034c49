"""Properties: whatever the validator accepts, the sandbox (the vendor's rules, written independently) accepts too."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from provisioner.provision.payloads import build_payloads
from provisioner.sandbox import create_body_problems, schedule_body_problems
from provisioner.workbook.load import load_workbook
from provisioner.workbook.validate import validate
from tests.helpers import campaign, window, write_book

#: The moment the schedules are validated at, and checked by the sandbox's rules at.
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)

# Text as a person types it into a cell: no control characters, and a leading "=" would make it a formula.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60).filter(
    lambda text: not text.startswith("=")
)
NUMBERS = st.one_of(st.integers(-5, 1500), st.floats(-5, 1500, allow_nan=False), st.sampled_from(["3", "3.0", "x", ""]))
TIMES = st.one_of(
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    st.floats(0, 1.2, allow_nan=False),
    st.sampled_from(["9:00 AM", "9am", "17:30", "12:00 PM", "25:00", "noon", "5pm", "0.5", ""]),
    st.datetimes(min_value=dt.datetime(1899, 12, 30), max_value=dt.datetime(2030, 1, 1)),
)

# Each field's noise: values a spreadsheet might hold, valid or not.
NOISE: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(TEXT, st.sampled_from(["Spring", "spring ", "A" * 48, "B" * 49])),
    "description": st.one_of(TEXT, st.just("x" * 257)),
    "contact_lists": st.lists(st.sampled_from(["L1", "L2", "L 3", " "]), max_size=12).map("; ".join),
    "dnc_list": st.one_of(st.just("DNC"), TEXT),
    "priority": NUMBERS,
    "dialing_mode": st.sampled_from(["Agentless", "agentless", "Progressive", "", "Manual"]),
    "caller_id": st.sampled_from(["+14155550123", "+442071838750", 14155550123, "+1415", "+1 (415) 555-0123", "", "x"]),
    "frequency": st.sampled_from(["WEEKLY", "daily", "Custom", "monthly", ""]),
    "timezone": st.sampled_from(["America/New_York", "europe/london", "Mars/Base", "UTC", ""]),
    "dialing_order": st.sampled_from(["FIFO", "lifo", "random", ""]),
    "max_attempts_per_record": NUMBERS,
    "default_retry_period": NUMBERS,
    "max_ring_time": NUMBERS,
    "experience_flow_name": st.one_of(st.just("Flow"), TEXT),
    "enable_machine_detect": st.sampled_from(["no", "Detect", "DISCONNECT", "yes", True, ""]),
    "campaign_type": st.sampled_from(["voice", "VOICE", "sms", ""]),
    "schedule_start": st.one_of(
        st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2036, 1, 1)),
        st.sampled_from(["2027-01-04 09:00", "2027-03-14 02:30", "04/01/2027", "46391.375", "soon", ""]),
    ),
    "schedule_end": st.one_of(
        st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2036, 1, 1)),
        st.sampled_from(["2035-12-31 18:00", "2035-12-31", "2020-01-01 00:00", ""]),
    ),
    "recurrence": st.sampled_from(["Weekly", "daily", "Monthly", ""]),
    "every_n_weeks": st.one_of(NUMBERS, st.just(2)),
    "schedule_days": st.sampled_from(["MO-FR", "Mon, Wed", "sa\nsu", "Funday", ""]),
    "start": st.sampled_from(["yes", "no", "Y", True, False, "maybe", ""]),
}


@st.composite
def campaign_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A valid campaign with up to three fields replaced by noise, so accepted and rejected rows both occur."""
    row = campaign(calling_hours="Hours")
    if draw(st.booleans()):  # half the rows start from a valid schedule, so that accepted schedules occur
        row |= {"schedule_start": "2027-01-04 09:00", "schedule_end": "2035-12-31 18:00", "recurrence": "Daily"}
    for field in draw(st.lists(st.sampled_from(sorted(NOISE)), max_size=3, unique=True)):
        row[field] = draw(NOISE[field])
    return row


HOURS_NOISE: dict[str, st.SearchStrategy[Any]] = {
    "campaign": st.sampled_from(["hours ", "HOURS", "Other"]),
    "day": st.sampled_from(["tue", "Wednesday", "MO-FR", "FR-MO", "sa, su", "Funday", ""]),
    "start": TIMES,
    "end": TIMES,
}


@st.composite
def hours_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Windows on distinct days for the campaigns' key, a few with one field replaced by noise."""
    days = draw(
        st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1, max_size=4, unique=True)
    )
    rows = [window("Hours", day) for day in days]
    for row in rows:
        for field in draw(st.lists(st.sampled_from(sorted(HOURS_NOISE)), max_size=1)):
            row[field] = draw(HOURS_NOISE[field])
    return rows


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(campaign_rows(), min_size=1, max_size=4), hours_rows())
def test_every_body_built_from_an_accepted_row_is_accepted_by_the_sandbox(
    tmp_path: Path, campaigns: list[dict[str, Any]], hours: list[dict[str, Any]]
) -> None:
    validated = validate(load_workbook(write_book(tmp_path / "p.xlsx", campaigns, hours)), NOW)
    payloads = build_payloads(validated)
    event(f"{len(payloads)} of {len(campaigns)} rows accepted")
    zone = {p.row: str(p.body["dialingStrategy"]["callingHours"]["timezone"]) for p in payloads}
    for payload in payloads:
        assert create_body_problems(payload.body, "voice", None) == [], (payload.row, payload.body)
        if payload.schedule is not None:
            event("a schedule accepted")
            problems = schedule_body_problems(payload.schedule, now=NOW, zone=zone[payload.row])
            assert problems == [], (payload.row, payload.schedule)
    # The converse, as the sandbox sees it: a body it would reject never left the validator.
    assert not {p.row for p in payloads} & set(validated.blocked)
