"""Calibrate the shared organ parameters on the autopsy table, jointly over five primaries.

Run from the repository root::

    python docs/validation/calibrate.py --fit --patients 40 --rounds 1

What is fitted (see docs/explanation/validation.md for the full procedure):

* shared by every cancer (the body's): the extravasation soil of the 11 organs
  of the autopsy table other than the liver (liver 0.8 is read: Luzzi et al.
  1998, and fixes the scale), one arrest probability per capillary bed, the
  lymph-node arrest, and the seeding by metastases relative to the primary;
* per cancer: the seeding intensity (mapped to ``intravasation.rate``), the
  lymph fraction, and the bone tropism of breast and prostate.

Stage 1 (``--fit``) fits a surrogate of the model: for primary i the
expected number of involving lesions in organ j is

    lambda_ij = A_i s_j tau_ij [ a_ij + B sum_k P1_ik F_kj ],   P1 = 1 - exp(-A s tau a)

where a_i is where a shed cell arrests (the circulation's fate matrix: blood
row of the primary's organ and lymph row mixed by the lymph fraction), s the
soil, tau the tropism, F the blood rows (metastases seeding onwards) and B
their weight; involvement is P_ij = 1 - exp(-lambda_ij).  The objective is the
sum over the 5 primaries of the squared differences of the site shares (12
sites) plus, per primary, the squared difference of the summed shares
(mets per patient over those sites) divided by 12; optimizer:
``scipy.optimize.least_squares`` (trust-region reflective, bounds).  The fitted
soil, arrest and lymph-node arrest are written into the shared-organ block of
every cancer scenario, the lymph fractions and tropism into each scenario.

Stage 2 (``--rounds R``) runs the full stochastic model: each primary's cohort
(``--patients``) to death, untreated; the intensity A_i that the surrogate
needs to reproduce the *simulated* shares is estimated, and the scenario's
``intravasation.rate`` is scaled by A_fit / A_sim.  Repeated R times.

Outputs: ``docs/validation/results/fit.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PRIMARIES, RESULTS, ROOT, SITES, pool_map, run_scenario, targets  # noqa: E402

FIT_ORGANS = [o for o in SITES.values() if o != "liver"]
TROPISM = [("breast", "bone"), ("prostate", "bone")]
LIVER_SOIL = 0.8           # Luzzi et al. 1998 [READ-2]
DEATH_PER_PASS = 0.05      # circulation default (ASSUMPTION, cited there)


def fates(arrest: float, node_arrest: float):
    from paget.body import human_adult
    from paget.plugins.circulation import paget_fate_matrix
    body = human_adult()
    cfg = SimpleNamespace(circulation=SimpleNamespace(arrest=arrest, death_per_pass=DEATH_PER_PASS,
                                                       lymph_node_arrest=node_arrest))
    return body, paget_fate_matrix.__wrapped__(cfg, body, 1.0, 1.0) \
        if hasattr(paget_fate_matrix, "__wrapped__") else paget_fate_matrix(cfg, body, 1.0, 1.0)


def unpack(x):
    n = len(FIT_ORGANS)
    i = 0
    soil = dict(zip(FIT_ORGANS, np.exp(x[i:i + n]))); i += n
    arrest, node_arrest, B = 1 / (1 + np.exp(-x[i])), 1 / (1 + np.exp(-x[i + 1])), np.exp(x[i + 2]); i += 3
    A = np.exp(x[i:i + 5]); i += 5
    lymph = 1 / (1 + np.exp(-x[i:i + 5])); i += 5
    trop = np.exp(x[i:i + len(TROPISM)])
    return soil, arrest, node_arrest, B, A, lymph, trop


def predict(x):
    soil, arrest, node_arrest, B, A, lymph, trop = unpack(x)
    body, fm = fates(arrest, node_arrest)
    n = body.n_organs
    s = np.full(n, 0.1)
    s[body.organ_index("liver")] = LIVER_SOIL
    for o, v in soil.items():
        s[body.organ_index(o)] = min(v, 1.0)
    cols = [body.organ_index(o) for o in SITES.values()]
    P = np.zeros((5, len(cols)))
    for i, (name, (_, organ)) in enumerate(PRIMARIES.items()):
        tau = np.ones(n)
        for (p, o), t in zip(TROPISM, trop):
            if p == name:
                tau[body.organ_index(o)] = t
        st = np.minimum(s * tau, 1.0)
        a = (1 - lymph[i]) * fm.blood[body.organ_index(organ), :n] + lymph[i] * fm.lymph[:n]
        lam1 = A[i] * st * a
        P1 = 1 - np.exp(-lam1)
        P1[body.organ_index(organ)] = 0.0   # the primary itself does not seed onwards here
        lam2 = A[i] * B * st * (P1 @ fm.blood[:, :n])
        P[i] = (1 - np.exp(-(lam1 + lam2)))[cols]
    return P


def residuals(x, T):
    P = predict(x)
    return np.concatenate([(P - T).ravel(), (P.sum(1) - T.sum(1)) / np.sqrt(T.shape[1])])


def x0():
    n = len(FIT_ORGANS)
    return np.concatenate([np.log(np.full(n, 0.1)), [np.log(0.2 / 0.8), 0.0, np.log(0.3)],
                           np.log(np.full(5, 2.0)), np.full(5, -2.0), np.zeros(len(TROPISM))])


def fit(T):
    from scipy.optimize import least_squares
    n = len(FIT_ORGANS)
    lo = np.concatenate([np.full(n, np.log(1e-4)), [-6, -6, np.log(1e-3)], np.full(5, np.log(1e-3)),
                         np.full(5, -8), np.full(len(TROPISM), np.log(0.2))])
    hi = np.concatenate([np.full(n, 0.0), [6, 6, np.log(10)], np.full(5, np.log(1e3)),
                         np.full(5, 3), np.full(len(TROPISM), np.log(50))])
    res = least_squares(residuals, np.clip(x0(), lo + 1e-9, hi - 1e-9), args=(T,), bounds=(lo, hi),
                        method="trf", max_nfev=4000)
    return res


def fit_intensity(x, P_obs, i):
    """The A_i with which the surrogate (all else fixed) reproduces shares P_obs of primary i."""
    from scipy.optimize import minimize_scalar
    k = len(FIT_ORGANS) + 3 + i

    def loss(logA):
        y = x.copy()
        y[k] = logA
        return float(((predict(y)[i] - P_obs) ** 2).sum())
    return float(np.exp(minimize_scalar(loss, bounds=(np.log(1e-4), np.log(1e4)),
                                        method="bounded").x))


# ------------------------------------------------------------- writing values

def _fmt(v: float) -> str:
    return repr(float(f"{v:.3g}"))


def write_defaults(soil, arrest, node_arrest):
    """Rewrite the shared-organ block of every cancer scenario (identical in all)."""
    d = {"default": 0.1, "liver": LIVER_SOIL, **{o: float(min(v, 1.0)) for o, v in soil.items()}}
    for path in (ROOT / "core" / "scenarios").glob("*.toml"):
        s = path.read_text()
        if "# BEGIN SHARED ORGANS" not in s:
            continue
        s = re.sub(r"(\[circulation\]\narrest = ).*?\n(lymph_node_arrest = ).*?\n",
                   lambda m: f"{m.group(1)}{_fmt(arrest)}\n{m.group(2)}{_fmt(node_arrest)}\n", s)
        prob = "probability = { " + ", ".join(f"{k} = {_fmt(v)}" for k, v in d.items()) + " }"
        s = re.sub(r"^probability = \{.*\}$(?=\n# END SHARED ORGANS)", lambda m: prob, s, flags=re.M)
        path.write_text(s)


def write_scenario(name, values: dict):
    p = ROOT / "core" / "scenarios" / f"{name}.toml"
    s = p.read_text()
    for key, v in values.items():
        s = re.sub(rf"^(\w+ = ).*?(  # fit:{key})$", lambda m: m.group(1) + v + m.group(2), s,
                   flags=re.M)
    p.write_text(s)


def scenario_rate(name) -> float:
    import paget
    return paget.Simulation.from_scenario(name).config.intravasation.rate


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", action="store_true", help="stage 1: fit the surrogate, write values")
    ap.add_argument("--rounds", type=int, default=0, help="stage 2: rounds of full-model rate scaling")
    ap.add_argument("--patients", type=int, default=40, help="patients per primary in stage 2")
    ap.add_argument("--seed", type=int, default=2008)
    args = ap.parse_args(argv)
    T, mets = targets()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path = RESULTS / "fit.json"
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    if args.fit:
        res = fit(T)
        soil, arrest, node_arrest, B, A, lymph, trop = unpack(res.x)
        out.update(x=res.x.tolist(), cost=float(res.cost), nfev=int(res.nfev),
                   soil={k: float(v) for k, v in soil.items()}, arrest=float(arrest),
                   lymph_node_arrest=float(node_arrest), B=float(B), A=A.tolist(),
                   lymph_fraction=lymph.tolist(), tropism=trop.tolist(),
                   surrogate_shares=predict(res.x).tolist())
        write_defaults(soil, arrest, node_arrest)
        for i, name in enumerate(PRIMARIES):
            scen = PRIMARIES[name][0]
            vals = {"lymph_fraction": _fmt(lymph[i])}
            for (p, o), t in zip(TROPISM, trop):
                if p == name:
                    vals["tropism"] = f"{{ {o} = {_fmt(t)} }}"
            write_scenario(scen, vals)
        print(f"surrogate fit: cost {res.cost:.4g} after {res.nfev} evaluations")
        print(json.dumps({k: out[k] for k in ("soil", "arrest", "lymph_node_arrest", "B", "A",
                                               "lymph_fraction", "tropism")}, indent=1))
    x = np.array(out["x"])
    for r in range(args.rounds):
        jobs = [(PRIMARIES[p][0], args.patients, args.seed + r, None) for p in PRIMARIES]
        sims = pool_map(run_scenario, jobs)
        log = []
        for i, (name, sim) in enumerate(zip(PRIMARIES, sims)):
            P_obs = np.array([sim["share"][s] for s in SITES])
            a_sim = fit_intensity(x, P_obs, i)
            a_fit = out["A"][i]
            scen = PRIMARIES[name][0]
            old = scenario_rate(scen)
            # damped (square root) to stay stable under the noise of a small cohort
            new = old * float(np.clip(a_fit / a_sim, 1 / 30, 30)) ** 0.5 if a_sim > 0 else old * 5
            write_scenario(scen, {"rate": _fmt(new)})
            log.append(dict(primary=name, rate_before=old, rate_after=float(_fmt(new)),
                            A_fit=a_fit, A_sim=a_sim, mets_sim=sim["mets_mean"],
                            dead=sim["dead"], patients=sim["patients"]))
            print(f"round {r}: {name:<11} rate {old:.3g} -> {new:.3g} (A fit {a_fit:.3g}, "
                  f"sim {a_sim:.3g}; mets/patient {sim['mets_mean']:.2f}; dead {sim['dead']}/{sim['patients']})")
        out.setdefault("rounds", []).append(log)
    out_path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
