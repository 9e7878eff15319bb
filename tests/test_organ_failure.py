"""The ``organ_failure`` plugin: death when tumour replaces a lethal share of an
organ, or the primary reaches a lethal local size; the cause of death recorded."""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

import paget
from paget.body import human_adult
from paget.errors import ConfigError
from paget.plugins import organ_failure as of

from .conftest import busy
from .factors import only

BODY = human_adult()


class FakeLesions:
    """The part of the lesion view ``paget_outcome`` reads: one row per lesion."""

    def __init__(self, patient, organ, cells, primary=None, dormant=None, n_patients=None):
        self.pidx = np.asarray(patient, dtype=np.int64)
        self.organ = np.asarray(organ, dtype=np.int64)
        self.cells = np.asarray(cells, dtype=np.float64)
        self.primary = np.zeros(self.cells.size, bool) if primary is None else np.asarray(primary)
        self.dormant = np.zeros(self.cells.size, bool) if dormant is None else np.asarray(dormant)
        self.n = n_patients

    def patient_sum(self, values, *, rows=None, by_organ=False):
        rows = np.arange(self.cells.size) if rows is None else np.asarray(rows, dtype=np.intp)
        if by_organ:
            out = np.zeros((self.n, BODY.n_organs))
            np.add.at(out, (self.pidx[rows], self.organ[rows]), values)
            return out
        return np.bincount(self.pidx[rows], weights=values, minlength=self.n)


def config(**organ_failure):
    """A configuration object with the plugin's table (and the outcome's threshold)."""
    table = of.OrganFailureTable(**organ_failure)
    return types.SimpleNamespace(organ_failure=table,
                                 outcome=types.SimpleNamespace(lethal_cells=math.inf))


def outcome(lesions, cfg, alive=None, burden=None, cause=None):
    """Call the hook once; (dying, death_cause)."""
    n = lesions.n
    alive = np.ones(n, bool) if alive is None else np.asarray(alive)
    patients = types.SimpleNamespace(alive=alive,
                                     burden=np.zeros(n) if burden is None else burden)
    state = types.SimpleNamespace(patient={"death_cause": np.zeros(n, np.int64)
                                           if cause is None else cause})
    dying = np.zeros(n, bool)
    of.paget_outcome(lesions=lesions, patients=patients, state=state, config=cfg, body=BODY,
                     t_end=10.0, dying=dying)
    return dying, state.patient["death_cause"]


@pytest.mark.parametrize("organ", ["liver", "lung", "bone", "brain"])
def test_each_organ_fails_at_its_threshold_and_not_one_cell_below(organ):
    cfg = config()
    t = cfg.organ_failure
    lethal = t.lethal_share[organ] * t.organ_grams[organ] * t.cells_per_gram
    assert lethal == of.lethal_cells(cfg, BODY)[BODY.organ_index(organ)]
    k = BODY.organ_index(organ)
    # patient 0 exactly at the threshold, 1 a cell below, 2 below in two lesions
    # adding up to the threshold (the organ's lesions count together)
    les = FakeLesions([0, 1, 2, 2], [k] * 4,
                      [lethal, lethal - 1, lethal / 2, lethal / 2], n_patients=3)
    dying, cause = outcome(les, cfg)
    assert dying.tolist() == [True, False, True]
    assert cause.tolist() == [of.FIRST_ORGAN + k, of.ALIVE, of.FIRST_ORGAN + k]


def test_default_thresholds_are_the_cited_masses_times_the_shares():
    """Liver 0.75 x 1800 g, lung 0.5 x 1200 g, marrow 0.5 x 1170 g, brain
    0.03 x 1450 g (ICRP 89), at 1e9 cells/g."""
    got = of.lethal_cells(config(), BODY)
    want = {"liver": 1.35e12, "lung": 6.0e11, "bone": 5.85e11, "brain": 4.35e10}
    for organ, cells in want.items():
        assert got[BODY.organ_index(organ)] == pytest.approx(cells, rel=1e-12)
    others = [i for i, o in enumerate(BODY.organs) if o not in want]
    assert np.isinf(got[others]).all()


def test_dormant_cells_replace_nothing():
    cfg = config()
    k = BODY.organ_index("liver")
    lethal = of.lethal_cells(cfg, BODY)[k]
    les = FakeLesions([0, 0], [k, k], [lethal - 1, 10.0], dormant=[False, True], n_patients=1)
    dying, cause = outcome(les, cfg)
    assert not dying[0] and cause[0] == of.ALIVE


def test_the_primary_kills_at_its_lethal_diameter():
    """A sphere of 40 mm at 1e9 cells/g (1 g/cm^3): pi/6 x 4^3 cm^3 x 1e9."""
    cfg = config(primary_lethal_diameter=40.0)
    lethal = math.pi / 6 * 4.0 ** 3 * 1e9
    assert of.primary_lethal_cells(cfg) == pytest.approx(lethal, rel=1e-12)
    k = BODY.organ_index("pancreas")
    up, down = math.ceil(lethal), math.floor(lethal)
    # patient 2: a metastasis as big in the same organ is not the primary
    les = FakeLesions([0, 1, 2], [k] * 3, [up, down, up], primary=[True, True, False],
                      n_patients=3)
    dying, cause = outcome(les, cfg)
    assert dying.tolist() == [True, False, False]
    assert cause.tolist() == [of.PRIMARY_LOCAL, of.ALIVE, of.ALIVE]
    assert of.primary_lethal_cells(config()) == math.inf


def test_burden_is_recorded_as_the_cause_but_left_to_the_outcome_plugin():
    """At outcome.lethal_cells the cause is 1; the outcome plugin, not this
    one, sets dying (so switching it off switches that death off)."""
    cfg = config()
    cfg.outcome.lethal_cells = 1e9
    les = FakeLesions([0, 1], [0, 0], [1e9, 1e9 - 1], n_patients=2)
    dying, cause = outcome(les, cfg, burden=np.array([1e9, 1e9 - 1]))
    assert cause.tolist() == [of.BURDEN, of.ALIVE] and not dying.any()


def test_the_smallest_code_wins_when_several_criteria_are_met():
    cfg = config(primary_lethal_diameter=1.0)
    liver, lung = BODY.organ_index("liver"), BODY.organ_index("lung")
    big = 1e13
    les = FakeLesions([0, 0, 0], [lung, liver, lung], [big, big, big],
                      primary=[True, False, False], n_patients=1)
    _, cause = outcome(les, cfg)
    assert cause[0] == of.PRIMARY_LOCAL
    les = FakeLesions([0, 0], [liver, lung], [big, big], n_patients=1)
    _, cause = outcome(les, cfg)
    assert cause[0] == of.FIRST_ORGAN + min(liver, lung)


def test_a_dead_patient_is_not_killed_again_and_keeps_its_cause():
    cfg = config()
    k = BODY.organ_index("liver")
    les = FakeLesions([0], [k], [1e13], n_patients=1)
    before = np.array([of.FIRST_ORGAN + BODY.organ_index("lung")])
    dying, cause = outcome(les, cfg, alive=np.array([False]), cause=before.copy())
    assert not dying[0] and cause.tolist() == before.tolist()


# -- whole runs -----------------------------------------------------------------------

def cfg_run(organ_failure, **over):
    cfg = only(busy(cohort={"patients": 3, "years": 0.5, "dt": 1.0}, output={"interval": 1.0},
                    outcome={"lethal_cells": 1e15}, **over))
    cfg["plugins"] = {**cfg["plugins"], "load": ["paget.plugins.organ_failure"]}
    cfg["organ_failure"] = organ_failure
    return cfg


def test_a_run_dies_at_the_first_step_its_organ_reaches_the_threshold():
    """The primary's own organ as the failing organ, with a mass small enough
    that the growing primary reaches it: the death time is the end of the first
    step whose recorded cells reach the threshold (records every step)."""
    probe = paget.Simulation(cfg_run({}), entry_points=False)
    organ = str(probe.config.primary.organ)
    cells0 = float(probe.config.primary.cells)
    grams = 4.0 * cells0 / 1e9            # fails at 4x the starting primary
    ds = paget.Simulation(cfg_run({"organ_grams": {organ: grams},
                                   "lethal_share": {organ: 1.0}}), entry_points=False).run()
    died = np.flatnonzero(np.isfinite(ds.death_time.values))
    assert died.size, "the test needs a death: lower the organ's mass"
    code = of.FIRST_ORGAN + list(ds.organ.values).index(organ)
    lethal = grams * 1e9
    for p in died:
        cells = ds.tumor_cells.sel(patient=p, organ=organ).values
        t = ds.time.values
        first = t[np.argmax(cells >= lethal)]
        assert (cells >= lethal).any() and ds.death_time.values[p] == first
        assert (cells[t < first] < lethal).all()
        assert int(ds.death_cause.values[p]) == code
        assert not ds.alive.sel(patient=p).values[t >= first].any()
    assert (ds.death_cause.values[np.isnan(ds.death_time.values)] == of.ALIVE).all()
    words = of.death_cause(ds)
    assert set(words[died]) == {f"{organ}_failure"}
    assert set(words[np.isnan(ds.death_time.values)]) <= {"alive"}
    meanings = ds.death_cause.attrs["flag_meanings"].split()
    assert meanings[:3] == ["alive_or_other", "total_burden", "primary_local"]
    assert len(meanings) == len(ds.death_cause.attrs["flag_values"]) == 3 + ds.sizes["organ"]


@pytest.mark.parametrize("table, message", [
    ({"lethal_share": {"nowhere": 0.5}}, "organ_failure.lethal_share.nowhere: unknown organ"),
    ({"lethal_share": {"liver": 1.5}}, "organ_failure.lethal_share.liver = 1.5: must be"),
    ({"lethal_share": {"kidney": 0.5}}, "organ_failure.lethal_share.kidney: the organ has no"),
    ({"organ_grams": {"liver": -1.0}}, "organ_failure.organ_grams.liver = -1.0 g"),
])
def test_bad_thresholds_are_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        paget.Simulation(cfg_run(table), entry_points=False)


def test_a_mass_given_replaces_only_that_organs_default():
    t = of.OrganFailureTable(organ_grams={"liver": 1400.0})
    assert t.organ_grams == {**of.ICRP89_MAN_GRAMS, "liver": 1400.0}
