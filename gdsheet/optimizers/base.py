"""An optimizer described once: its hyperparameters, its state columns, its update.

An optimizer turns the gradient g_k of a parameter θ at iteration k into the
step θ_{k+1} = θ_k − step_k.  In a workbook it is a few columns next to each
parameter: its state after seeing g_k (a velocity, a squared-gradient
accumulator, moment estimates) and the step, each column one formula filled
down; the parameter's own column becomes ``={θ[-1]}-{step[-1]}``.  In numpy it
is :meth:`Optimizer.update`, written operation for operation like the formulas.

The same numpy code also gives the tolerance scale of every column: run on the
*sizes* of its inputs (|g|, the previous state's scale) instead of their values,
it adds up the magnitudes of the terms that the formulas add — every update here
combines its terms with non-negative coefficients, so this is exactly the sum of
absolute terms the tolerance rule asks for (see gdsheet/tolerance.py).

Exercises call :func:`run` with their gradient function and place the columns
:meth:`Optimizer.columns` describes; nothing else knows which optimizer it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..exercises.base import Param


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

    def update_formula(self) -> str:
        """The parameter column's formula after iteration 0."""
        return "={p[-1]}-{step[-1]}"


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
        rates: np.ndarray, hp: dict[str, float], grad_scale: Callable[[np.ndarray], np.ndarray] | None = None
        ) -> dict[str, Any]:
    """Iterate ``steps`` times from ``theta0``; every displayed column, and its tolerance scale.

    ``grad(θ)`` is the exercise's gradient (the same operations as its formulas),
    ``rates[k]`` the learning rate used at iteration k, ``grad_scale(θ)`` the size of
    the terms of the gradient (default |g|).  Once a value stops being finite the
    spreadsheet shows #NUM! for it and everything computed from it: numpy's nan
    carries the same outcome.
    """
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
            state, shown = optimizer.update(state, g, k, float(rates[k]), hp)
            sstate, sshown = optimizer.update(sstate, gs, k, float(rates[k]), hp)
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
            theta = theta - shown["step"]
            theta_bad = theta_bad | bad["step"] | ~np.isfinite(theta)
            state = {key: np.where(bad.get(key, False), np.nan, value) for key, value in state.items()}
    return {"values": {key: np.array(v) for key, v in cols.items()},
            "scales": {key: np.array(v) for key, v in scales.items()}}
