"""Absorbing fates of circulating tumour cells (paget.body.absorbing_fates).

The Monte Carlo reference below walks single cells bed by bed, written plainly
from the anatomy (not from the matrix solution).  Its fate frequencies from W
walks are compared with the solved row within 5 binomial standard errors,
5 sqrt(p (1 - p) / W) per fate (false alarm ~6e-7 per comparison; the seed is
fixed, so the test is deterministic).
"""
from __future__ import annotations

import numpy as np

from paget.plugins.circulation import ARREST, LYMPH_NODE_ARREST
import pytest

import paget
from paget.body import ORGANS, absorbing_fates, human_adult
from paget.state import FateMatrix

BODY = human_adult()
N_ORG = len(ORGANS)
LUNG, LIVER = ORGANS.index("lung"), ORGANS.index("liver")
ARTERIAL = N_ORG          # the arterial split, as a location of a walking cell
DIED = N_ORG              # the fate column "died in circulation"
CAVAL = [i for i, d in enumerate(BODY.drains) if d == "caval"]
PORTAL = [i for i, d in enumerate(BODY.drains) if d == "portal"]


def _outflow(j, rng):
    """Where the venous blood of bed j goes next (drawn where the organ's
    drainage is fractional)."""
    d = BODY.drains[j]
    if not isinstance(d, str):
        kinds = list(d)
        d = kinds[rng.choice(len(kinds), p=[d[k] for k in kinds])]
    return {"caval": LUNG, "portal": LIVER, "pulmonary": ARTERIAL}[d]


def walk_fates(source, arrest, death, walks, rng):
    """Fate counts of ``walks`` single CTCs shed into the venous blood of ``source``.

    Every walker starts at the outflow of its organ.  At the arterial split it
    picks bed k with probability body.flow[k].  In bed j it dies with
    probability death[j]; a survivor arrests with probability arrest[j]; else it
    moves on to the bed's outflow.  Walkers are advanced together, one move per
    loop, until every one has a fate.
    """
    where = np.array([_outflow(source, rng) for _ in range(walks)])
    fate = np.full(walks, -1)
    while np.any(fate < 0):
        moving = np.flatnonzero(fate < 0)
        at_split = moving[where[moving] == ARTERIAL]
        where[at_split] = rng.choice(N_ORG, size=at_split.size, p=BODY.flow)
        # every moving walker is now in a bed
        j = where[moving]
        u = rng.random(moving.size)
        dies = u < death[j]
        arrests = ~dies & (rng.random(moving.size) < arrest[j])
        fate[moving[dies]] = DIED
        fate[moving[arrests]] = j[arrests]
        passes = ~dies & ~arrests
        where[moving[passes]] = [_outflow(b, rng) for b in j[passes]]
    return np.bincount(fate, minlength=N_ORG + 1)


def _per_bed_probabilities():
    # unequal per-bed probabilities, so that a mixed-up index shows
    rng = np.random.default_rng(123)
    return rng.uniform(0.1, 0.5, N_ORG), rng.uniform(0.01, 0.1, N_ORG)


# ------------------------------------------------------------------ structure

@pytest.mark.parametrize("params", ["default", "per_bed"], ids=["default", "per_bed"])
def test_rows_are_probability_distributions(params):
    if params == "default":
        arrest, death = np.full(N_ORG, 0.2), np.full(N_ORG, 0.05)
    else:
        arrest, death = _per_bed_probabilities()
    F = absorbing_fates(BODY, arrest, death)
    assert F.shape == (N_ORG, N_ORG + 1)
    assert np.all(F >= 0) and np.all(F <= 1)
    np.testing.assert_allclose(F.sum(axis=1), 1.0, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ Monte Carlo

WALKS = 20000
MC_SOURCES = ["breast", "colon", "lung", "spleen", "rectum", "pleura"]


@pytest.mark.parametrize("source", MC_SOURCES, ids=MC_SOURCES)
def test_fates_match_monte_carlo_walks(source):
    arrest, death = _per_bed_probabilities()
    i = ORGANS.index(source)
    F = absorbing_fates(BODY, arrest, death)[i]
    counts = walk_fates(i, arrest, death, WALKS, np.random.default_rng(1000 + i))
    freq = counts / WALKS
    se = np.sqrt(F * (1 - F) / WALKS)
    np.testing.assert_array_less(np.abs(freq - F), 5 * se + 1e-15)


# ------------------------------------------------------------------ limits

def test_certain_first_bed_arrest():
    F = absorbing_fates(BODY, np.ones(N_ORG), np.zeros(N_ORG))
    for i in CAVAL:
        expected = np.zeros(N_ORG + 1)
        expected[LUNG] = 1.0
        np.testing.assert_allclose(F[i], expected, atol=1e-12, err_msg=ORGANS[i])
    for i in PORTAL:
        expected = np.zeros(N_ORG + 1)
        expected[LIVER] = 1.0
        np.testing.assert_allclose(F[i], expected, atol=1e-12, err_msg=ORGANS[i])
    # a lung primary's CTCs reach the arteries first: they arrest in proportion to flow
    np.testing.assert_allclose(F[LUNG], np.append(BODY.flow, 0.0), atol=1e-12)


@pytest.mark.parametrize("arrest", [0.0, 0.3, 1.0], ids=["arrest0", "arrest0.3", "arrest1"])
def test_certain_death(arrest):
    F = absorbing_fates(BODY, np.full(N_ORG, arrest), np.ones(N_ORG))
    expected = np.zeros((N_ORG, N_ORG + 1))
    expected[:, DIED] = 1.0
    np.testing.assert_allclose(F, expected, atol=1e-12)


def test_no_arrest_and_no_death_raises():
    with pytest.raises(ValueError):
        absorbing_fates(BODY, np.zeros(N_ORG), np.zeros(N_ORG))


def test_explicit_entry_rows():
    """entry = the arterial split gives body.flow-weighted first beds; entry rows
    equal to the default starts reproduce the default rows."""
    arrest, death = _per_bed_probabilities()
    F = absorbing_fates(BODY, arrest, death)
    at_lung = np.zeros((1, N_ORG + 1))
    at_lung[0, LUNG] = 1.0
    # a caval organ's CTCs start in the lung bed
    np.testing.assert_allclose(absorbing_fates(BODY, arrest, death, entry=at_lung)[0],
                               F[ORGANS.index("breast")], rtol=1e-12)
    at_split = np.zeros((1, N_ORG + 1))
    at_split[0, ARTERIAL] = 1.0
    np.testing.assert_allclose(absorbing_fates(BODY, arrest, death, entry=at_split)[0],
                               F[LUNG], rtol=1e-12)


# ------------------------------------------------------------------ invalid input

def _bad(kind):
    ok = np.full(N_ORG, 0.2)
    if kind == "arrest_above_1":
        return ok + np.eye(N_ORG)[3], ok
    if kind == "arrest_negative":
        return ok - np.eye(N_ORG)[3], ok
    if kind == "death_above_1":
        return ok, ok + np.eye(N_ORG)[0]
    if kind == "arrest_short":
        return ok[:-1], ok
    if kind == "death_long":
        return ok, np.append(ok, 0.2)
    if kind == "arrest_2d":
        return ok[None, :], ok
    if kind == "arrest_nan":
        a = ok.copy()
        a[5] = np.nan
        return a, ok
    if kind == "death_nan":
        d = ok.copy()
        d[0] = np.nan
        return ok, d
    if kind == "death_inf":
        d = ok.copy()
        d[0] = np.inf
        return ok, d
    raise AssertionError(kind)


BAD = ["arrest_above_1", "arrest_negative", "death_above_1", "arrest_short", "death_long",
       "arrest_2d", "arrest_nan", "death_nan", "death_inf"]


@pytest.mark.parametrize("kind", BAD, ids=BAD)
def test_invalid_probabilities_raise(kind):
    arrest, death = _bad(kind)
    with pytest.raises(ValueError):
        absorbing_fates(BODY, arrest, death)


# ------------------------------------------------------------------ the plugin

@pytest.fixture(scope="module")
def default_fates():
    return paget.Simulation({}).fates


def test_plugin_blood_rows_sum_to_one(default_fates):
    assert isinstance(default_fates, FateMatrix)
    assert default_fates.blood.shape == (N_ORG, N_ORG + 1)
    np.testing.assert_allclose(default_fates.blood.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # and it is the solved chain of the default per-bed probabilities
    np.testing.assert_allclose(
        default_fates.blood,
        absorbing_fates(BODY, np.full(N_ORG, ARREST), np.full(N_ORG, 0.05)), rtol=1e-12)


def test_plugin_lymph_row(default_fates):
    lymph = default_fates.lymph
    assert lymph.shape == (N_ORG + 1,)
    np.testing.assert_allclose(lymph.sum(), 1.0, rtol=0, atol=1e-12)
    # each node group is a bed: 5 % die there, a share a of the survivors arrest;
    # the rest go from the regional to the distant nodes, and then follow the
    # venous return (a caval organ's blood row)
    survive = 1.0 - 0.05
    a = LYMPH_NODE_ARREST
    distant = survive * (1 - a) * default_fates.blood[ORGANS.index("breast")]
    distant[ORGANS.index("distant_nodes")] += survive * a
    distant[-1] += 0.05
    expected = survive * (1 - a) * distant
    expected[ORGANS.index("lymph_nodes")] += survive * a
    expected[-1] += 0.05
    np.testing.assert_allclose(lymph, expected, rtol=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.25, 1.0], ids=["p0", "p0.25", "p1"])
def test_plugin_lymph_node_arrest_setting(p):
    fates = paget.Simulation({"circulation": {"lymph_node_arrest": p}}).fates
    ln = ORGANS.index("lymph_nodes")
    assert fates.lymph[ln] >= (1.0 - 0.05) * p
    np.testing.assert_allclose(fates.lymph.sum(), 1.0, rtol=0, atol=1e-12)
