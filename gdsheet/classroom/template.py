"""Student templates and answer keys, one per class or one per student.

A **template** is the exercise's workbook with the student's part left
blank: the parameters, the data, the headers and iteration 0 are filled in;
the formula cells below iteration 0 are empty (``Blank("all")``), or all but
the first few iterations (``Blank.parse("after:3")``: a worked start).  A
**key** is the complete workbook of the same parameters.  Both carry, on the
hidden ``gdsheet`` sheet, the exercise and its parameters plus these rows::

    role      student template | answer key
    student   the student id (roster templates)
    variant   the variant id (keys.variant_id: exercise + parameter hash)
    token     (roster templates) HMAC of student and variant under the course secret
              (:mod:`.tokens`): who the template was written for, unforgeable
    blank     all | after:N
    course    the course label

so ``check`` knows what a submission should compute without being told, and
``grade`` can match a renamed file to its student.  A template opens on a
``Task`` sheet that says which cells to fill and how to check them.

**Roster variants.**  With a roster, each student's parameters are drawn by
the exercise's :meth:`~gdsheet.exercises.base.Exercise.variant` from a
``random.Random`` seeded with a SHA-256 of (exercise, course seed, student
id), within the ranges the exercise module documents in
``Exercise.variation`` (the quadratic: x₀ and η).  Same roster and seed →
same parameters, same templates, same keys file; with ``SOURCE_DATE_EPOCH``
set the files are byte for byte the same.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exercises import get as get_exercise
from ..exercises.base import Cell, Exercise, Layout, SheetLayout, Table, col_letter
from ..workbook.writer import write_layout
from .keys import Keys, KeysError, StudentKey, variant_id
from .tokens import make_token, new_secret

ROLE_TEMPLATE = "student template"
ROLE_KEY = "answer key"
TASK_SHEET = "Task"
ID_COLUMNS = ("student", "student_id", "student id", "studentid", "id", "username", "user", "login", "email",
              "e-mail", "matriculation", "matrikelnummer", "sid")


class RosterError(ValueError):
    """The roster cannot be used; one line."""


@dataclass(frozen=True)
class Blank:
    """How much of each formula column a template leaves to the student.

    ``worked`` iterations after the head rows (iteration 0) stay filled in as a
    worked start; everything below is blank.  Text form: ``all`` (worked = 0)
    or ``after:N``.
    """

    worked: int = 0

    @classmethod
    def parse(cls, text: str | None) -> "Blank":
        t = (text or "all").strip().lower()
        if t in ("all", "columns", "formulas"):
            return cls(0)
        m = re.fullmatch(r"(?:after|rows)[:=]?(\d+)", t)
        if m:
            return cls(int(m.group(1)))
        raise ValueError(f"--blank: expected 'all' or 'after:N' (N worked iterations), got {text!r}")

    def __str__(self) -> str:
        return "all" if self.worked == 0 else f"after:{self.worked}"


def given_rows(table: Table, worked: int = 0) -> int:
    """How many data rows of ``table`` a template fills in: iteration 0 plus ``worked`` more.

    When the table's first column is constants (``iteration``), an iteration is
    every row with the same value there — one row in the quadratic's table, one
    row per observation in a network's ``Passes``; else an iteration is one row.
    """
    first = table.columns[0] if table.columns else None
    if first is None or first.formula is not None or not len(first.values):
        return 1 + worked
    values = list(first.values.tolist() if hasattr(first.values, "tolist") else first.values)
    seen: list[Any] = []
    for i, v in enumerate(values):
        if v not in seen:
            if len(seen) == 1 + worked:
                return i
            seen.append(v)
    return len(values)


def student_rows(layout: Layout, blank: Blank) -> dict[str, dict[str, range]]:
    """The cells a student fills: per table sheet, per formula column key, the data-row
    indices (0 = the first row under the header) left blank in the template."""
    out: dict[str, dict[str, range]] = {}
    for sl in layout.sheets:
        if sl.table is None:
            continue
        given = given_rows(sl.table, blank.worked)
        cols = {}
        for c in sl.table.columns:
            if c.formula is None:
                continue
            n = len(c.values)
            start = min(n, max(len(c.head), given))
            if start < n:
                cols[c.key] = range(start, n)
        if cols:
            out[sl.name] = cols
    return out


def student_layout(layout: Layout, blank: Blank, metadata: dict[str, str], exercise: Exercise) -> Layout:
    """The template: ``layout`` with the student's cells empty (formatted, no value) and a Task sheet."""
    rows = student_rows(layout, blank)
    sheets: list[SheetLayout] = []
    for sl in layout.sheets:
        todo = rows.get(sl.name)
        if not todo or sl.table is None:
            sheets.append(sl)
            continue
        columns = []
        for c in sl.table.columns:
            r = todo.get(c.key)
            if r is None:
                columns.append(c)
                continue
            values = list(c.values.tolist() if hasattr(c.values, "tolist") else c.values)
            for k in r:
                values[k] = None
            head = list(c.head) + [c.formula] * (r.start - len(c.head))  # given rows keep their formulas
            columns.append(dataclasses.replace(c, values=values, formula=None, head=head))
        sheets.append(dataclasses.replace(sl, table=dataclasses.replace(sl.table, columns=columns)))
    task = _task_sheet(layout, rows, metadata, exercise, {s.name for s in sheets})
    return dataclasses.replace(layout, sheets=[task, *sheets], metadata=dict(metadata))


def _task_sheet(layout: Layout, rows: dict[str, dict[str, range]], metadata: dict[str, str], exercise: Exercise,
                taken: set[str]) -> SheetLayout:
    name = TASK_SHEET if TASK_SHEET not in taken else "Your task"
    sl = SheetLayout(name, widths={1: 24, 2: 96}, tab_color="#C00000")
    cells = sl.cells
    cells.append(Cell(1, 1, f"Your exercise: {exercise.summary}", style="title"))
    r = 3
    for label, key in (("Student", "student"), ("Course", "course"), ("Variant", "variant")):
        if metadata.get(key):
            cells += [Cell(r, 1, label, style="label"), Cell(r, 2, metadata[key], style="text")]
            r += 1
    r += 1
    for sheet, cols in rows.items():
        table = layout.sheet(sheet).table
        assert table is not None
        first = min(rg.start for rg in cols.values())
        last = max(rg.stop for rg in cols.values()) - 1
        top = table.top + 1
        letters = ", ".join(col_letter(table.column_index(k)) for k in cols)
        cells.append(Cell(r, 1, "What to do", style="header"))
        cells.append(Cell(r, 2, f"On the sheet '{sheet}', fill every empty cell of columns {letters}, rows "
                                f"{top + first} to {top + last}, with a formula. Write each column's formula "
                                "once and fill it down: every row computes the same thing from the row above.",
                          style="text"))
        r += 1
        for c in table.columns:
            if c.key in cols:
                cells += [Cell(r, 1, c.header, style="label"), Cell(r, 2, c.explanation or "", style="text")]
                r += 1
        r += 1
    inputs = [c.name for s in layout.sheets for c in s.cells if c.name and c.style == "input"]
    if inputs:
        cells += [Cell(r, 1, "Inputs", style="header"),
                  Cell(r, 2, "Refer to the named input cells (" + ", ".join(inputs) + ") instead of typing "
                             "their numbers: a typed-in number counts as a mistake even when it is right.",
                       style="text")]
        r += 2
    cells += [Cell(r, 1, "Check your work", style="header"),
              Cell(r, 2, "python -m gdsheet check THIS_FILE.xlsx  — lists the first mistakes with their rows; "
                         "--feedback marked.xlsx writes a copy with every cell marked.", style="text"),
              Cell(r + 1, 1, "Please", style="label"),
              Cell(r + 1, 2, "keep the sheet names, the headers and the hidden sheet 'gdsheet' as they are: "
                             "they tell the checker which exercise and variant this is.", style="note")]
    for cell in cells:  # rows tall enough for their wrapped text (spreadsheets do not grow them on load)
        if cell.col == 2 and isinstance(cell.value, str):
            lines = math.ceil(len(cell.value) / (sl.widths[2] * 1.3))
            if lines > 1:
                sl.heights[cell.row] = max(sl.heights.get(cell.row, 0), 15.0 * lines)
    return sl


# ---------------------------------------------------------------- variants


def student_rng(exercise: str, seed: str | int, student: str) -> random.Random:
    """The random stream of one student's variant: a SHA-256 of (exercise, course seed, student id)."""
    digest = hashlib.sha256(f"gdsheet variant\x00{exercise}\x00{seed}\x00{student}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def student_params(exercise: Exercise, base: dict[str, Any], seed: str | int, student: str) -> dict[str, Any]:
    """``base`` (resolved) with the exercise's variant drawn for ``student``; checked by resolve()."""
    drawn = exercise.variant(student_rng(exercise.name, seed, student), dict(base))
    return exercise.resolve(drawn)


# ----------------------------------------------------------------- writing


@dataclass
class Written:
    template: Path
    key: Path | None
    params: dict[str, Any]
    variant: str


def write_template(exercise: str, path: str | os.PathLike[str], *, key: str | os.PathLike[str] | None = None,
                   params: dict[str, Any] | None = None, blank: Blank | str = Blank(),
                   student: str | None = None, seed: str | int | None = None, course: str = "") -> Written:
    """One template (and optionally its key).  With ``student`` and ``seed``, the parameters are
    that student's variant (as ``write_roster`` would draw them); else ``params`` over the defaults."""
    ex = get_exercise(exercise)
    blank = Blank.parse(blank) if isinstance(blank, str) else blank
    base = ex.resolve(params or {})
    if student is not None and seed is not None:
        base = student_params(ex, base, seed, student)
    return _write(ex, base, Path(path), None if key is None else Path(key), blank, student, course)


def _write(ex: Exercise, params: dict[str, Any], path: Path, key: Path | None, blank: Blank, student: str | None,
           course: str, secret: str | None = None) -> Written:
    if getattr(ex, "classroom", True) is False:
        raise ValueError(f"{ex.name}: this exercise has no student template")
    layout = ex.layout(params)
    vid = variant_id(ex.name, params)
    meta = {"role": ROLE_TEMPLATE, "variant": vid, "blank": str(blank)}
    if student:
        meta["student"] = student
        if secret:
            meta["token"] = make_token(secret, ex.name, student, vid)
    if course:
        meta["course"] = course
    write_layout(student_layout(layout, blank, meta, ex), path)
    if key is not None:
        write_layout(dataclasses.replace(layout, metadata={k: v for k, v in dict(meta, role=ROLE_KEY).items()
                                                           if k != "token"}), key)
    return Written(path, key, params, vid)


def read_roster(path: str | os.PathLike[str], id_column: str | None = None
                ) -> tuple[str, list[str], list[dict[str, str]]]:
    """(id column, all columns, rows) of a roster CSV (comma, semicolon or tab separated)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"{p.name}: no such roster file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"{p.name}: cannot read the roster ({exc})") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    if not rows:
        raise RosterError(f"{p.name}: the roster is empty")
    header = [h.strip() for h in rows[0]]
    if id_column is not None:
        if id_column not in header:
            raise RosterError(f"{p.name}: no column {id_column!r} (columns: {', '.join(header)})")
        idc = id_column
    else:
        idc = next((h for h in header if h.casefold() in ID_COLUMNS), header[0])
    out = []
    seen: dict[str, int] = {}
    for n, r in enumerate(rows[1:], start=2):
        record = {h: (r[i].strip() if i < len(r) else "") for i, h in enumerate(header)}
        sid = record[idc]
        if not sid:
            raise RosterError(f"{p.name}: line {n} has no {idc}")
        if sid in seen:
            raise RosterError(f"{p.name}: student {sid!r} appears twice (lines {seen[sid]} and {n})")
        seen[sid] = n
        out.append(record)
    if not out:
        raise RosterError(f"{p.name}: the roster lists no students")
    return idc, header, out


def file_stem(student: str) -> str:
    """A file name for a student id: letters, digits and ._@+- kept, the rest '_'."""
    stem = re.sub(r"[^A-Za-z0-9._@+-]", "_", student).strip("._") or "student"
    return stem[:100]


def write_roster(exercise: str, roster: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                 seed: str | int, keys: str | os.PathLike[str] | None = None, params: dict[str, Any] | None = None,
                 blank: Blank | str = Blank(), course: str = "", id_column: str | None = None,
                 key_dir: str | os.PathLike[str] | None = None, rubric: dict[str, Any] | None = None,
                 secret: str | None = None) -> tuple[Keys, Path]:
    """One template per roster student in ``out_dir`` and one keys file (default: ``<out_dir>.keys.json``,
    beside the folder so it is not handed out with it); returns (keys, keys path).

    ``secret`` is the course secret the templates' tokens are made with (:mod:`.tokens`); by default the
    one already in the keys file at that path (re-running gives the same files), else a fresh one."""
    ex = get_exercise(exercise)
    blank = Blank.parse(blank) if isinstance(blank, str) else blank
    base = ex.resolve(params or {})
    idc, columns, rows = read_roster(roster, id_column)
    out = Path(out_dir)
    keys_path = Path(keys) if keys is not None else out.with_name(out.name.rstrip("/") + ".keys.json")
    if keys_path.resolve().parent == out.resolve():
        raise ValueError(f"{keys_path}: keep the keys file outside the folder of templates handed to students")
    if not secret:
        secret = _existing_secret(keys_path) or new_secret()
    out.mkdir(parents=True, exist_ok=True)
    used: dict[str, str] = {}
    students = []
    for record in rows:
        sid = record[idc]
        stem = file_stem(sid)
        n = 2
        while stem.lower() in used:
            stem = f"{file_stem(sid)}-{n}"
            n += 1
        used[stem.lower()] = sid
        p = student_params(ex, base, seed, sid)
        written = _write(ex, p, out / f"{stem}.xlsx",
                         None if key_dir is None else Path(key_dir) / f"{stem}.key.xlsx", blank, sid, course,
                         secret)
        students.append(StudentKey(sid, written.variant, _plain(p), f"{stem}.xlsx",
                                   {k: v for k, v in record.items() if k != idc}))
    book = Keys(ex.name, students, course=course, seed=str(seed), blank=str(blank), base=_plain(base),
                rubric=rubric, id_column=idc, roster_columns=columns, secret=secret)
    book.save(keys_path)
    return book, keys_path


def _existing_secret(keys_path: Path) -> str | None:
    """The course secret of a keys file already at ``keys_path`` (None if there is none or it is unusable)."""
    if not keys_path.is_file():
        return None
    try:
        return Keys.load(keys_path).secret or None
    except KeysError:
        return None


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
