"""Shedding spread: scan breast's shedding sigma against the liquid-biopsy and risk anchors.

Issue 22 item 9 and issue 23 item 6.  The scan that chose the shedding
spread (the page's "What remains to do", item (a), is rendered from its
results): with the sigma-1 body as fitted, no sigma held the CTC anchor, van
Dalum's share and breast's autopsy row together; with the shared colonization
probability raised until the autopsy level was back (``--restore``), sigma
2.75-3 held them, the size-mix risk and the CellSearch split on breast's row.
Sigma 3 was then given to every scenario and the body refitted jointly at it
(calibrate.py's docstring; the page's item (a) says why every cancer).  The
committed results are the scan on the sigma-1 body (commit 8cc41b8); a rerun
scans around the committed body instead.  The breast scenario draws each patient's
shedding multiplier from LogNormal(0, ``heterogeneity.shedding_sigma``)
(median 1, :mod:`paget.plugins.heterogeneity`).  For each sigma of a grid this
script re-pins ``intravasation.rate`` so that the **cohort-mean** CTC
concentration at a 2.7 mm primary stays at Coumans' value, and reads:

1. **CTC per litre at 2.7 mm**: 9 +- 6 CTC/L (Coumans, Siesling & Terstappen
   2013, BMC Cancer 13:283) [READ].  Mean or median?  Their model has one
   dissemination rate for every patient, fitted to the registry's
   size-versus-risk data ("At this size, the model predicts that there will be
   9 +- 6 CTC/L blood", abstract), so 9 CTC/L is the concentration of the
   average patient, and the expected number of metastases is linear in the
   shedding: with a spread between patients the comparable quantity is the
   cohort **mean** [DERIVED].  The multiplier's mean is exp(sigma^2 / 2), so
   the pinned rate is ``9 / k * exp(-sigma^2 / 2)``, ``k`` the CTC/L per unit
   rate of a homogeneous cohort (sigma 0), read as ``liquid_biopsy.py``'s
   ``ctc_per_litre_at`` reads it (one step from (pi/6) 2.7^3 1e6 cells,
   ``ctc_blood`` at day 2).  Each sigma's one-step run checks it: the sample
   mean (noisy: the relative standard error of a log-normal mean over n
   patients is sqrt(exp(sigma^2) - 1) / sqrt(n)) and the ratio estimate
   ``sum(c) / sum(M) * exp(sigma^2 / 2)`` (c a patient's CTC/L, M its
   multiplier: the multipliers' heavy tail cancels, only the Poisson noise of
   the shed counts is left).
2. **Share with >= 1 CTC in 30 mL at diagnosis**: 0.19 of non-metastatic
   breast cancer patients before surgery (van Dalum et al. 2015, Int J Oncol
   46:407) [READ]; tolerance +-0.10 as in the validation report.  As
   ``liquid_biopsy.py`` does, 1 - exp(-30 mL x c) per patient, averaged: at
   its fixed 10 mm (the report's row) and over the scenario's own
   ``diagnosis.diameter_distribution`` (the registry size mix the breast
   patients are diagnosed at), by Gauss-Legendre nodes within each size
   category; beside each the analytic value (log-normal integral at the
   homogeneous cohort's concentration at each node).
3. **5-year distant-metastasis risk after resection** at 2.7 mm (1 %) and over
   the size mix (9.2 %), +-30 % relative (Coumans 2013 [READ]; issue 23),
   through ``clinical.py``'s ``cohort`` and ``distant_risk`` (95 %
   Clopper-Pearson intervals); only for the sigmas named by ``--expensive``.
4. **CellSearch split**: median OS from the first scan showing a distant
   metastasis, >= 5 vs < 5 CTC per 7.5 mL at that scan, 10.1 vs > 18 months
   (Cristofanilli et al. 2004, NEJM 351:781) [READ]: ``liquid_biopsy.py``'s
   split (patients resected at diagnosis, untreated after; theirs were
   treated, so only the direction and rough size compare) with the sigma and
   rate set; also only for ``--expensive``.
5. **Breast's autopsy row** (DiSibio & French 2008, Arch Pathol Lab Med
   132:931) [READ]: involved sites per patient at death, untreated, as the
   calibration counts them (``common.run_scenario``; ``--autopsy`` patients per
   sigma).  Not a target of this fit, but the shared body was fitted on it
   with sigma 1, so it shows what a wider spread costs there; with ``rho``,
   the Spearman correlation of its 14 sites with the table's.
6. **Restored** (``--restore``, for each ``--expensive`` sigma): a wider
   spread with the mean CTC pinned leaves most patients shedding little, so
   the autopsy level falls; a joint fit would raise the shared colonization
   probability (``colonization.fate.grow``, times ``G``, ``die`` taking the
   difference) until the level is back.  ``G`` is found by bisection on
   log G (:func:`restore_level`, 7 halvings over [1, 1000]) so that breast's
   autopsy sites per patient equal sigma 1's in the same run, and columns 3-5
   are rerun there: what the three liquid-biopsy anchors and Coumans' risks
   would read on a body refitted to the wider spread, short of refitting the
   other rows.

Command for the committed ``results/shedding_spread.json`` (672 s, of which
178 s the cheap scan and the sigma 1 autopsy runs, with ``--processes 2`` on 2 cores
shared with other work; on the body committed at 7bce3f1)::

    python docs/validation/shedding_spread.py --sigmas 1.0 1.5 2.0 2.5 2.75 3.0 3.25 3.5 4.0 \\
        --expensive 1.0 2.5 2.75 3.0 --restore --autopsy 96 --small 300 --mix 400 \\
        --cellsearch 300 --processes 2
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
# the sibling scripts (common, liquid_biopsy, clinical), imported where they are
# used, so that a bad argument fails before paget loads
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results"
DAYS_PER_MONTH = 365.25 / 12
#: Coumans et al. 2013 (BMC Cancer 13:283) [READ]: CTC per litre at 2.7 mm, and its sd
COUMANS_CTC_PER_L, COUMANS_SD = 9.0, 6.0
COUMANS_DIAMETER_MM = 2.7
#: van Dalum et al. 2015 (Int J Oncol 46:407) [READ]: share with >= 1 CTC in 30 mL;
#: tolerance as the validation report's (ASSUMPTION there)
VAN_DALUM_SHARE, VAN_DALUM_TOL, VAN_DALUM_ML = 0.19, 0.10, 30.0
#: the fixed size at which liquid_biopsy.py reads "at diagnosis", mm
REPORT_DIAGNOSIS_MM = 10.0
#: Cristofanilli et al. 2004 (NEJM 351:781) [READ]: median OS, months, >= 5 / < 5 CTC
CRISTOFANILLI = {"threshold_per_7_5ml": 5, "median_os_months_high": 10.1,
                 "median_os_months_low": "> 18"}
DEFAULT_SIGMAS = (1.0, 1.5, 2.0, 2.5, 3.0)
#: the scenario's ceiling on shedding_sigma (plugins/heterogeneity.py)
SIGMA_MAX = 5.0
#: Gauss-Legendre nodes per size category of the diagnosis mix
MIX_NODES = 6
#: --restore: the largest colonization factor searched, and the bisection's halvings
#: (log-width ln(RESTORE_MAX) / 2^RESTORE_STEPS: about 5 % on G)
RESTORE_MAX, RESTORE_STEPS = 1000.0, 7


def _overrides(sigma: float, rate: float, grow_factor: float = 1.0) -> dict:
    """The sigma and rate, and the shared colonization probability times
    ``grow_factor`` (1: the committed body, left as it is): ``colonization.fate.grow``
    with ``die`` taking the difference, and the dormant cells' reactivation moved
    with it as the calibration moves it, so that dormancy keeps its share of the
    colonization (``calibrate.dormancy_reactivation``)."""
    over = {"heterogeneity": {"shedding_sigma": float(sigma)},
            "intravasation": {"rate": float(rate)}}
    if grow_factor != 1.0:
        import paget
        from calibrate import dormancy_reactivation
        col = paget.Simulation.from_scenario("breast").config.colonization
        grow = float(col.fate.grow) * grow_factor
        over["colonization"] = {
            "fate": {"grow": grow, "die": 1.0 - float(col.fate.dormant) - grow},
            "dormancy": {"reactivation": dormancy_reactivation(grow, col.dormancy.death)}}
    return over


def ctc_per_litre(diameter_mm: float, patients: int, seed: int, sigma: float,
                  rate: float) -> tuple[np.ndarray, np.ndarray]:
    """CTC per litre of blood of each patient after one step from a primary of
    ``diameter_mm`` (``liquid_biopsy.ctc_and_multipliers``), with the given
    shedding sigma and rate; and each patient's shedding multiplier."""
    from liquid_biopsy import ctc_and_multipliers
    return ctc_and_multipliers(diameter_mm, patients, seed, _overrides(sigma, rate))


def unit_concentration(diameter_mm: float, patients: int, seed: int) -> tuple[float, float]:
    """CTC/L per unit shedding rate (CTC/day per cell^alpha) of a homogeneous
    cohort (sigma 0) at ``diameter_mm``, and its standard error (Poisson)."""
    rate = 1e-2
    c, _ = ctc_per_litre(diameter_mm, patients, seed, 0.0, rate)
    return float(c.mean() / rate), float(c.std(ddof=1) / math.sqrt(c.size) / rate)


def pinned_rate(sigma: float, k: float, target: float = COUMANS_CTC_PER_L) -> float:
    """The rate whose cohort-mean CTC/L at 2.7 mm is ``target``: a median-1
    log-normal multiplier has mean exp(sigma^2 / 2)."""
    return target / k * math.exp(-sigma ** 2 / 2)


def size_mix_nodes(nodes: int = MIX_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Diameters (mm) and weights integrating over the breast scenario's
    ``diagnosis.diameter_distribution`` (uniform within each category)."""
    import paget
    dist = paget.Simulation.from_scenario("breast").config.diagnosis.diameter_distribution
    x, w = np.polynomial.legendre.leggauss(nodes)
    shares = np.asarray(dist.shares) / np.sum(dist.shares)
    d, wt = [], []
    for lo, hi, s in zip(dist.edges[:-1], dist.edges[1:], shares):
        d.append(lo + (x + 1) / 2 * (hi - lo))
        wt.append(s * w / 2)
    return np.concatenate(d), np.concatenate(wt)


def share_ge1(c_per_litre: np.ndarray) -> float:
    """Mean over patients of P(>= 1 CTC in 30 mL) at their concentration (Poisson)."""
    return float(np.mean(1.0 - np.exp(-VAN_DALUM_ML * np.asarray(c_per_litre) / 1000.0)))


def share_analytic(mean_c: float, sigma: float) -> float:
    """P(>= 1 CTC in 30 mL) averaged over a log-normal multiplier of mean 1 and
    log-sd ``sigma`` at a cohort-mean concentration ``mean_c`` CTC/L."""
    z = np.linspace(-9.0, 9.0, 4001)
    phi = np.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi)
    lam = VAN_DALUM_ML / 1000.0 * mean_c * np.exp(sigma * z - sigma ** 2 / 2)
    return float(np.trapezoid(phi * -np.expm1(-lam), z))


def cheap_row(sigma: float, k: float, k10: float, unit_mix: np.ndarray, mix: tuple,
              patients: int, seed: int) -> dict:
    """One sigma: the re-pinned rate and its check at 2.7 mm, van Dalum's share at
    10 mm and over the size mix (simulated and analytic)."""
    from liquid_biopsy import expected_mean
    rate = pinned_rate(sigma, k)
    c, m = ctc_per_litre(COUMANS_DIAMETER_MM, patients, seed, sigma, rate)
    n = c.size
    expected_mean_multiplier = math.exp(sigma ** 2 / 2)
    at10, _ = ctc_per_litre(REPORT_DIAGNOSIS_MM, patients, seed, sigma, rate)
    d_mix, w_mix = mix
    sim_mix = sum(w * share_ge1(ctc_per_litre(d, patients, seed, sigma, rate)[0])
                  for d, w in zip(d_mix, w_mix))
    ana_mix = sum(w * share_analytic(u * rate * expected_mean_multiplier, sigma)
                  for u, w in zip(unit_mix, w_mix))
    return {
        "sigma": sigma, "rate": rate,
        "ctc_per_litre_2_7mm": {
            "mean": float(c.mean()),
            "mean_se": float(c.std(ddof=1) / math.sqrt(n)),
            "mean_from_multipliers": expected_mean(c, m, sigma),
            "median": float(np.median(c)),
            "multiplier_mean": float(m.mean()), "multiplier_mean_expected":
                expected_mean_multiplier,
            "relative_se_of_a_sample_mean": math.sqrt(math.expm1(sigma ** 2) / n)},
        "van_dalum_10mm": {"simulated": share_ge1(at10),
                           "analytic": share_analytic(k10 * rate * expected_mean_multiplier,
                                                      sigma)},
        "van_dalum_size_mix": {"simulated": float(sim_mix), "analytic": float(ana_mix)},
    }


def autopsy(sigma: float, rate: float, patients: int, seed: int, processes: int,
            chunk: int = 24, grow_factor: float = 1.0) -> dict:
    """Breast's autopsy involvement at death, untreated (the calibration's run,
    ``common.run_scenario``), against DiSibio & French 2008 (Arch Pathol Lab
    Med 132:931) [READ]: the row the shared body was fitted on with sigma 1;
    ``rho``, the Spearman correlation of the sites' shares with the table's."""
    from scipy.stats import spearmanr
    from common import SITES, chunk_sizes, pool_map, read_table, run_scenario
    sizes = chunk_sizes(patients, chunk)
    over = _overrides(sigma, rate, grow_factor)
    parts = pool_map(run_scenario, [("breast", n, seed + 7000 + j, over)
                                    for j, n in enumerate(sizes)], processes)
    w = np.array([p["patients"] for p in parts], dtype=float) / patients
    row = read_table()["breast"]
    share = {site: float(sum(wi * p["share"][site] for wi, p in zip(w, parts)))
             for site in SITES}
    published = {site: row[site] / 100 for site in SITES}
    return {"patients": patients,
            "sites_per_patient": float(sum(wi * p["mets_mean"] for wi, p in zip(w, parts))),
            "share": share,
            "rho": float(spearmanr([share[x] for x in SITES],
                                   [published[x] for x in SITES]).statistic),
            "published_sites_per_patient": {"all sites": row["mets_per_primary"],
                                            "compared sites": sum(row[s] for s in SITES) / 100},
            "published_share": published}


def restore_level(sigma: float, rate: float, target: float, patients: int, seed: int,
                  processes: int, steps: int = RESTORE_STEPS) -> dict:
    """The colonization factor ``G`` (grow x G) at which breast's autopsy sites
    per patient, at this sigma and rate, come back to ``target`` (the level at
    sigma 1): bisection on log G over [1, RESTORE_MAX] (sites per patient rise
    with G), ``steps`` halvings, each an :func:`autopsy` run of ``patients``
    (the same seeds, so the steps share their noise)."""
    lo, hi = 0.0, math.log(RESTORE_MAX)
    tried = []
    for _ in range(steps):
        mid = (lo + hi) / 2
        got = autopsy(sigma, rate, patients, seed, processes,
                      grow_factor=math.exp(mid))["sites_per_patient"]
        tried.append({"grow_factor": math.exp(mid), "sites_per_patient": got})
        lo, hi = (mid, hi) if got < target else (lo, mid)
    return {"grow_factor": math.exp((lo + hi) / 2), "target_sites_per_patient": target,
            "tried": tried}


# ---------------------------------------------------------------- expensive runs

def risks(sigma: float, rate: float, small: int, mix: int, seed: int, years: float,
          processes: int, grow_factor: float = 1.0) -> dict:
    """Coumans' 5-year distant-metastasis risks after resection (clinical.py's path)."""
    import clinical
    from common import pool_map
    from paget.config import deep_merge
    pool = (lambda jobs: pool_map(clinical._run, jobs, processes))
    out = {}
    for label, n, over in (("2.7 mm", small, clinical._fixed(2.7)), ("size mix", mix, {})):
        if n <= 0:
            continue
        full = deep_merge(deep_merge(clinical.RESECTED, over),
                          _overrides(sigma, rate, grow_factor))
        res = clinical.cohort(pool, "breast", full, n, seed, years)
        out[label] = clinical.distant_risk(res) | {"target": clinical.RISK_TARGETS[label]}
    return out


def _split_chunk(job) -> dict:
    """One chunk of :func:`cellsearch_split`: liquid_biopsy.py's resected
    patients (``split_arrays``) at this sigma, rate and colonization factor."""
    sigma, rate, patients, seed, years, grow_factor = job
    from liquid_biopsy import split_arrays
    return split_arrays(patients, seed, _overrides(sigma, rate, grow_factor), years)


def cellsearch_split(sigma: float, rate: float, patients: int, seed: int, processes: int,
                     years: float = 30.0, chunk: int = 25, grow_factor: float = 1.0) -> dict:
    """Median OS from the first scan showing a distant metastasis, >= 5 vs < 5
    CTC per 7.5 mL at that scan, in patients resected at diagnosis (the
    validation report's anchor, ``liquid_biopsy.py``), in chunks of ``chunk``
    patients (seeds ``seed``, ``seed + 1``, ...)."""
    from common import chunk_sizes, pool_map
    from liquid_biopsy import summarise_split
    sizes = chunk_sizes(patients, chunk)
    parts = pool_map(_split_chunk, [(sigma, rate, n, seed + j, years, grow_factor)
                                    for j, n in enumerate(sizes)], processes)
    joined = {k: np.concatenate([p[k] for p in parts]) for k in ("ok", "counts", "months")}
    ok, counts = joined["ok"], joined["counts"]
    return summarise_split(joined, patients) | {
        "median_ctc_per_7_5ml_at_detection": float(np.median(counts[ok])) if ok.any()
        else None}


# ---------------------------------------------------------------- command line

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sigmas", type=float, nargs="+", default=list(DEFAULT_SIGMAS),
                    help="shedding sigmas of the cheap scan (log-sd, 0 to 5)")
    ap.add_argument("--expensive", type=float, nargs="*", default=[],
                    help="sigmas (of --sigmas) that also get the risk and CellSearch runs")
    ap.add_argument("--patients", type=int, default=400,
                    help="patients of each one-step CTC run (cheap)")
    ap.add_argument("--unit-patients", type=int, default=2000,
                    help="patients of the homogeneous runs that set CTC/L per unit rate "
                         "at 2.7 and 10 mm (a quarter at each size-mix node)")
    ap.add_argument("--autopsy", type=int, default=48,
                    help="untreated patients to death per sigma, for breast's autopsy row "
                         "(0: none)")
    ap.add_argument("--small", type=int, default=300, help="patients resected at 2.7 mm")
    ap.add_argument("--mix", type=int, default=200, help="patients resected over the size mix")
    ap.add_argument("--risk-years", type=float, default=25.0,
                    help="years of the resected runs (5-year follow-up within them)")
    ap.add_argument("--cellsearch", type=int, default=120,
                    help="untreated patients of the CellSearch split")
    ap.add_argument("--cellsearch-years", type=float, default=30.0)
    ap.add_argument("--mix-nodes", type=int, default=MIX_NODES,
                    help="Gauss-Legendre nodes per size category of the diagnosis mix")
    ap.add_argument("--restore", action="store_true",
                    help="for each --expensive sigma, also scale the shared colonization "
                         "probability (grow) until breast's autopsy sites per patient come "
                         "back to sigma 1's, and rerun the autopsy, risk and CellSearch "
                         "columns there (needs 1 among --sigmas and --autopsy > 0)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "shedding_spread.json")

    def error(message):  # one line, exit status 2 (argparse's usage block left out)
        print(f"shedding_spread.py: {message}", file=sys.stderr)
        sys.exit(2)
    ap.error = error
    return ap


def check_args(a) -> str | None:
    """The first bad argument as one line, or None."""
    for s in a.sigmas + a.expensive:
        if not 0.0 <= s <= SIGMA_MAX:
            return f"shedding sigma {s:g} is outside 0 to {SIGMA_MAX:g} (log-sd)"
    extra = [s for s in a.expensive if s not in a.sigmas]
    if extra:
        return f"--expensive {extra[0]:g} is not one of --sigmas"
    for name, least in (("patients", 2), ("unit_patients", 8), ("processes", 1),
                        ("mix_nodes", 1)):
        if getattr(a, name) < least:
            return f"--{name.replace('_', '-')} {getattr(a, name)} must be at least {least}"
    for name in ("small", "mix", "cellsearch", "autopsy"):
        if getattr(a, name) < 0:
            return f"--{name} {getattr(a, name)} must be 0 or more patients"
    if a.risk_years < 5.0 or a.cellsearch_years <= 0:
        return "--risk-years must be at least 5 and --cellsearch-years above 0"
    if a.restore and (1.0 not in a.sigmas or a.autopsy == 0):
        return ("--restore restores sigma 1's autopsy level: give 1 among --sigmas and "
                "--autopsy above 0")
    return None


def scan(a) -> dict:
    """The whole scan for parsed arguments ``a``."""
    start = time.time()
    k, k_se = unit_concentration(COUMANS_DIAMETER_MM, a.unit_patients, a.seed)
    k10 = unit_concentration(REPORT_DIAGNOSIS_MM, a.unit_patients, a.seed)[0]
    d_mix, w_mix = size_mix_nodes(a.mix_nodes)
    unit_mix = np.array([unit_concentration(d, a.unit_patients // 4, a.seed)[0]
                         for d in d_mix])
    rows = [cheap_row(s, k, k10, unit_mix, (d_mix, w_mix), a.patients, a.seed)
            for s in a.sigmas]
    for row in rows:
        if a.autopsy:
            row["autopsy"] = autopsy(row["sigma"], row["rate"], a.autopsy, a.seed, a.processes)
    cheap_s = time.time() - start
    for row in rows:
        if row["sigma"] in a.expensive:
            row["risk"] = risks(row["sigma"], row["rate"], a.small, a.mix, a.seed,
                                a.risk_years, a.processes)
            row["cellsearch"] = cellsearch_split(row["sigma"], row["rate"], a.cellsearch,
                                                 a.seed, a.processes, a.cellsearch_years)
    if a.restore:
        level = next(r for r in rows if r["sigma"] == 1.0)["autopsy"]["sites_per_patient"]
        for row in rows:
            if row["sigma"] in a.expensive and row["sigma"] != 1.0:
                sig, rate = row["sigma"], row["rate"]
                found = restore_level(sig, rate, level, a.autopsy, a.seed, a.processes)
                g = found["grow_factor"]
                row["restored"] = found | {
                    "autopsy": autopsy(sig, rate, a.autopsy, a.seed, a.processes,
                                       grow_factor=g),
                    "risk": risks(sig, rate, a.small, a.mix, a.seed, a.risk_years,
                                  a.processes, grow_factor=g),
                    "cellsearch": cellsearch_split(sig, rate, a.cellsearch, a.seed,
                                                   a.processes, a.cellsearch_years,
                                                   grow_factor=g)}
    return {"seed": a.seed,
            "args": {"patients": a.patients, "unit_patients": a.unit_patients,
                     "mix_nodes": a.mix_nodes,
                     "autopsy": a.autopsy, "small": a.small, "mix": a.mix,
                     "risk_years": a.risk_years,
                     "cellsearch": a.cellsearch, "cellsearch_years": a.cellsearch_years,
                     "restore": a.restore, "processes": a.processes},
            "ctc_per_litre_per_unit_rate_2_7mm": {"value": k, "se": k_se},
            "ctc_per_litre_per_unit_rate_10mm": k10,
            "size_mix_nodes": {"diameter_mm": d_mix.tolist(), "weight": w_mix.tolist(),
                               "ctc_per_litre_per_unit_rate": unit_mix.tolist()},
            "targets": {"ctc_per_litre_2_7mm_mean": [COUMANS_CTC_PER_L, COUMANS_SD],
                        "van_dalum_share": [VAN_DALUM_SHARE, VAN_DALUM_TOL],
                        "risk_2_7mm": 0.01, "risk_size_mix": 0.092,
                        "risk_relative_tolerance": 0.30, "cristofanilli": CRISTOFANILLI},
            "rows": rows, "seconds_cheap": round(cheap_s),
            "seconds": round(time.time() - start)}


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.2f} %"


def _risk_split_autopsy(risk: dict, cs: dict | None, aut: dict | None) -> list[str]:
    """The cells of the two risks, the CellSearch split and the autopsy row."""
    fmt = (lambda v: "n/a" if v is None else f"{v:.1f}")
    rk = [f"{_pct(x['risk'])} ({_pct(x['ci'][0])}-{_pct(x['ci'][1])}; "
          f"{x['events']}/{x['at_risk']})" if x else "-"
          for x in (risk.get("2.7 mm"), risk.get("size mix"))]
    split = (f"{fmt(cs['median_os_months_high'])} (n={cs['high']}) vs "
             f"{fmt(cs['median_os_months_low'])} (n={cs['low']})") if cs else "-"
    return rk + [split, autopsy_cell(aut)]


def table(out: dict) -> list[str]:
    """The scan as a Markdown table, and the restored rows (``--restore``) as a second."""
    tail = ("5-year risk at 2.7 mm (95 % CI) | over the size mix (95 % CI) | median OS after "
            "detected metastasis, >= 5 vs < 5 CTC/7.5 mL, months (n) | autopsy sites per "
            "patient (liver, lung, bone; rho of the 14 sites with the table) |")
    L = ["| sigma | rate, CTC/day per cell^(2/3) | CTC/L at 2.7 mm: mean (from multipliers; "
         "sample) / median | >= 1 CTC in 30 mL at 10 mm (analytic) | over the size mix "
         "(analytic) | " + tail,
         "|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        c = r["ctc_per_litre_2_7mm"]
        cells = _risk_split_autopsy(r.get("risk", {}), r.get("cellsearch"), r.get("autopsy"))
        L.append(f"| {r['sigma']:g} | {r['rate']:.3g} | {c['mean_from_multipliers']:.2f}; "
                 f"{c['mean']:.2f} +- {c['mean_se']:.2f} / {c['median']:.3g} | "
                 f"{r['van_dalum_10mm']['simulated']:.3f} ({r['van_dalum_10mm']['analytic']:.3f})"
                 f" | {r['van_dalum_size_mix']['simulated']:.3f} "
                 f"({r['van_dalum_size_mix']['analytic']:.3f}) | " + " | ".join(cells) + " |")
    restored = [r for r in out["rows"] if "restored" in r]
    if restored:
        L += ["", "Restored to sigma 1's autopsy level (colonization probability x G; the "
              "CTC columns do not depend on it):", "",
              "| sigma | G | " + tail, "|---|---|---|---|---|---|"]
        for r in restored:
            x = r["restored"]
            cells = _risk_split_autopsy(x["risk"], x["cellsearch"], x["autopsy"])
            L.append(f"| {r['sigma']:g} | {x['grow_factor']:.3g} | " + " | ".join(cells) + " |")
    return L


def autopsy_cell(x) -> str:
    if not x:
        return "-"
    sh = x["share"]
    rho = f"; rho {x['rho']:.2f}" if "rho" in x else ""
    return (f"{x['sites_per_patient']:.2f} ({sh['liver']:.2f}, {sh['lung']:.2f}, "
            f"{sh['bone']:.2f}{rho}; n={x['patients']})")


def main(argv=None) -> dict:
    a = _parser().parse_args(argv)
    problem = check_args(a)
    if problem:
        print(f"shedding_spread.py: {problem}", file=sys.stderr)
        sys.exit(2)
    out = scan(a)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(table(out)))
    return out


if __name__ == "__main__":
    main()
