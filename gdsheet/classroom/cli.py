"""The classroom verbs of ``python -m gdsheet``: ``template``, ``check``, ``grade``.

Wired into :mod:`gdsheet.cli` by two calls (:func:`add_commands`, :func:`run`)
so the classroom needs nothing else from the main command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

COMMANDS = ("template", "check", "grade")


def add_commands(sub: Any, add_exercise_options: Callable[[argparse.ArgumentParser, Any], None]) -> None:
    from ..exercises import EXERCISES

    tp = sub.add_parser(
        "template", help="write a student template and its key, or one template per roster student",
        description="Write the exercise's workbook with the student's cells left blank (parameters, data, "
                    "headers and iteration 0 filled in), and optionally its complete key. With --roster: one "
                    "template per student, each with its own parameters drawn from (--course-seed, student id), "
                    "and one keys file that 'grade' reads.")
    tsub = tp.add_subparsers(dest="exercise", metavar="EXERCISE")
    for name, ex in EXERCISES.items():
        entries: list[tuple[str, Any]] = [(name, None)] + [(preset, values) for preset, values in ex.presets.items()]
        for label, preset in entries:
            ranges = "; ".join(f"{k}: {v}" for k, v in ex.variation.items()) or "none (every student alike)"
            p = tsub.add_parser(label, help=ex.summary if preset is None else f"{name} with the preset {label!r}",
                                description=f"{ex.summary}. Per-student variants draw {ranges}.")
            p.add_argument("-o", "--output", default=None,
                           help=f"the template [default: {label}-template.xlsx]; with --roster, the folder of "
                                f"templates [default: {label}-templates]")
            p.add_argument("--key", metavar="KEY.xlsx", help="also write the complete workbook (the answer key)")
            p.add_argument("--blank", default="all", metavar="HOW",
                           help="'all': every formula cell after iteration 0 is blank [default]; 'after:N': "
                                "iterations 1..N stay filled in as a worked start")
            p.add_argument("--roster", metavar="ROSTER.csv",
                           help="a CSV with a column of student ids (other columns are kept in the keys file "
                                "and the gradebook): one template per student")
            p.add_argument("--course-seed", metavar="SEED",
                           help="the course seed the variants are drawn from (required with --roster; the same "
                                "roster and seed give the same files)")
            p.add_argument("--student", help="without --roster: write this student's variant (needs --course-seed)")
            p.add_argument("--course", default="", help="a course label shown on the Task sheet and in reports")
            p.add_argument("--keys", metavar="KEYS.json",
                           help="where the keys file goes [default: <output folder>.keys.json, beside the folder]")
            p.add_argument("--key-dir", metavar="DIR", help="with --roster: also write every student's key")
            p.add_argument("--id-column", metavar="NAME", help="the roster's student id column [default: the "
                                                               "first named like student/id/email, else the first]")
            p.add_argument("--rubric", metavar="RUBRIC.json", help="a rubric stored in the keys file for 'grade'")
            p.add_argument("--course-secret", metavar="TEXT", default=os.environ.get("GDSHEET_COURSE_SECRET"),
                           help="with --roster: the secret the per-student tokens are made with [default: "
                                "$GDSHEET_COURSE_SECRET, else the one in the existing keys file, else a new "
                                "random one]; it is stored in the keys file, never in a template")
            add_exercise_options(p, ex)
            p.set_defaults(template_of=(name, preset or {}, label))

    ck = sub.add_parser(
        "check", help="check a filled-in template: the first mistakes with their rows (exit 0 all right)",
        description="Find the exercise's table in the submission by its headers, evaluate the student's own "
                    "formulas and diagnose every cell against the reference of the student's variant: "
                    "right, wrong, typed value, typed-in constant, carried forward from an earlier mistake, "
                    "circular, error, empty. Exit status: 0 all correct, 1 mistakes, 2 unreadable or not this "
                    "exercise.")
    ck.add_argument("path")
    ref = ck.add_mutually_exclusive_group()
    ref.add_argument("--key", metavar="KEY.xlsx", help="the answer key written by 'template --key'")
    ref.add_argument("--keys", metavar="KEYS.json", help="the keys file written by 'template --roster'")
    ck.add_argument("--student", help="with --keys: whose variant [default: the id embedded in the file]")
    ck.add_argument("--feedback", metavar="OUT.xlsx",
                    help="write a copy with every diagnosed cell coloured and commented, and a Feedback sheet")
    ck.add_argument("--rubric", metavar="RUBRIC.json", help="points per cell, column, row; partial credit")
    ck.add_argument("--json", action="store_true", help="print the result as JSON")

    gr = sub.add_parser(
        "grade", help="grade a folder of submissions into a gradebook CSV",
        description="Check every workbook in the folder, each in its own process under a time and memory "
                    "limit, and write one gradebook row per file (student, file, sha256, score, max_score, "
                    "status, first_mistake, message, matched_by, the roster's columns) plus a 'missing' row "
                    "per student without a file.")
    gr.add_argument("folder")
    gr.add_argument("--keys", required=True, metavar="KEYS.json", help="the keys file of 'template --roster'")
    gr.add_argument("-o", "--output", default="gradebook.csv", help="the gradebook [default: gradebook.csv]")
    gr.add_argument("--feedback-dir", metavar="DIR", help="write a feedback copy of every submission here")
    gr.add_argument("--workers", type=int, default=None,
                    help="files checked at once; with --executor dask, the local cluster's workers "
                         "[default: CPU count]")
    gr.add_argument("--executor", choices=("processes", "dask"), default="processes",
                    help="'processes': a pool on this machine [default]; 'dask': a Dask distributed cluster "
                         "(pip install 'gdsheet[dask]') — a LocalCluster, or the one at --scheduler")
    gr.add_argument("--scheduler", metavar="ADDRESS",
                    help="with --executor dask: a running cluster's scheduler, e.g. tcp://host:8786 "
                         "(files are sent to its workers as bytes)")
    gr.add_argument("--rubric", metavar="RUBRIC.json", help="overrides the keys file's rubric")
    gr.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                    help="seconds per file before it is stopped and marked unreadable [60]")
    gr.add_argument("--memory-limit", type=float, default=1536, metavar="MB",
                    help="memory per file (address space beyond the checker's own) [1536]")
    gr.add_argument("--summary", metavar="SUMMARY.xlsx",
                    help="the class summary workbook: score distribution, common mistakes, where students first "
                         "go wrong, review flags [default: the gradebook's name with -summary.xlsx]")
    gr.add_argument("--json", action="store_true", help="print the summary and rows as JSON")
    gr.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="progress bar on stderr [default: when stderr is a terminal]")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run a classroom command; bad arguments raise ValueError (one line, exit 2)."""
    if args.command == "template":
        return _template(args, parser)
    if args.command == "check":
        return _check(args)
    return _grade(args)


def _template(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if getattr(args, "template_of", None) is None:
        parser.parse_args(["template", "--help"])
    from ..exercises import EXERCISES
    from .rubric import Rubric
    from .template import Blank, student_rows, write_roster, write_template

    name, preset, label = args.template_of
    ex = EXERCISES[name]
    values: dict[str, Any] = dict(preset)
    for prm in ex.params:
        text = getattr(args, prm.key, None)
        if text is not None:
            values[prm.key] = prm.parse(text)
    blank = Blank.parse(args.blank)
    rubric = Rubric.load(args.rubric).to_dict() if args.rubric else None
    if args.roster:
        if args.course_seed is None:
            raise ValueError("--roster needs --course-seed (keep it: the same roster and seed give the same "
                             "templates)")
        if args.key:
            raise ValueError("--key is for one template; with --roster use --key-dir")
        out = Path(args.output or f"{label}-templates")
        keys, keys_path = write_roster(name, args.roster, out, seed=args.course_seed, keys=args.keys, params=values,
                                       blank=blank, course=args.course, id_column=args.id_column,
                                       key_dir=args.key_dir, rubric=rubric, secret=args.course_secret)
        varied = ", ".join(ex.variation) or "nothing (this exercise has no variants)"
        print(f"wrote {len(keys.students)} templates to {out}/ ({name}; per student: {varied}; "
              f"course seed {args.course_seed})")
        if args.key_dir:
            print(f"wrote {len(keys.students)} keys to {args.key_dir}/")
        print(f"wrote {keys_path}: the keys 'grade' reads — keep it, do not hand it out")
        return 0
    if args.student is not None and args.course_seed is None:
        raise ValueError("--student needs --course-seed (the variant is drawn from it and the student id)")
    if args.key_dir or args.id_column:
        raise ValueError("--key-dir and --id-column go with --roster")
    out = Path(args.output or f"{label}-template.xlsx")
    w = write_template(name, out, key=args.key, params=values, blank=blank, student=args.student, seed=args.course_seed,
                       course=args.course)
    layout = ex.layout(w.params)
    todo = sum(len(r) for cols in student_rows(layout, blank).values() for r in cols.values())
    who = f" for student {args.student}" if args.student else ""
    print(f"wrote {out}: {name} template{who}, {todo} cells to fill (variant {w.variant})")
    if w.key is not None:
        print(f"wrote {w.key}: the complete workbook (answer key)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .check import check
    from .rubric import Rubric

    if args.student and not args.keys:
        raise ValueError("--student goes with --keys")
    rubric = Rubric.load(args.rubric) if args.rubric else None
    result = check(args.path, key=args.key, keys=args.keys, student=args.student, rubric=rubric,
                   feedback=args.feedback)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    elif result.exit_code == 2:
        print(f"gdsheet: error: {Path(args.path).name}: {result.status}: {result.message}", file=sys.stderr)
    else:
        print(result.text())
        if args.feedback:
            print(f"wrote {args.feedback}: the submission marked up, with a Feedback sheet")
    return result.exit_code


def _grade(args: argparse.Namespace) -> int:
    from .grade import grade
    from .rubric import Rubric

    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.time_limit <= 0 or args.memory_limit <= 0:
        raise ValueError("--time-limit and --memory-limit must be positive")
    rubric = Rubric.load(args.rubric) if args.rubric else None
    out = Path(args.output)
    summary = Path(args.summary) if args.summary else out.with_name(f"{out.stem}-summary.xlsx")
    book = grade(args.folder, args.keys, out=args.output, feedback_dir=args.feedback_dir, workers=args.workers,
                 rubric=rubric, time_limit=args.time_limit, memory_limit=int(args.memory_limit * 2**20),
                  progress=args.progress, executor=args.executor, scheduler=args.scheduler,
                  summary=summary)
    if args.json:
        print(json.dumps(book.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(book.summary())
        print(f"wrote {args.output} and {summary}")
    return 0
