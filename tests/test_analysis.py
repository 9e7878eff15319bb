"""paget.analysis: Kaplan–Meier against SciPy and by hand, censoring, arms,
the metastatic pattern and molecular concordance."""
from __future__ import annotations

import json
import warnings
from statistics import NormalDist

import numpy as np
import pytest
import xarray as xr

from paget import analysis
from paget.analysis import concordance, kaplan_meier, median_survival, metastatic_pattern, survival

from .trial_data import trial_dataset

stats = pytest.importorskip("scipy.stats")


# ------------------------------------------------------------ Kaplan–Meier

def _scipy_sf(time, event):
    time, event = np.asarray(time, float), np.asarray(event, bool)
    return stats.ecdf(stats.CensoredData(uncensored=time[event], right=time[~event])).sf


@pytest.mark.parametrize("n, ties", [(7, False), (60, True), (400, True), (400, False)],
                         ids=["n7", "n60-ties", "n400-ties", "n400"])
def test_kaplan_meier_matches_scipy_on_random_censored_data(n, ties):
    rng = np.random.default_rng(20240611 + n)
    t_event = rng.exponential(100.0, n)
    t_cens = rng.exponential(150.0, n)
    time = np.minimum(t_event, t_cens)
    if ties:                     # whole days: ties among events, and censorings at event times
        time = np.ceil(time)
    event = t_event <= t_cens
    km = kaplan_meier(time, event)
    sf = _scipy_sf(time, event)
    np.testing.assert_array_equal(km.t, sf.quantiles)
    np.testing.assert_allclose(km.survival, sf.probabilities, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(km.evaluate(time), sf.evaluate(time), rtol=1e-12, atol=1e-15)
    for method in ("linear", "log-log"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # SciPy: undefined where S = 0
            ref = sf.confidence_interval(0.9, method=method)
        low, high = km.confidence_interval(0.9, method=method)
        np.testing.assert_allclose(low, ref.low.probabilities, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(high, ref.high.probabilities, rtol=1e-9, atol=1e-12)


def test_kaplan_meier_by_hand_with_ties_and_censoring_at_event_times():
    # t:      1  2  2  3  4  4  5  6
    # event:  x  x  c  c  x  c  x  x     (c at 2 and 4 share their time with an event)
    time = [1, 2, 2, 3, 4, 4, 5, 6]
    event = [1, 1, 0, 0, 1, 0, 1, 1]
    km = kaplan_meier(time, event)
    np.testing.assert_array_equal(km.t, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(km.at_risk, [8, 7, 5, 4, 2, 1])
    np.testing.assert_array_equal(km.events, [1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(km.censored, [0, 1, 1, 1, 0, 0])
    s = np.cumprod([7 / 8, 6 / 7, 1, 3 / 4, 1 / 2, 0])
    np.testing.assert_allclose(km.survival, s)
    greenwood = np.cumsum([1 / (8 * 7), 1 / (7 * 6), 0, 1 / (4 * 3), 1 / (2 * 1)])
    np.testing.assert_allclose(km.variance[:5], s[:5] ** 2 * greenwood)
    assert np.isnan(km.variance[5])          # the last patient at risk died: undefined
    assert median_survival(time, event) == 5.0
    np.testing.assert_array_equal(km.number_at_risk([0, 1, 1.5, 2, 6, 7]), [8, 8, 7, 7, 1, 0])
    np.testing.assert_allclose(km.evaluate([0, 1, 1.99, 4, 100]), [1, 7 / 8, 7 / 8, s[3], 0])


def test_kaplan_meier_and_greenwood_bounds_by_hand():
    # t:      1  2  2  3  4  5
    # event:  x  x  c  x  c  x
    # distinct t_i: 1, 2, 3, 4, 5; at risk n_i: 6, 5, 3, 2, 1; events d_i: 1, 1, 1, 0, 1
    # S:  5/6;  5/6 * 4/5 = 2/3;  2/3 * 2/3 = 4/9;  4/9 (no event);  0
    # Greenwood sum d/(n (n - d)): 1/30; + 1/20 = 1/12; + 1/6 = 1/4; 1/4; n = d there: NaN
    # Var S = S^2 sum: 25/36 * 1/30 = 5/216;  4/9 * 1/12 = 1/27;  16/81 * 1/4 = 4/81;  4/81
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(km.t, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(km.at_risk, [6, 5, 3, 2, 1])
    np.testing.assert_array_equal(km.events, [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(km.censored, [0, 1, 0, 1, 0])
    s = np.array([5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])
    np.testing.assert_allclose(km.survival, s, rtol=1e-12)
    var = np.array([5 / 216, 1 / 27, 4 / 81, 4 / 81])
    np.testing.assert_allclose(km.variance[:4], var, rtol=1e-12)
    assert np.isnan(km.variance[4])
    # 95 % bounds, z = 1.95996: linear S +- z sd clipped to [0, 1], e.g. at t = 3
    # 4/9 +- z 2/9 = 0.44444 +- 0.43555 = (0.00890, 0.87999);
    # log-log S^exp(-+z sd / (S ln S)): at t = 3,
    # z sd / (S ln S) = 1.95996 (2/9) / ((4/9) ln(4/9)) = -1.20847, so
    # (4/9)^exp(1.20847) = 0.06619 and (4/9)^exp(-1.20847) = 0.78491
    z = NormalDist().inv_cdf(0.975)
    sd = np.sqrt(var)
    low, high = km.confidence_interval(0.95, method="linear")
    np.testing.assert_allclose(low[:4], np.clip(s[:4] - z * sd, 0, 1), rtol=1e-12)
    np.testing.assert_allclose(high[:4], np.clip(s[:4] + z * sd, 0, 1), rtol=1e-12)
    np.testing.assert_allclose([low[2], high[2]], [0.00890, 0.87999], atol=5e-5)
    low, high = km.confidence_interval(0.95)            # the default: log-log
    half = z * sd / (s[:4] * np.log(s[:4]))
    np.testing.assert_allclose(low[:4], s[:4] ** np.exp(-half), rtol=1e-12)
    np.testing.assert_allclose(high[:4], s[:4] ** np.exp(half), rtol=1e-12)
    np.testing.assert_allclose([low[2], high[2]], [0.06619, 0.78491], atol=5e-5)
    assert np.isnan(low[4]) and np.isnan(high[4])       # S = 0: undefined, no warning
    with pytest.raises(ValueError, match="method='plain'"):
        km.confidence_interval(0.95, method="plain")


def test_tied_events_drop_together():
    km = kaplan_meier([2, 2, 2, 5], [True] * 4)
    np.testing.assert_allclose(km.survival, [0.25, 0.0])
    np.testing.assert_array_equal(km.events, [3, 1])


@pytest.mark.parametrize("time, event, median", [
    ([1, 2, 3, 4], [1, 1, 1, 1], 2.0),        # S = 0.5 exactly at 2: its start
    ([1, 2, 3, 4], [1, 0, 0, 0], np.nan),     # S stays at 0.75: not reached
    ([5, 5, 9, 9], [1, 1, 0, 0], 5.0),
], ids=["exact-half", "not-reached", "tie"])
def test_median_survival(time, event, median):
    np.testing.assert_equal(median_survival(time, event), median)


def test_everyone_censored_survives_with_zero_variance():
    km = kaplan_meier([10.0, 10.0, 10.0], [False] * 3)
    np.testing.assert_array_equal(km.survival, [1.0])
    np.testing.assert_array_equal(km.variance, [0.0])


@pytest.mark.parametrize("time, event, fragment", [
    ([1.0, np.nan], [1, 0], "finite"),
    ([1.0, 2.0], [1], "1-D of one length"),
    ([[1.0, 2.0]], [[1, 0]], "1-D of one length"),
    ([], [], "no patients"),
    ([1.0, 2.0], [1, 2], "boolean"),
], ids=["nan", "lengths", "2d", "empty", "not-bool"])
def test_kaplan_meier_bad_input(time, event, fragment):
    with pytest.raises(ValueError, match=fragment):
        kaplan_meier(time, event)


# ----------------------------------------------------------------- survival

def _single_arm(death, met, end=100.0, **extra) -> xr.Dataset:
    n = len(death)
    variables = {"death_time": ("patient", np.asarray(death, float)),
                 "first_detectable_metastasis_time": ("patient", np.asarray(met, float))}
    variables.update({k: ("patient", np.asarray(v, float)) for k, v in extra.items()})
    return xr.Dataset(variables, coords={"patient": np.arange(n), "time": [0.0, 50.0, end]})


def test_overall_survival_censors_at_the_end_of_followup():
    ds = _single_arm(death=[30.0, np.nan, 100.0], met=[np.nan] * 3)
    s = survival(ds, "os")
    np.testing.assert_array_equal(s.time, [30.0, 100.0, 100.0])
    np.testing.assert_array_equal(s.event, [True, False, True])
    assert s.attrs["end_of_followup"] == 100.0 and s.time.attrs["units"] == "days"


def test_mfs_is_the_first_of_metastasis_and_death():
    ds = _single_arm(death=[30.0, np.nan, 80.0, np.nan], met=[10.0, 40.0, np.nan, np.nan])
    s = survival(ds, "mfs")
    np.testing.assert_array_equal(s.time, [10.0, 40.0, 80.0, 100.0])
    np.testing.assert_array_equal(s.event, [True, True, True, False])
    assert s.attrs["event_variables"] == "first_detectable_metastasis_time, death_time"


def test_mfs_prefers_imaging_detected_metastases():
    ds = _single_arm(death=[np.nan] * 2, met=[10.0, 20.0],
                     first_detected_metastasis_time=[45.0, np.nan])
    s = survival(ds, "mfs")
    np.testing.assert_array_equal(s.time, [45.0, 100.0])
    np.testing.assert_array_equal(s.event, [True, False])
    assert analysis.metastasis_variable(ds) == "first_detected_metastasis_time"


@pytest.mark.parametrize("drop, endpoint, name", [
    (["death_time"], "os", "death_time"),
    (["first_detectable_metastasis_time"], "mfs", "first_detected_metastasis_time"),
], ids=["os", "mfs"])
def test_survival_names_the_missing_variable(drop, endpoint, name):
    ds = _single_arm(death=[1.0], met=[1.0]).drop_vars(drop)
    with pytest.raises(ValueError, match=name):
        survival(ds, endpoint)


def test_survival_rejects_an_unknown_endpoint():
    with pytest.raises(ValueError, match="'pfs'"):
        survival(_single_arm([1.0], [1.0]), "pfs")


def test_survival_per_arm_and_arm_errors():
    ds = trial_dataset(patients=6)
    both = survival(ds, "os")
    assert both.time.dims == ("arm", "patient")
    for arm in ("control", "treatment"):
        one = survival(ds, "os", arm=arm)
        assert one.time.dims == ("patient",)
        xr.testing.assert_equal(one.time, both.time.sel(arm=arm, drop=True))
        death = ds.death_time.sel(arm=arm).values
        np.testing.assert_array_equal(one.event.values, np.isfinite(death))
    with pytest.raises(ValueError, match="control, treatment"):
        survival(ds, arm="placebo")
    with pytest.raises(ValueError, match="no arm dimension"):
        survival(_single_arm([1.0], [1.0]), arm="control")


def test_survival_of_a_real_run(busy_dataset):
    s = survival(busy_dataset, "mfs")
    end = float(busy_dataset.time[-1])
    assert s.time.dims == ("patient",) and (s.time <= end).all()
    km = kaplan_meier(s.time, s.event)
    assert km.at_risk[0] == busy_dataset.sizes["patient"]


# -------------------------------------------------------- metastatic pattern

def test_metastatic_pattern_per_arm_leaves_out_the_primary():
    ds = trial_dataset(patients=10)
    share = metastatic_pattern(ds)
    assert share.dims == ("arm", "organ") and "breast" not in share.organ.values
    expected = (ds.detectable_lesions > 0).any("time").mean("patient").drop_sel(organ="breast")
    np.testing.assert_allclose(share.values, expected.values)
    assert share.attrs["patients"] == 10 and share.attrs["primary_organ"] == "breast"


def test_metastatic_pattern_counts_a_lesion_detectable_once():
    det = np.zeros((2, 3, 2), np.int64)       # patient, time, organ (lung, breast)
    det[0, 1, 0] = 1                          # patient 0: lung, only at the middle record
    det[:, :, 1] = 1                          # the primary, always
    ds = xr.Dataset({"detectable_lesions": (("patient", "time", "organ"), det)},
                    coords={"patient": [0, 1], "time": [0.0, 1.0, 2.0],
                            "organ": ["lung", "breast"]},
                    attrs={"config_json": json.dumps({"primary": {"organ": "breast"}})})
    share = metastatic_pattern(ds)
    assert share.dims == ("organ",)
    np.testing.assert_array_equal(share.sel(organ="lung"), 0.5)


def test_metastatic_pattern_needs_the_configuration():
    ds = trial_dataset(patients=2)
    ds.attrs.pop("config_json")
    with pytest.raises(ValueError, match="config_json"):
        metastatic_pattern(ds)


# ---------------------------------------------------------------- concordance

def _tables(arm: str | None = None, scale: float = 1.0) -> dict:
    """Patient 0: a primary of genotypes 0 (1000 cells) and 1 (3000: dominant);
    metastases 200 (seeded by clone 101, genotype 1), 300 (clone 100, genotype 0,
    10 cells) and 400, whose founding row died: its one row is clone 401
    (genotype 3), which arose in it from clone 101; a dormant pool 500.
    Patient 1: primary gone, one metastasis.  Patient 2: a primary alone."""
    rows = [  # uid, lesion, parent, patient, clone, genotype, cells, dormant, organ
        (100, 100, 0, 0, 100, 0, 1000, False, "breast"),
        (101, 100, 100, 0, 101, 1, 3000, False, "breast"),
        (200, 200, 101, 0, 101, 1, 50, False, "lung"),
        (300, 300, 100, 0, 100, 0, 10, False, "liver"),
        (401, 400, 200, 0, 401, 3, 20, False, "bone"),
        (500, 500, 100, 0, 100, 0, 7, True, "bone"),
        (210, 210, 110, 1, 110, 0, 99, False, "lung"),
        (120, 120, 0, 2, 120, 0, 500, False, "breast"),
    ]
    clones = [  # id, parent, patient, genotype, lesion
        (100, 0, 0, 0, 100), (101, 100, 0, 1, 100), (401, 101, 0, 3, 400),
        (110, 0, 1, 0, 110), (120, 0, 2, 0, 120),
    ]
    r, c = list(zip(*rows)), list(zip(*clones))
    u64 = lambda v: np.asarray(v, np.uint64)  # noqa: E731
    out = {
        "lesion_uid": ("lesion", u64(r[0])), "lesion_id": ("lesion", u64(r[1])),
        "lesion_parent": ("lesion", u64(r[2])), "lesion_patient": ("lesion", np.array(r[3])),
        "lesion_clone": ("lesion", u64(r[4])), "lesion_genotype": ("lesion", u64(r[5])),
        "lesion_cells": ("lesion", scale * np.array(r[6], float)),
        "lesion_dormant": ("lesion", np.array(r[7])), "lesion_organ": ("lesion", np.array(r[8])),
        "clone_id": ("clone", u64(c[0])), "clone_parent": ("clone", u64(c[1])),
        "clone_patient": ("clone", np.array(c[2])), "clone_genotype": ("clone", u64(c[3])),
        "clone_lesion": ("clone", u64(c[4])),
    }
    if arm is not None:
        out["lesion_arm"] = ("lesion", np.full(len(rows), arm))
        out["clone_arm"] = ("clone", np.full(len(clones), arm))
    return out


def _profile_dataset(**tables) -> xr.Dataset:
    return xr.Dataset(tables or _tables(), coords={"patient": [0, 1, 2]})


def test_concordance_by_hand():
    result = concordance(_profile_dataset())
    p = result.patients
    np.testing.assert_array_equal(p.metastases, [3, 1, 0])
    np.testing.assert_array_equal(p.concordant_metastases, [2, 0, 0])
    np.testing.assert_allclose(p.concordance, [2 / 3, np.nan, np.nan])
    np.testing.assert_array_equal(p.primary_present, [True, False, True])
    assert int(p.primary_genotype[0]) == 1
    t = result.clones
    assert 500 not in set(t.lesion)                      # dormant pools are not lesions
    bone = t[t.lesion == 400].iloc[0]
    assert bone.founding_genotype == 1 and bone.genotype == 3 and not bone.matches_primary
    primary = t[(t.patient == 0) & t.primary]
    np.testing.assert_allclose(sorted(primary.fraction), [0.25, 0.75])
    assert list(t.columns) == ["patient", "lesion", "organ", "primary", "clone", "genotype",
                               "cells", "fraction", "founding_genotype", "matches_primary"]


def test_concordance_min_cells_drops_small_metastases():
    p = concordance(_profile_dataset(), min_cells=15).patients
    np.testing.assert_array_equal(p.metastases, [2, 1, 0])
    np.testing.assert_allclose(p.concordance, [1.0, np.nan, np.nan])


def test_concordance_keeps_arms_apart():
    # both arms hold the same identities (arms share seeds); in "b" the primary's
    # genotype-0 clone dominates, so the genotype-1 metastases become discordant
    a, b = _tables("a"), _tables("b")
    b["lesion_cells"] = ("lesion", np.where(np.arange(8) == 0, 9000.0, b["lesion_cells"][1]))
    tables = {k: (a[k][0], np.concatenate([a[k][1], b[k][1]])) for k in a}
    ds = xr.Dataset(tables, coords={"arm": ["a", "b"], "patient": [0, 1, 2]})
    result = concordance(ds)
    p = result.patients
    assert p.concordance.dims == ("arm", "patient")
    np.testing.assert_allclose(p.concordance.sel(arm="a"), [2 / 3, np.nan, np.nan])
    np.testing.assert_allclose(p.concordance.sel(arm="b"), [1 / 3, np.nan, np.nan])
    assert list(result.clones.columns)[0] == "arm"
    assert set(result.clones.arm) == {"a", "b"}


def test_concordance_with_arms_needs_the_arm_columns():
    tables = _tables()
    ds = xr.Dataset(tables, coords={"arm": ["a"], "patient": [0, 1, 2]})
    with pytest.raises(ValueError, match="lesion_arm"):
        concordance(ds)


def test_concordance_names_a_missing_table():
    ds = _profile_dataset().drop_vars("clone_parent")
    with pytest.raises(ValueError, match="clone_parent"):
        concordance(ds)


def test_concordance_of_a_real_run(busy_dataset):
    result = concordance(busy_dataset)
    p = result.patients
    assert p.concordance.dims == ("patient",) and bool(p.primary_present.all())
    mets = p.metastases.values
    assert mets.sum() > 0 and ((p.concordance >= 0) & (p.concordance <= 1)).sum() == (mets > 0).sum()
    growing = ~busy_dataset.lesion_dormant.values
    assert len(result.clones) == int(growing.sum())
    sums = result.clones.groupby(["patient", "lesion"]).fraction.sum()
    np.testing.assert_allclose(sums, 1.0)
