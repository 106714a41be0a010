"""Real engines really compute: LibreOffice and Gnumeric recalculate what gdsheet wrote.

Every workbook here is written with DELIBERATELY WRONG cached values (999, an
error where a number belongs, a wrong string ...).  LibreOffice keeps cached
values of an .xlsx on load (measured), so a value equal to the Python result
can only come from the engine computing it after the cached values were
stripped.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from gdsheet.engines import EngineError, EngineMissing, available, recalculate, strip_cached_values
from gdsheet.engines import strip as strip_mod

try:
    from engines_available import require_engine
except ImportError:  # tests/ made a package
    from tests.engines_available import require_engine

# Gnumeric's xlsx has no default cell style; openpyxl warns and applies its own.
pytestmark = pytest.mark.filterwarnings("ignore:Workbook contains no default style")

ENGINES = ["libreoffice", "gnumeric"]
N = 50  # iterations
LR, BIAS, W0 = 0.01, 3.0, 1.0
WRONG = 999


def python_recurrence(n: int = N) -> list[float]:
    w = [W0]
    for _ in range(n):
        w.append(w[-1] - LR * (10 * w[-1] + BIAS))
    return w


def write_recurrence(path: Path, n: int = N) -> None:
    """Sheet "Iter": B2 = w0, B3.. = B(k-1)-lr*(10*B(k-1)+b) with names lr (cell) and b (constant)."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Iter")
    ws.write("A1", "k")
    ws.write("B1", "w")
    ws.write("D1", "lr")
    ws.write("E1", LR)
    wb.define_name("lr", "=Iter!$E$1")
    wb.define_name("b", f"={BIAS:g}")
    ws.write("A2", 0)
    ws.write("B2", W0)
    for k in range(1, n + 1):
        r = k + 2
        ws.write("A%d" % r, k)
        ws.write_formula(f"B{r}", f"=B{r - 1}-lr*(10*B{r - 1}+b)", None, WRONG)
    wb.close()


def column_values(path: Path, col: str = "B", first: int = 2, n: int = N, data_only: bool = True) -> list:
    wb = openpyxl.load_workbook(path, data_only=data_only)
    ws = wb["Iter"]
    return [ws[f"{col}{r}"].value for r in range(first, first + n + 1)]


def assert_matches_recurrence(values: list) -> None:
    expected = python_recurrence()
    assert len(values) == len(expected)
    for k, (got, want) in enumerate(zip(values, expected)):
        assert isinstance(got, (int, float)), f"w[{k}] = {got!r}"
        assert got != WRONG, f"w[{k}] is the wrong cached value: the engine did not compute"
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=0), f"w[{k}]: {got!r} != {want!r}"


def sheet_xml(path: Path, part: str = "xl/worksheets/sheet1.xml") -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(part).decode("utf-8")


def rewrite_part(path: Path, part: str, edit) -> None:
    """Rewrite one zip entry of ``path`` in place with ``edit(text) -> text``."""
    with zipfile.ZipFile(path) as zin:
        entries = [(i, zin.read(i)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == part:
                data = edit(data.decode("utf-8")).encode("utf-8")
            zout.writestr(info, data)


def make_shared(path: Path, n: int = N) -> None:
    """Turn B3:B(n+2) into one shared formula: anchor B3, children <f t="shared" si="0"/>."""
    last = n + 2

    def edit(xml: str) -> str:
        def cell(m: re.Match) -> str:
            ref, row = m.group(1), int(m.group(2))
            if row == 3:
                f = f'<f t="shared" ref="B3:B{last}" si="0">B2-lr*(10*B2+b)</f>'
            else:
                f = '<f t="shared" si="0"/>'
            return f'<c r="{ref}">{f}<v>{WRONG}</v></c>'

        out, count = re.subn(r'<c r="(B(\d+))"><f>[^<]*</f><v>[^<]*</v></c>', cell, xml)
        assert count == n
        return out

    rewrite_part(path, "xl/worksheets/sheet1.xml", edit)


# --------------------------------------------------------------------------- strip


def test_strip_keeps_formulas_and_removes_values(tmp_path):
    src, dst = tmp_path / "rec.xlsx", tmp_path / "stripped.xlsx"
    write_recurrence(src)
    strip_cached_values(src, dst)

    assert column_values(dst, data_only=False) == column_values(src, data_only=False)
    assert column_values(src)[1:] == [WRONG] * N
    assert column_values(dst)[1:] == [None] * N  # formula values gone
    assert column_values(dst)[0] == W0  # constants untouched
    wb = openpyxl.load_workbook(dst)
    assert wb.defined_names["lr"].attr_text == "Iter!$E$1"
    assert wb.defined_names["b"].attr_text == "3"
    with zipfile.ZipFile(dst) as z:
        assert 'fullCalcOnLoad="1"' in z.read("xl/workbook.xml").decode()
    with zipfile.ZipFile(src) as zs, zipfile.ZipFile(dst) as zd:
        assert zs.namelist() == zd.namelist()
        for name in zs.namelist():
            if name not in ("xl/worksheets/sheet1.xml", "xl/workbook.xml"):
                assert zs.read(name) == zd.read(name), name


def test_strip_typed_cells_and_shared_formulas(tmp_path):
    src, dst = tmp_path / "typed.xlsx", tmp_path / "stripped.xlsx"
    write_recurrence(src)
    make_shared(src)

    def add_typed(xml: str) -> str:
        extra = (
            '<row r="60"><c r="A60" t="e"><f>2+2</f><v>#DIV/0!</v></c>'
            '<c r="B60" t="str"><f>"a"&amp;"b"</f><v>zz</v></c>'
            "<c r='C60' t='b'><f>1&gt;2</f><v>1</v></c>"
            '<c r="D60"><f>1+1</f><v/></c></row>'
        )
        return xml.replace("</sheetData>", extra + "</sheetData>")

    rewrite_part(src, "xl/worksheets/sheet1.xml", add_typed)
    strip_cached_values(src, dst)
    xml = sheet_xml(dst)
    assert '<c r="B3"><f t="shared" ref="B3:B52" si="0">B2-lr*(10*B2+b)</f></c>' in xml
    assert '<c r="B4"><f t="shared" si="0"/></c>' in xml
    assert '<c r="A60"><f>2+2</f></c>' in xml
    assert '<c r="B60"><f>"a"&amp;"b"</f></c>' in xml
    assert "<c r='C60'><f>1&gt;2</f></c>" in xml
    assert '<c r="D60"><f>1+1</f></c>' in xml
    assert "<v>999</v>" not in xml and "zz" not in xml
    assert "<v/>" not in xml
    assert xml.count("<v>") == sheet_xml(src).count("<v>") - N - 3  # D60 had <v/>


def test_strip_removes_calc_chain_and_adds_calcpr(tmp_path):
    src, dst = tmp_path / "chain.xlsx", tmp_path / "stripped.xlsx"
    write_recurrence(src)
    with zipfile.ZipFile(src) as z:
        entries = [(i, z.read(i)) for i in z.infolist()]
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            text = data.decode("utf-8") if info.filename.endswith((".xml", ".rels")) else None
            if info.filename == "[Content_Types].xml":
                text = text.replace(
                    "</Types>",
                    '<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-'
                    'officedocument.spreadsheetml.calcChain+xml"/></Types>',
                )
            elif info.filename == "xl/_rels/workbook.xml.rels":
                text = text.replace(
                    "</Relationships>",
                    '<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    'relationships/calcChain" Target="calcChain.xml"/></Relationships>',
                )
            elif info.filename == "xl/workbook.xml":
                text = re.sub(r"<calcPr[^>]*/>", "", text)  # no calcPr at all
            z.writestr(info, text.encode("utf-8") if text is not None else data)
        z.writestr("xl/calcChain.xml", '<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><c r="B3" i="1"/></calcChain>')

    strip_cached_values(src, dst)
    with zipfile.ZipFile(dst) as z:
        names = z.namelist()
        assert "xl/calcChain.xml" not in names
        assert "calcChain" not in z.read("[Content_Types].xml").decode()
        assert "calcChain" not in z.read("xl/_rels/workbook.xml.rels").decode()
        wb_xml = z.read("xl/workbook.xml").decode()
    assert re.search(r'</definedNames><calcPr fullCalcOnLoad="1"/></workbook>', wb_xml)
    assert column_values(dst, data_only=False) == column_values(src, data_only=False)


def test_set_full_calc_on_load_variants():
    f = strip_mod._set_full_calc_on_load
    assert f('<workbook><calcPr calcId="1" fullCalcOnLoad="0"/></workbook>') == (
        '<workbook><calcPr calcId="1" fullCalcOnLoad="1"/></workbook>'
    )
    assert f('<x:workbook xmlns:x="u"><x:sheets/><x:extLst/></x:workbook>') == (
        '<x:workbook xmlns:x="u"><x:sheets/><x:calcPr fullCalcOnLoad="1"/><x:extLst/></x:workbook>'
    )


SHEET = (
    b'<?xml version="1.0"?><x:worksheet xmlns:x="m"><x:cols><x:col min="1"/></x:cols><x:sheetData>'
    b'<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c><x:c r="B1" t="str"><x:f>"q"</x:f><x:v>q</x:v></x:c>'
    b'<x:c r="C1"/><x:c r="D1" s="2"><x:f t="shared" si="0"/><x:v>5</x:v></x:c></x:row>'
    b'<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>c &lt;f&gt; v</x:t></x:is></x:c>'
    b'<x:c r="B2"><x:f>A1*2</x:f><x:v>2</x:v></x:c></x:row></x:sheetData></x:worksheet>'
)
SHEET_STRIPPED = (
    b'<?xml version="1.0"?><x:worksheet xmlns:x="m"><x:cols><x:col min="1"/></x:cols><x:sheetData>'
    b'<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c><x:c r="B1"><x:f>"q"</x:f></x:c>'
    b'<x:c r="C1"/><x:c r="D1" s="2"><x:f t="shared" si="0"/></x:c></x:row>'
    b'<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>c &lt;f&gt; v</x:t></x:is></x:c>'
    b'<x:c r="B2"><x:f>A1*2</x:f></x:c></x:row></x:sheetData></x:worksheet>'
)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11, 64, 1 << 20])
def test_strip_stream_any_chunk_boundary(monkeypatch, chunk):
    monkeypatch.setattr(strip_mod, "CHUNK", chunk)
    out = io.BytesIO()
    strip_mod._strip_sheet_stream(io.BytesIO(SHEET), out)
    assert out.getvalue() == SHEET_STRIPPED


def test_strip_big_sheet_bounded_memory(tmp_path):
    """300,000 formula rows (~25 MB of sheet XML) stream through with a few MB of memory."""
    import tracemalloc

    rows = 300_000
    src, dst = tmp_path / "big.xlsx", tmp_path / "big-stripped.xlsx"
    write_recurrence(tmp_path / "seed.xlsx", n=1)
    with zipfile.ZipFile(tmp_path / "seed.xlsx") as zin, zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                zout.writestr(info, zin.read(info))
                continue
            head = b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="2"><c r="B2"><v>1</v></c></row>'
            with zout.open("xl/worksheets/sheet1.xml", "w") as f:
                f.write(head)
                for r in range(3, rows + 3):
                    f.write(b'<row r="%d"><c r="B%d"><f>B%d-lr*(10*B%d+b)</f><v>999</v></c></row>' % (r, r, r - 1, r - 1))
                f.write(b"</sheetData></worksheet>")
    tracemalloc.start()
    try:
        strip_cached_values(src, dst)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    n_f = n_v = 0
    with zipfile.ZipFile(dst) as z, z.open("xl/worksheets/sheet1.xml") as f:
        tail = b""
        while block := f.read(1 << 20):
            data = tail + block
            n_f += data.count(b"<f>") - tail.count(b"<f>")
            n_v += data.count(b"<v>") - tail.count(b"<v>")
            tail = data[-3:]
    assert (n_f, n_v) == (rows, 1)


def test_strip_rejects_same_file(tmp_path):
    src = tmp_path / "rec.xlsx"
    write_recurrence(src)
    with pytest.raises(ValueError):
        strip_cached_values(src, src)


# --------------------------------------------------------------------------- engines


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_computes_recurrence_despite_wrong_cached_values(tmp_path, engine):
    require_engine(engine)
    src = tmp_path / "rec.xlsx"
    write_recurrence(src)
    assert column_values(src)[1:] == [WRONG] * N  # the file really lies

    out = recalculate(src, engine, tmp_path / "out")
    assert out.parent == tmp_path / "out" and out.suffix == ".xlsx"
    assert_matches_recurrence(column_values(out))
    # still live formulas, not pasted values
    formulas = column_values(out, data_only=False)
    assert all(isinstance(f, str) and f.startswith("=B") for f in formulas[1:])


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_shared_formulas(tmp_path, engine):
    require_engine(engine)
    src = tmp_path / "shared.xlsx"
    write_recurrence(src)
    make_shared(src)
    assert '<f t="shared" si="0"/><v>999</v>' in sheet_xml(src)
    out = recalculate(src, engine, tmp_path / "out")
    assert_matches_recurrence(column_values(out))


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_recomputes_typed_and_error_cells(tmp_path, engine):
    require_engine(engine)
    src = tmp_path / "typed.xlsx"
    wb = xlsxwriter.Workbook(str(src))
    ws = wb.add_worksheet("Iter")
    ws.write_formula("A1", "=2+2", None, "#DIV/0!")  # cached error, t="e"
    ws.write_formula("A2", '="a"&"b"', None, "zz")  # cached wrong string, t="str"
    ws.write_formula("A3", "=1>2", None, True)  # cached wrong boolean, t="b"
    ws.write_formula("A4", "=1/0", None, 7)  # cached number where an error belongs
    ws.write_formula("A5", "=10^200*10^200", None, 7)  # overflows a double
    wb.close()
    assert 't="e"' in sheet_xml(src)

    out = recalculate(src, engine, tmp_path / "out")
    ws = openpyxl.load_workbook(out, data_only=True)["Iter"]
    assert ws["A1"].value == 4
    assert ws["A2"].value == "ab"
    assert ws["A3"].value is False
    assert ws["A4"].value == "#DIV/0!"
    if engine == "libreoffice":
        assert ws["A5"].value == "#NUM!"
    else:  # Gnumeric computes in long double: 1e400 is a number, read back as inf
        assert ws["A5"].value in ("#NUM!", math.inf)


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
def test_a_power_below_the_smallest_normal_double(tmp_path, engine):
    """Measured: LibreOffice's ^ and POWER give #NUM! once the result is below 2.2e-308 (0.8^3180
    is 6.7e-309), though EXP and * of the same size are numbers; Gnumeric gives the number, as
    Python does.  A long run of (1 − 2aη)^k, β^k or γ^k meets it; verify explains it in a note."""
    require_engine(engine)
    src = tmp_path / "tiny.xlsx"
    wb = xlsxwriter.Workbook(str(src))
    ws = wb.add_worksheet("Iter")
    for row, formula in enumerate(["=0.8^3100", "=0.8^3180", "=POWER(0.8,3180)", "=EXP(-720)", "=1E-300*1E-10"]):
        ws.write_formula(row, 0, formula, None, WRONG)
    wb.close()
    ws = openpyxl.load_workbook(recalculate(src, engine, tmp_path / "out"), data_only=True)["Iter"]
    got = [ws.cell(r, 1).value for r in range(1, 6)]
    assert got[0] == pytest.approx(0.8**3100, rel=1e-13)
    assert got[3] == pytest.approx(math.exp(-720), rel=1e-9) and got[4] == pytest.approx(1e-310, rel=1e-9)
    if engine == "libreoffice":
        assert got[1:3] == ["#NUM!", "#NUM!"]
    else:
        assert got[1:3] == [pytest.approx(0.8**3180, rel=1e-9)] * 2


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
def test_input_file_unchanged(tmp_path, engine):
    require_engine(engine)
    src = tmp_path / "rec.xlsx"
    write_recurrence(src)
    old = os.stat(src).st_mtime_ns - 10**9
    os.utime(src, ns=(old, old))
    before = src.read_bytes()
    out = recalculate(src, engine)  # default: a temp dir the caller owns
    try:
        assert out.is_file() and out.parent != src.parent
        assert src.read_bytes() == before
        assert os.stat(src).st_mtime_ns == old
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.xlsx"]
    finally:
        out.unlink()
        out.parent.rmdir()


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
def test_output_next_to_input_does_not_clobber_it(tmp_path, engine):
    require_engine(engine)
    src = tmp_path / "rec.xlsx"
    write_recurrence(src)
    before = src.read_bytes()
    out = recalculate(src, engine, tmp_path)
    assert out == tmp_path / f"rec.{engine}.xlsx"
    assert src.read_bytes() == before
    assert_matches_recurrence(column_values(out))


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_engine_raises_engine_missing(tmp_path, monkeypatch, engine):
    src = tmp_path / "rec.xlsx"
    write_recurrence(src)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert available(engine) is None
    with pytest.raises(EngineMissing) as info:
        recalculate(src, engine, tmp_path / "out")
    assert isinstance(info.value, EngineError)
    package = {"libreoffice": "libreoffice-calc-nogui", "gnumeric": "gnumeric"}[engine]
    assert f"apt-get install {package}" in str(info.value)


def test_unknown_engine(tmp_path):
    with pytest.raises(ValueError):
        available("excel")


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["text", "zip"])
def test_corrupt_input_is_engine_error_not_hang(tmp_path, engine, kind):
    require_engine(engine)
    src = tmp_path / "corrupt.xlsx"
    if kind == "text":
        src.write_text("this is not a spreadsheet\n1,2,3\n")
    else:  # a zip, but no workbook in it: the engine itself must refuse it
        with zipfile.ZipFile(src, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("hello.txt", "hi")
    start = time.monotonic()
    with pytest.raises(EngineError) as info:
        recalculate(src, engine, tmp_path / "out", timeout=120)
    assert time.monotonic() - start < 120
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / f"corrupt.{engine}.xlsx").exists()


@pytest.mark.engine
def test_timeout_kills_engine(tmp_path):
    require_engine("libreoffice")
    src = tmp_path / "rec.xlsx"
    write_recurrence(src)
    start = time.monotonic()
    with pytest.raises(EngineError, match="timed out"):
        recalculate(src, "libreoffice", tmp_path / "out", timeout=0.2)
    assert time.monotonic() - start < 30


@pytest.mark.engine
def test_parallel_libreoffice_runs_use_separate_profiles(tmp_path):
    require_engine("libreoffice")
    results: dict[int, object] = {}

    def work(i: int) -> None:
        try:
            src = tmp_path / f"rec{i}.xlsx"
            write_recurrence(src)
            results[i] = recalculate(src, "libreoffice", tmp_path / f"out{i}")
        except BaseException as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    for i in range(2):
        assert isinstance(results.get(i), Path), results.get(i)
        assert_matches_recurrence(column_values(results[i]))
