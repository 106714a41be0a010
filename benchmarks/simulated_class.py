"""A simulated class: roster, per-student templates, and submissions filled the way students fill them.

    python benchmarks/simulated_class.py DIR [--students 50] [--seed 6]

writes ``DIR/roster.csv``, ``DIR/templates/`` (one quadratic template per student), the keys file
``DIR/templates.keys.json``, the answer keys ``DIR/keys/`` and ``DIR/submissions/``: every student's
template filled with openpyxl (tests/students.py) — most right, the others with the mistakes
students make (the learning rate typed in, one wrong row, typed values, 2a worked out by hand, one
row typed with another anchor, half done) — plus two students who swapped templates and one who
pasted a classmate's values into their own.  The same arguments give the same class.  It is the
README's example of ``gdsheet grade``'s review flags and class summary.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from gdsheet.classroom import write_roster  # noqa: E402
from students import fill, formula, paste_values  # noqa: E402


def behaviours(lr: float) -> list[tuple[str, int, dict]]:
    """(name, weight, fill options) of the ways a student fills the template."""
    return [
        ("right", 22, {}),
        ("learning rate typed in", 5, {"columns": {"x": formula("={x[-1]}-" + repr(lr) + "*{grad[-1]}")}}),
        ("one wrong row", 5, {"cells": {("x", 10): "=B11-learning_rate*D11*2"}}),
        ("typed values", 4, {"cells": {("fx", k): 1.5 for k in range(5, 9)}}),
        ("2a worked out", 3, {"columns": {"grad": formula("=10*{x}+coef_b")}}),
        ("one row by hand", 3, {"cells": {("x", 20): "=B21-learning_rate*D$21"}}),
        ("half done", 3, {"rows": 30}),
    ]


def make_class(folder: Path, students: int = 50, seed: int = 6) -> dict[str, str]:
    """Write the class (see the module doc); return {student: what they did}."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"s{i:03d}" for i in range(1, students + 1)]
    (folder / "roster.csv").write_text("student\n" + "\n".join(ids) + "\n")
    keys, _ = write_roster("quadratic", folder / "roster.csv", folder / "templates", seed=f"class-{seed}",
                           course="ML101", key_dir=folder / "keys", secret=f"simulated class {seed}")
    subs = folder / "submissions"
    subs.mkdir(exist_ok=True)
    rng = random.Random(seed)
    did: dict[str, str] = {}
    t = folder / "templates"
    swapped = (ids[10], ids[11]) if students > 12 else ()
    pasted = (ids[20], ids[21]) if students > 22 else ()
    for sid in ids:
        if swapped and sid in swapped:
            other = swapped[1] if sid == swapped[0] else swapped[0]
            fill(t / f"{other}.xlsx", subs / f"{sid}.xlsx")
            did[sid] = f"handed in {other}'s template, filled"
            continue
        if pasted and sid == pasted[0]:
            paste_values(t / f"{sid}.xlsx", folder / "keys" / f"{pasted[1]}.key.xlsx", subs / f"{sid}.xlsx")
            did[sid] = f"pasted {pasted[1]}'s values"
            continue
        options = behaviours(keys.student(sid).params["lr"])
        name, _, how = rng.choices(options, weights=[w for _, w, _ in options])[0]
        fill(t / f"{sid}.xlsx", subs / f"{sid}.xlsx", **how)
        did[sid] = name
    return did


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    did = make_class(args.folder, args.students, args.seed)
    counts: dict[str, int] = {}
    for what in did.values():
        key = what if not what.startswith(("handed in", "pasted")) else what.split(" ")[0] + " ..."
        counts[key] = counts.get(key, 0) + 1
    print(f"wrote a class of {len(did)} to {args.folder}/: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


if __name__ == "__main__":
    main()
