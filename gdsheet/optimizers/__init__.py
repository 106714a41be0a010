"""Optimizers and learning-rate schedules, by name.  A new optimizer is one module and a line here."""

from __future__ import annotations

from .adagrad import OPTIMIZER as _adagrad
from .adam import OPTIMIZER as _adam
from .base import Optimizer, StateColumn, fill, run, state_key
from .momentum import OPTIMIZER as _momentum
from .nesterov import OPTIMIZER as _nesterov
from .rmsprop import OPTIMIZER as _rmsprop
from .schedules import SCHEDULES, Schedule
from .sgd import OPTIMIZER as _sgd

OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (_sgd, _momentum, _nesterov, _adagrad, _rmsprop, _adam)}


def hyperparameters(names: list[str], schedule: str = "constant") -> list:
    """The hyperparameter Params the given optimizers and schedule use, each once, in a stable order."""
    out, seen = [], set()
    for o in [OPTIMIZERS[n] for n in names]:
        for p in o.hyper:
            if p.key not in seen:
                seen.add(p.key)
                out.append(p)
    for p in SCHEDULES[schedule].hyper:
        if p.key not in seen:
            seen.add(p.key)
            out.append(p)
    return out


ALL_HYPER = hyperparameters(list(OPTIMIZERS), "step") + [
    p for p in SCHEDULES["exponential"].hyper if p.key not in {"decay_rate", "decay_steps"}]

__all__ = ["OPTIMIZERS", "SCHEDULES", "Optimizer", "Schedule", "StateColumn", "fill", "run", "state_key",
           "hyperparameters", "ALL_HYPER"]
