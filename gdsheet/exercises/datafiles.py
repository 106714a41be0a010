"""Reading ``--data data.csv`` and ``--init-weights weights.json``, strictly.

Every problem is a :class:`ValueError` with one line naming the file (and the
line or key), which the command line prints with exit status 2.

data.csv: a header row naming the columns ``x1..xn`` (inputs) and ``t1..tk``
(targets), in any order, nothing else; then one row per observation, every
field a finite number.  Separators: comma (or semicolon/tab, detected).

weights.json: ``{"W1": [[...]], "b1": [...], "W2": [[...]], "b2": [...]}``
with ``W1[i][j]`` the weight from input i to hidden unit j and ``W2[j][k]``
from hidden unit j to output k; ``{"W": [[...]], "b": [...]}`` without a
hidden layer.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

MAX_DATA_BYTES = 50_000_000


def _open_text(path: str | Path, what: str) -> str:
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} {path}: no such file")
    if p.is_dir():
        raise ValueError(f"{what} {path}: is a folder, not a file")
    size = p.stat().st_size
    if size > MAX_DATA_BYTES:
        raise ValueError(f"{what} {path}: {size} bytes is too large (limit {MAX_DATA_BYTES})")
    try:
        return p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None


def load_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, t): arrays of shape (observations, inputs) and (observations, outputs)."""
    name = Path(path).name
    text = _open_text(path, "--data")
    if not text.strip():
        raise ValueError(f"--data {name}: the file is empty")
    first = text.splitlines()[0]
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    header = [h.strip().lower() for h in rows[0]]
    xs: dict[int, int] = {}
    ts: dict[int, int] = {}
    for col, h in enumerate(header):
        m = re.fullmatch(r"([xt])(\d+)", h)
        if m is None or int(m.group(2)) < 1:
            raise ValueError(f"--data {name}: line 1: column {col + 1} is {rows[0][col]!r}; expected a header "
                             "row of x1..xn (inputs) and t1..tk (targets)")
        index = int(m.group(2))
        target = xs if m.group(1) == "x" else ts
        if index in target:
            raise ValueError(f"--data {name}: line 1: column {h} appears twice")
        target[index] = col
    for letter, found in (("x", xs), ("t", ts)):
        if not found:
            raise ValueError(f"--data {name}: line 1: no {letter}1 column (expected x1..xn and t1..tk)")
        if sorted(found) != list(range(1, len(found) + 1)):
            missing = min(set(range(1, max(found) + 1)) - set(found))
            raise ValueError(f"--data {name}: line 1: column {letter}{missing} is missing "
                             f"({letter}1..{letter}{max(found)} must all be there)")
    data = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not f.strip() for f in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"--data {name}: line {line_no}: {len(row)} fields, the header has {len(header)}")
        values = []
        for col, field in enumerate(row):
            try:
                v = float(field)
            except ValueError:
                raise ValueError(f"--data {name}: line {line_no}: {field.strip()!r} in column {header[col]} "
                                 "is not a number") from None
            if not math.isfinite(v):
                raise ValueError(f"--data {name}: line {line_no}: column {header[col]} is {field.strip()}; "
                                 "every value must be a finite number")
            values.append(v)
        data.append(values)
    if not data:
        raise ValueError(f"--data {name}: no observations below the header")
    arr = np.array(data, dtype=float)
    x = arr[:, [xs[i] for i in range(1, len(xs) + 1)]]
    t = arr[:, [ts[i] for i in range(1, len(ts) + 1)]]
    return x, t


def load_weights(path: str | Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Arrays for every key of ``shapes`` (e.g. W1: (inputs, hidden)); a clear error on any other shape."""
    name = Path(path).name
    text = _open_text(path, "--init-weights")
    try:
        obj: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--init-weights {name}: not JSON (line {exc.lineno}: {exc.msg})") from None
    want = ", ".join(f'"{k}"' for k in shapes)
    if not isinstance(obj, dict):
        raise ValueError(f"--init-weights {name}: expected an object with {want}")
    extra = sorted(set(obj) - set(shapes))
    missing = [k for k in shapes if k not in obj]
    if missing or extra:
        problem = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
        raise ValueError(f"--init-weights {name}: {problem} (expected exactly {want})")
    out = {}
    for key, shape in shapes.items():
        out[key] = _array(obj[key], shape, f"--init-weights {name}: {key}")
    return out


def _describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"a list of {shape[0]} numbers"
    return f"{shape[0]} lists of {shape[1]} numbers"


def _array(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    dims = {"W1": "(inputs × hidden units)", "W2": "(hidden units × outputs)", "W": "(inputs × outputs)"}
    label = dims.get(where.rsplit(": ", 1)[-1], "")
    expected = f"expected {_describe(shape)}" + (f" {label}" if label else "")
    if len(shape) == 1:
        if not isinstance(value, list) or len(value) != shape[0] or any(isinstance(v, list) for v in value):
            raise ValueError(f"{where}: {expected}, got {_shape_of(value)}")
        rows = [value]
    else:
        if (not isinstance(value, list) or len(value) != shape[0]
                or not all(isinstance(r, list) and len(r) == shape[1] for r in value)):
            raise ValueError(f"{where}: {expected}, got {_shape_of(value)}")
        rows = value
    for row in rows:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{where}: {v!r} is not a finite number")
    return np.array(value, dtype=float).reshape(shape)


def _shape_of(value: Any) -> str:
    if not isinstance(value, list):
        return type(value).__name__ if value is not None else "null"
    if value and all(isinstance(r, list) for r in value):
        lengths = sorted({len(r) for r in value})
        inner = str(lengths[0]) if len(lengths) == 1 else "/".join(map(str, lengths))
        return f"{len(value)} lists of {inner} numbers"
    return f"a list of {len(value)}"
