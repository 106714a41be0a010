"""The classroom: templates and keys, check's diagnoses on simulated students, grade on a folder.

Students are simulated with openpyxl (tests/students.py): their files carry no cached values,
so everything here is judged on the student's own formulas evaluated by gdsheet.  The same
students saved through LibreOffice are in test_classroom_engines.py.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from gdsheet.api import verify
from gdsheet.classroom import Keys, Rubric, check, grade, write_roster, write_template
from gdsheet.classroom.grade import run_limited
from gdsheet.classroom.template import Blank, RosterError, student_params
from gdsheet.cli import main
from gdsheet.exercises import EXERCISES, get
from gdsheet.workbook.metadata import parse_metadata
from gdsheet.workbook.reader import read_workbook
from students import fill, formula
from xlsx_edit import replace_cell


@pytest.fixture(scope="module")
def lesson(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("lesson-template")
    w = write_template("quadratic", folder / "student.xlsx", key=folder / "key.xlsx")
    return w.template, folder / "key.xlsx"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kinds(result) -> dict[str, int]:
    return result.counts()


def at(result, cell: str):
    return next(c for c in result.cells if c.cell == cell)


# ------------------------------------------------------------------ templates


def test_template_leaves_the_students_cells_blank_and_says_what_it_is(lesson):
    template, key = lesson
    wb = read_workbook(template)
    assert list(wb.sheets)[0] == "Task"
    it = wb.sheet("Iterations")
    # iteration 0 is filled in across the table, the iteration numbers down it
    assert [it.values.get((2, c)) for c in range(1, 8)] == [0.0, 4.0, 88.0, 43.0, 0.86, 4.3, 4.0]
    assert [it.values.get((r, 1)) for r in (3, 62)] == [1.0, 60.0]
    for r in range(3, 63):
        for c in range(2, 8):
            assert (r, c) not in it.values and (r, c) not in it.formulas
    meta = parse_metadata(wb.sheet("gdsheet").values)
    assert wb.sheet("gdsheet").state == "hidden"
    assert meta["exercise"] == "quadratic" and meta["params"]["x0"] == 4.0
    assert meta["more"]["role"] == "student template" and meta["more"]["blank"] == "all"
    assert meta["more"]["variant"].startswith("quadratic-")
    assert parse_metadata(read_workbook(key).sheet("gdsheet").values)["more"]["role"] == "answer key"
    assert verify(key).ok
    result = check(key)
    assert (result.status, result.score, result.max_score) == ("graded", 360, 360)


def test_blank_after_n_keeps_a_worked_start(tmp_path):
    w = write_template("quadratic", tmp_path / "t.xlsx", blank="after:3")
    it = read_workbook(w.template).sheet("Iterations")
    assert all((r, 2) in it.formulas for r in (3, 4, 5)) and (6, 2) not in it.formulas
    result = check(w.template)
    assert result.max_score == 6 * 57 and kinds(result) == {"missing": 342}
    assert Blank.parse("after:3") == Blank(3) and str(Blank(3)) == "after:3"
    with pytest.raises(ValueError, match="--blank"):
        Blank.parse("some")


def roster(path: Path, n: int = 4) -> Path:
    rows = ["student_id,name,email"] + [f"s{i:03d},Student {i},s{i}@example.org" for i in range(1, n + 1)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_roster_variants_are_deterministic_and_in_their_ranges(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")
    r = roster(tmp_path / "roster.csv")
    keys1, path1 = write_roster("quadratic", r, tmp_path / "a", seed="2026", course="ML101", secret="course secret")
    keys2, path2 = write_roster("quadratic", r, tmp_path / "b", seed="2026", course="ML101", secret="course secret")
    keys3, _ = write_roster("quadratic", r, tmp_path / "c", seed="2027")
    assert path1 == tmp_path / "a.keys.json"
    assert path1.read_text() == path2.read_text()
    for s in keys1.students:
        assert sha(tmp_path / "a" / s.file) == sha(tmp_path / "b" / s.file)  # byte for byte
        x0, lr = s.params["x0"], s.params["lr"]
        assert 2.0 <= abs(x0) <= 9.9 and 0.01 <= lr <= 0.09
        assert s.roster == {"name": f"Student {int(s.student[1:])}", "email": f"s{int(s.student[1:])}@example.org"}
    assert len({(s.params["x0"], s.params["lr"]) for s in keys1.students}) == 4  # every student their own
    assert [s.params for s in keys1.students] != [s.params for s in keys3.students]
    ex = get("quadratic")
    assert student_params(ex, ex.resolve({}), "2026", "s002") == keys1.student("s002").params
    loaded = Keys.load(path1)
    assert loaded.exercise == "quadratic" and loaded.id_column == "student_id" and loaded.secret == "course secret"
    meta = parse_metadata(read_workbook(tmp_path / "a" / "s002.xlsx").sheet("gdsheet").values)["more"]
    assert (meta["student"], meta["variant"], meta["course"]) == ("s002", keys1.student("s002").variant, "ML101")


def test_roster_and_template_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id\ns1\ns2\ns1\n")
    with pytest.raises(RosterError, match="appears twice"):
        write_roster("quadratic", bad, tmp_path / "out", seed=1)
    assert main(["template", "quadratic", "--roster", str(bad), "--course-seed", "1", "-o", str(tmp_path / "o")]) == 2
    assert "appears twice (lines 2 and 4)" in capsys.readouterr().err
    assert main(["template", "quadratic", "--roster", str(roster(tmp_path / "r.csv")), "-o", str(tmp_path / "o")]) == 2
    assert "--course-seed" in capsys.readouterr().err
    assert main(["template", "quadratic", "--blank", "most", "-o", str(tmp_path / "t.xlsx")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# ------------------------------------------------------------------ check


def test_a_correct_submission_passes(lesson, tmp_path, capsys):
    path = fill(lesson[0], tmp_path / "ok.xlsx")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "score 360 / 360 (100.0%): 360 correct" in out and "all correct" in out


def test_an_equivalent_formula_is_correct(lesson, tmp_path):
    """x from the derivative written out, not from the f′ column: just as right."""
    path = fill(lesson[0], tmp_path / "eq.xlsx",
                columns={"x": formula("={x[-1]}-learning_rate*(2*coef_a*{x[-1]}+coef_b)"),
                         "distance": formula("=ABS({x}+coef_b/(2*coef_a))")})
    result = check(path)
    assert result.status == "graded", result.text()


def test_one_wrong_row_is_named_and_what_follows_is_carried_forward(lesson, tmp_path):
    path = fill(lesson[0], tmp_path / "row.xlsx", cells={("x", 10): "=B11-learning_rate*D11*2"})
    result = check(path)
    assert result.status == "mistakes" and result.exit_code == 1
    wrong = at(result, "Iterations!B12")
    assert wrong.kind == "wrong" and wrong.formula == "=B11-learning_rate*D11*2"
    assert wrong.expected_formula == "=B11-learning_rate*D11"
    assert result.first_mistake().startswith("Iterations!B12 (x_k): wrong, expected 0.")
    # rows below are right formulas on wrong inputs: carried forward, with credit
    assert at(result, "Iterations!B13").kind == "carried_forward"
    assert "Iterations!B12" in at(result, "Iterations!D40").note
    assert at(result, "Iterations!G40").kind == "correct"  # the closed form does not depend on x
    counts = kinds(result)
    assert counts["wrong"] == 1 and counts["carried_forward"] > 200 and sum(counts.values()) == 360
    assert result.score == 359
    text = result.text()
    assert "Iterations!B12 (x_k): wrong — expected" in text and "from =B11-learning_rate*D11*2" in text
    assert "x_k: Row 0 is the starting point" in text  # what the column computes, in words
    assert f"{counts['carried_forward']} cells are wrong only because an earlier cell is" in text


def test_a_typed_in_learning_rate_is_a_mistake_even_when_right(lesson, tmp_path):
    path = fill(lesson[0], tmp_path / "lr.xlsx", columns={"x": formula("={x[-1]}-0.02*{grad[-1]}")})
    result = check(path)
    cell = at(result, "Iterations!B5")
    assert cell.kind == "hardcoded" and cell.found == pytest.approx(cell.expected)
    assert "0.02 is typed into the formula where the cell learning_rate should be referenced" in cell.note
    assert kinds(result) == {"correct": 300, "hardcoded": 60}
    assert "Iterations!B3:B62 (x_k, 60 rows): typed-in constant — 0.02" in result.text()


def test_typed_numbers_are_not_formulas(lesson, tmp_path):
    key = openpyxl.load_workbook(lesson[1], data_only=True)["Iterations"]
    typed = {("fx", k): key[f"C{k + 2}"].value for k in range(5, 9)}  # the right numbers, typed
    result = check(fill(lesson[0], tmp_path / "typed.xlsx", cells=typed))
    assert {at(result, f"Iterations!C{r}").kind for r in range(7, 11)} == {"typed"}
    assert kinds(result)["typed"] == 4 and result.score == 356


def test_the_table_is_found_wherever_the_student_put_it(lesson, tmp_path):
    path = fill(lesson[0], tmp_path / "moved.xlsx",
                order=["iteration", "grad", "x", "fx", "distance", "step", "closed"], top=4, left=2,
                notes_column=True, header=lambda h: h.upper().replace("_", " "), rename="My work", extra_rows=5)
    result = check(path)
    assert result.status == "graded", result.text()
    assert result.table == "'My work'!C4 (sheet 'Iterations' renamed)"
    assert any("5 rows below the last iteration" in n for n in result.notes)


def test_missing_rows_and_empty_template(lesson, tmp_path):
    result = check(fill(lesson[0], tmp_path / "short.xlsx", rows=41))
    assert kinds(result) == {"correct": 240, "missing": 120}
    assert "'Iterations' rows 43 to 62 are empty in 6 columns" in result.text()
    assert kinds(check(lesson[0])) == {"missing": 360}


def test_errors_circular_and_unknown_functions(lesson, tmp_path):
    path = fill(lesson[0], tmp_path / "errors.xlsx",
                cells={("grad", 20): "=2*coef_a*B22+coef_b/0", ("step", 30): "=learning_rate*E32",
                       ("fx", 40): "=FOOBAR(B42)"})
    result = check(path)
    assert at(result, "Iterations!D22").kind == "error" and str(at(result, "Iterations!D22").found) == "#DIV/0!"
    assert at(result, "Iterations!B23").kind == "carried_forward"  # the #DIV/0! flows down x: carried forward
    assert at(result, "Iterations!E32").kind == "circular"
    assert at(result, "Iterations!C42").kind == "unsupported"
    assert "unsupported function FOOBAR" in at(result, "Iterations!C42").note


def test_json_report(lesson, tmp_path, capsys):
    path = fill(lesson[0], tmp_path / "j.xlsx", cells={("step", 3): 0.5})
    expected = openpyxl.load_workbook(lesson[1], data_only=True)["Iterations"]["E5"].value
    assert main(["check", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "mistakes" and data["score"] == 359 and data["max_score"] == 360
    assert data["mistakes"][0] == {"cell": "Iterations!E5", "column": "step η·f′(x_k)", "key": "step",
                                   "iteration_row": 3, "kind": "typed", "expected": pytest.approx(expected, rel=1e-12),
                                   "found": 0.5, "formula": None, "expected_formula": "=learning_rate*D5",
                                   "scored": True, "note": "a typed value where a formula is expected",
                                   "explanation": "How far the next row moves: the learning rate times the slope."}


def test_feedback_copy_marks_cells_and_never_touches_the_original(lesson, tmp_path, capsys):
    path = fill(lesson[0], tmp_path / "fb.xlsx", cells={("x", 10): "=B11-0.2*D11"})
    before = sha(path)
    out = tmp_path / "marked.xlsx"
    assert main(["check", str(path), "--feedback", str(out)]) == 1
    assert sha(path) == before
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[0] == "Feedback" and book.active.title == "Feedback"
    ws = book["Iterations"]
    assert ws["B12"].fill.fgColor.rgb.endswith("FFC7CE") and "Expected" in ws["B12"].comment.text
    assert ws["B13"].fill.fgColor.rgb.endswith("FFEB9C") and ws["B5"].fill.fgColor.rgb.endswith("C6EFCE")
    values = [r for r in book["Feedback"].iter_rows(values_only=True)]
    assert ("score", 359) in [(r[0], r[1]) for r in values]
    assert any(r[0] == "Iterations!B12" and r[5] == "=B11-0.2*D11" for r in values)
    assert main(["check", str(path), "--feedback", str(path)]) == 2  # never over the submission
    assert sha(path) == before


def test_another_exercise_or_another_students_variant(lesson, tmp_path):
    other = write_template("network", tmp_path / "net.xlsx", params={"steps": 2, "observations": 3}).template
    result = check(other, key=lesson[1])
    assert result.status == "not-this-exercise" and result.exit_code == 2
    assert "a network workbook, not the quadratic exercise" in result.message
    keys, kpath = write_roster("quadratic", roster(tmp_path / "r.csv"), tmp_path / "class", seed=5,
                               key_dir=tmp_path / "keys")
    # s002 hands in s001's completed key: graded against s002's own variant
    result = check(tmp_path / "keys" / "s001.key.xlsx", keys=kpath, student="s002")
    assert result.status == "wrong-variant" and result.exit_code == 1
    assert f"the file is variant {keys.student('s001').variant} (student s001)" in result.message
    assert check(tmp_path / "keys" / "s001.key.xlsx", keys=kpath).status == "graded"  # found by embedded id
    plain = tmp_path / "plain.xlsx"
    openpyxl.Workbook().save(plain)
    result = check(plain)
    assert result.status == "not-this-exercise" and "--key" in result.message


def test_rubric_points_columns_rows_and_partial_credit(lesson, tmp_path):
    path = fill(lesson[0], tmp_path / "rub.xlsx", cells={("x", 10): "=B11-learning_rate*D11*2"})
    rubric = Rubric.from_dict({"columns": {"x": 2, "closed form x_k": 0}, "row_points": 1,
                               "credit": {"carried_forward": 0.5}, "scale_to": 100})
    result = check(path, rubric=rubric)
    credit = {"correct": 1.0, "carried_forward": 0.5, "wrong": 0.0}
    points = {"x": 2, "closed": 0}
    earned = sum(points.get(c.key, 1) * credit[c.kind] for c in result.cells if c.scored)
    rows: dict[int, float] = {}
    for c in result.cells:
        if c.scored:
            rows[c.index] = min(rows.get(c.index, 1.0), credit[c.kind])
    full = 60 * 2 + 4 * 60 + 60  # x at 2 points, four columns at 1, the closed form at 0, 60 rows at 1
    assert rows[10] == 0 and rows[9] == 1 and rows[30] == 0.5
    assert result.max_score == 100
    assert result.score == pytest.approx(100 * (earned + sum(rows.values())) / full)
    with pytest.raises(ValueError, match="unknown diagnosis"):
        Rubric.from_dict({"credit": {"nice": 1}})


# ------------------------------------------------------------------ grade


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("class")
    r = roster(folder / "roster.csv", 6)
    keys, kpath = write_roster("quadratic", r, folder / "templates", seed="ML-2026", course="ML101",
                               key_dir=folder / "keys")
    subs = folder / "submissions"
    (subs / "s003").mkdir(parents=True)
    t = folder / "templates"
    fill(t / "s001.xlsx", subs / "s001.xlsx")  # right
    fill(t / "s002.xlsx", subs / "homework final (2).xlsx", cells={("x", 5): "=B6-0.2*D6"})  # renamed file
    fill(t / "s003.xlsx", subs / "s003" / "gd.xlsx", rows=30)  # in a folder of its own, half done
    shutil.copy(folder / "keys" / "s004.key.xlsx", subs / "s004.xlsx")
    fill(t / "s004.xlsx", subs / "s004-v2.xlsx")  # two files from s004
    (subs / "s006_homework.xlsx").write_text("I could not open Excel")  # s006: by name, unreadable
    write_template("quadratic", subs / "stranger.xlsx")  # matches nobody; s005 handed in nothing
    (subs / "notes.txt").write_text("not a workbook")
    return {"keys": kpath, "subs": subs, "folder": folder}


def test_grade_a_folder(klass, tmp_path, capsys):
    out = tmp_path / "gradebook.csv"
    assert main(["grade", str(klass["subs"]), "--keys", str(klass["keys"]), "-o", str(out), "--workers", "2",
                 "--feedback-dir", str(tmp_path / "feedback")]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:9] == ["student", "file", "sha256", "score", "max_score", "status", "first_mistake",
                                 "message", "matched_by"] and list(rows[0])[9:11] == ["name", "email"]
    assert list(rows[0])[11:] == ["review", "token", "same_token_as", "values_match", "file_creator",
                                  "file_last_modified_by", "file_created", "file_modified"]
    got = [(r["student"], r["file"], r["status"], r["score"], r["matched_by"]) for r in rows]
    assert got == [
        ("s001", "s001.xlsx", "graded", "360", "embedded id"),
        ("s002", "homework final (2).xlsx", "mistakes", "359", "embedded id"),
        ("s003", "s003/gd.xlsx", "mistakes", "174", "embedded id"),
        ("s004", "s004-v2.xlsx", "graded", "360", "embedded id"),
        ("s004", "s004.xlsx", "graded", "360", "embedded id"),
        ("s005", "", "missing", "", ""),
        ("s006", "s006_homework.xlsx", "unreadable", "", "file name"),
        ("", "stranger.xlsx", "unmatched", "0", ""),
    ]
    by_file = {r["file"]: r for r in rows}
    assert by_file["s004.xlsx"]["message"].startswith("duplicate: s004 also handed in s004-v2.xlsx")
    assert by_file["s006_homework.xlsx"]["message"] == "not an .xlsx workbook (the file is not a zip archive)"
    assert by_file["homework final (2).xlsx"]["first_mistake"].startswith("Iterations!B7 (x_k): wrong")
    assert by_file["s001.xlsx"]["sha256"] == sha(klass["subs"] / "s001.xlsx")
    assert by_file["s001.xlsx"]["name"] == "Student 1"
    assert "duplicate: s004 handed in 2 files" in printed and "missing: 1 students" in printed
    assert "ignored 1 files that are not workbooks (notes.txt)" in printed
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == [
        "homework final (2).feedback.xlsx", "s001.feedback.xlsx", "s003__gd.feedback.xlsx",
        "s004-v2.feedback.xlsx", "s004.feedback.xlsx", "stranger.feedback.xlsx"]
    # the same gradebook again, with one worker
    again = grade(klass["subs"], klass["keys"], workers=1, progress=False)
    assert again.csv_text() == out.read_text()


def test_a_file_matched_by_name_only(klass, tmp_path):
    """A student pasted their table into a fresh workbook: no metadata, found by the file name."""
    subs = tmp_path / "subs"
    subs.mkdir()
    src = openpyxl.load_workbook(klass["folder"] / "keys" / "s005.key.xlsx")
    del src["gdsheet"]
    src.save(subs / "Student5 - s005.xlsx")
    book = grade(subs, klass["keys"], workers=1, progress=False)
    row = book.rows[4]
    assert (row["student"], row["status"], row["matched_by"], row["score"]) == ("s005", "graded", "file name", "360")


def test_limited_processes_stop_slow_greedy_and_crashing_tasks():
    def task(job, n):
        if n == 1:
            time.sleep(60)
        if n == 2:
            return len(bytearray(8 << 30))
        if n == 3:
            os._exit(7)
        if n == 4:
            raise ValueError("boom")
        return n * 10

    results = {}
    t0 = time.monotonic()
    run_limited(task, None, list(range(8)), workers=2, time_limit=2, memory_limit=256 << 20,
                on_result=lambda t, status, value: results.__setitem__(t, (status, value)))
    assert time.monotonic() - t0 < 15
    assert results[1] == ("error", "took longer than the 2 s limit")
    assert results[2] == ("error", "needs more memory than the per-file limit")
    assert results[3] == ("error", "the checker process exited with status 7")
    assert results[4] == ("error", "ValueError: boom")
    assert [results[n] for n in (0, 5, 6, 7)] == [("ok", 0), ("ok", 50), ("ok", 60), ("ok", 70)]


def test_cli_check_runs_as_a_program(lesson):
    proc = subprocess.run([sys.executable, "-m", "gdsheet", "check", str(lesson[1])], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "all correct" in proc.stdout and proc.stderr == ""


# ------------------------------------------------------------------ the network, through the same code


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("network-class")
    keys, kpath = write_roster("network", roster(folder / "roster.csv", 2), folder / "templates", seed="nn",
                               key_dir=folder / "keys", params={"steps": 10, "observations": 6})
    return {"keys": keys, "kpath": kpath, "folder": folder}


def test_network_variants_templates_and_carried_forward_errors(net, tmp_path):
    keys, folder = net["keys"], net["folder"]
    s1, s2 = keys.students
    assert s1.params["seed"] != s2.params["seed"]  # own data, own initial weights
    data1 = read_workbook(folder / "templates" / "s001.xlsx").sheet("Data").values
    data2 = read_workbook(folder / "templates" / "s002.xlsx").sheet("Data").values
    assert data1[(2, 2)] != data2[(2, 2)]
    template = check(folder / "templates" / "s001.xlsx", keys=net["kpath"])
    passes = read_workbook(folder / "templates" / "s001.xlsx").sheet("Passes")
    assert (7, 3) in passes.formulas and (8, 3) not in passes.formulas  # iteration 0: 6 observations given
    assert set(template.counts()) == {"missing"} and template.max_score == template.counts()["missing"]
    key = check(folder / "keys" / "s001.key.xlsx", keys=net["kpath"])
    assert key.status == "graded" and key.score == template.max_score
    bad = tmp_path / "s001.xlsx"
    replace_cell(folder / "keys" / "s001.key.xlsx", bad, "Iterations", "B5", "<f>B4-learning_rate*T4*2</f><v>1</v>")
    result = check(bad, keys=net["kpath"])
    assert at(result, "Iterations!B5").kind == "wrong"
    counts = result.counts()
    assert counts["wrong"] == 1 and counts["carried_forward"] > 500 and set(counts) == {"wrong", "carried_forward",
                                                                                         "correct"}
    assert result.score == result.max_score - 1


SMALL = {"quadratic": {"steps": 6}, "network": {"steps": 3, "observations": 4},
         "linear": {"steps": 3, "observations": 4}, "symmetry": {"steps": 3, "observations": 4}}


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_every_exercise_has_templates_that_check(exercise, tmp_path):
    w = write_template(exercise, tmp_path / "t.xlsx", key=tmp_path / "k.xlsx", params=SMALL.get(exercise, {}))
    empty, full = check(w.template), check(tmp_path / "k.xlsx")
    assert set(empty.counts()) == {"missing"} and empty.max_score > 0
    assert full.status == "graded" and full.score == empty.max_score


def test_a_big_exercise_is_read_past_the_usual_row_cap(tmp_path, monkeypatch):
    from gdsheet.workbook import safety

    small = dataclasses.replace(safety.SUBMISSION_LIMITS, max_row=50)
    w = write_template("quadratic", tmp_path / "t.xlsx", key=tmp_path / "k.xlsx", params={"steps": 80})
    result = check(tmp_path / "k.xlsx", limits=small)
    assert result.status == "graded" and result.max_score == 6 * 80


def test_network_with_a_data_file(tmp_path):
    """The data of a --data file live on the Data sheet, not in the metadata: every way of checking
    still finds them (keys file, key workbook, the submission itself)."""
    (tmp_path / "data.csv").write_text("x1,x2,t1\n0.1,0.2,0.3\n-0.5,0.4,0.1\n0.9,-0.7,0.2\n")
    keys, kpath = write_roster("network", roster(tmp_path / "roster.csv", 2), tmp_path / "templates", seed=4,
                               key_dir=tmp_path / "keys", params={"data": str(tmp_path / "data.csv"), "hidden": 2,
                                                                  "steps": 3})
    key = tmp_path / "keys" / "s002.key.xlsx"
    template = tmp_path / "templates" / "s002.xlsx"
    assert check(key, keys=kpath).status == "graded"
    assert check(key).status == "graded"
    assert set(check(template, key=key).counts()) == {"missing"}
    assert check(template).variant == keys.student("s002").variant


def test_an_unmatched_file_is_graded_only_with_the_class_parameters(klass, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    write_template("quadratic", subs / "anon.xlsx")  # the class's parameters, no student
    write_template("quadratic", subs / "huge.xlsx", params={"steps": 5000})  # someone else's exercise
    rows = {r["file"]: r for r in grade(subs, klass["keys"], workers=1, progress=False).rows}
    assert rows["anon.xlsx"]["status"] == "unmatched" and rows["anon.xlsx"]["max_score"] == "360"
    assert rows["huge.xlsx"]["status"] == "unmatched" and rows["huge.xlsx"]["score"] == ""
    assert "parameters are not this class's" in rows["huge.xlsx"]["message"]
