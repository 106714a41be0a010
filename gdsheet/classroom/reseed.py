"""The re-seeded check: the student's own formulas again, on other inputs.

A formula can give the right numbers for the inputs it was written against
and for no others: ``=B2-0.02*(10*B2+3)`` with 2a = 10 worked out by hand, a
number copied from a classmate's or the key's table into a formula, a column
that refers to a helper cell holding a typed result.  The value check cannot
see it (the numbers are right); this check can.  It

1. draws other parameters for the same exercise — :meth:`Exercise.reseed`, by
   default another variant (the quadratic: another x₀ and η, and other a, b, c;
   the network: other data and initial weights) — from a generator seeded with
   the variant id, so the same submission always gets the same second inputs;
2. writes them into a copy of the student's workbook model (named input
   cells, data sheets, the constants of the table's given rows — never a cell
   the student had to fill, so a typed value stays typed);
3. evaluates the student's formulas again and diagnoses them against the
   reference of the new parameters (:func:`~gdsheet.classroom.diagnose.diagnose`).

A cell that was right and is now wrong (not carried forward from another
such cell) becomes ``fixed``: "right only for these inputs".  Its note names
the typed constants of its formula (numbers the key's formula for the column
does not contain), or the typed-in cells it refers to.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from ..exercises.base import Exercise, Layout
from ..formula.errors import FormulaError
from ..formula.parser import Number, Ref, parse, quote_sheet, walk
from ..tolerance import Tolerance
from ..workbook.model import Sheet, Workbook
from .diagnose import Diagnosis, _KeyLiterals, cell_names, diagnose
from .locate import Located, student_tables
from .report import fmt
from .template import Blank

DRAWS = 20  # attempts at parameters that differ from the student's in every varied input


@dataclass
class Reseed:
    """What the re-seeded check changed and which cells failed it."""

    changed: dict[str, tuple[Any, Any]]  # parameter -> (the student's value, the re-seeded value)
    checked: int  # cells that were right and were checked again
    failed: list[Any] = field(default_factory=list)  # the CellChecks now of kind "fixed"

    def inputs_text(self) -> str:
        shown = [(k, a, b) for k, (a, b) in self.changed.items() if not k.startswith("_")]
        return ", ".join(f"{k} {_short(a)} → {_short(b)}" for k, a, b in shown[:8]) or "other data"

    def new_inputs(self) -> str:
        shown = [(k, b) for k, (_, b) in self.changed.items() if not k.startswith("_")]
        return ", ".join(f"{k} = {_short(b)}" for k, b in shown[:8]) or "other data"

    def text(self) -> str:
        head = f"re-seeded check ({self.inputs_text()}): "
        if not self.failed:
            return head + f"all {self.checked} right cells stay right"
        return head + f"{len(self.failed)} of {self.checked} right cells are right only for this workbook's inputs"

    def to_dict(self) -> dict[str, Any]:
        return {"changed": {k: [_plain(a), _plain(b)] for k, (a, b) in self.changed.items() if not k.startswith("_")},
                "checked": self.checked, "failed": len(self.failed), "cells": [c.cell for c in self.failed[:200]]}


def _short(v: Any) -> str:
    return fmt(v) if isinstance(v, float) else str(v)


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def other_params(ex: Exercise, params: dict[str, Any], seed: str) -> dict[str, Any] | None:
    """Parameters for the re-seeded check: every varied input different from ``params``; None if the
    exercise varies nothing."""
    rng = random.Random(f"gdsheet reseed\x00{seed}")
    for _ in range(DRAWS):
        try:
            alt = ex.resolve(ex.reseed(rng, dict(params)))
        except (ValueError, TypeError):
            continue
        varied = [k for k in alt if alt[k] != params.get(k)]
        if varied and all(alt[k] != params.get(k) for k in ex.variation):
            return alt
    return None


def reseeded(wb: Workbook, layout: Layout, ex: Exercise, params: dict[str, Any], blank: Blank, diag: Diagnosis,
             tolerance: Tolerance) -> Reseed | None:
    """Run the re-seeded check (see the module doc); mark failing cells ``fixed``; None when it cannot run."""
    right = [c for c in diag.cells if c.kind == "correct" and c.formula is None and c.col]
    if not right:
        return None
    alt_params = other_params(ex, params, repr(sorted((k, str(v)) for k, v in params.items())))
    if alt_params is None:
        return None
    try:
        alt_layout = ex.layout(alt_params)
    except (ValueError, OSError, KeyError):  # inputs read from a file at generation: not re-drawable
        return None
    copy, inputs = with_inputs(wb, layout, alt_layout, diag.located)
    if copy is None:
        return None
    alt = diagnose(copy, alt_layout, blank, tolerance=tolerance, parsed=diag.parsed)
    again = {(c.table, c.key, c.index): c for c in alt.cells}
    changed = {k: (params.get(k), v) for k, v in alt_params.items() if v != params.get(k)}
    out = Reseed(changed, len(right))
    literals: dict[tuple[str, str], _KeyLiterals] = {}
    for c in right:
        a = again.get((c.table, c.key, c.index))
        if a is None or a.ok or a.kind == "missing":
            continue
        c.kind = "fixed"
        c.formula = a.formula
        table = layout.sheet(c.table).table
        assert table is not None
        lit = literals.get((c.table, c.key))
        if lit is None:
            lit = literals[(c.table, c.key)] = _KeyLiterals(next(x for x in table.columns if x.key == c.key), table)
        c.note = (f"with {out.new_inputs()} it gives {fmt(a.found)} instead of {fmt(a.expected)}; "
                  f"{_constants(a.formula, c, lit, wb, inputs)}")
        out.failed.append(c)
    return out


def _constants(formula: str | None, c: Any, lit: _KeyLiterals, wb: Workbook, inputs: set[tuple[str, int, int]]
               ) -> str:
    """What the formula holds fixed: its typed numbers, else the typed-in cells it refers to."""
    if not formula:
        return "it depends on a typed number"
    try:
        node = parse(formula.removeprefix("="))
    except (FormulaError, ValueError, RecursionError):
        return "it depends on a typed number"
    numbers = sorted({n.value for n in walk(node) if isinstance(n, Number) and n.value not in (0, 1)
                      and abs(n.value) not in lit})
    if numbers:
        return "typed constants in its formula: " + ", ".join(f"{v:.15g}" for v in numbers[:6])
    cells = []
    for n in walk(node):
        if not isinstance(n, Ref):
            continue
        sheet_name = n.sheet or c.sheet
        try:
            sheet = wb.sheet(sheet_name)
        except KeyError:
            continue
        key = (sheet.name.lower(), n.row, n.col)
        v = sheet.values.get((n.row, n.col))
        if (n.row, n.col) not in sheet.formulas and isinstance(v, float) and key not in inputs:
            cells.append(f"{quote_sheet(sheet.name)}!{_a1(n.row, n.col)}")
    if cells:
        return "it refers to typed-in numbers in " + ", ".join(dict.fromkeys(cells))
    return "it depends, through other cells, on a typed number"


def _a1(row: int, col: int) -> str:
    from ..exercises.base import col_letter

    return f"{col_letter(col)}{row}"


# ---------------------------------------------------------------- the inputs


def with_inputs(wb: Workbook, layout: Layout, alt: Layout, located: dict[str, Located]
                ) -> tuple[Workbook | None, set[tuple[str, int, int]]]:
    """A copy of ``wb`` whose inputs hold ``alt``'s values, and every input position (sheet lower-cased,
    row, col) considered; (None, ...) when the layouts differ in structure."""
    copy = Workbook(dict(wb.sheets), dict(wb.names), wb.has_macros, wb.external_links, dict(wb.properties),
                    list(wb.limited))
    copied: set[str] = set()
    inputs: set[tuple[str, int, int]] = set()

    def put(sheet_name: str, row: int, col: int, value: Any) -> None:
        try:
            sheet = copy.sheet(sheet_name)
        except KeyError:
            return
        inputs.add((sheet.name.lower(), row, col))
        if (row, col) in sheet.formulas or value is None:
            return
        if sheet.name not in copied:
            sheet = copy.sheets[sheet.name] = Sheet(sheet.name, dict(sheet.values), sheet.formulas, sheet.state)
            copied.add(sheet.name)
        copy.sheets[sheet.name].values[(row, col)] = _py(value)

    named = _named_cells(wb)
    students = set(student_tables(layout))
    if [s.name for s in layout.sheets] != [s.name for s in alt.sheets]:
        return None, inputs
    for sl, sa in zip(layout.sheets, alt.sheets):
        if len(sl.cells) != len(sa.cells):
            return None, inputs
        for cell, new in zip(sl.cells, sa.cells):
            if new.value is None or isinstance(new.value, str) and new.value.startswith("="):
                continue
            where = named.get(cell.name.lower()) if cell.name else None
            if where is not None:
                put(where[0], where[1], where[2], new.value)
            elif cell.style == "input" or new.value != cell.value:
                put(sl.name, cell.row, cell.col, new.value)
        if sa.table is None or sl.table is None:
            continue
        loc = located.get(sl.name) if sl.name in students else None
        first = sl.table.top + 1
        for i, col in enumerate(sa.table.columns):
            values = col.values.tolist() if hasattr(col.values, "tolist") else list(col.values)
            constant = range(len(values)) if col.formula is None else \
                [k for k, h in enumerate(col.head) if not (isinstance(h, str) and h.startswith("="))]
            for k in constant:
                if k >= len(values):
                    continue
                if loc is None:
                    put(sl.name, first + k, sl.table.left + i, values[k])
                elif col.key in loc.columns:
                    put(loc.sheet, loc.first_row + k, loc.columns[col.key], values[k])
    return copy, inputs


def _named_cells(wb: Workbook) -> dict[str, tuple[str, int, int]]:
    return {name: (sheet, row, col) for scope, name, sheet, row, col in cell_names(wb) if scope is None}


def _py(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v
