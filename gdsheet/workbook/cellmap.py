"""A ``(row, col) -> value`` mapping whose long columns live in numpy arrays.

Why not a plain dict: a filled-down iteration table is millions of cells in a
few columns.  As dict entries (a tuple key, a float object, a hash slot) a
1,000,000-row quadratic sheet of 7 columns cost 2.8 GB when read; as one
float64 array per column it costs 56 MB.  The mapping keeps the dict interface
every layer already uses (``get``, ``in``, ``items``, assignment), so scattered
cells -- headers, parameters, a Summary sheet -- still sit in an ordinary dict
(``extra``), while columns the reader hands over in bulk become :class:`Block` objects:

* a **float block** holds numbers, NaN marking "no number here" (a spreadsheet
  cell never holds NaN, so the marker cannot collide with a value);
* an **object block** holds small integer indices into a table of shared
  objects (``-1``: nothing) -- the formulas of a filled-down column, which
  are one :class:`~gdsheet.workbook.model.Formula` object per shared group.

Lookups check ``extra`` first, so a cell stored there hides the block's slot.
Iteration is row-major, as a reader produces cells.  Bulk consumers (the
verifier, the column evaluator) read blocks directly with :meth:`column`.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import numpy as np

Key = tuple[int, int]
_M = object()

#: a column becomes a block when it has at least this many cells, spread over at most
#: ``SPREAD`` times as many rows (else its cells stay dict entries)
MIN_BLOCK = 16
SPREAD = 4


class Block:
    """One column's cells from row ``start`` on: floats (NaN = none) or object indices (-1 = none)."""

    __slots__ = ("start", "data", "objs")

    def __init__(self, start: int, data: np.ndarray, objs: list[Any] | None) -> None:
        self.start = start
        self.data = data
        self.objs = objs  # None: a float block

    @property
    def stop(self) -> int:
        return self.start + len(self.data)

    def present(self) -> np.ndarray:
        return ~np.isnan(self.data) if self.objs is None else self.data >= 0

    def get(self, row: int, default: Any = None) -> Any:
        i = row - self.start
        if i < 0 or i >= len(self.data):
            return default
        x = self.data.item(i)
        if self.objs is None:
            return x if x == x else default
        return self.objs[x] if x >= 0 else default

    def clear(self, row: int) -> bool:
        """Empty the slot of ``row``; True when it held something."""
        i = row - self.start
        if i < 0 or i >= len(self.data):
            return False
        if self.objs is None:
            had = self.data[i] == self.data[i]
            self.data[i] = np.nan
        else:
            had = self.data[i] >= 0
            self.data[i] = -1
        return bool(had)


class CellMap(MutableMapping[Key, Any]):
    """See the module docstring."""

    __slots__ = ("extra", "blocks")

    def __init__(self, data: Any = None) -> None:
        self.extra: dict[Key, Any] = {}
        self.blocks: dict[int, Block] = {}
        if data:
            self.extra.update(data)

    # -- bulk
    def set_column(self, col: int, rows: np.ndarray, values: np.ndarray | list[Any],
                   table: list[Any] | None = None) -> None:
        """Store many cells of one column (rows in any order).  Numbers (a float64 array)
        make a float block; objects make an object block, given either as a list or, with
        ``table``, as an integer array of indices into ``table``.  A column too sparse for
        a block goes to ``extra``.  Replaces the column's existing block."""
        rows = np.asarray(rows)
        n = len(rows)
        if n == 0:
            return
        if table is None and not isinstance(values, np.ndarray):
            objs = {id(v): v for v in values}  # first appearance order = index order below
            index = dict(zip(objs, range(len(objs))))
            values = np.fromiter(map(index.__getitem__, map(id, values)), dtype=np.int32, count=n)
            table = list(objs.values())
        lo, hi = int(rows.min()), int(rows.max())
        old = self.blocks.pop(col, None)
        if old is not None:  # keep what was there as dict entries; the new cells win below
            self.extra.update(((r, col), v) for r, v in _block_items(old))
        if n < MIN_BLOCK or hi - lo + 1 > SPREAD * n:
            items = values.tolist() if table is None else [table[i] for i in values.tolist()]
            self.extra.update(zip(zip(rows.tolist(), [col] * n), items))
            return
        if table is None:
            data = np.full(hi - lo + 1, np.nan)
            data[rows - lo] = values
        else:
            data = np.full(hi - lo + 1, -1, dtype=np.int32)
            data[rows - lo] = values
        block = Block(lo, data, table)
        for key in [k for k in self.extra if k[1] == col and lo <= k[0] <= hi]:
            if block.get(key[0], _M) is not _M:
                del self.extra[key]  # the new cell replaces it; else it stays, the slot empty
        self.blocks[col] = block

    def set_block(self, col: int, start: int, data: np.ndarray, table: list[Any] | None = None) -> None:
        """Install a whole column block: ``data`` float64 (NaN = empty) or, with ``table``,
        int32 indices into it (-1 = empty), its first entry at row ``start``.  The caller
        gives up ``data``.  A block with too few cells goes to ``extra`` instead."""
        present = ~np.isnan(data) if table is None else data >= 0
        n = int(present.sum())
        if n < MIN_BLOCK or len(data) > SPREAD * n:
            rows = np.flatnonzero(present) + start
            self.set_column(col, rows, data[present], table)
            return
        old = self.blocks.pop(col, None)
        if old is not None:
            self.extra.update(((r, col), v) for r, v in _block_items(old))
        block = Block(start, data, table)
        for key in [k for k in self.extra if k[1] == col and start <= k[0] < start + len(data)]:
            if block.get(key[0], _M) is not _M:
                del self.extra[key]
        self.blocks[col] = block

    def column(self, col: int) -> Block | None:
        return self.blocks.get(col)

    def numbers(self, col: int, rows: range) -> np.ndarray | None:
        """Rows ``rows`` of a float block as an array when each of them holds a number
        there (none hidden by ``extra``); else None."""
        block = self.blocks.get(col)
        if block is None or block.objs is not None or rows.step != 1 or rows.start < block.start \
                or rows.stop > block.stop:
            return None
        part = block.data[rows.start - block.start:rows.stop - block.start]
        if np.isnan(part).any():
            return None
        if self.extra and any(k[1] == col and rows.start <= k[0] < rows.stop for k in self.extra):
            return None
        return part

    def codes(self, col: int, rows: range) -> tuple[np.ndarray, list[Any]] | None:
        """Rows ``rows`` of an object block as (indices into its table, -1 for empty; the table),
        when the block covers them and no ``extra`` entry hides a slot; else None.  Lets a
        caller judge each distinct object of a 1,000,000-row column once, not once per row."""
        block = self.blocks.get(col)
        if block is None or block.objs is None or rows.step != 1 or rows.start < block.start \
                or rows.stop > block.stop:
            return None
        if self.extra and any(k[1] == col and rows.start <= k[0] < rows.stop for k in self.extra):
            return None
        return block.data[rows.start - block.start:rows.stop - block.start], block.objs

    def column_values(self, col: int, rows: range) -> list[Any]:
        """``[self.get((r, col)) for r in rows]``, sliced from the block where it can be."""
        block = self.blocks.get(col)
        extra = self.extra
        if block is None or rows.step != 1:
            return [extra.get((r, col)) for r in rows]
        lo, hi = max(rows.start, block.start), min(rows.stop, block.stop)
        out: list[Any]
        if lo >= hi:
            out = [None] * len(rows)
        else:
            part = block.data[lo - block.start:hi - block.start]
            if block.objs is None:
                vals = part.tolist()
                if np.isnan(part).any():
                    vals = [None if v != v else v for v in vals]
            else:
                objs = block.objs
                vals = [objs[i] if i >= 0 else None for i in part.tolist()]
            out = [None] * (lo - rows.start) + vals + [None] * (rows.stop - hi)
        if extra:
            if len(extra) < len(rows):
                for (r, c), v in extra.items():
                    if c == col and rows.start <= r < rows.stop:
                        out[r - rows.start] = v
            else:
                for r in rows:
                    v = extra.get((r, col), _M)
                    if v is not _M:
                        out[r - rows.start] = v
        return out

    # -- mapping
    def __getitem__(self, key: Key) -> Any:
        v = self.extra.get(key, _M)
        if v is not _M:
            return v
        block = self.blocks.get(key[1])
        if block is not None:
            v = block.get(key[0], _M)
            if v is not _M:
                return v
        raise KeyError(key)

    def get(self, key: Key, default: Any = None) -> Any:
        v = self.extra.get(key, _M)
        if v is not _M:
            return v
        if self.blocks:
            block = self.blocks.get(key[1])
            if block is not None:
                return block.get(key[0], default)
        return default

    def __contains__(self, key: object) -> bool:
        if key in self.extra:
            return True
        if not self.blocks or not isinstance(key, tuple):
            return False
        block = self.blocks.get(key[1])
        return block is not None and block.get(key[0], _M) is not _M

    def __setitem__(self, key: Key, value: Any) -> None:
        block = self.blocks.get(key[1]) if self.blocks else None
        if block is not None and block.start <= key[0] < block.stop:
            if block.objs is None and value.__class__ is float and value == value:
                self.extra.pop(key, None)
                block.data[key[0] - block.start] = value
                return
            block.clear(key[0])
        self.extra[key] = value

    def __delitem__(self, key: Key) -> None:
        found = self.extra.pop(key, _M) is not _M
        block = self.blocks.get(key[1]) if self.blocks else None
        if block is not None and block.clear(key[0]):
            found = True
        if not found:
            raise KeyError(key)

    def __len__(self) -> int:
        return len(self.extra) + sum(int(b.present().sum()) for b in self.blocks.values())

    def __iter__(self) -> Iterator[Key]:
        if not self.blocks:
            return iter(sorted(self.extra) if not _row_major(self.extra) else list(self.extra))
        rows = [np.fromiter((k[0] for k in self.extra), dtype=np.int64, count=len(self.extra))]
        cols = [np.fromiter((k[1] for k in self.extra), dtype=np.int64, count=len(self.extra))]
        for col, block in self.blocks.items():
            r = np.flatnonzero(block.present()) + block.start  # never also in extra (see set_column)
            rows.append(r)
            cols.append(np.full(len(r), col, dtype=np.int64))
        rr, cc = np.concatenate(rows), np.concatenate(cols)
        order = np.lexsort((cc, rr))
        return zip(rr[order].tolist(), cc[order].tolist())

    def clear(self) -> None:
        self.extra.clear()
        self.blocks.clear()

    def update(self, other: Any = (), /, **kw: Any) -> None:  # type: ignore[override]
        if not self.blocks:  # the dict's own update: no Python step per item
            self.extra.update(other, **kw)
            return
        super().update(other, **kw)

    def __repr__(self) -> str:
        return f"CellMap({len(self.extra)} cells + {len(self.blocks)} column blocks)"


def present(cells: Any, col: int, rows: range) -> np.ndarray:
    """Which of ``rows`` (step 1) hold something in column ``col`` of ``cells`` -- a CellMap
    (its block sliced, then its dict entries) or a plain dict."""
    mask = np.zeros(len(rows), dtype=bool)
    extra = cells
    if isinstance(cells, CellMap):
        block = cells.column(col)
        if block is not None:
            a, b = max(rows.start, block.start), min(rows.stop, block.stop)
            if a < b:
                mask[a - rows.start:b - rows.start] = block.present()[a - block.start:b - block.start]
        extra = cells.extra
    for r, c in extra:
        if c == col and rows.start <= r < rows.stop:
            mask[r - rows.start] = True
    return mask


def column_of(cells: Any, col: int, rows: range, numbers: bool = False) -> Any:
    """The cells of ``rows`` in column ``col`` (None where empty) of a CellMap or a plain dict;
    ``numbers=True``: a float64 array instead when every one of them is a number in a block."""
    if isinstance(cells, CellMap):
        if numbers:
            arr = cells.numbers(col, rows)
            if arr is not None:
                return arr
        return cells.column_values(col, rows)
    return [cells.get((r, col)) for r in rows]


def _row_major(d: dict[Key, Any]) -> bool:
    prev = (0, 0)
    for k in d:
        if k < prev:
            return False
        prev = k
    return True


def _block_items(block: Block) -> Iterator[tuple[int, Any]]:
    for i in np.flatnonzero(block.present()).tolist():
        yield block.start + i, block.get(block.start + i)
