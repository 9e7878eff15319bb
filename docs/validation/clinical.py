"""Clinical time course of the shipped scenarios against published figures (issue 23, item 6).

Runs the built-in scenarios with surgery at diagnosis (``[surgery] enabled =
true``, ``delay = 0``) and no other treatment, and untreated, and measures:

1. **Breast, 5-year distant-metastasis risk after resection at detection**
   (Coumans, Siesling & Terstappen 2013, BMC Cancer 13:283) [READ]: 1 % for
   resection at 2.7 mm and 9.2 % over all non-metastatic patients (the
   registry's size mix); tolerance +-30 % relative (issue 23).  Also at 10 and
   20 mm, for context (no target).  The size mix is the breast scenario's own
   ``diagnosis.diameter_distribution`` (lung, colorectal and pancreas draw
   from their own cited mixes too; prostate and melanoma keep one 10 mm
   diameter, see their scenario files).  Readout: the outcome plugin's
   ``first_detectable_distant_metastasis_time`` (a metastasis outside the
   regional nodes, M1, reaching ``outcome.detectable_cells``), because it does
   not depend on a scan schedule; the imaging plugin's
   ``first_detected_distant_metastasis_time`` (scans every
   ``imaging.interval`` days) is recorded beside it and can only be later.  A
   patient with a detectable distant metastasis at diagnosis is metastatic, not
   "non-metastatic": excluded and counted; so is a patient diagnosed too late
   to be followed 5 years within the run.  95 % Clopper-Pearson intervals.
2. **Breast volume doubling time at clinical sizes**: 1.7 +- 0.9 months
   (Coumans 2013, from the time to distant metastasis of 38,715 patients)
   [READ].  Measured on each untreated patient's primary organ: the time its
   tumour cells take from a 10 mm (and a 20 mm) sphere's cells to twice that,
   log-linearly interpolated between recorded times; the cohort median with a
   distribution-free 95 % interval (binomial order statistics).
3. **Median overall survival from diagnosis**, untreated and after resection,
   for each shipped primary: Kaplan-Meier, censored at the end of the run, with
   the 95 % interval of the median from the Greenwood band of S(t)
   (Brookmeyer & Crowley 1982, Biometrics 38:29).  Published figures in
   :data:`PUBLISHED_OS`; where none is given, the model value only.
4. **Breast, when distant relapses come after resection**: of the relapses
   within 10 years of the size-mix cohort of item 1, the share after 5 years,
   against 18.1 % (1 - 0.819: Cheng et al. 2012, Cancer Epidemiol Biomarkers
   Prev 21:800, SEER-Medicare, treated women) [READ abstract]; tolerance +-30 %
   relative (ASSUMPTION, as for survival).
5. **Five-year cancer-specific survival of untreated stage I lung cancer**:
   16 % (Raz et al. 2007, Chest 132:193 [READ abstract]: 1,432 untreated stage I
   NSCLC of the California Cancer Registry, 5-year lung-cancer-specific survival
   16 %; overall 6 %, median 9 months, all causes).  paget has only cancer
   deaths, so this is the like-for-like figure.  Raz's median, 9 months (all
   causes, "the vast majority" lung cancer), is compared on the same stage I
   patients (:data:`STAGE_I_MEDIAN`), not on every patient the lung scenario
   diagnoses, whose median stays in the survival table (until 2026-12-06 the
   lung row compared those, every stage mixed).  Stage I is read as node-negative and
   non-metastatic: the lung scenario's untreated patients (its own size mix)
   with no detectable metastasis, regional nodes included
   (``first_detectable_metastasis_time``), at diagnosis; Kaplan-Meier at 60
   months with Greenwood's 95 % interval; tolerance +-30 % relative (the
   survival ASSUMPTION).

6. **Pancreas after resection without adjuvant therapy, the CONKO-001
   observation arm** (Oettle et al. 2007, JAMA 297:267: 354 patients randomised
   after a macroscopically complete R0/R1 resection, no distant metastasis, to
   gemcitabine or observation only; the figures are the observation arm's):
   median disease-free survival 6.9 months (95 % CI 6.1-7.8; 92 % had recurred
   after a median follow-up of 53 months), median overall survival 20.2 months
   and 5-year overall survival 9.0 % (the final analysis, Neuhaus et al., ASCO
   2008) [READ in secondary summaries: the eviQ protocol 1218 and the ASCO
   2008 meeting report of OncoLink; the trial's own abstract not seen].  Compared
   on a cohort of the pancreas scenario resected at diagnosis, the patients
   without a detectable distant metastasis at diagnosis (M0, as the trial
   enrolled them); disease-free survival is read as the time to the first
   detectable distant metastasis or death, whichever comes first: a local
   recurrence (the trial's 'recurrent disease' counts it) is not modelled, as
   surgery leaves no residual (``surgery.residual`` 0), so the model's figure
   can only be longer than a like-for-like one.  Tolerances +-30 % relative
   (the survival ASSUMPTION).
7. **Doubling time of pancreatic cancer's liver metastases** (Amikura et al.
   1995, Int J Pancreatol 17:139 [READ abstract; the title and journal as Haeno
   et al. 2012 cite it]): 34, 32, 318, 108, 78 and 27 days in six patients after
   pancreatectomy for periampullary carcinoma (two of them gave pancreatic
   carcinoma cell lines), from serial imaging of their liver metastases; a
   periampullary series is not all pancreatic ductal carcinoma, which makes the
   row a loose check.  Measured on the same resected cohort (the liver
   then holds metastases only): each patient's liver tumour cells from a 10 mm
   sphere's cells to twice that, as the breast doubling time is read; the
   cohort median is compared with the range of the six, which is a 97 %
   distribution-free interval of their median (1 - 2 / 2^6) [DERIVED], the most
   six values can say.
8. **Pancreas, how fast stage I becomes stage IV without treatment** (Yu et
   al. 2015, Gut 64:1783 [READ abstract]): in 13,131 patients of the SEER
   database, those diagnosed with stage I pancreatic ductal adenocarcinoma
   (mean age 64.8 years) were on average 1.3 adjusted years younger at
   diagnosis than those diagnosed with stage IV, which the authors read as
   rapid progression once the cancer is clinically detectable.  Compared on an
   untreated cohort of the pancreas scenario: of the patients diagnosed stage I
   (read by spread, as item 5 reads it: no detectable metastasis, regional nodes
   included, at diagnosis), those who then reach stage IV (a detectable distant
   metastasis, ``first_detectable_distant_metastasis_time``) before death; the
   mean time from diagnosis to it, with a normal 95 % interval, tolerance +-30 %
   relative (the survival ASSUMPTION).  A loose check: an age difference
   between two cross-sections is a time from stage I to stage IV only if the
   stage IV patients went through stage I at a comparable age (ASSUMPTION);
   the patients who die before a distant metastasis is detectable are counted
   apart.
9. **Pancreas, how patients die** (Iacobuzio-Donahue et al. 2009, J Clin Oncol
   27:1806 [READ abstract]): at rapid autopsy of 76 patients, 30 % had died
   with locally destructive pancreatic cancer and 70 % with widespread
   metastatic disease, patterns unrelated to the clinical stage at
   presentation and to the treatment history.  Compared on the untreated cohort
   of item 8: the share of the patients who died in the run with a detectable
   distant metastasis at death; 95 % Clopper-Pearson interval; tolerance +-30 %
   relative (the survival ASSUMPTION).  One detectable distant metastasis is
   the loosest reading of "widespread metastatic disease", so the model's
   like-for-like share can only be lower than the one compared.

Fitted and predicted (:data:`FITTED`): the breast Gompertz rate was fitted to
Coumans' doubling time at 10 mm (``docs/validation/clinical_fit.py``, which
regenerates ``results/clinical_fit.json``; its lung scan against Raz's untreated
median survival is a diagnostic, not applied: see there), and dormancy's share of
the colonization was chosen on the late relapses' share
(``docs/validation/calibrate.py``, ``DORMANT_SHARE``); every other row is a
prediction.  Deaths are
the ``outcome`` plugin's total burden and the ``organ_failure`` plugin's organ
failure and primary's local complications (the scenarios load it); the cause of
each death is counted per primary and arm.

Patient counts (defaults) follow the precision each target needs: 600 at
2.7 mm, so that no event at all would put the 95 % upper bound (0.61 %) below
the tolerance's lower edge (0.7 %); 400 over the size mix, a binomial
half-width of ~2.8 % at 9.2 %, the tolerance's 2.76 %; 150 at 10 and 20 mm
(context); 40 per primary and arm for survival and 100 for doubling times; 300
untreated lung patients for the stage I survival (289 of them node-negative at
diagnosis in the committed run: a binomial standard error of ~2.2 % at 16 %, under
half the tolerance); 400 resected pancreas patients for the CONKO-001 figures (a
binomial standard error of ~1.5 % at 9 %, half the tolerance of 2.7 %); 300
untreated pancreas patients for the progression to stage IV and the deaths
with metastatic disease (items 8 and 9).
The default run takes about 10 minutes on 2 busy cores.

Usage (writes ``docs/validation/results/clinical.json``; the section
"Clinical time course" of docs/explanation/validation.md is rendered from it
by ``python docs/validation/report.py --reuse``)::

    python docs/validation/clinical.py [--seed 1] [--processes 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import calibrate  # the dormancy's share of the colonization (next to DORMANT_SHARE)
from common import chunk_sizes

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DAYS_PER_MONTH = 365.25 / 12
SCENARIOS = ("breast", "lung", "colorectal", "prostate", "pancreas", "melanoma")
RESECTED = {"surgery": {"enabled": True, "delay": 0.0}, "treatment": {"lines": []}}
UNTREATED = {"surgery": {"enabled": False}, "treatment": {"lines": []}}
#: issue 23: +-30 % relative on Coumans' risks
RISK_TOLERANCE = 0.30
#: ASSUMPTION: the same +-30 % relative for the survival figures
OS_TOLERANCE = 0.30
FOLLOW_UP_YEARS = 5.0

#: (scenario, arm) -> (median OS from diagnosis, months; source).  [READ]: the
#: figure seen in the paper's abstract; [RECALLED]: quoted from memory, not
#: re-checked against the paper.
PUBLISHED_OS = {
    ("breast", "untreated"): (32.4, "Bloom, Richardson & Harries 1962, Br Med J 2:213: "
                                    "250 untreated patients (1805-1933), median 2.7 years "
                                    "from the onset of symptoms [READ]"),
}
#: the CONKO-001 observation arm (item 6 of the docstring): (figure, months or
#: share; source), compared on the pancreas scenario's resected M0 patients
CONKO_SOURCE = ("CONKO-001 observation arm, R0/R1-resected M0 patients, no adjuvant therapy: "
                "Oettle et al. 2007, JAMA 297:267; final analysis Neuhaus et al., ASCO 2008 "
                "[READ in secondary summaries: eviQ protocol 1218, OncoLink ASCO 2008 report]")
CONKO = {"dfs_median_months": 6.9, "os_median_months": 20.2, "os_5y": 0.090}
#: days in which each of six patients' liver metastases doubled after
#: pancreatectomy (item 7 of the docstring)
LIVER_DOUBLING_DAYS = (34.0, 32.0, 318.0, 108.0, 78.0, 27.0)
LIVER_DOUBLING_SOURCE = ("Amikura et al. 1995, Int J Pancreatol 17:139: liver metastases "
                         "of six patients after pancreatectomy for periampullary carcinoma, "
                         "serial imaging [READ abstract]")
#: the diameter whose sphere's cells start the liver doubling time, mm
LIVER_DOUBLING_MM = 10.0
#: (scenario, years) -> (cancer-specific survival of untreated stage I patients; source)
STAGE_I_SURVIVAL = {
    ("lung", 5.0): (0.16, "Raz et al. 2007, Chest 132:193: untreated stage I non-small-cell "
                          "lung cancer, California Cancer Registry, lung-cancer-specific "
                          "[READ abstract]"),
}
#: scenario -> (median survival from diagnosis of the same untreated stage I
#: patients, months; source): compared on the stage I patients of
#: STAGE_I_SURVIVAL's cohort, not on every patient diagnosed
STAGE_I_MEDIAN = {
    "lung": (9.0, "Raz et al. 2007, Chest 132:193: untreated stage I non-small-cell lung "
                  "cancer, California Cancer Registry, all causes of death, 'the vast majority' "
                  "of them lung cancer (13 months for T1, 14 for patients who refused "
                  "surgery) [READ abstract]"),
}
#: scenario -> (mean years from a stage I diagnosis to stage IV, untreated; source)
STAGE_IV_PROGRESSION = {
    "pancreas": (1.3, "Yu et al. 2015, Gut 64:1783: SEER, 13,131 patients with pancreatic "
                      "ductal adenocarcinoma; those diagnosed at stage I were on average 1.3 "
                      "adjusted years younger than those diagnosed at stage IV [READ abstract]"),
}
#: scenario -> (share of the deaths with metastatic disease; source), read on the
#: untreated cohort of STAGE_IV_PROGRESSION
METASTATIC_DEATHS = {
    "pancreas": (0.70, "Iacobuzio-Donahue et al. 2009, J Clin Oncol 27:1806: rapid autopsies "
                       "of 76 patients with pancreatic cancer, 70 % died with widespread "
                       "metastatic disease, 30 % with locally destructive disease, unrelated "
                       "to the stage at presentation and the treatment history [READ abstract]"),
}
DOUBLING_TARGET = (1.7, 0.9, "Coumans, Siesling & Terstappen 2013, BMC Cancer 13:283 [READ]")
#: rows whose figure a scenario parameter was fitted to (clinical_fit.py); the
#: others are predictions
FITTED = {("doubling", "10 mm"): "fitted (breast Gompertz rate)",
          ("relapse", "late share"): "fitted (dormancy's share of the colonization, "
                                     "calibrate.py DORMANT_SHARE)"}


def fitted(kind: str, key: str) -> str:
    """'fitted (...)' where a scenario parameter was fitted to the row, else 'predicted'."""
    return FITTED.get((kind, key), "predicted")
RISK_TARGETS = {"2.7 mm": 0.01, "size mix": 0.092}
#: the share of the distant relapses within ``horizon`` years after resection that
#: come after ``early`` years: (early, horizon, share, source)
LATE_RELAPSE = (5.0, 10.0, 0.181,    # 1 - 0.819
                "Cheng et al. 2012, Cancer Epidemiol Biomarkers Prev 21:800 (SEER-Medicare, "
                "20,027 women with breast cancer, 1991-1997): 36.8 % recurred within 10 years, "
                "81.9 % of them within 5 [READ abstract]; treated women, Medicare "
                "beneficiaries, every kind of recurrence; after 5 years the hazard falls "
                "'very, very slowly' (4.3 % a year in years 5-12: Saphner, Tormey & Gray "
                "1996, J Clin Oncol 14:2738 [READ abstract])")


def cells_of_diameter(d_mm: float) -> float:
    """Cells of a sphere of ``d_mm`` mm at 1e6 cells/mm^3 (as in plugins/imaging.py)."""
    return float(np.pi / 6.0 * d_mm ** 3 * 1e6)


def _run(job) -> dict:
    """One cohort chunk: (scenario, overrides, patients, seed, years, interval[,
    track]); with an interval, the primary organ's tumour cells over time
    (``primary``) and those of each organ of ``track`` (``series_ORGAN``)."""
    scenario, over, patients, seed, years, interval, *rest = job
    track = rest[0] if rest else ()
    import paget
    from paget.config import deep_merge
    dt = 3.0
    steps = int(round(years * 365.25 / dt))
    every = steps * dt if interval is None else interval
    over = deep_merge(over, {"seed": seed, "cohort": {"patients": patients, "years": years,
                                                      "dt": dt},
                             "output": {"interval": every}})
    ds = paget.Simulation.from_scenario(scenario, over).run()
    out = {"diagnosis": ds.diagnosis_time.values, "death": ds.death_time.values,
           "diameter": ds.diagnosis_diameter.values,
           "distant": ds.first_detectable_distant_metastasis_time.values,
           "any_metastasis": ds.first_detectable_metastasis_time.values,
           "distant_imaged": ds.first_detected_distant_metastasis_time.values,
           "end": steps * dt}
    if "death_cause" in ds:
        from paget.plugins.organ_failure import death_cause
        out["cause"] = death_cause(ds)
    if interval is not None:
        organ = str(paget.Simulation.from_scenario(scenario).config.primary.organ)
        out["time"] = ds.time.values
        out["primary"] = ds.tumor_cells.sel(organ=organ).values
        for name in track:
            out[f"series_{name}"] = ds.tumor_cells.sel(organ=name).values
    return out


def cohort(pool, scenario, over, patients, seed, years, interval=None, chunk=50,
           track=()) -> dict:
    """Run ``patients`` in chunks of ``chunk`` (seeds ``seed``, ``seed + 1``, ...);
    ``track``: organs whose tumour cells over time are kept (with ``interval``)."""
    sizes = chunk_sizes(patients, chunk)
    jobs = [(scenario, over, n, seed + k, years, interval, tuple(track))
            for k, n in enumerate(sizes)]
    parts = pool(jobs)
    keys = [k for k in parts[0] if k not in ("end", "time")]
    res = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    res["end"] = parts[0]["end"]
    if "time" in parts[0]:
        res["time"] = parts[0]["time"]
    return res


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest
    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def _followed(res: dict, years: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: diagnosed and followed ``years`` within the run; of those, with
    a detectable distant metastasis at diagnosis (metastatic); and the others
    (at risk)."""
    diag, dist = res["diagnosis"], res["distant"]
    followed = np.isfinite(diag) & (diag + years * 365.25 <= res["end"])
    metastatic = followed & np.isfinite(dist) & (dist <= diag)
    return followed, metastatic, followed & ~metastatic


def distant_risk(res: dict, years: float = FOLLOW_UP_YEARS) -> dict:
    """5-year distant-metastasis risk among the non-metastatic patients followed 5 years."""
    diag, dist, img = res["diagnosis"], res["distant"], res["distant_imaged"]
    horizon = years * 365.25
    followed, metastatic, at_risk = _followed(res, years)
    event = at_risk & np.isfinite(dist) & (dist - diag <= horizon)
    event_img = at_risk & np.isfinite(img) & (img - diag <= horizon)
    k, n = int(event.sum()), int(at_risk.sum())
    low, high = clopper_pearson(k, n)
    return {"patients": int(diag.size), "not_diagnosed_or_not_followed": int((~followed).sum()),
            "metastatic_at_diagnosis": int(metastatic.sum()), "at_risk": n, "events": k,
            "risk": k / n if n else float("nan"), "ci": [low, high],
            "events_imaging": int(event_img.sum()),
            "median_diameter_mm": float(np.median(res["diameter"][at_risk])) if n else float("nan")}


def late_relapse(res: dict, early: float = LATE_RELAPSE[0],
                 horizon: float = LATE_RELAPSE[1]) -> dict:
    """Of the distant relapses within ``horizon`` years after diagnosis (the
    patients non-metastatic at diagnosis and followed ``horizon`` years), the
    share after ``early`` years, with its 95 % Clopper-Pearson interval, and the
    median years from diagnosis to relapse."""
    _, _, at_risk = _followed(res, horizon)
    t = (res["distant"] - res["diagnosis"])[at_risk] / 365.25
    relapsed = np.isfinite(t) & (t <= horizon)
    k, n = int((t[relapsed] > early).sum()), int(relapsed.sum())
    low, high = clopper_pearson(k, n)
    return {"at_risk": int(at_risk.sum()), "relapses": n, "late": k,
            "share": k / n if n else float("nan"), "ci": [low, high],
            "median_years": float(np.median(t[relapsed])) if n else float("nan"),
            "early_years": early, "horizon_years": horizon}


def km_median(t: np.ndarray, event: np.ndarray) -> dict:
    """Kaplan-Meier median and its 95 % interval (the times at which the Greenwood
    band of S(t), S +- 1.96 sd, contains 1/2; :func:`paget.analysis.kaplan_meier`,
    tied deaths grouped), months; None where not reached."""
    from paget.analysis import kaplan_meier
    if not np.size(t):
        return {"median": None, "ci": [None, None]}
    km = kaplan_meier(t, event)
    died = km.events > 0
    times, s = km.t[died], km.survival[died]
    se = np.sqrt(km.variance[died])

    def first(curve):
        hit = np.flatnonzero(curve <= 0.5)
        return float(times[hit[0]]) if hit.size else None
    # the band's lower edge reaches 1/2 first (the interval's lower end), its upper last
    return {"median": first(s), "ci": [first(s - 1.96 * se), first(s + 1.96 * se)]}


def km_at(t: np.ndarray, event: np.ndarray, at: float) -> tuple[float, float, float]:
    """Kaplan-Meier S(``at``) and its 95 % interval, S +- 1.96 Greenwood sd clipped
    to [0, 1] (:func:`paget.analysis.kaplan_meier`; 1, 1, 1 before the first
    observed time, or with no patient)."""
    from paget.analysis import kaplan_meier
    if not np.size(t):
        return 1.0, 1.0, 1.0
    km = kaplan_meier(t, event)
    i = int(np.searchsorted(km.t, at, side="right")) - 1
    if i < 0:
        return 1.0, 1.0, 1.0
    s, se = float(km.survival[i]), float(np.sqrt(km.variance[i]))
    return s, max(0.0, s - 1.96 * se), min(1.0, s + 1.96 * se)


def _free_at_diagnosis(res: dict, event: str) -> tuple[np.ndarray, np.ndarray]:
    """(diagnosed, diagnosed without the ``event`` -- a metastasis time of
    :func:`_run` -- at or before diagnosis): ``any_metastasis`` reads stage I by
    spread (node-negative, non-metastatic), ``distant`` reads M0."""
    diag, when = res["diagnosis"], res[event]
    found = np.isfinite(diag)
    return found, found & ~(np.isfinite(when) & (when <= diag))


def stage_i_survival(res: dict, years: float) -> dict:
    """Survival ``years`` after diagnosis of the patients with no detectable
    metastasis, regional nodes included, at diagnosis (node-negative,
    non-metastatic: stage I read by spread; cancer deaths only), Kaplan-Meier,
    censored at the end of the run."""
    diag, death = res["diagnosis"], res["death"]
    found, local = _free_at_diagnosis(res, "any_metastasis")
    dead = local & np.isfinite(death)
    t = (np.where(dead, death, res["end"]) - diag)[local] / DAYS_PER_MONTH
    s, lo, hi = km_at(t, dead[local], 12.0 * years)
    km = km_median(t, dead[local])
    return {"patients": int(diag.size), "diagnosed": int(found.sum()),
            "node_negative_non_metastatic": int(local.sum()),
            "dead_within": int((dead[local] & (t <= 12.0 * years)).sum()),
            "survival": s, "ci": [lo, hi],
            "dead": int(dead[local].sum()),
            "follow_up_months_min": float(t.min()) if t.size else float("nan"),
            "median_months": km["median"], "ci_months": km["ci"],
            "median_diameter_mm": float(np.median(res["diameter"][local])) if local.any()
            else float("nan")}


def stage_iv_progression(res: dict) -> dict:
    """Of the untreated patients diagnosed at stage I (no detectable metastasis,
    regional nodes included, at diagnosis: :func:`stage_i_survival`'s reading),
    those with a detectable distant metastasis (stage IV) later in the run: the
    years from diagnosis to it, their mean with a normal 95 % interval and their
    median; the others died first or were still alive at the end."""
    diag, death, dist = res["diagnosis"], res["death"], res["distant"]
    found, local = _free_at_diagnosis(res, "any_metastasis")
    progressed = local & np.isfinite(dist) & (dist > diag)
    years = (dist[progressed] - diag[progressed]) / 365.25
    n = int(years.size)
    mean = float(years.mean()) if n else float("nan")
    half = 1.96 * float(years.std(ddof=1)) / np.sqrt(n) if n > 1 else float("nan")
    return {"patients": int(diag.size), "diagnosed": int(found.sum()),
            "stage_i": int(local.sum()), "progressed": n,
            "died_first": int((local & ~progressed & np.isfinite(death)).sum()),
            "mean_years": mean, "ci_years": [mean - half, mean + half],
            "median_years": float(np.median(years)) if n else float("nan")}


def metastatic_deaths(res: dict) -> dict:
    """Of the patients who died in the run, the share with a detectable distant
    metastasis at death (``first_detectable_distant_metastasis_time`` at or
    before the death), with its 95 % Clopper-Pearson interval."""
    death, dist = res["death"], res["distant"]
    dead = np.isfinite(death)
    k = int((dead & np.isfinite(dist) & (dist <= death)).sum())
    n = int(dead.sum())
    lo, hi = clopper_pearson(k, n) if n else (float("nan"), float("nan"))
    return {"patients": int(death.size), "dead": n, "metastatic": k,
            "share": k / n if n else float("nan"), "ci": [lo, hi]}


def resected_course(res: dict, years: float = FOLLOW_UP_YEARS) -> dict:
    """After resection at diagnosis, of the patients without a detectable distant
    metastasis at diagnosis (M0): the median disease-free survival (to the first
    detectable distant metastasis or death, whichever first), the median overall
    survival and the overall survival ``years`` after diagnosis, Kaplan-Meier,
    censored at the end of the run; months."""
    diag, death, dist = res["diagnosis"], res["death"], res["distant"]
    found, m0 = _free_at_diagnosis(res, "distant")
    dead = m0 & np.isfinite(death)
    end = np.where(dead, death, res["end"])
    t_os = (end - diag)[m0] / DAYS_PER_MONTH
    relapsed = m0 & np.isfinite(dist) & (dist < end)
    t_dfs = (np.where(relapsed, dist, end) - diag)[m0] / DAYS_PER_MONTH
    s, lo, hi = km_at(t_os, dead[m0], 12.0 * years) if m0.any() else (float("nan"),) * 3
    follow = float(t_os.min()) if t_os.size else float("nan")
    dfs, os_ = km_median(t_dfs, (relapsed | dead)[m0]), km_median(t_os, dead[m0])
    return {"patients": int(diag.size), "diagnosed": int(found.sum()), "m0": int(m0.sum()),
            "relapsed": int(relapsed.sum()), "dead": int(dead.sum()),
            "dead_within": int((dead[m0] & (t_os <= 12.0 * years)).sum()),
            "dfs": {"median_months": dfs["median"], "ci_months": dfs["ci"],
                    "follow_up_months_min": follow},
            "os": {"median_months": os_["median"], "ci_months": os_["ci"],
                   "follow_up_months_min": follow},
            "os_years": years, "os_at": s, "os_at_ci": [lo, hi],
            "m0_rows": np.flatnonzero(m0)}


def survival(res: dict) -> dict:
    diag, death = res["diagnosis"], res["death"]
    found = np.isfinite(diag)
    dead = found & np.isfinite(death)
    t = (np.where(dead, death, res["end"]) - diag)[found] / DAYS_PER_MONTH
    km = km_median(t, dead[found])
    causes = {}
    if "cause" in res:
        words, counts = np.unique(res["cause"][dead], return_counts=True)
        causes = {str(w): int(c) for w, c in zip(words, counts)}
    return {"patients": int(diag.size), "diagnosed": int(found.sum()), "dead": int(dead.sum()),
            "causes": causes,
            "follow_up_months_min": float(t.min()) if t.size else float("nan"),
            "median_months": km["median"], "ci_months": km["ci"]}


def doubling_times(res: dict, diameter: float, series: str = "primary",
                   rows: np.ndarray | None = None) -> dict:
    """Months each patient's ``series`` (the primary organ's tumour cells, or a
    tracked organ's, ``series_ORGAN``) takes from a ``diameter`` mm sphere's
    cells to twice as many (log-linear interpolation between recorded times);
    ``rows``: the patients to read (all by default)."""
    lo = cells_of_diameter(diameter)
    tm, out = res["time"], []
    data = res[series] if rows is None else res[series][rows]
    for row in data:
        logc = np.log(np.maximum(row, 1.0))
        t1 = _crossing(tm, logc, np.log(lo))
        t2 = _crossing(tm, logc, np.log(2 * lo))
        if t1 is not None and t2 is not None:
            out.append((t2 - t1) / DAYS_PER_MONTH)
    x = np.sort(np.array(out))
    n = x.size
    if n == 0:
        return {"patients": 0, "median": float("nan"), "ci": [float("nan")] * 2}
    from scipy.stats import binom
    lo_i = int(binom.ppf(0.025, n, 0.5))
    hi_i = min(n - 1, int(binom.ppf(0.975, n, 0.5)))
    return {"patients": int(n), "median": float(np.median(x)),
            "ci": [float(x[max(lo_i - 1, 0)]), float(x[hi_i])],
            "q25": float(np.quantile(x, 0.25)), "q75": float(np.quantile(x, 0.75))}


def _crossing(t, y, level):
    i = np.flatnonzero(y >= level)
    if i.size == 0 or i[0] == 0:
        return None
    k = i[0]
    return float(t[k - 1] + (level - y[k - 1]) * (t[k] - t[k - 1]) / (y[k] - y[k - 1]))


def _fixed(d_mm: float) -> dict:
    return {"diagnosis": {"diameter": d_mm, "diameter_distribution": None}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", type=int, default=600, help="patients resected at 2.7 mm")
    ap.add_argument("--mix", type=int, default=400, help="patients over the breast size mix")
    ap.add_argument("--context", type=int, default=150, help="patients at 10 and at 20 mm")
    ap.add_argument("--os", type=int, default=40, help="patients per primary and arm")
    ap.add_argument("--doubling", type=int, default=100, help="untreated breast patients")
    ap.add_argument("--conko", type=int, default=400,
                    help="pancreas patients resected at diagnosis for the CONKO-001 figures "
                         "and the liver metastases' doubling time")
    ap.add_argument("--stage", type=int, default=300,
                    help="untreated lung patients for the stage I survival, and untreated "
                         "pancreas patients for the progression to stage IV")
    ap.add_argument("--os-years", type=float, default=40.0, help="years of the survival runs")
    ap.add_argument("--risk-years", type=float, default=25.0,
                    help="years of the resected breast runs (5-year follow-up within them)")
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "clinical.json")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from common import pool_map
    pool = (lambda jobs: pool_map(_run, jobs, a.processes))
    from paget.config import deep_merge
    start = time.time()
    risk = {}
    for label, n, over in (("2.7 mm", a.small, _fixed(2.7)), ("size mix", a.mix, {}),
                           ("10 mm", a.context, _fixed(10.0)), ("20 mm", a.context, _fixed(20.0))):
        res = cohort(pool, "breast", deep_merge(RESECTED, over), n, a.seed, a.risk_years)
        risk[label] = distant_risk(res) | {"target": RISK_TARGETS.get(label)}
        if label == "size mix":
            relapse = late_relapse(res) | {"target": LATE_RELAPSE[2],
                                           "source": LATE_RELAPSE[3]}
    dres = cohort(pool, "breast", UNTREATED, a.doubling, a.seed + 1000, 20.0, interval=9.0)
    doubling = {f"{d:g} mm": doubling_times(dres, d) for d in (10.0, 20.0)}
    os_rows = {}
    for sc in a.scenarios:
        for arm, over in (("untreated", UNTREATED), ("resected", RESECTED)):
            res = cohort(pool, sc, over, a.os, a.seed + 2000, a.os_years)
            pub = PUBLISHED_OS.get((sc, arm))
            os_rows[f"{sc} {arm}"] = survival(res) | {
                "scenario": sc, "arm": arm, "target_months": pub[0] if pub else None,
                "source": pub[1] if pub else None}
    resected = {}
    if "pancreas" in a.scenarios:
        res = cohort(pool, "pancreas", RESECTED, a.conko, a.seed + 4000, a.os_years,
                     interval=9.0, track=("liver",))
        course = resected_course(res)
        m0 = course.pop("m0_rows")
        liver = doubling_times(res, LIVER_DOUBLING_MM, "series_liver", m0)
        resected["pancreas"] = course | {
            "targets": CONKO, "source": CONKO_SOURCE,
            "liver_doubling": liver | {"diameter_mm": LIVER_DOUBLING_MM,
                                       "target_days": list(LIVER_DOUBLING_DAYS),
                                       "source": LIVER_DOUBLING_SOURCE}}
    stage = {}
    for (sc, years), (target, source) in STAGE_I_SURVIVAL.items():
        if sc in a.scenarios:
            res = cohort(pool, sc, UNTREATED, a.stage, a.seed + 3000, a.os_years)
            med = STAGE_I_MEDIAN.get(sc)
            stage[f"{sc} {years:g} years"] = stage_i_survival(res, years) | {
                "scenario": sc, "years": years, "target": target, "source": source,
                "target_median_months": med[0] if med else None,
                "median_source": med[1] if med else None}
    progression = {}
    for sc, (target, source) in STAGE_IV_PROGRESSION.items():
        if sc in a.scenarios:
            res = cohort(pool, sc, UNTREATED, a.stage, a.seed + 5000, a.os_years)
            progression[sc] = stage_iv_progression(res) | {"target_years": target,
                                                           "source": source}
            if sc in METASTATIC_DEATHS:
                share, msrc = METASTATIC_DEATHS[sc]
                progression[sc]["deaths"] = metastatic_deaths(res) | {"target": share,
                                                                      "source": msrc}
    out = {"seed": a.seed, "args": {"small": a.small, "mix": a.mix, "context": a.context,
                                    "os": a.os, "doubling": a.doubling, "os_years": a.os_years,
                                    "risk_years": a.risk_years, "stage": a.stage,
                                    "conko": a.conko},
           "risk": risk, "relapse_timing": relapse, "doubling": doubling,
           "survival": os_rows, "resected": resected, "stage_i": stage,
           "stage_iv_progression": progression,
           "seconds": round(time.time() - start)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(section(out)))
    return out


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.2f} %"


def _months(x, follow_up=None) -> str:
    if x is not None:
        return f"{x:.1f}"
    return "not reached" if follow_up is None else f"not reached in {follow_up:.0f}"


def _verdict(value, target, tol) -> str:
    if value is None or not np.isfinite(value):
        return "**NOT MET**"
    return "met" if abs(value - target) <= tol else "**NOT MET**"


def _share_row(what: str, source: str, target: float, tol: float, value: float, ci,
               counts: str, kind: str = "predicted") -> str:
    """One target row of a share (a risk, a survival, a proportion): ``value``
    against ``target`` +- ``tol``, its interval ``ci`` followed by ``counts``."""
    return (f"| {what} | {source} | {_pct(target)} +- {_pct(tol)} | {_pct(value)} "
            f"({_pct(ci[0])}-{_pct(ci[1])}; {counts}) | {_verdict(value, target, tol)} | "
            f"{kind} |")


def _median_row(what: str, source: str, target: float, x: dict, counts: str,
                kind: str) -> str:
    """One target row of a Kaplan-Meier median (``x``: median_months, ci_months,
    follow_up_months_min), its interval followed by ``counts``."""
    lo, hi = x["ci_months"]
    return (f"| {what} | {source} | {target:g} +- {OS_TOLERANCE * target:.1f} | "
            f"{_months(x['median_months'], x['follow_up_months_min'])} "
            f"({_months(lo)}-{_months(hi)}; {counts}) | "
            f"{_verdict(x['median_months'], target, OS_TOLERANCE * target)} | {kind} |")


def _resected_rows(sc: str, x: dict) -> list[str]:
    """The target rows of a resected cohort (:func:`resected_course`, the liver
    metastases' doubling time): CONKO-001's figures and Amikura's."""
    t, src = x["targets"], x["source"]
    who = (f"{sc}, resected at diagnosis, no detectable distant metastasis then "
           f"({x['m0']} of {x['diagnosed']} patients)")
    rows = [_median_row(f"{who}: median disease-free survival (to a detectable distant "
                        "metastasis or death), months", src, t["dfs_median_months"], x["dfs"],
                        f"{x['relapsed']} relapsed, {x['dead']} died", "predicted"),
            _median_row(f"{who}: median overall survival, months", src,
                        t["os_median_months"], x["os"], f"{x['dead']} of {x['m0']} died",
                        "predicted")]
    y, s5 = x["os_years"], t["os_5y"]
    rows.append(_share_row(f"{who}: {y:g}-year overall survival", src, s5, OS_TOLERANCE * s5,
                           x["os_at"], x["os_at_ci"],
                           f"{x['dead_within']} of {x['m0']} died within"))
    d = x.get("liver_doubling")
    if d is not None:
        days = sorted(d["target_days"])
        lo, hi = days[0], days[-1]
        head = (f"| {sc}, liver metastases' volume doubling time after resection (the "
                f"liver's tumour cells from a {d['diameter_mm']:g} mm sphere's to twice), "
                f"days | {d['source']}: {', '.join(f'{v:g}' for v in d['target_days'])} | "
                f"median {float(np.median(days)):g}, within the six's range {lo:g}-{hi:g} | ")
        if d["patients"]:
            med = d["median"] * DAYS_PER_MONTH
            ci = [c * DAYS_PER_MONTH for c in d["ci"]]
            rows.append(head + f"{med:.0f} ({ci[0]:.0f}-{ci[1]:.0f}; median of "
                        f"{d['patients']} patients) | "
                        + ("met" if lo <= med <= hi else "**NOT MET**") + " | predicted |")
        else:
            rows.append(head + "no patient's liver doubled from that size | **NOT MET** | "
                        "predicted |")
    return rows


def section(r: dict) -> list[str]:
    """The "Clinical time course" section of the validation page, from ``r``
    (the contents of results/clinical.json)."""
    a = r["args"]
    L = ["## Clinical time course\n",
         f"Generated by `python docs/validation/clinical.py` (`results/clinical.json`, "
         f"seed {r['seed']}, {r['seconds']} s on 2 cores; patient counts chosen from the "
         "precision each target needs, see the script's docstring). The shipped scenarios, "
         "resected at diagnosis (`[surgery] enabled = true`, `delay = 0`) with no other "
         "treatment, and untreated. A row is met when the paget value lies within the "
         "target's tolerance; the 95 % interval says how sure that is. The last column "
         "says whether a scenario parameter was fitted to the row's figure (by "
         "`python docs/validation/clinical_fit.py`, `results/clinical_fit.json`, or "
         "chosen on it, as the column names) or the row is a prediction.\n",
         "| quantity | source | target | paget (95 % CI) | verdict | fitted or predicted |",
         "|---|---|---|---|---|---|"]
    src = "Coumans, Siesling & Terstappen 2013, BMC Cancer 13:283"
    for label, what in (("2.7 mm", "breast, 5-year distant-metastasis risk, resected at 2.7 mm"),
                        ("size mix", "breast, 5-year distant-metastasis risk, resected over "
                                     "the size mix (non-metastatic patients)")):
        x = r["risk"][label]
        t = x["target"]
        L.append(_share_row(what, src, t, RISK_TOLERANCE * t, x["risk"], x["ci"],
                            f"{x['events']}/{x['at_risk']}"))
    x = r.get("relapse_timing")
    if x is not None:
        t = x["target"]
        counts = f"{x['late']} of {x['relapses']} relapses" + (
            f"; median {x['median_years']:.1f} years after diagnosis" if x["relapses"]
            else f" among {x['at_risk']} patients followed {x['horizon_years']:g} years")
        L.append(_share_row(f"breast, share of the distant relapses within "
                            f"{x['horizon_years']:g} years after resection that come after "
                            f"{x['early_years']:g} years, resected over the size mix",
                            x["source"], t, OS_TOLERANCE * t, x["share"], x["ci"], counts,
                            fitted("relapse", "late share")))
    tgt, tol, dsrc = DOUBLING_TARGET
    for label, x in r["doubling"].items():
        L.append(f"| breast volume doubling time at {label}, months | {dsrc} | {tgt} +- {tol} | "
                 f"{x['median']:.2f} ({x['ci'][0]:.2f}-{x['ci'][1]:.2f}; median of "
                 f"{x['patients']} untreated patients) | {_verdict(x['median'], tgt, tol)} | "
                 f"{fitted('doubling', label)} |")
    for key, x in r["survival"].items():
        if x["target_months"] is None:
            continue
        L.append(_median_row(f"median overall survival from diagnosis, {key}, months",
                             x["source"], x["target_months"], x,
                             f"{x['dead']}/{x['diagnosed']} died", fitted("survival", key)))
    for sc, x in r.get("resected", {}).items():
        L += _resected_rows(sc, x)
    for key, x in r.get("stage_i", {}).items():
        t = x["target"]
        L.append(_share_row(f"{x['scenario']}, {x['years']:g}-year cancer-specific survival, "
                            f"untreated stage I (no detectable metastasis, regional nodes "
                            f"included, at diagnosis; median {x['median_diameter_mm']:.0f} mm)",
                            x["source"], t, OS_TOLERANCE * t, x["survival"], x["ci"],
                            f"{x['dead_within']} of {x['node_negative_non_metastatic']} died "
                            "within"))
        if x.get("target_median_months") is not None:
            L.append(_median_row(f"{x['scenario']}, median survival from diagnosis, untreated "
                                 f"stage I (the same patients), months", x["median_source"],
                                 x["target_median_months"], x,
                                 f"{x['dead']} of {x['node_negative_non_metastatic']} died",
                                 "predicted"))
    for sc, x in r.get("stage_iv_progression", {}).items():
        t = x["target_years"]
        lo, hi = x["ci_years"]
        L.append(f"| {sc}, mean years from a stage I diagnosis (no detectable metastasis, "
                 f"regional nodes included) to stage IV (a detectable distant metastasis), "
                 f"untreated | {x['source']} | {t:g} +- {OS_TOLERANCE * t:.2f} | "
                 f"{x['mean_years']:.2f} ({lo:.2f}-{hi:.2f}; {x['progressed']} of "
                 f"{x['stage_i']} stage I patients progressed, {x['died_first']} died first; "
                 f"median {x['median_years']:.2f}) | "
                 f"{_verdict(x['mean_years'], t, OS_TOLERANCE * t)} | predicted |")
        m = x.get("deaths")
        if m is not None:
            t = m["target"]
            L.append(_share_row(f"{sc}, share of the untreated patients who died with a "
                                "detectable distant metastasis (the same cohort)", m["source"],
                                t, OS_TOLERANCE * t, m["share"], m["ci"],
                                f"{m['metastatic']} of {m['dead']} deaths"))
    L.append("\nTolerances: +-30 % relative for Coumans' risks (issue 23); Coumans' sd for "
             "the doubling time; +-30 % relative for survival and for the share of late relapses "
             "(ASSUMPTION: the same as the risks). Coumans' 9.2 % is of 38,715 patients of "
             "the Netherlands Cancer Registry with surgically treated TXNXM0 breast cancer "
             "(any nodal status); the abstract does not say whether they had adjuvant "
             "systemic therapy, which would put their risk below an untreated cohort's, so "
             "the size-mix row may compare the untreated model with a partly treated "
             "registry (the 1 % at 2.7 mm is their model's extrapolation). The late "
             "relapses' figure is of treated "
             "women, every kind of recurrence counted; adjuvant therapy lowers the early "
             "hazard more than the late one (Dignam et al. 2009, Breast Cancer Res Treat "
             "116:595 [READ abstract]), so an untreated cohort's share would be somewhat "
             "lower, and yet not nil: without adjuvant therapy the hazard of recurrence "
             "still peaks a second time near 5 years (Jatoi et al. 2005, Breast Cancer Res "
             "Treat 89:173 [READ abstract]). The CONKO-001 figures were read in secondary "
             "summaries (an eviQ protocol page and a meeting report), not in the trial's "
             "papers; its disease-free survival ends at any recurrence, local ones "
             "included, which the model does not make (surgery leaves no residual), so "
             "the model's figure can only be longer than a like-for-like one. Raz et al. give both lung figures for the same untreated stage I patients, "
             "and both are compared on the lung scenario's stage I patients (node-negative, "
             "non-metastatic at diagnosis), not on every patient it diagnoses: the median, "
             "9 months, counts every death of a population mostly unfit for treatment (most "
             "of them from lung cancer, the authors say), the 5-year figure only lung cancer "
             "deaths, which is what paget models. Yu et al.'s 1.3 years is a difference "
             "between the mean ages of two cross-sections of a registry (stage I against "
             "stage IV at diagnosis), read here as the time from one to the other, which "
             "holds only if the stage IV patients went through stage I at a comparable "
             "age: a loose check of how soon distant metastases become detectable, free of "
             "treatment and of local recurrence. Iacobuzio-Donahue et al.'s 70 % counts "
             "widespread metastatic disease; one detectable distant metastasis at death is "
             "the loosest reading of it, so the model's like-for-like share can only be "
             "lower.\n")
    x = r.get("relapse_timing")
    if x is not None and x["relapses"]:
        import paget
        cfg = paget.Simulation.from_scenario("breast").config
        d, f = cfg.colonization.dormancy, cfg.colonization.fate
        back = d.reactivation / (d.reactivation + d.death)
        L.append(f"Relapse timing: the model's distant relapses after resection come a median "
                 f"{x['median_years']:.1f} years after diagnosis, {x['late']} of "
                 f"{x['relapses']} after {x['early_years']:g} years. A dormant cell "
                 f"reactivates at {d.reactivation:.3g} a day against a death of "
                 f"{d.death:.2g} a day (`colonization.dormancy`), so dormancy brings "
                 f"{back:.2g} of its cells back over a mean life of "
                 f"{1.0 / (d.reactivation + d.death) / 365.25:.0f} years; with "
                 f"{f.dormant:g} of the extravasated cells going dormant against {f.grow:.3g} "
                 "founding a colony at once, dormancy carries "
                 f"{calibrate.dormancy_share(cfg):.0%} of the colonization "
                 "at the default soil. That share was chosen on this row "
                 "(`DORMANT_SHARE` in `docs/validation/calibrate.py`), so the row is "
                 "fitted.\n")
    L.append("**Distant-metastasis risk in detail** (breast, resected at diagnosis; readout "
             "`first_detectable_distant_metastasis_time` of the outcome plugin, a metastasis "
             "outside the regional nodes reaching `outcome.detectable_cells`, independent "
             "of a scan schedule; beside it the imaging plugin's "
             "`first_detected_distant_metastasis_time`, found by scans every "
             "`imaging.interval` days; patients with a detectable distant metastasis at "
             "diagnosis are metastatic and excluded, as are those not followed 5 years "
             f"within the {a.get('risk_years', 25.0):g}-year run):\n")
    L.append("| resected at | patients | excluded: metastatic at diagnosis | excluded: not "
             "followed 5 years | at risk | median diameter, mm | 5-year risk (95 % CI) | "
             "5-year risk, imaging readout |")
    L.append("|---|---|---|---|---|---|---|---|")
    for label, x in r["risk"].items():
        img = x["events_imaging"] / x["at_risk"] if x["at_risk"] else float("nan")
        L.append(f"| {label} | {x['patients']} | {x['metastatic_at_diagnosis']} | "
                 f"{x['not_diagnosed_or_not_followed']} | {x['at_risk']} | "
                 f"{x['median_diameter_mm']:.1f} | {_pct(x['risk'])} ({_pct(x['ci'][0])}-"
                 f"{_pct(x['ci'][1])}) | {_pct(img)} |")
    L.append("\n**Median overall survival from diagnosis, every shipped primary** (Kaplan-"
             f"Meier, censored at the end of a {a['os_years']:g}-year run; 95 % interval of "
             "the median from the Greenwood band, Brookmeyer & Crowley 1982, Biometrics "
             "38:29; months; 'not reached in N': fewer than half died within the shortest "
             "follow-up after diagnosis, N months; '-': no published figure used, the model "
             "value only; causes of death: `death_cause` of the organ_failure plugin, total "
             "burden = outcome.lethal_cells, primary local = the primary's lethal diameter):\n")
    L.append("| primary | arm | patients diagnosed | died | causes of death | median OS "
             "(95 % CI) | published |")
    L.append("|---|---|---|---|---|---|---|")
    for key, x in r["survival"].items():
        lo, hi = x["ci_months"]
        pub = "-" if x["target_months"] is None else f"{x['target_months']:g}"
        if x["arm"] == "resected" and x["scenario"] in r.get("resected", {}):
            med = r["resected"][x["scenario"]]["targets"]["os_median_months"]
            pub = f"{med:g} (M0 patients: the rows above)"
        causes = ", ".join(f"{w.replace('_', ' ')} {c}" for w, c in
                           sorted(x.get("causes", {}).items(), key=lambda i: -i[1])) or "-"
        L.append(f"| {x['scenario']} | {x['arm']} | {x['diagnosed']} | {x['dead']} | {causes} | "
                 f"{_months(x['median_months'], x['follow_up_months_min'])} "
                 f"({_months(lo)}-{_months(hi)}) | {pub} |")
    L.append("")
    return L


if __name__ == "__main__":
    main()
