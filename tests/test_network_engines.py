"""Network workbooks recalculated by LibreOffice and Gnumeric match numpy (and gdsheet's evaluator).

Small workbooks (a few observations × a few iterations) cover every activation pair, seeded random
and constant initializations, the linear and symmetry exercises; LibreOffice recalculates all of them
in one run (``recalculate_many``), Gnumeric one file at a time (it starts fast).  The minimal-example
preset itself (1000 observations × 100 iterations) is recalculated in LibreOffice once.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from engines_available import require_engine
from gdsheet.api import generate, verify
from gdsheet.engines import recalculate_many
from gdsheet.exercises.network import ACTIVATIONS, OUTPUT_ACTIVATIONS

pytestmark = pytest.mark.engine

SCHEMES = ["uniform:-0.5,0.5", "xavier-uniform", "xavier-normal", "he-uniform", "he-normal", "normal:0,0.8"]


def cases() -> list[tuple[str, dict]]:
    out = []
    for i, (act, out_act) in enumerate(itertools.product(ACTIVATIONS, OUTPUT_ACTIVATIONS)):
        out.append(("network", {"activation": act, "output_activation": out_act, "seed": 100 + i,
                                "init": SCHEMES[i % len(SCHEMES)], "bias_init": "uniform:-0.2,0.2",
                                "observations": 4, "steps": 6, "lr": 0.7, "inputs": 2 + i % 2,
                                "hidden": 2 + i % 3, "outputs": 1 + i % 2}))
    out.append(("network", {"init": "constant:0.5", "bias_init": "constant:0.5", "observations": 5, "steps": 8,
                            "seed": 7}))
    out.append(("network", {"init": "constant:-0.3", "activation": "tanh", "output_activation": "sigmoid",
                            "observations": 3, "steps": 5, "seed": 8}))
    out.append(("network", {"hidden": 0, "output_activation": "sigmoid", "observations": 4, "steps": 5,
                            "seed": 9}))
    out.append(("linear", {"observations": 6, "steps": 7, "seed": 3}))
    out.append(("symmetry", {"observations": 4, "steps": 6, "seed": 5}))
    return out


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("nets")
    return [generate(ex, folder / f"case{i:02d}.xlsx", **p) for i, (ex, p) in enumerate(cases())]


@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_network_workbooks_in_engine(workbooks, tmp_path, engine):
    require_engine(engine)
    recalculated = recalculate_many(workbooks, engine, tmp_path / engine)
    for path, done, (exercise, params) in zip(workbooks, recalculated, cases()):
        report = verify(path, recalculated={engine: done})
        assert report.ok, f"{path.name} {exercise} {params}: {report.text()}"
        assert report.sources == ["gdsheet", "cached", engine]
        if params.get("init", "").startswith("constant") or exercise == "symmetry":
            assert any("identical at every iteration" in n for n in report.notes), report.notes


def test_minimal_example_recalculates_in_libreoffice(tmp_path):
    require_engine("libreoffice")
    path = generate("linear", tmp_path / "minimal-example.xlsx",
                    **{"inputs": 2, "outputs": 1, "observations": 1000, "steps": 100, "lr": 0.02,
                       "init": "uniform:-0.1,0.1", "bias_init": "uniform:-0.1,0.1"})
    report = verify(path, ["libreoffice"])
    assert report.ok, report.text()
    assert report.checked > 500_000
