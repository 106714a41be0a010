"""Prove that a gdsheet workbook computes what its numpy reference computes.

``verify`` reads the workbook, finds the exercise on its hidden metadata
sheet, takes the parameter values from the named input cells (a person may
have changed the learning rate on purpose: the tables follow, and so does the
reference), rebuilds the exercise's layout from them and compares, cell by
cell, every formula cell the layout defines:

* its **formula** must be the generated one (compared as relative R1C1
  shapes, so a resave that respaces or re-cases a formula still passes, while
  a typed constant or a typed-in learning rate fails even when its number
  happens to be right);
* the value **gdsheet's evaluator** computes from the workbook's own formulas;
* the **cached value** stored in the file, when there is one;
* optionally, the value a real engine (LibreOffice, Gnumeric) computes after
  its cached values were stripped.

Each source is held to :mod:`gdsheet.tolerance`.  Nothing here knows what an
exercise computes: the layout says where the formulas are and what they must
give.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .exercises import get as get_exercise
from .exercises.base import Exercise, Layout, SheetLayout, render
from .formula.errors import ExcelError, FormulaError
from .formula.evaluator import evaluate
from .formula.parser import parse, to_shape
from .tolerance import DEFAULT, Tolerance
from .workbook.metadata import META_SHEET, NotGdsheet, parse_metadata
from .workbook.model import Workbook
from .workbook.reader import read_workbook
from .workbook.safety import UnreadableWorkbook


class VerifyError(Exception):
    """The workbook cannot be verified at all (exit status 2); one line."""


@dataclass
class Mismatch:
    cell: str  # Sheet!A1
    source: str  # formula | gdsheet | cached | libreoffice | gnumeric
    expected: Any
    found: Any
    formula: str | None = None  # the formula found in the cell
    expected_formula: str | None = None

    def line(self) -> str:
        if self.source == "formula":
            if self.formula is None:
                return (f"{self.cell}: expected the formula {self.expected_formula}, "
                        f"found a typed value {_fmt(self.found)}")
            return f"{self.cell}: formula ={self.formula} differs from the generated {self.expected_formula}"
        text = f"{self.cell} ({_SOURCES.get(self.source, self.source)}): expected {_fmt(self.expected)}, " \
               f"found {_fmt(self.found)}"
        if self.formula:
            text += f" [={self.formula}]"
        return text


_SOURCES = {"gdsheet": "gdsheet evaluator", "cached": "cached value", "libreoffice": "LibreOffice",
            "gnumeric": "Gnumeric"}


def _fmt(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, float):
        return "overflow (#NUM!)" if not math.isfinite(v) else repr(v)
    if isinstance(v, ExcelError):
        return str(v)
    return repr(v)


@dataclass
class Report:
    path: str
    exercise: str
    params: dict[str, Any]
    sources: list[str]
    checked: int = 0  # formula cells
    comparisons: int = 0  # cell x source
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    notes: list[str] = field(default_factory=list)
    tolerance: str = DEFAULT.describe()

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def to_dict(self, limit: int = 100) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["mismatches"] = [_jsonable(asdict(m)) for m in self.mismatches[:limit]]
        d["params"] = _jsonable(self.params)
        return d

    def text(self) -> str:
        lines = [f"{Path(self.path).name}: {self.exercise} workbook, {self.checked} formula cells checked "
                 f"against numpy ({', '.join(_SOURCES.get(s, s) for s in self.sources)})"]
        lines += [f"note: {n}" for n in self.notes]
        if self.ok:
            lines.append(f"OK: every cell agrees within the tolerance ({self.tolerance})")
        else:
            lines.append(f"MISMATCH {self.mismatches[0].line()}")
            for m in self.mismatches[1:5]:
                lines.append(f"  also {m.line()}")
            if self.mismatch_count > 1:
                lines.append(f"{self.mismatch_count} differences in all")
        return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, ExcelError):
        return str(v)
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return "#NUM!"
    return v


# ------------------------------------------------------------------ reading


def load(path: str | os.PathLike[str]) -> tuple[Workbook, Exercise, dict[str, Any], list[str]]:
    """The workbook, its exercise, and the parameters its input cells hold now (with notes)."""
    try:
        wb = read_workbook(path)
    except UnreadableWorkbook as exc:
        raise VerifyError(str(exc)) from None
    meta_sheet = next((s for s in wb.sheets.values() if s.name.lower() == META_SHEET), None)
    if meta_sheet is None:
        raise VerifyError(f"{Path(path).name}: not a gdsheet workbook (no gdsheet metadata sheet)")
    try:
        meta = parse_metadata(meta_sheet.values)
        exercise = get_exercise(meta["exercise"])
    except (NotGdsheet, ValueError) as exc:
        raise VerifyError(f"{Path(path).name}: {exc}") from None
    try:
        generated = exercise.resolve(meta["params"])
    except ValueError as exc:
        raise VerifyError(f"{Path(path).name}: damaged gdsheet metadata ({exc})") from None
    inputs = input_values(wb, exercise.layout(generated))
    params, notes = exercise.from_inputs(generated, inputs)
    return wb, exercise, params, notes


def input_values(wb: Workbook, layout: Layout) -> dict[str, Any]:
    """The current value of every named input cell of ``layout`` in ``wb``."""
    out: dict[str, Any] = {}
    for sl in layout.sheets:
        for cell in sl.cells:
            if cell.name and cell.style == "input":
                try:
                    out[cell.name] = wb.sheet(sl.name).values.get((cell.row, cell.col))
                except KeyError:
                    pass
    return out


# ------------------------------------------------------------------ checking


def verify(path: str | os.PathLike[str], engines: Iterable[str] = (), *, evaluate_formulas: bool = True,
           tolerance: Tolerance = DEFAULT, max_listed: int = 1000) -> Report:
    """Check ``path`` against its numpy reference; see the module docstring.

    ``engines``: any of "libreoffice", "gnumeric" — recalculate a stripped
    temporary copy there and compare its values too.  Raises VerifyError when
    the file cannot be verified at all.  The input file is never modified.
    """
    wb, exercise, params, notes = load(path)
    layout = exercise.layout(params)
    sources = ["gdsheet"] if evaluate_formulas else []
    sources.append("cached")
    computed: dict[str, dict[tuple[int, int], Any]] = {}
    if evaluate_formulas:
        try:
            computed = evaluate(wb, strict=True).values
        except FormulaError as exc:
            raise VerifyError(f"{Path(path).name}: {exc}") from None
    engine_values: dict[str, Workbook] = {}
    for engine in engines:
        engine_values[engine] = _engine_workbook(path, engine)
        sources.append(engine)
    report = Report(str(path), exercise.name, params, sources, notes=notes,
                    tolerance=tolerance.describe())
    shapes = _Shapes()
    for sl in layout.sheets:
        try:
            sheet = wb.sheet(sl.name)
        except KeyError:
            report.mismatch_count += 1
            report.mismatches.append(Mismatch(f"{sl.name}!A1", "formula", "a sheet", None,
                                              expected_formula=f"the sheet {sl.name!r}"))
            continue
        evaluated = computed.get(sheet.name, {})
        for row, col, template, text, expected, scale in _formula_cells(sl):
            report.checked += 1
            ref = f"{_quote(sl.name)}!{_a1(row, col)}"
            key = (row, col)
            found_formula = sheet.formulas.get(key)
            listed = len(report.mismatches) < max_listed

            def bad(source: str, found: Any) -> None:
                report.mismatch_count += 1
                if len(report.mismatches) < max_listed:
                    report.mismatches.append(Mismatch(ref, source, expected, found,
                                                      _text_at(found_formula, row, col), text))

            if found_formula is None:
                bad("formula", sheet.values.get(key))
                continue
            if not shapes.same(found_formula, sl.name, template, text, row, col):
                bad("formula", sheet.values.get(key))
            s = float(scale) if scale is not None else None
            if evaluate_formulas:
                report.comparisons += 1
                if not tolerance.agree(expected, evaluated.get(key), s):
                    bad("gdsheet", evaluated.get(key))
            if key in sheet.values:
                report.comparisons += 1
                if not tolerance.agree(expected, sheet.values[key], s):
                    bad("cached", sheet.values[key])
            elif listed and not report.notes.count("some formula cells carry no cached value"):
                report.notes.append("some formula cells carry no cached value")
            for engine, ewb in engine_values.items():
                report.comparisons += 1
                try:
                    v = ewb.sheet(sl.name).values.get(key)
                except KeyError:
                    v = None
                if not tolerance.agree(expected, v, s):
                    bad(engine, v)
    # report in sheet order, then by source priority: the first line is the first broken cell
    return report


def _formula_cells(sl: SheetLayout) -> Iterator[tuple[int, int, str, str, Any, float | None]]:
    """(row, col, template, formula text, expected value, scale) of every formula cell of a sheet."""
    for cell in sl.cells:
        if cell.formula is not None:
            yield cell.row, cell.col, f"{cell.row}:{cell.formula}", cell.formula, _py(cell.value), cell.scale
    table = sl.table
    if table is None:
        return
    first = table.top + 1
    for i, col in enumerate(table.columns):
        c = table.left + i
        values = col.values.tolist() if isinstance(col.values, np.ndarray) else list(col.values)
        scales = col.scale.tolist() if col.scale is not None else None
        for k, v in enumerate(values):
            if k < len(col.head):
                h = col.head[k]
                if not (isinstance(h, str) and h.startswith("=")):
                    continue
                template = h
            elif col.formula is None:
                continue
            else:
                template = col.formula
            yield first + k, c, template, render(template, table, first + k), v, scales[k] if scales else None


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, (np.floating, np.integer)) else v


class _Shapes:
    """Formula comparison as R1C1 shapes, each distinct formula parsed once."""

    def __init__(self) -> None:
        self.found: dict[Any, Any] = {}
        self.expected: dict[tuple[str, int, str], Any] = {}

    def same(self, found: Any, sheet: str, template: str, text: str, row: int, col: int) -> bool:
        """Same formula up to spacing, case, ``_xlfn.`` prefixes and equivalent A1 text."""
        exp = text[1:] if text.startswith("=") else text
        if found.row == row and found.col == col and found.text == exp:
            return True
        key = (sheet, col, template)
        if key not in self.expected:
            self.expected[key] = self._shape(exp, row, col)
        if found not in self.found:
            self.found[found] = self._shape(found.text, found.row, found.col)
        shape = self.found[found]
        return shape is not None and shape == self.expected[key]

    @staticmethod
    def _shape(text: str, row: int, col: int) -> Any:
        try:
            return to_shape(parse(text), row, col)
        except (FormulaError, ValueError, RecursionError):
            return None


def _text_at(formula: Any, row: int, col: int) -> str | None:
    if formula is None:
        return None
    if formula.row == row and formula.col == col:
        return formula.text
    return f"{formula.text} (shared from {_a1(formula.row, formula.col)})"


def _a1(row: int, col: int) -> str:
    from .exercises.base import col_letter

    return f"{col_letter(col)}{row}"


def _quote(name: str) -> str:
    from .workbook.writer import quote_sheet

    return quote_sheet(name)


def _engine_workbook(path: str | os.PathLike[str], engine: str) -> Workbook:
    from .engines import EngineError, recalculate

    with tempfile.TemporaryDirectory(prefix="gdsheet-verify-") as tmp:
        try:
            out = recalculate(Path(path), engine, out_dir=Path(tmp))
        except EngineError as exc:
            raise VerifyError(str(exc)) from None
        try:
            return read_workbook(out)
        except UnreadableWorkbook as exc:
            raise VerifyError(f"{engine} wrote a file gdsheet cannot read: {exc}") from None
