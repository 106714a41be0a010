"""Momentum (Polyak's heavy ball, 1964, in the velocity form PyTorch uses).

    v_k = μ·v_{k−1} + g_k,   θ_{k+1} = θ_k − η·v_k        (v_{−1} = 0)

With a constant η this is Polyak's θ_{k+1} = θ_k − η·g_k + μ·(θ_k − θ_{k−1}).
"""

from __future__ import annotations

from ..exercises.base import Param
from .base import Optimizer, StateColumn

MOMENTUM = Param("momentum", "momentum", "μ, momentum", 0.9, minimum=0.0, maximum=0.999999,
                 help="momentum and nesterov: the fraction of the velocity kept each step")


class Momentum(Optimizer):
    name = "momentum"
    title = "momentum"
    summary = "v ← μ·v + g;  θ ← θ − η·v"
    hyper = [MOMENTUM]
    state = ("v",)

    def columns(self) -> list[StateColumn]:
        return [
            StateColumn("v", "velocity v({label})", "={g}", "=momentum*{v[-1]}+{g}",
                        "The velocity: a running sum of gradients, the older ones shrunk by μ per step."),
            StateColumn("step", "step η·v({label})", "={lr}*{v}", "={lr}*{v}",
                        "How far the next row moves: the learning rate times the velocity."),
        ]

    def update(self, state, g, k, lr, hp):
        v = hp["momentum"] * state["v"] + g
        return {"v": v}, {"v": v, "step": lr * v}


OPTIMIZER = Momentum()
