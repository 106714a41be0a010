"""Prove that a gdsheet workbook computes what its numpy reference computes (``gdsheet verify``).

(The module is ``verifier`` so that ``gdsheet.verify`` stays the function.)

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
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .exercises import get as get_exercise
from .exercises.base import Exercise, Layout, SheetLayout, render
from .formula.errors import ExcelError, FormulaError
from .formula.evaluator import evaluate
from .formula.parser import col_to_letters, fill_down_template, parse, quote_sheet, to_shape
from .jsonvalue import jsonable as _jsonable
from .tolerance import DEFAULT, Tolerance
from .workbook.cellmap import CellMap, column_of
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
    order: tuple[int, int, int, int] = field(default=(0, 0, 0, 0), repr=False, compare=False)

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
    sheet_names: list[str] = field(default_factory=list, repr=False)
    tiny_powers: int = field(default=0, repr=False)  # LibreOffice #NUM! in a cell with a power

    def sheet_order(self, sheet: str) -> int:
        if sheet not in self.sheet_names:
            self.sheet_names.append(sheet)
        return self.sheet_names.index(sheet)

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def to_dict(self, limit: int = 100) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d.pop("sheet_names", None)
        d.pop("tiny_powers", None)
        d["mismatches"] = [_jsonable({k: v for k, v in asdict(m).items() if k != "order"})
                           for m in self.mismatches[:limit]]
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


# ------------------------------------------------------------------ reading


def load(path: str | os.PathLike[str]) -> tuple[Workbook, Exercise, dict[str, Any], list[str], Layout | None]:
    """The workbook, its exercise, the parameters its input cells hold now (with notes), and
    the layout for them when they are the generated ones (else None: the caller rebuilds it)."""
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
    try:
        params, notes, layout = exercise.from_workbook(generated, wb)
    except ValueError as exc:
        raise VerifyError(f"{Path(path).name}: {exc}") from None
    return wb, exercise, params, notes, layout


# ------------------------------------------------------------------ checking


def verify(path: str | os.PathLike[str], engines: Iterable[str] = (), *, evaluate_formulas: bool = True,
           tolerance: Tolerance = DEFAULT, max_listed: int = 1000,
           recalculated: dict[str, str | os.PathLike[str]] | None = None) -> Report:
    """Check ``path`` against its numpy reference; see the module docstring.

    ``engines``: any of "libreoffice", "gnumeric" — recalculate a stripped
    temporary copy there and compare its values too.  Raises VerifyError when
    the file cannot be verified at all.  The input file is never modified.
    ``recalculated``: engine name -> a copy of ``path`` that engine already recalculated
    (:func:`gdsheet.engines.recalculate_many` does many files in one engine run); compared
    like ``engines``.
    """
    wb, exercise, params, notes, layout = load(path)
    if layout is None:
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
    for engine, done in (recalculated or {}).items():  # recalculated already (e.g. many files in one run)
        try:
            engine_values[engine] = read_workbook(done)
        except UnreadableWorkbook as exc:
            raise VerifyError(f"{engine} wrote a file gdsheet cannot read: {exc}") from None
        sources.append(engine)
    notes = notes + exercise.report_notes(layout)
    report = Report(str(path), exercise.name, layout.params, sources, notes=notes,
                    tolerance=tolerance.describe())
    shapes = _Shapes()
    for sl in layout.sheets:
        try:
            sheet = wb.sheet(sl.name)
        except KeyError:
            report.mismatch_count += 1
            report.mismatches.append(Mismatch(f"{_quote(sl.name)}!A1", "formula", "a sheet", None,
                                              expected_formula=f"the sheet {sl.name!r}"))
            continue
        evaluated = computed.get(sheet.name, {})
        engine_sheets = {}
        for engine, ewb in engine_values.items():
            try:
                engine_sheets[engine] = ewb.sheet(sl.name).values
            except KeyError:
                engine_sheets[engine] = {}
        for group in _groups(sl):
            _check_group(report, sheet, group, shapes, evaluated, engine_sheets, tolerance,
                         evaluate_formulas, max_listed)
    if report.tiny_powers:
        report.notes.append(
            f"{report.tiny_powers} of the differences are #NUM! from LibreOffice (or cached by it) in a "
            "cell with a power, where numpy has a number: LibreOffice's ^ and POWER give #NUM! once the "
            "result is below 2.2e-308 (Excel shows 0, Gnumeric the number), which a long run of "
            "(1 − 2aη)^k, β^k or γ^k reaches")
    # sheet order, then row, column and source: the first line names the first broken cell
    report.mismatches.sort(key=lambda m: m.order)
    return report


@dataclass
class _Group:
    """Formula cells of one column that share one template (or one single cell)."""

    col: int
    rows: range
    template: str  # the generating template ("={x[-1]}-...") or the cell's own formula
    render: Callable[[int], str]  # formula text ("=...") for a row
    expected: list[Any]
    scale: list[float] | None


def _groups(sl: SheetLayout) -> Iterator[_Group]:
    for cell in sl.cells:
        if cell.formula is not None:
            text = cell.formula
            yield _Group(cell.col, range(cell.row, cell.row + 1), f"{cell.row}:{text}", lambda r, t=text: t,
                         [_py(cell.value)], [cell.scale] if cell.scale is not None else None)
    table = sl.table
    if table is None:
        return
    first = table.top + 1
    for i, col in enumerate(table.columns):
        c = table.left + i
        values = _floats_or_list(col.values)
        scales = _floats_or_list(col.scale) if col.scale is not None else None
        for k, h in enumerate(col.head):
            if isinstance(h, str) and h.startswith("="):
                yield _Group(c, range(first + k, first + k + 1), h, lambda r, h=h: render(h, table, r),
                             values[k:k + 1], scales[k:k + 1] if scales is not None else None)
        if col.formula is None or len(col.head) >= len(values):
            continue
        k0 = len(col.head)
        start = first + k0
        template = col.formula
        fill = fill_down_template(render(template, table, start), start)
        if fill is not None:
            def text_at(r: int, fill: Callable[[int], str] = fill) -> str:
                return "=" + fill(r).removeprefix("=")
        else:
            def text_at(r: int, t: str = template) -> str:
                return render(t, table, r)
        yield _Group(c, range(start, first + len(values)), template, text_at, values[k0:],
                     scales[k0:] if scales is not None else None)


def _floats_or_list(values: Any) -> Any:
    """A float64 array stays one (compared without a Python step per cell); anything else a list."""
    if isinstance(values, np.ndarray):
        return values if values.dtype == np.float64 else values.tolist()
    return list(values)


def _check_group(report: Report, sheet: Any, g: _Group, shapes: "_Shapes", evaluated: dict[Any, Any],
                 engine_sheets: dict[str, dict[Any, Any]], tolerance: Tolerance, evaluate_formulas: bool,
                 max_listed: int) -> None:
    """Compare one group: formulas by shape, then every value source as arrays."""
    c = g.col
    rows = g.rows
    report.checked += len(rows)
    def judge(f: Any) -> bool:
        r = f.row if f.col == c and f.row in rows else rows[0]
        if f.col == c and f.text == g.render(f.row)[1:]:
            return True  # the text the template gives at the formula's own anchor
        return shapes.same(f, sheet.name, g.template, g.render(r), r, c)

    formulas = sheet.formulas
    coded = formulas.codes(c, rows) if isinstance(formulas, CellMap) else None
    found_at: Callable[[int], Any]
    if coded is not None:  # a filled-down column: each distinct formula object judged once
        codes, table = coded
        lo, hi = (int(codes.min()), int(codes.max())) if len(codes) else (0, 0)
        distinct = [lo] if lo == hi else np.unique(codes).tolist()
        good = np.zeros(len(table) + 1, dtype=bool)  # the extra last slot: code -1, no formula
        for k in distinct:
            if k >= 0:
                good[k] = judge(table[k])
        bad_formula = np.flatnonzero(~good[codes]).tolist()

        def found_at(i: int) -> Any:
            k = int(codes[i])
            return table[k] if k >= 0 else None
    else:
        found = column_of(formulas, c, rows)
        verdict: dict[int, bool] = {}  # by id: a shared formula is one object for the whole column
        for i, f in dict(zip(map(id, found), found)).items():  # each distinct formula object once
            if f is not None:
                verdict[i] = judge(f)
        bad_formula = [i for i, f in enumerate(found) if f is None or not verdict[id(f)]]
        found_at = found.__getitem__
    expected = g.expected
    cached = column_of(sheet.values, c, rows, numbers=True)
    sources: list[tuple[str, Any, np.ndarray | None]] = []
    if evaluate_formulas:
        sources.append(("gdsheet", column_of(evaluated, c, rows, numbers=True), None))
    present = np.ones(len(rows), dtype=bool) if isinstance(cached, np.ndarray) else \
        np.fromiter((v is not None for v in cached), dtype=bool, count=len(cached))
    if not present.all() and "some formula cells carry no cached value" not in report.notes:
        report.notes.append("some formula cells carry no cached value")
    sources.append(("cached", cached, present))
    for engine, values in engine_sheets.items():
        sources.append((engine, column_of(values, c, rows, numbers=True), None))
    for i in bad_formula:
        _record(report, sheet.name, rows[i], c, "formula", expected[i], cached[i], found_at(i), g, 0, max_listed)
    for priority, (source, vals, mask) in enumerate(sources, start=1):
        ok = tolerance.agree_many(expected, vals, g.scale)
        if mask is not None:
            report.comparisons += int(mask.sum())
            ok |= ~mask
        else:
            report.comparisons += len(vals)
        for i in np.nonzero(~ok)[0].tolist():
            _record(report, sheet.name, rows[i], c, source, expected[i], vals[i], found_at(i), g, priority,
                    max_listed)


def _record(report: Report, sheet: str, row: int, col: int, source: str, expected: Any, found: Any,
            formula: Any, g: _Group, priority: int, max_listed: int) -> None:
    report.mismatch_count += 1
    if source in ("libreoffice", "cached") and isinstance(found, ExcelError) and str(found) == "#NUM!" \
            and isinstance(expected, (float, np.floating)) and math.isfinite(expected) \
            and ("^" in g.template or "POWER(" in g.template.upper()):
        report.tiny_powers += 1
    if len(report.mismatches) < max_listed:
        m = Mismatch(f"{_quote(sheet)}!{_a1(row, col)}", source, _py(expected), _py(found),
                     _text_at(formula, row, col),
                     g.render(row))
        m.order = (report.sheet_order(sheet), row, col, priority)
        report.mismatches.append(m)


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
    return f"{col_to_letters(col)}{row}"


_quote = quote_sheet


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
