"""The quadratic exercise's numpy reference and parameters, without any workbook."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdsheet.exercises import get
from gdsheet.exercises.quadratic import behaviour

Q = get("quadratic")


def table(**params):
    layout = Q.layout(Q.resolve(params))
    t = layout.sheet("Iterations").table
    return {c.key: c.values for c in t.columns}


def test_defaults_are_the_lesson():
    p = Q.resolve({})
    assert (p["a"], p["b"], p["c"], p["x0"]) == (5.0, 3.0, -4.0, 4.0)


def test_first_step_by_hand():
    """f′(4) = 2·5·4 + 3 = 43; with η = 0.02: x₁ = 4 − 0.86 = 3.14, f(3.14) = 5·9.8596 + 9.42 − 4 = 54.718."""
    v = table()
    assert v["x"][0] == 4.0 and v["grad"][0] == 43.0
    assert v["x"][1] == pytest.approx(3.14, abs=1e-15)
    assert v["fx"][1] == pytest.approx(54.718, rel=1e-15)
    assert v["step"][0] == pytest.approx(0.86, rel=1e-15)


@pytest.mark.parametrize("lr", [0.001, 0.02, 0.05, 0.15, 0.19])
def test_recurrence_matches_closed_form(lr):
    v = table(lr=lr, steps=200)
    assert np.allclose(v["x"], v["closed"], rtol=1e-9, atol=1e-12)
    x_star = -0.3
    assert np.allclose(v["distance"], np.abs(v["x"] - x_star), atol=1e-15)


def test_converges_to_the_minimum_with_defaults():
    v = table()
    assert abs(v["x"][-1] + 0.3) < 1e-5
    assert v["fx"][-1] == pytest.approx(-4.45, abs=1e-9)


@pytest.mark.parametrize("lr,expected", [
    (0.0, "stalls"), (0.05, "converges"), (0.1, "converges"), (0.15, "oscillates, converging"),
    (0.2, "cycles"), (0.21, "diverges"),
])
def test_behaviour_by_contraction_factor(lr, expected):
    assert behaviour(5.0, lr) == expected


def test_divergence_overflows_to_nan_not_crash():
    v = table(lr=0.5, steps=600)
    assert not np.isfinite(v["x"][-1])
    first_bad = int(np.argmax(~np.isfinite(v["x"])))
    assert np.all(~np.isfinite(v["x"][first_bad:])), "once overflowed, every later row is an error"
    assert math.isfinite(v["x"][first_bad - 1])


@pytest.mark.parametrize("params,message", [
    ({"a": 0.0}, "at least"), ({"a": -1.0}, "at least"), ({"lr": -0.1}, "at least"),
    ({"steps": 0}, "at least"), ({"steps": 2_000_000}, "at most"), ({"x0": float("nan")}, "finite"),
    ({"nonsense": 1}, "unknown parameter"),
])
def test_invalid_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        Q.resolve(params)


def test_learning_rate_comparison_layout():
    layout = Q.layout(Q.resolve({"lrs": [0.05, 0.2, 0.21]}))
    names = [s.name for s in layout.sheets]
    assert names == ["Parameters", "Summary", "η = 0.05", "η = 0.2", "η = 0.21", "About"]
    summary = {(c.row, c.col): c.value for c in layout.sheet("Summary").cells}
    assert [summary[(r, 4)] for r in (2, 3, 4)] == ["converges", "cycles", "diverges"]
    assert summary[(2, 5)] == 23.0  # 4.3·0.5^k < 1e-6 first at k = 23
    assert summary[(3, 5)] == "not reached"
    # every run sheet uses the single-run formulas with a sheet-scoped learning_rate
    for sheet in layout.sheets[2:5]:
        assert sheet.local_names["learning_rate"].startswith("=Parameters!$B$")


def test_the_about_sheet_warns_where_libreoffice_shows_a_tiny_power_as_an_error(tmp_path):
    """0.8^k < 2.2e-308 from k = 3175 (LibreOffice's first #NUM!, tests/test_quadratic_engines.py);
    0.5^1022 is exactly the smallest normal double, so 0.5 starts at 1023."""
    import openpyxl

    from gdsheet.api import generate
    from gdsheet.exercises.quadratic import tiny_power_step

    assert tiny_power_step(0.8) == tiny_power_step(-0.8) == 3175
    assert tiny_power_step(0.5) == 1023 and 0.5**1022 == 2.2250738585072014e-308
    assert tiny_power_step(0.0) is None and tiny_power_step(1.0) is None and tiny_power_step(-1.5) is None

    def note(**params):
        ws = openpyxl.load_workbook(generate("quadratic", tmp_path / "q.xlsx", **params))["About"]
        return [r[1].value for r in ws.iter_rows() if r[0].value == "In LibreOffice"]

    assert note() == [] and note(steps=3174) == []
    assert "from k = 3175 at η = 0.02 on" in note(steps=3175)[0]
    assert "k = 1023 at η = 0.05" in note(lrs=[0.001, 0.05], steps=2000)[0]
