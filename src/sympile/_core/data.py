"""Data: NumPy arrays that a graph holds as constants with a data (points) axis.

A model evaluated over data and reduced (a likelihood, a least-squares loss) is a per-point
graph plus a sum over the data axis, never one scalar node per data point. The per-point
graph reads the data through ``data`` leaves, whose attr is a `Data`: a read-only array whose
leading axis runs over the points (a column of ``N`` values, or, for the matrices that the
emission passes make, an ``N``-column table). A `Data` hashes and compares by content, so
hash-consing shares equal columns and a graph's content hash covers the values.
"""

from __future__ import annotations

import hashlib

import numpy as np


class Data:
    """A read-only float64 (or complex128) array, compared and hashed by its content."""

    __slots__ = ("values", "digest", "_hash")

    def __init__(self, values):
        a = np.asarray(values)
        a = np.array(a, dtype=np.complex128 if a.dtype.kind == "c" else np.float64, order="C")
        a.flags.writeable = False
        self.values = a
        self.digest = hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()[:24]
        self._hash = hash(self.digest)

    @property
    def points(self) -> int:
        """The number of points: the length of the leading axis."""
        return self.values.shape[0]

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, Data) and other.digest == self.digest

    def __repr__(self) -> str:
        return f"Data({self.values.shape}, {self.digest})"

    def __reduce__(self):
        return (Data, (self.values,))


__all__ = ["Data"]
