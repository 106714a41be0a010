"""When a spreadsheet's number and numpy's number count as the same.

Spreadsheets are not IEEE bit-for-bit: LibreOffice and Excel keep 15
significant digits in places and snap a difference that is tiny next to its
operands to exactly 0; Gnumeric loses about 1e-10 where a subtraction cancels.
So a value agrees with the reference when::

    |found − expected| <= RTOL·|expected| + ATOL·scale

where ``scale`` is the size of the terms that were added to make the value
(for f(x) = a·x² + b·x + c it is |a·x²| + |b·x| + |c|): near a minimum the
result is much smaller than its terms and its absolute error is set by the
terms, not by the result.  Overflow is an outcome, not a number: numpy's
inf/nan and a spreadsheet's #NUM!/#DIV/0! (any error value) agree with each
other and with nothing else — except at the very edge of the double range:
Gnumeric computes in 80-bit extended precision, so where numpy's a·x² overflows
Gnumeric may still hold a number like 1.5e308 (measured).  A number at least
OVERFLOW_EDGE in size agrees with an overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .formula.errors import ExcelError

RTOL = 1e-9
ATOL = 1e-9
OVERFLOW_EDGE = 1e300


@dataclass(frozen=True)
class Tolerance:
    rtol: float = RTOL
    atol: float = ATOL

    def agree(self, expected: Any, found: Any, scale: float | None = None) -> bool:
        if isinstance(expected, str) or isinstance(found, str):
            return isinstance(found, str) and isinstance(expected, str) and found == expected
        if isinstance(expected, bool) or isinstance(found, bool):
            return found is expected or (isinstance(found, bool) and found == expected)
        exp_bad = expected is None or isinstance(expected, ExcelError) or not math.isfinite(expected)
        found_bad = isinstance(found, ExcelError) or (isinstance(found, float) and not math.isfinite(found))
        if exp_bad or found_bad:
            if expected is None or found is None:
                return False
            if exp_bad and found_bad:
                return True
            edge = found if exp_bad else expected
            return isinstance(edge, (int, float)) and abs(edge) >= OVERFLOW_EDGE
        if found is None:
            return False
        size = abs(expected) if scale is None or not math.isfinite(scale) else max(abs(expected), scale)
        return abs(found - expected) <= self.rtol * abs(expected) + self.atol * size

    def agree_many(self, expected: Any, found: Any, scale: Any = None) -> np.ndarray:
        """``agree`` for whole columns at once (a boolean array), vectorised where both are numbers.
        Lists of values or float64 arrays."""
        n = len(expected)
        if scale is not None and len(scale) != n:
            raise ValueError("scale and expected differ in length")
        e, ek = _floats(expected)
        f, fk = _floats(found)
        ok = np.zeros(n, dtype=bool)
        both = (ek == _NUMBER) & (fk == _NUMBER)
        if both.any():
            size = np.abs(e)
            if scale is not None:
                s = scale if isinstance(scale, np.ndarray) and scale.dtype == np.float64 else \
                    np.array([x if isinstance(x, float) else np.nan for x in scale], dtype=float)
                size = np.where(np.isfinite(s), np.maximum(size, s), size)
            with np.errstate(all="ignore"):
                ok[both] = (np.abs(f - e) <= self.rtol * np.abs(e) + self.atol * size)[both]
        # an overflow agrees with an overflow, or with a number at the edge of the double range
        ok |= (ek == _OVERFLOW) & (fk == _OVERFLOW)
        with np.errstate(invalid="ignore"):
            ok |= (ek == _OVERFLOW) & (fk == _NUMBER) & (np.abs(f) >= OVERFLOW_EDGE)
            ok |= (ek == _NUMBER) & (fk == _OVERFLOW) & (np.abs(e) >= OVERFLOW_EDGE)
        for i in np.nonzero((ek == _OTHER) | (fk == _OTHER))[0].tolist():
            ok[i] = self.agree(_item(expected[i]), _item(found[i]), _item(scale[i]) if scale is not None else None)
        return ok

    def describe(self) -> str:
        return f"|found − expected| ≤ {self.rtol:g}·|expected| + {self.atol:g}·(size of the terms)"


DEFAULT = Tolerance()

_NUMBER, _OVERFLOW, _OTHER = 0, 1, 2


def _item(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _floats(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Values as a float array plus a kind per value: number, overflow (error / inf / nan), other.
    A float64 array is taken as it is (every entry a value: inf/nan an overflow)."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values, np.where(np.isfinite(values), _NUMBER, _OVERFLOW)
    if set(map(type, values)) <= {float}:
        arr = np.array(values, dtype=float)
        return arr, np.where(np.isfinite(arr), _NUMBER, _OVERFLOW)
    arr = np.full(len(values), np.nan)
    kind = np.full(len(values), _OTHER)
    for i, v in enumerate(values):
        if type(v) is float or type(v) is int:
            arr[i] = v
            kind[i] = _NUMBER if math.isfinite(v) else _OVERFLOW
        elif isinstance(v, ExcelError):
            kind[i] = _OVERFLOW
    return arr, kind
