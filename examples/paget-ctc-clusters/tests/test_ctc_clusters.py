"""Tests of the ctc_clusters plugin: arithmetic of the hooks, neutrality of the
defaults, validation, and the founded fraction of a run against its expectation.

Every run registers the plugin programmatically with ``entry_points=False``, so
the tests mean the same whether or not the package is installed, and leaves out
any built-in factor plugin, so the five cascade stages plus this plugin are the
whole model the expectations below are computed from.
"""
from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import paget
from paget.config import deep_merge, resolve_organ_map
from paget.manager import DEFAULT_PLUGINS
from paget_ctc_clusters import plugin
from paget_ctc_clusters.plugin import mixture

HERE = Path(__file__).resolve().parent
STAGES = {"invasion", "intravasation", "circulation", "extravasation", "colonization"}

#: Small and busy: a large breast primary that sheds from day 0, efficient
#: extravasation and colonization, weekly output.
SMALL = {
    "seed": 5,
    "cohort": {"patients": 2, "years": 0.25, "dt": 1.0},
    "primary": {"organ": "breast", "cells": 1e8},
    "intravasation": {"rate": 0.01, "exponent": 0.67, "lymph_fraction": 0.2},
    "extravasation": {"probability": {"default": 0.3, "liver": 0.8}},
    "colonization": {
        "growth": {"law": "gompertz", "rate": 0.002, "death": 0.05},
        "fate": {"die": 0.745, "dormant": 0.25, "grow": 0.005},
        "dormancy": {"reactivation": 0.001, "death": 0.02},
    },
    "output": {"interval": 7.0},
}


def config(base: dict = SMALL, **overrides) -> dict:
    cfg = deep_merge(copy.deepcopy(base), overrides)
    factors = [name for name, _ in DEFAULT_PLUGINS if name not in STAGES]
    if factors:
        cfg.setdefault("plugins", {}).setdefault("disable", []).extend(factors)
    return cfg


def simulation(cfg: dict, with_plugin: bool = True) -> paget.Simulation:
    extra = [("ctc_clusters", plugin)] if with_plugin else []
    return paget.Simulation(cfg, plugins=extra, entry_points=False)


def clusters(**values) -> dict:
    return {"ctc_clusters": values}


# ------------------------------------------------------------------ hooks
def _rates(n: int = 4):
    return SimpleNamespace(ctc_arrest=np.array([1.0, 1.5, 1.0, 0.5])[:n],
                           ctc_survival=np.array([1.0, 1.0, 1.02, 0.9])[:n])


def test_circulation_multiplies_every_row_by_the_mixture():
    cfg = simulation(config(**clusters(cluster_fraction=0.25, arrest_factor=3.0,
                                       survival_factor=1.02))).config
    rates = _rates()
    before = copy.deepcopy(rates)
    plugin.paget_circulation(rates=rates, config=cfg)
    np.testing.assert_allclose(rates.ctc_arrest, before.ctc_arrest * (0.75 + 0.25 * 3.0),
                               rtol=1e-15)
    np.testing.assert_allclose(rates.ctc_survival, before.ctc_survival * (0.75 + 0.25 * 1.02),
                               rtol=1e-15)


def _fates():
    # rows: plenty of 'die'; 'die' too small to pay for the increase; no 'die'
    f = np.array([[0.745, 0.25, 0.005], [0.01, 0.90, 0.09], [0.0, 0.5, 0.5]])
    return np.repeat(f[:, None, :], 3, axis=1)          # (m=3, n_organs=3, 3)


def test_dtc_fate_takes_the_grow_increase_from_die():
    cfg = simulation(config(**clusters(cluster_fraction=0.5, colonization_factor=23.0))).config
    fates = _fates()
    before = fates.copy()
    plugin.paget_dtc_fate(fates=fates, config=cfg)
    m = mixture(0.5, 23.0)
    np.testing.assert_allclose(fates.sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(fates[..., 1], before[..., 1])           # dormant untouched
    np.testing.assert_allclose(fates[0, :, 2], 0.005 * m, rtol=1e-12)      # die pays in full
    np.testing.assert_allclose(fates[0, :, 0], 0.745 - 0.005 * (m - 1), rtol=1e-12)
    np.testing.assert_allclose(fates[1, :, 2], 0.10, rtol=1e-12)           # clipped: die spent
    np.testing.assert_array_equal(fates[1, :, 0], 0.0)
    np.testing.assert_array_equal(fates[2], before[2])                     # nothing to take
    assert fates.min() >= 0.0 and fates.max() <= 1.0


def test_dtc_fate_factor_below_one_moves_mass_to_die():
    cfg = simulation(config(**clusters(cluster_fraction=1.0, colonization_factor=0.5))).config
    fates = _fates()
    plugin.paget_dtc_fate(fates=fates, config=cfg)
    np.testing.assert_allclose(fates[0, :, 2], 0.0025, rtol=1e-12)
    np.testing.assert_allclose(fates[0, :, 0], 0.7475, rtol=1e-12)
    np.testing.assert_allclose(fates.sum(axis=-1), 1.0, atol=1e-12)


def test_default_hooks_leave_arrays_untouched():
    cfg = simulation(config()).config
    assert cfg.ctc_clusters.cluster_fraction == 0.0
    rates, fates = _rates(), _fates()
    r0, f0 = copy.deepcopy(rates), fates.copy()
    plugin.paget_circulation(rates=rates, config=cfg)
    plugin.paget_dtc_fate(fates=fates, config=cfg)
    np.testing.assert_array_equal(rates.ctc_arrest, r0.ctc_arrest)
    np.testing.assert_array_equal(rates.ctc_survival, r0.ctc_survival)
    np.testing.assert_array_equal(fates, f0)


# ------------------------------------------------------------- whole runs
def test_installed_but_unconfigured_changes_no_result():
    """The package registers itself in every run once installed: by default
    the dataset must be the one without it, bit for bit."""
    cfg = config(cohort={"patients": 2, "years": 0.1})
    with_plugin = simulation(cfg).run()
    without = simulation(cfg, with_plugin=False).run()
    assert "ctc_clusters" in with_plugin.attrs["plugins"]
    assert set(with_plugin.data_vars) == set(without.data_vars)
    for name in without.data_vars:
        np.testing.assert_array_equal(with_plugin[name].values, without[name].values,
                                      err_msg=name)


def test_disabled_by_name_ignores_its_table():
    cfg = config(**clusters(cluster_fraction=0.5))
    cfg.setdefault("plugins", {}).setdefault("disable", []).append("ctc_clusters")
    sim = simulation(cfg)
    assert "ctc_clusters" not in sim.plugin_names
    assert "ctc_clusters" not in sim.resolved_config()


def _expected_founded_per_shed(sim: paget.Simulation) -> float:
    """Probability that a CTC shed by the primary founds a colony, from the
    fate matrix of the mixed class and the modified grow probability."""
    c = sim.config
    f = c.ctc_clusters.cluster_fraction
    fm = sim.fate_matrix(mixture(f, c.ctc_clusters.survival_factor),
                         mixture(f, c.ctc_clusters.arrest_factor))
    p_ext = resolve_organ_map(c.extravasation.probability, sim.body, 0.1)
    fate = c.colonization.fate
    fates = np.tile([fate.die, fate.dormant, fate.grow], (1, sim.body.n_organs, 1))
    plugin.paget_dtc_fate(fates=fates, config=c)
    founds = p_ext * fates[0, :, 2]                     # per organ of arrest
    lf = c.intravasation.lymph_fraction
    src = sim.body.organ_index(c.primary.organ)
    return (1 - lf) * fm.blood[src, :-1] @ founds + lf * fm.lymph[:-1] @ founds


@pytest.mark.parametrize("fraction", [0.0, 0.3], ids=["singles", "clusters"])
def test_founded_per_shed_matches_expectation(fraction):
    """Only the primary sheds, so given n CTCs shed each founds a colony
    independently with probability p: founded ~ Binomial(n, p), and the
    observed count must lie within 4 standard deviations of n p."""
    cfg = config(intravasation={"metastases_shed": False},
                 **clusters(cluster_fraction=fraction))
    sim = simulation(cfg)
    ds = sim.run()
    n = int(ds.ctc_shed.sum())
    founded = int(ds.colonies_founded.sum())
    p = _expected_founded_per_shed(sim)
    sd = math.sqrt(n * p * (1 - p))
    assert n > 10_000 and n * p > 100, "too few events for the normal approximation"
    assert abs(founded - n * p) < 4 * sd, (founded, n * p, sd)


# ------------------------------------------------------------ validation
@pytest.mark.parametrize("key, value", [
    ("cluster_fraction", 1.5), ("cluster_fraction", -0.1), ("cluster_fraction", float("nan")),
    ("arrest_factor", -1.0), ("survival_factor", float("inf")), ("colonization_factor", -2.0),
], ids=lambda v: str(v))
def test_out_of_range_values_are_refused_naming_the_key(key, value):
    with pytest.raises(paget.ConfigError, match=rf"ctc_clusters\.{key}"):
        simulation(config(**clusters(**{key: value})))


def test_unknown_key_is_refused():
    with pytest.raises(paget.ConfigError, match=r"ctc_clusters\.cluster_frac.*unknown key"):
        simulation(config(**clusters(cluster_frac=0.1)))


# ------------------------------------------------- approximation, measured
def _approximation(source: str, fraction: float):
    """(approximate / two-class founded per shed cell, died: approx - two-class)
    on the blood route, default body and parameters plus this plugin."""
    sim = simulation(config({}, **clusters(cluster_fraction=fraction)))
    c = sim.config.ctc_clusters
    A, S, C = c.arrest_factor, c.survival_factor, c.colonization_factor
    i = sim.body.organ_index(source)
    p_ext = resolve_organ_map(sim.config.extravasation.probability, sim.body, 0.1)
    single, cluster = sim.fate_matrix(1.0, 1.0).blood[i], sim.fate_matrix(S, A).blood[i]
    mixed = sim.fate_matrix(mixture(fraction, S), mixture(fraction, A)).blood[i]
    two_class = ((1 - fraction) * single[:-1] + fraction * C * cluster[:-1]) @ p_ext
    approx = mixture(fraction, C) * mixed[:-1] @ p_ext
    died = mixed[-1] - ((1 - fraction) * single[-1] + fraction * cluster[-1])
    return approx / two_class, died


@pytest.mark.parametrize("source", ["breast", "colon", "lung"])
def test_mixture_is_exact_at_both_ends(source):
    for fraction in (0.0, 1.0):
        ratio, died = _approximation(source, fraction)
        assert ratio == pytest.approx(1.0, abs=1e-12) and died == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("source, lo, hi", [("breast", 1.0, 1.08), ("colon", 0.6, 0.8),
                                            ("lung", 0.94, 1.0)])
def test_approximation_error_is_as_documented(source, lo, hi):
    """README.md's table: founded per shed cell of the averaged cell over the
    two-class value, for cluster fractions 0.05-0.5.  If this fails after a
    change of paget's defaults, remeasure and update README.md."""
    for fraction in (0.05, 0.2, 0.5):
        ratio, died = _approximation(source, fraction)
        assert lo <= ratio <= hi, (source, fraction, ratio)
        assert -0.04 <= died <= 0.0, (source, fraction, died)


# ------------------------------------------------------------- packaging
def test_entry_point_names_the_plugin_module():
    meta = tomllib.loads((HERE.parent / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["paget"] == {"ctc_clusters": "paget_ctc_clusters.plugin"}
    assert "paget" in meta["project"]["dependencies"]
