"""Genetics: mutation at division, the catalogue of alterations, their traits.

Stochastic comparisons use fixed seeds and tolerances of Z standard deviations
of the compared quantity, the standard deviation derived from the model (not
from the sample); Z = 5 gives a false alarm of ~6e-7 per comparison.
"""
from __future__ import annotations

import types

import numpy as np
import pytest

import paget
from paget.plugins import genetics

from .conftest import busy
from .factors import only, run, simulation
from .test_cli import write_toml
from .test_decomposition import datasets_on_ranks
from .helpers import assert_same_result

Z = 5.0


def sim(cfg):
    return simulation(cfg, "genetics")


# An exponential primary with no shedding: N0 cells, net rate R, turnover D.
N0, R, D, T = 1000, 0.01, 0.05, 100
B = D + R

#: every built-in alteration switched off, plus one that changes nothing
NEUTRAL_ONLY = {name: {"weight": 0.0} for name in genetics.DEFAULT_ALTERATIONS}
NEUTRAL_ONLY["NEUTRAL"] = {"traits": {}, "weight": 1.0}


def exponential(patients=30, mutation_rate=0.0, alterations=None, initial=(), cells=N0,
                mode="stochastic", seed=5):
    cfg = {
        "seed": seed,
        "cohort": {"patients": patients, "years": T / 365.25, "dt": 1.0},
        "primary": {"cells": cells},
        "intravasation": {"rate": 0.0},
        "colonization": {"growth": {"law": "exponential", "rate": R, "death": D, "mode": mode}},
        "output": {"interval": 10.0},
        "genetics": {"mutation_rate": mutation_rate, "initial": list(initial)},
    }
    if alterations is not None:
        cfg["genetics"]["alterations"] = alterations
    return cfg


def var_n(t, n0=N0, b=B, d=D):
    """Variance of a linear birth-death population at t (Kendall 1948)."""
    r = b - d
    return n0 * (b + d) / r * np.exp(r * t) * np.expm1(r * t)


def var_integral(t_end, n0=N0, b=B, d=D, steps=4000):
    """Var of the integral of N over [0, t_end]: 2 int_0^T Var N(s) (e^{r(T-s)} - 1)/r ds,
    from Cov(N(s), N(t)) = e^{r(t - s)} Var N(s) for s < t."""
    r = b - d
    s = np.linspace(0.0, t_end, steps + 1)
    f = var_n(s, n0, b, d) * np.expm1(r * (t_end - s)) / r
    return 2.0 * np.sum((f[1:] + f[:-1]) / 2.0) * (s[1] - s[0])


def kendall_extinct(t, b, d):
    """P(a one-cell birth-death lineage is extinct by t) = d (e^{rt} - 1) / (b e^{rt} - d)."""
    r = b - d
    return d * np.expm1(r * t) / (b * np.exp(r * t) - d)


# ------------------------------------------------------------------ mutation

def test_mutant_clones_match_divisions_times_mutation_rate():
    """Clones founded = mu * b * int N dt, the expected divisions of the primary.

    Cells moved into new clones keep dividing at the same rates (the only
    alteration is neutral), so the whole population stays one birth-death
    process: E int_0^T N dt = N0 (e^{rT} - 1) / r, and each division makes a
    mutant with probability mu.  Per patient the count is Poisson given the
    path, so its variance is its mean plus (mu b)^2 Var(int N dt).
    """
    mu, P = 1e-2, 30
    ds = run(exponential(patients=P, mutation_rate=mu, alterations=NEUTRAL_ONLY), "genetics")
    mutants = ds.sizes["clone"] - P
    mean = P * mu * B * N0 * np.expm1(R * T) / R
    sd = np.sqrt(P * (mean / P + (mu * B) ** 2 * var_integral(T)))
    assert abs(mutants - mean) < Z * sd, (mutants, mean, sd)
    assert mutants > 0.5 * mean  # (the tolerance is ~10 % of the mean)


def test_no_mutation_rate_no_clones_and_no_alterations_is_no_plugin():
    """Genetics with mutation_rate 0 and no initial alteration changes nothing."""
    cfg = busy(cohort={"patients": 2, "years": 0.1})
    with_plugin = run({**cfg, "genetics": {"mutation_rate": 0.0}}, "genetics")
    without = run(cfg)
    assert with_plugin.sizes["clone"] == 2
    assert_same_result(with_plugin.drop_attrs(), without.drop_attrs())


def test_a_neutral_alteration_leaves_growth_unchanged_in_distribution():
    """Mean burden at T with neutral mutants = without mutation = N0 e^{rT}.

    Not identical run for run: a mutant founds a new row whose draws are keyed
    by its own uid, so the cells it takes from its parent row follow other
    random numbers; only the distribution of the total is unchanged.
    """
    P = 40
    mutating = run(exponential(patients=P, mutation_rate=1e-2, alterations=NEUTRAL_ONLY),
                   "genetics")
    plain = run(exponential(patients=P, mutation_rate=0.0), "genetics")
    assert mutating.sizes["clone"] > 10 * P  # mutants did arise
    expected, sd_mean = N0 * np.exp(R * T), np.sqrt(var_n(T) / P)
    for ds in (mutating, plain):
        burden = ds.tumor_cells.isel(time=-1).sum("organ").values
        assert abs(burden.mean() - expected) < Z * sd_mean
    a = mutating.tumor_cells.isel(time=-1).sum("organ").values
    b = plain.tumor_cells.isel(time=-1).sum("organ").values
    # the difference of two means: at most sqrt(2) sd_mean when independent,
    # less when positively correlated (they share the parent rows' draws)
    assert abs(a.mean() - b.mean()) < Z * np.sqrt(2.0) * sd_mean


def mutant_cells_moments(mu, p, t_end=T):
    """Mean and an upper bound of the variance of the cells carrying the one
    choosable alteration (proliferation p) at t_end, per patient.

    Wild-type cells grow as N0 e^{(r - mu b) s} (each division makes a mutant
    with probability mu).  Mutants (and their mutants, which keep the genotype)
    grow at r' = p r with turnover d, so M(T) is a sum of one-cell lineages
    X_{tau}.  The engine founds a mutant that arose during step k as a one-cell
    row at the step's end, k + 1; the founders of step k number on average
    Lambda_k = mu b int_k^{k+1} N_wt ds.  So E M = sum_k Lambda_k E X_{T-k-1},
    Var M = sum_k Lambda_k E X^2_{T-k-1} (compound Poisson) plus the variance
    of the intensity, bounded by (mu b sum_k sd N(k) E X_{T-k-1})^2.
    """
    b_mut, r_mut, g = D + p * R, p * R, R - mu * B
    k = np.arange(int(t_end), dtype=np.float64)
    lam = mu * B * N0 * np.exp(g * k) * np.expm1(g) / g
    tau = t_end - k - 1.0
    ex = np.exp(r_mut * tau)
    ex2 = (b_mut + D) / r_mut * ex * np.expm1(r_mut * tau) + ex ** 2
    mean = np.sum(lam * ex)
    var = np.sum(lam * ex2) + (mu * B * np.sum(np.sqrt(var_n(k)) * ex)) ** 2
    return mean, var


@pytest.mark.parametrize("p", [1.0, 3.0], ids=["neutral", "proliferation-3"])
def test_mutant_cells_grow_at_their_proliferation(p):
    """Cells in mutant clones at T match the expectation for net rate p r,
    and the proliferative ones outgrow the neutral ones (selection)."""
    alts = {name: {"weight": 0.0} for name in genetics.DEFAULT_ALTERATIONS}
    alts["ALT"] = {"traits": {"proliferation": p}, "weight": 1.0}
    P, mu = 40, 1e-2
    ds = run(exponential(patients=P, mutation_rate=mu, alterations=alts), "genetics")
    cells = ds.lesion_cells.values[ds.lesion_genotype.values != 0].sum()
    mean, var = mutant_cells_moments(mu, p)
    assert abs(cells - P * mean) < Z * np.sqrt(P * var), (cells, P * mean, np.sqrt(P * var))
    neutral_mean, neutral_var = mutant_cells_moments(mu, 1.0)
    if p > 1:  # the comparison can tell the two apart
        assert P * (mean - neutral_mean) > Z * np.sqrt(P * (var + neutral_var))


# ------------------------------------------------------------------ traits

def test_initial_proliferation_scales_net_growth_exactly():
    """Deterministic mode: N(T) = N0 exp(p r T) with the initial KRAS (p = 1.5)."""
    ds = run(exponential(patients=1, initial=["KRAS"], mode="deterministic"), "genetics")
    got = float(ds.tumor_cells.isel(time=-1).sum())
    np.testing.assert_allclose(got, N0 * np.exp(1.5 * R * T), rtol=1e-9)
    ds = run(exponential(patients=1, mode="deterministic"), "genetics")
    np.testing.assert_allclose(float(ds.tumor_cells.isel(time=-1).sum()), N0 * np.exp(R * T),
                               rtol=1e-9)


def test_proliferation_keeps_the_turnover():
    """One-cell colonies with proliferation p die out with probability
    d (e^{r't} - 1) / (b' e^{r't} - d), b' = d + p r: the turnover d is kept
    (scaling b instead would give b' = p b and far fewer extinctions)."""
    P, p = 400, 2.0
    alts = {"KRAS": {"traits": {"proliferation": p}}}
    ds = run(exponential(patients=P, cells=1, initial=["KRAS"], alterations=alts), "genetics")
    extinct = float((ds.tumor_cells.isel(time=-1).sum("organ") == 0).mean())
    q = kendall_extinct(T, D + p * R, D)
    assert abs(extinct - q) < Z * np.sqrt(q * (1 - q) / P), (extinct, q)
    q_scaled_b = kendall_extinct(T, p * B, D)
    assert abs(q - q_scaled_b) > 2 * Z * np.sqrt(q * (1 - q) / P)  # the test can tell


def small_busy(**genetics_cfg):
    return busy(cohort={"patients": 2, "years": 0.1}, genetics=genetics_cfg)


@pytest.mark.parametrize("alteration, traits, check", [
    ("EMT", {"invasiveness": 0.0}, "no_shedding"),
    ("TP53", {"circulation_survival": 0.0}, "all_die_in_circulation"),
    ("MET", {"extravasation_factor": 0.0}, "no_extravasation"),
    ("CXCR4", {"bone_tropism": 0.0}, "no_extravasation_in_bone"),
], ids=["invasiveness", "circulation_survival", "extravasation_factor", "bone_tropism"])
def test_initial_alterations_act_on_their_stage(alteration, traits, check):
    ds = run(small_busy(initial=[alteration], alterations={alteration: {"traits": traits}}),
             "genetics")
    control = run(small_busy(), "genetics")
    assert int(control.dtc_extravasated.sel(organ="bone").sum()) > 0  # the control shows it
    shed = int(ds.ctc_shed.sum())
    if check == "no_shedding":
        assert shed == 0
        return
    assert shed > 0
    if check == "all_die_in_circulation":
        assert int(ds.ctc_arrested.sum()) == 0 and int(ds.ctc_died.sum()) == shed
    elif check == "no_extravasation":
        assert int(ds.ctc_arrested.sum()) > 0 and int(ds.dtc_extravasated.sum()) == 0
    else:
        assert int(ds.dtc_extravasated.sel(organ="bone").sum()) == 0
        assert int(ds.dtc_extravasated.drop_sel(organ="bone").sum()) > 0


def test_traits_combine_as_products_and_independent_fractions():
    cfg = sim({"genetics": {"alterations": {
        "KRAS": {"traits": {"proliferation": 1.5, "immune_evasion": 0.5}},
        "PD-L1": {"traits": {"immune_evasion": 0.6}},
    }, "initial": ["HER2"]}}).config
    kras, pdl1, emt = (genetics.bit(cfg, n) for n in ("KRAS", "PD-L1", "EMT"))
    tr = genetics.traits_of(np.array([0, kras, kras | pdl1, kras | emt], np.uint64), cfg)
    np.testing.assert_allclose(tr["proliferation"], [1.3, 1.3 * 1.5, 1.3 * 1.5, 1.3 * 1.5 * 0.5])
    np.testing.assert_allclose(tr["immune_evasion"], [0.0, 0.5, 1 - 0.5 * 0.4, 0.5])
    np.testing.assert_allclose(tr["invasiveness"], [1.0, 1.0, 1.0, 2.0])
    np.testing.assert_array_equal(tr["drug_resistance"], 0.0)


# ------------------------------------------------------------------ choice

def test_mutation_picks_an_uncarried_alteration_by_weight():
    weights = {"EMT": 1.0, "TP53": 2.0, "KRAS": 3.0, "MET": 0.0, "HER2": 4.0}
    alts = {n: {"weight": weights.get(n, 0.0)} for n in genetics.DEFAULT_ALTERATIONS}
    cfg = sim({"genetics": {"alterations": alts, "initial": ["HER2"]}}).config
    tp53, kras = genetics.bit(cfg, "TP53"), genetics.bit(cfg, "KRAS")
    m = 60000
    parents = types.SimpleNamespace(genotype=np.full(m, tp53, np.uint64))
    u = np.random.default_rng(0).random(m)
    new = genetics.paget_mutation(parents=parents, uniform=u, config=cfg)
    gained = new ^ parents.genotype
    # exactly one new bit, never one already carried (TP53) or initial (HER2)
    assert np.all((gained != 0) & ((gained & (gained - np.uint64(1))) == 0))
    names = list(genetics.DEFAULT_ALTERATIONS)
    picked = np.log2(gained.astype(np.float64)).astype(int)
    counts = np.bincount(picked, minlength=len(names))
    # available: EMT (1) and KRAS (3): probabilities 1/4 and 3/4
    assert counts.sum() == counts[names.index("EMT")] + counts[names.index("KRAS")]
    p = 0.25
    assert abs(counts[names.index("EMT")] / m - p) < Z * np.sqrt(p * (1 - p) / m)
    # a parent carrying every choosable alteration keeps its genotype
    full = types.SimpleNamespace(genotype=np.array([tp53 | kras | genetics.bit(cfg, "EMT")],
                                                   np.uint64))
    out = genetics.paget_mutation(parents=full, uniform=np.array([0.5]), config=cfg)
    np.testing.assert_array_equal(out, full.genotype)
    # the edge of the unit interval never picks a zero weight
    edge = genetics.paget_mutation(parents=types.SimpleNamespace(genotype=np.zeros(2, np.uint64)),
                                   uniform=np.array([0.0, np.nextafter(1.0, 0.0)]), config=cfg)
    np.testing.assert_array_equal(edge, [genetics.bit(cfg, "EMT"), kras])


# ------------------------------------------------------------------ phylogeny

@pytest.fixture(scope="module")
def evolving():
    # 1e-5 per division over 0.3 year: ~20 metastases seeded by mutant clones
    # (at 1e-6 over 0.2 year, ~0.5: none, for some bodies and seeds)
    return run(busy(cohort={"patients": 2, "years": 0.3}, genetics={"mutation_rate": 1e-5}),
               "genetics")


def test_clone_parents_are_earlier_clones_of_the_same_patient(evolving):
    ds = evolving
    ids, parents = ds.clone_id.values, ds.clone_parent.values
    patient, born = ds.clone_patient.values, ds.clone_birth_time.values
    geno = ds.clone_genotype.values
    assert ds.sizes["clone"] > 50
    index = {c: i for i, c in enumerate(ids)}
    assert len(index) == ids.size
    roots = parents == 0
    assert roots.sum() == ds.sizes["patient"] and np.all(geno[roots] == 0)
    for i in np.flatnonzero(~roots):
        j = index[parents[i]]
        assert patient[j] == patient[i] and born[j] < born[i]
        gained = geno[i] ^ geno[j]
        assert geno[i] & geno[j] == geno[j]                              # keeps the parent's
        assert gained & (gained - np.uint64(1)) == 0                     # at most one new bit


def test_each_lesion_row_carries_its_clone_genotype(evolving):
    ds = evolving
    clone_geno = dict(zip(ds.clone_id.values, ds.clone_genotype.values))
    clone_lesion = dict(zip(ds.clone_id.values, ds.clone_lesion.values))
    for clone, geno in zip(ds.lesion_clone.values, ds.lesion_genotype.values):
        assert clone_geno[clone] == geno
    # metastases seeded by a mutant clone that arose in another lesion exist
    seeded = [c for c, lesion, g in zip(ds.lesion_clone.values, ds.lesion_id.values,
                                        ds.lesion_genotype.values)
              if g != 0 and clone_lesion[c] != lesion]
    assert len(seeded) > 0


# ------------------------------------------------------------------ config

@pytest.mark.parametrize("table, key", [
    ({"mutation_rate": -1e-3}, "genetics.mutation_rate"),
    ({"mutation_rate": 2.0}, "genetics.mutation_rate"),
    ({"initial": ["NOPE"]}, "genetics.initial"),
    ({"alterations": {"KRAS": {"traits": {"speed": 2.0}}}}, "genetics.alterations.KRAS.traits.speed"),
    ({"alterations": {"KRAS": {"traits": {"proliferation": -1.0}}}},
     "genetics.alterations.KRAS.traits"),
    ({"alterations": {"PD-L1": {"traits": {"immune_evasion": 1.5}}}},
     "genetics.alterations.PD-L1.traits"),
    ({"alterations": {"KRAS": {"weight": -1.0}}}, "genetics.alterations.KRAS.weight"),
    ({"alterations": {"KRAS": {"wieght": 1.0}}}, "genetics.alterations.KRAS.wieght"),
    ({"alterations": {f"A{i}": {} for i in range(60)}}, "genetics.alterations"),
], ids=["negative-rate", "rate>1", "unknown-initial", "unknown-trait", "negative-factor",
        "fraction>1", "negative-weight", "unknown-key", "too-many"])
def test_bad_config_is_refused_naming_the_key(table, key):
    with pytest.raises(paget.ConfigError) as err:
        sim({"genetics": table})
    assert str(err.value).startswith(key), str(err.value)


def test_catalogue_entries_merge_with_the_built_in_ones():
    cfg = sim({"genetics": {"alterations": {"KRAS": {"weight": 5.0}, "NEW": {}}}}).config
    alts = cfg.genetics.alterations
    assert list(alts)[:len(genetics.DEFAULT_ALTERATIONS)] == list(genetics.DEFAULT_ALTERATIONS)
    assert list(alts)[-1] == "NEW" and alts["NEW"].traits == {}
    assert alts["KRAS"].weight == 5.0 and alts["KRAS"].traits == {"proliferation": 1.5}


# ------------------------------------------------------------------ ranks

def test_identical_on_1_and_2_ranks(tmp_path):
    cfg = busy(cohort={"patients": 3, "years": 0.1},
               genetics={"mutation_rate": 1e-6, "initial": ["MET"]})
    path = write_toml(tmp_path / "c.toml", only(cfg, "genetics"))
    outs = datasets_on_ranks(path, (1, 2), tmp_path)
    assert outs[0].sizes["clone"] > 3
    assert_same_result(outs[0], outs[1])
