"""Read an .xlsx file into the :mod:`gdsheet.workbook.model`: values, formulas, names.

The small parts (workbook, relationships, shared strings, document
properties) are parsed with defusedxml's ElementTree.  Worksheet parts are
scanned with one compiled regular expression per cell instead: measured on
this project's machine (``../shared/notes/speed.md``), openpyxl's read-only
mode needs 2.3 s for a 100k-row table and lxml ``iterparse`` 2.7 s, while
the bare expat parse with no work per cell already costs 0.54 s; a regex
scan doing the real work lands near that floor.  The scan is checked, not
trusted: if the number of cells it understood differs from the number of
``<c`` elements in the part (a writer using namespace prefixes, attributes
in another order, cells without ``r``), the part is re-read with the
general ElementTree parser.

Shared formulas are not translated cell by cell (openpyxl does that, and it
is slow): every cell of a shared group points at the group's anchor
:class:`Formula`, whose text is relative to the anchor cell — exactly what
the evaluator's shape compiler wants.

Safety: :mod:`gdsheet.workbook.safety` refuses the package before any parse;
DOCTYPE/ENTITY declarations are refused in every part; the number of cells
read is capped.
"""

from __future__ import annotations

import codecs
import gc
import html
import os
import posixpath
import re
import zipfile
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain, compress
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable, Iterator
from xml.etree.ElementTree import Element

import numpy as np

from defusedxml import ElementTree as SafeET

from ..formula.errors import ERRORS_BY_CODE
from ..formula.parser import letters_to_col
from .model import Formula, Sheet, Workbook
from .numtext import floats, parse_joined
from .safety import DEFAULT_LIMITS, Limits, UnreadableWorkbook, check_xml, open_package

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"

# <c r="B7" s="3" t="n"><f ...>text</f><v>1.5</v></c>, the form every common writer uses
_CELL = re.compile(
    r'<c r="([A-Z]{1,3})(\d+)"([^>]*?)(?:/>|>'
    r'(?:<f([^>]*?)(?:/>|>([^<]*)</f>))?'
    r'(?:<v>([^<]*)</v>|<v/>)?'
    r'(?:<is>(.*?)</is>)?'
    r"(?:<extLst>.*?</extLst>)?</c>)",
    re.S,
)
_ATTR_T = re.compile(r'\bt="(\w+)"')
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_IS_TEXT = re.compile(r"<t\b[^>]*>([^<]*)</t>", re.S)
_COL_CACHE: dict[str, int] = {}


def col_index(letters: str) -> int:
    """'A' -> 1, 'AB' -> 28 (cached: a sheet has few distinct columns)."""
    n = _COL_CACHE.get(letters)
    if n is None:
        n = _COL_CACHE[letters] = letters_to_col(letters)
    return n


def _unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


_ROW_TAG = re.compile(r'<row\b[^>]*?\br="(\d+)"')
STREAM_BYTES = 1 << 20


class _Context:
    def __init__(self, zf: zipfile.ZipFile, name: str, limits: Limits) -> None:
        self.zf, self.name, self.limits = zf, name, limits
        self.cells = 0
        self.limited: list[str] = []

    def sheet_chunks(self, part: str, sheet: str) -> Iterator[str]:
        """The rows of a worksheet part, inflated as a stream: pieces of about
        ``CHUNK_CHARS`` characters of ``<sheetData>``'s content, each ending after a
        ``</row>``, so that the whole sheet is never in memory at once (a 1,000,000-row
        sheet is 480 MB of XML).  Reading stops at the first row past ``limits.max_row``
        (rows ascend in a valid sheet).  Raises :class:`_NotPlain` for a sheet written
        with a namespace prefix (``<x:sheetData>``): the caller reads it the general way."""
        max_row = self.limits.max_row
        try:
            info = self.zf.getinfo(part)
        except KeyError:
            return
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        buf = tail = ""
        in_data = False
        pieces: list[str] = []
        size = 0
        try:
            with self.zf.open(info) as fh, _ReadAhead(fh) as ahead:
                while True:
                    raw = ahead.read()
                    text = decoder.decode(raw, not raw)
                    check_xml(self.name, part, tail + text)  # tail: a declaration cut in two
                    tail = text[-16:]
                    buf += text
                    if not in_data:
                        at = buf.find("<sheetData")
                        if at < 0:
                            if not raw:
                                if ":sheetData" in buf:
                                    raise _NotPlain
                                return
                            buf = buf[-64:]  # enough to hold a "<sheetData" cut in two
                            continue
                        close = buf.find(">", at)
                        if close < 0:
                            continue
                        if buf[close - 1] == "/":
                            return  # <sheetData/>
                        in_data = True
                        buf = buf[close + 1:]
                    stop = buf.find("</sheetData>")
                    if stop >= 0:
                        buf, cut = buf[:stop], len(buf)
                    else:
                        cut = buf.rfind("</row>")
                        cut = -1 if cut < 0 else cut + len("</row>")
                    if cut >= 0 or not raw:
                        piece, buf = (buf, "") if stop >= 0 or not raw else (buf[:cut], buf[cut:])
                        if max_row < 1_048_576:
                            past = _first_row_past(piece, max_row)
                            if past is not None:
                                pieces.append(piece[:past])
                                self.limited.append(f"sheet {sheet!r}: rows after {max_row} not read (limit)")
                                yield "".join(pieces)
                                return
                        pieces.append(piece)
                        size += len(piece)
                        if size >= CHUNK_CHARS or stop >= 0 or not raw:
                            yield "".join(pieces)
                            pieces, size = [], 0
                    if stop >= 0 or not raw:
                        return
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise UnreadableWorkbook(f"{self.name}: damaged part {part} ({exc})") from None
        except UnicodeDecodeError:
            raise UnreadableWorkbook(f"{self.name}: part {part} is not valid UTF-8 XML") from None

    def text(self, part: str) -> str | None:
        try:
            data = self.zf.read(part)
        except KeyError:
            return None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise UnreadableWorkbook(f"{self.name}: damaged part {part} ({exc})") from None
        try:
            text = data.decode("utf-8-sig") if not data.startswith(b"\xff\xfe") else data.decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableWorkbook(f"{self.name}: part {part} is not valid UTF-8 XML") from None
        check_xml(self.name, part, text)
        return text

    def tree(self, part: str) -> Element | None:
        text = self.text(part)
        if text is None:
            return None
        try:
            return SafeET.fromstring(text)
        except Exception as exc:  # defusedxml raises several types (ParseError, DTDForbidden...)
            raise UnreadableWorkbook(f"{self.name}: part {part} is not well-formed XML ({exc})") from None


class _ReadAhead:
    """Inflate the next block of a zip member in a second thread while this one scans the
    last: zlib and crc32 release the GIL, the regular expressions do not, so on two cores
    inflating costs little wall time (measured, ``read_workbook`` best of 3: the 2→3→2 network
    at 100 observations × 1000 iterations, a 130 MB sheet, 0.99 s -> 0.89 s; the 100,000-row
    quadratic 0.32 s -> 0.24 s).  One block ahead at most; leaving the ``with`` waits for the
    block in flight, so the member is never closed under the thread.

    No thread under an address-space limit (``RLIMIT_AS``, the grader's per-file memory
    limit): there a thread that cannot get its stack can leave ``Thread.start()`` waiting
    forever (measured: a Dask worker's child at a 4 MB limit hung until its 60 s time limit,
    where reading in one thread fails at once with "needs more memory").  Then, or when a
    thread cannot be started, blocks are read in this thread."""

    def __init__(self, fh: Any, size: int = STREAM_BYTES) -> None:
        self.fh, self.size = fh, size
        self.pool: ThreadPoolExecutor | None = None
        self.next: Future[bytes] | None = None

    def __enter__(self) -> "_ReadAhead":
        if _threads_allowed():
            try:
                self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gdsheet-inflate")
                self.next = self.pool.submit(self.fh.read, self.size)
            except RuntimeError:  # "can't start new thread"
                self._close()
        return self

    def read(self) -> bytes:
        if self.next is None:
            return self.fh.read(self.size)
        raw = self.next.result()
        self.next = self.pool.submit(self.fh.read, self.size) if raw and self.pool is not None else None
        return raw

    def __exit__(self, *exc: Any) -> None:
        self._close()

    def _close(self) -> None:
        if self.next is not None:
            try:
                self.next.result()
            except Exception:  # noqa: BLE001 - the error that matters is the one leaving the with
                pass
            self.next = None
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


def _threads_allowed() -> bool:
    try:
        import resource
    except ImportError:  # not a Unix: no address-space limit to meet
        return True
    return resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY


def _first_row_past(chunk: str, max_row: int) -> int | None:
    """Where the first ``<row r="N">`` with N > max_row starts in ``chunk``, or None."""
    last = chunk.rfind("<row ")
    if last < 0:
        return None
    m = _ROW_TAG.match(chunk, last)
    if m is not None and int(m.group(1)) <= max_row:
        return None  # rows ascend: the last row of the chunk is under the cap, so all are
    for m in _ROW_TAG.finditer(chunk):
        if int(m.group(1)) > max_row:
            return m.start()
    return None


def read_workbook(path: str | os.PathLike[str], sheets: Iterable[str] | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> Workbook:
    """Read every sheet (or only ``sheets``) of ``path``; raise UnreadableWorkbook if unsafe or damaged.

    The file is opened read-only and never modified.
    """
    name = Path(path).name
    with open_package(path, limits) as zf, gc_paused():
        ctx = _Context(zf, name, limits)
        return _read(ctx, None if sheets is None else set(sheets))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic tuples are made.

    Measured on a 100k-row sheet: transposing and keying 700k cells takes 0.7 s
    with the collector running (it rescans the growing heap) and 0.3 s without.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(ctx: _Context, wanted: set[str] | None) -> Workbook:
    wb_tree = ctx.tree("xl/workbook.xml")
    assert wb_tree is not None
    main = wb_tree.tag[1:].split("}")[0] if wb_tree.tag.startswith("{") else NS["m"]
    m = {"m": main, "r": NS["r"] if main == NS["m"] else "http://purl.oclc.org/ooxml/officeDocument/relationships"}
    rels = _relationships(ctx, "xl/_rels/workbook.xml.rels", "xl")
    book = Workbook()
    names = ctx.zf.namelist()
    book.has_macros = any(n.lower().endswith("vbaproject.bin") for n in names)
    book.external_links = sum(1 for n in names if n.startswith("xl/externalLinks/") and n.endswith(".xml"))
    sheet_list = []
    sheets_el = wb_tree.find("m:sheets", m)
    for el in (sheets_el if sheets_el is not None else []):
        rid = el.get(f"{{{m['r']}}}id")
        sheet_list.append((el.get("name") or "", el.get("state") or "visible", rels.get(rid or "")))
    if not sheet_list:
        raise UnreadableWorkbook(f"{ctx.name}: the workbook has no sheets")
    strings = _shared_strings(ctx, rels)
    for sheet_name, state, part in sheet_list:
        if wanted is not None and sheet_name not in wanted and sheet_name.lower() not in {w.lower() for w in wanted}:
            continue
        sheet = Sheet(sheet_name, state=state)
        if part is not None:
            _read_sheet(ctx, part, sheet, strings)
            _cap(ctx, sheet)
        book.sheets[sheet_name] = sheet
    dn = wb_tree.find("m:definedNames", m)
    for el in (dn if dn is not None else []):
        nm = el.get("name")
        if not nm or el.text is None:
            continue
        scope = None
        if el.get("localSheetId") is not None:
            try:
                scope = sheet_list[int(el.get("localSheetId") or "")][0]
            except (ValueError, IndexError):
                continue
        book.names[(scope, nm.lower())] = el.text.strip().removeprefix("=")
    book.properties = _properties(ctx)
    book.limited = list(dict.fromkeys(ctx.limited))
    return book


def _cap(ctx: _Context, sheet: Sheet) -> None:
    """Drop cells past ``limits.max_row``/``max_col`` (rows out of order, cells far to the right)."""
    max_row, max_col = ctx.limits.max_row, ctx.limits.max_col
    if max_row >= 1_048_576 and max_col >= 16_384:
        return
    for store in (sheet.values, sheet.formulas):
        out = [k for k in store if k[0] > max_row or k[1] > max_col]
        for k in out:
            del store[k]
        if out:
            ctx.limited.append(f"sheet {sheet.name!r}: {len(out)} cells beyond row {max_row} or "
                               f"column {max_col} not read (limit)")


def _relationships(ctx: _Context, part: str, base: str) -> dict[str, str]:
    tree = ctx.tree(part)
    out: dict[str, str] = {}
    if tree is None:
        return out
    for el in tree:
        target = el.get("Target") or ""
        if el.get("TargetMode") == "External":
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
        out[el.get("Id") or ""] = path
    return out


def _shared_strings(ctx: _Context, rels: dict[str, str]) -> list[str]:
    part = next((p for p in rels.values() if p.endswith("sharedStrings.xml")), "xl/sharedStrings.xml")
    tree = ctx.tree(part)
    if tree is None:
        return []
    out = []
    for si in tree:
        # rich text: concatenate the runs' <t>, skip phonetic <rPh>
        texts = [t.text or "" for t in si.iter() if t.tag.endswith("}t") and not _in_rph(si, t)]
        out.append("".join(texts))
    return out


def _in_rph(si: Element, t: Element) -> bool:
    for rph in si:
        if rph.tag.endswith("}rPh") and t in list(rph.iter()):
            return True
    return False


def _properties(ctx: _Context) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in ("docProps/core.xml", "docProps/app.xml"):
        try:
            tree = ctx.tree(part)
        except UnreadableWorkbook:
            continue
        if tree is None:
            continue
        for el in tree:
            if el.text and el.text.strip() and len(el) == 0:
                out[el.tag.split("}")[-1]] = el.text.strip()[:200]
    return out


def _value(t: str | None, v: str | None, inline: str | None, strings: list[str]) -> Any:
    if t is None or t == "n":
        if v is None or v == "":
            return None
        try:
            return float(v)
        except ValueError:
            return None
    if t == "s":
        try:
            return strings[int(v or "")]
        except (ValueError, IndexError):
            return None
    if t == "str":
        return _unescape(v) if v is not None else ""
    if t == "inlineStr":
        if inline is None:
            return ""
        return _unescape("".join(_IS_TEXT.findall(inline)))
    if t == "b":
        return v not in (None, "", "0", "false")
    if t == "e":
        return ERRORS_BY_CODE.get((v or "").strip(), ERRORS_BY_CODE["#VALUE!"])
    if t == "d":
        return v
    return None


CHUNK_CHARS = 1 << 20  # scan the sheet XML this many characters at a time (ending at a </row>); 4 MB: +100 MB peak at 1M rows


class _NotPlain(Exception):
    """The bulk scan cannot read this sheet part: read it with the general parser."""


class _Columns:
    """Cells collected for a sheet, column by column, before they become CellMap blocks.

    Each chunk's cells of a column are written into one growing array per column
    (NaN, or -1 for formula indices, in the gaps), so no row numbers are kept and
    the column is a few large allocations rather than one small array per chunk
    (measured at 1,000,000 rows: 100 MB less peak memory, the difference being heap
    fragmentation).  Numbers are float64; formulas int32 indices into one table of
    Formula objects."""

    def __init__(self) -> None:
        self.num: dict[int, _Run] = {}
        self.obj: dict[int, _Run] = {}
        self.table: list[Formula] = []
        self.index: dict[int, int] = {}  # id(Formula) -> position in table

    def idx(self, f: Formula) -> int:
        i = self.index.get(id(f))
        if i is None:
            i = self.index[id(f)] = len(self.table)
            self.table.append(f)
        return i

    def add_numbers(self, rows: list[int], cols: list[int], vals: np.ndarray) -> None:
        _add(self.num, rows, cols, vals, np.nan)

    def add_formulas(self, rows: list[int], cols: list[int], idx: list[int]) -> None:
        _add(self.obj, rows, cols, np.array(idx, dtype=np.int32), -1)

    def put(self, col: int, rows: np.ndarray, vals: np.ndarray, formula: int | None = None) -> None:
        """One column's numbers for ``rows`` (and, with ``formula``, that formula index on each)."""
        for into, data, empty in ((self.num, vals, np.nan),
                                  (self.obj, None if formula is None else np.full(len(rows), formula, np.int32), -1)):
            if data is None:
                continue
            run = into.get(col)
            if run is None:
                run = into[col] = _Run(empty, data.dtype)
            run.put(rows, data)

    def store(self, sheet: Sheet) -> None:
        for target, runs, table in ((sheet.values, self.num, None), (sheet.formulas, self.obj, self.table)):
            for col in sorted(runs):
                start, data = runs.pop(col).finish()
                target.set_block(col, start, data, table)


class _Run:
    """One column's cells in row order, in an array that doubles when it fills up."""

    __slots__ = ("start", "data", "end", "empty", "late")

    def __init__(self, empty: Any, dtype: Any) -> None:
        self.start = 0
        self.data = np.empty(0, dtype=dtype)
        self.end = 0  # used length
        self.empty = empty
        self.late: list[tuple[np.ndarray, np.ndarray]] = []  # cells above rows already placed

    def put(self, rows: np.ndarray, vals: np.ndarray) -> None:
        lo, hi = int(rows.min()), int(rows.max())  # not rows[0], rows[-1]: a hostile file may shuffle them
        if self.end == 0 and not len(self.data):
            self.start = lo
        off = lo - self.start
        if off < self.end or hi < lo or hi - lo + 1 > 4 * len(rows) + 1024:
            self.late.append((rows, vals))  # out of order, or scattered: placed at the end
            return
        need = hi - self.start + 1
        if need > len(self.data):
            grown = np.full(max(need, 2 * len(self.data), 1024), self.empty, dtype=self.data.dtype)
            grown[:self.end] = self.data[:self.end]
            self.data = grown
        self.data[rows - self.start] = vals
        self.end = need

    def finish(self) -> tuple[int, np.ndarray]:
        data = self.data[:self.end].copy() if len(self.data) > self.end else self.data
        self.data = np.empty(0, dtype=data.dtype)
        start = self.start
        if self.late:
            rows = np.concatenate([r for r, _ in self.late])
            vals = np.concatenate([v for _, v in self.late])
            lo = min(int(rows.min()), start) if len(data) else int(rows.min())
            hi = max(int(rows.max()) + 1, start + len(data)) if len(data) else int(rows.max()) + 1
            out = np.full(hi - lo, self.empty, dtype=data.dtype)
            out[start - lo:start - lo + len(data)] = data
            out[rows - lo] = vals
            data, start = out, lo
        return start, data


def _add(into: dict[int, _Run], rows: list[int], cols: list[int], vals: np.ndarray, empty: Any) -> None:
    if not rows:
        return
    r = np.array(rows, dtype=np.int64)
    c = np.array(cols, dtype=np.int32)
    for col in sorted(set(cols)):
        run = into.get(col)
        if run is None:
            run = into[col] = _Run(empty, vals.dtype)
        if col == cols[0] == cols[-1] and (c == col).all():
            run.put(r, vals)
        else:
            sel = np.flatnonzero(c == col)
            run.put(r[sel], vals[sel])


# The cell nearly every cell of an iteration table is: a number, or a shared-formula
# child with its cached number.  A chunk made only of these takes the short path.
_PLAIN = re.compile(r'<c r="([A-Z]{1,3})(\d+)"(?: s="\d+")?(?: t="n")?>'
                    r'(?:<f t="shared" si="(\d+)"/>)?<v>([^<]*)</v></c>')


def _read_sheet(ctx: _Context, part: str, sheet: Sheet, strings: list[str]) -> None:
    """Bulk scan: one regex per chunk of rows, then whole-list operations rather than a loop per cell.

    The common cell (a number, or a shared-formula child with its cached number)
    is handled by ``map``/``zip`` in C and lands in a numpy column; only cells
    with a type or a formula text take a Python step.  The sheet is inflated and
    scanned ~4 MB of rows at a time, so neither its text nor the regex's
    temporary tuples are ever whole in memory.
    """
    shared: dict[str, Formula] = {}
    pending: list[tuple[tuple[int, int], str]] = []
    cols = _Columns()
    found = 0
    room = ctx.limits.cells - ctx.cells

    def scan(chunk: str) -> int:
        """The cell-by-cell way: plain cells by one regex, else every cell by another."""
        expected = chunk.count("<c ") + chunk.count("<c>")
        if expected > room - found:
            raise UnreadableWorkbook(f"{ctx.name}: more than {ctx.limits.cells} cells (limit)")
        plain = _PLAIN.findall(chunk)
        if len(plain) == expected and (not plain or _load_plain(plain, cols, shared)):
            return expected
        del plain
        cells = _CELL.findall(chunk)
        if len(cells) != expected:
            raise _NotPlain
        if cells:
            _load_cells(cells, sheet, cols, strings, shared, pending)
        return expected

    try:
        for chunk in ctx.sheet_chunks(part, sheet.name):
            read = _load_rows(chunk, cols, shared)
            if read is None:
                # the first chunk starts with the header and the rows holding the shared
                # formulas' text: four rows the cell way, the rest by the row pattern
                cut = _after_rows(chunk, 4)
                if 0 < cut < len(chunk):
                    found += scan(chunk[:cut])
                    read = _load_rows(chunk[cut:], cols, shared)
                    if read is None:
                        read = scan(chunk[cut:])
                else:
                    read = scan(chunk)
            found += read
            if found > room:
                raise UnreadableWorkbook(f"{ctx.name}: more than {ctx.limits.cells} cells (limit)")
    except _NotPlain:
        sheet.values.clear()
        sheet.formulas.clear()
        _read_sheet_general(ctx, ctx.text(part) or "", sheet, strings)
        return
    cols.store(sheet)
    for key, si in pending:  # children written before their anchor (legal, rare)
        if si in shared:
            sheet.formulas[key] = shared[si]
    ctx.cells += found


def _after_rows(chunk: str, rows: int) -> int:
    """Where the text after the first ``rows`` rows of ``chunk`` starts (0: fewer rows)."""
    at = 0
    for _ in range(rows):
        at = chunk.find("</row>", at)
        if at < 0:
            return 0
        at += len("</row>")
    return at


_ROW_START = re.compile(r'<row r="(\d+)"([^>]*)>')
_CELL_HEAD = re.compile(r'<c r="([A-Z]{1,3})\d+"([^>]*)>')


def _load_rows(chunk: str, cols: _Columns, shared: dict[str, Formula]) -> int | None:
    """A chunk whose rows all repeat the structure of its first row (an iteration table
    filled down: the same row attributes, columns, styles and shared formulas on every row,
    only the row number and the values change) is read with one regular expression per
    *row*, built from that first row, instead of one per cell: a tuple of strings per row
    rather than four per cell.  The row number inside each cell reference must be its
    row's (a back reference), and the rows matched must be the whole chunk, else None
    (nothing stored): the cell-by-cell scan reads the chunk.  Returns the cells read.

    The whole chunk is matched when the matched rows' lengths add up to the chunk's: each
    row is the first row's fixed text plus what the groups captured (the row number once
    in ``<row>`` and once in every cell reference, and the values), and matches never
    overlap, so anything left unmatched -- a cell of another shape, text between rows --
    makes the sum fall short.  That saves counting ``<c`` over every megabyte; where the
    sum does not add up (pretty-printed XML with whitespace between rows) the cells are
    counted instead.
    """
    m = _ROW_START.search(chunk)
    if m is None:
        return None
    end = chunk.find("</row>", m.end())
    if end < 0:
        return None
    first = chunk[m.end():end]
    cells = _PLAIN.findall(first)
    if not cells or len(cells) != first.count("<c"):
        return None
    parts = [r'<row r="(\d+)"' + re.escape(m.group(2)) + ">"]
    layout: list[tuple[int, int | None]] = []  # per cell: column, formula index or None
    heads = _CELL_HEAD.findall(first)
    if len(heads) != len(cells):
        return None
    for (letters, _, si, _), (letters2, attrs) in zip(cells, heads):
        if letters != letters2:
            return None
        parts.append(f'<c r="{letters}\\1"' + re.escape(attrs) + ">")
        if si:
            if si not in shared:
                return None
            parts.append(re.escape(f'<f t="shared" si="{si}"/>'))
        parts.append(r"<v>([^<]*)</v></c>")
        layout.append((col_index(letters), cols.idx(shared[si]) if si else None))
    parts.append("</row>")
    rows = re.findall("".join(parts), chunk)
    n, width = len(rows), len(cells) + 1
    if not n:
        return None
    fixed = (end + len("</row>") - m.start()) - width * len(m.group(1)) - sum(len(c[3]) for c in cells)
    joined = ",".join(chain.from_iterable(rows))  # row number, values; row number, values; ...
    captured = len(joined) - (n * width - 1)
    digits = sum(map(len, map(itemgetter(0), rows)))
    if n * fixed + captured + (width - 1) * digits != len(chunk) \
            and chunk.count("<c ") + chunk.count("<c>") != n * (width - 1):
        return None
    table = parse_joined(joined, n * width)  # the row numbers and every value, in one call
    if table is not None:
        table = table.reshape(n, width)
        row_numbers = table[:, 0].astype(np.int64)
        for k, (col, formula) in enumerate(layout, start=1):
            cols.put(col, row_numbers, table[:, k], formula)
        return n * (width - 1)
    columns = list(zip(*rows))
    row_numbers = np.array(list(map(int, columns[0])), dtype=np.int64)
    for (col, formula), texts in zip(layout, columns[1:]):
        cols.put(col, row_numbers, floats(texts), formula)
    return n * (width - 1)


def _load_plain(cells: list[tuple[str, str, str, str]], cols: _Columns, shared: dict[str, Formula]) -> bool:
    """Numbers and shared-formula children only; False (nothing stored) when a child's
    group is not known yet, for the general path to handle."""
    letters, rows_s, sis, vs = zip(*cells)
    groups = set(sis)
    groups.discard("")
    if not groups <= shared.keys():
        return False
    for a in set(letters):
        col_index(a)
    rows = list(map(int, rows_s))
    cnums = list(map(_COL_CACHE.__getitem__, letters))
    cols.add_numbers(rows, cnums, floats(vs))
    if groups:
        where = {si: cols.idx(shared[si]) for si in groups}
        children = list(map(bool, sis))
        cols.add_formulas(list(compress(rows, children)), list(compress(cnums, children)),
                          list(map(where.__getitem__, compress(sis, children))))
    return True


def _load_cells(cells: list[tuple[str, ...]], sheet: Sheet, cols: _Columns, strings: list[str],
                shared: dict[str, Formula], pending: list[tuple[tuple[int, int], str]]) -> None:
    n = len(cells)
    letters, rows_s, attrs, fattrs, ftexts, vs, inlines = zip(*cells)
    del cells
    for a in set(letters):
        col_index(a)
    rows = list(map(int, rows_s))
    cnums = list(map(_COL_CACHE.__getitem__, letters))
    types = {a: (m.group(1) if (m := _ATTR_T.search(a)) else None) for a in set(attrs)}
    kinds = list(map(types.__getitem__, attrs))
    values = sheet.values
    # plain numbers: no type (or t="n"), a <v>
    plain = [(t is None or t == "n") and v != "" for t, v in zip(kinds, vs)]
    cols.add_numbers(list(compress(rows, plain)), list(compress(cnums, plain)), floats(compress(vs, plain)))
    for i in compress(range(n), [t is not None and t != "n" for t in kinds]):
        val = _value(kinds[i], vs[i], inlines[i] or None, strings)
        if val is not None:
            values[(rows[i], cnums[i])] = val
    fattr_cache = {fa: dict(_ATTR.findall(fa)) for fa in set(fattrs) if fa}
    # cells that carry formula text: ordinary formulas and the anchors of shared groups
    f_rows: list[int] = []
    f_cols: list[int] = []
    f_objs: list[int] = []
    for i in compress(range(n), [bool(ft) for ft in ftexts]):
        r, c, fa, ft = rows[i], cnums[i], fattrs[i], ftexts[i]
        attr = fattr_cache.get(fa, {}) if fa else {}
        kind = attr.get("t")
        if kind == "shared":
            f = shared[attr.get("si", "")] = Formula(_unescape(ft), r, c)
        elif kind == "array":
            f = Formula(_unescape(ft), r, c, array_ref=attr.get("ref"))
        elif kind != "dataTable":
            f = Formula(_unescape(ft), r, c)
        else:
            continue
        f_rows.append(r)
        f_cols.append(c)
        f_objs.append(cols.idx(f))
    # children of shared groups (<f t="shared" si="3"/>): whole-list steps, no step per cell
    children = [bool(fa) and not ft for fa, ft in zip(fattrs, ftexts)]
    group_of: dict[str, Formula | None] = {}
    for fa in set(compress(fattrs, children)):
        attr = fattr_cache[fa]
        if attr.get("t") != "shared":
            group_of[fa] = None
            continue
        si = attr.get("si", "")
        group_of[fa] = shared.get(si)
        if si not in shared:
            pending.extend(((r, c), si) for r, c, f in zip(compress(rows, children), compress(cnums, children),
                                                            compress(fattrs, children)) if f == fa)
    where = {fa: (cols.idx(f) if f is not None else -1) for fa, f in group_of.items()}
    idx = list(map(where.__getitem__, compress(fattrs, children)))
    if -1 in idx:
        keep = [i >= 0 for i in idx]
        f_rows += compress(compress(rows, children), keep)
        f_cols += compress(compress(cnums, children), keep)
        f_objs += compress(idx, keep)
    else:
        f_rows += compress(rows, children)
        f_cols += compress(cnums, children)
        f_objs += idx
    cols.add_formulas(f_rows, f_cols, f_objs)


def _read_sheet_general(ctx: _Context, text: str, sheet: Sheet, strings: list[str]) -> None:
    """Any valid worksheet XML: namespace prefixes, any attribute order, cells without ``r``."""
    try:
        root = SafeET.fromstring(text)
    except Exception as exc:
        raise UnreadableWorkbook(f"{ctx.name}: sheet {sheet.name!r} is not well-formed XML ({exc})") from None
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    data = root.find(q("sheetData"))
    if data is None:
        return
    shared: dict[str, Formula] = {}
    pending: list[tuple[tuple[int, int], str]] = []
    row_no = 0
    for row in data.iter(q("row")):
        row_no = int(row.get("r") or row_no + 1)
        col_no = 0
        for c in row.iter(q("c")):
            ctx.cells += 1
            if ctx.cells > ctx.limits.cells:
                raise UnreadableWorkbook(f"{ctx.name}: more than {ctx.limits.cells} cells (limit)")
            ref = c.get("r")
            if ref:
                mref = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)", ref)
                if not mref:
                    continue
                col_no, row_no = col_index(mref.group(1).upper()), int(mref.group(2))
            else:
                col_no += 1
            key = (row_no, col_no)
            f = c.find(q("f"))
            v = c.find(q("v"))
            inline = c.find(q("is"))
            if f is not None:
                ftext = f.text or ""
                ft = f.get("t")
                if ft == "shared":
                    si = f.get("si", "")
                    if ftext:
                        shared[si] = sheet.formulas[key] = Formula(ftext, row_no, col_no)
                    elif si in shared:
                        sheet.formulas[key] = shared[si]
                    else:
                        pending.append((key, si))
                elif ft != "dataTable" and ftext:
                    sheet.formulas[key] = Formula(ftext, row_no, col_no,
                                                  array_ref=f.get("ref") if ft == "array" else None)
            inline_text = None
            if inline is not None:
                inline_text = "".join(f"<t>{html.escape(t.text or '')}</t>" for t in inline.iter(q("t")))
            vtext = v.text if v is not None else None
            if vtext and c.get("t") == "str":
                vtext = html.escape(vtext, quote=False)  # _value unescapes the raw-XML form
            val = _value(c.get("t"), vtext, inline_text, strings)
            if val is not None:
                sheet.values[key] = val
    for key, si in pending:
        if si in shared:
            sheet.formulas[key] = shared[si]
