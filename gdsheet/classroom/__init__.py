"""The classroom workflow: student templates, per-student variants, self-check, batch grading.

A teacher's week, and the modules that serve it:

* :mod:`.template` — ``gdsheet template``: a student's workbook (parameters, data,
  headers and iteration 0 filled in, the iteration cells left blank) and its
  key; with a roster, one template per student, each with its own parameters
  drawn from (course seed, student id) by the exercise's ``variant`` hook, and
  one keys file (:mod:`.keys`) that grading reads;
* :mod:`.check` — ``gdsheet check``: find the table by its headers
  (:mod:`.locate`), evaluate the student's own formulas, diagnose every cell
  (:mod:`.diagnose`), score it (:mod:`.rubric`), report (:mod:`.report`) and
  optionally write a marked-up copy (:mod:`.feedback`);
* :mod:`.grade` — ``gdsheet grade``: every file of a folder, each in its own
  process under a time and memory limit, into a gradebook CSV.

Nothing here knows what an exercise computes: layouts, formula templates and
the numpy reference come from :mod:`gdsheet.exercises`.

Python API (also re-exported by :mod:`gdsheet`)::

    from gdsheet.classroom import write_template, write_roster, check, grade
    write_template("quadratic", "student.xlsx", key="key.xlsx")
    keys, keys_path = write_roster("quadratic", "roster.csv", "templates/", seed="2026")
    result = check("submission.xlsx")            # CheckResult: .status, .score, .text(), .to_dict()
    book = grade("submissions/", keys_path, out="gradebook.csv", workers=2)
"""

from __future__ import annotations

from .check import check
from .grade import Gradebook, grade
from .keys import Keys, StudentKey
from .report import CheckResult
from .rubric import Rubric
from .template import Blank, write_roster, write_template

__all__ = ["check", "grade", "write_template", "write_roster", "Keys", "StudentKey", "CheckResult", "Gradebook",
           "Rubric", "Blank"]
