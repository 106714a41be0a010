"""``grade --executor dask``: the same gradebook as the process pool, from a Dask cluster on the
loopback interface (two worker processes, one cluster for the module), hostile files included;
per-file limits on the workers; a worker killed mid-batch costs a retry, not a row."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import psutil
import pytest
from distributed import LocalCluster

from gdsheet.classroom import Keys, grade, write_roster, write_template
from gdsheet.classroom.dask_executor import run_dask
from gdsheet.classroom.grade import Task, _grade_one, _Job, collect, run_limited
from gdsheet.cli import main
from gdsheet.tolerance import DEFAULT
from hostile import ODD, UNREADABLE
from students import fill

HOSTILE = sorted(UNREADABLE) + sorted(ODD)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict[str, Path]:
    """Students of every kind (right, one wrong row, half done, in a folder of their own, matched by
    file name only, two files) and one file of every hostile kind, plus a stranger and a text file."""
    d = tmp_path_factory.mktemp("dask-class")
    ids = [f"s{i:02d}" for i in range(8)] + [f"h{i:02d}" for i in range(len(HOSTILE))]
    (d / "roster.csv").write_text("id\n" + "\n".join(ids) + "\n")
    _, kpath = write_roster("quadratic", d / "roster.csv", d / "templates", seed="dask", key_dir=d / "keys")
    subs, t = d / "submissions", d / "templates"
    (subs / "s02").mkdir(parents=True)
    fill(t / "s00.xlsx", subs / "s00.xlsx")
    fill(t / "s01.xlsx", subs / "homework (1).xlsx", cells={("x", 5): "=B6-0.2*D6"})
    fill(t / "s02.xlsx", subs / "s02" / "gd.xlsx", rows=30)
    fill(t / "s03.xlsx", subs / "s03.xlsx", cells={("x", 9): 1.5})
    fill(t / "s04.xlsx", subs / "s04.xlsx")
    fill(t / "s04.xlsx", subs / "s04-v2.xlsx", rows=10)
    (subs / "s05_homework.xlsx").write_text("I could not open Excel")
    fill(t / "s06.xlsx", subs / "s06.xlsx", rows=45)
    write_template("quadratic", subs / "stranger.xlsx")
    (subs / "notes.txt").write_text("not a workbook")
    for sid, name in zip(ids[8:], HOSTILE):
        builder = UNREADABLE[name][0] if name in UNREADABLE else ODD[name][0]
        builder(d / "keys" / f"{sid}.key.xlsx", subs / f"{sid}-{name}{'.xlsm' if name == 'macro' else '.xlsx'}")
    for tmp in subs.glob("*.tmp.xlsx"):
        tmp.unlink()
    few = d / "few"  # for feedback copies (the hostile but readable files take long to mark up)
    for rel in ("s00.xlsx", "homework (1).xlsx", "s02/gd.xlsx", "s05_homework.xlsx"):
        (few / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(subs / rel, few / rel)
    return {"subs": subs, "keys": kpath, "few": few}


@pytest.fixture(scope="module")
def pool_book(folder):
    return grade(folder["subs"], folder["keys"], workers=2, progress=False)


def test_cluster_gradebook_equals_the_process_pool_one(folder, cluster, pool_book, tmp_path, capsys):
    book = grade(folder["subs"], folder["keys"], executor="dask", scheduler=cluster.scheduler_address,
                 progress=True)
    assert book.csv_text() == pool_book.csv_text()
    assert book.workers == 2 and book.files == pool_book.files == 9 + len(HOSTILE)
    assert book.to_dict()["cluster"].startswith(f"Dask cluster at {cluster.scheduler_address}, up in ")
    assert pool_book.to_dict()["cluster"] == ""
    statuses = {r["file"]: r["status"] for r in book.rows}
    assert statuses["s05_homework.xlsx"] == "unreadable"
    assert sum(s == "unreadable" for s in statuses.values()) >= len(UNREADABLE) + 1
    assert {"graded", "mistakes", "missing", "unmatched", "unreadable", "not-this-exercise"} >= set(statuses.values())
    assert {"graded", "mistakes", "missing", "unmatched", "unreadable"} <= set(statuses.values())
    assert f"grading {book.files}/{book.files} [" in capsys.readouterr().err  # the progress bar


def test_feedback_copies_come_back_from_the_workers(folder, cluster, tmp_path):
    book = grade(folder["few"], folder["keys"], executor="dask", scheduler=cluster.scheduler_address,
                 feedback_dir=tmp_path / "dask", progress=False)
    pool = grade(folder["few"], folder["keys"], workers=1, feedback_dir=tmp_path / "pool", progress=False)
    assert book.csv_text() == pool.csv_text()
    names = sorted(p.name for p in (tmp_path / "pool").iterdir())
    assert names == ["homework (1).feedback.xlsx", "s00.feedback.xlsx", "s02__gd.feedback.xlsx"]
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == names
    for name in names:  # the same marked-up workbook (the zip's timestamps aside)
        a, b = (zipfile.ZipFile(tmp_path / side / name) for side in ("dask", "pool"))
        assert {i.filename: a.read(i) for i in a.infolist() if "docProps" not in i.filename} == \
               {i.filename: b.read(i) for i in b.infolist() if "docProps" not in i.filename}


def test_cli_starts_a_local_cluster(folder, pool_book, tmp_path, capsys):
    out = tmp_path / "gradebook.csv"
    assert main(["grade", str(folder["subs"]), "--keys", str(folder["keys"]), "-o", str(out),
                 "--executor", "dask", "--workers", "2", "--no-progress"]) == 0
    assert out.read_text() == pool_book.csv_text()
    printed = capsys.readouterr().out
    unreadable = pool_book.counts["unreadable"]
    assert f"graded {pool_book.files} files in " in printed
    assert " files/s, 2 workers; Dask LocalCluster, up in " in printed
    assert f"{unreadable} unreadable" in printed


def test_time_and_memory_limits_hold_on_the_workers(cluster, tmp_path):
    """A 30,000-step submission takes seconds to check: over a 0.5 s limit it is stopped on the
    worker, and under a 4 MB limit it runs out of memory there; the small file is graded."""
    d = tmp_path
    write_template("quadratic", d / "t.xlsx", key=d / "subs" / "big.xlsx", params={"steps": 30000})
    write_template("quadratic", d / "t2.xlsx", key=d / "subs" / "small.xlsx")
    (d / "roster.csv").write_text("id\nbig\nsmall\n")
    _, kpath = write_roster("quadratic", d / "roster.csv", d / "templates", seed=1)
    slow = grade(d / "subs", kpath, executor="dask", scheduler=cluster.scheduler_address, time_limit=0.5,
                 progress=False)
    rows = {r["file"]: r for r in slow.rows}
    assert (rows["big.xlsx"]["status"], rows["big.xlsx"]["message"]) == ("unreadable",
                                                                        "took longer than the 0.5 s limit")
    assert rows["small.xlsx"]["status"] != "unreadable"
    greedy = grade(d / "subs", kpath, executor="dask", scheduler=cluster.scheduler_address,
                   memory_limit=4 << 20, progress=False)
    big = next(r for r in greedy.rows if r["file"] == "big.xlsx")
    assert big["status"] == "unreadable" and "memory" in big["message"], big


def test_bad_requests_are_one_line(folder, tmp_path, capsys):
    import dask

    base = ["grade", str(folder["subs"]), "--keys", str(folder["keys"]), "-o", str(tmp_path / "g.csv")]
    assert main(base + ["--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == "gdsheet: error: --scheduler goes with --executor dask\n"
    assert main(base + ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert "--workers sets the size of the local Dask cluster" in capsys.readouterr().err
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(base + ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gdsheet: error: cannot start grading on the Dask scheduler at tcp://127.0.0.1:1: ")
    assert err.count("\n") == 1
    assert not (tmp_path / "g.csv").exists()


def test_without_dask_the_error_says_how_to_install_it(folder, tmp_path):
    code = ("import sys; sys.modules['distributed'] = None  # as if not installed\n"
            "from gdsheet.cli import main\n"
            f"sys.exit(main(['grade', {str(folder['subs'])!r}, '--keys', {str(folder['keys'])!r}, "
            f"'-o', {str(tmp_path / 'g.csv')!r}, '--executor', 'dask']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("gdsheet: error: --executor dask needs Dask distributed, which is not installed: "
                           "pip install 'gdsheet[dask]'\n")


def test_a_worker_killed_mid_batch_costs_a_retry_not_a_row(folder, cluster):
    """SIGKILL the worker busy on a file once the first results are in: its chunks go to the other
    worker (and the nanny's replacement), every file still gets the row the process pool gives it,
    and the dead worker's grading child does not linger."""
    root = folder["subs"]
    keys = Keys.load(folder["keys"])
    job = _Job(keys, None, DEFAULT)
    tasks = [Task(p, p.relative_to(root).as_posix(), None) for p in collect(root)[0]]
    want: dict[str, object] = {}
    run_limited(_grade_one, job, tasks, workers=2, time_limit=60, memory_limit=None,
                on_result=lambda t, status, value: want.__setitem__(t.rel, (status, value)))

    state: dict[str, object] = {}

    def start(client) -> None:
        state["client"], state["pids"] = client, client.run(os.getpid)

    got: dict[str, object] = {}

    def result(task: Task, status: str, value: object) -> None:
        got[task.rel] = (status, value)
        if "killed" in state:
            return
        client = state["client"]
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            pid = state["pids"][busy[0]]
            state["children"] = psutil.Process(pid).children(recursive=True)
            os.kill(pid, signal.SIGKILL)
            state["killed"], state["left"] = pid, len(tasks) - len(got)

    run_dask(job, tasks, workers=None, scheduler=cluster.scheduler_address, time_limit=60, memory_limit=None,
             on_result=result, chunk=1, on_start=start)
    assert state.get("killed") and state["left"] > 0  # killed with files still to grade
    assert got == want
    _, alive = psutil.wait_procs(state["children"], timeout=30)
    assert alive == []
    # the nanny replaces the worker: the cluster is whole again for whoever comes next
    from distributed import Client

    with Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
