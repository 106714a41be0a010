"""Plain gradient descent: θ_{k+1} = θ_k − η·g_k (Cauchy, 1847)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, StateColumn


class SGD(Optimizer):
    name = "sgd"
    title = "gradient descent"
    summary = "θ ← θ − η·g"

    def columns(self) -> list[StateColumn]:
        return [StateColumn("step", "step η·g({label})", "={lr}*{g}", "={lr}*{g}",
                            "How far the next row moves: the learning rate times the slope.")]

    def update_formula(self) -> str:
        return "={p[-1]}-{lr[-1]}*{g[-1]}"  # the step written out: x_k = x_{k-1} − η·f′(x_{k-1})

    def update(self, state, g, k, lr, hp):
        return state, {"step": lr * g}


OPTIMIZER = SGD()
