"""One level per cancer: primary.sites_per_patient sets the shedding rate (paget.plugins.level)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import paget
from paget.errors import ConfigWarning
from paget.plugins import level

from .helpers import validation_module


def test_the_fitted_relation_rises_with_the_rate():
    """Both tuples increase strictly together, so the relation is invertible,
    and the rate it gives rises with the level over and beyond its points."""
    r, s = np.array(level.RATES), np.array(level.SITES_PER_PATIENT)
    assert len(r) == len(s) >= 3
    assert (np.diff(r) > 0).all() and (np.diff(s) > 0).all()
    grid = np.geomspace(s[0] / 10, s[-1], 200)
    rates = [level.rate_for_sites(x)[0] for x in grid]
    assert (np.diff(rates) > 0).all()


@pytest.mark.parametrize("sites", [0.05, 0.3, 1.53, 2.39, 2.96, 3.8, 5.17])
def test_the_relation_round_trips(sites):
    """sites -> rate -> sites is the identity on the relation's range and below it."""
    if sites > level.SITES_PER_PATIENT[-1]:
        pytest.skip("above the fitted range")
    rate, clipped = level.rate_for_sites(sites)
    assert not clipped
    assert level.sites_for_rate(rate) == pytest.approx(sites, rel=1e-12)


def test_the_points_themselves_and_the_low_end():
    """At a point the rate is the fitted one; below the first the rate is
    proportional to the level (the documented assumption)."""
    for r, s in zip(level.RATES, level.SITES_PER_PATIENT):
        assert level.rate_for_sites(s)[0] == pytest.approx(r, rel=1e-12)
    s0, r0 = level.SITES_PER_PATIENT[0], level.RATES[0]
    assert level.rate_for_sites(s0 / 4)[0] == pytest.approx(r0 / 4, rel=1e-12)


def test_a_level_above_the_relation_is_clipped_with_one_warning():
    top = level.SITES_PER_PATIENT[-1]
    with pytest.warns(ConfigWarning, match="primary.sites_per_patient = 29") as rec:
        sim = paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": 29}})
    assert len([w for w in rec if issubclass(w.category, ConfigWarning)]) == 1
    assert f"using {top:g}" in str(rec[0].message)
    assert level.shedding_rate(sim.config) == level.RATES[-1]


def test_carcinoma_has_a_default_level_and_unset_the_rate_applies():
    """carcinoma.toml's default level is the five calibrated primaries' mean
    sites per patient (DiSibio & French 2008): (3.80 + 5.17 + 1.53 + 2.39 +
    2.96) / 5 = 3.17; a level given replaces it, and with the level unset
    (None) the scenario's intravasation.rate applies."""
    plain = paget.Simulation.from_scenario("carcinoma")
    assert plain.config.primary.sites_per_patient == pytest.approx(
        (3.80 + 5.17 + 1.53 + 2.39 + 2.96) / 5, abs=0.005)
    assert level.shedding_rate(plain.config) == level.rate_for_sites(3.17)[0]
    assert plain.resolved_config()["primary"]["sites_per_patient"] == 3.17
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim = paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": 2.96}})
    assert level.shedding_rate(sim.config) == level.rate_for_sites(2.96)[0]
    assert sim.resolved_config()["primary"]["sites_per_patient"] == 2.96
    unset = paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": None}})
    assert unset.config.primary.sites_per_patient is None
    assert level.shedding_rate(unset.config) == unset.config.intravasation.rate == 9.3e-3
    assert "sites_per_patient" not in unset.resolved_config()["primary"]
    rated = paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": None},
                                                         "intravasation": {"rate": 2e-4}})
    assert level.shedding_rate(rated.config) == 2e-4


def test_a_run_with_a_level_sheds_as_the_same_run_at_its_rate():
    """The level acts through the shedding rate and nothing else: the run is
    the run with intravasation.rate set to the relation's rate."""
    base = {"seed": 4, "cohort": {"patients": 2, "years": 1.0}, "primary": {"organ": "lung"}}
    rate = level.rate_for_sites(4.0)[0]
    a = paget.Simulation.from_scenario(
        "carcinoma", paget.config.deep_merge(base, {"primary": {"sites_per_patient": 4.0}})).run()
    b = paget.Simulation.from_scenario(
        "carcinoma", paget.config.deep_merge(base, {"primary": {"sites_per_patient": None},
                                                    "intravasation": {"rate": rate}})).run()
    for v in ("lesion_cells", "lesion_organ", "lesion_patient"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert a.lesion_cells.size > 2      # it shed and seeded: the comparison says something
    c = paget.Simulation.from_scenario(
        "carcinoma", paget.config.deep_merge(base, {"primary": {"sites_per_patient": 0.5}})).run()
    assert c.lesion_cells.size != a.lesion_cells.size or \
        not np.array_equal(c.lesion_cells.values, a.lesion_cells.values)


@pytest.mark.parametrize("value, fragment", [
    (0, "primary.sites_per_patient = 0"), (-1.5, "primary.sites_per_patient = -1.5"),
    (31, "primary.sites_per_patient = 31"), ("3", "primary.sites_per_patient = '3'"),
    (True, "primary.sites_per_patient = True")])
def test_bad_levels_are_refused_naming_the_key(value, fragment):
    with pytest.raises(paget.ConfigError, match="primary.sites_per_patient") as exc:
        paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": value}})
    assert fragment in str(exc.value)


def test_a_level_and_a_rate_together_are_refused():
    with pytest.raises(paget.ConfigError) as exc:
        paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": 2.0},
                                                     "intravasation": {"rate": 1e-3}})
    msg = str(exc.value)
    assert "primary.sites_per_patient = 2" in msg and "intravasation.rate = 0.001" in msg
    assert "sites_per_patient = None" in msg           # how to give carcinoma a rate
    # the default level counts as given: a rate alone is refused too
    with pytest.raises(paget.ConfigError, match="primary.sites_per_patient = 3.17"):
        paget.Simulation.from_scenario("carcinoma", {"intravasation": {"rate": 1e-3}})
    # a calibrated scenario carries its own rate
    with pytest.raises(paget.ConfigError, match="use carcinoma"):
        paget.Simulation.from_scenario("breast", {"primary": {"sites_per_patient": 2.0}})


def test_a_level_for_an_injected_assay_is_refused():
    with pytest.raises(paget.ConfigError, match="primary.injection = 'portal'"):
        paget.Simulation.from_scenario("carcinoma", {"primary": {"sites_per_patient": 2.0,
                                                                 "injection": "portal"}})


def test_the_cli_refuses_a_bad_level_in_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[primary]\nsites_per_patient = 40\n")
    out = tmp_path / "out.nc"
    r = subprocess.run([sys.executable, "-m", "paget", "run", str(cfg), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "primary.sites_per_patient = 40" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.fixture(scope="module")
def level_script():
    return validation_module("level")


def test_the_fit_keeps_the_monotone_part_up_to_the_peak(level_script):
    """Past the highest point (the drain of shedding on the primary) and at a
    dip the points are dropped; the sites are put on the table's scale."""
    rates = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1)
    compared = (0.4, 1.6, 1.5, 3.2, 4.0, 2.0)
    r, s = level_script.relation(rates, compared, 0.8)
    assert r == (1e-4, 1e-3, 3e-2, 1e-1)
    assert s == pytest.approx((0.5, 2.0, 4.0, 5.0))


def test_the_rate_grid_spans_the_fitted_rates_up_to_the_drain_cap(level_script, monkeypatch):
    """From 1/4 of the lowest fitted rate to twice the highest, log-spaced, and
    capped at carcinoma's drain cap on the given body (log steps equal up to
    the 3 significant figures the rates are rounded to)."""
    calibrate = validation_module("calibrate")
    monkeypatch.setattr(calibrate, "rate_cap", lambda name, body=None: 1.0)
    grid = np.array(level_script.rate_grid([4e-5, 1e-3, 2e-4]))
    assert grid[0] == pytest.approx(1e-5) and grid[-1] == pytest.approx(2e-3)
    assert len(grid) == level_script.POINTS
    assert np.diff(np.log(grid)) == pytest.approx(np.log(200.0) / (len(grid) - 1), abs=5e-3)
    monkeypatch.setattr(calibrate, "rate_cap", lambda name, body=None: 1e-3)
    assert level_script.rate_grid([4e-5, 1e-3])[-1] == pytest.approx(1e-3)
    monkeypatch.setattr(calibrate, "rate_cap", lambda name, body=None: 1e-6)
    with pytest.raises(ValueError, match="no rate grid between 1e-05 and 1e-06"):
        level_script.rate_grid([4e-5, 1e-3])


def test_the_fit_writes_the_relation_the_plugin_reads(level_script, tmp_path, monkeypatch):
    copy = tmp_path / "level.py"
    copy.write_text(level_script.LEVEL_MODULE.read_text())
    monkeypatch.setattr(level_script, "LEVEL_MODULE", copy)
    level_script.write_relation((1e-3, 2e-3), (1.0, 2.5), ("exponential", 4e-3))
    ns: dict = {}
    exec(compile(copy.read_text(), str(copy), "exec"), ns)
    assert ns["RATES"] == (1e-3, 2e-3) and ns["SITES_PER_PATIENT"] == (1.0, 2.5)
    assert ns["GROWTH"] == ("exponential", 4e-3)


def test_the_relation_names_the_growth_of_the_committed_carcinoma():
    growth = paget.Simulation.from_scenario("carcinoma").config.colonization.growth
    assert level.GROWTH == (growth.law, growth.rate)


def test_a_level_on_other_growth_than_the_relations_warns_naming_both():
    with pytest.warns(ConfigWarning, match=r"fitted on the carcinoma scenario's growth "
                                           r"\(gompertz, rate 0.0006 per day\); this run's "
                                           r"primary grows by exponential at 0.004 per day"):
        paget.Simulation.from_scenario("carcinoma", {
            "primary": {"sites_per_patient": 2.0},
            "colonization": {"growth": {"law": "exponential", "rate": 4e-3}}})


def test_the_compared_share_is_the_table_share_on_the_compared_sites(level_script):
    """Lung alone: its 12 compared shares sum to 3.09 of its 3.80 sites per
    patient (DiSibio & French 2008), on the body without pleura and peritoneum."""
    from common import SITES
    if "pleura" in SITES:
        pytest.skip("the body has the serosal sites")
    assert level_script.compared_share(["lung"]) == pytest.approx(3.09 / 3.80, abs=1e-3)


def test_the_grid_gives_each_organ_its_own_patients(level_script, monkeypatch):
    """One seed per organ (seed + its index), the same at every rate: common
    random numbers along a curve, other patients in each organ."""
    jobs = []
    monkeypatch.setattr(level_script, "pool_map",
                        lambda f, js, processes=None: jobs.extend(js) or
                        [{"mets_mean": 1.0}] * len(js))
    level_script.grid(["lung", "colon", "breast"], (1e-3, 1e-2), 4, 22)
    seeds = {(j[3]["primary"]["organ"], j[3]["intravasation"]["rate"]): j[2] for j in jobs}
    assert seeds == {("lung", 1e-3): 22, ("lung", 1e-2): 22, ("colon", 1e-3): 23,
                     ("colon", 1e-2): 23, ("breast", 1e-3): 24, ("breast", 1e-2): 24}


def test_a_patients_multipliers_follow_the_seed_not_the_primarys_organ():
    """Why the grid seeds each organ apart: with one seed, every organ's cohort
    holds the same patients (the same shedding and growth multipliers), so an
    average over organs would rest on one cohort's patients only."""
    import paget

    def multipliers(organ, seed):
        ds = paget.Simulation.from_scenario("carcinoma", {
            "seed": seed, "cohort": {"patients": 6, "years": 0.01},
            "primary": {"organ": organ}}).run()
        return ds.shedding_multiplier.values, ds.growth_multiplier.values

    lung, colon, other = multipliers("lung", 22), multipliers("colon", 22), multipliers("lung", 23)
    for a, b, c in zip(lung, colon, other):
        np.testing.assert_array_equal(a, b)
        assert not np.any(a == c)
