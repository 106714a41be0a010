"""Review flags for a class's submissions: tokens, copies, pasted variants, file metadata.

``grade`` adds these columns to the gradebook.  They are **flags for a person
to look at, never a grade**: the score column is the same with or without
them (a student may have a good reason; a teacher decides)::

    review                 every reason below in one line; empty when there is nothing to look at
    token                  ok | another student's (<id>) | missing | invalid | (empty: the keys file
                           has no course secret, or the file could not be read)
    same_token_as          the other files carrying the same token (a file handed in twice, or copied)
    values_match           another student whose variant the table's values match better than the
                           submitter's own (content pasted from their file), with how many cells
    file_creator, file_last_modified_by, file_created, file_modified
                           the workbook's own document properties (docProps/core.xml), as written by
                           Excel or LibreOffice; a last author shared by several students' files is a
                           review reason too

How "values match another variant" is decided: the child that checks a file
keeps the values of its table's first :data:`SIGNATURE_ROWS` rows that differ
from the submitter's own reference (:func:`evidence`).  When there are at
least :data:`MIN_CELLS` of them, the parent compares them with the
reference of every variant of the class (numpy, relative tolerance 1e-9): a
variant that explains at least half of the differing cells (and
:data:`MIN_CELLS`) is named.  The class's references are built only when some
file needs them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exercises import get as get_exercise
from ..workbook.model import Workbook
from .keys import Keys
from .report import CheckResult
from .summary import mistake_key
from .tokens import owner

COLUMNS = ["review", "token", "same_token_as", "values_match", "file_creator", "file_last_modified_by",
           "file_created", "file_modified"]
PROPERTIES = {"creator": "file_creator", "lastModifiedBy": "file_last_modified_by", "created": "file_created",
              "modified": "file_modified"}
SIGNATURE_ROWS = 12
MIN_CELLS = 3
EVIDENCE = "_evidence"  # the gradebook row's private entry, removed when the gradebook is assembled


def file_properties(wb: Workbook) -> dict[str, str]:
    """The document properties worth a look, from what the reader found in docProps."""
    return {k: wb.properties[k] for k in PROPERTIES if wb.properties.get(k)}


def evidence(result: CheckResult) -> dict[str, Any]:
    """What the parent needs from a checked file (small, picklable): token, properties, the table's first
    values, and the mistakes by column and kind for the class statistics."""
    signature = [[c.table, c.key, c.index, c.found] for c in result.cells
                 if c.index < SIGNATURE_ROWS and isinstance(c.found, float) and math.isfinite(c.found)
                 and not _close(c.found, c.expected)]
    mistakes: dict[str, int] = {}
    first: int | None = None
    for c in result.mistakes():
        k = mistake_key(c.header, c.kind, c.note)
        mistakes[k] = mistakes.get(k, 0) + 1
        if c.scored and c.kind != "missing":
            first = c.index if first is None else min(first, c.index)
    for b in result.patterns:
        k = mistake_key(b.header, "pattern", "")
        mistakes[k] = mistakes.get(k, 0) + 1
    return {"token": result.token, "embedded_student": result.embedded_student,
            "properties": dict(result.properties), "variant": result.variant, "signature": signature,
            "graded": result.graded, "mistakes": mistakes, "first_wrong": first,
            "patterns": len(result.patterns), "percent": (100 * result.score / result.max_score
                                                          if result.graded and result.max_score else None)}


def _close(found: float, expected: Any) -> bool:
    return isinstance(expected, (int, float)) and math.isclose(found, float(expected), rel_tol=1e-9, abs_tol=1e-12)


def property_columns(ev: dict[str, Any]) -> dict[str, str]:
    return {col: (ev.get("properties") or {}).get(k, "") for k, col in PROPERTIES.items()}


def review(keys: Keys, rows: list[dict[str, Any]], evidences: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Fill the review columns of every gradebook row (rows and evidences in the same order); return the
    counts of each flag for the class summary."""
    reasons: list[list[str]] = [[] for _ in rows]
    flags = {"another student's token": 0, "same token on several files": 0, "missing token": 0,
             "invalid token": 0, "values match another variant": 0, "last author shared across students": 0}
    by_token: dict[str, list[int]] = {}
    by_author: dict[str, list[int]] = {}
    for i, (row, ev) in enumerate(zip(rows, evidences)):
        row.update(dict.fromkeys(COLUMNS, ""))
        if ev is None:
            continue
        row.update(property_columns(ev))
        if not keys.secret or row.get("status") in ("unreadable", "missing"):
            continue
        token = ev.get("token")
        who = owner(keys, token)
        if not token:
            row["token"] = "missing"
            reasons[i].append("no token: not built from a template handed out to this class")
            flags["missing token"] += 1
        elif who is None:
            row["token"] = "invalid"
            reasons[i].append("the token does not verify: the hidden sheet was edited or comes from elsewhere")
            flags["invalid token"] += 1
        elif row.get("student") and who != row["student"]:
            row["token"] = f"another student's ({who})"
            reasons[i].append(f"built from {who}'s template (their token)")
            flags["another student's token"] += 1
        else:
            row["token"] = "ok"
        if token:
            by_token.setdefault(token.strip().lower(), []).append(i)
        author = (ev.get("properties") or {}).get("lastModifiedBy", "").strip()
        if author and not author.lower().startswith("gdsheet") and row.get("student"):
            by_author.setdefault(author.casefold(), []).append(i)
    for group in by_token.values():
        if len(group) < 2:
            continue
        for i in group:
            others = [rows[j]["file"] for j in group if j != i]
            rows[i]["same_token_as"] = ", ".join(others)
            reasons[i].append(f"the same token as {', '.join(others)}")
            flags["same token on several files"] += 1
    for group in by_author.values():
        students = {rows[i]["student"] for i in group}
        if len(students) < 2:
            continue
        for i in group:
            others = sorted(students - {rows[i]["student"]})
            reasons[i].append(f"last saved by the same person as the files of {', '.join(others)}")
            flags["last author shared across students"] += 1
    pasted = _pasted(keys, rows, evidences)
    for i, (who, n, of) in pasted.items():
        rows[i]["values_match"] = f"{who} ({n} of {of} cells)"
        reasons[i].append(f"its values match {who}'s variant, not its own ({n} of {of} differing cells)")
        flags["values match another variant"] += 1
    for row, why in zip(rows, reasons):
        row["review"] = "; ".join(why)
    return {k: v for k, v in flags.items()}


def _pasted(keys: Keys, rows: list[dict[str, Any]], evidences: list[dict[str, Any] | None]
            ) -> dict[int, tuple[str, int, int]]:
    """Rows whose table values match another student's variant: row index -> (student, cells, of)."""
    suspects = []
    for i, (row, ev) in enumerate(zip(rows, evidences)):
        sk = keys.student(row.get("student") or "")
        if ev is None or sk is None or len(ev.get("signature") or ()) < MIN_CELLS:
            continue
        suspects.append((i, sk, ev["signature"]))
    if not suspects:
        return {}
    refs = _References(keys)
    out = {}
    for i, sk, signature in suspects:
        cells = [(t, k, n) for t, k, n, _ in signature]
        found = np.array([v for *_, v in signature], dtype=float)
        matrix, students = refs.matrix(cells)
        hits = (np.isclose(matrix, found, rtol=1e-9, atol=1e-12)).sum(axis=1)
        for j, s in enumerate(students):
            if s == sk.student or keys.student(s).variant == sk.variant:  # type: ignore[union-attr]
                hits[j] = -1
        if not students:
            continue
        best = int(np.argmax(hits))
        n, of = int(hits[best]), len(cells)
        if n >= MIN_CELLS and 2 * n >= of:
            out[i] = (students[best], n, of)
    return out


class _References:
    """Every variant's reference values at given cells (table, column key, data row), built on demand."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.ex = get_exercise(keys.exercise)
        self.tables: dict[str, dict[tuple[str, str], list[Any]] | None] = {}
        self.matrices: dict[tuple[Any, ...], tuple[np.ndarray, list[str]]] = {}

    def _columns(self, student: str) -> dict[tuple[str, str], list[Any]] | None:
        if student not in self.tables:
            sk = self.keys.student(student)
            try:
                layout = self.ex.layout(self.ex.resolve(sk.params))  # type: ignore[union-attr]
            except (ValueError, TypeError, KeyError, OSError):
                self.tables[student] = None
                return None
            cols = {}
            for sl in layout.sheets:
                if sl.table is not None:
                    for c in sl.table.columns:
                        v = c.values.tolist() if hasattr(c.values, "tolist") else list(c.values)
                        cols[(sl.name, c.key)] = v[:SIGNATURE_ROWS]
            self.tables[student] = cols
        return self.tables[student]

    def values(self, student: str, cells: list[tuple[str, str, int]]) -> np.ndarray | None:
        cols = self._columns(student)
        if cols is None:
            return None
        out = []
        for t, k, n in cells:
            col = cols.get((t, k)) or []
            v = col[n] if n < len(col) else None
            out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan)
        return np.array(out, dtype=float)

    def matrix(self, cells: list[tuple[str, str, int]]) -> tuple[np.ndarray, list[str]]:
        key = tuple(cells)
        if key not in self.matrices:
            students, rows = [], []
            for s in self.keys.students:
                v = self.values(s.student, cells)
                if v is not None:
                    students.append(s.student)
                    rows.append(v)
            self.matrices[key] = (np.array(rows).reshape(len(rows), len(cells)), students)
        return self.matrices[key]
