"""Refuse a file before parsing it when it is not a workbook we can read safely.

Every command that reads a workbook reads files people hand in, so it treats
them as hostile.  ``../shared/notes/untrusted-xlsx.md`` measured what openpyxl
does with each kind of bad file and which defences worked; this module applies
them *before* any XML is parsed:

* the first bytes: a zip (``PK\\x03\\x04``); an OLE container (legacy .xls or a
  password-protected workbook) gets its own message;
* the archive: the parts a workbook needs, a bounded number of entries, and
  bounded declared sizes and compression ratios (zip bombs).  CPython stops
  inflating at the declared size and a lying size fails its CRC, so the
  declaration can be trusted;
* every XML part is later parsed with DOCTYPE declarations refused (no entity
  expansion at all) — see :func:`check_xml`;
* rows and columns actually read are capped (``Limits.max_row``/``max_col``):
  a worksheet is inflated as a stream and reading stops at its first row past
  the cap, so a sheet filled down to row 1,048,576 or one stray cell at
  XFD1048576 costs what the rows below the cap cost.  What was left out is
  listed in ``Workbook.limited``.  :data:`SUBMISSION_LIMITS` are the bounds for
  files people hand in (``check``, ``grade``).

Macros (``vbaProject.bin``) are never loaded or run: the reader only notes
their presence (``Workbook.has_macros``).  External links are never followed:
the reader counts them (``Workbook.external_links``) and the evaluator makes
every formula that reads another workbook an error in that cell.

Each refusal is an :class:`UnreadableWorkbook` whose message is one line a
person can act on.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Limits:
    """Bounds on what a workbook may ask of us; documented in the README."""

    file_bytes: int = 512 * 2**20  # the .xlsx itself
    entries: int = 10_000  # parts in the archive
    part_bytes: int = 1536 * 2**20  # one part, uncompressed (a 1,048,576-row sheet fits)
    total_bytes: int = 2048 * 2**20  # all parts, uncompressed
    ratio: float = 200.0  # uncompressed / compressed, for parts over 1 MiB
    cells: int = 30_000_000  # cells actually read, all sheets
    max_row: int = 1_048_576  # rows below are not read (Excel's last row: no cap)
    max_col: int = 16_384  # columns to the right are not read (Excel's last column: no cap)


DEFAULT_LIMITS = Limits()

# What a handed-in workbook may ask of ``check`` and ``grade``: an exercise table is
# at most a few thousand rows; anything far beyond is notes, junk or a stray cell.
SUBMISSION_LIMITS = Limits(file_bytes=100 * 2**20, entries=2_000, part_bytes=512 * 2**20,
                           total_bytes=1024 * 2**20, cells=5_000_000, max_row=65_536, max_col=1_024)


class UnreadableWorkbook(Exception):
    """The file cannot be read as a workbook; the message says why in one line."""


def open_package(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> zipfile.ZipFile:
    """Open ``path`` as an .xlsx package after the checks above, or raise UnreadableWorkbook."""
    p = Path(path)
    name = p.name
    try:
        if not p.exists():
            raise UnreadableWorkbook(f"{name}: no such file")
        if p.is_dir():
            raise UnreadableWorkbook(f"{name}: is a folder, not a workbook")
        size = p.stat().st_size
        if size == 0:
            raise UnreadableWorkbook(f"{name}: the file is empty")
        if size > limits.file_bytes:
            raise UnreadableWorkbook(f"{name}: {size / 2**20:.0f} MiB is larger than the "
                                     f"{limits.file_bytes / 2**20:.0f} MiB limit")
        with open(p, "rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise UnreadableWorkbook(f"{name}: cannot open ({exc.strerror or exc})") from None
    if magic.startswith(OLE_MAGIC):
        raise UnreadableWorkbook(f"{name}: password-protected or legacy .xls workbook: "
                                 "save it as an unprotected .xlsx and try again")
    if not magic.startswith(ZIP_MAGIC):
        raise UnreadableWorkbook(f"{name}: not an .xlsx workbook (the file is not a zip archive)")
    try:
        zf = zipfile.ZipFile(p)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnreadableWorkbook(f"{name}: damaged or truncated .xlsx ({exc})") from None
    try:
        check_archive(name, infos, limits)
    except UnreadableWorkbook:
        zf.close()
        raise
    return zf


def check_archive(name: str, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.entries:
        raise UnreadableWorkbook(f"{name}: {len(infos)} parts in the archive (limit {limits.entries})")
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        if "content.xml" in names:
            raise UnreadableWorkbook(f"{name}: an OpenDocument spreadsheet (.ods): save it as .xlsx")
        raise UnreadableWorkbook(f"{name}: a zip archive but not an .xlsx workbook "
                                 "(no [Content_Types].xml / xl/workbook.xml)")
    if any(i.flag_bits & 0x1 for i in infos):
        raise UnreadableWorkbook(f"{name}: encrypted archive: save it as an unprotected .xlsx")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.part_bytes:
            raise UnreadableWorkbook(f"{name}: part {info.filename} inflates to {info.file_size / 2**20:.0f} MiB "
                                     f"(limit {limits.part_bytes / 2**20:.0f} MiB)")
        if info.file_size > 2**20 and info.file_size > limits.ratio * max(info.compress_size, 1):
            raise UnreadableWorkbook(f"{name}: part {info.filename} is compressed "
                                     f"{info.file_size / max(info.compress_size, 1):.0f}:1, "
                                     f"a likely zip bomb (limit {limits.ratio:.0f}:1)")
    if total > limits.total_bytes:
        raise UnreadableWorkbook(f"{name}: the parts inflate to {total / 2**20:.0f} MiB "
                                 f"(limit {limits.total_bytes / 2**20:.0f} MiB)")


def check_xml(name: str, part: str, text: str) -> None:
    """Refuse DOCTYPE/ENTITY declarations: a workbook never needs them, bombs do."""
    if "!" not in text or "<!" not in text:
        return  # no declaration of any kind ("!" alone is a memchr; "<!" is slow where "<" abounds)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise UnreadableWorkbook(f"{name}: part {part} declares a DOCTYPE/ENTITY "
                                 "(refused: XML entity expansion attack)")
