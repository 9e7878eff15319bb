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

Writes ``docs/validation/results/clinical_fit.json`` and prints the log; the
breast value is then set by hand in ``core/scenarios/breast.toml``
(``[colonization.growth] rate``), where a comment cites this script.  Takes
about 2 minutes on 2 busy cores with the defaults.

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

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BREAST_DOUBLING_MONTHS = 1.7
LUNG_OS_MONTHS = 9.0
CAPACITY = 3e12


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
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "clinical_fit.json")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import clinical
    from common import pool_map
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
    out = {"seed": a.seed, "patients": a.patients,
           "breast": {"rate": r_breast, "target_doubling_months": BREAST_DOUBLING_MONTHS,
                      "check": check},
           "lung": {"rate": r_lung, "doubling_days": math.log(2.0) / r_lung,
                    "target_os_months": LUNG_OS_MONTHS, "scan": scan},
           "log": log, "seconds": round(time.time() - start)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
