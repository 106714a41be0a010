"""verify: passes on what generate writes, fails naming the cell on what was tampered with."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from gdsheet.api import generate, verify
from gdsheet.verifier import VerifyError
from xlsx_edit import replace_cell


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gdsheet", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_generated_workbook_verifies(lesson_workbook):
    report = verify(lesson_workbook)
    assert report.ok, report.text()
    assert report.checked == 369  # 6 formula columns x 61 rows + x_min, f_min, contraction
    assert report.sources == ["gdsheet", "cached"]


def test_rates_workbook_verifies_including_divergent_runs(rates_workbook):
    report = verify(rates_workbook)
    assert report.ok, report.text()


@pytest.mark.parametrize("params", [
    {"lr": 0.5, "steps": 600},  # diverges to #NUM!
    {"lr": 0.2, "steps": 50},  # cycles
    {"a": 0.3, "b": -7.5, "c": 1e6, "x0": -1e5, "lr": 1.9, "steps": 300},  # oscillates, converging
    {"a": 1e-6, "b": 1e6, "c": 0, "x0": 1e12, "lr": 1e3, "steps": 80},  # large magnitudes
])
def test_other_configurations_verify(tmp_path, params):
    path = generate("quadratic", tmp_path / "q.xlsx", **params)
    report = verify(path)
    assert report.ok, report.text()


def tampered(lesson_workbook: Path, tmp_path: Path, ref: str, inner: str, cell_type: str | None = None) -> Path:
    dst = tmp_path / "tampered.xlsx"
    replace_cell(lesson_workbook, dst, "Iterations", ref, inner, cell_type)
    return dst


def test_hard_coded_number_in_one_row_fails_naming_the_cell(lesson_workbook, tmp_path):
    path = tampered(lesson_workbook, tmp_path, "B12", "<v>0.5</v>")
    report = verify(path)
    assert not report.ok
    assert report.mismatches[0].cell == "Iterations!B12"
    assert "typed value" in report.mismatches[0].line()


def test_learning_rate_typed_in_fails_even_with_the_right_value(lesson_workbook, tmp_path):
    original = openpyxl.load_workbook(lesson_workbook, data_only=True)["Iterations"]["B12"].value
    path = tampered(lesson_workbook, tmp_path, "B12", f"<f>B11-0.02*D11</f><v>{original!r}</v>")
    report = verify(path)
    assert not report.ok
    assert report.mismatch_count == 1  # only the formula: every number is still right
    assert report.mismatches[0].cell == "Iterations!B12"
    assert report.mismatches[0].source == "formula"
    assert "B11-0.02*D11" in report.mismatches[0].line()


def test_forged_cached_value_is_caught(lesson_workbook, tmp_path):
    path = tampered(lesson_workbook, tmp_path, "C20", "<f>coef_a*B20^2+coef_b*B20+coef_c</f><v>123</v>")
    report = verify(path)
    assert [(m.cell, m.source) for m in report.mismatches] == [("Iterations!C20", "cached")]


def test_wrong_formula_with_wrong_values(lesson_workbook, tmp_path):
    path = tampered(lesson_workbook, tmp_path, "D30", "<f>2*coef_a*B30-coef_b</f>")
    report = verify(path)
    cells = {m.cell for m in report.mismatches}
    assert report.mismatches[0].cell == "Iterations!D30"  # the first broken cell comes first
    assert report.mismatches[0].source == "formula"
    assert "Iterations!B31" in cells  # x of the next row is wrong too ...
    assert report.mismatch_count > 10  # ... and everything after it


def test_equivalent_spelling_still_verifies(lesson_workbook, tmp_path):
    original = openpyxl.load_workbook(lesson_workbook, data_only=True)["Iterations"]["C7"].value
    path = tampered(lesson_workbook, tmp_path, "C7", f"<f>COEF_A * B7^2 + Coef_B*B7 + coef_c</f><v>{original!r}</v>")
    assert verify(path).ok


def test_changed_learning_rate_cell_is_followed(tmp_path):
    """A teacher changes η in Excel: the reference follows the input cell, with a note."""
    src = generate("quadratic", tmp_path / "q.xlsx")
    wb = openpyxl.load_workbook(src)
    wb["Parameters"]["B8"] = 0.05  # learning_rate; openpyxl drops cached values: the evaluator computes
    wb.save(tmp_path / "edited.xlsx")
    report = verify(tmp_path / "edited.xlsx")
    assert report.ok, report.text()
    assert any("learning_rate changed" in n for n in report.notes)
    assert report.params["lr"] == 0.05


def test_input_file_is_never_modified(lesson_workbook):
    before = (lesson_workbook.read_bytes(), lesson_workbook.stat().st_mtime_ns)
    verify(lesson_workbook)
    run("verify", str(lesson_workbook))
    assert (lesson_workbook.read_bytes(), lesson_workbook.stat().st_mtime_ns) == before


# ------------------------------------------------------------------ the command


def test_cli_verify_ok_and_json(lesson_workbook):
    out = run("verify", str(lesson_workbook))
    assert out.returncode == 0, out.stderr
    assert "OK: every cell agrees" in out.stdout
    out = run("verify", str(lesson_workbook), "--json")
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["checked"] == 369 and data["mismatches"] == []


def test_cli_verify_tampered_exit_1_names_cell(lesson_workbook, tmp_path):
    path = tampered(lesson_workbook, tmp_path, "B12", "<v>0.5</v>")
    out = run("verify", str(path))
    assert out.returncode == 1
    assert "MISMATCH Iterations!B12" in out.stdout
    data = json.loads(run("verify", str(path), "--json").stdout)
    assert data["ok"] is False and data["mismatches"][0]["cell"] == "Iterations!B12"


def bad_inputs(tmp_path: Path, lesson_workbook: Path) -> dict[str, Path]:
    text = tmp_path / "notes.xlsx"
    text.write_text("this is not a workbook\n")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(lesson_workbook.read_bytes()[:3000])
    foreign = tmp_path / "foreign.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = 1
    wb.active["A2"] = "=A1*2"
    wb.save(foreign)
    plain_zip = tmp_path / "plain.xlsx"
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("hello.txt", "hi")
    ole = tmp_path / "protected.xlsx"
    ole.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 512)
    return {"text": text, "empty": empty, "truncated": truncated, "foreign": foreign, "zip": plain_zip,
            "ole": ole, "missing": tmp_path / "missing.xlsx", "folder": tmp_path}


@pytest.mark.parametrize("kind,message", [
    ("text", "not an .xlsx workbook"), ("empty", "empty"), ("truncated", "damaged or truncated"),
    ("foreign", "not a gdsheet workbook"), ("zip", "not an .xlsx workbook"), ("ole", "password-protected"),
    ("missing", "no such file"), ("folder", "folder"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, lesson_workbook, kind, message):
    path = bad_inputs(tmp_path, lesson_workbook)[kind]
    before = path.read_bytes() if path.is_file() else None
    out = run("verify", str(path))
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert message in lines[0]
    if before is not None:
        assert path.read_bytes() == before
    with pytest.raises(VerifyError):
        verify(path)


def test_unsupported_function_is_exit_2_naming_the_cell(lesson_workbook, tmp_path):
    path = tampered(lesson_workbook, tmp_path, "E9", "<f>FANCYSTEP(D9)</f><v>1</v>")
    out = run("verify", str(path))
    assert out.returncode == 2
    assert "Iterations!E9" in out.stderr and "FANCYSTEP" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
