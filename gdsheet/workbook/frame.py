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
from .model import Sheet


def header_row(sheet: Sheet) -> int:
    """Where a table's headers are: the first row with two or more texts (a title above a
    table is one text), else the first row with any text."""
    texts: dict[int, int] = {}
    for (r, _), v in sheet.values.items():
        if isinstance(v, str):
            texts[r] = texts.get(r, 0) + 1
    if not texts:
        return 1
    wide = [r for r, n in texts.items() if n >= 2]
    return min(wide) if wide else min(texts)


def sheet_frame(sheet: Sheet, computed: dict[tuple[int, int], Any] | None = None,
                top: int | None = None) -> pd.DataFrame:
    """The table whose header is on row ``top`` (default: :func:`header_row`), down to its
    first empty row."""
    computed = computed or {}
    top = header_row(sheet) if top is None else top
    keys = set(sheet.values) | set(sheet.formulas)
    cols = sorted({c for r, c in keys if r == top})
    if not cols:
        return pd.DataFrame()
    last = max((r for r, _ in keys), default=top)
    names = []
    for c in cols:
        h = sheet.values.get((top, c))
        names.append(str(h) if h is not None else f"column {c}")
    data: dict[str, list[Any]] = {n: [] for n in names}
    for r in range(top + 1, last + 1):
        row = []
        for c in cols:
            v = sheet.values.get((r, c))
            if v is None and (r, c) in sheet.formulas:
                v = computed.get((r, c))
            row.append(v)
        if all(v is None for v in row) and not any((r, c) in sheet.formulas for c in cols):
            break  # the table ends at its first empty row, as Excel's current region does
        for n, v in zip(names, row):
            data[n].append(v)
    return pd.DataFrame({n: _column(vals) for n, vals in data.items()})


def _column(values: list[Any]) -> Any:
    present = [v for v in values if v is not None and not isinstance(v, ExcelError)]
    if present and all(isinstance(v, float) and not isinstance(v, bool) for v in present):
        return np.array([v if isinstance(v, float) else np.nan for v in values], dtype=float)
    if present and all(isinstance(v, str) for v in present):
        return pd.Series(["" if v is None else v for v in values], dtype=object)  # a text column
    return pd.Series([str(v) if isinstance(v, ExcelError) else v for v in values], dtype=object)
