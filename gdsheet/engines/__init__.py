"""Real spreadsheet engines (LibreOffice, Gnumeric) as independent witnesses.

gdsheet writes formulas WITH cached values.  To prove an engine agrees with
numpy we must make the engine compute every value itself:

* :func:`strip_cached_values` removes the cached results of formula cells from a
  copy -- necessary because LibreOffice does not recalculate an .xlsx on load
  when cached values are present (measured; see :mod:`gdsheet.engines.strip`);
* :func:`recalculate` has an engine load that copy, recalculate and save an
  .xlsx, whose values the caller reads (e.g. openpyxl ``data_only=True``).

Public API::

    available(engine: str) -> str | None
    recalculate(src: Path, engine: str, out_dir: Path | None = None, timeout: float = 300) -> Path
    strip_cached_values(src: Path, dst: Path) -> None
    EngineError, EngineMissing(EngineError), ENGINES
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from . import gnumeric, libreoffice
from .base import ENGINES, EngineError, EngineMissing, available, require
from .strip import strip_cached_values

__all__ = ["ENGINES", "EngineError", "EngineMissing", "available", "recalculate", "recalculate_many",
           "strip_cached_values"]


def recalculate(src: Path, engine: str, out_dir: Path | None = None, timeout: float = 300) -> Path:
    """Have ``engine`` compute every formula of ``src`` and save an .xlsx; return its path.

    ``engine`` is ``"libreoffice"`` or ``"gnumeric"``.  A temporary copy of
    ``src`` with its cached formula values stripped is what the engine loads, so
    every value in the result was computed by the engine; ``src`` itself is only
    read.  The result is ``out_dir/<src stem>.<engine>.xlsx``; with ``out_dir``
    None it goes to a new temporary directory that the caller owns (delete
    ``result.parent`` when done).

    Raises :class:`EngineMissing` when the engine is not installed,
    :class:`EngineError` when the input is not an xlsx (zip) file, the engine
    fails, produces no output or exceeds ``timeout`` seconds (its whole process
    group is then killed), ``FileNotFoundError`` when ``src`` does not exist.
    """
    src = Path(src)
    if engine not in ENGINES:
        raise ValueError(f"unknown spreadsheet engine {engine!r}; known: {', '.join(ENGINES)}")
    if not src.is_file():
        raise FileNotFoundError(f"no such workbook: {src}")
    exe = require(engine)
    label = ENGINES[engine].label

    made_out_dir = out_dir is None
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix=f"gdsheet-{engine}-"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / f"{src.stem}.{engine}.xlsx"
    if result.exists() and result.resolve() == src.resolve():
        raise ValueError(f"recalculate: result path is the input file: {src}")

    suffix = src.suffix.lower() if src.suffix.lower() in (".xlsx", ".xlsm") else ".xlsx"
    work = Path(tempfile.mkdtemp(prefix=f"gdsheet-recalc-{engine}-"))
    try:
        stripped = work / "in" / f"book{suffix}"
        try:
            strip_cached_values(src, stripped)
        except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
            raise EngineError(f"{label}: input {src.name} is not a readable xlsx file: {exc}") from None
        if engine == "libreoffice":
            produced = libreoffice.convert(exe, stripped, work / "out", timeout)
        else:
            produced = gnumeric.convert(exe, stripped, work / "out" / "book.xlsx", timeout)
        shutil.move(str(produced), str(result))
    except BaseException:
        if made_out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def recalculate_many(srcs: list[Path], engine: str, out_dir: Path, timeout: float = 600) -> list[Path]:
    """:func:`recalculate` for several workbooks; LibreOffice loads them all in one process.

    One LibreOffice start-up (a second or two with a fresh profile) instead of one per file: what a
    test comparing many small workbooks spends most of its time on.  Results are
    ``out_dir/<src stem>.<engine>.xlsx``, in the order of ``srcs`` (whose stems must differ).
    """
    srcs = [Path(s) for s in srcs]
    if engine != "libreoffice":
        return [recalculate(s, engine, out_dir=out_dir, timeout=timeout) for s in srcs]
    if len({s.stem for s in srcs}) != len(srcs):
        raise ValueError("recalculate_many: input workbooks need distinct names")
    for s in srcs:
        if not s.is_file():
            raise FileNotFoundError(f"no such workbook: {s}")
    exe = require(engine)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gdsheet-recalc-many-"))
    try:
        stripped = []
        for s in srcs:
            dst = work / "in" / f"{s.stem}.xlsx"
            try:
                strip_cached_values(s, dst)
            except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
                raise EngineError(f"{ENGINES[engine].label}: input {s.name} is not a readable xlsx file: {exc}") \
                    from None
            stripped.append(dst)
        produced = libreoffice.convert_many(exe, stripped, work / "out", timeout)
        results = []
        for s, p in zip(srcs, produced):
            result = out_dir / f"{s.stem}.{engine}.xlsx"
            shutil.move(str(p), str(result))
            results.append(result)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)
