"""The one description of an exercise that every layer of gdsheet works from.

An exercise says, once: which parameters it takes (names, defaults, valid
ranges), and how to lay out a workbook for given parameters — sheets of
labelled input cells, iteration tables whose columns are formula templates
filled down, and, for every formula cell, the value the numpy reference
computes for it.  The writer renders that layout, the verifier recomputes it
from the parameters found in a workbook and compares cell by cell, the CLI
builds its options from the parameter list.  None of them knows what a
quadratic or a network is, so a new exercise is one new module.

Column templates use ``{key}`` for this row's cell of the column ``key`` of the
same table and ``{key[-1]}`` for the row above (any integer offset works);
defined names (``learning_rate``) are written as they are.  Every data row of a
column below its ``head`` rows carries the same relative formula.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..formula.parser import col_to_letters

# ---------------------------------------------------------------- parameters


def spreadsheet_float(value: float) -> float:
    """``value`` rounded to the 15 significant digits a spreadsheet keeps.

    XlsxWriter stores numbers with 16 digits and LibreOffice saves 15, so a
    parameter with 17 would change on its way through a file; rounding it first
    makes the workbook's input cells and the reference use the same number.
    """
    value = float(value)
    return float(f"{value:.15g}") if math.isfinite(value) else value



@dataclass(frozen=True)
class Param:
    """One parameter of an exercise.

    ``name`` is the defined name of its input cell in the workbook; Excel
    rejects single letters like ``c`` or ``r`` and anything that looks like a
    cell (``lr1``), so names are descriptive (``coef_a``, ``learning_rate``).
    """

    key: str  # Python / CLI key: --x0, generate(..., x0=4)
    name: str  # defined name in the workbook
    label: str  # what a person reads next to the cell
    default: Any
    kind: str = "float"  # float | int | floats (comma-separated list) | str | path (a file to read)
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    number_format: str = "General"
    in_workbook: bool = True  # False: shapes the layout only (e.g. a list of rates)
    live: bool = True  # False: the input cell is informative (changing it cannot reshape the tables)
    choices: tuple[str, ...] | None = None  # the only values a str parameter takes
    validator: Callable[[Any], Any] | None = None  # normalises a value or raises ValueError (one line)
    cli: bool = True  # False: recorded in the workbook, not a command-line option

    def parse(self, text: str) -> Any:
        """Turn command-line text into a checked value."""
        try:
            if self.kind == "int":
                value: Any = int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "floats":
                value = [float(t) for t in str(text).split(",") if t.strip()]
                if not value:
                    raise ValueError
            else:
                value = str(text)
        except ValueError:
            raise ValueError(f"--{self.key.replace('_', '-')}: expected {self.kind}, got {text!r}") from None
        try:
            return self.check(value)
        except ValueError as exc:
            message = str(exc)
            flag = f"--{self.key.replace('_', '-')}"
            raise ValueError(message if message.startswith(flag) else f"{flag}: {message}") from None

    def check(self, value: Any) -> Any:
        if self.kind in ("str", "path") and value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{self.key} must be text, got {value!r}")
            if self.choices is not None and value not in self.choices:
                raise ValueError(f"{self.key} must be one of {', '.join(self.choices)}; got {value!r}")
            return self.validator(value) if self.validator is not None else value
        if self.validator is not None and value is not None:
            value = self.validator(value)
        if self.kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = spreadsheet_float(value)
        elif self.kind == "floats" and isinstance(value, (list, tuple)):
            value = [spreadsheet_float(v) for v in value]
        elif self.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if not math.isfinite(v):
                    raise ValueError(f"{self.key} must be a finite number, got {v}")
                if self.minimum is not None and v < self.minimum:
                    raise ValueError(f"{self.key} must be at least {self.minimum}, got {v}")
                if self.maximum is not None and v > self.maximum:
                    raise ValueError(f"{self.key} must be at most {self.maximum}, got {v}")
        return value


# -------------------------------------------------------------------- layout


@dataclass
class Cell:
    """A single cell outside the iteration tables: a label, an input, a summary formula."""

    row: int
    col: int
    value: Any = None  # the constant, or the reference value of a formula
    formula: str | None = None  # "=..." ; None for a constant
    name: str | None = None  # workbook-scoped defined name bound to this cell
    style: str = "text"  # text | label | input | header | title | note | result
    number_format: str | None = None
    scale: float | None = None  # magnitude of the terms (tolerance floor); default |value|


@dataclass
class Column:
    """A column of an iteration table: header, reference values, formula template."""

    key: str  # identifier used in templates and as the DataFrame column name
    header: str  # what the header cell says (never ``_x..._`` text: LibreOffice mangles it)
    values: np.ndarray  # reference value of every data row (nan/inf = the engine shows an error)
    formula: str | None = None  # template for data rows after the head rows; None = constants
    head: Sequence[str | float] = ()  # the first data rows: "=..." formulas or constants
    number_format: str = "0.000000"
    width: float = 14
    explanation: str = ""
    scale: np.ndarray | None = None  # magnitude of the terms per row, for the tolerance floor


@dataclass
class Series:
    """One curve: column ``y_key`` against column ``x_key`` of the table on ``sheet``."""

    name: str
    sheet: str
    y_key: str
    x_key: str = "iteration"


@dataclass
class Chart:
    """A native scatter-with-lines chart, drawn on the sheet that lists it."""

    title: str
    series: list[Series]
    y_title: str = ""
    x_title: str = "iteration"
    anchor: str = "I2"  # top-left cell
    log_y: bool = False
    y_min: float | None = None  # a log axis needs a floor: its automatic one can hide the interesting part


@dataclass
class Table:
    """An iteration table: header row at ``top``, one row per iteration below it."""

    columns: list[Column]
    top: int = 1  # header row
    left: int = 1  # first column

    @property
    def n_rows(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    def column_index(self, key: str) -> int:
        for i, c in enumerate(self.columns):
            if c.key == key:
                return self.left + i
        raise KeyError(key)


@dataclass
class SheetLayout:
    name: str
    cells: list[Cell] = field(default_factory=list)
    table: Table | None = None
    widths: dict[int, float] = field(default_factory=dict)  # column index -> width
    charts: list[Chart] = field(default_factory=list)
    hidden: bool = False
    freeze: tuple[int, int] | None = None  # (row, col) of the first unfrozen cell
    tab_color: str | None = None
    local_names: dict[str, str] = field(default_factory=dict)  # sheet-scoped name -> "=Sheet!$B$3"
    heights: dict[int, float] = field(default_factory=dict)  # row -> height in points (wrapped text)
    fit: tuple[int, int] | None = (1, 0)  # printed/PDF: pages wide x tall (0 = any); None: natural size
    heights: dict[int, float] = field(default_factory=dict)  # row -> height in points (wrapped headers)


@dataclass
class Layout:
    """Everything the writer needs; everything the verifier compares."""

    exercise: str
    params: dict[str, Any]
    sheets: list[SheetLayout]
    main_sheet: str = "Iterations"  # the table `read` returns by default
    long_sheet: str | None = None  # the per-observation table `read --long` returns
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)  # more rows for the hidden metadata sheet

    def sheet(self, name: str) -> SheetLayout:
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)


# ------------------------------------------------------------------ exercise


class Exercise:
    """Base class: subclasses set ``name``, ``summary``, ``params`` and implement ``layout``."""

    name: str = ""
    summary: str = ""
    params: list[Param] = []
    presets: dict[str, dict[str, Any]] = {}
    # Per-student variants (``gdsheet template --roster``): parameter key -> the documented
    # range :meth:`variant` draws it from.  Empty: every student gets the same parameters.
    variation: dict[str, str] = {}

    def resolve(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``values``, every value checked."""
        known = {p.key: p for p in self.params}
        out = {p.key: p.default for p in self.params}
        for key, value in (values or {}).items():
            if value is None:
                continue
            if key not in known:
                raise ValueError(f"{self.name}: unknown parameter {key!r} (known: {', '.join(known)})")
            out[key] = known[key].check(value)
        self.validate(out)
        return out

    def validate(self, params: dict[str, Any]) -> None:
        """Cross-parameter checks (a subclass hook)."""

    def from_inputs(self, generated: dict[str, Any], inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The parameters a workbook computes with now, from its named input cells.

        A person may change an input cell on purpose (that is what live formulas are
        for), so the reference follows the cells; each change is reported as a note.
        """
        params = dict(generated)
        notes = []
        for prm in self.params:
            if not (prm.in_workbook and prm.live) or prm.name not in inputs:
                continue
            value = inputs[prm.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                notes.append(f"input cell {prm.name} holds {value!r}, not a number; using the generated "
                             f"{params[prm.key]!r}")
                continue
            if value != params[prm.key]:
                notes.append(f"{prm.name} changed since generation: {params[prm.key]!r} → {value!r}")
                params[prm.key] = int(value) if prm.kind == "int" else float(value)
        return params, notes

    def from_workbook(self, generated: dict[str, Any], workbook: Any
                      ) -> tuple[dict[str, Any], list[str], Layout | None]:
        """What a workbook computes with now: the parameters (with notes on what changed since
        generation) and, when they are the generated ones, their layout (else None).

        ``workbook`` is the :class:`~gdsheet.workbook.model.Workbook` read from the file.  The
        default reads the named input cells (:meth:`from_inputs`); an exercise whose inputs do
        not fit in named cells (a data sheet, initial weights in a table's first row) overrides
        this and reads them from ``workbook`` too: they are inputs like the named cells.
        """
        layout = self.layout(generated)
        params, notes = self.from_inputs(generated, input_values(workbook, layout))
        return params, notes, (layout if params == generated else None)

    def variant(self, rng: random.Random, params: dict[str, Any]) -> dict[str, Any]:
        """One student's parameters: ``params`` (the class's, resolved) with the keys of
        :attr:`variation` drawn from ``rng`` within their documented ranges.

        ``rng`` is seeded from (course seed, student id), so the same roster and seed give
        the same variants.  Draw in a fixed order, from ``rng`` only, and return values
        :meth:`resolve` accepts.  The default varies nothing.
        """
        return dict(params)

    def reseed(self, rng: random.Random, params: dict[str, Any]) -> dict[str, Any]:
        """Other inputs for ``check``'s re-seeded check (:mod:`gdsheet.classroom.reseed`): the student's
        formulas must give the reference for these too.  The default draws another :meth:`variant`; an
        exercise may change more (the quadratic's coefficients), never the table's shape."""
        return self.variant(rng, params)

    def report_notes(self, layout: Layout) -> list[str]:
        """Remarks for verify's report about what the tables show (a subclass hook)."""
        return []

    def layout(self, params: dict[str, Any]) -> Layout:  # pragma: no cover - abstract
        raise NotImplementedError


def input_values(workbook: Any, layout: Layout) -> dict[str, Any]:
    """The current value of every named input cell of ``layout`` in ``workbook``."""
    out: dict[str, Any] = {}
    for sl in layout.sheets:
        for cell in sl.cells:
            if cell.name and cell.style == "input":
                try:
                    out[cell.name] = workbook.sheet(sl.name).values.get((cell.row, cell.col))
                except KeyError:
                    pass
    return out


# ------------------------------------------------------------ template fill

_PLACEHOLDER = re.compile(r"\{(\w+)(?:\[([+-]?\d+)\])?\}")


col_letter = col_to_letters  # 1 -> A, 28 -> AB


def render(template: str, table: Table, row: int) -> str:
    """The template's formula text for the cell of ``row`` (leading '=' kept)."""

    def sub(m: re.Match[str]) -> str:
        offset = int(m.group(2) or 0)
        return f"{col_letter(table.column_index(m.group(1)))}{row + offset}"

    return _PLACEHOLDER.sub(sub, template)


def magnitude(*terms: np.ndarray | float) -> np.ndarray:
    """Sum of absolute values of the terms of a sum: the scale for the tolerance floor."""
    total: Any = 0.0
    with np.errstate(all="ignore"):
        for t in terms:
            total = total + np.abs(t)
    return np.asarray(total, dtype=float)


Builder = Callable[[dict[str, Any]], Layout]
