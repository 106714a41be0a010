"""recalc: any workbook recalculated in Python, its cached values checked cell by cell, a fresh copy written."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from gdsheet.formula.errors import ExcelError
from gdsheet.recalculator import recalc, recalc_frames
from gdsheet.workbook import cache_writer
from gdsheet.workbook.cache_writer import write_cached_values, xml_value
from gdsheet.workbook.reader import read_workbook
from gdsheet.workbook.safety import UnreadableWorkbook

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout, whatever is installed
    env.pop("GDSHEET_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "gdsheet", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def part_of(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as z:
        return cache_writer.sheet_parts(z)[sheet]


def set_cached(src: Path, dst: Path, sheet: str, values: dict[str, str]) -> None:
    """Copy ``src`` with the ``<v>`` text of some cells of ``sheet`` replaced (formulas kept as they are)."""
    part = part_of(src, sheet)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                xml = data.decode()
                for ref, text in values.items():
                    xml, n = re.subn(r'(<c r="%s"[^>]*>(?:<f[^>]*/>|<f[^>]*>[^<]*</f>))<v>[^<]*</v>' % ref,
                                     lambda m: f"{m.group(1)}<v>{text}</v>", xml)
                    assert n == 1, ref
                data = xml.encode()
            zout.writestr(info, data)


# ------------------------------------------------------------------ gdsheet's own workbooks


def formula_cells(path: Path, sheet: str | None = None) -> int:
    wb = read_workbook(path)
    return sum(len(s.formulas) for s in wb.sheets.values() if sheet is None or s.name == sheet)


def test_generated_workbook_agrees(lesson_workbook):
    report = recalc(lesson_workbook)
    assert report.ok, report.text()
    assert report.formula_cells == report.compared == formula_cells(lesson_workbook) > 300
    assert report.mismatch_count == report.missing_count == report.not_compared == 0
    assert report.sheets == list(read_workbook(lesson_workbook).sheets)


def test_forged_and_stale_values_reported_cell_by_cell(lesson_workbook, tmp_path):
    forged = tmp_path / "forged.xlsx"
    set_cached(lesson_workbook, forged, "Iterations", {"C20": "123", "B12": "0.5", "D40": "1e-3"})
    before = sha(forged)
    report = recalc(forged)
    assert sha(forged) == before  # the input is never modified
    assert not report.ok and report.mismatch_count == 3 and report.missing_count == 0
    assert [m.cell for m in report.mismatches] == ["Iterations!B12", "Iterations!C20", "Iterations!D40"]
    b12, c20, d40 = report.mismatches
    assert b12.cached == 0.5 and c20.cached == 123.0 and d40.cached == 1e-3
    # the formula as the cell shows it: shared formulas translated from their anchor (as openpyxl does)
    shown = openpyxl.load_workbook(lesson_workbook)["Iterations"]
    assert [m.formula for m in report.mismatches] == [shown[m.cell.split("!")[1]].value[1:] for m in report.mismatches]
    assert c20.formula == "coef_a*B20^2+coef_b*B20+coef_c"
    truth = openpyxl.load_workbook(lesson_workbook, data_only=True)["Iterations"]
    assert c20.recalculated == pytest.approx(truth["C20"].value, rel=1e-12)
    assert b12.recalculated == pytest.approx(truth["B12"].value, rel=1e-12)
    assert "MISMATCH Iterations!B12: cached 0.5, recalculated" in report.text()


def test_cli_exit_status_text_and_json(lesson_workbook, tmp_path):
    good = run("recalc", str(lesson_workbook))
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[-1].startswith("OK: every cached value agrees")
    forged = tmp_path / "forged.xlsx"
    set_cached(lesson_workbook, forged, "Iterations", {"C20": "123"})
    bad = run("recalc", str(forged))
    assert bad.returncode == 1 and bad.stderr == ""
    truth = openpyxl.load_workbook(lesson_workbook, data_only=True)["Iterations"]["C20"].value
    assert f"MISMATCH Iterations!C20: cached 123, recalculated {str(truth)[:6]}" in bad.stdout
    assert "[=coef_a*B20^2+coef_b*B20+coef_c]" in bad.stdout
    data = json.loads(run("recalc", str(forged), "--json", "--sheet", "Iterations").stdout)
    assert data["ok"] is False and data["sheets"] == ["Iterations"] and data["mismatch_count"] == 1
    assert data["mismatches"][0]["cell"] == "Iterations!C20" and data["mismatches"][0]["cached"] == 123.0
    assert data["formula_cells"] == formula_cells(forged, "Iterations")


def test_fresh_copy_fixes_the_values_and_keeps_everything_else(lesson_workbook, tmp_path):
    forged = tmp_path / "forged.xlsx"
    set_cached(lesson_workbook, forged, "Iterations", {"C20": "123", "B12": "0.5"})
    fresh = tmp_path / "fresh.xlsx"
    done = run("recalc", str(forged), "-o", str(fresh))
    assert done.returncode == 1 and f"wrote {fresh}" in done.stdout
    assert recalc(fresh).ok
    part = part_of(forged, "Iterations")
    with zipfile.ZipFile(forged) as a, zipfile.ZipFile(fresh) as b:
        assert a.namelist() == b.namelist()  # charts, drawings, styles, names: all there
        for name in a.namelist():
            if name != part:
                assert a.read(name) == b.read(name), name
        old, new = a.read(part).decode(), b.read(part).decode()
    cell = re.compile(r'<c r="([A-Z]+\d+)".*?</c>')
    old_cells = {m.group(1): m.group(0) for m in cell.finditer(old)}
    new_cells = {m.group(1): m.group(0) for m in cell.finditer(new)}
    assert old_cells.keys() == new_cells.keys()
    changed = {k for k in old_cells if old_cells[k] != new_cells[k]}
    assert {"C20", "B12"} <= changed
    # only the cached value of a changed cell differs: formula, style, shared-formula markup stay
    strip_v = re.compile(r"<v>[^<]*</v>")
    assert all(strip_v.sub("", old_cells[k]) == strip_v.sub("", new_cells[k]) for k in changed)
    assert new_cells["C20"].startswith('<c r="C20" s="11"><f t="shared" si="1"/><v>-4.4')
    frame = pd.read_excel(fresh, sheet_name="Iterations")
    truth = pd.read_excel(lesson_workbook, sheet_name="Iterations")
    pd.testing.assert_frame_equal(frame, truth, rtol=1e-12)


def test_output_must_not_be_the_input(lesson_workbook, tmp_path):
    copy = tmp_path / "same.xlsx"
    copy.write_bytes(lesson_workbook.read_bytes())
    done = run("recalc", str(copy), "-o", str(copy))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "never modified" in done.stderr
    assert copy.read_bytes() == lesson_workbook.read_bytes()


# ------------------------------------------------------------------ workbooks from elsewhere


def openpyxl_book(path: Path) -> Path:
    """Formulas without cached values, as openpyxl and pandas write them."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["x", "y"])
    for i in range(1, 11):
        ws.append([i, f"=A{i + 1}^2+1"])
    ws["D1"] = "=SUM(B:B)"
    ws["D2"] = '=COUNTIF(A:A,">5")'
    other = wb.create_sheet("Summary")
    other["A1"] = "=Data!D1/COUNT(Data!A:A)"
    other["A2"] = '="mean "&TEXT_NOT_HERE(1)'
    other["A3"] = "=MAX(Data!B2:B11)>100"
    wb.save(path)
    return path


def test_missing_cached_values_and_the_fresh_copy(tmp_path):
    src = openpyxl_book(tmp_path / "plain.xlsx")
    report = recalc(src)
    assert not report.ok and report.mismatch_count == 0
    assert report.missing_count == report.formula_cells == 15
    assert report.missing[:3] == ["Data!D1", "Data!B2", "Data!D2"]
    assert report.unsupported == {"TEXT_NOT_HERE": ["Summary!A2"]}
    fresh = tmp_path / "fresh.xlsx"
    report = recalc(src, output=fresh)
    assert report.written == 14  # the unsupported cell gets no value
    values = openpyxl.load_workbook(fresh, data_only=True)
    assert [values["Data"][f"B{r}"].value for r in range(2, 12)] == [i * i + 1 for i in range(1, 11)]
    assert values["Data"]["D1"].value == 395 and values["Data"]["D2"].value == 5
    assert values["Summary"]["A1"].value == 39.5 and values["Summary"]["A3"].value is True
    assert pd.read_excel(fresh, sheet_name="Data")["y"].tolist() == [i * i + 1 for i in range(1, 11)]
    formulas = openpyxl.load_workbook(fresh)["Data"]
    assert formulas["B5"].value == "=A5^2+1"
    again = recalc(fresh)
    assert again.mismatch_count == 0 and again.missing == ["Summary!A2"]


def cached_book(path: Path) -> Path:
    """XlsxWriter with chosen cached values: circular, unsupported, volatile and wrong ones."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("S")
    ws.write("A1", 2)
    ws.write_formula("B1", "=C1+1", None, 5)  # B1 -> C1 -> B1: a cycle
    ws.write_formula("C1", "=B1+1", None, 4)
    ws.write_formula("B2", "=NOT_A_FUNCTION(A1)", None, 3)  # unsupported: kept at 3
    ws.write_formula("B3", "=B2*2", None, 6)  # computed from the kept 3: agrees
    ws.write_formula("B4", "=B2*2", None, 7)  # disagrees
    ws.write_formula("C2", "=RAND()", None, 0.25)  # volatile: kept at 0.25
    ws.write_formula("C3", "=C2*4", None, 1)  # agrees with the kept draw
    ws.write_formula("C4", "=C2*4", None, 2)  # disagrees
    ws.write_formula("C5", "=RANDBETWEEN(1,6)", None, 9)
    ws.write_formula("C6", "=TODAY()", None, 1)
    ws.write_formula("C7", "=SUM(OFFSET(A1,0,0,1,1))", None, 2)
    ws.write_formula("C8", '=INDIRECT("A1")', None, 2)
    ws.write_formula("C9", "=NOW()", None, 1)
    ws.write_formula("D1", "=A1/0", None, "#DIV/0!")
    ws.write_formula("D2", '=IF(A1>1,"big","small")', None, "big")
    ws.write_formula("D3", "=A1>1", None, True)
    ws.write_formula("D4", '="a"&A1', None, "b2")  # wrong text
    wb.close()
    return path


def test_circular_unsupported_and_volatile_cells_are_listed_with_their_cells(tmp_path):
    report = recalc(cached_book(tmp_path / "c.xlsx"))
    assert [(m.cell, m.cached, m.recalculated) for m in report.mismatches] == [
        ("S!B4", 7.0, 6.0), ("S!C4", 2.0, 1.0), ("S!D4", "b2", "a2")]
    assert {n.cell for n in report.circular} == {"S!B1", "S!C1"}
    assert "S!B1 -> S!C1 -> S!B1" in report.circular[0].reason or "S!C1 -> S!B1 -> S!C1" in report.circular[0].reason
    assert report.unsupported == {"NOT_A_FUNCTION": ["S!B2"]}
    assert [(n.cell, n.reason) for n in report.volatile] == [
        ("S!C2", "volatile function RAND"), ("S!C5", "volatile function RANDBETWEEN"),
        ("S!C6", "volatile function TODAY"), ("S!C7", "volatile function OFFSET"),
        ("S!C8", "volatile function INDIRECT"), ("S!C9", "volatile function NOW")]
    assert report.not_compared == 9 and report.compared == 8
    text = report.text()
    assert "circular reference, not compared: S!" in text
    assert "unsupported function NOT_A_FUNCTION, not compared: 1 cell (S!B2)" in text
    assert "volatile, not compared: 6 cells (S!C2 RAND, S!C5 RANDBETWEEN" in text


def test_circular_and_unsupported_alone_leave_the_status_at_zero(tmp_path):
    wb = xlsxwriter.Workbook(str(tmp_path / "c.xlsx"))
    ws = wb.add_worksheet("S")
    ws.write_formula("A1", "=A2+1", None, 1)
    ws.write_formula("A2", "=A1+1", None, 0)
    ws.write_formula("B1", "=FOO(1)", None, 3)
    ws.write_formula("B2", "=B1+1", None, 4)
    wb.close()
    done = run("recalc", str(tmp_path / "c.xlsx"))
    assert done.returncode == 0, done.stdout
    assert "circular reference, not compared" in done.stdout and "unsupported function FOO" in done.stdout


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "zip", "missing", "folder", "ods"])
def test_unreadable_inputs_exit_2_with_one_line(tmp_path, lesson_workbook, kind):
    path = tmp_path / "bad.xlsx"
    if kind == "text":
        path.write_text("just,some\ntext,1\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(lesson_workbook.read_bytes()[:3000])
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("hello.txt", "not a workbook")
    elif kind == "folder":
        path.mkdir()
    elif kind == "ods":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("content.xml", "<office:document-content/>")
    done = run("recalc", str(path), "-o", str(tmp_path / "out.xlsx"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("gdsheet: error: bad.xlsx")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.xlsx").exists()
    with pytest.raises(UnreadableWorkbook):
        recalc(path)


def test_unknown_sheet_is_exit_2(lesson_workbook):
    done = run("recalc", str(lesson_workbook), "--sheet", "Nope")
    assert done.returncode == 2 and "no sheet named 'Nope'" in done.stderr


def test_sheet_selection_computes_dependencies_but_reports_only_the_sheet(tmp_path):
    src = openpyxl_book(tmp_path / "plain.xlsx")
    report = recalc(src, ["summary"])  # case-insensitive, as Excel
    assert report.sheets == ["Summary"] and report.formula_cells == 3
    fresh = tmp_path / "fresh.xlsx"
    recalc(src, ["Summary"], output=fresh)
    values = openpyxl.load_workbook(fresh, data_only=True)
    assert values["Summary"]["A1"].value == 39.5
    assert values["Data"]["D1"].value is None  # other sheets are left as they were


# ------------------------------------------------------------------ shared and array formulas as Excel writes them


def excel_style_book(path: Path) -> Path:
    """A 2-D shared formula block and an array formula written the way Excel writes them."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Grid")
    ws.write("A1", 0.5)
    for r in range(2, 11):
        ws.write(f"A{r}", r)
        ws.write_formula(f"B{r}", f"=A{r}*2+$A$1", None, 0)
        ws.write_formula(f"C{r}", f"=B{r}*2+$A$1", None, 0)
    ws.write_array_formula("E2:F3", "{=MMULT(A2:B3,TRANSPOSE(A2:B3))}", None, 0)
    ws.write_array_formula("E5:E6", "{=TRANSPOSE(A2:B2)}", None, 0)
    wb.close()
    part = part_of(path, "Grid")
    with zipfile.ZipFile(path) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            if info.filename == part:
                xml = data.decode()

                def shared(m: re.Match) -> str:
                    col, row = m.group(1), int(m.group(2))
                    if (col, row) == ("B", 2):
                        f = '<f t="shared" ref="B2:C10" si="0">A2*2+$A$1</f>'
                    else:
                        f = '<f t="shared" si="0"/>'
                    return f'<c r="{col}{row}">{f}<v>{7 if (col, row) == ("C", 7) else 0}</v></c>'

                xml = re.sub(r'<c r="([BC])(\d+)"><f>[^<]*</f><v>0</v></c>', shared, xml)
                data = xml.encode()
            z.writestr(info, data)
    return path


def test_excel_shared_formulas_and_array_formulas(tmp_path):
    src = excel_style_book(tmp_path / "grid.xlsx")
    report = recalc(src)
    assert report.formula_cells == 18 + 6
    cells = {m.cell: m for m in report.mismatches}
    assert len(cells) == report.mismatch_count == 24  # every cached value is a stale 0 ...
    assert cells["Grid!C7"].cached == 7.0 and cells["Grid!C7"].recalculated == 29.5
    assert cells["Grid!C7"].formula == "B7*2+$A$1" and cells["Grid!B7"].formula == "A7*2+$A$1"
    assert cells["Grid!F3"].formula == "{MMULT(A2:B3,TRANSPOSE(A2:B3))}"
    fresh = tmp_path / "fresh.xlsx"
    recalc(src, output=fresh)
    assert recalc(fresh).ok
    values = openpyxl.load_workbook(fresh, data_only=True)["Grid"]
    assert values["C7"].value == 29.5
    a = [[2, 4.5], [3, 6.5]]
    mm = [[sum(a[i][k] * a[j][k] for k in range(2)) for j in range(2)] for i in range(2)]
    assert [[values.cell(r, c).value for c in (5, 6)] for r in (2, 3)] == mm
    assert [values["E5"].value, values["E6"].value] == [2, 4.5]
    with zipfile.ZipFile(fresh) as z:
        xml = z.read(part_of(fresh, "Grid")).decode()
    assert '<c r="C7"><f t="shared" si="0"/><v>29.5</v></c>' in xml


# ------------------------------------------------------------------ the values as DataFrames


def test_recalc_frames(tmp_path):
    src = openpyxl_book(tmp_path / "plain.xlsx")
    grid = recalc_frames(src)
    data = grid["Data"]
    assert list(data.columns) == ["A", "B", "C", "D"] and data.index[0] == 1 and data.index[-1] == 11
    assert data.loc[11, "B"] == 101.0 and data.loc[1, "D"] == 395.0 and data.loc[1, "A"] == "x"
    assert grid["Summary"].loc[1, "A"] == 39.5 and grid["Summary"].loc[2, "A"] == "#NAME?"
    tables = recalc_frames(src, ["Data"], header=True)
    assert list(tables) == ["Data"]
    assert tables["Data"]["y"].tolist() == [i * i + 1 for i in range(1, 11)]


def test_api_from_the_package(tmp_path):
    import gdsheet

    src = openpyxl_book(tmp_path / "plain.xlsx")
    assert isinstance(gdsheet.recalc(src), gdsheet.RecalcReport)
    assert set(gdsheet.recalc_frames(src)) == {"Data", "Summary"}


# ------------------------------------------------------------------ the cache writer


def test_xml_values():
    assert xml_value(3.0) == (b"", b"3")
    assert xml_value(-0.0) == (b"", b"0")
    assert xml_value(0.1 + 0.2) == (b"", b"0.30000000000000004")
    assert xml_value(1e20) == (b"", b"1e+20")
    assert xml_value(True) == (b' t="b"', b"1")
    assert xml_value("a<b & c") == (b' t="str"', b"a&lt;b &amp; c")
    assert xml_value(ExcelError("#DIV/0!")) == (b' t="e"', b"#DIV/0!")


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_cache_writer_any_chunk_boundary(tmp_path, monkeypatch, chunk):
    src = tmp_path / "src.xlsx"
    part = "xl/worksheets/sheet1.xml"
    xml = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
           '<row r="1"><c r="A1" s="2"><f>1+1</f><v>3</v></c><c r="B1"><v>5</v></c>'
           '<c r="C1" t="str"><f>"x"</f><v>y</v></c><c r="D1"/><c r="E1" t="inlineStr"><is><t>q</t></is></c></row>'
           '<row r="2"><c r="A2"><f t="shared" ref="A2:A3" si="0">B1</f></c><c r="A3"><f t="shared" si="0"/></c>'
           "<c r='B2' t='e'><f>1/0</f><v>#N/A</v></c></row></sheetData></worksheet>")
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
                   '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml" '
                   'Type="x"/></Relationships>')
        z.writestr(part, xml)
    monkeypatch.setattr(cache_writer, "CHUNK", chunk)
    counts = write_cached_values(src, tmp_path / "dst.xlsx", {"S": {
        (1, 1): 2.0, (1, 3): "x", (1, 4): True, (1, 5): 1.5, (2, 1): 5.0, (3, 1): "t&", (2, 2): ExcelError("#DIV/0!"),
        (9, 9): 1.0}})
    assert counts == {"S": 7}  # I9 is not in the file
    with zipfile.ZipFile(tmp_path / "dst.xlsx") as z:
        out = z.read(part).decode()
    assert out == xml.replace('<c r="A1" s="2"><f>1+1</f><v>3</v></c>', '<c r="A1" s="2"><f>1+1</f><v>2</v></c>') \
        .replace('<c r="C1" t="str"><f>"x"</f><v>y</v></c>', '<c r="C1" t="str"><f>"x"</f><v>x</v></c>') \
        .replace('<c r="D1"/>', '<c r="D1" t="b"><v>1</v></c>') \
        .replace('<c r="E1" t="inlineStr"><is><t>q</t></is></c>', '<c r="E1"><v>1.5</v></c>') \
        .replace('<c r="A2"><f t="shared" ref="A2:A3" si="0">B1</f></c>',
                 '<c r="A2"><f t="shared" ref="A2:A3" si="0">B1</f><v>5</v></c>') \
        .replace('<c r="A3"><f t="shared" si="0"/></c>', '<c r="A3" t="str"><f t="shared" si="0"/><v>t&amp;</v></c>') \
        .replace("<c r='B2' t='e'><f>1/0</f><v>#N/A</v></c>", "<c r='B2' t=\"e\"><f>1/0</f><v>#DIV/0!</v></c>")
