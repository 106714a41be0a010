"""Rewrite the cells of a worksheet part as a stream, a chunk of whole cells at a time.

Both the engine layer (strip cached values before a recalculation) and ``recalc -o``
(write recalculated cached values) change a few bytes in every cell of parts that can
hold a million rows, and must keep every other byte.  A DOM would cost gigabytes;
this streams the decompressed XML in ~1 MB chunks, each cut after a complete
``</c>`` (or before an open cell), and hands the transform whole cells only.
"""

from __future__ import annotations

import re
import zipfile
from typing import IO, Callable

CHUNK = 1 << 20  # bytes of decompressed worksheet XML per step

# A namespace prefix such as "x:" (some .NET writers), captured so the closing tag matches.
PFX = rb"(?:[A-Za-z_][\w.\-]*:)?"
# One whole cell: <c .../>  or  <c ...> ... </c>.  Group 1: prefix, 2: attributes, 3: body.
CELL = re.compile(rb"<(" + PFX + rb")c(\s[^>]*?)?(?:/>|>(.*?)</\1c>)", re.S)
CELL_END = re.compile(rb"</" + PFX + rb"c>")
CELL_START = re.compile(rb"<" + PFX + rb"c[\s/>]")
V = re.compile(rb"<(" + PFX + rb")v(?:\s[^>]*)?(?:/>|>.*?</\1v>)", re.S)
T_ATTR = re.compile(rb"""\st\s*=\s*(?:"[^"]*"|'[^']*')""")


def stream_cells(src: IO[bytes], dst: IO[bytes], transform: Callable[[bytes], bytes]) -> None:
    """Copy ``src`` to ``dst``, passing every run of whole cells through ``transform``."""
    buf = b""
    while True:
        data = src.read(CHUNK)
        if data:
            buf += data
        last_end = None
        for last_end in CELL_END.finditer(buf):
            pass
        if last_end is not None:
            cut = last_end.end()
        elif not data:
            cut = len(buf)
        else:
            # No </c> in the buffer, so at most its last cell start is an open cell
            # (cells never nest); cut before it, or before a tag split by the chunk.
            last_start = None
            for last_start in CELL_START.finditer(buf):
                pass
            cut = last_start.start() if last_start is not None else max(buf.rfind(b"<"), 0)
        if cut:
            dst.write(transform(buf[:cut]))
            buf = buf[cut:]
        if not data:
            if buf:
                dst.write(transform(buf))
            return


def copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh ZipInfo for writing the same entry again (name, date, compression, attributes)."""
    out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    out.compress_type = info.compress_type
    out.external_attr = info.external_attr
    out.create_system = info.create_system
    out.comment = info.comment
    return out
