"""A check's result: score, diagnoses, notes — as a short text for people and JSON for machines.

Statuses (``CheckResult.status``; the gradebook's *status* column):

``graded``             every cell right (exit 0)
``mistakes``           graded, with mistakes (exit 1)
``wrong-variant``      graded against the student's own variant, but the file is another
                       variant (another student's template, an old template) (exit 1)
``unmatched``          (grade only) no roster student matches the file; graded against the
                       variant it carries, when it carries one
``not-this-exercise``  another exercise's workbook, or the exercise's table is not there (exit 2)
``unreadable``         not a workbook gdsheet can read safely; ``message`` says why (exit 2)
``missing``            (grade only) a roster student without a submission
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..formula.errors import ExcelError
from ..jsonvalue import jsonable as _jsonable
from .diagnose import MISTAKES, CellCheck

STATUSES = ("graded", "mistakes", "wrong-variant", "unmatched", "not-this-exercise", "unreadable", "missing")

_KIND_TEXT = {
    "correct": "correct",
    "carried_forward": "carried forward",
    "hardcoded": "typed-in constant",
    "typed": "typed value",
    "fixed": "right only for these inputs",
    "wrong": "wrong",
    "error": "error value",
    "missing": "empty",
    "circular": "circular reference",
    "unsupported": "unsupported function",
    "invalid": "unreadable formula",
    "external": "link to another file",
}
_HINT = {
    "wrong": "compare the formula with what the column computes (sheet Task)",
    "hardcoded": "refer to the named input cell instead of typing its number",
    "typed": "type a formula starting with =, not its result",
    "fixed": "refer to the input cells and the row above instead of numbers worked out for these inputs",
    "error": "look at what the formula divides by or refers to",
    "missing": "fill in the empty cells",
    "circular": "the formula refers, through other cells, to itself",
    "unsupported": "use a function gdsheet knows (SUM, SUMPRODUCT, INDEX, EXP, ...)",
    "invalid": "the formula cannot be read",
    "external": "refer to cells of this workbook, not another file",
}


def fmt(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "an overflow (#NUM!)"
        return f"{v:.6g}"
    if isinstance(v, ExcelError):
        return str(v)
    return repr(v)


@dataclass
class CheckResult:
    path: str
    status: str = "unreadable"
    message: str = ""  # why, in one line, for unreadable / not-this-exercise / wrong-variant / unmatched
    exercise: str | None = None
    student: str | None = None
    variant: str | None = None
    matched_by: str = ""  # grade: how the file was matched to its student
    score: float = 0.0
    max_score: float = 0.0
    cells: list[CellCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: str = ""  # where the table was found
    sha256: str = ""
    roster: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # the per-student token on the hidden sheet (tokens.py)
    embedded_student: str | None = None  # the student id on the hidden sheet
    properties: dict[str, str] = field(default_factory=dict)  # creator, last modified by, timestamps
    patterns: list[Any] = field(default_factory=list)  # PatternBreak: rows off their column's shape
    reseed: Any = None  # Reseed: the re-seeded check, when it ran

    @property
    def graded(self) -> bool:
        return self.status in ("graded", "mistakes", "wrong-variant", "unmatched") and bool(self.cells)

    @property
    def exit_code(self) -> int:
        if self.status == "graded":
            return 0
        if self.graded:  # mistakes, wrong-variant, unmatched: graded all the same
            return 1
        return 2

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            if c.scored or not c.ok:
                out[c.kind] = out.get(c.kind, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def mistakes(self) -> list[CellCheck]:
        return sorted((c for c in self.cells if c.kind in MISTAKES),
                      key=lambda c: (c.table, c.index, c.col))

    def first_mistake(self) -> str:
        m = self.mistakes()
        return _line(m[0]) if m else ""

    # ------------------------------------------------------------------ text
    def text(self, limit: int = 8) -> str:
        name = Path(self.path).name
        if not self.graded:
            return f"{name}: {self.status}: {self.message}"
        who = f", student {self.student}" if self.student else ""
        head = f"{name}: {self.exercise} exercise{who} (variant {self.variant})"
        lines = [head]
        if self.table:
            lines.append(f"table found at {self.table}")
        if self.message:
            lines.append(f"{self.status}: {self.message}")
        pct = 100 * self.score / self.max_score if self.max_score else 100.0
        counts = ", ".join(f"{n} {_KIND_TEXT.get(k, k)}" for k, n in self.counts().items())
        lines.append(f"score {_num(self.score)} / {_num(self.max_score)} ({pct:.1f}%): {counts}")
        groups = _groups(self.mistakes())
        if groups:
            lines.append("first mistakes:")
            explained: set[tuple[str, str]] = set()
            for g in groups[:limit]:
                lines.append("  " + (_group_line(g) if isinstance(g[0], CellCheck) else _empty_line(g)))
                c = g[0] if isinstance(g[0], CellCheck) else None
                if c is not None and c.kind in ("wrong", "error") and c.explanation and \
                        (c.table, c.key) not in explained:
                    explained.add((c.table, c.key))
                    lines.append(f"      {c.header}: {c.explanation}")
            if len(groups) > limit:
                rest = sum(len(g) if isinstance(g[0], CellCheck) else sum(map(len, g)) for g in groups[limit:])
                lines.append(f"  ... and {rest} more cells in {len(groups) - limit} more places")
        carried = [c for c in self.cells if c.kind == "carried_forward"]
        if carried:
            lines.append(f"{len(carried)} cells are wrong only because an earlier cell is (first "
                         f"{min(carried, key=lambda c: (c.index, c.col)).cell}): their formulas are right "
                         "and get credit; fix the first mistake and they come right")
        if self.reseed is not None:
            lines.append(self.reseed.text())
        if self.patterns:
            lines.append(f"pattern: {len(self.patterns)} row{'s' if len(self.patterns) != 1 else ''} with a "
                         "formula of another shape than the rest of the column (fill the column's formula down):")
            lines += [f"  {b.text()}" for b in self.patterns[:limit]]
            if len(self.patterns) > limit:
                lines.append(f"  ... and {len(self.patterns) - limit} more rows")
        if self.status == "graded":
            lines.append("all correct")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    # ------------------------------------------------------------------ json
    def to_dict(self, limit: int = 200) -> dict[str, Any]:
        return {
            "file": self.path, "status": self.status, "message": self.message, "exercise": self.exercise,
            "student": self.student, "variant": self.variant, "matched_by": self.matched_by,
            "score": round(self.score, 6), "max_score": round(self.max_score, 6), "sha256": self.sha256,
            "table": self.table, "counts": self.counts(), "first_mistake": self.first_mistake(),
            "notes": list(self.notes),
            "mistakes": [_cell_dict(c) for c in self.mistakes()[:limit]],
            "mistake_count": len(self.mistakes()),
            "reseed": None if self.reseed is None else self.reseed.to_dict(),
            "patterns": [b.to_dict() for b in self.patterns[:limit]],
            "token": self.token, "properties": dict(self.properties),
        }


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _cell_dict(c: CellCheck) -> dict[str, Any]:
    return {"cell": c.cell, "column": c.header, "key": c.key, "iteration_row": c.index, "kind": c.kind,
            "expected": _jsonable(c.expected), "found": _jsonable(c.found), "formula": c.formula,
            "expected_formula": c.expected_formula, "scored": c.scored, "note": c.note,
            "explanation": c.explanation}


def _line(c: CellCheck) -> str:
    text = f"{c.cell} ({c.header}): {_KIND_TEXT.get(c.kind, c.kind)}"
    if c.kind in ("wrong", "error"):
        text += f", expected {fmt(c.expected)}, found {fmt(c.found)}"
    elif c.kind == "typed":
        text += f" {fmt(c.found)} where a formula is expected"
    elif c.note:
        text += f": {c.note}"
    return text


def _groups(cells: list[CellCheck]) -> list[list[CellCheck]]:
    """Runs of consecutive rows of one column with the same diagnosis (and the same note)."""
    out: list[list[CellCheck]] = []
    last: dict[tuple[str, int], list[CellCheck]] = {}
    for c in sorted(cells, key=lambda c: (c.table, c.col, c.index)):
        g = last.get((c.table, c.col))
        if g is not None and g[-1].index == c.index - 1 and g[-1].kind == c.kind and \
                (c.kind in ("wrong", "error", "missing", "typed", "fixed") or g[-1].note == c.note):
            g.append(c)
            continue
        g = [c]
        last[(c.table, c.col)] = g
        out.append(g)
    out.sort(key=lambda g: (g[0].table, g[0].index, g[0].col))
    # empty runs over the same rows of several columns: one line ("rows 43 to 62 are empty")
    merged: list[Any] = []
    spans: dict[tuple[str, int, int], list[list[CellCheck]]] = {}
    for g in out:
        if g[0].kind == "missing" and not g[0].note and len(g) > 1:
            span = (g[0].table, g[0].index, g[-1].index)
            if span in spans:
                spans[span].append(g)
                continue
            spans[span] = [g]
            merged.append(spans[span])
        else:
            merged.append(g)
    return [m[0] if isinstance(m[0], list) and len(m) == 1 else m for m in merged]


def _empty_line(gs: list[list[CellCheck]]) -> str:
    first, last = gs[0][0], gs[0][-1]
    cols = ", ".join(g[0].header for g in gs[:6]) + (", ..." if len(gs) > 6 else "")
    return f"'{first.sheet}' rows {first.row} to {last.row} are empty in {len(gs)} columns ({cols}); " \
           f"{_HINT['missing']}"


def _group_line(g: list[CellCheck]) -> str:
    c = g[0]
    where = c.cell if len(g) == 1 else f"{c.cell}:{g[-1].cell.split('!')[-1]}"
    text = f"{where} ({c.header}" + ("" if len(g) == 1 else f", {len(g)} rows")
    text += f"): {_KIND_TEXT.get(c.kind, c.kind)}"
    if c.kind in ("wrong", "error"):
        text += f" — expected {fmt(c.expected)}, found {fmt(c.found)}"
        if c.formula:
            text += f" from {c.formula}"
    elif c.kind == "typed":
        text += f" — {fmt(c.found)} typed where a formula is expected"
    elif c.kind == "missing":
        text += f" — {c.note}" if c.note else ""
    elif c.note:
        text += f" — {c.note}"
        if c.formula and c.kind == "hardcoded":
            text += f" ({c.formula})"
    if not c.scored:
        text += " [a given cell was changed]"
    hint = _HINT.get(c.kind)
    if hint and c.kind not in ("hardcoded", "wrong", "error"):
        text += f"; {hint}"
    return text
