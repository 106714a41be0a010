"""Initial weights: the schemes of ``--init`` / ``--bias-init``, drawn reproducibly.

A scheme is text, stored as such in the workbook::

    constant:V            every value V
    uniform:LO,HI         U(LO, HI)
    normal:MEAN,STD       N(MEAN, STD²)
    xavier-uniform        Glorot uniform: U(−L, L), L = √(6 / (fan_in + fan_out))
    xavier-normal         Glorot normal: truncated normal, std √(2 / (fan_in + fan_out))
    he-uniform            He uniform: U(−L, L), L = √(6 / fan_in)
    he-normal             He normal: truncated normal, std √(2 / fan_in)
    file:NAME             values given explicitly (``--init-weights NAME``), not drawn

Glorot and He follow Keras (``keras.initializers.GlorotNormal`` etc., a
``VarianceScaling`` with scale 1, mode fan_avg / scale 2, mode fan_in): the
normal variants draw from a normal truncated at two standard deviations whose
*parameter* is the target std divided by 0.87962566103423978, the std of a
unit normal truncated at ±2, so that the drawn values have the target std.
Out-of-range draws are redrawn, as TensorFlow's truncated normal does.

Every draw comes from a ``numpy.random.Generator`` the caller seeds, so a seed
gives the same weights on every machine and every run.
"""

from __future__ import annotations

import math
import re

import numpy as np

SCHEMES = ("constant", "uniform", "normal", "xavier-uniform", "xavier-normal", "he-uniform", "he-normal")
TRUNCATED_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2] (Keras' constant)
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def _num(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def parse_spec(text: str) -> str:
    """Check an init scheme; return its canonical text. Raises ValueError with a one-line message."""
    spec = str(text).strip().lower().replace("glorot", "xavier").replace("_", "-")
    usage = ("expected constant:V, uniform:LO,HI, normal:MEAN,STD, xavier-uniform, xavier-normal, "
             f"he-uniform or he-normal; got {text!r}")
    if spec in SCHEMES[3:]:
        return spec
    if spec.startswith("file:") and len(spec) > 5:
        return "file:" + str(text).strip()[5:]
    kind, sep, args = spec.partition(":")
    if not sep or kind not in ("constant", "uniform", "normal"):
        raise ValueError(usage)
    parts = [p.strip() for p in args.split(",")]
    want = 1 if kind == "constant" else 2
    if len(parts) != want or not all(re.fullmatch(_NUMBER, p) for p in parts):
        raise ValueError(usage)
    try:
        values = [_num(p) for p in parts]
    except ValueError:
        raise ValueError(usage) from None
    if kind == "uniform" and not values[0] < values[1]:
        raise ValueError(f"uniform:LO,HI needs LO < HI; got {text!r}")
    if kind == "normal" and values[1] < 0:
        raise ValueError(f"normal:MEAN,STD needs STD ≥ 0; got {text!r}")
    return f"{kind}:" + ",".join(f"{v:.15g}" for v in values)


def draw(spec: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Values for an array of ``shape`` under scheme ``spec`` (see the module docstring)."""
    spec = parse_spec(spec)
    kind, _, args = spec.partition(":")
    size = int(np.prod(shape)) if shape else 1
    if kind == "constant":
        return np.full(shape, float(args))
    if kind == "file":
        raise ValueError(f"initial values from {args} are not drawn: they come from the file or the workbook")
    if kind == "uniform":
        lo, hi = (float(a) for a in args.split(","))
        return rng.uniform(lo, hi, size).reshape(shape)
    if kind == "normal":
        mean, std = (float(a) for a in args.split(","))
        return rng.normal(mean, std, size).reshape(shape)
    fan_in, fan_out = max(1, fan_in), max(1, fan_out)
    variance = 2.0 / (fan_in + fan_out) if kind.startswith("xavier") else 2.0 / fan_in
    if kind.endswith("uniform"):
        limit = math.sqrt(3.0 * variance)  # √(6/(fan_in+fan_out)) or √(6/fan_in)
        return rng.uniform(-limit, limit, size).reshape(shape)
    return truncated_normal(rng, math.sqrt(variance) / TRUNCATED_STD, size).reshape(shape)


def truncated_normal(rng: np.random.Generator, std: float, size: int) -> np.ndarray:
    """N(0, std²) restricted to [−2·std, 2·std]: values outside are drawn again."""
    out = rng.normal(0.0, std, size)
    bad = np.abs(out) > 2 * std
    while bad.any():
        out[bad] = rng.normal(0.0, std, int(bad.sum()))
        bad = np.abs(out) > 2 * std
    return out
