"""Issue 6: per-student tokens, review flags in the gradebook, re-seeded and pattern checks, class statistics.

Students are simulated with openpyxl (tests/students.py); the LibreOffice round trip of tokens and a
swapped pair saved through LibreOffice are in test_classroom_engines.py.
"""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest

from gdsheet.classroom import check, grade, write_roster
from gdsheet.classroom.check import embedded
from gdsheet.classroom.keys import Keys
from gdsheet.classroom.tokens import make_token, owner
from gdsheet.cli import main
from gdsheet.workbook.reader import read_workbook
from students import fill, formula, paste_values, set_author, set_meta

SECRET = "a course secret for the tests"


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> dict[str, Path]:
    """Eight students: right, a swapped pair, a copied file, no token, a forged token, pasted values,
    and two files last saved by the same person."""
    folder = tmp_path_factory.mktemp("integrity")
    (folder / "roster.csv").write_text("student\n" + "\n".join(f"s{i:03d}" for i in range(1, 9)) + "\n")
    keys, kpath = write_roster("quadratic", folder / "roster.csv", folder / "templates", seed="i6",
                               key_dir=folder / "keys", secret=SECRET)
    t, subs = folder / "templates", folder / "subs"
    subs.mkdir()
    fill(t / "s001.xlsx", subs / "s001.xlsx")
    fill(t / "s003.xlsx", subs / "s002.xlsx")  # s002 and s003 swapped their templates
    fill(t / "s002.xlsx", subs / "s003.xlsx")
    shutil.copy(subs / "s001.xlsx", subs / "s004.xlsx")  # s004 handed in s001's file
    set_meta(fill(t / "s005.xlsx", subs / "s005.xlsx"), "token", None)  # the token deleted
    set_meta(fill(t / "s006.xlsx", subs / "s006.xlsx"), "token", make_token("guessed", "quadratic", "s006",
                                                                              keys.student("s006").variant))
    paste_values(t / "s007.xlsx", folder / "keys" / "s008.key.xlsx", subs / "s007.xlsx")
    set_author(subs / "s007.xlsx", "Pat Doe")
    set_author(fill(t / "s008.xlsx", subs / "s008.xlsx"), "Pat Doe")
    return {"keys": kpath, "subs": subs, "folder": folder}


@pytest.fixture(scope="module")
def graded(klass, tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity-out")
    book = grade(klass["subs"], klass["keys"], out=out / "gradebook.csv", summary=out / "summary.xlsx",
                 workers=2, progress=False)
    return book, out


def rows_by_file(book) -> dict[str, dict[str, str]]:
    return {r["file"]: r for r in book.rows if r["file"]}


def test_tokens_are_made_with_the_course_secret_and_cannot_be_forged(klass):
    keys = Keys.load(klass["keys"])
    assert keys.secret == SECRET
    s2 = keys.student("s002")
    token = embedded(read_workbook(klass["folder"] / "templates" / "s002.xlsx")).more["token"]
    assert token == make_token(SECRET, "quadratic", "s002", s2.variant) and token.startswith("gdt1-")
    assert owner(keys, token) == "s002" and owner(keys, token.upper()) == "s002"
    assert owner(keys, make_token("another secret", "quadratic", "s002", s2.variant)) is None
    assert owner(keys, make_token(SECRET, "quadratic", "s003", s2.variant)) is None  # not s003's variant
    assert "token" not in embedded(read_workbook(klass["folder"] / "keys" / "s002.key.xlsx")).more
    assert "secret" not in (klass["folder"] / "templates" / "s002.xlsx").read_bytes().decode("latin-1")


def test_the_secret_is_kept_when_templates_are_written_again(tmp_path):
    (tmp_path / "r.csv").write_text("id\na\n")
    k1, path = write_roster("quadratic", tmp_path / "r.csv", tmp_path / "t", seed=1)
    k2, _ = write_roster("quadratic", tmp_path / "r.csv", tmp_path / "t", seed=1)
    assert k1.secret and len(k1.secret) == 64 and k2.secret == k1.secret
    k3, _ = write_roster("quadratic", tmp_path / "r.csv", tmp_path / "u", seed=1)
    assert k3.secret != k1.secret  # a new course, a new random secret


def test_every_review_flag(graded):
    book, _ = graded
    rows = rows_by_file(book)
    flags = {f: (r["token"], r["same_token_as"], r["values_match"].split(" (")[0]) for f, r in rows.items()}
    assert flags == {
        "s001.xlsx": ("ok", "s004.xlsx", ""),
        "s002.xlsx": ("another student's (s003)", "", "s003"),
        "s003.xlsx": ("another student's (s002)", "", "s002"),
        "s004.xlsx": ("another student's (s001)", "s001.xlsx", "s001"),
        "s005.xlsx": ("missing", "", ""),
        "s006.xlsx": ("invalid", "", ""),
        "s007.xlsx": ("ok", "", "s008"),
        "s008.xlsx": ("ok", "", ""),
    }
    # the swapped pair is matched to its submitters by the file names, and flagged both
    assert [rows[f]["student"] for f in ("s002.xlsx", "s003.xlsx")] == ["s002", "s003"]
    assert "built from s003's template" in rows["s002.xlsx"]["review"]
    assert "built from s002's template" in rows["s003.xlsx"]["review"]
    assert "last saved by the same person as the files of s008" in rows["s007.xlsx"]["review"]
    assert "last saved by the same person as the files of s007" in rows["s008.xlsx"]["review"]
    assert rows["s008.xlsx"]["file_last_modified_by"] == "Pat Doe" and rows["s001.xlsx"]["file_created"]
    assert rows["s001.xlsx"]["review"] == "the same token as s004.xlsx"
    # flags never grade: files with a flag get the score their cells earn, like anyone's
    assert rows["s001.xlsx"]["score"] == rows["s005.xlsx"]["score"] == rows["s006.xlsx"]["score"] == "360"
    assert rows["s004.xlsx"]["status"] == "wrong-variant" and float(rows["s004.xlsx"]["score"]) > 0
    assert book.stats["flags"] == {"another student's token": 3, "same token on several files": 2,
                                   "missing token": 1, "invalid token": 1, "values match another variant": 4,
                                   "last author shared across students": 2}


def test_class_summary_numbers_and_workbook(graded):
    book, out = graded
    s = book.stats
    assert s["graded"] == 8 and sum(s["scores"]["bins"].values()) == 8
    assert s["scores"]["all_correct"] == 4  # s001, s005, s006, s008
    typed = next(m for m in s["mistakes"] if m["kind"] == "typed")
    assert (typed["files"], typed["percent"]) == (1, 12.5) and typed["text"].startswith("12% typed values")
    assert s["first_mistake_rows"] == {"1": 4} and s["without_mistakes"] == 4  # the swapped, copied, pasted
    assert s["scores"]["bins"]["0–9%"] == 1  # s007 typed every value: no formula, no points
    assert [f["file"] for f in s["flagged"]] == ["s001.xlsx", "s002.xlsx", "s003.xlsx", "s004.xlsx", "s005.xlsx",
                                                 "s006.xlsx", "s007.xlsx", "s008.xlsx"]
    wb = openpyxl.load_workbook(out / "summary.xlsx")
    assert wb.sheetnames == ["Summary", "Scores", "First mistakes", "Review"]
    assert wb["Review"].max_row == 9
    with zipfile.ZipFile(out / "summary.xlsx") as z:
        assert len([n for n in z.namelist() if n.startswith("xl/charts/chart")]) == 2
    assert json.loads(json.dumps(book.to_dict()))["summary"] == s


def test_a_file_nothing_else_names_is_matched_by_its_token(klass, tmp_path):
    """Renamed, its hidden id and variant edited: only the token still says whose template it was."""
    src = fill(klass["folder"] / "templates" / "s003.xlsx", tmp_path / "homework final.xlsx")
    set_meta(set_meta(src, "student", "me"), "variant", None)
    result = check(src, keys=klass["keys"])
    assert (result.student, result.matched_by, result.status) == ("s003", "token", "graded")
    set_meta(src, "token", None)
    assert check(src, keys=klass["keys"]).status == "unmatched"


def test_the_summary_workbook_is_byte_identical_when_written_twice(graded, tmp_path, monkeypatch):
    """With SOURCE_DATE_EPOCH, as every workbook gdsheet writes: no creation time in the file."""
    from gdsheet.classroom.summary import write_summary

    book, _ = graded
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")
    first = write_summary(book.stats, tmp_path / "a.xlsx", "Week 3").read_bytes()
    assert write_summary(book.stats, tmp_path / "b.xlsx", "Week 3").read_bytes() == first
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert b"2025-11-29T00:00:00Z" in z.read("docProps/core.xml")


def test_grade_cli_writes_the_summary_and_prints_the_flags(klass, tmp_path, capsys):
    assert main(["grade", str(klass["subs"]), "--keys", str(klass["keys"]), "-o", str(tmp_path / "gb.csv"),
                 "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "gb-summary.xlsx").is_file()
    assert "review flags: 3 another student's token, 2 same token on several files" in printed
    rows = list(csv.DictReader((tmp_path / "gb.csv").open()))
    assert "review" in rows[0] and "_evidence" not in rows[0]
    assert main(["grade", str(klass["subs"]), "--keys", str(klass["keys"]), "-o", str(tmp_path / "gb2.csv"),
                 "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["flags"]["missing token"] == 1


# ------------------------------------------------------------------ check: re-seeded and pattern checks


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("deeper")
    from gdsheet.classroom import write_template

    return write_template("quadratic", folder / "t.xlsx").template


def test_reseeded_check_finds_numbers_worked_out_for_these_inputs(one, tmp_path, capsys):
    sub = fill(one, tmp_path / "by-hand.xlsx", columns={"grad": formula("=10*{x}+coef_b")})
    result = check(sub)
    fixed = [c for c in result.cells if c.kind == "fixed"]
    assert {c.key for c in fixed} == {"grad"} and len(fixed) == 61  # right values, but 2a = 10 typed in
    assert result.status == "mistakes" and result.score == 300
    assert "typed constants in its formula: 10" in fixed[0].note
    text = result.text()
    assert "re-seeded check (a 5 → " in text and "61 of 366 right cells are right only for this workbook's" in text
    assert "right only for these inputs" in text
    data = result.to_dict()
    assert data["reseed"]["failed"] == 61 and data["reseed"]["changed"]["x0"][0] == 4.0
    assert main(["check", str(sub), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["counts"]["fixed"] == 61
    check(sub, feedback=tmp_path / "fb.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "fb.xlsx")["Feedback"]
    labels = [r[0] for r in ws.iter_rows(values_only=True)]
    assert "re-seeded check" in labels


def test_reseeded_check_passes_equivalent_formulas_and_refers_to_typed_cells(one, tmp_path):
    ok = check(fill(one, tmp_path / "eq.xlsx",
                    columns={"x": formula("={x[-1]}-learning_rate*(2*coef_a*{x[-1]}+coef_b)")}))
    assert ok.status == "graded" and ok.reseed is not None and ok.reseed.failed == []
    assert "all 366 right cells stay right" in ok.text()
    # a helper cell holding 2a worked out by hand, referred to by the column
    sub = fill(one, tmp_path / "helper.xlsx", columns={"grad": formula("=$J$1*{x}+coef_b")})
    wb = openpyxl.load_workbook(sub)
    wb["Iterations"]["J1"] = 10
    wb.save(sub)
    fixed = [c for c in check(sub).cells if c.kind == "fixed"]
    assert fixed and "it refers to typed-in numbers in Iterations!J1" in fixed[0].note


def test_pattern_break_is_reported_with_its_row_even_when_right(one, tmp_path, capsys):
    sub = fill(one, tmp_path / "anchor.xlsx", cells={("x", 20): "=B21-learning_rate*D$21",
                                                     ("fx", 30): "=coef_a*B32*B32+coef_b*B32+coef_c"})
    result = check(sub)
    assert result.status == "graded"  # both rows give the right value
    assert [(b.row, b.header) for b in result.patterns] == [(22, "x_k"), (32, "f(x_k)")]
    assert result.patterns[0].formula == "=B21-learning_rate*D$21"
    assert result.patterns[0].pattern in ("=B20-learning_rate*D20", "=B22-learning_rate*D22")
    assert "Iterations!B22 (x_k): row 22 has the formula =B21-learning_rate*D$21" in result.text()
    assert result.to_dict()["patterns"][1]["row"] == 32
    check(sub, feedback=tmp_path / "fb.xlsx")
    book = openpyxl.load_workbook(tmp_path / "fb.xlsx")
    assert book["Iterations"]["B22"].fill.fgColor.rgb.endswith("F8CBAD")
    assert "row 22" in book["Iterations"]["B22"].comment.text
    assert "pattern" in [r[0] for r in book["Feedback"].iter_rows(values_only=True)]
