"""``gdsheet grade``: a folder of submissions → a gradebook CSV (and feedback copies).

Every workbook in the folder (and its subfolders: LMS downloads put each
student's files in a folder of their own) is checked in a **child process**,
``workers`` of them at a time.  Each child runs under
an address-space limit (``resource.RLIMIT_AS``: its size at start plus
``memory_limit`` bytes) and a wall-clock limit (``time_limit`` seconds, then
SIGKILL), so a hostile or broken file costs only its own time and memory and
gets a gradebook row saying ``unreadable`` and why; it never stops or stalls
the batch.  A process per file also means nothing one file does can leak into
the next.  The children are a pool reused from file to file (forking one
per file costs ~15 ms here, more than checking a 60-row submission, ~12 ms);
a child whose file failed, crashed or ran out of time is replaced.

Matching a file to its student: the student id embedded in the template, else
its embedded variant id, else a student id in the file's (or its folder's)
name — see :func:`gdsheet.classroom.check.match`.  Roster students with
several files are reported as duplicates (every file keeps its row), roster
students without one get a ``missing`` row.

The gradebook's rows come in roster order (a student's files by name), then
files matching no student, by name; nothing in it depends on timing or the
number of workers, so re-running gives the same file.  Columns::

    student, file, sha256, score, max_score, status, first_mistake, message, matched_by,
    <the roster's other columns>, <the review flags of integrity.py>

With ``summary=`` the class statistics of :mod:`.summary` go to a workbook too.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..tolerance import DEFAULT, Tolerance
from ..workbook.safety import SUBMISSION_LIMITS
from .check import check, match_name, sha256
from .integrity import COLUMNS as REVIEW_COLUMNS
from .integrity import EVIDENCE, evidence, review
from .keys import Keys
from .report import CheckResult
from .rubric import Rubric
from .summary import class_summary, summary_text, write_summary

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".ods", ".numbers")
COLUMNS = ["student", "file", "sha256", "score", "max_score", "status", "first_mistake", "message", "matched_by"]
TIME_LIMIT = 60.0
MEMORY_LIMIT = 1536 * 2**20
EXECUTORS = ("processes", "dask")


def collect(folder: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """(workbooks, other files) under ``folder``, sorted; hidden files and Office lock files skipped."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of submissions")
    books, others = [], []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or p.name.startswith("~$") or not p.is_file():
            continue
        (books if p.suffix.lower() in WORKBOOK_SUFFIXES else others).append(p)
    return books, others


@dataclass
class Task:
    path: Path
    rel: str  # path relative to the folder: the gradebook's "file"
    feedback: Path | None


@dataclass
class Gradebook:
    rows: list[dict[str, str]]
    columns: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0
    files: int = 0
    workers: int = 1
    cluster: str = ""  # with --executor dask: where it ran and how long the cluster took to start
    stats: dict[str, Any] = field(default_factory=dict)  # the class summary (summary.py)

    def csv_text(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        return buf.getvalue()

    def write(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(self.csv_text(), encoding="utf-8")
        os.replace(tmp, p)
        return p

    def summary(self) -> str:
        by = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        rate = self.files / self.seconds if self.seconds else 0.0
        lines = [f"graded {self.files} files in {self.seconds:.1f} s ({rate:.1f} files/s, {self.workers} "
                 f"worker{'s' if self.workers != 1 else ''}{'; ' + self.cluster if self.cluster else ''}): {by}"]
        for sid, files in self.duplicates.items():
            lines.append(f"duplicate: {sid} handed in {len(files)} files ({', '.join(files)})")
        if self.missing:
            shown = ", ".join(self.missing[:20]) + (" ..." if len(self.missing) > 20 else "")
            lines.append(f"missing: {len(self.missing)} students without a submission ({shown})")
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} files that are not workbooks ({', '.join(self.ignored[:5])}"
                         f"{' ...' if len(self.ignored) > 5 else ''})")
        if self.stats:
            lines += summary_text(self.stats)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "seconds": round(self.seconds, 3), "workers": self.workers,
                "cluster": self.cluster, "counts": self.counts, "duplicates": self.duplicates, "missing": self.missing,
                "ignored": self.ignored, "summary": self.stats, "rows": self.rows}


# ------------------------------------------------------------------ one file


@dataclass
class _Job:
    keys: Keys
    rubric: Rubric | None
    tolerance: Tolerance


def _grade_one(job: _Job, task: Task) -> dict[str, Any]:
    """Check one file and describe it as a gradebook row (runs in the child)."""
    try:
        result = check(task.path, keys=job.keys, rubric=job.rubric, tolerance=job.tolerance,
                       limits=SUBMISSION_LIMITS)
    except MemoryError:
        result = CheckResult(str(task.path), message="needs more memory than the per-file limit")
    except RecursionError:
        result = CheckResult(str(task.path), message="formulas nested too deeply to evaluate")
    except Exception as exc:  # a bug must cost one row, not the batch
        result = CheckResult(str(task.path), message=f"internal error: {type(exc).__name__}: {exc}")
    if task.feedback is not None and result.status != "unreadable":
        try:
            from .feedback import write_feedback

            write_feedback(task.path, result, task.feedback)
        except Exception as exc:
            result.notes.append(f"no feedback copy ({type(exc).__name__}: {exc})")
    return _row(job.keys, task, result)


def _row(keys: Keys, task: Task, result: CheckResult) -> dict[str, Any]:
    student = result.student if result.student and keys.student(result.student) else None
    matched_by = result.matched_by if student else ""
    if student is None:
        sk = match_name(keys, task.path)
        if sk is not None:
            student, matched_by = sk.student, "file name"
    sk = keys.student(student) if student else None
    message = "; ".join(m for m in [result.message, *result.notes] if m)
    graded = result.graded
    return {
        "student": student or "", "file": task.rel, "sha256": result.sha256 or sha256(task.path),
        "score": _num(result.score) if graded else "", "max_score": _num(result.max_score) if graded else "",
        "status": result.status, "first_mistake": result.first_mistake(),
        "message": message[:1000], "matched_by": matched_by,
        **({k: v for k, v in sk.roster.items()} if sk else {}),
        EVIDENCE: evidence(result),
    }


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


# ------------------------------------------------------------------ children


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _limit_memory(memory_limit: int | None) -> None:
    if not memory_limit:
        return
    try:
        import resource

        soft = _vm_size() + memory_limit
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ImportError, ValueError, OSError):
        pass


def _worker(conn: Any, fn: Callable[[Any, Any], Any], job: Any, memory_limit: int | None,
            parent_end: Any = None) -> None:
    """A pool process: run tasks from ``conn`` until told to stop (None) or the parent goes away."""
    if parent_end is not None:
        parent_end.close()  # forked with both ends: keep only ours, so the parent's death reads as EOF
    _limit_memory(memory_limit)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            payload: Any = ("ok", fn(job, task))
        except MemoryError:
            payload = ("error", "needs more memory than the per-file limit")
        except BaseException as exc:
            payload = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(payload)
        except Exception:
            return
        if payload[0] == "error":
            return  # a failed file may have left this process in a bad state: start afresh


class _Slot:
    """One pool process and the task it is working on."""

    def __init__(self, ctx: Any, fn: Callable[[Any, Any], Any], job: Any, memory_limit: int | None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker, args=(child, fn, job, memory_limit, self.conn),
                                daemon=True)
        self.proc.start()
        child.close()
        self.task: Any = None
        self.started = 0.0
        self.done = 0

    def give(self, task: Any) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def stop(self, kill: bool) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                self.proc.kill()
        self.proc.join(5)
        if self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


RECYCLE_AFTER = 500  # tasks per pool process before a fresh one takes over


def run_limited(fn: Callable[[Any, Any], Any], job: Any, tasks: list[Any], *, workers: int, time_limit: float,
                memory_limit: int | None, on_result: Callable[[Any, str, Any], None]) -> None:
    """Run ``fn(job, task)`` for every task on ``workers`` forked pool processes, each under an
    address-space limit, each task under a wall-clock limit; ``on_result(task, "ok" | "error",
    value_or_message)`` in the parent as each ends.

    A task over its time limit has its process killed (and replaced); a task that fails or
    kills its process gets an error result and a fresh process takes the next one, so a bad
    file costs only its own row.  Processes are reused otherwise: forking one per file
    would cost ~15 ms a file here, more than checking a small file.
    """
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork (Windows): in process, without limits
        for t in tasks:
            try:
                on_result(t, "ok", fn(job, t))
            except Exception as exc:
                on_result(t, "error", f"{type(exc).__name__}: {exc}")
        return
    queue = list(reversed(tasks))
    slots: list[_Slot] = []
    try:
        while queue or any(s.task is not None for s in slots):
            for s in slots:
                if s.task is None and queue:
                    s.give(queue.pop())
            while queue and len(slots) < workers:
                s = _Slot(ctx, fn, job, memory_limit)
                slots.append(s)
                s.give(queue.pop())
            busy = [s for s in slots if s.task is not None]
            deadline = min(s.started for s in busy) + time_limit
            ready = multiprocessing.connection.wait([s.conn for s in busy],
                                                    timeout=max(0.0, deadline - time.monotonic()))
            for s in busy:
                if s.conn not in ready:
                    continue
                task, s.task = s.task, None
                s.done += 1
                try:
                    status, value = s.conn.recv()
                except (EOFError, OSError):
                    s.proc.join(5)
                    code = s.proc.exitcode
                    status = "error"
                    value = ("the checker process was killed (out of memory?)" if code == -9 else
                             f"the checker process died (signal {-code})" if code is not None and code < 0 else
                             f"the checker process exited with status {code}")
                on_result(task, status, value)
                if status == "error" or s.done >= RECYCLE_AFTER:
                    s.stop(kill=status == "error")
                    slots.remove(s)
            now = time.monotonic()
            for s in [s for s in slots if s.task is not None and now - s.started >= time_limit]:
                task, s.task = s.task, None
                s.stop(kill=True)
                slots.remove(s)
                on_result(task, "error", f"took longer than the {time_limit:g} s limit")
    finally:
        for s in slots:
            s.stop(kill=s.task is not None)


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self.start = time.monotonic()
        self.last = 0.0

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(now - self.start, 1e-9)
        sys.stderr.write(f"\rgrading {self.done:>{len(str(self.total))}}/{self.total} "
                         f"[{'#' * filled}{'.' * (width - filled)}] {rate:6.1f} files/s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


# ------------------------------------------------------------------ batch


def grade(folder: str | os.PathLike[str], keys: Keys | str | os.PathLike[str], *,
          out: str | os.PathLike[str] | None = None, feedback_dir: str | os.PathLike[str] | None = None,
          workers: int | None = None, rubric: Rubric | None = None, time_limit: float = TIME_LIMIT,
          memory_limit: int | None = MEMORY_LIMIT, tolerance: Tolerance = DEFAULT,
          progress: bool | None = None, executor: str = "processes", scheduler: str | None = None,
          summary: str | os.PathLike[str] | None = None) -> Gradebook:
    """Grade every workbook under ``folder``; write the gradebook CSV to ``out`` and the class summary
    workbook to ``summary`` when given.

    ``executor``: "processes" (this machine's pool of ``workers``) or "dask" (a LocalCluster of
    ``workers``, or the running cluster at ``scheduler``: :mod:`.dask_executor`)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    if scheduler is not None and executor != "dask":
        raise ValueError("--scheduler goes with --executor dask")
    keys = keys if isinstance(keys, Keys) else Keys.load(keys)
    if rubric is None and keys.rubric is not None:
        rubric = Rubric.from_dict(keys.rubric, "the keys file's rubric")
    root = Path(folder)
    books, others = collect(root)
    fb = Path(feedback_dir) if feedback_dir is not None else None
    if fb is not None and fb.resolve().is_relative_to(root.resolve()):
        raise ValueError("--feedback-dir must be outside the folder of submissions")
    tasks = []
    for p in books:
        rel = p.relative_to(root).as_posix()
        name = rel.replace("/", "__")
        tasks.append(Task(p, rel, None if fb is None else fb / f"{Path(name).stem}.feedback.xlsx"))
    n_workers = max(1, min(workers or os.cpu_count() or 1, max(len(tasks), 1)))
    bar = _Progress(len(tasks), sys.stderr.isatty() if progress is None else progress)
    rows: dict[str, dict[str, Any]] = {}

    def done(task: Task, status: str, value: Any) -> None:
        if status == "ok":
            rows[task.rel] = value
        else:
            result = CheckResult(str(task.path), message=str(value))
            rows[task.rel] = _row(keys, task, result)
        bar.step()

    t0 = time.monotonic()
    if executor == "dask":
        from .dask_executor import run_dask

        ran = run_dask(_Job(keys, rubric, tolerance), tasks, workers=workers, scheduler=scheduler,
                       time_limit=time_limit, memory_limit=memory_limit, on_result=done)
        n_workers, cluster = ran.workers, f"{ran.where}, up in {ran.start_seconds:.1f} s"
    else:
        cluster = ""
        run_limited(_grade_one, _Job(keys, rubric, tolerance), tasks, workers=n_workers, time_limit=time_limit,
                    memory_limit=memory_limit, on_result=done)
    seconds = time.monotonic() - t0
    book = _assemble(keys, [rows[t.rel] for t in tasks])
    book.ignored = [p.relative_to(root).as_posix() for p in others]
    book.seconds, book.files, book.workers, book.cluster = seconds, len(tasks), n_workers, cluster
    if out is not None:
        book.write(out)
    if summary is not None:
        write_summary(book.stats, summary, f"{keys.course or keys.exercise}: class summary")
    return book


def _assemble(keys: Keys, rows: list[dict[str, Any]]) -> Gradebook:
    by_student: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for row in rows:
        (by_student.setdefault(row["student"], []) if row["student"] else loose).append(row)
    ordered: list[dict[str, Any]] = []
    duplicates: dict[str, list[str]] = {}
    missing: list[str] = []
    for sk in keys.students:
        mine = sorted(by_student.get(sk.student, []), key=lambda r: r["file"])
        if not mine:
            missing.append(sk.student)
            ordered.append({"student": sk.student, "file": "", "sha256": "", "score": "", "max_score": "",
                            "status": "missing", "first_mistake": "", "message": "no submission found",
                            "matched_by": "", **sk.roster})
            continue
        if len(mine) > 1:
            files = [r["file"] for r in mine]
            duplicates[sk.student] = files
            for r in mine:
                others = [f for f in files if f != r["file"]]
                note = f"duplicate: {sk.student} also handed in {', '.join(others)}"
                r["message"] = f"{note}; {r['message']}" if r["message"] else note
        ordered += mine
    ordered += sorted(loose, key=lambda r: r["file"])
    extra = [c for c in keys.roster_columns if c != keys.id_column and c not in COLUMNS + REVIEW_COLUMNS]
    counts: dict[str, int] = {}
    for r in ordered:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    evidences = [r.pop(EVIDENCE, None) for r in ordered]
    flags = review(keys, ordered, evidences)
    return Gradebook(ordered, COLUMNS + extra + REVIEW_COLUMNS, counts=counts, duplicates=duplicates,
                     missing=missing, stats=class_summary(ordered, evidences, flags))
