"""Row-sparse gradients: what a gather of table rows hands back instead of a dense table-sized array."""
from __future__ import annotations

import numpy as np

from . import kernels

__all__ = ["RowGrad"]


class RowGrad:
    """A row-sparse gradient of a table: `values[i]` belongs to row `rows[i]` (rows may repeat).

    Gathers (embedding lookups) return this instead of a dense (V, D) array, so a batch that touches
    1,000 of 20,000 rows costs 1,000 rows of work. `to_dense()` scatter-adds it when needed. Adding a
    RowGrad joins the two lists of rows; adding it to a dense array scatter-adds into a copy.
    """

    __slots__ = ("rows", "values", "shape", "_coalesced")
    __array_ufunc__ = None  # so `ndarray + RowGrad` comes to __radd__ instead of numpy's broadcasting

    def __init__(self, rows: np.ndarray, values: np.ndarray, shape: tuple[int, ...]):
        self.rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
        self.shape = tuple(shape)
        width = int(np.prod(self.shape[1:], dtype=np.int64))  # explicit, so zero rows reshape too
        self.values = np.ascontiguousarray(values).reshape(len(self.rows), width)
        self._coalesced: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def coalesce(self) -> tuple[np.ndarray, np.ndarray]:
        """(unique rows, summed values): duplicates added together. Cached."""
        if self._coalesced is None:
            self._coalesced = kernels.coalesce_rows(self.rows, self.values, self.shape[0])
        return self._coalesced

    def add_to(self, out: np.ndarray) -> np.ndarray:
        """out[rows[i]] += values[i], in place, for a C-contiguous `out` of the table's shape; returns out."""
        kernels.scatter_add_rows(out.reshape(self.shape[0], -1), self.rows, self.values)  # any rank
        return out

    def to_dense(self) -> np.ndarray:
        return self.add_to(np.zeros(self.shape, dtype=self.values.dtype))

    def __add__(self, other: RowGrad | np.ndarray) -> RowGrad | np.ndarray:
        if isinstance(other, RowGrad):
            return RowGrad(np.concatenate([self.rows, other.rows]),
                           np.concatenate([self.values, other.values]), self.shape)
        return self.add_to(np.array(other, copy=True))

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"RowGrad(rows={len(self.rows)}, shape={self.shape})"
