"""Learning-rate schedules: the learning rate of iteration k, as one column η_k.

    constant      η_k = η
    exponential   η_k = η·γ^k
    step          η_k = η·γ^⌊k / s⌋
    inverse-time  η_k = η / (1 + γ·k)          (the "1/t" decay)

γ is ``decay_rate``, s is ``decay_steps`` — named input cells like η.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exercises.base import Param

DECAY_RATE = Param("decay_rate", "decay_rate", "γ, decay rate of the schedule", 0.95, minimum=0.0,
                   help="exponential and step: factor per step; inverse-time: η/(1 + γk)")
DECAY_STEPS = Param("decay_steps", "decay_steps", "s, steps between decays", 10, kind="int", minimum=1,
                    number_format="0", help="step schedule")


@dataclass(frozen=True)
class Schedule:
    name: str
    formula: str | None  # the η_k column ({k} the iteration column); None: no column, η itself
    hyper: tuple[Param, ...] = ()
    summary: str = ""

    def rates(self, lr: float, steps: int, hp: dict[str, float]) -> np.ndarray:
        k = np.arange(steps + 1, dtype=float)
        with np.errstate(all="ignore"):
            if self.name == "constant":
                return np.full(steps + 1, lr)
            if self.name == "exponential":
                return lr * hp["decay_rate"] ** k
            if self.name == "step":
                return lr * hp["decay_rate"] ** np.floor(k / hp["decay_steps"])
            if self.name == "inverse-time":
                return lr / (1 + hp["decay_rate"] * k)
        raise ValueError(self.name)


SCHEDULES = {s.name: s for s in (
    Schedule("constant", None, (), "η_k = η"),
    Schedule("exponential", "=learning_rate*decay_rate^{k}", (DECAY_RATE,), "η_k = η·γ^k"),
    Schedule("step", "=learning_rate*decay_rate^INT({k}/decay_steps)", (DECAY_RATE, DECAY_STEPS),
             "η_k = η·γ^⌊k/s⌋"),
    Schedule("inverse-time", "=learning_rate/(1+decay_rate*{k})", (DECAY_RATE,), "η_k = η / (1 + γ·k)"),
)}
