"""Optimizers and schedules: the numpy reference against hand-computed steps and the papers'
own forms, and the workbooks against gdsheet's evaluator, LibreOffice and Gnumeric."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from engines_available import require_engine
from gdsheet.api import generate, layout, verify
from gdsheet.optimizers import OPTIMIZERS, SCHEDULES, run

HP = {"momentum": 0.9, "rho": 0.9, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "decay_rate": 0.5,
      "decay_steps": 2}


def lesson_run(name: str, steps: int = 2, lr: float = 0.02, schedule: str = "constant", **hp) -> np.ndarray:
    """x_0, x_1, x_2 on the lesson's f(x) = 5x² + 3x − 4 from 4 (f′(x) = 10x + 3)."""
    rates = SCHEDULES[schedule].rates(lr, steps, {**HP, **hp})
    return run(OPTIMIZERS[name], lambda t: 10 * t + 3, np.array([4.0]), steps, rates, {**HP, **hp}
               )["values"]["theta"][:, 0]


def test_sgd_by_hand():
    """g₀ = 43: x₁ = 4 − 0.02·43 = 3.14; g₁ = 34.4: x₂ = 3.14 − 0.688 = 2.452."""
    assert lesson_run("sgd") == pytest.approx([4.0, 3.14, 2.452], abs=1e-15)


def test_momentum_by_hand():
    """v₀ = 43, x₁ = 4 − 0.86 = 3.14; g₁ = 34.4, v₁ = 0.9·43 + 34.4 = 73.1, x₂ = 3.14 − 1.462 = 1.678."""
    assert lesson_run("momentum") == pytest.approx([4.0, 3.14, 1.678], abs=1e-14)


def test_nesterov_by_hand():
    """v₀ = 43, step₀ = 0.02·(43 + 0.9·43) = 1.634, x₁ = 2.366; g₁ = 26.66, v₁ = 38.7 + 26.66 = 65.36,
    step₁ = 0.02·(26.66 + 58.824) = 1.70968, x₂ = 0.65632."""
    assert lesson_run("nesterov") == pytest.approx([4.0, 2.366, 0.65632], abs=1e-13)


def test_adagrad_by_hand():
    """G₀ = 1849, step₀ = 0.02·43/43 = 0.02 (ε aside), x₁ = 3.98; g₁ = 42.8, G₁ = 1849 + 1831.84 = 3680.84,
    step₁ = 0.02·42.8/60.67... = 0.0141091..., x₂ = 3.9658909..."""
    x = lesson_run("adagrad")
    assert x[1] == pytest.approx(3.98, abs=1e-9)
    assert x[2] == pytest.approx(3.98 - 0.02 * 42.8 / math.sqrt(3680.84), abs=1e-9)


def test_rmsprop_by_hand():
    """E₀ = 0.1·1849 = 184.9, step₀ = 0.02·43/√184.9 = 0.0632456 (= 0.02/√0.1), x₁ = 3.9367544;
    g₁ = 42.367544, E₁ = 0.9·184.9 + 0.1·g₁²."""
    x = lesson_run("rmsprop")
    assert x[1] == pytest.approx(4 - 0.02 / math.sqrt(0.1), abs=1e-9)
    g1 = 10 * x[1] + 3
    e1 = 0.9 * 184.9 + 0.1 * g1**2
    assert x[2] == pytest.approx(x[1] - 0.02 * g1 / math.sqrt(e1), abs=1e-9)


def test_adam_by_hand():
    """Bias correction makes the first step η·sign(g): m̂₀ = g₀, v̂₀ = g₀², step₀ = η (ε aside), x₁ = 3.98.
    g₁ = 42.8: m₁ = 0.9·4.3 + 4.28 = 8.15, v₁ = 0.999·1.849 + 0.001·1831.84 = 3.678991,
    m̂₁ = 8.15/0.19, v̂₁ = 3.678991/0.001999, x₂ = 3.98 − 0.02·m̂₁/√v̂₁."""
    x = lesson_run("adam")
    assert x[1] == pytest.approx(3.98, abs=1e-9)
    mhat, vhat = 8.15 / (1 - 0.9**2), 3.678991 / (1 - 0.999**2)
    assert x[2] == pytest.approx(3.98 - 0.02 * mhat / math.sqrt(vhat), abs=1e-9)


def test_momentum_is_polyaks_heavy_ball():
    """x_{k+1} = x_k − η·g_k + μ·(x_k − x_{k−1})."""
    x = lesson_run("momentum", steps=30, lr=0.01)
    for k in range(1, 30):
        assert x[k + 1] == pytest.approx(x[k] - 0.01 * (10 * x[k] + 3) + 0.9 * (x[k] - x[k - 1]), abs=1e-12)


def test_nesterov_is_sutskevers_look_ahead():
    """Sutskever et al. (2013): u ← μu − η∇f(ϑ + μu), ϑ ← ϑ + u.  Our θ is the look-ahead point ϑ + μu."""
    lr, mu = 0.01, 0.9
    theta = lesson_run("nesterov", steps=30, lr=lr)
    u, w = 0.0, 4.0  # ϑ₀ = 4 with u₀ = 0: the look-ahead point starts at 4 too
    looks = []
    for _ in range(31):
        looks.append(w + mu * u)
        u = mu * u - lr * (10 * (w + mu * u) + 3)
        w = w + u
    assert theta == pytest.approx(looks, abs=1e-12)


@pytest.mark.parametrize("schedule,expected", [
    ("constant", [0.5, 0.5, 0.5, 0.5]), ("exponential", [0.5, 0.25, 0.125, 0.0625]),
    ("step", [0.5, 0.5, 0.25, 0.25]), ("inverse-time", [0.5, 0.5 / 1.5, 0.25, 0.5 / 2.5]),
])
def test_schedules(schedule, expected):
    assert SCHEDULES[schedule].rates(0.5, 3, HP) == pytest.approx(expected)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_workbook_verifies(tmp_path, name):
    path = generate("quadratic", tmp_path / f"{name}.xlsx", optimizer=name, lr=0.05, steps=80)
    report = verify(path)
    assert report.ok, report.text()


def test_state_columns_are_visible_and_named(tmp_path):
    lay = layout("quadratic", optimizer="adam")
    headers = [c.header for c in lay.sheet("Iterations").table.columns]
    assert headers == ["iteration k", "x_k", "f(x_k)", "f′(x_k)", "m(x)", "v(x)", "m̂(x)", "v̂(x)", "step(x)",
                       "|x_k − x*|"]
    names = {c.name for c in lay.sheet("Parameters").cells if c.name}
    assert {"beta1", "beta2", "epsilon", "learning_rate"} <= names and "momentum" not in names


def test_divergent_optimizer_run_is_an_overflow_not_a_crash(tmp_path):
    path = generate("quadratic", tmp_path / "m.xlsx", optimizer="momentum", lr=2.0, steps=400)
    report = verify(path)
    assert report.ok, report.text()
    frame = layout("quadratic", optimizer="momentum", lr=2.0, steps=400).sheet("Iterations").table
    assert not np.isfinite(frame.columns[1].values[-1])


def random_configurations(seed: int = 8) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for name in OPTIMIZERS:
        out.append({"optimizer": name, "lr": round(10 ** rng.uniform(-2.5, -0.5), 6),
                    "momentum": round(rng.uniform(0.5, 0.99), 4), "rho": round(rng.uniform(0.5, 0.99), 4),
                    "beta1": round(rng.uniform(0.5, 0.95), 4), "beta2": round(rng.uniform(0.9, 0.9999), 5),
                    "epsilon": 10 ** rng.randint(-9, -6), "schedule": rng.choice(sorted(SCHEDULES)),
                    "decay_rate": round(rng.uniform(0.3, 0.99), 4), "decay_steps": rng.randint(2, 20),
                    "x0": round(rng.uniform(-50, 50), 3), "steps": 60})
    return out


@pytest.mark.engine
@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_random_hyperparameters_in_engines(tmp_path, engine):
    require_engine(engine)
    for i, config in enumerate(random_configurations()):
        path = generate("quadratic", tmp_path / f"c{i}.xlsx", **config)
        report = verify(path, [engine])
        assert report.ok, f"{config}: {report.text()}"


@pytest.mark.engine
def test_comparison_workbook_in_both_engines(tmp_path):
    require_engine("libreoffice")
    require_engine("gnumeric")
    path = generate("quadratic", tmp_path / "opts.xlsx", optimizers="sgd,momentum,nesterov,adagrad,rmsprop,adam",
                    lr=0.05, steps=200)
    report = verify(path, ["libreoffice", "gnumeric"])
    assert report.ok, report.text()


def test_comparison_summary():
    lay = layout("quadratic", optimizers="sgd,momentum,adam", lr=0.05, steps=200)
    assert [s.name for s in lay.sheets] == ["Parameters", "Summary", "sgd", "momentum", "adam", "About"]
    summary = {(c.row, c.col): c.value for c in lay.sheet("Summary").cells}
    assert summary[(2, 1)] == "sgd" and summary[(2, 3)] == 23.0  # 4.3·0.5^k < 1e-6 from k = 23 on
    assert summary[(3, 1)] == "momentum" and summary[(3, 3)] == "not reached"


@pytest.mark.parametrize("params,message", [
    ({"optimizer": "lbfgs"}, "optimizer must be one of"),
    ({"optimizers": "sgd,lbfgs"}, "optimizers: expected a comma-separated list"),
    ({"optimizers": "sgd,sgd"}, "names one twice"),
    ({"optimizers": "sgd,adam", "lrs": [0.1, 0.2]}, "not both"),
    ({"beta1": 1.0}, "at most"),
    ({"schedule": "cosine"}, "schedule must be one of"),
])
def test_bad_optimizer_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        layout("quadratic", **params)


# ------------------------------------------------------------------ networks


NET_CONFIGS = [
    ("network", {"optimizers": "sgd,momentum,nesterov,adagrad,rmsprop,adam", "observations": 8, "steps": 12,
                 "lr": 0.3, "seed": 3}),
    ("network", {"optimizer": "adam", "schedule": "inverse-time", "decay_rate": 0.1, "observations": 6,
                 "steps": 10, "activation": "tanh", "output_activation": "sigmoid", "seed": 4}),
    ("linear", {"optimizer": "rmsprop", "schedule": "step", "decay_steps": 3, "observations": 30, "steps": 15,
                "lr": 0.05, "seed": 5}),
    ("symmetry", {"optimizer": "momentum", "observations": 6, "steps": 10}),
]


@pytest.fixture(scope="module")
def net_books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("net-optimizers")
    return [generate(ex, folder / f"net{i}.xlsx", **p) for i, (ex, p) in enumerate(NET_CONFIGS)]


def test_network_optimizer_workbooks_verify(net_books):
    for path in net_books:
        report = verify(path)
        assert report.ok, report.text()


def test_network_optimizer_layout():
    lay = layout("network", optimizers="sgd,adam", observations=5, steps=3)
    assert [s.name for s in lay.sheets][:4] == ["Parameters", "Summary", "Charts", "Iterations sgd"]
    adam = [c.header for c in lay.sheet("Iterations adam").table.columns]
    assert "m(w(x1→h1))" in adam and "step(b(y2))" in adam
    assert "m(w(x1→h1))" not in [c.header for c in lay.sheet("Iterations sgd").table.columns]
    weight = lay.sheet("Iterations adam").table.columns[1]
    assert weight.formula == "={w1_1_1[-1]}-{step_w1_1_1[-1]}"
    # with sgd and a constant rate the network's formulas are the plain update of issue 3
    plain = layout("network", observations=5, steps=3).sheet("Iterations").table.columns[1]
    assert plain.formula == "={w1_1_1[-1]}-learning_rate*{g_w1_1_1[-1]}"


@pytest.mark.engine
@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_network_optimizers_in_engines(net_books, tmp_path, engine):
    from gdsheet.engines import recalculate_many

    require_engine(engine)
    outs = recalculate_many(net_books, engine, tmp_path / engine)
    for path, out in zip(net_books, outs):
        report = verify(path, recalculated={engine: out})
        assert report.ok, f"{path.name}: {report.text()}"


# ------------------------------------------------------------------ classroom


@pytest.mark.parametrize("exercise,params", [
    ("quadratic", {"optimizer": "adam", "schedule": "exponential"}),
    ("network", {"optimizer": "momentum", "observations": 6, "steps": 5}),
])
def test_check_works_on_optimizer_exercises(tmp_path, exercise, params):
    """No special case: a template of an optimizer exercise, filled by a student, is checked like any other."""
    from students import fill, layout_of
    from gdsheet.classroom.locate import student_tables

    import gdsheet

    student = gdsheet.template(exercise, tmp_path / "student.xlsx", key=tmp_path / "key.xlsx", **params)
    right = student
    for i, table in enumerate(student_tables(layout_of(student))):  # Iterations, and Passes for a network
        right = fill(right, tmp_path / f"right{i}.xlsx", table=table)
    result = gdsheet.check(right, key=tmp_path / "key.xlsx")
    assert result.status == "graded" and result.score == result.max_score, result.text()
