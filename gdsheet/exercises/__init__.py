"""The exercises gdsheet knows, by name.  Adding one = adding a module and a line here."""

from __future__ import annotations

from .base import Exercise
from .linear import EXERCISE as _linear
from .network import EXERCISE as _network
from .quadratic import EXERCISE as _quadratic
from .symmetry import EXERCISE as _symmetry

EXERCISES: dict[str, Exercise] = {e.name: e for e in (_quadratic, _linear, _network, _symmetry)}


def get(name: str) -> Exercise:
    try:
        return EXERCISES[name]
    except KeyError:
        raise ValueError(f"unknown exercise {name!r} (known: {', '.join(sorted(EXERCISES))})") from None
