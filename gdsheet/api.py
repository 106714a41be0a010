"""The Python API: what the command line does, as functions.

    >>> import gdsheet
    >>> path = gdsheet.generate("quadratic", "q.xlsx", lr=0.05, steps=100)
    >>> frame = gdsheet.read(path)               # pandas DataFrame of the iterations
    >>> report = gdsheet.verify(path)            # Report; report.ok is True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .exercises import get as get_exercise
from .exercises.base import Layout
from .formula.errors import FormulaError
from .workbook.metadata import META_SHEET, NotGdsheet, parse_metadata
from .workbook.reader import read_workbook
from .workbook.writer import write_layout

if TYPE_CHECKING:
    import pandas as pd

    from .verifier import Report


def layout(exercise: str, **params: Any) -> Layout:
    """The exercise's layout for ``params`` (defaults for the rest): what `generate` writes."""
    ex = get_exercise(exercise)
    return ex.layout(ex.resolve(params))


def generate(exercise: str = "quadratic", path: str | os.PathLike[str] | None = None, **params: Any) -> Path:
    """Write the exercise's workbook (live formulas with cached values) and return its path."""
    out = Path(path) if path is not None else Path(f"{exercise}.xlsx")
    return write_layout(layout(exercise, **params), out)


def read(path: str | os.PathLike[str], sheet: str | None = None, long: bool = False) -> "pd.DataFrame":
    """A sheet's table as a DataFrame (default: a gdsheet workbook's main table, else the first sheet).

    ``long=True``: the workbook's per-observation table (a network's forward and backward
    pass, one row per iteration and observation) instead.  Formula cells without a cached
    value are evaluated by gdsheet's evaluator.
    """
    wb = read_workbook(path)
    name = sheet
    if name is None:
        meta = next((s for s in wb.sheets.values() if s.name.lower() == META_SHEET), None)
        try:
            info = parse_metadata(meta.values) if meta is not None else None
        except NotGdsheet:
            info = None
        name = info["main_sheet"] if info is not None else None
        if long:
            name = info.get("long_sheet") if info is not None else None
            if not name:
                raise ValueError(f"{Path(path).name}: no per-observation table (--long is for network "
                                 "and linear workbooks)")
        if name is None or name not in wb.sheets:
            name = next(s.name for s in wb.sheets.values() if s.state == "visible")
    try:
        target = wb.sheet(name)
    except KeyError:
        raise ValueError(f"{Path(path).name}: no sheet named {name!r} "
                         f"(sheets: {', '.join(wb.sheets)})") from None
    from .workbook.frame import sheet_frame  # pandas: imported only by the commands that need it

    computed: dict[tuple[int, int], Any] = {}
    if any(key not in target.values for key in target.formulas):
        from .formula.evaluator import evaluate

        try:
            computed = evaluate(wb, strict=False).values.get(target.name, {})
        except FormulaError:
            computed = {}
    return sheet_frame(target, computed)


def verify(path: str | os.PathLike[str], engines: Iterable[str] = (), **kwargs: Any) -> "Report":
    """Check a gdsheet workbook against its numpy reference; see :func:`gdsheet.verifier.verify`."""
    from .verifier import verify as _verify

    return _verify(path, engines, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("Report", "VerifyError"):
        from . import verifier as _module

        return getattr(_module, name)
    raise AttributeError(name)


__all__ = ["generate", "layout", "read", "verify", "Report", "VerifyError"]
