"""What gdsheet knows about a workbook once it has read it: cells, formulas, names.

The reader fills this model from an .xlsx file; the evaluator, the verifier and the
grader consume it.  It is deliberately plain (dicts keyed by 1-based ``(row, col)``)
so that every layer can be tested without a file.

Values are Python scalars: ``float`` for numbers, ``str``, ``bool``,
:class:`gdsheet.formula.errors.ExcelError` for error values (``#NUM!`` ...), and no
entry at all for an empty cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    values: dict[CellKey, Value] = field(default_factory=dict)  # constants and cached results
    formulas: dict[CellKey, Formula] = field(default_factory=dict)
    state: str = "visible"  # visible | hidden | veryHidden

    def max_row(self) -> int:
        rows = [r for r, _ in self.values] + [r for r, _ in self.formulas]
        return max(rows, default=0)

    def max_col(self) -> int:
        cols = [c for _, c in self.values] + [c for _, c in self.formulas]
        return max(cols, default=0)


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
