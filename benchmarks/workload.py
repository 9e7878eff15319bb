"""A realistic lesion table for the kernel benchmarks.

Row classes (shuffled, as rows of a real table are interleaved by when they
were founded):

* ``small``   -- young colonies, 1-20 cells, geometric (mean ~4);
* ``medium``  -- 3 % of rows, log-uniform 1e3-1e6 cells;
* ``large``   -- a handful (n // 100000, at least 3), log-uniform 1e9-1e11 cells;
* ``dormant`` -- 5 % of rows, pools of solitary dormant cells (flag DORMANT set),
  1-50 cells, reactivating at 1e-9/day and dying at 1e-3/day.

Growing rows take the per-cell rates the default Gompertz law gives
(``paget.plugins.colonization``: rate 6e-4/day, capacity 3e12 cells, turnover
d0 = 0.02/day): ``b = d0 + max(g, 0)``, ``d = d0 + max(-g, 0)`` with ``g`` the
step-averaged net rate of :func:`~paget.plugins.colonization.step_net_rate`,
and shed ``9.3e-3 N**(2/3)`` CTC/day (the default intravasation).  Step h = 1 day.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paget.ext import kernels
from paget.plugins.colonization import step_net_rate

__all__ = ["Workload", "make_workload", "CLASSES"]

#: Row classes, in the order of their integer labels.
CLASSES = ("small", "medium", "large", "dormant")

GOMPERTZ_RATE = 6e-4      # 1/day
CAPACITY = 3e12           # cells
TURNOVER = 0.02           # 1/day
SHED_RATE = 9.3e-3        # CTC/day per cell**(2/3)
SHED_EXPONENT = 2.0 / 3.0
REACTIVATION = 1e-9       # 1/day
DORMANT_DEATH = 1e-3      # 1/day


@dataclass
class Workload:
    """The arrays of one ``kernels.step_rows`` call (``cells`` is modified in place)."""

    cells: np.ndarray          # float64, whole numbers
    flags: np.ndarray          # uint8
    uid: np.ndarray            # uint64
    patient: np.ndarray        # int64
    birth: np.ndarray          # float64, 1/day (reactivation for dormant rows)
    death: np.ndarray          # float64, 1/day (dormant death for dormant rows)
    shed_rate: np.ndarray      # float64, CTC/day
    deterministic: np.ndarray  # uint8
    label: np.ndarray          # int8, index into CLASSES
    h: float = 1.0
    seed: int = 1

    def __len__(self) -> int:
        return self.cells.size

    def step_kernel(self, step: int, shed_out: np.ndarray, react_out: np.ndarray) -> None:
        """One ``kernels.step_rows`` call on this table (cells change in place)."""
        kernels.step_rows(self.cells, self.flags, self.uid, self.patient, self.birth,
                          self.death, self.shed_rate, self.deterministic, self.h, self.seed,
                          step, shed_out, react_out)


def make_workload(n: int, seed: int = 20240601, h: float = 1.0, patients: int = 1000,
                  large_max: float = 1e11) -> Workload:
    """A shuffled table of ``n`` rows with the class mix and rates described above."""
    rng = np.random.default_rng(seed)
    n_large = min(n, max(3, n // 100_000))
    n_medium = min(n - n_large, int(round(0.03 * n)))
    n_dormant = min(n - n_large - n_medium, int(round(0.05 * n)))
    n_small = n - n_large - n_medium - n_dormant
    label = np.repeat(np.arange(4, dtype=np.int8), [n_small, n_medium, n_large, n_dormant])
    label = label[rng.permutation(n)]

    cells = np.empty(n)
    small, medium = label == 0, label == 1
    large, dormant = label == 2, label == 3
    cells[small] = np.minimum(rng.geometric(0.25, n_small), 20)
    cells[medium] = np.floor(10.0 ** rng.uniform(3.0, 6.0, n_medium))
    cells[large] = np.floor(10.0 ** rng.uniform(9.0, np.log10(large_max), n_large))
    cells[dormant] = np.minimum(rng.geometric(0.15, n_dormant), 50)

    grows = ~dormant
    g = step_net_rate("gompertz", np.maximum(cells, 1.0), GOMPERTZ_RATE,
                      np.full(n, CAPACITY), h)
    birth = np.where(grows, TURNOVER + np.maximum(g, 0.0), REACTIVATION)
    death = np.where(grows, TURNOVER + np.maximum(-g, 0.0), DORMANT_DEATH)
    shed_rate = np.where(grows, SHED_RATE * cells ** SHED_EXPONENT, 0.0)
    flags = np.where(dormant, kernels.FLAG_DORMANT, 0).astype(np.uint8)
    uid = rng.integers(1, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    patient = np.sort(rng.integers(0, patients, size=n)).astype(np.int64)
    return Workload(cells=cells, flags=flags, uid=uid, patient=patient, birth=birth,
                    death=death, shed_rate=shed_rate,
                    deterministic=np.zeros(n, np.uint8), label=label, h=h)
