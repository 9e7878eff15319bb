"""The hooks ``paget_extravasation``, ``paget_dtc_fate`` and ``paget_dormancy``:
what a plugin writes is what the engine does (test plugins in
``tests/plugin_fates.py``).  Two patients, half a year of the busy cascade
(``tests/conftest.py``), the five stages only."""
from __future__ import annotations

import types

import numpy as np
import pytest

import paget
from paget.errors import PluginError
from paget.state import FateMatrix

from . import plugin_fates
from .conftest import busy
from .factors import only

CFG = only(busy(cohort={"patients": 2, "years": 0.5}))


def run(*plugins):
    return paget.Simulation(CFG, plugins=[(p.__name__, p) for p in plugins],
                            entry_points=False).run()


def total(ds, name):
    """Per organ, over patients and time."""
    return ds[name].sum(("patient", "time"))


@pytest.fixture(scope="module")
def control():
    return run()


def assert_extravasated_cells_conserved(ds):
    """Every extravasated cell dies, stays dormant or founds a colony, in its organ."""
    np.testing.assert_array_equal(ds.dtc_extravasated,
                                  ds.dtc_died + ds.dtc_dormant + ds.colonies_founded)


def assert_dormant_pools_conserved(ds):
    """Cells into the pools = cells out (died, reactivated) + cells still there."""
    into = ds.dtc_dormant.sum(("time", "organ"))
    out = ds.dormant_died.sum(("time", "organ")) + ds.dtc_reactivated.sum(("time", "organ"))
    np.testing.assert_array_equal(into - out, ds.dormant_cells.isel(time=-1).sum("organ"))


def test_control_run_uses_every_fate(control):
    """The oracles below are not vacuous: without the test plugins, cells
    extravasate in the liver, only part of those arrested, and die, stay dormant,
    grow, die dormant and reactivate."""
    assert total(control, "dtc_extravasated").sel(organ="liver") > 0
    assert (total(control, "dtc_extravasated") < total(control, "ctc_arrested")).all()
    for name in ("dtc_died", "dtc_dormant", "colonies_founded", "dormant_died", "dtc_reactivated"):
        assert control[name].sum() > 0, name
    assert_extravasated_cells_conserved(control)
    assert_dormant_pools_conserved(control)


def test_extravasation_probability_zero_in_one_organ():
    ds = run(plugin_fates.extravasation("liver", 0.0))
    liver = ds.sel(organ="liver")
    assert liver.ctc_arrested.sum() > 0                  # CTCs still arrest there ...
    for name in ("dtc_extravasated", "dtc_died", "dtc_dormant", "colonies_founded"):
        assert liver[name].sum() == 0, name             # ... and none crosses
    assert liver.tumor_cells.max() == 0 and liver.dormant_cells.max() == 0
    others = total(ds, "dtc_extravasated").drop_sel(organ="liver")
    assert (others > 0).all()                            # the other organs are untouched
    assert_extravasated_cells_conserved(ds)


def test_extravasation_probability_one_everywhere():
    ds = run(plugin_fates.extravasation(None, 1.0))
    assert ds.ctc_arrested.sum() > 0
    # every arrested CTC crosses, in every organ, patient and record
    np.testing.assert_array_equal(ds.dtc_extravasated, ds.ctc_arrested)
    assert_extravasated_cells_conserved(ds)


def test_dtc_fate_all_dormant_founds_no_colony():
    ds = run(plugin_fates.dtc_fate(0.0, 1.0, 0.0))
    assert ds.dtc_extravasated.sum() > 0
    np.testing.assert_array_equal(ds.colonies_founded, 0)
    np.testing.assert_array_equal(ds.dtc_died, 0)
    np.testing.assert_array_equal(ds.dtc_dormant, ds.dtc_extravasated - ds.dtc_died)
    assert_dormant_pools_conserved(ds)


def test_dtc_fate_all_grow_founds_one_colony_per_cell():
    ds = run(plugin_fates.dtc_fate(0.0, 0.0, 1.0))
    assert ds.dtc_extravasated.sum() > 0
    np.testing.assert_array_equal(ds.colonies_founded, ds.dtc_extravasated)
    for name in ("dtc_died", "dtc_dormant", "dormant_died", "dtc_reactivated", "dormant_cells"):
        np.testing.assert_array_equal(ds[name], 0, err_msg=name)


def test_dormancy_rates_zero_keep_every_dormant_cell():
    ds = run(plugin_fates.dormancy(0.0, 0.0))
    np.testing.assert_array_equal(ds.dormant_died, 0)
    np.testing.assert_array_equal(ds.dtc_reactivated, 0)
    into = ds.dtc_dormant.sum(("time", "organ"))
    assert (into > 0).all()
    np.testing.assert_array_equal(ds.dormant_cells.isel(time=-1).sum("organ"), into)


@pytest.mark.parametrize("reactivation, death", [(0.0, 1e3), (1e3, 0.0)],
                         ids=["all-die", "all-reactivate"])
def test_dormancy_rates_empty_the_pools(reactivation, death):
    """At 1000/day a pool cell leaves within a step (probability 1 - e^-1000):
    what is left at the end is a small part of what entered (about 40 % with the
    built-in rates, see the control), all of it by the one way open."""
    ds = run(plugin_fates.dormancy(reactivation, death))
    into = ds.dtc_dormant.sum(("time", "organ"))
    assert (into > 0).all()
    assert (ds.dormant_cells.isel(time=-1).sum("organ") < 0.05 * into).all()
    closed = "dtc_reactivated" if death else "dormant_died"
    np.testing.assert_array_equal(ds[closed], 0)
    assert_dormant_pools_conserved(ds)


def test_control_keeps_a_large_part_of_its_dormant_cells(control):
    """The contrast for the test above: the built-in rates leave many cells dormant."""
    into = control.dtc_dormant.sum(("time", "organ"))
    assert (control.dormant_cells.isel(time=-1).sum("organ") > 0.2 * into).all()


def _fate_plugin(bad_for_default: bool):
    """A plugin whose ``paget_fate_matrix`` answers with blood rows summing to
    n_organs + 1: for every class, or only for the class (0.5, 1) that its
    ``paget_circulation`` gives every row (the default one falls through to the
    circulation plugin)."""
    mod = types.ModuleType("bad_fates")

    @paget.hookimpl(tryfirst=True)
    def paget_fate_matrix(body, survival):
        if survival == 1.0 and not bad_for_default:
            return None
        n = body.n_organs
        return FateMatrix(np.ones((n, n + 1)), np.full(n + 1, 1.0 / (n + 1)))

    @paget.hookimpl
    def paget_circulation(rates):
        rates.ctc_survival[:] = 0.5

    mod.paget_fate_matrix, mod.paget_circulation = paget_fate_matrix, paget_circulation
    return mod


@pytest.mark.parametrize("bad_for_default", [True, False])
def test_every_class_fate_matrix_is_checked(bad_for_default):
    """The default class's matrix is checked when the simulation is made, another
    class's when the engine first solves it: the same check, the same message."""
    with pytest.raises(PluginError, match="paget_fate_matrix: blood rows must be "
                                          "probabilities summing to 1"):
        paget.Simulation(CFG, plugins=[("bad_fates", _fate_plugin(bad_for_default))],
                         entry_points=False).run()
