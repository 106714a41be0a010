"""Write new cached values into a copy of an .xlsx, changing nothing else.

Why not openpyxl: loading and saving a workbook with openpyxl drops what it
does not model -- charts, images, pivot caches, data validation extensions,
VBA unless asked -- and rewrites every part.  A copy whose cached values are
fresh must still be the author's workbook.  So this works like
:mod:`gdsheet.engines.strip`: every zip entry is copied unchanged (same name,
timestamp, compression method, attributes; the same bytes once inflated)
except the worksheet parts that hold a cell to update, and those are streamed
through in chunks cut after a complete ``</c>``, with only the cells to update
rewritten by a regular expression.  Memory is bounded by the chunk size plus
the largest single cell, whatever the size of the sheet.

What changes in a rewritten cell (``<c r="B7" s="3" t="str"><f>..</f><v>..</v></c>``):
its ``<v>`` (inserted after the ``<f>`` when there was none; an ``<is>`` inline
string is dropped) and its ``t`` attribute, which states the new value's type
-- none for a number, ``str`` for text, ``b`` for a boolean, ``e`` for an error
value.  The formula, the style, every other attribute and every other cell stay
byte for byte.  Numbers are written in the shortest form that reads back as the
same double (``repr``), integers without a decimal point, as Excel writes them.

Cells are found by their ``r`` attribute.  A cell without one (legal, rare) or
a cell to update that is not in the part at all (openpyxl writes only the
anchor of an array formula) cannot be updated: :func:`write_cached_values`
returns how many cells it did update per sheet, so the caller can say so.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
import zipfile
from html import escape
from pathlib import Path
from typing import Any, Mapping

from defusedxml import ElementTree as SafeET

from ..formula.errors import ExcelError
from ..formula.parser import col_to_letters
from .cellstream import CELL, CHUNK, PFX, T_ATTR, V, copy_info, stream_cells

__all__ = ["write_cached_values", "sheet_parts", "xml_value"]

_PFX = PFX
_CELL = CELL
_R_ATTR = re.compile(rb"""\sr\s*=\s*["']\$?([A-Za-z]{1,3})\$?(\d+)["']""")
_T_ATTR, _V = T_ATTR, V
_IS = re.compile(rb"<(" + _PFX + rb")is(?:\s[^>]*)?(?:/>|>.*?</\1is>)", re.S)
_F = re.compile(rb"<(" + _PFX + rb")f\b[^>]*?(?:/>|>.*?</\1f>)", re.S)

Update = tuple[bytes, bytes]  # (t attribute text or b"", <v> content)


def xml_value(value: Any) -> Update:
    """(``t`` attribute, ``<v>`` text) of a cell value as an .xlsx stores a formula result."""
    if value is True or value is False:
        return b' t="b"', b"1" if value else b"0"
    if isinstance(value, ExcelError):
        return b' t="e"', value.code.encode()
    if isinstance(value, str):
        return b' t="str"', escape(value, quote=False).encode("utf-8")
    if value is None:
        value = 0.0
    x = float(value)
    if x == 0.0:
        return b"", b"0"
    if x.is_integer() and abs(x) < 1e15:
        return b"", str(int(x)).encode()
    return b"", repr(x).encode()


def _updates(cells: Mapping[tuple[int, int], Any]) -> dict[bytes, Update]:
    """{b"B7": (t attribute, <v> text)} for every cell; numbers (nearly all of them) inline."""
    letters = {c: col_to_letters(c) for c in {c for _, c in cells}}
    out: dict[bytes, Update] = {}
    plain = b""
    for (r, c), v in cells.items():
        if v.__class__ is float and v - v == 0.0 and v != 0.0:
            text = str(int(v)) if v.is_integer() and -1e15 < v < 1e15 else repr(v)
            out[f"{letters[c]}{r}".encode()] = (plain, text.encode())
        else:
            out[f"{letters[c]}{r}".encode()] = xml_value(v)
    return out


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part (zip entry name), from workbook.xml and its relationships."""
    wb = SafeET.fromstring(zf.read("xl/workbook.xml"))
    try:
        rels = SafeET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except KeyError:
        return {}
    targets = {}
    for el in rels:
        target = el.get("Target") or ""
        if el.get("TargetMode") == "External":
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[el.get("Id") or ""] = path
    out = {}
    for el in wb.iter():
        if el.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
        if rid in targets:
            out[el.get("name") or ""] = targets[rid]
    return out


_FAST_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"')
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.\-]*:c[\s/>]")
_LETTERS: dict[bytes, int] = {}
_ABSENT = object()


def _col(letters: bytes) -> int:
    n = _LETTERS.get(letters)
    if n is None:
        n = 0
        for ch in letters:
            n = n * 26 + ch - 64
        _LETTERS[letters] = n
    return n


def _fast_body(body: bytes, v: bytes) -> bytes:
    """``body`` (the inside of an unprefixed cell) with its value replaced by ``v``."""
    if b"<is" in body:
        body = _IS.sub(b"", body)
    i = body.find(b"<v")
    if i >= 0:
        if body.startswith(b"<v>", i):
            j = body.find(b"</v>", i)
            if j >= 0:
                body = body[:i] + body[j + 4:]
        elif body.startswith(b"<v/>", i):
            body = body[:i] + body[i + 4:]
        else:
            body = _V.sub(b"", body)
    if body.startswith(b"<f"):
        k = body.find(b"</f>")
        k = k + 4 if k >= 0 else body.find(b"/>") + 2
        return body[:k] + v + body[k:]
    return v + body


def _rewrite_fast(chunk: bytes, cells: Mapping[tuple[int, int], Any], done: list[int]) -> bytes:
    """The common layout (every cell ``<c r="..."``, no namespace prefix): find the cells to
    update by their reference and splice in the new value, leaving every other byte where
    it is.  The value is formatted only for the cells that have one (numbers inline)."""
    out = []
    last = 0
    get = cells.get
    absent = _ABSENT
    for m in _FAST_CELL.finditer(chunk):
        value = get((int(m.group(2)), _col(m.group(1))), absent)
        if value is absent:
            continue
        if value.__class__ is float and value - value == 0.0 and value != 0.0:
            t_attr = b""
            v_text = (str(int(value)) if value.is_integer() and -1e15 < value < 1e15 else repr(value)).encode()
        else:
            t_attr, v_text = xml_value(value)
        start = m.start()
        gt = chunk.index(b">", m.end())
        if chunk[gt - 1] == 0x2F:  # "/": <c r="B7" s="1"/>
            attrs, body, end = chunk[start + 2:gt - 1], b"", gt + 1
        else:
            close = chunk.index(b"</c>", gt)
            attrs, body, end = chunk[start + 2:gt], chunk[gt + 1:close], close + 4
        if b" t=" in attrs:
            inline = b"inlineStr" in attrs
            attrs = _T_ATTR.sub(b"", attrs)
        else:
            inline = False
        i = body.find(b"<v")
        if i >= 0 and not inline and body.startswith(b"<v>", i):  # <f>..</f><v>old</v>: the value in place
            j = body.find(b"</v>", i)
            body = body[:i + 3] + v_text + body[j:]
        elif i < 0 and not inline and body.startswith(b"<f"):  # <f>..</f> or <f .../>, no value yet
            k = body.find(b"</f>")
            k = k + 4 if k >= 0 else body.find(b"/>") + 2
            body = body[:k] + b"<v>" + v_text + b"</v>" + body[k:]
        else:
            body = _fast_body(body, b"<v>" + v_text + b"</v>")
        out.append(chunk[last:start])
        out.append(b"<c" + attrs + t_attr + b">" + body + b"</c>")
        last = end
        done[0] += 1
    if not out:
        return chunk
    out.append(chunk[last:])
    return b"".join(out)


def _rewrite(m: re.Match[bytes], updates: dict[bytes, Update], done: list[int]) -> bytes:
    attrs = m.group(2) or b""
    ref = _R_ATTR.search(attrs)
    if ref is None:
        return m.group(0)
    new = updates.get(ref.group(1).upper() + ref.group(2))
    if new is None:
        return m.group(0)
    done[0] += 1
    pfx = m.group(1)
    t_attr, v_text = new
    body = m.group(3) or b""
    body = _IS.sub(b"", _V.sub(b"", body))
    v = b"<" + pfx + b"v>" + v_text + b"</" + pfx + b"v>"
    f = _F.search(body)
    body = body[:f.end()] + v + body[f.end():] if f else v + body
    return b"<" + pfx + b"c" + _T_ATTR.sub(b"", attrs) + t_attr + b">" + body + b"</" + pfx + b"c>"


def _rewrite_stream(src: Any, dst: Any, cells: Mapping[tuple[int, int], Any]) -> int:
    done = [0]
    updates: dict[bytes, Update] | None = None  # for the general path, made when first needed

    def sub(chunk: bytes) -> bytes:
        plain = chunk.count(b'<c r="')
        if plain == chunk.count(b"<c ") + chunk.count(b"<c>") + chunk.count(b"<c/") and (
                plain or not _PREFIXED_CELL.search(chunk)):
            return _rewrite_fast(chunk, cells, done)
        nonlocal updates
        if updates is None:
            updates = _updates(cells)
        table = updates
        return _CELL.sub(lambda m: _rewrite(m, table, done), chunk)

    stream_cells(src, dst, sub)
    return done[0]


def write_cached_values(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                        values: Mapping[str, Mapping[tuple[int, int], Any]]) -> dict[str, int]:
    """Copy ``src`` to ``dst`` with the cached value of each cell in ``values``
    (sheet name -> {(row, col): value}) replaced; return {sheet name: cells updated}.

    ``src`` is only read; ``dst`` is written through a temporary file in its
    folder and renamed into place, so a failure leaves no half-written file.
    ``ValueError`` when ``dst`` is ``src`` or a sheet is not in the workbook.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and os.path.samefile(src, dst):
        raise ValueError(f"{dst.name}: the output would overwrite the input workbook (it is never modified)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".recalc-", suffix=".xlsx", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    counts: dict[str, int] = {}
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", allowZip64=True) as zout:
            parts = sheet_parts(zin)
            by_part: dict[str, tuple[str, Mapping[tuple[int, int], Any]]] = {}
            for sheet, cells in values.items():
                part = parts.get(sheet)
                counts[sheet] = 0
                if part is None and cells:
                    raise ValueError(f"{src.name}: no worksheet part for sheet {sheet!r}")
                if cells:
                    by_part[part] = (sheet, cells)
            for info in zin.infolist():
                out_info = copy_info(info)
                big = info.file_size > 0x7FFF0000
                target = by_part.get(info.filename)
                if target is not None:
                    # a rewritten sheet is deflated at level 1 (zlib's default 6 takes 4x as long for
                    # 15% less), as gdsheet's own writer does; other parts keep their compression
                    out_info._compresslevel = 1  # type: ignore[attr-defined]
                with zin.open(info) as fin, zout.open(out_info, "w", force_zip64=big) as fout:
                    if target is not None:
                        counts[target[0]] = _rewrite_stream(fin, fout, target[1])
                    else:
                        while block := fin.read(CHUNK):
                            fout.write(block)
        os.chmod(tmp, os.stat(src).st_mode & 0o777)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts
