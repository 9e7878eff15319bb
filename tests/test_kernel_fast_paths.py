"""The fast paths of the compiled kernels change how a result is computed, never what.

* Quiet rows decide "u < exp(y)" by polynomial bounds on exp and call exp()
  only between them; the decision must be libm's, element for element.
* Per-rate setup (x, log(1 + b x), powers of 1 - alpha and 1 - beta) and e^-lam
  are cached across the rows of one call, and rows are stepped in chunks, whose
  first pass settles the quiet rows and whose second steps the others: a row's
  result must not depend on which other rows share the call (it is keyed by its
  uid alone).
* Rows are grouped by lesion with a hash table, per-patient counters are
  added in one compiled pass, and new dormant cells find their pools with a
  hash table: the same result as the NumPy code they replace.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

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


# ---------------------------------------------------------------- grouping rows by lesion

def _lesion_groups_numpy(lesion, uid):
    """The reference: sort the ids of the clone rows, search every row among them."""
    ids = np.unique(lesion[lesion != uid])
    if not ids.size:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), 0
    pos = np.minimum(np.searchsorted(ids, lesion), ids.size - 1)
    at = np.flatnonzero(ids[pos] == lesion)
    return at, pos[at], ids.size


@pytest.mark.parametrize("rows,clones,lesions", [(5000, 800, 60), (5000, 4900, 3), (300, 1, 1),
                                                 (300, 0, 0), (1, 0, 0), (0, 0, 0)])
def test_lesion_groups_equals_sorting_every_row(rows, clones, lesions):
    """The hash-table grouping of ``kernels.lesion_groups`` gives the positions,
    group indices (ranks of the sorted lesion ids) and group count of the
    sort-and-search it replaces; some uids are small and alike in their low bits,
    as hashing is by all 64."""
    rng = np.random.default_rng(rows + clones)
    uid = rng.integers(1, 2**64 - 1, rows, dtype=np.uint64, endpoint=True)
    uid[: rows // 10] = np.arange(rows // 10, dtype=np.uint64) << np.uint64(40)
    lesion = uid.copy()
    if clones:
        parents = rng.choice(rows, lesions, replace=False)
        lesion[rng.choice(rows, clones, replace=False)] = uid[rng.choice(parents, clones)]
    got = kernels.lesion_groups(lesion, uid)
    want = _lesion_groups_numpy(lesion, uid)
    assert got[2] == want[2]
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_lesion_groups_refuses_unequal_lengths():
    with pytest.raises(ValueError, match="one length"):
        kernels.lesion_groups(np.zeros(3, np.uint64), np.zeros(2, np.uint64))


def test_add_rows_at_equals_numpy_add_at():
    rng = np.random.default_rng(4)
    acc = rng.integers(0, 100, (7, 5)).astype(np.int64)
    at = rng.integers(0, 7, 40).astype(np.int64)
    values = rng.integers(0, 10**12, (40, 5)).astype(np.int64)
    want = acc.copy()
    np.add.at(want, at, values)
    kernels.add_rows_at(acc, at, values)
    np.testing.assert_array_equal(acc, want)
    with pytest.raises(IndexError, match="out of range"):
        kernels.add_rows_at(acc, np.array([7], np.int64), values[:1])
    with pytest.raises(ValueError, match="values must be"):
        kernels.add_rows_at(acc, at, values[:, :4].copy())


# ---------------------------------------------------------------- finding dormant pools

def _match_pools_numpy(key, uid, flags, cells):
    """The reference: per key, the last live dormant row of that uid, or -1."""
    live = ((flags & kernels.FLAG_DORMANT) != 0) & (cells > 0)
    out = np.full(key.size, -1, np.int64)
    for j, k in enumerate(key):
        rows = np.flatnonzero(live & (uid == k))
        if rows.size:
            out[j] = rows[-1]
    return out


@pytest.mark.parametrize("rows,keys", [(0, 0), (0, 5), (40, 0), (300, 25), (3000, 700)])
def test_match_pools_finds_the_live_pool_of_each_key(rows, keys):
    """``kernels.match_pools`` finds, for each new pool id, the live dormant pool
    of that id: not an emptied one, not a growing row that shares the id, and -1
    for an id with no pool (a new pool)."""
    rng = np.random.default_rng(rows + 7 * keys)
    uid = rng.integers(1, 2**64 - 1, rows, dtype=np.uint64, endpoint=True)
    uid[: rows // 10] = np.arange(rows // 10, dtype=np.uint64) << np.uint64(40)  # alike low bits
    flags = np.where(rng.random(rows) < 0.7, kernels.FLAG_DORMANT, 0).astype(np.uint8)
    cells = np.where(rng.random(rows) < 0.2, 0.0, rng.integers(1, 50, rows)).astype(np.float64)
    if rows > 4:
        # an emptied pool and a live one of the same id, the live one last
        uid[3], flags[3], cells[3] = uid[1], kernels.FLAG_DORMANT, 7.0
        flags[1], cells[1] = kernels.FLAG_DORMANT, 0.0
    pick = rng.choice(rows, min(rows, keys // 2), replace=False) if rows else np.zeros(0, int)
    key = np.unique(np.concatenate([uid[pick], rng.integers(1, 2**63, keys, dtype=np.uint64)]))
    key = rng.permutation(key)[:keys]
    got = kernels.match_pools(key, uid, flags, cells)
    np.testing.assert_array_equal(got, _match_pools_numpy(key, uid, flags, cells))
    assert got.dtype == np.int64
    if rows > 4 and keys:
        assert kernels.match_pools(uid[[1]], uid, flags, cells)[0] == 3


def test_match_pools_refuses_repeated_keys_and_unequal_lengths():
    with pytest.raises(ValueError, match="distinct"):
        kernels.match_pools(np.array([5, 9, 5], np.uint64), np.zeros(2, np.uint64),
                            np.zeros(2, np.uint8), np.zeros(2))
    with pytest.raises(ValueError, match="one length"):
        kernels.match_pools(np.zeros(1, np.uint64), np.zeros(3, np.uint64),
                            np.zeros(2, np.uint8), np.zeros(3))
