"""What exercise a workbook holds, stored inside the workbook itself.

A hidden sheet survives a save in Excel, LibreOffice, Gnumeric and Google
Sheets (custom document properties do not survive all of them), so the
exercise name and its generation parameters live on a hidden sheet of
key/value rows.  ``verify`` and ``check`` read it to know what they are
looking at; the parameter *values* a table uses are then read from the named
input cells, because a person may have changed them on purpose.

More rows (``more``) carry what the classroom commands add to a student's
template or key: its role, the student, the variant and how much was left blank
(see :mod:`gdsheet.classroom.template`).  Readers ignore rows they do not know.
"""

from __future__ import annotations

import json
from typing import Any

META_SHEET = "gdsheet"
MAGIC = "gdsheet workbook"


STANDARD_ROWS = ("format", "note", "version", "exercise", "main sheet", "parameters", "long sheet")


def metadata_rows(exercise: str, params: dict[str, Any], main_sheet: str,
                  long_sheet: str | None = None, more: dict[str, str] | None = None) -> list[tuple[str, str]]:
    from .. import __version__

    extra = [("long sheet", long_sheet)] if long_sheet else []
    for key, value in (more or {}).items():
        if key in STANDARD_ROWS:
            raise ValueError(f"metadata row {key!r} is reserved")
        extra.append((key, str(value)))
    return [
        ("format", MAGIC),
        ("note", "Written by gdsheet to recognise this workbook. Please leave this sheet as it is."),
        ("version", __version__),
        ("exercise", exercise),
        ("main sheet", main_sheet),
        ("parameters", json.dumps(params, sort_keys=True, default=float)),
        *extra,
    ]


class NotGdsheet(ValueError):
    """The workbook has no (valid) gdsheet metadata sheet."""


def parse_metadata(values: dict[tuple[int, int], Any]) -> dict[str, Any]:
    """Read the key/value rows back from the hidden sheet's cell values."""
    rows: dict[str, Any] = {}
    for (r, c), v in values.items():
        if c == 1 and isinstance(v, str):
            rows[v] = values.get((r, 2))
    if rows.get("format") != MAGIC or not isinstance(rows.get("exercise"), str):
        raise NotGdsheet("not a gdsheet workbook (no gdsheet metadata sheet)")
    try:
        params = json.loads(rows.get("parameters") or "{}")
    except (TypeError, json.JSONDecodeError):
        raise NotGdsheet("gdsheet metadata sheet is damaged (parameters are not JSON)") from None
    if not isinstance(params, dict):
        raise NotGdsheet("gdsheet metadata sheet is damaged (parameters are not a mapping)")
    return {"exercise": rows["exercise"], "version": rows.get("version"),
            "main_sheet": rows.get("main sheet") or "Iterations", "long_sheet": rows.get("long sheet"),
            "params": params,
            "more": {k: v for k, v in rows.items() if k not in STANDARD_ROWS and isinstance(v, str)}}
