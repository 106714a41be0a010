"""Which real spreadsheet engines the tests may use.

Engine tests skip on a machine without LibreOffice or Gnumeric so that a
developer can run the suite anywhere -- but CI must never turn "engine missing"
into a silent green run, so with ``GDSHEET_REQUIRE_ENGINES=1`` (set by
``.ci/run``) a missing engine is a test failure instead of a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

_ENGINES = {
    # name: (what to call it in messages, executables looked up on PATH, Debian package)
    "libreoffice": ("LibreOffice (soffice)", ("soffice", "libreoffice"), "libreoffice-calc-nogui"),
    "gnumeric": ("Gnumeric (ssconvert)", ("ssconvert",), "gnumeric"),
}


def require_engine(name: str) -> str:
    """Path of engine ``name``'s executable ("libreoffice" or "gnumeric").

    Missing: ``pytest.skip``, or ``pytest.fail`` when ``GDSHEET_REQUIRE_ENGINES=1``.
    """
    label, executables, package = _ENGINES[name]
    for exe in executables:
        path = shutil.which(exe)
        if path:
            return path
    message = f"{label} not installed"
    if os.environ.get("GDSHEET_REQUIRE_ENGINES") == "1":
        pytest.fail(f"{message} and GDSHEET_REQUIRE_ENGINES=1 (apt-get install {package})")
    pytest.skip(message)
