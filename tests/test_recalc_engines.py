"""recalc against real engines: workbooks whose cached values LibreOffice computed agree with
gdsheet's recalculation, cell by cell; the fresh copies recalc writes open in LibreOffice.

The workbooks are written with openpyxl (formulas, no cached values) in the style of the course:
gradient-descent tables with named parameters (a converging and an overflowing run), a
battery of the functions course workbooks use -- lookups, conditional aggregates, whole-column
and cross-sheet ranges, error values, array formulas -- and a logistic neuron trained with
SUMPRODUCT over a data block.  One LibreOffice run computes them all.
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
import uuid
from pathlib import Path

import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

from gdsheet.engines import recalculate, recalculate_many
from gdsheet.formula.errors import ExcelError
from gdsheet.formula.evaluator import evaluate
from gdsheet.recalculator import recalc
from gdsheet.workbook.reader import read_workbook

try:
    from engines_available import require_engine
except ImportError:  # tests/ made a package
    from tests.engines_available import require_engine

from test_recalc import set_cached

pytestmark = [pytest.mark.engine, pytest.mark.filterwarnings("ignore:Workbook contains no default style")]


def _name(wb: openpyxl.Workbook, name: str, ref: str) -> None:
    wb.defined_names[name] = DefinedName(name, attr_text=ref)


def course_book(path: Path) -> Path:
    """Quadratic gradient descent as a student builds it: named parameters, one row per step."""
    wb = openpyxl.Workbook()
    p = wb.active
    p.title = "Parameters"
    for row, (label, value) in enumerate([("a", 5), ("b", 3), ("c", -4), ("x0", 4), ("lr", 0.05),
                                          ("lr_big", 0.25)], start=1):
        p.cell(row, 1, label)
        p.cell(row, 2, value)
    for name, row in (("coef_a", 1), ("coef_b", 2), ("coef_c", 3), ("x_start", 4), ("rate", 5), ("rate_big", 6)):
        _name(wb, name, f"Parameters!$B${row}")
    p["D1"] = "x*"
    p["E1"] = "=-coef_b/(2*coef_a)"
    for title, rate, steps in (("Converging", "rate", 300), ("Overflow", "rate_big", 1800)):
        ws = wb.create_sheet(title)
        ws.append(["k", "x", "f(x)", "f'(x)", "step", "|x-x*|", "converged", "improvement"])
        ws.append([0, "=x_start", "=coef_a*B2^2+coef_b*B2+coef_c", "=2*coef_a*B2+coef_b", f"={rate}*D2",
                   "=ABS(B2-Parameters!$E$1)", '=IF(F2<1E-6,"yes","no")', 0])
        for r in range(3, steps + 3):
            ws.append([r - 2, f"=B{r - 1}-E{r - 1}", f"=coef_a*B{r}^2+coef_b*B{r}+coef_c", f"=2*coef_a*B{r}+coef_b",
                       f"={rate}*D{r}", f"=ABS(B{r}-Parameters!$E$1)", f'=IF(F{r}<1E-6,"yes","no")',
                       f"=C{r - 1}-C{r}"])
        ws["J1"] = "steps to converge"
        ws["J2"] = '=IFERROR(MATCH("yes",G:G,0)-2,"never")'
        ws["J3"] = "=MIN(F:F)"
        ws["J4"] = "=COUNTIF(G:G,\"no\")"
        ws["J5"] = "=SUMPRODUCT((F2:F50<0.01)*1)"
    wb.save(path)
    return path


def functions_book(path: Path) -> Path:
    """The functions and references course workbooks use, each once or twice."""
    wb = openpyxl.Workbook()
    d = wb.active
    d.title = "My Data"
    d.append(["name", "x", "y", "group"])
    rows = [("ann", 1.5, 2.25, "a"), ("bob", 2, 4.1, "b"), ("cid", -3.25, 10.5, "a"), ("dee", 4, 16.2, "c"),
            ("eve", 0.1, 0.3, "b"), ("fay", 7, 49.5, "a"), ("gus", 0.2, 0.7, "c"), ("hal", 10, 99.9, "a")]
    for row in rows:
        d.append(list(row))
    d["F1"] = "sorted"
    for i, v in enumerate([1, 3, 5, 8, 13, 21], start=2):
        d.cell(i, 6, v)
    d["H2"] = 1
    d["I2"] = 2
    d["H3"] = 3
    d["I3"] = 4
    _name(wb, "xs", "'My Data'!$B$2:$B$9")
    _name(wb, "ys", "'My Data'!$C$2:$C$9")
    c = wb.create_sheet("Calc")
    formulas = [
        # aggregates, whole columns, cross-sheet, names
        "=SUM('My Data'!B:B)", "=COUNT('My Data'!B:B)", "=COUNTA('My Data'!A:A)", "=AVERAGE(xs)",
        "=MAX('My Data'!C:C)", "=MIN(xs)", "=SUMSQ(xs)", "=SUMPRODUCT(xs,ys)", "=PRODUCT('My Data'!B2:B5)",
        "=MEDIAN(ys)", "=STDEV(xs)", "=_xlfn.STDEV.P(xs)", "=VAR(ys)", "=COUNTBLANK('My Data'!A1:E10)",
        # conditional aggregates
        "=SUMIF('My Data'!D:D,\"a\",'My Data'!B:B)", "=AVERAGEIF('My Data'!D2:D9,\"a\",ys)",
        "=COUNTIF(xs,\">=2\")", "=COUNTIF('My Data'!A:A,\"?a*\")", "=SUMIF(xs,\"<0\")",
        "=SUMIFS(ys,'My Data'!D2:D9,\"a\",xs,\">1\")", "=COUNTIFS('My Data'!D2:D9,\"<>b\",ys,\">5\")",
        "=AVERAGEIFS(xs,'My Data'!D2:D9,\"c\")",
        # lookups
        "=MATCH(\"dee\",'My Data'!A:A,0)", "=MATCH(9,'My Data'!F2:F7)", "=INDEX(ys,4)",
        "=INDEX('My Data'!A1:D9,MATCH(\"fay\",'My Data'!A1:A9,0),3)", "=VLOOKUP(\"eve\",'My Data'!A2:D9,2,FALSE)",
        "=VLOOKUP(6,'My Data'!F2:F7,1)", "=HLOOKUP(\"y\",'My Data'!A1:D9,3,FALSE)",
        "=IFERROR(VLOOKUP(\"zed\",'My Data'!A2:D9,2,FALSE),\"none\")", "=ISNA(MATCH(\"zed\",'My Data'!A:A,0))",
        # maths
        "=LN(10)", "=EXP(-1.5)", "=SQRT(2)", "=ABS(-3.5)", "=LOG(1000)", "=LOG(8,2)", "=LOG10(0.001)",
        "=POWER(2,0.5)", "=ROUND(2.675,2)", "=ROUND(-1234.5678,-2)", "=ROUNDUP(1.21,1)", "=ROUNDDOWN(-1.29,1)",
        "=INT(-0.5)", "=MOD(-7,3)", "=MOD(7.5,-2)", "=SIGN(-2)", "=PI()*2", "=TANH(0.5)", "=SIN(1)+COS(1)",
        "=1/(1+EXP(-'My Data'!B3))", "=-2^2", "=2^3^2", "=(-8)^(1/3)", "=50%*3", "=1E+300*1E+10",
        "=10^-3", "=0.1+0.2", "=0.5-0.4-0.1", "=(0.5-0.4-0.1)", "=1*(0.5-0.4-0.1)",
        "=(1.333-1.233)-(1.334-1.234)", "=818562.54-778536.1+-40026.44",
        # logic, text, errors
        "=IF('My Data'!B2>1,\"big\",\"small\")", "=AND(1,TRUE,'My Data'!B2>0)", "=OR(FALSE,0)", "=NOT(0)",
        "=\"x=\"&'My Data'!B2", "=CONCATENATE(\"a\",1,\"b\")", "=\"abc\"=\"ABC\"", "=\"b\">\"A\"",
        "=0.1+0.2=0.3", "=1/0", "=SQRT(-1)", "=NA()", "=IFERROR(1/0,-1)", "=ISERROR(LN(0))", "=ISERR(NA())",
        "=ERROR.TYPE(1/0)", "=ISNUMBER('My Data'!A2)", "=ISTEXT('My Data'!A2)", "=ISBLANK('My Data'!E2)",
        "=ROWS('My Data'!A1:D9)*COLUMNS('My Data'!A1:D9)", "=ROW('My Data'!C5)+COLUMN()", "=CHOOSE(2,10,20,30)",
        "=SUM(INDEX('My Data'!B2:C9,0,2))", "=SUM('My Data'!B2:INDEX('My Data'!B2:B9,3))",
        # volatile: computed, listed, not compared (see test_offset_and_indirect_agree_too)
        "=SUM(OFFSET('My Data'!B1,1,0,3,1))", "=INDIRECT(\"'My Data'!C\"&4)", "=OFFSET('My Data'!A1,2,1)",
    ]
    for r, text in enumerate(formulas, start=1):
        c.cell(r, 1, text)
    c["C1"] = ArrayFormula("C1:D2", "=MMULT('My Data'!H2:I3,TRANSPOSE('My Data'!H2:I3))")
    c["C4"] = ArrayFormula("C4:C5", "=TRANSPOSE('My Data'!H2:I2)")
    c["C7"] = ArrayFormula("C7", "=SUM(xs*ys)")
    c["C8"] = ArrayFormula("C8", "=MAX(ABS(ys-xs))")
    wb.save(path)
    return path


def network_book(path: Path) -> Path:
    """A logistic neuron trained by gradient descent: SUMPRODUCT over the data block per step."""
    wb = openpyxl.Workbook()
    d = wb.active
    d.title = "Data"
    d.append(["x1", "x2", "y"])
    for row in ([0.5, 1.0, 0], [1.5, -0.5, 1], [-1.0, 2.0, 0], [2.0, 0.5, 1], [0.2, 0.1, 0]):
        d.append(row)
    d["E1"] = "lr"
    d["F1"] = 0.5
    _name(wb, "eta", "Data!$F$1")
    it = wb.create_sheet("Train")
    it.append(["k", "w1", "w2", "b", "loss", "g1", "g2", "gb"])
    z = "(B{r}*Data!$A$2:$A$6+C{r}*Data!$B$2:$B$6+D{r})"
    p = f"1/(1+EXP(-{z}))"
    for r in range(2, 152):
        if r == 2:
            head = [0, 0.1, -0.2, 0]
        else:
            head = [r - 2, f"=B{r - 1}-eta*F{r - 1}", f"=C{r - 1}-eta*G{r - 1}", f"=D{r - 1}-eta*H{r - 1}"]
        pr = p.format(r=r)
        it.append(head + [
            f"=-SUMPRODUCT(Data!$C$2:$C$6*LN({pr})+(1-Data!$C$2:$C$6)*LN(1-{pr}))/COUNT(Data!$C$2:$C$6)",
            f"=SUMPRODUCT(({pr}-Data!$C$2:$C$6)*Data!$A$2:$A$6)/5",
            f"=SUMPRODUCT(({pr}-Data!$C$2:$C$6)*Data!$B$2:$B$6)/5",
            f"=SUMPRODUCT({pr}-Data!$C$2:$C$6)/5",
        ])
    wb.save(path)
    return path


def deviations_book(path: Path) -> Path:
    """Formulas where LibreOffice does not compute what Excel computes (and gdsheet does)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Deviations"
    for r, text in enumerate(DEVIATIONS, start=1):
        ws.cell(r, 1, text)
    wb.save(path)
    return path


#: formula -> (Excel's value, as gdsheet computes it; LibreOffice's value)
DEVIATIONS = {
    # LibreOffice snaps every cancelling subtraction to 0 (rtl::math::approxSub), Excel only a
    # formula's final one: inside ABS the IEEE difference 2.78E-17 survives in Excel
    "=LOG10(ABS(0.3-0.1-0.2))": (math.log10(abs(0.3 - 0.1 - 0.2)), "#VALUE!"),
    "=0^0": ("#NUM!", 1.0),  # Excel: #NUM!; LibreOffice: 1
    "=CONCATENATE(\"a\",1,TRUE)": ("a1TRUE", "a11"),  # LibreOffice turns TRUE into 1 here
}

#: published results of Excel 97 and later (Microsoft KB 78113 and users' reports): the final
#: + or - of a formula is snapped to 0 when it cancels, nothing else is.  The IEEE doubles
#: behind Excel's 15-digit display.  LibreOffice 7.4 gets 3 of these 9 (it snaps every
#: cancelling subtraction); gdsheet must get all of them, bit for bit.
PUBLISHED = [
    ("=0.5-0.4-0.1", 0.0),
    ("=(0.5-0.4-0.1)", -2.7755575615628914e-17),
    ("=1*(0.5-0.4-0.1)", -2.7755575615628914e-17),
    ("=1.333+1.225-1.333-1.225", 0.0),
    ("=(1.333-1.233)-(1.334-1.234)", -2.220446049250313e-16),
    ("=D1+D2-D3", 0.0),
    ("=D1-D3+D2", 5.820766091346741e-11),
    ("=E12", -1.3877787807814457e-16),  # the end of a chain of +0.1 from -1.1
    ("=(5.1-5.2)+1", 0.8999999999999995),
]


def published_book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Published"
    ws["D1"], ws["D2"], ws["D3"], ws["E1"] = 818562.54, -40026.44, 778536.1, -1.1
    for r in range(2, 13):
        ws[f"E{r}"] = f"=E{r - 1}+0.1"
    for r, (text, _) in enumerate(PUBLISHED, start=1):
        ws.cell(r, 1, text)
    wb.save(path)
    return path


BOOKS = (course_book, functions_book, network_book, deviations_book, published_book)


@pytest.fixture(scope="module")
def libreoffice_books(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    require_engine("libreoffice")
    tmp = tmp_path_factory.mktemp("recalc-lo")
    srcs = [make(tmp / f"{make.__name__}.xlsx") for make in BOOKS]
    return recalculate_many(srcs, "libreoffice", tmp / "lo")


def test_libreoffice_cached_values_agree_with_gdsheet(libreoffice_books):
    for book in libreoffice_books[:3]:
        report = recalc(book)
        assert report.mismatch_count == 0, report.text()
        assert report.missing_count == 0 and not report.unsupported and not report.circular and not report.other, \
            report.text()
        volatile = len(report.volatile)
        assert report.compared == report.formula_cells - volatile, report.text()
        assert report.ok
    names = [b.stem for b in libreoffice_books]
    assert names == [f"{make.__name__}.libreoffice" for make in BOOKS]
    functions = recalc(libreoffice_books[1])
    last = max(r for r, c in read_workbook(libreoffice_books[1]).sheet("Calc").formulas if c == 1)
    assert [n.cell for n in functions.volatile] == [f"Calc!A{r}" for r in range(last - 2, last + 1)]
    overflow = read_workbook(libreoffice_books[0]).sheet("Overflow").values
    assert isinstance(overflow[(1802, 2)], ExcelError), "the divergent run must reach #NUM! in LibreOffice too"


def test_known_libreoffice_deviations_are_reported(libreoffice_books):
    """Where LibreOffice departs from Excel, recalc says so, cell by cell, with Excel's value."""
    report = recalc(libreoffice_books[3])
    assert [m.cell for m in report.mismatches] == [f"Deviations!A{r}" for r in range(1, len(DEVIATIONS) + 1)]
    for m, (text, (ours, theirs)) in zip(report.mismatches, DEVIATIONS.items()):
        assert str(m.recalculated) == str(ours) and str(m.cached) == str(theirs), text


def test_published_excel_results_bit_for_bit(libreoffice_books):
    wb = read_workbook(libreoffice_books[4])
    values = evaluate(wb).values["Published"]
    assert [values[(r, 1)] for r in range(1, len(PUBLISHED) + 1)] == [v for _, v in PUBLISHED]
    assert recalc(libreoffice_books[4]).ok  # LibreOffice's zeros are within the tolerance of the terms


def test_offset_and_indirect_agree_too(libreoffice_books):
    """Volatile cells are not compared by recalc; computed afresh they still match LibreOffice."""
    wb = read_workbook(libreoffice_books[1])
    ev = evaluate(wb, ["Calc"], strict=False)
    for p in ev.volatile:
        assert ev.values["Calc"][(p.row, p.col)] == wb.sheet("Calc").values[(p.row, p.col)], p.cell


def test_forged_values_in_a_libreoffice_file_are_reported_cell_by_cell(libreoffice_books, tmp_path):
    forged = tmp_path / "forged.xlsx"
    set_cached(libreoffice_books[0], forged, "Converging", {"B40": "0.5", "D5": "0", "C100": "-4.0000001"})
    set_cached(forged, tmp_path / "forged2.xlsx", "Parameters", {"E1": "7"})
    report = recalc(tmp_path / "forged2.xlsx")
    assert [m.cell for m in report.mismatches] == ["Parameters!E1", "Converging!D5", "Converging!B40",
                                                   "Converging!C100"]
    assert report.mismatches[0].formula == "-coef_b/(2*coef_a)" and report.mismatches[0].recalculated == -0.3
    assert report.mismatch_count == 4


def _libreoffice_csv(soffice: str, book: Path, out_dir: Path) -> list[list[str]]:
    """The first sheet as LibreOffice shows it on opening (its own profile: no recalculation forced)."""
    profile = Path(f"/tmp/gdsheet-lo-{uuid.uuid4().hex}")
    try:
        subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                        "--convert-to", "csv", "--outdir", str(out_dir), str(book)],
                       capture_output=True, text=True, timeout=180, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    with open(out_dir / (book.stem + ".csv"), newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_fresh_copy_opens_in_libreoffice_openpyxl_and_pandas(libreoffice_books, tmp_path):
    import pandas as pd

    soffice = require_engine("libreoffice")
    stale = tmp_path / "stale.xlsx"
    set_cached(libreoffice_books[0], stale, "Parameters", {"E1": "7"})
    fresh = tmp_path / "fresh.xlsx"
    report = recalc(stale, output=fresh)
    assert report.mismatch_count == 1 and report.written >= 1
    assert openpyxl.load_workbook(fresh, data_only=True)["Parameters"]["E1"].value == -0.3
    assert pd.read_excel(fresh, sheet_name="Parameters", header=None).iloc[0, 4] == -0.3
    assert openpyxl.load_workbook(fresh)["Parameters"]["E1"].value == "=-coef_b/(2*coef_a)"
    rows = _libreoffice_csv(soffice, fresh, tmp_path / "csv")
    assert float(rows[0][4]) == -0.3  # the value recalc wrote, as LibreOffice shows it
    assert recalc(fresh).ok


@pytest.mark.parametrize("engine", ["gnumeric"])
def test_gnumeric_cached_values_agree_too(tmp_path, engine):
    """Gnumeric computes in 80-bit extended precision; its values still agree within the tolerance."""
    require_engine(engine)
    src = course_book(tmp_path / "course.xlsx")
    out = recalculate(src, engine, out_dir=tmp_path / engine)
    # the overflowing run is left out: Gnumeric keeps numbers beyond the double range (1e+400)
    # where Excel, LibreOffice and gdsheet have #NUM! (see gdsheet.engines.gnumeric)
    report = recalc(out, ["Parameters", "Converging"])
    assert report.mismatch_count == 0, report.text()
    assert report.ok and report.compared == 1 + (301 * 7 - 1) + 4  # E1; B..H of 301 rows but H2; J2:J5
