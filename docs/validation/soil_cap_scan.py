"""Choose calibrate.SOIL_CAP: leave-one-primary-out prediction by the stage-1 surrogate at each cap.

The soil of an organ is fitted up to ``calibrate.SOIL_CAP`` (its excess over 1
is the colonization efficiency).  For each cap of ``--caps`` and each
calibrated primary, the surrogate (calibrate.fit) is fitted without that row;
the row is then predicted by the surrogate alone (calibrate.predict), as
crossval.py predicts it with the full model: its organ, no tropism, the
training rows' fitted lymph fractions pooled (common.pooled_fraction), and the
intensity that gives its published sites per patient over the compared sites.
Scores as crossval.py's (Spearman rho, pooled R^2, MAE in percentage points),
and the pooled lymph fractions, whose collapse towards 0 marks a fit that fills
the regional nodes by blood.  No stochastic run: a few minutes on one core.

    python docs/validation/soil_cap_scan.py --caps 1 20 100

writes ``docs/validation/results/soil_cap_scan.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibrate  # noqa: E402
from common import PRIMARIES, RESULTS, pooled_fraction, targets  # noqa: E402
from crossval import pooled, scores  # noqa: E402

OUT = RESULTS / "soil_cap_scan.json"


def predict_held_out(x, i: int, lymph_fraction: float, sites: float) -> np.ndarray:
    """Row ``i``'s shares from the surrogate at fit ``x``, with the given lymph
    fraction, no tropism, and the intensity whose compared sites sum to ``sites``."""
    from scipy.optimize import brentq
    n = len(calibrate.FIT_ORGANS)
    k_a, k_l, k_t = n + 2, n + 7, n + 12
    name = list(PRIMARIES)[i]
    y = np.array(x, float)
    y[k_l + i] = np.log(lymph_fraction / (1 - lymph_fraction))
    for t, (p, _) in enumerate(calibrate.TROPISM):
        if p == name:
            y[k_t + t] = 0.0

    def at(log_a):
        y[k_a + i] = log_a
        return calibrate.predict(y)[i]
    log_a = brentq(lambda v: at(v).sum() - sites, np.log(1e-4), np.log(1e4))
    return at(log_a)


def scan(cap: float) -> dict:
    """Held-out and in-sample scores of the surrogate at one cap (calibrate.SOIL_CAP
    is set for the scan and restored after it)."""
    kept, calibrate.SOIL_CAP = calibrate.SOIL_CAP, float(cap)
    try:
        return _scan(cap)
    finally:
        calibrate.SOIL_CAP = kept


def _scan(cap: float) -> dict:
    T, _ = targets()
    sims, folds = [], []
    for i, name in enumerate(PRIMARIES):
        rows = np.ones(len(T))
        rows[i] = 0.0
        x = calibrate.fit(T, rows).x
        lymph = calibrate.unpack(x)[5]
        lf = pooled_fraction(np.delete(lymph, i))
        sim = predict_held_out(x, i, lf, float(T[i].sum()))
        sims.append(sim)
        folds.append({"primary": name, "lymph_fraction": lf, **scores(sim, T[i])})
    full = calibrate.fit(T)
    return {"cap": float(cap), "held_out": pooled(sims, list(T)), "folds": folds,
            "in_sample": pooled(list(calibrate.predict(full.x)), list(T)),
            "soil": {o: float(v) for o, v in calibrate.unpack(full.x)[0].items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--caps", type=float, nargs="+", default=[1.0, 20.0, 100.0])
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    if any(c < 1.0 for c in a.caps):
        ap.error(f"--caps: every cap must be >= 1 (a soil up to 1 is a probability), got {a.caps}")
    t0 = time.time()
    out = []
    for cap in a.caps:
        r = scan(cap)
        out.append(r)
        h = r["held_out"]
        print(f"cap {cap:g}: held out mean rho {h['mean_rho']:.2f}, pooled R^2 "
              f"{h['pooled_r2']:.2f}, MAE {h['mae_pp']:.1f} pp; pooled lymph fractions "
              + ", ".join(f"{f['lymph_fraction']:.2f}" for f in r["folds"]), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"scans": out, "seconds": round(time.time() - t0, 1),
                                 "command": "python docs/validation/soil_cap_scan.py --caps "
                                 + " ".join(f"{c:g}" for c in a.caps)}, indent=1))


if __name__ == "__main__":
    main()
