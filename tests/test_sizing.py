"""Row heights for wrapped text: lines counted the way a spreadsheet wraps words."""

from __future__ import annotations

import pytest

from provisioner.workbook.sizing import LINE_HEIGHT, row_height, wrapped_lines


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("short", 40, 1),
        ("", 40, 1),
        ("a" * 39, 40, 1),  # 39 characters fit a 40-wide column, less its margins
        ("a" * 40, 40, 2),
        ("word " * 20, 21, 5),  # 4 words of 4 characters and their spaces per 20-character line
        ("one\ntwo\n\nfour", 40, 4),  # a line break always starts a line, an empty one too
        ("x" * 50, 11, 5),  # a word longer than the line is broken: 10, 10, 10, 10, 10
        ("x" * 51, 11, 6),
        ("ab " + "x" * 15, 11, 3),  # the long word starts on a line of its own
    ],
)
def test_wrapped_lines_counts_whole_words_per_line(text: str, width: float, lines: int) -> None:
    assert wrapped_lines(text, width) == lines


def test_row_height_is_that_of_the_tallest_cell_and_none_for_one_line() -> None:
    assert row_height([("short", 40), ("also short", 12)]) is None
    assert row_height([]) is None
    three = row_height([("short", 40), ("one\ntwo\nthree", 40)])
    assert three is not None and 3 * LINE_HEIGHT <= three < 4 * LINE_HEIGHT
    assert row_height([("x\n" * 1000, 40)]) == 409  # Excel's tallest row
