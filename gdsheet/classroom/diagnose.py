"""What is right and wrong in a student's table, cell by cell, and why.

The student's **own formulas** are evaluated by gdsheet's evaluator (cached
values in the file are never trusted: anyone can type any number there) and
every cell the student had to fill is compared with the numpy reference of
the student's variant, within :mod:`gdsheet.tolerance`.  Each cell gets one
diagnosis (``CellCheck.kind``):

``correct``
    the right value from a formula — any formula: ``=B2-learning_rate*(2*coef_a*B2+coef_b)``
    instead of referencing the f′ column is just as right.
``carried_forward``
    the value is wrong only because an earlier cell is: the key's formula,
    evaluated at this cell on the student's **own** cells (the exercise's
    parameters, the student's previous row), gives the student's value.  The
    rubric gives it credit.
``hardcoded``
    a number typed inside the formula where a parameter should be referenced:
    a literal equal to a named input (``0.02`` for ``learning_rate``) that the
    key's formula does not contain and that the student's formula does not
    reference — even when the value is right.
``typed``
    a number (or text) typed where a formula is expected — even the right number.
``wrong``
    a formula whose value is neither right nor explained by earlier cells.
``error``
    an error value (``#DIV/0!``, ``#VALUE!``, ``#REF!`` ...) not carried forward.
``fixed``
    right, but only for this workbook's inputs: the re-seeded check (:mod:`.reseed`)
    gives the student's formula other inputs and it no longer agrees.
``circular``, ``unsupported``, ``invalid``, ``external``
    a circular reference; a function gdsheet cannot evaluate; a formula it
    cannot read; a reference into another workbook (never followed).
``missing``
    the cell is empty (or its column was not found).

How carried-forward errors are recomputed: a scratch workbook holds the
exercise's reference inputs (named cells, data) and the student's values at
the layout's own addresses; each key formula, with every reference qualified
by its sheet, is placed on a scratch sheet at its cell's address and
evaluated once.  So the recomputation needs no knowledge of the exercise and
works for formulas that read other tables (a network's ``INDEX(Passes!..)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..exercises.base import _PLACEHOLDER, Layout, SheetLayout, Table, col_letter, render
from ..formula.errors import ExcelError, FormulaError
from ..formula.evaluator import Evaluation, evaluate
from ..formula.parser import (
    MAX_COL,
    MAX_ROW,
    ArrayConst,
    Binary,
    Bool,
    Call,
    ErrorLit,
    External,
    Missing,
    Name,
    Node,
    Number,
    Percent,
    Range,
    Ref,
    String,
    Unary,
    fill_down_template,
    parse,
    quote_sheet,
    substitute,
    to_shape,
    walk,
)
from ..tolerance import DEFAULT, Tolerance
from ..workbook.model import Formula, Sheet, Workbook
from .locate import Located, locate, student_tables
from .template import Blank, student_rows

SCRATCH = "gdsheet scratch"
MISTAKES = ("wrong", "hardcoded", "typed", "fixed", "error", "missing", "circular", "unsupported", "invalid",
            "external")
_PROBLEM_KINDS = {"circular": "circular", "unsupported": "unsupported", "syntax": "invalid", "external": "external"}


@dataclass
class CellCheck:
    """One cell the key computes with a formula, as the student has it."""

    sheet: str  # the student's sheet
    row: int
    col: int
    table: str  # the layout's sheet of the table
    key: str  # column key
    header: str
    index: int  # data row: 0 = iteration 0's row
    kind: str
    expected: Any
    found: Any = None
    formula: str | None = None  # the student's formula, "=..."
    expected_formula: str | None = None  # the key's formula written at the student's cell, "=..." (JSON only)
    explanation: str = ""  # what the column computes, in words (the layout's Column.explanation)
    scored: bool = True  # a cell the template left blank (given cells are checked, not scored)
    note: str = ""  # what to look at: the typed constant, where an error came from ...
    points: float = 0.0
    earned: float = 0.0

    @property
    def cell(self) -> str:
        return f"{quote_sheet(self.sheet)}!{col_letter(self.col)}{self.row}"

    @property
    def ok(self) -> bool:
        return self.kind in ("correct", "carried_forward")


@dataclass
class Diagnosis:
    cells: list[CellCheck]
    located: dict[str, Located]
    notes: list[str] = field(default_factory=list)
    # id(Formula) -> (parsed tree, R1C1 shape) of the formulas looked at: the re-seeded check and the
    # pattern check reuse them (a file saved by openpyxl has a Formula per cell, each parsed once)
    parsed: dict[int, Any] = field(default_factory=dict)


def diagnose(wb: Workbook, layout: Layout, blank: Blank, *, evaluation: Evaluation | None = None,
             tolerance: Tolerance = DEFAULT, parsed: dict[int, Any] | None = None) -> Diagnosis:
    """Diagnose every formula cell of the layout's student tables in ``wb`` (see the module doc).

    Raises :class:`~gdsheet.classroom.locate.TableNotFound` when a table cannot be found.
    """
    located = locate(wb, layout)
    ev = evaluation if evaluation is not None else evaluate(wb, strict=False)
    parsed = {} if parsed is None else parsed
    problems: dict[tuple[str, int, int], Any] = {}
    for p in ev.problems:
        problems.setdefault((p.sheet.lower(), p.row, p.col), p)
    todo = student_rows(layout, blank)
    params = _Params(layout, wb)
    cells: list[CellCheck] = []
    pending: list[tuple[CellCheck, str, int, int]] = []  # (cell, key formula text, layout row, layout col)
    notes: list[str] = []
    texts: list[tuple[CellCheck, str, Table, int, Located, Formula | None]] = []
    stale = 0
    stale_first = ""
    for name in student_tables(layout):
        sl = layout.sheet(name)
        table = sl.table
        assert table is not None
        loc = located[name]
        sheet = wb.sheets[loc.sheet]
        computed = ev.values.get(sheet.name, {})
        scored_rows = todo.get(name, {})
        for i, col in enumerate(table.columns):
            lc = table.left + i
            sc = loc.columns.get(col.key)
            literals = _KeyLiterals(col, table)
            scale = col.scale.tolist() if col.scale is not None else None
            values = col.values.tolist() if hasattr(col.values, "tolist") else list(col.values)
            scored = scored_rows.get(col.key, range(0))
            analyse = _FormulaCache(params, literals, parsed)
            qualify = _Qualified(table, name)
            for k, template in _formula_rows(col, len(values)):
                lr = table.top + 1 + k
                expected = values[k]
                r = loc.first_row + k
                chk = CellCheck(loc.sheet, r, sc or 0, name, col.key, col.header, k, "missing", expected,
                                scored=k in scored)
                cells.append(chk)
                texts.append((chk, template, table, lr, loc, None))
                if sc is None:
                    chk.note = f"no column headed {col.header!r} was found"
                    continue
                f = sheet.formulas.get((r, sc))
                if f is None:
                    v = sheet.values.get((r, sc))
                    if v is not None:
                        chk.kind, chk.found = "typed", v
                        chk.note = "a typed value where a formula is expected"
                    continue
                texts[-1] = (chk, template, table, lr, loc, f)
                found = computed.get((r, sc))
                chk.found = found
                s = scale[k] if scale is not None else None
                cached = sheet.values.get((r, sc))
                if cached is not None and not tolerance.agree(cached, found, s):
                    stale += 1
                    stale_first = stale_first or chk.cell
                p = problems.get((sheet.name.lower(), r, sc))
                if p is not None and p.kind in _PROBLEM_KINDS:
                    chk.kind, chk.note = _PROBLEM_KINDS[p.kind], p.message
                    continue
                hard = analyse.hardcoded(f, r, sc)
                if hard:
                    chk.kind, chk.note = "hardcoded", hard
                elif tolerance.agree(expected, found, s):
                    chk.kind = "correct"
                else:
                    chk.kind = "error" if isinstance(found, ExcelError) else "wrong"
                    pending.append((chk, qualify.at(template, lr), lr, lc))
    if pending:
        _carried_forward(wb, layout, located, ev, pending, tolerance)
    fills: dict[int, Any] = {}
    explanations = {(sl.name, c.key): c.explanation for sl in layout.sheets if sl.table is not None
                    for c in sl.table.columns}
    for chk, template, table, lr, loc, f in texts:  # formula texts, for people: only where something is wrong
        if chk.kind == "correct":
            continue
        chk.expected_formula = _render_at(template, table, lr, loc)
        chk.explanation = explanations.get((chk.table, chk.key), "")
        if f is not None:
            chk.formula = "=" + _text_at(f, chk.row, chk.col, fills)
    _causes(cells)
    if stale:
        notes.append(f"{stale} formula cell{'s' if stale != 1 else ''} (first {stale_first}) "
                     f"hold{'' if stale != 1 else 's'} a saved value that differs from what the formula "
                     "computes: the file was saved without recalculating; the formulas are what is checked")
    return Diagnosis(cells, located, notes, parsed)


def _formula_rows(col: Any, n: int) -> Iterator[tuple[int, str]]:
    """(data row, formula template) of every formula cell of a layout column."""
    for k, h in enumerate(col.head):
        if isinstance(h, str) and h.startswith("="):
            yield k, h
    if col.formula is not None:
        for k in range(len(col.head), n):
            yield k, col.formula


def _text_at(f: Formula, row: int, col: int, fills: dict[int, Any]) -> str:
    """The formula's text at (row, col): a shared formula's anchor text filled down to the cell."""
    if f.row == row and f.col == col:
        return f.text
    if id(f) not in fills:
        fills[id(f)] = fill_down_template(f.text, f.row)
    fill = fills[id(f)]
    if fill is not None and f.col == col:
        return fill(row)
    return f.text


def _render_at(template: str, table: Table, row: int, loc: Located) -> str:
    """The key's formula as it would read at the student's cell (for people: the student's columns)."""
    offset = loc.first_row - (table.top + 1)

    def sub(m: Any) -> str:
        c = loc.columns.get(m.group(1))
        if c is None:
            return f"[{m.group(1)}]"
        return f"{col_letter(c)}{row + offset + int(m.group(2) or 0)}"

    return _PLACEHOLDER.sub(sub, template)


# ------------------------------------------------------------ hard-coded constants


class _Params:
    """The exercise's named cells (inputs and derived values) and where the student has them."""

    def __init__(self, layout: Layout, wb: Workbook) -> None:
        self.values: dict[str, float] = {}
        for sl in layout.sheets:
            for cell in sl.cells:
                v = cell.value
                if cell.name and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
                        and abs(v) not in (0.0, 1.0):
                    self.values[cell.name.lower()] = float(v)
        self.cells: dict[tuple[str, int, int], str] = {
            (sheet.lower(), row, col): name for _, name, sheet, row, col in cell_names(wb) if name in self.values}


def cell_names(wb: Workbook) -> Iterator[tuple[str | None, str, str, int, int]]:
    """Every defined name that points at one cell of a named sheet: (scope, name, sheet, row, col)."""
    for (scope, name), text in wb.names.items():
        try:
            node = parse(text)
        except (FormulaError, ValueError):
            continue
        if isinstance(node, Ref) and node.sheet is not None:
            yield scope, name, node.sheet, node.row, node.col


class _KeyLiterals:
    """The numbers the key's own formulas for a column contain (never 'typed constants'),
    and the names they reference."""

    def __init__(self, col: Any, table: Table) -> None:
        self.values: set[float] = set()
        self.names: set[str] = set()
        templates = [h for h in col.head if isinstance(h, str) and h.startswith("=")]
        if col.formula is not None:
            templates.append(col.formula)
        for t in templates:
            try:
                node = parse(render(t, table, table.top + 1 + len(col.head))[1:])
            except (FormulaError, ValueError, KeyError):
                continue
            self.values |= {abs(n.value) for n in walk(node) if isinstance(n, Number)}
            self.names |= {n.name.lower() for n in walk(node) if isinstance(n, Name)}

    def __contains__(self, v: float) -> bool:
        return any(math.isclose(v, x, rel_tol=1e-12) for x in self.values)


def parsed_shape(f: Formula, parsed: dict[int, Any]) -> tuple[Node, Any] | None:
    """(tree, R1C1 shape) of a formula, remembered in ``parsed`` by the Formula's id; None if unreadable."""
    key = id(f)
    if key not in parsed:
        try:
            node = parse(f.text)
            parsed[key] = (node, to_shape(node, f.row, f.col))
        except (FormulaError, ValueError, RecursionError):
            parsed[key] = None
    return parsed[key]


class _FormulaCache:
    """Hard-coded-constant analysis, once per distinct formula shape."""

    def __init__(self, params: _Params, literals: _KeyLiterals, parsed: dict[int, Any]) -> None:
        self.params, self.literals, self.parsed = params, literals, parsed
        self.by_id: dict[int, str] = {}
        self.by_shape: dict[Any, str] = {}

    def hardcoded(self, f: Formula, row: int, col: int) -> str:
        hit = self.by_id.get(id(f))
        if hit is not None:
            return hit
        tree = parsed_shape(f, self.parsed)
        if tree is None:
            return ""
        node, shape = tree
        result = self.by_shape.get(shape)
        if result is None:
            result = self.by_shape[shape] = self._analyse(node, f)
        self.by_id[id(f)] = result
        return result

    def _analyse(self, node: Node, f: Formula) -> str:
        if not self.params.values:
            return ""
        names: set[str] = set()
        cells: set[str] = set()
        numbers: list[float] = []
        for n in walk(node):
            if isinstance(n, Number):
                numbers.append(abs(n.value))
            elif isinstance(n, Name):
                names.add(n.name.lower())
            elif isinstance(n, Ref) and n.sheet is not None:
                hit = self.params.cells.get((n.sheet.lower(), n.row, n.col))
                if hit:
                    cells.add(hit)
        for v in numbers:
            if v == 0 or v in self.literals:
                continue
            # a parameter the key's formula uses counts always; any other only when the number is
            # not a small whole number (2 in 2·a·x may equal a starting point of 2 by chance)
            small = v == int(v) and v <= 12
            for name, pv in self.params.values.items():
                if name in names or name in cells or (small and name not in self.literals.names):
                    continue
                if math.isclose(v, abs(pv), rel_tol=1e-9):
                    return f"{_num(v)} is typed into the formula where the cell {name} should be referenced"
        return ""


def _num(v: float) -> str:
    return f"{v:.15g}"


# ------------------------------------------------------------ carried forward


class _Qualified:
    """The key's formula of a column, qualified (:func:`_qualified`), at any row: built once per
    template and filled down by text (a column repeats one relative formula)."""

    def __init__(self, table: Table, sheet: str) -> None:
        self.table, self.sheet = table, sheet
        self.fills: dict[str, Any] = {}

    def at(self, template: str, row: int) -> str:
        fill = self.fills.get(template)
        if fill is None:
            text = _qualified(template, self.table, row, self.sheet)
            fill = self.fills[template] = fill_down_template(text, row) or (lambda r, t=template: _qualified(
                t, self.table, r, self.sheet))
        return fill(row)


def _qualified(template: str, table: Table, row: int, sheet: str) -> str:
    """The key's formula at layout cell ``row`` with every reference qualified by its sheet."""
    node = parse(render(template, table, row)[1:])

    def leaf(n: Node) -> Node | None:
        if isinstance(n, Ref) and n.sheet is None:
            return Ref(sheet, n.row, n.col, n.row_abs, n.col_abs)
        if isinstance(n, Range) and n.sheet is None:
            return Range(sheet, n.r1, n.c1, n.r2, n.c2, n.r1_abs, n.c1_abs, n.r2_abs, n.c2_abs)
        if isinstance(n, Name) and n.sheet is None:
            return Name(n.name, sheet)
        return None

    return a1_text(substitute(node, leaf))


def _carried_forward(wb: Workbook, layout: Layout, located: dict[str, Located], ev: Evaluation,
                     pending: list[tuple[CellCheck, str, int, int]], tolerance: Tolerance) -> None:
    """Recompute each pending cell with the key's formula on the student's own cells."""
    book = Workbook()
    for sl in layout.sheets:
        book.sheets[sl.name] = _reference_sheet(sl, located.get(sl.name), wb, ev)
        for cell in sl.cells:
            if cell.name:
                book.names[(None, cell.name.lower())] = f"{quote_sheet(sl.name)}!${col_letter(cell.col)}${cell.row}"
        for name, refers in sl.local_names.items():
            book.names[(sl.name, name.lower())] = refers.removeprefix("=")
    scratch: dict[str, Sheet] = {}  # one scratch sheet per table: the tables' addresses overlap
    for chk, text, r, c in pending:
        name = f"{SCRATCH} {chk.table}"
        sheet = scratch.get(name)
        if sheet is None:
            sheet = scratch[name] = book.sheets[name] = Sheet(name)
        sheet.formulas[(r, c)] = Formula(text, r, c)
    try:
        values = evaluate(book, sheets=list(scratch), strict=False).values
    except (FormulaError, RecursionError):
        return
    for chk, _, r, c in pending:
        v = values.get(f"{SCRATCH} {chk.table}", {}).get((r, c))
        if v is None or chk.found is None:
            continue
        scale = abs(chk.expected) if isinstance(chk.expected, float) and math.isfinite(chk.expected) else None
        if tolerance.agree(v, chk.found, scale):
            chk.kind = "carried_forward"


def _reference_sheet(sl: SheetLayout, loc: Located | None, wb: Workbook, ev: Evaluation) -> Sheet:
    """A layout sheet in the layout's addresses: reference inputs, the student's table values."""
    sheet = Sheet(sl.name)
    for cell in sl.cells:
        if cell.value is not None:
            sheet.values[(cell.row, cell.col)] = _py(cell.value)
    table = sl.table
    if table is None:
        return sheet
    first = table.top + 1
    if loc is None:  # a table of inputs (data): the reference's own values
        for i, col in enumerate(table.columns):
            for k, v in enumerate(col.values.tolist() if hasattr(col.values, "tolist") else col.values):
                v = _py(v)
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    sheet.values[(first + k, table.left + i)] = v
        return sheet
    src = wb.sheets[loc.sheet]
    computed = ev.values.get(src.name, {})
    for i, col in enumerate(table.columns):
        sc = loc.columns.get(col.key)
        if sc is None:
            continue
        lc = table.left + i
        for k in range(table.n_rows):
            key = (loc.first_row + k, sc)
            v = computed.get(key) if key in src.formulas else src.values.get(key)
            if v is not None:
                sheet.values[(first + k, lc)] = v
    return sheet


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, (np.floating, np.integer, np.bool_)) else v


def _causes(cells: list[CellCheck]) -> None:
    """Each carried-forward cell names the latest mistake at or above its row in its table."""
    by_table: dict[str, list[CellCheck]] = {}
    for c in cells:
        by_table.setdefault(c.table, []).append(c)
    for group in by_table.values():
        group.sort(key=lambda c: (c.index, c.col))
        last = ""
        for c in group:
            if c.kind in MISTAKES and c.kind != "missing":
                last = c.cell
            elif c.kind == "carried_forward":
                c.note = f"right formula; wrong only because of an earlier mistake ({last})" if last else \
                    "right formula applied to wrong values from an earlier row"


# ------------------------------------------------------------ formula text


def a1_text(node: Node) -> str:
    """A1 text of a parsed tree (absolute coordinates), fully parenthesised: for gdsheet's own parser."""
    if isinstance(node, Number):
        v = node.value
        return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)
    if isinstance(node, String):
        return '"' + node.value.replace('"', '""') + '"'
    if isinstance(node, Bool):
        return "TRUE" if node.value else "FALSE"
    if isinstance(node, ErrorLit):
        return node.code
    if isinstance(node, Missing):
        return ""
    if isinstance(node, Ref):
        return _prefix(node.sheet) + _cell(node.row, node.col, node.row_abs, node.col_abs)
    if isinstance(node, Range):
        p = _prefix(node.sheet)
        if node.r1 == 1 and node.r2 == MAX_ROW and node.r1_abs and node.r2_abs:
            return p + ("$" if node.c1_abs else "") + col_letter(node.c1) + ":" + \
                ("$" if node.c2_abs else "") + col_letter(node.c2)
        if node.c1 == 1 and node.c2 == MAX_COL and node.c1_abs and node.c2_abs:
            return p + ("$" if node.r1_abs else "") + str(node.r1) + ":" + ("$" if node.r2_abs else "") + str(node.r2)
        return p + _cell(node.r1, node.c1, node.r1_abs, node.c1_abs) + ":" + \
            _cell(node.r2, node.c2, node.r2_abs, node.c2_abs)
    if isinstance(node, Name):
        return _prefix(node.sheet) + node.name
    if isinstance(node, External):
        return node.text
    if isinstance(node, Unary):
        return f"{node.op}({a1_text(node.operand)})"
    if isinstance(node, Percent):
        return f"({a1_text(node.operand)})%"
    if isinstance(node, Binary):
        if node.op == ":":
            return f"{a1_text(node.left)}:{a1_text(node.right)}"
        return f"({a1_text(node.left)}){node.op}({a1_text(node.right)})"
    if isinstance(node, Call):
        return node.name + "(" + ",".join(a1_text(a) for a in node.args) + ")"
    if isinstance(node, ArrayConst):
        return "{" + ";".join(",".join(a1_text(x) for x in row) for row in node.rows) + "}"
    raise TypeError(f"not a formula node: {node!r}")


def _prefix(sheet: str | None) -> str:
    return "" if sheet is None else quote_sheet(sheet) + "!"


def _cell(row: int, col: int, row_abs: bool, col_abs: bool) -> str:
    return ("$" if col_abs else "") + col_letter(col) + ("$" if row_abs else "") + str(row)
