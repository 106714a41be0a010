"""Recalculate any workbook in Python and check the values cached in it.

A workbook stores, next to each formula, the value the program that saved it
computed: the *cached value* that pandas, previews and ``data_only`` readers
show.  It can be stale (saved by a tool that does not calculate, such as
openpyxl or a script), missing, or forged (typed into the XML).  :func:`recalc`
evaluates every formula cell of every sheet (or of the named ones) with
gdsheet's evaluator -- Excel semantics, dependency order, no spreadsheet
program needed -- and compares each result with the cached value:

* **differences** beyond the tolerance, cell by cell (cached, recalculated, formula);
* formula cells with **no cached value**;
* cells gdsheet does not compare, each listed with its cell: **volatile**
  functions (RAND, RANDBETWEEN, NOW, TODAY, OFFSET, INDIRECT -- also through a
  defined name), whose value legitimately changes at every recalculation;
  **circular references**; **unsupported functions**; unreadable formulas and
  references to other workbooks.  Such a cell keeps its cached value (see
  ``keep_cached`` in :func:`gdsheet.formula.evaluator.evaluate`), so that the
  cells computed from it are still checked against theirs.

The tolerance is gdsheet's (:mod:`gdsheet.tolerance`), with the size of the
terms taken from the formula itself: a cached value agrees when
``|cached − recalculated| ≤ 1e-9·|recalculated| + 1e-9·m``, where ``m`` is the
largest magnitude met inside the formula at that cell (its sub-expressions, the
cells of its ranges, and -- two references deep -- the same inside the formulas of
the cells it reads, so that ``=E12`` inherits the terms that cancelled in E12).
``m`` matters where a subtraction cancels: LibreOffice snaps such a result to 0
at every step, Excel only at a formula's last step, and both store 15 to 17
significant digits.  Error values agree with error values (engines do not always
pick the same code); text and booleans must be equal.

:attr:`RecalcReport.ok` (exit status 0) means every cached value is present and
agrees; a difference or a missing value is status 1.  Cells that are not
compared are listed but do not change the status.

``output``: a copy of the workbook whose cached values are the recalculated
ones, written by :mod:`gdsheet.workbook.cache_writer` -- every other part and
every other cell byte for byte.  Cells gdsheet did not compute keep theirs.
The input is never modified.
"""

from __future__ import annotations

import math
import os
import re
from itertools import compress, repeat
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .formula.compiler import SimpleContext, compile_shape
from .formula.errors import ExcelError, FormulaError
from .formula.evaluator import Evaluation, Problem, cell_name, evaluate, name_resolver
from .formula.functions import Area
from .formula.parser import External, Missing, Name, Number, Range, Ref, parse, to_shape, translate, walk
from .jsonvalue import jsonable as _jsonable
from .tolerance import DEFAULT, Tolerance
from .workbook.cellmap import CellMap
from .workbook.model import Sheet, Workbook
from .workbook.reader import read_workbook

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["recalc", "recalc_frames", "RecalcReport", "CellDiff", "CellNote"]

CellKey = tuple[int, int]
_UNSUPPORTED = re.compile(r"unsupported function (\S+)")


@dataclass
class CellDiff:
    """A formula cell whose cached value differs from the recalculated one."""

    cell: str  # Sheet!A1
    cached: Any
    recalculated: Any
    formula: str | None  # the cell's formula, without "="

    def line(self) -> str:
        text = f"{self.cell}: cached {_fmt(self.cached)}, recalculated {_fmt(self.recalculated)}"
        return text + (f" [={self.formula}]" if self.formula else "")


@dataclass
class CellNote:
    """A formula cell gdsheet does not compare, and why."""

    cell: str
    formula: str | None
    reason: str  # "volatile function RAND", "circular reference: A1 -> A2 -> A1", ...


@dataclass
class RecalcReport:
    path: str
    sheets: list[str]  # the sheets checked
    formula_cells: int = 0  # formula cells recalculated on those sheets (array ranges included)
    compared: int = 0  # cached values compared
    mismatches: list[CellDiff] = field(default_factory=list)  # the first max_listed, in sheet/row/column order
    mismatch_count: int = 0
    missing: list[str] = field(default_factory=list)  # formula cells without a cached value
    missing_count: int = 0
    volatile: list[CellNote] = field(default_factory=list)
    circular: list[CellNote] = field(default_factory=list)
    unsupported: dict[str, list[str]] = field(default_factory=dict)  # function -> cells
    other: list[CellNote] = field(default_factory=list)  # unreadable formulas, other workbooks
    not_compared: int = 0
    notes: list[str] = field(default_factory=list)
    tolerance: str = ""
    output: str | None = None  # the copy written with -o
    written: int = 0  # cached values written into it

    @property
    def ok(self) -> bool:
        """Every cached value present and in agreement with the recalculation."""
        return self.mismatch_count == 0 and self.missing_count == 0

    def to_dict(self) -> dict[str, Any]:
        d = _jsonable(asdict(self))
        d["ok"] = self.ok
        return d

    def text(self, limit: int = 5) -> str:
        name = Path(self.path).name
        lines = [f"{name}: {self.formula_cells} formula cells recalculated on {len(self.sheets)} "
                 f"sheet{'s' if len(self.sheets) != 1 else ''} ({', '.join(self.sheets)}), "
                 f"{self.compared} cached value{'s' if self.compared != 1 else ''} compared"]
        if self.mismatches:
            lines.append(f"MISMATCH {self.mismatches[0].line()}")
            lines += [f"  also {m.line()}" for m in self.mismatches[1:limit]]
            lines.append(f"{self.mismatch_count} cached value{'s differ' if self.mismatch_count != 1 else ' differs'} "
                         "from the recalculation")
        if self.missing_count:
            lines.append(f"no cached value: {self.missing_count} formula cell{'s' if self.missing_count != 1 else ''}"
                         f" ({_some(self.missing, self.missing_count, limit)})")
        if self.volatile:
            cells = [f"{n.cell} {n.reason.split()[-1]}" for n in self.volatile]
            lines.append(f"volatile, not compared: {len(self.volatile)} cell{'s' if len(self.volatile) != 1 else ''}"
                         f" ({_some(cells, len(cells), limit)})")
        cycles = list(dict.fromkeys(n.reason.removeprefix("circular reference: ") for n in self.circular))
        for path in cycles[:limit]:  # every cell of a cycle carries the same path: once each
            lines.append(f"circular reference, not compared: {path}")
        if len(cycles) > limit:
            lines.append(f"  ({len(self.circular)} cells on {len(cycles)} circular references in all)")
        for fn, cells in self.unsupported.items():
            lines.append(f"unsupported function {fn}, not compared: {len(cells)} cell{'s' if len(cells) != 1 else ''}"
                         f" ({_some(cells, len(cells), limit)})")
        for n in self.other[:limit]:
            lines.append(f"not compared: {n.cell}: {n.reason}")
        lines += [f"note: {n}" for n in self.notes]
        if self.ok:
            lines.append(f"OK: every cached value agrees with the recalculation ({self.tolerance})")
        elif self.mismatch_count:
            lines.append(f"DIFFERENT: {self.mismatch_count} of {self.compared} cached values differ"
                         + (f", {self.missing_count} missing" if self.missing_count else ""))
        else:
            lines.append(f"STALE: {self.missing_count} formula cell{'s have' if self.missing_count != 1 else ' has'} "
                         "no cached value")
        if self.output:
            lines.append(f"wrote {self.output}: {self.written} cached value{'s' if self.written != 1 else ''} "
                         "updated")
        return "\n".join(lines)


def _some(items: list[str], total: int, limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {total - min(limit, len(items))} more" if total > limit else "")


def _fmt(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, ExcelError):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v)) if v != 0 else "0"
    return repr(v)


# ------------------------------------------------------------------ evaluating


def _targets(wb: Workbook, path: str | os.PathLike[str], sheets: Iterable[str] | None) -> list[Sheet]:
    if sheets is None:
        return list(wb.sheets.values())
    out = []
    for name in sheets:
        try:
            sheet = wb.sheet(name)
        except KeyError:
            raise ValueError(f"{Path(path).name}: no sheet named {name!r} (sheets: {', '.join(wb.sheets)})") from None
        if sheet not in out:
            out.append(sheet)
    return out


def evaluate_file(path: str | os.PathLike[str], sheets: Iterable[str] | None = None
                  ) -> tuple[Workbook, list[Sheet], Evaluation]:
    """Read ``path`` and evaluate the formulas of ``sheets`` (default: all), cells that
    gdsheet cannot compute keeping their cached values.  Raises
    :class:`~gdsheet.workbook.safety.UnreadableWorkbook` (one line) when the file cannot
    be read and ``ValueError`` for an unknown sheet."""
    wb = read_workbook(path)  # every sheet: formulas on the targets may read any of them
    targets = _targets(wb, path, sheets)
    ev = evaluate(wb, [s.name for s in targets], strict=False, keep_cached=True)
    return wb, targets, ev


def recalc(path: str | os.PathLike[str], sheets: Iterable[str] | None = None, *,
           output: str | os.PathLike[str] | None = None, tolerance: Tolerance = DEFAULT,
           max_listed: int = 1000) -> RecalcReport:
    """Recalculate every formula of ``path`` (or of ``sheets``) and compare it with the
    cached values; see the module docstring.  ``output``: also write a copy whose cached
    values are the recalculated ones.  Lists keep the first ``max_listed`` cells (the
    counts are complete).  The input file is never modified.
    """
    if output is not None and Path(output).exists() and os.path.samefile(path, output):
        raise ValueError(f"{Path(output).name}: -o would overwrite the input workbook (it is never modified)")
    wb, targets, ev = evaluate_file(path, sheets)
    report = RecalcReport(str(path), [s.name for s in targets],
                          tolerance=f"|cached − recalculated| ≤ {tolerance.rtol:g}·|recalculated| + "
                                    f"{tolerance.atol:g}·(largest magnitude inside the formula)")
    problems = _cells(ev.problems, targets)  # not computed: never compared, never written
    volatile = _cells(ev.volatile, targets)  # computed (or kept): written when new, never compared
    scale = _Scale(wb, ev, tolerance)
    updates: dict[str, _Changes] = {}
    for sheet in targets:
        updates[sheet.name] = _check_sheet(report, sheet, ev.values.get(sheet.name, {}),
                                           problems.get(sheet.name, set()), volatile.get(sheet.name, set()),
                                           scale, tolerance, max_listed)
    _list_uncompared(report, wb, ev, max_listed)
    if wb.has_macros:
        report.notes.append("the workbook contains macros (never run)")
    if wb.external_links:
        report.notes.append(f"{wb.external_links} link{'s' if wb.external_links != 1 else ''} to other workbooks: "
                            "cells reading them keep their cached values")
    if output is not None:
        from .workbook.cache_writer import write_cached_values

        counts = write_cached_values(path, output, updates)
        report.output = str(output)
        report.written = sum(counts.values())
        planned = sum(u.count for u in updates.values())
        if report.written < planned:
            report.notes.append(f"{planned - report.written} recalculated values could not be written: their cells "
                                "are not in the file (e.g. the rest of an array formula saved by openpyxl)")
    return report


def _cells(found: list[Problem], targets: list[Sheet]) -> dict[str, set[CellKey]]:
    """Sheet -> the cells listed, with the rest of an array formula going with its anchor."""
    out: dict[str, set[CellKey]] = {}
    for p in found:
        out.setdefault(p.sheet, set()).add((p.row, p.col))
    for sheet in targets:
        cells = out.get(sheet.name)
        if cells and any(f.array_ref is not None for f in sheet.formulas.values()):
            cells.update(alias for alias, anchor in _array_anchors(sheet).items() if anchor in cells)
    return out


class _Changes(Mapping[CellKey, Any]):
    """The recalculated values that differ from the cached ones (what ``-o`` writes), as a
    read-only view: a million-row sheet needs no second dict of millions of entries."""

    def __init__(self, values: dict[CellKey, Any], cached: dict[CellKey, Any], skip: set[CellKey]) -> None:
        self.values, self.cached, self.skip = values, cached, skip
        self._count: int | None = None

    @property
    def count(self) -> int:
        if self._count is None:
            get, skip = self.cached.get, self.skip
            self._count = sum(1 for k, v in self.values.items()
                              if k not in skip and ((c := get(k)) is None or c.__class__ is not v.__class__ or c != v))
        return self._count

    def get(self, key: Any, default: Any = None) -> Any:
        v = self.values.get(key, _NOTHING)
        if v is _NOTHING or key in self.skip:
            return default
        c = self.cached.get(key)
        if c is not None and c.__class__ is v.__class__ and c == v:
            return default
        return v

    def __getitem__(self, key: CellKey) -> Any:
        v = self.get(key, _NOTHING)
        if v is _NOTHING:
            raise KeyError(key)
        return v

    def __iter__(self) -> Iterator[CellKey]:
        return (k for k in self.values if self.get(k, _NOTHING) is not _NOTHING)

    def __len__(self) -> int:
        return self.count


_NOTHING = object()


def _check_sheet(report: RecalcReport, sheet: Sheet, values: dict[CellKey, Any], problems: set[CellKey],
                 volatile: set[CellKey], scale: "_Scale", tolerance: Tolerance,
                 max_listed: int) -> _Changes:
    """Compare one sheet's recalculated formula cells with their cached values; return
    the values to write into a fresh copy (those that changed).

    A column the evaluator computed as an array (a filled-down column) whose cached values
    are all numbers is compared as arrays; every other cell one by one.  A million-row
    sheet so costs arrays, not millions of keys in lists."""
    report.formula_cells += len(values)
    updates = _Changes(values, sheet.values, problems)
    skip = problems | volatile
    bad: list[tuple[CellKey, Any, Any]] = []  # (cell, cached, recalculated)
    if isinstance(values, CellMap) and isinstance(sheet.values, CellMap):
        skip_cols = {c for _, c in skip}
        one_by_one: list[CellKey] = []
        for col, block in values.blocks.items():
            rows = range(block.start, block.stop)
            cached_arr = sheet.values.numbers(col, rows) if col not in skip_cols else None
            if cached_arr is None or np.isnan(block.data).any():
                one_by_one += [(r, col) for r in (np.flatnonzero(block.present()) + block.start).tolist()]
                continue
            report.compared += len(rows)
            suspects = np.flatnonzero(~tolerance.agree_many(block.data, cached_arr)).tolist()
            if suspects:
                keys = [(block.start + i, col) for i in suspects]
                found = block.data[suspects].tolist()
                cached = cached_arr[suspects].tolist()
                bad += [(keys[i], cached[i], found[i])
                        for i in scale.disagree(sheet, keys, found, cached, list(range(len(keys))))]
        one_by_one += list(values.extra)
        one_by_one.sort()
    else:
        one_by_one = list(values)
    bad += _check_cells(report, sheet, values, one_by_one, skip, scale, tolerance, max_listed)
    bad.sort(key=lambda item: item[0])
    report.mismatch_count += len(bad)
    aliases = _array_anchors(sheet) if bad else {}
    for k, cached_v, found_v in bad[:max(0, max_listed - len(report.mismatches))]:
        report.mismatches.append(CellDiff(cell_name(sheet.name, *k), cached_v, found_v,
                                          _formula_at(sheet, k, aliases)))
    return updates


def _check_cells(report: RecalcReport, sheet: Sheet, values: Any, cells: list[CellKey], skip: set[CellKey],
                 scale: "_Scale", tolerance: Tolerance, max_listed: int) -> list[tuple[CellKey, Any, Any]]:
    """The cell-by-cell comparison of ``cells`` (row-major); returns the disagreeing ones."""
    get = sheet.values.get
    keys = [k for k in cells if k not in skip] if skip else cells
    report.not_compared += len(cells) - len(keys)
    cached = list(map(get, keys))
    missing: list[CellKey] = []
    if None in cached or len(keys) < len(cells):  # compared or not, pandas sees nothing there
        missing = sorted(compress(cells, [c is None for c in map(get, cells)]))
    report.missing_count += len(missing)
    report.missing += [cell_name(sheet.name, *k) for k in missing[:max(0, max_listed - len(report.missing))]]
    if missing:
        keys = [k for k, c in zip(keys, cached) if c is not None]
        cached = list(map(get, keys))
    report.compared += len(keys)
    recalculated = list(map(values.__getitem__, keys))
    ok = tolerance.agree_many(recalculated, cached)
    suspects = np.nonzero(~ok)[0].tolist()
    bad = scale.disagree(sheet, keys, recalculated, cached, suspects) if suspects else []
    return [(keys[i], cached[i], recalculated[i]) for i in bad]


def _sizes_at(results: Any, constants: Any, rows: np.ndarray, col: int) -> np.ndarray:
    """The numbers at ``rows`` of column ``col`` (a computed value, else the cell's constant;
    0 for anything not a number), from column arrays where there are some."""
    out = np.full(len(rows), np.nan)
    for source in (results, constants):
        block = source.column(col) if isinstance(source, CellMap) else None
        if block is None or block.objs is not None:
            continue
        at = rows - block.start
        take = np.isnan(out) & (at >= 0) & (at < len(block.data))
        extra = source.extra
        if extra:  # a dict entry hides its block slot
            take &= np.fromiter(((int(r), col) not in extra for r in rows), dtype=bool, count=len(rows))
        out[take] = block.data[at[take]]
    for i in np.flatnonzero(np.isnan(out)).tolist():
        k = (int(rows[i]), col)
        v = results.get(k)
        if v is None:
            v = constants.get(k)
        out[i] = v if v.__class__ is float else 0.0
    return out


def _array_anchors(sheet: Sheet) -> dict[CellKey, CellKey]:
    """Cell covered by an array formula -> the formula's anchor."""
    from .formula.evaluator import _parse_rect

    out: dict[CellKey, CellKey] = {}
    for key, f in sheet.formulas.items():
        if f.array_ref is not None:
            r1, c1, r2, c2 = _parse_rect(f.array_ref, key)
            for r in range(r1, r2 + 1):
                for c in range(c1, c2 + 1):
                    if (r, c) != key and (r, c) not in sheet.formulas:
                        out[(r, c)] = key
    return out


def _formula_at(sheet: Sheet, key: CellKey, aliases: dict[CellKey, CellKey] | None = None) -> str | None:
    """The formula of a cell as Excel shows it there (a shared formula translated from its anchor)."""
    f = sheet.formulas.get(key)
    if f is None:
        anchor = (aliases or {}).get(key)
        if anchor is None or anchor not in sheet.formulas:
            return None
        return "{" + sheet.formulas[anchor].text + "}"
    if (f.row, f.col) == key:
        return f.text if f.array_ref is None else "{" + f.text + "}"
    return translate(f.text, key[0] - f.row, key[1] - f.col)


def _list_uncompared(report: RecalcReport, wb: Workbook, ev: Evaluation, max_listed: int) -> None:
    def formula(p: Problem) -> str | None:
        try:
            return _formula_at(wb.sheet(p.sheet), (p.row, p.col))
        except KeyError:
            return None

    for p in sorted(ev.volatile, key=lambda p: (p.sheet, p.row, p.col))[:max_listed]:
        report.volatile.append(CellNote(p.cell, formula(p), p.message))
    for p in sorted(ev.problems, key=lambda p: (p.sheet, p.row, p.col)):
        if p.kind == "circular":
            if len(report.circular) < max_listed:
                report.circular.append(CellNote(p.cell, formula(p), p.message))
        elif p.kind == "unsupported":
            m = _UNSUPPORTED.search(p.message)
            cells = report.unsupported.setdefault(m.group(1) if m else p.message, [])
            if len(cells) < max_listed:
                cells.append(p.cell)
        elif len(report.other) < max_listed:
            report.other.append(CellNote(p.cell, formula(p), p.message))


class _Scale:
    """The largest magnitude inside a formula at a cell -- its sub-expressions' values
    and the numbers in the ranges it reads: the ``m`` of the tolerance.  Needed only for
    cells that fail the plain relative test (a converged table has many: Excel snaps a
    cancelling final subtraction to 0 where the cached value may keep 1e-16), so it is
    found in two steps: the formula's literal numbers and the cells it references are
    sub-expressions too, and one of them is usually large enough on its own; only when
    none is are the sub-expressions evaluated.  Per formula (a shared formula is one
    object for its whole column) the references and compiled sub-expressions are
    prepared once.

    A formula that merely passes on a cancelled value (``=E12``, ``=2*F54``) has no
    large term of its own, but the cell it reads had: the magnitude of a referenced
    formula cell counts too, ``DEPTH`` references deep.
    """

    DEPTH = 2

    def __init__(self, wb: Workbook, ev: Evaluation, tolerance: Tolerance) -> None:
        self.wb = wb
        self.ev = ev
        self.tol = tolerance
        self.merged: dict[str, dict[CellKey, Any]] | None = None
        self.prepared: dict[tuple[str, int], Any] = {}
        self.magnitudes: dict[tuple[str, CellKey, int], float] = {}
        self.contexts: dict[str, SimpleContext] = {}
        self.resolve = name_resolver(wb)

    def disagree(self, sheet: Sheet, keys: list[CellKey], found: list[Any], cached: list[Any],
                 suspects: list[int]) -> list[int]:
        """The suspects (indexes into the lists) that fail ``tolerance.agree(found, cached, m)``
        with ``m`` for their cell.  Step one works on whole groups of cells sharing a
        formula at once."""
        # group by formula object (a shared formula is one object for its column), in C
        fids = np.fromiter(map(id, map(sheet.formulas.get, map(keys.__getitem__, suspects))), dtype=np.int64,
                           count=len(suspects))
        order = np.argsort(fids, kind="stable")
        sus = np.asarray(suspects)[order]
        bounds = np.flatnonzero(np.diff(fids[order])) + 1
        bad = []
        rtol, atol = self.tol.rtol, self.tol.atol
        for part in np.split(sus, bounds):
            idx = part.tolist()
            prep = self.prepare(sheet, keys[idx[0]])
            f_vals = list(map(found.__getitem__, idx))
            c_vals = list(map(cached.__getitem__, idx))
            if prep is None or not atol or not set(map(type, f_vals)) | set(map(type, c_vals)) <= {float}:
                # text, booleans, errors need no size; a formula gdsheet cannot take apart gets none
                bad += [i for i, a, b in zip(idx, f_vals, c_vals) if not self.tol.agree(a, b)
                        and (prep is None or a.__class__ is not float or b.__class__ is not float
                             or not self.tol.agree(a, b, self.magnitude(sheet, keys[i])))]
                continue
            literal, refs = prep[0], prep[1]
            f = np.array(f_vals)
            need = (np.abs(np.array(c_vals) - f) - rtol * np.abs(f)) / atol
            size = np.full(len(idx), literal)
            rows, cols = zip(*map(keys.__getitem__, idx))
            n = len(idx)
            one_col = len(set(cols)) == 1
            for _, results, constants, r, r_abs, c, c_abs in refs:
                if one_col or c_abs:  # the common case, a filled-down column: read the column arrays
                    at_rows = np.full(n, r) if r_abs else np.array(rows) + r
                    vals_arr = _sizes_at(results, constants, at_rows, c if c_abs else cols[0] + c)
                    size = np.maximum(size, np.abs(vals_arr))
                    continue
                at = list(zip(repeat(r, n) if r_abs else (np.array(rows) + r).tolist(),
                              repeat(c, n) if c_abs else (np.array(cols) + c).tolist()))
                vals = [v if v is not None else constants.get(k) for v, k in zip(map(results.get, at), at)]
                size = np.maximum(size, np.abs(np.array([v if v.__class__ is float else 0.0 for v in vals])))
            for j in np.nonzero(~(size >= need))[0].tolist():
                i = idx[j]
                if not self.tol.agree(found[i], cached[i], self.magnitude(sheet, keys[i])):
                    bad.append(i)
        return bad

    def magnitude(self, sheet: Sheet, key: CellKey, depth: int = 0) -> float:
        """The largest magnitude inside the formula of ``key`` and, ``DEPTH`` references
        deep, inside the formulas of the cells it reads."""
        memo = (sheet.name, key, depth)
        if memo in self.magnitudes:
            return self.magnitudes[memo]
        self.magnitudes[memo] = 0.0  # a cycle contributes nothing
        prep = self.prepare(sheet, key)
        biggest = 0.0
        if prep is not None:
            literal, refs = prep[0], prep[1]
            subs, ctx = self.subexpressions(sheet, prep)
            row, col = key
            biggest = max(literal, self.evaluate(subs, ctx, row, col))
            for target, results, constants, r, r_abs, c, c_abs in refs:
                at = (r if r_abs else row + r, c if c_abs else col + c)
                v = results.get(at)
                if v is None:
                    v = constants.get(at)
                if v.__class__ is float and math.isfinite(v):
                    biggest = max(biggest, abs(v))
                if depth < self.DEPTH and target is not None and at in target.formulas:
                    biggest = max(biggest, self.magnitude(target, at, depth + 1))
        self.magnitudes[memo] = biggest
        return biggest

    def merged_values(self) -> dict[str, dict[CellKey, Any]]:
        if self.merged is None:
            self.merged = {}
            for name, s in self.wb.sheets.items():
                vals = dict(s.values)  # constants, and cached values where nothing was computed
                vals.update(self.ev.values.get(name, {}))
                self.merged[name] = vals
        return self.merged

    def prepare(self, sheet: Sheet, key: CellKey) -> Any:
        f = sheet.formulas.get(key)
        if f is None:
            return None
        pkey = (sheet.name, id(f))
        if pkey in self.prepared:
            return self.prepared[pkey]
        prep = None
        try:
            shape = self.resolve(to_shape(parse(f.text), f.row, f.col), sheet.name)
        except (FormulaError, RecursionError, ValueError):
            shape = None
        if shape is not None:
            sheets = {name.lower(): s for name, s in self.wb.sheets.items()}
            literal = 0.0
            refs = []
            for node in walk(shape):
                if isinstance(node, Number):
                    literal = max(literal, abs(node.value))
                elif isinstance(node, Ref):
                    target = sheets.get((node.sheet or sheet.name).lower())
                    results = self.ev.values.get(target.name, {}) if target is not None else {}
                    constants = target.values if target is not None else {}
                    refs.append((target, results, constants, node.row, node.row_abs, node.col, node.col_abs))
            prep = [literal, refs, shape, None]  # the compiled sub-expressions: when first needed
        self.prepared[pkey] = prep
        return prep

    def subexpressions(self, sheet: Sheet, prep: list[Any]) -> tuple[list[tuple[bool, Any]], SimpleContext]:
        """The formula's sub-expressions compiled against the workbook's final values."""
        if prep[3] is None:
            ctx = self.contexts.get(sheet.name)
            if ctx is None:  # one per sheet: its views scan the sheet's cells once
                ctx = self.contexts[sheet.name] = SimpleContext(self.merged_values(), sheet.name)
            subs: list[tuple[bool, Any]] = []
            for node in walk(prep[2]):
                if isinstance(node, Range):
                    subs.append((True, node))
                elif not isinstance(node, (Name, External, Missing, Number, Ref)):
                    try:
                        subs.append((False, compile_shape(node, array=True).bind(ctx)))
                    except Exception:  # noqa: BLE001 - a sub-expression that cannot stand alone
                        continue
            prep[3] = (subs, ctx)
        return prep[3]

    @staticmethod
    def evaluate(subs: list[tuple[bool, Any]], ctx: SimpleContext, row: int, col: int) -> float:
        biggest = 0.0
        for is_range, item in subs:
            try:
                if is_range:
                    n = item
                    v: Any = ctx.view(n.sheet).area(n.r1 if n.r1_abs else row + n.r1,
                                                    n.c1 if n.c1_abs else col + n.c1,
                                                    n.r2 if n.r2_abs else row + n.r2,
                                                    n.c2 if n.c2_abs else col + n.c2)
                else:
                    v = item(row, col)
            except Exception:  # noqa: BLE001 - no size from a sub-expression that fails alone
                continue
            for x in (v.values() if isinstance(v, Area) else (v,)):
                if x.__class__ is float and math.isfinite(x) and abs(x) > biggest:
                    biggest = abs(x)
        return biggest


# ------------------------------------------------------------------ frames


def recalc_frames(path: str | os.PathLike[str], sheets: Iterable[str] | None = None, *,
                  header: bool = False) -> dict[str, "pd.DataFrame"]:
    """The recalculated values of every sheet (or of ``sheets``) as pandas DataFrames.

    ``header=False``: each sheet's used rectangle as it is laid out, indexed by the
    Excel row number, one column per column letter (``A``, ``B`` ...).  ``header=True``:
    the table under the sheet's first row of text, that row giving the column names
    (as :func:`gdsheet.read` does).  Formula cells hold the recalculated values
    (cells gdsheet cannot compute keep their cached ones); error values are NaN in a
    column of numbers, their code (``#DIV/0!``) elsewhere.
    """
    import pandas as pd

    from .formula.parser import col_to_letters
    from .workbook.frame import _column, sheet_frame

    wb, targets, ev = evaluate_file(path, sheets)
    out: dict[str, pd.DataFrame] = {}
    for sheet in targets:
        values = dict(sheet.values)
        values.update(ev.values.get(sheet.name, {}))
        if header:
            out[sheet.name] = sheet_frame(Sheet(sheet.name, values=values, formulas=sheet.formulas))
            continue
        if not values:
            out[sheet.name] = pd.DataFrame()
            continue
        rows = [r for r, _ in values]
        cols = [c for _, c in values]
        r1, r2, c1, c2 = min(rows), max(rows), min(cols), max(cols)
        if (r2 - r1 + 1) * (c2 - c1 + 1) > 50_000_000:
            raise ValueError(f"{Path(path).name}: sheet {sheet.name!r} spans {col_to_letters(c1)}{r1}:"
                             f"{col_to_letters(c2)}{r2}, too large for one DataFrame (use header=True)")
        data = {}
        for c in range(c1, c2 + 1):
            column = _column([values.get((r, c)) for r in range(r1, r2 + 1)])
            data[col_to_letters(c)] = column.to_numpy() if isinstance(column, pd.Series) else column
        out[sheet.name] = pd.DataFrame(data, index=pd.RangeIndex(r1, r2 + 1, name="row"))
    return out
