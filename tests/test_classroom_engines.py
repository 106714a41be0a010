"""Realism: students fill their template with openpyxl, then the file is saved through LibreOffice
(as Excel would save it: cached values, shared formulas), and check must say the same thing about
both versions.  Feedback copies must open in LibreOffice (they are converted to PDF).

LibreOffice converts many files in one call, so each fixture runs it once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from engines_available import require_engine
from gdsheet.classroom import check, grade, write_roster
from gdsheet.classroom.check import embedded
from gdsheet.classroom.keys import Keys
from gdsheet.classroom.tokens import owner
from gdsheet.engines.libreoffice import RECALC_SETTINGS
from gdsheet.workbook.reader import read_workbook
from students import fill, formula

pytestmark = pytest.mark.engine

FILTERS = {"xlsx": "xlsx:Calc MS Excel 2007 XML", "pdf": "pdf"}


def libreoffice_batch(files: list[Path], out_dir: Path, fmt: str = "xlsx", timeout: float = 300) -> list[Path]:
    """Have LibreOffice load and save every file in one run (recalculating on load); the outputs."""
    exe = require_engine("libreoffice")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gdsheet-lo-batch-") as tmp:
        profile = Path(tmp) / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(RECALC_SETTINGS, encoding="utf-8")
        cmd = [exe, "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
               f"-env:UserInstallation={profile.as_uri()}", "--convert-to", FILTERS[fmt], "--outdir", str(out_dir),
               *map(str, files)]
        subprocess.run(cmd, capture_output=True, timeout=timeout, start_new_session=True, check=False)
    outs = [out_dir / f"{f.stem}.{fmt}" for f in files]
    missing = [o.name for o in outs if not o.is_file() or o.stat().st_size == 0]
    assert not missing, f"LibreOffice wrote no {missing}"
    return outs


def students(lr: float) -> dict[str, dict]:
    """How each simulated student fills the template (``lr``: their learning rate, to type in)."""
    return {
        "correct": {},
        "one-wrong-row": {"cells": {("x", 10): "=B11-learning_rate*D11*2"}},
        "typed-values": {"cells": {("fx", k): 1.5 for k in range(5, 9)}},
        "learning-rate-typed": {"columns": {"x": formula("={x[-1]}-" + repr(lr) + "*{grad[-1]}")}},
        "equivalent": {"columns": {"x": formula("={x[-1]}-learning_rate*(2*coef_a*{x[-1]}+coef_b)")}},
        "worked-out-2a": {"columns": {"grad": formula("=10*{x}+coef_b")}},  # right values, 2a typed in
        "one-row-by-hand": {"cells": {("x", 20): "=B21-learning_rate*D$21"}},  # right value, another shape
        "moved": {"order": ["iteration", "x", "grad", "fx", "step", "distance", "closed"], "top": 3, "left": 2,
                  "notes_column": True, "header": str.upper, "rename": "Homework"},
    }


EXPECTED = {  # status, diagnoses that must be there
    "correct": ("graded", {"correct"}),
    "one-wrong-row": ("mistakes", {"wrong", "carried_forward", "correct"}),
    "typed-values": ("mistakes", {"typed", "correct"}),
    "learning-rate-typed": ("mistakes", {"hardcoded", "correct"}),
    "equivalent": ("graded", {"correct"}),
    "moved": ("graded", {"correct"}),
    "worked-out-2a": ("mistakes", {"fixed", "correct"}),
    "one-row-by-hand": ("graded", {"correct"}),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, object]:
    require_engine("libreoffice")
    folder = tmp_path_factory.mktemp("realism")
    (folder / "roster.csv").write_text("id\nana\nben\n")
    keys, kpath = write_roster("quadratic", folder / "roster.csv", folder / "templates", seed="real")
    t = folder / "templates" / "ana.xlsx"
    filled = folder / "filled"
    filled.mkdir()
    how_they_fill = students(keys.student("ana").params["lr"])
    made = [fill(t, filled / f"{name}.xlsx", **how) for name, how in how_they_fill.items()]
    made.append(shutil.copy(folder / "templates" / "ben.xlsx", filled / "ben-template.xlsx"))
    made.append(fill(folder / "templates" / "ben.xlsx", filled / "ana.xlsx"))  # ana and ben swapped templates
    made.append(fill(t, filled / "ben.xlsx"))
    outs = libreoffice_batch([Path(p) for p in made], folder / "saved")
    return {"filled": filled, "saved": folder / "saved", "keys": kpath, "outs": outs, "folder": folder}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_after_a_save_in_libreoffice(saved, name):
    status, kinds = EXPECTED[name]
    lo = saved["saved"] / f"{name}.xlsx"
    wb = read_workbook(lo)
    sheet = wb.sheet("Homework" if name == "moved" else "Iterations")
    assert any(k in sheet.values for k in sheet.formulas), "LibreOffice saved cached values"
    emb = embedded(wb)
    assert emb is not None and emb.student == "ana"  # the hidden sheet survived
    with_cache = check(lo, keys=saved["keys"])
    without = check(saved["filled"] / f"{name}.xlsx", keys=saved["keys"])
    assert with_cache.status == status, with_cache.text()
    assert set(with_cache.counts()) == kinds
    assert with_cache.counts() == without.counts() and with_cache.score == without.score
    assert not any("saved value" in n for n in with_cache.notes)  # LibreOffice's values are the formulas' own
    if name == "learning-rate-typed":
        assert "should be referenced" in with_cache.first_mistake()
    assert [b.row for b in with_cache.patterns] == [b.row for b in without.patterns] == \
        {"one-row-by-hand": [22], "one-wrong-row": [12]}.get(name, [])
    assert with_cache.reseed is not None and len(with_cache.reseed.failed) == len(without.reseed.failed)
    assert bool(with_cache.reseed.failed) == (name == "worked-out-2a")


def test_tokens_survive_a_save_in_libreoffice(saved):
    """The hidden sheet's token row is kept by LibreOffice, unchanged."""
    keys = Keys.load(saved["keys"])
    for out in saved["outs"]:
        whose = {"ben-template": "ben", "ana": "ben", "ben": "ana"}.get(out.stem, "ana")
        token = embedded(read_workbook(out)).more.get("token")
        assert token and owner(keys, token) == whose, out.name


def test_a_swapped_pair_saved_by_libreoffice_is_flagged_for_both(saved, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("ana", "ben"):
        shutil.copy(saved["saved"] / f"{name}.xlsx", subs / f"{name}.xlsx")
    book = grade(subs, saved["keys"], workers=1, progress=False)
    rows = {r["student"]: r for r in book.rows}
    assert (rows["ana"]["token"], rows["ben"]["token"]) == ("another student's (ben)", "another student's (ana)")
    assert rows["ana"]["values_match"].startswith("ben (") and rows["ben"]["values_match"].startswith("ana (")
    assert rows["ana"]["file_last_modified_by"] is not None and rows["ana"]["file_modified"]
    assert book.stats["flags"]["another student's token"] == 2


def test_a_template_saved_by_libreoffice_still_says_who_and_what(saved):
    result = check(saved["saved"] / "ben-template.xlsx", keys=saved["keys"])
    assert (result.student, result.matched_by, result.status) == ("ben", "embedded id", "mistakes")
    assert set(result.counts()) == {"missing"}


def test_feedback_copies_open_in_libreoffice(saved, tmp_path):
    sources = [saved["saved"] / f"{n}.xlsx" for n in ("one-wrong-row", "typed-values", "learning-rate-typed")]
    before = [p.read_bytes() for p in sources]
    copies = [check(p, keys=saved["keys"], feedback=tmp_path / f"{p.stem}-feedback.xlsx") and
              tmp_path / f"{p.stem}-feedback.xlsx" for p in sources]
    assert [p.read_bytes() for p in sources] == before  # the submissions are never modified
    pdfs = libreoffice_batch(copies, tmp_path / "pdf", fmt="pdf")
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
