"""A marked-up copy of a submission for people: coloured cells, comments, a Feedback sheet.

The copy is made with openpyxl (it is for reading, not for grading): every
diagnosed cell is filled with a colour — green right, yellow carried forward
(right formula, wrong inputs), red a mistake, grey empty — and each mistake
carries a comment saying what was expected and why.  A ``Feedback`` sheet,
first and active, gives the score, the counts and the list of mistakes with
links to their cells.  The submission itself is only read: the copy is
written to another path (atomically), never over the original.

openpyxl keeps the sheets, formulas, names and the charts it can read, and
drops what it does not model (images, some chart formatting); macros and
links to other workbooks are not carried into the copy.  A workbook too large to
mark up cell by cell (over ``MAX_CELLS`` cells) gets the Feedback sheet alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .report import CheckResult, _KIND_TEXT, fmt

MAX_CELLS = 300_000
MAX_COMMENTS = 2_000
MAX_LISTED = 500
COLOURS = {"correct": "C6EFCE", "carried_forward": "FFEB9C", "missing": "D9D9D9"}
MISTAKE_COLOUR = "FFC7CE"
PATTERN_COLOUR = "F8CBAD"  # a row whose formula is not its column's shape
FEEDBACK_SHEET = "Feedback"


def write_feedback(src: str | os.PathLike[str], result: CheckResult, out: str | os.PathLike[str]) -> Path:
    """Write the marked-up copy of ``src`` to ``out`` and return ``out``."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill

    src, out = Path(src), Path(out)
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise ValueError("the feedback copy must not overwrite the submission")
    book = None
    why_plain = ""
    if result.graded and src.stat().st_size <= 20 * 2**20:
        try:
            book = openpyxl.load_workbook(src, keep_vba=False, keep_links=False, rich_text=False)
            if sum((ws.max_row or 0) * (ws.max_column or 0) for ws in book.worksheets) > 50 * MAX_CELLS:
                book, why_plain = None, "the workbook is too large to mark up cell by cell"
        except Exception as exc:  # openpyxl fails in many ways on odd files: fall back to the summary alone
            book, why_plain = None, f"the workbook could not be copied ({type(exc).__name__})"
    if book is None:
        book = openpyxl.Workbook()
        book.remove(book.active)
    fills = {k: PatternFill("solid", fgColor=v) for k, v in COLOURS.items()}
    bad = PatternFill("solid", fgColor=MISTAKE_COLOUR)
    if why_plain == "" and result.graded and FEEDBACK_SHEET not in book.sheetnames:
        comments = 0
        for c in result.cells:
            if c.sheet not in book.sheetnames or c.col < 1:
                continue
            cell = book[c.sheet].cell(row=c.row, column=c.col)
            cell.fill = fills.get(c.kind, bad)
            if not c.ok and comments < MAX_COMMENTS:
                cell.comment = Comment(_comment(c), "gdsheet", width=320, height=140)
                comments += 1
        for b in result.patterns:  # rows off their column's pattern: orange, with the usual formula
            if b.sheet not in book.sheetnames:
                continue
            cell = book[b.sheet].cell(row=b.row, column=b.col)
            if cell.fill is None or cell.fill.fgColor.rgb in (None, "00000000") or \
                    cell.fill.fgColor.rgb.endswith(COLOURS["correct"]):
                cell.fill = PatternFill("solid", fgColor=PATTERN_COLOUR)
            if cell.comment is None and comments < MAX_COMMENTS:
                cell.comment = Comment(b.text(), "gdsheet", width=320, height=140)
                comments += 1
    name = FEEDBACK_SHEET if FEEDBACK_SHEET not in book.sheetnames else "gdsheet feedback"
    ws = book.create_sheet(name, 0)
    book.active = 0
    for other in book.worksheets[1:]:
        other.sheet_view.tabSelected = False
    bold = Font(bold=True)
    rows: list[list[Any]] = [[f"Feedback on {src.name}"], []]
    rows.append(["status", result.status])
    if result.message:
        rows.append(["", result.message])
    if result.graded:
        rows += [["exercise", result.exercise], ["student", result.student or ""], ["variant", result.variant],
                 ["score", round(result.score, 2)], ["out of", round(result.max_score, 2)],
                 ["table found at", result.table], []]
        rows.append(["cells", "how many"])
        rows += [[_KIND_TEXT.get(k, k), n] for k, n in result.counts().items()]
        rows.append([])
        rows.append(["colours", "green right · yellow right formula, wrong only because of an earlier mistake · "
                                "red a mistake · grey empty · orange a formula of another shape than its column"])
        if result.reseed is not None:
            rows.append(["re-seeded check", result.reseed.text()])
        for b in result.patterns[:MAX_LISTED]:
            rows.append(["pattern", b.text()])
    for n in result.notes + ([why_plain] if why_plain else []):
        rows.append(["note", n])
    rows.append([])
    mistakes = result.mistakes()
    if mistakes:
        rows.append(["cell", "column", "what", "expected", "found", "your formula", "note",
                     "what the column computes"])
        header_row = len(rows)
        for c in mistakes[:MAX_LISTED]:
            rows.append([c.cell, c.header, _KIND_TEXT.get(c.kind, c.kind), _plain(c.expected), _plain(c.found),
                         c.formula or "", c.note, c.explanation])
        if len(mistakes) > MAX_LISTED:
            rows.append([f"... and {len(mistakes) - MAX_LISTED} more"])
    else:
        header_row = 0
    for r, values in enumerate(rows, start=1):
        for j, v in enumerate(values, start=1):
            cell = ws.cell(row=r, column=j, value=v)
            if isinstance(v, str) and v.startswith("="):
                cell.data_type = "s"  # a formula shown as text, not computed
            if j == 1 and r > 1 and (header_row == 0 or r < header_row):
                cell.font = bold
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    if header_row:
        for j in range(1, 9):
            ws.cell(row=header_row, column=j).font = bold
        for r in range(header_row + 1, header_row + 1 + min(len(mistakes), MAX_LISTED)):
            c = mistakes[r - header_row - 1]
            if c.sheet in book.sheetnames and c.sheet != name:
                ws.cell(row=r, column=1).hyperlink = f"#{c.cell}"
    for letter, width in zip("ABCDEFGH", (18, 16, 22, 14, 14, 28, 50, 60)):
        ws.column_dimensions[letter].width = width
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".gdsheet-feedback-", suffix=".xlsx", dir=out.parent)
    os.close(fd)
    try:
        book.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, float):
        return v if v == v and abs(v) != float("inf") else "#NUM!"
    if isinstance(v, (str, bool)) or v is None:
        return v
    return str(v)


def _comment(c: Any) -> str:
    what = _KIND_TEXT.get(c.kind, c.kind)
    lines = [f"{what}."]
    if c.kind in ("wrong", "error", "hardcoded", "typed", "missing", "circular", "unsupported", "invalid",
                  "external"):
        lines.append(f"Expected {fmt(c.expected)}" + (f", found {fmt(c.found)}." if c.found is not None else "."))
    if c.formula:
        lines.append(f"Your formula: {c.formula}")
    if c.note:
        lines.append(c.note)
    if c.explanation:
        lines.append(f"This column: {c.explanation}")
    return "\n".join(lines)
