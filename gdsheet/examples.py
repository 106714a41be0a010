"""The example workbooks committed in ``workbooks/``, and how to regenerate them.

    python -m gdsheet.examples workbooks/ [--picture]

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
    "optimizers.xlsx": ("quadratic", {"optimizers": "sgd,momentum,nesterov,adagrad,rmsprop,adam", "lr": 0.05,
                                      "steps": 200}),
    "minimal-example.xlsx": ("linear", {"inputs": 2, "outputs": 1, "observations": 1000, "steps": 100, "lr": 0.02,
                                        "init": "uniform:-0.1,0.1", "bias_init": "uniform:-0.1,0.1"}),
    "backprop-network.xlsx": ("network", {}),  # the lesson's 2 → 3 sigmoid → 2 net, U(−0.1, 0.1) start
    "symmetry.xlsx": ("symmetry", {}),  # constant 0.5 start vs U(−0.1, 0.1) start, side by side
    # the minimal example under every optimizer (100 observations keep the file small: 6 runs)
    "minimal-example-optimizers.xlsx": ("linear", {"inputs": 2, "outputs": 1, "observations": 100, "steps": 100,
                                                   "lr": 0.02, "init": "uniform:-0.1,0.1",
                                                   "bias_init": "uniform:-0.1,0.1",
                                                   "optimizers": "sgd,momentum,nesterov,adagrad,rmsprop,adam"}),
}

# Student templates and their answer keys (gdsheet template EXERCISE -o TEMPLATE --key KEY):
# the lesson's quadratic and the lesson's backpropagation network.
TEMPLATES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "quadratic-template.xlsx": ("quadratic", "quadratic-key.xlsx", {}),
    "network-template.xlsx": ("network", "network-key.xlsx", {}),
}


def example_names() -> list[str]:
    """Every file ``write_examples`` writes."""
    return [*EXAMPLES, *(n for name, (_, key, _) in TEMPLATES.items() for n in (name, key))]


def write_examples(folder: str | Path) -> list[Path]:
    from .api import generate, template

    folder = Path(folder)
    out = [generate(exercise, folder / name, **params) for name, (exercise, params) in EXAMPLES.items()]
    for name, (exercise, key, params) in TEMPLATES.items():
        out += [template(exercise, folder / name, key=folder / key, **params), folder / key]
    return out


def render_picture(workbook: str | Path, png: str | Path, page: int = 2) -> Path:
    """The README's picture: LibreOffice prints the workbook to PDF, pdftoppm crops one page to PNG.

    Needs ``soffice`` and ``pdftoppm`` (Debian: libreoffice-calc-nogui, poppler-utils).
    """
    import shutil
    import subprocess
    import tempfile

    png = Path(png)
    with tempfile.TemporaryDirectory(prefix="gdsheet-picture-") as tmp:
        profile = Path(tmp) / "profile"
        subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                        "--convert-to", "pdf", "--outdir", tmp, str(workbook)], check=True, capture_output=True,
                       timeout=180)
        pdf = Path(tmp) / (Path(workbook).stem + ".pdf")
        out = Path(tmp) / "page"
        subprocess.run(["pdftoppm", "-r", "110", "-png", "-f", str(page), "-l", str(page), "-x", "60", "-y", "60",
                        "-W", "1080", "-H", "420", "-singlefile", str(pdf), str(out)], check=True, timeout=60)
        shutil.move(str(out) + ".png", png)
    return png


if __name__ == "__main__":  # pragma: no cover
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    folder = Path(args[0] if args else "workbooks")
    for path in write_examples(folder):
        print(f"wrote {path}")
    if "--picture" in sys.argv:
        print(f"wrote {render_picture(folder / 'quadratic.xlsx', folder / 'quadratic.png')}")
