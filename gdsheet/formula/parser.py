"""Excel formula text -> syntax tree, and the R1C1 "shape" of a formula.

Why a hand-written parser: the evaluator has to understand every formula a
workbook contains, decide which of them are "the same formula filled down" and
compile each distinct one once.  That needs a tree we control (frozen, hashable
dataclasses), Excel's own operator precedence -- which differs from Python's and
from mathematics: ``=-2^2`` is 4 and ``=2^3^2`` is 64 -- and cheap access to the
positions of row numbers in the text (see :func:`fill_down_template`) so that a
column of 100,000 formulas whose texts differ only in their row numbers is
recognised without parsing 100,000 strings.

Precedence, tightest first: ``:`` (range), unary ``-``/``+``, ``%``, ``^``
(left-associative), ``*`` ``/``, ``+`` ``-``, ``&``, comparisons.

A *shape* (:func:`to_shape`) is the same tree with every relative row/column
turned into an offset from the formula's own cell, i.e. R1C1 notation.  All cells
of a filled-down column have one shape; the compiler caches by shape.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Union

from .errors import ERRORS_BY_CODE, FormulaSyntaxError

__all__ = [
    "MAX_ROW",
    "MAX_COL",
    "Number",
    "String",
    "Bool",
    "ErrorLit",
    "Missing",
    "Ref",
    "Range",
    "Name",
    "External",
    "Unary",
    "Percent",
    "Binary",
    "Call",
    "ArrayConst",
    "Node",
    "parse",
    "to_shape",
    "shape_text",
    "references",
    "walk",
    "col_to_letters",
    "letters_to_col",
    "fill_down_template",
    "translate",
    "deep_recursion",
    "quote_sheet",
    "substitute",
    "SheetName",
]

MAX_ROW = 1_048_576
MAX_COL = 16_384


# --------------------------------------------------------------------- nodes
@dataclass(frozen=True, slots=True)
class Number:
    value: float


@dataclass(frozen=True, slots=True)
class String:
    value: str


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool


@dataclass(frozen=True, slots=True)
class ErrorLit:
    code: str  # "#N/A", "#REF!" ...


@dataclass(frozen=True, slots=True)
class Missing:
    """An omitted function argument, as in ``IF(A1,,2)``."""


@dataclass(frozen=True, slots=True)
class Ref:
    """One cell.  In a parsed tree ``row``/``col`` are absolute 1-based numbers;
    in a shape the relative ones (``row_abs``/``col_abs`` False) are offsets."""

    sheet: str | None
    row: int
    col: int
    row_abs: bool = False
    col_abs: bool = False


@dataclass(frozen=True, slots=True)
class Range:
    """A rectangle, normalised so r1 <= r2 and c1 <= c2 (in a parsed tree).
    Whole columns ``A:B`` are rows 1..MAX_ROW with absolute rows; whole rows
    ``3:4`` are columns 1..MAX_COL with absolute columns."""

    sheet: str | None
    r1: int
    c1: int
    r2: int
    c2: int
    r1_abs: bool = False
    c1_abs: bool = False
    r2_abs: bool = False
    c2_abs: bool = False


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    sheet: str | None = None


@dataclass(frozen=True, slots=True)
class External:
    """A reference into another workbook (``[1]Sheet1!A1``): never followed,
    evaluates to #REF!."""

    text: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "+"
    operand: "Node"


@dataclass(frozen=True, slots=True)
class Percent:
    operand: "Node"


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / ^ & = <> < > <= >= and ":" for a range built at run time
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # upper-case, _xlfn./_xlws. stripped
    args: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class ArrayConst:
    """``{1,2;3,4}``: rows of constant nodes (Number/String/Bool/ErrorLit)."""

    rows: tuple[tuple["Node", ...], ...]


Node = Union[
    Number, String, Bool, ErrorLit, Missing, Ref, Range, Name, External,
    Unary, Percent, Binary, Call, ArrayConst,
]


# ---------------------------------------------------------------- A1 helpers
def letters_to_col(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def col_to_letters(col: int) -> str:
    out = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


# ----------------------------------------------------------------- tokenizer
_ERROR_RE = "|".join(re.escape(code) for code in ERRORS_BY_CODE)
# "any character from U+00A1 on" as a negated class: a \u00a1-\uffff range inside a class costs
# the regex compiler 30 ms at every start (measured), the negation 3 ms
_NAME_START = r"(?:[A-Za-z_\\]|[^\x00-\xa0])"
_NAME_CHAR = r"(?:[\w.\\?]|[^\x00-\xa0])"

_TOKEN_RE = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<error>(?i:{_ERROR_RE}))
  | (?P<colrange>(\$?)([A-Za-z]{{1,3}}):(\$?)([A-Za-z]{{1,3}})(?!{_NAME_CHAR}|\(|!))
  | (?P<rowrange>(\$?)(\d+):(\$?)(\d+)(?!{_NAME_CHAR}|\())
  | (?P<cell>(\$?)([A-Za-z]{{1,3}})(\$?)(\d+)(?!{_NAME_CHAR}|\(|!))
  | (?P<sheet>(?:'(?:[^']|'')+'|\[[^\]]*\](?:[\w.]|[^\x00-\xa0])*|{_NAME_START}{_NAME_CHAR}*(?::{_NAME_START}{_NAME_CHAR}*)?)!)
  | (?P<xname>\[[^\]]*\](?={_NAME_START}))
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<func>{_NAME_START}{_NAME_CHAR}*(?=\s*\())
  | (?P<name>{_NAME_START}{_NAME_CHAR}*)
  | (?P<op><>|<=|>=|[-+*/^&=<>%:,;(){{}}])
    """,
    re.VERBOSE,  # letters are spelled [A-Za-z]: IGNORECASE over the Unicode classes cost 0.17 s to compile
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string error sheet xname colrange rowrange cell number func name op end
    text: str
    start: int
    end: int
    # cell:     (col_abs, col, row_abs, row, row_start) -- row_start = offset of the row digits
    # rowrange: (abs1, r1, abs2, r2, start1, start2)
    # colrange: (abs1, c1, abs2, c2)
    data: tuple = ()


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    match = _TOKEN_RE.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            raise FormulaSyntaxError(f"cannot read formula at {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        assert kind is not None
        end = m.end()
        if kind == "ws":
            pos = end
            continue
        tok_text = m.group(kind)
        data: tuple = ()
        if kind == "cell":
            col = letters_to_col(m.group(kind_idx := _GROUP_INDEX["cell"] + 2))
            row = int(m.group(kind_idx + 2))
            if col > MAX_COL or not (1 <= row <= MAX_ROW):
                kind = "name"  # e.g. ABCD1 or XFE1: a defined name, not a cell
            else:
                data = (
                    m.group(kind_idx - 1) == "$", col, m.group(kind_idx + 1) == "$", row,
                    m.start(kind_idx + 2),
                )
        elif kind == "rowrange":
            i = _GROUP_INDEX["rowrange"] + 1
            r1, r2 = int(m.group(i + 1)), int(m.group(i + 3))
            if not (1 <= r1 <= MAX_ROW and 1 <= r2 <= MAX_ROW):
                raise FormulaSyntaxError(f"row out of range in {tok_text!r}")
            data = (m.group(i) == "$", r1, m.group(i + 2) == "$", r2, m.start(i + 1), m.start(i + 3))
        elif kind == "colrange":
            i = _GROUP_INDEX["colrange"] + 1
            c1, c2 = letters_to_col(m.group(i + 1)), letters_to_col(m.group(i + 3))
            if c1 > MAX_COL or c2 > MAX_COL:
                # not columns after all (e.g. "abcd:efgh" cannot happen: 3 letters max);
                # treat as a syntax problem rather than guess
                raise FormulaSyntaxError(f"column out of range in {tok_text!r}")
            data = (m.group(i) == "$", c1, m.group(i + 2) == "$", c2)
        elif kind == "name" and tok_text.upper() in ("TRUE", "FALSE"):
            kind = "bool"
        tokens.append(Token(kind, tok_text, pos, end, data))
        pos = end
    tokens.append(Token("end", "", n, n))
    return tokens


_GROUP_INDEX = {name: idx for name, idx in _TOKEN_RE.groupindex.items()}


# -------------------------------------------------------------------- parser
# binary operator -> (left binding power, right binding power)
_BINARY: dict[str, tuple[int, int]] = {
    "=": (10, 11), "<>": (10, 11), "<": (10, 11), ">": (10, 11), "<=": (10, 11), ">=": (10, 11),
    "&": (20, 21),
    "+": (30, 31), "-": (30, 31),
    "*": (40, 41), "/": (40, 41),
    "^": (50, 51),
    ":": (80, 81),
}
_PERCENT_BP = 60
_PREFIX_BP = 70

_FUNC_PREFIXES = ("_XLFN.", "_XLWS.", "_XLETA.")


def _strip_function_prefixes(name: str) -> str:
    upper = name.upper()
    changed = True
    while changed:
        changed = False
        for prefix in _FUNC_PREFIXES:
            if upper.startswith(prefix):
                upper = upper[len(prefix):]
                changed = True
    return upper


def _unquote_sheet(raw: str) -> str:
    """``'My ''x'' sheet'!`` -> ``My 'x' sheet`` (raw includes the trailing '!')."""
    body = raw[:-1]
    if body.startswith("'") and body.endswith("'"):
        body = body[1:-1].replace("''", "'")
    return body


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    # -- helpers
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect_op(self, op: str) -> None:
        tok = self.next()
        if tok.kind != "op" or tok.text != op:
            raise FormulaSyntaxError(f"expected {op!r} at position {tok.start} in {self.text!r}")

    def error(self, tok: Token) -> FormulaSyntaxError:
        what = repr(tok.text) if tok.kind != "end" else "end of formula"
        return FormulaSyntaxError(f"unexpected {what} at position {tok.start} in {self.text!r}")

    # -- grammar
    def parse(self) -> Node:
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(tok)
        return node

    def expr(self, min_bp: int) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op":
                break
            op = tok.text
            if op == "%":
                if _PERCENT_BP < min_bp:
                    break
                self.pos += 1
                left = Percent(left)
                continue
            bps = _BINARY.get(op)
            if bps is None or bps[0] < min_bp:
                break
            self.pos += 1
            right = self.expr(bps[1])
            left = _range_op(left, right) if op == ":" else Binary(op, left, right)
        return left

    def prefix(self) -> Node:
        tok = self.next()
        kind = tok.kind
        if kind == "op":
            if tok.text in ("-", "+"):
                return Unary(tok.text, self.expr(_PREFIX_BP))
            if tok.text == "(":
                inner = self.expr(0)
                self.expect_op(")")
                return inner
            if tok.text == "{":
                return self.array()
            raise self.error(tok)
        if kind == "number":
            return Number(float(tok.text))
        if kind == "string":
            return String(tok.text[1:-1].replace('""', '"'))
        if kind == "bool":
            return Bool(tok.text.upper() == "TRUE")
        if kind == "error":
            return ErrorLit(tok.text.upper())
        if kind == "cell":
            return _cell_node(None, tok)
        if kind == "colrange":
            return _colrange_node(None, tok)
        if kind == "rowrange":
            return _rowrange_node(None, tok)
        if kind == "name":
            return Name(tok.text, None)
        if kind == "func":
            return self.call(tok)
        if kind == "sheet":
            return self.qualified(tok)
        if kind == "xname":
            # [1]name : a name defined in another workbook
            target = self.next()
            if target.kind not in ("name", "cell"):
                raise self.error(target)
            return External(tok.text + target.text)
        raise self.error(tok)

    def qualified(self, sheet_tok: Token) -> Node:
        raw = sheet_tok.text
        sheet = _unquote_sheet(raw)
        target = self.next()
        if "[" in sheet:
            if target.kind in ("cell", "colrange", "rowrange", "name", "error"):
                text = raw + target.text
                # swallow a following ":B2" so "[1]S!A1:B2" is one external reference
                if target.kind == "cell" and self.peek().kind == "op" and self.peek().text == ":" \
                        and self.tokens[self.pos + 1].kind == "cell":
                    self.pos += 1
                    text += ":" + self.next().text
                return External(text)
            raise self.error(target)
        if ":" in sheet:  # Excel forbids ':' in sheet names: this is Sheet1:Sheet3!A1
            raise FormulaSyntaxError(f"3-D references are not supported: {raw}{target.text}")
        if target.kind == "cell":
            return _cell_node(sheet, target)
        if target.kind == "colrange":
            return _colrange_node(sheet, target)
        if target.kind == "rowrange":
            return _rowrange_node(sheet, target)
        if target.kind == "name":
            return Name(target.text, sheet)
        if target.kind == "error":
            return ErrorLit(target.text.upper())
        raise self.error(target)

    def call(self, tok: Token) -> Node:
        name = _strip_function_prefixes(tok.text)
        self.expect_op("(")
        args: list[Node] = []
        if self.peek().kind == "op" and self.peek().text == ")":
            self.pos += 1
            return Call(name, ())
        while True:
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text in (",", ")"):
                args.append(Missing())
            else:
                args.append(self.expr(0))
            sep = self.next()
            if sep.kind == "op" and sep.text == ",":
                continue
            if sep.kind == "op" and sep.text == ")":
                break
            raise self.error(sep)
        return Call(name, tuple(args))

    def array(self) -> Node:
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        while True:
            row.append(self.array_item())
            sep = self.next()
            if sep.kind == "op" and sep.text == ",":
                continue
            if sep.kind == "op" and sep.text == ";":
                rows.append(tuple(row))
                row = []
                continue
            if sep.kind == "op" and sep.text == "}":
                rows.append(tuple(row))
                break
            raise self.error(sep)
        if len({len(r) for r in rows}) != 1:
            raise FormulaSyntaxError(f"array constant rows differ in length in {self.text!r}")
        return ArrayConst(tuple(rows))

    def array_item(self) -> Node:
        tok = self.next()
        sign = 1.0
        if tok.kind == "op" and tok.text in ("-", "+"):
            sign = -1.0 if tok.text == "-" else 1.0
            tok = self.next()
            if tok.kind != "number":
                raise self.error(tok)
        if tok.kind == "number":
            return Number(sign * float(tok.text))
        if tok.kind == "string":
            return String(tok.text[1:-1].replace('""', '"'))
        if tok.kind == "bool":
            return Bool(tok.text.upper() == "TRUE")
        if tok.kind == "error":
            return ErrorLit(tok.text.upper())
        raise self.error(tok)


def _cell_node(sheet: str | None, tok: Token) -> Ref:
    col_abs, col, row_abs, row, _ = tok.data
    return Ref(sheet, row, col, row_abs, col_abs)


def _colrange_node(sheet: str | None, tok: Token) -> Range:
    a1, c1, a2, c2 = tok.data
    if c1 > c2:
        c1, c2, a1, a2 = c2, c1, a2, a1
    return Range(sheet, 1, c1, MAX_ROW, c2, True, a1, True, a2)


def _rowrange_node(sheet: str | None, tok: Token) -> Range:
    a1, r1, a2, r2, _, _ = tok.data
    if r1 > r2:
        r1, r2, a1, a2 = r2, r1, a2, a1
    return Range(sheet, r1, 1, r2, MAX_COL, a1, True, a2, True)


def _range_op(left: Node, right: Node) -> Node:
    """``left:right``: a static Range when both ends are cells of one sheet."""
    if isinstance(left, Ref) and isinstance(right, Ref):
        sheet = left.sheet
        if right.sheet is not None and (sheet is None or right.sheet.lower() != sheet.lower()):
            if sheet is None:
                raise FormulaSyntaxError("range with a sheet only on its second cell")
            raise FormulaSyntaxError(f"range across sheets {sheet} and {right.sheet}")
        r1, r1a, r2, r2a = left.row, left.row_abs, right.row, right.row_abs
        if r1 > r2:
            r1, r1a, r2, r2a = r2, r2a, r1, r1a
        c1, c1a, c2, c2a = left.col, left.col_abs, right.col, right.col_abs
        if c1 > c2:
            c1, c1a, c2, c2a = c2, c2a, c1, c1a
        return Range(sheet, r1, c1, r2, c2, r1a, c1a, r2a, c2a)
    return Binary(":", left, right)


@contextmanager
def deep_recursion(limit: int = 20000) -> Iterator[None]:
    """Raise Python's recursion limit for work on one formula tree.

    An 8,192-character formula (Excel's limit) can be a left-leaning chain of
    4,000 operators: parsing it, hashing its tree (dataclass hashes recurse) or
    compiling it goes that deep, far past the default limit of 1,000."""
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        if old < limit:
            sys.setrecursionlimit(old)


def parse(text: str) -> Node:
    """Parse a formula (with or without its leading ``=``) into a tree.

    Raises :class:`FormulaSyntaxError` on text that is not a formula.
    """
    if text.startswith("="):
        text = text[1:]
    if not text.strip():
        raise FormulaSyntaxError("empty formula")
    if len(text) > 16384:
        raise FormulaSyntaxError("formula longer than Excel allows")
    try:
        with deep_recursion():
            return _Parser(text).parse()
    except RecursionError:
        raise FormulaSyntaxError("formula nested too deeply") from None


# --------------------------------------------------------------------- walks
def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children, without recursion."""
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Binary):
            stack.append(n.right)
            stack.append(n.left)
        elif isinstance(n, (Unary, Percent)):
            stack.append(n.operand)
        elif isinstance(n, Call):
            stack.extend(reversed(n.args))
        elif isinstance(n, ArrayConst):
            for row in reversed(n.rows):
                stack.extend(reversed(row))


def references(shape: Node) -> Iterator[Ref | Range | Name | External]:
    """The Ref, Range, Name (and External) nodes of a tree or shape, in text order."""
    for n in walk(shape):
        if isinstance(n, (Ref, Range, Name, External)):
            yield n


def _transform(node: Node, fn: Callable[[Node], Node | None]) -> Node:
    """Rebuild ``node`` bottom-up; ``fn`` returns a replacement for a leaf or None."""
    # Iterative post-order so that deep (left-leaning) trees do not recurse.
    result: dict[int, Node] = {}
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        n, done = stack.pop()
        if isinstance(n, (Binary, Unary, Percent, Call)):
            if not done:
                stack.append((n, True))
                if isinstance(n, Binary):
                    stack.append((n.left, False))
                    stack.append((n.right, False))
                elif isinstance(n, Call):
                    stack.extend((a, False) for a in n.args)
                else:
                    stack.append((n.operand, False))
                continue
            if isinstance(n, Binary):
                new: Node = Binary(n.op, result[id(n.left)], result[id(n.right)])
            elif isinstance(n, Unary):
                new = Unary(n.op, result[id(n.operand)])
            elif isinstance(n, Percent):
                new = Percent(result[id(n.operand)])
            else:
                new = Call(n.name, tuple(result[id(a)] for a in n.args))
            result[id(n)] = new
        else:
            rep = fn(n)
            result[id(n)] = n if rep is None else rep
    return result[id(node)]


class SheetName(str):
    """A sheet name in a shape: compares and hashes case-insensitively (Excel's
    sheet names are), prints as written."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.casefold() == other.casefold()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.casefold())


def _sheet(name: str | None) -> str | None:
    return None if name is None else SheetName(name)


def to_shape(node: Node, row: int, col: int) -> Node:
    """The R1C1 shape of ``node`` written in cell (row, col).

    Relative rows/columns become offsets from (row, col); absolute ones stay;
    defined names are lower-cased and sheet names compare case-insensitively
    (:class:`SheetName`), as Excel treats both.  Two cells of a filled-down
    column give equal (and equally hashed) shapes.
    """

    def leaf(n: Node) -> Node | None:
        if isinstance(n, Ref):
            return Ref(
                _sheet(n.sheet),
                n.row if n.row_abs else n.row - row,
                n.col if n.col_abs else n.col - col,
                n.row_abs,
                n.col_abs,
            )
        if isinstance(n, Range):
            return Range(
                _sheet(n.sheet),
                n.r1 if n.r1_abs else n.r1 - row,
                n.c1 if n.c1_abs else n.c1 - col,
                n.r2 if n.r2_abs else n.r2 - row,
                n.c2 if n.c2_abs else n.c2 - col,
                n.r1_abs, n.c1_abs, n.r2_abs, n.c2_abs,
            )
        if isinstance(n, Name):
            return Name(n.name.lower(), _sheet(n.sheet))
        return None

    return _transform(node, leaf)


def substitute(node: Node, fn: Callable[[Node], Node | None]) -> Node:
    """Replace leaves (refs, names, constants) of a tree; used to inline names."""
    return _transform(node, fn)


# ---------------------------------------------------------------- shape text
_PREC = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3,
         "*": 4, "/": 4, "^": 5, ":": 8}
_SHEET_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def quote_sheet(name: str) -> str:
    """A sheet name as it stands before ``!``: bare only when plainly safe (ASCII letters, digits, _ and .,
    not shaped like a cell), quoted otherwise — Excel, LibreOffice and Gnumeric all read a quoted name."""
    if _SHEET_PLAIN.match(name) and not re.match(r"^[A-Za-z]{1,3}\d+$", name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _fmt_number(v: float) -> str:
    if v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _axis(prefix: str, value: int, absolute: bool) -> str:
    if absolute:
        return f"{prefix}{value}"
    return prefix if value == 0 else f"{prefix}[{value}]"


def _prec(node: Node) -> int:
    if isinstance(node, Binary):
        return _PREC[node.op]
    if isinstance(node, Percent):
        return 6
    if isinstance(node, Unary):
        return 7
    return 9


def shape_text(shape: Node) -> str:
    """Readable R1C1 text of a shape, e.g. ``R[-1]C-learning_rate*R[-1]C[2]``."""
    with deep_recursion():
        return _text(shape)


def _text(n: Node) -> str:
    if isinstance(n, Number):
        return _fmt_number(n.value)
    if isinstance(n, String):
        return '"' + n.value.replace('"', '""') + '"'
    if isinstance(n, Bool):
        return "TRUE" if n.value else "FALSE"
    if isinstance(n, ErrorLit):
        return n.code
    if isinstance(n, Missing):
        return ""
    if isinstance(n, Ref):
        prefix = quote_sheet(n.sheet) + "!" if n.sheet is not None else ""
        return prefix + _axis("R", n.row, n.row_abs) + _axis("C", n.col, n.col_abs)
    if isinstance(n, Range):
        prefix = quote_sheet(n.sheet) + "!" if n.sheet is not None else ""
        if n.r1_abs and n.r2_abs and n.r1 == 1 and n.r2 == MAX_ROW:
            return prefix + _axis("C", n.c1, n.c1_abs) + ":" + _axis("C", n.c2, n.c2_abs)
        if n.c1_abs and n.c2_abs and n.c1 == 1 and n.c2 == MAX_COL:
            return prefix + _axis("R", n.r1, n.r1_abs) + ":" + _axis("R", n.r2, n.r2_abs)
        return (prefix + _axis("R", n.r1, n.r1_abs) + _axis("C", n.c1, n.c1_abs) + ":"
                + _axis("R", n.r2, n.r2_abs) + _axis("C", n.c2, n.c2_abs))
    if isinstance(n, Name):
        return (quote_sheet(n.sheet) + "!" if n.sheet is not None else "") + n.name
    if isinstance(n, External):
        return n.text
    if isinstance(n, Unary):
        inner = _text(n.operand)
        if _prec(n.operand) < 7:
            inner = f"({inner})"
        return n.op + inner
    if isinstance(n, Percent):
        inner = _text(n.operand)
        if _prec(n.operand) < 6:
            inner = f"({inner})"
        return inner + "%"
    if isinstance(n, Binary):
        p = _PREC[n.op]
        left, right = _text(n.left), _text(n.right)
        if _prec(n.left) < p:
            left = f"({left})"
        if _prec(n.right) <= p:
            right = f"({right})"
        return f"{left}{n.op}{right}"
    if isinstance(n, Call):
        return n.name + "(" + ",".join(_text(a) for a in n.args) + ")"
    if isinstance(n, ArrayConst):
        return "{" + ";".join(",".join(_text(x) for x in row) for row in n.rows) + "}"
    raise TypeError(f"not a formula node: {n!r}")


# ------------------------------------------------------- fill-down templates
def fill_down_template(text: str, row: int) -> Callable[[int], str] | None:
    """A function giving the text this formula has when filled down to another row.

    ``fill_down_template("B2-lr*D2", 3)(7) == "B6-lr*D6"``.  Only the digits of
    relative row references change; everything else (spacing, case, constants) is
    kept byte for byte, so comparing the prediction with a cell's actual text is
    an exact and cheap test that the cell has the same shape -- the evaluator
    uses it to avoid parsing 100,000 near-identical formulas.  Returns None when
    the text cannot be tokenized.
    """
    try:
        tokens = _tokenize(text[1:] if text.startswith("=") else text)
    except FormulaSyntaxError:
        return None
    base = 1 if text.startswith("=") else 0
    cuts: list[tuple[int, int, int]] = []  # (start, end, offset from the cell's row)
    for tok in tokens:
        if tok.kind == "cell" and not tok.data[2]:
            cuts.append((tok.data[4] + base, tok.end + base, tok.data[3] - row))
        elif tok.kind == "rowrange":
            a1, r1, a2, r2, s1, s2 = tok.data
            if not a1:
                cuts.append((s1 + base, s1 + base + len(str(r1)), r1 - row))
            if not a2:
                cuts.append((s2 + base, s2 + base + len(str(r2)), r2 - row))
    cuts.sort()
    pieces: list[str] = []
    last = 0
    for start, end, off in cuts:
        pieces.append(text[last:start].replace("{", "{{").replace("}", "}}"))
        pieces.append("{r%+d}" % off if off else "{r}")
        last = end
    pieces.append(text[last:].replace("{", "{{").replace("}", "}}"))
    if not cuts:
        return lambda r, _t=text: _t
    src = "lambda r: f" + repr("".join(pieces))
    return eval(src)  # noqa: S307 - an f-string built from repr() and integers only


# --------------------------------------------------------------- translation
def translate(text: str, rows: int, cols: int) -> str:
    """The formula ``text`` copied ``rows`` down and ``cols`` right, as Excel
    writes it in the target cell: relative references move, absolute ones stay,
    everything else is kept byte for byte; a reference moved off the sheet
    becomes ``#REF!``.  The child cells of a shared formula have the anchor's
    text translated this way (ECMA-376 18.3.1.40).  Unreadable text is returned
    unchanged."""
    if not rows and not cols:
        return text
    lead = "=" if text.startswith("=") else ""
    body = text[len(lead):]
    try:
        tokens = _tokenize(body)
    except FormulaSyntaxError:
        return text
    out: list[str] = []
    last = 0
    for tok in tokens:
        if tok.kind == "cell":
            col_abs, col, row_abs, row, _ = tok.data
            new = _moved_cell(col_abs, col if col_abs else col + cols, row_abs, row if row_abs else row + rows)
        elif tok.kind == "colrange":
            a1, c1, a2, c2 = tok.data
            c1, c2 = (c1 if a1 else c1 + cols), (c2 if a2 else c2 + cols)
            ok = 1 <= c1 <= MAX_COL and 1 <= c2 <= MAX_COL
            new = (f"{'$' if a1 else ''}{col_to_letters(c1)}:{'$' if a2 else ''}{col_to_letters(c2)}"
                   if ok else "#REF!")
        elif tok.kind == "rowrange":
            a1, r1, a2, r2, _, _ = tok.data
            r1, r2 = (r1 if a1 else r1 + rows), (r2 if a2 else r2 + rows)
            ok = 1 <= r1 <= MAX_ROW and 1 <= r2 <= MAX_ROW
            new = f"{'$' if a1 else ''}{r1}:{'$' if a2 else ''}{r2}" if ok else "#REF!"
        else:
            continue
        out.append(body[last:tok.start])
        out.append(new)
        last = tok.end
    out.append(body[last:])
    return lead + "".join(out)


def _moved_cell(col_abs: bool, col: int, row_abs: bool, row: int) -> str:
    if not (1 <= col <= MAX_COL and 1 <= row <= MAX_ROW):
        return "#REF!"
    return f"{'$' if col_abs else ''}{col_to_letters(col)}{'$' if row_abs else ''}{row}"
