"""Recalculate an .xlsx in LibreOffice Calc, headless.

Why it is done this way
-----------------------
* **LibreOffice does not recalculate an .xlsx on load when it has cached values**
  (measured, LibreOffice 7.4: a file with deliberately wrong cached values came
  back from ``soffice --convert-to xlsx`` with the wrong values unchanged, and
  ``fullCalcOnLoad="1"`` in the workbook -- XlsxWriter writes it anyway -- did not
  change that).  Its default "Recalculation on file load" for Excel 2007+ files
  is "Never".  So we do two independent things, each sufficient on its own
  (both measured): the caller hands us a copy with cached values stripped
  (:mod:`gdsheet.engines.strip`), and the temporary profile sets
  ``/org.openoffice.Office.Calc/Formula/Load/OOXMLRecalcMode`` to 0 ("Always").
* **One fresh profile per call** (``-env:UserInstallation=file:///<temp dir>``):
  two soffice processes sharing a profile hand documents to each other or fail on
  its lock, so parallel or repeated runs would collide.  The profile is deleted
  afterwards.  A fresh profile costs about a second of start-up.
* ``soffice`` exits 0 even when it could not load the input ("Error: source
  file could not be loaded"), so success is judged by the output file.
* LibreOffice 7.4 writes numbers to .xlsx/.ods rounded to 15 significant
  digits (0.30000000000000004 is saved as 0.3), so values read back from its
  output carry a relative error up to ~5e-15: compare with a tolerance.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .base import check_output, run_engine

__all__ = ["convert", "convert_many", "RECALC_SETTINGS"]

FILTER = 'xlsx:Calc MS Excel 2007 XML'

# Seeded into the temporary profile: always recalculate OOXML and ODF files on load.
RECALC_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def convert(exe: str, src: Path, out_dir: Path, timeout: float) -> Path:
    """Load ``src`` in LibreOffice, recalculate, save ``out_dir/<src.stem>.xlsx``; return that path.

    ``out_dir`` must not be ``src``'s directory (LibreOffice would overwrite it).
    """
    return convert_many(exe, [src], out_dir, timeout)[0]


def convert_many(exe: str, srcs: list[Path], out_dir: Path, timeout: float) -> list[Path]:
    """:func:`convert` for several files in one LibreOffice process (one start-up, one profile).

    The stems of ``srcs`` must differ (each output is ``out_dir/<stem>.xlsx``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    outs = [out_dir / (src.stem + ".xlsx") for src in srcs]
    if len({o.name for o in outs}) != len(outs):
        raise ValueError("LibreOffice: input files with the same name would overwrite each other's output")
    if any(out.resolve() == src.resolve() for out, src in zip(outs, srcs)):
        raise ValueError("LibreOffice output would overwrite its input; use another out_dir")
    profile = Path(tempfile.mkdtemp(prefix="gdsheet-lo-profile-"))
    try:
        (profile / "user").mkdir()
        (profile / "user" / "registrymodifications.xcu").write_text(RECALC_SETTINGS, encoding="utf-8")
        cmd = [
            exe,
            "--headless",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            FILTER,
            "--outdir",
            str(out_dir),
            *(str(src) for src in srcs),
        ]
        output = run_engine("libreoffice", cmd, timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    for out in outs:
        check_output("libreoffice", out, output)
    return outs
