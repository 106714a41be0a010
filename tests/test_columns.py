"""Column-at-a-time evaluation and the columnar cell store.

The column evaluator (gdsheet/formula/columns.py) is an optimisation of the
scalar evaluator, never a second semantics: on every workbook here the two must
give bit-for-bit the same values (compared by ``repr``, so 0.0 and -0.0 or a
last-bit difference would fail), and where the column path cannot be exact it
must hand the whole workbook back to the scalar way.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from gdsheet.api import generate
from gdsheet.formula import columns
from gdsheet.formula.evaluator import _Book, evaluate
from gdsheet.workbook import reader as reader_module
from gdsheet.workbook.cellmap import CellMap
from gdsheet.workbook.model import Formula, Sheet, Workbook
from gdsheet.workbook.reader import read_workbook
from gdsheet.workbook.safety import UnreadableWorkbook


def _same(a, b) -> bool:
    return type(a) is type(b) and repr(a) == repr(b)


def assert_identical(wb: Workbook) -> None:
    fast = evaluate(wb, strict=False)
    slow = evaluate(wb, strict=False, columnwise=False)
    assert set(fast.values) == set(slow.values)
    for name, want in slow.values.items():
        got = fast.values[name]
        assert len(got) == len(want), name
        bad = [(k, v, got.get(k)) for k, v in want.items() if not _same(v, got.get(k))]
        assert not bad, f"{name}: {len(bad)} cells differ, first {bad[:3]}"
    assert [str(p) for p in fast.problems] == [str(p) for p in slow.problems]


def groups_of(wb: Workbook) -> list[columns.Group]:
    book = _Book(wb, strict=False)
    return columns.Plan(book, [book.state(s) for s in wb.sheets.values()]).groups


# ------------------------------------------------------------------ the cell store


def test_cellmap_is_a_mapping_over_blocks_and_a_dict():
    m = CellMap({(1, 1): "header"})
    m.set_column(1, np.arange(2, 202), np.arange(2, 202) * 0.5)
    assert m.blocks and m[(2, 1)] == 1.0 and type(m[(2, 1)]) is float
    m[(5, 1)] = "text in the middle"  # hides the block's slot
    m[(6, 1)] = 7.0
    assert m[(5, 1)] == "text in the middle" and m[(6, 1)] == 7.0
    del m[(7, 1)]
    assert (7, 1) not in m and m.get((7, 1)) is None and m.get((7, 1), "x") == "x"
    with pytest.raises(KeyError):
        m[(7, 1)]
    assert len(m) == 200 and list(m)[:3] == [(1, 1), (2, 1), (3, 1)]
    assert dict(m.items())[(5, 1)] == "text in the middle"
    assert m.column_values(1, range(1, 8)) == ["header", 1.0, 1.5, 2.0, "text in the middle", 7.0, None]
    assert m.numbers(1, range(8, 20)).tolist() == [x * 0.5 for x in range(8, 20)]
    assert m.numbers(1, range(2, 20)) is None  # a text cell in the way
    sparse = CellMap()
    sparse.set_column(3, np.array([1, 500, 100000]), np.array([1.0, 2.0, 3.0]))
    assert not sparse.blocks and sparse.extra == {(1, 3): 1.0, (500, 3): 2.0, (100000, 3): 3.0}


def test_formula_blocks_keep_one_object_per_shared_group():
    a, b = Formula("A1+1", 2, 2), Formula("C1", 2, 3)
    m = CellMap()
    m.set_column(2, np.arange(2, 302), [a] * 300)
    m.set_column(3, np.arange(2, 302), [b if r % 2 else a for r in range(300)])
    assert m.blocks[2].objs == [a] and m[(301, 2)] is a
    assert m[(2, 3)] is a and m[(3, 3)] is b


def test_every_sheet_is_read_into_blocks_and_back(lesson_workbook):
    wb = read_workbook(lesson_workbook)
    it = wb.sheet("Iterations")
    assert it.values.blocks and it.formulas.blocks
    assert it.max_row() == 62 and it.max_col() == 7
    assert it.formulas[(10, 2)] is it.formulas[(3, 2)]  # one Formula object for a shared column


def test_chunk_and_stream_boundaries_do_not_change_what_is_read(tmp_path, monkeypatch):
    path = generate("quadratic", tmp_path / "q.xlsx", steps=3000)
    want = read_workbook(path)
    monkeypatch.setattr(reader_module, "CHUNK_CHARS", 300)
    monkeypatch.setattr(reader_module, "STREAM_BYTES", 97)
    got = read_workbook(path)
    for name, sheet in want.sheets.items():
        other = got.sheets[name]
        assert dict(other.values.items()) == dict(sheet.values.items())
        assert {k: (f.text, f.row, f.col) for k, f in other.formulas.items()} == \
            {k: (f.text, f.row, f.col) for k, f in sheet.formulas.items()}


def test_a_doctype_cut_by_a_stream_boundary_is_still_refused(tmp_path, monkeypatch):
    src = generate("quadratic", tmp_path / "q.xlsx")
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":
                data = data.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "b">]>', 1)
            zout.writestr(item, data)
    for cut in (40, 41, 43, 45, 47):
        monkeypatch.setattr(reader_module, "STREAM_BYTES", cut)
        with pytest.raises(UnreadableWorkbook, match="DOCTYPE"):
            read_workbook(bad)


# ------------------------------------------------------------------ bit-for-bit


@pytest.mark.parametrize("kind, options", [
    ("quadratic", {}),
    ("quadratic", {"steps": 5000, "lr": 0.07}),
    ("quadratic", {"lrs": [0.001, 0.05, 0.1, 0.19, 0.2, 0.21]}),  # diverging runs: #NUM! -> the scalar way
    ("quadratic", {"optimizers": "sgd,momentum,nesterov,adagrad,rmsprop,adam", "steps": 300}),
    ("quadratic", {"optimizer": "adam", "schedule": "step", "steps": 200}),
    ("network", {"observations": 12, "steps": 40}),
    ("network", {"observations": 9, "steps": 30, "activation": "tanh", "output_activation": "sigmoid",
                 "optimizer": "adam", "hidden": 4}),
    ("network", {"observations": 9, "steps": 20, "activation": "relu", "optimizers": "sgd,rmsprop,nesterov"}),
    ("network", {"observations": 10, "steps": 15, "hidden": 0, "inputs": 3, "outputs": 2}),
    ("linear", {"observations": 30, "steps": 25}),
    ("symmetry", {}),
])
def test_column_evaluation_is_bit_for_bit_the_scalar_one(tmp_path, kind, options):
    path = generate(kind, tmp_path / "w.xlsx", **options)
    assert_identical(read_workbook(path))


def test_a_network_is_computed_by_columns(tmp_path):
    """The forward pass, the gradients and the weights read each other through INDEX: the
    frontier rounds compute all of them column-wise (no cell left to the scalar way)."""
    wb = read_workbook(generate("network", tmp_path / "n.xlsx", observations=30, steps=60))
    grouped = {(g.st.name, g.col) for g in groups_of(wb)}
    for name in ("Iterations", "Passes"):
        sheet = wb.sheet(name)
        assert {c for c in sheet.formulas.blocks} <= {c for n, c in grouped if n == name}
    values = evaluate(wb).values
    assert len(values["Passes"].extra) < 40 and len(values["Iterations"].extra) < 80


def test_the_quadratic_table_is_computed_by_columns(tmp_path):
    wb = read_workbook(generate("quadratic", tmp_path / "q.xlsx", steps=2000))
    groups = groups_of(wb)
    assert {(g.st.name, g.col) for g in groups} >= {("Iterations", c) for c in range(2, 8)}
    result = evaluate(wb).values["Iterations"]
    assert set(result.blocks) >= set(range(2, 8))  # columns, not 12,000 dict entries
    assert len(result.extra) < 20


def test_files_with_a_formula_text_in_every_row_are_computed_by_columns(tmp_path):
    """openpyxl (and LibreOffice) write each filled-down formula in full: recognised by its
    text filled down, not by a shared-formula object."""
    src = generate("quadratic", tmp_path / "q.xlsx", steps=500)
    book = openpyxl.load_workbook(src)
    out = tmp_path / "resaved.xlsx"
    book.save(out)
    wb = read_workbook(out)
    assert len({id(wb.sheet("Iterations").formulas[(r, 2)]) for r in range(3, 503)}) == 500
    assert {g.col for g in groups_of(wb) if g.st.name == "Iterations"} >= set(range(2, 8))
    assert_identical(wb)


def _table(formulas: dict[int, str], rows: int = 40, first: dict[int, object] | None = None) -> Workbook:
    """A sheet whose column 1 holds 1..rows and whose other columns are filled-down formulas."""
    sheet = Sheet("T")
    sheet.values.set_column(1, np.arange(1, rows + 1), np.arange(1, rows + 1, dtype=float))
    for col, value in (first or {}).items():
        sheet.values[(1, col)] = value
    for col, text in formulas.items():  # as the reader stores a shared formula: one object, a column block
        sheet.formulas.set_column(col, np.arange(2, rows + 1), [Formula(text, 2, col)] * (rows - 1))
    wb = Workbook()
    wb.sheets["T"] = sheet
    return wb


@pytest.mark.parametrize("formulas, first", [
    ({2: "B1*2"}, {2: 1e300}),  # overflow: #NUM! from that row on
    ({2: "1/(A2-20)"}, {}),  # #DIV/0! in one row
    ({2: "(A2-10)^0.5"}, {}),  # roots of negative numbers: #NUM!
    ({2: "(A2-10)^0"}, {}),  # 0^0 at one row
    ({2: "EXP(A2*30)"}, {}),  # EXP overflows
    ({2: "LN(A2-5)"}, {}),
    ({2: "SQRT(A2-5)"}, {}),
    ({2: "B1&\"x\""}, {2: "a"}),  # text: not the column path's business
    ({2: "B1+C1", 3: "B2*0.5"}, {2: 1.0, 3: 2.0}),  # a recurrence through two columns
    ({2: "B1+1", 3: "C1-0.1"}, {2: 0.0, 3: 1.0}),  # Excel's zero snap at C11
    ({2: "1E306*A2*A2+1"}, {}),  # overflow under the zero snap: inf + 1 is #NUM!, never 0
    # sums whose row numbers are computed in the same rounds (not settled): chunk by chunk,
    # one cell wide, then spans of different lengths (one row at a time)
    ({2: "SUM(INDEX($C$1:$C$40,C1):INDEX($C$1:$C$40,C1))", 3: "B1+1"}, {2: 1.0, 3: 1.0}),
    ({2: "SUM(INDEX($A$1:$A$40,1):INDEX($A$1:$A$40,C1))/C1", 3: "B1+1"}, {2: 1.0, 3: 1.0}),
    ({2: "B3+1"}, {}),  # a forward reference: empty cell = 0 at the end
    ({2: "A2*B2"}, {}),  # a cell reading itself: circular
    ({2: "A2*D2", 3: "-A2%"}, {}),  # an empty column read: zeros
])
def test_errors_and_odd_cases_agree_with_the_scalar_way(formulas, first):
    assert_identical(_table(formulas, first=first))


def test_a_recurrence_runs_as_one_loop_and_snaps_like_excel():
    """Excel's zero snap (see compiler.compile_shape): 0.3 - 0.1 - 0.1 - 0.1 is 0, but
    -1.1 + 11 x 0.1 stays -1.39E-16 (2^-49.4 of its operand, over the threshold)."""
    wb = _table({2: "B1-0.1", 3: "C1+0.1"}, rows=30, first={2: 0.3, 3: -1.1})
    assert [g.col for g in groups_of(wb)] == [2, 3]
    values = evaluate(wb).values["T"]
    assert values[(4, 2)] == 0.0 and repr(values[(4, 2)]) == "0.0"
    assert values[(12, 3)] == -1.3877787807814457e-16
    assert math.isclose(values[(30, 3)], 1.8)
    assert_identical(wb)
