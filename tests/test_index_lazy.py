"""INDEX straight on a reference reads only the cell it picks (no O(rows) copy, no false cycle)."""

from __future__ import annotations

import time

from gdsheet.formula.errors import REF, VALUE
from gdsheet.formula.evaluator import evaluate
from gdsheet.workbook.model import Formula, Sheet, Workbook


def _book(rows: int) -> Workbook:
    """A weight recurrence whose every row looks itself up with INDEX(whole column, row)."""
    it = Sheet("Iterations")
    it.values[(1, 1)] = "k"
    it.values[(2, 2)] = 1.0
    for r in range(2, rows + 2):
        it.values[(r, 1)] = float(r - 2)
        if r > 2:  # w_k = w_{k-1} - 0.1 * g_{k-1}
            it.formulas[(r, 2)] = Formula(f"B{r - 1}-0.1*C{r - 1}", r, 2)
        # g_k = 2 * w_k, read through INDEX of the whole column B at row k+2
        it.formulas[(r, 3)] = Formula(f"2*INDEX($B:$B,A{r}+2)", r, 3)
    wb = Workbook()
    wb.sheets = {"Iterations": it}
    return wb


def test_index_of_a_whole_column_is_no_false_cycle_and_linear_time():
    t0 = time.perf_counter()
    ev = evaluate(_book(20_000))
    elapsed = time.perf_counter() - t0
    assert ev.problems == []
    values = ev.values["Iterations"]
    assert values[(4, 2)] == 0.8 - 0.1 * 1.6
    assert 0 <= values[(20_001, 2)] < 1e-300
    assert elapsed < 5  # the generic INDEX would copy the column for every cell: minutes


def test_index_edge_cases_keep_excel_semantics():
    s = Sheet("S")
    s.values.update({(1, 1): 1.0, (2, 1): 2.0, (1, 2): 10.0, (2, 2): 20.0})
    cases = {
        3: "INDEX(A1:B2,2,2)", 4: "INDEX(A1:A2,2)", 5: "INDEX(A1:B1,2)", 6: "INDEX(A1:A2,3)",
        7: "INDEX(A1:A2,-1)", 8: "SUM(INDEX(A1:B2,0,2))", 9: "SUM(INDEX(A:A,1):INDEX(B:B,2))",
        10: "INDEX(A1:B2,2)",
    }
    for r, text in cases.items():
        s.formulas[(r, 5)] = Formula(text, r, 5)
    wb = Workbook()
    wb.sheets = {"S": s}
    v = evaluate(wb, strict=False).values["S"]
    assert v[(3, 5)] == 20.0 and v[(4, 5)] == 2.0 and v[(5, 5)] == 10.0
    assert v[(6, 5)] == REF and v[(7, 5)] == VALUE
    assert v[(8, 5)] == 30.0 and v[(9, 5)] == 33.0
    assert v[(10, 5)] == VALUE  # a whole row of a 2-D area met in one cell: implicit intersection fails
