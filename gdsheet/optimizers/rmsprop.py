"""RMSProp (Tieleman and Hinton, 2012, lecture 6e): AdaGrad with a forgetting average.

    E_k = ρ·E_{k−1} + (1 − ρ)·g_k²,   θ_{k+1} = θ_k − η·g_k / (√E_k + ε)      (E_{−1} = 0)
"""

from __future__ import annotations

import numpy as np

from ..exercises.base import Param
from .adagrad import EPSILON, adaptive_step_scale
from .base import Optimizer, StateColumn

RHO = Param("rho", "rho", "ρ, decay of the squared-gradient average", 0.9, minimum=0.0, maximum=0.999999,
            help="rmsprop")


class RMSProp(Optimizer):
    name = "rmsprop"
    title = "RMSProp"
    summary = "E ← ρ·E + (1 − ρ)·g²;  θ ← θ − η·g / (√E + ε)"
    hyper = [RHO, EPSILON]
    state = ("E",)

    def columns(self) -> list[StateColumn]:
        return [
            StateColumn("E", "avg g²({label})", "=(1-rho)*{g}^2", "=rho*{E[-1]}+(1-rho)*{g}^2",
                        "A moving average of squared gradients."),
            StateColumn("step", "step({label})", "={lr}*{g}/(SQRT({E})+epsilon)",
                        "={lr}*{g}/(SQRT({E})+epsilon)", "η·g / (√E + ε)."),
        ]

    def update(self, state, g, k, lr, hp):
        rho = hp["rho"]
        E = rho * state["E"] + (1 - rho) * g**2
        return {"E": E}, {"E": E, "step": lr * g / (np.sqrt(E) + hp["epsilon"])}

    def scales(self, sstate, gs, state, shown, g, k, lr, hp):
        rho = hp["rho"]
        sE = rho * sstate["E"] + (1 - rho) * gs**2  # non-negative coefficients: its sizes
        return {"E": sE}, {"E": sE, "step": adaptive_step_scale(g, gs, shown["E"], sE, lr, hp["epsilon"])}


OPTIMIZER = RMSProp()
