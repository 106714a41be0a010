"""Excel values, coercions, operators and the worksheet functions gdsheet implements.

Why hand-written Excel semantics rather than Python's: a verifier that says "the
spreadsheet computes X" must compute what Excel computes, including the odd
parts -- ``"3"+1`` is 4 but ``SUM(A1)`` ignores a "3" typed in A1, ``=1/0`` is an
error *value* that propagates, an overflow is ``#NUM!`` not ``inf``, comparisons
rank numbers < text < booleans and compare text case-insensitively and numbers
at 15 significant digits.  Each rule lives here once; the compiler's generated
code only inlines the all-float fast path of + - * / and falls back to the
``op_*`` functions below for everything else.

Values: ``float``, ``str``, ``bool``, :class:`ExcelError`, ``None`` (an empty
cell, only ever seen *inside* a formula), and :class:`Area` (a rectangle of
values: a range reference, an array constant or an array result).  Numbers are
always Python floats, never ints or numpy scalars.
"""

from __future__ import annotations

import datetime
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from functools import reduce
from operator import add
from typing import Any

from .errors import DIV0, NA, NUM, REF, VALUE, ExcelError

__all__ = [
    "Value",
    "Area",
    "OMITTED",
    "FunctionSpec",
    "FUNCTIONS",
    "to_number",
    "to_text",
    "to_bool",
    "text_to_number",
    "number_to_text",
    "compare",
    "implicit_intersection",
    "op_add",
    "op_sub",
    "op_mul",
    "op_div",
    "op_pow",
    "op_neg",
    "op_percent",
    "op_concat",
    "op_eq",
    "op_ne",
    "op_lt",
    "op_gt",
    "op_le",
    "op_ge",
    "array_binop",
    "array_unop",
    "VOLATILE",
    "offset_area",
]

Value = Any  # float | str | bool | ExcelError | None | Area


class _Omitted:
    """Marker for an optional argument that was not written at all."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED = _Omitted()


class Area:
    """A rectangle of values: a range (``sheet`` set), or an array (``sheet`` None).

    ``nrows``/``ncols`` are the nominal size (``A:A`` has 1,048,576 rows); ``rows``
    holds the data, possibly clipped at the bottom/right to the sheet's used area:
    anything beyond the stored data is an empty cell (None).  ``sheet`` is the
    evaluator's view of the referenced sheet and ``r1``/``c1`` its top-left cell,
    so that INDEX can return a reference and ``INDEX(..):INDEX(..)`` can be built.
    """

    __slots__ = ("rows", "nrows", "ncols", "sheet", "r1", "c1")

    def __init__(self, rows: list[list[Value]], nrows: int | None = None, ncols: int | None = None,
                 sheet: Any = None, r1: int = 0, c1: int = 0) -> None:
        self.rows = rows
        self.nrows = len(rows) if nrows is None else nrows
        self.ncols = (len(rows[0]) if rows else 0) if ncols is None else ncols
        self.sheet = sheet
        self.r1 = r1
        self.c1 = c1

    def get(self, i: int, j: int) -> Value:
        """Value at 0-based (i, j); None beyond the stored data."""
        rows = self.rows
        if i < len(rows):
            row = rows[i]
            if j < len(row):
                return row[j]
        return None

    def values(self) -> Iterator[Value]:
        """Stored values row by row (trailing empties of a clipped range omitted)."""
        for row in self.rows:
            yield from row

    def sub(self, i0: int, j0: int, nrows: int, ncols: int) -> "Area":
        """The nrows x ncols block at 0-based (i0, j0), still a reference if this is one."""
        data = [row[j0:j0 + ncols] for row in self.rows[i0:i0 + nrows]]
        return Area(data, nrows, ncols, self.sheet, self.r1 + i0, self.c1 + j0)

    def dense(self) -> list[list[Value]]:
        """All nominal rows x cols, padded with None."""
        out = []
        for i in range(self.nrows):
            row = self.rows[i] if i < len(self.rows) else []
            if len(row) < self.ncols:
                row = list(row) + [None] * (self.ncols - len(row))
            out.append(row)
        return out

    def __repr__(self) -> str:
        where = f" at {getattr(self.sheet, 'name', self.sheet)}!R{self.r1}C{self.c1}" if self.sheet else ""
        return f"Area({self.nrows}x{self.ncols}{where}: {self.rows!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Area) and self.nrows == other.nrows and self.ncols == other.ncols
                and self.dense() == other.dense())

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------- coercions
_NUMERIC_TEXT = re.compile(
    r"^\s*([+-]?)\s*(\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*(%?)\s*$"
)


def text_to_number(text: str) -> float | ExcelError:
    """Excel's text-to-number conversion in arithmetic: "3" -> 3, " 1e3 " -> 1000,
    "50%" -> 0.5, "1,000" -> 1000; anything else (including "") is #VALUE!.
    Dates and currency text are not recognised (a documented deviation)."""
    m = _NUMERIC_TEXT.match(text)
    if m is None:
        return VALUE
    sign, digits, exp, pct = m.groups()
    try:
        v = float(digits.replace(",", "") + (exp or ""))
    except ValueError:
        return VALUE
    if sign == "-":
        v = -v
    if pct:
        v /= 100.0
    if v - v != 0.0:
        return NUM
    return v


def to_number(v: Value) -> float | ExcelError:
    """Scalar to number as arithmetic does: empty -> 0, TRUE -> 1, "3" -> 3."""
    cls = v.__class__
    if cls is float:
        return v
    if v is None:
        return 0.0
    if cls is bool:
        return 1.0 if v else 0.0
    if cls is int:
        return float(v)
    if cls is str:
        return text_to_number(v)
    if cls is ExcelError:
        return v
    if cls is Area:
        return VALUE
    if isinstance(v, (int, float)):  # numpy scalars and friends
        return float(v)
    return VALUE


def number_to_text(x: float) -> str:
    """A number as Excel's General format turns it into text for ``&``:
    at most 15 significant digits, scientific from 1E+15 and below 1E-9."""
    if x == 0:
        return "0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    d = Decimal("%.15g" % x).normalize()
    exp = d.adjusted()
    if -10 < exp < 15:
        text = format(d, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mant = format(d.scaleb(-exp), "f")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}E{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def to_text(v: Value) -> str | ExcelError:
    cls = v.__class__
    if cls is str:
        return v
    if cls is float:
        return number_to_text(v)
    if v is None:
        return ""
    if cls is bool:
        return "TRUE" if v else "FALSE"
    if cls is ExcelError:
        return v
    if cls is int:
        return number_to_text(float(v))
    return VALUE


def to_bool(v: Value) -> bool | ExcelError:
    cls = v.__class__
    if cls is bool:
        return v
    if cls is float or cls is int:
        return v != 0
    if v is None:
        return False
    if cls is str:
        up = v.upper()
        if up == "TRUE":
            return True
        if up == "FALSE":
            return False
        return VALUE
    if cls is ExcelError:
        return v
    return VALUE


def implicit_intersection(v: Value, row: int, col: int) -> Value:
    """An Area met where one value is needed (a non-array formula): Excel's
    implicit intersection with the formula's own row/column; an array gives its
    first element.  Anything else passes through."""
    if v.__class__ is not Area:
        return v
    a: Area = v
    if a.nrows == 1 and a.ncols == 1:
        return a.get(0, 0)
    if a.sheet is None:
        return a.get(0, 0) if a.nrows and a.ncols else VALUE
    i = row - a.r1 if a.nrows > 1 else 0
    j = col - a.c1 if a.ncols > 1 else 0
    if 0 <= i < a.nrows and 0 <= j < a.ncols:
        return a.get(i, j)
    return VALUE


def _finite(x: float) -> float | ExcelError:
    return x if x - x == 0.0 else NUM


# ---------------------------------------------------------------- operators
def op_add(a: Value, b: Value) -> Value:
    a = to_number(a)
    if a.__class__ is ExcelError:
        return a
    b = to_number(b)
    if b.__class__ is ExcelError:
        return b
    r = a + b
    return r if r - r == 0.0 else NUM


def op_sub(a: Value, b: Value) -> Value:
    a = to_number(a)
    if a.__class__ is ExcelError:
        return a
    b = to_number(b)
    if b.__class__ is ExcelError:
        return b
    r = a - b
    return r if r - r == 0.0 else NUM


def op_mul(a: Value, b: Value) -> Value:
    a = to_number(a)
    if a.__class__ is ExcelError:
        return a
    b = to_number(b)
    if b.__class__ is ExcelError:
        return b
    r = a * b
    return r if r - r == 0.0 else NUM


def op_div(a: Value, b: Value) -> Value:
    a = to_number(a)
    if a.__class__ is ExcelError:
        return a
    b = to_number(b)
    if b.__class__ is ExcelError:
        return b
    if b == 0.0:
        return DIV0
    r = a / b
    return r if r - r == 0.0 else NUM


def _pow(a: float, b: float) -> float | ExcelError:
    if a == 0.0:
        if b == 0.0:
            return NUM  # Excel: 0^0 is #NUM! (LibreOffice says 1)
        if b < 0.0:
            return DIV0
    if a < 0.0 and b != math.floor(b):
        # odd roots of negative numbers, as Excel computes them (and LibreOffice
        # since tdf#69293, with this test): (-8)^(1/3) = -2, (-32)^0.2 = -2;
        # any other fractional power of a negative number is #NUM!
        inv = round(1.0 / b)
        if inv % 2 != 0 and abs(1.0 / inv - b) <= abs(b) * 2.0 ** -48:
            try:
                r = -((-a) ** b)
            except OverflowError:
                return NUM
            return r if r - r == 0.0 else NUM
        return NUM
    try:
        r = a ** b
    except OverflowError:
        return NUM
    except ZeroDivisionError:
        return DIV0
    return r if r - r == 0.0 else NUM


def op_pow(a: Value, b: Value) -> Value:
    if a.__class__ is not float:
        a = to_number(a)
        if a.__class__ is ExcelError:
            return a
    if b.__class__ is not float:
        b = to_number(b)
        if b.__class__ is ExcelError:
            return b
    return _pow(a, b)


def op_neg(a: Value) -> Value:
    a = to_number(a)
    if a.__class__ is ExcelError:
        return a
    return -a


def op_plus(a: Value) -> Value:
    """Unary plus: Excel leaves the operand alone (``=+"a"`` is "a")."""
    return a


def op_percent(a: Value) -> Value:
    a = to_number(a)
    if a.__class__ is ExcelError:
        return a
    return a / 100.0


def op_concat(a: Value, b: Value) -> Value:
    a = to_text(a)
    if a.__class__ is ExcelError:
        return a
    b = to_text(b)
    if b.__class__ is ExcelError:
        return b
    return a + b


def _round15(x: float) -> float:
    return float("%.15g" % x)


def compare(a: Value, b: Value) -> int | ExcelError:
    """-1/0/1 as Excel orders two scalars: numbers < text < booleans, text
    case-insensitive, numbers equal when equal to 15 significant digits; an
    empty cell takes the other side's type (0, "" or FALSE)."""
    if a.__class__ is ExcelError:
        return a
    if b.__class__ is ExcelError:
        return b
    if a is None:
        a = _empty_like(b)
    if b is None:
        b = _empty_like(a)
    ta, tb = _rank(a), _rank(b)
    if ta != tb:
        return -1 if ta < tb else 1
    if ta == 0:
        a = float(a)
        b = float(b)
        if a == b:
            return 0
        if _round15(a) == _round15(b):
            return 0
        return -1 if a < b else 1
    if ta == 1:
        la, lb = a.lower(), b.lower()
        return 0 if la == lb else (-1 if la < lb else 1)
    return 0 if a == b else (-1 if a < b else 1)


def _empty_like(other: Value) -> Value:
    if other.__class__ is str:
        return ""
    if other.__class__ is bool:
        return False
    return 0.0


def _rank(v: Value) -> int:
    cls = v.__class__
    if cls is bool:
        return 2
    if cls is str:
        return 1
    if cls is float or cls is int:
        return 0
    if isinstance(v, (int, float)):
        return 0
    return 3  # Area in a scalar comparison: never equal


def op_eq(a: Value, b: Value) -> Value:
    if a.__class__ is float and b.__class__ is float and a == b:
        return True
    c = compare(a, b)
    return c if c.__class__ is ExcelError else c == 0


def op_ne(a: Value, b: Value) -> Value:
    c = compare(a, b)
    return c if c.__class__ is ExcelError else c != 0


def op_lt(a: Value, b: Value) -> Value:
    c = compare(a, b)
    return c if c.__class__ is ExcelError else c < 0


def op_gt(a: Value, b: Value) -> Value:
    c = compare(a, b)
    return c if c.__class__ is ExcelError else c > 0


def op_le(a: Value, b: Value) -> Value:
    c = compare(a, b)
    return c if c.__class__ is ExcelError else c <= 0


def op_ge(a: Value, b: Value) -> Value:
    c = compare(a, b)
    return c if c.__class__ is ExcelError else c >= 0


# ------------------------------------------------------------ array helpers
def _dims(v: Value) -> tuple[int, int]:
    return (v.nrows, v.ncols) if v.__class__ is Area else (1, 1)


def broadcast(fn: Callable[..., Value], args: Sequence[Value]) -> Value:
    """Apply a scalar function element by element over Areas (array evaluation):
    1-row/1-column/1x1 operands stretch, and where an operand is too small for
    the result the element is #N/A, as in Excel."""
    dims = [_dims(a) for a in args]
    n = max(d[0] for d in dims)
    m = max(d[1] for d in dims)
    out: list[list[Value]] = []
    for i in range(n):
        row: list[Value] = []
        for j in range(m):
            vals = []
            bad = False
            for a, (an, am) in zip(args, dims):
                if a.__class__ is not Area:
                    vals.append(a)
                    continue
                ii = 0 if an == 1 else i
                jj = 0 if am == 1 else j
                if ii >= an or jj >= am:
                    bad = True
                    break
                vals.append(a.get(ii, jj))
            row.append(NA if bad else fn(*vals))
        out.append(row)
    return Area(out, n, m)


def array_binop(fn: Callable[[Value, Value], Value], a: Value, b: Value) -> Value:
    if a.__class__ is not Area and b.__class__ is not Area:
        return fn(a, b)
    return broadcast(fn, (a, b))


def array_unop(fn: Callable[[Value], Value], a: Value) -> Value:
    if a.__class__ is not Area:
        return fn(a)
    return broadcast(fn, (a,))


def _as_area(v: Value) -> Area:
    return v if v.__class__ is Area else Area([[v]], 1, 1)


# ------------------------------------------------------------ the registry
@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """How the compiler calls a function.

    ``kinds`` gives each argument's kind, the last letter repeating:
    ``v`` a single value (a range there is implicitly intersected), ``a`` raw
    (a range or a single-cell reference arrives as an :class:`Area`, so that e.g.
    SUM can ignore text *in cells* but coerce text typed as an argument), ``A`` an
    array argument evaluated in array mode (operators work element-wise, as in
    SUMPRODUCT).  ``special`` names functions the compiler generates inline
    (lazy IF/IFERROR/IFNA/CHOOSE, and ROW/COLUMN/ROWS/COLUMNS, which look at a
    reference's position, not at the cells' values).
    """

    name: str
    impl: Callable[..., Value] | None
    min_args: int
    max_args: int | None
    kinds: str = "v"
    special: str | None = None

    def kind(self, i: int) -> str:
        return self.kinds[i] if i < len(self.kinds) else self.kinds[-1]


FUNCTIONS: dict[str, FunctionSpec] = {}


def _register(name: str, min_args: int, max_args: int | None, kinds: str = "v",
              special: str | None = None) -> Callable[[Callable[..., Value]], Callable[..., Value]]:
    def deco(fn: Callable[..., Value]) -> Callable[..., Value]:
        FUNCTIONS[name] = FunctionSpec(name, fn, min_args, max_args, kinds, special)
        return fn

    return deco


def _numeric(fn: Callable[..., float | ExcelError]) -> Callable[..., Value]:
    """Wrap a function of numbers: coerce each argument (first error wins),
    map over Areas in array mode, turn math errors / non-finite results into #NUM!."""

    def wrapper(*args: Value) -> Value:
        for a in args:
            if a.__class__ is Area:
                return broadcast(wrapper, args)
        nums = []
        for a in args:
            if a is OMITTED:
                break
            x = a if a.__class__ is float else to_number(a)
            if x.__class__ is ExcelError:
                return x
            nums.append(x)
        try:
            r = fn(*nums)
        except (OverflowError, ValueError, ZeroDivisionError):
            return NUM
        if r.__class__ is float and r - r != 0.0:
            return NUM
        return r

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _any(fn: Callable[..., Value]) -> Callable[..., Value]:
    """Wrap a function of arbitrary scalars: map over Areas in array mode."""

    def wrapper(*args: Value) -> Value:
        for a in args:
            if a.__class__ is Area:
                return broadcast(wrapper, args)
        return fn(*args)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


# -- aggregation over arguments
def _numbers(args: Sequence[Value]) -> Iterator[float | ExcelError]:
    """Numbers of aggregate-function arguments: in ranges/arrays only real numbers
    count (text, booleans and empty cells are skipped); typed arguments are
    coerced ("3" -> 3, TRUE -> 1, "x" -> #VALUE!).  Errors are yielded."""
    for a in args:
        if a.__class__ is Area:
            for v in a.values():
                cls = v.__class__
                if cls is float:
                    yield v
                elif cls is ExcelError:
                    yield v
                elif cls is int:
                    yield float(v)
        elif a is OMITTED:
            continue
        else:
            yield to_number(a)


def _collect(args: Sequence[Value]) -> list[float] | ExcelError:
    out: list[float] = []
    for x in _numbers(args):
        if x.__class__ is ExcelError:
            return x
        out.append(x)
    return out


@_register("SUM", 1, 255, "a")
def SUM(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    # left to right, one addition at a time (sum() compensates from Python 3.12 on)
    return _finite(reduce(add, nums, 0.0))


@_register("SUMSQ", 1, 255, "a")
def SUMSQ(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    total = 0.0
    for x in nums:
        total += x * x
    return _finite(total)


@_register("PRODUCT", 1, 255, "a")
def PRODUCT(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    if not nums:
        return 0.0
    total = 1.0
    for x in nums:
        total *= x
    return _finite(total)


@_register("AVERAGE", 1, 255, "a")
def AVERAGE(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    if not nums:
        return DIV0
    return _finite(reduce(add, nums, 0.0) / len(nums))


@_register("MIN", 1, 255, "a")
def MIN(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    return min(nums) if nums else 0.0


@_register("MAX", 1, 255, "a")
def MAX(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    return max(nums) if nums else 0.0


@_register("COUNT", 0, 255, "a")
def COUNT(*args: Value) -> Value:
    n = 0
    for a in args:
        if a.__class__ is Area:
            for v in a.values():
                if v.__class__ is float or v.__class__ is int:
                    n += 1
        elif a is OMITTED:
            continue
        elif a.__class__ is not ExcelError and a is not None and to_number(a).__class__ is float:
            n += 1
    return float(n)


@_register("COUNTA", 1, 255, "a")
def COUNTA(*args: Value) -> Value:
    n = 0
    for a in args:
        if a.__class__ is Area:
            for v in a.values():
                if v is not None:
                    n += 1
        elif a is not OMITTED and a is not None:
            n += 1
    return float(n)


@_register("SUMPRODUCT", 1, 255, "A")
def SUMPRODUCT(*args: Value) -> Value:
    areas = [_as_area(a) for a in args]
    n, m = areas[0].nrows, areas[0].ncols
    for a in areas[1:]:
        if a.nrows != n or a.ncols != m:
            return VALUE
    # nominal size can be a whole column; only stored data can be non-empty
    rows = max(min(len(a.rows), n) for a in areas)
    total = 0.0
    for i in range(rows):
        for j in range(m):
            p = 1.0
            for a in areas:
                v = a.get(i, j)
                cls = v.__class__
                if cls is float:
                    p *= v
                elif cls is ExcelError:
                    return v
                elif cls is int:
                    p *= float(v)
                else:
                    p *= 0.0  # text, booleans and empty cells count as 0
            total += p
    return _finite(total)


# -- criteria (COUNTIF / SUMIF / AVERAGEIF)
_CRIT_OP = re.compile(r"^(<=|>=|<>|<|>|=)?(.*)$", re.S)


def _wildcard(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "~" and i + 1 < len(pattern) and pattern[i + 1] in "*?~":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def _criterion(crit: Value) -> Callable[[Value], bool] | ExcelError:
    if crit.__class__ is ExcelError:
        return crit
    if crit is None:
        crit = ""
    if crit.__class__ in (float, int) or crit.__class__ is bool:
        target = crit

        def eq(v: Value) -> bool:
            return v.__class__ is target.__class__ and compare(v, target) == 0 if v.__class__ is bool \
                else (v.__class__ in (float, int) and target.__class__ is not bool and compare(v, target) == 0)

        return eq
    text = str(crit)
    m = _CRIT_OP.match(text)
    assert m is not None
    op, rest = m.group(1) or "", m.group(2)
    num = text_to_number(rest) if rest.strip() else VALUE
    up = rest.upper()
    if num.__class__ is float:
        def numeric(v: Value) -> bool:
            if v.__class__ not in (float, int):
                return op == "<>"
            c = compare(float(v), num)
            return {"": c == 0, "=": c == 0, "<>": c != 0, "<": c < 0, ">": c > 0,
                    "<=": c <= 0, ">=": c >= 0}[op]

        return numeric
    if up in ("TRUE", "FALSE"):
        b = up == "TRUE"

        def boolean(v: Value) -> bool:
            if v.__class__ is not bool:
                return op == "<>"
            c = compare(v, b)
            return {"": c == 0, "=": c == 0, "<>": c != 0, "<": c < 0, ">": c > 0,
                    "<=": c <= 0, ">=": c >= 0}[op]

        return boolean
    if op in ("", "=", "<>"):
        if rest == "":
            if op == "<>":
                return lambda v: v is not None and v != ""
            if op == "=":
                return lambda v: v is None
            return lambda v: v is None or v == ""
        rx = _wildcard(rest)
        if op == "<>":
            return lambda v: not (v.__class__ is str and rx.fullmatch(v) is not None)
        return lambda v: v.__class__ is str and rx.fullmatch(v) is not None

    def textual(v: Value) -> bool:
        if v.__class__ is not str:
            return False
        c = compare(v, rest)
        return {"<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]

    return textual


def _criteria_cells(rng: Value) -> Area:
    return _as_area(rng)


@_register("COUNTIF", 2, 2, "av")
def COUNTIF(rng: Value, crit: Value) -> Value:
    test = _criterion(crit)
    if test.__class__ is ExcelError:
        return test
    a = _criteria_cells(rng)
    n = 0
    for i in range(a.nrows if a.sheet is None else min(a.nrows, len(a.rows))):
        for j in range(a.ncols):
            if test(a.get(i, j)):
                n += 1
    if a.sheet is not None and len(a.rows) < a.nrows and test(None):
        n += (a.nrows - len(a.rows)) * a.ncols  # clipped empty rows of a whole-column range
    return float(n)


def _if_pairs(rng: Value, crit: Value, values: Value) -> list[float] | ExcelError:
    test = _criterion(crit)
    if test.__class__ is ExcelError:
        return test
    a = _criteria_cells(rng)
    s = a if values is OMITTED else _as_area(values)
    out: list[float] = []
    for i in range(min(a.nrows, max(len(a.rows), 1))):
        for j in range(a.ncols):
            if test(a.get(i, j)):
                v = s.get(i, j)
                if v.__class__ is float:
                    out.append(v)
                elif v.__class__ is ExcelError:
                    return v
    return out


@_register("SUMIF", 2, 3, "ava")
def SUMIF(rng: Value, crit: Value, values: Value = OMITTED) -> Value:
    vals = _if_pairs(rng, crit, values)
    if vals.__class__ is ExcelError:
        return vals
    return _finite(reduce(add, vals, 0.0))


@_register("AVERAGEIF", 2, 3, "ava")
def AVERAGEIF(rng: Value, crit: Value, values: Value = OMITTED) -> Value:
    vals = _if_pairs(rng, crit, values)
    if vals.__class__ is ExcelError:
        return vals
    if not vals:
        return DIV0
    return _finite(reduce(add, vals, 0.0) / len(vals))


# -- math
@_register("ABS", 1, 1)
@_numeric
def ABS(x: float) -> float:
    return abs(x)


@_register("SQRT", 1, 1)
@_numeric
def SQRT(x: float) -> Value:
    return NUM if x < 0 else math.sqrt(x)


@_register("EXP", 1, 1)
@_numeric
def EXP(x: float) -> Value:
    return math.exp(x)


@_register("LN", 1, 1)
@_numeric
def LN(x: float) -> Value:
    return NUM if x <= 0 else math.log(x)


@_register("LOG10", 1, 1)
@_numeric
def LOG10(x: float) -> Value:
    return NUM if x <= 0 else math.log10(x)


@_register("LOG", 1, 2)
@_numeric
def LOG(x: float, base: float = 10.0) -> Value:
    if x <= 0 or base <= 0:
        return NUM
    if base == 1.0:
        return DIV0
    if base == 10.0:
        return math.log10(x)
    return math.log(x) / math.log(base)


@_register("POWER", 2, 2)
@_numeric
def POWER(a: float, b: float) -> Value:
    return _pow(a, b)


def _decimal_round(x: float, digits: float, mode: str) -> float:
    d = int(digits)  # Excel truncates the digits argument
    if x == 0.0 or not math.isfinite(x):
        return x
    # Excel rounds the decimal number it shows (15 significant digits), so that
    # ROUND(2.675, 2) is 2.68 although the double 2.675 is slightly below it
    dec = Decimal("%.15g" % x)
    if d > 15 - dec.adjusted():
        return x  # nothing to round within the 15 significant digits
    try:
        q = dec.quantize(Decimal(1).scaleb(-d), rounding=mode)
    except InvalidOperation:
        return x
    return float(q)


@_register("ROUND", 2, 2)
@_numeric
def ROUND(x: float, digits: float) -> float:
    return _decimal_round(x, digits, ROUND_HALF_UP)


@_register("ROUNDUP", 2, 2)
@_numeric
def ROUNDUP(x: float, digits: float) -> float:
    return _decimal_round(x, digits, ROUND_UP)


@_register("ROUNDDOWN", 2, 2)
@_numeric
def ROUNDDOWN(x: float, digits: float) -> float:
    return _decimal_round(x, digits, ROUND_DOWN)


@_register("INT", 1, 1)
@_numeric
def INT(x: float) -> float:
    return float(math.floor(x))


@_register("MOD", 2, 2)
@_numeric
def MOD(n: float, d: float) -> Value:
    if d == 0.0:
        return DIV0
    return n % d  # sign of the divisor, as Excel's n - d*INT(n/d)


@_register("SIGN", 1, 1)
@_numeric
def SIGN(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


@_register("TANH", 1, 1)
@_numeric
def TANH(x: float) -> float:
    return math.tanh(x)


@_register("SIN", 1, 1)
@_numeric
def SIN(x: float) -> float:
    return math.sin(x)


@_register("COS", 1, 1)
@_numeric
def COS(x: float) -> float:
    return math.cos(x)


@_register("TAN", 1, 1)
@_numeric
def TAN(x: float) -> float:
    return math.tan(x)


@_register("ATAN", 1, 1)
@_numeric
def ATAN(x: float) -> float:
    return math.atan(x)


@_register("PI", 0, 0)
def PI() -> float:
    return math.pi


@_register("TRUE", 0, 0)
def TRUE_() -> bool:
    return True


@_register("FALSE", 0, 0)
def FALSE_() -> bool:
    return False


@_register("NA", 0, 0)
def NA_() -> Value:
    return NA


# -- logic and information
@_register("NOT", 1, 1)
@_any
def NOT(x: Value) -> Value:
    b = to_bool(x)
    return b if b.__class__ is ExcelError else not b


def _logicals(args: Sequence[Value]) -> list[bool] | ExcelError:
    out: list[bool] = []
    for a in args:
        if a.__class__ is Area:
            for v in a.values():
                cls = v.__class__
                if cls is bool:
                    out.append(v)
                elif cls is float or cls is int:
                    out.append(v != 0)
                elif cls is ExcelError:
                    return v
        elif a is OMITTED:
            continue
        else:
            b = to_bool(a)
            if b.__class__ is ExcelError:
                return b
            out.append(b)
    return out if out else VALUE


@_register("AND", 1, 255, "a")
def AND(*args: Value) -> Value:
    # every argument is evaluated, as in Excel: AND(FALSE, 1/0) is #DIV/0!
    vals = _logicals(args)
    return vals if vals.__class__ is ExcelError else all(vals)


@_register("OR", 1, 255, "a")
def OR(*args: Value) -> Value:
    vals = _logicals(args)
    return vals if vals.__class__ is ExcelError else any(vals)


@_register("XOR", 1, 255, "a")
def XOR(*args: Value) -> Value:
    vals = _logicals(args)
    return vals if vals.__class__ is ExcelError else (sum(vals) % 2 == 1)


@_register("ISERROR", 1, 1)
@_any
def ISERROR(x: Value) -> bool:
    return x.__class__ is ExcelError


@_register("ISNA", 1, 1)
@_any
def ISNA(x: Value) -> bool:
    return x.__class__ is ExcelError and x == NA


@_register("ISNUMBER", 1, 1)
@_any
def ISNUMBER(x: Value) -> bool:
    return x.__class__ is float or x.__class__ is int


@_register("ISTEXT", 1, 1)
@_any
def ISTEXT(x: Value) -> bool:
    return x.__class__ is str


@_register("ISLOGICAL", 1, 1)
@_any
def ISLOGICAL(x: Value) -> bool:
    return x.__class__ is bool


@_register("ISBLANK", 1, 1)
@_any
def ISBLANK(x: Value) -> bool:
    return x is None


@_register("CONCATENATE", 1, 255)
def CONCATENATE(*args: Value) -> Value:
    parts = []
    for a in args:
        if a.__class__ is Area:
            return broadcast(CONCATENATE, args)
        t = to_text(a)
        if t.__class__ is ExcelError:
            return t
        parts.append(t)
    return "".join(parts)


# Lazy functions: the compiler generates the branching inline; these eager
# versions are used only in array mode (e.g. SUMPRODUCT(IF(...)) entered as an array).
@_register("IF", 2, 3, "v", special="if")
@_any
def IF(cond: Value, yes: Value, no: Value = OMITTED) -> Value:
    c = to_bool(cond)
    if c.__class__ is ExcelError:
        return c
    if c:
        return yes
    return False if no is OMITTED else no


@_register("IFERROR", 2, 2, "v", special="iferror")
@_any
def IFERROR(x: Value, alt: Value) -> Value:
    return alt if x.__class__ is ExcelError else x


@_register("IFNA", 2, 2, "v", special="ifna")
@_any
def IFNA(x: Value, alt: Value) -> Value:
    return alt if x.__class__ is ExcelError and x == NA else x


@_register("CHOOSE", 2, 255, "va", special="choose")
def CHOOSE(index: Value, *options: Value) -> Value:
    i = to_number(index)
    if i.__class__ is ExcelError:
        return i
    k = int(i)
    if not 1 <= k <= len(options):
        return VALUE
    return options[k - 1]


# -- lookup and reference
def _int_arg(v: Value, default: int) -> int | ExcelError:
    if v is OMITTED:
        return default
    x = to_number(v)
    if x.__class__ is ExcelError:
        return x
    return int(x)  # truncates toward zero, as Excel does for index arguments


@_register("INDEX", 2, 4, "avvv")
def INDEX(area: Value, row: Value, col: Value = OMITTED, area_num: Value = OMITTED) -> Value:
    if area.__class__ is ExcelError:
        return area
    a = _as_area(area)
    r = _int_arg(row, 0)
    if r.__class__ is ExcelError:
        return r
    c = _int_arg(col, 0)
    if c.__class__ is ExcelError:
        return c
    n = _int_arg(area_num, 1)
    if n.__class__ is ExcelError:
        return n
    if n != 1:
        return REF
    if r < 0 or c < 0:
        return VALUE
    if col is OMITTED:
        if a.nrows == 1 and a.ncols > 1:
            r, c = 1, r  # INDEX(A1:E1, 3): the one index is the column
            if c == 0:
                r = 0
    if r > a.nrows or c > a.ncols:
        return REF
    if r == 0 and c == 0:
        return a
    if r == 0:
        return a.sub(0, c - 1, a.nrows, 1)
    if c == 0:
        if a.ncols == 1:
            return a.sub(r - 1, 0, 1, 1)
        return a.sub(r - 1, 0, 1, a.ncols)
    return a.sub(r - 1, c - 1, 1, 1)


def _vector(a: Area) -> list[Value] | None:
    """A one-row or one-column Area as a flat list (stored data only)."""
    if a.ncols == 1:
        return [row[0] if row else None for row in a.rows]
    if a.nrows == 1:
        return list(a.rows[0]) if a.rows else []
    return None


def _same_kind(a: Value, b: Value) -> bool:
    return _rank(a) == _rank(b)


def _match_index(lookup: Value, vec: list[Value], mode: int) -> int | ExcelError:
    """0-based position per MATCH's match_type; NA when not found."""
    if lookup is None:
        lookup = 0.0
    if mode == 0:
        if lookup.__class__ is str and any(ch in lookup for ch in "*?~"):
            rx = _wildcard(lookup)
            for i, v in enumerate(vec):
                if v.__class__ is str and rx.fullmatch(v):
                    return i
            return NA
        for i, v in enumerate(vec):
            if v is not None and _same_kind(v, lookup) and compare(v, lookup) == 0:
                return i
        return NA
    # approximate: the data is assumed sorted (ascending for 1, descending for -1);
    # scan until the first value past the lookup value, as a sorted search would find
    best: int | ExcelError = NA
    for i, v in enumerate(vec):
        if v is None or v.__class__ is ExcelError or not _same_kind(v, lookup):
            continue
        c = compare(v, lookup)
        if mode > 0:
            if c <= 0:
                best = i
            else:
                break
        else:
            if c >= 0:
                best = i
            else:
                break
    return best


@_register("MATCH", 2, 3, "vav")
def MATCH(lookup: Value, array: Value, mode: Value = OMITTED) -> Value:
    if lookup.__class__ is ExcelError:
        return lookup
    m = _int_arg(mode, 1)
    if m.__class__ is ExcelError:
        return m
    vec = _vector(_as_area(array))
    if vec is None:
        return NA
    i = _match_index(lookup, vec, 0 if m == 0 else (1 if m > 0 else -1))
    return i if i.__class__ is ExcelError else float(i + 1)


@_register("VLOOKUP", 3, 4, "vavv")
def VLOOKUP(lookup: Value, table: Value, col: Value, approx: Value = OMITTED) -> Value:
    return _lookup(lookup, table, col, approx, across=False)


def _lookup(lookup: Value, table: Value, index: Value, approx: Value, across: bool) -> Value:
    """VLOOKUP (down the first column) and HLOOKUP (``across`` the first row): one rule for both."""
    if lookup.__class__ is ExcelError:
        return lookup
    if table.__class__ is ExcelError:
        return table
    a = _as_area(table)
    k = _int_arg(index, 1)
    if k.__class__ is ExcelError:
        return k
    if approx is OMITTED:
        exact = False
    else:
        b = to_bool(approx)
        if b.__class__ is ExcelError:
            return b
        exact = not b
    if k < 1:
        return VALUE
    if k > (a.nrows if across else a.ncols):
        return REF
    first = (list(a.rows[0]) if a.rows else []) if across else [row[0] if row else None for row in a.rows]
    i = _match_index(lookup, first, 0 if exact else 1)
    if i.__class__ is ExcelError:
        return i
    return a.get(k - 1, i) if across else a.get(i, k - 1)


@_register("ROW", 0, 1, "a", special="row")
def ROW(ref: Value = OMITTED) -> Value:
    if ref.__class__ is Area and ref.sheet is not None:
        return float(ref.r1)
    return VALUE


@_register("COLUMN", 0, 1, "a", special="column")
def COLUMN(ref: Value = OMITTED) -> Value:
    if ref.__class__ is Area and ref.sheet is not None:
        return float(ref.c1)
    return VALUE


@_register("ROWS", 1, 1, "a", special="rows")
def ROWS(ref: Value) -> Value:
    if ref.__class__ is ExcelError:
        return ref
    return float(ref.nrows) if ref.__class__ is Area else 1.0


@_register("COLUMNS", 1, 1, "a", special="columns")
def COLUMNS(ref: Value) -> Value:
    if ref.__class__ is ExcelError:
        return ref
    return float(ref.ncols) if ref.__class__ is Area else 1.0



# ------------------------------------------------- volatile functions
#: Functions whose value Excel recomputes on every recalculation: a cell using one
#: (directly or through a defined name) legitimately differs from its cached value.
VOLATILE = frozenset({"RAND", "RANDBETWEEN", "NOW", "TODAY", "OFFSET", "INDIRECT"})

_RNG = random.Random()
_EXCEL_EPOCH = datetime.datetime(1899, 12, 30)  # serial 0 of the 1900 date system (after 1900-03-01)


@_register("RAND", 0, 0)
def RAND() -> float:
    return _RNG.random()


@_register("RANDBETWEEN", 2, 2)
@_numeric
def RANDBETWEEN(bottom: float, top: float) -> Value:
    lo, hi = math.ceil(bottom), math.floor(top)
    if lo > hi:
        return NUM
    return float(_RNG.randint(lo, hi))


@_register("NOW", 0, 0)
def NOW() -> float:
    """Serial date-time of the 1900 date system (1904-system workbooks: a documented deviation)."""
    return (datetime.datetime.now() - _EXCEL_EPOCH) / datetime.timedelta(days=1)


@_register("TODAY", 0, 0)
def TODAY() -> float:
    return float((datetime.date.today() - _EXCEL_EPOCH.date()).days)


def offset_area(view: Any, r1: int, c1: int, r2: int, c2: int, rows: Value, cols: Value,
                height: Value, width: Value) -> Value:
    """OFFSET of the reference r1:c1..r2:c2 on ``view`` (the sheet view that reads cells).

    Offsets and sizes are truncated to integers; an omitted (or empty) height or
    width keeps the reference's; a negative one extends up/left from the moved
    corner (LibreOffice and current Excel); zero, or a result off the sheet, is #REF!.
    """
    dr = _int_arg(OMITTED if rows is None else rows, 0)
    if dr.__class__ is ExcelError:
        return dr
    dc = _int_arg(OMITTED if cols is None else cols, 0)
    if dc.__class__ is ExcelError:
        return dc
    h = _int_arg(OMITTED if height is None else height, r2 - r1 + 1)
    if h.__class__ is ExcelError:
        return h
    w = _int_arg(OMITTED if width is None else width, c2 - c1 + 1)
    if w.__class__ is ExcelError:
        return w
    if h == 0 or w == 0:
        return REF
    top, left = r1 + dr, c1 + dc
    rr1, rr2 = (top, top + h - 1) if h > 0 else (top + h + 1, top)
    cc1, cc2 = (left, left + w - 1) if w > 0 else (left + w + 1, left)
    if rr1 < 1 or cc1 < 1:
        return REF
    return view.area(rr1, cc1, rr2, cc2)


@_register("OFFSET", 3, 5, "avvvv", special="offset")
def OFFSET(ref: Value, rows: Value, cols: Value, height: Value = OMITTED, width: Value = OMITTED) -> Value:
    """The generic form, for a reference computed at run time (``OFFSET(INDEX(..),1,0)``);
    a literal reference is compiled to :func:`offset_area` without reading its cells."""
    if ref.__class__ is ExcelError:
        return ref
    if ref.__class__ is not Area or ref.sheet is None:
        return VALUE
    return offset_area(ref.sheet, ref.r1, ref.c1, ref.r1 + ref.nrows - 1, ref.c1 + ref.ncols - 1,
                       rows, cols, height, width)


@_register("INDIRECT", 1, 2, "v", special="indirect")
def INDIRECT(text: Value, a1: Value = OMITTED) -> Value:  # pragma: no cover - always compiled inline
    return REF


# ------------------------------------------------- matrices
def _matrix(v: Value) -> list[list[float]] | ExcelError:
    """A numeric matrix for MMULT: every element a number (an error is returned, anything
    else -- text, a boolean, an empty cell -- is #VALUE!, as in Excel)."""
    if v.__class__ is ExcelError:
        return v
    a = _as_area(v)
    out = []
    for row in a.dense():
        vals = []
        for x in row:
            cls = x.__class__
            if cls is float:
                vals.append(x)
            elif cls is int:
                vals.append(float(x))
            elif cls is ExcelError:
                return x
            else:
                return VALUE
        out.append(vals)
    return out


@_register("MMULT", 2, 2, "A")
def MMULT(a: Value, b: Value) -> Value:
    ma = _matrix(a)
    if ma.__class__ is ExcelError:
        return ma
    mb = _matrix(b)
    if mb.__class__ is ExcelError:
        return mb
    n, k, m = len(ma), len(ma[0]) if ma else 0, len(mb[0]) if mb else 0
    if k != len(mb) or n == 0 or m == 0:
        return VALUE
    out: list[list[Value]] = []
    for i in range(n):
        row_a = ma[i]
        row: list[Value] = []
        for j in range(m):
            total = 0.0
            for t in range(k):  # left to right, one IEEE operation at a time
                total += row_a[t] * mb[t][j]
            row.append(_finite(total))
        out.append(row)
    return Area(out, n, m)


@_register("TRANSPOSE", 1, 1, "a")
def TRANSPOSE(a: Value) -> Value:
    if a.__class__ is not Area:
        return a
    dense = a.dense()
    return Area([list(col) for col in zip(*dense)], a.ncols, a.nrows)


# ------------------------------------------------- lookups and conditional aggregates
@_register("HLOOKUP", 3, 4, "vavv")
def HLOOKUP(lookup: Value, table: Value, row: Value, approx: Value = OMITTED) -> Value:
    return _lookup(lookup, table, row, approx, across=True)


def _ifs(target: Value, pairs: Sequence[tuple[Value, Value]]) -> tuple[list[tuple[int, int]], int] | ExcelError:
    """Cells (i, j) where every (range, criterion) pair matches, plus the number of
    matching cells beyond the stored data of whole-column ranges (all empty there)."""
    tests = []
    areas = []
    for rng, crit in pairs:
        if rng.__class__ is ExcelError:
            return rng
        test = _criterion(crit)
        if test.__class__ is ExcelError:
            return test
        tests.append(test)
        areas.append(_as_area(rng))
    if target is not None:
        if target.__class__ is ExcelError:
            return target
        areas.append(_as_area(target))
    n, m = areas[0].nrows, areas[0].ncols
    if any(a.nrows != n or a.ncols != m for a in areas):
        return VALUE
    stored = min(n, max(len(a.rows) for a in areas))
    crit_areas = areas[:len(tests)]
    hits = [(i, j) for i in range(stored) for j in range(m)
            if all(t(a.get(i, j)) for t, a in zip(tests, crit_areas))]
    extra = (n - stored) * m if stored < n and all(t(None) for t in tests) else 0
    return hits, extra


def _ifs_values(target: Value, pairs: Sequence[tuple[Value, Value]]) -> list[float] | ExcelError:
    found = _ifs(target, pairs)
    if found.__class__ is ExcelError:
        return found
    s = _as_area(target)
    out = []
    for i, j in found[0]:
        v = s.get(i, j)
        if v.__class__ is float:
            out.append(v)
        elif v.__class__ is ExcelError:
            return v
    return out


def _pairs(args: Sequence[Value]) -> list[tuple[Value, Value]]:
    return [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]


@_register("COUNTIFS", 2, 254, "av" * 127)
def COUNTIFS(*args: Value) -> Value:
    if len(args) % 2:
        return VALUE
    found = _ifs(None, _pairs(args))
    if found.__class__ is ExcelError:
        return found
    return float(len(found[0]) + found[1])


@_register("SUMIFS", 3, 255, "a" + "av" * 127)
def SUMIFS(total: Value, *args: Value) -> Value:
    if len(args) % 2:
        return VALUE
    vals = _ifs_values(total, _pairs(args))
    if vals.__class__ is ExcelError:
        return vals
    return _finite(reduce(add, vals, 0.0))


@_register("AVERAGEIFS", 3, 255, "a" + "av" * 127)
def AVERAGEIFS(total: Value, *args: Value) -> Value:
    if len(args) % 2:
        return VALUE
    vals = _ifs_values(total, _pairs(args))
    if vals.__class__ is ExcelError:
        return vals
    if not vals:
        return DIV0
    return _finite(reduce(add, vals, 0.0) / len(vals))


@_register("COUNTBLANK", 1, 1, "a")
def COUNTBLANK(rng: Value) -> Value:
    if rng.__class__ is ExcelError:
        return rng
    a = _as_area(rng)
    filled = sum(1 for v in a.values() if v is not None and v != "")
    return float(a.nrows * a.ncols - filled)


# ------------------------------------------------- statistics
@_register("MEDIAN", 1, 255, "a")
def MEDIAN(*args: Value) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    if not nums:
        return NUM
    s = sorted(nums)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def _variance(args: Sequence[Value], sample: bool) -> Value:
    nums = _collect(args)
    if nums.__class__ is ExcelError:
        return nums
    n = len(nums)
    if n < (2 if sample else 1):
        return DIV0
    mean = reduce(add, nums, 0.0) / n  # two passes: the mean, then squared deviations
    ss = 0.0
    for x in nums:
        d = x - mean
        ss += d * d
    return _finite(ss / (n - 1 if sample else n))


def _register_stat(names: tuple[str, ...], sample: bool, root: bool) -> None:
    def fn(*args: Value) -> Value:
        v = _variance(args, sample)
        return math.sqrt(v) if root and v.__class__ is float else v

    for name in names:
        FUNCTIONS[name] = FunctionSpec(name, fn, 1, 255, "a")


_register_stat(("VAR", "VAR.S"), True, False)
_register_stat(("VAR.P", "VARP"), False, False)
_register_stat(("STDEV", "STDEV.S"), True, True)
_register_stat(("STDEV.P", "STDEVP"), False, True)


# ------------------------------------------------- error values
@_register("ISERR", 1, 1)
@_any
def ISERR(x: Value) -> bool:
    return x.__class__ is ExcelError and x != NA


_ERROR_TYPES = {"#NULL!": 1.0, "#DIV/0!": 2.0, "#VALUE!": 3.0, "#REF!": 4.0, "#NAME?": 5.0, "#NUM!": 6.0,
                "#N/A": 7.0, "#GETTING_DATA": 8.0}


@_register("ERROR.TYPE", 1, 1)
@_any
def ERROR_TYPE(x: Value) -> Value:
    if x.__class__ is ExcelError:
        return _ERROR_TYPES.get(x.code, NA)
    return NA
