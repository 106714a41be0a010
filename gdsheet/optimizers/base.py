"""An optimizer described once: its hyperparameters, its state columns, its update.

An optimizer turns the gradient g_k of a parameter θ at iteration k into the
step θ_{k+1} = θ_k − step_k.  In a workbook it is a few columns next to each
parameter: its state after seeing g_k (a velocity, a squared-gradient
accumulator, moment estimates) and the step, each column one formula filled
down; the parameter's own column becomes ``={θ[-1]}-{step[-1]}``.  In numpy it
is :meth:`Optimizer.update`, written operation for operation like the formulas.

The same numpy code also gives the tolerance scale of most columns: run on the
*sizes* of its inputs (|g|, the previous state's scale) instead of their values,
it adds up the magnitudes of the terms that the formulas add — a sum or product
with non-negative coefficients, so this is exactly the sum of absolute terms the
tolerance rule asks for (see gdsheet/tolerance.py).  A quotient or a square root
is not monotone in the sizes — g/(√G + ε) run on sizes divides by √(Σ|g|²),
which is larger than the √G of the values when the gradients cancel, and so
*under*states the error by that ratio (measured: 3,600× the tolerance on a
network's AdaGrad step).  Those columns override :meth:`Optimizer.scales` with
first-order error propagation (:func:`quotient_scale`, :func:`sqrt_scale`).

What neither captures is how an error in θ_k grows through the following
iterations: the next gradient is computed from the perturbed θ.  Gradient
descent with a stable rate contracts such an error, but an adaptive optimizer
whose √G is small takes steps of η/√G ≫ 1/curvature and its trajectory becomes
chaotic — an error of 1e-16 in θ₀ grows to 1e-8 within 40 iterations
(measured on the network, the same growth in numpy alone, LibreOffice and
Gnumeric).  That is a property of the computation, not of any engine: exercises
measure it with a second, perturbed run (``run(..., jitter=δ)``, then
:func:`sensitivity`) and add the growth to every cell's scale.

Exercises call :func:`run` with their gradient function and place the columns
:meth:`Optimizer.columns` describes; nothing else knows which optimizer it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..exercises.base import Param
from ..tolerance import ATOL


@dataclass(frozen=True)
class StateColumn:
    """One column an optimizer adds for a parameter (``{p}``: the parameter's column key)."""

    state: str  # key suffix: the column key is f"{state}_{p}"
    header: str  # with "{label}" for the parameter's label, e.g. "v({label})"
    head: str  # formula of iteration 0 (no previous row)
    formula: str  # formula of later rows; {p}, {g}, {lr}, {self}, {k} are filled in
    explanation: str
    number_format: str = "0.000E+00"


class Optimizer:
    name: str = ""
    title: str = ""
    summary: str = ""
    hyper: list[Param] = []
    state: tuple[str, ...] = ()  # names of the state arrays (also the column key prefixes)

    def reference(self) -> str:
        """The first line of the optimizer module's docstring: where its definition comes from."""
        import sys

        doc = sys.modules[type(self).__module__].__doc__ or self.title
        return doc.strip().splitlines()[0]

    def init(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        return {s: np.zeros(shape) for s in self.state}

    def update(self, state: dict[str, np.ndarray], g: np.ndarray, k: int, lr: float,
               hp: dict[str, float]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(new state, every displayed column including "step") after gradient ``g`` at iteration k."""
        raise NotImplementedError

    def columns(self) -> list[StateColumn]:
        raise NotImplementedError

    def scales(self, sstate: dict[str, np.ndarray], gs: np.ndarray, state: dict[str, np.ndarray],
               shown: dict[str, np.ndarray], g: np.ndarray, k: int, lr: float, hp: dict[str, float]
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(new state scales, every displayed column's scale) of iteration k.

        ``sstate``/``gs`` are the scales of the previous state and of g, ``state``/``shown``/``g``
        the values (``state`` before this update).  The default runs :meth:`update` on the
        sizes — right for sums and products of non-negative coefficients; optimizers that
        divide override it with first-order propagation.
        """
        return self.update(sstate, gs, k, lr, hp)

    def update_formula(self) -> str:
        """The parameter column's formula after iteration 0."""
        return "={p[-1]}-{step[-1]}"


def sqrt_scale(x: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Scale of √x from the scale of x: first order, d√x = dx / (2√x), plus √x's own rounding.

    Near x = 0 the derivative is unbounded; there |√x − √x'| ≤ √|x − x'| bounds it instead, for an
    error of x up to the tolerance ATOL·sx — so the result is finite even at x = 0.
    """
    root = np.sqrt(np.abs(x))
    return sx / (2 * np.maximum(root, np.sqrt(ATOL * sx))) + root


def quotient_scale(a: np.ndarray, sa: np.ndarray, b: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Scale of a/b, first order: d(a/b) = da/b − a·db/b², so |a/b|·(rel(a) + rel(b)) without
    dividing by a (a may be 0).  ``sa`` ≥ |a| makes it cover the division's own rounding."""
    return (sa + np.abs(a) * sb / np.abs(b)) / np.abs(b)


# The error an engine makes in one cell, relative to the cell's scale, when its inputs are exact:
# IEEE doubles round at 1.1e-16, LibreOffice keeps 15 significant digits (1e-15), Gnumeric's extended
# precision is finer.  1e-13 leaves a margin of 100× over the worst of them.  It is the error that
# a trajectory's growth multiplies (:func:`sensitivity`); the tolerance's own ATOL = 1e-9 stays the
# allowance for a cell's own rounding, where a 1e4-fold margin costs nothing.
CELL_ERROR = 1e-13


def sensitivity(values: np.ndarray, shadow: np.ndarray, jitter: float) -> np.ndarray:
    """The scale a cell gains from errors growing along the trajectory, from a perturbed run.

    The perturbed run moved every computed value by ``jitter`` × its scale; it ends |shadow −
    values| away, so errors of CELL_ERROR × scale end |shadow − values|·CELL_ERROR/jitter away:
    as a scale (an error of ATOL·scale), that divided by ATOL.  Where one run overflowed and the
    other did not, the value is as uncertain as it is large.
    """
    factor = CELL_ERROR / (jitter * ATOL)
    with np.errstate(all="ignore"):
        fine, shadow_fine = np.isfinite(values), np.isfinite(shadow)
        grown = np.abs(shadow - values) * factor
        lost = np.abs(np.where(fine, values, shadow)) / jitter
    return np.where(fine & shadow_fine, grown, np.where(fine | shadow_fine, lost, 0.0))


_PLACE = re.compile(r"\{(\w+)(\[-?\d+\])?\}")


def fill(template: str, p: str, g: str, lr: str, k: str = "iteration") -> str:
    """A StateColumn template made concrete for parameter column ``p`` with gradient column ``g``.

    ``{g}`` is the gradient column, ``{p}`` the parameter column, ``{k}`` the
    iteration column, ``{lr}`` the learning rate (a defined name, or a schedule
    column's placeholder), and ``{X}`` / ``{X[-1]}`` for a state or column X of this
    optimizer becomes that column for this parameter.
    """

    def sub(m: re.Match[str]) -> str:
        name, offset = m.group(1), m.group(2) or ""
        if name == "lr":  # a defined name, or a schedule column "{eta}"
            return "{" + lr[1:-1] + offset + "}" if lr.startswith("{") else lr
        target = {"g": g, "p": p, "k": k}.get(name) or state_key(name, p)
        return "{" + target + offset + "}"

    return _PLACE.sub(sub, template)


def dependencies(template: str) -> tuple[set[str], set[str]]:
    """(names read from this row, names read from the row above) in a StateColumn template."""
    now, before = set(), set()
    for m in _PLACE.finditer(template):
        (before if m.group(2) else now).add(m.group(1))
    return now, before


def state_key(state: str, p: str) -> str:
    return f"{state}_{p}"


def run(optimizer: Optimizer, grad: Callable[[np.ndarray], np.ndarray], theta0: np.ndarray, steps: int,
        rates: np.ndarray, hp: dict[str, float], grad_scale: Callable[[np.ndarray], np.ndarray] | None = None,
        jitter: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Iterate ``steps`` times from ``theta0``; every displayed column, and its tolerance scale.

    ``grad(θ)`` is the exercise's gradient (the same operations as its formulas),
    ``rates[k]`` the learning rate used at iteration k, ``grad_scale(θ)`` the size of
    the terms of the gradient (default |g|).  Once a value stops being finite the
    spreadsheet shows #NUM! for it and everything computed from it: numpy's nan
    carries the same outcome.

    ``jitter`` > 0 makes a perturbed run for :func:`sensitivity`: every gradient, step and
    new θ is moved by ``jitter`` × its scale in a random direction (``seed``), as if
    each had been rounded ``jitter``/ε_machine times worse.
    """
    rng = np.random.default_rng(seed) if jitter else None

    def nudge(value: np.ndarray, scale: np.ndarray) -> np.ndarray:
        if rng is None:
            return value
        return value + jitter * np.where(np.isfinite(scale), scale, 0.0) * rng.choice((-1.0, 1.0), np.shape(value))

    theta = np.asarray(theta0, dtype=float).copy()
    n = steps + 1
    columns = optimizer.columns()
    deps = {c.state: dependencies(c.formula) for c in columns}
    head_deps = {c.state: dependencies(c.head)[0] for c in columns}
    cols: dict[str, list[np.ndarray]] = {"theta": [], "grad": []}
    scales: dict[str, list[np.ndarray]] = {"theta": [], "grad": []}
    state = optimizer.init(theta.shape)
    sstate = optimizer.init(theta.shape)
    theta_scale = np.abs(theta)
    theta_bad = ~np.isfinite(theta)
    prev_bad: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for k in range(n):
            g = grad(theta)
            gs = grad_scale(theta) if grad_scale is not None else np.abs(g)
            g = nudge(g, gs)
            before = state
            state, shown = optimizer.update(state, g, k, float(rates[k]), hp)
            sstate, sshown = optimizer.scales(sstate, gs, before, shown, g, k, float(rates[k]), hp)
            shown["step"] = nudge(shown["step"], sshown["step"])
            # an error (#NUM!) in a cell makes every cell that reads it an error, even where
            # numpy would turn inf back into a number (1/inf = 0): follow the formulas' reads
            bad = {"p": theta_bad, "g": theta_bad | ~np.isfinite(g), "k": np.zeros_like(theta_bad),
                   "lr": np.zeros_like(theta_bad)}
            for c in columns:
                now, before = deps[c.state] if k else (head_deps[c.state], set())
                b = ~np.isfinite(shown[c.state])
                for d in now:
                    b = b | bad.get(d, False)
                for d in before:
                    b = b | prev_bad.get(d, False)
                bad[c.state] = b
                shown[c.state] = np.where(b, np.nan, shown[c.state])
            cols["theta"].append(np.where(theta_bad, np.nan, theta))
            cols["grad"].append(np.where(bad["g"], np.nan, g))
            scales["theta"].append(theta_scale)
            scales["grad"].append(gs)
            for c in columns:
                cols.setdefault(c.state, []).append(shown[c.state])
                scales.setdefault(c.state, []).append(np.abs(sshown[c.state]))
            prev_bad = bad
            theta_scale = np.abs(theta) + np.abs(sshown["step"])
            theta = nudge(theta - shown["step"], theta_scale)
            theta_bad = theta_bad | bad["step"] | ~np.isfinite(theta)
            state = {key: np.where(bad.get(key, False), np.nan, value) for key, value in state.items()}
    return {"values": {key: np.array(v) for key, v in cols.items()},
            "scales": {key: np.array(v) for key, v in scales.items()}}
