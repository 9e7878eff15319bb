"""The experimental-metastasis assay of Luzzi et al. 1998, simulated.

Run from the repository root::

    python docs/validation/assay.py [--mice 8] [--cells 10000]   # about 2 s

Injects ``--cells`` B16F1 cells into the portal vein of each mouse (scenario
``assay_luzzi``) and follows them 13 days; writes ``docs/validation/results/assay.json``, which the
validation report (docs/validation/report.py) reads.  Readouts, as fractions:

* extravasated by day 3: extravasated cells / injected;
* micrometastases per extravasated cell: colonies founded (cells that began to
  divide) by day 3 / extravasated by day 3;
* macrometastases per micrometastasis: lesions of >= MACRO_CELLS at day 13 /
  colonies founded;
* overall: macrometastases / injected;
* solitary dormant cells at day 13 / injected.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402

# ASSUMPTION: a macroscopic metastasis holds >= 1e4 cells at day 13 (~0.3 mm
# across at 1e6 cells/mm^3; docs/reference/sources.md, Growth).
MACRO_CELLS = 1e4

#: Luzzi et al. 1998 (Am J Pathol 153:865) [READ-2]
PUBLISHED = {"extravasated_day3": 0.80, "micro_per_extravasated": 1 / 40,
             "macro_per_micro": 1 / 100, "macro_per_injected": 2e-4,
             "dormant_day13": 0.36}


def run(mice: int = 4, cells: float = 1e4, seed: int = 1998, overrides=None):
    import paget
    from paget.config import deep_merge
    over = deep_merge({"cohort": {"patients": mice}, "primary": {"cells": cells}, "seed": seed},
                      overrides or {})
    ds = paget.Simulation.from_scenario("assay_luzzi", over).run()
    return readouts(ds), ds


def readouts(ds) -> dict:
    injected = float(ds.ctc_shed.isel(time=0).sum())
    t = ds.time.values
    by3 = t <= 3.0
    ext3 = float(ds.dtc_extravasated.isel(time=by3).sum())
    micro3 = float(ds.colonies_founded.isel(time=by3).sum())
    final = ds.lesion_cells.values
    keep = ~ds.lesion_dormant.values
    ids, inv = np.unique(ds.lesion_id.values[keep], return_inverse=True)
    sizes = np.bincount(inv, weights=final[keep])
    macro = float((sizes >= MACRO_CELLS).sum())
    founded = float(ds.colonies_founded.sum())
    dormant13 = float(ds.dormant_cells.isel(time=-1).sum())
    arrested = float(ds.ctc_arrested.sum())
    died = float(ds.ctc_died.sum())
    return {"injected": injected, "arrested": arrested, "died_in_circulation": died,
            "extravasated_day3": ext3 / injected, "micro_per_extravasated": micro3 / ext3,
            "macro_per_micro": macro / founded if founded else float("nan"),
            "macro_per_injected": macro / injected, "dormant_day13": dormant13 / injected,
            "counts": {"extravasated_day3": ext3, "micro_day3": micro3, "founded": founded,
                       "macro": macro, "dormant_day13": dormant13}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mice", type=int, default=8)
    ap.add_argument("--cells", type=float, default=1e4)
    ap.add_argument("--seed", type=int, default=1998)
    a = ap.parse_args(argv)
    r, _ = run(a.mice, a.cells, a.seed)
    r = {"mice": a.mice, "cells_per_mouse": a.cells, "seed": a.seed, **r}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "assay.json").write_text(json.dumps(r, indent=1))
    for k, v in PUBLISHED.items():
        print(f"{k:<24} simulated {r[k]:.4g}   published {v:.4g}")


if __name__ == "__main__":
    main()
