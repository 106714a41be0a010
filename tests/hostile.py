"""A hostile (and odd) corpus of submissions, built in code from one good workbook.

Each builder takes a valid submission (``good``: e.g. a key workbook, formulas with cached
values, as Excel saves them) and writes ``out``.  ``CORPUS`` maps a name to (builder, what
check must say): ``("unreadable", text in the message)`` for files that must be refused
with one line, or ``(status, text in the report)`` for files that are valid but odd and
must still be graded, quickly.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Callable

from xlsx_edit import sheet_part

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def rewrite(good: Path, out: Path, edit: Callable[[str, bytes], bytes | None],
            add: dict[str, bytes] | None = None) -> Path:
    """Copy the package, passing every part through ``edit`` (None: drop the part) and adding ``add``."""
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return out


def text_file(good: Path, out: Path) -> Path:
    out.write_text("Dear teacher, here is my homework.\n")
    return out


def empty_file(good: Path, out: Path) -> Path:
    out.write_bytes(b"")
    return out


def truncated(good: Path, out: Path) -> Path:
    data = good.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def not_a_workbook(good: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("homework/answers.txt", "x = 4, 3.2, 2.6 ...")
    return out


def zip_bomb(good: Path, out: Path) -> Path:
    """The sheet part inflates to 64 MiB of zeros from ~64 KiB (1000:1)."""
    part = sheet_part(good, "Iterations")

    def edit(name: str, data: bytes) -> bytes | None:
        return None if name == part else data

    rewrite(good, out, edit)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(part, "w", force_zip64=True) as fh:
            block = b"0" * (1 << 20)
            for _ in range(64):
                fh.write(block)
    return out


def entity_bomb(good: Path, out: Path) -> Path:
    part = sheet_part(good, "Iterations")
    lol = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10 if i else "lol"}">' for i in range(10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE worksheet [{lol}]>'

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        text = data.decode()
        text = re.sub(r"^<\?xml[^>]*\?>", bomb, text)
        return text.replace('<c r="A1"', '<c r="Z1" t="inlineStr"><is><t>&lol9;</t></is></c><c r="A1"', 1).encode()

    return rewrite(good, out, edit)


def encrypted(good: Path, out: Path) -> Path:
    """What Excel writes for a password-protected workbook: an OLE compound file."""
    out.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096)
    return out


def huge_dimension(good: Path, out: Path) -> Path:
    """A sheet claiming A1:XFD1048576, with one stray formatted cell there (common in real files)."""
    part = sheet_part(good, "Iterations")

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        text = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', data.decode())
        return text.replace("</sheetData>", '<row r="1048576"><c r="XFD1048576" s="1"/></row></sheetData>').encode()

    return rewrite(good, out, edit)


def far_column(good: Path, out: Path) -> Path:
    """A formatted cell far to the right (XFD10), within the rows of the table."""
    part = sheet_part(good, "Iterations")

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        text = re.sub(r'(<row r="10"[^>]*>.*?)</row>', r'\1<c r="XFD10" s="1"><v>7</v></c></row>', data.decode(),
                      count=1, flags=re.S)
        return text.encode()

    return rewrite(good, out, edit)


def million_rows(good: Path, out: Path) -> Path:
    """A student who filled a notes column down to row 1,048,576 (the sheet inflates to ~45 MB)."""
    part = sheet_part(good, "Iterations")
    with zipfile.ZipFile(good) as zin:
        text = zin.read(part).decode()
    last = max(int(r) for r in re.findall(r'<row r="(\d+)"', text))
    head, sep, tail = text.partition("</sheetData>")
    rewrite(good, out, lambda name, data: None if name == part else data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(part, "w", force_zip64=True) as fh:
            fh.write(head.encode())
            for lo in range(last + 1, 1_048_577, 20_000):
                rows = range(lo, min(lo + 20_000, 1_048_577))
                fh.write("".join(f'<row r="{r}"><c r="K{r}"><v>{r}</v></c></row>' for r in rows).encode())
            fh.write((sep + tail).encode())
    return out


def macro_enabled(good: Path, out: Path) -> Path:
    def edit(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            text = data.decode().replace("spreadsheetml.sheet.main+xml", "sheet.macroEnabled.main+xml")
            text = text.replace("<Default Extension=\"xml\"",
                                '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                                '<Default Extension="xml"', 1)
            return text.encode()
        return data

    return rewrite(good, out, edit, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 Sub AutoOpen() Shell(\"rm -rf ~\")"})


def external_link(good: Path, out: Path, ref: str = "B12") -> Path:
    """One x cell reads another workbook: ``=[1]Sheet1!A1`` (and the package has the link part)."""
    part = sheet_part(good, "Iterations")

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        text = data.decode()
        m = re.search(r'<c r="%s"[^>]*?(?:/>|>.*?</c>)' % ref, text, re.S)
        assert m
        return (text[:m.start()] + f'<c r="{ref}"><f>[1]Sheet1!A1</f><v>0.5</v></c>' + text[m.end():]).encode()

    link = ('<?xml version="1.0" encoding="UTF-8"?><externalLink xmlns="%s"><externalBook '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" r:id="rId1">'
            '<sheetNames><sheetName val="Sheet1"/></sheetNames></externalBook></externalLink>' % MAIN_NS)
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/externalLinkPath" Target="file:///C:/secret/answers.xlsx" '
            'TargetMode="External"/></Relationships>')
    return rewrite(good, out, edit, add={"xl/externalLinks/externalLink1.xml": link.encode(),
                                         "xl/externalLinks/_rels/externalLink1.xml.rels": rels.encode()})


def cell_formula(good: Path, out: Path, ref: str, text: str) -> Path:
    part = sheet_part(good, "Iterations")

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        xml = data.decode()
        m = re.search(r'<c r="%s"[^>]*?(?:/>|>.*?</c>)' % ref, xml, re.S)
        assert m
        return (xml[:m.start()] + f'<c r="{ref}"><f>{text}</f><v>1</v></c>' + xml[m.end():]).encode()

    return rewrite(good, out, edit)


def unsupported(good: Path, out: Path) -> Path:
    return cell_formula(good, out, "C20", "FOOBAR(B20)")


def circular(good: Path, out: Path) -> Path:
    return cell_formula(cell_formula(good, out.with_suffix(".tmp.xlsx"), "D30", "2*coef_a*B30+coef_b+E30"), out,
                        "E30", "learning_rate*D30")


UNREADABLE = {
    "text": (text_file, "not a zip archive"),
    "empty": (empty_file, "empty"),
    "truncated": (truncated, "damaged or truncated"),
    "not-a-workbook": (not_a_workbook, "not an .xlsx workbook"),
    "zip-bomb": (zip_bomb, "zip bomb"),
    "entity-bomb": (entity_bomb, "DOCTYPE"),
    "encrypted": (encrypted, "password-protected"),
}
# valid but odd: (builder, status, text expected in the report)
ODD = {
    "huge-dimension": (huge_dimension, "graded", "not read (limit)"),
    "far-column": (far_column, "graded", "column 1024 not read (limit)"),
    "million-rows": (million_rows, "graded", "rows after 65536 not read"),
    "macro": (macro_enabled, "graded", "macros"),
    "external-link": (external_link, "mistakes", "another workbook"),
    "unsupported": (unsupported, "mistakes", "unsupported function FOOBAR"),
    "circular": (circular, "mistakes", "circular"),
}
