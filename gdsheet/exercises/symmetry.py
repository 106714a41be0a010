"""The lesson on initialization: the same network trained twice, from a constant and from random weights.

"If all the weights are equal there is no reason for the algorithm to learn
that h1, h2 and h3 are different … some optimization would still take place …
still the weights would remain useless."  The workbook trains the lesson's
2 → 3 → 2 network on the same data twice, side by side:

* **Constant start**: every weight and bias 0.5.  The three hidden units
  compute the same value for every observation, receive the same gradient and
  stay identical at every iteration (the charts show their weights as lines
  that coincide): the network learns like a single hidden unit.
* **Random start**: weights and biases ~ U(−0.1, 0.1) (``--init``), drawn with
  the seed.  The units separate.

``verify`` reports the symmetric units of every run it finds.
"""

from __future__ import annotations

from typing import Any

from ..optimizers import optimizer_params
from .base import Param
from .network import Network, Run

_KEEP = ("inputs", "hidden", "outputs", "activation", "output_activation", "init", "seed", "observations", "lr",
         "steps", "data", "data_source")


def _params() -> list[Param]:
    base = {p.key: p for p in Network.params}
    out = []
    for key in _KEEP:
        prm = base[key]
        if key == "steps":
            prm = Param(prm.key, prm.name, prm.label, 500, kind="int", minimum=1, maximum=prm.maximum, live=False,
                        number_format="0", help=prm.help + " (500: the random start's loss falls well below the "
                                                           "constant start's)")
        if key == "init":
            prm = Param("init", "random_start", "random start: weights and biases", "uniform:-0.1,0.1", kind="str",
                        validator=prm.validator, live=False, help="the second run's scheme (" + prm.help + ")")
        out.append(prm)
        if key == "outputs":
            out.append(Param("constant", "constant_start", "constant start: every weight and bias", 0.5,
                             live=False, number_format="0.000", help="the first run: all weights equal"))
    # one optimizer for both runs (comparing optimizers is the network exercise's --optimizers)
    return out + [prm for prm in optimizer_params() if prm.key != "optimizers"]


class Symmetry(Network):
    name = "symmetry"
    summary = ("the lesson's 2 → 3 → 2 network trained twice on the same data, from constant 0.5 and from "
               "U(−0.1, 0.1): identical hidden units versus units that separate")
    kind = "network"
    params = _params()

    def runs(self, p: dict[str, Any]) -> list[Run]:
        c = f"constant:{p['constant']:.15g}"
        return [Run("constant start", "Constant start", "Constant passes", c, c),
                Run("random start", "Random start", "Random passes", p["init"], p["init"])]

    def validate(self, p: dict[str, Any]) -> None:
        super().validate(p)
        if p["hidden"] < 2:
            raise ValueError("symmetry needs at least 2 hidden units (--hidden)")

    def title(self, p: dict[str, Any]) -> str:
        return "Initialization and symmetry: " + super().title(p)[len("Backpropagation: "):]


EXERCISE = Symmetry()
