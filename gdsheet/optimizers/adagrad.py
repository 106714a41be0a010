"""AdaGrad (Duchi, Hazan and Singer, 2011): a learning rate per parameter.

    G_k = G_{k−1} + g_k²,   θ_{k+1} = θ_k − η·g_k / (√G_k + ε)      (G_{−1} = 0)
"""

from __future__ import annotations

import numpy as np

from ..exercises.base import Param
from .base import Optimizer, StateColumn, quotient_scale, sqrt_scale

EPSILON = Param("epsilon", "epsilon", "ε, keeps the division finite", 1e-8, minimum=0.0,
                number_format="0.0E+00", help="adagrad, rmsprop and adam")


class AdaGrad(Optimizer):
    name = "adagrad"
    title = "AdaGrad"
    summary = "G ← G + g²;  θ ← θ − η·g / (√G + ε)"
    hyper = [EPSILON]
    state = ("G",)

    def columns(self) -> list[StateColumn]:
        return [
            StateColumn("G", "Σg²({label})", "={g}^2", "={G[-1]}+{g}^2",
                        "The sum of all squared gradients so far: steps shrink where slopes were steep."),
            StateColumn("step", "step({label})", "={lr}*{g}/(SQRT({G})+epsilon)",
                        "={lr}*{g}/(SQRT({G})+epsilon)", "η·g / (√G + ε)."),
        ]

    def update(self, state, g, k, lr, hp):
        G = state["G"] + g**2
        return {"G": G}, {"G": G, "step": lr * g / (np.sqrt(G) + hp["epsilon"])}

    def scales(self, sstate, gs, state, shown, g, k, lr, hp):
        sG = sstate["G"] + gs**2  # a sum of squares: its sizes
        return {"G": sG}, {"G": sG, "step": adaptive_step_scale(g, gs, shown["G"], sG, lr, hp["epsilon"])}


def adaptive_step_scale(g: np.ndarray, gs: np.ndarray, S: np.ndarray, sS: np.ndarray, lr: float,
                        epsilon: float) -> np.ndarray:
    """Scale of η·g / (√S + ε) (AdaGrad, RMSProp, Adam's m̂ / √v̂), first order through the
    square root and the division: rel(step) ≈ rel(g) + rel(√S + ε), rel(√S) ≈ rel(S)/2."""
    root = np.sqrt(S)
    return lr * quotient_scale(g, gs, root + epsilon, sqrt_scale(S, sS) + epsilon)


OPTIMIZER = AdaGrad()
