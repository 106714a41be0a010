"""Edit one cell of an .xlsx at the XML level, the way a hand edit or a forged file would.

Tests use this to tamper with generated workbooks without a spreadsheet
program rewriting anything else.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path


def sheet_part(path: Path, sheet: str) -> str:
    """The zip part of ``sheet`` (follows workbook.xml and its relationships)."""
    with zipfile.ZipFile(path) as zf:
        wb = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    m = re.search(r'<sheet name="%s" sheetId="\d+"(?: state="\w+")? r:id="(rId\d+)"' % re.escape(sheet), wb)
    assert m, f"no sheet {sheet}"
    target = re.search(r'<Relationship Id="%s" Type="[^"]+" Target="([^"]+)"' % m.group(1), rels)
    assert target
    return "xl/" + target.group(1).lstrip("/").removeprefix("xl/")


def replace_cell(src: Path, dst: Path, sheet: str, ref: str, new_inner: str, cell_type: str | None = None) -> None:
    """Copy ``src`` to ``dst`` with cell ``ref`` of ``sheet`` holding ``new_inner`` (e.g. '<f>B1*2</f><v>3</v>')."""
    part = sheet_part(src, sheet)
    tmp = dst.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                xml = data.decode()
                pattern = re.compile(r'<c r="%s"( s="\d+")?(?: t="\w+")?(?:/>|>.*?</c>)' % ref, re.S)
                m = pattern.search(xml)
                assert m, f"no cell {ref} in {part}"
                t = f' t="{cell_type}"' if cell_type else ""
                xml = xml[:m.start()] + f'<c r="{ref}"{m.group(1) or ""}{t}>{new_inner}</c>' + xml[m.end():]
                data = xml.encode()
            zout.writestr(info, data)
    shutil.move(tmp, dst)
