"""Untrusted submissions: every refusal is one line and exit 2 from check, an 'unreadable' gradebook
row from grade — never a traceback, a hang or an out-of-memory; odd but valid files are graded."""

from __future__ import annotations

import csv
import importlib
import time
from pathlib import Path

import pytest

from gdsheet.classroom import check, grade, write_roster
from gdsheet.cli import main
from hostile import ODD, UNREADABLE

NAMES = sorted(UNREADABLE) + sorted(ODD) + ["other-exercise"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("hostile")
    ids = [f"u{i:02d}" for i in range(len(NAMES))]
    (folder / "roster.csv").write_text("id\n" + "\n".join(ids) + "\n")
    keys, kpath = write_roster("quadratic", folder / "roster.csv", folder / "templates", seed=3,
                               key_dir=folder / "keys")
    subs = folder / "submissions"
    subs.mkdir()
    files: dict[str, Path] = {}
    for sid, name in zip(ids, NAMES):
        good = folder / "keys" / f"{sid}.key.xlsx"
        out = subs / f"{sid}-{name}{'.xlsm' if name == 'macro' else '.xlsx'}"
        if name == "other-exercise":
            from gdsheet.classroom import write_template

            write_template("network", out, params={"steps": 2, "observations": 3})
        else:
            builder = UNREADABLE[name][0] if name in UNREADABLE else ODD[name][0]
            builder(good, out)
        files[name] = out
    for tmp in subs.glob("*.tmp.xlsx"):
        tmp.unlink()
    return {"files": files, "keys": kpath, "subs": subs, "ids": dict(zip(NAMES, ids))}


@pytest.mark.parametrize("name", sorted(UNREADABLE) + ["other-exercise"])
def test_check_refuses_with_one_line(corpus, name, capsys):
    path = corpus["files"][name]
    t0 = time.monotonic()
    assert main(["check", str(path), "--keys", str(corpus["keys"])]) == 2
    assert time.monotonic() - t0 < 10
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gdsheet: error: {path.name}: ")
    want = UNREADABLE[name][1] if name in UNREADABLE else \
        "not-this-exercise: a network workbook; the keys are for the quadratic exercise"
    assert want in lines[0]
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_but_valid_files_are_graded_quickly(corpus, name):
    _, status, text = ODD[name]
    t0 = time.monotonic()
    result = check(corpus["files"][name], keys=corpus["keys"])
    assert time.monotonic() - t0 < 10
    assert result.status == status, result.text()
    assert text in result.text()


def test_external_link_is_an_error_in_that_cell_only(corpus):
    result = check(corpus["files"]["external-link"], keys=corpus["keys"])
    cell = next(c for c in result.cells if c.cell == "Iterations!B12")
    assert cell.kind == "external" and "[1]Sheet1!A1" in cell.note
    assert next(c for c in result.cells if c.cell == "Iterations!B13").kind == "carried_forward"


def test_grade_gives_every_hostile_file_its_row(corpus, tmp_path):
    t0 = time.monotonic()
    out = tmp_path / "gradebook.csv"
    assert main(["grade", str(corpus["subs"]), "--keys", str(corpus["keys"]), "-o", str(out), "--workers", "2",
                 "--no-progress"]) == 0
    assert time.monotonic() - t0 < 60
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    for name in NAMES:
        row = rows[corpus["ids"][name]]
        if name in UNREADABLE:
            assert row["status"] == "unreadable" and UNREADABLE[name][1] in row["message"], row
            assert row["matched_by"] == "file name"
        elif name == "other-exercise":
            assert row["status"] == "not-this-exercise", row
        else:
            assert row["status"] == ODD[name][1], row


def test_grade_time_and_memory_limits_turn_into_rows(corpus, monkeypatch):
    """A file that hangs or eats memory costs its own row; the rest of the batch goes on."""
    grading = importlib.import_module("gdsheet.classroom.grade")  # the module (the package exports grade())

    real = grading.check
    hang, greedy = corpus["files"]["macro"].name, corpus["files"]["circular"].name

    def check_with_trouble(path, **kwargs):  # runs in the forked children
        if Path(path).name == hang:
            time.sleep(120)
        if Path(path).name == greedy:
            return [bytearray(1 << 20) for _ in range(100_000)]
        return real(path, **kwargs)

    monkeypatch.setattr(grading, "check", check_with_trouble)
    t0 = time.monotonic()
    book = grade(corpus["subs"], corpus["keys"], workers=2, progress=False, time_limit=3, memory_limit=512 << 20)
    assert time.monotonic() - t0 < 30
    by_student = {r["student"]: r for r in book.rows}
    assert by_student[corpus["ids"]["macro"]]["message"] == "took longer than the 3 s limit"
    assert by_student[corpus["ids"]["circular"]]["message"] == "needs more memory than the per-file limit"
    assert {by_student[corpus["ids"][n]]["status"] for n in ("macro", "circular")} == {"unreadable"}
    assert by_student[corpus["ids"]["huge-dimension"]]["status"] == "graded"
