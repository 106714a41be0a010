"""Pattern consistency: a row whose formula has another shape than the rest of its column.

A filled-down column repeats one relative formula; in R1C1 form (``to_shape``)
every row of it is the same.  A row typed by hand, a ``$`` anchor missing in
one row (right today, wrong when the row is copied), or a row pasted from
elsewhere has another shape — often with the right value, which is why the
value check cannot see it.  Each such row is reported with its row number and
both formulas; it is advice for the student (never scored), since the value
check already scores what is wrong.

The column's pattern is its most common shape among the rows the key fills
down (the rows of the key's own ``Column.formula``); a column with no clear
majority (no shape on at least two thirds of its formula rows) reports nothing —
there is no pattern to break.  Half a column typed one way and half another
(30 right rows, then 31 with a typed-in constant) is not a pattern with 30
exceptions: the value check reports the wrong half, and listing the right half
here as "breaking the pattern" would send the student the wrong way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..exercises.base import Layout, col_letter
from ..formula.parser import quote_sheet, shape_text
from ..workbook.model import Formula, Workbook
from .diagnose import _text_at, parsed_shape
from .locate import student_tables

MAX_LISTED = 50  # rows listed per column: beyond that the column has no pattern to speak of


@dataclass
class PatternBreak:
    """One row of a column whose formula shape is not the column's."""

    sheet: str
    row: int
    col: int
    header: str
    index: int  # data row (0 = iteration 0)
    formula: str  # the row's formula, "=..."
    pattern: str  # the column's formula at that row's neighbour, "=..."
    shape: str  # the row's R1C1 shape
    usual: str  # the column's R1C1 shape
    rows_with_pattern: int  # how many rows follow the pattern

    @property
    def cell(self) -> str:
        return f"{quote_sheet(self.sheet)}!{col_letter(self.col)}{self.row}"

    def text(self) -> str:
        return (f"{self.cell} ({self.header}): row {self.row} has the formula {self.formula}, of another shape "
                f"than the {self.rows_with_pattern} other rows of its column ({self.pattern}) — "
                f"R1C1 {self.shape} instead of {self.usual}")

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "row": self.row, "column": self.header, "iteration_row": self.index,
                "formula": self.formula, "pattern": self.pattern, "shape": self.shape, "usual": self.usual}


def pattern_breaks(wb: Workbook, layout: Layout, diag: Any) -> list[PatternBreak]:
    """Every formula row of a student column whose R1C1 shape differs from the column's majority."""
    out: list[PatternBreak] = []
    fills: dict[int, Any] = {}
    for name in student_tables(layout):
        table = layout.sheet(name).table
        loc = diag.located.get(name)
        if table is None or loc is None:
            continue
        sheet = wb.sheets[loc.sheet]
        for col in table.columns:
            sc = loc.columns.get(col.key)
            if col.formula is None or sc is None:
                continue
            rows: list[tuple[int, Formula, Any]] = []
            for k in range(len(col.head), table.n_rows):
                f = sheet.formulas.get((loc.first_row + k, sc))
                if f is None:
                    continue
                tree = parsed_shape(f, diag.parsed)
                if tree is not None:
                    rows.append((k, f, tree[1]))
            if len(rows) < 3:
                continue
            counts = Counter(s for _, _, s in rows)
            usual, n = counts.most_common(1)[0]
            if n * 3 < len(rows) * 2 or n == len(rows):
                continue
            odd = [(k, f, s) for k, f, s in rows if s != usual][:MAX_LISTED]
            by_k = {k: f for k, f, s in rows if s == usual}
            for k, f, s in odd:
                r = loc.first_row + k
                near = min(by_k, key=lambda j: (abs(j - k), j))
                out.append(PatternBreak(loc.sheet, r, sc, col.header, k, "=" + _text_at(f, r, sc, fills),
                                        "=" + _text_at(by_k[near], loc.first_row + near, sc, fills), shape_text(s),
                                        shape_text(usual), n))
    out.sort(key=lambda b: (b.sheet, b.index, b.col))
    return out
