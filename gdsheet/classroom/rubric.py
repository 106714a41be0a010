"""How diagnosed cells become points: the grading rubric.

Every cell a student had to fill (the cells the template left blank) is
worth ``points`` (or ``columns[key]`` for its column; a column's key or its
header text both work), times the credit its diagnosis earns::

    {
      "points": 1,                     # per cell to fill
      "columns": {"x": 2},             # per-column override, by key or header ("x_k")
      "row_points": 0,                 # per iteration row, times the lowest credit in that row
      "credit": {                      # fraction of the points each diagnosis earns
        "correct": 1, "carried_forward": 1,
        "hardcoded": 0, "typed": 0, "fixed": 0, "wrong": 0, "error": 0, "missing": 0,
        "circular": 0, "unsupported": 0, "invalid": 0, "external": 0
      },
      "scale_to": null                 # e.g. 100: report the score out of 100
    }

A rubric file (``--rubric rubric.json``) lists only what it changes; the keys
file may carry one (``template --rubric``) that ``grade`` then applies.  The
default gives full credit for an error carried forward (the student's formula
is right; an earlier row is what is wrong) and none for a right number typed
in or computed with a typed-in constant.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("correct", "carried_forward", "hardcoded", "typed", "fixed", "wrong", "error", "missing", "circular",
         "unsupported", "invalid", "external")
DEFAULT_CREDIT = {k: 0.0 for k in KINDS} | {"correct": 1.0, "carried_forward": 1.0}


@dataclass(frozen=True)
class Rubric:
    points: float = 1.0
    columns: dict[str, float] = field(default_factory=dict)
    row_points: float = 0.0
    credit: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CREDIT))
    scale_to: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, name: str = "rubric") -> "Rubric":
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"{name}: a rubric is a JSON object")
        unknown = set(d) - {"points", "columns", "row_points", "credit", "scale_to"}
        if unknown:
            raise ValueError(f"{name}: unknown rubric entries {', '.join(sorted(unknown))}")
        credit = dict(DEFAULT_CREDIT)
        for k, v in (d.get("credit") or {}).items():
            if k not in KINDS:
                raise ValueError(f"{name}: unknown diagnosis {k!r} in credit (known: {', '.join(KINDS)})")
            credit[k] = _number(v, f"{name}: credit.{k}", 0.0, 1.0)
        columns = {str(k): _number(v, f"{name}: columns.{k}", 0.0) for k, v in (d.get("columns") or {}).items()}
        scale = d.get("scale_to")
        return cls(points=_number(d.get("points", 1.0), f"{name}: points", 0.0), columns=columns,
                   row_points=_number(d.get("row_points", 0.0), f"{name}: row_points", 0.0), credit=credit,
                   scale_to=None if scale is None else _number(scale, f"{name}: scale_to", 0.0))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Rubric":
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{p.name}: no such rubric file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p.name}: cannot read the rubric ({exc})") from None
        return cls.from_dict(data, p.name)

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.points, "columns": dict(self.columns), "row_points": self.row_points,
                "credit": dict(self.credit), "scale_to": self.scale_to}

    def cell_points(self, key: str, header: str) -> float:
        if key in self.columns:
            return self.columns[key]
        return self.columns.get(header, self.points)


def _number(v: Any, what: str, lo: float, hi: float = math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{what}: expected a number from {lo:g} to {hi:g}, got {v!r}")
    return float(v)
