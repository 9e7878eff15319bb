"""docs/validation/clinical.py: the clinical time-course targets of the validation report."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import validation_module


@pytest.fixture(scope="module")
def clinical():
    pytest.importorskip("scipy")
    return validation_module("clinical")


def test_the_five_year_risk_counts_only_non_metastatic_patients_followed_five_years(clinical):
    """Patient 0: distant metastasis 2 years after diagnosis (an event); 1: one
    already at diagnosis (metastatic, excluded); 2: diagnosed too late to be
    followed 5 years (excluded); 3: never diagnosed (excluded); 4: distant
    metastasis after 6 years (no event); 5: none (no event)."""
    y = 365.25
    res = {"diagnosis": np.array([1, 1, 9, np.nan, 1, 1]) * y,
           "distant": np.array([3, 1, np.nan, np.nan, 7, np.nan]) * y,
           "distant_imaged": np.array([3.2, 1, np.nan, np.nan, 7.2, np.nan]) * y,
           "diameter": np.full(6, 10.0), "end": 10 * y}
    r = clinical.distant_risk(res)
    assert (r["metastatic_at_diagnosis"], r["not_diagnosed_or_not_followed"],
            r["at_risk"], r["events"], r["events_imaging"]) == (1, 2, 3, 1, 1)
    assert r["risk"] == pytest.approx(1 / 3)
    assert r["ci"][0] < 1 / 3 < r["ci"][1]


def test_the_late_relapses_are_the_share_of_ten_year_relapses_after_five_years(clinical):
    """Diagnosed at year 1 and followed to year 12 unless said: 0 relapses 2
    years after diagnosis, 1 after 7 (late), 2 after 11 (beyond the horizon: no
    relapse within it), 3 never, 4 already at diagnosis (metastatic, excluded),
    5 diagnosed at year 3, not followed 10 years (excluded, though it relapses
    after 6): one late relapse of two."""
    y = 365.25
    res = {"diagnosis": np.array([1, 1, 1, 1, 1, 3]) * y,
           "distant": np.array([3, 8, 12, np.nan, 1, 9]) * y, "end": 12 * y}
    r = clinical.late_relapse(res, early=5.0, horizon=10.0)
    assert (r["at_risk"], r["relapses"], r["late"]) == (4, 2, 1)
    assert r["share"] == 0.5 and r["median_years"] == pytest.approx(4.5)
    assert r["ci"][0] < 0.5 < r["ci"][1]
    none = clinical.late_relapse({**res, "distant": np.full(6, np.nan)})
    assert none["relapses"] == 0 and np.isnan(none["share"])


def test_the_median_survival_is_kaplan_meiers_with_censoring(clinical):
    """Events at 1, 2, 4, 5 months, one patient censored at 3: S falls to 0.8,
    0.6, then 0.6 x 1/2 = 0.3 at 4 months, so the median is 4 (the plain median
    of the event times would be 3)."""
    km = clinical.km_median(np.array([1.0, 2, 3, 4, 5]), np.array([1, 1, 0, 1, 1], bool))
    assert km["median"] == 4.0
    # Greenwood at 1 month: 0.8^2 x 1/(5 x 4), so 0.8 - 1.96 sd = 0.45 <= 1/2 there;
    # S + 1.96 sd stays above 1/2 (0.768 at 4 months) until S = 0, where everyone
    # at risk died and Greenwood's variance is undefined: the upper end not reached
    assert km["ci"] == [1.0, None]
    assert clinical.km_median(np.array([1.0, 2]), np.array([0, 0], bool))["median"] is None
    assert clinical.km_median(np.array([]), np.array([], bool)) == {"median": None,
                                                                   "ci": [None, None]}


def test_the_median_survival_groups_tied_deaths(clinical):
    """Two deaths at 1 month among 6 patients are one step of S to 4/6 (not
    5/6 then 4/6), one at 2 months takes S to 1/2: the median is 2; a patient
    censored at 3 months, with a death then, is still at risk for it."""
    km = clinical.km_median(np.array([1.0, 1, 2, 3, 3, 4]), np.array([1, 1, 1, 0, 1, 1], bool))
    assert km["median"] == 2.0
    # at 1 month S = 2/3, Greenwood (2/3)^2 x 2/(6 x 4): S - 1.96 sd = 0.29 <= 1/2
    assert km["ci"] == [1.0, None]


def test_the_stage_i_survival_keeps_node_negative_patients_and_censors(clinical):
    """Patient 0: dies 2 years after diagnosis (an event within 5 years); 1: a
    metastasis (regional nodes count) detectable at diagnosis (not stage I,
    left out); 2: never diagnosed (left out); 3: alive at the end of the run,
    4 years after diagnosis (censored then); 4: dies 7 years after diagnosis
    (a survivor at 5 years); 5: a metastasis only after diagnosis (stage I).
    S(5 years) = (1 - 1/4) (1 - 1/2) = 3/8: patient 3's censoring at 4 years
    takes them out of the risk set before patient 5 dies at 4.5 (without
    censoring, 2 deaths of 4 would read 1/2)."""
    y = 365.25
    res = {"diagnosis": np.array([1, 1, np.nan, 6, 1, 1]) * y,
           "death": np.array([3, 5, np.nan, np.nan, 8, 5.5]) * y,
           "any_metastasis": np.array([2, 1, np.nan, np.nan, 3, 2]) * y,
           "diameter": np.array([20.0, 30, 10, 25, 15, 40]), "end": 10 * y}
    r = clinical.stage_i_survival(res, 5.0)
    assert (r["diagnosed"], r["node_negative_non_metastatic"], r["dead_within"]) == (5, 4, 2)
    assert r["survival"] == pytest.approx(0.375)
    assert r["ci"][0] < 0.375 < r["ci"][1]
    # Greenwood: Var S = S^2 (1/(4 x 3) + 1/(2 x 1)); S -+ 1.96 sd, clipped at 0
    sd = 0.375 * np.sqrt(1 / 12 + 1 / 2)
    assert r["ci"] == pytest.approx([0.0, 0.375 + 1.96 * sd], rel=1e-12)
    assert r["median_diameter_mm"] == pytest.approx(22.5)
    # the median of the same patients: S falls to 3/4 at 24 months, then (patient
    # 3 censored at 48) to 3/8 at 54 months, patient 5's death
    assert r["median_months"] == pytest.approx(4.5 * 12) and r["dead"] == 3
    assert r["follow_up_months_min"] == pytest.approx(24.0)


def test_the_progression_to_stage_iv_times_stage_i_patients_to_a_distant_metastasis(clinical):
    """Diagnosed at year 1 unless said.  Patient 0: a distant metastasis 2 years
    after diagnosis; 1: a regional node detectable at diagnosis (not stage I,
    left out); 2: never diagnosed; 3: a regional node after diagnosis, a distant
    metastasis 4 years after diagnosis (stage I at diagnosis: counted); 4: dies
    at year 3 without a distant metastasis (died first); 5: alive at the end, no
    distant metastasis (neither); 6: a distant metastasis detectable at
    diagnosis (stage IV already, left out).  Progressed: 2 and 4 years, mean 3,
    half-width 1.96 sd / sqrt 2 with sd = sqrt 2."""
    y = 365.25
    res = {"diagnosis": np.array([1, 1, np.nan, 1, 1, 1, 1]) * y,
           "death": np.array([6, 5, np.nan, 7, 3, np.nan, 2]) * y,
           "any_metastasis": np.array([3, 1, np.nan, 2, np.nan, np.nan, 1]) * y,
           "distant": np.array([3, 4, np.nan, 5, np.nan, np.nan, 1]) * y}
    r = clinical.stage_iv_progression(res)
    assert (r["diagnosed"], r["stage_i"], r["progressed"], r["died_first"]) == (6, 4, 2, 1)
    assert r["mean_years"] == pytest.approx(3.0)
    assert r["median_years"] == pytest.approx(3.0)
    assert r["ci_years"] == pytest.approx([3.0 - 1.96, 3.0 + 1.96])
    empty = clinical.stage_iv_progression({k: v[1:3] for k, v in res.items()})
    assert empty["progressed"] == 0 and np.isnan(empty["mean_years"])


def test_the_metastatic_deaths_count_a_distant_metastasis_detectable_at_death(clinical):
    """Patient 0: a distant metastasis before death (counted); 1: one only after
    the death time (never: not counted); 2: alive (not a death); 3: dies without
    one.  1 of 3 deaths."""
    y = 365.25
    res = {"death": np.array([5, 3, np.nan, 4]) * y,
           "distant": np.array([4, np.nan, 2, np.nan]) * y}
    r = clinical.metastatic_deaths(res)
    assert (r["dead"], r["metastatic"]) == (3, 1)
    assert r["share"] == pytest.approx(1 / 3)
    assert r["ci"] == pytest.approx(list(clinical.clopper_pearson(1, 3)))
    none = clinical.metastatic_deaths({"death": np.array([np.nan]), "distant": np.array([1.0])})
    assert none["dead"] == 0 and np.isnan(none["share"])


def test_the_resected_course_keeps_m0_patients_and_ends_disease_free_at_relapse_or_death(
        clinical):
    """Resected at diagnosis (year 1 unless said).  Patient 0: a distant
    metastasis 6 months after resection, death at 2 years; 1: one detectable at
    diagnosis (M1, left out); 2: never diagnosed (left out); 3: no relapse,
    death at year 1.5 (disease-free survival ends at the death); 4: alive and
    disease-free at the end of the run, 9 years after diagnosis (censored); 5:
    a distant metastasis after the run's end is no relapse (censored at the end,
    year 10).  Four M0 patients, two disease-free events 6 months after
    resection, two deaths (at 6 and 12 months)."""
    y = 365.25
    res = {"diagnosis": np.array([1, 1, np.nan, 1, 1, 1]) * y,
           "death": np.array([2, 3, np.nan, 1.5, np.nan, np.nan]) * y,
           "distant": np.array([1.5, 1, np.nan, np.nan, np.nan, 11]) * y,
           "end": 10 * y}
    r = clinical.resected_course(res)
    assert (r["diagnosed"], r["m0"], r["relapsed"], r["dead"]) == (5, 4, 1, 2)
    assert r["m0_rows"].tolist() == [0, 3, 4, 5]
    # disease-free: patient 0 relapses at 6 months, patient 3 dies at 6 months
    # (one step of S to 2/4), the others censored at 9 years: median 6 months
    m = 365.25 / 12
    assert r["dfs"]["median_months"] == pytest.approx(0.5 * y / m)
    # overall: deaths at 6 months (patient 3) and 12 (patient 0): S = 3/4, then
    # 2/4, the median at 12 months; the 5-year overall survival 1/2
    assert r["os"]["median_months"] == pytest.approx(1.0 * y / m)
    assert r["os_at"] == pytest.approx(0.5) and r["dead_within"] == 2
    assert r["os_at_ci"][0] < 0.5 < r["os_at_ci"][1]
    # nobody diagnosed: no figure, not a survival of 1
    none = clinical.resected_course({**res, "diagnosis": np.full(6, np.nan)})
    assert none["m0"] == 0 and np.isnan(none["os_at"])


def test_the_doubling_time_reads_a_tracked_organ_of_the_chosen_patients(clinical):
    """A tracked organ's series (``series_liver``) of the rows given: one patient
    doubling in 30 days, one in 60 (log-linear between records), one left out."""
    lo = clinical.cells_of_diameter(10.0)
    t = np.arange(0.0, 200.0, 10.0)
    grow = [lo / 4 * 2 ** (t / d) for d in (30.0, 60.0, 5.0)]
    res = {"time": t, "series_liver": np.array(grow), "primary": np.zeros((3, t.size))}
    r = clinical.doubling_times(res, 10.0, "series_liver", np.array([0, 1]))
    assert r["patients"] == 2
    assert r["median"] * clinical.DAYS_PER_MONTH == pytest.approx(45.0)


def test_the_script_runs_and_writes_its_json(clinical, tmp_path):
    """A tiny run writes the results file, and the page's section renders every
    target row from it."""
    out = tmp_path / "clinical.json"
    clinical.main(["--small", "2", "--mix", "2", "--context", "1", "--os", "2", "--doubling",
                   "2", "--scenarios", "pancreas", "lung", "--os-years", "2",
                   "--risk-years", "8", "--stage", "2", "--conko", "2", "--processes", "1",
                   "--out", str(out)])
    saved = json.loads(out.read_text())
    assert set(saved["risk"]) == {"2.7 mm", "size mix", "10 mm", "20 mm"}
    assert saved["risk"]["2.7 mm"]["patients"] == 2
    assert set(saved["survival"]) == {"pancreas untreated", "pancreas resected",
                                      "lung untreated", "lung resected"}
    assert set(saved["stage_i"]) == {"lung 5 years"}
    text = "\n".join(clinical.section(saved))
    # risks, 20 mm doubling, the resected pancreas's CONKO-001 figures (median
    # disease-free and overall survival, 5-year survival) and its liver
    # metastases' doubling time, lung stage I survival and median (Raz's median
    # is compared on the stage I patients, not on every lung patient), and the
    # pancreas's progression from stage I to stage IV
    assert text.count("| predicted |") == 2 + 1 + 3 + 1 + 1 + 1 + 1 + 1
    assert "pancreas, share of the untreated patients who died with a detectable" in text
    assert set(saved["stage_iv_progression"]) == {"pancreas"}
    assert saved["stage_iv_progression"]["pancreas"]["patients"] == 2
    assert "pancreas, mean years from a stage I diagnosis" in text
    assert set(saved["resected"]) == {"pancreas"}
    assert saved["resected"]["pancreas"]["patients"] == 2
    # the survival table's pancreas row points at the CONKO rows, the only
    # published pancreas figure being of the M0 patients
    assert "20.2 (M0 patients: the rows above)" in text
    assert "median overall survival from diagnosis, pancreas resected" not in text
    # the late relapses' share: dormancy's share was chosen on it
    assert text.count("| fitted (dormancy's share of the colonization, calibrate.py "
                      "DORMANT_SHARE) |") == 1
    # 8 years of run follow no patient 10 years: no relapse to time, said so
    assert saved["relapse_timing"]["relapses"] == 0
    assert "0 of 0 relapses among 0 patients followed 10 years" in text
    assert "median survival from diagnosis, untreated stage I (the same patients)" in text
    assert "median overall survival from diagnosis, lung untreated" not in text
    assert text.count("| fitted (breast Gompertz rate) |") == 1     # 10 mm doubling
    # the causes of death are counted (the scenarios load organ_failure)
    for arm in ("untreated", "resected"):
        row = saved["survival"][f"pancreas {arm}"]
        assert sum(row["causes"].values()) == row["dead"]
        row = saved["survival"][f"lung {arm}"]
        assert sum(row["causes"].values()) == row["dead"]


def test_the_relapse_timing_paragraph_reads_the_dormancy_of_the_breast_scenario(clinical):
    """On the committed results (relapses to time), the paragraph under the table
    gives dormancy's share of the colonization from the breast scenario's
    configuration, and says the row is fitted."""
    import paget
    calibrate = validation_module("calibrate")
    saved = json.loads((clinical.RESULTS / "clinical.json").read_text())
    assert saved["relapse_timing"]["relapses"] > 0
    text = "\n".join(clinical.section(saved))
    share = calibrate.dormancy_share(paget.Simulation.from_scenario("breast").config)
    assert f"dormancy carries {share:.0%} of the colonization at the default soil" in text
    assert "so the row is fitted" in text


def test_a_cohort_is_split_into_chunks_in_order_the_last_one_smaller():
    """The chunked cohorts (clinical, clinical_fit, shedding_spread) seed chunk k
    with seed + k, so the split itself must be fixed: 120 by 50 is 50, 50, 20."""
    common = validation_module("common")
    assert common.chunk_sizes(120, 50) == [50, 50, 20]
    assert common.chunk_sizes(100, 50) == [50, 50]
    assert common.chunk_sizes(7, 50) == [7]
    assert common.chunk_sizes(0, 50) == []
    with pytest.raises(ValueError, match="chunk >= 1"):
        common.chunk_sizes(10, 0)
