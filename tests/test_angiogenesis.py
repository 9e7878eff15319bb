"""Angiogenesis: the avascular cap, the switch, shared vessels, shedding, dormancy."""
from __future__ import annotations

import types

import numpy as np
import pytest

import paget
import paget.plugins.angiogenesis as angiogenesis
from paget.config import deep_merge
from paget.random import Draws
from paget.state import LesionTable, State

from .conftest import busy
from .factors import only, run, simulation
from .test_cli import write_toml
from .test_decomposition import datasets_on_ranks
from .helpers import assert_same_result

PLUGIN = "angiogenesis"


def deep(cfg, **overrides):
    return deep_merge(cfg, overrides)


# ---------------------------------------------------------------- the cap

CAP, R, D0, T = 1e6, 0.05, 0.02, 150.0  # cells, 1/day, 1/day, days


def capped_config(switch_rate):
    """A 1e5-cell avascular primary growing exponentially, no shedding."""
    return busy(cohort={"patients": 3, "years": T / 365.25}, primary={"cells": 1e5},
                intravasation={"rate": 0.0}, output={"interval": 1.0},
                colonization={"growth": {"law": "exponential", "rate": R, "death": D0}},
                angiogenesis={"avascular_cap": CAP, "switch_rate": switch_rate})


def test_without_switch_an_avascular_lesion_stays_at_the_cap():
    ds = run(capped_config(0.0), PLUGIN)
    cells = ds.tumor_cells.sel(organ="breast")
    # Tolerance: at the cap the lesion is a critical birth-death process with
    # b = d = D0 + R, whose variance after t days is 2 b N t; by Kolmogorov's
    # inequality its excursions exceed 10 sd over [0, T] with probability
    # <= 1 %.  (The crossing step is clamped to end, on average, at the cap.)
    sd = np.sqrt(2 * (D0 + R) * CAP * T)
    assert float(cells.max()) <= CAP + 10 * sd
    # it reached the cap (ln 10 / R = 46 days) and sits there
    assert float(cells.isel(time=-1).min()) >= CAP - 10 * sd
    assert not ds.lesion_vascular.any()


def test_with_a_fast_switch_lesions_grow_past_the_cap():
    ds = run(capped_config(1.0), PLUGIN)
    assert ds.lesion_vascular.all()
    final = ds.tumor_cells.sel(organ="breast").isel(time=-1)
    # switched at once, they follow the law N0 e^{RT} = 1.8e8 (relative sd < 1 %)
    expected = 1e5 * np.exp(R * float(ds.time[-1]))
    assert np.all(np.abs(final / expected - 1) < 0.05)


def test_the_cap_holds_with_weekly_steps():
    cfg = capped_config(0.0)
    cfg["cohort"]["dt"] = 7.0
    cfg["output"]["interval"] = 7.0
    ds = run(cfg, PLUGIN)
    sd = np.sqrt(2 * (D0 + R) * CAP * T)
    assert float(ds.tumor_cells.sel(organ="breast").max()) <= CAP + 10 * sd


# ---------------------------------------------------------------- the switch

def hand_built(n_lesions, clones=1, cells=10.0, hypoxia=None, drive=None):
    """A table of n_lesions lesions of ``clones`` rows each, with plugin columns."""
    extra = {"vascular": ("bool", False)}
    if hypoxia is not None:
        extra["hypoxia"] = ("float64", 0.0)
    if drive is not None:
        extra["angiogenic_drive"] = ("float64", 1.0)
    tab = LesionTable(extra=extra)
    n = n_lesions * clones
    uid = np.arange(1, n + 1, dtype=np.uint64)
    lesion = np.repeat(uid[::clones], clones)
    tab.append(uid=uid, parent=np.zeros(n, np.uint64), lesion=lesion, clone=uid,
               genotype=np.zeros(n, np.uint64), cells=np.full(n, cells),
               patient=np.zeros(n, np.int64), birth_step=np.zeros(n, np.int32),
               organ=np.zeros(n, np.int16), flags=np.zeros(n, np.uint8))
    if hypoxia is not None:
        tab.column("hypoxia")[:] = hypoxia
    if drive is not None:
        tab.column("angiogenic_drive")[:] = drive
    state = State({k: tab.column(k) for k in tab.extra}, {})
    return tab, state


RATE, GAIN = 0.05, 4.0


@pytest.fixture(scope="module")
def config():
    cfg = {"angiogenesis": {"switch_rate": RATE, "hypoxia_gain": GAIN}}
    return simulation(cfg, PLUGIN).config


@pytest.mark.parametrize("hypoxia, drive, clones", [
    (None, None, 1), (0.0, None, 1), (1.0, None, 1), (0.5, 2.0, 1), (None, None, 3),
    (1.0, None, 4)], ids=["absent", "normoxic", "hypoxic", "drive", "clones", "hypoxic-clones"])
def test_switch_probability_per_step(config, hypoxia, drive, clones):
    n = 4000
    tab, state = hand_built(n, clones, hypoxia=hypoxia, drive=drive)
    angiogenesis.paget_update_state(lesions=tab.view(1.0), state=state, config=config,
                                    t=5.0, dt=1.0, draws=Draws(3, 5))
    h = 0.0 if hypoxia is None else hypoxia
    p = -np.expm1(-RATE * (1 if drive is None else drive) * (1 + GAIN * h))
    vascular = state.lesion["vascular"].reshape(n, clones)
    # a lesion's clones share its vessels, and a lesion switches at the
    # lesion's rate whatever its number of clones
    assert np.all(vascular.all(axis=1) == vascular.any(axis=1))
    observed = vascular[:, 0].mean()
    assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / n), (observed, p)


# ---------------------------------------------------------------- shedding

def test_vascular_lesions_shed_more_than_avascular_ones_of_the_same_size():
    N, m, alpha, days = 5e5, 0.01, 0.67, 30.0
    base = busy(cohort={"patients": 4, "years": days / 365.25}, primary={"cells": N},
                intravasation={"rate": m, "exponent": alpha},
                colonization={"growth": {"law": "exponential", "rate": 0.0, "death": 0.0},
                              "fate": {"die": 1.0, "dormant": 0.0, "grow": 0.0}},
                angiogenesis={"switch_rate": 0.0})
    avascular = deep(base, angiogenesis={"avascular_cap": 1e6})   # N < cap: avascular
    vascular = deep(base, angiogenesis={"avascular_cap": N})      # N >= cap: vascular at t = 0
    shed = {k: run(cfg, PLUGIN).ctc_shed.sum().item()
            for k, cfg in (("avascular", avascular), ("vascular", vascular))}
    control = run(base).ctc_shed.sum().item()
    # a vascular primary sheds exactly as without the plugin (same keyed draws)
    assert shed["vascular"] == control
    # Poisson(m N^alpha dt) a day; N falls by < 0.5 % through shedding
    steps = round(days)
    expected = 4 * steps * m * N ** alpha
    assert abs(shed["vascular"] - expected) < 5 * np.sqrt(expected) + 0.005 * expected
    ratio = angiogenesis.AngiogenesisTable().vascular_shedding
    exp_av = expected / ratio
    assert abs(shed["avascular"] - exp_av) < 5 * np.sqrt(exp_av) + 0.005 * exp_av


# ---------------------------------------------------------------- output, clones

def test_vascular_is_in_the_lesion_table_and_new_clones_share_their_lesions_vessels():
    mod = types.ModuleType("mutator")

    @paget.hookimpl
    def paget_growth(lesions, rates):
        rates.mutation[:] = np.where(lesions.dormant, 0.0, 2e-7)

    mod.paget_growth = paget_growth
    cfg = busy(cohort={"patients": 2, "years": 20 / 365.25},
               colonization={"fate": {"die": 0.9998, "dormant": 0.0, "grow": 2e-4}})
    ds = run(cfg, PLUGIN, extra=[("mutator", mod)])
    assert ds.lesion_vascular.dtype == bool
    assert ds.lesion_vascular.attrs["units"] == "1"
    primary = ds.lesion_parent == 0
    primary_lesions = np.unique(ds.lesion_id[primary])
    in_primary = np.isin(ds.lesion_id, primary_lesions)
    assert in_primary.sum() > primary.sum()          # clones arose in the 1e8-cell primaries
    # ... and share their vessels from their first step on (rows founded in
    # the last step have not had one: the table is written after it)
    stepped = ds.lesion_birth_time < ds.time[-1]
    assert (in_primary & stepped).sum() > primary.sum()
    assert ds.lesion_vascular[in_primary & stepped].all()
    # metastases founded by one cell start avascular; at 1e-3/day few switched:
    # each at most 1 - exp(-1e-3 x 5 x 20) in 20 days (hypoxia gain 4 at most
    # x5), so their count stays within 3 binomial standard errors of that
    mets = ~in_primary & ~ds.lesion_dormant
    n, p = int(mets.sum()), 1.0 - np.exp(-1e-3 * 5 * 20)
    assert n > 0 and int(ds.lesion_vascular[mets].sum()) <= n * p + 3 * np.sqrt(n * p * (1 - p))


# ---------------------------------------------------------------- dormancy

def test_dormant_avascular_micrometastases_sit_at_the_cap():
    # only the primary sheds, so the metastases it founds are the same lesions,
    # on the same keyed draws, with and without the plugin until they reach the cap
    cfg = busy(cohort={"patients": 2}, angiogenesis={"switch_rate": 1e-5},
               intravasation={"metastases_shed": False},
               colonization={"growth": {"rate": 0.005},
                             "fate": {"die": 0.9998, "dormant": 0.0, "grow": 2e-4}})
    t1, t2 = 220.0, 290.0

    def lesions_at(days, *plugins):
        c = deep(cfg, cohort={"years": days / 365.25})
        ds = run(c, *plugins)
        keep = ~ds.lesion_dormant & (ds.lesion_organ != "breast")
        return ds.isel(lesion=keep.values)

    a, b = lesions_at(t1, PLUGIN), lesions_at(t2, PLUGIN)
    control = lesions_at(t2)
    near = (a.lesion_cells > 0.9 * CAP) & ~a.lesion_vascular
    uids = a.lesion_uid[near].values
    assert uids.size >= 20
    later = b.lesion_cells.values[np.isin(b.lesion_uid, uids)]
    free = control.lesion_cells.values[np.isin(control.lesion_uid, uids)]
    assert later.size == uids.size == free.size
    # Not growing: at the cap b = d = d0 + g(cap) (Gompertz, K = 3e12) and the
    # change over t2 - t1 has sd sqrt(2 b N (t2 - t1)); 6 sd.
    b_cap = 0.05 + 0.005 * np.log(3e12 / CAP)
    sd = np.sqrt(2 * b_cap * CAP * (t2 - t1))
    assert np.all(later <= CAP + 6 * sd)
    assert np.median(later) > CAP - 6 * sd
    # without the plugin the same lesions grew on, far past the cap
    assert np.median(free) > 10 * CAP


# ---------------------------------------------------------------- decomposition

def test_runs_are_identical_on_1_and_2_ranks(tmp_path):
    cfg = write_toml(tmp_path / "c.toml",
                     only(busy(cohort={"patients": 3, "years": 21 / 365.25},
                               angiogenesis={"switch_rate": 0.1}), PLUGIN))
    outs = datasets_on_ranks(cfg, (1, 2), tmp_path)
    assert "lesion_vascular" in outs[0]
    assert outs[0].lesion_vascular.any() and not outs[0].lesion_vascular.all()
    assert_same_result(outs[0], outs[1])


def test_keyed_uniforms_of_some_rows_are_those_rows_uniforms():
    """Draws.uniform(..., rows=) gives each row the uniform it has in a draw for
    every row, so a hook may draw for the rows that need one only."""
    tab, _ = hand_built(500, 3, hypoxia=0.2, drive=None)
    les = tab.view(1.0)
    everyone = Draws(3, 5).uniform(les, "angiogenesis:switch")
    rows = np.array([1499, 0, 7, 7, 640])
    np.testing.assert_array_equal(Draws(3, 5).uniform(les, "angiogenesis:switch", rows=rows),
                                  everyone[rows])
    assert Draws(3, 5).uniform(les, "x", rows=np.array([], np.int64)).size == 0
