"""Write the results workbook that operations people open to see which campaigns exist and what to fix.

Sheets, in order: Summary (the run's facts, the count per status and a chart); Results (one line per
outcome, then the row's input columns as read); CallingHours (the input's sheet as read); Errors (one line
per problem, present even when there are none). Results and CallingHours are written only when there are
outcomes, and CallingHours only with the input workbook: together they make the file a valid input again,
which a report without outcomes (``validate --report``) could never be, so it holds Summary and Errors.

Every text cell goes through :func:`provisioner.logs.scrub`, and text that a spreadsheet program could take
for a formula is stored as literal text. openpyxl writes the workbook, but the data rows of Results and
CallingHours (100,000 lines in a large run) are written by :mod:`provisioner.report.rows`, in its place.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from itertools import chain, islice
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import FORMAT_DATE_DATETIME, FORMAT_DATE_TIMEDELTA, FORMAT_DATE_YYYYMMDD2
from openpyxl.utils import get_column_letter

from provisioner.exit_codes import ExitCode
from provisioner.logs import scrub
from provisioner.provision.outcomes import Report, RowOutcome, Status, count_statuses
from provisioner.report.rows import Stream, Styled, splice
from provisioner.words import counted
from provisioner.workbook import spec
from provisioner.workbook.load import Workbook as InputWorkbook
from provisioner.workbook.load import merged_range
from provisioner.workbook.problems import Problem, errors_only
from provisioner.workbook.sizing import FONT_NAME, row_height
from provisioner.workbook.template import TIME_FORMAT

#: The Errors sheet's header: where the problem is, the value found, what is wrong, its code and severity.
ERROR_COLUMNS: Final = ("Sheet", "Cell", "Row", "Column", "Value", "Message", "Code", "Severity")

#: The fill of a status cell, and the colour of its bar in the Summary chart.
STATUS_COLOURS: Final[Mapping[Status, str]] = {
    Status.CREATED: "C6EFCE",  # green
    Status.EXISTS: "BDD7EE",  # blue
    Status.FAILED: "FFC7CE",  # red
    Status.INVALID: "F8CBAD",  # orange
    Status.SKIPPED: "D9D9D9",  # grey
    Status.UNKNOWN: "FFEB9C",  # yellow
    Status.UPDATED: "A9D08E",  # darker green
    Status.UNCHANGED: "DDEBF7",  # light blue
    Status.DIFFERS: "FFE699",  # amber
    Status.LOCKED: "E4DFEC",  # lavender
    Status.DELETED: "EDEDED",  # light grey
    Status.REFUSED: "F4B084",  # dark orange
}

# Excel and LibreOffice run a typed or imported text starting with these as a formula (OWASP's list).
_FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")


# Every cell sits at the top of its row: a row made tall by a wrapped message must not leave the rest of the
# line at the bottom, looking like part of the next one.
_TOP: Final = Alignment(vertical="top")


@dataclass(frozen=True, eq=False)
class _Look:
    """A cell style. Compared by identity: each look is made once, so looks key the probe row's style indices."""

    font: Font | None = None
    fill: PatternFill | None = None
    alignment: Alignment = _TOP
    number_format: str | None = None
    quote_prefix: bool = False  # Excel then keeps the text text even when someone edits the cell


_PLAIN: Final = _Look()  # a cell given as a plain value


@cache
def _quoted(look: _Look) -> _Look:
    """Return ``look`` with the quote prefix that keeps text literal: the same object for the same look."""
    return replace(look, quote_prefix=True)


_HEADER_FONT: Final = Font(name=FONT_NAME, bold=True, color="FFFFFF")
_RESULT_HEADER: Final = _Look(font=_HEADER_FONT, fill=PatternFill("solid", fgColor="404040"))
_INPUT_HEADER: Final = _Look(font=_HEADER_FONT, fill=PatternFill("solid", fgColor="1F4E78"))
_BOLD: Final = _Look(font=Font(name=FONT_NAME, bold=True))
_LEFT: Final = _Look(alignment=Alignment(horizontal="left", vertical="top"))  # a number among texts
_WRAP: Final = _Look(alignment=Alignment(wrap_text=True, vertical="top"))
_WRAPPED: Final = frozenset({_WRAP, _quoted(_WRAP)})  # the looks whose text wraps, so sets its row's height
_STATUS_LOOKS: Final = {status: _Look(fill=PatternFill("solid", fgColor=rgb)) for status, rgb in STATUS_COLOURS.items()}
# Times take the template's format; the other types the format openpyxl gives them. datetime before date.
_DATE_LOOKS: Final[Mapping[type, _Look]] = {
    dt.datetime: _Look(number_format=FORMAT_DATE_DATETIME),
    dt.date: _Look(number_format=FORMAT_DATE_YYYYMMDD2),
    dt.time: _Look(number_format=TIME_FORMAT),
    dt.timedelta: _Look(number_format=FORMAT_DATE_TIMEDELTA),
}
# Every look a data cell of Results or CallingHours can have: the probe row holds one cell of each.
_TEXT_LOOKS: Final = (_WRAP, *_STATUS_LOOKS.values())
_DATA_LOOKS: Final = (_PLAIN, *_TEXT_LOOKS, *map(_quoted, (_PLAIN, *_TEXT_LOOKS)), *_DATE_LOOKS.values())
_NUMBERS: Final = (int, float)  # bool too: it is an int

_WIDTH_SAMPLE: Final = 200  # rows read to size the columns; a 100,000-row sheet must not be measured whole
_WIDTH: Final = (8, 60)
_DEFAULT_WIDTH: Final = 8.43  # a column left unsized, in characters
_WIDE: Final = (40, 80)  # message columns, wrapped
_FILTER_BUTTON: Final = 2  # characters the autofilter arrow covers

_SCRUB_CACHE: Final = 65_536  # distinct texts remembered per report: repeated values are scrubbed once

_CHART_TITLE: Final = "Campaigns by status"

_Cell = Styled[_Look] | str | int | float | None  # a cell as made by _Cells: styled, or a plain value


def write_report(path: Path, report: Report, workbook: InputWorkbook | None, *, meaning: str | None = None) -> Path:
    """Write the results workbook to ``path`` atomically, replacing any file there, and return ``path``.

    ``meaning`` says what the exit code means for the command that wrote it (default: :func:`exit_meaning`).
    """
    book = Workbook(write_only=True)
    # Per report, not per process: a secret registered since the last report must be masked in this one.
    clean: Callable[[str], tuple[str, bool]] = lru_cache(maxsize=_SCRUB_CACHE)(_clean)

    def cells(title: str) -> _Cells:
        return _Cells(book.create_sheet(title), clean)

    _write_summary(cells(spec.SUMMARY), report, meaning or exit_meaning(report))
    streams: dict[Any, Stream[_Look]] = {}  # sheet -> its data rows
    if report.outcomes:
        results = cells(spec.RESULTS)
        streams[results.sheet] = _write_results(results, report.outcomes, workbook)
        if workbook is not None:
            hours = cells(spec.CALLING_HOURS)
            streams[hours.sheet] = _write_hours(hours, workbook)
    _write_errors(cells(spec.ERRORS), report.problems)
    _save(book, streams, path)
    return path


# A status as a console line says it after a count ("20 already existed", not "20 exists").
_NOT_SENT: Final = frozenset({Status.INVALID, Status.SKIPPED})  # the statuses of rows no request was made for
_STATUS_SAID: Final = {
    Status.EXISTS: "already existed",
    Status.UNKNOWN: "with an unknown outcome",
    Status.DIFFERS: "differ from the sheet (--update applies the changes)",
    Status.LOCKED: "locked (Active: not editable)",
}


def console_summary(report: Report, results: Path | None = None, *, meaning: str | None = None) -> str:
    """Say in one line how the run went: counts per status, problems, exit code, duration, results file.

    ``meaning`` says what the exit code means for the command that ran (default: :func:`exit_meaning`).
    """
    summary = report.summary
    counts = [f"{n} {_STATUS_SAID.get(status, status)}" for status, n in count_statuses(report.outcomes).items() if n]
    if started := started_by(report):
        counts.append(f"{started} started")
    if unfinished := sum(o.unfinished for o in report.outcomes):
        counts.append(f"{unfinished} with a schedule or start not done")
    done = ", ".join(counts + _problem_counts(report.problems)) or "nothing to do"
    code = summary.exit_code
    took = human_duration(summary.duration_s)
    line = f"{summary.input_name}: {done} (exit {int(code)}: {meaning or exit_meaning(report)}) in {took}"
    if results is not None:
        line += f" → {results}"
    return scrub(" ".join(line.splitlines()))


def started_by(report: Report) -> int:
    """Count the campaigns the run started: one run holds the ledger at a time, so those started while it ran."""
    begun = report.summary.started
    return sum(o.started_at is not None and o.started_at >= begun for o in report.outcomes)


def exit_meaning(report: Report) -> str:
    """Say what the run's exit code means for this run: exit 2 after ``--skip-invalid`` sent the valid rows."""
    code = report.summary.exit_code
    if code == ExitCode.INVALID and any(o.status not in _NOT_SENT for o in report.outcomes):
        return "some rows are invalid; the valid rows were sent (--skip-invalid)"
    return code.meaning


class _Cells:
    """Makes the cells of one write-only sheet: text scrubbed and never a formula, times as times.

    A cell is a plain value, or a (value, look) pair: openpyxl cells are made only when a row is appended, as
    the data rows of Results and CallingHours never pass through openpyxl.
    """

    def __init__(self, sheet: Any, clean: Callable[[str], tuple[str, bool]]) -> None:
        self.sheet = sheet
        self._clean = clean
        self._widths: dict[int, float] = {}  # column index -> width in characters, once sized
        self._appended = 0

    def text(self, value: str | None, look: _Look | None = None) -> _Cell:
        """Return a text cell (a plain str when it needs no style), or None for no text."""
        if not value:
            return None
        text, literal = self._clean(value)
        if literal:
            look = _quoted(look or _PLAIN)
        return text if look is None else (text, look)

    def value(self, value: object) -> _Cell:
        """Return an input cell as it was read: text as text, numbers as numbers, times as times."""
        if isinstance(value, str):
            return self.text(value, _WRAP if "\n" in value else None)  # unwrapped, a line break shows as nothing
        if isinstance(value, _NUMBERS):
            return value
        for kind, look in _DATE_LOOKS.items():
            if isinstance(value, kind):
                return value, look
        if merged_range(value) is not None:
            return None  # the file holds nothing there; only the merged range's first cell has the value
        return self.text(str(value))

    def header(self, names: Iterable[str], look: _Look) -> list[_Cell]:
        """Return the styled header cells of a table."""
        return [self.text(name, look) for name in names]

    def size_columns(self, rows: Sequence[Sequence[_Cell]], wide: Collection[int]) -> None:
        """Size each column to its longest value in ``rows``, within bounds; ``wide`` columns wrap."""
        longest: dict[int, int] = {}
        for row in rows:
            for index, value in enumerate(row):
                longest[index] = max(longest.get(index, 0), _shown_length(value))
        for index, length in longest.items():
            low, high = _WIDE if index in wide else _WIDTH
            width = min(max(length + _FILTER_BUTTON, low), high)
            self.sheet.column_dimensions[get_column_letter(index + 1)].width = width
            self._widths[index] = width

    def height(self, row: Sequence[object]) -> float | None:
        """Return the height the row's wrapped cells need at the columns' widths; None for the default."""
        wrapped = [
            (cell[0], self._widths.get(index, _DEFAULT_WIDTH))
            for index, cell in enumerate(row)
            if type(cell) is tuple and cell[1] in _WRAPPED and isinstance(cell[0], str)  # not the probe row's
        ]
        return row_height(wrapped) if wrapped else None

    def append(self, row: Sequence[_Cell]) -> None:
        """Write a row through openpyxl, as tall as its wrapped text needs."""
        self._appended += 1
        height = self.height(row)
        if height is not None:
            self.sheet.row_dimensions[self._appended].height = height
        self.sheet.append([None if cell is None else self._openpyxl(cell) for cell in row])

    def _openpyxl(self, cell: _Cell) -> WriteOnlyCell:
        """Return the openpyxl cell of a cell, styled or plain."""
        value, look = cell if isinstance(cell, tuple) else (cell, _PLAIN)
        made = WriteOnlyCell(self.sheet, value)
        if isinstance(value, str):
            made.data_type = "s"  # openpyxl makes "=…" a formula and "#N/A" an error value; this is text
        if look.font:
            made.font = look.font
        if look.fill:
            made.fill = look.fill
        made.alignment = look.alignment
        if look.number_format:
            made.number_format = look.number_format
        if look.quote_prefix:
            made.quotePrefix = True
        return made


def _clean(text: str) -> tuple[str, bool]:
    """Mask secrets and replace the control characters a workbook cannot hold; say if it must stay literal."""
    cleaned: str = ILLEGAL_CHARACTERS_RE.sub("\ufffd", scrub(text))
    return cleaned, cleaned.startswith(_FORMULA_TRIGGERS) or cleaned in ERROR_CODES


# --- sheets ---------------------------------------------------------------------------------------


def _write_summary(cells: _Cells, report: Report, meaning: str) -> None:
    """Write the run's facts, then (when there are outcomes) the count per status and its chart."""
    sheet = cells.sheet
    rows: list[list[_Cell]] = [cells.header(("Field", "Value"), _RESULT_HEADER)]
    for key, value in _summary_fields(report, meaning):
        shown = cells.text(value, _WRAP) if isinstance(value, str) else (value, _LEFT)
        rows.append([cells.text(key, _BOLD), shown])
    cells.size_columns(rows, wide={1})
    for row in rows:
        cells.append(row)
    if not report.outcomes:
        return
    counts = count_statuses(report.outcomes)
    cells.append([])
    cells.append(cells.header(("Status", "Campaigns"), _RESULT_HEADER))
    first = len(rows) + 3
    for status, count in counts.items():
        cells.append([cells.text(status.value, _STATUS_LOOKS[status]), (count, _LEFT)])
    cells.append([cells.text("Total", _BOLD), (sum(counts.values()), _LEFT)])
    sheet.add_chart(_status_chart(sheet, first, first + len(counts) - 1), f"A{first + len(counts) + 2}")


def _summary_fields(report: Report, meaning: str) -> list[tuple[str, str | int | float | None]]:
    """Return the Summary sheet's key/value lines."""
    summary = report.summary
    return [
        ("Run ID", summary.run_id),
        ("Command", summary.command),
        ("Input file", summary.input_name),
        ("Input SHA-256", summary.input_sha256),
        ("Started", _iso(summary.started)),
        ("Finished", _iso(summary.finished)),
        ("Duration", human_duration(summary.duration_s)),
        ("Host", summary.host),
        ("Account ID", summary.account_id),
        ("Stream ID", summary.stream_id),
        ("Tool version", summary.tool_version),
        ("Exit code", int(summary.exit_code)),
        ("Exit code meaning", meaning),
        ("Campaigns started", started_by(report)),
        ("Schedules or starts not done", sum(o.unfinished for o in report.outcomes)),
        ("Problems", ", ".join(_problem_counts(report.problems)) or "none"),
        ("Notes", "\n".join(summary.notes)),
    ]


def _status_chart(sheet: Any, first: int, last: int) -> BarChart:
    """Build the bar chart of the counts table's rows ``first``..``last``, one colour per status."""
    chart = BarChart()
    chart.title = _CHART_TITLE
    chart.legend = None
    chart.y_axis.title = "Campaigns"
    # Left unset, Excel hides both axes of an openpyxl 3.1 chart, and with them the status names.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.add_data(Reference(sheet, min_col=2, min_row=first, max_row=last))
    chart.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
    chart.series[0].dPt = [
        DataPoint(idx=index, spPr=GraphicalProperties(solidFill=STATUS_COLOURS[status]))
        for index, status in enumerate(Status)
    ]
    return chart


def _write_results(cells: _Cells, outcomes: list[RowOutcome], workbook: InputWorkbook | None) -> Stream[_Look]:
    """Start the Results table and return its rows: the outcome's columns, then the row's input columns as read."""
    source = workbook.campaigns.source if workbook is not None else None
    names = [str(name) for name in source] if source is not None else []
    inputs: dict[int, tuple[object, ...]] = (
        dict(zip(source.index.tolist(), source.itertuples(index=False, name=None), strict=True))
        if source is not None
        else {}
    )
    header = cells.header(spec.RESULT_HEADERS, _RESULT_HEADER) + cells.header(names, _INPUT_HEADER)

    def lines() -> Iterator[list[_Cell]]:
        for outcome in outcomes:
            known = {
                "row": outcome.row,
                "name": cells.text(outcome.name),
                "status": cells.text(outcome.status.value, _STATUS_LOOKS[outcome.status]),
                "campaign_id": cells.text(outcome.campaign_id),
                "campaign_status": cells.text(outcome.campaign_status),
                "started_at": cells.text(_iso(outcome.started_at)),
                "schedule": cells.text(outcome.schedule, _WRAP),
                "error": cells.text(outcome.error or outcome.note, _WRAP),
                "changes": cells.text("\n".join(map(str, outcome.changes)) or None, _WRAP),
                "attempts": outcome.attempts,
                "finished_at": cells.text(_iso(outcome.finished_at)),
            }
            yield [known[column] for column in spec.RESULT_COLUMNS] + [
                cells.value(value) for value in inputs.get(outcome.row, ())
            ]

    wide = {spec.RESULT_COLUMNS.index(key) for key in ("schedule", "error", "changes")}
    return _stream_table(cells, header, lines(), len(outcomes), wide)


def _write_hours(cells: _Cells, workbook: InputWorkbook) -> Stream[_Look]:
    """Start the CallingHours table and return the input's rows as read, so the results workbook is a valid input."""
    source = workbook.hours.source
    rows = ([cells.value(value) for value in row] for row in source.itertuples(index=False, name=None))
    return _stream_table(cells, cells.header(map(str, source.columns), _INPUT_HEADER), rows, len(source))


def _write_errors(cells: _Cells, problems: Sequence[Problem]) -> None:
    """Write one line per problem, in the order given; the header alone when there is none."""
    rows = (
        [
            cells.text(p.sheet),
            cells.text(p.cell),
            p.row,
            cells.text(p.column),
            cells.text(p.value),
            cells.text(p.message, _WRAP),
            cells.text(p.code),
            cells.text(p.severity),
        ]
        for p in problems
    )
    header = cells.header(ERROR_COLUMNS, _RESULT_HEADER)
    for row in _start_table(cells, header, rows, len(problems), wide={ERROR_COLUMNS.index("Message")}):
        cells.append(row)


def _stream_table(
    cells: _Cells, header: list[_Cell], rows: Iterable[list[_Cell]], count: int, wide: Collection[int] = ()
) -> Stream[_Look]:
    """Start a table whose ``count`` rows are written after openpyxl, in place of a probe row of every data look."""
    rows = _start_table(cells, header, rows, count, wide)
    cells.append([(None, look) for look in _DATA_LOOKS])
    return Stream(rows, _DATA_LOOKS, _PLAIN, cells.height)


def _start_table(
    cells: _Cells, header: list[_Cell], rows: Iterable[list[_Cell]], count: int, wide: Collection[int]
) -> Iterator[list[_Cell]]:
    """Write a header fitted to the first rows, frozen, filtering ``count`` rows; return all the rows, unwritten."""
    sheet = cells.sheet
    rows = iter(rows)
    sample = list(islice(rows, _WIDTH_SAMPLE))
    cells.size_columns([header, *sample], wide)
    sheet.freeze_panes = "A2"
    cells.append(header)
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(header), 1))}{count + 1}"
    return chain(sample, rows)


def _shown_length(cell: _Cell) -> int:
    """Estimate how many characters wide a cell shows."""
    value = cell[0] if isinstance(cell, tuple) else cell
    if value is None:
        return 0
    if isinstance(value, dt.time):
        return len("12:00 PM")
    if isinstance(value, str):
        return max(len(line) for line in value.splitlines() or [""])
    return len(str(value))


# --- text -----------------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    """Return ISO 8601 with its UTC offset; a naive time is taken as local time, as Python does."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.astimezone()).isoformat(timespec="seconds")


def human_duration(seconds: float) -> str:
    """Say a duration the way people do: "0.4 s", "42 s", "8 min 12 s", "2 h 3 min 0 s"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _problem_counts(problems: Sequence[Problem]) -> list[str]:
    """Return "2 errors", "1 warning", leaving out a kind there is none of."""
    errors = len(errors_only(problems))
    counts = ((errors, "error"), (len(problems) - errors, "warning"))
    return [counted(n, word) for n, word in counts if n]


# --- file -----------------------------------------------------------------------------------------


def _save(book: Workbook, streams: Mapping[Any, Stream[_Look]], path: Path) -> None:
    """Save to a hidden temporary file beside ``path``, then rename it to ``path``; never leave it behind."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open, not mkstemp: the file gets the usual permissions (0o666 less umask), not owner-only ones.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as out:
            staged = io.BytesIO()  # headers and probe rows only: small
            book.save(staged)
            # openpyxl names the parts when it saves ("/xl/worksheets/sheet2.xml").
            splice(staged, out, {sheet.path.lstrip("/"): rows for sheet, rows in streams.items()})
            out.flush()
            os.fsync(out.fileno())  # the rename must not land before the data on a crash
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
