"""Engine extension points: plugin state, clones and mutation, circulation classes."""
from __future__ import annotations

import types

import numpy as np
import pytest
import xarray as xr

import paget
from paget.engine import RankRun, select_patients
from paget.state import StateVariable

from . import plugin_features
from .conftest import busy
from .factors import only
from .helpers import assert_same_result


def run(cfg, *plugins):
    """The stages and ``plugins``, without the built-in factor plugins (genetics
    would set the mutation rate the test plugins set)."""
    return paget.Simulation(only(cfg), plugins=list(plugins), entry_points=False).run()


@pytest.fixture(scope="module")
def featured():
    return run(busy(cohort={"patients": 3, "years": 0.3}), ("features", plugin_features))


def test_plugin_state_is_written_with_units(featured):
    ds = featured
    assert ds.exposure.dims == ("patient", "time") and ds.exposure.attrs["units"] == "cell days"
    assert ds.seen.dims == ("patient", "time", "organ")
    assert ds.lesion_marked.dtype == bool and ds.lesion_age_steps.attrs["units"] == "steps"
    # exposure integrates burden: increasing, positive
    assert (ds.exposure.diff("time") > 0).all()
    # an organ that held lesions at one record was seen (in the steps after it)
    held = (ds.lesions > 0).isel(time=slice(None, -1)).values
    seen = (ds.seen > 0).isel(time=slice(1, None)).values
    assert np.all(held <= seen)


def test_inherited_state_follows_founders():
    """A variable with inherit=True is copied from the founding row; one without
    starts at its default (age counts the steps a row has lived)."""
    mod = types.ModuleType("stamp")

    @paget.hookimpl
    def paget_state_variables():
        return [StateVariable("stamp", "lesion", "int64", -1, inherit=True),
                StateVariable("fresh", "lesion", "int64", -1, inherit=False)]

    @paget.hookimpl
    def paget_update_state(lesions, state):
        state.lesion["stamp"][lesions.primary] = 7   # only the primary is stamped

    mod.paget_state_variables = paget_state_variables
    mod.paget_update_state = paget_update_state
    ds = run(busy(cohort={"patients": 2, "years": 0.2}), ("stamp", mod))
    mets = ~ds.lesion_dormant.values & (ds.lesion_parent.values != 0)
    assert mets.any()
    # every row descends from a primary, so all inherited the stamp
    assert (ds.lesion_stamp.values == 7).all()
    assert (ds.lesion_fresh.values[mets] == -1).all()


def test_mutations_make_a_clone_phylogeny(featured):
    ds = featured
    n_primary = ds.sizes["patient"]
    assert ds.sizes["clone"] > n_primary
    clones = {(int(p), int(c)): (int(par), float(t)) for p, c, par, t in zip(
        ds.clone_patient.values, ds.clone_id.values, ds.clone_parent.values,
        ds.clone_birth_time.values)}
    for (p, c), (parent, t) in clones.items():
        if parent:
            assert (p, parent) in clones, "a clone's parent is a clone of the same patient"
            assert clones[(p, parent)][1] <= t
    # genotype: one more alteration bit than the parent, or the same if it had it
    geno = {int(c): int(g) for c, g in zip(ds.clone_id.values, ds.clone_genotype.values)}
    for c, par in zip(ds.clone_id.values, ds.clone_parent.values):
        if par:
            extra = geno[int(c)] & ~geno[int(par)]
            assert bin(extra).count("1") <= 1 and geno[int(c)] & geno[int(par)] == geno[int(par)]


def test_lesions_count_lesions_not_clones(featured):
    ds = featured
    last = ds.isel(time=-1)
    live = ~ds.lesion_dormant.values & (ds.lesion_cells.values > 0)
    for p in range(ds.sizes["patient"]):
        mine = live & (ds.lesion_patient.values == p)
        n_lesions = len(np.unique(ds.lesion_id.values[mine]))
        assert int(last.lesions.sel(patient=p).sum()) == n_lesions
    # and some lesion holds more than one clone
    ids, counts = np.unique(ds.lesion_id.values[live], return_counts=True)
    assert counts.max() > 1


def test_expected_number_of_mutants_is_mu_times_divisions():
    """A deterministic-rate exponential primary of N0 cells, no shedding: the
    expected number of new clones over T is mu b N0 (e^{rT} - 1) / r (each
    division mutates with probability mu).  Poisson: tolerance 5 sqrt(mean)."""
    mu, b, d, T, N0, P = 1e-5, 0.05, 0.02, 30.0, 1e5, 20
    cfg = busy(primary={"cells": N0}, cohort={"patients": P, "years": T / 365.25},
               intravasation={"rate": 0.0}, output={"interval": 1.0},
               colonization={"growth": {"law": "exponential", "rate": b - d, "death": d}})
    mod = types.ModuleType("mutator")

    @paget.hookimpl
    def paget_growth(rates):
        rates.mutation[:] = mu

    mod.paget_growth = paget_growth
    ds = run(cfg, ("mutator", mod))
    T = float(ds.time[-1])
    r = b - d
    expected = P * mu * b * N0 * np.expm1(r * T) / r
    observed = ds.sizes["clone"] - P
    assert abs(observed - expected) < 5 * np.sqrt(expected), (observed, expected)


def test_without_mutation_hook_a_new_clone_keeps_its_parents_genotype():
    mod = types.ModuleType("mutator")

    @paget.hookimpl
    def paget_growth(rates):
        rates.mutation[:] = 1e-3

    mod.paget_growth = paget_growth
    ds = run(busy(cohort={"patients": 1, "years": 0.05}), ("mutator", mod))
    assert ds.sizes["clone"] > 1
    assert (ds.clone_genotype == 0).all()


def test_circulation_classes_change_fates():
    mod = types.ModuleType("nk")

    @paget.hookimpl
    def paget_circulation(rates):
        rates.ctc_survival[:] = 0.0   # every CTC dies in the first bed it meets

    mod.paget_circulation = paget_circulation
    ds = run(busy(cohort={"years": 0.1}), ("nk", mod))
    assert int(ds.ctc_shed.sum()) > 0
    assert int(ds.ctc_arrested.sum()) == 0
    xr.testing.assert_equal(ds.ctc_died, ds.ctc_shed.sum("organ"))


def test_state_variable_names_must_be_unique():
    mod = types.ModuleType("dup")

    @paget.hookimpl
    def paget_state_variables():
        return [StateVariable("cells", "lesion")]

    mod.paget_state_variables = paget_state_variables
    with pytest.raises(paget.PluginError, match="cells"):
        paget.Simulation({}, plugins=[("dup", mod)], entry_points=False)


def test_bad_state_variable_declaration():
    with pytest.raises(ValueError, match="level"):
        StateVariable("x", "organ")


def test_restart_with_plugin_state_and_clones_is_identical():
    """Stop after step 40 on two 'ranks', resume on three: bit-identical."""
    cfg = busy(cohort={"patients": 5, "years": 0.2})
    sim = paget.Simulation(only(cfg), plugins=[("features", plugin_features)],
                           entry_points=False)
    full = sim.run()
    hook = sim.plugin_manager.hook

    def rank(lo, hi):
        return RankRun(sim.config, sim.body, hook, lo, hi, sim.variables)

    states = []
    for lo, hi in ((0, 2), (2, 5)):
        r = rank(lo, hi)
        assert r.run(on_step=lambda s: s == 39) is None
        states.append(r.state_dict())
    parts = []
    for lo, hi in ((0, 1), (1, 3), (3, 5)):
        r = rank(lo, hi)
        r.load_state(select_patients(states, lo, hi))
        parts.append(r.run())
    assert_same_result(sim._dataset(parts), full)


def test_plugin_state_of_dead_patients_does_not_depend_on_the_ranks():
    """A rank whose patients have all died keeps calling the hooks, so a plugin
    that updates every patient's state gives the same dataset however patients
    are split (here: serial vs blocks (0, 2) and (2, 4), dying at other times)."""
    mod = types.ModuleType("ticks")

    @paget.hookimpl
    def paget_state_variables():
        return [StateVariable("ticks", "patient", "int64", 0, "steps", "steps seen")]

    @paget.hookimpl
    def paget_update_state(state):
        state.patient["ticks"] += 1

    mod.paget_state_variables = paget_state_variables
    mod.paget_update_state = paget_update_state
    cfg = busy(cohort={"patients": 4, "years": 0.3}, primary={"cells": 100},
               outcome={"lethal_cells": 1e4}, intravasation={"rate": 0.0},
               colonization={"growth": {"law": "exponential", "rate": 0.1, "death": 0.3}},
               plugins={"disable": ["genetics", "microenvironment", "angiogenesis", "immune"]})
    sim = paget.Simulation(cfg, plugins=[("ticks", mod)], entry_points=False)
    serial = sim.run()
    deaths = serial.death_time.values
    assert np.all(np.isfinite(deaths)) and len(np.unique(deaths)) > 1
    parts = [RankRun(sim.config, sim.body, sim.plugin_manager.hook, lo, hi,
                     sim.variables).run() for lo, hi in ((0, 2), (2, 4))]
    assert_same_result(sim._dataset(parts), serial)
    assert int(serial.ticks.isel(time=-1).min()) == sim.plan.n_steps


def test_paget_check_config_refuses_before_step_0_in_every_arm():
    """A plugin's cross-table check (``paget_check_config``) sees the resolved
    configuration and the body; its ConfigError is bad input, raised when the
    Simulation is built, for the base configuration and for each trial arm."""
    seen = []
    mod = types.ModuleType("needs_a_liver_primary")

    @paget.hookimpl
    def paget_check_config(config, body):
        seen.append((config.primary.organ, body.n_organs))
        if config.primary.organ != "liver":
            raise paget.ConfigError(f"primary.organ = {config.primary.organ!r}: this plugin "
                                    f"models liver primaries only")

    mod.paget_check_config = paget_check_config
    with pytest.raises(paget.ConfigError, match="primary.organ = 'breast': this plugin"):
        paget.Simulation({"primary": {"organ": "breast"}}, plugins=[(mod.__name__, mod)],
                         entry_points=False)
    seen.clear()
    arms = [{"name": "a"}, {"name": "b", "primary": {"organ": "lung"}}]
    with pytest.raises(paget.ConfigError, match="primary.organ = 'lung'"):
        paget.Simulation({"primary": {"organ": "liver"}, "arms": arms},
                         plugins=[(mod.__name__, mod)], entry_points=False)
    assert [organ for organ, _ in seen] == ["liver", "liver", "lung"]
    assert all(n == paget.Simulation({}).body.n_organs for _, n in seen)
