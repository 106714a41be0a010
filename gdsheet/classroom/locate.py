"""Find a student's iteration table by its header labels, wherever the student put it.

Students move things.  The table is found by the text of its headers, not by
its address, and the search tolerates what students do:

* headers in another case, with other spacing or underscores (``X_K``,
  ``f′(x_k)`` typed as ``f'(x_k)``), or the column's key (``x``, ``grad``);
* columns in another order, extra columns and notes between or beside them;
* the table not starting at A1 (a title above it, a column of notes left of it);
* blank rows between the header and iteration 0, rows beyond the last iteration;
* the sheet renamed: every visible and hidden sheet is searched (the hidden
  ``gdsheet`` metadata sheet excepted); a sheet with the layout's name wins a tie.

Each table of the layout is matched to one sheet: the row holding the most of
its headers (at least half of them, and at least two) is the header row.
Column ``key`` of data row ``k`` is then cell (``first_row + k``, ``columns[key]``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from ..exercises.base import Layout, Table, col_letter
from ..workbook.metadata import META_SHEET
from ..workbook.model import Sheet, Workbook

_TRANS = str.maketrans({"′": "'", "’": "'", "‘": "'", "`": "'", "´": "'", "−": "-", "–": "-", "—": "-",
                        "·": "*", "×": "*", "∗": "*", "⋅": "*"})
MAX_GAP = 5  # blank rows tolerated between the header and iteration 0


class TableNotFound(ValueError):
    """No sheet holds a table with (enough of) the layout's headers."""


def normalize(text: str) -> str:
    """Header text for comparison: NFKC, primes and dashes unified, case and spacing ignored."""
    t = unicodedata.normalize("NFKC", str(text)).translate(_TRANS).casefold()
    return re.sub(r"[\s_]+", "", t)


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z\u0370-\u03ff]", "", normalize(text))


@dataclass
class Located:
    table: str  # the layout's sheet name
    sheet: str  # the student's sheet holding it
    header_row: int
    first_row: int  # the student's row of data row 0
    columns: dict[str, int]  # column key -> the student's column
    missing: list[str] = field(default_factory=list)  # keys whose header was not found
    extra_rows: int = 0  # rows with content below the last required iteration

    def cell(self, key: str, k: int) -> tuple[int, int] | None:
        c = self.columns.get(key)
        return None if c is None else (self.first_row + k, c)

    def moved(self, table: Table) -> bool:
        if self.first_row != table.top + 1:
            return True
        return any(self.columns.get(c.key) != table.column_index(c.key) for c in table.columns
                   if c.key in self.columns)

    def describe(self, table: Table) -> str:
        text = f"'{self.sheet}'!{col_letter(min(self.columns.values()))}{self.header_row}"
        if self.sheet != self.table:
            text += f" (sheet '{self.table}' renamed)"
        return text


def student_tables(layout: Layout) -> list[str]:
    """The layout's sheets whose table has formula columns: the tables a student fills."""
    return [sl.name for sl in layout.sheets if sl.table is not None and any(c.formula for c in sl.table.columns)]


def locate(wb: Workbook, layout: Layout, tables: list[str] | None = None) -> dict[str, Located]:
    """Find every table in ``tables`` (default: :func:`student_tables`); TableNotFound if one is missing."""
    names = student_tables(layout) if tables is None else tables
    texts = {name: _row_texts(sheet) for name, sheet in wb.sheets.items() if sheet.name.lower() != META_SHEET}
    taken: set[str] = set()
    out: dict[str, Located] = {}
    for name in names:
        table = layout.sheet(name).table
        assert table is not None
        found = _best(wb, texts, table, name, taken)
        if found is None:
            heads = ", ".join(repr(c.header) for c in table.columns[:6])
            raise TableNotFound(f"no sheet has the table '{name}' (headers {heads}...)")
        taken.add(found.sheet)
        out[name] = found
    return out


def _row_texts(sheet: Sheet) -> dict[int, list[tuple[int, str]]]:
    rows: dict[int, list[tuple[int, str]]] = {}
    for (r, c), v in sheet.values.items():
        if isinstance(v, str) and v.strip() and len(v) <= 200:
            rows.setdefault(r, []).append((c, v))
    for cells in rows.values():
        cells.sort()
    return rows


def _best(wb: Workbook, texts: dict[str, dict[int, list[tuple[int, str]]]], table: Table, name: str,
          taken: set[str]) -> Located | None:
    wanted: dict[str, str] = {}
    for c in table.columns:
        wanted.setdefault(normalize(c.header), c.key)
    for c in table.columns:
        wanted.setdefault(normalize(c.key), c.key)
    need = min(len(table.columns), max(2, math.ceil(len(table.columns) / 2)))
    best: tuple[tuple[int, int, int, int], str, int, dict[str, int]] | None = None
    for sheet_name, rows in texts.items():
        if sheet_name in taken:
            continue
        same_name = int(sheet_name.casefold() == name.casefold())
        visible = int(wb.sheets[sheet_name].state == "visible")
        for r, cells in rows.items():
            matches: dict[str, int] = {}
            for c, v in cells:
                key = wanted.get(normalize(v))
                if key is not None and key not in matches:
                    matches[key] = c
            if len(matches) < need:
                continue
            rank = (len(matches), same_name, visible, -r)
            if best is None or rank > best[0]:
                best = (rank, sheet_name, r, matches)
    if best is None:
        return None
    _, sheet_name, header, matches = best
    _fallback(table, texts[sheet_name][header], matches)
    sheet = wb.sheets[sheet_name]
    cols = sorted(matches.values())
    first = header + 1
    for _ in range(MAX_GAP):
        if any((first, c) in sheet.values or (first, c) in sheet.formulas for c in cols):
            break
        first += 1
    else:
        first = header + 1
    last = first + table.n_rows - 1
    extra = {r for (r, c) in list(sheet.values) + list(sheet.formulas) if r > last and c in set(cols)}
    missing = [c.key for c in table.columns if c.key not in matches]
    return Located(name, sheet_name, header, first, matches, missing, len(extra))


def _fallback(table: Table, cells: list[tuple[int, str]], matches: dict[str, int]) -> None:
    """Headers still unmatched: compare letters and digits only, when that is unambiguous."""
    used = set(matches.values())
    free = [(c, _alnum(v)) for c, v in cells if c not in used]
    for col in table.columns:
        if col.key in matches:
            continue
        target = _alnum(col.header)
        if not target or sum(1 for other in table.columns if _alnum(other.header) == target) > 1:
            continue
        hits = [c for c, v in free if v == target]
        if len(hits) == 1:
            matches[col.key] = hits[0]
            free = [(c, v) for c, v in free if c != hits[0]]
