"""The hook ``paget_outcome`` and the built-in ``outcome`` plugin: a plugin says
who dies at the end of a step, the engine freezes them; the built-in plugin
kills at the lethal burden and records when a metastasis becomes detectable."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest

import paget

from .conftest import busy
from .factors import only

#: two patients, a quarter of a year of the busy cascade, the five stages only
CFG = only(busy(cohort={"patients": 2, "years": 0.25, "dt": 1.0}, output={"interval": 10.0}))


def killer(patient: int, day: float, *, again: float | None = None) -> types.ModuleType:
    """A plugin that kills cohort patient ``patient`` at the end of the step
    ending at ``day`` (and asks for the same patient's death again at ``again``)."""
    mod = types.ModuleType(f"killer_{patient}_{day}")

    @paget.hookimpl
    def paget_outcome(patients, t_end, dying):
        for when in (day, again):
            if when is not None and t_end == when:
                dying[np.asarray(patients.index) == patient] = True

    mod.paget_outcome = paget_outcome
    return mod


def without_outcome(cfg: dict) -> dict:
    """``cfg`` with the built-in outcome plugin switched off too."""
    plugins = cfg["plugins"]
    return {**cfg, "plugins": {**plugins, "disable": [*plugins["disable"], "outcome"]}}


def run(cfg, *plugins):
    return paget.Simulation(cfg, plugins=[(p.__name__, p) for p in plugins],
                            entry_points=False).run()


@pytest.fixture(scope="module")
def no_outcome():
    """The run without the built-in outcome plugin: nobody dies."""
    return run(without_outcome(CFG))


def test_without_an_outcome_plugin_nobody_dies(no_outcome):
    assert np.isnan(no_outcome.death_time).all()
    assert no_outcome.alive.all()
    assert "detectable_lesions" not in no_outcome
    assert "first_detectable_metastasis_time" not in no_outcome


def test_a_plugin_kills_a_patient_and_the_engine_freezes_it(no_outcome):
    """Patient 1 dies at day 40 (the end of step 39): its time of death, its
    alive flag and its recorded state from then on are the engine's; patient 0
    runs on exactly as without the plugin (draws are keyed per row)."""
    ds = run(without_outcome(CFG), killer(1, 40.0))
    assert ds.death_time.values[1] == 40.0 and np.isnan(ds.death_time.values[0])
    times = ds.time.values
    np.testing.assert_array_equal(ds.alive.sel(patient=1).values, times < 40.0)
    after = ds.tumor_cells.sel(patient=1, time=times[times >= 40.0])
    # frozen: every record after death equals the state at death (day 40's record)
    np.testing.assert_array_equal(after.values, np.broadcast_to(after.values[:1], after.shape))
    assert float(after.sum()) > 0
    # the other patient is untouched by its neighbour's death
    for name in ("tumor_cells", "ctc_shed", "colonies_founded"):
        np.testing.assert_array_equal(ds[name].sel(patient=0), no_outcome[name].sel(patient=0))
    # the dead patient's lesions are kept (archived) in the final lesion table
    assert (ds.lesion_patient.values == 1).any()


def test_a_dead_patient_cannot_die_again():
    ds = run(without_outcome(CFG), killer(0, 20.0, again=50.0))
    assert ds.death_time.values[0] == 20.0


def test_lethal_burden_kills_at_the_first_step_past_it():
    """The built-in plugin: the recorded burden of a patient who died reaches
    outcome.lethal_cells, the records before its death stay below it."""
    ds = run({**CFG, "outcome": {"lethal_cells": 4e8}})
    died = np.flatnonzero(~np.isnan(ds.death_time.values))
    assert died.size, "the test needs a death: lower lethal_cells"
    for p in died:
        burden = ds.tumor_cells.sel(patient=p).sum("organ").values
        before = ds.time.values < ds.death_time.values[p]
        assert (burden[before] < 4e8).all() and burden[~before][0] >= 4e8


def test_no_metastasis_is_detectable_before_first_detectable_metastasis_time():
    """A record with a detectable lesion outside the primary's organ (so a
    metastasis) comes at or after first_detectable_metastasis_time, and a
    patient without that time never has one."""
    ds = run({**CFG, "outcome": {"detectable_cells": 200.0}})
    organ = json.loads(ds.attrs["config_json"])["primary"]["organ"]
    other = ds.detectable_lesions.drop_sel(organ=organ).sum("organ")
    t = ds.first_detectable_metastasis_time.values
    assert (other > 0).any(), "the test needs a detectable metastasis"
    for p in range(ds.sizes["patient"]):
        seen = ds.time.values[other.sel(patient=p).values > 0]
        assert seen.size == 0 or seen[0] >= t[p]      # False where t is NaN
