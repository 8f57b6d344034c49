"""Write the data rows of large worksheets as SpreadsheetML text, where openpyxl's per-cell serialisation is too slow.

openpyxl writes the whole workbook, but each large sheet gets only its header row and a probe row: one cell
per look its data rows need, styled by openpyxl. :func:`splice` then copies the saved package, writing the
real rows where the probe row was, each cell with the style index openpyxl gave its look's probe cell.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from math import isfinite
from typing import IO, Any, Final, Generic, TypeVar

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

Look = TypeVar("Look", bound=Hashable)

_PROBE_ROW: Final = b'<row r="2"'
_SHEET_DATA_END: Final = b"</sheetData>"
_CELL_TAG: Final = re.compile(rb"<c\b[^>]*>")
_PROBE_REF: Final = re.compile(rb'\br="([A-Z]+)2"')
_STYLE: Final = re.compile(rb'\bs="([0-9]+)"')
_MAX_COLUMNS: Final = 16_384  # Excel's last column, XFD
_BATCH: Final = 2_000  # rows encoded and compressed at a time
_TAIL_CACHE: Final = 65_536  # distinct cells remembered per sheet: a repeated value is serialised once
# Level 3 deflates the rows about three times as fast as the default 6, for a file some 12% larger.
_COMPRESS_LEVEL: Final = 3
_TIMES: Final = (dt.date, dt.time, dt.timedelta)


#: A cell with a look, as a (value, look) pair: a plain tuple, as rows hold millions. Any other value is unstyled.
Styled = tuple[object, Look]


@dataclass(frozen=True)
class Stream(Generic[Look]):
    """The rows to write in place of a worksheet's probe row, the look of each probe cell, left to right, the
    look of a cell given as a plain value, and the height of a row in points (None: the default height)."""

    rows: Iterable[Sequence[object]]
    looks: Sequence[Look]
    plain: Look
    height: Callable[[Sequence[object]], float | None]


def splice(source: IO[bytes], target: IO[bytes], streams: Mapping[str, Stream[Any]]) -> None:
    """Copy the package ``source`` to ``target``, each worksheet part named in ``streams`` with its rows."""
    with (
        zipfile.ZipFile(source) as package,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL) as out,
    ):
        for info in package.infolist():
            stream = streams.get(info.filename)
            if stream is None:
                out.writestr(info, package.read(info))
                continue
            with out.open(info.filename, "w") as part:
                _write_sheet(part, package.read(info), stream)


def _write_sheet(part: IO[bytes], xml: bytes, stream: Stream[Any]) -> None:
    """Write openpyxl's sheet XML with the probe row replaced by the stream's rows."""
    start = xml.index(_PROBE_ROW)
    end = xml.index(_SHEET_DATA_END, start)
    # typed: True, 1 and 1.0 are equal keys, but a boolean cell is not a number cell.
    styles = _styles(xml[start:end], stream.looks)
    tail = lru_cache(maxsize=_TAIL_CACHE, typed=True)(partial(_tail, styles, styles[stream.plain]))
    part.write(xml[:start])
    batch: list[str] = []
    for number, cells in enumerate(stream.rows, start=2):
        batch.append(_row(number, cells, tail, stream.height(cells)))
        if len(batch) == _BATCH:
            part.write("".join(batch).encode())
            batch.clear()
    part.write("".join(batch).encode())
    part.write(xml[end:])


def _styles(probe: bytes, looks: Sequence[Hashable]) -> dict[Hashable, str]:
    """Return each look's ``s`` attribute, read from the probe cell openpyxl wrote for it."""
    found: dict[str, str] = {}
    for tag in _CELL_TAG.findall(probe):
        ref, style = _PROBE_REF.search(tag), _STYLE.search(tag)
        if ref and style:
            found[ref.group(1).decode()] = style.group(1).decode()
    return {look: f' s="{found[get_column_letter(column)]}"' for column, look in enumerate(looks, start=1)}


def _row(number: int, cells: Sequence[object], tail: Callable[[object], str], height: float | None) -> str:
    """Return one ``<row>`` element, of its own height if one is given; empty cells are left out."""
    line = str(number)
    xml = [f'<row r="{line}">' if height is None else f'<row r="{line}" ht="{height:g}" customHeight="1">']
    for letter, cell in zip(_letters(), cells, strict=False):
        if cell is not None:
            xml.append(f'<c r="{letter}{line}"{tail(cell)}')
    xml.append("</row>")
    return "".join(xml)


def _tail(styles: Mapping[Hashable, str], plain: str, cell: object) -> str:
    """Return what follows a cell's reference: its style (``plain`` for a plain value), type, value and end tag."""
    if isinstance(cell, tuple):
        value, look = cell
        return styles[look] + _content(value)
    return plain + _content(cell)


def _content(value: object) -> str:
    """Return a cell's type attribute, value and end tag, the way openpyxl writes that value."""
    if isinstance(value, str):
        # Inline strings, as openpyxl's write-only mode writes them: no shared-strings table to build.
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f' t="inlineStr"><is><t{space}>{_escape(value)}</t></is></c>'
    if isinstance(value, bool):
        return f' t="b"><v>{value:d}</v></c>'
    if isinstance(value, int | float):
        return f' t="n"><v>{_number(value)}</v></c>'
    if isinstance(value, _TIMES):
        return f' t="n"><v>{_number(to_excel(value))}</v></c>'
    raise TypeError(f"a cell cannot hold {type(value).__name__}")


def _number(value: float) -> str:
    """Format a number as openpyxl does: 16 significant digits; no value for NaN or infinity."""
    return f"{value:.16g}" if isfinite(value) else ""


def _escape(text: str) -> str:
    """Escape text for element content (never an attribute value, so quotes can stay)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@cache
def _letters() -> tuple[str, ...]:
    """Return every column letter, A to XFD."""
    return tuple(get_column_letter(column) for column in range(1, _MAX_COLUMNS + 1))
