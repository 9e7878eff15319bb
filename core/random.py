"""Keyed random numbers for plugins.

A plugin that needs a random decision per row (an angiogenic switch, a choice
of alteration) must not use a generator of its own: its draws would depend on
how rows are spread over ranks and on the order of calls.  ``Draws`` gives
each row a uniform from the same Philox stream family as the kernels, keyed by
(seed, row uid, step, purpose, patient), where ``purpose`` is a name the
plugin chooses, hashed to a 32-bit id above the engine's own purposes.
"""
from __future__ import annotations

import zlib

import numpy as np

from .ext import kernels

__all__ = ["Draws", "purpose_id", "poisson_quantile"]

_PLUGIN_PURPOSES = 1 << 32  # engine purposes are small integers below this


def purpose_id(purpose: str) -> int:
    """A stable 64-bit id for a plugin's purpose name (CRC-32, offset)."""
    if not purpose:
        raise ValueError("a purpose name is required")
    return _PLUGIN_PURPOSES + zlib.crc32(purpose.encode())


class Draws:
    """Keyed uniforms for one step of one run."""

    __slots__ = ("seed", "step")

    def __init__(self, seed: int, step: int):
        self.seed = int(seed)
        self.step = int(step)

    def uniform(self, lesions, purpose: str) -> np.ndarray:
        """One uniform in [0, 1) per row of ``lesions`` (a :class:`paget.state.Lesions`)."""
        return kernels.keyed_uniform(self.seed, np.ascontiguousarray(lesions.uid), self.step,
                                     purpose_id(purpose),
                                     np.ascontiguousarray(lesions.patient, dtype=np.int64))

    def uniform_patients(self, patients, purpose: str) -> np.ndarray:
        """One uniform in [0, 1) per patient (a :class:`paget.state.Patients`)."""
        idx = np.ascontiguousarray(patients.index, dtype=np.int64)
        return kernels.keyed_uniform(self.seed, idx.astype(np.uint64), self.step,
                                     purpose_id(purpose), idx)


def poisson_quantile(u: np.ndarray, lam) -> np.ndarray:
    """Poisson(``lam``) variates from uniforms ``u`` in [0, 1) by inversion (int64).

    The smallest ``k`` with ``P(X <= k) > u``.  With keyed uniforms
    (:meth:`Draws.uniform_patients`) the counts depend on what is drawn only.
    Means up to 30 are inverted here by summing the pmf (one vectorized pass
    per count, a few passes for the small means of readouts); larger ones by
    SciPy's quantile (``exp(-lam)`` underflows past ~745).  ``lam == 0`` gives 0.
    """
    u = np.asarray(u, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
    out = np.zeros(u.shape, np.int64)
    small = (lam > 0) & (lam <= 30.0)
    if small.any():
        uu, ll = u[small], lam[small]
        k = np.zeros(uu.shape, np.int64)
        pmf = np.exp(-ll)
        cdf = pmf.copy()
        todo = np.flatnonzero(uu >= cdf)
        j = 0
        while todo.size:
            j += 1
            pmf[todo] *= ll[todo] / j
            cdf[todo] += pmf[todo]
            k[todo] = j
            # the tail beyond 30 + 20 sd of a mean <= 30 is below 1e-80: a
            # uniform above the summed cdf there is rounding, not a draw
            todo = todo[(uu[todo] >= cdf[todo]) & (j < 200)]
        out[small] = k
    large = lam > 30.0
    if large.any():
        from scipy import stats
        out[large] = stats.poisson.ppf(u[large], lam[large]).astype(np.int64)
    return out
