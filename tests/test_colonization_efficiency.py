"""``colonization.fate.efficiency``: an organ's colonization efficiency scales
the probability that an extravasated cell founds a growing colony there
(``grow x efficiency``; ``die`` takes the difference).  Two patients, half a
year of the busy cascade (``tests/conftest.py``), the five stages only."""
from __future__ import annotations

import numpy as np
import pytest

import paget
from paget.body import human_adult
from paget.errors import ConfigError
from paget.plugins.colonization import paget_dtc_fate

from .conftest import busy
from .factors import only

FATE = {"die": 0.7, "dormant": 0.1, "grow": 0.2}


def run(efficiency):
    cfg = only(busy(cohort={"patients": 2, "years": 0.5},
                    colonization={"fate": {**FATE, "efficiency": efficiency}}))
    return paget.Simulation(cfg, entry_points=False).run()


def test_the_hook_scales_grow_per_target_organ_and_die_takes_the_rest():
    cfg = paget.Simulation(only(busy(colonization={"fate": {
        **FATE, "efficiency": {"default": 0.5, "liver": 3.0}}}))).config
    body = human_adult()
    fates = np.zeros((4, body.n_organs, 3))
    paget_dtc_fate(fates=fates, config=cfg, body=body)
    liver, lung = body.organ_index("liver"), body.organ_index("lung")
    np.testing.assert_allclose(fates[:, liver], [[0.3, 0.1, 0.6]] * 4)
    np.testing.assert_allclose(fates[:, lung], [[0.8, 0.1, 0.1]] * 4)
    np.testing.assert_allclose(fates.sum(-1), 1.0)


def test_efficiency_one_is_the_plain_fates():
    cfg = paget.Simulation(only(busy(colonization={"fate": FATE}))).config
    body = human_adult()
    fates = np.zeros((2, body.n_organs, 3))
    paget_dtc_fate(fates=fates, config=cfg, body=body)
    np.testing.assert_array_equal(fates, np.broadcast_to([0.7, 0.1, 0.2], fates.shape))


def test_an_organ_at_efficiency_zero_founds_no_colony_and_the_others_do():
    ds = run({"default": 1.0, "liver": 0.0})
    liver = ds.sel(organ="liver")
    assert liver.dtc_extravasated.sum() > 0
    assert liver.colonies_founded.sum() == 0
    assert ds.colonies_founded.drop_sel(organ="liver").sum() > 0
    np.testing.assert_array_equal(ds.dtc_extravasated,
                                  ds.dtc_died + ds.dtc_dormant + ds.colonies_founded)


def test_founded_share_matches_grow_times_efficiency_within_3_se():
    """Each extravasated cell founds a colony with probability grow x
    efficiency: in the liver at efficiency 4 (0.8), the founded share of the
    extravasated cells lies within 3 binomial standard errors of 0.8, and
    dormancy keeps its 0.1."""
    ds = run({"default": 1.0, "liver": 4.0})
    liver = ds.sel(organ="liver")
    n = int(liver.dtc_extravasated.sum())
    assert n > 200
    for name, p in (("colonies_founded", 0.8), ("dtc_dormant", 0.1)):
        k = int(liver[name].sum())
        assert abs(k / n - p) < 3 * np.sqrt(p * (1 - p) / n), (name, k, n)


@pytest.mark.parametrize("efficiency", [5.0, {"default": 1.0, "bone": 4.6}])
def test_an_efficiency_that_leaves_die_negative_is_refused(efficiency):
    with pytest.raises(ConfigError, match=r"grow x efficiency must leave die >= 0"):
        paget.Simulation(only(busy(colonization={"fate": {**FATE, "efficiency": efficiency}})))


def _fates(**over):
    cfg = paget.Simulation(only(busy(**over))).config
    body = human_adult()
    fates = np.zeros((1, body.n_organs, 3))
    paget_dtc_fate(fates=fates, config=cfg, body=body)
    return fates[0], body


def test_a_tropism_above_what_extravasation_holds_multiplies_the_colonization():
    """extravasation.tropism scales the cancer's soil as a whole: bone at
    probability 0.5 x tropism 8 = 4 extravasates with certainty and founds
    colonies at 4 x grow x efficiency; the liver at 0.8 x 1.25 = 1 (no excess)
    and every other organ keep grow x efficiency."""
    fates, body = _fates(colonization={"fate": {**FATE, "efficiency": {"default": 1.0,
                                                                         "bone": 0.5}}},
                         extravasation={"probability": {"default": 0.1, "bone": 0.5,
                                                        "liver": 0.8},
                                        "tropism": {"bone": 8.0, "liver": 1.25}})
    bone, liver, lung = (body.organ_index(o) for o in ("bone", "liver", "lung"))
    np.testing.assert_allclose(fates[bone], [0.5, 0.1, 0.4])     # 0.2 x 0.5 x 4
    np.testing.assert_allclose(fates[liver], [0.7, 0.1, 0.2])
    np.testing.assert_allclose(fates[lung], [0.7, 0.1, 0.2])


def test_a_tropism_within_what_extravasation_holds_leaves_the_fates_as_they_were():
    plain, _ = _fates(colonization={"fate": FATE})
    within, _ = _fates(colonization={"fate": FATE},
                       extravasation={"probability": {"default": 0.1}, "tropism": {"bone": 5.0}})
    np.testing.assert_array_equal(within, plain)


def test_a_tropism_whose_excess_leaves_die_negative_is_refused():
    with pytest.raises(ConfigError, match=r"extravasation\.tropism\.bone: .* = 1\.6 is more "
                                          r"than die \+ grow = 0\.9; lower the tropism"):
        paget.Simulation(only(busy(colonization={"fate": FATE},
                                   extravasation={"probability": {"default": 0.1, "bone": 1.0},
                                                  "tropism": {"bone": 8.0}})))
