"""The course's minimal example: y = x·W + b trained by gradient descent, no hidden layer.

Preset ``minimal-example``: 1000 observations, x and z ~ U(−10, 10), noise ~
U(−1, 1), t = 2x − 3z + 5 + noise; weights and bias ~ U(−0.1, 0.1); η = 0.02;
100 iterations.  The weights approach (2, −3) and the bias creeps toward 5.

The tables are those of :mod:`gdsheet.exercises.network` with no hidden layer
(one module computes both, so "a network without a hidden layer equals the
linear exercise" holds by construction; the tests check it against an
independent matrix computation too).
"""

from __future__ import annotations

from typing import Any

from ..optimizers import optimizer_params
from .base import Param
from .network import Network, Shape

_KEEP = ("inputs", "outputs", "init", "bias_init", "seed", "observations", "lr", "steps", "data", "init_weights",
         "data_source", "loss_tolerance")


def _linear_params() -> list[Param]:
    base = {p.key: p for p in Network.params}
    out = []
    for key in _KEEP:
        prm = base[key]
        if key == "outputs":
            prm = Param(prm.key, prm.name, prm.label, 1, kind="int", minimum=1, maximum=10, live=False,
                        number_format="0", help=prm.help)
        elif key == "init_weights":
            prm = Param(prm.key, prm.name, prm.label, None, kind="path", in_workbook=False,
                        help='JSON {"W": [[...]], "b": [...]}, W[i][k] from input i to output k')
        elif key in ("init", "bias_init"):
            prm = Param(prm.key, prm.name, prm.label, "uniform:-0.1,0.1", kind="str", validator=prm.validator,
                        live=False, help=prm.help)
        elif key == "observations":
            prm = Param(prm.key, prm.name, prm.label, 1000, kind="int", minimum=1, maximum=prm.maximum,
                        live=False, number_format="0", help=prm.help)
        elif key == "lr":
            prm = Param(prm.key, prm.name, prm.label, 0.02, minimum=0.0)
        elif key == "steps":
            prm = Param(prm.key, prm.name, prm.label, 100, kind="int", minimum=1, maximum=prm.maximum,
                        live=False, number_format="0", help=prm.help)
        out.append(prm)
    return out + optimizer_params()  # the minimal example under any optimizer (issue: optimizers)


class Linear(Network):
    name = "linear"
    summary = "the minimal example: y = x·W + b trained by gradient descent (no hidden layer)"
    kind = "linear"
    params = _linear_params()
    presets = {"minimal-example": {"inputs": 2, "outputs": 1, "observations": 1000, "steps": 100, "lr": 0.02,
                                   "init": "uniform:-0.1,0.1", "bias_init": "uniform:-0.1,0.1"}}

    def shape(self, p: dict[str, Any]) -> Shape:
        return Shape(p["inputs"], 0, p["outputs"])


EXERCISE = Linear()
