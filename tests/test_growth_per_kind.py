"""The primary and the metastases grow by laws of their own (``colonization.metastasis_growth``).

Two analytic results of branching-process models of metastasis, each of which
holds only where the metastases' rates differ from the primary's:

* the probability of dissemination: a primary growing exponentially at net rate
  lambda and shedding q cells per cell per day has shed q (M - N0) / lambda
  cells on reaching M cells; if every shed cell founds a colony and a colony
  survives with probability rho = 1 - d/b (linear birth-death, birth b > death
  d; Kendall 1948, Ann Math Stat 19:1), the surviving colonies are Poisson and
  P(at least one) = 1 - exp(-q rho (M - N0) / lambda) (Haeno & Michor 2010,
  J Theor Biol 263:30);
* the colony-size distribution: colonies founded at a rate growing as
  e^{lambda_p t}, each growing as e^{lambda_m a} at age a, have sizes with the
  tail P(size > n) ~ n^(-lambda_p / lambda_m) (Iwata, Kawasaki & Shigesada 2000,
  J Theor Biol 203:177).

Both runs route every shed cell into a colony: a breast primary's cells reach the
lung first, every cell arrests there (``arrest = 1``), none dies in the blood,
every arrested cell extravasates and founds a growing colony, no cell takes the
lymph, and metastases do not shed.  The factor plugins are off.
"""
from __future__ import annotations

import numpy as np
import pytest

import paget

from .factors import only

# every shed cell founds a one-cell colony in the lung, and colonies do not shed
ROUTE_ALL = {
    "circulation": {"arrest": 1.0, "death_per_pass": 0.0},
    "extravasation": {"probability": 1.0},
    "intravasation": {"exponent": 1.0, "lymph_fraction": 0.0, "metastases_shed": False},
}


def _run(seed, patients, days, primary_cells, q, growth, metastasis_growth):
    cfg = {
        "seed": seed,
        "cohort": {"patients": patients, "years": days / 365.25, "dt": 1.0},
        "primary": {"cells": primary_cells},
        **ROUTE_ALL,
        "intravasation": {**ROUTE_ALL["intravasation"], "rate": q},
        "colonization": {"growth": growth, "metastasis_growth": metastasis_growth,
                         "fate": {"die": 0.0, "dormant": 0.0, "grow": 1.0}},
        "output": {"interval": float(days)},
    }
    ds = paget.Simulation(only(cfg), entry_points=False).run()
    assert ds.sizes["time"] == 2 and float(ds.time[-1]) == days
    return ds


def _metastases(ds):
    """Cells (float64) and patients of the final table's metastasis rows."""
    met = ds.lesion_parent.values != 0          # the primary's parent is 0
    assert (ds.lesion_organ.values[met] == "lung").all()   # every colony where it arrested
    return ds.lesion_cells.values[met], ds.lesion_patient.values[met]


def test_dissemination_probability_with_the_colonies_own_rates():
    """P(>= 1 surviving metastasis when the primary reaches M) = 1 - exp(-q rho (M - N0) /
    lambda), with the primary deterministic at lambda = 0.1/day and the colonies
    stochastic at birth 0.25/day, death 0.125/day (rho = 0.5).

    A colony alive at the end has not always decided yet whether it survives, so
    each patient contributes the probability that some lineage of its metastatic
    cells C survives for ever, 1 - (d/b)^C (each cell's lineage dies out with
    probability d/b, independently): an unbiased estimate of the same
    probability, with less variance than the 0/1 outcome.
    """
    lam, n0, days, rho = 0.1, 1000.0, 73, 0.5
    m = n0 * np.exp(lam * days)                                   # 1.48e6 cells
    q = 0.7 * lam / (rho * (m - n0))          # expected surviving colonies 0.7: P ~ 0.5
    patients = 600
    ds = _run(11, patients, days, n0, q,
              growth={"law": "exponential", "rate": lam, "death": 0.0,
                      "mode": "deterministic"},
              metastasis_growth={"rate": 0.125, "death": 0.125, "mode": "stochastic"})
    primary = ds.lesion_cells.values[ds.lesion_parent.values == 0]
    # a cell shed at size N takes 1/N of the primary's final size with it: with
    # ~1.4 cells shed per patient, M within 10 / N0
    np.testing.assert_allclose(primary, m, rtol=10 / n0)
    cells, patient = _metastases(ds)
    c = np.bincount(patient, weights=cells, minlength=patients)
    estimate = 1.0 - 0.5 ** c
    mean, se = estimate.mean(), estimate.std(ddof=1) / np.sqrt(patients)
    want = 1.0 - np.exp(-q * rho * (m - n0) / lam)
    assert abs(mean - want) < 3 * se, (mean, se, want)
    # colonies growing as the primary does (all surviving, rho = 1) would give 0.75
    assert abs(mean - (1.0 - np.exp(-q * (m - n0) / lam))) > 6 * se


def test_colony_sizes_follow_the_power_law_of_the_two_rates():
    """P(size > n) ~ n^(-lambda_p / lambda_m) with lambda_m = 2 lambda_p: slope -0.5.

    Primary and colonies deterministic (no extinction), so a colony founded a
    whole steps before the end holds e^{lambda_m a} cells exactly, and the ages
    are geometric with ratio e^{-lambda_p}: at sizes n_j = e^{lambda_m (j - 1/2)}
    the share of colonies larger than n_j is e^{-lambda_p j} times a constant,
    a straight line of slope -lambda_p / lambda_m on log-log.  Fitted on
    j = 1..100 (shares down to e^{-5}); the tolerance is 3 standard errors of
    the slope, from a bootstrap over the colonies.
    """
    lam_p, lam_m, n0, days, patients = 0.05, 0.1, 1000.0, 200, 4
    total = 1500.0                                   # expected colonies per patient
    q = total * lam_p / (n0 * np.expm1(lam_p * days))
    ds = _run(5, patients, days, n0, q,
              growth={"law": "exponential", "rate": lam_p, "death": 0.0,
                      "mode": "deterministic"},
              metastasis_growth={"rate": lam_m})   # law, death 0 and mode from growth
    cells, _ = _metastases(ds)
    assert cells.size > 0.9 * total * patients
    ages = np.rint(np.log(cells) / lam_m)
    np.testing.assert_allclose(cells, np.exp(lam_m * ages), rtol=1e-9)   # on the ladder
    j = np.arange(1, 101)
    log_n = lam_m * (j - 0.5)

    def slope(a):
        share = (a[:, None] >= j[None, :]).mean(axis=0)
        return np.polyfit(log_n, np.log(share), 1)[0]

    rng = np.random.default_rng(0)
    boot = [slope(rng.choice(ages, ages.size)) for _ in range(200)]
    fit, se = slope(ages), np.std(boot, ddof=1)
    assert se < 0.05, se
    assert abs(fit - (-lam_p / lam_m)) < 3 * se, (fit, se)
    # with the metastases at the primary's rate the slope would be -1
    assert abs(fit + 1.0) > 10 * se


def test_metastasis_growth_keys_default_to_growth():
    """Each key left out of metastasis_growth takes growth's value; set, it is the
    metastases' alone."""
    sim = paget.Simulation({"colonization": {"growth": {"law": "logistic", "rate": 0.02},
                                             "metastasis_growth": {"rate": 0.1,
                                                                   "capacity": {"liver": 1e9}}}},
                           entry_points=False)
    col = sim.config.colonization
    law = col.metastasis_law()
    assert (law.law, law.rate, law.death, law.mode) == ("logistic", 0.1, col.growth.death,
                                                        col.growth.mode)
    assert law.capacity == {"liver": 1e9} and col.growth.rate == 0.02
    # the resolved configuration holds the table only where it sets a key, so a run
    # that does not use it stores the configuration it stored before the table existed
    assert "metastasis_growth" not in paget.Simulation({}, entry_points=False) \
        .resolved_config()["colonization"]
    assert sim.resolved_config()["colonization"]["metastasis_growth"]["rate"] == 0.1


@pytest.mark.parametrize("bad,message", [
    ({"law": "linear"}, "colonization.metastasis_growth.law = 'linear': must be one of"),
    ({"rate": -1.0}, "colonization.metastasis_growth.rate = -1.0: must be >= 0"),
    ({"rte": 1.0}, "colonization.metastasis_growth.rte: unknown key (did you mean 'rate'?)"),
])
def test_a_bad_metastasis_growth_key_is_named(bad, message):
    with pytest.raises(paget.ConfigError) as e:
        paget.Simulation({"colonization": {"metastasis_growth": bad}}, entry_points=False)
    assert message in str(e.value)
