"""The exercises gdsheet knows, by name.  Adding one = adding a module and a line here."""

from __future__ import annotations

from .base import Exercise
from .quadratic import EXERCISE as _quadratic

EXERCISES: dict[str, Exercise] = {e.name: e for e in (_quadratic,)}


def get(name: str) -> Exercise:
    try:
        return EXERCISES[name]
    except KeyError:
        raise ValueError(f"unknown exercise {name!r} (known: {', '.join(sorted(EXERCISES))})") from None
