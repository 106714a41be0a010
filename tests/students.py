"""Simulated students: fill a gdsheet template with openpyxl the way people do.

``fill`` rewrites the template's table with formulas a student would type —
by default the key's own (each column's template written at its row, with
the student's column letters) — and lets a test change any cell
(``cells={("x", 10): "=B11-0.2*D11"}``, a number for a typed value, None to
leave it empty), rearrange the table (column order, position, header text,
a notes column, rows beyond the end) or rename its sheet.  Files written by
openpyxl carry no cached values, as a student's file saved by a script would
not; tests that want cached values save them through LibreOffice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import openpyxl

from gdsheet.classroom.check import embedded
from gdsheet.classroom.locate import student_tables
from gdsheet.exercises import get
from gdsheet.exercises.base import _PLACEHOLDER, Layout, col_letter
from gdsheet.workbook.reader import read_workbook


def layout_of(path: Path) -> Layout:
    emb = embedded(read_workbook(path))
    assert emb is not None
    ex = get(emb.exercise)
    return ex.layout(ex.resolve(emb.params))


def fill(template: Path, out: Path, *, cells: dict[tuple[str, int], Any] | None = None,
         columns: dict[str, Callable[[int, dict[str, str]], Any]] | None = None,
         order: list[str] | None = None, top: int = 1, left: int = 1, header: Callable[[str], str] | None = None,
         notes_column: bool = False, rename: str | None = None, rows: int | None = None, extra_rows: int = 0,
         table: str | None = None) -> Path:
    """Fill ``template`` like a student and save to ``out``.

    ``columns[key](row, letters)`` gives a whole column's formula per row (``letters``: key -> the
    student's column letter); ``cells[(key, k)]`` overrides data row k of a column; ``rows`` stops
    after that many data rows (the rest left empty).
    """
    layout = layout_of(template)
    name = table or student_tables(layout)[0]
    t = layout.sheet(name).table
    assert t is not None
    wb = openpyxl.load_workbook(template)
    ws = wb[name]
    for row in ws.iter_rows():
        for c in row:
            c.value = None
    keys = order or [c.key for c in t.columns]
    first_col = left + (1 if notes_column else 0)
    letters = {k: col_letter(first_col + i) for i, k in enumerate(keys)}
    by_key = {c.key: c for c in t.columns}
    if top > 1:
        ws.cell(row=top - 1, column=left, value="My gradient descent homework")
    if notes_column:
        ws.cell(row=top, column=left, value="notes")
        ws.cell(row=top + 3, column=left, value="this is where it gets interesting")
    for k, col in by_key.items():
        if k in letters:
            ws[f"{letters[k]}{top}"] = header(col.header) if header else col.header
    n = t.n_rows if rows is None else rows
    for k in range(n + extra_rows):
        r = top + 1 + k
        for key in keys:
            col = by_key[key]
            if k >= t.n_rows:
                value: Any = f"=B{r - 1}" if key == keys[1] else None
            elif columns and key in columns and (k >= len(col.head) or col.formula is None):
                value = columns[key](r, letters)
            else:
                value = _given(col, k, r, letters)
            if cells and (key, k) in cells:
                value = cells[(key, k)]
            if value is not None:
                ws[f"{letters[key]}{r}"] = value
    if rename:
        ws.title = rename
    wb.save(out)
    return out


def _given(col: Any, k: int, r: int, letters: dict[str, str]) -> Any:
    """The key's content of data row k at student row r: a constant or the formula with the student's letters."""
    if k < len(col.head):
        h = col.head[k]
        if not (isinstance(h, str) and h.startswith("=")):
            return float(col.values[k])
        template = h
    elif col.formula is None:
        return float(col.values[k])
    else:
        template = col.formula
    return _PLACEHOLDER.sub(lambda m: f"{letters[m.group(1)]}{r + int(m.group(2) or 0)}", template)


def formula(template: str) -> Callable[[int, dict[str, str]], str]:
    """A column formula from a template written with {key} / {key[-1]} placeholders."""
    return lambda r, letters: _PLACEHOLDER.sub(lambda m: f"{letters[m.group(1)]}{r + int(m.group(2) or 0)}",
                                               template)


def strip_names(text: str) -> str:
    return re.sub(r"\s+", "", text)


def paste_values(template: Path, source: Path, out: Path, **how: Any) -> Path:
    """Fill ``template`` with the table values of ``source`` (another student's finished workbook, e.g. a
    key) typed in — what Paste Special ▸ Values does — and save to ``out``."""
    layout = layout_of(template)
    t = layout.sheet(student_tables(layout)[0]).table
    assert t is not None
    src = read_workbook(source).sheet(t and layout.sheet(student_tables(layout)[0]).name)
    cells = {(c.key, k): src.values.get((t.top + 1 + k, t.column_index(c.key)))
             for c in t.columns if c.formula is not None for k in range(len(c.head), t.n_rows)}
    return fill(template, out, cells=cells | dict(how.pop("cells", {})), **how)


def set_author(path: Path, name: str) -> Path:
    """Save ``path`` again as if ``name`` had last saved it (docProps/core.xml lastModifiedBy)."""
    wb = openpyxl.load_workbook(path)
    wb.properties.lastModifiedBy = name
    wb.save(path)
    return path


def set_meta(path: Path, key: str, value: Any) -> Path:
    """Change (or with None, clear) one row of the hidden gdsheet sheet, as a curious student might."""
    wb = openpyxl.load_workbook(path)
    ws = wb["gdsheet"]
    for row in ws.iter_rows(min_col=1, max_col=2):
        if row[0].value == key:
            row[1].value = value
    wb.save(path)
    return path
