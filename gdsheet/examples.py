"""The example workbooks committed in ``workbooks/``, and how to regenerate them.

    python -m gdsheet.examples workbooks/

A test regenerates every example and compares it cell by cell (formulas and
values) with the committed file, so the examples never drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "quadratic.xlsx": ("quadratic", {}),
    "learning-rates.xlsx": ("quadratic", {"lrs": [0.001, 0.01, 0.05, 0.1, 0.19, 0.2, 0.21], "steps": 200}),
}


def write_examples(folder: str | Path) -> list[Path]:
    from .api import generate

    folder = Path(folder)
    return [generate(exercise, folder / name, **params) for name, (exercise, params) in EXAMPLES.items()]


if __name__ == "__main__":  # pragma: no cover
    for path in write_examples(sys.argv[1] if len(sys.argv) > 1 else "workbooks"):
        print(f"wrote {path}")
