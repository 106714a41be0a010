"""Cell values as JSON for every ``--json`` report (verify, recalc, check).

One rule so that the three reports agree: an error value is its code
(``"#DIV/0!"``), a non-finite number is ``"#NUM!"`` (numpy's overflow is the
spreadsheet's #NUM!, see :mod:`gdsheet.tolerance`), numpy scalars become
Python numbers, and dicts, lists and tuples are converted inside.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .formula.errors import ExcelError


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, ExcelError):
        return str(v)
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return "#NUM!"
    return v
