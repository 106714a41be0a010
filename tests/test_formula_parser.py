"""Parser, shapes and fill-down templates of gdsheet.formula.parser."""

from __future__ import annotations

import pytest

from gdsheet.formula.errors import FormulaSyntaxError
from gdsheet.formula.parser import (
    MAX_COL,
    MAX_ROW,
    ArrayConst,
    Binary,
    Bool,
    Call,
    ErrorLit,
    External,
    Missing,
    Name,
    Number,
    Percent,
    Range,
    Ref,
    String,
    Unary,
    fill_down_template,
    parse,
    references,
    shape_text,
    to_shape,
)

N = Number


@pytest.mark.parametrize(
    "text, tree",
    [
        # Excel precedence: unary minus binds tighter than ^, ^ is left-associative
        ("=-2^2", Binary("^", Unary("-", N(2.0)), N(2.0))),
        ("=2^3^2", Binary("^", Binary("^", N(2.0), N(3.0)), N(2.0))),
        ("=2*-3", Binary("*", N(2.0), Unary("-", N(3.0)))),
        ("=1+2*3", Binary("+", N(1.0), Binary("*", N(2.0), N(3.0)))),
        ("=1-2-3", Binary("-", Binary("-", N(1.0), N(2.0)), N(3.0))),
        ("=(1+2)*3", Binary("*", Binary("+", N(1.0), N(2.0)), N(3.0))),
        ('="a"&1+2', Binary("&", String("a"), Binary("+", N(1.0), N(2.0)))),
        ("=1&2=3", Binary("=", Binary("&", N(1.0), N(2.0)), N(3.0))),
        ("=1<>2", Binary("<>", N(1.0), N(2.0))),
        ("=1<=2", Binary("<=", N(1.0), N(2.0))),
        ("=1>=2", Binary(">=", N(1.0), N(2.0))),
        ("=50%", Percent(N(50.0))),
        ("=2^50%", Binary("^", N(2.0), Percent(N(50.0)))),  # % binds tighter than ^
        ("=-A1", Unary("-", Ref(None, 1, 1))),
        ("=+A1", Unary("+", Ref(None, 1, 1))),
        ("=--1", Unary("-", Unary("-", N(1.0)))),
        # literals
        ("=1e-5", N(1e-5)),
        ("=.5", N(0.5)),
        ("=1.5E+3", N(1500.0)),
        ('="say ""hi"""', String('say "hi"')),
        ('=""', String("")),
        ("=TRUE", Bool(True)),
        ("=false", Bool(False)),
        ("=#N/A", ErrorLit("#N/A")),
        ("=#DIV/0!", ErrorLit("#DIV/0!")),
        ("=#NAME?", ErrorLit("#NAME?")),
        # references
        ("=$A$1", Ref(None, 1, 1, True, True)),
        ("=A$1", Ref(None, 1, 1, True, False)),
        ("=$B7", Ref(None, 7, 2, False, True)),
        ("=XFD1048576", Ref(None, MAX_ROW, MAX_COL)),
        ("=B2:A1", Range(None, 1, 1, 2, 2)),  # normalised
        ("=Sheet1!A1:B2", Range("Sheet1", 1, 1, 2, 2)),
        ("=Sheet1!A1:Sheet1!B2", Range("Sheet1", 1, 1, 2, 2)),
        ("='My sheet'!A1", Ref("My sheet", 1, 1)),
        ("='It''s'!$C$3", Ref("It's", 3, 3, True, True)),
        ("=A:B", Range(None, 1, 1, MAX_ROW, 2, True, False, True, False)),
        ("=$C:$C", Range(None, 1, 3, MAX_ROW, 3, True, True, True, True)),
        ("=2:3", Range(None, 2, 1, 3, MAX_COL, False, True, False, True)),
        ("=Data!1:1", Range("Data", 1, 1, 1, MAX_COL, False, True, False, True)),
        # names
        ("=learning_rate", Name("learning_rate")),
        ("=x.y_1", Name("x.y_1")),
        ("=a\\b", Name("a\\b")),
        ("=ABCD1", Name("ABCD1")),  # four letters: not a column
        ("=XFE1", Name("XFE1")),  # beyond the last column
        ("=Parameters!rate", Name("rate", "Parameters")),
        # functions
        ("=LOG10(A1)", Call("LOG10", (Ref(None, 1, 1),))),
        ("=_xlfn.T.INV(0.5,3)", Call("T.INV", (N(0.5), N(3.0)))),
        ("=_xlfn._xlws.SORT(A1:A3)", Call("SORT", (Range(None, 1, 1, 3, 1),))),
        ("=sum(1)", Call("SUM", (N(1.0),))),
        ("=PI()", Call("PI", ())),
        ("=TRUE()", Call("TRUE", ())),
        ("=IF(A1,,2)", Call("IF", (Ref(None, 1, 1), Missing(), N(2.0)))),
        ("=INDEX(A:A,1):INDEX(A:A,3)",
         Binary(":", Call("INDEX", (Range(None, 1, 1, MAX_ROW, 1, True, False, True, False), N(1.0))),
                Call("INDEX", (Range(None, 1, 1, MAX_ROW, 1, True, False, True, False), N(3.0))))),
        # arrays
        ('={1,2;-3,"a"}', ArrayConst(((N(1.0), N(2.0)), (N(-3.0), String("a"))))),
        # external references are kept as such, never followed
        ("=[1]Sheet1!A1", External("[1]Sheet1!A1")),
        ("='[Book 2.xlsx]My sheet'!B2", External("'[Book 2.xlsx]My sheet'!B2")),
        ("=[1]Sheet1!A1:B2", External("[1]Sheet1!A1:B2")),
        ("=[1]!rate", External("[1]!rate")),
    ],
)
def test_parse(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_leading_equals_optional_and_whitespace_anywhere() -> None:
    assert parse("B2-learning_rate*D2") == parse("= B2 -  learning_rate * D2 ")
    assert parse("SUM( A1 , 2 )") == parse("SUM(A1,2)")
    assert parse(" - 2 ^ 2 ") == parse("-2^2")


@pytest.mark.parametrize("text", ["", "=", "1+", "(1", "SUM(1", "1 2", "A1:", "{1,2;3}", "'x'", "#FOO!",
                                  "Sheet1:Sheet3!A1", "1+*2", ")"])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(FormulaSyntaxError):
        parse(text)


def test_nodes_are_hashable() -> None:
    tree = parse("=IF(A1>0,SUM(B1:B3),{1,2})&x")
    assert hash(tree) == hash(parse("IF(A1>0,SUM(B1:B3),{1,2})&x"))
    assert {tree: 1}[parse("IF(A1>0,SUM(B1:B3),{1,2})&x")] == 1


def test_shape_of_a_filled_down_column_is_one_shape() -> None:
    a = to_shape(parse("B2 - lr*D2"), 3, 2)
    b = to_shape(parse("B3-LR*D3"), 4, 2)
    c = to_shape(parse("b99-Lr*d99"), 100, 2)
    assert a == b == c
    assert hash(a) == hash(b)
    assert to_shape(parse("B2-lr*D2"), 3, 2) != to_shape(parse("B2-lr*D3"), 3, 2)
    # absolute parts do not move
    assert to_shape(parse("$A$1+A1"), 5, 5) == to_shape(parse("$A$1+A2"), 6, 5)
    assert to_shape(parse("$A$1+A1"), 5, 5) != to_shape(parse("$A$2+A2"), 6, 5)
    # sheet names are case-insensitive too, and print as written
    s1 = to_shape(parse("Params!$B$3*'My Data'!A1"), 2, 2)
    s2 = to_shape(parse("PARAMS!$B$3*'my data'!A1"), 2, 2)
    assert s1 == s2 and hash(s1) == hash(s2)
    assert shape_text(s1) == "Params!R3C2*'My Data'!R[-1]C[-1]"
    assert to_shape(parse("Params!A1"), 1, 1) != to_shape(parse("Other!A1"), 1, 1)


def test_shape_text() -> None:
    shape = to_shape(parse("B2-learning_rate*D2"), 3, 2)
    assert shape_text(shape) == "R[-1]C-learning_rate*R[-1]C[2]"
    assert shape_text(to_shape(parse("$A$1+Parameters!$B$3*A1"), 2, 2)) == "R1C1+Parameters!R3C2*R[-1]C[-1]"
    assert shape_text(to_shape(parse("SUM(A:A)+'My s'!B1:C2"), 1, 1)) == "SUM(C:C)+'My s'!RC[1]:R[1]C[2]"
    assert shape_text(parse("-(2^2)")) == "-(2^2)"
    assert shape_text(parse("(-2)^2")) == "-2^2"
    assert shape_text(parse("1-(2-3)")) == "1-(2-3)"
    assert shape_text(parse('"a""b"&TRUE')) == '"a""b"&TRUE'


def test_references() -> None:
    shape = to_shape(parse("SUM(A1:B2)+x*Sheet2!C3+[1]S!A1"), 1, 1)
    kinds = [type(n).__name__ for n in references(shape)]
    assert kinds == ["Range", "Name", "Ref", "External"]


def test_fill_down_template() -> None:
    t = fill_down_template("=B2 - lr*D2+$A$1+SUM(3:3)%", 3)
    assert t is not None
    assert t(3) == "=B2 - lr*D2+$A$1+SUM(3:3)%"
    assert t(10) == "=B9 - lr*D9+$A$1+SUM(10:10)%"
    t2 = fill_down_template('A1&"{x}%d"', 1)
    assert t2 is not None and t2(5) == 'A5&"{x}%d"'
    assert fill_down_template("$A$1*2", 4)(9) == "$A$1*2"  # type: ignore[misc]


def test_deeply_nested_formula() -> None:
    text = "=" + "+".join(["1"] * 3000)
    tree = parse(text)
    assert isinstance(tree, Binary)
    text = "=" + "(" * 200 + "1" + ")" * 200
    assert parse(text) == N(1.0)
