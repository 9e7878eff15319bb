"""Measure where distant seeding is lost in the full model (small cohorts).

Run from the repository root::

    python docs/validation/diagnose.py --patients 8 [--primaries breast lung]
        [--rate-factor 1 10] [--toml OLD.toml] [--out NAME]

For each primary cohort (run to death, untreated, as in common.py) it reads the
dataset's flux variables summed over the whole run (``ctc_shed``,
``ctc_arrested``, ``dtc_extravasated``, ``colonies_founded``,
``dtc_reactivated``) and the lesion table at death: growing (non-dormant)
metastatic lesions, those of >= 1e5 cells (involvement), and how long before the
patient's death each was founded.  ``--rate-factor`` multiplies the scenario's
shedding rate (several factors: one run each); ``--toml`` runs a scenario file
instead of the built-in one (e.g. a past calibration, from ``git show``).
Writes ``docs/validation/results/<out>.json`` (default ``diagnosis``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (INVOLVED_CELLS, PRIMARIES, RESULTS, SITES, involvement,  # noqa: E402
                    metastatic_lesions, run_overrides)

FLUX = ("ctc_shed", "ctc_arrested", "dtc_extravasated", "colonies_founded", "dtc_reactivated")


def run(args) -> dict:
    primary, patients, seed, factor, toml = args
    import paget
    scen = PRIMARIES[primary][0]
    base = (paget.Simulation.from_toml(toml) if toml else paget.Simulation.from_scenario(scen))
    over = run_overrides(patients, seed,
                         {"intravasation": {"rate": base.config.intravasation.rate * factor}})
    sim = paget.Simulation.from_toml(toml, over) if toml else paget.Simulation.from_scenario(scen, over)
    ds = sim.run()
    les = metastatic_lesions(ds)
    organs = les["organs"]
    prim_organ = PRIMARIES[primary][1]
    n = ds.sizes["patient"]
    flux = {v: {o: float(ds[v].isel(time=-1).sel(organ=o).sum()) / n for o in organs} for v in FLUX}
    shed_primary = flux["ctc_shed"][prim_organ]
    shed_mets = sum(v for o, v in flux["ctc_shed"].items() if o != prim_organ)
    # lesion table at death: metastatic lesions (all clones of a lesion summed)
    keep, inv, cells = les["keep"], les["inverse"], les["cells"]
    pat, org = les["patient"], les["organ"]
    n_lesions = cells.size
    born = np.full(n_lesions, np.inf)
    np.minimum.at(born, inv, ds.lesion_birth_time.values[keep])
    death = ds.death_time.values
    before = (death[pat] - born) / 365.25
    # time a one-cell colony of the scenario's Gompertz law needs to reach 1e5
    g = sim.config.colonization.growth
    K = float(g.capacity) if np.isscalar(g.capacity) else 3e12
    t_inv = float(np.log(np.log(K) / np.log(K / INVOLVED_CELLS)) / g.rate / 365.25)
    per_site = {}
    for site, o in SITES.items():
        k = organs.index(o)
        m = org == k
        per_site[site] = dict(
            arrested=flux["ctc_arrested"][o], extravasated=flux["dtc_extravasated"][o],
            founded=flux["colonies_founded"][o], reactivated=flux["dtc_reactivated"][o],
            growing_at_death=float(m.sum()) / n, involving=float((m & (cells >= INVOLVED_CELLS)).sum()) / n)
    inv_ = involvement(ds)
    dead = np.isfinite(death)
    out = dict(primary=primary, patients=n, seed=seed, rate_factor=factor,
               rate=sim.config.intravasation.rate, toml=toml,
               dead=int(dead.sum()), primary_extinct=int((ds.tumor_cells.isel(time=-1)
                                                         .sel(organ=prim_organ).values == 0).sum()),
               ctc_shed_primary=shed_primary, ctc_shed_metastases=shed_mets,
               shed_ratio_metastases=shed_mets / shed_primary if shed_primary else float("nan"),
               years_one_cell_to_involved=t_inv,
               growing_lesions=int(n_lesions),
               founded_median_years_before_death=float(np.nanmedian(before[np.isfinite(before)]))
               if n_lesions else float("nan"),
               founded_early_enough=float(np.mean(before[np.isfinite(before)] > t_inv))
               if n_lesions else float("nan"),
               per_site=per_site, share=inv_["share"], mets_mean=inv_["mets_mean"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--primaries", nargs="+", default=list(PRIMARIES))
    ap.add_argument("--rate-factor", nargs="+", type=float, default=[1.0])
    ap.add_argument("--toml", default=None)
    ap.add_argument("--out", default="diagnosis")
    a = ap.parse_args(argv)
    from common import pool_map
    jobs = [(p, a.patients, a.seed, f, a.toml) for p in a.primaries for f in a.rate_factor]
    res = pool_map(run, jobs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{a.out}.json").write_text(json.dumps(res, indent=1))
    for r in res:
        ps = r["per_site"]
        print(f"{r['primary']:<11} x{r['rate_factor']:g}: dead {r['dead']}/{r['patients']}, primary "
              f"extinct {r['primary_extinct']}; shed {r['ctc_shed_primary']:.3g}/patient (mets "
              f"{r['shed_ratio_metastases']:.2g} of it); growing lesions founded median "
              f"{r['founded_median_years_before_death']:.2f} y before death, "
              f"{r['founded_early_enough']:.2f} more than {r['years_one_cell_to_involved']:.1f} y; "
              f"mets/patient {r['mets_mean']:.2f}")
        for s in ("lymph_nodes_regional", "liver", "lung", "bone"):
            v = ps[s]
            print(f"    {s:<21} arrested {v['arrested']:.3g} extravasated {v['extravasated']:.3g} "
                  f"founded {v['founded']:.3g} (+react {v['reactivated']:.3g}) growing@death "
                  f"{v['growing_at_death']:.3g} involving {v['involving']:.3g} share {r['share'][s]:.2f}")


if __name__ == "__main__":
    main()
