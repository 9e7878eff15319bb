"""Immune response: NK kill of CTCs, kill of small lesions, competence, evasion.

Stochastic comparisons use fixed seeds and tolerances of Z standard deviations
derived from the model; Z = 5 gives a false alarm of ~6e-7 per comparison.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import xarray as xr

import paget

from .conftest import busy
from .test_cli import write_toml
from .test_decomposition import datasets_on_ranks
from .factors import only, run, simulation
from .test_genetics import kendall_extinct
from .helpers import assert_same_result

Z = 5.0
OFF = {"ctc_kill": 0.0, "lesion_kill": 0.0}


def data(ds):
    """The dataset without attributes and without the competence record."""
    return ds.drop_vars("immune_competence", errors="ignore").drop_attrs()


# ------------------------------------------------------------------ CTCs

def primary_sheds(**immune_cfg):
    """Only the primary sheds, so shedding does not depend on metastases."""
    cfg = busy(cohort={"patients": 2, "years": 0.1}, intravasation={"metastases_shed": False})
    if immune_cfg:
        cfg["immune"] = immune_cfg
    return cfg


def test_nk_kill_lowers_arrest_by_the_fate_matrix_and_keeps_conservation():
    kill = 0.3
    ds = run(primary_sheds(ctc_kill=kill, lesion_kill=0.0), "immune")
    control = run(primary_sheds())
    # same primary, same shedding (the immune kill acts after shedding)
    xr.testing.assert_equal(ds.ctc_shed, control.ctc_shed)
    shed = int(ds.ctc_shed.sum())
    assert shed > 1000
    assert int(ds.ctc_arrested.sum()) < int(control.ctc_arrested.sum())
    xr.testing.assert_equal(ds.ctc_shed.sum("organ"), ds.ctc_arrested.sum("organ") + ds.ctc_died)
    # the arrested fraction is the fate matrix's with per-bed survival x (1 - kill)
    sim = simulation(primary_sheds(), "immune")
    lymph = sim.config.intravasation.lymph_fraction
    src = sim.body.organ_index(sim.config.primary.organ)
    fm = sim.fate_matrix(1.0 - kill, 1.0)
    p = (1 - lymph) * fm.blood[src, :-1].sum() + lymph * fm.lymph[:-1].sum()
    arrested = int(ds.ctc_arrested.sum())
    assert abs(arrested / shed - p) < Z * np.sqrt(p * (1 - p) / shed), (arrested / shed, p)
    fm0 = sim.fate_matrix(1.0, 1.0)
    p0 = (1 - lymph) * fm0.blood[src, :-1].sum() + lymph * fm0.lymph[:-1].sum()
    assert p0 - p > 2 * Z * np.sqrt(p * (1 - p) / shed)  # the test can tell


# ------------------------------------------------------------------ lesions

R, D, T = 0.01, 0.05, 100
B = D + R


def exponential(patients, cells, mode="stochastic", seed=3, **immune_cfg):
    cfg = {
        "seed": seed,
        "cohort": {"patients": patients, "years": T / 365.25},
        "primary": {"cells": cells},
        "intravasation": {"rate": 0.0},
        "colonization": {"growth": {"law": "exponential", "rate": R, "death": D, "mode": mode}},
        "output": {"interval": 10.0},
    }
    if immune_cfg:
        cfg["immune"] = immune_cfg
    return cfg


def test_lesion_kill_raises_extinction_of_one_cell_colonies_as_kendall_says():
    """One-cell colonies die out by T with probability d'(e^{r'T} - 1)/(b e^{r'T} - d'),
    d' = d + k: a half size far above any colony keeps the added kill ~ k."""
    P, k = 600, 0.02
    ds = run(exponential(P, 1, ctc_kill=0.0, lesion_kill=k, half_size=1e15), "immune")
    control = run(exponential(P, 1))

    def extinct(d):
        return float((d.tumor_cells.isel(time=-1).sum("organ") == 0).mean())

    q_kill, q0 = kendall_extinct(T, B, D + k), kendall_extinct(T, B, D)
    assert abs(extinct(ds) - q_kill) < Z * np.sqrt(q_kill * (1 - q_kill) / P)
    assert abs(extinct(control) - q0) < Z * np.sqrt(q0 * (1 - q0) / P)
    assert q_kill - q0 > 2 * Z * np.sqrt(q_kill * (1 - q_kill) / P)  # the test can tell


@pytest.mark.parametrize("cells", [10, 100_000], ids=["small", "large"])
def test_lesion_kill_weakens_as_lesions_grow(cells):
    """Deterministic mode: N_{t+1} = N_t exp(r - k / (1 + N_t / N_half)), step by step;
    a small colony loses most of its growth, a large lesion almost none."""
    k, half = 0.009, 100.0
    ds = run(exponential(1, cells, mode="deterministic", ctc_kill=0.0, lesion_kill=k,
                         half_size=half), "immune")
    n = float(cells)
    for _ in range(T):
        n *= np.exp(R - k / (1.0 + n / half))
    got = float(ds.tumor_cells.isel(time=-1).sum())
    np.testing.assert_allclose(got, n, rtol=1e-9)
    slowed = np.log(got / cells) / (R * T)   # 1 = unaffected
    assert slowed < 0.5 if cells == 10 else slowed > 0.998


def test_the_lesion_kill_acts_on_a_lesion_held_at_the_avascular_cap():
    """Deterministic mode, an avascular primary below the cap: each step the cap
    bounds the net rate by ln(cap / N), then the kill is subtracted, so
    N_{t+1} = N_t exp(min(r, ln(cap / N_t)) - k / (1 + N_t / N_half)): the lesion
    settles near cap exp(-kill), below the cap.  (The kill first and the cap
    after it would give min(r - kill, ln(cap / N_t)): the lesion would sit at
    the cap exactly.)"""
    cap, k, half = 1e5, 0.02, 1e5
    cfg = exponential(1, 5e4, mode="deterministic", ctc_kill=0.0, lesion_kill=k, half_size=half)
    cfg["colonization"]["growth"]["rate"] = 0.05
    cfg["angiogenesis"] = {"avascular_cap": cap, "switch_rate": 0.0}
    ds = run(cfg, "angiogenesis", "immune")
    assert not ds.lesion_vascular.any()
    n = 5e4
    for _ in range(T):
        n *= np.exp(min(0.05, np.log(cap / n)) - k / (1.0 + n / half))
    got = float(ds.tumor_cells.isel(time=-1).sum())
    np.testing.assert_allclose(got, n, rtol=1e-9)
    kill_at_cap = k / (1.0 + cap / half)
    assert got < cap * np.exp(-kill_at_cap / 2)  # the test can tell the two orders apart


def test_lesion_cells_sum_the_clones_of_a_lesion():
    from paget.state import FLAG_DORMANT, LesionTable
    tab = LesionTable()
    n = 5
    tab.append(uid=np.arange(1, 6, dtype=np.uint64), parent=np.zeros(n, np.uint64),
               lesion=np.array([1, 1, 3, 1, 5], np.uint64), clone=np.arange(1, 6, dtype=np.uint64),
               genotype=np.zeros(n, np.uint64), cells=np.array([10.0, 5.0, 7.0, 1.0, 100.0]),
               patient=np.zeros(n, np.int64), birth_step=np.zeros(n, np.int32),
               organ=np.zeros(n, np.int16),
               flags=np.array([0, 0, 0, 0, FLAG_DORMANT], np.uint8))
    les = tab.view(1.0)
    np.testing.assert_array_equal(les.lesion_cells, [16.0, 16.0, 7.0, 16.0, 0.0])
    assert les.lesion_cells is les.lesion_cells        # computed once, shared by hooks
    assert not les.single_clone and les.lesion_index.tolist() == [0, 0, 1, 0, 2]


# ------------------------------------------------------------------ evasion, competence

STRONG = {"ctc_kill": 0.5, "lesion_kill": 0.05, "half_size": 1e6}


def test_fully_evading_clones_are_unaffected():
    """With PD-L1 (immune_evasion 1) carried from the start, the immune plugin
    changes nothing; without it, the same immune response does."""
    evading = {"initial": ["PD-L1"], "alterations": {"PD-L1": {"traits": {"immune_evasion": 1.0}}},
               "mutation_rate": 0.0}
    cfg = busy(cohort={"patients": 2, "years": 0.1}, genetics=evading)
    with_immune = run({**cfg, "immune": STRONG}, "genetics", "immune")
    without = run(cfg, "genetics")
    assert_same_result(data(with_immune), data(without))
    visible = run({**cfg, "genetics": {"mutation_rate": 0.0}, "immune": STRONG},
                  "genetics", "immune")
    assert int(visible.ctc_died.sum()) > int(without.ctc_died.sum())


def test_competence_zero_is_the_plugin_absent():
    cfg = busy(cohort={"patients": 2, "years": 0.1})
    off = run({**cfg, "immune": {**STRONG, "competence": 0.0}}, "immune")
    absent = run(cfg)
    assert_same_result(data(off), data(absent))
    on = run({**cfg, "immune": STRONG}, "immune")
    assert not on.ctc_died.equals(absent.ctc_died)
    np.testing.assert_array_equal(off.immune_competence.values, 1.0)


def test_per_patient_competence_acts_per_patient():
    """A patient whose immune_competence state is 0 equals that patient with
    the plugin absent; the others feel the immune response (a stand-in for
    the per-patient draw of issue 6)."""
    probe = types.ModuleType("competence_probe")

    @paget.hookimpl
    def paget_update_state(state, patients):
        state.patient["immune_competence"][:] = np.where(patients.index == 0, 0.0, 1.0)

    probe.paget_update_state = paget_update_state
    cfg = busy(cohort={"patients": 2, "years": 0.1})
    ds = run({**cfg, "immune": STRONG}, "immune", extra=[("competence_probe", probe)])
    absent = run(cfg)
    for name in ("tumor_cells", "ctc_shed", "ctc_arrested", "colonies_founded"):
        np.testing.assert_array_equal(ds[name].sel(patient=0), absent[name].sel(patient=0))
    assert not np.array_equal(ds.ctc_arrested.sel(patient=1), absent.ctc_arrested.sel(patient=1))
    np.testing.assert_array_equal(ds.immune_competence.sel(patient=1).values[1:], 1.0)
    np.testing.assert_array_equal(ds.immune_competence.sel(patient=0).values[1:], 0.0)


# ------------------------------------------------------------------ config

@pytest.mark.parametrize("table, key", [
    ({"ctc_kill": 1.5}, "immune.ctc_kill"),
    ({"ctc_kill": -0.1}, "immune.ctc_kill"),
    ({"lesion_kill": -1.0}, "immune.lesion_kill"),
    ({"half_size": 0.0}, "immune.half_size"),
    ({"competence": -1.0}, "immune.competence"),
    ({"competence": float("nan")}, "immune.competence"),
    ({"nk": 0.1}, "immune.nk"),
], ids=["kill>1", "kill<0", "negative-lesion-kill", "zero-half-size", "negative-competence",
        "nan-competence", "unknown-key"])
def test_bad_config_is_refused_naming_the_key(table, key):
    with pytest.raises(paget.ConfigError) as err:
        simulation({"immune": table}, "immune")
    assert str(err.value).startswith(key), str(err.value)


# ------------------------------------------------------------------ ranks

def test_identical_on_1_and_2_ranks(tmp_path):
    cfg = busy(cohort={"patients": 3, "years": 0.1}, immune=STRONG,
               genetics={"mutation_rate": 1e-6, "initial": ["TP53"]})
    path = write_toml(tmp_path / "c.toml", only(cfg, "genetics", "immune"))
    outs = datasets_on_ranks(path, (1, 2), tmp_path)
    assert_same_result(outs[0], outs[1])
