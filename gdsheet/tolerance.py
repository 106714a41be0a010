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

    def describe(self) -> str:
        return f"|found − expected| ≤ {self.rtol:g}·|expected| + {self.atol:g}·(size of the terms)"


DEFAULT = Tolerance()
