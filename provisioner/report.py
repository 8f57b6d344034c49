"""Write the results workbook that operations people open to see which campaigns exist and what to fix.

Sheets, in order: Summary (the run's facts, the count per status and a chart); Results (one line per
outcome, then the row's input columns as read); CallingHours (the input's sheet as read); Errors (one line
per problem, present even when there are none). Results and CallingHours are written only when there are
outcomes, and CallingHours only with the input workbook: together they make the file a valid input again,
which a report without outcomes (``validate --report``) could never be, so it holds Summary and Errors.

Every text cell goes through :func:`provisioner.logs.scrub`, and text that a spreadsheet program could take
for a formula is stored as literal text.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
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
from openpyxl.utils import get_column_letter

from provisioner import spec
from provisioner.load import Workbook as InputWorkbook
from provisioner.load import merged_range
from provisioner.logs import scrub
from provisioner.outcomes import Report, RowOutcome, Status, count_statuses
from provisioner.problems import Problem, errors_only
from provisioner.template import TIME_FORMAT

#: The Errors sheet's header; "error" holds the message.
ERROR_COLUMNS: Final = ("sheet", "row", "column", "value", "error", "code", "severity")

#: The fill of a status cell, and the colour of its bar in the Summary chart.
STATUS_COLOURS: Final[Mapping[Status, str]] = {
    Status.CREATED: "C6EFCE",  # green
    Status.EXISTS: "BDD7EE",  # blue
    Status.FAILED: "FFC7CE",  # red
    Status.INVALID: "F8CBAD",  # orange
    Status.SKIPPED: "D9D9D9",  # grey
    Status.UNKNOWN: "FFEB9C",  # yellow
}

# Excel and LibreOffice run a typed or imported text starting with these as a formula (OWASP's list).
_FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")

_HEADER_FONT: Final = Font(bold=True, color="FFFFFF")
_RESULT_HEADER_FILL: Final = PatternFill("solid", fgColor="404040")
_INPUT_HEADER_FILL: Final = PatternFill("solid", fgColor="1F4E78")
_BOLD: Final = Font(bold=True)
_WRAP: Final = Alignment(wrap_text=True, vertical="top")
_STATUS_FILLS: Final = {status: PatternFill("solid", fgColor=rgb) for status, rgb in STATUS_COLOURS.items()}

_WIDTH_SAMPLE: Final = 200  # rows read to size the columns; a 100,000-row sheet must not be measured whole
_WIDTH: Final = (8, 60)
_WIDE: Final = (40, 80)  # message columns, wrapped
_FILTER_BUTTON: Final = 2  # characters the autofilter arrow covers

_SCRUB_CACHE: Final = 65_536  # distinct texts remembered per report: repeated values are scrubbed once

_CHART_TITLE: Final = "Campaigns by status"


def write_report(path: Path, report: Report, workbook: InputWorkbook | None) -> Path:
    """Write the results workbook to ``path`` atomically, replacing any file there, and return ``path``."""
    book = Workbook(write_only=True)
    # Per report, not per process: a secret registered since the last report must be masked in this one.
    clean: Callable[[str], str] = lru_cache(maxsize=_SCRUB_CACHE)(_clean)
    _write_summary(_Cells(book.create_sheet(spec.SUMMARY), clean), report)
    if report.outcomes:
        _write_results(_Cells(book.create_sheet(spec.RESULTS), clean), report.outcomes, workbook)
        if workbook is not None:
            _write_hours(_Cells(book.create_sheet(spec.CALLING_HOURS), clean), workbook)
    _write_errors(_Cells(book.create_sheet(spec.ERRORS), clean), report.problems)
    _save(book, path)
    return path


def console_summary(report: Report, results: Path | None = None) -> str:
    """Say in one line how the run went: counts per status, problems, exit code, duration, results file."""
    summary = report.summary
    counts = [f"{n} {status}" for status, n in count_statuses(report.outcomes).items() if n]
    done = ", ".join(counts + _problem_counts(report.problems)) or "nothing to do"
    code = summary.exit_code
    took = _duration(summary.duration_s)
    line = f"{summary.input_name}: {done} (exit {int(code)}: {code.meaning}) in {took}"
    if results is not None:
        line += f" → {results}"
    return scrub(" ".join(line.splitlines()))


class _Cells:
    """Makes the cells of one write-only sheet: text scrubbed and never a formula, times as times."""

    def __init__(self, sheet: Any, clean: Callable[[str], str]) -> None:
        self.sheet = sheet
        self._clean = clean

    def text(
        self,
        value: str | None,
        *,
        font: Font | None = None,
        fill: PatternFill | None = None,
        alignment: Alignment | None = None,
    ) -> Any:
        """Return a text cell (a plain str when it needs no style), or None for no text."""
        if not value:
            return None
        text = self._clean(value)
        literal = text.startswith(_FORMULA_TRIGGERS) or text in ERROR_CODES
        if not (literal or font or fill or alignment):
            return text
        cell = WriteOnlyCell(self.sheet, text)
        cell.data_type = "s"  # openpyxl makes "=…" a formula and "#N/A" an error value; this is text
        if literal:
            cell.quotePrefix = True  # Excel then keeps it text even when someone edits the cell
        if font:
            cell.font = font
        if fill:
            cell.fill = fill
        if alignment:
            cell.alignment = alignment
        return cell

    def value(self, value: object) -> Any:
        """Return an input cell as it was read: text as text, numbers as numbers, times as times."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dt.time):
            cell = WriteOnlyCell(self.sheet, value)
            cell.number_format = TIME_FORMAT
            return cell
        if isinstance(value, bool | int | float | dt.date | dt.timedelta):
            return value
        if merged_range(value) is not None:
            return None  # the file holds nothing there; only the merged range's first cell has the value
        return self.text(str(value))

    def header(self, names: Iterable[str], fill: PatternFill) -> list[Any]:
        """Return the styled header cells of a table."""
        return [self.text(name, font=_HEADER_FONT, fill=fill) for name in names]


def _clean(text: str) -> str:
    """Mask secrets and replace the control characters a workbook cannot hold."""
    cleaned: str = ILLEGAL_CHARACTERS_RE.sub("\ufffd", scrub(text))
    return cleaned


# --- sheets ---------------------------------------------------------------------------------------


def _write_summary(cells: _Cells, report: Report) -> None:
    """Write the run's facts, then (when there are outcomes) the count per status and its chart."""
    sheet = cells.sheet
    rows: list[list[Any]] = [cells.header(("Field", "Value"), _RESULT_HEADER_FILL)]
    for key, value in _summary_fields(report):
        shown = cells.text(value, alignment=_WRAP) if isinstance(value, str) else value
        rows.append([cells.text(key, font=_BOLD), shown])
    _set_widths(sheet, rows, wide={1})
    for row in rows:
        sheet.append(row)
    if not report.outcomes:
        return
    counts = count_statuses(report.outcomes)
    sheet.append([])
    sheet.append(cells.header(("Status", "Campaigns"), _RESULT_HEADER_FILL))
    first = len(rows) + 3
    for status, count in counts.items():
        sheet.append([cells.text(status.value, fill=_STATUS_FILLS[status]), count])
    sheet.append([cells.text("Total", font=_BOLD), sum(counts.values())])
    sheet.add_chart(_status_chart(sheet, first, first + len(counts) - 1), f"A{first + len(counts) + 2}")


def _summary_fields(report: Report) -> list[tuple[str, str | int | float | None]]:
    """Return the Summary sheet's key/value lines."""
    summary = report.summary
    return [
        ("Run ID", summary.run_id),
        ("Command", summary.command),
        ("Input file", summary.input_name),
        ("Input SHA-256", summary.input_sha256),
        ("Started", _iso(summary.started)),
        ("Finished", _iso(summary.finished)),
        ("Duration (s)", round(summary.duration_s, 3)),
        ("Duration", _duration(summary.duration_s)),
        ("Host", summary.host),
        ("Account ID", summary.account_id),
        ("Stream ID", summary.stream_id),
        ("Tool version", summary.tool_version),
        ("Exit code", int(summary.exit_code)),
        ("Exit code meaning", summary.exit_code.meaning),
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


def _write_results(cells: _Cells, outcomes: list[RowOutcome], workbook: InputWorkbook | None) -> None:
    """Write one line per outcome: the outcome's columns, then the row's input columns as read."""
    source = workbook.campaigns.source if workbook is not None else None
    names = [str(name) for name in source] if source is not None else []
    inputs: dict[int, tuple[object, ...]] = (
        dict(zip(source.index.tolist(), source.itertuples(index=False, name=None), strict=True))
        if source is not None
        else {}
    )
    header = cells.header(spec.RESULT_COLUMNS, _RESULT_HEADER_FILL) + cells.header(names, _INPUT_HEADER_FILL)

    def lines() -> Iterator[list[Any]]:
        for outcome in outcomes:
            known = {
                "row": outcome.row,
                "name": cells.text(outcome.name),
                "status": cells.text(outcome.status.value, fill=_STATUS_FILLS[outcome.status]),
                "campaign_id": cells.text(outcome.campaign_id),
                "campaign_status": cells.text(outcome.campaign_status),
                "error": cells.text(outcome.error, alignment=_WRAP),
                "attempts": outcome.attempts,
                "finished_at": cells.text(_iso(outcome.finished_at)),
            }
            yield [known[column] for column in spec.RESULT_COLUMNS] + [
                cells.value(value) for value in inputs.get(outcome.row, ())
            ]

    _write_table(cells, header, lines(), wide={spec.RESULT_COLUMNS.index("error")})


def _write_hours(cells: _Cells, workbook: InputWorkbook) -> None:
    """Write the input's CallingHours sheet back as read, so the results workbook is a valid input."""
    source = workbook.hours.source
    rows = ([cells.value(value) for value in row] for row in source.itertuples(index=False, name=None))
    _write_table(cells, cells.header(map(str, source.columns), _INPUT_HEADER_FILL), rows)


def _write_errors(cells: _Cells, problems: Iterable[Problem]) -> None:
    """Write one line per problem, in the order given; the header alone when there is none."""
    rows = (
        [
            cells.text(p.sheet),
            p.row,
            cells.text(p.column),
            cells.text(p.value),
            cells.text(p.message, alignment=_WRAP),
            cells.text(p.code),
            cells.text(p.severity),
        ]
        for p in problems
    )
    header = cells.header(ERROR_COLUMNS, _RESULT_HEADER_FILL)
    _write_table(cells, header, rows, wide={ERROR_COLUMNS.index("error")})


def _write_table(cells: _Cells, header: list[Any], rows: Iterable[list[Any]], wide: Collection[int] = ()) -> None:
    """Write a header and its rows with fitted widths, a frozen header row and an autofilter."""
    sheet = cells.sheet
    rows = iter(rows)
    sample = list(islice(rows, _WIDTH_SAMPLE))
    _set_widths(sheet, [header, *sample], wide)
    sheet.freeze_panes = "A2"
    sheet.append(header)
    count = 0
    for row in chain(sample, rows):
        sheet.append(row)
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(header), 1))}{count + 1}"


def _set_widths(sheet: Any, rows: Sequence[Sequence[Any]], wide: Collection[int]) -> None:
    """Size each column to its longest value in ``rows``, within bounds; ``wide`` columns wrap."""
    longest: dict[int, int] = {}
    for row in rows:
        for index, value in enumerate(row):
            longest[index] = max(longest.get(index, 0), _shown_length(value))
    for index, length in longest.items():
        low, high = _WIDE if index in wide else _WIDTH
        width = min(max(length + _FILTER_BUTTON, low), high)
        sheet.column_dimensions[get_column_letter(index + 1)].width = width


def _shown_length(value: Any) -> int:
    """Estimate how many characters wide a cell shows."""
    value = getattr(value, "value", value)  # a styled cell, or a plain value
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


def _duration(seconds: float) -> str:
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
    return [f"{n} {word}{'s' * (n != 1)}" for n, word in counts if n]


# --- file -----------------------------------------------------------------------------------------


def _save(book: Workbook, path: Path) -> None:
    """Save to a hidden temporary file beside ``path``, then rename it to ``path``; never leave it behind."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open, not mkstemp: the file gets the usual permissions (0o666 less umask), not owner-only ones.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as out:
            book.save(out)
            out.flush()
            os.fsync(out.fileno())  # the rename must not land before the data on a crash
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
