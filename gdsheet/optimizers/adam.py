"""Adam (Kingma and Ba, 2015, Algorithm 1), with bias correction.

    m_k = β₁·m_{k−1} + (1 − β₁)·g_k          v_k = β₂·v_{k−1} + (1 − β₂)·g_k²
    m̂_k = m_k / (1 − β₁^t)                   v̂_k = v_k / (1 − β₂^t)          t = k + 1
    θ_{k+1} = θ_k − η·m̂_k / (√v̂_k + ε)
"""

from __future__ import annotations

import numpy as np

from ..exercises.base import Param
from .adagrad import EPSILON, adaptive_step_scale
from .base import Optimizer, StateColumn

BETA1 = Param("beta1", "beta1", "β₁, decay of the first moment", 0.9, minimum=0.0, maximum=0.999999, help="adam")
BETA2 = Param("beta2", "beta2", "β₂, decay of the second moment", 0.999, minimum=0.0, maximum=0.999999,
              help="adam")


class Adam(Optimizer):
    name = "adam"
    title = "Adam"
    summary = "m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η·m̂ / (√v̂ + ε)"
    hyper = [BETA1, BETA2, EPSILON]
    state = ("m", "v")

    def columns(self) -> list[StateColumn]:
        return [
            StateColumn("m", "m({label})", "=(1-beta1)*{g}", "=beta1*{m[-1]}+(1-beta1)*{g}",
                        "First moment: a moving average of gradients."),
            StateColumn("v", "v({label})", "=(1-beta2)*{g}^2", "=beta2*{v[-1]}+(1-beta2)*{g}^2",
                        "Second moment: a moving average of squared gradients."),
            StateColumn("mhat", "m̂({label})", "={m}/(1-beta1^({k}+1))", "={m}/(1-beta1^({k}+1))",
                        "m corrected for starting at 0: divided by 1 − β₁^t, t = k + 1."),
            StateColumn("vhat", "v̂({label})", "={v}/(1-beta2^({k}+1))", "={v}/(1-beta2^({k}+1))",
                        "v corrected for starting at 0: divided by 1 − β₂^t."),
            StateColumn("step", "step({label})", "={lr}*{mhat}/(SQRT({vhat})+epsilon)",
                        "={lr}*{mhat}/(SQRT({vhat})+epsilon)", "η·m̂ / (√v̂ + ε)."),
        ]

    def update(self, state, g, k, lr, hp):
        b1, b2 = hp["beta1"], hp["beta2"]
        m = b1 * state["m"] + (1 - b1) * g
        v = b2 * state["v"] + (1 - b2) * g**2
        mhat = m / (1 - b1 ** (k + 1))
        vhat = v / (1 - b2 ** (k + 1))
        return {"m": m, "v": v}, {"m": m, "v": v, "mhat": mhat, "vhat": vhat,
                                  "step": lr * mhat / (np.sqrt(vhat) + hp["epsilon"])}

    def scales(self, sstate, gs, state, shown, g, k, lr, hp):
        b1, b2 = hp["beta1"], hp["beta2"]
        sm = b1 * sstate["m"] + (1 - b1) * gs
        sv = b2 * sstate["v"] + (1 - b2) * gs**2
        smhat = _corrected_scale(shown["mhat"], sm, b1, k)
        svhat = _corrected_scale(shown["vhat"], sv, b2, k)
        return {"m": sm, "v": sv}, {"m": sm, "v": sv, "mhat": smhat, "vhat": svhat,
                                    "step": adaptive_step_scale(shown["mhat"], smhat, shown["vhat"], svhat, lr,
                                                                hp["epsilon"])}


def _corrected_scale(corrected: np.ndarray, s: np.ndarray, beta: float, k: int) -> np.ndarray:
    """Scale of x / (1 − β^t): 1 − β^t cancels for β near 1 and small t (β^t carries a rounding
    of its own size), so its relative error is β^t / (1 − β^t) roundings — added to x's."""
    power = beta ** (k + 1)
    c = 1 - power
    return s / c + np.abs(corrected) * (power / c + 1)


OPTIMIZER = Adam()
