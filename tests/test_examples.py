"""workbooks/ holds what the package generates today, cell for cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from gdsheet.examples import example_names, write_examples
from gdsheet.workbook.reader import read_workbook

WORKBOOKS = Path(__file__).resolve().parent.parent / "workbooks"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    write_examples(folder)
    return folder


@pytest.mark.parametrize("name", sorted(example_names()))
def test_committed_example_matches_the_code(fresh, name):
    committed = WORKBOOKS / name
    assert committed.exists(), f"workbooks/{name} missing: run python -m gdsheet.examples workbooks/"
    old, new = read_workbook(committed), read_workbook(fresh / name)
    assert list(old.sheets) == list(new.sheets)
    for sheet in new.sheets:
        o, n = old.sheets[sheet], new.sheets[sheet]
        assert o.values == n.values, f"{name}!{sheet}: values drifted; regenerate workbooks/"
        assert {k: (f.text, f.row, f.col) for k, f in o.formulas.items()} == \
               {k: (f.text, f.row, f.col) for k, f in n.formulas.items()}, f"{name}!{sheet}: formulas drifted"
    assert old.names == new.names
