"""A sheet of a workbook as a pandas DataFrame: header row -> column names.

Cell values are the cached values stored in the file; a formula cell without
one (files written by openpyxl or pandas carry none) gets the value gdsheet's
evaluator computes, so a DataFrame never shows holes where numbers belong.
Error values (#NUM! after an overflow) become NaN in numeric columns, as
pandas itself represents a missing number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..formula.errors import ExcelError
from .cellmap import CellMap, column_of, present
from .model import Sheet


def header_row(sheet: Sheet) -> int:
    """Where a table's headers are: the first row with two or more texts (a title above a
    table is one text), else the first row with any text."""
    texts: dict[int, int] = {}
    values = sheet.values
    cells = values.extra.items() if isinstance(values, CellMap) else values.items()  # blocks hold numbers
    for (r, _), v in cells:
        if isinstance(v, str):
            texts[r] = texts.get(r, 0) + 1
    if not texts:
        return 1
    wide = [r for r, n in texts.items() if n >= 2]
    return min(wide) if wide else min(texts)


def sheet_frame(sheet: Sheet, computed: Any = None, top: int | None = None) -> pd.DataFrame:
    """The table whose header is on row ``top`` (default: :func:`header_row`), down to its
    first empty row.

    Column by column: a column the reader holds as an array of numbers becomes the
    DataFrame's column without a Python step per cell (a 1,000,000-row table is read in
    seconds, not a minute and 2.7 GB).
    """
    computed = computed or {}
    top = header_row(sheet) if top is None else top
    cols = sorted(c for c in _columns_at(sheet.values, top) | _columns_at(sheet.formulas, top))
    if not cols:
        return pd.DataFrame()
    last = max(sheet.max_row(), top)
    rows = range(top + 1, last + 1)
    names = []
    for c in cols:
        h = sheet.values.get((top, c))
        names.append(str(h) if h is not None else f"column {c}")
    data: list[Any] = []
    filled = np.zeros(len(rows), dtype=bool)  # a row with anything in one of the table's columns
    for c in cols:
        has_formula = present(sheet.formulas, c, rows)
        vals = column_of(sheet.values, c, rows, numbers=True)
        if isinstance(vals, np.ndarray):  # every row a number
            filled |= True
            data.append(vals)
            continue
        for i in np.flatnonzero(has_formula).tolist():
            if vals[i] is None:
                vals[i] = computed.get((rows[i], c))
        filled |= np.fromiter((v is not None for v in vals), dtype=bool, count=len(vals)) | has_formula
        data.append(vals)
    empty = np.flatnonzero(~filled)
    end = int(empty[0]) if len(empty) else len(rows)  # the table ends at its first empty row, as Excel's
    return pd.DataFrame({n: _column(vals[:end]) for n, vals in zip(names, data)})  # current region does


def uncached_formulas(sheet: Sheet) -> bool:
    """Whether some formula cell carries no cached value (files written by openpyxl or pandas),
    so that the evaluator must fill it in; column by column for a CellMap."""
    formulas, values = sheet.formulas, sheet.values
    if not isinstance(formulas, CellMap):
        return any(key not in values for key in formulas)
    if any(key not in values for key in formulas.extra):
        return True
    for col, block in formulas.blocks.items():
        rows = range(block.start, block.stop)
        if (block.present() & ~present(values, col, rows)).any():
            return True
    return False


def _columns_at(cells: Any, row: int) -> set[int]:
    if not isinstance(cells, CellMap):
        return {c for r, c in cells if r == row}
    out = {c for r, c in cells.extra if r == row}
    out.update(c for c, block in cells.blocks.items() if block.get(row) is not None)
    return out


def _column(values: Any) -> Any:
    if isinstance(values, np.ndarray):
        return values
    present = [v for v in values if v is not None and not isinstance(v, ExcelError)]
    if present and all(isinstance(v, float) and not isinstance(v, bool) for v in present):
        return np.array([v if isinstance(v, float) else np.nan for v in values], dtype=float)
    if present and all(isinstance(v, str) for v in present):
        return pd.Series(["" if v is None else v for v in values], dtype=object)  # a text column
    return pd.Series([str(v) if isinstance(v, ExcelError) else v for v in values], dtype=object)
