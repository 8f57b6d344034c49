"""Every broken input of the corpus through the real command line: exit 2, one clear message, nothing sent.

Each run is a fresh interpreter running the provisioner module as ``python -m provisioner`` does, with its
address space capped at 500 MB before anything is imported (it cannot use more, resident or not: going over is
a MemoryError or an abort, which fails the case) and its CPU time at 10 s (the kernel stops it there); its own
CPU time and peak resident memory, read with wait4, are checked too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.utils.cell import get_column_letter

from provisioner.sandbox import SandboxConfig
from provisioner.workbook.load.extent import Extent, letters_above, numbers_above, ref_extent, walk_extent
from tests.broken_corpus import (
    ACCEPTED,
    CASES,
    DOC,
    MEMORY_CAP_MB,
    TIME_CAP_S,
    Case,
    Run,
    doc_row,
    run_all,
    run_cli,
)
from tests.conftest import ThreadedSandbox

DOC_TEXT = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
STALE_DOC = "docs/broken-inputs.md no longer says what the tool says: run python -m tests.broken_corpus doc"
# A few cases also go through `run`, against a sandbox that counts every request it receives.
THROUGH_RUN = ("zip-bomb-ratio", "corrupt-sheet-data", "csv-latin1", "names-differ-in-case", "stray-cell-last-row")

Validated = Callable[[Case], tuple[Run, Path]]


@pytest.fixture(scope="session")
def validated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Validated:
    """Return ``validate``'s run of a case, made once per session.

    Alone, the first case asked for runs every case the session selected, several at a time (start-up
    dominates). Under pytest-xdist each worker collects every case but runs only those sent to it, so there
    a case runs when asked for: the workers already keep the cores busy.
    """
    runs: dict[str, tuple[Run, Path]] = {}
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if "validated" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")
    ]
    under_xdist = hasattr(request.config, "workerinput")

    def get(case: Case) -> tuple[Run, Path]:
        if case.id not in runs:
            batch = [case] if under_xdist else [c for c in selected if c.id not in runs]
            runs.update(run_all(batch, lambda c: tmp_path_factory.mktemp(c.id)))
        return runs[case.id]

    return get


def _within_bounds(run: Run) -> None:
    assert "Traceback" not in run.output, run.output
    assert run.cpu_seconds < TIME_CAP_S, f"took {run.cpu_seconds:.1f} CPU seconds"
    assert run.peak_mb < MEMORY_CAP_MB, f"peaked at {run.peak_mb:.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_input_gets_exit_2_and_a_message_naming_the_problem_and_where(case: Case, validated: Validated) -> None:
    run, folder = validated(case)
    assert run.code == 2, run.output
    _within_bounds(run)
    for fragment in case.says:
        assert fragment in run.output, run.output
    # An unreadable input is one line on stderr; a readable one lists its problems on stdout.
    assert run.stderr == "" or (run.stderr.startswith("error: ") and run.stderr.count("\n") == 1), run.stderr
    assert doc_row(case, run, folder) in DOC_TEXT, STALE_DOC


@pytest.mark.slow
@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_input_that_only_looks_broken_is_read_correctly(case: Case, validated: Validated) -> None:
    run, folder = validated(case)
    assert run.code == 0, run.output
    _within_bounds(run)
    for fragment in case.says:
        assert fragment in run.output, run.output
    assert doc_row(case, run, folder) in DOC_TEXT, STALE_DOC


def test_the_doc_lists_exactly_the_corpus() -> None:
    listed = re.findall(r"^\| `([^`]+)` \|", DOC_TEXT, re.M)
    assert listed == [c.id for c in (*CASES, *ACCEPTED)], STALE_DOC
    assert len(CASES) >= 30


def _run_against(box: ThreadedSandbox, path: Path, tmp_path: Path, options: tuple[str, ...]) -> Run:
    assert box.server is not None
    config = box.config
    env = {
        "KORE_HOST": box.server.url,
        "KORE_STREAM_ID": config.stream_id,
        "KORE_ACCOUNT_ID": config.account_id,
        "KORE_IID": config.iid,
        "KORE_CLIENT_ID": config.client_id,
        "KORE_CLIENT_SECRET": config.client_secret,
        "PROVISIONER_STATE": str(tmp_path / "ledger.sqlite3"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no config file of the machine's user
    }
    return run_cli(["run", str(path), "--out", str(tmp_path / "results.xlsx"), *options], env=env)


Start = Callable[..., ThreadedSandbox]
SANDBOX = SandboxConfig(contact_lists=frozenset({"Renewals East"}))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.id in THROUGH_RUN], ids=lambda c: c.id)
def test_run_sends_nothing_for_a_broken_input(case: Case, tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(SANDBOX)
    run = _run_against(box, case.make(tmp_path), tmp_path, case.options)
    assert run.code == 2, run.output
    _within_bounds(run)
    assert box.server is not None
    assert box.server.sandbox.requests_total == 0
    if run.stderr.startswith("error: "):  # unreadable: said on the console, no results workbook
        assert case.says[0] in run.stderr, run.stderr
        return
    # Readable but invalid: `run` lists the problems, located, in the results workbook.
    errors = openpyxl.load_workbook(tmp_path / "results.xlsx")["Errors"].iter_rows(values_only=True)
    assert any(case.says[0] in str(cell) for row in errors for cell in row), run.output


@pytest.mark.slow
def test_run_reaches_the_sandbox_when_the_input_is_valid(tmp_path: Path, threaded_sandbox: Start) -> None:
    # The control for the test above: the same wiring does send a valid input.
    box = threaded_sandbox(SANDBOX)
    accepted = next(c for c in ACCEPTED if c.id == "number-as-text")
    run = _run_against(box, accepted.make(tmp_path), tmp_path, accepted.options)
    assert run.code == 0, run.output
    assert box.server is not None
    assert box.server.sandbox.requests["create"] == 1


# --- the loader's extent scan, which stands between calamine and a stray cell far away -----------------------

cells = st.lists(
    st.tuples(st.integers(1, 1_048_576), st.integers(1, 16_384), st.booleans()),  # row, column, holds a value
    min_size=1,
    max_size=40,
)


def _sheet_xml(cells: list[tuple[int, int, bool]], *, refs: bool = True) -> bytes:
    """Write cells as a sheet does: a value cell has <v>, a styled empty one is self-closing; rows in any order."""
    rows: dict[int, list[bytes]] = {}
    for row, column, value in cells:
        ref = f' r="{get_column_letter(column)}{row}"' if refs else ""
        rows.setdefault(row, []).append(f"<c{ref}><v>1</v></c>".encode() if value else f'<c{ref} s="1"/>'.encode())
    body = b"".join(f'<row r="{row}">'.encode() + b"".join(items) + b"</row>" for row, items in rows.items())
    return b"<worksheet><sheetData>" + body + b"</sheetData></worksheet>"


@given(cells, st.booleans())
def test_the_extent_is_the_last_row_and_column_holding_a_value(cells: list[tuple[int, int, bool]], far: bool) -> None:
    xml = _sheet_xml(cells)
    if far:  # put the cells out of the tail the scan reads first, which then holds only A1
        cells = [*cells, (1, 1, True)]
        xml = xml.replace(b"</sheetData>", b" " * 100_000 + b'<row r="1"><c r="A1"><v>1</v></c></row></sheetData>')
    extent = ref_extent(xml)
    values = [(row, column) for row, column, value in cells if value]
    assert (extent.rows, extent.columns) == (
        max((r for r, _ in values), default=0),
        max((c for _, c in values), default=0),
    )


@given(cells)
def test_walking_the_cells_agrees_with_reading_their_references(cells: list[tuple[int, int, bool]]) -> None:
    xml = _sheet_xml(cells)
    assert walk_extent(xml)[:2] == ref_extent(xml)[:2]


def test_a_cell_without_a_reference_is_placed_after_the_one_before() -> None:
    xml = b'<sheetData><row r="1048576"><c r="B1048576"><v>1</v></c><c t="n"><v>2</v></c></row></sheetData>'
    assert walk_extent(xml) == Extent(1_048_576, 3, "C1048576", "C1048576")


@given(st.integers(0, 10**8), st.integers(0, 10**8))
def test_above_matches_exactly_the_greater_numbers(number: int, other: int) -> None:
    assert bool(re.fullmatch(numbers_above(number), str(other).encode())) == (other > number)


@given(st.integers(0, 16_384), st.integers(1, 16_384), st.booleans())
def test_letters_above_match_exactly_the_later_columns(column: int, other: int, lower: bool) -> None:
    letters = get_column_letter(other)
    assert bool(re.fullmatch(letters_above(column), (letters.lower() if lower else letters).encode())) == (
        other > column
    )
