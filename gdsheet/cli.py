"""``python -m gdsheet``: the command line.

The verbs follow a teacher's week: ``generate`` a workbook, ``read`` one back,
``verify`` that a workbook computes what numpy computes.  Every exercise's
options come from its parameter list, so a new exercise needs no CLI code.

Exit status: 0 success / agreement, 1 disagreement, 2 the input cannot be used
(missing, damaged, hostile, not a gdsheet workbook, bad option).  Errors are
one line on stderr, never a traceback (set GDSHEET_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .exercises import EXERCISES

ENGINES = ("python", "libreoffice", "gnumeric")


class UsageError(Exception):
    """Bad input or option: exit status 2 with this one-line message."""


def _add_exercise_options(parser: argparse.ArgumentParser, exercise: Any) -> None:
    for prm in exercise.params:
        flag = "--" + prm.key.replace("_", "-")
        if not prm.cli or flag in parser._option_string_actions:  # a command's own option wins (template --seed)
            continue
        default = prm.default
        shown = ",".join(f"{v:g}" for v in default) if isinstance(default, list) else default
        bounds = []
        if prm.minimum is not None:
            bounds.append(f"≥ {prm.minimum:.12g}")
        if prm.maximum is not None:
            bounds.append(f"≤ {prm.maximum:.12g}")
        help_text = prm.label + (f" ({', '.join(bounds)})" if bounds else "")
        if prm.help:
            help_text += f"; {prm.help}"
        help_text += f" [default: {shown}]" if default is not None else ""
        metavar = "|".join(prm.choices) if prm.choices else prm.kind.upper()
        parser.add_argument(flag, dest=prm.key, metavar=metavar, default=None, help=help_text)


CORE_COMMANDS = ("generate", "read", "verify", "recalc")


def build_parser(classroom: bool = True) -> argparse.ArgumentParser:
    """The command line.  ``classroom=False`` leaves out template/check/grade: importing the
    classroom package costs ~0.15 s, a tenth of a 100k-row ``verify`` (see :func:`main`)."""
    parser = argparse.ArgumentParser(
        prog="gdsheet",
        description="Gradient descent in a spreadsheet: generate live-formula workbooks, read them, "
                    "and verify that their formulas compute what numpy computes.",
        epilog="Exit status: 0 ok, 1 disagreement, 2 unusable input. Run 'gdsheet COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"gdsheet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser("generate", help="write an exercise workbook (live formulas with cached values)",
                         description="Write an exercise workbook whose iteration tables are live formulas.")
    gen_sub = gen.add_subparsers(dest="exercise", metavar="EXERCISE")
    for name, exercise in EXERCISES.items():
        p = gen_sub.add_parser(name, help=exercise.summary, description=exercise.summary)
        p.add_argument("-o", "--output", default=f"{name}.xlsx", help=f"where to write [default: {name}.xlsx]")
        _add_exercise_options(p, exercise)
        for preset, values in exercise.presets.items():
            pp = gen_sub.add_parser(preset, help=f"{name} with the preset {preset!r}")
            pp.add_argument("-o", "--output", default=f"{preset}.xlsx")
            _add_exercise_options(pp, exercise)
            pp.set_defaults(preset=(name, values))

    rd = sub.add_parser("read", help="print a sheet of a workbook as a table, CSV or JSON",
                        description="Read a sheet (default: the workbook's main table) into a table.")
    rd.add_argument("path")
    rd.add_argument("--sheet", help="sheet name [default: the main table of a gdsheet workbook, else the first]")
    rd.add_argument("--format", choices=("table", "csv", "json"), default="table")
    rd.add_argument("--long", action="store_true",
                    help="the per-observation table (one row per iteration and observation) instead of the "
                         "iterations")

    vf = sub.add_parser("verify", help="check a gdsheet workbook against its numpy reference",
                        description="Evaluate the workbook's formulas and compare every formula cell, "
                                    "its cached value and optionally a real engine's recalculation with numpy.")
    vf.add_argument("path")
    vf.add_argument("--engine", action="append", default=None, metavar="ENGINE",
                    help="python (gdsheet's evaluator, always on), libreoffice, gnumeric; "
                         "repeat or separate with commas")
    vf.add_argument("--json", action="store_true", help="print the report as JSON")

    rc = sub.add_parser("recalc", help="recalculate any workbook in Python and check its cached values",
                        description="Evaluate every formula of any workbook (not only gdsheet's) with Excel "
                                    "semantics and compare each result with the value cached in the file: "
                                    "stale or forged caches, formula cells without one, circular references, "
                                    "volatile and unsupported functions are reported cell by cell. Exit status: "
                                    "0 every cached value agrees, 1 some differ or are missing, 2 unreadable.")
    rc.add_argument("path")
    rc.add_argument("-o", "--output", metavar="OUT",
                    help="also write a copy whose cached values are the recalculated ones (everything else "
                         "kept as it is; the input is never modified)")
    rc.add_argument("--sheet", action="append", default=None, metavar="NAME",
                    help="check only this sheet (repeat for more) [default: every sheet]")
    rc.add_argument("--json", action="store_true", help="print the report as JSON")
    if classroom:
        from .classroom.cli import add_commands

        add_commands(sub, _add_exercise_options)  # template, check, grade
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    core = bool(words) and words[0] in CORE_COMMANDS  # a core command: the classroom's verbs are not needed
    parser = build_parser(classroom=not core)
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in ("template", "check", "grade"):
            from .classroom.cli import run

            return run(args, parser)
        if args.command == "generate":
            return _generate(args, parser)
        if args.command == "read":
            return _read(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "recalc":
            return _recalc(args)
    except KeyboardInterrupt:
        print("gdsheet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # one line, never a traceback
        if os.environ.get("GDSHEET_DEBUG"):
            raise
        print(f"gdsheet: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 2


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    known = ("UnreadableWorkbook", "VerifyError", "UsageError", "ValueError", "EngineError", "EngineMissing",
             "KeysError", "RosterError",
             "FormulaError", "FileNotFoundError", "PermissionError", "IsADirectoryError")
    if type(exc).__name__ not in known:
        msg = f"{type(exc).__name__}: {msg}"
    return msg


def _generate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.exercise is None:
        parser.parse_args(["generate", "--help"])
    from .api import layout as make_layout
    from .workbook.writer import write_layout

    name, preset = getattr(args, "preset", (args.exercise, {}))
    exercise = EXERCISES[name]
    values: dict[str, Any] = dict(preset)
    for prm in exercise.params:
        text = getattr(args, prm.key, None) if prm.cli else None
        if text is not None:
            values[prm.key] = prm.parse(text)
    layout = make_layout(name, **values)
    path = write_layout(layout, args.output)
    cells = sum(1 for sl in layout.sheets for c in sl.cells if c.formula)
    rows = 0
    for sl in layout.sheets:
        if sl.table is not None:
            n = sl.table.n_rows
            rows += n
            cells += sum(n - sum(1 for h in col.head if not str(h).startswith("=")) for col in sl.table.columns
                         if col.formula is not None)
    tables = sum(1 for sl in layout.sheets  # a data table (constants only) is not an iteration table
                 if sl.table is not None and any(c.formula is not None for c in sl.table.columns))
    print(f"wrote {path}: {name}, {tables} iteration table{'s' if tables != 1 else ''}, "
          f"{rows} rows, {cells} formula cells")
    return 0


def _read(args: argparse.Namespace) -> int:
    from .api import read

    if args.long and args.sheet:
        raise UsageError("--long and --sheet: give one of them")
    frame = read(args.path, sheet=args.sheet, long=args.long)
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False) + "\n")
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", 60, "display.max_columns", 50, "display.width", 200):
            print(frame.to_string(index=False, max_rows=60))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .verifier import verify

    engines: list[str] = []
    for item in args.engine or []:
        for e in item.split(","):
            e = e.strip().lower()
            if e not in ENGINES:
                raise UsageError(f"--engine: unknown engine {e!r} (choose from {', '.join(ENGINES)})")
            if e != "python" and e not in engines:
                engines.append(e)
    report = verify(args.path, engines)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.text())
    return 0 if report.ok else 1


def _recalc(args: argparse.Namespace) -> int:
    from .recalculator import recalc

    report = recalc(args.path, args.sheet, output=args.output)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
