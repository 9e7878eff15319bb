"""The engine's compiled bookkeeping (``paget.ext.engine_*``) against the NumPy it replaces.

Each compiled pass is compared, on random inputs, with the NumPy expressions the
engine ran before (kept here as the reference), for exact equality: the runs
stay bit-identical only if every count, sum and rate does.
"""
from __future__ import annotations

import numpy as np
import pytest

from paget import domains
from paget.engine.loop import MAX_SHED_MEAN, step_shed_rate
from paget.ext import engine_hooks, engine_rows, engine_sums
from paget.ext import engine_step as es
from paget.ext.kernels import FLAG_DORMANT, FLAG_PRIMARY, add_rows_at

RNG_SEED = 20261206


def _same(a, b) -> bool:
    """Equal dtype, shape and values; floats to the bit (signed zeros too, NaN
    equal to NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    number = ~np.isnan(a)
    return np.array_equal(a, b, equal_nan=True) and \
        np.array_equal(np.signbit(a[number]), np.signbit(b[number]))


def _add(acc, pidx, organ, values, n_org):
    """The engine's former ``Records._add``: one float64 bincount, cast, added."""
    key = pidx.astype(np.int64) * n_org + organ
    acc += np.bincount(key, weights=values, minlength=acc.size).reshape(acc.shape) \
        .astype(np.int64)


def _flags(rng, n):
    return (np.where(rng.random(n) < 0.3, FLAG_DORMANT, 0) |
            np.where(rng.random(n) < 0.2, FLAG_PRIMARY, 0)).astype(np.uint8)


# -- step_rates


@pytest.mark.parametrize("n", [0, 1, 7, 500])
@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_step_rates_is_the_numpy_it_replaces(n, dt):
    rng = np.random.default_rng(RNG_SEED + n)
    flags = _flags(rng, n)
    dormant = (flags & FLAG_DORMANT) != 0
    r = {k: rng.uniform(0.0, 0.5, n) for k in
         ("birth", "reactivation", "death", "dormant_death")}
    r["birth"][rng.random(n) < 0.1] = 0.0
    r["death"][rng.random(n) < 0.1] = r["birth"][rng.random(n) < 0.1][:1].sum()
    # growth so fast that expm1 is clipped at 700, or the mean at MAX_SHED_MEAN
    fast = rng.random(n) < 0.05
    r["birth"][fast] = rng.uniform(100.0, 2000.0, fast.sum())
    shed = np.where(rng.random(n) < 0.3, 0.0, 10.0 ** rng.uniform(-3, 19, n))
    exponent = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 1.5, n))
    cells = np.floor(10.0 ** rng.uniform(0, 12, n))
    cells[rng.random(n) < 0.1] = 0.0

    birth = np.where(dormant, r["reactivation"], r["birth"])
    death = np.where(dormant, r["dormant_death"], r["death"])
    want_shed = step_shed_rate(shed, exponent, np.where(dormant, 0.0, birth - death), dt)
    want_terms = np.where(dormant, 0.0, death * cells)

    out = np.full((5, n), np.nan)
    es.step_rates(flags, r["birth"], r["reactivation"], r["death"], r["dormant_death"], shed,
                  exponent, dt, MAX_SHED_MEAN, cells, *out)
    for got, want in zip(out, (birth, death, want_shed, cells, want_terms)):
        assert _same(got, want)


def test_step_rates_names_a_bad_argument():
    n = 3
    ok = np.zeros(n)
    with pytest.raises(TypeError, match="cells"):
        es.step_rates(np.zeros(n, np.uint8), ok, ok, ok, ok, ok, ok, 1.0,
                      MAX_SHED_MEAN, np.zeros(n, np.float32), *np.zeros((5, n)))
    with pytest.raises(ValueError, match="death: expected 3 values, got 2"):
        es.step_rates(np.zeros(n, np.uint8), ok, ok, np.zeros(2), ok, ok, ok, 1.0,
                      MAX_SHED_MEAN, ok, *np.zeros((5, n)))


def test_the_rates_a_hook_rebound_are_read_as_the_engine_converted_them():
    """``step_rates`` and ``gather_sources`` read a rate that is not a C-contiguous,
    aligned float64 array (a hook may set ``rates.death = [...]`` or a float32,
    strided or byte-swapped array) from a float64 copy, as the engine's former
    ``f64`` (``np.ascontiguousarray`` and an aligned copy) did before the call."""
    rng = np.random.default_rng(RNG_SEED)
    n = 7
    flags = _flags(rng, n)
    rates = [rng.uniform(0.0, 0.5, n) for _ in range(6)]
    rates[1] = rates[1].astype(np.float32).astype(np.float64)   # (given as float32 below)
    cells = np.floor(10.0 ** rng.uniform(0, 6, n))
    want = np.full((5, n), np.nan)
    es.step_rates(flags, *rates, 1.0, MAX_SHED_MEAN, cells, *want)
    unaligned = np.zeros(8 * n + 1, np.uint8)[1:].view(np.float64)
    unaligned[:] = rates[4]
    assert not unaligned.flags.aligned
    others = [list(rates[0]), rates[1].astype(np.float32),
              np.repeat(rates[2], 2)[::2], rates[3].astype(">f8"), unaligned, rates[5]]
    assert all(not (isinstance(o, np.ndarray) and o.flags.c_contiguous and o.flags.aligned
                    and o.dtype == np.float64) for o in others[:5])
    got = np.full((5, n), np.nan)
    es.step_rates(flags, *others, 1.0, MAX_SHED_MEAN, cells, *got)
    assert _same(got, want)
    shed = rng.integers(0, 5, n)
    src = np.flatnonzero(shed).astype(np.int64)
    uid, patient = rng.integers(0, 2**63, n, dtype=np.uint64), rng.integers(0, 9, n)
    organ = rng.integers(0, 6, n).astype(np.int16)
    want = es.gather_sources(src, shed, uid, patient, organ, rates[0], rates[2], rates[3], 0)
    got = es.gather_sources(src, shed, uid, patient, organ, others[0], others[2], others[3],
                            0)
    for g, w in zip(got, want):
        assert _same(g, w) if isinstance(w, np.ndarray) else g == w
    with pytest.raises(ValueError, match="lymph_fraction: expected 7 values, got 6"):
        es.gather_sources(src, shed, uid, patient, organ, others[0][:-1], rates[2], rates[3], 0)


# -- step_tally


@pytest.mark.parametrize("n", [0, 1, 9, 400])
@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("direct", [False, True])
def test_step_tally_is_the_numpy_it_replaces(n, deterministic, direct):
    rng = np.random.default_rng(RNG_SEED + 3 * n + deterministic)
    P, n_org = 4, 6
    pidx = rng.integers(0, P, n)
    organ = rng.integers(0, n_org, n).astype(np.int16)
    flags = _flags(rng, n)
    dormant = (flags & FLAG_DORMANT) != 0
    before = np.floor(10.0 ** rng.uniform(0, 9, n))
    react = np.where(rng.random(n) < 0.3, rng.integers(0, 50, n), 0) * dormant
    cells = np.maximum(before - react - rng.integers(0, 100, n), 0.0)
    if deterministic:       # the growth law's fractional solution
        cells = cells * rng.uniform(0.5, 1.0, n)
    shed = np.where(rng.random(n) < 0.5, rng.integers(0, 10**12, n), 0)
    exfoliated = (shed * rng.uniform(0, 1, n)).astype(np.int64) if direct else \
        np.zeros(n, np.int64)

    want_dd = rng.integers(0, 10, (P, n_org))
    want_dr = rng.integers(0, 10, (P, n_org))
    got_dd, got_dr = want_dd.copy(), want_dr.copy()
    if dormant.any():
        _add(want_dd, pidx, organ, np.where(dormant, (before - cells) - react, 0.0), n_org)
    want_rows = np.flatnonzero(react)
    if want_rows.size:
        _add(want_dr, pidx[want_rows], organ[want_rows], react[want_rows], n_org)
    want_shed = np.bincount(pidx, weights=shed - exfoliated, minlength=P).astype(np.int64)

    got_shed = np.full(P, -1, np.int64)
    rows = es.step_tally(pidx, organ, flags, before, cells, react, shed, exfoliated, P, n_org,
                         got_dd, got_dr, got_shed)
    assert _same(rows, want_rows.astype(np.int64))
    assert _same(got_dd, want_dd) and _same(got_dr, want_dr) and _same(got_shed, want_shed)


def test_step_tally_refuses_a_patient_out_of_range():
    one = np.ones(1)
    with pytest.raises(IndexError, match=r"pidx: index 2 at 0 outside \[0, 2\)"):
        es.step_tally(np.array([2]), np.zeros(1, np.int16), np.zeros(1, np.uint8), one, one,
                      np.zeros(1, np.int64), np.zeros(1, np.int64), None, 2, 3,
                      np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int64),
                      np.zeros(2, np.int64))


# -- tally_fates


def _fates_numpy(sp, src_organ, src_shed, died, out, P, n_org, acc, first, t_first):
    """The former tail of ``Dissemination._disseminate``."""
    _add(acc["ctc_shed"], sp, src_organ, src_shed, n_org)
    acc["ctc_died"] += np.bincount(sp, weights=died, minlength=P).astype(np.int64)
    for name, key in (("ctc_arrested", "arrested"), ("dtc_extravasated", "extravasated"),
                      ("dtc_died", "dtc_died"), ("dtc_dormant", "dormant"),
                      ("colonies_founded", "founded")):
        add_rows_at(acc[name], sp, out[key])
    seeded = (out["dormant"] + out["founded"]).sum(axis=1) > 0
    if seeded.any() and np.isnan(first).any():
        fresh = np.zeros(P, bool)
        fresh[sp[seeded]] = True
        first[fresh & np.isnan(first)] = t_first
    ri, oj = np.nonzero(out["founded"])
    rd, od = np.nonzero(out["dormant"])
    return (ri, oj, out["founded"][ri, oj]), (rd, od, out["dormant"][rd, od])


@pytest.mark.parametrize("m", [0, 1, 5, 300])
def test_tally_fates_is_the_numpy_it_replaces(m):
    rng = np.random.default_rng(RNG_SEED + 7 * m)
    P, n_org = 5, 7
    sp = rng.integers(0, P, m)
    src_organ = rng.integers(0, n_org, m).astype(np.int16)
    src_shed = rng.integers(0, 10**13, m)
    died = (src_shed * rng.uniform(0, 1, m)).astype(np.int64)
    keys = ("arrested", "extravasated", "dtc_died", "dormant", "founded")
    out = {k: np.where(rng.random((m, n_org)) < 0.2, rng.integers(0, 10**6, (m, n_org)), 0)
           for k in keys}
    names = ("ctc_shed", "ctc_arrested", "dtc_extravasated", "dtc_died", "dtc_dormant",
             "colonies_founded")
    want = {k: rng.integers(0, 100, (P, n_org)) for k in names}
    want["ctc_died"] = rng.integers(0, 100, P)
    got = {k: v.copy() for k, v in want.items()}
    first = np.where(rng.random(P) < 0.5, np.nan, rng.uniform(0, 10, P))
    got_first = first.copy()

    w = _fates_numpy(sp, src_organ, src_shed, died, out, P, n_org, want, first, 3.5)
    g = es.tally_fates(sp, src_organ, src_shed, died, *(out[k] for k in keys), P, n_org,
                       got["ctc_shed"], got["ctc_died"], got["ctc_arrested"],
                       got["dtc_extravasated"], got["dtc_died"], got["dtc_dormant"],
                       got["colonies_founded"], got_first, 3.5)
    for k in want:
        assert _same(got[k], want[k]), k
    assert _same(got_first, first)
    for gg, ww in zip(g, w):
        for a, b in zip(gg, ww):
            assert _same(a, b.astype(np.int64))


# -- fold_sum_serial


def _terms(rng, kind, m):
    if kind == "whole":
        return np.floor(10.0 ** rng.uniform(0, 12, m))
    if kind == "whole_beyond_2**53":
        return np.floor(10.0 ** rng.uniform(14, 15.9, m))
    if kind == "fractional":
        return rng.uniform(-1, 1, m) * 10.0 ** rng.uniform(-5, 12, m)
    if kind == "huge_and_tiny":      # bins beyond 2**+-100: fold_terms' ldexp branch
        return rng.choice([1e-200, 1e200, 3.5e-120, 1.0], m) * rng.uniform(-1, 1, m)
    if kind == "non_finite":
        v = rng.uniform(0, 1e6, m)
        v[rng.random(m) < 0.1] = np.inf
        v[rng.random(m) < 0.05] = -np.inf
        v[rng.random(m) < 0.05] = np.nan
        return v
    if kind == "signed_zeros":
        return rng.choice([0.0, -0.0, 2.0], m)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["whole", "whole_beyond_2**53", "fractional",
                                  "huge_and_tiny", "non_finite", "signed_zeros"])
@pytest.mark.parametrize("m,n", [(0, 0), (0, 3), (1, 1), (40, 7), (3000, 50)])
def test_fold_sum_serial_is_fold_sum(kind, m, n):
    if n == 0 and m:
        pytest.skip("no bins for the terms")
    rng = np.random.default_rng(RNG_SEED + m + n)
    index = rng.integers(0, max(n, 1), m)
    values = _terms(rng, kind, m)
    assert _same(engine_sums.fold_sum_serial(index, values, n), domains.fold_sum(index, values, n))


def test_fold_sum_serial_takes_what_fold_sum_takes():
    """Lists, booleans, 2-D and strided arrays are converted as fold_sum converts them."""
    rng = np.random.default_rng(RNG_SEED)
    index = rng.integers(0, 4, (6, 2))
    for values in (rng.random((6, 2)) < 0.5, rng.random((6, 4))[:, ::2],
                   rng.integers(0, 9, (6, 2)).tolist()):
        assert _same(engine_sums.fold_sum_serial(index, values, 4), domains.fold_sum(index, values, 4))
    assert engine_sums.FOLD_CONSTANTS == (domains.FOLD_BITS, domains.FOLDS)


def test_fold_sum_serial_tells_whole_terms_as_fold_sum_does():
    """Its test of whole terms (no libm floor) at the edges: halves, 2**52, -0.0,
    the smallest subnormal, infinities and NaN, alone and among whole terms."""
    edges = [0.0, -0.0, 0.5, 1.0, 2.0**51 + 0.5, 2.0**52 - 0.5, 2.0**52, 2.0**52 + 1,
             2.0**53 + 2, 1e300, 5e-324, -1.0, np.inf, -np.inf, np.nan]
    for x in edges:
        for values in (np.array([x]), np.array([3.0, x, 2.0**40])):
            index = np.zeros(values.size, np.int64)
            assert _same(engine_sums.fold_sum_serial(index, values, 1),
                         domains.fold_sum(index, values, 1)), (x, values)


def test_fold_sum_serial_refuses_what_fold_sum_refuses():
    with pytest.raises(ValueError, match="fold_sum: 2 indices for 3 values"):
        engine_sums.fold_sum_serial(np.array([0, 1]), np.ones(3), 2)
    with pytest.raises(IndexError, match=r"index 5 at 1 outside \[0, 2\)"):
        engine_sums.fold_sum_serial(np.array([0, 5]), np.ones(2), 2)


# -- found_rows


def _found_numpy(kind, src, counts, organ, step, tab):
    """The former ``Founding._found`` and ``SeedingLog._log_founding`` but for
    mutants: (columns, source rows, log edges or None)."""
    from paget.engine.founding import _group_ranks
    from paget.engine.seeding import KIND_FOUNDED, KIND_REACTIVATED
    from paget.ext.kernels import UID_POOL, derive_uids
    if kind == UID_POOL:
        rows = src
        organ = organ.astype(np.int16)
        uid = derive_uids(tab["uid"][rows], UID_POOL, np.zeros(rows.size, np.int64), organ,
                          np.zeros(rows.size, np.int64))
        cells = counts.astype(np.float64)
    else:
        rows = np.repeat(src, counts)
        organ = tab["organ"][rows] if organ is None else \
            np.repeat(organ, counts).astype(np.int16)
        uid = derive_uids(tab["uid"][rows], kind, np.full(rows.size, step, np.int64), organ,
                          _group_ranks(counts))
        cells = np.ones(rows.size)
    react = kind == _kinds()["reactivated"]
    cols = dict(uid=uid, parent=(tab["parent"] if react else tab["uid"])[rows], lesion=uid,
                clone=tab["clone"][rows], genotype=tab["genotype"][rows], cells=cells,
                patient=tab["patient"][rows],
                birth_step=np.full(uid.size, step + 1, np.int32), organ=organ,
                flags=np.full(rows.size, FLAG_DORMANT if kind == UID_POOL else 0, np.uint8))
    edges = None
    if kind != UID_POOL and rows.size:
        n = rows.size
        edges = {"patient": tab["patient"][rows].astype(np.int64),
                 "step": np.full(n, step + 1, np.int32),
                 "kind": np.full(n, KIND_REACTIVATED if react else KIND_FOUNDED, np.int8),
                 "source_lesion": (tab["uid"] if react else tab["lesion"])[rows]
                 .astype(np.uint64),
                 "source_organ": np.full(n, -1, np.int16) if react
                 else tab["organ"][rows].astype(np.int16),
                 "source_clone": tab["clone"][rows].astype(np.uint64),
                 "target": np.asarray(uid, np.uint64).copy(),
                 "target_organ": np.asarray(organ, np.int16).copy(),
                 "cells": np.ones(n, np.int64)}
    return cols, rows, edges


def _kinds():
    from paget.engine.founding import FOUNDED
    return FOUNDED


@pytest.mark.parametrize("kind", ["founder", "reactivated", "pool"])
@pytest.mark.parametrize("m", [0, 1, 6, 200])
def test_found_rows_is_the_numpy_it_replaces(kind, m):
    rng = np.random.default_rng(RNG_SEED + 11 * m + len(kind))
    n, n_org, step = 300, 9, int(rng.integers(0, 10**6))
    u64 = lambda: rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)  # noqa: E731
    tab = {"uid": u64(), "parent": u64(), "lesion": u64(), "clone": u64(), "genotype": u64(),
           "patient": rng.integers(0, 50, n), "organ": rng.integers(0, n_org, n)
           .astype(np.int16)}
    src = rng.choice(n, m, replace=kind == "reactivated").astype(np.int64)
    counts = rng.integers(1, 5 if kind != "pool" else 10**9, m)
    counts[rng.random(m) < 0.1] = 0 if kind != "pool" else 1
    organ = None if kind == "reactivated" else rng.integers(0, n_org, m)
    code = _kinds()[kind]
    want = _found_numpy(code, src, counts, organ, step, tab)
    got = engine_rows.found_rows(code, src, counts, organ, step, tab["uid"], tab["parent"],
                        tab["lesion"], tab["clone"], tab["genotype"], tab["patient"],
                        tab["organ"], True)
    assert list(got[0]) == list(want[0])
    for k in want[0]:
        assert _same(got[0][k], want[0][k]), k
    assert _same(got[1], want[1].astype(np.int64))
    if want[2] is None:
        assert got[2] is None
    else:
        assert list(got[2]) == list(want[2])
        for k in want[2]:
            assert _same(got[2][k], want[2][k]), k
    assert engine_rows.found_rows(code, src, counts, organ, step, tab["uid"], tab["parent"],
                         tab["lesion"], tab["clone"], tab["genotype"], tab["patient"],
                         tab["organ"], False)[2] is None


def test_found_rows_refuses_a_row_outside_the_table():
    z = np.zeros(2, np.uint64)
    with pytest.raises(IndexError, match=r"src: index 2 at 0 outside \[0, 2\)"):
        engine_rows.found_rows(_kinds()["founder"], np.array([2]), np.array([1]), np.array([0]), 0,
                      z, z, z, z, z, np.zeros(2, np.int64), np.zeros(2, np.int16), True)


# -- first_out_of_bounds


def _first_bad_numpy(args, checks):
    """The former loop of ``paget.engine.hooks.direct_caller`` over the checks."""
    from paget.ext.kernels import bounds_check
    from paget.state import out_of_bounds
    for k, (pos, arg, field, lo, hi) in enumerate(checks):
        a = args[pos] if field is None else getattr(args[pos], field)
        found = bounds_check(a, lo, hi)
        if found == 1 or (found < 0 and out_of_bounds(a, lo, hi)):
            return k
    return -1


def test_first_out_of_bounds_is_the_loop_it_replaces():
    from types import SimpleNamespace

    from paget.state import out_of_bounds
    rng = np.random.default_rng(RNG_SEED)
    kinds = ["ok", "nan", "inf", "low", "high", "strided", "strided_bad", "float32_bad",
             "bool", "empty"]

    def make(kind):
        a = rng.uniform(0.0, 1.0, 9)
        if kind in ("nan", "inf", "low", "high", "strided_bad", "float32_bad"):
            a[rng.integers(9)] = {"nan": np.nan, "inf": np.inf, "low": -0.5, "high": 1.5,
                                  "strided_bad": np.nan, "float32_bad": 2.0}[kind]
        if kind.startswith("strided"):
            a = np.repeat(a, 2)[::2]
        if kind == "float32_bad":
            a = a.astype(np.float32)
        if kind == "bool":
            a = rng.random(9) < 0.5
        if kind == "empty":
            a = np.zeros(0)
        return a

    for trial in range(300):
        picked = rng.choice(kinds, 4)
        rates = SimpleNamespace(birth=make(picked[0]), death=make(picked[1]))
        args = ("lesions", rates, make(picked[2]), make(picked[3]))
        checks = (((1, "rates", "birth", 0.0, 1.0), (1, "rates", "death", 0.0, 1.0),
                   (2, "fraction", None, 0.0, 1.0), (3, "probability", None, 0.0, 1.0))
                  [: 1 + trial % 4])
        assert engine_hooks.first_out_of_bounds(args, checks, out_of_bounds) == \
            _first_bad_numpy(args, checks), (picked, trial)
    assert engine_hooks.first_out_of_bounds((), (), out_of_bounds) == -1


# -- step_burden, gather_sources, fates_off


@pytest.mark.parametrize("n", [0, 1, 50])
def test_step_burden_is_the_numpy_it_replaces(n):
    rng = np.random.default_rng(RNG_SEED + n)
    P = 4
    pidx = rng.integers(0, P, n)
    flags = _flags(rng, n)
    cells = np.floor(10.0 ** rng.uniform(0, 15, n))
    cells[rng.random(n) < 0.2] = 0.0
    cells[rng.random(n) < 0.1] = -0.0
    burden = np.full(P, np.nan)
    top, empty = es.step_burden(pidx, flags, cells, P, burden)
    want = np.bincount(pidx, weights=np.where((flags & FLAG_DORMANT) != 0, 0.0, cells),
                       minlength=P).astype(np.float64)
    assert _same(burden, want)
    assert empty == np.count_nonzero(cells <= 0)
    assert top == (np.maximum.reduce(cells) if n else -np.inf)
    if n:
        cells[rng.integers(n)] = np.nan     # NumPy's largest is NaN: never beyond a bound
        assert np.isnan(es.step_burden(pidx, flags, cells, P, burden)[0])


@pytest.mark.parametrize("m", [1, 2, 40])
@pytest.mark.parametrize("classes", ["one", "two", "nan"])
def test_gather_sources_is_the_numpy_it_replaces(m, classes):
    rng = np.random.default_rng(RNG_SEED + m)
    n, lo = 60, 17
    src = np.sort(rng.choice(n, m, replace=False)).astype(np.int64)
    shed = rng.integers(0, 10**9, n)
    uid = rng.integers(0, 2**63, n, dtype=np.uint64)
    patient = lo + rng.integers(0, 5, n)
    organ = rng.integers(0, 9, n).astype(np.int16)
    lymph, surv, arr = rng.random(n), np.full(n, 0.3), np.full(n, 0.9)
    if classes == "two" and m > 1:
        surv[src[-1]] = 0.4
    if classes == "nan":
        arr[src[0]] = np.nan
    got = es.gather_sources(src, shed, uid, patient, organ, lymph, surv, arr, lo)
    want = (uid[src], patient[src], organ[src], shed[src], lymph[src], patient[src] - lo,
            surv[src], arr[src])
    for g, w in zip(got, want):
        assert _same(g, w)
    assert got[-1] == bool((surv[src] == surv[src][0]).all() and (arr[src] == arr[src][0]).all())


@pytest.mark.parametrize("m", [0, 1, 2, 540])
@pytest.mark.parametrize("k", [1, 3, 16, 17])
def test_unique_pairs_is_the_numpy_it_replaces(m, k):
    """``unique_pairs`` against ``np.unique(..., axis=0, return_inverse=True)``,
    for classes sharing a survival or an arrest (the pairs' order then rests on
    the second column), infinities among them; None, for the caller's NumPy,
    past 16 pairs and where a value is 0, -0 or NaN."""
    rng = np.random.default_rng(RNG_SEED + 17 * m + k)
    values = np.array([0.25, 0.5, 1.0, 3.0, np.inf])
    table = np.stack([rng.choice(values, k), rng.uniform(0.1, 9.0, k)], 1)
    table[k // 2:, 0] = table[0, 0]                  # classes that share a survival
    pick = rng.integers(0, k, m)
    a, b = table[pick, 0].copy(), table[pick, 1].copy()
    got = es.unique_pairs(a, b)
    want_pairs, want_inverse = np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)
    if np.unique(pick).size > 16:
        assert got is None
    else:
        assert _same(got[0], want_pairs)
        assert _same(got[1], want_inverse.ravel().astype(np.int64))
    if m:
        for bad in (0.0, -0.0, np.nan):
            for column in (a, b):
                keep = column[m // 2]
                column[m // 2] = bad
                assert es.unique_pairs(a, b) is None
                column[m // 2] = keep
    with pytest.raises(ValueError):
        es.unique_pairs(a, np.ones(m + 1))


def test_fates_off_is_the_numpy_it_replaces():
    rng = np.random.default_rng(RNG_SEED)
    for m in (1, 3, 100):
        f = rng.dirichlet([1.0, 1.0, 1.0], (m, 5))
        f[rng.random((m, 5)) < 0.1] += rng.uniform(-1e-8, 1e-8, 3)
        want = np.abs(f[..., 0] + f[..., 1] + f[..., 2] - 1.0).max()
        assert es.fates_off(f) == want
        f[0, 0, 1] = np.nan
        assert np.isnan(es.fates_off(f))
    with pytest.raises(ValueError, match="rows of 3"):
        es.fates_off(np.zeros(4))


# -- UidSet


def test_uid_set_tells_new_uids_as_the_sorted_registry_did():
    """The registry of pools: the former sorted array, searched and inserted into."""
    rng = np.random.default_rng(RNG_SEED)
    known = np.zeros(0, np.uint64)
    registry = engine_rows.UidSet()
    pool = rng.integers(0, 2**64, 400, dtype=np.uint64, endpoint=False)
    pool[:3] = (0, 1, 2**64 - 1)
    for step in range(300):
        uid = rng.choice(pool, rng.integers(0, 12))
        at = np.minimum(np.searchsorted(known, uid), max(known.size - 1, 0))
        want = known[at] != uid if known.size else np.ones(uid.size, bool)
        known = np.union1d(known, uid)
        assert _same(registry.add_new(uid), want)
        assert len(registry) == known.size
    assert all(int(u) in registry for u in known)
    assert 12345 not in registry or 12345 in known


# -- join_pools, kernel_rows, take_rows


@pytest.mark.parametrize("k", [0, 1, 5, 80])
def test_join_pools_is_the_numpy_it_replaces(k):
    """The former ``_join_pools``: ``match_pools``, then the additions."""
    from paget.ext.kernels import match_pools
    rng = np.random.default_rng(RNG_SEED + k)
    n = 200
    uid = rng.integers(0, 2**63, n, dtype=np.uint64)
    uid[rng.choice(n, 20, replace=False)] = uid[:20]       # emptied pools of live ids
    flags = _flags(rng, n)
    cells = np.where(rng.random(n) < 0.2, 0.0, np.floor(10.0 ** rng.uniform(0, 6, n)))
    key = np.unique(np.concatenate([rng.choice(uid, k // 2),
                                    rng.integers(0, 2**63, k - k // 2, dtype=np.uint64)]))
    counts = np.floor(10.0 ** rng.uniform(0, 4, key.size))
    want = cells.copy()
    hit = match_pools(key, uid, flags, want)
    found = hit >= 0
    want[hit[found]] += counts[found]
    got = cells.copy()
    new = engine_rows.join_pools(key, counts, uid, flags, got)
    assert _same(got, want)
    assert _same(new, np.flatnonzero(~found).astype(np.int64))
    if key.size > 1:
        with pytest.raises(ValueError, match="distinct"):
            engine_rows.join_pools(key[[0, 0]], counts[:2], uid, flags, got)


@pytest.mark.parametrize("k", [0, 1, 7, 60])
@pytest.mark.parametrize("registry", [True, False])
def test_found_pools_is_found_rows_the_registry_and_join_pools(k, registry):
    """``found_pools``: the former ``_found("pool", ...)`` (``found_rows``, then the
    registry of ``_log_founding``) followed by ``_join_pools``, on a table whose
    pools are live, emptied (0 cells, awaiting compaction), fractional
    (deterministic mode) or not yet there, with a registry that knows some of
    them (from earlier steps) and pools that may join the rows just founded."""
    from paget.engine.seeding import POOL_COLUMNS
    from paget.ext.kernels import UID_POOL
    rng = np.random.default_rng(RNG_SEED + 3 * k + registry)
    n, n_org = 40 + k, 6
    u64 = lambda size: rng.integers(1, 2**63, size, dtype=np.uint64)  # noqa: E731
    tab = {"uid": u64(n), "parent": u64(n), "lesion": u64(n), "clone": u64(n),
           "genotype": u64(n), "patient": rng.integers(0, 9, n),
           "organ": rng.integers(0, n_org, n).astype(np.int16),
           "birth_step": np.zeros(n, np.int32), "flags": np.zeros(n, np.uint8),
           "cells": np.floor(10.0 ** rng.uniform(0, 6, n))}
    # k distinct (source row, organ) pairs, as a step's dormant cells give them
    pairs = rng.choice(n * n_org, k, replace=False)
    src = np.unique(pairs // n_org)
    at = np.searchsorted(src, pairs // n_org).astype(np.int64)
    organ = (pairs % n_org).astype(np.int64)
    counts = rng.integers(1, 10**6, k)
    pool_uid = engine_rows.found_rows(UID_POOL, src[at], counts, organ, 0, tab["uid"],
                                      tab["parent"], tab["lesion"], tab["clone"],
                                      tab["genotype"], tab["patient"], tab["organ"],
                                      False)[0]["uid"]
    # a third of the pools in the table, live, emptied or fractional
    there = np.flatnonzero(rng.random(k) < 0.35)
    rows = rng.choice(n, there.size, replace=False)
    tab["uid"][rows] = pool_uid[there]
    tab["flags"][rows] = FLAG_DORMANT
    tab["cells"][rows] = rng.choice([0.0, 3.0, 0.25, 1e9], there.size)
    known = pool_uid[rng.random(k) < 0.5]       # the registry from earlier steps
    want_tab = {c: a.copy() for c, a in tab.items()}
    got_tab = {c: a.copy() for c, a in tab.items()}

    # the former path
    cols, rows_, _ = engine_rows.found_rows(UID_POOL, src[at], counts, organ, 7,
                                            *(want_tab[c] for c in ("uid", "parent", "lesion",
                                                                    "clone", "genotype",
                                                                    "patient", "organ")),
                                            True)
    want_registered = None
    if registry:
        reference = engine_rows.UidSet()
        reference.add_new(known)
        fresh = reference.add_new(np.ascontiguousarray(cols["uid"], dtype=np.uint64))
        if np.count_nonzero(fresh):
            want_registered = {"pool": cols["uid"][fresh].copy(),
                               "patient": want_tab["patient"][rows_[fresh]].astype(np.int64),
                               "source_lesion": want_tab["lesion"][rows_[fresh]].copy(),
                               "source_organ": want_tab["organ"][rows_[fresh]]
                               .astype(np.int16)}
    want_new = engine_rows.join_pools(cols["uid"], cols["cells"], want_tab["uid"],
                                      want_tab["flags"], want_tab["cells"])

    got_registry = None
    if registry:
        got_registry = engine_rows.UidSet()
        got_registry.add_new(known)
    new, registered = engine_rows.found_pools(
        src, at, counts, organ, got_tab["uid"], got_tab["flags"], got_tab["cells"],
        got_tab["patient"], got_tab["lesion"], got_tab["organ"], got_registry)
    assert _same(new, want_new)
    assert _same(got_tab["cells"], want_tab["cells"])
    if want_registered is None:
        assert registered is None
    else:
        assert list(registered) == list(POOL_COLUMNS)
        for c in POOL_COLUMNS:
            assert _same(registered[c], want_registered[c]), c
        assert len(got_registry) == len(reference)
        assert all(int(u) in got_registry for u in cols["uid"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_found_pools_by_its_index_is_the_scan_step_after_step(seed):
    """``found_pools`` with a :class:`PoolIndex` kept from call to call against the
    scan of every row, on a table that changes as the engine's does between
    calls: the new pools' rows and other rows appended (growing rows, dormant
    rows of other uids), pools emptied (0 cells, awaiting compaction) and then
    founded again, and rows dropped (a compaction: a new index, as
    ``Founding._pool_index`` makes one).  Also: a call with no pool, the
    refusal of a pool given twice, and an index asked about a table shorter
    than it had indexed (it indexes that one afresh)."""
    from paget.ext.kernels import UID_POOL
    rng = np.random.default_rng(RNG_SEED + 40 + seed)
    n_org = 5
    cols = ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ")
    u64 = lambda size: rng.integers(1, 2**63, size, dtype=np.uint64)  # noqa: E731

    def rows(size, dormant):
        return {"uid": u64(size), "parent": u64(size), "lesion": u64(size),
                "clone": u64(size), "genotype": u64(size),
                "patient": rng.integers(0, 9, size),
                "organ": rng.integers(0, n_org, size).astype(np.int16),
                "flags": np.full(size, FLAG_DORMANT if dormant else 0, np.uint8),
                "cells": np.floor(10.0 ** rng.uniform(0, 4, size))}

    def append(tab, new):
        return {c: np.concatenate([tab[c], new[c].astype(tab[c].dtype)]) for c in tab}

    tab = rows(30, False)
    index = engine_rows.PoolIndex()
    assert len(index) == 0
    for step in range(40):
        n = tab["uid"].size
        k = int(rng.integers(0, 3 * n_org)) if step % 7 else 0
        pairs = rng.choice(n * n_org, min(k, n * n_org), replace=False)
        src = np.unique(pairs // n_org)
        at = np.searchsorted(src, pairs // n_org).astype(np.int64)
        organ = (pairs % n_org).astype(np.int64)
        counts = rng.integers(1, 100, at.size)
        want_cells, got_cells = tab["cells"].copy(), tab["cells"].copy()
        want, _ = engine_rows.found_pools(src, at, counts, organ, tab["uid"], tab["flags"],
                                          want_cells, tab["patient"], tab["lesion"],
                                          tab["organ"], None)
        got, _ = engine_rows.found_pools(src, at, counts, organ, tab["uid"], tab["flags"],
                                         got_cells, tab["patient"], tab["lesion"],
                                         tab["organ"], None, index)
        assert _same(got, want), step
        assert _same(got_cells, want_cells), step
        tab["cells"] = got_cells
        if at.size > 1:
            with pytest.raises(ValueError, match="distinct"):
                engine_rows.found_pools(src, at[[0, 0]], counts[:2], organ[[0, 0]],
                                        tab["uid"], tab["flags"], tab["cells"].copy(),
                                        tab["patient"], tab["lesion"], tab["organ"], None,
                                        index)
        # the new pools' rows, then others, as a step appends them
        new, _, _ = engine_rows.found_rows(UID_POOL, src[at[want]], counts[want],
                                           organ[want], 0, *(tab[c] for c in cols), False)
        tab = append(tab, rows(int(rng.integers(0, 4)), False))
        tab = append(tab, new)
        tab = append(tab, rows(int(rng.integers(0, 3)), True))
        # some pools empty; now and then the table drops its empty rows
        dormant = np.flatnonzero(tab["flags"] & FLAG_DORMANT)
        tab["cells"][rng.choice(dormant, dormant.size // 4, replace=False)] = 0.0
        if step % 9 == 8:
            keep = tab["cells"] > 0
            tab = {c: a[keep].copy() for c, a in tab.items()}
            index = engine_rows.PoolIndex()
    assert len(index) > 0
    # the same index on the table's first rows, its pools founded again
    index = engine_rows.PoolIndex()
    n = tab["uid"].size
    pools = np.flatnonzero(tab["flags"] & FLAG_DORMANT)
    src = np.flatnonzero(tab["flags"] == 0)[:4]
    at = np.arange(src.size, dtype=np.int64)
    for size in (n, n // 2):
        part = {c: a[:size].copy() for c, a in tab.items()}
        there = pools[pools < size][:2]
        part["uid"][there] = engine_rows.found_rows(
            UID_POOL, src[:there.size], np.ones(there.size, np.int64),
            np.zeros(there.size, np.int64), 0, *(part[c] for c in cols), False)[0]["uid"]
        want_cells, got_cells = part["cells"].copy(), part["cells"].copy()
        args = (src, at, np.ones(src.size, np.int64), np.zeros(src.size, np.int64),
                part["uid"], part["flags"])
        want, _ = engine_rows.found_pools(*args, want_cells, part["patient"], part["lesion"],
                                          part["organ"], None)
        got, _ = engine_rows.found_pools(*args, got_cells, part["patient"], part["lesion"],
                                         part["organ"], None, index)
        assert _same(got, want) and _same(got_cells, want_cells), size


def test_found_pools_refuses_what_found_rows_and_join_pools_refuse():
    z, one = np.zeros(2, np.uint64), np.ones(2)
    args = (z, np.zeros(2, np.uint8), one, np.zeros(2, np.int64), z, np.zeros(2, np.int16),
            None)
    with pytest.raises(IndexError, match=r"src: index 2 at 0 outside \[0, 2\)"):
        engine_rows.found_pools(np.array([2]), np.array([0]), np.array([1]), np.array([0]),
                                *args)
    with pytest.raises(IndexError, match=r"at: index 1 at 0 outside \[0, 1\)"):
        engine_rows.found_pools(np.array([0]), np.array([1]), np.array([1]), np.array([0]),
                                *args)
    with pytest.raises(ValueError, match="count -1 at 0 is negative"):
        engine_rows.found_pools(np.array([0]), np.array([0]), np.array([-1]), np.array([0]),
                                *args)
    with pytest.raises(ValueError, match="distinct"):
        engine_rows.found_pools(np.array([0]), np.array([0, 0]), np.array([1, 2]),
                                np.array([3, 3]), *args)


def test_a_rank_alone_joins_pools_in_one_pass_as_a_group_does_in_three(monkeypatch):
    """``Founding._found_pools`` (a rank alone) against the path a group of
    ranks takes (``_found("pool")``, its registry, ``_join_pools`` after
    routing): the same datasets, seeding log and pool registry, over runs
    with dormant pools, reactivations and emptied pools."""
    import paget
    from paget.engine import founding, seeding

    from .helpers import assert_same_result

    parts = []
    seeding_parts = seeding.SeedingLog._seeding_parts

    def record(self):
        got = seeding_parts(self)
        parts.append(got)
        return got

    def as_a_group(self, src, at, counts, organ, step):
        return "pool", self._found("pool", src[at], counts, step, organ=organ)

    monkeypatch.setattr(seeding.SeedingLog, "_seeding_parts", record)
    # breast seed 4: a run whose dormant cells reactivate on the body fitted at
    # sigma 3 (seed 3's, on that body, had none)
    runs = [("default", {"seed": 7, "cohort": {"patients": 30, "years": 3}}),
            ("breast", {"seed": 4, "cohort": {"patients": 6, "years": 4}})]
    fused = [paget.Simulation.from_scenario(*r).run() for r in runs]
    fused_parts = parts[:]
    parts.clear()
    monkeypatch.setattr(founding.Founding, "_pool_cells", as_a_group)
    former = [paget.Simulation.from_scenario(*r).run() for r in runs]
    for a, b in zip(fused, former):
        assert_same_result(a, b)
    assert len(parts) == len(fused_parts) == len(runs)
    for (edges, pools), (want_edges, want_pools) in zip(fused_parts, parts):
        for got, want in ((edges, want_edges), (pools, want_pools)):
            assert list(got) == list(want)
            for c in want:
                assert _same(got[c], want[c]), c
    assert sum(p[1]["pool"].size for p in parts) > 50       # pools were registered
    assert sum(np.count_nonzero(p[0]["kind"] == seeding.KIND_REACTIVATED)
               for p in parts) > 0                          # and reactivated cells resolved


@pytest.mark.parametrize("n", [0, 1, 5, 33])
def test_frozen_copies_are_the_read_only_copies_of_bytes_they_replace(n):
    """``frozen_copies`` against ``np.frombuffer(a.tobytes(), a.dtype)`` (the
    former ``RankRun._patients``): the same values and dtypes, read-only and
    never writable again, held by bytes (``Draws.uniform_patients`` trusts
    such an index not to change), aligned; strided or byte-swapped inputs
    copied as native arrays."""
    rng = np.random.default_rng(RNG_SEED + n)
    arrays = (rng.random(n) < 0.5, rng.normal(size=n), rng.integers(-9, 9, n),
              np.repeat(rng.normal(size=n), 2)[::2], rng.integers(0, 9, n).astype(">i8"),
              rng.random(n).astype(np.float32))
    got = es.frozen_copies(arrays)
    for g, a in zip(got, arrays):
        want = np.frombuffer(a.tobytes(), dtype=a.dtype)
        assert np.array_equal(g, want) and g.dtype == want.dtype.newbyteorder("=")
        assert g.shape == (n,) and g.flags.c_contiguous and g.flags.aligned
        assert not g.flags.writeable and isinstance(g.base, bytes)
        with pytest.raises(ValueError):
            g.flags.writeable = True
    a = np.arange(4.0)
    copy = es.frozen_copies((a,))[0]
    a[0] = 9.0
    assert copy[0] == 0.0       # a copy
    assert es.frozen_copies(()) == ()
    with pytest.raises(TypeError, match="1-D array of numbers"):
        es.frozen_copies((np.zeros((2, 2)),))
    with pytest.raises(TypeError, match="expected NumPy arrays"):
        es.frozen_copies(([1.0],))


def test_any_nonzero_is_count_nonzero_it_replaces():
    """``any_nonzero(a)`` against ``np.count_nonzero(a) > 0``: float64 (NaN, -0.0,
    inf, the last value alone), bool, empty and 2-D arrays read in it; strided,
    byte-swapped, integer arrays and lists through NumPy."""
    cases = [np.zeros(0), np.zeros(5), np.r_[np.zeros(6), 1e-300], np.r_[np.zeros(3), np.nan],
             np.full(4, -0.0), np.r_[-0.0, np.inf], np.zeros((3, 2)), np.eye(2),
             np.zeros(0, bool), np.zeros(9, bool), np.r_[np.zeros(8, bool), True],
             np.r_[1.0, np.zeros(5)][1::2], np.r_[0.0, 2.0].astype(">f8"), np.arange(3) - 2,
             np.zeros(3, np.int64), [0.0, 0.0], [0, 3], np.zeros(4, np.float32)]
    for a in cases:
        assert es.any_nonzero(a) is bool(np.count_nonzero(a)), a


@pytest.mark.parametrize("n", [0, 1, 7])
@pytest.mark.parametrize("dtype", [np.float64, bool])
def test_fill_rows_is_the_broadcast_assignment_it_replaces(n, dtype):
    """``fill_rows`` against ``block[...] = values[:, None]`` on the first ``n``
    columns of a wider buffer (as ``Rates.neutral`` keeps them), the columns
    beyond left alone; and its refusals."""
    rng = np.random.default_rng(RNG_SEED + n)
    values = (rng.normal(size=4) if dtype is np.float64 else rng.random(4) < 0.5).astype(dtype)
    values[0] = np.inf if dtype is np.float64 else values[0]
    buf, want = (rng.normal(size=(4, n + 3)).astype(dtype) for _ in range(2))
    want[...] = buf
    want[:, :n] = values[:, None]
    assert es.fill_rows(buf[:, :n], values) is None
    assert np.array_equal(buf, want)
    es.fill_rows(buf[:0, :n], values[:0])       # no rows
    assert np.array_equal(buf, want)
    with pytest.raises(TypeError, match="one dtype"):
        es.fill_rows(buf[:, :n], values.astype(np.float32))
    with pytest.raises(ValueError, match="shapes"):
        es.fill_rows(buf[:3, :n], values)
    with pytest.raises(ValueError, match="C-contiguous"):
        es.fill_rows(buf[:, ::2], values)
    frozen = buf[:, :n]
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        es.fill_rows(frozen, values)
    with pytest.raises(TypeError, match="NumPy arrays"):
        es.fill_rows(buf, list(values))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_patients_of_is_the_dataclass_it_bypasses(n):
    """``Patients.of`` (the engine's, each step) against ``Patients(...)``: equal,
    the same fields holding the same arrays, and as frozen."""
    from dataclasses import FrozenInstanceError, fields

    from paget.state import Patients
    arrays = es.frozen_copies((np.arange(n, dtype=np.int64), np.ones(n, bool), np.arange(n * 1.0),
                               np.arange(n, dtype=np.int64), np.full(n, 0.5)))
    got, want = Patients.of(*arrays), Patients(*arrays)
    assert got == want and len(got) == n and type(got) is Patients
    assert vars(got).keys() == vars(want).keys() == {f.name for f in fields(Patients)}
    assert all(getattr(got, f.name) is getattr(want, f.name) for f in fields(Patients))
    with pytest.raises(FrozenInstanceError):
        got.alive = arrays[1]


@pytest.mark.parametrize("n", [0, 1, 30])
def test_kernel_rows_is_the_numpy_it_replaces(n):
    rng = np.random.default_rng(RNG_SEED + n)
    cells = np.floor(10.0 ** rng.uniform(0, 15, n))
    shed = np.where(rng.random(n) < 0.4, rng.integers(1, 100, n), 0)
    mutated = np.where(rng.random(n) < 0.05, 1, 0)
    top, src, any_mutated = es.kernel_rows(cells, shed, mutated)
    assert top == (np.maximum.reduce(cells) if n else -np.inf)
    assert _same(src, np.flatnonzero(shed).astype(np.int64))
    assert any_mutated == bool(mutated.any())


def test_take_rows_is_numpys_indexing_or_declines():
    rng = np.random.default_rng(RNG_SEED)
    n = 50
    cols = (rng.integers(0, 2**63, n, dtype=np.uint64), rng.random(n),
            rng.integers(0, 9, n).astype(np.int16), rng.integers(0, 9, n).astype(np.int32),
            rng.integers(0, 3, n).astype(np.uint8), rng.random(n) < 0.5)
    rows = rng.integers(0, n, 30)
    got = engine_rows.take_rows(rows, cols)
    for g, c in zip(got, cols):
        assert _same(g, c[rows])
    assert engine_rows.take_rows(rows[:0], cols)[1].shape == (0,)
    # not int64 positions in range, or columns of other lengths or layouts: None
    assert engine_rows.take_rows(rows.astype(np.int32), cols) is None
    assert engine_rows.take_rows(np.array([0, n]), cols) is None
    assert engine_rows.take_rows(np.array([-1]), cols) is None
    assert engine_rows.take_rows(rows, (cols[0], cols[1][:-1])) is None
    assert engine_rows.take_rows(rows, (rng.random(2 * n)[::2],)) is None
    assert engine_rows.take_rows(rows, (np.empty(n, object),)) is None


def _random_rows(rng, n):
    """The core columns of ``n`` random rows of patients 3-6 in 5 organs."""
    return dict(uid=rng.integers(1, 2**63, n, dtype=np.uint64), parent=np.zeros(n, np.uint64),
                lesion=rng.integers(1, 2**63, n, dtype=np.uint64),
                clone=rng.integers(1, 2**63, n, dtype=np.uint64),
                genotype=rng.integers(0, 8, n).astype(np.uint64),
                cells=np.floor(rng.uniform(0, 1e6, n)), patient=rng.integers(3, 7, n),
                birth_step=rng.integers(0, 9, n).astype(np.int32),
                organ=rng.integers(0, 5, n).astype(np.int16), flags=_flags(rng, n))


def test_a_view_of_some_rows_is_the_same_however_they_are_given():
    """``LesionTable.view(rows=...)``: int64 positions (the compiled gather), a
    boolean mask or other integers (NumPy's indexing) give the same view."""
    from paget.state import LesionTable
    rng = np.random.default_rng(RNG_SEED)
    n = 40
    tab = LesionTable(capacity=64)
    tab.append(**_random_rows(rng, n))
    mask = rng.random(n) < 0.5
    views = [tab.view(1.0, 3, rows, n_patients=4, n_organs=5)
             for rows in (np.flatnonzero(mask).astype(np.int64), mask,
                          np.flatnonzero(mask).astype(np.int32))]
    for name in ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ", "cells",
                 "dormant", "primary", "birth_time", "pidx"):
        for v in views[1:]:
            assert _same(getattr(v, name), getattr(views[0], name)), name
        assert not getattr(views[0], name).flags.writeable


def test_a_view_of_some_rows_renewed_after_an_append_is_a_fresh_one():
    """``LesionTable.layout`` stays through appends (rows keep their positions
    and columns) and moves with a compaction that drops rows; a view of some
    rows (copies) renewed with their cells after appends, even ones that
    reallocate the columns, is what a fresh view of them is
    (``Dissemination._sources`` reuses it so)."""
    from paget.state import LesionTable
    rng = np.random.default_rng(RNG_SEED)
    tab = LesionTable(capacity=16)
    tab.append(**_random_rows(rng, 12))
    src = np.array([1, 4, 5, 11], np.int64)
    view = tab.view(1.0, 3, src, n_patients=4, n_organs=5)
    view.lesion_cells, view.birth_time     # derived arrays, kept by renewed()
    layout, version = tab.layout, tab.version
    tab.append(**_random_rows(rng, 30))     # past the capacity: new buffers
    tab.cells[src] += 7.0
    assert tab.layout == layout and tab.version != version
    fresh = tab.view(1.0, 3, src, n_patients=4, n_organs=5)
    again = view.renewed(tab.cells[src])
    for name in ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ", "cells",
                 "row", "dormant", "primary", "pidx", "birth_time", "lesion_cells"):
        assert _same(getattr(again, name), getattr(fresh, name)), name
    tab.compact(np.ones(tab.n, bool))      # keeps every row: nothing moved
    assert tab.layout == layout
    tab.compact(np.arange(tab.n) != 2)
    assert tab.layout == layout + 1


def test_arrays_of_equivalent_types_pass_and_unaligned_ones_are_named():
    """An array another rank sent (MPI records) may be ``ulonglong`` where the
    engine's are ``uint64``, or unaligned: the first is read as it is, the
    second refused naming the argument (the engine passes aligned copies)."""
    uid = np.arange(1, 6, dtype=np.uint64)
    flags = np.full(5, FLAG_DORMANT, np.uint8)
    cells = np.ones(5)
    key = uid[:2].astype(np.ulonglong)
    assert engine_rows.join_pools(key, np.ones(2), uid, flags, cells).size == 0
    assert _same(cells, np.array([2.0, 2.0, 1.0, 1.0, 1.0]))
    packed = np.zeros(2, dtype=[("a", np.uint8), ("uid", np.uint64)])     # unaligned field
    packed["uid"] = (9, 10)
    unaligned = np.frombuffer(packed.tobytes(), np.uint8)[1:17].view(np.uint64)
    assert not unaligned.flags.aligned
    with pytest.raises(TypeError, match="key: expected a C-contiguous, aligned"):
        engine_rows.join_pools(unaligned, np.ones(2), uid, flags, cells)


@pytest.mark.parametrize("n, clones", [(0, 0.0), (1, 0.0), (2, 1.0), (500, 0.0), (500, 0.3)],
                         ids=["empty", "one", "two-one-lesion", "no-clones", "clones"])
def test_lesion_cells_equals_the_numpy_sum(n, clones):
    """Lesions.lesion_cells' compiled pass against the NumPy it replaced (np.where,
    then bincount over the lesion groups), -0.0 and fractional cells included."""
    from paget.state import lesion_groups
    rng = np.random.default_rng(11 + n)
    uid = np.arange(1, n + 1, dtype=np.uint64)
    lesion = uid.copy()
    inside = rng.random(n) < clones
    lesion[inside] = rng.integers(1, max(2, n // 3), inside.sum()).astype(np.uint64)
    if n == 2 and clones:
        lesion[:] = 1
    dormant = rng.random(n) < 0.2
    cells = np.where(rng.random(n) < 0.5, np.floor(np.exp(rng.uniform(0, 25, n))),
                     rng.uniform(0, 1e3, n))
    cells[rng.random(n) < 0.05] = -0.0
    at, group, n_groups = lesion_groups(lesion, uid)
    want = np.where(dormant, 0.0, cells)
    if n_groups:
        want[at] = np.bincount(group, weights=want[at], minlength=n_groups)[group]
    got = engine_rows.lesion_cells(dormant, cells, at, group, n_groups)
    assert got.dtype == np.float64 and got.tobytes() == want.tobytes()
    if n_groups:
        with pytest.raises(IndexError, match="outside"):
            engine_rows.lesion_cells(dormant, cells, at, group, n_groups - 1)
