"""gdsheet: gradient descent in a spreadsheet, with proof that Python and the spreadsheet agree.

The Python API mirrors the command line::

    import gdsheet
    gdsheet.generate("quadratic", "q.xlsx", lr=0.05, steps=100)
    gdsheet.read("q.xlsx")        # pandas DataFrame
    gdsheet.verify("q.xlsx").ok   # True
    gdsheet.recalc("any.xlsx")    # RecalcReport: every formula recalculated, cached values checked
    gdsheet.recalc_frames("any.xlsx")  # {sheet: DataFrame of recalculated values}

    # the classroom
    gdsheet.template("quadratic", "student.xlsx", key="key.xlsx")
    keys = gdsheet.roster_templates("quadratic", "roster.csv", "templates/", seed="2026")
    gdsheet.check("submission.xlsx").text()               # CheckResult: status, score, diagnoses
    gdsheet.grade("submissions/", keys, "gradebook.csv")  # Gradebook
"""

from typing import Any

__version__ = "0.1.0"

_RECALC = ("recalc", "recalc_frames", "RecalcReport")

_CLASSROOM = ("template", "roster_templates", "check", "grade")

__all__ = ["__version__", "generate", "layout", "read", "verify", "Report", "VerifyError", *_RECALC, *_CLASSROOM]


def __getattr__(name: str) -> Any:
    # imported on first use: `python -m gdsheet --version` and the formula package
    # should not pay for pandas
    if name in _RECALC:
        from . import recalculator

        return getattr(recalculator, name)
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
