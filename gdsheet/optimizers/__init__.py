"""Optimizers and learning-rate schedules, by name.  A new optimizer is one module and a line here."""

from __future__ import annotations

from .adagrad import OPTIMIZER as _adagrad
from .adam import OPTIMIZER as _adam
from ..exercises.base import Param
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


ALL_HYPER = hyperparameters(list(OPTIMIZERS), "step")


def _optimizer_list(text: str) -> str:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if not names or unknown:
        raise ValueError(f"optimizers: expected a comma-separated list of {', '.join(OPTIMIZERS)}; got {text!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"optimizers: {text!r} names one twice")
    return ",".join(names)


def optimizer_params() -> list[Param]:
    """The parameters every exercise with an optimizer takes: which one(s), the schedule, the hyperparameters."""
    return [
        Param("optimizer", "optimizer", "optimizer", "sgd", kind="str", choices=tuple(OPTIMIZERS), live=False,
              help="the update rule: " + ", ".join(OPTIMIZERS)),
        Param("optimizers", "optimizers", "optimizers to compare", None, kind="str", in_workbook=False,
              validator=_optimizer_list, help="comma-separated: one run per optimizer, with a summary"),
        Param("schedule", "schedule", "learning-rate schedule", "constant", kind="str", choices=tuple(SCHEDULES),
              live=False, help="η_k: " + ", ".join(SCHEDULES)),
        *ALL_HYPER,
    ]


def used_keys(p: dict) -> set[str]:
    """The hyperparameters the chosen optimizer(s) and schedule read (the others stay off the sheet)."""
    names = p["optimizers"].split(",") if p.get("optimizers") else [p.get("optimizer") or "sgd"]
    return {h.key for h in hyperparameters(names, p.get("schedule") or "constant")}


def hyper_values(p: dict) -> dict[str, float]:
    return {h.key: p[h.key] for h in ALL_HYPER}

__all__ = ["OPTIMIZERS", "SCHEDULES", "Optimizer", "Schedule", "StateColumn", "fill", "run", "state_key",
           "hyperparameters", "ALL_HYPER", "optimizer_params", "used_keys", "hyper_values"]
