"""The keys file: what ``grade`` (and ``check --keys``) needs to know about every student.

``gdsheet template EXERCISE --roster roster.csv -o DIR`` writes one template per
student and one keys file, a JSON document the teacher keeps (it is never
handed out: it holds the course secret that makes the templates' tokens)::

    {
      "format": "gdsheet keys", "version": 1,
      "exercise": "quadratic",
      "course": "ML101 2026",            # a label, printed in reports
      "seed": "2026",                    # the course seed the variants were drawn from
      "blank": "all",                    # how much of each template was left blank
      "base": {...},                     # the class's parameters before the variant draw
      "rubric": null,                    # or a rubric (see rubric.py) that grade applies
      "id_column": "student_id",
      "roster_columns": ["student_id", "name", "email"],
      "secret": "9f2c...",               # the course secret of the per-student tokens (tokens.py)
      "students": [
        {"student": "s001", "variant": "q-3f9a0c1d2e", "file": "s001.xlsx",
         "params": {...every parameter of the exercise...},
         "roster": {"name": "Ada", "email": "ada@example.org"}},
        ...
      ]
    }

``students`` keeps roster order (the gradebook follows it).  A student's
reference is rebuilt from ``params`` with the exercise's numpy reference: the
keys file holds parameters, never answers.  A variant id names one parameter
set: a short hash of the exercise and its parameters, embedded in the
student's template next to the student id, so a submission can be matched to
its student even when the file was renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "gdsheet keys"
VERSION = 1


class KeysError(ValueError):
    """The keys file cannot be used; one line."""


def variant_id(exercise: str, params: dict[str, Any]) -> str:
    """A short, stable name for one parameter set of an exercise, e.g. ``quadratic-3f9a0c1d2e``.

    Private entries (``_data``: a data file's values, which the workbook keeps on its Data
    sheet rather than in its metadata) are left out: they are the class's, not the variant's.
    """
    public = {k: v for k, v in params.items() if not k.startswith("_")}
    canonical = json.dumps({"exercise": exercise, "params": public}, sort_keys=True, default=float,
                           separators=(",", ":"))
    return f"{exercise}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


@dataclass
class StudentKey:
    student: str
    variant: str
    params: dict[str, Any]
    file: str | None = None  # the template written for this student
    roster: dict[str, str] = field(default_factory=dict)  # the roster's other columns


@dataclass
class Keys:
    exercise: str
    students: list[StudentKey]
    course: str = ""
    seed: str = ""
    blank: str = "all"
    base: dict[str, Any] = field(default_factory=dict)
    rubric: dict[str, Any] | None = None
    id_column: str = "student"
    roster_columns: list[str] = field(default_factory=list)
    secret: str | None = None  # the course secret of the per-student tokens (tokens.py); never in a template

    def __post_init__(self) -> None:
        self._by_student = {s.student: s for s in self.students}
        by_variant: dict[str, list[StudentKey]] = {}
        for s in self.students:
            by_variant.setdefault(s.variant, []).append(s)
        self._by_variant = by_variant

    def student(self, student_id: str) -> StudentKey | None:
        return self._by_student.get(student_id)

    def by_variant(self, variant: str) -> list[StudentKey]:
        return self._by_variant.get(variant, [])

    def to_dict(self) -> dict[str, Any]:
        d = {"format": FORMAT, "version": VERSION}
        body = asdict(self)
        d.update({k: body[k] for k in ("exercise", "course", "seed", "blank", "base", "rubric", "id_column",
                                       "roster_columns", "secret")})
        d["students"] = body["students"]
        return d

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False, sort_keys=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def from_dict(cls, d: Any, name: str = "keys file") -> "Keys":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise KeysError(f"{name}: not a gdsheet keys file (written by 'gdsheet template --roster')")
        if d.get("version") != VERSION:
            raise KeysError(f"{name}: keys file version {d.get('version')!r}, this gdsheet reads {VERSION}")
        try:
            students = [StudentKey(str(s["student"]), str(s["variant"]), dict(s["params"]), s.get("file"),
                                   {str(k): str(v) for k, v in (s.get("roster") or {}).items()})
                        for s in d["students"]]
            keys = cls(str(d["exercise"]), students, course=str(d.get("course") or ""),
                       seed=str(d.get("seed") or ""), blank=str(d.get("blank") or "all"),
                       base=dict(d.get("base") or {}), rubric=d.get("rubric"),
                       id_column=str(d.get("id_column") or "student"),
                       roster_columns=[str(c) for c in d.get("roster_columns") or []], secret=d.get("secret"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KeysError(f"{name}: damaged keys file ({type(exc).__name__}: {exc})") from None
        if len(keys._by_student) != len(students):
            raise KeysError(f"{name}: a student appears twice in the keys file")
        return keys

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Keys":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeysError(f"{p.name}: no such keys file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeysError(f"{p.name}: cannot read the keys file ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeysError(f"{p.name}: the keys file is not JSON ({exc})") from None
        return cls.from_dict(data, p.name)
