"""The blank workbook: read back with openpyxl and checked against the spec, plus ``provisioner template``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from typer.testing import CliRunner

import provisioner._cli.template  # noqa: F401  (registers the command)
from provisioner._cli._app import app
from provisioner.workbook import spec
from provisioner.workbook.sizing import LINE_HEIGHT, row_height
from provisioner.workbook.template import ZONES_SHEET, list_formula, write_template, zone_names

COMMITTED = Path(__file__).resolve().parents[1] / "templates" / "campaigns-template.xlsx"
LAST_ROW = 2001  # the brief: validations and formats cover rows 2..2001
TIME_FORMAT = "h:mm AM/PM"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
INSTRUCTION_HEADERS = [
    "Sheet",
    "Column",
    "Required",
    "Allowed values",
    "Default",
    "Example",
    "Description",
    "Also accepted headers",
]
DATA_SHEETS = list(spec.SHEET_COLUMNS.items())


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Workbook:
    path = tmp_path_factory.mktemp("template") / "template.xlsx"
    assert write_template(path) == path
    return openpyxl.load_workbook(path)


def row_values(sheet: Worksheet, row: int, columns: tuple[spec.Column, ...]) -> dict[str, object]:
    return {c.key: sheet.cell(row=row, column=i).value for i, c in enumerate(columns, start=1)}


def validations(sheet: Worksheet) -> dict[str, DataValidation]:
    """Map each validated column letter to its validation, checking each covers exactly rows 2..2001."""
    found: dict[str, DataValidation] = {}
    for validation in sheet.data_validations.dataValidation:
        cells = str(validation.sqref)
        letter = cells.split(":")[0].rstrip("0123456789")
        assert cells == f"{letter}2:{letter}{LAST_ROW}"
        assert letter not in found
        found[letter] = validation
    return found


def column_letter(columns: tuple[spec.Column, ...], key: str) -> str:
    return next(str(get_column_letter(i)) for i, c in enumerate(columns, start=1) if c.key == key)


def instructions_table(sheet: Worksheet) -> tuple[int, list[tuple[object, ...]]]:
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if list(row) == INSTRUCTION_HEADERS)
    return header + 1, rows[header + 1 :]


def test_sheets_in_order(book: Workbook) -> None:
    assert book.sheetnames == [spec.CAMPAIGNS, spec.CALLING_HOURS, spec.INSTRUCTIONS, ZONES_SHEET]
    assert book.sheetnames == ["Campaigns", "CallingHours", "Instructions", "TimeZones"]
    assert [sheet.sheet_state for sheet in book] == ["visible", "visible", "visible", "hidden"]


def test_time_zone_dropdown_lists_the_iana_zones_of_the_hidden_sheet(book: Workbook) -> None:
    zones = [row[0] for row in book[ZONES_SHEET].iter_rows(values_only=True)]
    assert zones == zone_names() and {"America/New_York", "Europe/London", "UTC"} <= set(zones)
    assert not {"EST", "US/Eastern", "Etc/GMT+5"} & set(zones)
    letter = column_letter(spec.CAMPAIGN_COLUMNS, "timezone")
    (rule,) = [v for v in book[spec.CAMPAIGNS].data_validations.dataValidation if letter in str(v.sqref)]
    assert rule.type == "list"
    assert rule.formula1 == f"TimeZones!$A$1:$A${len(zones)}"
    assert rule.errorStyle == "warning"  # other spellings (case, spaces) are accepted too


@pytest.mark.parametrize(("sheet_name", "columns"), DATA_SHEETS)
def test_headers_are_the_spec_labels_in_order(
    book: Workbook, sheet_name: str, columns: tuple[spec.Column, ...]
) -> None:
    sheet = book[sheet_name]
    assert [c.value for c in sheet[1]] == [c.label for c in columns]
    assert sheet.freeze_panes == "A2"


@pytest.mark.parametrize(("sheet_name", "columns"), DATA_SHEETS)
def test_required_headers_are_marked(book: Workbook, sheet_name: str, columns: tuple[spec.Column, ...]) -> None:
    sheet = book[sheet_name]
    fills: dict[bool, set[str]] = {c.required: set() for c in columns}
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index)
        assert cell.font.bold
        fills[column.required].add(cell.fill.fgColor.rgb)
    assert all(len(colours) == 1 for colours in fills.values())
    if len(fills) == 2:
        assert fills[True] != fills[False]


def test_campaign_example_row(book: Workbook) -> None:
    sheet = book[spec.CAMPAIGNS]
    example = row_values(sheet, 2, spec.CAMPAIGN_COLUMNS)
    for column in spec.CAMPAIGN_COLUMNS:
        if column.key in spec.SCHEDULE_KEYS:  # a copied example row must not dial on a date nobody chose
            assert example[column.key] is None, column.key
            continue
        expected = int(column.example) if column.kind == "int" else column.example
        assert example[column.key] == expected, column.key
        assert type(example[column.key]) is type(expected), column.key
    assert example["priority"] == 3
    assert example["caller_id"] == "+14155550123"
    assert example["calling_hours"] == "Weekday Business Hours"
    assert example["start"] == "no"
    assert all(v is None for v in row_values(sheet, 3, spec.CAMPAIGN_COLUMNS).values())


def test_campaign_example_is_valid_per_spec(book: Workbook) -> None:
    example = row_values(book[spec.CAMPAIGNS], 2, spec.CAMPAIGN_COLUMNS)
    for column in spec.CAMPAIGN_COLUMNS:
        value = example[column.key]
        if value is None:
            assert not column.required, column.key
            continue
        if column.choices:
            assert value in column.choices, column.key
        if column.bounds:
            assert isinstance(value, int)
            assert column.bounds[0] <= value <= column.bounds[1], column.key
        if column.max_len:
            assert isinstance(value, str)
            assert len(value) <= column.max_len, column.key


def test_calling_hours_examples_are_time_cells_linked_to_the_campaign(book: Workbook) -> None:
    sheet = book[spec.CALLING_HOURS]
    rows = [row_values(sheet, r, spec.HOURS_COLUMNS) for r in (2, 3, 4)]
    key = "Weekday Business Hours"
    assert rows[0] == {"campaign": key, "day": "MO-FR", "start": dt.time(9), "end": dt.time(17)}
    assert rows[1] == {"campaign": key, "day": "SA", "start": dt.time(10), "end": dt.time(14)}
    assert all(v is None for v in rows[2].values())
    assert row_values(book[spec.CAMPAIGNS], 2, spec.CAMPAIGN_COLUMNS)["calling_hours"] == key
    for row in (2, 3):
        for key_ in ("start", "end"):
            cell = sheet[f"{column_letter(spec.HOURS_COLUMNS, key_)}{row}"]
            assert isinstance(cell.value, dt.time)
            assert cell.number_format == TIME_FORMAT


def test_choice_columns_have_dropdowns_with_the_spec_choices(book: Workbook) -> None:
    checked = 0
    for sheet_name, columns in DATA_SHEETS:
        found = validations(book[sheet_name])
        for column in columns:
            if not column.choices:
                continue
            validation = found[column_letter(columns, column.key)]
            assert validation.type == "list"
            assert validation.formula1 == '"' + ",".join(column.choices) + '"'
            # Start reads y, TRUE or 1 as yes: its dropdown only warns.
            assert validation.errorStyle == ("warning" if column.kind == "flag" else "stop")
            assert validation.showErrorMessage
            checked += 1
    assert checked == sum(1 for _, cs in DATA_SHEETS for c in cs if c.choices) > 0


def test_day_dropdown_only_warns(book: Workbook) -> None:
    validation = validations(book[spec.CALLING_HOURS])[column_letter(spec.HOURS_COLUMNS, "day")]
    assert validation.type == "list"
    assert validation.formula1 == '"' + ",".join((*spec.DAYS, "MO-FR", "SA-SU")) + '"'
    assert validation.errorStyle == "warning"


def test_int_columns_have_whole_number_limits(book: Workbook) -> None:
    checked = 0
    for sheet_name, columns in DATA_SHEETS:
        found = validations(book[sheet_name])
        for column in columns:
            if column.kind != "int":
                continue
            assert column.bounds is not None
            low, high = column.bounds
            validation = found[column_letter(columns, column.key)]
            assert (validation.type, validation.operator) == ("whole", "between")
            assert (validation.formula1, validation.formula2) == (str(low), str(high))
            assert validation.errorStyle == "stop"
            assert validation.showErrorMessage
            assert validation.errorTitle
            assert f"from {low} to {high}" in validation.error
            checked += 1
    assert checked == 5


def test_text_columns_have_length_limits(book: Workbook) -> None:
    found = validations(book[spec.CAMPAIGNS])
    for column in spec.CAMPAIGN_COLUMNS:
        if column.max_len and not column.choices:
            validation = found[column_letter(spec.CAMPAIGN_COLUMNS, column.key)]
            assert (validation.type, validation.operator) == ("textLength", "lessThanOrEqual")
            assert validation.formula1 == str(column.max_len)


@pytest.mark.parametrize(("sheet_name", "columns"), DATA_SHEETS)
def test_every_column_prompts_with_its_allowed_values(
    book: Workbook, sheet_name: str, columns: tuple[spec.Column, ...]
) -> None:
    found = validations(book[sheet_name])
    assert len(found) == len(columns)
    for column in columns:
        validation = found[column_letter(columns, column.key)]
        assert validation.showInputMessage
        assert validation.promptTitle == column.label
        assert column.allowed in validation.prompt


def test_caller_id_and_time_columns_are_formatted_for_the_whole_data_range(book: Workbook) -> None:
    caller_id = column_letter(spec.CAMPAIGN_COLUMNS, "caller_id")
    campaigns = book[spec.CAMPAIGNS]
    assert {campaigns[f"{caller_id}{r}"].number_format for r in range(2, LAST_ROW + 1)} == {"@"}
    assert campaigns[f"{caller_id}2"].data_type == "s"
    hours = book[spec.CALLING_HOURS]
    for key in ("start", "end"):
        letter = column_letter(spec.HOURS_COLUMNS, key)
        assert {hours[f"{letter}{r}"].number_format for r in range(2, LAST_ROW + 1)} == {TIME_FORMAT}


def test_schedule_dates_are_formatted_as_date_and_time_and_start_offers_yes_and_no(book: Workbook) -> None:
    campaigns = book[spec.CAMPAIGNS]
    for key in ("schedule_start", "schedule_end"):
        letter = column_letter(spec.CAMPAIGN_COLUMNS, key)
        assert {campaigns[f"{letter}{r}"].number_format for r in range(2, LAST_ROW + 1)} == {DATETIME_FORMAT}
    found = validations(campaigns)
    start = found[column_letter(spec.CAMPAIGN_COLUMNS, "start")]
    assert (start.type, start.formula1, start.errorStyle) == ("list", '"yes,no"', "warning")
    recurrence = found[column_letter(spec.CAMPAIGN_COLUMNS, "recurrence")]
    assert (recurrence.type, recurrence.formula1, recurrence.errorStyle) == ("list", '"Daily,Weekly"', "stop")
    weeks = found[column_letter(spec.CAMPAIGN_COLUMNS, "every_n_weeks")]
    assert (weeks.type, weeks.formula1, weeks.formula2) == ("whole", "1", "52")


def test_instructions_table_has_one_row_per_spec_column(book: Workbook) -> None:
    sheet = book[spec.INSTRUCTIONS]
    header_row, rows = instructions_table(sheet)
    assert sheet.freeze_panes == f"A{header_row + 1}"
    expected = [(name, c) for name, columns in DATA_SHEETS for c in columns]
    assert len(rows) == len(expected)
    for row, (sheet_name, column) in zip(rows, expected, strict=True):
        assert row[:7] == (
            sheet_name,
            column.label,
            "yes" if column.required else "no",
            column.allowed,
            column.default,
            column.example,
            column.description,
        )
        listed = str(row[7]).split(", ") if row[7] else []
        assert set(listed) <= set(column.spellings())
        covered = {spec.normalize_header(s) for s in (column.label, *listed)}
        assert {spec.normalize_header(s) for s in column.spellings()} == covered, column.key
        assert len(covered) == len(listed) + 1


def test_instructions_rows_are_as_tall_as_their_wrapped_text(book: Workbook) -> None:
    """LibreOffice draws a wrapped cell left at the default height over the rows below it."""
    sheet = book[spec.INSTRUCTIONS]
    header_row, rows = instructions_table(sheet)
    widths = [sheet.column_dimensions[get_column_letter(i)].width for i in range(1, len(rows[0]) + 1)]
    heights = []
    for line, row in enumerate(rows, start=header_row + 1):
        cells = [(str(value), width) for value, width in zip(row, widths, strict=True) if value is not None]
        heights.append(sheet.row_dimensions[line].height)
        assert heights[-1] == row_height(cells), row
        assert all(cell.alignment.wrap_text and cell.alignment.vertical == "top" for cell in sheet[line])
    assert any(height is not None and height > 2 * LINE_HEIGHT for height in heights)


def test_instructions_intro_explains_the_sheets(book: Workbook) -> None:
    sheet = book[spec.INSTRUCTIONS]
    header_row, _ = instructions_table(sheet)
    intro = " ".join(str(r[0]) for r in sheet.iter_rows(max_row=header_row - 1, values_only=True) if r[0])
    for needed in (
        spec.CAMPAIGNS,
        spec.CALLING_HOURS,
        "Header spelling is flexible",
        "overlap",
        "required",
        "Start to yes",
        "Schedule Start, Schedule End and Recurrence",
        next(c.label for c in spec.HOURS_COLUMNS if c.key == "campaign"),
        next(c.label for c in spec.CAMPAIGN_COLUMNS if c.key == "calling_hours"),
    ):
        assert needed in intro


def test_creation_time_is_fixed(book: Workbook) -> None:
    assert book.properties.created == dt.datetime(2025, 1, 1)  # openpyxl reads it back naive


def test_dropdown_formula_refuses_what_excel_cannot_hold() -> None:
    assert list_formula(("A", "B")) == '"A,B"'
    with pytest.raises(ValueError, match="comma"):
        list_formula(("A,B",))
    with pytest.raises(ValueError, match="255"):
        list_formula(tuple(f"choice{i}" for i in range(40)))


def contents(path: Path) -> dict[str, object]:
    """What a user sees: cell values, number formats, validations and panes of every sheet."""
    book = openpyxl.load_workbook(path)
    return {
        "created": book.properties.created,
        "sheets": [
            {
                "title": sheet.title,
                "values": list(sheet.iter_rows(values_only=True)),
                "formats": [[c.number_format for c in row] for row in sheet.iter_rows()],
                "validations": [
                    (
                        str(v.sqref),
                        v.type,
                        v.operator,
                        v.formula1,
                        v.formula2,
                        v.allow_blank,
                        v.showErrorMessage,
                        v.errorStyle,
                        v.errorTitle,
                        v.error,
                        v.showInputMessage,
                        v.promptTitle,
                        v.prompt,
                    )
                    for v in sheet.data_validations.dataValidation
                ],
                "freeze_panes": sheet.freeze_panes,
            }
            for sheet in book
        ],
    }


def test_committed_template_is_up_to_date(tmp_path: Path) -> None:
    fresh = write_template(tmp_path / "fresh.xlsx")
    assert COMMITTED.is_file(), "regenerate with: provisioner template templates/campaigns-template.xlsx --force"
    assert contents(COMMITTED) == contents(fresh), (
        "templates/campaigns-template.xlsx is stale; regenerate it with: "
        "provisioner template templates/campaigns-template.xlsx --force"
    )


runner = CliRunner()


def test_cli_writes_the_default_file_and_prints_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["template"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "campaigns-template.xlsx"
    assert openpyxl.load_workbook(tmp_path / "campaigns-template.xlsx").sheetnames[0] == spec.CAMPAIGNS


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "mine.xlsx"
    path.write_bytes(b"precious")
    result = runner.invoke(app, ["template", str(path)])
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert path.read_bytes() == b"precious"

    result = runner.invoke(app, ["template", str(path), "--force"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(path)
    sheets = [spec.CAMPAIGNS, spec.CALLING_HOURS, spec.INSTRUCTIONS, ZONES_SHEET]
    assert openpyxl.load_workbook(path).sheetnames == sheets


def test_cli_reports_an_unwritable_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["template", str(tmp_path / "missing" / "t.xlsx")])
    assert result.exit_code == 2
    assert "cannot write" in result.stderr
