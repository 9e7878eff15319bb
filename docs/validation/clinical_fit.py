"""Fit the primaries' Gompertz rates to the clinical time course (issue 23, item 3).

Two fits, each of one scenario's ``colonization.growth.rate`` to one published
figure; every other row of the "Clinical time course" report is a prediction
(``docs/validation/clinical.py``):

1. **Breast, volume doubling time at 10 mm: 1.7 months** (Coumans, Siesling &
   Terstappen 2013, BMC Cancer 13:283) [READ].  Closed form: under Gompertz
   growth to ``K`` (``colonization.growth.capacity``, 3e12 cells) a tumour of
   ``N`` cells doubles in ``T = ln(ln(K/N) / ln(K/2N)) / r``, so
   ``r = ln(ln(K/N) / ln(K/2N)) / T`` at ``N`` = the cells of a 10 mm sphere
   [DERIVED]; the patients' spread (``heterogeneity.growth_sigma``, log-normal,
   median 1) leaves the median doubling time at ``T``.  Checked on an untreated
   cohort (median of the patients' doubling times, as in clinical.py).
2. **Lung, median overall survival of untreated stage I NSCLC: 9 months** from
   diagnosis (Raz et al. 2007, Chest 132:193) [READ].  A diagnostic scan, NOT
   applied to the scenario: the median is all-cause in patients mostly unfit
   for treatment.  The scan: the Kaplan-Meier median survival of an untreated
   cohort's stage I patients (node-negative and non-metastatic at diagnosis, as
   ``clinical.stage_i_survival`` selects them) at each rate of
   ``--lung-rates``, under the lung scenario's own law
   (exponential since the primaries of lung and pancreas became exponential:
   the rate is ln2 over the volume doubling time); the rate is interpolated
   where log(median) against log(rate), linear between the two bracketing
   points, crosses log(9), and rounded to two significant figures.  It needs
   ~0.013/day, a doubling time of ~53 days, against the 166 days the scenario
   keeps (SEER-fitted model of Szczurek et al.) and the 98-day median of 111
   lung cancers diagnosed in repeat rounds of annual CT screening, symptom-
   prompted diagnoses included (Henschke et al. 2012, Radiology 263:578,
   I-ELCAP [READ abstract]).  (Under the Gompertz law the
   scenario had before, the same median needed a doubling time of ~2 weeks at
   10 mm.)

3. **Pancreas, the lethal burden against the course after diagnosis.**  A
   diagnostic scan, NOT applied: the untreated pancreas patients live a median
   ~32 months from diagnosis and 4 in 5 of those resected at diagnosis are alive
   at 5 years, where CONKO-001's observation arm had 9 % (clinical.py, item 6).
   At each total lethal burden of ``--pancreas-lethal`` (``outcome.lethal_cells``;
   1e12 as shipped) the scenario's shedding rate is rescaled until its untreated
   autopsy level (compared sites per patient at death, as common.involvement
   counts them, ``--level-patients`` from fixed seeds: common random numbers)
   is the shipped scenario's again (secant steps on log rate against log level,
   within 4 %), as a recalibration of that row would; then, of untreated
   patients, the median survival from diagnosis, the share of the deaths with a
   detectable distant metastasis (``clinical.metastatic_deaths``, item 9 of
   clinical.py) and the progression of the stage I patients to stage IV
   (``clinical.stage_iv_progression``, item 8), and the CONKO-001 figures of
   ``--resected-patients`` resected at diagnosis (clinical.resected_course)
   are read.  It shows how far a lower lethal burden alone moves them.  Below
   the cells of the diagnosis mix's largest tumours (80 mm, ~2.7e11 cells) some
   patients die before the size they would be diagnosed at, so fewer are
   diagnosed (142 of 200 at 5e10 in the committed run).  The same is done, at
   the shipped lethal burden, with a site counted as involved at autopsy only
   from each size of ``--pancreas-involved`` (6.5e7 cells, the 5 mm of
   ``outcome.detectable_cells``) instead of ``common.INVOLVED_CELLS`` (1e5, an
   ASSUMPTION: what a microscope finds): if the autopsies of the table counted
   mostly deposits seen by eye, the calibration asks for too little seeding,
   and the untreated patients die with their metastases still small.

Writes ``docs/validation/results/clinical_fit.json`` and prints the log; the
breast value is then set by hand in ``core/scenarios/breast.toml``
(``[colonization.growth] rate``), where a comment cites this script.  Takes
about 12 minutes on 2 cores with the defaults (the pancreas scan most of
them, its involvement point the heaviest).

Usage::

    python docs/validation/clinical_fit.py [--patients 80] [--seed 11]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from common import INVOLVED_CELLS, chunk_sizes

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BREAST_DOUBLING_MONTHS = 1.7
LUNG_OS_MONTHS = 9.0
CAPACITY = 3e12
#: the pancreas scan's total lethal burdens, cells (1e12: the shipped outcome.lethal_cells)
PANCREAS_LETHAL = (1e12, 2e11, 5e10)
#: the sizes from which the pancreas scan counts a site as involved at autopsy,
#: besides common.INVOLVED_CELLS, each at the shipped lethal burden: 6.5e7 cells,
#: a 5 mm sphere, outcome.detectable_cells
PANCREAS_INVOLVED = (6.5e7,)
#: the relative miss of the autopsy level at which the rate search stops
LEVEL_TOLERANCE = 0.04


def gompertz_rate_for_doubling(months: float, diameter_mm: float,
                               capacity: float = CAPACITY) -> float:
    """Gompertz rate, per day, at which a tumour of ``diameter_mm`` doubles in ``months``."""
    n = math.pi / 6.0 * diameter_mm ** 3 * 1e6      # cells, at 1e6 cells/mm^3 (clinical.py)
    return math.log(math.log(capacity / n) / math.log(capacity / (2 * n))) / (
        months * 365.25 / 12)


def crossing(rates, medians, target) -> float:
    """The rate at which log(median) against log(rate), linear between the two
    scanned points that bracket ``target``, crosses it."""
    x, y = np.log(np.asarray(rates, float)), np.log(np.asarray(medians, float))
    for i in range(len(x) - 1):
        lo, hi = sorted((y[i], y[i + 1]))
        if lo <= math.log(target) <= hi and y[i] != y[i + 1]:
            f = (math.log(target) - y[i]) / (y[i + 1] - y[i])
            return float(math.exp(x[i] + f * (x[i + 1] - x[i])))
    raise ValueError(f"no scanned rate brackets the target {target:g} months: medians "
                     f"{[round(float(m), 2) for m in medians]} at rates {list(rates)}")


def secant_log(f, x0: float, target: float, tol: float = LEVEL_TOLERANCE,
               max_evals: int = 6, bounds: tuple[float, float] = (1e-12, 10.0),
               slope0: float = 1.0) -> tuple[float, float, int]:
    """``x`` at which the increasing ``f`` is ``target`` within ``tol``
    (relative): secant steps on log x against log f(x), the first with slope
    ``slope0``, every x kept within ``bounds`` (a slope below 0.2 counted as 0.2,
    so that a flat stretch cannot throw x far).  Returns (x, f(x), evaluations):
    the last x tried when ``max_evals`` evaluations did not reach ``tol``."""
    lo, hi = bounds

    def clip(x):
        return min(max(x, lo), hi)
    x0 = clip(x0)
    y0, n = f(x0), 1
    if y0 > 0 and abs(math.log(y0 / target)) <= tol:
        return x0, y0, n
    x1 = clip(x0 * (target / y0) ** (1.0 / slope0) if y0 > 0 else x0 * 30.0)
    y1 = f(x1)
    n += 1
    while n < max_evals and not (y1 > 0 and abs(math.log(y1 / target)) <= tol):
        if y1 <= 0 or y0 <= 0 or x1 == x0:
            x2 = clip(x1 * 30.0 if y1 <= 0 else x1 * (target / y1))
        else:
            slope = max((math.log(y1) - math.log(y0)) / (math.log(x1) - math.log(x0)), 0.2)
            x2 = clip(math.exp(math.log(x1) + (math.log(target) - math.log(y1)) / slope))
        if x2 == x1:
            break
        x0, y0, x1, y1 = x1, y1, x2, f(x2)
        n += 1
    return x1, y1, n


def autopsy_level(pool, scenario, over, patients, seed, chunk=50,
                  involved: float | None = None) -> float:
    """Compared sites per patient at death of an untreated cohort: the
    calibration's run (``common.run_scenario``) in chunks of ``chunk`` from seeds
    ``seed``, ``seed + 1``, ..., weighted by their patients; a site counts from
    ``involved`` cells (None: ``common.INVOLVED_CELLS``)."""
    sizes = chunk_sizes(patients, chunk)
    extra = () if involved is None else (involved,)
    parts = pool([(scenario, n, seed + k, over, *extra) for k, n in enumerate(sizes)])
    return float(sum(p["mets_mean"] * p["patients"] for p in parts) / patients)


def round2(x: float) -> float:
    """Two significant figures."""
    return float(f"{x:.2g}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=80, help="patients per cohort")
    ap.add_argument("--lung-rates", type=float, nargs="+",
                    default=[4.18e-3, 7.7e-3, 1.16e-2, 1.54e-2],
                    help="rates of the lung scenario's own law (exponential: ln2 / doubling "
                         "time; the defaults are 166, 90, 60 and 45 days) scanned, per day")
    ap.add_argument("--pancreas-lethal", type=float, nargs="*", default=list(PANCREAS_LETHAL),
                    help="total lethal burdens of the pancreas scan, cells (none: no scan)")
    ap.add_argument("--pancreas-involved", type=float, nargs="*",
                    default=list(PANCREAS_INVOLVED),
                    help="sizes from which a site counts as involved at autopsy, cells, each "
                         "scanned at the shipped lethal burden (none: no such point)")
    ap.add_argument("--level-patients", type=int, default=100,
                    help="pancreas scan: untreated patients of each autopsy level")
    ap.add_argument("--resected-patients", type=int, default=200,
                    help="pancreas scan: patients resected at diagnosis at each burden")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "clinical_fit.json")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import clinical
    from common import pool_map, run_scenario
    from paget.config import deep_merge
    pool = (lambda jobs: pool_map(clinical._run, jobs, a.processes))
    start = time.time()
    log = []

    def say(line):
        log.append(line)
        print(line, flush=True)

    # 1. breast: closed form, checked on a cohort
    r_breast = round2(gompertz_rate_for_doubling(BREAST_DOUBLING_MONTHS, 10.0))
    over = deep_merge(clinical.UNTREATED, {"colonization": {"growth": {"rate": r_breast}}})
    res = clinical.cohort(pool, "breast", over, a.patients, a.seed, 8.0, interval=6.0)
    check = clinical.doubling_times(res, 10.0)
    say(f"breast: rate {r_breast:g}/day (closed form for {BREAST_DOUBLING_MONTHS} months at "
        f"10 mm); cohort median doubling time {check['median']:.2f} months "
        f"({check['patients']} patients)")
    # 2. lung: scan
    scan = []
    for r in a.lung_rates:
        over = deep_merge(clinical.UNTREATED, {"colonization": {"growth": {"rate": r}}})
        res = clinical.cohort(pool, "lung", over, a.patients, a.seed + 1, 6.0)
        s = clinical.stage_i_survival(res, 5.0)
        scan.append({"rate": r, "doubling_days": math.log(2.0) / r,
                     "median_months": s["median_months"], "dead": s["dead"],
                     "stage_i": s["node_negative_non_metastatic"],
                     "diagnosed": s["diagnosed"]})
        say(f"lung: rate {r:g}/day (doubling {math.log(2.0) / r:.0f} days) -> median survival "
            f"of the stage I patients {s['median_months']} months "
            f"({s['dead']} of {s['node_negative_non_metastatic']} died; "
            f"{s['diagnosed']} diagnosed)")
    medians = [x["median_months"] if x["median_months"] is not None else np.inf for x in scan]
    r_lung = round2(crossing([x["rate"] for x in scan], medians, LUNG_OS_MONTHS))
    say(f"lung: fitted rate {r_lung:g}/day, a doubling time of {math.log(2.0) / r_lung:.0f} "
        f"days (median OS {LUNG_OS_MONTHS} months)")
    # 3. pancreas: the lethal burden, the rate refitted to the autopsy level
    pancreas = []
    if a.pancreas_lethal or a.pancreas_involved:
        import paget
        levels = (lambda jobs: pool_map(run_scenario, jobs, a.processes))
        shipped = paget.Simulation.from_scenario("pancreas").config
        rate0, lethal0 = shipped.intravasation.rate, shipped.outcome.lethal_cells
        base = autopsy_level(levels, "pancreas", {}, a.level_patients, a.seed + 2)
        say(f"pancreas: autopsy level as shipped {base:.2f} sites per patient (rate "
            f"{rate0:g}, lethal burden {lethal0:g} cells, a site involved from "
            f"{INVOLVED_CELLS:g} cells)")
        points = ([(lethal, INVOLVED_CELLS) for lethal in a.pancreas_lethal]
                  + [(lethal0, inv) for inv in a.pancreas_involved])
        for lethal, involved in points:
            def over(r, lethal=lethal):
                return {"outcome": {"lethal_cells": lethal}, "intravasation": {"rate": r}}
            # a first guess: shedding integrated to death scales as the burden^(2/3)
            # of a primary shedding at exponent 2/3, and a larger involvement size
            # asks for more seeding, roughly as its square root [both DERIVED,
            # rough]; the secant does the rest
            rate, level, evals = secant_log(
                lambda r: autopsy_level(levels, "pancreas", over(r), a.level_patients,
                                        a.seed + 2, involved=involved),
                rate0 * (lethal0 / lethal) ** (2.0 / 3.0) * (involved / INVOLVED_CELLS) ** 0.5,
                base)
            un_res = clinical.cohort(pool, "pancreas", deep_merge(clinical.UNTREATED, over(rate)),
                                     a.level_patients, a.seed + 3, 40.0)
            un = clinical.survival(un_res)
            deaths = clinical.metastatic_deaths(un_res)
            progression = clinical.stage_iv_progression(un_res)
            course = clinical.resected_course(clinical.cohort(
                pool, "pancreas", deep_merge(clinical.RESECTED, over(rate)), a.resected_patients,
                a.seed + 4, 40.0))
            course.pop("m0_rows")
            row = {"lethal_cells": lethal, "involved_cells": involved, "rate": rate,
                   "level": level, "evaluations": evals,
                   "untreated_median_months": un["median_months"],
                   "untreated_dead": un["dead"], "untreated_diagnosed": un["diagnosed"],
                   "untreated_metastatic_death_share": deaths["share"],
                   "stage_i": progression["stage_i"], "stage_iv_progressed":
                   progression["progressed"], "stage_iv_mean_years": progression["mean_years"],
                   "m0": course["m0"], "diagnosed": course["diagnosed"],
                   "relapsed": course["relapsed"],
                   "dfs_median_months": course["dfs"]["median_months"],
                   "os_median_months": course["os"]["median_months"],
                   "os_5y": course["os_at"]}
            pancreas.append(row)

            def mo(x):
                return "not reached" if x is None else f"{x:.1f}"
            say(f"pancreas: lethal burden {lethal:g} cells, involved from {involved:g} cells, "
                f"rate {rate:.3g} (level {level:.2f} after {evals} cohorts) -> untreated "
                f"median survival "
                f"{mo(row['untreated_median_months'])} months, {deaths['share']:.0%} of the "
                f"deaths with a detectable distant metastasis, {progression['progressed']} of "
                f"{progression['stage_i']} stage I patients reaching stage IV (mean "
                f"{progression['mean_years']:.2f} years); resected M0 "
                f"({row['m0']} of {row['diagnosed']}): {row['relapsed']} relapsed, median "
                f"disease-free {mo(row['dfs_median_months'])}, overall "
                f"{mo(row['os_median_months'])} months, 5-year survival {row['os_5y']:.0%}")
    out = {"seed": a.seed, "patients": a.patients,
           "breast": {"rate": r_breast, "target_doubling_months": BREAST_DOUBLING_MONTHS,
                      "check": check},
           "lung": {"rate": r_lung, "doubling_days": math.log(2.0) / r_lung,
                    "target_os_months": LUNG_OS_MONTHS, "scan": scan},
           "pancreas": {"scan": pancreas, "targets": clinical.CONKO,
                        "metastatic_death_target": clinical.METASTATIC_DEATHS["pancreas"][0],
                        "stage_iv_years_target": clinical.STAGE_IV_PROGRESSION["pancreas"][0],
                        "level_patients": a.level_patients,
                        "resected_patients": a.resected_patients},
           "log": log, "seconds": round(time.time() - start)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
