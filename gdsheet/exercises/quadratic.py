"""Gradient descent on f(x) = a·x² + b·x + c — the course's first spreadsheet.

The lesson: f(x) = 5x² + 3x − 4 from x₀ = 4.  One row per iteration::

    x_{k+1} = x_k − η·f′(x_k),   f′(x) = 2a·x + b

Because f′ is linear, the distance to the minimum x* = −b/2a shrinks by the
same factor every step: x_k − x* = (1 − 2aη)^k · (x₀ − x*).  So η < 1/a
converges (oscillating when 1/2a < η), η = 1/a cycles between two points and
η > 1/a diverges — the learning-rate comparison shows all of them.

Defaults: the lesson's coefficients with η = 0.02 and 60 steps: the factor is
0.8, so |x − x*| falls from 4.3 to 6.6e-6 in a table that fits on two screens.

The numpy reference performs the formulas' own operations in the formulas'
order, so a spreadsheet computing in IEEE doubles matches it to the last bits
or within the documented tolerance.
"""

from __future__ import annotations

import math
import random
import sys
from array import array
from typing import Any

import numpy as np

from ..optimizers import (ALL_HYPER, OPTIMIZERS, SCHEDULES, fill, hyper_values, optimizer_params, run,
                          state_key, used_keys)
from .base import Cell, Chart, Column, Exercise, Layout, Param, Series, SheetLayout, Table, col_letter, magnitude

MAX_STEPS = 1_048_574  # header row + iteration 0 + steps rows = Excel's 1,048,576 rows


def _run(a: float, b: float, c: float, x0: float, lr: float, steps: int) -> dict[str, np.ndarray]:
    """The iteration table in numpy, operation for operation as the formulas do it."""
    n = steps + 1
    x = np.empty(n)
    grad = np.empty(n)
    x[0] = x0
    with np.errstate(all="ignore"):
        # the recurrence: a plain-float loop (numpy scalar indexing is ~10x slower) into arrays
        # of doubles (8 bytes a step, where a list of floats costs 32)
        xs = array("d", [float(x0)])
        xk = float(x0)
        g = 2 * a * xk + b
        gs = array("d", [g])
        for _ in range(steps):
            xk = xk - lr * g if g - g == 0.0 else float("nan")  # g finite (np.isfinite: 1 µs a call)
            g = 2 * a * xk + b
            gs.append(g)
            xs.append(xk)
        x[:] = np.frombuffer(xs, dtype=np.float64)
        grad[:] = np.frombuffer(gs, dtype=np.float64)
        del xs, gs
        x_min = -b / (2 * a)
        k = np.arange(n, dtype=float)
        values = {
            "iteration": k,
            "x": x,
            "fx": a * x**2 + b * x + c,
            "grad": 2 * a * x + b,
            "step": lr * (2 * a * x + b),
            "distance": np.abs(x - x_min),
            "closed": x_min + (1 - 2 * a * lr) ** k * (x0 - x_min),
        }
    # overflow: once a value is not finite the spreadsheet shows #NUM! from there on
    bad = ~np.isfinite(values["x"])
    for key in ("x", "fx", "grad", "step", "distance"):
        values[key] = np.where(bad, np.nan, values[key])
    return values


def tiny_power_step(q: float) -> int | None:
    """The first k ≥ 1 with 0 < |q^k| < 2.2e-308 (the smallest normal double), where LibreOffice's
    ``^`` gives #NUM! (tests/test_engines.py), or None when |q| is 0 or at least 1."""
    m = abs(q)
    if not 0.0 < m < 1.0:
        return None
    k = max(1, int(math.log(sys.float_info.min) / math.log(m)) - 2)
    while m ** k >= sys.float_info.min:
        k += 1
    return k


def behaviour(a: float, lr: float) -> str:
    """How |x − x*| evolves: by the contraction factor q = 1 − 2aη."""
    q = 1 - 2 * a * lr
    if abs(q) < 1:
        return "oscillates, converging" if q < 0 else "converges"
    if q == -1:
        return "cycles"
    if q == 1:
        return "stalls"
    return "diverges"


def _table(p: dict[str, Any], lr: float, optimizer: str | None = None, far: bool = False) -> Table:
    optimizer = optimizer or p.get("optimizer") or "sgd"
    schedule = p.get("schedule") or "constant"
    if optimizer != "sgd" or schedule != "constant":
        return _optimizer_table(p, lr, optimizer, schedule, far)
    a, b, c, x0, steps = p["a"], p["b"], p["c"], p["x0"], p["steps"]
    v = _run(a, b, c, x0, lr, steps)
    x_min = -b / (2 * a)
    with np.errstate(all="ignore"):
        # tolerance scales: the size of the terms each formula adds up, carried through
        # products (a difference that cancels keeps the error of its terms)
        grad_scale = magnitude(2 * a * v["x"], b)
        step_scale = lr * grad_scale
        prev_x = np.concatenate([[x0], v["x"][:-1]])
        prev_step = np.concatenate([[0.0], step_scale[:-1]])
        cols = [
            Column("iteration", "iteration k", v["iteration"], number_format="0", width=11,
                   explanation="k, the number of gradient-descent steps taken so far."),
            Column("x", "x_k", v["x"], head=["=x_start"],
                   formula="={x[-1]}-learning_rate*{grad[-1]}",
                   scale=magnitude(prev_x, prev_step),
                   explanation="Row 0 is the starting point x₀; every later row takes one step "
                               "downhill: x_k = x_{k−1} − η·f′(x_{k−1})."),
            Column("fx", "f(x_k)", v["fx"], formula="=coef_a*{x}^2+coef_b*{x}+coef_c",
                   scale=magnitude(a * v["x"] ** 2, b * v["x"], c),
                   explanation="The value of the function being minimised, a·x² + b·x + c."),
            Column("grad", "f′(x_k)", v["grad"], formula="=2*coef_a*{x}+coef_b", scale=grad_scale,
                   explanation="The derivative 2a·x + b: the slope at x_k. Zero at the minimum."),
            Column("step", "step η·f′(x_k)", v["step"], formula="=learning_rate*{grad}", number_format="0.000E+00",
                   scale=step_scale,
                   explanation="How far the next row moves: the learning rate times the slope."),
            Column("distance", "|x_k − x*|", v["distance"], formula="=ABS({x}-x_min)", number_format="0.000E+00",
                   scale=magnitude(v["x"], x_min),
                   explanation="Distance to the minimum x* = −b/2a; it shrinks by |1 − 2aη| per step."),
            Column("closed", "closed form x_k", v["closed"], head=["=x_start"],  # row 0: no 0^0 (#NUM! in Excel)
                   formula="=x_min+(1-2*coef_a*learning_rate)^{iteration}*(x_start-x_min)",
                   scale=magnitude(x_min, v["closed"] - x_min),
                   explanation="x* + (1 − 2aη)^k·(x₀ − x*): the same x_k by hand, without iterating. "
                               "It agrees with the x_k column while both are finite."),
        ]
    if far:
        cols.append(_far_column(v["distance"], p["tolerance"], v["iteration"]))
    return Table(cols)


def _far_column(distance: np.ndarray, tolerance: float, k: np.ndarray) -> Column:
    with np.errstate(invalid="ignore"):
        values = np.where(np.isfinite(distance), np.where(distance >= tolerance, k + 1, 0.0), np.nan)
    return Column("far", "k + 1 while |x − x*| ≥ tol", values, formula="=IF({distance}>=tolerance,{iteration}+1,0)",
                  number_format="0", explanation="k + 1 while x is still at least the tolerance away from x*, "
                  "else 0: the largest is the number of steps after which x stays within the tolerance.")


def _optimizer_table(p: dict[str, Any], lr: float, name: str, schedule_name: str, far: bool) -> Table:
    """The iteration table under any optimizer and schedule: the optimizer's own columns."""
    a, b, c, x0, steps = p["a"], p["b"], p["c"], p["x0"], p["steps"]
    opt, schedule = OPTIMIZERS[name], SCHEDULES[schedule_name]
    hp = hyper_values(p)
    rates = schedule.rates(lr, steps, hp)
    result = run(opt, lambda t: 2 * a * t + b, np.array([x0]), steps, rates, hp,
                 grad_scale=lambda t: np.abs(2 * a * t) + abs(b))
    values = {key: v[:, 0] for key, v in result["values"].items()}
    scales = {key: v[:, 0] for key, v in result["scales"].items()}
    k = np.arange(steps + 1, dtype=float)
    x = values["theta"]
    lr_ref = "learning_rate" if schedule.formula is None else "{eta}"
    x_min = -b / (2 * a)
    with np.errstate(all="ignore"):
        cols = [Column("iteration", "iteration k", k, number_format="0", width=11,
                       explanation="k, the number of steps taken so far.")]
        if schedule.formula is not None:
            cols.append(Column("eta", "η_k", rates, formula=schedule.formula.replace("{k}", "{iteration}"),
                               number_format="0.000E+00",
                               explanation=f"The learning rate of iteration k ({schedule.name} schedule: "
                                           f"{schedule.summary})."))
        cols += [
            Column("x", "x_k", x, head=["=x_start"], formula=fill(opt.update_formula(), "x", "grad", lr_ref),
                   scale=scales["theta"],
                   explanation=f"Row 0 is x₀; every later row takes the {opt.title} step of the row above."),
            Column("fx", "f(x_k)", a * x**2 + b * x + c, formula="=coef_a*{x}^2+coef_b*{x}+coef_c",
                   scale=magnitude(a * x**2, b * x, c), explanation="a·x² + b·x + c."),
            Column("grad", "f′(x_k)", values["grad"], formula="=2*coef_a*{x}+coef_b", scale=scales["grad"],
                   explanation="The slope 2a·x + b: the gradient the optimizer is given."),
        ]
        for sc in opt.columns():
            cols.append(Column(state_key(sc.state, "x"), sc.header.format(label="x"), values[sc.state],
                               head=[fill(sc.head, "x", "grad", lr_ref)], formula=fill(sc.formula, "x", "grad", lr_ref),
                               number_format=sc.number_format, scale=scales[sc.state], width=15,
                               explanation=sc.explanation))
        distance = np.abs(x - x_min)
        cols.append(Column("distance", "|x_k − x*|", distance, formula="=ABS({x}-x_min)", number_format="0.000E+00",
                           scale=magnitude(x, x_min), explanation="Distance to the minimum x* = −b/2a."))
    if far:
        cols.append(_far_column(distance, p["tolerance"], k))
    return Table(cols)


class Quadratic(Exercise):
    name = "quadratic"
    summary = "gradient descent on f(x) = a·x² + b·x + c (the lesson: 5x² + 3x − 4 from x₀ = 4)"
    params = [
        Param("a", "coef_a", "a, coefficient of x²", 5.0, minimum=1e-12, help="must be > 0 so f has a minimum"),
        Param("b", "coef_b", "b, coefficient of x", 3.0),
        Param("c", "coef_c", "c, constant term", -4.0),
        Param("x0", "x_start", "x₀, starting point", 4.0),
        Param("lr", "learning_rate", "η, learning rate", 0.02, minimum=0.0),
        Param("steps", "steps", "number of steps", 60, kind="int", minimum=1, maximum=MAX_STEPS,
              number_format="0", live=False, help="the number of rows below iteration 0"),
        Param("tolerance", "tolerance", "tolerance for |x − x*|", 1e-6, minimum=0.0,
              number_format="0.0E+00", help="used by the learning-rate summary"),
        Param("lrs", "learning_rates", "learning rates to compare", None, kind="floats", minimum=0.0,
              in_workbook=False, help="comma-separated: one run per rate, side by side, with a summary"),
        *optimizer_params(),
    ]

    # Per-student variants (template --roster): the lesson's function, each student's own
    # starting point and learning rate.  With the lesson's a = 5: η from 0.010 to 0.090, so
    # q = 1 − 2aη runs from 0.9 to 0.1 — every variant converges without oscillating.
    variation = {
        "x0": "±2.0 … ±9.9 in steps of 0.1, sign drawn too, at least 1 away from x* = −b/2a",
        "lr": "k/(200·a) for a whole k from 10 to 90, to 3 significant digits: q = 1 − 2aη from 0.9 to 0.1 "
              "(the lesson's a = 5: 0.010 … 0.090)",
    }

    def variant(self, rng: random.Random, params: dict[str, Any]) -> dict[str, Any]:
        p = dict(params)
        x_min = -p["b"] / (2 * p["a"])
        sign = rng.choice((-1, 1))
        x0 = sign * rng.randint(20, 99) / 10
        if abs(x0 - x_min) < 1:
            x0 = -x0
        p["x0"] = x0
        p["lr"] = float(f"{rng.randint(10, 90) / (200 * p['a']):.3g}")
        return p

    def reseed(self, rng: random.Random, params: dict[str, Any]) -> dict[str, Any]:
        """Other coefficients too (a whole a from 2 to 9, b and c from −9 to 9, each different from the
        student's), so that 2a or b worked out by hand and typed into a formula shows."""
        p = dict(params)
        p["a"] = float(rng.choice([a for a in range(2, 10) if a != params["a"]]))
        p["b"] = float(rng.choice([b for b in range(-9, 10) if b not in (0, params["b"])]))
        p["c"] = float(rng.choice([c for c in range(-9, 10) if c not in (0, params["c"])]))
        return self.variant(rng, p)

    def validate(self, p: dict[str, Any]) -> None:
        if p["lrs"] is not None and len(p["lrs"]) > 50:
            raise ValueError("lrs: at most 50 learning rates")
        if p["lrs"] is not None and p["steps"] > 100_000:
            raise ValueError("lrs: at most 100000 steps per rate in a comparison workbook")
        if p["lrs"] is not None and p["optimizers"] is not None:
            raise ValueError("choose --lrs or --optimizers, not both")
        if p["optimizers"] is not None and p["steps"] > 100_000:
            raise ValueError("optimizers: at most 100000 steps per optimizer in a comparison workbook")
        if (p["optimizer"] != "sgd" or p["schedule"] != "constant") and p["steps"] > 200_000:
            raise ValueError(f"steps: at most 200000 with {p['optimizer']} / {p['schedule']} "
                             "(the reference steps the optimizer in Python)")

    def from_inputs(self, generated: dict[str, Any], inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        params, notes = super().from_inputs(generated, inputs)
        if params["lrs"] is not None:  # one rate cell per run: learning_rate_1, learning_rate_2, ...
            rates = list(params["lrs"])
            for i, old in enumerate(rates):
                value = inputs.get(f"learning_rate_{i + 1}")
                if isinstance(value, float) and value != old:
                    notes.append(f"learning_rate_{i + 1} changed since generation: {old!r} → {value!r}")
                    rates[i] = value
            params["lrs"] = rates
        return params, notes

    # ------------------------------------------------------------------ layout

    def layout(self, p: dict[str, Any]) -> Layout:
        a, b, c = p["a"], p["b"], p["c"]
        rates = p["lrs"]
        single = rates is None and not p.get("optimizers")
        plain = (p.get("optimizer") or "sgd") == "sgd" and (p.get("schedule") or "constant") == "constant"
        title = "Gradient descent on f(x) = a·x² + b·x + c"
        params = SheetLayout("Parameters", widths={1: 34, 2: 14, 3: 62}, tab_color="#4472C4")
        cells = params.cells
        cells.append(Cell(1, 1, title, style="title"))
        cells.append(Cell(2, 1, "Blue cells are inputs: change one and every table recalculates.", style="note"))
        cells += [Cell(3, 1, "parameter", style="header"), Cell(3, 2, "value", style="header"),
                  Cell(3, 3, "note", style="header")]
        row = 4
        hyper = {h.key for h in ALL_HYPER}
        used = used_keys(p)
        for prm in self.params:
            if not prm.in_workbook or (prm.key == "lr" and rates is not None) or (prm.key in hyper and prm.key not in used):
                continue
            if prm.key == "optimizer" and p.get("optimizers"):
                continue
            cells.append(Cell(row, 1, prm.label, style="label"))
            if prm.kind == "str":  # shapes the tables: shown, not an input
                cells.append(Cell(row, 2, str(p[prm.key]), style="result"))
            else:
                cells.append(Cell(row, 2, float(p[prm.key]), name=prm.name, style="input",
                                  number_format=prm.number_format))
            if prm.help:
                cells.append(Cell(row, 3, prm.help, style="note"))
            row += 1
        row += 1
        cells.append(Cell(row, 1, "Derived (formulas)", style="header"))
        cells += [
            Cell(row + 1, 1, "x*, the minimum: −b / 2a", style="label"),
            Cell(row + 1, 2, -b / (2 * a), formula="=-coef_b/(2*coef_a)", name="x_min", style="result",
                 number_format="0.000000"),
            Cell(row + 2, 1, "f(x*), the lowest value: c − b² / 4a", style="label"),
            Cell(row + 2, 2, c - b**2 / (4 * a), formula="=coef_c-coef_b^2/(4*coef_a)", name="f_min",
                 style="result", number_format="0.000000", scale=abs(c) + abs(b**2 / (4 * a))),
        ]
        row += 3
        if single:
            lr = p["lr"]
            if plain:
                cells += [
                    Cell(row, 1, "contraction factor q = 1 − 2aη", style="label"),
                    Cell(row, 2, 1 - 2 * a * lr, formula="=1-2*coef_a*learning_rate", name="contraction",
                         style="result", number_format="0.000000", scale=1 + abs(2 * a * lr)),
                    Cell(row, 3, "|q| < 1 converges; q = −1 cycles; |q| > 1 diverges", style="note"),
                ]
            table = _table(p, lr)
            beside = f"{col_letter(len(table.columns) + 2)}"
            charts = [
                Chart("x_k approaching the minimum x*", [Series("x_k", "Iterations", "x")], y_title="x",
                      anchor=f"{beside}2"),
                Chart("f(x_k) by iteration", [Series("f(x_k)", "Iterations", "fx")], y_title="f(x)",
                      anchor=f"{beside}18"),
            ]
            iterations = SheetLayout("Iterations", table=table, freeze=(2, 2), charts=charts)
            sheets = [params, iterations, self._about(p, single)]
            return Layout(self.name, dict(p), sheets, main_sheet="Iterations", title=title)
        if p.get("optimizers"):
            return self._optimizer_comparison(p, params, title)

        # one sheet per rate, each with the single-run formulas: a sheet-scoped name
        # learning_rate points at that run's rate on the Parameters sheet
        cells.append(Cell(row + 1, 1, "Learning rates compared", style="header"))
        row += 2
        names = [f"η = {lr:g}" for lr in rates]
        if len(set(names)) != len(names):
            names = [f"run {i}" for i in range(1, len(rates) + 1)]
        summary = SheetLayout("Summary", widths={1: 8, 2: 12, 3: 12, 4: 24, 5: 20, 6: 16, 7: 16},
                              freeze=(2, 1), tab_color="#70AD47", heights={1: 45})
        heads = ["run", "η", "q = 1 − 2aη", "behaviour", "steps until |x − x*| < tolerance",
                 "x after the last step", "f(x) after the last step"]
        summary.cells += [Cell(1, j, h, style="header") for j, h in enumerate(heads, start=1)]
        chart = Chart("|x_k − x*| for every learning rate (log scale)", [], y_title="|x − x*|",
                      anchor=f"A{len(rates) + 5}", log_y=True, y_min=1e-12)
        summary.charts.append(chart)
        runs: list[SheetLayout] = []
        last = p["steps"] + 2  # row of the last iteration
        for i, (lr, sheet_name) in enumerate(zip(rates, names), start=1):
            cells.append(Cell(row, 1, f"η of run {i} (sheet {sheet_name})", style="label"))
            cells.append(Cell(row, 2, float(lr), name=f"learning_rate_{i}", style="input"))
            table = _table(p, lr)
            runs.append(SheetLayout(sheet_name, table=table, freeze=(2, 2),
                                    local_names={"learning_rate": f"=Parameters!$B${row}"},
                                    charts=[Chart(f"x_k with η = {lr:g}", [Series("x_k", sheet_name, "x")],
                                                  y_title="x", anchor="I2")]))
            row += 1
            chart.series.append(Series(f"η = {lr:g}", sheet_name, "distance"))
            r = i + 1
            quoted = "'" + sheet_name.replace("'", "''") + "'"
            dist_range = f"{quoted}!$F$2:$F${last}"
            dist = table.columns[5].values
            reached = np.nonzero(dist < p["tolerance"])[0]
            xs, fxs = table.columns[1].values, table.columns[2].values
            summary.cells += [
                Cell(r, 1, float(i), number_format="0"),
                Cell(r, 2, float(lr), formula=f"=learning_rate_{i}", number_format="General"),
                Cell(r, 3, 1 - 2 * a * lr, formula=f"=1-2*coef_a*B{r}", number_format="0.000",
                     scale=1 + abs(2 * a * lr)),
                Cell(r, 4, behaviour(a, lr),
                     formula=f'=IF(ABS(C{r})<1,IF(C{r}<0,"oscillates, converging","converges"),'
                             f'IF(C{r}=-1,"cycles",IF(C{r}=1,"stalls","diverges")))'),
                Cell(r, 5, float(reached[0]) if len(reached) else "not reached",
                     formula=f'=IF(COUNTIF({dist_range},"<"&tolerance)=0,"not reached",'
                             f'COUNTIF({dist_range},">="&tolerance))', number_format="0"),
                Cell(r, 6, xs[-1], formula=f"={quoted}!B{last}", number_format="0.000E+00"),
                Cell(r, 7, fxs[-1], formula=f"={quoted}!C{last}", number_format="0.000E+00",
                     scale=float(table.columns[2].scale[-1]) if table.columns[2].scale is not None else None),
            ]
        summary.cells.append(Cell(len(rates) + 3, 1,
                                  "Each run has its own sheet with the formulas of a single run; on each, "
                                  "the sheet-scoped name learning_rate points at that run's η on the "
                                  "Parameters sheet.", style="note"))
        sheets = [params, summary, *runs, self._about(p, single)]
        return Layout(self.name, dict(p), sheets, main_sheet="Summary", title=title)

    def _optimizer_comparison(self, p: dict[str, Any], params: SheetLayout, title: str) -> Layout:
        """One sheet per optimizer (its own columns, the shared inputs), a summary and one chart."""
        names = p["optimizers"].split(",")
        last = p["steps"] + 2  # row of the last iteration
        summary = SheetLayout("Summary", widths={1: 12, 2: 52, 3: 20, 4: 16, 5: 16}, freeze=(2, 1),
                              tab_color="#70AD47", heights={1: 45})
        heads = ["optimizer", "update", "steps until x stays within the tolerance of x*", "x after the last step",
                 "f(x) after the last step"]
        summary.cells += [Cell(1, j, h, style="header") for j, h in enumerate(heads, start=1)]
        chart = Chart("|x_k − x*| by optimizer (log scale)", [], y_title="|x − x*|", anchor=f"A{len(names) + 5}",
                      log_y=True, y_min=1e-12)
        summary.charts.append(chart)
        runs = []
        for r, name in enumerate(names, start=2):
            table = _table(p, p["lr"], optimizer=name, far=True)
            runs.append(SheetLayout(name, table=table, freeze=(2, 2),
                                    charts=[Chart(f"x_k with {OPTIMIZERS[name].title}", [Series("x_k", name, "x")],
                                                  y_title="x", anchor=f"{col_letter(len(table.columns) + 2)}2")]))
            chart.series.append(Series(OPTIMIZERS[name].title, name, "distance"))
            quoted = "'" + name.replace("'", "''") + "'"
            far_col = col_letter(table.column_index("far"))
            far = table.columns[table.column_index("far") - 1].values
            if not np.all(np.isfinite(far)):
                reached: Any = "diverged"
            elif far.max() > p["steps"]:
                reached = "not reached"
            else:
                reached = float(far.max())
            x_col, fx_col = col_letter(table.column_index("x")), col_letter(table.column_index("fx"))
            xs = table.columns[table.column_index("x") - 1]
            fx = table.columns[table.column_index("fx") - 1]
            rng = f"{quoted}!${far_col}$2:${far_col}${last}"
            summary.cells += [
                Cell(r, 1, name),
                Cell(r, 2, OPTIMIZERS[name].summary),
                Cell(r, 3, reached, formula=f'=IFERROR(IF(MAX({rng})>steps,"not reached",MAX({rng})),"diverged")',
                     number_format="0"),
                Cell(r, 4, float(xs.values[-1]), formula=f"={quoted}!{x_col}{last}", number_format="0.000E+00",
                     scale=float(xs.scale[-1]) if xs.scale is not None else None),
                Cell(r, 5, float(fx.values[-1]), formula=f"={quoted}!{fx_col}{last}", number_format="0.000E+00",
                     scale=float(fx.scale[-1]) if fx.scale is not None else None),
            ]
        summary.cells.append(Cell(len(names) + 3, 1, "Each optimizer has its own sheet: its state columns and its "
                                  "step, from the same inputs on the Parameters sheet.", style="note"))
        sheets = [params, summary, *runs, self._about(p, False)]
        return Layout(self.name, dict(p), sheets, main_sheet="Summary", title=title)

    def _about(self, p: dict[str, Any], single: bool) -> SheetLayout:
        about = SheetLayout("About", widths={1: 22, 2: 100})
        lines: list[tuple[str, str]] = [
            ("What this is", "Gradient descent on f(x) = a·x² + b·x + c, one row per iteration, "
                             "generated by gdsheet. Every number in the tables is a live formula."),
            ("The update", "x_{k+1} = x_k − η·f′(x_k) with f′(x) = 2a·x + b."),
            ("Closed form", "x_k + b/2a = (1 − 2aη)^k · (x₀ + b/2a). With x* = −b/2a: the distance to "
                            "the minimum is multiplied by q = 1 − 2aη every step."),
            ("Convergence", "|q| < 1 converges (oscillating around x* when q < 0, i.e. 1/2a < η < 1/a); "
                            "q = −1 (η = 1/a) cycles between two points; |q| > 1 diverges until the numbers "
                            "overflow and the spreadsheet shows #NUM!."),
            ("Inputs", "The blue cells on the Parameters sheet are named (coef_a, coef_b, coef_c, x_start, "
                       + ("learning_rate" if single else "learning_rate_1, learning_rate_2, …")
                       + ", steps, tolerance): the formulas use these names."),
        ]
        comparing = p.get("optimizers")
        names = comparing.split(",") if comparing else [p.get("optimizer") or "sgd"]
        if names != ["sgd"] or (p.get("schedule") or "constant") != "constant":
            lines[1] = ("The update", "x_{k+1} = x_k − step_k, the step computed by the optimizer from "
                                      "f′(x_k) = 2a·x_k + b and its own state:")
            for name in names:
                opt = OPTIMIZERS[name]
                lines.insert(2, (opt.title, f"{opt.summary}   — {opt.reference()}"))
            schedule = SCHEDULES[p.get("schedule") or "constant"]
            if schedule.formula is not None:
                lines.insert(2, ("Schedule", f"{schedule.name}: {schedule.summary}"))
            lines = [line for line in lines if line[0] not in ("Closed form", "Convergence")]
            if comparing:
                lines[-1] = ("Inputs", "The blue cells on the Parameters sheet are named (coef_a, coef_b, coef_c, "
                                       "x_start, learning_rate and the optimizers' hyperparameters): every "
                                       "optimizer's sheet uses these names.")
        if any(line[0] == "Closed form" for line in lines):
            tiny = [(lr, k) for lr in (p["lrs"] or [p["lr"]])
                    if (k := tiny_power_step(1 - 2 * p["a"] * lr)) is not None and k <= p["steps"]]
            if tiny:
                where = ", ".join(f"k = {k} at η = {lr:g}" for lr, k in tiny)
                lines.append(("In LibreOffice", f"(1 − 2aη)^k drops below 2.2·10⁻³⁰⁸ from {where} on. "
                                                "LibreOffice's ^ shows #NUM! for so small a result, so its closed-"
                                                "form column shows #NUM! from there; Excel shows 0 for the power "
                                                "(the column reads x*), Gnumeric the number. The iterations "
                                                "themselves are not affected."))
        about.cells.append(Cell(1, 1, "About this workbook", style="title"))
        r = 3
        for k, v in lines:
            about.cells.append(Cell(r, 1, k, style="label"))
            about.cells.append(Cell(r, 2, v, style="text"))
            r += 1
        r += 1
        about.cells.append(Cell(r, 1, "Column", style="header"))
        about.cells.append(Cell(r, 2, "Meaning", style="header"))
        r += 1
        shown = _table(dict(p, steps=1), p["lr"] if single or comparing else p["lrs"][0],
                       optimizer=names[-1] if comparing else None)
        for col in shown.columns:
            about.cells.append(Cell(r, 1, col.header, style="label"))
            about.cells.append(Cell(r, 2, col.explanation, style="text"))
            r += 1
        if comparing:
            r += 1
            about.cells.append(Cell(r, 1, "Summary sheet", style="label"))
            about.cells.append(Cell(r, 2, "One row per optimizer: how many steps until x stays within the tolerance "
                                          "of x* (the largest value of the run's last column), and where it ends.",
                                    style="text"))
        elif not single:
            r += 1
            about.cells.append(Cell(r, 1, "Summary sheet", style="label"))
            about.cells.append(Cell(r, 2, "One row per learning rate: the factor 1 − 2aη, the behaviour it "
                                          "implies, and how many steps it takes to come within the tolerance "
                                          "of x* (COUNTIF over the run's distance column).", style="text"))
        return about


EXERCISE = Quadratic()
