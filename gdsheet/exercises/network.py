"""A neural network trained by full-batch gradient descent, every weight a live formula.

Inputs x1..xn → one hidden layer of H units (activation sigmoid, tanh, relu or
linear) → k outputs (linear or sigmoid).  H = 0 is the course's minimal
example, y = x·W + b (the ``linear`` exercise).  The loss is the course's L2
norm divided by 2 and by the number of observations N::

    L = (1 / 2N) · Σₙ Σₖ (yₙₖ − tₙₖ)²

and every weight and bias is updated in parallel from the gradients of the same
iteration: w ← w − η·∂L/∂w.

The workbook (see :meth:`Network.layout`):

* ``Data``: the observations, constants (x1..xn, t1..tk).
* ``Iterations``: one row per iteration 0..T; a column per weight and bias
  headed ``w(x1→h1)``, ``b(h1)``, ``w(h1→y1)``, ``b(y1)``; the loss; a column
  per gradient ``∂L/∂w(x1→h1)``; and which rows of ``Passes`` hold that
  iteration.  Row 0 holds the initial weights as constants (inputs, like the
  data); every later row is ``w_prev − learning_rate·gradient_prev``.
* ``Passes``: one row per (iteration, observation): the forward pass (inputs,
  hidden pre-activations z and activations h, outputs y, targets t, errors e)
  and the backward pass (deltas δ).  Weights are looked up in the iteration's
  row of ``Iterations`` with ``INDEX(Iterations!$B:$B, iteration+2)``.
* The gradients are sums over one iteration's block of ``Passes``, addressed
  with ``INDEX(..):INDEX(..)``: ∂L/∂w(xi→hj) = SUMPRODUCT(xi, δ(hj)) / N,
  ∂L/∂b(hj) = SUM(δ(hj)) / N, ∂L/∂w(hj→yk) = SUMPRODUCT(hj, δ(yk)) / N,
  ∂L/∂b(yk) = SUM(δ(yk)) / N, with δ(yk) = eₖ·(output activation)′ and
  δ(hj) = (Σₖ δ(yk)·w(hj→yk))·(hidden activation)′.

Every cell costs O(1) (a Passes cell, a weight) or O(N) (a gradient or the
loss): recalculation grows linearly with iterations × observations.  No
volatile functions (OFFSET, INDIRECT).

The numpy reference (:func:`train`) is analytic backpropagation performing the
formulas' operations in the formulas' order; alongside every value it carries
the size of the terms that made it (the tolerance scale), because errors,
gradients and the loss near a minimum are much smaller than their terms.

Generated data (no ``--data``), drawn with ``numpy.random.default_rng(seed)``:
x_i ~ U(−1, 1) and t_k = sin(x_1 + k·x_n) for the network; for the linear
exercise the course's minimal example: x_i ~ U(−10, 10), noise ~ U(−1, 1) and
t_k = Σᵢ cᵢ·xᵢ + 5·k + noise with c = (2, −3, 2, −3, …), i.e. t = 2x − 3z + 5 +
noise for two inputs and one output.  Initial weights are drawn from
``default_rng((seed, 1))`` (see :mod:`gdsheet.exercises.init`).  Data and
weights are rounded to the 15 significant digits a spreadsheet keeps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import init as initializers
from ..optimizers import (ALL_HYPER, OPTIMIZERS, SCHEDULES, fill, hyper_values, optimizer_params,
                          state_key, used_keys)
from ..optimizers import run as run_optimizer
from ..optimizers.base import sensitivity
from ..formula.parser import quote_sheet
from .base import Cell, Chart, Column, Exercise, Layout, Param, Series, SheetLayout, Table, col_letter
from .datafiles import load_csv, load_weights

EXCEL_ROWS = 1_048_576
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
OUTPUT_ACTIVATIONS = ("linear", "sigmoid")
MAX_UNITS = 20
MAX_CHART_UNITS = 6  # hidden units drawn in the incoming-weights chart
# The perturbed run that measures how errors grow along a trajectory: each value moved by
# JITTER × its scale — 1e4 roundings, well above the runs' own rounding noise, and small enough
# that a growth of 1e7 (a chaotic AdaGrad run, measured) still stays in the linear regime.
JITTER = 1e-12
SEED = 20_250_801  # the directions of the nudges: fixed, so the tolerance is the same on every run


quote = quote_sheet  # a sheet name as it stands in a reference


def round15(a: np.ndarray) -> np.ndarray:
    """Every value to the 15 significant digits a spreadsheet keeps (so a resave changes nothing)."""
    flat = [float(f"{v:.15g}") for v in np.asarray(a, dtype=float).ravel().tolist()]
    return np.array(flat, dtype=float).reshape(np.shape(a))


# ------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class Slot:
    """One weight or bias: its column key, its header, and where it sits in its array."""

    key: str
    header: str
    array: str  # W1 b1 W2 b2 (W b without a hidden layer)
    index: tuple[int, ...]


@dataclass(frozen=True)
class Shape:
    inputs: int
    hidden: int
    outputs: int

    def layers(self) -> list[tuple[str, str, int, int]]:
        """(weights name, bias name, fan_in, fan_out) per layer."""
        n, h, k = self.inputs, self.hidden, self.outputs
        if h == 0:
            return [("W", "b", n, k)]
        return [("W1", "b1", n, h), ("W2", "b2", h, k)]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        for w, b, fi, fo in self.layers():
            out[w] = (fi, fo)
            out[b] = (fo,)
        return out

    def slots(self) -> list[Slot]:
        """Weights grouped by the unit they feed: w(x1→h1), w(x2→h1), …, b(h1), …, w(h1→y1), …, b(y1)."""
        n, h, k = self.inputs, self.hidden, self.outputs
        out = []
        if h == 0:
            for o in range(k):
                out += [Slot(f"w_{i + 1}_{o + 1}", f"w(x{i + 1}→y{o + 1})", "W", (i, o)) for i in range(n)]
            out += [Slot(f"b_{o + 1}", f"b(y{o + 1})", "b", (o,)) for o in range(k)]
            return out
        for j in range(h):
            out += [Slot(f"w1_{i + 1}_{j + 1}", f"w(x{i + 1}→h{j + 1})", "W1", (i, j)) for i in range(n)]
        out += [Slot(f"b1_{j + 1}", f"b(h{j + 1})", "b1", (j,)) for j in range(h)]
        for o in range(k):
            out += [Slot(f"w2_{j + 1}_{o + 1}", f"w(h{j + 1}→y{o + 1})", "W2", (j, o)) for j in range(h)]
        out += [Slot(f"b2_{o + 1}", f"b(y{o + 1})", "b2", (o,)) for o in range(k)]
        return out


# ------------------------------------------------------------------ reference


@dataclass
class Trace:
    """The numpy reference of one training run: every value of both tables, with tolerance scales."""

    weights: dict[str, np.ndarray]  # array name -> (T+1, *shape)
    grads: dict[str, np.ndarray]
    grad_scale: dict[str, np.ndarray]
    loss: np.ndarray  # (T+1,)
    loss_scale: np.ndarray
    passes: dict[str, np.ndarray] = field(default_factory=dict)  # Passes column key -> (T+1, N)
    pass_scale: dict[str, np.ndarray] = field(default_factory=dict)
    weight_scale: dict[str, np.ndarray] = field(default_factory=dict)
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # optimizer column -> array -> values
    state_scale: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    rates: np.ndarray | None = None  # η_k


def _sigmoid(z: np.ndarray) -> np.ndarray:
    ez = np.exp(-z)
    ez[~np.isfinite(ez)] = np.nan  # EXP overflows to #NUM! in a spreadsheet
    return 1 / (1 + ez)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(np.isnan(z), np.nan, np.maximum(0.0, z))
    return z.copy()


def _slope(name: str, z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The activation's derivative, as a magnitude for the tolerance scale."""
    if name == "sigmoid":
        return np.abs(h * (1 - h))
    if name == "tanh":
        return np.abs(1 - h**2)
    if name == "relu":
        return (z > 0).astype(float)
    return np.ones_like(z)


def _terms(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σᵢ aᵢ·wᵢ for every unit at once: ``a`` (N, m), ``w`` (m, units) -> (N, units), the
    terms added one at a time, left to right, as the sheet's formula adds them."""
    acc = a[:, 0:1] * w[0]
    for i in range(1, a.shape[1]):
        acc = acc + a[:, i:i + 1] * w[i]
    return acc


def _mean_products(a: np.ndarray, d: np.ndarray, n: int) -> np.ndarray:
    """[i, j] = Σₙ a[n, i]·d[n, j] / N for all pairs; each sum runs along a contiguous last
    axis, where numpy adds as it does for one column (``np.sum``'s pairwise order)."""
    prod = np.ascontiguousarray(a.T)[:, None, :] * np.ascontiguousarray(d.T)[None, :, :]
    return np.sum(prod, axis=2) / n


def forward_backward(x: np.ndarray, t: np.ndarray, params: dict[str, np.ndarray], shape: Shape,
                     act: str, out_act: str) -> dict[str, Any]:
    """One pass over all observations: the Passes columns, gradients and loss (with scales).

    A layer at a time: column j of an (N, units) array is unit j.  Each element is the same
    IEEE operation sequence as the sheet's cell for it (weighted sums left to right, then the
    bias), so the reference is the formulas' arithmetic, only without a loop per unit.
    ``sc`` holds each column's tolerance scale: the size of the terms its formula adds."""
    n, h, k = shape.inputs, shape.hidden, shape.outputs
    N = x.shape[0]
    cols: dict[str, np.ndarray] = {}
    sc: dict[str, np.ndarray] = {}
    for i in range(n):
        cols[f"x{i + 1}"] = x[:, i]
    ax = np.abs(x)
    if h:
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        Z = _terms(x, W1) + b1
        MZ = _terms(ax, np.abs(W1)) + np.abs(b1)  # |x·w| is |x|·|w| to the bit: only signs differ
        A = activate(act, Z)
        S = _slope(act, Z, A)
        MH = np.abs(A) + S * MZ
        for j in range(h):
            cols[f"z{j + 1}"], sc[f"z{j + 1}"] = Z[:, j], MZ[:, j]
        for j in range(h):
            cols[f"h{j + 1}"], sc[f"h{j + 1}"] = A[:, j], MH[:, j]
        src, msrc, W, b = A, MH, W2, b2
    else:
        src, msrc, W, b = x, ax, params["W"], params["b"]
    U = _terms(src, W) + b
    MU = _terms(msrc, np.abs(W)) + np.abs(b)
    if out_act == "sigmoid":
        Y = _sigmoid(U)
        MY = np.abs(Y) + np.abs(Y * (1 - Y)) * MU
    else:
        Y, MY = U, MU
    E = Y - t
    ME = MY + np.abs(t)
    if out_act == "sigmoid":
        D = E * Y * (1 - Y)
        MD = ME * np.abs(Y * (1 - Y)) + np.abs(E) * MY
    else:
        D, MD = E, ME
    for o in range(k):
        if out_act == "sigmoid":
            cols[f"u{o + 1}"], sc[f"u{o + 1}"] = U[:, o], MU[:, o]
        cols[f"y{o + 1}"], sc[f"y{o + 1}"] = Y[:, o], MY[:, o]
        cols[f"t{o + 1}"] = t[:, o]
        cols[f"e{o + 1}"], sc[f"e{o + 1}"] = E[:, o], ME[:, o]
        if out_act == "sigmoid":
            cols[f"d{o + 1}"], sc[f"d{o + 1}"] = D[:, o], MD[:, o]
    if h:
        Sd = _terms(D, W2.T)  # Σₒ δₒ·w(hⱼ→yₒ)
        MS = _terms(MD, np.abs(W2.T))
        if act == "sigmoid":
            DELTA = Sd * A * (1 - A)
        elif act == "tanh":
            DELTA = Sd * (1 - A**2)
        elif act == "relu":
            DELTA = Sd * np.where(np.isnan(Z), np.nan, (Z > 0).astype(float))
        else:
            DELTA = Sd
        MDELTA = MS * S + (2 * np.abs(Sd) * MH if act in ("sigmoid", "tanh") else 0.0)
        for j in range(h):
            cols[f"delta{j + 1}"], sc[f"delta{j + 1}"] = DELTA[:, j], MDELTA[:, j]
        layers = [("W1", "b1", x, ax, DELTA, MDELTA), ("W2", "b2", A, MH, D, MD)]
    else:
        layers = [("W", "b", x, ax, D, MD)]
    grads: dict[str, np.ndarray] = {}
    gscale: dict[str, np.ndarray] = {}
    for wname, bname, a, ma, d, md in layers:
        grads[wname] = _mean_products(a, d, N)
        gscale[wname] = _mean_products(ma, md, N)
        grads[bname] = np.sum(np.ascontiguousarray(d.T), axis=1) / N
        gscale[bname] = np.sum(np.ascontiguousarray(md.T), axis=1) / N
    loss = float(np.sum(E * E)) / (2 * N)
    loss_scale = float(np.sum(np.abs(E) * ME)) / N + abs(loss)
    return {"cols": cols, "scales": sc, "grads": grads, "grad_scale": gscale, "loss": loss,
            "loss_scale": loss_scale}


def train(x: np.ndarray, t: np.ndarray, initial: dict[str, np.ndarray], shape: Shape, act: str, out_act: str,
          lr: float, steps: int, passes: bool = True, optimizer: str = "sgd", schedule: str = "constant",
          hp: dict[str, float] | None = None) -> Trace:
    """Full-batch training from ``initial`` for ``steps`` updates (T+1 rows), every weight and bias
    updated in parallel by ``optimizer`` (gdsheet.optimizers) from the same iteration's gradients."""
    names = list(shape.shapes())
    sizes = {k: int(np.prod(shape.shapes()[k])) for k in names}
    hp = dict(hp or {})

    def flat(arrays: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(arrays[k], dtype=float).ravel() for k in names])

    def unflat(vector: np.ndarray) -> dict[str, np.ndarray]:
        out, at = {}, 0
        for k in names:
            out[k] = vector[..., at:at + sizes[k]].reshape(*vector.shape[:-1], *shape.shapes()[k])
            at += sizes[k]
        return out

    rates = SCHEDULES[schedule].rates(lr, steps, hp)

    def one_run(jitter: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        records: list[dict[str, Any]] = []

        def grad(theta: np.ndarray) -> np.ndarray:
            r = forward_backward(x, t, unflat(theta), shape, act, out_act)
            records.append(r)
            return flat(r["grads"])

        result = run_optimizer(OPTIMIZERS[optimizer], grad, flat(initial), steps, rates, hp,
                               grad_scale=lambda theta: flat(records[-1]["grad_scale"]), jitter=jitter, seed=SEED)
        return result, records

    result, records = one_run(0.0)
    # how far an error grows along this trajectory (gdsheet/optimizers/base.py): a second run, every
    # gradient, step and weight nudged by JITTER × its scale; the growth joins every cell's scale
    shadow, shadow_records = one_run(JITTER)
    values, scales = result["values"], result["scales"]
    for key in scales:
        scales[key] = scales[key] + sensitivity(values[key], shadow["values"][key], JITTER)
    loss, shadow_loss = np.array([r["loss"] for r in records]), np.array([s["loss"] for s in shadow_records])
    loss_scale = np.array([r["loss_scale"] for r in records]) + sensitivity(loss, shadow_loss, JITTER)
    trace = Trace(unflat(values["theta"]), unflat(values["grad"]), unflat(scales["grad"]), loss, loss_scale)
    trace.weight_scale = unflat(scales["theta"])
    trace.states = {key: unflat(v) for key, v in values.items() if key not in ("theta", "grad")}
    trace.state_scale = {key: unflat(v) for key, v in scales.items() if key not in ("theta", "grad")}
    trace.rates = rates
    if passes:  # every column of every iteration at once: sensitivity is element by element
        trace.passes = {k: np.stack([r["cols"][k] for r in records]) for k in records[0]["cols"]}
        trace.pass_scale = {k: np.stack([r["scales"][k] for r in records])
                            + sensitivity(trace.passes[k], np.stack([s["cols"][k] for s in shadow_records]), JITTER)
                            for k in records[0]["scales"]}
    return trace


# ------------------------------------------------------------------ data


def generated_data(kind: str, n: int, k: int, observations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The documented target functions (module docstring), drawn with ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    if kind == "linear":
        x = np.stack([rng.uniform(-10, 10, observations) for _ in range(n)], axis=1)
        noise = np.stack([rng.uniform(-1, 1, observations) for _ in range(k)], axis=1)
        c = np.array([2.0 if i % 2 == 0 else -3.0 for i in range(n)])
        t = np.stack([x @ c + 5.0 * (o + 1) for o in range(k)], axis=1) + noise
    else:
        x = np.stack([rng.uniform(-1, 1, observations) for _ in range(n)], axis=1)
        t = np.stack([np.sin(x[:, 0] + (o + 1) * x[:, n - 1]) for o in range(k)], axis=1)
    return round15(x), round15(t)


def drawn_weights(shape: Shape, init: str, bias_init: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng((seed, 1))
    out = {}
    for w, b, fan_in, fan_out in shape.layers():
        out[w] = round15(initializers.draw(init, (fan_in, fan_out), fan_in, fan_out, rng))
        out[b] = round15(initializers.draw(bias_init, (fan_out,), fan_in, fan_out, rng))
    return out


def pack(a: np.ndarray) -> tuple[Any, ...]:
    """An array as nested tuples: comparable with == and kept in a parameter dict."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        return tuple(a.tolist())
    return tuple(tuple(r) for r in a.tolist())


# ------------------------------------------------------------------ exercise


@dataclass(frozen=True)
class Run:
    """One training run in a workbook: its two sheets and how its weights start."""

    label: str
    iterations: str  # sheet names
    passes: str
    init: str
    bias_init: str
    optimizer: str = ""  # "" = the workbook's --optimizer


_ABOUT_PASSES = {
    "iteration": "k: which iteration's weights this row uses (row k+2 of the iterations sheet).",
    "observation": "n: which observation (row n+1 of the Data sheet).",
    "x": "The observation's inputs, looked up in the Data sheet.",
    "z": "Pre-activation of a hidden unit: Σᵢ xᵢ·w(xᵢ→hⱼ) + b(hⱼ), the weights looked up in the "
         "iteration's row.",
    "h": "The hidden unit's activation applied to z.",
    "u": "Pre-activation of an output: Σⱼ hⱼ·w(hⱼ→yₖ) + b(yₖ).",
    "y": "The network's output.",
    "t": "The target, looked up in the Data sheet.",
    "e": "The error y − t. The loss adds up e²/2N; with a linear output e is also the output's delta.",
    "d": "δ(yₖ) = e·y·(1 − y): the error times the sigmoid's slope.",
    "delta": "δ(hⱼ) = (Σₖ δ(yₖ)·w(hⱼ→yₖ)) × the activation's slope: the error sent back to hidden unit j.",
}


class Network(Exercise):
    name = "network"
    summary = ("a network x1..xn → H hidden units → k outputs trained by gradient descent, every weight a "
               "live formula (the lesson's backpropagation net: 2 → 3 → 2)")
    kind = "network"  # which generated data: "network" or "linear"
    params = [
        Param("inputs", "n_inputs", "inputs x1..xn", 2, kind="int", minimum=1, maximum=MAX_UNITS, live=False,
              number_format="0", help="with --data: the file's x columns"),
        Param("hidden", "n_hidden", "hidden units h1..hH", 3, kind="int", minimum=0, maximum=MAX_UNITS,
              live=False, number_format="0", help="0: no hidden layer (the linear exercise)"),
        Param("outputs", "n_outputs", "outputs y1..yk", 2, kind="int", minimum=1, maximum=10, live=False,
              number_format="0", help="with --data: the file's t columns"),
        Param("activation", "hidden_activation", "hidden activation", "sigmoid", kind="str",
              choices=ACTIVATIONS, live=False),
        Param("output_activation", "output_activation", "output activation", "linear", kind="str",
              choices=OUTPUT_ACTIVATIONS, live=False),
        Param("init", "init_scheme", "initial weights", "uniform:-0.1,0.1", kind="str",
              validator=initializers.parse_spec, live=False,
              help="constant:V, uniform:LO,HI, normal:MEAN,STD, xavier-uniform, xavier-normal, he-uniform, "
                   "he-normal"),
        Param("bias_init", "bias_init_scheme", "initial biases", "constant:0", kind="str",
              validator=initializers.parse_spec, live=False, help="same schemes as --init"),
        Param("seed", "seed", "seed of every random draw", 1, kind="int", minimum=0, maximum=2**63 - 1,
              live=False, number_format="0", help="numpy default_rng(seed): data; default_rng((seed, 1)): weights"),
        Param("observations", "observations", "observations N", 20, kind="int", minimum=1, maximum=EXCEL_ROWS,
              live=False, number_format="0", help="with --data: the file's rows"),
        Param("lr", "learning_rate", "η, learning rate", 0.5, minimum=0.0),
        Param("steps", "steps", "number of steps T", 200, kind="int", minimum=1, maximum=EXCEL_ROWS,
              live=False, number_format="0", help="gradient-descent updates: iterations 0..T"),
        Param("data", "data_file", "data file", None, kind="path", in_workbook=False,
              help="CSV with a header of x1..xn and t1..tk, one row per observation"),
        Param("init_weights", "weights_file", "initial weights file", None, kind="path", in_workbook=False,
              help='JSON {"W1": [[...]], "b1": [...], "W2": [[...]], "b2": [...]}'),
        Param("data_source", "data_source", "data", "generated", kind="str", cli=False, live=False),
        Param("loss_tolerance", "loss_tolerance", "converged: relative change of the loss per step", 1e-3,
              minimum=0.0, number_format="0.0E+00",
              help="--optimizers summary: steps until every step changes the loss by at most this fraction"),
        *optimizer_params(),
    ]
    presets: dict[str, dict[str, Any]] = {}
    # Per-student variants (template --roster): one seed per student, so each has their own
    # generated data and initial weights (a --data or --init-weights file stays the class's).
    variation = {"seed": "a whole number from 1 to 999,999: the student's own generated data and initial "
                         "weights"}

    def variant(self, rng: Any, params: dict[str, Any]) -> dict[str, Any]:
        p = dict(params)
        p["seed"] = rng.randint(1, 999_999)
        return p

    # -------------------------------------------------------------- parameters

    def shape(self, p: dict[str, Any]) -> Shape:
        return Shape(p["inputs"], p.get("hidden", 0), p["outputs"])

    def runs(self, p: dict[str, Any]) -> list[Run]:
        if p.get("optimizers"):  # one run per optimizer, from the same data and initial weights
            return [Run(name, f"Iterations {name}", f"Passes {name}", p["init"], p["bias_init"], optimizer=name)
                    for name in p["optimizers"].split(",")]
        return [Run("", "Iterations", "Passes", p["init"], p["bias_init"])]

    def resolve(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        values = dict(values or {})
        data = values.pop("_data", None)
        weights = values.pop("_weights", None)
        explicit = {k for k, v in values.items() if v is not None}
        p = super().resolve(values)
        if p.get("data") is not None:
            path = p["data"]
            x, t = load_csv(path)
            found = {"inputs": x.shape[1], "outputs": t.shape[1], "observations": x.shape[0]}
            for key, value in found.items():
                if key in explicit and p[key] != value:
                    raise ValueError(f"--{key} {p[key]}, but --data {Path(path).name} has {value}")
                p[key] = value
            data = (pack(round15(x)), pack(round15(t)))
            p["data_source"] = f"file {Path(path).name}"
            p["data"] = None
        if not (p["data_source"] == "generated" or p["data_source"].startswith("file ")):
            raise ValueError(f"data_source must be 'generated' or 'file NAME', got {p['data_source']!r}")
        self.validate(p)
        if p.get("init_weights") is not None:
            path = p["init_weights"]
            runs = self.runs(p)
            arrays = load_weights(path, self.shape(p).shapes())
            weights = tuple({k: pack(round15(v)) for k, v in arrays.items()} for _ in runs)
            p["init"] = p["bias_init"] = f"file:{Path(path).name}"
            p["init_weights"] = None
        if data is not None:
            p["_data"] = data
        if weights is not None:
            p["_weights"] = weights
        return p

    def validate(self, p: dict[str, Any]) -> None:
        rows = (p["steps"] + 1) * p["observations"] + 1
        if rows > EXCEL_ROWS:
            raise ValueError(f"(steps + 1) × observations = {rows - 1} rows of passes; a sheet holds "
                             f"{EXCEL_ROWS - 1}: fewer steps or observations")

    def public(self, p: dict[str, Any]) -> dict[str, Any]:
        """The parameters written to the workbook's metadata (the arrays live on its sheets)."""
        return {k: v for k, v in p.items() if not k.startswith("_")}

    def arrays(self, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
        """(x, t, initial weights per run): given, or generated from the seed."""
        shape = self.shape(p)
        if "_data" in p:
            x, t = (np.array(a, dtype=float) for a in p["_data"])
        elif p["data_source"] == "generated":
            x, t = generated_data(self.kind, shape.inputs, shape.outputs, p["observations"], p["seed"])
        else:
            raise ValueError(f"the data ({p['data_source']}) must come from the workbook")
        runs = self.runs(p)
        if "_weights" in p:
            initial = [{k: np.array(v, dtype=float) for k, v in w.items()} for w in p["_weights"]]
            if len(initial) != len(runs):
                raise ValueError("initial weights: one set per run expected")
        else:
            initial = [drawn_weights(shape, r.init, r.bias_init, p["seed"]) for r in runs]
        if x.shape != (p["observations"], shape.inputs) or t.shape != (p["observations"], shape.outputs):
            raise ValueError(f"data of shape {x.shape} / {t.shape} does not match the parameters")
        for w in initial:
            for k, s in shape.shapes().items():
                if np.shape(w.get(k)) != s:
                    raise ValueError(f"initial {k} must have shape {s}, got {np.shape(w.get(k))}")
        return x, t, initial

    # -------------------------------------------------------------- workbook inputs

    def from_workbook(self, generated: dict[str, Any], workbook: Any
                      ) -> tuple[dict[str, Any], list[str], Layout | None]:
        """Learning rate from its named cell, the data from the Data sheet, the initial weights from
        row 0 of every iterations sheet: all of them inputs a person may change."""
        cells = self._parameter_cells(generated)
        inputs = {}
        try:
            sheet = workbook.sheet("Parameters")
        except KeyError:
            raise ValueError("no Parameters sheet") from None
        for c in cells:
            if c.name and c.style == "input":
                inputs[c.name] = sheet.values.get((c.row, c.col))
        params, notes = self.from_inputs(generated, inputs)
        shape = self.shape(params)
        n, k, N = shape.inputs, shape.outputs, params["observations"]
        data = _block(workbook, "Data", 2, 2, N, n + k)
        x, t = data[:, :n], data[:, n:]
        if params["data_source"] == "generated" and "_data" not in generated:
            gx, gt = generated_data(self.kind, n, k, N, params["seed"])
            if not (np.array_equal(gx, x) and np.array_equal(gt, t)):
                notes.append(f"the Data sheet differs from the data generated with seed {params['seed']}: "
                             "the reference uses the workbook's data")
        params["_data"] = (pack(x), pack(t))
        slots = shape.slots()
        initial = []
        for run in self.runs(params):
            row0 = _block(workbook, run.iterations, 2, 2, 1, len(slots))[0]
            w = {name: np.zeros(s) for name, s in shape.shapes().items()}
            for slot, v in zip(slots, row0):
                w[slot.array][slot.index] = v
            initial.append({name: pack(a) for name, a in w.items()})
        if "_weights" not in generated and all(not r.init.startswith("file:") for r in self.runs(params)):
            drawn = [{kk: pack(v) for kk, v in drawn_weights(shape, r.init, r.bias_init, params["seed"]).items()}
                     for r in self.runs(params)]
            for run, a, b in zip(self.runs(params), drawn, initial):
                if a != b:
                    notes.append(f"initial weights on {run.iterations} differ from the generated ones "
                                 f"({run.init}, seed {params['seed']}): the reference uses the workbook's")
        params["_weights"] = tuple(initial)
        return params, notes, self.layout(params)

    def report_notes(self, layout: Layout) -> list[str]:
        from ..symmetry import describe, symmetric_units

        notes = []
        tables = [sl for sl in layout.sheets if sl.table is not None and sl.name in
                  {r.iterations for r in self.runs(layout.params)}]
        for sl in tables:
            assert sl.table is not None
            frame = {c.header: c.values for c in sl.table.columns}
            for group in symmetric_units(frame):
                text = describe(group, layout.params.get("hidden", 0))
                notes.append(f"{sl.name}: {text}" if len(tables) > 1 else text)
        return notes

    # -------------------------------------------------------------- layout

    def title(self, p: dict[str, Any]) -> str:
        s = self.shape(p)
        if s.hidden == 0:
            return f"Gradient descent on y = x·W + b ({s.inputs} inputs, {s.outputs} output{'s' * (s.outputs > 1)})"
        return (f"Backpropagation: {s.inputs} inputs → {s.hidden} {p['activation']} hidden units → "
                f"{s.outputs} {p.get('output_activation', 'linear')} outputs")

    def _parameter_cells(self, p: dict[str, Any]) -> list[Cell]:
        cells = [Cell(1, 1, self.title(p), style="title"),
                 Cell(2, 1, "The blue cell is an input: change the learning rate and every table recalculates. "
                            "The other values shape the tables: generate again to change them.", style="note"),
                 Cell(3, 1, "parameter", style="header"), Cell(3, 2, "value", style="header"),
                 Cell(3, 3, "note", style="header")]
        row = 4
        hidden = p.get("hidden", 0)
        hyper, used = {h.key for h in ALL_HYPER}, used_keys(p)
        for prm in self.params:
            if not prm.in_workbook:
                continue
            if hidden == 0 and prm.key == "activation":
                continue
            if (prm.key in hyper and prm.key not in used) or (prm.key == "optimizer" and p.get("optimizers")):
                continue
            if prm.key == "loss_tolerance" and not p.get("optimizers"):  # only the comparison's summary reads it
                continue
            value = p[prm.key]
            style = "input" if prm.live else "result"
            if isinstance(value, str):
                cells.append(Cell(row, 2, value, name=prm.name, style=style))
            else:
                cells.append(Cell(row, 2, float(value), name=prm.name, style=style,
                                  number_format=prm.number_format))
            cells.append(Cell(row, 1, prm.label, style="label"))
            if prm.help:
                cells.append(Cell(row, 3, prm.help, style="note"))
            row += 1
        return cells

    def layout(self, p: dict[str, Any]) -> Layout:
        shape = self.shape(p)
        x, t, initial = self.arrays(p)
        runs = self.runs(p)
        params_sheet = SheetLayout("Parameters", cells=self._parameter_cells(p), widths={1: 26, 2: 20, 3: 70},
                                   tab_color="#4472C4")
        charts_sheet = SheetLayout("Charts", tab_color="#70AD47", fit=(1, 1))
        run_sheets: list[SheetLayout] = []
        about_tables: list[tuple[str, Table]] = []
        tables: list[Table] = []
        for r_i, run in enumerate(runs):
            trace = train(x, t, initial[r_i], shape, p.get("activation", "linear"), p.get("output_activation", "linear"),
                          p["lr"], p["steps"], optimizer=run.optimizer or p.get("optimizer") or "sgd",
                          schedule=p.get("schedule") or "constant", hp=hyper_values(p))
            it_table, ps_table = self._tables(p, shape, run, trace, summary_row=r_i + 2 if p.get("optimizers") else None)
            # wide tables print at their natural size over several pages (one page wide is unreadable)
            it_sheet = SheetLayout(run.iterations, table=it_table, freeze=(2, 2), fit=None)
            ps_sheet = SheetLayout(run.passes, table=ps_table, freeze=(2, 3), fit=None)
            run_sheets += [it_sheet, ps_sheet]
            if r_i == 0:
                about_tables = [(run.iterations, it_table), (run.passes, ps_table)]
            charts_sheet.charts += self._charts(shape, run, r_i, len(runs))
            tables.append(it_table)
        data_sheet = SheetLayout("Data", table=self._data_table(x, t), freeze=(2, 2), tab_color="#A5A5A5")
        about = self._about(p, shape, runs, about_tables)
        summary = [self._summary(p, runs, tables)] if p.get("optimizers") else []
        sheets = [params_sheet, *summary, charts_sheet, *run_sheets, data_sheet, about]
        return Layout(self.name, self.public(p), sheets, main_sheet="Summary" if summary else runs[0].iterations,
                      title=self.title(p), long_sheet=runs[0].passes)

    def _summary(self, p: dict[str, Any], runs: list[Run], tables: list[Table]) -> SheetLayout:
        """Comparing optimizers: a row per run (the loss it starts from, ends at, its lowest) and one chart."""
        sheet = SheetLayout("Summary", widths={1: 12, 2: 52, 3: 16, 4: 16, 5: 16, 6: 22}, freeze=(2, 1),
                            heights={1: 45},
                            tab_color="#70AD47")
        heads = ["optimizer", "update", "loss at iteration 0", "loss after the last step", "lowest loss",
                 "steps until the loss settles (changes ≤ tolerance per step)"]
        sheet.cells += [Cell(1, j, h, style="header") for j, h in enumerate(heads, start=1)]
        last = p["steps"] + 2
        for r, (run, table) in enumerate(zip(runs, tables), start=2):
            col = table.columns[table.column_index("loss") - 1]
            letter = col_letter(table.column_index("loss"))
            q = quote(run.iterations)
            loss = col.values
            scale = col.scale if col.scale is not None else np.abs(loss)
            lowest = float(np.min(loss)) if np.all(np.isfinite(loss)) else float("nan")
            sheet.cells += [
                Cell(r, 1, run.optimizer), Cell(r, 2, OPTIMIZERS[run.optimizer].summary),
                Cell(r, 3, float(loss[0]), formula=f"={q}!{letter}2", number_format="0.000000",
                     scale=float(scale[0])),
                Cell(r, 4, float(loss[-1]), formula=f"={q}!{letter}{last}", number_format="0.000000",
                     scale=float(scale[-1])),
                Cell(r, 5, lowest, formula=f"=MIN({q}!${letter}$2:${letter}${last})", number_format="0.000000",
                     scale=float(np.nanmax(scale)) if np.any(np.isfinite(scale)) else None),
            ]
            unsettled = table.columns[table.column_index("unsettled") - 1].values
            u_letter = col_letter(table.column_index("unsettled"))
            settled: Any = ("diverged" if not np.all(np.isfinite(unsettled)) else
                            "not reached" if np.max(unsettled) > p["steps"] else float(np.max(unsettled)))
            rng = f"{q}!${u_letter}$2:${u_letter}${last}"
            sheet.cells.append(Cell(r, 6, settled, formula=f'=IFERROR(IF(MAX({rng})>steps,"not reached",MAX({rng})),'
                                                           f'"diverged")', number_format="0"))
        sheet.cells.append(Cell(len(runs) + 3, 1, CONVERGED, style="note"))
        sheet.charts.append(Chart("Loss by iteration, every optimizer (log scale)",
                                  [Series(run.optimizer, run.iterations, "loss") for run in runs],
                                  y_title="loss L", anchor=f"A{len(runs) + 5}", log_y=True))
        return sheet

    def _data_table(self, x: np.ndarray, t: np.ndarray) -> Table:
        N = x.shape[0]
        cols = [Column("observation", "observation", np.arange(1, N + 1, dtype=float), number_format="0",
                       width=12, explanation="n, the row of the observation.")]
        cols += [Column(f"x{i + 1}", f"x{i + 1}", x[:, i], width=12, explanation=f"input x{i + 1}")
                 for i in range(x.shape[1])]
        cols += [Column(f"t{k + 1}", f"t{k + 1}", t[:, k], width=12, explanation=f"target t{k + 1}")
                 for k in range(t.shape[1])]
        return Table(cols)

    def _tables(self, p: dict[str, Any], shape: Shape, run: Run, tr: Trace, summary_row: int | None = None
                ) -> tuple[Table, Table]:
        n, h, k = shape.inputs, shape.hidden, shape.outputs
        N, T = p["observations"], p["steps"]
        act, out_act = p.get("activation", "linear"), p.get("output_activation", "linear")
        it_q, ps_q = quote(run.iterations), quote(run.passes)
        slots = shape.slots()
        weight_col = {s.key: 2 + i for i, s in enumerate(slots)}

        # Lookups address bounded columns (Iterations!$B$1:$B$202, not $B:$B): the same O(1) INDEX in
        # Excel and LibreOffice, but Gnumeric recalculates whole-column references in time growing with
        # the square of the iterations (measured: 250 iterations × 100 observations, 68 s vs 19 s).
        it_end, data_end, ps_end = T + 2, N + 1, (T + 1) * N + 1

        def W(key: str) -> str:
            letter = col_letter(weight_col[key])
            return f"INDEX({it_q}!${letter}$1:${letter}${it_end},{{iteration}}+2)"

        # ---- Passes: one row per (iteration, observation)
        pcols: list[Column] = [
            Column("iteration", "iteration", np.repeat(np.arange(T + 1, dtype=float), N), number_format="0",
                   width=9, explanation=_ABOUT_PASSES["iteration"]),
            Column("observation", "observation", np.tile(np.arange(1, N + 1, dtype=float), T + 1),
                   number_format="0", width=11, explanation=_ABOUT_PASSES["observation"]),
        ]

        def pcol(key: str, header: str, formula: str, about: str, fmt: str = "0.000000") -> None:
            pcols.append(Column(key, header, tr.passes[key].ravel(), formula=formula, number_format=fmt,
                                width=11, explanation=about,
                                scale=tr.pass_scale[key].ravel() if key in tr.pass_scale else None))

        for i in range(n):
            letter = col_letter(2 + i)
            pcol(f"x{i + 1}", f"x{i + 1}", f"=INDEX(Data!${letter}$1:${letter}${data_end},{{observation}}+1)",
                 _ABOUT_PASSES["x"])
        for j in range(h):
            terms = "+".join(f"{{x{i + 1}}}*{W(f'w1_{i + 1}_{j + 1}')}" for i in range(n))
            pcol(f"z{j + 1}", f"z(h{j + 1})", f"={terms}+{W(f'b1_{j + 1}')}", _ABOUT_PASSES["z"])
        for j in range(h):
            z = f"{{z{j + 1}}}"
            formula = {"sigmoid": f"=1/(1+EXP(-{z}))", "tanh": f"=TANH({z})", "relu": f"=MAX(0,{z})",
                       "linear": f"={z}"}[act]
            pcol(f"h{j + 1}", f"h{j + 1}", formula, _ABOUT_PASSES["h"] + f" ({act})")
        for o in range(k):
            if h:
                terms = "+".join(f"{{h{j + 1}}}*{W(f'w2_{j + 1}_{o + 1}')}" for j in range(h))
                bias = W(f"b2_{o + 1}")
            else:
                terms = "+".join(f"{{x{i + 1}}}*{W(f'w_{i + 1}_{o + 1}')}" for i in range(n))
                bias = W(f"b_{o + 1}")
            if out_act == "sigmoid":
                pcol(f"u{o + 1}", f"u(y{o + 1})", f"={terms}+{bias}", _ABOUT_PASSES["u"])
        for o in range(k):
            if out_act == "sigmoid":
                pcol(f"y{o + 1}", f"y{o + 1}", f"=1/(1+EXP(-{{u{o + 1}}}))", _ABOUT_PASSES["y"] + " (sigmoid)")
            else:
                if h:
                    terms = "+".join(f"{{h{j + 1}}}*{W(f'w2_{j + 1}_{o + 1}')}" for j in range(h))
                    bias = W(f"b2_{o + 1}")
                else:
                    terms = "+".join(f"{{x{i + 1}}}*{W(f'w_{i + 1}_{o + 1}')}" for i in range(n))
                    bias = W(f"b_{o + 1}")
                pcol(f"y{o + 1}", f"y{o + 1}", f"={terms}+{bias}",
                     _ABOUT_PASSES["y"] + " (linear): Σ inputs × weights + bias")
        for o in range(k):
            letter = col_letter(2 + n + o)
            pcol(f"t{o + 1}", f"t{o + 1}", f"=INDEX(Data!${letter}$1:${letter}${data_end},{{observation}}+1)",
                 _ABOUT_PASSES["t"])
        for o in range(k):
            pcol(f"e{o + 1}", f"e{o + 1}", f"={{y{o + 1}}}-{{t{o + 1}}}", _ABOUT_PASSES["e"])
        if out_act == "sigmoid":
            for o in range(k):
                y = f"{{y{o + 1}}}"
                pcol(f"d{o + 1}", f"δ(y{o + 1})", f"={{e{o + 1}}}*{y}*(1-{y})", _ABOUT_PASSES["d"])
        out_delta = "d" if out_act == "sigmoid" else "e"
        for j in range(h):
            s = "+".join(f"{{{out_delta}{o + 1}}}*{W(f'w2_{j + 1}_{o + 1}')}" for o in range(k))
            hj, zj = f"{{h{j + 1}}}", f"{{z{j + 1}}}"
            formula = {"sigmoid": f"=({s})*{hj}*(1-{hj})", "tanh": f"=({s})*(1-{hj}^2)",
                       "relu": f"=({s})*IF({zj}>0,1,0)", "linear": f"={s}"}[act]
            pcol(f"delta{j + 1}", f"δ(h{j + 1})", formula, _ABOUT_PASSES["delta"])
        passes = Table(pcols)

        def prange(key: str) -> str:
            letter = col_letter(passes.column_index(key))
            column = f"{ps_q}!${letter}$1:${letter}${ps_end}"
            return f"INDEX({column},{{first}}):INDEX({column},{{last}})"

        # ---- Iterations: one row per iteration
        icols: list[Column] = [Column("iteration", "iteration", np.arange(T + 1, dtype=float), number_format="0",
                                      width=9, explanation="k, the number of updates so far. Row 0 holds the "
                                                           "initial weights.")]
        opt = OPTIMIZERS[run.optimizer or p.get("optimizer") or "sgd"]
        schedule = SCHEDULES[p.get("schedule") or "constant"]
        lr_ref = "learning_rate" if schedule.formula is None else "{eta}"
        update = opt.update_formula()
        for s in slots:
            at = (slice(None), *s.index)
            values = tr.weights[s.array][at]
            icols.append(Column(s.key, s.header, values, head=[float(values[0])],
                                formula=fill(update, s.key, f"g_{s.key}", lr_ref), width=11,
                                scale=tr.weight_scale[s.array][at],
                                explanation=f"{s.header}: row 0 the initial value, then the previous row's value "
                                            + ("minus η × the previous row's gradient." if opt.name == "sgd" else
                                               f"minus the previous row's {opt.title} step.")))
        if schedule.formula is not None:  # after the weights: they stay in columns B.. (inputs read back there)
            icols.append(Column("eta", "η_k", tr.rates, formula=schedule.formula.replace("{k}", "{iteration}"),
                                number_format="0.000E+00", width=11,
                                explanation=f"The learning rate of iteration k ({schedule.name} schedule: "
                                            f"{schedule.summary})."))
        e_first, e_last = col_letter(passes.column_index("e1")), col_letter(passes.column_index(f"e{k}"))
        icols.append(Column("loss", "loss L", tr.loss,
                            formula=f"=SUMSQ(INDEX({ps_q}!${e_first}$1:${e_first}${ps_end},{{first}}):"
                                    f"INDEX({ps_q}!${e_last}$1:${e_last}${ps_end},{{last}}))/(2*observations)",
                            number_format="0.000000", width=12, scale=tr.loss_scale,
                            explanation="L = Σ e² / 2N over the iteration's rows of the passes sheet, every "
                                        "output's error."))
        for s in slots:
            if s.array in ("W1", "W2", "W"):
                if s.array == "W1":
                    a, d = f"x{s.index[0] + 1}", f"delta{s.index[1] + 1}"
                elif s.array == "W2":
                    a, d = f"h{s.index[0] + 1}", f"{out_delta}{s.index[1] + 1}"
                else:
                    a, d = f"x{s.index[0] + 1}", f"{out_delta}{s.index[1] + 1}"
                formula = f"=SUMPRODUCT({prange(a)},{prange(d)})/observations"
                words = f"mean of {passes.columns[passes.column_index(a) - 1].header} × " \
                        f"{passes.columns[passes.column_index(d) - 1].header}"
            else:
                d = f"delta{s.index[0] + 1}" if s.array == "b1" else f"{out_delta}{s.index[0] + 1}"
                formula = f"=SUM({prange(d)})/observations"
                words = f"mean of {passes.columns[passes.column_index(d) - 1].header}"
            icols.append(Column(f"g_{s.key}", f"∂L/∂{s.header}", tr.grads[s.array][(slice(None), *s.index)],
                                formula=formula, number_format="0.000E+00", width=12,
                                scale=tr.grad_scale[s.array][(slice(None), *s.index)],
                                explanation=f"∂L/∂{s.header}: {words} over the iteration's rows of the passes "
                                            "sheet."))
        if opt.name != "sgd":  # the optimizer's state and step for every weight, after the gradients
            for sc in opt.columns():
                for s in slots:
                    at = (slice(None), *s.index)
                    icols.append(Column(state_key(sc.state, s.key), sc.header.format(label=s.header),
                                        tr.states[sc.state][s.array][at], head=[fill(sc.head, s.key, f"g_{s.key}",
                                                                                     lr_ref)],
                                        formula=fill(sc.formula, s.key, f"g_{s.key}", lr_ref),
                                        number_format=sc.number_format, width=12,
                                        scale=tr.state_scale[sc.state][s.array][at],
                                        explanation=f"{sc.explanation} ({opt.title}, one column per weight)"))
        ks = np.arange(T + 1, dtype=float)
        icols.append(Column("first", "first row in passes", 2 + ks * N, formula="=2+{iteration}*observations",
                            number_format="0", width=10,
                            explanation="The first row of this iteration's block on the passes sheet."))
        icols.append(Column("last", "last row in passes", 1 + (ks + 1) * N, formula="={first}+observations-1",
                            number_format="0", width=10,
                            explanation="The last row of the block: the sums above run from first to last."))
        if summary_row is not None:  # a comparison: the Summary's steps to converge read this column
            icols.append(_unsettled_column(tr.loss, p["loss_tolerance"], ks))
        return Table(icols), passes

    def _charts(self, shape: Shape, run: Run, index: int, count: int) -> list[Chart]:
        suffix = f" — {run.label}" if run.label else ""
        # one run: loss and weights side by side; several: a column of charts per run
        loss_at, weights_at = ("A2", "L2") if count == 1 else (f"{'AL'[index % 2]}{2 + 40 * (index // 2)}",
                                                               f"{'AL'[index % 2]}{22 + 40 * (index // 2)}")
        charts = [Chart(f"Loss by iteration{suffix}", [Series("loss L", run.iterations, "loss")],
                        y_title="loss L", anchor=loss_at, log_y=True)]
        if shape.hidden:
            series = []
            for j in range(min(shape.hidden, MAX_CHART_UNITS)):
                series += [Series(f"w(x{i + 1}→h{j + 1})", run.iterations, f"w1_{i + 1}_{j + 1}")
                           for i in range(shape.inputs)]
                series.append(Series(f"b(h{j + 1})", run.iterations, f"b1_{j + 1}"))
            title = f"Incoming weights of every hidden unit{suffix}"
        else:
            series = [Series(s.header, run.iterations, s.key) for s in shape.slots()]
            title = f"Weights and biases by iteration{suffix}"
        charts.append(Chart(title, series, y_title="weight", anchor=weights_at))
        return charts

    def _about(self, p: dict[str, Any], shape: Shape, runs: list[Run], tables: list[tuple[str, Table]]
               ) -> SheetLayout:
        about = SheetLayout("About", widths={1: 24, 2: 110})
        it, ps = runs[0].iterations, runs[0].passes
        hidden = shape.hidden
        model = ("y = x·W + b: every output is a weighted sum of the inputs plus a bias (no hidden layer)."
                 if hidden == 0 else
                 f"Inputs x1..x{shape.inputs} → {hidden} hidden units h = {p['activation']}(Σ x·w + b) → "
                 f"{shape.outputs} outputs y = {p.get('output_activation', 'linear')}(Σ h·w + b).")
        if p["data_source"] == "generated":
            data = ("Generated with numpy default_rng(seed): " +
                    ("x ~ U(−10, 10), noise ~ U(−1, 1), t_k = Σᵢ cᵢ·xᵢ + 5·k + noise with c = (2, −3, 2, …) "
                     "(the course's minimal example: t = 2x − 3z + 5 + noise, with x1 = x and x2 = z)."
                     if self.kind == "linear" else "x ~ U(−1, 1), t_k = sin(x1 + k·xn)."))
        else:
            data = f"Read from {p['data_source'][5:]}."
        lines = [
            ("What this is", f"{self.title(p)}, trained by full-batch gradient descent, generated by gdsheet. "
                             "Every number in the tables is a live formula."),
            ("The model", model),
            ("The loss", "L = (1/2N) · Σₙ Σₖ (yₙₖ − tₙₖ)²: the squared errors of every observation and output, "
                         "divided by 2 and by the number of observations N."),
            ("The update", "Every weight and bias moves against its gradient, all in parallel from the "
                           "gradients of the same iteration: w_k = w_{k−1} − η · ∂L/∂w at iteration k−1."),
            ("Backpropagation", "The output's error δ(y) = (y − t) × the output activation's slope; a hidden "
                                "unit's δ(h) = Σₖ δ(yₖ)·w(h→yₖ) × the hidden activation's slope. Each gradient "
                                "is the mean over the observations of (what goes into the weight) × (the δ of "
                                "the unit it feeds): ∂L/∂w(a→b) = mean(a · δ(b)), ∂L/∂b(u) = mean(δ(u))."),
            ("Activations", "sigmoid(z) = 1/(1+e^−z), slope h·(1−h); tanh, slope 1−h²; relu = max(0, z), slope "
                            "1 where z > 0; linear, slope 1."),
            ("Sheets", f"{it}: one row per iteration, the weights, the loss and the gradients. {ps}: one row per "
                       "(iteration, observation), the forward and backward pass. Data: the observations. "
                       "Charts: the loss and the hidden units' incoming weights by iteration. Parameters: the "
                       "learning rate (named learning_rate) and how the workbook was made."),
            ("How the sheets meet", f"A row of {ps} looks up its iteration's weights with "
                                    f"INDEX({quote(it)}!$B$1:$B$…, iteration+2) (row k+2 holds iteration k) and "
                                    "its observation with INDEX(Data!$B$1:$B$…, observation+1). A row of "
                                    f"{it} adds up its own block of {ps} (rows first..last) with "
                                    "SUMPRODUCT(INDEX(..,first):INDEX(..,last), …). Every cell does O(1) or O(N) "
                                    "work, so recalculation grows linearly with the number of iterations."),
            ("Initialization", "; ".join(f"{r.label + ': ' if r.label else ''}weights {r.init}, biases "
                                         f"{r.bias_init}" for r in runs) + f"; seed {p['seed']}. "
                               "If every weight starts at the same constant, all hidden units compute the same "
                               "thing, get the same gradient and stay identical at every iteration: the network "
                               "learns like a single hidden unit. Random starts break the symmetry."),
            ("Data", data),
        ]
        if p.get("optimizers"):
            lines.append(("Summary sheet", "One row per optimizer: the loss it starts from, ends at, its lowest. "
                                           + CONVERGED))
        about.cells.append(Cell(1, 1, "About this workbook", style="title"))
        r = 3

        def line(key: str, text: str) -> None:
            nonlocal r
            about.cells.append(Cell(r, 1, key, style="label"))
            about.cells.append(Cell(r, 2, text, style="text"))
            about.heights[r] = 15 * max(1, math.ceil(len(text) / 115))  # wrapped lines of a 110-wide column
            r += 1

        for key, text in lines:
            line(key, text)
        for sheet, table in tables:
            r += 1
            about.cells.append(Cell(r, 1, f"{sheet}: column", style="header"))
            about.cells.append(Cell(r, 2, "Meaning (each column holds one formula, filled down)", style="header"))
            r += 1
            if sheet == it:
                weights = [c for c in table.columns if c.head and c.formula and c.key != "unsettled"]
                grads = [c for c in table.columns if c.key.startswith("g_")]
                rest = [c for c in table.columns if c not in weights and c not in grads]
                line(rest[0].header, rest[0].explanation)
                line(f"{weights[0].header} … {weights[-1].header}",
                     "One column per weight and bias, named after where it goes: w(x1→h1) from input x1 to "
                     "hidden unit h1, b(h1) the bias of h1, w(h1→y1) from h1 to output y1. Row 0 holds the "
                     "initial value (an input, like the data); every later row is the previous row's value "
                     f"minus η × the previous row's gradient. Row 3: {_example(weights[0].formula or '', table, 3)}")
                for c in rest[1:2]:
                    line(c.header, c.explanation + f" Row 2: {_example(c.formula or '', table, 2)}")
                line(f"{grads[0].header} …",
                     "The gradient of the loss with respect to each weight: SUMPRODUCT of the passes' column "
                     "that goes into the weight and the delta column of the unit it feeds, over the iteration's "
                     "block, divided by N (for a bias: SUM of the delta column / N). Row 2: "
                     + _example(grads[0].formula or "", table, 2))
                for c in rest[2:]:
                    line(c.header, c.explanation)
                continue
            seen: set[str] = set()
            for col in table.columns:
                group = re.sub(r"\d+$", "", col.key)
                if group in seen:
                    continue
                seen.add(group)
                text = col.explanation
                if col.formula:
                    text += f" Row 2: {_example(col.formula, table, 2)}"
                line(col.header, text)
        return about


CONVERGED = ("Steps to converge: the first iteration from which on every step changes the loss by at most "
             "loss_tolerance of its value, |L_k − L_(k−1)| ≤ loss_tolerance·|L_(k−1)| — the largest value of the "
             "run's last column; \"not reached\" when the last step still changes it more. A slow run settles early too: "
             "read it with the loss it reached.")


def _unsettled_column(loss: np.ndarray, tolerance: float, k: np.ndarray) -> Column:
    """k + 1 while a step still changes the loss by more than tol (relative), else 0 (row 0: 1).

    Its largest value is the number of steps after which the loss has settled: O(1) per row,
    reading only its own and the previous row (a column that read one cell holding the run's
    lowest loss made LibreOffice's grouped calculation fail the whole workbook with #VALUE!
    above ~50k cells — measured), and the summary's MAX is one O(T) scan: the quadratic's
    ``far`` column for the network.
    """
    with np.errstate(invalid="ignore"):
        moved = np.abs(loss[1:] - loss[:-1]) > tolerance * np.abs(loss[:-1])
        fine = np.isfinite(loss[1:]) & np.isfinite(loss[:-1])
        later = np.where(fine, np.where(moved, k[1:] + 1, 0.0), np.nan)
    return Column("unsettled", "k + 1 while |ΔL| > tol·|L|", np.concatenate([[1.0], later]), head=["={iteration}+1"],
                  formula="=IF(ABS({loss}-{loss[-1]})>loss_tolerance*ABS({loss[-1]}),{iteration}+1,0)",
                  number_format="0", width=12,
                  explanation="k + 1 while this step still changed the loss by more than loss_tolerance of its "
                              "previous value, else 0 (row 0: 1, there is no step yet): the largest is the number "
                              "of steps after which the loss has settled.")


def _example(template: str, table: Table, row: int) -> str:
    from .base import render

    return render(template, table, row)


def _block(workbook: Any, sheet_name: str, row: int, col: int, nrows: int, ncols: int) -> np.ndarray:
    """Numbers of a rectangle of constants; ValueError naming the first cell that is not a number."""
    try:
        sheet = workbook.sheet(sheet_name)
    except KeyError:
        raise ValueError(f"no sheet named {sheet_name!r}") from None
    out = np.empty((nrows, ncols))
    values = sheet.values
    for r in range(nrows):
        for c in range(ncols):
            v = values.get((row + r, col + c))
            if v.__class__ is not float or not math.isfinite(v):
                ref = f"{quote(sheet_name)}!{col_letter(col + c)}{row + r}"
                raise ValueError(f"{ref} holds {v!r}, not a number (an input of the exercise)")
            out[r, c] = v
    return out


EXERCISE = Network()
