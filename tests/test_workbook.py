"""What generate writes: a workbook for people, with live formulas and cached values."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from gdsheet.api import generate, layout
from gdsheet.workbook.reader import read_workbook

ESCAPED_CONTROL = re.compile(rb"_x[0-9A-Fa-f]{4}_")


def test_parameters_are_named_input_cells(lesson_workbook):
    wb = openpyxl.load_workbook(lesson_workbook)
    names = {n: wb.defined_names[n].attr_text for n in wb.defined_names}
    for name in ("coef_a", "coef_b", "coef_c", "x_start", "learning_rate", "steps"):
        assert names[name].startswith("Parameters!$B$"), name
    ws = wb["Parameters"]
    sheet, cell = names["learning_rate"].split("!")
    assert ws[cell.replace("$", "")].value == 0.02
    assert ws["A" + cell.split("$")[-1]].value.startswith("η")  # labelled


def test_no_name_excel_would_reject(lesson_workbook, rates_workbook):
    for path in (lesson_workbook, rates_workbook):
        wb = openpyxl.load_workbook(path)
        for name in wb.defined_names:
            assert len(name) > 1 and name.lower() not in {"c", "r"}
            assert not re.fullmatch(r"[A-Za-z]{1,3}\d+", name), name
            assert not re.fullmatch(r"[rRcC]\d*([rRcC]\d*)?", name), name


def test_iterations_sheet_one_formula_shape_per_column(lesson_workbook):
    wb = openpyxl.load_workbook(lesson_workbook)
    ws = wb["Iterations"]
    headers = [c.value for c in ws[1]]
    assert headers[:4] == ["iteration k", "x_k", "f(x_k)", "f′(x_k)"]
    assert ws["B2"].value == "=x_start"
    for r in range(3, 62):
        assert ws[f"B{r}"].value == f"=B{r - 1}-learning_rate*D{r - 1}"
        assert ws[f"C{r}"].value == f"=coef_a*B{r}^2+coef_b*B{r}+coef_c"
        assert ws[f"D{r}"].value == f"=2*coef_a*B{r}+coef_b"
    assert ws.freeze_panes == "B2"


def test_filled_down_columns_are_shared_formulas(lesson_workbook):
    wb = read_workbook(lesson_workbook)
    sheet = wb.sheets["Iterations"]
    column_c = {sheet.formulas[(r, 3)] for r in range(2, 63) if (r, 3) in sheet.formulas}
    assert len(column_c) == 1  # one Formula object: the evaluator compiles it once
    with zipfile.ZipFile(lesson_workbook) as zf:
        xml = zf.read("xl/worksheets/sheet2.xml").decode()
    assert '<f t="shared" ref="B3:B62" si="0">B2-learning_rate*D2</f>' in xml


def test_cached_values_let_pandas_see_numbers(lesson_workbook):
    frame = pd.read_excel(lesson_workbook, sheet_name="Iterations")
    assert frame["x_k"].iloc[0] == 4.0
    assert frame["x_k"].iloc[1] == pytest.approx(3.14)
    assert frame["f′(x_k)"].notna().all()


def test_chart_explanation_and_hidden_metadata(lesson_workbook):
    with zipfile.ZipFile(lesson_workbook) as zf:
        names = zf.namelist()
        assert sum(n.startswith("xl/charts/chart") for n in names) == 2
        workbook_xml = zf.read("xl/workbook.xml").decode()
    assert re.search(r'<sheet name="gdsheet" sheetId="\d+" state="hidden"', workbook_xml)
    wb = openpyxl.load_workbook(lesson_workbook)
    about = "\n".join(str(c.value) for row in wb["About"].iter_rows() for c in row if c.value)
    assert "(1 − 2aη)^k" in about and "x_k + b/2a" in about


def test_no_text_that_libreoffice_would_unescape(lesson_workbook, rates_workbook):
    for path in (lesson_workbook, rates_workbook):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                assert not ESCAPED_CONTROL.search(zf.read(name)), name


def test_generating_twice_gives_the_same_cells(tmp_path):
    a = read_workbook(generate("quadratic", tmp_path / "a.xlsx", lr=0.07, steps=30))
    b = read_workbook(generate("quadratic", tmp_path / "b.xlsx", lr=0.07, steps=30))
    for name in a.sheets:
        assert a.sheets[name].values == b.sheets[name].values
        assert a.sheets[name].formulas == b.sheets[name].formulas
    assert a.names == b.names


def test_reproducible_bytes_with_source_date_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = generate("quadratic", tmp_path / "a.xlsx").read_bytes()
    b = generate("quadratic", tmp_path / "b.xlsx").read_bytes()
    assert a == b


def test_divergent_run_stores_num_errors(tmp_path):
    path = generate("quadratic", tmp_path / "d.xlsx", lr=0.5, steps=600)
    wb = openpyxl.load_workbook(path, data_only=True)
    values = [r[0] for r in wb["Iterations"].iter_rows(min_row=2, min_col=2, max_col=2, values_only=True)]
    assert values[-1] == "#NUM!"
    assert isinstance(values[10], float)


def test_learning_rate_comparison_workbook(rates_workbook):
    wb = openpyxl.load_workbook(rates_workbook)
    assert wb.sheetnames[:3] == ["Parameters", "Summary", "η = 0.001"]
    ws = wb["η = 0.2"]
    assert ws["B3"].value == "=B2-learning_rate*D2"  # the single-run formula ...
    local = wb["η = 0.2"].defined_names["learning_rate"].attr_text
    assert local.startswith("Parameters!$B$")  # ... with a sheet-scoped rate
    with zipfile.ZipFile(rates_workbook) as zf:
        charts = [n for n in zf.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 8  # one per run + the comparison
    summary = pd.read_excel(rates_workbook, sheet_name="Summary", nrows=7)
    assert list(summary["behaviour"]) == ["converges", "converges", "converges", "converges",
                                          "oscillates, converging", "cycles", "diverges"]


def test_layout_refuses_more_rows_than_a_sheet_has():
    with pytest.raises(ValueError, match="at most"):
        layout("quadratic", steps=1_048_575)


def test_output_file_is_an_ordinary_file(tmp_path):
    path = generate("quadratic", tmp_path / "sub" / "q.xlsx")
    assert path.exists() and (path.stat().st_mode & 0o044) == 0o044
    assert not list(Path(tmp_path / "sub").glob(".gdsheet-*"))
