"""``gdsheet check``: one submission against the reference of its variant.

Where the reference comes from, in order:

1. ``key=`` an answer key workbook (``template --key``): its exercise and parameters;
2. ``keys=`` a keys file (``template --roster``): the student's entry, found by
   ``student=``, else the student id embedded in the submission, else its
   embedded variant id, else a student id in the file name (:func:`match`);
3. neither: the exercise and variant embedded in the submission itself — what a
   student at midnight has: their own template, filled in.

The submission is read with :data:`~gdsheet.workbook.safety.SUBMISSION_LIMITS`
(never trusted, never modified), its own formulas are evaluated, its table is
located by header labels and every cell diagnosed (:mod:`.diagnose`), then
scored with the rubric (:mod:`.rubric`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exercises import EXERCISES
from ..exercises.base import Exercise
from ..formula.errors import FormulaError
from ..tolerance import DEFAULT, Tolerance
from ..workbook.metadata import META_SHEET, NotGdsheet, parse_metadata
from ..workbook.model import Workbook
from ..workbook.reader import read_workbook
from ..workbook.safety import DEFAULT_LIMITS, SUBMISSION_LIMITS, Limits, UnreadableWorkbook
from .diagnose import diagnose
from .integrity import file_properties
from .patterns import pattern_breaks
from .reseed import reseeded
from .keys import Keys, KeysError, StudentKey, variant_id
from .locate import TableNotFound
from .report import CheckResult
from .rubric import Rubric
from .template import Blank, file_stem
from .tokens import owner


MARGIN_ROWS = 1_000  # rows read beyond an exercise's last row (the table may not start at row 1)


class CheckError(ValueError):
    """The submission cannot be checked against this reference; ``status`` says how it fails."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Embedded:
    """What a gdsheet workbook says about itself on its hidden sheet."""

    exercise: str
    params: dict[str, Any]
    more: dict[str, str]

    @property
    def student(self) -> str | None:
        return self.more.get("student") or None

    @property
    def variant(self) -> str | None:
        return self.more.get("variant") or None


def embedded(wb: Workbook) -> Embedded | None:
    meta = next((s for s in wb.sheets.values() if s.name.lower() == META_SHEET), None)
    if meta is None:
        return None
    try:
        m = parse_metadata(meta.values)
    except NotGdsheet:
        return None
    return Embedded(m["exercise"], m["params"], m.get("more") or {})


@dataclass
class Reference:
    exercise: Exercise
    params: dict[str, Any]
    blank: Blank
    student: str | None
    variant: str
    matched_by: str = ""
    roster: dict[str, str] | None = None
    inputs_from: Workbook | None = None  # a workbook whose data sheet completes the parameters (see _layout)


def match(keys: Keys, emb: Embedded | None, path: str | os.PathLike[str], student: str | None = None
          ) -> tuple[StudentKey | None, str]:
    """The roster student a submission belongs to, and how it was found: "given", "embedded id",
    "embedded variant", "file name", "token" — or (None, "").  A file whose name names one roster
    student and whose hidden sheet names another is the first's (see :mod:`.integrity`).  The
    token comes last: it says whose template the file was built from, which is its submitter's
    only when nothing else names anybody (a renamed file whose hidden id was edited)."""
    if student is not None:
        return keys.student(student), "given"
    if emb is not None and emb.exercise == keys.exercise:
        if emb.student and keys.student(emb.student):
            # a file named for another roster student was handed in by that student (an LMS names files
            # by their submitter): it is theirs, and the other id inside is an integrity flag for grade
            named = match_name(keys, Path(path))
            if named is not None and named.student != emb.student:
                return named, "file name"
            return keys.student(emb.student), "embedded id"
        if emb.variant:
            hits = keys.by_variant(emb.variant)
            if len(hits) == 1:
                return hits[0], "embedded variant"
    hit = match_name(keys, Path(path))
    if hit is not None:
        return hit, "file name"
    who = owner(keys, emb.more.get("token")) if emb is not None and emb.exercise == keys.exercise else None
    return (keys.student(who), "token") if who is not None else (None, "")


def match_name(keys: Keys, path: Path) -> StudentKey | None:
    """A student whose id is a word of the file's name (or of its folder's: LMS downloads
    put each student's files in a folder); the longest id wins, a tie matches nobody."""
    table = getattr(keys, "_names", None)
    if table is None:
        table = {}
        for s in keys.students:
            for form in {s.student.lower(), file_stem(s.student).lower()}:
                table.setdefault(form, []).append(s)
        keys._names = table  # type: ignore[attr-defined]
    found: list[StudentKey] = []
    for text in (path.stem, path.parent.name):
        low = text.lower()
        words = {low, *re.split(r"[\s_,;()\[\]{}]+", low), *re.split(r"[^0-9a-z@.+]+", low)}
        for w in words:
            for s in table.get(w, []):
                if s not in found:
                    found.append(s)
        if found:
            break
    if not found:
        return None
    found.sort(key=lambda s: -len(s.student))
    if len(found) > 1 and len(found[0].student) == len(found[1].student):
        return None
    return found[0]


def _resolve(emb: Embedded | None, key: str | os.PathLike[str] | None, keys: Keys | None, student: str | None,
             path: Path) -> Reference:
    if key is not None:
        try:
            kwb = read_workbook(key, limits=DEFAULT_LIMITS)
        except UnreadableWorkbook as exc:
            raise CheckError("unreadable", f"the key: {exc}") from None
        kemb = embedded(kwb)
        if kemb is None:
            raise CheckError("unreadable", f"{Path(key).name} is not a gdsheet workbook: give the key written "
                                           "by 'gdsheet template --key'")
        ex = _exercise(kemb.exercise)
        params = _params(ex, kemb.params)
        return Reference(ex, params, Blank.parse(kemb.more.get("blank")), kemb.student,
                         variant_id(ex.name, params), "key", inputs_from=kwb)
    if keys is not None:
        if emb is not None and emb.exercise != keys.exercise and emb.exercise in EXERCISES:
            raise CheckError("not-this-exercise", f"a {emb.exercise} workbook; the keys are for the "
                                                  f"{keys.exercise} exercise")
        sk, how = match(keys, emb, path, student)
        ex = _exercise(keys.exercise)
        if sk is None:
            if student is not None:
                raise CheckError("unmatched", f"student {student!r} is not in the keys file")
            who = f" (it says student {emb.student!r})" if emb is not None and emb.student else ""
            if emb is not None and emb.exercise == keys.exercise:
                params = _params(ex, emb.params)
                if keys.base and _class_part(ex, params) != _class_part(ex, _params(ex, keys.base)):
                    raise CheckError("unmatched", f"no roster student matches this file{who}, and its "
                                                  "parameters are not this class's")
                ref = Reference(ex, params, Blank.parse(emb.more.get("blank") or keys.blank), emb.student,
                                variant_id(ex.name, params), "")
                ref.roster = None
                raise _Unmatched(ref, f"no roster student matches this file{who}; graded against the "
                                      "variant it carries")
            raise CheckError("unmatched", f"no roster student matches this file{who} and it carries no "
                                          "variant to grade against")
        params = _params(ex, sk.params)
        return Reference(ex, params, Blank.parse(keys.blank), sk.student, sk.variant, how, dict(sk.roster))
    if emb is None:
        raise CheckError("not-this-exercise", "not a gdsheet template (no hidden gdsheet sheet): check it with "
                                              "--key KEY.xlsx or --keys KEYS.json")
    ex = _exercise(emb.exercise)
    params = _params(ex, emb.params)
    return Reference(ex, params, Blank.parse(emb.more.get("blank")), emb.student, variant_id(ex.name, params),
                     "embedded", inputs_from=_SUBMISSION)


_SUBMISSION: Any = object()  # Reference.inputs_from: the submission itself


def _layout(ref: Reference, wb: Workbook) -> Any:
    """The reference layout.  Data read from a file at generation (a network's ``--data``) is not in
    the metadata but on the workbook's Data sheet: then the exercise reads it from the key (or,
    checking a file against itself, from the file), keeping every named input at its generated value."""
    ex = ref.exercise
    try:
        return ex.layout(ref.params)
    except ValueError:
        source = wb if ref.inputs_from is _SUBMISSION else ref.inputs_from
        if source is None:
            raise
    params, _, _ = ex.from_workbook(ref.params, source)
    for prm in ex.params:
        if prm.in_workbook and prm.live:
            params[prm.key] = ref.params[prm.key]
    return ex.layout(params)


def _class_part(ex: Exercise, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters every student of a class shares: all but the variant's and private ones."""
    return {k: v for k, v in params.items() if k not in ex.variation and not k.startswith("_")}


class _Unmatched(Exception):
    def __init__(self, ref: Reference, message: str) -> None:
        super().__init__(message)
        self.ref, self.message = ref, message


def _exercise(name: str) -> Exercise:
    ex = EXERCISES.get(name)
    if ex is None:
        raise CheckError("not-this-exercise", f"exercise {name!r} is unknown to this gdsheet "
                                              f"(known: {', '.join(sorted(EXERCISES))})")
    return ex


def _params(ex: Exercise, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return ex.resolve(params)
    except (ValueError, TypeError) as exc:
        raise CheckError("unreadable", f"damaged {ex.name} parameters ({exc})") from None


def sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def check(path: str | os.PathLike[str], *, key: str | os.PathLike[str] | None = None,
          keys: Keys | str | os.PathLike[str] | None = None, student: str | None = None,
          rubric: Rubric | None = None, limits: Limits = SUBMISSION_LIMITS, tolerance: Tolerance = DEFAULT,
          feedback: str | os.PathLike[str] | None = None) -> CheckResult:
    """Check one submission; never raises for a bad submission (the result's status says why).

    Raises ValueError only for bad *arguments* (an unreadable keys file, a feedback path that is
    the submission itself).
    """
    p = Path(path)
    result = CheckResult(str(p))
    if keys is not None and not isinstance(keys, Keys):
        keys = Keys.load(keys)
    if feedback is not None and p.exists() and Path(feedback).resolve() == p.resolve():
        raise ValueError("--feedback must name a new file: the submission is never modified")
    result.sha256 = sha256(p)
    try:
        wb = read_workbook(p, limits=limits)
    except UnreadableWorkbook as exc:
        result.message = str(exc).removeprefix(f"{p.name}: ")
        return result
    except MemoryError:
        result.message = "the workbook needs more memory than the limit allows"
        return result
    _check(result, wb, p, key, keys, student, rubric, tolerance, limits)
    if feedback is not None:
        from .feedback import write_feedback

        write_feedback(p, result, feedback)
    return result


def _check(result: CheckResult, wb: Workbook, p: Path, key: Any, keys: Keys | None, student: str | None,
           rubric: Rubric | None, tolerance: Tolerance, limits: Limits) -> None:
    emb = embedded(wb)
    result.properties = file_properties(wb)
    if emb is not None:
        result.token, result.embedded_student = emb.more.get("token") or None, emb.student
    unmatched = ""
    try:
        ref = _resolve(emb, key, keys, student, p)
    except _Unmatched as u:
        ref, unmatched = u.ref, u.message
    except CheckError as exc:
        result.status, result.message = exc.status, str(exc)
        if emb is not None:
            result.exercise, result.student, result.variant = emb.exercise, emb.student, emb.variant
        return
    ex = ref.exercise
    result.exercise, result.student, result.variant = ex.name, ref.student, ref.variant
    result.matched_by, result.roster = ref.matched_by, dict(ref.roster or {})
    if emb is not None and emb.exercise != ex.name:
        result.status = "not-this-exercise"
        result.message = f"a {emb.exercise} workbook, not the {ex.name} exercise"
        return
    wrong_variant = ""
    if emb is not None and emb.params and ref.matched_by != "":
        try:
            their = variant_id(ex.name, ex.resolve(emb.params))
        except (ValueError, TypeError):
            their = "damaged"
        if their != ref.variant:
            whose = f" (student {emb.student})" if emb.student and emb.student != ref.student else ""
            wrong_variant = f"the file is variant {their}{whose}, {ref.student or 'this student'}'s is " \
                            f"{ref.variant}: graded against {ref.variant}"
    try:
        layout = _layout(ref, wb)
    except (ValueError, OSError, KeyError) as exc:
        result.status, result.message = "unreadable", f"cannot build the reference: {exc}"
        return
    need = max((sl.table.top + sl.table.n_rows for sl in layout.sheets if sl.table is not None), default=0)
    if wb.limited and need + MARGIN_ROWS > limits.max_row:  # a big exercise: read again with room for it
        try:
            wb = read_workbook(p, limits=dataclasses.replace(limits, max_row=min(1_048_576, need + MARGIN_ROWS)))
        except (UnreadableWorkbook, MemoryError) as exc:
            result.status, result.message = "unreadable", str(exc).removeprefix(f"{p.name}: ")
            return
    try:
        diag = diagnose(wb, layout, ref.blank, tolerance=tolerance)
    except TableNotFound as exc:
        result.status, result.message = "not-this-exercise", str(exc)
        return
    except (FormulaError, RecursionError) as exc:
        result.status, result.message = "unreadable", f"cannot evaluate the formulas ({exc})"
        return
    result.cells = diag.cells
    result.patterns = pattern_breaks(wb, layout, diag)
    try:
        result.reseed = reseeded(wb, layout, ref.exercise, ref.params, ref.blank, diag, tolerance)
    except (FormulaError, RecursionError, TableNotFound) as exc:
        notes_reseed = f"the re-seeded check could not run ({exc})"
        result.notes.append(notes_reseed)
    tables = [loc.describe(layout.sheet(name).table) for name, loc in diag.located.items()]  # type: ignore[arg-type]
    result.table = ", ".join(tables)
    notes = result.notes
    for name, loc in diag.located.items():
        table = layout.sheet(name).table
        assert table is not None
        if loc.missing:
            heads = [c.header for c in table.columns if c.key in loc.missing]
            notes.append(f"columns not found on '{loc.sheet}': {', '.join(heads)}")
        if loc.extra_rows:
            notes.append(f"'{loc.sheet}': {loc.extra_rows} rows below the last iteration are not checked")
    notes += _input_notes(wb, layout)
    notes += diag.notes
    if wb.has_macros:
        notes.append("the file contains macros (vbaProject.bin): they were neither loaded nor run")
    if wb.external_links:
        notes.append(f"the file links to {wb.external_links} other workbook(s): links are never followed; "
                     "a formula reading another file is an error in that cell")
    notes += wb.limited
    _score(result, rubric or Rubric())
    mistakes = bool(result.mistakes())
    if unmatched:
        result.status, result.message = "unmatched", unmatched
    elif wrong_variant:
        result.status, result.message = "wrong-variant", wrong_variant
    else:
        result.status = "mistakes" if mistakes else "graded"


def _input_notes(wb: Workbook, layout: Any) -> list[str]:
    """Named input cells whose value is not the variant's (the student typed over an input)."""
    out = []
    for sl in layout.sheets:
        for cell in sl.cells:
            if not (cell.name and cell.style == "input" and isinstance(cell.value, (int, float))):
                continue
            target = wb.names.get((None, cell.name.lower()))
            value = None
            m = re.fullmatch(r"'?(.*?)'?!\$?([A-Z]{1,3})\$?(\d+)", target or "")
            if m:
                try:
                    from ..workbook.reader import col_index

                    value = wb.sheet(m.group(1).replace("''", "'")).values.get((int(m.group(3)),
                                                                                 col_index(m.group(2))))
                except KeyError:
                    value = None
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, float) or \
                    not math.isclose(value, float(cell.value), rel_tol=1e-12, abs_tol=0.0):
                out.append(f"the input {cell.name} holds {value!r}, the exercise's value is {cell.value!r}: "
                           "the table is checked against the exercise's value")
    return out


def _score(result: CheckResult, rubric: Rubric) -> None:
    total = earned = 0.0
    rows: dict[tuple[str, int], float] = {}
    for c in result.cells:
        if not c.scored:
            continue
        c.points = rubric.cell_points(c.key, c.header)
        credit = rubric.credit.get(c.kind, 0.0)
        c.earned = c.points * credit
        total += c.points
        earned += c.earned
        k = (c.table, c.index)
        rows[k] = min(rows.get(k, 1.0), credit)
    if rubric.row_points:
        total += rubric.row_points * len(rows)
        earned += rubric.row_points * sum(rows.values())
    if rubric.scale_to is not None and total > 0:
        earned, total = earned * rubric.scale_to / total, rubric.scale_to
    result.score, result.max_score = earned, total


__all__ = ["check", "match", "CheckError", "embedded", "KeysError"]
