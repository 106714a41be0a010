"""Recalculate an .xlsx in Gnumeric with ``ssconvert --recalc``.

Why it is done this way
-----------------------
* ``--recalc`` makes ssconvert recompute every formula after loading (measured,
  Gnumeric 1.12.55: deliberately wrong cached values were replaced); we still
  feed it a copy with the cached values stripped so that no engine can pass a
  cross-check by copying them.
* The importer is forced (``-I Gnumeric_Excel:xlsx``): without it ssconvert
  guesses by content and happily "converts" a text file named .xlsx into a
  one-column sheet, exit status 0.
* The exporter is ``Gnumeric_Excel:xlsx2`` (ISO/IEC 29500:2008, "MS Excel 2010");
  ``Gnumeric_Excel:xlsx`` is the older ECMA-376 1st edition dialect.
* Gnumeric on Debian computes in **long double** (80-bit): 0.1 read from a file
  becomes 0.1L, results are written with 21 significant digits, and a result
  beyond the double range is *not* an error -- ``=10^200*10^200`` is written as
  the number 1e+400 (``inf`` once read as a Python float) where Excel and
  LibreOffice give ``#NUM!``.  Expect differences from IEEE-double numpy at the
  1e-16 relative level per operation.
"""

from __future__ import annotations

from pathlib import Path

from .base import check_output, run_engine

__all__ = ["convert", "IMPORTER", "EXPORTER"]

IMPORTER = "Gnumeric_Excel:xlsx"
EXPORTER = "Gnumeric_Excel:xlsx2"


def convert(exe: str, src: Path, out: Path, timeout: float) -> Path:
    """Load ``src`` in Gnumeric, recalculate, save the .xlsx ``out``; return ``out``."""
    if out.resolve() == src.resolve():
        raise ValueError("Gnumeric output would overwrite its input")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--recalc", "-I", IMPORTER, "-T", EXPORTER, str(src), str(out)]
    output = run_engine("gnumeric", cmd, timeout)
    check_output("gnumeric", out, output)
    return out
