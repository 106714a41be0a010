"""Property test: gdsheet's evaluator agrees with LibreOffice on random arithmetic.

Hypothesis draws (derandomized) the seeds of batches of 200 random formulas (numbers, cell references,
+ - * / ^, unary minus, with and without parentheses, ABS/SQRT/EXP/LN/ROUND/IF/
MIN/MAX and comparisons).  Each batch goes into ONE workbook written by
openpyxl without cached values, LibreOffice recalculates it once (a headless
``--convert-to xlsx``), and every cell must agree with gdsheet:

* numbers within 1e-12 relative (plus 1e-300 absolute) -- or within 1e-14 of the
  largest magnitude met while computing the formula, because LibreOffice rounds
  to 15 significant digits and snaps near-zero differences (``0.1+0.2-0.3``) to 0;
* errors as "both errors": LibreOffice and Excel do not always pick the same
  code (LibreOffice's SQRT(-1) is #VALUE!, Excel's #NUM!);
* booleans equal.

Known, deliberate differences are kept out of the generator: ``0^0`` (Excel
#NUM!, LibreOffice 1) and underflow to zero (Excel 0, LibreOffice #NUM!) -- so
exponents are a few fixed non-zero literals.  The generation is derandomized and
never shrinks (a shrink step would cost a LibreOffice run): a failure lists
every disagreeing formula of the batch.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engines_available import require_engine
from gdsheet.formula.compiler import SimpleContext, compile_shape
from gdsheet.formula.errors import ExcelError
from gdsheet.formula.evaluator import evaluate
from gdsheet.formula.parser import parse, to_shape, walk
from gdsheet.workbook.model import Formula, Sheet, Workbook

pytestmark = pytest.mark.engine

DATA = {1: 2.0, 2: -3.0, 3: 0.5, 4: 0.0, 5: 1.25, 6: -0.75, 7: 10.0}  # Data!A1:A7; A8 empty
BATCH = 200

_NUMBERS = [0, 1, 2, 3, 5, 7, 10, 100, 1000, 0.5, 0.25, 1.5, 2.75, 12.5, 0.1, 0.3, 1.1, 0.001, 3.14159, 1e-5, 2e5]


def random_formula(rng: random.Random, depth: int = 4) -> str:
    """One random formula text (without '=')."""
    return _random(rng, depth)[0]


def _random(rng: random.Random, depth: int) -> tuple[str, bool]:
    """(text, may be a boolean).  Operands of comparisons are kept numeric: Excel
    ranks every boolean above every number (``TRUE>5``), LibreOffice compares
    TRUE as 1 -- a real difference, tested against Excel's rule elsewhere."""
    if depth <= 0 or rng.random() < 0.2:
        if rng.random() < 0.5:
            v = rng.choice(_NUMBERS)
            return (repr(v) if isinstance(v, float) else str(v)), False
        return f"Data!A{rng.randint(1, 8)}", False  # A8 is empty
    kind = rng.choice(["bin", "bin", "bin", "bin", "pow", "neg", "fn1", "round", "if", "minmax", "cmp"])

    def sub() -> str:
        return _random(rng, depth - 1)[0]

    def number() -> str:
        text, boolean = _random(rng, depth - 1)
        return f"({text})*1" if boolean else text

    if kind == "bin":
        a, b = sub(), sub()
        text = f"{a}{rng.choice('+-*/')}{b}"
        return (f"({text})" if rng.random() < 0.5 else text), False
    if kind == "pow":
        base = sub()
        text = f"{base}^{rng.choice(['2', '3', '0.5', '-1', '1.5', '-2', '(1/3)', '0.2', '(2/3)', '(-1/3)'])}"
        return (f"({text})" if rng.random() < 0.5 else text), False
    if kind == "neg":
        return f"-{sub()}", False
    if kind == "fn1":
        return f"{rng.choice(['ABS', 'SQRT', 'EXP', 'LN'])}({sub()})", False
    if kind == "round":
        return f"ROUND({sub()},{rng.randint(-1, 3)})", False
    if kind == "if":
        op = rng.choice(["=", "<>", "<", ">", "<=", ">="])
        yes, yes_bool = _random(rng, depth - 1)
        no, no_bool = _random(rng, depth - 1)
        return f"IF({number()}{op}{number()},{yes},{no})", yes_bool or no_bool
    if kind == "minmax":
        args = [sub() for _ in range(rng.randint(1, 3))]
        return f"{rng.choice(['MIN', 'MAX'])}({','.join(args)})", False
    op = rng.choice(["=", "<>", "<", ">", "<=", ">="])
    return f"({number()}{op}{number()})", True


def _gdsheet_values(texts: list[str]) -> dict[int, Any]:
    data = Sheet("Data", values={(r, 1): v for r, v in DATA.items()})
    f = Sheet("F")
    for i, text in enumerate(texts, 1):
        f.formulas[(i, 1)] = Formula(text, i, 1)
    ev = evaluate(Workbook(sheets={"F": f, "Data": data}), strict=True)
    return {r: v for (r, _), v in ev.values["F"].items()}


def _magnitude(text: str, row: int) -> float:
    """Largest |number| among the formula's literals and intermediate results."""
    ctx = SimpleContext({"Data": {(r, 1): v for r, v in DATA.items()}, "F": {}}, "F")
    biggest = 0.0
    for node in walk(to_shape(parse(text), row, 1)):
        try:
            v = compile_shape(node)(ctx, row, 1)
        except Exception:  # noqa: BLE001 - a sub-node that is not a formula on its own (none expected)
            continue
        if isinstance(v, float) and math.isfinite(v):
            biggest = max(biggest, abs(v))
    return biggest


def _libreoffice_values(soffice: str, texts: list[str], tmp: Path) -> dict[int, Any]:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "F"
    data = wb.create_sheet("Data")
    for r, v in DATA.items():
        data.cell(r, 1, v)
    for i, text in enumerate(texts, 1):
        ws.cell(i, 1, "=" + text)
    src = tmp / "batch.xlsx"
    wb.save(src)
    out_dir = tmp / "out"
    out_dir.mkdir()
    profile = Path(f"/tmp/gdsheet-lo-{uuid.uuid4().hex}")  # a private profile: no clash with a running soffice
    try:
        proc = subprocess.run(
            [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
             "--convert-to", "xlsx", "--outdir", str(out_dir), str(src)],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    result = out_dir / "batch.xlsx"
    assert result.exists(), f"LibreOffice wrote nothing: {proc.stdout} {proc.stderr}"
    back = openpyxl.load_workbook(result, data_only=True)["F"]
    return {i: back.cell(i, 1).value for i in range(1, len(texts) + 1)}


def _agree(ours: Any, theirs: Any, magnitude: float) -> bool:
    if isinstance(ours, ExcelError) or (isinstance(theirs, str) and theirs.startswith("#")):
        return isinstance(ours, ExcelError) and isinstance(theirs, str) and theirs.startswith("#")
    if isinstance(ours, bool) or isinstance(theirs, bool):
        if isinstance(theirs, bool) and isinstance(ours, float):
            # LibreOffice formats a number computed from a comparison (-(1>2)) as a
            # boolean and writes it so; Excel shows the number
            return ours == float(theirs)
        return ours == theirs and isinstance(ours, bool) and isinstance(theirs, bool)
    if theirs is None:
        theirs = 0.0
    if not isinstance(ours, float) or not isinstance(theirs, (int, float)):
        return False
    diff = abs(ours - float(theirs))
    return diff <= max(1e-12 * max(abs(ours), abs(float(theirs))), 1e-300, 1e-14 * magnitude)


@settings(max_examples=2, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_random_arithmetic_agrees_with_libreoffice(tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    soffice = require_engine("libreoffice")
    rng = random.Random(seed)
    texts = [random_formula(rng) for _ in range(BATCH)]
    tmp = tmp_path_factory.mktemp("lo")
    ours = _gdsheet_values(texts)
    theirs = _libreoffice_values(soffice, texts, tmp)
    bad = []
    for i, text in enumerate(texts, 1):
        if not _agree(ours[i], theirs[i], _magnitude(text, i)):
            bad.append(f"={text}: gdsheet {ours[i]!r}, LibreOffice {theirs[i]!r}")
    assert not bad, f"{len(bad)} of {len(texts)} formulas disagree:\n" + "\n".join(bad)
