import datetime as dt
import json
import os
from pathlib import Path

import pytest

from provisioner.provision.payloads import build_payloads
from provisioner.workbook.codes import Code, markdown
from provisioner.workbook.load import load_workbook
from provisioner.workbook.template import write_template
from provisioner.workbook.validate import validate
from tests.helpers import campaign, window, write_book

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "example-payloads.json"


def check(path: Path):
    return validate(load_workbook(path))


def codes(result) -> set[tuple[int | None, str]]:
    return {(p.row, p.code) for p in result.problems}


def test_example_payloads_match_the_golden_file() -> None:
    result = check(ROOT / "examples" / "campaigns.xlsx")
    assert result.valid, result.problems
    bodies = [p.body for p in build_payloads(result)]
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(bodies, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert bodies == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_csv_example_builds_the_same_bodies_as_the_workbook() -> None:
    xlsx = [p.body for p in build_payloads(check(ROOT / "examples" / "campaigns.xlsx"))]
    csv = [p.body for p in build_payloads(check(ROOT / "examples" / "campaigns-csv"))]
    assert csv == xlsx


def test_a_fresh_template_is_valid(tmp_path: Path) -> None:
    result = check(write_template(tmp_path / "t.xlsx"))
    assert result.valid, result.problems
    assert len(build_payloads(result)) == 1


def test_broken_example_reports_every_typical_mistake_at_its_row() -> None:
    result = check(ROOT / "examples" / "broken.xlsx")
    assert not result.valid
    expected = {
        (3, "phone_stored_as_number"),
        (4, "out_of_range"),
        (5, "not_whole"),
        (6, "not_allowed"),
        (7, "duplicate_name"),
        (8, "duplicate_name"),
        (9, "too_long"),
        (10, "unknown_timezone"),
        (11, "missing_value"),
        (12, "list_count"),
        (13, "not_allowed"),
        (14, "no_calling_hours"),
        (15, "out_of_range"),
    }
    assert expected <= codes(result)
    hours = {(p.row, p.code) for p in result.problems if p.sheet == "CallingHours"}
    assert hours == {
        (3, "overlapping_window"),
        (4, "not_a_day"),
        (5, "end_before_start"),
        (6, "unused_hours_key"),
    }
    assert result.sendable_rows == []


def test_body_has_exact_api_types_and_weekday_order(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "a.xlsx",
        [
            campaign(
                priority=2.0,
                max_ring_time="45",
                frequency="daily",
                enable_machine_detect="NO",
                contact_lists="A;\nB",
                caller_id="+1 415 555 0123",
            )
        ],
        [
            window("Spring Renewals East", "FR", "1pm", "5:30 PM"),
            window("spring renewals east", "mo", 0.375, 0.5),
            window("Spring Renewals East", "Monday", dt.time(13), dt.time(17)),
        ],
    )
    (payload,) = build_payloads(check(path))
    body = payload.body
    assert body["priority"] == "2"
    assert body["dncLists"] == {"name": "Global DNC"}
    assert body["contactLists"] == ["A", "B"]
    assert body["enableMachineDetect"] == "no"
    assert body["campaignType"] == "voice"
    assert body["dialingMode"] == "Agentless"
    strategy = body["dialingStrategy"]
    assert strategy["maxRingTime"] == 45 and isinstance(strategy["maxRingTime"], int)
    assert strategy["callerId"] == {"phoneNumber": "+14155550123"}
    assert strategy["callingHours"]["frequency"] == "DAILY"
    assert strategy["callingHours"]["days"] == [
        {"day": "MO", "start": "9:00 AM", "end": "12:00 PM"},
        {"day": "MO", "start": "1:00 PM", "end": "5:00 PM"},
        {"day": "FR", "start": "1:00 PM", "end": "5:30 PM"},
    ]


def test_campaigns_share_hours_through_a_key(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "a.xlsx",
        [campaign(name="A", calling_hours="Office"), campaign(name="B", calling_hours="office ")],
        [window("Office", "MO-WE")],
    )
    payloads = build_payloads(check(path))
    assert [len(p.body["dialingStrategy"]["callingHours"]["days"]) for p in payloads] == [3, 3]


def test_problem_rows_block_only_their_campaigns(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "a.xlsx",
        [campaign(name="A"), campaign(name="B", priority=9), campaign(name="C")],
        [window("A"), window("B"), window("C", start="5pm", end="9am")],
    )
    result = check(path)
    assert result.sendable_rows == [2]
    assert "Priority" in result.blocked[3]
    assert "calling hours 'C' have problems on CallingHours row(s) 4" in result.blocked[4]


def test_all_problems_are_reported_at_once_with_location_value_and_plain_message(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "a.xlsx",
        [campaign(name="A", priority="high", max_ring_time=3, timezone="Nowhere")],
        [window("A")],
    )
    result = check(path)
    by_code = {p.code: p for p in result.problems}
    assert set(by_code) == {"not_a_number", "out_of_range", "unknown_timezone"}
    ring = by_code["out_of_range"]
    assert (ring.sheet, ring.row, ring.column, ring.value) == ("Campaigns", 2, "Max Ring Time (s)", "3")
    assert ring.message == "Max Ring Time (s) must be a whole number from 5 to 120; 3 is outside that range."


@pytest.mark.parametrize("mode", ["Progressive", "preview"])
def test_agent_modes_are_explained(tmp_path: Path, mode: str) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign(dialing_mode=mode)])
    (problem,) = check(path).problems
    assert "queue settings" in problem.message


def test_unused_hours_key_suggests_the_campaign(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "a.xlsx",
        [campaign(name="Spring Renewals")],
        [window("Spring Renewals"), window("Spring Renewal", "SA")],
    )
    (problem,) = check(path).problems
    assert problem.code == "unused_hours_key"
    assert "Did you mean 'Spring Renewals'?" in problem.message


def test_empty_campaigns_sheet(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [{k: None for k in campaign()}], [])
    result = check(path)
    assert ("no_rows" in {p.code for p in result.problems}) and not result.valid


def test_typo_hints_are_bounded_but_every_problem_is_reported(tmp_path: Path) -> None:
    n = 210
    rows = [campaign(name=f"Campaign {i:03d}", calling_hours=f"Hours {i:03d}x") for i in range(n)]
    path = write_book(tmp_path / "a.xlsx", rows, [window(f"Hours {i:03d}") for i in range(n)])
    missing = [p for p in check(path).problems if p.code == "no_calling_hours"]
    assert len(missing) == n
    assert sum("Did you mean 'Hours" in p.message for p in missing) == 200


def test_the_problem_codes_doc_is_generated_from_the_registry() -> None:
    doc = Path(__file__).parent.parent / "docs" / "problem-codes.md"
    assert doc.read_text(encoding="utf-8") == markdown(), (
        "docs/problem-codes.md is stale: run python -m provisioner.workbook.codes > docs/problem-codes.md"
    )


def test_every_code_has_a_description() -> None:
    assert all(code.description for code in Code)


def test_three_misspelt_headers_are_shown_first_with_their_hints_and_nothing_they_cause(tmp_path: Path) -> None:
    typos = {"name": "Campain Name", "max_ring_time": "Max Ring Time (secs)", "experience_flow_name": "Expirience Flow"}
    rows = [campaign(name=f"Campaign {i}") for i in range(15)]
    result = check(write_book(tmp_path / "a.xlsx", rows, headers=typos))
    shown = [(p.code, p.cell, p.message) for p in result.problems]
    assert shown == [
        (
            "missing_column",
            "A1",
            'Column "Campain Name" is not one this tool reads. Did you mean "Campaign Name"? '
            'The required column "Campaign Name" is missing.',
        ),
        (
            "missing_column",
            "M1",
            'Column "Expirience Flow" is not one this tool reads. Did you mean "Experience Flow"? '
            'The required column "Experience Flow" is missing.',
        ),
    ]
    assert result.sendable_rows == []  # no row can be sent without its name


def test_spelt_out_units_in_headers_are_read_as_the_spec_s_abbreviations(tmp_path: Path) -> None:
    headers = {"max_ring_time": "Max Ring Time (seconds)", "default_retry_period": "Retry Period (Minutes)"}
    result = check(write_book(tmp_path / "a.xlsx", [campaign()], headers=headers))
    assert result.valid, result.problems


def test_layout_problems_come_before_cell_problems_and_links(tmp_path: Path) -> None:
    rows = [campaign(priority=9, calling_hours="Nowhere", Owner="me")]
    result = check(write_book(tmp_path / "a.xlsx", rows, headers={"Owner": "Owner"}))
    codes = [p.code for p in result.problems]
    assert codes == ["unknown_column", "out_of_range", "unused_hours_key", "no_calling_hours"]


def test_an_hours_key_named_like_a_campaign_with_its_own_key_is_explained_not_hinted_back(tmp_path: Path) -> None:
    rows = [campaign(name="Q3 Renewals South 9", calling_hours="Office")]
    result = check(write_book(tmp_path / "a.xlsx", rows, [window("Office"), window("Q3 Renewals South 9")]))
    (problem,) = result.problems
    assert problem.code == "unused_hours_key"
    assert "Did you mean" not in problem.message
    assert "'Q3 Renewals South 9' on row 2 has this name but uses the calling hours 'Office'" in problem.message


def test_a_hint_that_would_look_like_the_name_itself_names_the_hidden_characters(tmp_path: Path) -> None:
    rows = [campaign(name="Q3 Renewals South 9")]
    result = check(write_book(tmp_path / "a.xlsx", rows, [window("Q3 Renewals South 9\u00ad")]))
    messages = [p.message for p in result.problems]
    assert len(messages) == 2
    assert all("Did you mean" not in m and "U+00AD (SOFT HYPHEN)" in m for m in messages)


def test_problems_name_the_cell_people_look_for(tmp_path: Path) -> None:
    result = check(write_book(tmp_path / "a.xlsx", [campaign(), campaign(name="Other", priority=7)]))
    (problem,) = result.problems
    assert problem.cell == "E3"
    assert problem.location == 'Campaigns!E3 (row 3, column "Priority")'
    assert problem.as_dict()["cell"] == "E3"


def test_contact_lists_separated_by_commas_only_warn(tmp_path: Path) -> None:
    result = check(write_book(tmp_path / "a.xlsx", [campaign(contact_lists="East, West")]))
    (problem,) = result.problems
    assert (problem.code, problem.severity, problem.cell) == ("comma_separated_lists", "warning", "C2")
    assert "separated by ; or line breaks, not commas" in problem.message
    assert result.valid and result.campaigns.at[2, "contact_lists"] == ["East, West"]


@pytest.mark.parametrize(
    ("zone", "code", "instead"),
    [
        ("EST", "legacy_timezone", "America/New_York"),
        ("cet", "legacy_timezone", "Europe/Paris"),
        ("PST", "unknown_timezone", "America/Los_Angeles"),
    ],
)
def test_zone_abbreviations_say_which_iana_zone_to_use(tmp_path: Path, zone: str, code: str, instead: str) -> None:
    result = check(write_book(tmp_path / "a.xlsx", [campaign(timezone=zone)]))
    (problem,) = result.problems
    assert problem.code == code and instead in problem.message
    assert result.valid == (code == "legacy_timezone")


def test_a_misspelt_optional_header_only_warns_with_its_hint(tmp_path: Path) -> None:
    rows = [campaign(calling_hours="Office")]
    book = write_book(tmp_path / "a.xlsx", rows, [window("Office")], headers={"calling_hours": "Calling Hours Kye"})
    result = check(book)
    first = result.problems[0]
    assert (first.code, first.severity, first.cell) == ("unknown_column", "warning", "O1")
    assert first.message.endswith('Did you mean "Calling Hours Key"?')
