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
    got = _PURPOSE_IDS.get(purpose) if type(purpose) is str else None
    if got is not None:     # the hooks draw for the same few purposes every step
        return got
    if not purpose:
        raise ValueError("a purpose name is required")
    got = _PLUGIN_PURPOSES + zlib.crc32(purpose.encode())
    if type(purpose) is str and len(_PURPOSE_IDS) < 4096:
        _PURPOSE_IDS[purpose] = got
    return got


#: purpose name -> :func:`purpose_id`, for the names seen (at most 4096 kept)
_PURPOSE_IDS: dict[str, int] = {}


class Draws:
    """Keyed uniforms for one step of one run."""

    __slots__ = ("seed", "step")

    def __init__(self, seed: int, step: int):
        self.seed = int(seed)
        self.step = int(step)

    def uniform(self, lesions, purpose: str, rows: np.ndarray | None = None) -> np.ndarray:
        """One uniform in [0, 1) per row of ``lesions`` (a :class:`paget.state.Lesions`),
        or per row in ``rows`` (indices into ``lesions``): a row's uniform is the
        same either way, keyed by what it is for, so a hook may draw for the rows
        that need one only."""
        uid, patient = lesions.uid, lesions.patient
        if rows is not None:
            uid, patient = uid[rows], patient[rows]
        return kernels.keyed_uniform(self.seed, np.ascontiguousarray(uid), self.step,
                                     purpose_id(purpose),
                                     np.ascontiguousarray(patient, dtype=np.int64))

    def uniform_patients(self, patients, purpose: str) -> np.ndarray:
        """One uniform in [0, 1) per patient (a :class:`paget.state.Patients`)."""
        index = patients.index
        got = _PATIENT_KEYS.get("last")
        if got is not None and got[0] is index:   # the engine's (read-only) index again
            idx, uid = got[1], got[2]
        else:
            idx = np.ascontiguousarray(index, dtype=np.int64)
            uid = idx.astype(np.uint64)
            if isinstance(index, np.ndarray) and isinstance(index.base, bytes):
                _PATIENT_KEYS["last"] = (index, idx, uid)   # immutable: a copy in bytes
        return kernels.keyed_uniform(self.seed, uid, self.step, purpose_id(purpose), idx)


#: the keys of the patients last drawn for, by their index array when it cannot
#: change (the engine's, a copy in ``bytes``): a run draws for them every step
_PATIENT_KEYS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def poisson_quantile(u: np.ndarray, lam) -> np.ndarray:
    """Poisson(``lam``) variates from uniforms ``u`` in [0, 1) by inversion (int64).

    The smallest ``k`` with ``P(X <= k) > u`` (``>= u`` for means above 30;
    the two differ on a set of ``u`` of measure zero).  With keyed uniforms
    (:meth:`Draws.uniform_patients`) the counts depend on what is drawn only.
    Means up to 30 are inverted by summing the pmf, element by element in
    compiled code (``kernels.poisson_quantile_small`` where every mean is up to
    30, ``kernels.poisson_invert_many`` for those of a mix); larger ones
    (where ``exp(-lam)`` would underflow past ~745) by a search from the
    Cornish-Fisher normal approximation, exact against the Poisson cdf
    ``scipy.special.pdtr``.  ``lam == 0`` gives 0.
    """
    # the usual (one count per patient, means up to 30), in one compiled call
    k = kernels.poisson_quantile_small(u, lam)
    if k is not None:
        return k
    u = np.asarray(u, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    if lam.shape != u.shape:
        lam = np.broadcast_to(lam, u.shape)
    # every mean in [0, 30] in another shape or layout: the same compiled call on
    # flat copies (None where a mean is above 30 or NaN)
    k = kernels.poisson_quantile_small(np.ascontiguousarray(u).reshape(-1),
                                       np.ascontiguousarray(lam).reshape(-1))
    if k is not None:
        return k.reshape(u.shape)
    small = (lam > 0) & (lam <= 30.0)
    out = np.zeros(u.shape, np.int64)
    if np.count_nonzero(small):
        # the walk stops at 200: the tail beyond 30 + 20 sd of a mean <= 30 is
        # below 1e-80, so a uniform above the summed cdf there is rounding, not a draw
        ll = np.ascontiguousarray(lam[small])
        out[small] = kernels.poisson_invert_many(np.ascontiguousarray(u[small]), ll,
                                                 np.exp(-ll))
    large = lam > 30.0
    if np.count_nonzero(large):
        out[large] = _poisson_quantile_search(u[large], lam[large])
    return out


def _poisson_quantile_search(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The smallest ``k`` with ``pdtr(k, lam) >= u``, for means above 30.

    The start ``lam + sqrt(lam) z + (z**2 - 1) / 6`` (Cornish-Fisher, ``z`` the
    normal quantile of ``u``) was within one count of the answer in 5·10^5
    tries with means of 30 to 10^6, so the steps below run once or twice.  (For
    means of ~10^8 ``pdtr`` itself is off by ~10^-6 in its far tail, and the
    search follows it.)  Replaces ``scipy.stats.poisson.ppf``, which gave the
    same counts for means up to 10^4 in 6·10^5 tries, but costs ~80 µs a call
    and ~130 µs a value (``pdtrik``'s root search; one large patient paid it
    every step), returned a count off by 30 for a mean of 1.1·10^7 and none at
    all (NaN) past ~10^9.
    """
    from scipy import special
    k = np.zeros(u.shape)
    pos = np.flatnonzero(u > 0)                # u = 0: the smallest count, 0
    z = special.ndtri(u[pos])
    k[pos] = np.maximum(np.floor(lam[pos] + np.sqrt(lam[pos]) * z + (z * z - 1.0) / 6.0), 0.0)
    low = special.pdtr(k, lam) < u             # P(X <= k) < u: k is too small
    # past 2**52 a step of one count is lost to rounding (k + 1 == k from 2**53):
    # those means keep the start, within ~1e-8 of the count
    low &= lam < 2.0**52
    todo = np.flatnonzero(low)
    while todo.size:
        k[todo] += 1.0
        todo = todo[special.pdtr(k[todo], lam[todo]) < u[todo]]
    todo = np.flatnonzero(~low & (k > 0) & (lam < 2.0**52))
    todo = todo[special.pdtr(k[todo] - 1.0, lam[todo]) >= u[todo]]
    while todo.size:                           # P(X <= k - 1) >= u: k is too large
        k[todo] -= 1.0
        todo = todo[k[todo] > 0]
        todo = todo[special.pdtr(k[todo] - 1.0, lam[todo]) >= u[todo]]
    return k.astype(np.int64)
