"""Finding spreadsheet engines, running them safely, and the errors they raise.

Why a separate layer: gdsheet's claim is that numpy, its own evaluator and real
spreadsheet engines agree.  The engines are external programs (LibreOffice's
``soffice``, Gnumeric's ``ssconvert``) that hang on odd input, print their
complaints to stdout or stderr, and exit 0 after failing to load a file
(LibreOffice 7.4 says "Error: source file could not be loaded" and exits 0).
So every run here has a timeout that kills the whole process group, success is
judged by the output file (exists, non-empty, a zip), and every failure becomes
one :class:`EngineError` line naming the engine, what went wrong and the tail
of what the engine printed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENGINES", "EngineError", "EngineMissing", "Engine", "available", "run_engine", "check_output"]


class EngineError(RuntimeError):
    """A spreadsheet engine failed, timed out or produced no usable output."""


class EngineMissing(EngineError):
    """The requested engine is not installed; the message names the package to install."""


@dataclass(frozen=True)
class Engine:
    name: str  # "libreoffice" | "gnumeric"
    label: str  # for messages: "LibreOffice (soffice)"
    executables: tuple[str, ...]  # looked up on PATH, in order
    debian_package: str


ENGINES: dict[str, Engine] = {
    "libreoffice": Engine("libreoffice", "LibreOffice (soffice)", ("soffice", "libreoffice"), "libreoffice-calc-nogui"),
    "gnumeric": Engine("gnumeric", "Gnumeric (ssconvert)", ("ssconvert",), "gnumeric"),
}


def _engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown spreadsheet engine {name!r}; known: {', '.join(ENGINES)}") from None


def available(engine: str) -> str | None:
    """Path of the engine's executable found on PATH, or None when it is not installed.

    ``engine`` is ``"libreoffice"`` (``soffice``, else ``libreoffice``) or
    ``"gnumeric"`` (``ssconvert``).
    """
    for exe in _engine(engine).executables:
        path = shutil.which(exe)
        if path:
            return path
    return None


def require(engine: str) -> str:
    """The executable of ``engine``; :class:`EngineMissing` naming the Debian package if absent."""
    exe = available(engine)
    if exe is None:
        spec = _engine(engine)
        raise EngineMissing(
            f"{spec.label} is not installed (no {' or '.join(spec.executables)} on PATH); "
            f"on Debian/Ubuntu: apt-get install {spec.debian_package}"
        )
    return exe


_NOISE = ("failed to launch javaldx",)  # LibreOffice prints this on every run without Java


def _tail(text: bytes, limit: int = 400) -> str:
    lines = [
        ln.strip()
        for ln in text.decode("utf-8", "replace").splitlines()
        if ln.strip() and not any(n in ln for n in _NOISE)
    ]
    tail = " | ".join(lines)
    return tail[-limit:] if tail else "(no output)"


def run_engine(engine: str, cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in its own process group; return its combined output as text.

    On timeout the whole group is killed (LibreOffice's ``soffice`` is a launcher
    whose ``soffice.bin`` child would otherwise outlive it) and EngineError is
    raised; a non-zero exit status is an EngineError too.
    """
    label = _engine(engine).label
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    except OSError as exc:
        raise EngineError(f"{label}: cannot start {cmd[0]}: {exc}") from exc
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        raise EngineError(f"{label}: timed out after {timeout:g} s and was killed; output: {_tail(out)}") from None
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise EngineError(f"{label}: exited with status {proc.returncode}; output: {_tail(out)}")
    return out.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def check_output(engine: str, path: Path, output: str) -> None:
    """EngineError unless ``path`` is a non-empty zip with a workbook part."""
    label = _engine(engine).label
    if not path.is_file() or path.stat().st_size == 0:
        raise EngineError(f"{label}: wrote no output file; output: {_tail(output.encode())}")
    try:
        with zipfile.ZipFile(path) as z:
            if not any(n.endswith("workbook.xml") for n in z.namelist()):
                raise EngineError(f"{label}: output {path.name} has no workbook part; output: {_tail(output.encode())}")
    except zipfile.BadZipFile:
        raise EngineError(f"{label}: output {path.name} is not an xlsx (zip) file; output: {_tail(output.encode())}") from None
