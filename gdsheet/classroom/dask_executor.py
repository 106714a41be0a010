"""``gdsheet grade --executor dask``: the same batch on a Dask distributed cluster.

When one machine's process pool (:func:`gdsheet.classroom.grade.run_limited`)
is not enough, the files go to an existing distributed engine instead of a
home-made scheduler: a ``distributed.LocalCluster`` on the loopback interface
(no ``scheduler``), or a running cluster (``scheduler="tcp://host:8786"``).

* **Bytes, not paths.**  A worker may not share the grader's disk: the client
  reads each file and ships its bytes; the worker writes them to a temporary
  folder — under the file's own folder name, so matching a student by the
  file's (or its folder's) name gives what it gives on the grader — and grades
  that copy.  Feedback copies come back as bytes and are written by the client.
  A file over the size limit is never shipped: the size check refuses it before
  reading, so the client gives it its row itself.
* **The same limits.**  On the worker a task runs the files of its chunk through
  ``run_limited`` — the pool's own forked, address-space-limited child with its
  wall-clock limit — so a hostile file costs its own row there as here.
* **Resilience.**  A worker that dies (killed, out of memory, its machine gone)
  takes its tasks with it; the scheduler hands them to another worker (Dask's
  ``distributed.scheduler.allowed-failures``), and a task that raises is retried
  (``retries=``).  Only a chunk that fails every time gets rows saying so.
* **Same gradebook.**  Results are keyed by file and the rows assembled in the
  folder's order by :func:`gdsheet.classroom.grade.grade`: nothing depends on
  which worker graded what, or when.
* **Bounded client memory.**  Chunks are read and submitted a window at a time,
  so a batch of 100,000 files never sits in the client's memory at once.

Dask is an optional extra: ``pip install 'gdsheet[dask]'``.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..workbook.safety import SUBMISSION_LIMITS
from .grade import Task, _grade_one, _Job, run_limited

INSTALL = "pip install 'gdsheet[dask]'"
CHUNK_MAX = 25  # files per Dask task: one forked child per chunk; small enough to spread and to retry
RETRIES = 2  # a task that raises (e.g. the worker's disk is full) runs again

# (rel, parent folder name, file name, bytes, wants a feedback copy)
Item = tuple[str, str, str, bytes, bool]
# (rel, "ok" | "error", row or message, feedback bytes or None)
Outcome = tuple[str, str, Any, bytes | None]


def distributed_module() -> Any:
    """``distributed``, or a one-line ValueError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ValueError(f"--executor dask needs Dask distributed, which is not installed: {INSTALL}") from None
    return distributed


@dataclass
class ClusterRun:
    """What the batch ran on: worker threads, and the seconds spent starting or reaching the cluster."""

    workers: int
    start_seconds: float
    where: str  # "Dask LocalCluster" or "Dask cluster at tcp://..."


def chunk_size(files: int, threads: int) -> int:
    """Files per task: a few tasks per worker thread so the batch spreads evenly and a lost
    worker costs little, at most CHUNK_MAX so a retry repeats little."""
    return max(1, min(CHUNK_MAX, math.ceil(files / max(1, threads * 4))))


def run_dask(job: _Job, tasks: list[Task], *, workers: int | None, scheduler: str | None, time_limit: float,
             memory_limit: int | None, on_result: Callable[[Task, str, Any], None],
             chunk: int | None = None, on_start: Callable[[Any], None] | None = None) -> ClusterRun:
    """Grade ``tasks`` on a Dask cluster; ``on_result(task, "ok" | "error", row_or_message)`` in the
    caller as each file's result arrives (like :func:`run_limited`).  ``workers``: the LocalCluster's
    size (not with ``scheduler``); ``chunk``: files per task [:func:`chunk_size`]; ``on_start(client)``
    is called once the cluster is up (tests use it to kill a worker mid-batch)."""
    if scheduler is not None and workers is not None:
        raise ValueError("--workers sets the size of the local Dask cluster; a running cluster (--scheduler) "
                         "has the workers it has")
    d = distributed_module()
    from dask import config as dask_config, utils as dask_utils

    where = f"Dask cluster at {scheduler}" if scheduler else "Dask LocalCluster"
    if not tasks:
        return ClusterRun(0, 0.0, where)
    cluster = None
    t0 = time.monotonic()
    try:
        if scheduler is None:
            n = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
            cluster = d.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = d.Client(cluster, set_as_default=False)
        else:
            # how long to try: Dask's own setting, distributed.comm.timeouts.connect (30 s)
            client = d.Client(scheduler, set_as_default=False)
            client.wait_for_workers(1, timeout=dask_utils.parse_timedelta(
                dask_config.get("distributed.comm.timeouts.connect")))
    except (OSError, TimeoutError, RuntimeError) as exc:  # unreachable, no workers, cluster failed to start
        if cluster is not None:
            cluster.close()
        target = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
        raise ValueError(f"cannot start grading on {target}: {exc}") from None
    try:
        threads = sum(client.nthreads().values())
        try:
            client.run(warm_up)
        except Exception as exc:
            raise ValueError(f"the workers of the {where} cannot grade: {type(exc).__name__}: {exc} "
                             "(gdsheet must be installed on every worker)") from None
        started = time.monotonic() - t0
        if on_start is not None:
            on_start(client)
        _run(d, client, job, tasks, threads, time_limit, memory_limit, on_result, chunk)
        return ClusterRun(threads, started, where)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(d: Any, client: Any, job: _Job, tasks: list[Task], threads: int, time_limit: float,
         memory_limit: int | None, on_result: Callable[[Task, str, Any], None], chunk: int | None) -> None:
    size = chunk or chunk_size(len(tasks), threads)
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    window = max(4, 3 * threads)  # chunks read and in flight at once
    job_f = client.scatter(job, broadcast=True, hash=False)
    batch = uuid.uuid4().hex[:8]
    pending: dict[str, list[Task]] = {}
    running = d.as_completed(loop=client.loop)
    todo = iter(enumerate(chunks))

    def submit_next() -> bool:
        for i, group in todo:
            items: list[Item] = []
            for t in group:
                data = _payload(t)
                if data is None:  # over the size limit or unreadable here: refused without parsing
                    on_result(t, "ok", _grade_one(job, t))
                else:
                    items.append((t.rel, t.path.parent.name, t.path.name, data, t.feedback is not None))
            if not items:
                continue
            fut = client.submit(grade_chunk, job_f, items, time_limit, memory_limit, retries=RETRIES,
                                pure=False, key=f"gdsheet-grade-{batch}-{i}")
            pending[fut.key] = [t for t in group if any(it[0] == t.rel for it in items)]
            running.add(fut)
            return True
        return False

    for _ in range(window):
        if not submit_next():
            break
    for fut in running:
        group = pending.pop(fut.key)
        by_rel = {t.rel: t for t in group}
        try:
            outcomes: list[Outcome] = fut.result()
        except Exception as exc:  # the chunk failed on every try (workers died each time)
            for t in group:
                on_result(t, "error", f"the grading workers failed on this file ({type(exc).__name__}: {exc})")
        else:
            for rel, status, value, feedback in outcomes:
                t = by_rel[rel]
                if feedback is not None and t.feedback is not None:
                    _write(t.feedback, feedback)
                on_result(t, status, value)
        fut.release()
        submit_next()


def _payload(t: Task) -> bytes | None:
    try:
        if t.path.stat().st_size > SUBMISSION_LIMITS.file_bytes:
            return None
        return t.path.read_bytes()
    except OSError:
        return None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ------------------------------------------------------------------ on the worker


def warm_up() -> None:
    """Import the checker on a worker before the batch: the cluster's start pays for it, not the
    first files, and a worker without gdsheet is found before any file is sent."""
    from . import check, feedback  # noqa: F401


def grade_chunk(job: _Job, items: list[Item], time_limit: float, memory_limit: int | None) -> list[Outcome]:
    """Grade shipped files on a worker: write them to a temporary folder, run them through
    ``run_limited`` (one limited child for the chunk, replaced after a file that fails it), and
    return each file's result with its feedback copy's bytes."""
    _allow_children()
    with tempfile.TemporaryDirectory(prefix="gdsheet-grade-") as tmp:
        tasks = []
        for i, (rel, parent, name, data, feedback) in enumerate(items):
            # the file keeps its name and its folder's name: both may name the student
            p = Path(tmp, str(i), parent or "_", name)
            p.parent.mkdir(parents=True)
            p.write_bytes(data)
            tasks.append(Task(p, rel, Path(tmp, str(i), "feedback.xlsx") if feedback else None))
        results: dict[str, tuple[str, Any]] = {}
        run_limited(_grade_one, job, tasks, workers=1, time_limit=time_limit, memory_limit=memory_limit,
                    on_result=lambda t, status, value: results.__setitem__(t.rel, (status, value)))
        out: list[Outcome] = []
        for t in tasks:
            status, value = results[t.rel]
            fb = t.feedback.read_bytes() if t.feedback is not None and t.feedback.is_file() else None
            out.append((t.rel, status, value, fb))
        return out


def _allow_children() -> None:
    """Let this worker process fork the limited children.

    Dask's nanny starts workers as daemonic processes (``distributed.worker.daemon``), and
    multiprocessing refuses children to a daemonic process because they would outlive it.  Ours
    do not: each blocks on its pipe to the worker and ends when the pipe closes.  Lifting the flag
    here, rather than asking every cluster to be configured with ``daemon: False``, keeps a
    running cluster usable as it is.
    """
    proc = multiprocessing.current_process()
    if proc.daemon:
        proc._config["daemon"] = False  # type: ignore[attr-defined]
