"""Remove the cached results of formula cells from an .xlsx, so an engine must compute them.

Why this exists
---------------
gdsheet writes every formula cell WITH its cached value (so the file opens with
numbers in viewers that never calculate).  To prove a real spreadsheet engine
agrees with numpy we must make the engine compute those values itself, and that
is not what happens by default: **LibreOffice does not recalculate an .xlsx on
load when it has cached values** -- a file with deliberately wrong cached values
came back from ``soffice --convert-to xlsx`` with the wrong values unchanged
(measured with LibreOffice 7.4).  Gnumeric's ``ssconvert --recalc`` did
recompute them, but we do not want the proof to depend on one engine's load
policy.  A cell with a formula and no value leaves an engine nothing to copy.

What :func:`strip_cached_values` changes (and nothing else)
-----------------------------------------------------------
* In every worksheet part: each ``<c>`` that contains an ``<f>`` -- including the
  child cells of a shared formula, ``<c r="B4"><f t="shared" si="0"/><v>1.5</v></c>``
  -- loses its ``<v>...</v>`` (or ``<v/>``) and its ``t="..."`` attribute
  (``t="str"``/``"e"``/``"b"`` on a cell without ``<v>`` would be invalid; the
  default type ``n`` is valid for an empty cell).  The formula is kept byte for byte.
* ``xl/workbook.xml``: ``<calcPr fullCalcOnLoad="1">`` (``calcPr`` is inserted at
  its schema position when missing), asking any engine that honours it to
  recalculate everything on load.
* The calculation chain (``xl/calcChain.xml``), its ``[Content_Types].xml``
  Override and its workbook relationship are removed: it is an optional cache
  too, and a stale one can make Excel "repair" the file.

Cells that hold a cached value but no ``<f>`` (the non-anchor cells of a legacy
array formula) are left alone: the engine overwrites them when it evaluates the
anchor.

Why it is written like this
---------------------------
Iteration sheets can have a million rows (hundreds of MB of XML once
decompressed), so a DOM is out of the question.  Worksheet parts are streamed
through in byte chunks; each chunk is cut after the last complete ``</c>`` and
only complete cells are rewritten with a regular expression (cells never nest,
so text up to a ``</c>`` contains only whole cells or non-cell markup).  Memory
is bounded by the chunk size plus the largest single cell.  Other zip entries
are copied unchanged (same name, timestamp, compression method, attributes);
the small workbook, relationships and content-types parts are edited as text
with regular expressions that tolerate a namespace prefix (``<x:c>``) and either
quote style.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
import zipfile
from pathlib import Path

from ..workbook.cellstream import CELL, CHUNK, PFX, T_ATTR, V, copy_info, stream_cells

__all__ = ["strip_cached_values"]

_PFX = PFX
_CELL, _V, _T_ATTR = CELL, V, T_ATTR
_HAS_F = re.compile(rb"<" + _PFX + rb"f[\s/>]")

WORKSHEET_CT = "spreadsheetml.worksheet+xml"
CALCCHAIN_REL = "/calcChain"

# CT_Workbook children that must come AFTER calcPr (ECMA-376 Part 1, 18.2.28).
_AFTER_CALCPR = (
    "oleSize",
    "customWorkbookViews",
    "pivotCaches",
    "smartTagPr",
    "smartTagTypes",
    "webPublishing",
    "fileRecoveryPr",
    "webPublishObjects",
    "extLst",
)


def _strip_cell(m: re.Match[bytes]) -> bytes:
    body = m.group(3)
    if body is None or not _HAS_F.search(body):
        return m.group(0)
    pfx = m.group(1)
    attrs = _T_ATTR.sub(b"", m.group(2) or b"")
    return b"<" + pfx + b"c" + attrs + b">" + _V.sub(b"", body) + b"</" + pfx + b"c>"


def _strip_sheet_stream(src, dst) -> None:
    """Copy worksheet XML from file object ``src`` to ``dst`` with formula values removed."""
    stream_cells(src, dst, lambda chunk: _CELL.sub(_strip_cell, chunk))


def _set_full_calc_on_load(xml: str) -> str:
    m = re.search(r"<((?:[A-Za-z_][\w.\-]*:)?)calcPr\b([^>]*?)(/?)>", xml)
    if m:
        attrs = m.group(2)
        fc = re.search(r"""\sfullCalcOnLoad\s*=\s*(?:"[^"]*"|'[^']*')""", attrs)
        if fc:
            attrs = attrs[: fc.start()] + ' fullCalcOnLoad="1"' + attrs[fc.end() :]
        else:
            attrs = attrs + ' fullCalcOnLoad="1"'
        return xml[: m.start()] + f"<{m.group(1)}calcPr{attrs}{m.group(3)}>" + xml[m.end() :]
    root = re.search(r"<((?:[A-Za-z_][\w.\-]*:)?)workbook\b", xml)
    pfx = root.group(1) if root else ""
    new = f'<{pfx}calcPr fullCalcOnLoad="1"/>'
    positions = [
        hit.start()
        for name in _AFTER_CALCPR
        if (hit := re.search(rf"<{re.escape(pfx)}{name}\b", xml))
    ]
    close = xml.rfind(f"</{pfx}workbook>")
    if positions:
        at = min(positions)
    elif close >= 0:
        at = close
    else:
        raise ValueError("xl/workbook.xml has no </workbook> end tag")
    return xml[:at] + new + xml[at:]


def _remove_rel(xml: str, target_part: str, rels_dir: str) -> str:
    """Drop the <Relationship> whose Type ends in /calcChain (or whose Target is the part)."""

    def keep(m: re.Match[str]) -> str:
        tag = m.group(0)
        typ = re.search(r"""\sType\s*=\s*["']([^"']*)["']""", tag)
        if typ and typ.group(1).endswith(CALCCHAIN_REL):
            return ""
        tgt = re.search(r"""\sTarget\s*=\s*["']([^"']*)["']""", tag)
        if tgt and _resolve(rels_dir, tgt.group(1)) == target_part:
            return ""
        return tag

    return re.sub(r"<(?:[A-Za-z_][\w.\-]*:)?Relationship\b[^>]*?(?:/>|>.*?</(?:[A-Za-z_][\w.\-]*:)?Relationship>)", keep, xml, flags=re.S)


def _resolve(base_dir: str, target: str) -> str:
    """Zip entry name of a relationship target relative to ``base_dir`` (e.g. "xl")."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base_dir, target))


def _worksheet_parts(xml: str) -> set[str]:
    """Zip entry names declared as worksheets in [Content_Types].xml."""
    parts = set()
    for m in re.finditer(r"<(?:[A-Za-z_][\w.\-]*:)?Override\b[^>]*>", xml):
        tag = m.group(0)
        name = re.search(r"""\sPartName\s*=\s*["']([^"']*)["']""", tag)
        ctype = re.search(r"""\sContentType\s*=\s*["']([^"']*)["']""", tag)
        if name and ctype and WORKSHEET_CT in ctype.group(1):
            parts.add(name.group(1).lstrip("/"))
    return parts


def _workbook_part(zin: zipfile.ZipFile, names: set[str]) -> str:
    rels = "_rels/.rels"
    if rels in names:
        xml = zin.read(rels).decode("utf-8")
        for m in re.finditer(r"<(?:[A-Za-z_][\w.\-]*:)?Relationship\b[^>]*>", xml):
            tag = m.group(0)
            typ = re.search(r"""\sType\s*=\s*["']([^"']*)["']""", tag)
            tgt = re.search(r"""\sTarget\s*=\s*["']([^"']*)["']""", tag)
            if typ and tgt and typ.group(1).endswith("/officeDocument"):
                return _resolve("", tgt.group(1))
    return "xl/workbook.xml"


def _calc_chain_part(zin: zipfile.ZipFile, names: set[str], wb_rels: str, wb_dir: str) -> str | None:
    if wb_rels in names:
        xml = zin.read(wb_rels).decode("utf-8")
        for m in re.finditer(r"<(?:[A-Za-z_][\w.\-]*:)?Relationship\b[^>]*>", xml):
            tag = m.group(0)
            typ = re.search(r"""\sType\s*=\s*["']([^"']*)["']""", tag)
            tgt = re.search(r"""\sTarget\s*=\s*["']([^"']*)["']""", tag)
            if typ and tgt and typ.group(1).endswith(CALCCHAIN_REL):
                return _resolve(wb_dir, tgt.group(1))
    default = posixpath.join(wb_dir, "calcChain.xml")
    return default if default in names else None


def strip_cached_values(src: Path, dst: Path) -> None:
    """Copy the .xlsx ``src`` to ``dst`` without the cached values of formula cells.

    See the module docstring for exactly what changes.  ``src`` is only read;
    ``dst`` is written through a temporary file in its directory and renamed into
    place, so a failure never leaves a half-written ``dst``.  Raises
    :class:`zipfile.BadZipFile` when ``src`` is not a zip archive, ``ValueError``
    when ``dst`` is ``src`` or the workbook part is malformed.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise ValueError(f"strip_cached_values: destination is the source file: {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".strip-", suffix=".xlsx", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", allowZip64=True) as zout:
            infos = zin.infolist()
            names = {i.filename for i in infos}
            ct_xml = zin.read("[Content_Types].xml").decode("utf-8") if "[Content_Types].xml" in names else ""
            sheet_parts = _worksheet_parts(ct_xml)
            sheet_parts |= {n for n in names if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n)}
            wb_part = _workbook_part(zin, names)
            wb_dir = posixpath.dirname(wb_part)
            wb_rels = posixpath.join(wb_dir, "_rels", posixpath.basename(wb_part) + ".rels")
            chain = _calc_chain_part(zin, names, wb_rels, wb_dir)

            for info in infos:
                name = info.filename
                if name == chain:
                    continue
                out_info = copy_info(info)
                if name in sheet_parts:
                    big = info.file_size > 0x7FFF0000
                    with zin.open(info) as fin, zout.open(out_info, "w", force_zip64=big) as fout:
                        _strip_sheet_stream(fin, fout)
                elif name == wb_part:
                    xml = zin.read(info).decode("utf-8")
                    zout.writestr(out_info, _set_full_calc_on_load(xml).encode("utf-8"))
                elif chain and name == "[Content_Types].xml":
                    xml = ct_xml
                    xml = re.sub(
                        r"<(?:[A-Za-z_][\w.\-]*:)?Override\b[^>]*?PartName\s*=\s*[\"']/"
                        + re.escape(chain)
                        + r"[\"'][^>]*?/>",
                        "",
                        xml,
                    )
                    zout.writestr(out_info, xml.encode("utf-8"))
                elif chain and name == wb_rels:
                    xml = zin.read(info).decode("utf-8")
                    zout.writestr(out_info, _remove_rel(xml, chain, wb_dir).encode("utf-8"))
                else:
                    with zin.open(info) as fin, zout.open(out_info, "w", force_zip64=info.file_size > 0x7FFF0000) as fout:
                        while block := fin.read(CHUNK):
                            fout.write(block)
        os.chmod(tmp, os.stat(src).st_mode & 0o777)  # mkstemp made it 0600
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
