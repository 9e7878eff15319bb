"""The built-in plugins' compiled math (``paget.ext.plugin_math``) against the NumPy it replaces.

Each compiled function is compared with the NumPy expressions its plugin ran
before, on random inputs, for exact equality (``np.array_equal``, NaN equal to
NaN where a NaN can arise): the compiled code does the same operations in the
same order and calls NumPy's own float64 loops for the transcendental
functions, so results, and hence every run, stay bit-identical.
"""
from __future__ import annotations

import numpy as np
import pytest

from paget.ext import plugin_math as pm
from paget.plugins.colonization import LAW_CODES, step_net_rate

RNG_SEED = 20261206


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True) and \
        np.asarray(a).dtype == np.asarray(b).dtype


# -- NumPy's inner loops, called directly


@pytest.mark.parametrize("n", [1, 3, 8, 17, 1000])
@pytest.mark.parametrize("name", ["log", "log10", "log1p", "expm1", "exp", "cbrt"])
def test_numpy_loop_is_numpys_ufunc(name, n):
    rng = np.random.default_rng(RNG_SEED + n)
    x = np.exp(rng.uniform(-30.0, 30.0, n)) if name.startswith("log") or name == "cbrt" \
        else rng.uniform(-40.0, 40.0, n)
    out = np.empty(n)
    pm.numpy_loop(name, x, out)
    assert _same(out, getattr(np, name)(x))
    pm.numpy_loop(name, x, x)            # in place
    assert _same(x, out)


def test_numpy_loop_power_with_a_scalar_exponent():
    rng = np.random.default_rng(RNG_SEED)
    core = rng.uniform(0.0, 1.0, 999)
    out = np.empty_like(core)
    pm.numpy_loop("power", core, out, 3.0)
    assert _same(out, np.power(core, 3.0))


def test_numpy_loop_differs_from_the_c_library_somewhere():
    """Why the loops are NumPy's: on SIMD CPUs NumPy's log1p/expm1/cbrt round some
    values otherwise than the C library (``math``); the loop follows NumPy."""
    import math
    rng = np.random.default_rng(RNG_SEED)
    x = np.exp(rng.uniform(-20.0, 20.0, 20000))
    out = np.empty_like(x)
    pm.numpy_loop("cbrt", x, out)
    assert _same(out, np.cbrt(x))
    libm = np.array([math.cbrt(v) for v in x])
    if np.array_equal(libm, np.cbrt(x)):
        pytest.skip("this NumPy's cbrt is the C library's on this CPU")
    assert not np.array_equal(out, libm)


def test_numpy_loop_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        pm.numpy_loop("sin", np.ones(2), np.ones(2))


# -- colonization


def _rows(rng, n, n_organs):
    dormant = rng.random(n) < 0.3
    cells = np.floor(np.exp(rng.uniform(0.0, 30.0, n)))
    cells[rng.random(n) < 0.1] = 0.0
    cells[rng.random(n) < 0.1] = 1.0
    organ = rng.integers(0, n_organs, n).astype(np.int16)
    primary = rng.random(n) < 0.4
    return dormant, cells, organ, primary


def _numpy_growth(dormant, cells, organ, primary, laws, split, dt):
    """colonization.paget_growth as NumPy wrote it (commit 69486c6)."""
    n_rows = cells.size
    birth, death = np.zeros(n_rows), np.zeros(n_rows)
    det = np.full(n_rows, laws[0][4])
    grows = ~dormant & (cells > 0)
    groups = [(np.flatnonzero(grows), laws[0])] if not split else \
        [(np.flatnonzero(grows & primary), laws[0]), (np.flatnonzero(grows & ~primary), laws[1])]
    for rows, (law, r, d0, cap, is_det) in groups:
        n = np.maximum(cells[rows], 1.0)
        k = cap[organ[rows]]
        g = step_net_rate(law, n, r, k, dt)
        birth[rows] = d0 + np.maximum(g, 0.0)
        death[rows] = d0 + np.maximum(-g, 0.0)
        det[rows] = is_det
    return birth, death, det


def _compiled_growth(dormant, cells, organ, primary, laws, split, dt):
    n_rows = cells.size
    birth, death = np.full(n_rows, 7.0), np.full(n_rows, 7.0)
    det = np.zeros(n_rows, bool)
    args = []
    for law, r, d0, cap, is_det in laws:
        args += [LAW_CODES[law], r, d0, cap, is_det]
    pm.growth_rates(dormant, cells, organ, primary, split, *args, dt, birth, death, det)
    return birth, death, det


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("laws", [("gompertz", "gompertz"), ("logistic", "gompertz"),
                                  ("exponential", "logistic"), ("gompertz", "exponential")])
@pytest.mark.parametrize("rate", [6e-4, 0.3, 45.0])     # 45/day: logistic's e^-x branch
def test_growth_rates_equal_numpy(laws, split, rate):
    rng = np.random.default_rng(RNG_SEED)
    n_organs = 5
    rows = _rows(rng, 400, n_organs)
    law_args = [(law, rate * (1 + i), 0.02 * i, np.exp(rng.uniform(10.0, 29.0, n_organs)),
                 bool(i)) for i, law in enumerate(laws)]
    for dt in (1.0, 0.25, 7.0):
        want = _numpy_growth(*rows, law_args, split, dt)
        got = _compiled_growth(*rows, law_args, split, dt)
        for a, b in zip(got, want):
            assert _same(a, b)


def test_growth_rates_checks_its_arrays():
    rng = np.random.default_rng(RNG_SEED)
    dormant, cells, organ, primary = _rows(rng, 10, 3)
    cap = np.full(3, 1e12)
    out = [np.zeros(10), np.zeros(10), np.zeros(10, bool)]
    with pytest.raises(TypeError, match="organ"):
        pm.growth_rates(dormant, cells, organ.astype(np.int64), primary, False,
                        2, 0.1, 0.0, cap, False, 2, 0.1, 0.0, cap, False, 1.0, *out)
    with pytest.raises(IndexError, match="organ 3"):
        pm.growth_rates(np.zeros(10, bool), cells + 1.0, np.full(10, 3, np.int16), primary,
                        False, 2, 0.1, 0.0, cap, False, 2, 0.1, 0.0, cap, False, 1.0, *out)


def test_dormancy_rates_equal_numpy():
    rng = np.random.default_rng(RNG_SEED)
    dormant = rng.random(300) < 0.5
    a, b = np.full(300, 9.0), np.full(300, 9.0)
    pm.dormancy_rates(dormant, 1e-9, 1e-3, a, b)
    assert _same(a, np.where(dormant, 1e-9, 0.0))
    assert _same(b, np.where(dormant, 1e-3, 0.0))


# -- outcome


class _View:
    """The few columns of a lesion view that outcome.detectable reads."""

    def __init__(self, rng, n):
        self.dormant = rng.random(n) < 0.2
        self.cells = np.floor(np.exp(rng.uniform(0.0, 22.0, n)))
        self.cells[rng.random(n) < 0.1] = 0.0
        # lesions of one to four rows (clones), their rows scattered over the table
        self.lesion = rng.integers(1, max(2, n // 2), n).astype(np.uint64) * np.uint64(7919)
        grow = np.where(self.dormant, 0.0, self.cells)
        ids, inv = np.unique(self.lesion, return_inverse=True)
        self.lesion_cells = np.bincount(inv, weights=grow, minlength=ids.size)[inv].astype(float)
        self.primary = rng.random(n) < 0.3


@pytest.mark.parametrize("n", [0, 1, 2, 50, 3000])
def test_detectable_rows_equal_numpy(n):
    from paget.plugins.outcome import detectable
    rng = np.random.default_rng(RNG_SEED + n)
    v = _View(rng, n)
    for threshold in (1.0, 1e6, 6.5e7, 1e12):
        rows, ones, metastasis = pm.detectable_rows(v.dormant, v.cells, v.lesion_cells,
                                                    v.lesion, v.primary, threshold)
        want = detectable(v, threshold)
        assert _same(rows, want.astype(np.intp))
        assert _same(ones, np.ones(want.size))
        assert _same(metastasis, (~v.primary[want]).astype(np.float64))


def _numpy_outcome(counts, by_organ, lymph, alive, ps, burden, lethal, t_end, dying):
    """outcome.paget_outcome's per-patient part as NumPy wrote it (commit 69486c6)."""
    metastases = by_organ.sum(axis=1)
    distant_metastases = metastases - by_organ[:, lymph]
    ps["detectable_lesions"][alive] = counts[alive]
    for name, n in (("first_detectable_metastasis_time", metastases),
                    ("first_detectable_distant_metastasis_time", distant_metastases)):
        when = ps[name]
        when[alive & (n > 0) & np.isnan(when)] = t_end
    dying |= alive & (burden >= lethal)


def test_outcome_update_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    P, O = 40, 17
    for lymph in (0, 5, O - 1):
        counts = rng.integers(0, 3, (P, O)).astype(np.float64)
        by_organ = np.minimum(counts, rng.integers(0, 3, (P, O))).astype(np.float64)
        by_organ[:, lymph] *= rng.random(P) < 0.5
        alive = rng.random(P) < 0.8
        burden = np.exp(rng.uniform(0.0, 29.0, P))
        ps = {"detectable_lesions": rng.integers(0, 5, (P, O)),
              "first_detectable_metastasis_time": np.where(rng.random(P) < 0.5, np.nan, 3.0),
              "first_detectable_distant_metastasis_time":
                  np.where(rng.random(P) < 0.5, np.nan, 4.0)}
        dying = rng.random(P) < 0.1
        want = {k: v.copy() for k, v in ps.items()}
        want_dying = dying.copy()
        _numpy_outcome(counts, by_organ, lymph, alive, want, burden, 1e12, 30.0, want_dying)
        pm.outcome_update(counts, by_organ, lymph, alive, ps["detectable_lesions"],
                          ps["first_detectable_metastasis_time"],
                          ps["first_detectable_distant_metastasis_time"], burden, 1e12, 30.0,
                          dying)
        for k in ps:
            assert _same(ps[k], want[k])
        assert _same(dying, want_dying)


def test_outcome_update_refuses_a_lymph_node_outside_the_organs():
    P, O = 3, 4
    args = (np.zeros((P, O)), np.zeros((P, O)), O, np.ones(P, bool), np.zeros((P, O), np.int64),
            np.full(P, np.nan), np.full(P, np.nan), np.zeros(P), 1e12, 1.0, np.zeros(P, bool))
    with pytest.raises(IndexError, match="lymph node organ 4"):
        pm.outcome_update(*args)
