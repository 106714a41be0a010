"""The Python API: what the command line does, as functions.

    >>> import gdsheet
    >>> path = gdsheet.generate("quadratic", "q.xlsx", lr=0.05, steps=100)
    >>> frame = gdsheet.read(path)               # pandas DataFrame of the iterations
    >>> report = gdsheet.verify(path)            # Report; report.ok is True

The classroom (template, check, grade)::

    >>> gdsheet.template("quadratic", "student.xlsx", key="key.xlsx")
    >>> keys = gdsheet.roster_templates("quadratic", "roster.csv", "templates/", seed="2026")
    >>> result = gdsheet.check("submission.xlsx")          # CheckResult: status, score, text(), to_dict()
    >>> book = gdsheet.grade("submissions/", keys, out="gradebook.csv")   # Gradebook
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
    from .workbook.frame import sheet_frame, uncached_formulas  # pandas: only for the commands that need it

    computed: Any = {}
    if uncached_formulas(target):
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


def template(exercise: str = "quadratic", path: str | os.PathLike[str] | None = None, *,
             key: str | os.PathLike[str] | None = None, blank: str = "all", student: str | None = None,
             seed: str | int | None = None, course: str = "", **params: Any) -> Path:
    """Write a student template (and with ``key`` its complete answer key); return the template's path.

    ``blank``: "all" or "after:N" (N worked iterations).  With ``student`` and ``seed``: that
    student's variant, as :func:`roster_templates` draws it.  See :mod:`gdsheet.classroom.template`.
    """
    from .classroom.template import write_template

    out = Path(path) if path is not None else Path(f"{exercise}-template.xlsx")
    return write_template(exercise, out, key=key, params=params, blank=blank, student=student, seed=seed,
                          course=course).template


def roster_templates(exercise: str, roster: str | os.PathLike[str], folder: str | os.PathLike[str], *,
                     seed: str | int, keys: str | os.PathLike[str] | None = None, blank: str = "all",
                     course: str = "", id_column: str | None = None, key_dir: str | os.PathLike[str] | None = None,
                     rubric: dict[str, Any] | None = None, secret: str | None = None, **params: Any) -> Path:
    """One template per roster student in ``folder`` and one keys file; return the keys file's path.
    ``secret``: the course secret of the per-student tokens (default: the existing keys file's, else new)."""
    from .classroom.template import write_roster

    return write_roster(exercise, roster, folder, seed=seed, keys=keys, params=params, blank=blank, course=course,
                        id_column=id_column, key_dir=key_dir, rubric=rubric, secret=secret)[1]


def check(path: str | os.PathLike[str], *, key: str | os.PathLike[str] | None = None,
          keys: str | os.PathLike[str] | None = None, student: str | None = None,
          rubric: str | os.PathLike[str] | dict[str, Any] | None = None,
          feedback: str | os.PathLike[str] | None = None) -> Any:
    """Check a submission; a :class:`gdsheet.classroom.report.CheckResult` (``.status``, ``.score``,
    ``.max_score``, ``.cells``, ``.text()``, ``.to_dict()``).  See :mod:`gdsheet.classroom.check`."""
    from .classroom.check import check as _check

    return _check(path, key=key, keys=keys, student=student, rubric=_rubric(rubric), feedback=feedback)


def grade(folder: str | os.PathLike[str], keys: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
          *, feedback_dir: str | os.PathLike[str] | None = None, workers: int | None = None,
          rubric: str | os.PathLike[str] | dict[str, Any] | None = None, time_limit: float = 60.0,
          memory_limit_mb: float = 1536, executor: str = "processes", scheduler: str | None = None,
          summary: str | os.PathLike[str] | None = None) -> Any:
    """Grade every workbook under ``folder`` (a :class:`gdsheet.classroom.grade.Gradebook`; with ``out``
    the CSV is written too, with ``summary`` the class summary workbook; ``.stats`` holds its numbers).
    ``executor="dask"`` grades on a Dask cluster: a LocalCluster of ``workers``, or the running one at
    ``scheduler`` ("tcp://host:8786").  See :mod:`gdsheet.classroom.grade` and
    :mod:`gdsheet.classroom.dask_executor`."""
    from .classroom.grade import grade as _grade

    return _grade(folder, keys, out=out, feedback_dir=feedback_dir, workers=workers, rubric=_rubric(rubric),
                  time_limit=time_limit, memory_limit=int(memory_limit_mb * 2**20), executor=executor,
                  scheduler=scheduler, summary=summary)


def _rubric(rubric: Any) -> Any:
    from .classroom.rubric import Rubric

    if rubric is None or isinstance(rubric, Rubric):
        return rubric
    if isinstance(rubric, dict):
        return Rubric.from_dict(rubric)
    return Rubric.load(rubric)


def __getattr__(name: str) -> Any:
    if name in ("Report", "VerifyError"):
        from . import verifier as _module

        return getattr(_module, name)
    raise AttributeError(name)


__all__ = ["generate", "layout", "read", "verify", "Report", "VerifyError", "template", "roster_templates", "check",
           "grade"]
