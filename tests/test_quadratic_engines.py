"""The promise, tested in real engines: LibreOffice and Gnumeric compute what numpy computes.

Every engine run recalculates a copy whose cached values were stripped
(gdsheet.engines), so what is compared is what the engine computed.
"""

from __future__ import annotations

import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pytest

from engines_available import require_engine
from gdsheet.api import generate, verify
from xlsx_edit import replace_cell

pytestmark = pytest.mark.engine


def configurations(n: int = 20, seed: int = 20261129) -> list[dict]:
    """Seeded random quadratics, cycling through the four behaviours of q = 1 − 2aη."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = 10 ** rng.uniform(-1, 1)
        regime = i % 4
        q = {0: rng.uniform(0.05, 0.95), 1: rng.uniform(-0.95, -0.05), 2: -1.0, 3: rng.uniform(-3.5, -1.5)}[regime]
        lr = (1 - q) / (2 * a)
        steps = 800 if regime == 3 else rng.randint(20, 300)  # divergent runs go on until #NUM!
        out.append({"a": a, "b": rng.uniform(-10, 10), "c": rng.uniform(-10, 10), "x0": rng.uniform(-100, 100),
                    "lr": lr, "steps": steps})
    return out


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("configs")
    return [generate("quadratic", folder / f"config{i:02d}.xlsx", **p) for i, p in enumerate(configurations())]


@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_twenty_random_configurations_in_engine(workbooks, engine):
    require_engine(engine)
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda p: verify(p, [engine]), workbooks))
    for path, report in zip(workbooks, reports):
        assert report.ok, f"{path.name}: {report.text()}"
        assert engine in report.sources
    # the set really covers divergence: some cells are errors in the engine's file
    assert any(p["steps"] == 800 for p in configurations())


@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_engine_really_computes_forged_cached_values(lesson_workbook, tmp_path, engine):
    """Cached values forged to 999: the cached source fails, the engine's own numbers pass."""
    require_engine(engine)
    forged = tmp_path / "forged.xlsx"
    replace_cell(lesson_workbook, forged, "Iterations", "B40", "<f>B39-learning_rate*D39</f><v>999</v>")
    report = verify(forged, [engine])
    assert {m.source for m in report.mismatches} == {"cached"}
    assert [m.cell for m in report.mismatches] == ["Iterations!B40"]


@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_rate_comparison_in_engine(rates_workbook, engine):
    require_engine(engine)
    report = verify(rates_workbook, [engine])
    assert report.ok, report.text()


@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_a_long_run_meets_libreoffices_power_underflow(tmp_path, engine):
    """(1 − 2aη)^k = 0.8^k drops below 2.2e-308 at k = 3175: LibreOffice's ^ shows #NUM! in the
    closed-form column from there on (tests/test_engines.py pins the rule), Gnumeric the number;
    verify names those cells and says why in a note."""
    from gdsheet.exercises.quadratic import tiny_power_step

    require_engine(engine)
    assert tiny_power_step(0.8) == 3175  # what the About sheet tells the student
    report = verify(generate("quadratic", tmp_path / "long.xlsx", steps=3300), [engine])
    if engine == "gnumeric":
        assert report.ok, report.text()
        return
    cells = {m.cell for m in report.mismatches}
    assert report.mismatch_count == len(cells) == 3300 - 3175 + 1
    assert min(cells, key=lambda c: int(c[len("Iterations!G"):])) == "Iterations!G3177"  # k = 3175: row k + 2
    assert {m.source for m in report.mismatches} == {"libreoffice"}
    assert any(n.startswith(f"{report.mismatch_count} of the differences are #NUM! from LibreOffice")
               for n in report.notes)


def test_learning_rate_changed_then_recalculated_in_libreoffice(tmp_path):
    """Change the learning-rate cell with openpyxl; LibreOffice recalculates the table for the new rate."""
    require_engine("libreoffice")
    src = generate("quadratic", tmp_path / "q.xlsx")
    wb = openpyxl.load_workbook(src)
    wb["Parameters"]["B8"] = 0.15  # learning_rate: now oscillating
    wb.save(tmp_path / "edited.xlsx")
    report = verify(tmp_path / "edited.xlsx", ["libreoffice"])
    assert report.ok, report.text()
    assert report.params["lr"] == 0.15
    # and LibreOffice's numbers are those of η = 0.15: x₁ = 4 − 0.15·43
    from gdsheet.engines import recalculate
    out = recalculate(tmp_path / "edited.xlsx", "libreoffice", out_dir=tmp_path / "lo")
    values = openpyxl.load_workbook(out, data_only=True)["Iterations"]
    assert values["B3"].value == pytest.approx(4 - 0.15 * 43)


def test_libreoffice_resaved_workbook_still_verifies(lesson_workbook, tmp_path):
    """Open in LibreOffice and save as .xlsx: LibreOffice rewrites every part; verify still passes."""
    soffice = require_engine("libreoffice")
    out = tmp_path / "out"
    profile = tmp_path / "profile"
    subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(lesson_workbook)],
                   check=True, capture_output=True, timeout=180)
    resaved = out / lesson_workbook.name
    report = verify(resaved)
    assert report.ok, report.text()


def test_gnumeric_resaved_workbook_still_verifies(lesson_workbook, tmp_path):
    ssconvert = require_engine("gnumeric")
    resaved = tmp_path / "resaved.xlsx"
    subprocess.run([ssconvert, "-T", "Gnumeric_Excel:xlsx2", str(lesson_workbook), str(resaved)],
                   check=True, capture_output=True, timeout=180)
    report = verify(resaved)
    assert report.ok, report.text()
