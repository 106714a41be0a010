"""The network, linear and symmetry exercises: reference maths, workbook layout, inputs, verify."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdsheet.api import generate, layout, read, verify
from gdsheet.exercises import get
from gdsheet.exercises import init as initializers
from gdsheet.exercises.network import ACTIVATIONS, OUTPUT_ACTIVATIONS, Shape, forward_backward, train
from gdsheet.symmetry import symmetric_units
from gdsheet.workbook.reader import read_workbook
from xlsx_edit import replace_cell

PAIRS = list(itertools.product(ACTIVATIONS, OUTPUT_ACTIVATIONS))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gdsheet", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def random_problem(shape: Shape, seed: int, n_obs: int = 7) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (n_obs, shape.inputs))
    t = rng.uniform(-1, 1, (n_obs, shape.outputs))
    if shape.hidden:
        t = (t + 1) / 2  # targets a sigmoid output can reach
    w = {k: rng.normal(0, 0.7, s) for k, s in shape.shapes().items()}
    return x, t, w


# ------------------------------------------------------------------ the maths


@pytest.mark.parametrize("act,out_act,hidden", [(a, o, 3) for a, o in PAIRS] +
                         [("linear", o, 0) for o in OUTPUT_ACTIVATIONS])  # no hidden layer: no hidden activation
def test_gradients_match_central_finite_differences(act, out_act, hidden):
    """Analytic backpropagation against (L(w + h) − L(w − h)) / 2h for every weight and bias."""
    shape = Shape(2, hidden, 2)
    x, t, w = random_problem(shape, seed=hash((act, out_act, hidden)) % 1000)
    if act == "relu":  # keep every pre-activation away from relu's kink at 0
        for j in range(hidden):
            z = x @ w["W1"][:, j] + w["b1"][j]
            w["b1"][j] += 0.3 * np.sign(np.mean(z)) if np.min(np.abs(z)) < 0.05 else 0.0
    analytic = forward_backward(x, t, w, shape, act, out_act)["grads"]
    h = 1e-6
    for name, arr in w.items():
        for idx in np.ndindex(arr.shape):
            plus = {k: v.copy() for k, v in w.items()}
            minus = {k: v.copy() for k, v in w.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            lp = forward_backward(x, t, plus, shape, act, out_act)["loss"]
            lm = forward_backward(x, t, minus, shape, act, out_act)["loss"]
            numeric = (lp - lm) / (2 * h)
            assert analytic[name][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, idx)


def test_network_without_hidden_layer_equals_linear_exercise():
    """Same data and initial weights: the network with H = 0 and the linear exercise give the same tables,
    and both equal plain matrix gradient descent W ← W − η·xᵀ(xW + b − t)/N."""
    common = {"inputs": 3, "outputs": 2, "observations": 15, "steps": 12, "lr": 0.01, "seed": 5,
              "init": "xavier-uniform", "bias_init": "normal:0,0.2"}
    lin = get("linear").resolve(common)
    x, t, weights = get("linear").arrays(lin)
    shared = {"_data": lin.get("_data") or (tuple(map(tuple, x)), tuple(map(tuple, t))),
              "_weights": ({k: tuple(map(tuple, v)) if v.ndim == 2 else tuple(v) for k, v in weights[0].items()},)}
    net = dict(common, hidden=0, **shared)
    a = layout("linear", **common, **shared)
    b = layout("network", **net)
    for name in ("Iterations", "Passes"):
        ta, tb = a.sheet(name).table, b.sheet(name).table
        assert [c.header for c in ta.columns] == [c.header for c in tb.columns]
        for ca, cb in zip(ta.columns, tb.columns):
            np.testing.assert_array_equal(ca.values, cb.values)
            assert ca.formula == cb.formula
    W, bias = weights[0]["W"].copy(), weights[0]["b"].copy()
    frame = {c.key: c.values for c in a.sheet("Iterations").table.columns}
    for k in range(common["steps"] + 1):
        for i in range(3):
            for o in range(2):
                assert frame[f"w_{i + 1}_{o + 1}"][k] == pytest.approx(W[i, o], rel=1e-12, abs=1e-14)
        err = x @ W + bias - t
        assert frame["loss"][k] == pytest.approx(np.sum(err**2) / (2 * len(x)), rel=1e-12)
        W = W - common["lr"] * x.T @ err / len(x)
        bias = bias - common["lr"] * err.sum(axis=0) / len(x)


HAND_DATA = "x1,t1\n1,2\n2,1\n"
HAND_WEIGHTS = {"W1": [[0.5, -0.5]], "b1": [0, 1], "W2": [[1], [2]], "b2": [0.5]}


def test_first_update_worked_by_hand(tmp_path):
    """1 input → 2 relu hidden units → 1 linear output, two observations, η = 0.1.

    Data (x, t): (1, 2) and (2, 1).  W1 = [0.5, −0.5], b1 = [0, 1], W2 = [1, 2], b2 = 0.5.

    Forward, observation 1 (x = 1): z1 = 1·0.5 + 0 = 0.5, z2 = 1·(−0.5) + 1 = 0.5, h = (0.5, 0.5),
    y = 0.5·1 + 0.5·2 + 0.5 = 2, e = y − t = 0.
    Observation 2 (x = 2): z1 = 1, z2 = −1 + 1 = 0 so h2 = relu(0) = 0 (and its slope IF(0>0) is 0),
    h = (1, 0), y = 1·1 + 0·2 + 0.5 = 1.5, e = 0.5.
    Loss L = (0² + 0.5²) / (2·2) = 0.0625.

    Backward (linear output: δ(y) = e = (0, 0.5)):
    δ(h1) = e·w(h1→y1)·slope(z1) = (0, 0.5·1·1) = (0, 0.5);  δ(h2) = e·2·slope(z2) = (0, 0.5·2·0) = (0, 0).
    Gradients, means over the two observations:
    ∂L/∂w(x1→h1) = (1·0 + 2·0.5)/2 = 0.5      ∂L/∂w(x1→h2) = 0
    ∂L/∂b(h1)    = (0 + 0.5)/2     = 0.25     ∂L/∂b(h2)    = 0
    ∂L/∂w(h1→y1) = (0.5·0 + 1·0.5)/2 = 0.25   ∂L/∂w(h2→y1) = (0.5·0 + 0·0.5)/2 = 0
    ∂L/∂b(y1)    = (0 + 0.5)/2     = 0.25
    First update, w − 0.1·∂L/∂w:
    w(x1→h1) = 0.45, w(x1→h2) = −0.5, b(h1) = −0.025, b(h2) = 1, w(h1→y1) = 0.975, w(h2→y1) = 2,
    b(y1) = 0.475.
    """
    data = tmp_path / "data.csv"
    data.write_text(HAND_DATA)
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps(HAND_WEIGHTS))
    path = generate("network", tmp_path / "hand.xlsx", hidden=2, activation="relu", data=str(data),
                    init_weights=str(weights), lr=0.1, steps=1)
    report = verify(path)
    assert report.ok, report.text()
    wb = read_workbook(path)
    it, ps = wb.sheet("Iterations").values, wb.sheet("Passes").values
    headers = {v: c for (r, c), v in it.items() if r == 1}
    expected_row0 = {"w(x1→h1)": 0.5, "w(x1→h2)": -0.5, "b(h1)": 0.0, "b(h2)": 1.0, "w(h1→y1)": 1.0,
                     "w(h2→y1)": 2.0, "b(y1)": 0.5, "loss L": 0.0625, "∂L/∂w(x1→h1)": 0.5, "∂L/∂w(x1→h2)": 0.0,
                     "∂L/∂b(h1)": 0.25, "∂L/∂b(h2)": 0.0, "∂L/∂w(h1→y1)": 0.25, "∂L/∂w(h2→y1)": 0.0,
                     "∂L/∂b(y1)": 0.25}
    expected_row1 = {"w(x1→h1)": 0.45, "w(x1→h2)": -0.5, "b(h1)": -0.025, "b(h2)": 1.0, "w(h1→y1)": 0.975,
                     "w(h2→y1)": 2.0, "b(y1)": 0.475}
    for row, expected in ((2, expected_row0), (3, expected_row1)):
        for header, value in expected.items():
            assert it[(row, headers[header])] == pytest.approx(value, abs=1e-15), (row, header)
    pheaders = {v: c for (r, c), v in ps.items() if r == 1}
    passes = {  # iteration 0, observations 1 and 2
        "x1": (1, 2), "z(h1)": (0.5, 1), "z(h2)": (0.5, 0), "h1": (0.5, 1), "h2": (0.5, 0), "y1": (2, 1.5),
        "t1": (2, 1), "e1": (0, 0.5), "δ(h1)": (0, 0.5), "δ(h2)": (0, 0)}
    for header, (v1, v2) in passes.items():
        assert ps[(2, pheaders[header])] == v1 and ps[(3, pheaders[header])] == v2, header
    # the formulas a student reads
    f = wb.sheet("Passes").formulas
    assert f[(2, pheaders["z(h1)"])].text == "C2*INDEX(Iterations!$B$1:$B$3,A2+2)+INDEX(Iterations!$D$1:$D$3,A2+2)"
    assert f[(2, pheaders["δ(h2)"])].text == "(J2*INDEX(Iterations!$G$1:$G$3,A2+2))*IF(E2>0,1,0)"
    fi = wb.sheet("Iterations").formulas
    assert fi[(3, headers["w(x1→h1)"])].text == "B2-learning_rate*J2"
    assert fi[(2, headers["∂L/∂w(x1→h1)"])].text == \
        "SUMPRODUCT(INDEX(Passes!$C$1:$C$5,Q2):INDEX(Passes!$C$1:$C$5,R2)," \
        "INDEX(Passes!$K$1:$K$5,Q2):INDEX(Passes!$K$1:$K$5,R2))" \
        "/observations"


# ------------------------------------------------------------------ workbooks


def test_network_workbook_layout_and_read(tmp_path):
    path = generate("network", tmp_path / "net.xlsx", observations=6, steps=5, seed=3)
    report = verify(path)
    assert report.ok, report.text()
    frame = read(path)
    assert list(frame.columns[:10]) == ["iteration", "w(x1→h1)", "w(x2→h1)", "w(x1→h2)", "w(x2→h2)", "w(x1→h3)",
                                        "w(x2→h3)", "b(h1)", "b(h2)", "b(h3)"]
    assert "w(h3→y2)" in frame.columns and "b(y2)" in frame.columns and "loss L" in frame.columns
    assert len(frame) == 6
    long = read(path, long=True)
    assert len(long) == 6 * 6 and list(long.columns[:4]) == ["iteration", "observation", "x1", "x2"]
    assert "δ(h3)" in long.columns
    wb = read_workbook(path)
    for sheet in wb.sheets.values():  # never LibreOffice's _x…_ escape pattern in any text
        for v in sheet.values.values():
            assert not (isinstance(v, str) and re.search(r"_x[0-9A-Fa-f]{4}_", v)), v
    assert list(wb.sheets)[:6] == ["Parameters", "Charts", "Iterations", "Passes", "Data", "About"]
    out = run("read", str(path), "--long", "--format", "csv")
    assert out.returncode == 0 and out.stdout.startswith("iteration,observation,x1,x2,z(h1)")


def test_one_formula_shape_per_column_and_no_whole_table_scans(tmp_path):
    """Each data column of Iterations and Passes is one shared formula; no SUMIFS/OFFSET/INDIRECT."""
    path = generate("network", tmp_path / "net.xlsx", observations=4, steps=6, activation="tanh",
                    output_activation="sigmoid")
    wb = read_workbook(path)
    for name in ("Iterations", "Passes"):
        formulas = wb.sheet(name).formulas
        by_col: dict[int, set[int]] = {}
        for (r, c), f in formulas.items():
            if r > 2 or name == "Passes":
                by_col.setdefault(c, set()).add(id(f))
            assert not re.search(r"SUMIFS|OFFSET|INDIRECT|COUNTIFS", f.text), f.text
        assert all(len(ids) == 1 for ids in by_col.values()), name


def test_generation_is_deterministic(tmp_path):
    a = generate("network", tmp_path / "a.xlsx", observations=5, steps=3, init="he-normal", seed=11)
    b = generate("network", tmp_path / "b.xlsx", observations=5, steps=3, init="he-normal", seed=11)
    c = generate("network", tmp_path / "c.xlsx", observations=5, steps=3, init="he-normal", seed=12)
    wa, wb_, wc = (read_workbook(p) for p in (a, b, c))
    for sheet in wa.sheets:
        assert wa.sheets[sheet].values == wb_.sheets[sheet].values
    assert wa.sheet("Iterations").values != wc.sheet("Iterations").values


def test_tampered_weight_formula_fails_naming_the_cell(tmp_path):
    path = generate("network", tmp_path / "net.xlsx", observations=5, steps=8)
    bad = tmp_path / "bad.xlsx"
    replace_cell(path, bad, "Iterations", "C6", "<f>C5-0.5*L5</f><v>0.1</v>")
    report = verify(bad)
    assert not report.ok
    assert report.mismatches[0].cell == "Iterations!C6"
    out = run("verify", str(bad))
    assert out.returncode == 1 and "MISMATCH Iterations!C6" in out.stdout


def test_changed_learning_rate_and_data_are_followed(tmp_path):
    """The learning rate, the data and the initial weights are inputs: verify follows the workbook."""
    import openpyxl

    path = generate("linear", tmp_path / "lin.xlsx", observations=8, steps=4)
    wb = openpyxl.load_workbook(path)
    rate_row = next(r for r in range(1, 30) if wb["Parameters"].cell(r, 1).value == "η, learning rate")
    wb["Parameters"].cell(rate_row, 2).value = 0.01
    wb["Data"]["B3"] = 4.25
    wb["Iterations"]["B2"] = 0.05
    wb.save(tmp_path / "edited.xlsx")  # openpyxl drops cached values: gdsheet's evaluator computes them
    report = verify(tmp_path / "edited.xlsx")
    assert report.ok, report.text()
    assert report.params["lr"] == 0.01
    text = " ".join(report.notes)
    assert "learning_rate changed" in text and "Data sheet differs" in text and "initial weights" in text


def test_symmetry_workbook_and_api(tmp_path):
    path = generate("symmetry", tmp_path / "sym.xlsx", observations=6, steps=10)
    report = verify(path)
    assert report.ok, report.text()
    assert report.notes == ["Constant start: h1, h2, h3 identical at every iteration — the network learns like "
                            "a single hidden unit"]
    assert symmetric_units(path) == [["h1", "h2", "h3"]]
    assert symmetric_units(path, sheet="Random start") == []
    assert symmetric_units(read(path, sheet="Constant start")) == [["h1", "h2", "h3"]]
    data = json.loads(run("verify", str(path), "--json").stdout)
    assert data["ok"] and data["notes"] == report.notes
    # a network with a constant start says the same
    net = generate("network", tmp_path / "c.xlsx", observations=5, steps=4, init="constant:0.3")
    assert verify(net).notes == ["h1, h2, h3 identical at every iteration — the network learns like a single "
                                 "hidden unit"]


def test_minimal_example_preset_learns_the_course_function(tmp_path):
    p = get("linear").resolve(get("linear").presets["minimal-example"])
    x, t, weights = get("linear").arrays(p)
    assert x.shape == (1000, 2) and t.shape == (1000, 1)
    assert np.all(np.abs(x) <= 10) and np.all(np.abs(t[:, 0] - (2 * x[:, 0] - 3 * x[:, 1] + 5)) <= 1)
    assert np.all(np.abs(weights[0]["W"]) <= 0.1) and np.all(np.abs(weights[0]["b"]) <= 0.1)
    table = layout("linear", **get("linear").presets["minimal-example"]).sheet("Iterations").table
    final = {c.header: c.values[-1] for c in table.columns}
    assert final["w(x1→y1)"] == pytest.approx(2, abs=0.02) and final["w(x2→y1)"] == pytest.approx(-3, abs=0.02)
    assert 0.5 < final["b(y1)"] < 5
    out = run("generate", "minimal-example", "-o", str(tmp_path / "m.xlsx"), "--steps", "3")
    assert out.returncode == 0, out.stderr
    assert "linear" in out.stdout


# ------------------------------------------------------------------ initialization


def test_init_schemes_follow_keras_and_are_seeded():
    rng = lambda: np.random.default_rng(4)  # noqa: E731
    fi, fo = 40, 60
    a = initializers.draw("xavier-uniform", (20000,), fi, fo, rng())
    assert np.max(np.abs(a)) <= np.sqrt(6 / (fi + fo)) and np.max(np.abs(a)) > 0.99 * np.sqrt(6 / (fi + fo))
    b = initializers.draw("he-uniform", (20000,), fi, fo, rng())
    assert np.max(np.abs(b)) <= np.sqrt(6 / fi)
    for scheme, std in (("xavier-normal", np.sqrt(2 / (fi + fo))), ("he-normal", np.sqrt(2 / fi))):
        c = initializers.draw(scheme, (40000,), fi, fo, rng())
        assert np.max(np.abs(c)) <= 2 * std / initializers.TRUNCATED_STD  # truncated at two (parameter) stds
        assert np.std(c) == pytest.approx(std, rel=0.02)  # the drawn values have the target std
    np.testing.assert_array_equal(initializers.draw("normal:1,2", (5,), 1, 1, rng()),
                                  initializers.draw("normal:1,2", (5,), 1, 1, rng()))
    assert np.all(initializers.draw("constant:0.5", (3, 2), 1, 1, rng()) == 0.5)
    u = initializers.draw("uniform:-0.1,0.1", (1000,), 1, 1, rng())
    assert np.all((u >= -0.1) & (u < 0.1))


@pytest.mark.parametrize("spec", ["", "uniform", "uniform:1", "uniform:1,0", "normal:0,-1", "constant:x",
                                  "gauss", "constant:nan", "uniform:0,inf"])
def test_bad_init_spec_is_one_line_exit_2(tmp_path, spec):
    out = run("generate", "network", "--init", spec, "-o", str(tmp_path / "x.xlsx"))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("gdsheet: error: --init")
    assert not (tmp_path / "x.xlsx").exists()


# ------------------------------------------------------------------ garbage inputs

CSV_CASES = {
    "text": ("this is a text file\nwith words\n", "column 1 is 'this is a text file'"),
    "empty": ("", "empty"),
    "header only": ("x1,x2,t1\n", "no observations"),
    "wrong columns": ("a,b,c\n1,2,3\n", "expected a header row of x1..xn"),
    "gap": ("x1,x3,t1\n1,2,3\n", "column x2 is missing"),
    "no target": ("x1,x2\n1,2\n", "no t1 column"),
    "nan": ("x1,t1\n1,2\nnan,3\n", "line 3: column x1 is nan"),
    "inf": ("x1,t1\n1,inf\n", "finite"),
    "word": ("x1,t1\n1,2\n3,abc\n", "line 3: 'abc' in column t1 is not a number"),
    "ragged": ("x1,t1\n1,2,3\n", "line 2: 3 fields"),
    "binary": (None, "not a UTF-8 text file"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_malformed_data_csv_is_one_line_exit_2(tmp_path, case):
    text, message = CSV_CASES[case]
    data = tmp_path / "data.csv"
    if text is None:
        data.write_bytes(b"\xff\xfe\x00\x81garbage\x00")
    else:
        data.write_text(text)
    out = run("generate", "network", "--data", str(data), "-o", str(tmp_path / "x.xlsx"))
    assert out.returncode == 2, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "data.csv" in lines[0] and message in lines[0], lines[0]


def test_missing_files_and_conflicting_sizes_exit_2(tmp_path):
    out = run("generate", "linear", "--data", str(tmp_path / "nope.csv"))
    assert out.returncode == 2 and "nope.csv: no such file" in out.stderr
    out = run("generate", "network", "--init-weights", str(tmp_path / "nope.json"))
    assert out.returncode == 2 and "nope.json: no such file" in out.stderr
    data = tmp_path / "d.csv"
    data.write_text("x1,x2,x3,t1\n1,2,3,4\n")
    out = run("generate", "network", "--data", str(data), "--inputs", "2", "-o", str(tmp_path / "x.xlsx"))
    assert out.returncode == 2 and "--inputs 2, but --data d.csv has 3" in out.stderr


JSON_CASES = {
    "not json": ("{W1: nope", "not JSON"),
    "a list": ("[1, 2]", "expected an object"),
    "missing key": (json.dumps({"W1": [[0, 0, 0], [0, 0, 0]], "b1": [0, 0, 0], "W2": [[0, 0]] * 3}),
                    "missing b2"),
    "extra key": (json.dumps({**{"W1": [[0] * 3] * 2, "b1": [0] * 3, "W2": [[0] * 2] * 3, "b2": [0] * 2},
                              "W3": []}), "unexpected W3"),
    "W1 transposed": (json.dumps({"W1": [[0] * 2] * 3, "b1": [0] * 3, "W2": [[0] * 2] * 3, "b2": [0] * 2}),
                      "W1: expected 2 lists of 3 numbers (inputs × hidden units), got 3 lists of 2 numbers"),
    "b1 too short": (json.dumps({"W1": [[0] * 3] * 2, "b1": [0] * 2, "W2": [[0] * 2] * 3, "b2": [0] * 2}),
                     "b1: expected a list of 3 numbers, got a list of 2"),
    "text value": (json.dumps({"W1": [[0] * 3] * 2, "b1": [0, "a", 0], "W2": [[0] * 2] * 3, "b2": [0] * 2}),
                   "'a' is not a finite number"),
    "ragged": (json.dumps({"W1": [[0] * 3, [0] * 2], "b1": [0] * 3, "W2": [[0] * 2] * 3, "b2": [0] * 2}),
               "got 2 lists of 2/3 numbers"),
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_malformed_weights_json_is_one_line_exit_2(tmp_path, case):
    text, message = JSON_CASES[case]
    weights = tmp_path / "weights.json"
    weights.write_text(text)
    out = run("generate", "network", "--init-weights", str(weights), "-o", str(tmp_path / "x.xlsx"))
    assert out.returncode == 2, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "weights.json" in lines[0] and message in lines[0], lines[0]


def test_files_from_the_command_line_make_a_verifiable_workbook(tmp_path):
    (tmp_path / "data.csv").write_text("t1,x1,x2\n0.5,1,2\n-1,0.25,-3\n2,0,1\n")
    (tmp_path / "weights.json").write_text(json.dumps({"W": [[0.1], [-0.2]], "b": [0.3]}))
    out = run("generate", "linear", "--data", "data.csv", "--init-weights", "weights.json", "--lr", "0.05",
              "--steps", "3", "-o", "lin.xlsx", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = verify(tmp_path / "lin.xlsx")
    assert report.ok, report.text()
    assert report.params["data_source"] == "file data.csv" and report.params["init"] == "file:weights.json"
    frame = read(tmp_path / "lin.xlsx")
    assert frame["w(x1→y1)"][0] == 0.1 and frame["b(y1)"][0] == 0.3
    assert read(tmp_path / "lin.xlsx", sheet="Data")["x2"].tolist() == [2, -3, 1]
    out = run("read", "lin.xlsx", "--long", "--sheet", "Data", cwd=tmp_path)
    assert out.returncode == 2


def test_cli_choices_and_help():
    out = run("generate", "network", "--activation", "softmax")
    assert out.returncode == 2 and "sigmoid, tanh, relu, linear" in out.stderr
    out = run("generate", "network", "--help")
    assert "sigmoid|tanh|relu|linear" in out.stdout and "--init-weights" in out.stdout
    assert "--data-source" not in out.stdout
    out = run("generate", "network", "--observations", "5000", "--steps", "500")
    assert out.returncode == 2 and "rows of passes" in out.stderr
