"""Splitting patients over ranks (paget.domains): the parts that need no MPI.

The collectives themselves are tested under mpiexec in tests/mpi/test_domains.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import itertools

from paget.domains import (FOLD_BITS, FOLDS, Domains, _combine, _folds, fold_sum,
                           layout_time, plan_groups, rank_groups)
from paget.output import patient_blocks
from paget.state import LesionTable


# ----------------------------------------------------------------- fold_sum
def _split_fold_sum(index, values, n, parts):
    """fold_sum as a group of ``len(parts)`` ranks computes it: the largest term
    per bin over all parts, each part's folds, their sum, one combination."""
    largest = np.zeros(n)
    for p in parts:
        np.maximum.at(largest, index[p], np.abs(values[p]))
    exponent = np.frexp(largest)[1].astype(np.int64)
    folds = sum(_folds(index[p], values[p], n, exponent) for p in parts)
    return _combine(folds, exponent)


@pytest.mark.parametrize("seed", range(5))
def test_fold_sum_is_the_same_to_the_bit_in_any_order_and_split(seed):
    rng = np.random.default_rng(seed)
    m, n = 5000, 7
    index = rng.integers(0, n, m)
    # terms of mixed signs over 30 orders of magnitude: an ordinary sum depends on order
    values = rng.standard_normal(m) * 10.0 ** rng.uniform(-15, 15, m)
    ref = fold_sum(index, values, n)
    perm = rng.permutation(m)
    assert np.array_equal(fold_sum(index[perm], values[perm], n), ref)
    for k in (2, 3, 7):
        cuts = np.sort(rng.choice(np.arange(1, m), k - 1, replace=False))
        parts = np.split(rng.permutation(m), cuts)
        assert np.array_equal(_split_fold_sum(index, values, n, parts), ref)


def test_fold_sum_is_within_rounding_of_the_exact_sum():
    rng = np.random.default_rng(11)
    m, n = 20000, 3
    index = rng.integers(0, n, m)
    values = rng.standard_normal(m) * 10.0 ** rng.uniform(-8, 8, m)
    got = fold_sum(index, values, n)
    for b in range(n):
        terms = values[index == b]
        exact = math.fsum(terms)
        # error bound of the folds: each term rounded to 2**(e - FOLDS FOLD_BITS - 1)
        bound = terms.size * np.abs(terms).max() * 2.0 ** (-FOLDS * FOLD_BITS)
        assert abs(got[b] - exact) <= bound + abs(exact) * 2.0 ** -52


def test_fold_sum_of_whole_numbers_is_the_exact_bincount():
    """Cells: the serial shortcut (a bincount) and the folds agree to the bit."""
    rng = np.random.default_rng(3)
    index = rng.integers(0, 4, 3000)
    values = np.floor(rng.uniform(0, 1e12, 3000))
    plain = np.bincount(index, weights=values, minlength=4)
    assert np.array_equal(fold_sum(index, values, 4), plain)
    assert np.array_equal(_split_fold_sum(index, values, 4, np.array_split(np.arange(3000), 3)),
                          plain)


def test_fold_sum_of_non_finite_terms_and_empty_bins():
    index = np.array([0, 0, 1, 1, 2])
    values = np.array([np.inf, 1.5, np.inf, -np.inf, np.nan])
    got = fold_sum(index, values, 4)
    assert got[0] == np.inf and np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 0.0
    assert np.array_equal(fold_sum(np.zeros(0, int), np.zeros(0), 3), np.zeros(3))


def test_fold_sum_refuses_mismatched_input():
    with pytest.raises(ValueError, match="3 indices for 2 values"):
        fold_sum(np.zeros(3, int), np.zeros(2), 1)


# ----------------------------------------------------------------- groups
@pytest.mark.parametrize("patients,ranks,chunk", [(1, 4, 1), (3, 4, 1), (2, 5, 1), (7, 4, 1),
                                                  (4, 4, 1), (5, 8, 2), (0, 3, 1), (1, 1, 1)])
def test_rank_groups_share_every_block_over_contiguous_ranks(patients, ranks, chunk):
    groups = rank_groups(patients, ranks, chunk)
    assert len(groups) == ranks
    blocks = [b for b in patient_blocks(patients, ranks, chunk) if b[1] > b[0]]
    if len(blocks) == ranks or not blocks:
        assert [(lo, hi) for _, lo, hi in groups] == patient_blocks(patients, ranks, chunk)
        return
    ids = [g for g, _, _ in groups]
    assert ids == sorted(ids) and set(ids) == set(range(len(blocks)))   # contiguous, all used
    sizes = np.bincount(ids)
    assert sizes.max() - sizes.min() <= 1                               # as even as it goes
    assert [groups[ids.index(g)][1:] for g in range(len(blocks))] == blocks


def _check_layout(layout, patients, ranks, chunk):
    """Every rank in one group; groups numbered in rank order; their segments
    contiguous, in patient order, covering every patient, cut at whole chunks."""
    assert len(layout) == ranks
    ids = [g for g, _, _ in layout]
    assert ids[0] == 0 and all(b - a in (0, 1) for a, b in zip(ids, ids[1:]))
    segments = [layout[ids.index(g)][1:] for g in range(ids[-1] + 1)]
    assert all(seg == (lo, hi) for g, lo, hi in layout for seg in [segments[g]])
    assert segments[0][0] == 0 and segments[-1][1] == patients
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))
    assert all(hi > lo and lo % chunk == 0 for lo, hi in segments)


@pytest.mark.parametrize("seed", range(40))
def test_plan_groups_lays_out_every_rank_and_beats_the_even_split(seed):
    rng = np.random.default_rng(seed)
    patients, ranks, chunk = int(rng.integers(1, 60)), int(rng.integers(1, 17)), \
        int(rng.choice([1, 1, 2, 3]))
    loads = rng.lognormal(0, 2.0, patients) * rng.integers(0, 2, patients)  # some idle
    layout = plan_groups(loads, ranks, chunk)
    _check_layout(layout, patients, ranks, chunk)
    assert layout_time(loads, layout) <= layout_time(loads, rank_groups(patients, ranks, chunk)) \
        * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(30))
def test_plan_groups_is_at_least_as_good_as_the_best_split_without_groups(seed):
    """Exhaustive check on small cases: no contiguous split of the patients into
    one segment per rank has a smaller largest load."""
    rng = np.random.default_rng(1000 + seed)
    ranks = int(rng.integers(1, 5))
    patients = int(rng.integers(ranks, 9))
    loads = rng.lognormal(0, 1.5, patients)
    best = min(max(loads[a:b].sum() for a, b in zip((0,) + cuts, cuts + (patients,)))
               for cuts in itertools.combinations(range(1, patients), ranks - 1))
    assert layout_time(loads, plan_groups(loads, ranks)) <= best * (1 + 1e-9)


def test_plan_groups_gives_a_large_patient_the_spare_ranks():
    loads = np.full(20, 100.0)
    loads[7] = 50_000.0                     # one patient with most of the cohort's rows
    layout = plan_groups(loads, 8)
    _check_layout(layout, 20, 8, 1)
    mine = [(lo, hi) for _, lo, hi in layout if lo <= 7 < hi]
    assert len(mine) >= 5                   # the large patient's group
    assert layout_time(loads, layout) < 0.5 * layout_time(loads, rank_groups(20, 8))


def test_layout_time_counts_a_groups_ranks_at_the_assumed_efficiency():
    loads = np.array([1.0, 2.0, 3.0, 4.0])
    assert layout_time(loads, [(0, 0, 2), (1, 2, 4)]) == 7.0
    # 3 ranks on patients [2, 4): a speed-up of 1 + 0.5 * 2 = 2
    assert layout_time(loads, [(0, 0, 2), (1, 2, 4), (1, 2, 4), (1, 2, 4)]) == 3.5
    assert layout_time(loads, [(0, 0, 4)] * 2, efficiency=1.0) == 5.0


def test_plan_groups_without_work_is_the_even_split_and_refuses_bad_input():
    assert plan_groups(np.zeros(10), 4, 2) == rank_groups(10, 4, 2)
    assert plan_groups(np.ones(3), 4) == rank_groups(3, 4)
    with pytest.raises(ValueError, match="cannot lay out 0 patients over 2 ranks"):
        plan_groups(np.zeros(0), 2)
    for loads, eff in (([1.0, -1.0], 0.5), ([1.0, np.nan], 0.5), ([1.0], 0.0)):
        with pytest.raises(ValueError, match="finite loads >= 0 and an efficiency > 0"):
            plan_groups(np.array(loads), 2, efficiency=eff)


def test_domains_start_spread_and_keep_a_lesions_clones_together():
    dom = Domains(group_size=3, n_patients=2, n_organs=5)
    assert dom.shards == 3 * Domains.SHARDS_PER_RANK
    # every (patient, organ) has shards on every rank
    owner = dom.owner.reshape(2, 5, dom.shards)
    assert all(set(owner[p, o]) == {0, 1, 2} for p in range(2) for o in range(5))
    lesion = np.array([7, 7, 7, 12345678901], np.uint64)   # one lesion's three clones
    d = dom.domain(np.array([1, 1, 1, 1]), np.array([2, 2, 2, 2]), lesion)
    assert d[0] == d[1] == d[2]


def test_domain_assignment_balances_rows_and_is_deterministic():
    rng = np.random.default_rng(5)
    dom = Domains(group_size=4, n_patients=1, n_organs=3)
    counts = rng.integers(0, 1000, dom.owner.size)
    counts[:10] = 0
    owner = dom.assign(counts)
    assert np.array_equal(owner, dom.assign(counts))
    assert np.array_equal(owner[:10], dom.owner[:10])           # empty domains stay
    load = np.bincount(owner, weights=counts, minlength=4)
    # LPT: no rank above the mean by more than the largest domain
    assert load.max() - load.mean() <= counts.max()
    assert Domains.imbalance(counts, owner, 4) < Domains.imbalance(
        counts, np.zeros_like(owner), 4)


# ------------------------------------------------- reductions handed to hooks
def _table():
    t = LesionTable()
    t.append(uid=np.array([1, 2, 3, 4, 5], np.uint64), parent=np.zeros(5, np.uint64),
             lesion=np.array([1, 2, 2, 4, 5], np.uint64), clone=np.arange(5, dtype=np.uint64),
             genotype=np.zeros(5, np.uint64), cells=np.array([10.0, 4.0, 6.0, 10.0, 3.0]),
             patient=np.array([5, 5, 5, 6, 7]), birth_step=np.zeros(5, np.int32),
             organ=np.array([0, 1, 1, 2, 0], np.int16), flags=np.zeros(5, np.uint8))
    return t


def test_patient_sum_per_patient_per_organ_and_over_chosen_rows():
    les = _table().view(1.0, lo=5, n_patients=4, n_organs=3)
    assert np.array_equal(les.patient_sum(les.cells), [20.0, 10.0, 3.0, 0.0])
    by_organ = les.patient_sum(les.cells, by_organ=True)
    assert by_organ.shape == (4, 3)
    assert np.array_equal(by_organ[0], [10.0, 10.0, 0.0])
    assert np.array_equal(les.patient_sum(np.array([1.0, 2.0]), rows=np.array([1, 4])),
                          [1.0, 0.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="one entry per row"):
        les.patient_sum(np.ones(3))


def test_a_view_is_serial_alone_with_its_counts_known():
    """serial: no group and both counts given (a built-in body then sums itself)."""
    assert _table().view(1.0, lo=5, n_patients=4, n_organs=3).serial
    assert not _table().view(1.0, lo=5, n_patients=4).serial
    assert not _table().view(1.0, lo=5, n_organs=3).serial
    # a group (here a stand-in: serial only asks whether there is one) shares patients
    assert not _table().view(1.0, lo=5, n_patients=4, n_organs=3, group=object()).serial


def test_largest_lesion_adds_clones_and_breaks_ties_by_lowest_id():
    les = _table().view(1.0, lo=5, n_patients=4, n_organs=3)
    best, cells = les.largest_lesion()
    # patient 5: lesion 1 (10 cells) ties lesion 2 (4 + 6): the lower id wins
    assert best.tolist() == [1, 4, 5, 0] and cells.tolist() == [10.0, 10.0, 3.0, 0.0]


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1.0, 1e200, 1e300])
def test_fold_sum_of_tiny_and_huge_terms(scale):
    """The folds scale each term, not the grid alone: no overflow of 2**shift
    for terms near the ends of the float64 range."""
    rng = np.random.default_rng(2)
    values = rng.standard_normal(1000) * scale
    got = fold_sum(np.zeros(1000, int), values, 1)[0]
    exact = math.fsum(values)
    assert np.isfinite(got)
    assert abs(got - exact) <= 1000 * np.abs(values).max() * 2.0 ** -63 + abs(exact) * 2.0 ** -52


def test_pack_arrays_round_trips_every_kind_of_state_array_and_refuses_objects():
    from paget.domains import pack_arrays, unpack_arrays
    state = {"lo": np.int64(3), "cells": np.linspace(0, 1e12, 7),
             "flags": np.array([1, 0, 255], np.uint8), "alive": np.array([True, False]),
             "rec.x": np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::2],  # not contiguous
             "empty": np.zeros((0, 5)), "name": np.array(["liver", "bone"]),
             "big_endian": np.arange(3, dtype=">f8")}
    buf = pack_arrays(state)
    assert buf.dtype == np.uint8
    got = unpack_arrays(buf)
    assert list(got) == list(state)
    for k, v in state.items():
        v = np.asarray(v)
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and np.array_equal(got[k], v), k
    with pytest.raises(TypeError, match="obj: object arrays cannot be sent"):
        pack_arrays({"obj": np.array([{}, None])})
