"""Microenvironment: hypoxia, inflammation and the pre-metastatic niche."""
from __future__ import annotations


import numpy as np
import pytest

import paget
import paget.plugins.intravasation as intravasation
import paget.plugins.microenvironment as microenvironment
from paget.config import resolve_organ_map
from paget.output import VARIABLES
from paget.state import LesionTable, Patients, Rates, State

from .conftest import busy
from .factors import only, run, simulation
from .test_cli import write_toml
from .test_decomposition import datasets_on_ranks
from .helpers import assert_same_result

PLUGIN = "microenvironment"
DEFAULTS = microenvironment.MicroenvironmentTable()
#: The organs of the pre-metastatic niche studies cited in the plugin (lung,
#: liver) and bone: the tropism is 0 everywhere by default (set per cancer).
TROPISM = {"default": 0.0, "lung": 1.0, "bone": 1.0, "liver": 1.0}


@pytest.fixture(scope="module")
def sim():
    return simulation({}, PLUGIN)


def table(cells, vascular=None, dormant=None, lesion=None):
    """A hand-built lesion table of one patient (plugin columns included)."""
    extra = {"hypoxia": ("float64", 0.0)}
    if vascular is not None:
        extra["vascular"] = ("bool", False)
    tab = LesionTable(extra=extra)
    n = len(cells)
    uid = np.arange(1, n + 1, dtype=np.uint64)
    flags = np.zeros(n, np.uint8) if dormant is None else \
        np.where(dormant, paget.state.FLAG_DORMANT, 0).astype(np.uint8)
    tab.append(uid=uid, parent=np.zeros(n, np.uint64),
               lesion=uid if lesion is None else np.asarray(lesion, np.uint64), clone=uid,
               genotype=np.zeros(n, np.uint64), cells=np.asarray(cells, np.float64),
               patient=np.zeros(n, np.int64), birth_step=np.zeros(n, np.int32),
               organ=np.zeros(n, np.int16), flags=flags)
    if vascular is not None:
        tab.column("vascular")[:] = vascular
    return tab


def update(sim, tab, burden=(0.0,)):
    P = len(burden)
    state = State({k: tab.column(k) for k in tab.extra},
                  {"inflammation": np.zeros(P), "niche": np.zeros((P, sim.body.n_organs))})
    patients = Patients(index=np.arange(P), alive=np.ones(P, bool),
                        burden=np.asarray(burden, np.float64))
    microenvironment.paget_update_state(lesions=tab.view(1.0), state=state, patients=patients,
                                        config=sim.config, body=sim.body, dt=1.0)
    return state


# ---------------------------------------------------------------- hypoxia

SIZES = np.array([1e3, 1e4, 2e4, 1e5, 1e6, 1e7, 1e9])


def test_hypoxia_rises_with_avascular_size(sim):
    avascular = update(sim, table(SIZES, vascular=np.zeros(SIZES.size, bool))).lesion["hypoxia"]
    assert np.all(np.diff(avascular) >= 0) and avascular[-1] > 0.9
    # zero within the diffusion limit: R < 0.15 mm below (4/3) pi 0.15^3 1e6 = 1.4e4 cells
    assert np.all(avascular[SIZES < 1.4e4] == 0) and np.all(avascular[SIZES > 1.5e4] > 0)
    # the hypoxic core of a 1 mm^3 sphere: R = 0.6204 mm, (1 - 0.15 / R)^3
    radius = (3e6 / (4 * np.pi * 1e6)) ** (1 / 3)
    assert avascular[SIZES == 1e6][0] == pytest.approx((1 - 0.15 / radius) ** 3, rel=1e-12)


def test_vascular_lesions_are_less_hypoxic_and_dormant_cells_not_at_all(sim):
    n = SIZES.size
    avascular = update(sim, table(SIZES, vascular=np.zeros(n, bool))).lesion["hypoxia"]
    vascular = update(sim, table(SIZES, vascular=np.ones(n, bool))).lesion["hypoxia"]
    np.testing.assert_allclose(vascular, DEFAULTS.vascular_hypoxia * avascular)
    # without the angiogenesis plugin every lesion counts as vascular
    absent = update(sim, table(SIZES)).lesion["hypoxia"]
    np.testing.assert_array_equal(absent, vascular)
    dormant = update(sim, table(SIZES, dormant=np.ones(n, bool))).lesion["hypoxia"]
    assert not dormant.any()


def test_a_lesions_clones_share_the_hypoxia_of_its_total_size(sim):
    # one lesion of two 5e5-cell clones is as hypoxic as one 1e6-cell row
    split = update(sim, table([5e5, 5e5, 1e6], vascular=[False] * 3, lesion=[1, 1, 3]))
    h = split.lesion["hypoxia"]
    assert h[0] == h[1] == h[2] > 0


def test_invasion_rises_with_hypoxia_and_intravasation_sheds_from_it(sim):
    hypoxia = np.array([0.0, 0.1, 0.3, 0.6, 1.0])
    rates = Rates.neutral(hypoxia.size)
    rates.invasive[:] = 0.2
    state = State({"hypoxia": hypoxia}, {})
    microenvironment.paget_invasion(rates=rates, state=state, config=sim.config)
    gain = 1 + DEFAULTS.hypoxia_invasion * hypoxia
    np.testing.assert_allclose(rates.invasive, np.minimum(1.0, 0.2 * gain))
    assert np.all(np.diff(rates.invasive) > 0)
    assert not rates.shed.any()  # shedding is intravasation's, called next
    # the built-in intravasation sheds m (f N)^alpha from the raised fraction
    cells = 1e8
    intravasation.paget_intravasation(lesions=table(np.full(hypoxia.size, cells)).view(1.0),
                                      rates=rates, config=sim.config)
    m, alpha = sim.config.intravasation.rate, sim.config.intravasation.exponent
    np.testing.assert_allclose(rates.shed, m * (np.minimum(1.0, 0.2 * gain) * cells) ** alpha,
                               rtol=1e-12)
    # clipped at 1
    rates = Rates.neutral(2)
    rates.invasive[:] = 0.6
    microenvironment.paget_invasion(rates=rates, state=State({"hypoxia": np.ones(2)}, {}),
                                    config=sim.config)
    assert np.all(rates.invasive == 1.0)


def test_a_hypoxic_primary_sheds_more_in_a_run():
    """A 1e9-cell primary held at constant size, invasive fraction 0.2."""
    N, m, alpha, days, P = 1e9, 1e-3, 0.67, 20, 3
    cfg = busy(cohort={"patients": P, "years": days / 365.25}, primary={"cells": N},
               invasion={"fraction": 0.2}, intravasation={"rate": m, "exponent": alpha},
               colonization={"growth": {"law": "exponential", "rate": 0.0, "death": 0.0},
                             "fate": {"die": 1.0, "dormant": 0.0, "grow": 0.0}},
               microenvironment={"tropism": 0.0, "inflammation_extravasation": 0.0})
    treated = run(cfg, PLUGIN).ctc_shed.sum().item()
    control = run(cfg).ctc_shed.sum().item()
    h = DEFAULTS.vascular_hypoxia * microenvironment.hypoxic_fraction(np.array([N]), 0.15)[0]
    base = P * days * m * (0.2 * N) ** alpha  # Poisson; N falls by < 1e-4 through shedding
    expected = base * (1 + DEFAULTS.hypoxia_invasion * h) ** alpha
    assert abs(control - base) < 5 * np.sqrt(base)
    assert abs(treated - expected) < 5 * np.sqrt(expected), (treated, expected, control)


# ---------------------------------------------------------------- inflammation

def test_inflammation_rises_with_burden(sim):
    burden = np.array([0.0, 1e6, 1e9, 1e10, 1e11, 1e12])
    # one patient per burden: two growing lesions each, and a dormant pool that does not count
    n = burden.size
    tab = LesionTable(extra={"hypoxia": ("float64", 0.0)})
    tab.append(uid=np.arange(1, 3 * n + 1, dtype=np.uint64), parent=np.zeros(3 * n, np.uint64),
               lesion=np.arange(1, 3 * n + 1, dtype=np.uint64),
               clone=np.arange(1, 3 * n + 1, dtype=np.uint64), genotype=np.zeros(3 * n, np.uint64),
               cells=np.concatenate([burden / 4, 3 * burden / 4, np.full(n, 1e12)]),
               patient=np.tile(np.arange(n), 3), birth_step=np.zeros(3 * n, np.int32),
               organ=np.zeros(3 * n, np.int16),
               flags=np.repeat([0, 0, paget.state.FLAG_DORMANT], n).astype(np.uint8))
    state = update(sim, tab, burden=np.zeros(n))
    inflammation = state.patient["inflammation"]
    np.testing.assert_allclose(inflammation, burden / (burden + DEFAULTS.inflammation_half_burden))
    assert np.all(np.diff(inflammation) > 0) and inflammation[0] == 0
    assert inflammation[3] == pytest.approx(0.5)


def test_inflammation_follows_the_burden_of_the_previous_step():
    cfg = busy(cohort={"patients": 2, "years": 30 / 365.25}, output={"interval": 1.0},
               primary={"cells": 1e9})
    ds = run(cfg, PLUGIN)
    burden = ds.tumor_cells.sum("organ").values
    expected = burden / (burden + DEFAULTS.inflammation_half_burden)
    # recorded after step s, computed at its start from the state recorded before it
    np.testing.assert_allclose(ds.inflammation.values[:, 1:], expected[:, :-1], rtol=1e-12)
    # time 0: computed from the burden at time 0 (not the declared default 0)
    np.testing.assert_allclose(ds.inflammation.values[:, 0], expected[:, 0], rtol=1e-12)
    assert np.all(ds.inflammation.values[:, 0] > 0)
    assert np.all(np.diff(ds.inflammation.values[:, 1:], axis=1) > 0)  # the primary grows


# ---------------------------------------------------------------- the niche

N_PRIMARY, DAYS = 1e9, 91


def niche_config(**micro):
    """A primary of 1e9 cells held at constant size, shedding; metastases do not
    shed and stay single cells, so the primary is the only source."""
    micro = {"inflammation_extravasation": 0.0, "hypoxia_invasion": 0.0, **micro}
    return busy(cohort={"patients": 4, "years": DAYS / 365.25}, primary={"cells": N_PRIMARY},
                intravasation={"rate": 3e-3, "metastases_shed": False},
                colonization={"growth": {"law": "exponential", "rate": 0.0, "death": 0.0},
                              "fate": {"die": 0.99, "dormant": 0.0, "grow": 0.01}},
                microenvironment=micro)


@pytest.fixture(scope="module")
def niche_runs():
    cfg = niche_config(tropism={"default": 0.0, "lung": 1.0})
    return run(cfg, PLUGIN), run(niche_config(tropism=0.0), PLUGIN)


def analytic_niche(t):
    s = N_PRIMARY / (N_PRIMARY + DEFAULTS.niche_half_size)
    a = DEFAULTS.niche_build * s
    k = a + DEFAULTS.niche_decay
    return a / k * -np.expm1(-k * np.asarray(t))


def test_the_niche_builds_up_in_tropic_organs_only(niche_runs):
    ds, control = niche_runs
    lung = ds.niche.sel(organ="lung")
    # the exact solution at a constant signal (the primary loses < 1e-4 of its
    # cells to shedding, which moves the signal by less than that)
    np.testing.assert_allclose(lung.values, np.broadcast_to(analytic_niche(ds.time.values),
                                                            lung.shape), rtol=1e-4, atol=1e-12)
    assert float(lung.isel(time=-1).min()) > 0.7
    assert not ds.niche.drop_sel(organ="lung").any()
    assert not control.niche.any()


def binomial_ratio(ds, organ, times=slice(None)):
    sel = dict(organ=organ, time=times)
    k = ds.dtc_extravasated.sel(**sel).sum().item()
    n = ds.ctc_arrested.sel(**sel).sum().item()
    return k / n, n


def test_the_niche_raises_extravasation_in_tropic_organs_only(niche_runs):
    ds, control = niche_runs
    p_lung = 0.3  # busy(): extravasation default 0.3, liver 0.8
    # the last four weeks: the niche is between n(63) and n(91), 0.76-0.77
    late = slice(DAYS - 28 + 0.5, None)
    n_lo, n_hi = analytic_niche([DAYS - 28, DAYS])
    r, n = binomial_ratio(ds, "lung", late)
    lo, hi = p_lung * (1 + n_lo), p_lung * (1 + n_hi)
    sd = np.sqrt(hi * (1 - hi) / n)
    assert lo - 5 * sd < r < hi + 5 * sd, (r, lo, hi, n)
    r0, n0 = binomial_ratio(control, "lung", late)
    assert abs(r0 - p_lung) < 5 * np.sqrt(p_lung * (1 - p_lung) / n0)
    # other organs: unchanged, extravasated ~ Binomial(arrested, p)
    for organ, p in (("liver", 0.8), ("bone", 0.3)):
        r, n = binomial_ratio(ds, organ)
        assert abs(r - p) < 5 * np.sqrt(p * (1 - p) / n), (organ, r, n)


def test_the_niche_shifts_fates_from_death_to_growth_in_tropic_organs(niche_runs):
    ds, control = niche_runs
    late = slice(DAYS - 28 + 0.5, None)
    grow = 0.01
    n_lo, n_hi = analytic_niche([DAYS - 28, DAYS])

    def founded_ratio(d, organ, times=slice(None)):
        sel = dict(organ=organ, time=times)
        k = d.colonies_founded.sel(**sel).sum().item()
        n = d.dtc_extravasated.sel(**sel).sum().item()
        return k / n, n

    r, n = founded_ratio(ds, "lung", late)
    lo, hi = grow * (1 + n_lo), grow * (1 + n_hi)
    assert lo - 5 * np.sqrt(hi * (1 - hi) / n) < r < hi + 5 * np.sqrt(hi * (1 - hi) / n)
    for d, organ in ((ds, "liver"), (control, "lung")):
        r, n = founded_ratio(d, organ)
        assert abs(r - grow) < 5 * np.sqrt(grow * (1 - grow) / n), (organ, r, n)


def test_dtc_fates_keep_their_sum_and_the_dormant_share(sim):
    n_org = sim.body.n_organs
    niche = np.linspace(0, 1, n_org)[None, :].repeat(2, axis=0)
    fates = np.zeros((2, n_org, 3))
    fates[0] = (0.9, 0.05, 0.05)
    fates[1] = (0.01, 0.09, 0.9)   # little left to shift: grow is clipped at grow + die
    before = fates.copy()
    sources = table([10.0, 10.0]).view(1.0)
    state = State({}, {"niche": niche, "inflammation": np.zeros(1)})
    microenvironment.paget_dtc_fate(sources=sources, fates=fates, state=state, config=sim.config)
    np.testing.assert_allclose(fates.sum(-1), 1.0, atol=1e-15)
    np.testing.assert_array_equal(fates[..., 1], before[..., 1])
    expected = np.minimum(before[..., 2] + before[..., 0],
                          before[..., 2] * (1 + DEFAULTS.niche_colonization * niche))
    np.testing.assert_allclose(fates[..., 2], expected)
    assert np.all(fates >= 0)


def test_the_default_tropism_is_zero_in_every_organ(sim):
    """Tropism is cancer-specific: a cancer scenario sets it, not this plugin."""
    assert not resolve_organ_map(sim.config.microenvironment.tropism, sim.body, 1.0).any()


def test_with_zero_tropism_and_gains_the_plugin_changes_nothing():
    cfg = busy(cohort={"patients": 2, "years": 60 / 365.25},
               microenvironment={"tropism": 0.0, "hypoxia_invasion": 0.0,
                                 "inflammation_extravasation": 0.0})
    treated, control = run(cfg, PLUGIN), run(cfg)
    assert not treated.niche.any()
    for name in VARIABLES:
        assert_same_result(treated[name], control[name])


@pytest.mark.parametrize("key, value", [
    ("tropism", {"lung": 2.0}), ("tropism", {"nowhere": 1.0}), ("vascular_hypoxia", 1.5),
    ("niche_build", -1.0), ("inflammation_half_burden", 0.0), ("diffusion_limit_mm", float("nan"))])
def test_bad_parameters_are_refused_with_their_key(key, value):
    with pytest.raises(paget.ConfigError, match=f"microenvironment.{key}"):
        simulation({"microenvironment": {key: value}}, PLUGIN)


# ---------------------------------------------------------------- with angiogenesis

def test_avascular_lesions_at_the_cap_are_hypoxic_and_the_primary_less_so():
    cfg = busy(cohort={"patients": 2, "years": 220 / 365.25},
               intravasation={"metastases_shed": False},
               colonization={"growth": {"rate": 0.005},
                             "fate": {"die": 0.9998, "dormant": 0.0, "grow": 2e-4}},
               angiogenesis={"switch_rate": 1e-5})
    ds = run(cfg, PLUGIN, "angiogenesis")
    capped = (ds.lesion_cells > 0.95e6) & ~ds.lesion_vascular & ~ds.lesion_dormant
    assert capped.sum() >= 10
    # hypoxia was computed at the start of the last step, from N_prev cells:
    # N e^{-g} - 5 sd < N_prev < N + 5 sd, with g <= 0.005 ln(3e12 / 0.9e6) < 0.08
    # (the Gompertz net rate below the cap) and sd = sqrt(2 b N) the step's
    # birth-death noise, b = 0.05 + g
    n = ds.lesion_cells[capped].values
    sd = np.sqrt(2 * 0.13 * n)
    h = ds.lesion_hypoxia[capped].values
    assert np.all(h >= microenvironment.hypoxic_fraction(n * np.exp(-0.08) - 5 * sd, 0.15))
    assert np.all(h <= microenvironment.hypoxic_fraction(n + 5 * sd, 0.15))
    assert np.median(h) == pytest.approx(0.436, abs=0.002)  # at the cap, 1e6 cells
    primary = ds.lesion_parent == 0
    assert ds.lesion_vascular[primary].all()
    np.testing.assert_allclose(ds.lesion_hypoxia[primary],
                               DEFAULTS.vascular_hypoxia * microenvironment.hypoxic_fraction(
                                   ds.lesion_cells[primary].values, 0.15), rtol=1e-3)


# ---------------------------------------------------------------- decomposition

def test_runs_are_identical_on_1_and_2_ranks(tmp_path):
    cfg = write_toml(tmp_path / "c.toml",
                     only(busy(cohort={"patients": 3, "years": 21 / 365.25},
                               invasion={"fraction": 0.3}, microenvironment={"tropism": TROPISM},
                               angiogenesis={"switch_rate": 0.1}), PLUGIN, "angiogenesis"))
    outs = datasets_on_ranks(cfg, (1, 2), tmp_path)
    assert outs[0].niche.any() and outs[0].inflammation.any()
    assert_same_result(outs[0], outs[1])
