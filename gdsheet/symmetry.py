"""Hidden units that stay identical: the symmetry a constant initialization cannot break.

    >>> from gdsheet.symmetry import symmetric_units
    >>> symmetric_units("symmetry.xlsx")                 # the workbook's main table
    [['h1', 'h2', 'h3']]
    >>> symmetric_units("symmetry.xlsx", sheet="Random start")
    []

Two hidden units are identical when their incoming weights (one from each
input), their bias and their outgoing weights (one to each output) agree at
every iteration.  Identical formulas fed identical numbers give identical
numbers in every engine, so "agree" is strict: within 1e-12 relative.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import numpy as np

_INCOMING = re.compile(r"^w\(x(\d+)→h(\d+)\)$")
_BIAS = re.compile(r"^b\(h(\d+)\)$")
_OUTGOING = re.compile(r"^w\(h(\d+)→y(\d+)\)$")


def _signatures(columns: Mapping[str, Any]) -> dict[int, list[tuple[str, np.ndarray]]]:
    units: dict[int, list[tuple[str, np.ndarray]]] = {}
    for header, values in columns.items():
        header = str(header)
        for pattern, unit_group, role in ((_INCOMING, 2, "in"), (_BIAS, 1, "b"), (_OUTGOING, 1, "out")):
            m = pattern.match(header)
            if m:
                j = int(m.group(unit_group))
                other = m.group(1) if role == "in" else (m.group(2) if role == "out" else "")
                units.setdefault(j, []).append((f"{role}{other}", np.asarray(values, dtype=float)))
    return {j: sorted(v, key=lambda kv: kv[0]) for j, v in units.items()}


def symmetric_units(source: Any, sheet: str | None = None, rtol: float = 1e-12) -> list[list[str]]:
    """Groups (of two or more) of hidden units identical at every iteration, e.g. ``[['h1', 'h2', 'h3']]``.

    ``source``: a workbook path (its iterations table, or ``sheet``), a pandas DataFrame or a mapping
    of column header → values, with headers ``w(x1→h1)``, ``b(h1)``, ``w(h1→y1)`` as gdsheet writes them.
    """
    if isinstance(source, (str, os.PathLike)):
        from .api import read

        source = read(source, sheet=sheet)
    columns = {c: source[c] for c in source.keys()} if hasattr(source, "keys") else dict(source)
    units = _signatures(columns)
    order = sorted(units)
    groups: list[list[int]] = []
    for j in order:
        sig = units[j]
        for g in groups:
            ref = units[g[0]]
            if [k for k, _ in ref] == [k for k, _ in sig] and all(
                    a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0.0, equal_nan=True)
                    for (_, a), (_, b) in zip(ref, sig)):
                g.append(j)
                break
        else:
            groups.append([j])
    return [[f"h{j}" for j in g] for g in groups if len(g) > 1]


def describe(group: list[str], hidden: int | None = None) -> str:
    """``h1, h2, h3 identical at every iteration — the network learns like a single hidden unit``."""
    names = ", ".join(group)
    if hidden is not None and len(group) == hidden:
        return f"{names} identical at every iteration — the network learns like a single hidden unit"
    return f"{names} identical at every iteration — they learn like a single hidden unit"


__all__ = ["symmetric_units", "describe"]
