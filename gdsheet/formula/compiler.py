"""Formula shape -> Python function, generated as source and compiled once per shape.

Why generate source: a 100,000-row gradient-descent table is 400,000 formula
cells but only a handful of distinct shapes (see :func:`parser.to_shape`).
Walking a syntax tree for every cell costs tens of microseconds per cell; a
function generated for the shape costs about one.  The generated code keeps
values as plain Python floats (never numpy scalars: indexing numpy element by
element in a Python loop is ~10x slower, see speed.md), inlines the all-float
fast path of ``+ - * /`` and integer powers, and calls the Excel-semantics
helpers of :mod:`functions` for everything else (text, booleans, errors, empty
cells).  Every arithmetic step is one IEEE operation in the formula's own order,
and a non-finite intermediate becomes ``#NUM!`` at once, as in Excel.

A compiled shape is bound to a :class:`Context` (which sheet "the current sheet"
is, where other sheets' values live) before use; ``compiled.bind(ctx)`` returns a
plain ``f(row, col) -> value``.  ``compiled(ctx, row, col)`` does both for
one-off use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Protocol

from . import functions as fx
from .errors import ERRORS_BY_CODE, NAME, NUM, REF, VALUE, ExcelError, FormulaSyntaxError, UnsupportedFunction
from .functions import FUNCTIONS, OMITTED, Area, Value
from .parser import (
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
    deep_recursion,
)
from .parser import parse as parse_formula
from .parser import walk

__all__ = [
    "Context",
    "SheetView",
    "SimpleContext",
    "CompiledShape",
    "compile_shape",
    "MISSING",
]

CellKey = tuple[int, int]


class SheetView(Protocol):
    """What compiled code reads from one sheet."""

    name: str
    results: dict[CellKey, Value]  # computed formula values; an absent key goes through miss()

    def miss(self, row: int, col: int) -> Value:
        """Value of a cell absent from ``results``: its constant, None (empty), #REF!
        (outside the sheet), or raise to ask the evaluator to compute a pending
        formula first."""

    def const(self, row: int, col: int) -> Value:
        """The value of a cell that cannot change during evaluation (a constant,
        an empty cell, #REF! outside the sheet), or MISSING for a formula cell.
        Compiled code reads absolute references to constants once, when bound."""

    def area(self, r1: int, c1: int, r2: int, c2: int) -> Area | ExcelError:
        """The rectangle as an Area (or #REF! when it leaves the sheet)."""


class Context(Protocol):
    def view(self, sheet: str | None) -> SheetView:
        """The view of ``sheet`` (None: the sheet the formula is on).  A sheet that
        does not exist gives a view whose every cell is #REF!."""


class MissingSentinel:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = MissingSentinel()


# ------------------------------------------------------------ simple context
class _DictView:
    def __init__(self, name: str, values: dict[CellKey, Value] | None) -> None:
        self.name = name
        self.exists = values is not None
        self.values = {} if values is None else values
        self.results = self.values
        keys = list(self.values)
        self.max_row = max((k[0] for k in keys), default=0)
        self.max_col = max((k[1] for k in keys), default=0)

    def miss(self, row: int, col: int) -> Value:
        if not self.exists or row < 1 or col < 1 or row > MAX_ROW or col > MAX_COL:
            return REF
        return None

    def const(self, row: int, col: int) -> Value:
        v = self.values.get((row, col))
        return self.miss(row, col) if v is None else v

    def area(self, r1: int, c1: int, r2: int, c2: int) -> Area | ExcelError:
        if not self.exists or r1 < 1 or c1 < 1 or r2 > MAX_ROW or c2 > MAX_COL:
            return REF
        get = self.values.get
        rows = [[get((r, c)) for c in range(c1, min(c2, self.max_col) + 1)]
                for r in range(r1, min(r2, self.max_row) + 1)]
        return Area(rows, r2 - r1 + 1, c2 - c1 + 1, self, r1, c1)


class SimpleContext:
    """A context over plain dicts of values, without dependency tracking: for
    evaluating a shape against known values (tests, one-off checks)."""

    def __init__(self, sheets: dict[str, dict[CellKey, Value]], sheet: str) -> None:
        self._sheets = {name.lower(): (name, vals) for name, vals in sheets.items()}
        self.sheet = sheet
        self._views: dict[str | None, _DictView] = {}

    def view(self, sheet: str | None) -> _DictView:
        key = (sheet or self.sheet).lower()
        v = self._views.get(key)
        if v is None:
            name, vals = self._sheets.get(key, (sheet or self.sheet, None))
            v = self._views[key] = _DictView(name, vals)
        return v


# ------------------------------------------------------------------ helpers
def _range_op(a: Value, b: Value) -> Value:
    """``x:y`` where an end is not a plain cell (``INDEX(..):INDEX(..)``)."""
    if a.__class__ is ExcelError:
        return a
    if b.__class__ is ExcelError:
        return b
    if a.__class__ is not Area or b.__class__ is not Area or a.sheet is None or b.sheet is None:
        return VALUE
    if a.sheet is not b.sheet:
        return VALUE
    r1 = min(a.r1, b.r1)
    c1 = min(a.c1, b.c1)
    r2 = max(a.r1 + a.nrows - 1, b.r1 + b.nrows - 1)
    c2 = max(a.c1 + a.ncols - 1, b.c1 + b.ncols - 1)
    return a.sheet.area(r1, c1, r2, c2)


def _index_pos(view: Any, r1: int, c1: int, r2: int, c2: int, rv: Value, cv: Value) -> Any:
    """``INDEX(reference, row[, col])`` reading only the one cell it picks: its (row, col).

    The generic INDEX receives the whole reference as an Area: for
    ``INDEX(Iterations!$C:$C, k)`` that copies the used column (O(rows) per
    cell, quadratic over a table) and waits until every formula in it is
    computed, even cells that depend on this one (a false cycle).  Here the
    position is computed first and only that cell is read.  Returns the
    position as a tuple, or the result itself when it is not one cell: an
    error, or (an index of 0, one index into a 2-D area) the generic INDEX's
    whole row/column.
    """
    if rv.__class__ is float and cv is OMITTED and c1 == c2:
        r = int(rv)  # the common case: INDEX(column, row)
        if 0 < r <= r2 - r1 + 1:
            return (r1 + r - 1, c1)
    if rv.__class__ is Area or cv.__class__ is Area:
        rv = fx.implicit_intersection(rv, r1, c1) if rv.__class__ is Area else rv
        cv = fx.implicit_intersection(cv, r1, c1) if cv.__class__ is Area else cv
    nrows, ncols = r2 - r1 + 1, c2 - c1 + 1
    r = fx._int_arg(rv, 0)
    if r.__class__ is ExcelError:
        return r
    c = fx._int_arg(cv, 0)
    if c.__class__ is ExcelError:
        return c
    if cv is OMITTED and nrows == 1 and ncols > 1:
        r, c = (1, r) if r != 0 else (0, 0)
    elif cv is OMITTED and ncols == 1:
        c = 1
    if r < 0 or c < 0:
        return VALUE
    if r > nrows or c > ncols:
        return REF
    if r == 0 or c == 0:
        return FUNCTIONS["INDEX"].impl(view.area(r1, c1, r2, c2), rv, cv)  # type: ignore[misc]
    return (r1 + r - 1, c1 + c - 1)


def _index_lazy(view: Any, r1: int, c1: int, r2: int, c2: int, rv: Value, cv: Value) -> Value:
    """INDEX on a reference as a reference (for ``INDEX(..):INDEX(..)`` and range arguments)."""
    pos = _index_pos(view, r1, c1, r2, c2, rv, cv)
    if pos.__class__ is tuple:
        return view.area(pos[0], pos[1], pos[0], pos[1])
    return pos


_INDIRECT_R1C1 = re.compile(
    r"^R(\[-?\d+\]|\d+)?C(\[-?\d+\]|\d+)?(?::R(\[-?\d+\]|\d+)?C(\[-?\d+\]|\d+)?)?$", re.I)
_Target = tuple[str | None, int, int, int, int, tuple[Any, ...]]
_INDIRECT_CACHE: dict[tuple[str, bool], _Target | None] = {}


def _r1c1_axis(text: str | None, here: int) -> int:
    if not text:
        return here
    if text.startswith("["):
        return here + int(text[1:-1])
    return int(text)


def _indirect_target(text: str, a1: bool) -> _Target | None:
    """(sheet, r1, c1, r2, c2, R1C1 axes) of a reference written as text, or None.

    In A1 style every coordinate is absolute (the axes are unused); in R1C1 style the
    four axis texts (``"3"``, ``"[-1]"``, or None for "this row/column") are resolved
    against the formula's cell by the caller.
    """
    key = (text, a1)
    if key in _INDIRECT_CACHE:
        return _INDIRECT_CACHE[key]
    result = None
    if a1:
        try:
            node = parse_formula(text)
        except FormulaSyntaxError:
            node = None
        if node.__class__ is Ref:
            result = (node.sheet, node.row, node.col, node.row, node.col, ())
        elif node.__class__ is Range:
            result = (node.sheet, node.r1, node.c1, node.r2, node.c2, ())
    else:
        sheet = None
        body = text
        if "!" in text:
            sheet_text, _, body = text.rpartition("!")
            if sheet_text.startswith("'") and sheet_text.endswith("'") and len(sheet_text) >= 2:
                sheet_text = sheet_text[1:-1].replace("''", "'")
            sheet = sheet_text or None
        m = _INDIRECT_R1C1.match(body.strip())
        if m is not None and "[" not in (sheet or ""):
            g = m.groups()
            if g[2] is None and g[3] is None and ":" not in body:
                g = (g[0], g[1], g[0], g[1])
            result = (sheet, 0, 0, 0, 0, g)  # type: ignore[arg-type]
    if len(_INDIRECT_CACHE) > 4096:
        _INDIRECT_CACHE.clear()
    _INDIRECT_CACHE[key] = result
    return result


def _indirect(ctx: Any, text: Value, a1: Value, row: int, col: int) -> Value:
    """INDIRECT(text[, a1]): the reference the text names, read through the context
    (a dependency found at run time is waited for like any other).  Defined names and
    other workbooks are not resolved (#REF!, a documented deviation)."""
    if text.__class__ is ExcelError:
        return text
    t = fx.to_text(text)
    if t.__class__ is ExcelError:
        return t
    style = True
    if a1 is not OMITTED and a1 is not None:
        style = fx.to_bool(a1)
        if style.__class__ is ExcelError:
            return style
    target = _indirect_target(t.strip(), bool(style))
    if target is None:
        return REF
    sheet, r1, c1, r2, c2, axes = target
    if not style:
        r1, c1, r2, c2 = (_r1c1_axis(axes[0], row), _r1c1_axis(axes[1], col),
                          _r1c1_axis(axes[2], row), _r1c1_axis(axes[3], col))
        r1, r2 = min(r1, r2), max(r1, r2)
        c1, c2 = min(c1, c2), max(c1, c2)
    if r1 < 1 or c1 < 1:
        return REF
    return ctx.view(sheet).area(r1, c1, r2, c2)


#: Excel's zero snap: the final + or - of a formula whose result is at most this
#: fraction of its first operand gives 0 (see :func:`compile_shape` for the evidence).
SNAP = 2.0 ** -50


def _snap_op(op: str, a: Value, b: Value) -> Value:
    """The final ``a + b`` / ``a - b`` of a formula, with Excel's zero snap, for any operands."""
    r = fx.op_add(a, b) if op == "+" else fx.op_sub(a, b)
    if r.__class__ is float and r != 0.0:
        x = fx.to_number(a)
        if abs(r) <= SNAP * abs(x):
            return 0.0
    return r


def _reads_a_range(node: Node) -> bool:
    return any(n.__class__ is Range for n in walk(node))


def _choose_index(v: Value, n: int) -> int | ExcelError:
    x = fx.to_number(v)
    if x.__class__ is ExcelError:
        return x
    k = int(x)
    return k if 1 <= k <= n else VALUE


def _final(v: Value, row: int, col: int) -> Value:
    """A formula's own result: a range is intersected, an empty cell shows 0."""
    if v.__class__ is Area:
        v = fx.implicit_intersection(v, row, col)
    if v is None:
        return 0.0
    return float(v) if v.__class__ is int else v


_GLOBALS: dict[str, Any] = {
    "_M": MISSING,
    "NUM": NUM,
    "REF": REF,
    "NAME": NAME,
    "VALUE": VALUE,
    "OMITTED": OMITTED,
    "ExcelError": ExcelError,
    "Area": Area,
    "_ii": fx.implicit_intersection,
    "_final": _final,
    "_to_bool": fx.to_bool,
    "_range_op": _range_op,
    "_choose_index": _choose_index,
    "_index_lazy": _index_lazy,
    "_index_pos": _index_pos,
    "_indirect": _indirect,
    "_offset": fx.offset_area,
    "_snap_op": _snap_op,
    "_abin": fx.array_binop,
    "_aun": fx.array_unop,
    "op_add": fx.op_add,
    "op_sub": fx.op_sub,
    "op_mul": fx.op_mul,
    "op_div": fx.op_div,
    "op_pow": fx.op_pow,
    "op_neg": fx.op_neg,
    "op_plus": fx.op_plus,
    "op_percent": fx.op_percent,
    "op_concat": fx.op_concat,
    "op_eq": fx.op_eq,
    "op_ne": fx.op_ne,
    "op_lt": fx.op_lt,
    "op_gt": fx.op_gt,
    "op_le": fx.op_le,
    "op_ge": fx.op_ge,
    "NA": ERRORS_BY_CODE["#N/A"],
    "_sqrt": math.sqrt,
    "_floor": math.floor,
}
for _code, _err in ERRORS_BY_CODE.items():
    _GLOBALS["E_" + "".join(ch if ch.isalnum() else "_" for ch in _code)] = _err

_ARITH = {"+": ("op_add", "+"), "-": ("op_sub", "-"), "*": ("op_mul", "*"), "/": ("op_div", "/")}
_OTHER_BIN = {"^": "op_pow", "&": "op_concat", "=": "op_eq", "<>": "op_ne", "<": "op_lt",
              ">": "op_gt", "<=": "op_le", ">=": "op_ge"}
# one-argument functions whose float case is one safe Python expression
_INLINE_1 = {
    "ABS": "abs({x})",
    "SQRT": "(_sqrt({x}) if {x} >= 0.0 else NUM)",
    "INT": "float(_floor({x}))",
    "SIGN": "(1.0 if {x} > 0.0 else -1.0 if {x} < 0.0 else 0.0)",
}
# functions whose result can be a reference/array even with scalar arguments
_AREA_RESULT = {"INDEX", "CHOOSE", "MMULT", "TRANSPOSE", "OFFSET"}

# result kinds of compiled sub-expressions
NUMK = "num"  # statically a float (a literal)
VALK = "val"  # a scalar, never None and never an Area
REFK = "ref"  # a scalar or None (an empty cell)
ANYK = "any"  # anything, including an Area


def _lit(code: str) -> float:
    """The value of a numeric literal emitted by the generator."""
    return float(code.strip("()"))


class _Gen:
    """Emits the statements of one function body; each sub-expression ends up in
    a temporary (or is a literal), so operands are evaluated once, left first."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 2
        self.ntemp = 0
        self.consts: dict[str, Any] = {}
        self.const_ids: dict[int, str] = {}
        self.views: dict[str | None, int] = {}
        self.hoisted: dict[tuple[int, int, int], str] = {}  # (view, row, col) -> bind-time constant
        self.reads: dict[tuple[int, str, str], str] = {}  # unconditional reads already in a temp
        self.memos = 0  # memo dicts of range aggregates, made when the function is bound
        self.memoizing = False

    # -- plumbing
    def tmp(self) -> str:
        self.ntemp += 1
        return f"t{self.ntemp}"

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def const(self, obj: Any, hint: str = "K") -> str:
        key = id(obj)
        name = self.const_ids.get(key)
        if name is None:
            name = f"{hint}{len(self.consts)}"
            self.consts[name] = obj
            self.const_ids[key] = name
        return name

    def view(self, sheet: str | None) -> int:
        key = sheet.lower() if sheet is not None else None
        idx = self.views.get(key)
        if idx is None:
            idx = self.views[key] = len(self.views)
        return idx

    def view_names(self) -> list[tuple[int, str | None]]:
        return [(i, s) for s, i in self.views.items()]

    # -- coordinates
    @staticmethod
    def _coord(base: str, value: int, absolute: bool) -> str:
        if absolute:
            return str(value)
        if value == 0:
            return base
        return f"{base} + {value}" if value > 0 else f"{base} - {-value}"

    # -- nodes
    def expr(self, node: Node, mode: str) -> tuple[str, str]:
        """Compile ``node``; mode "value" (one scalar), "raw" (areas pass) or
        "array" (operators work element-wise).  Returns (code, kind)."""
        cls = node.__class__
        if cls is Number:
            return repr(float(node.value)), NUMK
        if cls is String:
            return repr(node.value), VALK
        if cls is Bool:
            return ("True" if node.value else "False"), VALK
        if cls is ErrorLit:
            return self.const(ERRORS_BY_CODE.get(node.code, NAME), "ERR"), VALK
        if cls is Missing:
            return "None", REFK
        if cls is External:
            return "REF", VALK
        if cls is Name:
            return "NAME", VALK  # names are inlined by the evaluator; a leftover one is unknown
        if cls is Ref:
            if mode == "raw":
                return self.area_read(node.sheet, node.row, node.col, node.row, node.col,
                                      node.row_abs, node.col_abs, node.row_abs, node.col_abs), ANYK
            return self.cell_read(node), REFK
        if cls is Range:
            code = self.area_read(node.sheet, node.r1, node.c1, node.r2, node.c2,
                                  node.r1_abs, node.c1_abs, node.r2_abs, node.c2_abs)
            if mode == "value":
                t = self.tmp()
                self.emit(f"{t} = _ii({code}, row, col)")
                return t, REFK
            return code, ANYK
        if cls is ArrayConst:
            rows = [[self._const_value(x) for x in row] for row in node.rows]
            area = Area(rows)
            if mode == "value":
                return self.const(fx.implicit_intersection(area, 1, 1), "K"), VALK
            return self.const(area, "ARR"), ANYK
        if cls is Unary:
            return self.unary(node, mode)
        if cls is Percent:
            x, _ = self.expr(node.operand, "array" if mode != "value" else "value")
            t = self.tmp()
            if mode != "value":
                self.emit(f"{t} = _aun(op_percent, {x})")
                return t, ANYK
            self.emit(f"{t} = op_percent({x})")
            return t, VALK
        if cls is Binary:
            return self.binary(node, mode)
        if cls is Call:
            return self.call(node, mode)
        raise TypeError(f"not a formula node: {node!r}")

    @staticmethod
    def _const_value(node: Node) -> Value:
        if isinstance(node, Number):
            return float(node.value)
        if isinstance(node, (String, Bool)):
            return node.value
        if isinstance(node, ErrorLit):
            return ERRORS_BY_CODE.get(node.code, NAME)
        raise FormulaSyntaxError(f"not a constant in an array: {node!r}")

    def cell_read(self, ref: Ref) -> str:
        v = self.view(ref.sheet)
        r = self._coord("row", ref.row, ref.row_abs)
        c = self._coord("col", ref.col, ref.col_abs)
        seen = self.reads.get((v, r, c))
        if seen is not None:
            return seen
        t = self.tmp()
        if ref.row_abs and ref.col_abs:
            # a constant cell is read once, when the function is bound
            k = self.hoisted.get((v, ref.row, ref.col))
            if k is None:
                k = self.hoisted[(v, ref.row, ref.col)] = f"C{len(self.hoisted)}"
            self.emit(f"{t} = {k}")
            self.emit(f"if {t} is _M:")
            self.emit(f"    {t} = R{v}.get(({r}, {c}), _M)")
            self.emit(f"    if {t} is _M: {t} = X{v}({r}, {c})")
        else:
            self.emit(f"{t} = R{v}.get(({r}, {c}), _M)")
            self.emit(f"if {t} is _M: {t} = X{v}({r}, {c})")
        if self.indent == 2:  # not inside a branch: later reads of the cell can reuse it
            self.reads[(v, r, c)] = t
        return t

    def area_read(self, sheet: str | None, r1: int, c1: int, r2: int, c2: int,
                  a1: bool, b1: bool, a2: bool, b2: bool) -> str:
        v = self.view(sheet)
        t = self.tmp()
        self.emit(f"{t} = A{v}({self._coord('row', r1, a1)}, {self._coord('col', c1, b1)}, "
                  f"{self._coord('row', r2, a2)}, {self._coord('col', c2, b2)})")
        return t

    def unary(self, node: Unary, mode: str) -> tuple[str, str]:
        if mode != "value":
            x, _ = self.expr(node.operand, "array")
            t = self.tmp()
            self.emit(f"{t} = _aun({'op_neg' if node.op == '-' else 'op_plus'}, {x})")
            return t, ANYK
        x, kind = self.expr(node.operand, "value")
        if node.op == "+":
            return x, kind
        if kind == NUMK:
            return f"({-_lit(x)!r})", NUMK  # parenthesised: (-2.0).__class__ is valid Python
        t = self.tmp()
        self.emit(f"{t} = -{x} if {x}.__class__ is float else op_neg({x})")
        return t, VALK

    def binary(self, node: Binary, mode: str, snap: bool = False) -> tuple[str, str]:
        """``snap``: this is the formula's final + or -, which Excel snaps to 0 when its
        operands cancel to 15 significant digits (see :func:`compile_shape`)."""
        op = node.op
        if op == ":":
            a, _ = self.expr(node.left, "raw")
            b, _ = self.expr(node.right, "raw")
            t = self.tmp()
            self.emit(f"{t} = _range_op({a}, {b})")
            if mode == "value":
                self.emit(f"{t} = _ii({t}, row, col)")
                return t, REFK
            return t, ANYK
        if mode != "value":  # array, or raw (a function argument that takes ranges)
            a, _ = self.expr(node.left, "array")
            b, _ = self.expr(node.right, "array")
            t = self.tmp()
            helper = _ARITH[op][0] if op in _ARITH else _OTHER_BIN[op]
            self.emit(f"{t} = _abin({helper}, {a}, {b})")
            return t, ANYK
        a, ka = self.expr(node.left, "value")
        b, kb = self.expr(node.right, "value")
        t = self.tmp()
        if op in _ARITH:
            helper, pyop = _ARITH[op]
            checks = [f"{x}.__class__ is float" for x, k in ((a, ka), (b, kb)) if k != NUMK]
            if op == "/":
                if kb == NUMK and _lit(b) == 0.0:
                    self.emit(f"{t} = op_div({a}, {b})")
                    return t, VALK
                if kb != NUMK:
                    checks.append(f"{b} != 0.0")
            snap = snap and op in "+-"
            if not checks:  # two literals
                if snap:
                    self.emit(f"{t} = _snap_op({op!r}, {a}, {b})")
                else:
                    self.emit(f"{t} = op_{helper[3:]}({a}, {b})")
                return t, VALK
            self.emit(f"if {' and '.join(checks)}:")
            self.emit(f"    {t} = {a} {pyop} {b}")
            self.emit(f"    if {t} - {t} != 0.0: {t} = NUM")
            if snap:
                self.emit(f"    elif ({t} if {t} >= 0.0 else -{t}) <= {SNAP!r} * ({a} if {a} >= 0.0 else -{a}):")
                self.emit(f"        {t} = 0.0")
            self.emit("else:")
            self.emit(f"    {t} = {'_snap_op(' + repr(op) + ', ' if snap else helper + '('}{a}, {b})")
            return t, VALK
        if op == "^" and kb == NUMK and _lit(b) >= 1.0 and _lit(b) == int(_lit(b)) and ka != NUMK:
            self.emit(f"if {a}.__class__ is float:")
            self.emit("    try:")
            self.emit(f"        {t} = {a} ** {b}")
            self.emit("    except OverflowError:")
            self.emit(f"        {t} = NUM")
            self.emit("else:")
            self.emit(f"    {t} = op_pow({a}, {b})")
            return t, VALK
        self.emit(f"{t} = {_OTHER_BIN[op]}({a}, {b})")
        return t, VALK

    # -- calls
    def call(self, node: Call, mode: str) -> tuple[str, str]:
        if not self.memoizing and _reads_a_range(node):
            return self.memo_call(node, mode)
        return self.plain_call(node, mode)

    def memo_call(self, node: Call, mode: str) -> tuple[str, str]:
        """A call reading a range, computed once per column (or row, or once) when its code
        does not depend on the other coordinate.

        ``=B2/SUM(B$2:B$101)`` or ``=A2/MAX(A:A)`` filled down a column reads the same
        range on every row: without this the column costs rows x range cells (10,000 rows
        of ``A2/MAX(A:A)``: 155 s).  The generated code of the call is inspected: when it
        never mentions ``row`` (every row coordinate absolute, no implicit intersection,
        no ROW()), its value is memoised by ``col`` for the bound function's lifetime --
        one evaluation, whose cell values never change once computed.  A call waiting for
        cells (NeedCells) stores nothing.  Volatile functions are never memoised."""
        saved_lines, saved_reads, saved_indent = self.lines, self.reads, self.indent
        self.lines, self.reads, self.indent = [], {}, saved_indent + 1
        self.memoizing = True
        try:
            code, kind = self.plain_call(node, mode)
        finally:
            self.memoizing = False
            body = self.lines
            self.lines, self.reads, self.indent = saved_lines, saved_reads, saved_indent
        text = "\n".join(body) + "\n" + code
        uses_row = re.search(r"\brow\b", text) is not None
        uses_col = re.search(r"\bcol\b", text) is not None
        if (uses_row and uses_col) or any(n.__class__ is Call and n.name in fx.VOLATILE for n in walk(node)):
            # not as a whole (IF(A2>0, A2/SUM(B:B), 0)): generated again, so that the calls
            # inside it can be memoised on their own
            return self.plain_call(node, mode)
        key = "row" if uses_row else "col" if uses_col else "None"
        memo = f"M{self.memos}"
        self.memos += 1
        t = self.tmp()
        self.emit(f"{t} = {memo}.get({key}, _M)")
        self.emit(f"if {t} is _M:")
        self.lines.extend(body)
        self.emit(f"    {t} = {code}")
        self.emit(f"    {memo}[{key}] = {t}")
        return t, kind

    def plain_call(self, node: Call, mode: str) -> tuple[str, str]:
        spec = FUNCTIONS.get(node.name)
        if spec is None:
            raise UnsupportedFunction(node.name)
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            if spec.max_args is None or spec.max_args > spec.min_args:
                want = f"{spec.min_args} to {spec.max_args}" if spec.max_args is not None \
                    else f"at least {spec.min_args}"
            else:
                want = str(spec.min_args)
            raise FormulaSyntaxError(f"{node.name} takes {want} arguments, got {n}")
        if mode == "value" and node.name in _INLINE_1 and n == 1:
            # the all-float fast path of a one-argument math function, inline
            x, kx = self.expr(node.args[0], "value")
            fn = self.const(spec.impl, "F_" + node.name + "_")
            t = self.tmp()
            self.emit(f"{t} = {_INLINE_1[node.name].format(x=x)} if {x}.__class__ is float else {fn}({x})")
            return t, VALK
        if node.name == "INDEX" and n <= 3 and node.args[0].__class__ in (Range, Ref):
            return self.lazy_index(node, mode)
        special = spec.special
        if special is not None and not (mode == "array" and special in ("if", "iferror", "ifna")):
            return getattr(self, "special_" + special)(node, mode)
        return self.generic_call(node, mode, spec)

    def generic_call(self, node: Call, mode: str, spec: Any) -> tuple[str, str]:
        """A call of the function's implementation with its arguments evaluated first."""
        args = []
        for i, arg in enumerate(node.args):
            kind = spec.kind(i)
            if kind == "a":
                # references stay references (SUM skips text in cells, MIN skips an
                # empty cell returned by IF); operators work element-wise
                code, _ = self.expr(arg, "raw")
            elif kind == "A" or mode != "value":
                code, _ = self.expr(arg, "array")
            else:
                code, _ = self.expr(arg, "value")
            args.append(code)
        fn = self.const(spec.impl, "F_" + "".join(ch if ch.isalnum() else "_" for ch in node.name) + "_")
        t = self.tmp()
        self.emit(f"{t} = {fn}({', '.join(args)})")
        if node.name in _AREA_RESULT or mode != "value":
            if mode == "value":
                self.emit(f"{t} = _ii({t}, row, col)")
                return t, REFK
            return t, ANYK
        return t, REFK

    def special_offset(self, node: Call, mode: str) -> tuple[str, str]:
        """OFFSET of a literal reference: its position only, never its cells (no false
        dependency on the anchor, which is often the formula's own column)."""
        arg = node.args[0]
        if arg.__class__ not in (Ref, Range):
            return self.generic_call(node, mode, FUNCTIONS["OFFSET"])
        if arg.__class__ is Ref:
            r1 = r2 = self._coord("row", arg.row, arg.row_abs)
            c1 = c2 = self._coord("col", arg.col, arg.col_abs)
        else:
            r1 = self._coord("row", arg.r1, arg.r1_abs)
            c1 = self._coord("col", arg.c1, arg.c1_abs)
            r2 = self._coord("row", arg.r2, arg.r2_abs)
            c2 = self._coord("col", arg.c2, arg.c2_abs)
        v = self.view(arg.sheet)
        rest = [self.expr(a, "value")[0] for a in node.args[1:]]
        rest += ["OMITTED"] * (4 - len(rest))
        t = self.tmp()
        self.emit(f"{t} = _offset(_w{v}, {r1}, {c1}, {r2}, {c2}, {', '.join(rest)})")
        if mode == "value":
            self.emit(f"{t} = _ii({t}, row, col)")
            return t, REFK
        return t, ANYK

    def special_indirect(self, node: Call, mode: str) -> tuple[str, str]:
        x, _ = self.expr(node.args[0], "value")
        a1 = self.expr(node.args[1], "value")[0] if len(node.args) > 1 else "OMITTED"
        t = self.tmp()
        self.emit(f"{t} = _indirect(ctx, {x}, {a1}, row, col)")
        if mode == "value":
            self.emit(f"{t} = _ii({t}, row, col)")
            return t, REFK
        return t, ANYK

    def lazy_index(self, node: Call, mode: str) -> tuple[str, str]:
        """INDEX straight on a reference: the position first, then one cell (see _index_lazy)."""
        arg = node.args[0]
        if arg.__class__ is Ref:
            r1 = r2 = self._coord("row", arg.row, arg.row_abs)
            c1 = c2 = self._coord("col", arg.col, arg.col_abs)
        else:
            r1 = self._coord("row", arg.r1, arg.r1_abs)
            c1 = self._coord("col", arg.c1, arg.c1_abs)
            r2 = self._coord("row", arg.r2, arg.r2_abs)
            c2 = self._coord("col", arg.c2, arg.c2_abs)
        v = self.view(arg.sheet)
        rv, _ = self.expr(node.args[1], "value")
        cv = self.expr(node.args[2], "value")[0] if len(node.args) > 2 else "OMITTED"
        t = self.tmp()
        if mode != "value":
            self.emit(f"{t} = _index_lazy(_w{v}, {r1}, {c1}, {r2}, {c2}, {rv}, {cv})")
            return t, ANYK
        self.emit(f"{t} = _index_pos(_w{v}, {r1}, {c1}, {r2}, {c2}, {rv}, {cv})")
        self.emit(f"if {t}.__class__ is tuple:")
        self.emit(f"    {t} = R{v}.get({t}, _M) if {t} in R{v} else X{v}(*{t})")
        self.emit("else:")
        self.emit(f"    {t} = _ii({t}, row, col)")
        return t, REFK

    def _branch(self, node: Node, mode: str, target: str) -> None:
        self.indent += 1
        code, _ = self.expr(node, mode)
        self.emit(f"{target} = {code}")
        self.indent -= 1

    def special_if(self, node: Call, mode: str) -> tuple[str, str]:
        c, _ = self.expr(node.args[0], "value")
        cb = self.tmp()
        t = self.tmp()
        self.emit(f"{cb} = {c} if {c}.__class__ is bool else _to_bool({c})")
        self.emit(f"if {cb} is True:")
        self._branch(node.args[1], mode, t)
        self.emit(f"elif {cb} is False:")
        if len(node.args) > 2:
            self._branch(node.args[2], mode, t)
        else:
            self.emit(f"    {t} = False")
        self.emit("else:")
        self.emit(f"    {t} = {cb}")
        return t, (ANYK if mode != "value" else REFK)

    def special_iferror(self, node: Call, mode: str) -> tuple[str, str]:
        return self._unless_error(node, mode, "{x}.__class__ is ExcelError")

    def special_ifna(self, node: Call, mode: str) -> tuple[str, str]:
        return self._unless_error(node, mode, "{x}.__class__ is ExcelError and {x} == NA")

    def _unless_error(self, node: Call, mode: str, caught: str) -> tuple[str, str]:
        """IFERROR / IFNA: the first argument, or — lazily — the second when the first is ``caught``."""
        x, _ = self.expr(node.args[0], mode)
        t = self.tmp()
        self.emit(f"if {caught.format(x=x)}:")
        self._branch(node.args[1], mode, t)
        self.emit("else:")
        self.emit(f"    {t} = {x}")
        return t, (ANYK if mode != "value" else REFK)

    def special_choose(self, node: Call, mode: str) -> tuple[str, str]:
        x, _ = self.expr(node.args[0], "value")
        k = self.tmp()
        t = self.tmp()
        options = node.args[1:]
        self.emit(f"{k} = _choose_index({x}, {len(options)})")
        for i, opt in enumerate(options, 1):
            self.emit(f"{'if' if i == 1 else 'elif'} {k} == {i}:")
            self._branch(opt, mode, t)
        self.emit("else:")
        self.emit(f"    {t} = {k}")
        if mode == "value":
            self.emit(f"{t} = _ii({t}, row, col)")
            return t, REFK
        return t, ANYK

    def _position(self, node: Call, axis: str) -> tuple[str, str]:
        if not node.args:
            return f"float({axis})", VALK
        arg = node.args[0]
        if isinstance(arg, Ref):
            value, absolute = (arg.row, arg.row_abs) if axis == "row" else (arg.col, arg.col_abs)
            return f"float({self._coord(axis, value, absolute)})", VALK
        if isinstance(arg, Range):
            value, absolute = (arg.r1, arg.r1_abs) if axis == "row" else (arg.c1, arg.c1_abs)
            return f"float({self._coord(axis, value, absolute)})", VALK
        code, _ = self.expr(arg, "raw")
        fn = self.const(FUNCTIONS[axis.upper() if axis == "row" else "COLUMN"].impl, "F_POS")
        t = self.tmp()
        self.emit(f"{t} = {fn}({code})")
        return t, VALK

    def special_row(self, node: Call, mode: str) -> tuple[str, str]:
        return self._position(node, "row")

    def special_column(self, node: Call, mode: str) -> tuple[str, str]:
        return self._position(node, "col")

    def _size(self, node: Call, rows: bool) -> tuple[str, str]:
        arg = node.args[0]
        if isinstance(arg, Ref):
            return "1.0", NUMK
        if isinstance(arg, Range):
            if rows:
                a = self._coord("row", arg.r1, arg.r1_abs)
                b = self._coord("row", arg.r2, arg.r2_abs)
            else:
                a = self._coord("col", arg.c1, arg.c1_abs)
                b = self._coord("col", arg.c2, arg.c2_abs)
            return f"float(abs(({b}) - ({a})) + 1)", VALK
        code, _ = self.expr(arg, "raw")
        fn = self.const(FUNCTIONS["ROWS" if rows else "COLUMNS"].impl, "F_SIZE")
        t = self.tmp()
        self.emit(f"{t} = {fn}({code})")
        return t, VALK

    def special_rows(self, node: Call, mode: str) -> tuple[str, str]:
        return self._size(node, True)

    def special_columns(self, node: Call, mode: str) -> tuple[str, str]:
        return self._size(node, False)


class CompiledShape:
    """A shape compiled to Python; ``bind(ctx)`` gives ``f(row, col) -> value``."""

    __slots__ = ("shape", "array", "source", "_factory", "_bound")

    def __init__(self, shape: Node, array: bool, source: str, factory: Callable[[Any], Callable[[int, int], Value]]) -> None:
        self.shape = shape
        self.array = array
        self.source = source
        self._factory = factory
        self._bound: dict[int, tuple[Any, Callable[[int, int], Value]]] = {}

    def bind(self, ctx: Context) -> Callable[[int, int], Value]:
        """The function of (row, col) reading cells through ``ctx``."""
        return self._factory(ctx)

    def __call__(self, ctx: Context, row: int, col: int) -> Value:
        entry = self._bound.get(id(ctx))
        if entry is None or entry[0] is not ctx:
            if len(self._bound) > 64:
                self._bound.clear()
            entry = self._bound[id(ctx)] = (ctx, self._factory(ctx))
        return entry[1](row, col)

    def __repr__(self) -> str:
        from .parser import shape_text

        return f"CompiledShape({shape_text(self.shape)!r})"


_CACHE: dict[tuple[Node, bool, bool], CompiledShape] = {}
_CACHE_LIMIT = 20000


def compile_shape(shape: Node, *, array: bool = False, snap: bool = False) -> CompiledShape:
    """Compile a shape (see :func:`parser.to_shape`) once; later calls with an
    equal shape return the cached object.

    ``array=True`` evaluates the whole formula in array mode (an array formula):
    operators work element by element and the result may be an :class:`Area`.
    Raises :class:`UnsupportedFunction` for a function the engine lacks and
    :class:`FormulaSyntaxError` for a wrong argument count.

    ``snap=True``: the shape is a whole formula whose final operation is a ``+``
    or ``-`` not wrapped in parentheses, and a result within ``SNAP`` (2^-50) of 0
    relative to its first operand is 0, as Excel gives it.  Excel applies this
    "close to zero" correction (Microsoft KB 78113) to the formula's last operation
    only; the threshold is not documented, and 2^-50 separates every published case:
    0 for ``=0.5-0.4-0.1`` (2^-51.7), ``=1.333+1.225-1.333-1.225`` (2^-52.3) and
    ``=A1+A2-A3`` with 818562.54, -40026.44, 778536.1 (2^-52.6); the IEEE result for
    ``=(0.5-0.4-0.1)`` and ``=1*(0.5-0.4-0.1)`` (not a bare final +/-), ``=A1-A3+A2``
    (5.82E-11, 2^-49.3), ``=(1.333-1.233)-(1.334-1.234)`` (-2.22E-16, 2^-48.7) and
    ``=A11+0.1`` at the end of a chain of +0.1 from -1.1 (-1.39E-16, 2^-49.4).
    LibreOffice instead snaps *every* addition and subtraction within 2^-48
    (rtl::math::approxAdd/approxSub): 0 in the last three cases, where Excel is not.
    """
    try:
        with deep_recursion():
            return _compile(shape, array, snap and not array and shape.__class__ is Binary
                            and shape.op in ("+", "-"))
    except RecursionError:
        raise FormulaSyntaxError("formula nested too deeply") from None


def _compile(shape: Node, array: bool, snap: bool) -> CompiledShape:
    key = (shape, array, snap)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    gen = _Gen()
    if snap:
        code, kind = gen.binary(shape, "value", snap=True)  # type: ignore[arg-type]
    else:
        code, kind = gen.expr(shape, "array" if array else "value")
    if array:
        gen.emit(f"return {code}")
    elif kind in (NUMK, VALK):
        gen.emit(f"return {code}")
    else:
        gen.emit(f"return _final({code}, row, col)")
    prelude = []
    for idx, sheet in sorted(gen.view_names()):
        prelude.append(f"    _w{idx} = ctx.view({sheet!r})")
        prelude.append(f"    R{idx} = _w{idx}.results; X{idx} = _w{idx}.miss; A{idx} = _w{idx}.area")
    for (idx, r, c), k in gen.hoisted.items():
        prelude.append(f"    {k} = _w{idx}.const({r}, {c})")
    for i in range(gen.memos):
        prelude.append(f"    M{i} = {{}}")
    source = "\n".join(
        ["def _bind(ctx):", *prelude, "    def _f(row, col):", *gen.lines, "    return _f"]
    )
    namespace: dict[str, Any] = dict(_GLOBALS)
    namespace.update(gen.consts)
    exec(compile(source, "<gdsheet formula>", "exec"), namespace)  # noqa: S102 - generated above
    result = CompiledShape(shape, array, source, namespace["_bind"])
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = result
    return result
