"""Class statistics: what a teacher reads after ``grade`` — as numbers (``--json``) and a workbook.

From the per-file evidence ``grade`` collects (:func:`gdsheet.classroom.integrity.evidence`):

* **scores**: how many graded files fall in each tenth of the maximum (and at 100%), mean, median;
* **common mistakes**: for each column and kind of mistake (a typed-in constant is told apart by the
  input it should reference), the share of graded files that make it at least once —
  "38% typed learning_rate in as a number in the x_k column";
* **first mistakes**: on which iteration row students first go wrong (data row 0 = iteration 0);
* **review flags**: how many files carry each integrity flag (:mod:`.integrity`), and which.

:func:`write_summary` writes the same numbers to an .xlsx (XlsxWriter, native charts): sheets
*Summary*, *Scores* (column chart), *First mistakes* (column chart) and *Review*.
"""

from __future__ import annotations

import os
import re
import statistics
from pathlib import Path
from typing import Any

import xlsxwriter

from ..workbook.writer import document_properties
from .report import _KIND_TEXT

BINS = [f"{10 * i}–{10 * i + 9}%" for i in range(10)] + ["100%"]
TOP = 15  # mistakes listed
_PHRASE = {
    "hardcoded": "typed {detail} in as a number",
    "typed": "typed values instead of formulas",
    "wrong": "have wrong formulas",
    "fixed": "have formulas right only for their own inputs",
    "error": "have error values",
    "missing": "left cells empty",
    "pattern": "have rows whose formula breaks the column's pattern",
}


def mistake_key(header: str, kind: str, note: str) -> str:
    """The statistics' key of one mistake: column, kind and, for a typed-in constant, the input's name."""
    m = re.search(r"where the cell (\S+) should be referenced", note or "")
    return f"{header}\t{kind}\t{m.group(1) if m and kind == 'hardcoded' else ''}"


def class_summary(rows: list[dict[str, Any]], evidences: list[dict[str, Any] | None],
                  flags: dict[str, int]) -> dict[str, Any]:
    """The class's numbers (see the module doc); rows and evidences in gradebook order."""
    graded = [ev for ev in evidences if ev is not None and ev.get("percent") is not None]
    n = len(graded)
    bins = [0] * len(BINS)
    for ev in graded:
        p = ev["percent"]
        bins[10 if p >= 100 - 1e-9 else min(9, max(0, int(p // 10)))] += 1
    percents = [ev["percent"] for ev in graded]
    counts: dict[str, int] = {}
    for ev in graded:
        for key in ev.get("mistakes") or {}:
            counts[key] = counts.get(key, 0) + 1
    mistakes = []
    for key, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        header, kind, detail = (key.split("\t") + ["", ""])[:3]
        pct = 100 * k / n if n else 0.0
        phrase = _PHRASE.get(kind, _KIND_TEXT.get(kind, kind)).format(detail=detail or "a parameter")
        mistakes.append({"column": header, "kind": kind, "detail": detail, "files": k, "percent": round(pct, 1),
                         "text": f"{pct:.0f}% {phrase} in the {header} column"})
    first: dict[int, int] = {}
    for ev in graded:
        if ev.get("first_wrong") is not None:
            first[ev["first_wrong"]] = first.get(ev["first_wrong"], 0) + 1
    flagged = [{"student": r.get("student", ""), "file": r.get("file", ""), "review": r["review"]}
               for r in rows if r.get("review")]
    return {
        "graded": n,
        "scores": {"bins": dict(zip(BINS, bins)),
                   "mean_percent": round(statistics.fmean(percents), 1) if percents else None,
                   "median_percent": round(statistics.median(percents), 1) if percents else None,
                   "all_correct": bins[10]},
        "mistakes": mistakes,
        "first_mistake_rows": {str(k): v for k, v in sorted(first.items())},
        "without_mistakes": n - sum(first.values()),
        "flags": dict(flags),
        "flagged": flagged,
    }


def summary_text(s: dict[str, Any], limit: int = 5) -> list[str]:
    """A few lines for the terminal."""
    sc = s["scores"]
    lines = [f"class: {s['graded']} graded, mean {sc['mean_percent']}%, median {sc['median_percent']}%, "
             f"{sc['all_correct']} all correct"]
    lines += [f"  {m['text']}" for m in s["mistakes"][:limit]]
    rows = s["first_mistake_rows"]
    if rows:
        top = max(rows.items(), key=lambda kv: (kv[1], -int(kv[0])))
        lines.append(f"  most first mistakes on iteration row {top[0]} ({top[1]} file{'' if top[1] == 1 else 's'})")
    flagged = {k: v for k, v in s["flags"].items() if v}
    if flagged:
        lines.append("review flags: " + ", ".join(f"{v} {k}" for k, v in flagged.items()))
    return lines


def _safe(v: Any) -> Any:
    """Text as a workbook may hold it: never ``_x`` + hex digits + ``_`` (Excel's escape for characters)."""
    return re.sub(r"_(x[0-9A-Fa-f]+_)", r"-\1", v) if isinstance(v, str) else v


def _files_chart(book: Any, sheet: Any, rows: int, title: str, x_name: str) -> None:
    """A column chart of the sheet's "files" column (B) by its first column (A), rows 2..rows+1."""
    chart = book.add_chart({"type": "column"})
    chart.add_series({"name": "files", "categories": [sheet.name, 1, 0, rows, 0],
                      "values": [sheet.name, 1, 1, rows, 1]})
    chart.set_title({"name": title})
    chart.set_x_axis({"name": x_name})
    chart.set_y_axis({"name": "files"})
    chart.set_legend({"none": True})
    sheet.insert_chart("D2", chart, {"x_scale": 1.5, "y_scale": 1.3})


def write_summary(s: dict[str, Any], path: str | os.PathLike[str], title: str = "") -> Path:
    """Write the class summary workbook (atomically) and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    book = xlsxwriter.Workbook(str(tmp), {"strings_to_numbers": False, "strings_to_formulas": False,
                                          "strings_to_urls": False})
    book.set_properties(document_properties(title or "Class summary", "gdsheet class summary"))
    bold = book.add_format({"bold": True})
    head = book.add_format({"bold": True, "bottom": 1})
    big = book.add_format({"bold": True, "font_size": 14})
    pct = book.add_format({"num_format": "0.0"})

    ws = book.add_worksheet("Summary")
    ws.set_column(0, 0, 70)
    ws.set_column(1, 3, 14)
    ws.write(0, 0, _safe(title or "Class summary"), big)
    sc = s["scores"]
    r = 2
    for label, value in (("graded files", s["graded"]), ("mean score (%)", sc["mean_percent"]),
                         ("median score (%)", sc["median_percent"]), ("all correct", sc["all_correct"]),
                         ("without a mistake", s["without_mistakes"])):
        ws.write(r, 0, label, bold)
        ws.write(r, 1, value if value is not None else "")
        r += 1
    r += 1
    ws.write_row(r, 0, ["most common mistakes", "files", "% of graded", "kind"], head)
    for m in s["mistakes"][:TOP]:
        r += 1
        ws.write_row(r, 0, [_safe(m["text"]), m["files"]])
        ws.write(r, 2, m["percent"], pct)
        ws.write(r, 3, m["kind"])
    r += 2
    ws.write_row(r, 0, ["review flags (for a person to look at, never a grade)", "files"], head)
    for k, v in s["flags"].items():
        r += 1
        ws.write_row(r, 0, [k, v])

    sheet = book.add_worksheet("Scores")
    sheet.write_row(0, 0, ["score", "files"], head)
    for i, (label, v) in enumerate(sc["bins"].items(), start=1):
        sheet.write_row(i, 0, [label, v])
    _files_chart(book, sheet, len(BINS), "Score distribution", "score (% of the maximum)")

    sheet = book.add_worksheet("First mistakes")
    sheet.write_row(0, 0, ["iteration row", "files"], head)
    rows = s["first_mistake_rows"]
    for i, (k, v) in enumerate(rows.items(), start=1):
        sheet.write_row(i, 0, [int(k), v])
    if rows:
        _files_chart(book, sheet, len(rows), "Where students first go wrong", "iteration row of the first mistake")

    sheet = book.add_worksheet("Review")
    sheet.set_column(0, 1, 18)
    sheet.set_column(2, 2, 120)
    sheet.write_row(0, 0, ["student", "file", "why to look"], head)
    for i, f in enumerate(s["flagged"], start=1):
        sheet.write_row(i, 0, [_safe(f["student"]), _safe(f["file"]), _safe(f["review"])])
    book.close()
    os.replace(tmp, out)
    return out
