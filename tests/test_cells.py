import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.workbook import cells


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (dt.time(9, 0), "9:00 AM"),
        (dt.time(17, 30), "5:30 PM"),
        (dt.time(0, 0), "12:00 AM"),
        (dt.time(12, 0), "12:00 PM"),
        (dt.datetime(1899, 12, 30, 9, 0), "9:00 AM"),
        (0.375, "9:00 AM"),
        (0.7291666666666666, "5:30 PM"),
        (0.37499999999, "9:00 AM"),  # binary noise from a spreadsheet
        ("9:00 AM", "9:00 AM"),
        ("9am", "9:00 AM"),
        ("9 a.m.", "9:00 AM"),
        ("09:00", "9:00 AM"),
        ("17:30", "5:30 PM"),
        ("17:30:00", "5:30 PM"),
        ("5:30pm", "5:30 PM"),
        ("12 pm", "12:00 PM"),
        ("12:15 AM", "12:15 AM"),
        ("0.5", "12:00 PM"),
    ],
)
def test_times_are_read_from_every_form_a_spreadsheet_produces(raw: object, expected: str) -> None:
    assert cells.format_time(cells.parse_time(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (dt.datetime(2026, 3, 1, 9, 0), "date_not_time"),
        (dt.date(2026, 3, 1), "date_not_time"),
        (1.5, "not_a_time"),
        ("25:00", "not_a_time"),
        ("13pm", "not_a_time"),
        ("noonish", "not_a_time"),
        ("9:00:30", "time_has_seconds"),
        (True, "not_a_time"),
    ],
)
def test_bad_times_are_errors_with_codes(raw: object, code: str) -> None:
    with pytest.raises(cells.CellError) as err:
        cells.parse_time(raw)
    assert err.value.code == code


@given(st.integers(0, 23), st.integers(0, 59))
def test_time_text_round_trips(hour: int, minute: int) -> None:
    value = dt.time(hour, minute)
    text = cells.format_time(value)
    assert cells.parse_time(text) == value
    assert cells.parse_time(f"{hour:02d}:{minute:02d}") == value
    assert cells.parse_time((hour * 60 + minute) / 1440) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MO", ["MO"]),
        ("mon", ["MO"]),
        ("Monday", ["MO"]),
        ("MO-FR", ["MO", "TU", "WE", "TH", "FR"]),
        ("Mon – Wed", ["MO", "TU", "WE"]),
        ("sat to sun", ["SA", "SU"]),
        ("FR-MO", ["FR", "SA", "SU", "MO"]),
        ("MO, WE, FR", ["MO", "WE", "FR"]),
    ],
)
def test_days(raw: str, expected: list[str]) -> None:
    assert cells.parse_days(raw) == expected


@pytest.mark.parametrize("raw", ["Funday", "MO-", "1", "MO-TU-WE"])
def test_bad_days(raw: str) -> None:
    with pytest.raises(cells.CellError):
        cells.parse_days(raw)


@pytest.mark.parametrize(("raw", "expected"), [(3, 3), (3.0, 3), ("3", 3), (" 3.0 ", 3), ("1,000", 1000)])
def test_whole_numbers(raw: object, expected: int) -> None:
    assert cells.parse_int(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [(3.5, "not_whole"), ("3.5", "not_whole"), ("three", "not_a_number"), (True, "not_a_number")],
)
def test_not_whole_numbers(raw: object, code: str) -> None:
    with pytest.raises(cells.CellError) as err:
        cells.parse_int(raw)
    assert err.value.code == code


def test_phone_numbers_become_e164() -> None:
    assert cells.parse_phone("+1 (415) 555-0123") == "+14155550123"
    assert cells.parse_phone(" +442071838750 ") == "+442071838750"


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        (14155550123.0, "phone_stored_as_number", "stored as a number"),
        (14155550123, "phone_stored_as_number", "Format the Caller ID column as Text"),
        ("1.41555E+10", "phone_stored_as_number", "digits are lost"),
        ("14155550123", "phone_not_international", "dropped the +"),
        ("+1415", "phone_invalid", "not a valid phone number"),
        ("call me", "phone_not_international", "country code"),
    ],
)
def test_phone_numbers_damaged_by_spreadsheets_are_explained(raw: object, code: str, words: str) -> None:
    with pytest.raises(cells.CellError) as err:
        cells.parse_phone(raw)
    assert err.value.code == code
    assert words in err.value.message


def test_choices_are_read_case_insensitively_in_api_spelling() -> None:
    assert cells.parse_choice("weekly", ("WEEKLY", "DAILY")) == "WEEKLY"
    assert cells.parse_choice(" Detect ", ("no", "detect")) == "detect"
    assert cells.parse_choice("sometimes", ("no", "detect")) == "sometimes"  # the schema reports it


def test_timezones() -> None:
    assert cells.parse_timezone("america/new_york") == "America/New_York"
    with pytest.raises(cells.CellError) as err:
        cells.parse_timezone("America/New Yrok")
    assert "Did you mean America/New_York?" in err.value.message


def test_text_and_names() -> None:
    assert cells.parse_text(12345.0) == "12345"
    assert cells.parse_names("A; B\nC;;") == ["A", "B", "C"]
    with pytest.raises(cells.CellError):
        cells.parse_text("bad\x07bell")


def test_thousands_separators_but_not_decimal_commas() -> None:
    assert cells.parse_int("1,000") == 1000
    with pytest.raises(cells.CellError) as err:
        cells.parse_int("1,5")
    assert err.value.code == "not_whole"


@pytest.mark.parametrize("text", ["Spring\u202eSale", "Spring\u200bSale", "\ufeffSpring", "Spring\x7f"])
def test_invisible_characters_that_disguise_names_are_refused(text: str) -> None:
    with pytest.raises(cells.CellError):
        cells.parse_text(text)
    assert cells.parse_text("👩\u200d💻 سلام") == "👩\u200d💻 سلام"  # joiners are part of real text


def test_problem_values_never_carry_terminal_escapes() -> None:
    from provisioner.workbook.problems import show_value

    assert show_value("a\x1b[31mred") == "a\\u001b[31mred"
