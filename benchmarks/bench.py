#!/usr/bin/env python3
"""Benchmark gdsheet against the tools a user would otherwise reach for.

What is measured, and why whole processes
-----------------------------------------
A user runs ``gdsheet generate`` or ``gdsheet verify`` and waits until the
prompt comes back: interpreter start-up, imports (numpy alone is ~0.2 s),
reading, computing, writing and exiting are all part of that wait.  So every
tool is timed the same way, as a whole child process from ``Popen`` to the
end of ``os.wait4``, and its peak memory is the ``ru_maxrss`` that ``wait4``
reports (the largest resident set of the child or of any descendant it waited
for -- a maximum, not a sum).  The comparisons, all on the SAME files in the
SAME run:

* **generation** -- ``python -m gdsheet generate quadratic --steps N`` against a
  script writing the same cells (same formulas as text, header row, defined
  names on a Parameters sheet) with openpyxl in write-only mode, its fastest
  mode; openpyxl cannot store cached values, gdsheet does;
* **verify** -- ``python -m gdsheet verify FILE`` against LibreOffice
  (``soffice --headless --convert-to xlsx``) and Gnumeric (``ssconvert
  --recalc``) recalculating a copy whose cached values were stripped
  beforehand (:func:`gdsheet.engines.strip_cached_values`, not timed) so the
  engine must compute every formula.  LibreOffice uses one private profile
  for the whole run, created by an untimed warm-up;
* **floors**, in this process: unzipping the Iterations sheet part and running
  expat over it with no handlers (nothing can read the file faster in Python),
  and the numpy reference recurrence for the same number of steps.

Nothing here asserts a time: the script reports, and marks the project's
targets met or not met.  Exit status 1 only when a measured command failed
(or produced wrong output); missing engines are skipped with a note.

Run ``python benchmarks/bench.py --smoke`` (seconds, every code path once) or
``python benchmarks/bench.py [--sizes 1000,10000,100000] [--skip-1m] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

# Only the standard library is imported at module level: this file is also the
# openpyxl writer's child process, which must not pay for gdsheet's imports.

REPO = Path(__file__).resolve().parent.parent
SHEET = "Iterations"
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
ENGINE_SIZES = (10_000, 100_000)
SMOKE_SIZES = (1_000,)
TARGET_SIZE = 100_000
BIG_SIZE = 1_000_000
MB = 1024 * 1024



# --------------------------------------------------------------------------- measuring a process


@dataclass
class Measured:
    """One child process run to completion."""

    seconds: float  # wall clock, Popen to wait4
    peak_mb: float  # ru_maxrss of the command (max over it and its waited-for descendants), MiB
    cpu_seconds: float  # user + system CPU of the command and its waited-for descendants
    returncode: int
    output: str  # stdout and stderr, interleaved (tail kept)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# Why an intermediary: Linux folds the RSS high-water mark of the address space a
# process had before exec() into its ru_maxrss -- for a child forked (or vforked)
# from this benchmark, that is THIS process's size (~90 MB once numpy and pandas
# are imported), a floor under every figure.  A tiny process in between (GNU time,
# or else this few-line Python script) starts the command from its own small
# address space and reports the command's ru_maxrss from its wait4().
_WRAPPER = """import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _gnu_time() -> str | None:
    """/usr/bin/time if it is GNU time (``-f %M -o FILE`` works), else None."""
    exe = "/usr/bin/time"
    if not os.access(exe, os.X_OK):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rss"
        try:
            subprocess.run([exe, "-f", "%M", "-o", str(out), "true"], capture_output=True, timeout=10, check=True)
            int(out.read_text().split()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None
    return exe


GNU_TIME = _gnu_time() if sys.platform.startswith("linux") else None


def measure(cmd: Sequence[str], timeout: float = 1800.0, env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` as one child process; wall time, peak RSS (MiB) and output.

    The command runs under a small intermediary (GNU time, else a few lines of
    Python; see ``_WRAPPER``) that reports its ``ru_maxrss``.  It gets its own
    session (process group) so that a timeout kills launchers together with
    what they started (``soffice`` -> ``soffice.bin``).  Output goes to a
    temporary file, not a pipe, so ``wait4`` cannot deadlock.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory(prefix="gdsheet-measure-") as tmp:
        rss_file = Path(tmp) / "maxrss"
        if GNU_TIME:
            wrapped = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd]
        else:
            wrapped = [sys.executable, "-S", "-c", _WRAPPER, str(rss_file), *cmd]
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # KeyboardInterrupt: leave nothing running
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
        _kill_group(proc.pid)  # anything the command left behind in its group
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        try:
            maxrss_kib = int(rss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            maxrss_kib = -1  # the intermediary was killed (timeout) before it could report
    if timed_out.is_set():
        text += f"\n[killed after the {timeout:g} s timeout]"
    return Measured(seconds=seconds, peak_mb=maxrss_kib / 1024 if maxrss_kib >= 0 else math.nan,
                    cpu_seconds=usage.ru_utime + usage.ru_stime, returncode=proc.returncode,
                    output=text[-2000:])


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def best_of(runs: int, make: Callable[[], Measured]) -> Measured:
    """Run ``make`` ``runs`` times; the fastest successful run (peak memory: the largest seen)."""
    results = [make() for _ in range(max(1, runs))]
    failed = [r for r in results if not r.ok]
    if failed:
        return failed[0]
    best = min(results, key=lambda r: r.seconds)
    best.peak_mb = max(r.peak_mb for r in results)
    return best


def time_in_process(fn: Callable[[], Any], runs: int = 3) -> float:
    """Best wall time of ``fn()`` over ``runs`` calls, in this process."""
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------- the openpyxl opponent


def openpyxl_spec(steps: int) -> dict[str, Any]:
    """What the openpyxl writer must write, taken from gdsheet's own layout of the exercise.

    Every sheet's cells and every defined name, and for the iteration table its
    header row, its head rows and one formula template per column, turned into
    an f-string of the row number ``r`` (``=B{r-1}-learning_rate*D{r-1}``) so
    that the writer builds each formula as cheaply as hand-written code would.
    Each template is checked against gdsheet's own rendering on two rows.
    """
    import numpy as np

    from gdsheet.api import layout
    from gdsheet.exercises.base import col_letter, render
    from gdsheet.workbook.writer import quote_sheet

    lay = layout("quadratic", steps=steps)
    sheets: list[dict[str, Any]] = []
    names: list[list[Any]] = []
    for index, sl in enumerate(lay.sheets):
        sheet: dict[str, Any] = {"name": sl.name, "cells": []}
        for cell in sl.cells:
            value = cell.formula if cell.formula is not None else _plain(cell.value)
            sheet["cells"].append([cell.row, cell.col, value])
            if cell.name:
                names.append([cell.name, f"{quote_sheet(sl.name)}!${col_letter(cell.col)}${cell.row}", None])
        for name, ref in sl.local_names.items():
            names.append([name, ref.lstrip("="), index])
        table = sl.table
        if table is not None:
            first = table.top + 1
            columns: list[dict[str, Any]] = []
            for col in table.columns:
                head = [render(h, table, first + k) if isinstance(h, str) and h.startswith("=") else _plain(h)
                        for k, h in enumerate(col.head)]
                entry: dict[str, Any] = {"head": head, "template": None, "values": None}
                if col.formula is not None:
                    r0 = first + len(col.head)
                    template = _row_template(render(col.formula, table, r0), r0)
                    fn = eval("lambda r: " + template)  # noqa: S307 - built above from our own text
                    for r in (r0, r0 + 7):
                        if fn(r) != render(col.formula, table, r):
                            raise ValueError(f"openpyxl template {template} does not give gdsheet's formula "
                                             f"{render(col.formula, table, r)!r} at row {r}")
                    entry["template"] = template
                elif np.array_equal(np.asarray(col.values), np.arange(table.n_rows)):
                    entry["values"] = "k"
                else:
                    entry["values"] = [_plain(v) for v in col.values]
                columns.append(entry)
            sheet["table"] = {"top": table.top, "left": table.left, "rows": table.n_rows,
                              "headers": [c.header for c in table.columns], "columns": columns}
        sheets.append(sheet)
    return {"sheets": sheets, "names": names}


def _plain(v: Any) -> Any:
    """A JSON-able cell value: numpy scalars as Python numbers."""
    return v.item() if hasattr(v, "item") else v


# A relative or absolute A1 reference not part of a name or a function call.
_A1 = re.compile(r"(?<![A-Za-z0-9_.])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![\w(.])")


def _row_template(text: str, row: int) -> str:
    """Python source of an f-string of ``r`` that gives ``text`` at ``row`` (relative rows shift)."""
    out: list[str] = []
    pos = 0
    for m in _A1.finditer(text):
        out.append(text[pos:m.start()].replace("{", "{{").replace("}", "}}"))
        if m.group(3):  # $-anchored row
            out.append(m.group(0))
        else:
            d = int(m.group(4)) - row
            out.append(f"{m.group(1)}{m.group(2)}{{r{d:+d}}}" if d else f"{m.group(1)}{m.group(2)}{{r}}")
        pos = m.end()
    out.append(text[pos:].replace("{", "{{").replace("}", "}}"))
    return "f" + repr("".join(out))


def write_with_openpyxl(spec_file: Path, path: Path) -> None:
    """Write the cells of :func:`openpyxl_spec` with openpyxl in write-only mode (its fastest).

    The same sheets, cell values, defined names, header row and formula text
    in every row as gdsheet's file.  openpyxl cannot write shared formulas or
    cached values, so each cell holds its full formula and no value; no
    styles, charts or metadata sheet either: this is the smaller job.
    """
    from openpyxl import Workbook
    from openpyxl.workbook.defined_name import DefinedName

    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    wb = Workbook(write_only=True)
    sheets = []
    for sh in spec["sheets"]:
        ws = wb.create_sheet(sh["name"])
        sheets.append(ws)
        table = sh.get("table")
        if table is None:
            by_row: dict[int, dict[int, Any]] = {}
            for row, col, value in sh["cells"]:
                by_row.setdefault(row, {})[col] = value
            for row in range(1, max(by_row, default=0) + 1):
                cells = by_row.get(row, {})
                ws.append([cells.get(c) for c in range(1, max(cells, default=0) + 1)])
            continue
        first = table["top"] + 1
        for _ in range(table["top"] - 1):
            ws.append([])
        pad = [None] * (table["left"] - 1)
        ws.append(pad + table["headers"])
        makers: list[Callable[[int], Any]] = []
        for col in table["columns"]:
            if col["template"] is not None:
                makers.append(eval("lambda r: " + col["template"]))  # noqa: S307 - our own spec
            elif col["values"] == "k":
                makers.append(lambda r, first=first: float(r - first))
            else:
                makers.append(lambda r, v=col["values"], first=first: v[r - first])
        heads = [col["head"] for col in table["columns"]]
        n_head = max(map(len, heads), default=0)
        for k in range(table["rows"]):
            r = first + k
            if k < n_head:
                ws.append(pad + [h[k] if k < len(h) else m(r) for h, m in zip(heads, makers)])
            else:
                ws.append(pad + [m(r) for m in makers])
    for name, ref, local in spec["names"]:
        dn = DefinedName(name, attr_text=ref)
        if local is None:
            wb.defined_names[name] = dn
        else:
            sheets[local].defined_names[name] = dn
    wb.save(path)


def same_cells(gdsheet_file: Path, openpyxl_file: Path) -> str | None:
    """None when both files' Iterations sheets hold the same values and formula text, else a difference.

    openpyxl expands gdsheet's shared formulas when it loads, so this compares
    cell by cell what a reader sees.  Used on the smallest size only.
    """
    from openpyxl import load_workbook

    a = load_workbook(gdsheet_file, read_only=True)[SHEET]
    b = load_workbook(openpyxl_file, read_only=True)[SHEET]
    rows_a = [[c.value for c in row] for row in a.iter_rows(max_col=7)]
    rows_b = [[c.value for c in row] for row in b.iter_rows(max_col=7)]
    if len(rows_a) != len(rows_b):
        return f"{len(rows_a)} rows from gdsheet, {len(rows_b)} from openpyxl"
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b), start=1):
        for j, (va, vb) in enumerate(zip(ra, rb)):
            if isinstance(va, str) or isinstance(vb, str):
                if str(va).replace(" ", "") != str(vb).replace(" ", ""):
                    return f"{SHEET}!{'ABCDEFG'[j]}{i}: gdsheet {va!r}, openpyxl {vb!r}"
            elif va != vb:
                return f"{SHEET}!{'ABCDEFG'[j]}{i}: gdsheet {va!r}, openpyxl {vb!r}"
    return None


# --------------------------------------------------------------------------- xlsx parts


def sheet_part(xlsx: Path, sheet: str = SHEET) -> str:
    """The zip member holding worksheet ``sheet`` (via workbook.xml and its relationships)."""
    with zipfile.ZipFile(xlsx) as z:
        workbook = z.read("xl/workbook.xml").decode("utf-8")
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    rid = None
    for tag in re.finditer(r"<(?:\w+:)?sheet\s[^>]*>", workbook):
        attrs = dict(re.findall(r'([\w:]+)\s*=\s*["\']([^"\']*)["\']', tag.group(0)))
        if attrs.get("name") == sheet:
            rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
    if rid is None:
        raise KeyError(f"{xlsx.name}: no sheet {sheet!r}")
    for tag in re.finditer(r"<(?:\w+:)?Relationship\s[^>]*>", rels):
        attrs = dict(re.findall(r'(\w+)\s*=\s*["\']([^"\']*)["\']', tag.group(0)))
        if attrs.get("Id") == rid:
            target = attrs["Target"]
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    raise KeyError(f"{xlsx.name}: no relationship {rid}")


def parse_floor(xlsx: Path) -> tuple[float, float, int]:
    """(seconds with no handlers, seconds with a no-op start-element handler, XML bytes) for the sheet part."""
    import xml.parsers.expat

    part = sheet_part(xlsx)

    def parse(with_handler: bool) -> None:
        with zipfile.ZipFile(xlsx) as z, z.open(part) as f:
            parser = xml.parsers.expat.ParserCreate()
            if with_handler:
                parser.StartElementHandler = _noop
            parser.ParseFile(f)

    with zipfile.ZipFile(xlsx) as z:
        size = z.getinfo(part).file_size
    return time_in_process(lambda: parse(False)), time_in_process(lambda: parse(True)), size


def _noop(name: str, attrs: dict[str, str]) -> None:
    pass


def cell_value(xlsx: Path, ref: str, sheet: str = SHEET) -> str | None:
    """The ``<v>`` text of cell ``ref`` on ``sheet`` (streamed; for checking an engine's output)."""
    pattern = re.compile(rb'<(?:\w+:)?c\s[^>]*?r="' + ref.encode() + rb'"[^>]*?(?:/>|>(.*?)</(?:\w+:)?c>)', re.S)
    value = re.compile(rb"<(?:\w+:)?v(?:\s[^>]*)?>([^<]*)</(?:\w+:)?v>")
    tail = b""
    with zipfile.ZipFile(xlsx) as z, z.open(sheet_part(xlsx, sheet)) as f:
        while True:
            chunk = f.read(1 << 20)
            buf = tail + chunk
            m = pattern.search(buf)
            if m and (m.group(0).endswith(b"/>") or m.group(1) is not None):
                v = value.search(m.group(1) or b"")
                return v.group(1).decode() if v else None
            if not chunk:
                return None
            tail = buf[-8192:]


# --------------------------------------------------------------------------- the numpy floor


def numpy_reference(steps: int) -> Callable[[], Any]:
    """The reference gdsheet verifies against: the quadratic exercise's own numpy recurrence."""
    from gdsheet.exercises import EXERCISES
    from gdsheet.exercises.quadratic import _run

    p = EXERCISES["quadratic"].resolve({"steps": steps})  # the defaults `generate` uses
    return lambda: _run(p["a"], p["b"], p["c"], p["x0"], p["lr"], steps)


def expected_last_x(steps: int) -> float:
    return float(numpy_reference(steps)()["x"][-1])


# --------------------------------------------------------------------------- engines


@dataclass
class Engines:
    """How to run each installed engine on a stripped copy; LibreOffice keeps one profile."""

    work: Path
    soffice: str | None = None
    ssconvert: str | None = None
    profile: Path | None = None

    @classmethod
    def find(cls, work: Path, wanted: bool) -> "Engines":
        from gdsheet.engines import available

        engines = cls(work)
        if wanted:
            engines.soffice = available("libreoffice")
            engines.ssconvert = available("gnumeric")
        if engines.soffice:
            from gdsheet.engines.libreoffice import RECALC_SETTINGS

            engines.profile = work / "lo-profile"
            (engines.profile / "user").mkdir(parents=True)
            # the same recalculation settings gdsheet's own LibreOffice runs use
            (engines.profile / "user" / "registrymodifications.xcu").write_text(RECALC_SETTINGS, encoding="utf-8")
        return engines

    def command(self, engine: str, src: Path, out_dir: Path) -> tuple[list[str], Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        if engine == "libreoffice":
            from gdsheet.engines.libreoffice import FILTER

            assert self.soffice and self.profile
            cmd = [self.soffice, "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
                   f"-env:UserInstallation={self.profile.as_uri()}", "--convert-to", FILTER,
                   "--outdir", str(out_dir), str(src)]
            return cmd, out_dir / (src.stem + ".xlsx")
        from gdsheet.engines.gnumeric import EXPORTER, IMPORTER

        assert self.ssconvert
        out = out_dir / (src.stem + ".xlsx")
        return [self.ssconvert, "--recalc", "-I", IMPORTER, "-T", EXPORTER, str(src), str(out)], out

    def installed(self) -> list[str]:
        return [e for e, exe in (("libreoffice", self.soffice), ("gnumeric", self.ssconvert)) if exe]


# --------------------------------------------------------------------------- the run


@dataclass
class SizeResult:
    steps: int
    gen: dict[str, Any] | None = None
    openpyxl: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    floor: dict[str, Any] | None = None
    recalc: dict[str, Any] | None = None  # `gdsheet recalc FILE` on the generated file (cached values checked)
    recalc_fresh: dict[str, Any] | None = None  # `gdsheet recalc STRIPPED -o OUT`: the engines' job


@dataclass
class Bench:
    sizes: list[int]
    engine_sizes: list[int]
    verify_sizes: list[int]
    repeat: int
    timeout: float
    work: Path
    results: dict[int, SizeResult] = field(default_factory=dict)
    networks: list[dict[str, Any]] = field(default_factory=list)  # rows of the network table
    grading: dict[str, Any] = field(default_factory=dict)  # `gdsheet grade` on a folder: corpus and runs
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    _last_output: str = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.pop("GDSHEET_DEBUG", None)
        # warm bytecode caches as a user has them, kept in the temporary directory, not the tree
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.work / "pycache")
        return env

    def run(self, label: str, cmd: Sequence[str], check: Callable[[Measured], str | None] | None = None,
            codes: tuple[int, ...] = (0,)) -> dict[str, Any] | None:
        """Measure ``cmd`` (best of ``repeat``); a dict of figures, or None after recording a failure.

        ``codes``: the exit statuses that mean the command did its job (``gdsheet recalc`` of a
        file without cached values reports them missing with status 1)."""
        log(f"  {label} ...")
        def once() -> Measured:
            m = measure(cmd, self.timeout, self.env())
            if m.returncode in codes:
                m.returncode = 0
            return m

        m = best_of(self.repeat, once)
        self._last_output = m.output
        problem = None if m.ok else f"exit status {m.returncode}: {_tail(m.output)}"
        if problem is None and check is not None:
            problem = check(m)
        if problem:
            problem += f" (after {m.seconds:.1f} s, peak {m.peak_mb:.0f} MB)"
            self.failures.append(f"{label}: {problem}")
            log(f"  {label} FAILED: {problem}")
            return None
        log(f"  {label}: {m.seconds:.2f} s, {m.peak_mb:.0f} MB")
        return {"seconds": m.seconds, "peak_mb": m.peak_mb, "cpu_seconds": m.cpu_seconds}

    def openpyxl_cmd(self, steps: int, out: Path) -> list[str]:
        """The openpyxl writer's command; its spec (gdsheet's layout as JSON) is written here, untimed."""
        spec = self.work / f"openpyxl-spec-{steps}.json"
        spec.write_text(json.dumps(openpyxl_spec(steps)), encoding="utf-8")
        return [sys.executable, str(Path(__file__).resolve()), "--openpyxl-writer", str(spec), str(out)]

    def gdsheet(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gdsheet", *args]

    def warm_up(self, engines: Engines) -> None:
        """Untimed: fill .pyc caches and create the LibreOffice profile, on a 10-step workbook."""
        log("warm-up (not timed) ...")
        d = self.work / "warmup"
        d.mkdir()
        src = d / "w.xlsx"
        steps: list[tuple[str, list[str]]] = [
            ("generate", self.gdsheet("generate", "quadratic", "--steps", "10", "-o", str(src))),
            ("verify", self.gdsheet("verify", str(src))),
            ("recalc", self.gdsheet("recalc", str(src), "-o", str(d / "fresh.xlsx"))),
            ("openpyxl", self.openpyxl_cmd(10, d / "o.xlsx")),
        ]
        for label, cmd in steps:
            m = measure(cmd, self.timeout, self.env())
            if not m.ok:
                log(f"  warm-up {label}: exit status {m.returncode}: {_tail(m.output)}")
        if engines.installed() and src.exists():
            from gdsheet.engines import strip_cached_values

            stripped = d / "stripped" / "w.xlsx"
            strip_cached_values(src, stripped)
            for engine in engines.installed():
                cmd, _ = engines.command(engine, stripped, d / engine)
                m = measure(cmd, self.timeout)
                if not m.ok:
                    log(f"  warm-up {engine}: exit status {m.returncode}: {_tail(m.output)}")
        shutil.rmtree(d, ignore_errors=True)

    def size(self, steps: int, engines: Engines) -> None:
        res = self.results[steps] = SizeResult(steps)
        d = self.work / f"s{steps}"
        d.mkdir()
        book = d / f"q{steps}.xlsx"
        log(f"{steps} steps:")

        res.gen = self.run(f"gdsheet generate {steps}",
                           self.gdsheet("generate", "quadratic", "--steps", str(steps), "-o", str(book)),
                           check=lambda m: None if book.is_file() else "no file written")
        if res.gen:
            res.gen["file_mb"] = book.stat().st_size / MB
        opx = d / f"openpyxl{steps}.xlsx"
        res.openpyxl = self.run(f"openpyxl write {steps}",
                                self.openpyxl_cmd(steps, opx),
                                check=lambda m: None if opx.is_file() else "no file written")
        if res.openpyxl:
            res.openpyxl["file_mb"] = opx.stat().st_size / MB
        if res.gen and res.openpyxl and steps == min(self.sizes):
            try:
                diff = same_cells(book, opx)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                diff = f"{type(exc).__name__}: {exc}"
            if diff:
                self.failures.append(f"openpyxl writer does not write gdsheet's cells ({steps} steps): {diff}")
            else:
                self.notes.append(f"checked at {steps} steps: the openpyxl file has the same Iterations "
                                  f"cells (values and formula text) as gdsheet's")
        opx.unlink(missing_ok=True)
        if not res.gen:
            shutil.rmtree(d, ignore_errors=True)
            return

        if steps in self.verify_sizes:
            res.verify = self.run(f"gdsheet verify {steps}", self.gdsheet("verify", str(book)),
                                  check=lambda m: None if "OK" in m.output else f"no OK: {_tail(m.output)}")
            log("  parse floor and numpy reference (in process) ...")
            floor, floor_cb, xml_bytes = parse_floor(book)
            res.floor = {"parse_seconds": floor, "parse_noop_handler_seconds": floor_cb,
                         "sheet_xml_mb": xml_bytes / MB}
            try:
                res.floor["numpy_seconds"] = time_in_process(numpy_reference(steps))
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                self.failures.append(f"numpy reference ({steps} steps): {type(exc).__name__}: {exc}")

        want = expected_last_x(steps)
        last_ref = f"B{steps + 2}"
        stripped = d / "stripped" / book.name
        if steps in self.verify_sizes or (steps in self.engine_sizes and engines.installed()):
            from gdsheet.engines import strip_cached_values

            strip_cached_values(book, stripped)  # untimed: the same file the engines get
        if steps in self.verify_sizes:
            res.recalc = self.run(f"gdsheet recalc {steps}", self.gdsheet("recalc", str(book)),
                                  check=lambda m: None if "OK:" in m.output else f"no OK: {_tail(m.output)}")
            fresh = d / "fresh.xlsx"
            res.recalc_fresh = self.run(
                f"gdsheet recalc -o {steps}", self.gdsheet("recalc", str(stripped), "-o", str(fresh)), codes=(1,),
                check=lambda m: _check_engine_output(fresh, last_ref, want))
            fresh.unlink(missing_ok=True)

        if steps in self.engine_sizes and engines.installed():
            for engine in engines.installed():
                cmd, out = engines.command(engine, stripped, d / engine)
                res.engines[engine] = self.run(
                    f"{engine} {steps}", cmd,
                    check=lambda m, out=out: _check_engine_output(out, last_ref, want)) or {}
                shutil.rmtree(d / engine, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


    def network(self, label: str, args: list[str], engines: Engines, formula_cells: str = "") -> None:
        """One network workbook: generate, verify, and each engine's recalculation of the same file."""
        row: dict[str, Any] = {"label": label, "args": " ".join(args)}
        self.networks.append(row)
        d = self.work / f"net{len(self.networks)}"
        d.mkdir()
        book = d / "net.xlsx"
        log(f"{label}:")
        row["gen"] = self.run(f"generate {label}", self.gdsheet("generate", *args, "-o", str(book)),
                              check=lambda m: None if book.is_file() else "no file written")
        if not row["gen"]:
            shutil.rmtree(d, ignore_errors=True)
            return
        row["gen"]["file_mb"] = book.stat().st_size / MB
        row["verify"] = self.run(f"verify {label}", self.gdsheet("verify", str(book)),
                                 check=lambda m: None if "OK" in m.output else f"no OK: {_tail(m.output)}")
        cells = re.search(r"(\d+) formula cells", self._last_output)
        row["formula_cells"] = int(cells.group(1)) if cells else None
        if engines.installed():
            from gdsheet.engines import strip_cached_values

            stripped = d / "stripped" / book.name
            strip_cached_values(book, stripped)
            for engine in engines.installed():
                cmd, out = engines.command(engine, stripped, d / engine)
                row[engine] = self.run(f"{engine} {label}", cmd,
                                       check=lambda m, out=out: None if out.is_file() else "wrote no output file")
                shutil.rmtree(d / engine, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


    def grade(self, files: int, hostile_every: int, runs: list[tuple[str, int]]) -> None:
        """`gdsheet grade` on a folder of ``files`` quadratic submissions, every ``hostile_every``-th
        one hostile (tests/hostile.py), for each (executor, workers) of ``runs`` — the process pool
        with 1, 2 workers, a 2-worker Dask LocalCluster; the gradebooks must be identical."""
        sys.path.insert(0, str(REPO / "tests"))
        from hostile import ODD, UNREADABLE  # the tests' hostile corpus, built in code

        from gdsheet.classroom import write_roster

        log(f"grading: making {files} submissions (not timed) ...")
        d = self.work / "grading"
        subs = d / "submissions"
        subs.mkdir(parents=True)
        ids = [f"st{i:04d}" for i in range(files)]
        (d / "roster.csv").write_text("student\n" + "\n".join(ids) + "\n")
        t0 = time.perf_counter()
        _, keys = write_roster("quadratic", d / "roster.csv", d / "templates", seed="bench", key_dir=d / "keys")
        made = time.perf_counter() - t0
        kinds = [(name, builder, "unreadable") for name, (builder, _) in UNREADABLE.items()] + \
                [(name, builder, status) for name, (builder, status, _) in ODD.items()]
        expected: dict[str, int] = {}
        wrong = 0
        for i, sid in enumerate(ids):
            key = d / "keys" / f"{sid}.key.xlsx"
            if i % hostile_every == hostile_every - 1:
                name, builder, status = kinds[(i // hostile_every) % len(kinds)]
                out = subs / f"{sid}-{name}{'.xlsm' if name == 'macro' else '.xlsx'}"
                builder(key, out)
                expected[status] = expected.get(status, 0) + 1
                expected.setdefault("hostile", 0)
                expected["hostile"] += 1
            elif i % 3 == 1:  # one wrong cell: the rows below are carried forward
                _one_wrong_cell(key, subs / f"{sid}.xlsx", row=5 + i % 20)
                wrong += 1
            else:
                shutil.copy(key, subs / f"{sid}.xlsx")
        for tmp in subs.glob("*.tmp.xlsx"):
            tmp.unlink()
        self.grading = {"files": files, "hostile": expected.get("hostile", 0), "one_wrong_cell": wrong,
                        "unreadable_expected": expected.get("unreadable", 0), "setup_seconds": made,
                        "hostile_kinds": [k[0] for k in kinds], "runs": []}
        measure(self.gdsheet("check", str(d / "keys" / f"{ids[0]}.key.xlsx")), self.timeout, self.env())  # warm .pyc
        books = {}
        for executor, n in runs:
            if executor == "dask" and importlib.util.find_spec("distributed") is None:
                self.notes.append("grading: Dask distributed is not installed (pip install 'gdsheet[dask]'): "
                                  "no LocalCluster row")
                continue
            what = f"{n} worker{'s' if n > 1 else ''}" + (", Dask LocalCluster" if executor == "dask" else "")
            out = d / f"gradebook-{executor}-{n}.csv"
            fig = self.run(f"gdsheet grade {files} files, {what}",
                           self.gdsheet("grade", str(subs), "--keys", str(keys), "-o", str(out), "--workers",
                                        str(n), "--no-progress", "--executor", executor),
                           check=lambda m, out=out: None if out.is_file() else "no gradebook written")
            if fig is None:
                continue
            books[what] = out.read_text()
            rows = list(csv.DictReader(io.StringIO(books[what])))
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            # the batch's own seconds (grade's summary line): without interpreter start and imports,
            # with the cluster's start for Dask
            batch = re.search(r"graded \d+ files in ([0-9.]+) s", self._last_output)
            up = re.search(r"Dask [^;)]*, up in ([0-9.]+) s", self._last_output)
            fig.update(executor=executor, workers=n, label=what, files_per_second=files / fig["seconds"],
                       files_per_second_per_core=files / fig["seconds"] / n, statuses=counts,
                       batch_seconds=float(batch.group(1)) if batch else None,
                       cluster_start_seconds=float(up.group(1)) if up else None)
            self.grading["runs"].append(fig)
            if len(rows) != files or counts.get("unreadable", 0) != expected.get("unreadable", 0):
                self.failures.append(f"grade with {what}: {len(rows)} rows, statuses {counts}; expected "
                                     f"{files} rows, {expected.get('unreadable', 0)} unreadable")
        if len(set(books.values())) > 1:
            self.failures.append("grade: the gradebooks of different executors or worker counts differ")
        elif len(books) > 1:
            self.notes.append(f"grading: the gradebooks written with {'; '.join(books)} are identical, byte "
                              "for byte")
        shutil.rmtree(d, ignore_errors=True)


def course_batch(g: dict[str, Any]) -> list[str]:
    """On paper: a COURSE_BATCH-file batch on a cluster of N workers, from the measured per-file time.

    Per-file time = the CPU seconds of the whole Dask run (client, scheduler, workers and their
    checker children, the cluster's start included) ÷ files: what a worker with a core of its own
    spends on a file, independent of what else the measuring machine was running (wall-clock
    figures on a busy shared machine are not).  N such workers need COURSE_BATCH × that ÷ N, plus
    the cluster's start; the client reads and ships every file (~16 KB each here), which bounds the
    pace once N reaches a few dozen (see the README)."""
    out = []
    for r in g["runs"]:
        if r["executor"] == "dask" and r.get("cpu_seconds"):
            per_file = r["cpu_seconds"] / g["files"]
            start = r.get("cluster_start_seconds") or 0.0
            cells = ", ".join(f"{n} workers ≈ {_duration(COURSE_BATCH * per_file / n)}" for n in (1, 8, 32, 128))
            out.append(f"On paper: the LocalCluster run spent {per_file * 1000:.1f} ms of CPU per file (started in "
                       f"{start:.1f} s); {COURSE_BATCH:,} submissions cost {COURSE_BATCH * per_file / 3600:.1f} "
                       f"worker-hours: {cells}, plus the cluster's start.")
    return out


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _one_wrong_cell(src: Path, dst: Path, row: int) -> None:
    """A copy of a key with x_k of one row computed with twice the learning rate (cached value kept)."""
    from xlsx_edit import sheet_part  # tests/, on sys.path in Bench.grade

    part = sheet_part(src, "Iterations")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                text = data.decode()
                text = re.sub(r'<c r="B%d"([^>]*)>.*?</c>' % row,
                              lambda m: f'<c r="B{row}"{m.group(1)}><f>B{row - 1}-2*learning_rate*D{row - 1}</f>'
                                        f'<v>0</v></c>', text, count=1, flags=re.S)
                data = text.encode()
            zout.writestr(info, data)


GRADING_FILES = 1000
SMOKE_GRADING_FILES = 40
GRADING_HOSTILE_EVERY = 20  # 5%
GRADING_RUNS = [("processes", 1), ("processes", 2), ("dask", 2)]  # (executor, workers)
COURSE_BATCH = 100_000  # the course-scale batch the README costs on paper


NETWORK_CASES = [  # (label, generate arguments): the issue's files, then doublings of the iterations
    ("minimal example, 1000 obs × 100 it.", ["minimal-example"]),
    ("2→3→2 net, 100 obs × 250 it.", ["network", "--observations", "100", "--steps", "250"]),
    ("2→3→2 net, 100 obs × 500 it.", ["network", "--observations", "100", "--steps", "500"]),
    ("2→3→2 net, 100 obs × 1000 it.", ["network", "--observations", "100", "--steps", "1000"]),
    ("minimal example, 1000 obs × 1000 it.", ["minimal-example", "--steps", "1000"]),  # issue 7: < 500 MB
]
SMOKE_NETWORK_CASES = [
    ("minimal example, 100 obs × 10 it.", ["minimal-example", "--observations", "100", "--steps", "10"]),
    ("2→3→2 net, 10 obs × 20 it.", ["network", "--observations", "10", "--steps", "20"]),
    ("2→3→2 net, 10 obs × 40 it.", ["network", "--observations", "10", "--steps", "40"]),
]


def _check_engine_output(out: Path, ref: str, want: float) -> str | None:
    """None when the engine wrote an xlsx whose last x_k is the numpy value (so it did compute)."""
    if not out.is_file():
        return "wrote no output file"
    try:
        text = cell_value(out, ref)
    except (KeyError, zipfile.BadZipFile) as exc:
        return f"unreadable output: {exc}"
    try:
        got = float(text) if text is not None else math.nan
    except ValueError:
        got = math.nan
    if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
        return f"{SHEET}!{ref} is {text!r}, numpy says {want!r}: the engine did not compute it"
    return None


def _tail(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "javaldx" not in ln]
    return (" | ".join(lines) or "(no output)")[-limit:]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def machine(engines: Engines) -> dict[str, Any]:
    import numpy
    import openpyxl

    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "openpyxl": openpyxl.__version__,
        "os": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info["libreoffice"] = _version([engines.soffice, "--version"]) if engines.soffice else None
    if engines.ssconvert:
        v = _version([engines.ssconvert, "--version"])
        info["gnumeric"] = re.sub(r"^ssconvert version '([^']*)'.*", r"Gnumeric \1", v) if v else None
    else:
        info["gnumeric"] = None
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    info["gdsheet_commit"] = _version(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    return info


# --------------------------------------------------------------------------- report


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _x(v: float | None) -> str:
    """A ratio as "3.2×" ("–" when missing)."""
    return "–" if v is None else f"{v:.1f}×"


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def _rows(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else \
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _g(d: dict[str, Any] | None, key: str) -> float | None:
    return d.get(key) if d else None


def targets(bench: Bench) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured figure and met / NOT MET / not measured.

    A target is judged only at the size it names.  When that size was not
    run, the figure at the largest size that was is shown for information.
    """
    out: list[dict[str, Any]] = []

    def figure(n: int, key: str) -> float | None:
        res = bench.results[n]
        if key == "lo":
            return _ratio(_g(res.engines.get("libreoffice"), "seconds"), _g(res.verify, "seconds"))
        if key == "gnm":
            return _ratio(_g(res.engines.get("gnumeric"), "seconds"), _g(res.verify, "seconds"))
        if key == "floor":
            return _ratio(_g(res.verify, "seconds"), _g(res.floor, "parse_seconds"))
        if key == "gen":
            return _ratio(_g(res.openpyxl, "seconds"), _g(res.gen, "seconds"))
        peaks = [_g(res.gen, "peak_mb"), _g(res.verify, "peak_mb")]
        return None if None in peaks else max(p for p in peaks if p is not None)

    spec: list[tuple[str, int, str, Callable[[float], bool], str]] = [
        ("verify ≥ 5× faster than LibreOffice", TARGET_SIZE, "lo", lambda v: v >= 5, "{:.2f}×"),
        ("verify ≥ 4× faster than Gnumeric", TARGET_SIZE, "gnm", lambda v: v >= 4, "{:.2f}×"),
        ("verify within 2× of the parse floor", TARGET_SIZE, "floor", lambda v: v <= 2, "{:.2f}× the floor"),
        ("generation ≥ 3× faster than openpyxl", TARGET_SIZE, "gen", lambda v: v >= 3, "{:.2f}×"),
        ("generated and verified under 500 MB peak", BIG_SIZE, "peak", lambda v: v < 500, "{:.0f} MB"),
    ]
    for text, size, key, ok, fmt in spec:
        value = figure(size, key) if size in bench.results else None
        entry: dict[str, Any] = {"target": f"{_rows(size)}: {text}", "size": size, "value": value}
        if value is not None:
            entry.update(measured=fmt.format(value), status="met" if ok(value) else "NOT MET")
        else:
            entry.update(measured=None, status="not measured")
            shown = [n for n in sorted(bench.results) if figure(n, key) is not None]
            if shown:
                n = shown[-1]
                entry["measured"] = f"({fmt.format(figure(n, key))} at {_rows(n)})"
        out.append(entry)
    return out


def report(bench: Bench, info: dict[str, Any]) -> str:
    L: list[str] = ["# gdsheet benchmark", ""]
    L.append(f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info.get('memory_gb', '?')} GB RAM, "
             f"Python {info['python']}, numpy {info['numpy']}, openpyxl {info['openpyxl']}, "
             f"{info['libreoffice'] or 'LibreOffice: not installed'}, "
             f"{info['gnumeric'] or 'Gnumeric: not installed'}; gdsheet {info['gdsheet_commit'] or '?'}; "
             f"load average at start {' '.join(map(str, info.get('load_average', []))) or '?'}.")
    L.append("")
    L.append("Times are whole processes (start to exit), best of "
             f"{bench.repeat}; peak = max RSS of the process tree's largest process, MB = 2^20 bytes. "
             "rows = iteration steps (the sheet has one more data row plus a header).")
    L.append("")
    sizes = sorted(bench.results)

    L += ["## Generation: `gdsheet generate quadratic` vs openpyxl writing the same cells", "",
          "| rows | gdsheet s | gdsheet peak MB | gdsheet file MB | openpyxl s | openpyxl peak MB "
          "| openpyxl file MB | openpyxl / gdsheet (time) |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        g, o = bench.results[n].gen, bench.results[n].openpyxl
        L.append(f"| {_rows(n)} | {_f(_g(g, 'seconds'))} | {_f(_g(g, 'peak_mb'), '.0f')} | "
                 f"{_f(_g(g, 'file_mb'), '.2f')} | {_f(_g(o, 'seconds'))} | {_f(_g(o, 'peak_mb'), '.0f')} | "
                 f"{_f(_g(o, 'file_mb'), '.2f')} | {_x(_ratio(_g(o, 'seconds'), _g(g, 'seconds')))} |")
    L.append("")

    vsizes = [n for n in sizes if bench.results[n].verify or bench.results[n].engines or bench.results[n].floor]
    if vsizes:
        L += ["## Verify: `gdsheet verify` vs recalculation in LibreOffice and Gnumeric", "",
              "| rows | verify s | verify peak MB | LibreOffice s | LO peak MB | LO / verify "
              "| Gnumeric s | Gnm peak MB | Gnm / verify |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n in vsizes:
            res = bench.results[n]
            v, lo, gn = res.verify, res.engines.get("libreoffice"), res.engines.get("gnumeric")
            vs = _g(v, "seconds")
            L.append(f"| {_rows(n)} | {_f(vs)} | {_f(_g(v, 'peak_mb'), '.0f')} | {_f(_g(lo, 'seconds'))} | "
                     f"{_f(_g(lo, 'peak_mb'), '.0f')} | {_x(_ratio(_g(lo, 'seconds'), vs))} | "
                     f"{_f(_g(gn, 'seconds'))} | {_f(_g(gn, 'peak_mb'), '.0f')} | "
                     f"{_x(_ratio(_g(gn, 'seconds'), vs))} |")
        L.append("")
        L += ["## Floors (in this process, best of 3)", "",
              "| rows | sheet XML MB | parse floor s | + no-op start handler s | verify / floor "
              "| numpy reference s |",
              "|---:|---:|---:|---:|---:|---:|"]
        for n in vsizes:
            res = bench.results[n]
            fl = res.floor
            L.append(f"| {_rows(n)} | {_f(_g(fl, 'sheet_xml_mb'), '.1f')} | {_f(_g(fl, 'parse_seconds'), '.3f')} | "
                     f"{_f(_g(fl, 'parse_noop_handler_seconds'), '.3f')} | "
                     f"{_x(_ratio(_g(res.verify, 'seconds'), _g(fl, 'parse_seconds')))} | "
                     f"{_f(_g(fl, 'numpy_seconds'), '.4f')} |")
        L.append("")

    rsizes = [n for n in sizes if bench.results[n].recalc or bench.results[n].recalc_fresh]
    if rsizes:
        L += ["## Recalc: `gdsheet recalc` vs recalculation in LibreOffice and Gnumeric", "",
              "`recalc -o` gets the stripped file the engines get (no cached values: every formula computed, "
              "every value written into a fresh copy, exit status 1 because the input had none); `recalc` "
              "checks every cached value of the generated file (exit 0).", "",
              "| rows | recalc s | recalc peak MB | recalc -o s | recalc -o peak MB | LibreOffice s "
              "| LO / recalc -o | Gnumeric s | Gnm / recalc -o |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n in rsizes:
            res = bench.results[n]
            rc, fr = res.recalc, res.recalc_fresh
            lo, gn = res.engines.get("libreoffice"), res.engines.get("gnumeric")
            fs = _g(fr, "seconds")
            L.append(f"| {_rows(n)} | {_f(_g(rc, 'seconds'))} | {_f(_g(rc, 'peak_mb'), '.0f')} | {_f(fs)} | "
                     f"{_f(_g(fr, 'peak_mb'), '.0f')} | {_f(_g(lo, 'seconds'))} | {_x(_ratio(_g(lo, 'seconds'), fs))} | "
                     f"{_f(_g(gn, 'seconds'))} | {_x(_ratio(_g(gn, 'seconds'), fs))} |")
        L.append("")

    if bench.networks:
        L += ["## Networks: `gdsheet generate` + `gdsheet verify` vs LibreOffice and Gnumeric on the same file", "",
              "Linear, minimal example and the lesson's 2 → 3 → 2 sigmoid network; the last rows double the "
              "iterations (recalculation should double too: every cell costs O(1) or O(N)).", "",
              "| workbook | formula cells | generate s | file MB | verify s | verify peak MB | LibreOffice s "
              "| LO / verify | Gnumeric s | Gnm / verify |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in bench.networks:
            g, v = row.get("gen"), row.get("verify")
            lo, gn = row.get("libreoffice"), row.get("gnumeric")
            vs = _g(v, "seconds")
            cells = row.get("formula_cells")
            L.append(f"| {row['label']} | {cells if cells is not None else '–'} | {_f(_g(g, 'seconds'))} | "
                     f"{_f(_g(g, 'file_mb'), '.1f')} | {_f(vs)} | {_f(_g(v, 'peak_mb'), '.0f')} | "
                     f"{_f(_g(lo, 'seconds'))} | {_x(_ratio(_g(lo, 'seconds'), vs))} | {_f(_g(gn, 'seconds'))} | "
                     f"{_x(_ratio(_g(gn, 'seconds'), vs))} |")
        L.append("")
        nets = [r for r in bench.networks if r["label"].startswith("2→3→2")]
        for a, b in zip(nets, nets[1:]):  # each case doubles the previous one's iterations
            parts = []
            for key, name in (("verify", "verify"), ("libreoffice", "LibreOffice"), ("gnumeric", "Gnumeric")):
                r = _ratio(_g(b.get(key), "seconds"), _g(a.get(key), "seconds"))
                if r is not None:
                    parts.append(f"{name} {r:.2f}×")
            if parts:
                L.append(f"- doubling the iterations ({a['label']} → {b['label']}): " + ", ".join(parts)
                         + " the time (linear scaling: 2×)")
        for row in bench.networks:
            r = _ratio(_g(row.get("libreoffice"), "seconds"), _g(row.get("verify"), "seconds"))
            if r is not None and ("1000 obs" in row["label"] or "× 1000 it" in row["label"]):
                L.append(f"- target verify ≥ 10× faster than LibreOffice, {row['label']}: {r:.2f}× "
                         f"({'met' if r >= 10 else 'NOT MET'})")
        L.append("")

    g = bench.grading
    if g.get("runs"):
        L += [f"## Grading: `gdsheet grade` on a folder of {g['files']} submissions", "",
              f"Quadratic submissions of {g['files']} roster students (each their own variant): "
              f"{g['hostile']} hostile files ({100 * g['hostile'] / g['files']:.0f}%: "
              f"{', '.join(g['hostile_kinds'])}, in turn), {g['one_wrong_cell']} with one wrong cell (every row "
              "below it carried forward), the rest right. Whole process, gradebook written; files/s per core = "
              "files/s ÷ workers; files per CPU-s = files ÷ the CPU time of the grade process and its workers "
              "(what the machine's other load does not change).", "",
              "Batch s = the seconds grade itself reports (no interpreter start; the Dask row includes "
              "starting its LocalCluster, given apart in the note below); peak MB is the largest single "
              "process (grade or a worker).", "",
              "| executor | workers | s | batch s | files/s | files/s per core | files per CPU-s | peak MB "
              "| speed-up | statuses |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        base = next((r["seconds"] for r in g["runs"] if r["workers"] == 1 and r["executor"] == "processes"), None)
        for r in g["runs"]:
            statuses = ", ".join(f"{n} {k}" for k, n in sorted(r["statuses"].items(), key=lambda kv: -kv[1]))
            where = "Dask LocalCluster" if r["executor"] == "dask" else "process pool"
            L.append(f"| {where} | {r['workers']} | {_f(r['seconds'])} | {_f(r['batch_seconds'])} | "
                     f"{_f(r['files_per_second'], '.1f')} | {_f(r['files_per_second_per_core'], '.1f')} | "
                     f"{_f(_ratio(g['files'], r.get('cpu_seconds')), '.1f')} | {_f(r['peak_mb'], '.0f')} | "
                     f"{_x(_ratio(base, r['seconds']))} | {statuses} |")
        L += [""] + course_batch(g) + [""]

    L += ["## Targets", "", "| target | measured | status |", "|---|---:|---|"]
    for t in targets(bench):
        L.append(f"| {t['target']} | {t['measured'] or '–'} | {t['status']} |")
    L.append("")
    notes = list(bench.notes)
    if bench.failures:
        L += ["## Failures", ""] + [f"- {f}" for f in bench.failures] + [""]
    if notes:
        L += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(L)


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        mult = 1_000_000 if part.endswith("m") else 1000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("mk")) * mult))
    return sorted(set(out))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark gdsheet generate/verify against openpyxl, LibreOffice "
                                             "and Gnumeric; prints a Markdown table.")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, every code path once (< 60 s)")
    ap.add_argument("--sizes", type=_sizes, help="steps to generate, e.g. 1000,10k,100k [default: 1k,10k,100k,1M]")
    ap.add_argument("--engine-sizes", type=_sizes, help="sizes compared with the engines [default: 10k,100k]")
    ap.add_argument("--skip-1m", action="store_true", help="leave out the 1M-row size")
    ap.add_argument("--no-engines", action="store_true", help="do not run LibreOffice or Gnumeric")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement, the fastest is kept [1]")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before a child is killed [1800]")
    ap.add_argument("--networks", action="store_true",
                    help="also the network rows: minimal example and the 2→3→2 net at 250/500/1000 iterations "
                         "(with --smoke: tiny versions)")
    ap.add_argument("--only-networks", action="store_true", help="the network rows and nothing else")
    ap.add_argument("--grading-files", type=int, default=None,
                    help=f"submissions in the grading folder, 5%% hostile [default: {GRADING_FILES}; "
                         f"--smoke: {SMOKE_GRADING_FILES}; 0: no grading rows]")
    ap.add_argument("--only-grading", action="store_true", help="the grading rows and nothing else")
    ap.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    ap.add_argument("--openpyxl-writer", nargs=2, metavar=("SPEC", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.openpyxl_writer:  # the child process of the openpyxl measurement
        write_with_openpyxl(Path(args.openpyxl_writer[0]), Path(args.openpyxl_writer[1]))
        return 0

    sys.path.insert(0, str(REPO))  # measure this checkout's gdsheet (children get PYTHONPATH too)
    sizes = args.sizes or list(SMOKE_SIZES if args.smoke else FULL_SIZES)
    if args.skip_1m:
        sizes = [n for n in sizes if n < BIG_SIZE]
    if not sizes:
        ap.error("no sizes left to measure")
    engine_sizes = args.engine_sizes or (list(sizes) if args.smoke else list(ENGINE_SIZES))

    with tempfile.TemporaryDirectory(prefix="gdsheet-bench-") as tmp:
        work = Path(tmp)
        bench = Bench(sizes=sizes, engine_sizes=[n for n in engine_sizes if n in sizes], verify_sizes=sizes,
                      repeat=args.repeat, timeout=args.timeout, work=work)
        engines = Engines.find(work, wanted=not args.no_engines)
        info = machine(engines)
        if args.no_engines:
            bench.notes.append("engines not run (--no-engines)")
        for engine, exe in (("LibreOffice (soffice)", engines.soffice), ("Gnumeric (ssconvert)", engines.ssconvert)):
            if exe is None and not args.no_engines:
                bench.notes.append(f"{engine} is not installed: skipped")
        if engines.installed() and bench.engine_sizes:
            bench.notes.append("engines recalculate a copy with cached values stripped beforehand (not timed); "
                               "each engine output is checked to hold the numpy value of the last x_k")
        if engines.soffice:
            bench.notes.append("LibreOffice runs with one private profile for the whole run, created by an "
                               "untimed warm-up run (profile creation costs about a second and is not counted)")
        bench.notes.append("warm-up: one untimed run of every command on a 10-step workbook before measuring; "
                           "Python children keep their bytecode caches in the temporary directory "
                           "(PYTHONPYCACHEPREFIX), so they start warm as on a user's machine")
        bench.notes.append("openpyxl writes in write-only mode with no cached values, styles, charts or "
                           "metadata sheet; gdsheet's files carry all of these")
        try:
            bench.warm_up(engines)
            for n in ([] if args.only_networks or args.only_grading else sizes):
                bench.size(n, engines)
            grading = args.grading_files if args.grading_files is not None else \
                (SMOKE_GRADING_FILES if args.smoke else GRADING_FILES)
            if grading > 0 and not args.only_networks:
                bench.grade(grading, GRADING_HOSTILE_EVERY, GRADING_RUNS)
            if args.networks or args.only_networks:
                for label, gen_args in (SMOKE_NETWORK_CASES if args.smoke else NETWORK_CASES):
                    bench.network(label, gen_args, engines)
        except KeyboardInterrupt:
            log("interrupted: reporting what was measured")
            bench.failures.append("interrupted")

    if hasattr(os, "getloadavg"):
        bench.notes.append("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
                           + f" ({info['nproc']} CPUs): figures taken on a busy machine move a lot")
    text = report(bench, info)
    print(text)
    if args.json:
        raw = {"machine": info, "sizes": sizes, "engine_sizes": bench.engine_sizes, "repeat": args.repeat,
               "grading": bench.grading,
               "results": [asdict(bench.results[n]) for n in sorted(bench.results)],
               "targets": targets(bench), "failures": bench.failures, "notes": bench.notes}
        Path(args.json).write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
