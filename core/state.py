"""Structure-of-arrays state of a rank: the lesion table, per-step rates, patients."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from .ext.kernels import FLAG_DORMANT, FLAG_PRIMARY

__all__ = ["LesionTable", "Lesions", "Rates", "Patients", "FateMatrix", "out_of_bounds"]


class FateMatrix(NamedTuple):
    """Absorbing fates of a CTC (see ``paget_fate_matrix``)."""

    blood: np.ndarray  # (n_organs, n_organs + 1)
    lymph: np.ndarray  # (n_organs + 1,)


#: Columns of the lesion table and their dtypes: 43 bytes per row.
COLUMNS: dict[str, np.dtype] = {
    "uid": np.dtype(np.uint64),
    "parent": np.dtype(np.uint64),
    "cells": np.dtype(np.float64),
    "patient": np.dtype(np.int64),
    "birth_step": np.dtype(np.int32),
    "clone": np.dtype(np.int32),
    "organ": np.dtype(np.int16),
    "flags": np.dtype(np.uint8),
}


class LesionTable:
    """Growable structure-of-arrays of every lesion a rank owns.

    Rows ``[0, n)`` are live.  ``append`` grows the buffers geometrically;
    ``compact`` drops rows whose ``cells`` reached 0, keeping the order of the
    others (row order never affects a result: every draw is keyed by uid).
    """

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._cap = max(int(capacity), 16)
        self._data = {k: np.zeros(self._cap, dtype=dt) for k, dt in COLUMNS.items()}

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:
        data = self.__dict__.get("_data")
        if data is not None and name in data:
            return data[name][: self.n]
        raise AttributeError(name)

    @property
    def nbytes_per_row(self) -> int:
        return sum(dt.itemsize for dt in COLUMNS.values())

    def append(self, **cols: np.ndarray) -> None:
        m = len(cols["uid"])
        if m == 0:
            return
        if set(cols) != set(COLUMNS):
            raise ValueError(f"append needs every column: {sorted(COLUMNS)}")
        need = self.n + m
        if need > self._cap:
            cap = max(need, 2 * self._cap)
            for k, arr in self._data.items():
                new = np.zeros(cap, dtype=arr.dtype)
                new[: self.n] = arr[: self.n]
                self._data[k] = new
            self._cap = cap
        for k, v in cols.items():
            self._data[k][self.n: need] = v
        self.n = need

    def take(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows selected by a boolean mask or index array."""
        return {k: arr[: self.n][keep].copy() for k, arr in self._data.items()}

    def compact(self, keep: np.ndarray) -> None:
        """Keep only the rows selected by the boolean mask ``keep``."""
        m = int(np.count_nonzero(keep))
        if m == self.n:
            return
        for k, arr in self._data.items():
            arr[:m] = arr[: self.n][keep]
        self.n = m

    def view(self, dt: float) -> "Lesions":
        """Read-only views of the live rows, for hooks (``dt`` converts steps to days)."""
        return Lesions(self, dt)


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Lesions:
    """Read-only per-row arrays handed to hooks (see :mod:`paget.hookspecs`).

    Derived arrays (``dormant``, ``primary``, ``birth_time``) are computed on
    first access, so a hook pays only for what it reads.
    """

    __slots__ = ("uid", "parent", "patient", "organ", "clone", "cells", "_flags",
                 "_birth_step", "_dt", "_cache")

    def __init__(self, table: "LesionTable", dt: float):
        self.uid = _ro(table.uid)
        self.parent = _ro(table.parent)
        self.patient = _ro(table.patient)
        self.organ = _ro(table.organ)
        self.clone = _ro(table.clone)
        self.cells = _ro(table.cells)
        self._flags = table.flags
        self._birth_step = table.birth_step
        self._dt = dt
        self._cache: dict[str, np.ndarray] = {}

    def _derived(self, name: str, make) -> np.ndarray:
        a = self._cache.get(name)
        if a is None:
            a = self._cache[name] = _ro(make())
        return a

    @property
    def dormant(self) -> np.ndarray:
        """bool: the row is a pool of solitary dormant cells."""
        return self._derived("dormant", lambda: (self._flags & FLAG_DORMANT) != 0)

    @property
    def primary(self) -> np.ndarray:
        """bool: the row is its patient's primary tumour."""
        return self._derived("primary", lambda: (self._flags & FLAG_PRIMARY) != 0)

    @property
    def birth_time(self) -> np.ndarray:
        """float64, days: when the row was founded."""
        return self._derived("birth_time", lambda: self._birth_step * self._dt)

    def __len__(self) -> int:
        return len(self.uid)


@dataclass
class Rates:
    """Per-row rates a step's hooks fill; each starts at its neutral value."""

    invasive: np.ndarray        # dimensionless, [0, 1]; neutral 1
    shed: np.ndarray            # CTC/day; neutral 0
    lymph_fraction: np.ndarray  # dimensionless, [0, 1]; neutral 0
    birth: np.ndarray           # 1/day; neutral 0
    death: np.ndarray           # 1/day; neutral 0
    deterministic: np.ndarray   # bool; neutral False
    reactivation: np.ndarray    # 1/day, dormant pools; neutral 0
    dormant_death: np.ndarray   # 1/day, dormant pools; neutral 0

    NEUTRAL = {"invasive": 1.0, "shed": 0.0, "lymph_fraction": 0.0, "birth": 0.0,
               "death": 0.0, "deterministic": False, "reactivation": 0.0,
               "dormant_death": 0.0}

    @classmethod
    def neutral(cls, n: int, buffers: dict[str, np.ndarray] | None = None) -> "Rates":
        """Rates of ``n`` rows at their neutral values.

        With ``buffers`` (a dict kept by the caller) the arrays are views of
        buffers grown as needed, so a step allocates nothing; the Rates object
        itself is new each step, so a hook that rebinds an attribute affects
        only that step.
        """
        arrays = {}
        for f in fields(cls):
            v = cls.NEUTRAL[f.name]
            dtype = bool if isinstance(v, bool) else np.float64
            if buffers is None:
                arrays[f.name] = np.full(n, v, dtype=dtype)
                continue
            buf = buffers.get(f.name)
            if buf is None or buf.size < n:
                buf = buffers[f.name] = np.empty(max(n, 2 * (0 if buf is None else buf.size)),
                                                 dtype=dtype)
            view = buf[:n]
            view.fill(v)
            arrays[f.name] = view
        return cls(**arrays)


def out_of_bounds(a: np.ndarray, lo: float, hi: float) -> bool:
    """True if ``a`` holds NaN, +-inf or a value outside [lo, hi] (two reductions)."""
    if a.size == 0:
        return False
    if a.dtype == bool:
        return False
    amin, amax = a.min(), a.max()
    # NaN fails both comparisons; inf fails the finite test
    return not (amin >= lo and amax <= hi and np.isfinite(amin) and np.isfinite(amax))


@dataclass(frozen=True)
class Patients:
    """Read-only per-patient arrays handed to hooks."""

    index: np.ndarray   # int64, cohort index of each of this rank's patients
    alive: np.ndarray   # bool
    burden: np.ndarray  # float64, total tumour cells

    def __len__(self) -> int:
        return len(self.index)
