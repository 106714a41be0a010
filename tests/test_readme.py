"""The README's commands are the ones CI runs, and its examples are what the tool prints today."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(lang: str = "") -> list[str]:
    """The fenced code blocks whose info string is ``lang``, in order."""
    found, current, info = [], None, ""
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if info == lang:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND=(.*)$", ci, re.M).group(1)
    assert shlex.split(command)[0] == blocks("sh")[1].strip()


def run_shown(command: str, cwd: Path) -> str:
    out = subprocess.run(command.replace("python ", f"{sys.executable} ", 1), shell=True, cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    return out.stdout


def test_main_command_prints_what_the_readme_shows(tmp_path):
    main = blocks("sh")[0].strip()
    steps = main.split(" && ")[1:]  # the install step is the test run's own
    printed = "".join(run_shown(step, tmp_path) for step in steps)
    shown = README.split("What the first command prints:")[1].split("```")[1].strip("\n")
    assert printed.strip() == shown.strip()


def test_shown_read_outputs_are_current(tmp_path):
    for block in blocks():
        if not block.startswith("$ python -m gdsheet read"):
            continue
        command, _, shown = block.partition("\n")
        printed = run_shown(command[2:], ROOT)
        assert printed.strip() == shown.strip(), command


def test_shown_tampered_verify_output(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from xlsx_edit import replace_cell
    import openpyxl

    source = ROOT / "workbooks" / "quadratic.xlsx"
    value = openpyxl.load_workbook(source, data_only=True)["Iterations"]["B12"].value
    replace_cell(source, tmp_path / "tampered.xlsx", "Iterations", "B12", f"<f>B11-0.02*D11</f><v>{value!r}</v>")
    block = next(b for b in blocks() if b.startswith("$ python -m gdsheet verify tampered.xlsx"))
    command, _, shown = block.partition("\n")
    assert run_shown(command[2:], tmp_path).strip() == shown.strip()
