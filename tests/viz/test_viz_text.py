"""Terminal text tables fit the width, keep numbers whole while text can give, and align."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from initlab.viz.report import Table
from initlab.viz.text import MIN_COLUMN, text_table


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(min_size=0, max_size=40), min_size=3, max_size=3),
                min_size=1, max_size=6), st.integers(40, 120))
def test_every_line_fits_the_width(rows, width):
    out = text_table(["scheme", "a very long column name", "c"], rows, width)
    lines = out.split("\n")
    assert max(len(line) for line in lines) <= width
    assert len(lines) == len(rows) + 2


def test_text_gives_way_before_numbers():
    long = "normal(std=0.1) with a very long explanation of what it is"
    out = text_table(["scheme", "test acc"], [[long, "0.9512 ± 0.0031"]], width=40)
    line = out.splitlines()[2]
    assert line.endswith("0.9512 ± 0.0031") and "…" in line and len(line) <= 40


def test_columns_align_and_nothing_is_cut_when_it_fits():
    out = text_table(["a", "bb"], [["xxx", "1"], ["y", "22"]]).splitlines()
    assert out == ["a    bb", "---  --", "xxx  1", "y    22"]
    assert out[0].index("bb") == out[2].index("1")


@pytest.mark.parametrize("width", [20, 30])
def test_narrow_widths_never_go_below_the_minimum_column(width):
    out = text_table(["x"] * 5, [["123456789"] * 5], width)
    assert all(len(c) >= MIN_COLUMN for c in out.splitlines()[1].split("  "))


def test_a_report_table_as_text_has_title_cells_and_note():
    t = Table("Final accuracy", ["scheme", "test"], [["he_normal", 0.953333], ["zeros", None]],
              "mean over seeds")
    assert t.to_text().splitlines() == ["Final accuracy", "scheme     test", "---------  ------",
                                        "he_normal  0.9533", "zeros", "mean over seeds"]
