"""The text of many ``<v>`` numbers to a float64 array, with a correctly rounded parser in C.

Why not ``float()``: a filled-down sheet is mostly cached numbers written with 17
significant digits, and CPython's ``float(str)`` takes its slow exact path for those,
about 270 ns each.  Reading the 100,000-row quadratic sheet (700,000 numbers) spent
0.2 s there, a fifth of ``gdsheet verify``.  numpy's own text paths (``fromstring``,
``loadtxt``, casting a string array) call the same routine and are no faster.

orjson's JSON number parser is correctly rounded too (the same double as ``float()``
for every finite number; ``tests/test_reader.py`` checks random bit patterns at 17,
15 and shorter precisions) and takes about 65 ns a number, so the texts are joined
into one JSON array and parsed in a single call.  Only texts that JSON reads exactly
as ``float()`` does take this path: the joined text is checked to hold nothing but
digits, signs, points, exponents and the commas we put there (no ``true``, ``null``,
strings, nesting, or a comma smuggled inside a value that would shift every number
after it), and ``-0`` (an int zero to JSON, ``-0.0`` to ``float()``) is left to the
slow path.  Anything else -- ``.5``, ``1E400``, ``inf``, an empty value -- makes
:func:`parse_floats` return None, and the caller converts one by one as before.

orjson is a dependency, but optional at run time: without it every call returns
None and the numbers are parsed one by one.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

try:  # pragma: no cover - the import is exercised wherever orjson is installed
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

_NUMBER_BYTES = b"0123456789.eE+-,"


def parse_floats(texts: Sequence[str]) -> np.ndarray | None:
    """``np.array([float(t) for t in texts])``, or None when some text is not a plain JSON number."""
    return parse_joined(",".join(texts), len(texts))


def parse_joined(joined: str, count: int) -> np.ndarray | None:
    """``count`` number texts already joined by commas (a caller that needs the joined text
    for something else joins once), or None as :func:`parse_floats`."""
    if _orjson is None or not count:
        return None
    if not joined.isascii() or joined.encode("ascii").translate(None, _NUMBER_BYTES):
        return None  # a character JSON would read as something other than a number
    if joined.count(",") != count - 1 or ",-0," in f",{joined},":
        return None  # a comma inside a value (or an empty one), or a negative zero
    try:
        parsed: Any = _orjson.loads("[" + joined + "]")
    except _orjson.JSONDecodeError:
        return None  # ".5", "1.", "+1", "00", "1E400", "--1": not JSON, float() decides
    if len(parsed) != count:
        return None  # [""]: an empty array where one value was due
    return np.array(parsed, dtype=np.float64)


def floats(texts: Iterable[str]) -> np.ndarray:
    """Every text as a float, NaN where it is not a number (an empty or malformed ``<v>``)."""
    seq = texts if isinstance(texts, (list, tuple)) else list(texts)
    arr = parse_floats(seq)
    if arr is not None:
        return arr
    try:
        return np.array(list(map(float, seq)), dtype=np.float64)
    except ValueError:
        return np.array([_to_float(t) for t in seq], dtype=np.float64)


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
