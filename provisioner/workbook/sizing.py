"""Row heights for wrapped text: neither LibreOffice nor Excel fits a row to its wrapped cells when opening a file.

Left at the default height, a wrapped cell shows one line and LibreOffice draws the rest over the rows below.
The height is estimated from the text and the column's width (in characters, as spreadsheets measure it) by
wrapping words the way a spreadsheet does; generous rather than tight, as a clipped message is worse than a
little white space.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from math import ceil
from typing import Final

#: The workbook's default font, which the heights are estimated for. A styled font names it too: a font
#: without a name is drawn by LibreOffice in its own default, a wider serif.
FONT_NAME: Final = "Calibri"
#: Points per line of the default font (11 pt Calibri): Excel's default row height.
LINE_HEIGHT: Final = 15.0
_PADDING: Final = 2.0  # points above and below the lines
_MAX_HEIGHT: Final = 409.0  # Excel's tallest row
# Characters per line are counted as one per unit of width, less the cell's margins: prose in the default
# font is narrower than the "0" a unit measures, which leaves room for fonts that are wider (DejaVu Sans).
_MARGIN: Final = 1.0


@lru_cache(maxsize=65_536)
def wrapped_lines(text: str, width: float) -> int:
    """Count the lines ``text`` takes in a wrapped cell ``width`` characters wide: words stay whole if they fit."""
    fits = max(1, int(width - _MARGIN))
    lines = 0
    for paragraph in text.split("\n"):
        used = 0  # characters on the current line; a paragraph starts a line even when empty
        lines += 1
        for word in paragraph.split(" "):
            needed = len(word) if used == 0 else used + 1 + len(word)
            if needed <= fits:
                used = needed
                continue
            if used:
                lines += 1
            # A word longer than the line is broken across lines.
            extra, used = divmod(len(word), fits)
            if extra and not used:
                extra, used = extra - 1, fits
            lines += extra
    return lines


def row_height(cells: Iterable[tuple[str, float]]) -> float | None:
    """Return the height in points a row of wrapped ``(text, column width)`` cells needs; None when one line does."""
    lines = max((wrapped_lines(text, width) for text, width in cells), default=1)
    if lines <= 1:
        return None
    return min(ceil(lines * LINE_HEIGHT + _PADDING), _MAX_HEIGHT)
