"""Structure-of-arrays state of a rank: the lesion table, per-step rates, patients."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from .ext.kernels import FLAG_DORMANT, FLAG_PRIMARY

__all__ = ["LesionTable", "Lesions", "Rates", "Patients", "FateMatrix"]


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

    def view(self, t_of_step) -> "Lesions":
        flags = self.flags
        return Lesions(
            uid=_ro(self.uid), parent=_ro(self.parent), patient=_ro(self.patient),
            organ=_ro(self.organ), clone=_ro(self.clone), cells=_ro(self.cells),
            dormant=_ro((flags & FLAG_DORMANT) != 0), primary=_ro((flags & FLAG_PRIMARY) != 0),
            birth_time=_ro(t_of_step(self.birth_step)),
        )


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True)
class Lesions:
    """Read-only per-row arrays handed to hooks (see :mod:`paget.hookspecs`)."""

    uid: np.ndarray
    parent: np.ndarray
    patient: np.ndarray
    organ: np.ndarray
    clone: np.ndarray
    cells: np.ndarray
    dormant: np.ndarray
    primary: np.ndarray
    birth_time: np.ndarray

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
    BOUNDS = {"invasive": (0.0, 1.0), "lymph_fraction": (0.0, 1.0), "shed": (0.0, np.inf),
              "birth": (0.0, np.inf), "death": (0.0, np.inf), "reactivation": (0.0, np.inf),
              "dormant_death": (0.0, np.inf)}

    @classmethod
    def neutral(cls, n: int) -> "Rates":
        arrays = {}
        for f in fields(cls):
            v = cls.NEUTRAL[f.name]
            arrays[f.name] = np.full(n, v, dtype=bool if isinstance(v, bool) else np.float64)
        return cls(**arrays)

    def check(self, hook_of: dict[str, str]) -> None:
        """Refuse NaN, inf and out-of-range values, naming the hook that set them."""
        for name, (lo, hi) in self.BOUNDS.items():
            a = getattr(self, name)
            if a.size and not (np.all(np.isfinite(a)) and a.min() >= lo and a.max() <= hi):
                bad = a[~(np.isfinite(a) & (a >= lo) & (a <= hi))][:3]
                raise ValueError(f"rates.{name} (set in hook {hook_of[name]}) has values "
                                 f"outside [{lo}, {hi}] or not finite, e.g. {bad.tolist()}")


@dataclass(frozen=True)
class Patients:
    """Read-only per-patient arrays handed to hooks."""

    index: np.ndarray   # int64, cohort index of each of this rank's patients
    alive: np.ndarray   # bool
    burden: np.ndarray  # float64, total tumour cells

    def __len__(self) -> int:
        return len(self.index)
