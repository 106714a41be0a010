"""Nesterov momentum (Nesterov 1983; Sutskever et al. 2013), in the form PyTorch uses.

    v_k = μ·v_{k−1} + g_k,   θ_{k+1} = θ_k − η·(g_k + μ·v_k)

Sutskever's form evaluates the gradient at a look-ahead point, ϑ + μ·u; with the
change of variables θ = ϑ + μ·u (Bengio et al. 2012) it becomes the update above,
which needs the gradient at the current row only — so it fits a row of a sheet.
"""

from __future__ import annotations

from .base import StateColumn
from .momentum import Momentum


class Nesterov(Momentum):
    """Momentum's velocity; a step that adds the velocity it is about to take."""

    name = "nesterov"
    title = "Nesterov momentum"
    summary = "v ← μ·v + g;  θ ← θ − η·(g + μ·v)"

    def columns(self) -> list[StateColumn]:
        velocity = super().columns()[0]
        return [velocity,
                StateColumn("step", "step η·(g + μv)({label})", "={lr}*({g}+momentum*{v})",
                            "={lr}*({g}+momentum*{v})",
                            "Nesterov's step: the gradient plus the velocity it is about to add (a look ahead).")]

    def update(self, state, g, k, lr, hp):
        state, shown = super().update(state, g, k, lr, hp)
        v = shown["v"]
        return state, {"v": v, "step": lr * (g + hp["momentum"] * v)}


OPTIMIZER = Nesterov()
