"""The fast paths of ``kernels.step_rows`` change how a row is computed, never what.

* Quiet rows decide "u < exp(y)" by polynomial bounds on exp and call exp()
  only between them; the decision must be libm's, element for element.
* Per-rate setup (x, log(1 + b x), powers of 1 - alpha and 1 - beta) and e^-lam
  are cached across the rows of one call, and first Philox blocks are computed
  in chunks of rows: a row's result must not depend on which other rows share
  the call (it is keyed by its uid alone).
"""
from __future__ import annotations

import math

import numpy as np

from paget.ext import kernels


def test_exp_bound_decision_matches_libm():
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.uniform(-1.5, 0.3, 20_000), -rng.exponential(1e-6, 2_000),
                        [0.0, -1.0, 1.0, -0.6931471805599453, -1e-300]])
    e = np.array([math.exp(v) for v in y])
    # uniforms at, just below and just above exp(y), and at random
    u = np.concatenate([e, np.nextafter(e, 0.0), np.nextafter(e, 2.0), rng.random(y.size),
                        e - 1e-14, e + 1e-14])
    yy = np.tile(y, 6)
    got = kernels.below_exp_many(u, yy)
    want = np.array([a < math.exp(b) for a, b in zip(u, yy)])
    np.testing.assert_array_equal(got, want)
    # the inversion binomial's zero, u <= (1 - p)^n, decided alike
    got = kernels.below_exp_many(u, yy, or_equal=True)
    want = np.array([a <= math.exp(b) for a, b in zip(u, yy)])
    np.testing.assert_array_equal(got, want)
    assert (want != kernels.below_exp_many(u, yy)).sum() >= y.size   # u == exp(y) cases


def _table(m, seed=3):
    rng = np.random.default_rng(seed)
    cells = np.where(rng.random(m) < 0.9, rng.integers(1, 25, m),
                     np.floor(10 ** rng.uniform(3, 6, m))).astype(np.float64)
    dormant = rng.random(m) < 0.1
    # few distinct rates, as a growth law of size gives them (cache hits), and some unique
    b = np.where(rng.random(m) < 0.8, rng.choice([0.03, 0.05, 0.2], m), rng.uniform(0, 0.3, m))
    d = np.where(rng.random(m) < 0.8, rng.choice([0.02, 0.05], m), rng.uniform(0, 0.3, m))
    b[dormant], d[dormant] = 1e-2, 1e-3
    shed = np.where(dormant, 0.0, rng.choice([0.0, 0.01, 0.3, 5.0], m))
    return dict(
        cells=cells, flags=np.where(dormant, kernels.FLAG_DORMANT, 0).astype(np.uint8),
        uid=rng.integers(1, 2**63, m).astype(np.uint64),
        patient=rng.integers(0, 5, m).astype(np.int64), birth=b, death=d, shed_rate=shed,
        deterministic=(rng.random(m) < 0.05).astype(np.uint8),
        mutation=np.where(rng.random(m) < 0.5, 1e-2, 0.0))


def _step(t, rows):
    m = rows.size
    cells = t["cells"][rows].copy()
    out = [np.full(m, -7, np.int64) for _ in range(3)]
    kernels.step_rows(cells, *(np.ascontiguousarray(t[k][rows]) for k in
                               ("flags", "uid", "patient", "birth", "death", "shed_rate",
                                "deterministic")),
                      1.0, 11, 4, out[0], out[1], np.ascontiguousarray(t["mutation"][rows]),
                      out[2])
    return cells, *out


def test_row_results_do_not_depend_on_the_other_rows():
    t = _table(1_000)   # crosses several chunks of first blocks
    whole = _step(t, np.arange(1_000))
    assert (whole[1] > 0).any() and (whole[2] > 0).any() and (whole[3] > 0).any()
    for i in range(1_000):
        alone = _step(t, np.array([i]))
        for a, w in zip(alone, whole):
            assert a[0] == w[i], i
    # and reversed order, so that each rate meets the caches in another state
    rev = _step(t, np.arange(1_000)[::-1])
    for r, w in zip(rev, whole):
        np.testing.assert_array_equal(r[::-1], w)
