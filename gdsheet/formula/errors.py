"""Excel error values and the exceptions of the formula engine.

Two different things are called "error" around a spreadsheet and they must not be
confused:

* an *error value* (``#NUM!``, ``#DIV/0!`` ...) is an ordinary cell value in Excel.
  It flows through formulas like a number does, so it is a plain, hashable value
  object here (:class:`ExcelError`), never a Python exception;
* a *formula problem* (a function we do not implement, a syntax we cannot read, a
  circular reference) means gdsheet cannot tell what Excel would show.  Those are
  Python exceptions (:class:`FormulaError` and subclasses) so that a verifier
  never mistakes "we could not evaluate" for "the spreadsheet computes X".
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ExcelError",
    "DIV0",
    "NUM",
    "VALUE",
    "REF",
    "NAME",
    "NA",
    "NULL",
    "ERRORS_BY_CODE",
    "FormulaError",
    "FormulaSyntaxError",
    "UnsupportedFunction",
    "CircularReference",
]


class ExcelError:
    """An Excel error value such as ``#NUM!``.

    Instances compare and hash by their code, so ``ExcelError("#NUM!") == NUM``;
    the module constants are the canonical instances and ``is`` comparison against
    them works for every value the engine itself produces.
    """

    __slots__ = ("code",)

    code: str

    def __init__(self, code: str) -> None:
        object.__setattr__(self, "code", code)

    def __setattr__(self, name: str, value: object) -> None:  # immutable: it is hashed
        raise AttributeError("ExcelError is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExcelError) and other.code == self.code

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("ExcelError", self.code))

    def __repr__(self) -> str:
        return self.code

    __str__ = __repr__

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (ExcelError, (self.code,))


NULL: Final = ExcelError("#NULL!")
DIV0: Final = ExcelError("#DIV/0!")
VALUE: Final = ExcelError("#VALUE!")
REF: Final = ExcelError("#REF!")
NAME: Final = ExcelError("#NAME?")
NUM: Final = ExcelError("#NUM!")
NA: Final = ExcelError("#N/A")
GETTING_DATA: Final = ExcelError("#GETTING_DATA")
SPILL: Final = ExcelError("#SPILL!")
CALC: Final = ExcelError("#CALC!")

#: Every error code Excel writes, upper-case, mapped to its canonical instance.
ERRORS_BY_CODE: Final[dict[str, ExcelError]] = {
    e.code: e for e in (NULL, DIV0, VALUE, REF, NAME, NUM, NA, GETTING_DATA, SPILL, CALC)
}


class FormulaError(Exception):
    """gdsheet cannot evaluate a formula the way Excel would (base class)."""


class FormulaSyntaxError(FormulaError):
    """The formula text is not a formula gdsheet can read."""


class UnsupportedFunction(FormulaError):
    """The formula calls a function the engine does not implement."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported function {name}")
        self.name = name


class CircularReference(FormulaError):
    """A formula depends, directly or through other cells, on itself."""
