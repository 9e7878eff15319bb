"""Fit the level relation: the shedding rate that gives each number of sites per patient.

Run from the repository root (about 5 minutes on 2 cores at the default sizes)::

    python docs/validation/level.py --patients 48

The generic ``carcinoma`` scenario is run to death, untreated (common.py), on the
shared body as committed, with its primary in the organ of each calibrated
primary (common.PRIMARIES) and at each shedding rate of ``--rates``.  Each organ
has its own seed (``--seed`` plus its index), the same at every rate: common
random numbers along the rate axis, so the curve is smooth in the rate, and other
patients in each organ, so the organs' average rests on organs x ``--patients``
patients.  (Before commit 04493ba every organ had the same seed: the same few
patients, whose shedding and growth multipliers do not depend on the organ, entered
every organ's curve, and the average rested on ``--patients`` patients only; at 8
and then 16 the relation's sites per patient at 0.0015 CTC/day per cell^(2/3)
read 1.81 and 2.41.)  At each rate the involved sites per patient over the compared sites
(common.SITES) are averaged over the organs, then divided by the share of the
table's all-site count that falls on the compared sites in the calibrated rows
(DiSibio & French 2008, Arch Pathol Lab Med 132:931), which puts them on the
scale of ``primary.sites_per_patient``.  The relation keeps the points up to the
highest sites per patient (past it more shedding drains the primary and the sites
fall) that rise strictly; it is written between the markers of
``plugins/level.py`` and logged in ``docs/validation/results/level.json``.
Rerun it whenever the shared body changes (calibrate.py, the anatomy).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PRIMARIES, RESULTS, ROOT, SITES, pool_map, read_table, run_scenario  # noqa: E402

LEVEL_MODULE = ROOT / "plugins" / "level.py"
#: the grid of shedding rates a relation is fitted on spans the calibrated
#: rows' own rates on the same body, from BELOW under the lowest to ABOVE over
#: the highest (capped at carcinoma's drain cap, calibrate.rate_cap), in POINTS
#: log-spaced rates.  The rates that give a level scale inversely with the
#: shared colonization probability, so a fixed grid fitted to one body wastes
#: its points (and hours of saturated cohorts) on another.
BELOW, ABOVE, POINTS = 4.0, 2.0, 7


def rate_grid(fitted_rates, body=None, points=POINTS) -> tuple[float, ...]:
    """Log-spaced shedding rates, CTC per day per cell^(2/3), from BELOW under the
    lowest of ``fitted_rates`` to ABOVE over the highest, capped at carcinoma's
    drain cap on the shared body (with the ``body`` overrides)."""
    import calibrate
    lo, hi = min(fitted_rates) / BELOW, max(fitted_rates) * ABOVE
    hi = min(hi, calibrate.rate_cap("carcinoma", body))
    if not 0 < lo < hi:
        raise ValueError(f"no rate grid between {lo:g} and {hi:g} CTC per day per cell^(2/3)")
    return tuple(float(f"{r:.3g}") for r in np.geomspace(lo, hi, points))


def compared_share(rows=None) -> float:
    """The share of the table's all-site sites per patient that falls on the
    compared sites, pooled over ``rows`` (default: the calibrated primaries)."""
    table = read_table()
    rows = list(PRIMARIES) if rows is None else list(rows)
    compared = sum(sum(table[r][s] for s in SITES) / 100.0 for r in rows)
    return compared / sum(table[r]["mets_per_primary"] for r in rows)


def grid(organs, rates, patients, seed, body=None, processes=None) -> np.ndarray:
    """Sites per patient over the compared sites, (organs, rates), of carcinoma
    cohorts with their primary in each organ shedding at each rate, on the
    shared body as committed or with the ``body`` overrides.  Organ k's cohorts
    have seed ``seed + k`` at every rate: the same patients along a curve, other
    patients in each organ (a patient's heterogeneity draws depend on the seed
    and the patient, not on the primary's organ)."""
    from paget.config import deep_merge
    jobs = [("carcinoma", patients, seed + k,
             deep_merge(body or {}, {"primary": {"organ": o, "sites_per_patient": None},
                                     "intravasation": {"rate": r}}))
            for k, o in enumerate(organs) for r in rates]
    out = pool_map(run_scenario, jobs, processes)
    return np.array([r["mets_mean"] for r in out]).reshape(len(organs), len(rates))


def relation(rates, compared_sites, share) -> tuple[tuple, tuple]:
    """(rates, sites per patient) of the monotone part: the organ-averaged curve
    up to its highest point, keeping each point that rises above the last kept."""
    s = np.asarray(compared_sites, float) / share
    top = int(np.argmax(s))
    keep_r, keep_s = [], []
    for r, v in zip(rates[:top + 1], s[:top + 1]):
        if v > 0 and (not keep_s or v > keep_s[-1]):
            keep_r.append(float(r))
            keep_s.append(float(v))
    if not keep_s:
        raise RuntimeError("no rate gave an involved site: lower INVOLVED_CELLS or raise the rates")
    return tuple(keep_r), tuple(keep_s)


def write_relation(rates, spp, growth=None) -> None:
    """Rewrite the two tuples between the markers of plugins/level.py (and the
    carcinoma scenario's growth, (law, rate), they were fitted with)."""
    fmt = lambda xs: "(" + ", ".join(repr(float(f"{x:.3g}")) for x in xs) + \
        ("," if len(xs) == 1 else "") + ")"
    text = LEVEL_MODULE.read_text()
    text, n1 = re.subn(r"^RATES = \(.*\)$", lambda m: f"RATES = {fmt(rates)}", text, flags=re.M)
    text, n2 = re.subn(r"^SITES_PER_PATIENT = \(.*\)$",
                       lambda m: f"SITES_PER_PATIENT = {fmt(spp)}", text, flags=re.M)
    if growth is not None:
        text, n3 = re.subn(r"^GROWTH = \(.*\)$",
                           lambda m: f'GROWTH = ("{growth[0]}", {float(growth[1])!r})', text,
                           flags=re.M)
        n2 = n2 if n3 == 1 else 0
    if (n1, n2) != (1, 1):
        raise RuntimeError(f"{LEVEL_MODULE}: the relation's markers are missing")
    LEVEL_MODULE.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=48, help="patients per organ and rate")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--rates", type=float, nargs="+", default=None,
                    help="shedding rates, CTC per day per cell^(2/3), increasing (default: "
                         "rate_grid over the calibrated rows' rates)")
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--no-write", action="store_true",
                    help="log the fit in results/level.json but leave plugins/level.py as is")
    a = ap.parse_args(argv)
    organs = [organ for _, organ in PRIMARIES.values()]
    if a.rates is None:
        import calibrate
        a.rates = list(rate_grid([calibrate.scenario_rate(s) for s, _ in PRIMARIES.values()]))
    t0 = time.time()
    S = grid(organs, a.rates, a.patients, a.seed, processes=a.processes)
    share = compared_share()
    rates, spp = relation(a.rates, S.mean(axis=0), share)
    out = {"patients": a.patients, "seed": a.seed, "rates": list(a.rates), "organs": organs,
           "compared_sites_per_patient": S.tolist(), "compared_share": share,
           "relation": {"rates": list(rates), "sites_per_patient": list(spp)},
           "seconds": round(time.time() - t0, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "level.json").write_text(json.dumps(out, indent=1))
    if not a.no_write:
        import paget
        g = paget.Simulation.from_scenario("carcinoma").config.colonization.growth
        write_relation(rates, spp, (g.law, g.rate))
    print(f"compared share {share:.3f}; relation: " +
          ", ".join(f"{r:.3g} -> {s:.2f}" for r, s in zip(rates, spp)) +
          f" ({out['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
