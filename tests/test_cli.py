"""The command line as a user meets it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import gdsheet


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gdsheet", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_version_and_help():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"gdsheet {gdsheet.__version__}"
    out = run("--help")
    assert out.returncode == 0
    for verb in ("generate", "read", "verify"):
        assert verb in out.stdout
    out = run("generate", "quadratic", "--help")
    assert "--lr" in out.stdout and "--lrs" in out.stdout and "[default: 0.02]" in out.stdout


def test_generate_the_issue_examples(tmp_path):
    out = run("generate", "quadratic", "-o", "quadratic.xlsx", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wrote quadratic.xlsx: quadratic, 1 iteration table, 61 rows")
    out = run("generate", "quadratic", "--a", "5", "--b", "3", "--c", "-4", "--x0", "4", "--lr", "0.05",
              "--steps", "100", "-o", "q.xlsx", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    frame = gdsheet.read(tmp_path / "q.xlsx")
    assert len(frame) == 101 and frame["x_k"].iloc[1] == pytest.approx(4 - 0.05 * 43)
    out = run("generate", "quadratic", "--lrs", "0.001,0.01,0.05,0.1,0.19,0.2,0.21", "-o", "rates.xlsx",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "7 iteration tables" in out.stdout
    assert run("verify", "rates.xlsx", cwd=tmp_path).returncode == 0


def test_default_output_name(tmp_path):
    assert run("generate", "quadratic", cwd=tmp_path).returncode == 0
    assert (tmp_path / "quadratic.xlsx").exists()


@pytest.mark.parametrize("args,message", [
    (["--a", "0"], "a must be at least"),
    (["--lr", "fast"], "--lr: expected float, got 'fast'"),
    (["--steps", "2.5"], "--steps: expected int"),
    (["--steps", "2000000"], "steps must be at most 1048574"),
    (["--lrs", "0.1,abc"], "--lrs: expected floats"),
    (["--lrs", ","], "--lrs: expected floats"),
    (["-o", "afile.txt/q.xlsx"], "afile.txt"),
])
def test_generate_bad_arguments_exit_2_one_line(tmp_path, args, message):
    (tmp_path / "afile.txt").write_text("a file where a folder would be")
    out = run("generate", "quadratic", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 or out.stderr.startswith("usage:")
    assert message in out.stderr
    assert not list(tmp_path.glob("*.xlsx"))


def test_unknown_exercise_and_option_exit_2(tmp_path):
    assert run("generate", "cubic", cwd=tmp_path).returncode == 2
    assert run("generate", "quadratic", "--nonsense", "0.9", cwd=tmp_path).returncode == 2
    assert run("verify", "x.xlsx", "--engine", "excel", cwd=tmp_path).returncode == 2


def test_read_formats(lesson_workbook):
    table = run("read", str(lesson_workbook))
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["iteration", "k", "x_k"]
    csv = run("read", str(lesson_workbook), "--format", "csv")
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert list(frame.columns)[:4] == ["iteration k", "x_k", "f(x_k)", "f′(x_k)"] and len(frame) == 61
    data = json.loads(run("read", str(lesson_workbook), "--format", "json").stdout)
    assert data[1]["x_k"] == pytest.approx(3.14)
    params = run("read", str(lesson_workbook), "--sheet", "Parameters", "--format", "csv")
    assert params.returncode == 0 and "learning rate" in params.stdout


def test_read_missing_sheet_and_bad_file_exit_2(lesson_workbook, tmp_path):
    out = run("read", str(lesson_workbook), "--sheet", "Nope")
    assert out.returncode == 2 and "no sheet named 'Nope'" in out.stderr
    bad = tmp_path / "bad.xlsx"
    bad.write_text("hello")
    out = run("read", str(bad))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "not an .xlsx workbook" in out.stderr


def test_read_any_workbook_evaluates_formulas_without_cached_values(tmp_path):
    """openpyxl writes formulas without cached values; read computes them."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["k", "x"])
    ws.append([0, 4])
    for r in range(3, 8):
        ws.append([f"=A{r - 1}+1", f"=B{r - 1}-0.1*(10*B{r - 1}+3)"])
    wb.save(tmp_path / "plain.xlsx")
    frame = gdsheet.read(tmp_path / "plain.xlsx")
    assert list(frame["k"]) == [0, 1, 2, 3, 4, 5]
    assert frame["x"].iloc[1] == pytest.approx(4 - 0.1 * 43)


def test_python_api_round_trip(tmp_path):
    path = gdsheet.generate("quadratic", tmp_path / "api.xlsx", lr=0.05, steps=100)
    frame = gdsheet.read(path)
    assert frame["x_k"].iloc[-1] == pytest.approx(-0.3, abs=1e-12)
    report = gdsheet.verify(path)
    assert report.ok and report.checked == 6 * 101 + 3
    with pytest.raises(gdsheet.VerifyError):
        gdsheet.verify(tmp_path / "missing.xlsx")
