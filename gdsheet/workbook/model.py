"""What gdsheet knows about a workbook once it has read it: cells, formulas, names.

The reader fills this model from an .xlsx file; the evaluator, the verifier and the
grader consume it.  It is deliberately plain (mappings keyed by 1-based ``(row, col)``)
so that every layer can be tested without a file; the mappings are
:class:`~gdsheet.workbook.cellmap.CellMap` objects, which keep long columns in numpy
arrays (a plain dict works wherever a CellMap does).

Values are Python scalars: ``float`` for numbers, ``str``, ``bool``,
:class:`gdsheet.formula.errors.ExcelError` for error values (``#NUM!`` ...), and no
entry at all for an empty cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cellmap import CellMap

Value = Any  # float | str | bool | ExcelError ; absent key = empty cell
CellKey = tuple[int, int]  # (row, col), both 1-based


@dataclass(frozen=True, slots=True)
class Formula:
    """A formula as written in the file.

    ``text`` is the formula without its leading ``=``, written for the cell at
    ``(row, col)``.  A cell covered by a shared formula points at the group's
    anchor text and anchor cell, so all cells of a filled-down column share one
    ``Formula`` object and the evaluator compiles it once.
    """

    text: str
    row: int
    col: int
    array_ref: str | None = None  # "A1:B3" when the cell anchors an array formula


@dataclass(slots=True)
class Sheet:
    name: str
    values: CellMap = field(default_factory=CellMap)  # constants and cached results
    formulas: CellMap = field(default_factory=CellMap)  # a Formula per formula cell
    state: str = "visible"  # visible | hidden | veryHidden

    def max_row(self) -> int:
        return max(_extent(self.values, 0), _extent(self.formulas, 0))

    def max_col(self) -> int:
        return max(_extent(self.values, 1), _extent(self.formulas, 1))


def _extent(cells: Any, axis: int) -> int:
    """The largest row (axis 0) or column (axis 1) holding something, without visiting
    every cell of a column block."""
    if not isinstance(cells, CellMap):
        return max((k[axis] for k in cells), default=0)
    best = max((k[axis] for k in cells.extra), default=0)
    for col, block in cells.blocks.items():
        present = block.present()
        if present.any():
            best = max(best, col if axis else block.start + int(present.nonzero()[0][-1]))
    return best


@dataclass(slots=True)
class Workbook:
    sheets: dict[str, Sheet] = field(default_factory=dict)  # in workbook order
    # (scope, name) -> refers-to text without '=': scope None = workbook, else sheet name.
    # Names are stored lower-cased: Excel names are case-insensitive.
    names: dict[tuple[str | None, str], str] = field(default_factory=dict)
    has_macros: bool = False
    external_links: int = 0
    properties: dict[str, str] = field(default_factory=dict)  # docProps core/app: creator, modified ...
    limited: list[str] = field(default_factory=list)  # what the reader's row/column caps left out

    def sheet(self, name: str) -> Sheet:
        """Sheet by name, case-insensitively as Excel does."""
        if name in self.sheets:
            return self.sheets[name]
        low = name.lower()
        for key, sheet in self.sheets.items():
            if key.lower() == low:
                return sheet
        raise KeyError(name)
