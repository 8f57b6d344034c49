import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.errors import InputError
from provisioner.workbook import spec
from provisioner.workbook.load import Limits, load_workbook
from provisioner.workbook.load.extent import check_sheet_xml
from tests.helpers import campaign, window, write_book


def test_headers_are_matched_by_label_key_api_name_and_dotted_path(tmp_path: Path) -> None:
    headers = {
        "name": "NAME",
        "max_ring_time": "dialingStrategy.maxRingTime",
        "dnc_list": "dncLists.name",
        "timezone": "dialingStrategy.callingHours.timezone",
        "max_attempts_per_record": "maxAttemptsPerRecord",
        "default_retry_period": "Retry Period (min)",
        "caller_id": " caller_id ",
    }
    book = load_workbook(write_book(tmp_path / "a.xlsx", [campaign()], headers=headers))
    assert not book.problems
    assert book.campaigns.headers["max_ring_time"] == "dialingStrategy.maxRingTime"
    assert book.campaigns.frame.at[2, "max_ring_time"] == 30


@given(st.sampled_from([c for cols in spec.SHEET_COLUMNS.values() for c in cols]), st.data())
def test_every_accepted_spelling_folds_to_its_column(column: spec.Column, data: st.DataObject) -> None:
    spelling = data.draw(st.sampled_from(column.spellings()))
    noise = data.draw(st.sampled_from(["", " ", "_", "-", "  "]))
    decorated = data.draw(st.sampled_from([spelling.upper(), spelling.lower(), f"{noise}{spelling}{noise}"]))
    index = spec.header_index(dict(spec.SHEET_COLUMNS)[_sheet_of(column)])
    assert index[spec.normalize_header(decorated)] is column


def _sheet_of(column: spec.Column) -> str:
    return next(name for name, cols in spec.SHEET_COLUMNS.items() if column in cols)


def test_no_spelling_is_shared_by_two_columns_of_a_sheet() -> None:
    for columns in spec.SHEET_COLUMNS.values():
        owners: dict[str, str] = {}
        for column in columns:
            for spelling in column.spellings():
                folded = spec.normalize_header(spelling)
                assert owners.setdefault(folded, column.key) == column.key


def test_row_numbers_are_the_spreadsheet_rows_and_blank_rows_are_ignored(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign(name="A"), {}, campaign(name="B")], [window("A"), window("B")])
    book = load_workbook(path)
    assert list(book.campaigns.frame.index) == [2, 4]
    assert list(book.campaigns.frame["name"]) == ["A", "B"]


def test_sheet_names_are_matched_loosely(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign()])
    wb = openpyxl.load_workbook(path)
    wb["Campaigns"].title = "campaigns "
    wb["CallingHours"].title = "Calling Hours"
    wb.save(path)
    book = load_workbook(path)
    assert book.hours.title == "Calling Hours"
    assert book.campaigns.title == "campaigns "


def test_missing_unknown_and_repeated_columns_are_reported(tmp_path: Path) -> None:
    row = campaign(notes="x")
    del row["dnc_list"]
    path = write_book(tmp_path / "a.xlsx", [row], headers={"notes": "Notes"})
    wb = openpyxl.load_workbook(path)
    wb["Campaigns"].cell(1, 20, "maxRingTime")
    wb.save(path)
    problems = {p.code: p for p in load_workbook(path).problems}
    assert problems["missing_column"].message.startswith('The required column "DNC List" is missing')
    assert '"dncLists.name"' in problems["missing_column"].message
    assert problems["unknown_column"].severity == "warning"
    assert problems["duplicate_column"].row == 1


def test_csv_folder_with_bom_and_semicolons(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    labels = [c.label for c in spec.CAMPAIGN_COLUMNS if c.key in campaign()]
    keys = [c.key for c in spec.CAMPAIGN_COLUMNS if c.key in campaign()]
    row = campaign(contact_lists="A, B")
    (folder / "Campaigns.csv").write_text(
        "\ufeff" + ";".join(labels) + "\n" + ";".join(str(row[k]) for k in keys) + "\n", encoding="utf-8"
    )
    (folder / "calling_hours.csv").write_text(
        "Campaign;Day;Start;End\nSpring Renewals East;MO-FR;9:00 AM;5:00 PM\n", encoding="utf-8"
    )
    book = load_workbook(folder)
    assert book.kind == "csv"
    assert book.campaigns.frame.at[2, "name"] == "Spring Renewals East"
    assert book.hours.frame.at[2, "start"] == "9:00 AM"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("Name,Day\n".encode("utf-16"), "UTF-16"),
        ("Campaign,Day,Start,End\nCafé,MO,9am,5pm\n".encode("latin-1"), r"not UTF-8 text \(line 2"),
        (b"Campaign\tDay\tStart\tEnd\nA\tMO\t9am\t5pm\n", "tabs"),
    ],
)
def test_csv_in_the_wrong_encoding_or_delimiter_is_refused_clearly(tmp_path: Path, content: bytes, words: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "campaigns.csv").write_text("Campaign Name\nA\n", encoding="utf-8")
    (folder / "calling_hours.csv").write_bytes(content)
    with pytest.raises(InputError, match=words):
        load_workbook(folder)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_text("name,description\n"), "not an Excel workbook"),
        (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600), "old Excel 97-2003"),
        (
            lambda p: p.write_bytes(
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64 + "EncryptionInfo".encode("utf-16-le")
            ),
            "password-protected",
        ),
        (lambda p: _zip(p, {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}), "OpenDocument"),
        (lambda p: _zip(p, {"word/document.xml": b"<w/>"}), "not an Excel workbook"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 100), "damaged"),
        (
            lambda p: _zip(p, {"xl/workbook.xml": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><w/>'}),
            "document type declaration",
        ),
        (lambda p: _zip(p, {"xl/workbook.xml": b"<workbook><sheets>"}), "xl/workbook.xml inside it is not valid XML"),
    ],
)
def test_broken_files_get_one_clear_message(tmp_path: Path, make: object, words: str) -> None:
    path = tmp_path / "in.xlsx"
    make(path)  # type: ignore[operator]
    with pytest.raises(InputError, match=words):
        load_workbook(path)


def test_truncated_workbook_is_damaged(tmp_path: Path) -> None:
    good = write_book(tmp_path / "good.xlsx", [campaign()])
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="damaged"):
        load_workbook(cut)


def test_missing_sheet(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign()])
    wb = openpyxl.load_workbook(path)
    del wb["CallingHours"]
    wb.save(path)
    with pytest.raises(InputError, match="no sheet named 'CallingHours'"):
        load_workbook(path)


def test_formulas_without_cached_values_are_refused(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign(max_ring_time="=10*3")])
    with pytest.raises(InputError, match="formulas whose results were never calculated"):
        load_workbook(path)


def test_header_not_on_row_one(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign()])
    wb = openpyxl.load_workbook(path)
    wb["Campaigns"].insert_rows(1, 2)
    wb.save(path)
    with pytest.raises(InputError, match="headers are on row 3"):
        load_workbook(path)


def test_row_cap(tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", [campaign(name=f"C{i}") for i in range(12)])
    with pytest.raises(InputError, match="more than 10 rows"):
        load_workbook(path, Limits(max_rows=10))


def test_merged_cells_are_marked(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "a.xlsx",
        [campaign(name="A"), campaign(name="B")],
        [window("A", start=dt.time(9)), window("B", start=dt.time(9))],
    )
    wb = openpyxl.load_workbook(path)
    wb["CallingHours"].merge_cells("C2:C3")
    wb.save(path)
    from provisioner.workbook.load import merged_range

    assert merged_range(load_workbook(path).hours.frame.at[3, "start"]) == "C2:C3"


def test_a_cell_beyond_the_last_column_a_spreadsheet_has_is_refused() -> None:
    xml = b'<sheetData><row r="1"><c r="A1"><v>1</v></c><c r="XFE1"><v>2</v></c></row></sheetData>'
    with pytest.raises(InputError, match="a cell in column XFE lies beyond column XFD"):
        check_sheet_xml(xml, "in.xlsx, sheet 'Campaigns'", Limits())
