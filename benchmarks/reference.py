"""The step of ``paget.ext.kernels.step_rows`` in plain vectorized NumPy.

This module is both a readable reference for what the compiled kernel does to
each row of the lesion table in one step of length ``h`` days, and the baseline
the kernel's speed is compared with.  It draws the same variates per row from
the same distributions; only the source of randomness differs (one
``numpy.random.Generator`` for the whole table here, a keyed Philox stream per
row in the kernel), so the two agree in distribution, not draw for draw.

For a row with ``N`` cells (skipped when ``N <= 0``), per-cell rates ``b``, ``d``
(1/day) and shedding rate ``s`` (CTC/day):

Growing row, stochastic (the exact linear birth-death step, Kendall 1948)::

    x     = expm1((b - d) h) / (b - d)        (-> h when |(b - d) h| < 1e-12)
    alpha = d x / (b x + 1)                   P(a cell's lineage is extinct at h)
    beta  = b x / (b x + 1)                   1 - beta = 1 / (b x + 1), not a subtraction
    K     = N - Binomial(N, alpha)            surviving lineages
    N'    = K + NegativeBinomial(K, 1 - beta) if K > 0 and beta > 0, else K
    (N' = N unchanged when b <= 0 and d <= 0; N' = inf when the mean growth
    K beta / (1 - beta) exceeds 1e15, past exact counting, which the engine refuses)

Growing row, deterministic: ``N' = N exp((b - d) h)``.

Then shedding, for growing rows with ``s h > 0`` and ``N' >= 1``::

    shed  = min(Poisson(s h), floor(N'))      N' -= shed

Dormant row (flag DORMANT; ``b`` is the reactivation rate, ``d`` the death rate,
competing risks; skipped when ``b + d <= 0``)::

    left  = Binomial(N, 1 - exp(-(b + d) h))  cells leaving the pool
    react = Binomial(left, b / (b + d))       of which reactivated
    N'    = N - left

NumPy's ``negative_binomial`` rejects ``n = 0``, and ``binomial`` needs whole
``n``, so the rows are split by boolean masks and each distribution is drawn
only over the rows where the kernel draws it.  Cell counts are cast to int64
by truncation, as the kernel's ``<int64_t>n`` does.
"""
from __future__ import annotations

import numpy as np

__all__ = ["kendall", "alpha_beta", "step_numpy"]

FLAG_DORMANT = 1  # == paget.ext.kernels.FLAG_DORMANT


#: Mean new cells of one row in one step beyond which the kernel returns inf.
MAX_MEAN_GROWTH = 1e15


def kendall(b: np.ndarray, d: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """alpha, beta and 1 - beta of the birth-death step, with the kernel's stable formulas."""
    b = np.asarray(b, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    r = b - d
    rh = r * h
    critical = np.abs(rh) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(critical, h, np.expm1(rh) / np.where(critical, 1.0, r))
    denom = b * x + 1.0
    return d * x / denom, b * x / denom, 1.0 / denom


def alpha_beta(b: np.ndarray, d: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Kendall's alpha and beta of the birth-death step (see :func:`kendall`)."""
    alpha, beta, _ = kendall(b, d, h)
    return alpha, beta


def step_numpy(cells: np.ndarray, flags: np.ndarray, birth: np.ndarray, death: np.ndarray,
               shed_rate: np.ndarray, deterministic: np.ndarray, h: float,
               rng: np.random.Generator, shed_out: np.ndarray | None = None,
               react_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Advance every row by one step of ``h`` days, like ``kernels.step_rows``.

    Writes ``cells`` in place and returns ``(shed_out, react_out)`` (int64 per
    row; allocated when not given).  ``rng`` replaces the kernel's keyed streams.
    """
    if not h > 0.0:
        raise ValueError(f"step_numpy: step length h must be > 0 days, got {h}")
    m = cells.shape[0]
    shed_out = np.empty(m, np.int64) if shed_out is None else shed_out
    react_out = np.empty(m, np.int64) if react_out is None else react_out
    shed_out[:] = 0
    react_out[:] = 0

    live = cells > 0.0
    dormant = live & ((flags & FLAG_DORMANT) != 0)
    growing = live & ~dormant
    det = deterministic.astype(bool)

    # ---- growing rows, stochastic: K = N - Bin(N, alpha); N' = K + NB(K, 1 - beta)
    idx = np.flatnonzero(growing & ~det & ((birth > 0.0) | (death > 0.0)))
    if idx.size:
        n = cells[idx].astype(np.int64)
        alpha, beta, q = kendall(birth[idx], death[idx], h)
        k = n - rng.binomial(n, alpha)
        new = k.astype(np.float64)
        nb = (k > 0) & (beta > 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            huge = nb & ~(k * beta <= MAX_MEAN_GROWTH * q)   # also catches q == 0
        nb &= ~huge
        new[nb] += rng.negative_binomial(k[nb], q[nb])
        new[huge] = np.inf
        cells[idx] = new

    # ---- growing rows, deterministic: the mean N exp((b - d) h)
    idx = np.flatnonzero(growing & det)
    if idx.size:
        cells[idx] *= np.exp((birth[idx] - death[idx]) * h)

    # ---- shedding: min(Poisson(s h), floor(N')), shed cells leave the row
    lam = shed_rate * h
    idx = np.flatnonzero(growing & (lam > 0.0) & (cells >= 1.0))
    if idx.size:
        room = np.floor(np.minimum(cells[idx], 2.0**62)).astype(np.int64)  # inf-safe floor
        shed = np.minimum(rng.poisson(lam[idx]), room)
        shed_out[idx] = shed
        cells[idx] -= shed

    # ---- dormant pools: competing reactivation (b) and death (d)
    total = birth + death
    idx = np.flatnonzero(dormant & (total > 0.0))
    if idx.size:
        n = cells[idx].astype(np.int64)
        t = total[idx]
        left = rng.binomial(n, -np.expm1(-t * h))
        react_out[idx] = rng.binomial(left, birth[idx] / t)
        cells[idx] -= left
    return shed_out, react_out
