"""Leave-one-primary-out cross-validation: predict each calibrated primary from a body fitted without it.

Run from the repository root (the committed results; the minutes are in
results/crossval.json)::

    python docs/validation/crossval.py --body full --patients 200 --grid-patients 48
    python docs/validation/crossval.py --body surrogate --patients 200 --grid-patients 4
    python docs/validation/crossval.py --body committed --patients 200
    python docs/validation/report.py --reuse

``--rescore`` scores the saved cohorts again (results/crossval_raw_BODY.json).

A held-out figure of one run carries the noise of its fold fits (each fold's
rounds and level grid are cohorts too) besides the bootstrap errors it reports;
``--replicate`` runs the same cross-validation from another ``--seed`` and keeps
it beside the main run, as a seed replicate (crossval.json's ``replicates``, its
cohorts in results/crossval_raw_BODY_seedN.json; ``--rescore --replicate
--seed N`` scores them again); a new main run drops its body's replicates, which
were of the run it replaces (regenerate.py runs them after it).  The page gives
every replicate's figures, their mean and standard deviation over the seeds,
and the goals judged on that mean::

    python docs/validation/crossval.py --body full --patients 200 --grid-patients 48 --seed 10808 --replicate

For each of the calibrated primaries (common.PRIMARIES; the compared sites and
their organs come from common.SITES, so the script follows the body):

1. **Fit the body without it.**  ``--body full`` (the default): ``--rounds``
   joint rounds of the full model over the four training rows
   (calibrate.full_model_round with ``rows``; ``--round-patients`` each, damping
   ``--damping``), started from the committed body: the shared soil, the
   per-organ arrest, the lymph-node arrest, the transcoelomic exfoliation and
   local extension (switched off where no training row identifies it:
   ``unidentified_off``), the vertebral route's share (from the training rows
   in its territory), the shared grow (fitted through breast's CTC-pinned
   rate; kept when breast is the row held out) and the training rows' own
   rates and lymph fractions, as the committed body was fitted on all five.
   The start carries the held-out row's pull on the shared values; each
   damped round leaves a share (1 - d) of a deviation from the training rows'
   fixed point, so ~(1 - d)^rounds of it remains (2.6 % at the defaults)
   [DERIVED, linearised].  That presumes a fixed point near the start, which
   the rounds do not reach along the shared grow: every fold that fits it
   raised it from the committed 4.38e-6, to 4.6e-6-8.4e-6 after its four rounds
   (seeds 808, 10808 and 20808, the page's seed replicates), so a fold's body
   also carries how far its rounds drifted, which the seed replicates measure.
   The rounds rewrite the scenario files and restore them; the fold's body is
   kept as carcinoma overrides (``body_overrides``).  ``--body surrogate``: the
   stage-1 surrogate of calibrate.py with the held-out row's weight 0 instead
   (no full-model rounds; the shared grow stays the committed one).  Either
   way the typical carcinoma's lymph fraction is the training rows' fitted
   lymph fractions pooled (common.pooled_fraction), as the committed
   ``carcinoma`` pools all five.
2. **Fit the level relation on that body**: ``carcinoma`` run to death at the
   rates of its grid (level.rate_grid: log-spaced from 1/4 of the training
   rows' lowest fitted rate to twice their highest, capped at carcinoma's drain
   cap; or ``--rates``) with its primary in the held-out row's organ
   (``--grid-patients`` times the number of training rows at each rate),
   turned into sites per patient on the table's all-site scale as level.py
   does, with the training rows' compared share.  The organ and the fold's
   body are the prediction's inputs, so this uses none of the held-out row's
   data.  (``--fold-relation training`` averages the curves of the training
   rows' organs instead, as the committed relation averages all five: on the
   surrogate's fold bodies the held-out organ's own level differed from that
   average by up to ~2.6-fold, which dominated the held-out error; on the
   committed body the organs' curves agree within the cohorts' noise.)
3. **Predict the row** through ``carcinoma`` from its organ and published sites
   per patient only: the rate the fold's relation gives for it, a full-model
   cohort of ``--patients`` to death, untreated.

``--body committed`` predicts instead on the shared body as committed and its
committed relation, by giving ``primary.sites_per_patient`` (an in-sample
reference: that body was fitted on all five rows).  Reported per row: Spearman
rho over the compared sites, R^2 (1 - residual / total sum of squares about the
row's mean share), the mean absolute error (percentage points), the liver/lung
ratio and the sites per patient; their noise as bootstrap standard errors,
separately for the simulated cohort (patients resampled) and the autopsy counts
(binomial draws at the table's number of autopsies).  The baseline "copy the
average of the other rows" is scored the same way.  Writes
``docs/validation/results/crossval.json``; ``section`` renders the report's
section from it.
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
from paget.errors import plural  # noqa: E402

from common import (INVOLVED_CELLS, PORTAL, PRIMARIES, RESULTS, ROOT, SITES,  # noqa: E402
                    metastatic_lesions, organ_map, pool_map, pooled_fraction, read_table,
                    run_overrides)

OUT = RESULTS / "crossval.json"
#: the issue's goals (mean rho, pooled R^2, MAE in percentage points, the
#: portal liver/lung floor, the caval ceiling)
GOALS = {"mean_rho": 0.85, "pooled_r2": 0.80, "mae_pp": 5.0, "portal_ratio": 1.5,
         "caval_ratio": 1.2}
BOOT = 300


def involved(ds) -> np.ndarray:
    """(patients, compared sites) booleans: the site holds a metastatic lesion
    of at least INVOLVED_CELLS at the end (as common.involvement counts)."""
    les = metastatic_lesions(ds)
    organs, big = les["organs"], les["cells"] >= INVOLVED_CELLS
    m = np.zeros((ds.sizes["patient"], len(organs)), bool)
    m[les["patient"][big], les["organ"][big]] = True
    return m[:, [organs.index(o) for o in SITES.values()]]


def run_matrix(args) -> dict:
    """A carcinoma cohort run to death; its per-patient involvement and deaths."""
    scenario, patients, seed, overrides = args
    import paget
    ds = paget.Simulation.from_scenario(scenario, run_overrides(patients, seed, overrides)).run()
    return {"matrix": involved(ds).astype(int).tolist(),
            "dead": int(np.isfinite(ds.death_time.values).sum())}


def scores(sim: np.ndarray, pub: np.ndarray) -> dict:
    """Spearman rho, R^2 about the row's mean, MAE (pp), liver/lung, of shares."""
    from scipy.stats import spearmanr
    names = list(SITES)
    li, lu = names.index("liver"), names.index("lung")
    ss_tot = float(((pub - pub.mean()) ** 2).sum())
    rho = spearmanr(sim, pub).statistic if np.ptp(sim) > 0 and np.ptp(pub) > 0 else np.nan
    return {"rho": float(rho), "r2": 1 - float(((sim - pub) ** 2).sum()) / ss_tot,
            "mae_pp": 100 * float(np.abs(sim - pub).mean()),
            "liver_lung": float(sim[li] / sim[lu]) if sim[lu] > 0 else float("nan")}


def pooled(sims: list, pubs: list) -> dict:
    """Scores pooled over the rows: mean rho, R^2 of all shares about their
    mean, MAE (pp) over all shares."""
    s, p = np.concatenate(sims), np.concatenate(pubs)
    rows = [scores(a, b) for a, b in zip(sims, pubs)]
    rhos = [r["rho"] for r in rows if np.isfinite(r["rho"])]
    return {"mean_rho": float(np.mean(rhos)) if rhos else float("nan"),
            "pooled_r2": 1 - float(((s - p) ** 2).sum() / ((p - p.mean()) ** 2).sum()),
            "mae_pp": 100 * float(np.abs(s - p).mean())}


def _draws(rng, matrices, pubs, ns, noise):
    """One bootstrap draw of every row's (simulated, published) shares."""
    sims, ps = [], []
    for m, p, n in zip(matrices, pubs, ns):
        if noise == "cohort" and m is not None:
            sims.append(m[rng.integers(0, len(m), len(m))].mean(0))
        else:
            sims.append(None if m is None else m.mean(0))
        ps.append(rng.binomial(n, p) / n if noise == "autopsy" else p)
    return sims, ps


def evaluate(matrices, pubs, ns, seed=0, baseline=False) -> dict:
    """Scores per row and pooled, with bootstrap SEs for the cohort's and the
    autopsies' noise.  ``baseline``: the prediction of row i is the mean of the
    other rows' published shares (drawn with them), and matrices are ignored."""
    rng = np.random.default_rng(seed)

    def predict(sims, ps):
        if not baseline:
            return sims
        return [np.mean([q for j, q in enumerate(ps) if j != i], axis=0) for i in range(len(ps))]

    def all_scores(sims, ps):
        pr = predict(sims, ps)
        return [scores(a, b) for a, b in zip(pr, ps)], pooled(pr, ps)

    base_rows, base_pool = all_scores(*_draws(rng, matrices, pubs, ns, None))
    out = {"rows": base_rows, "pooled": base_pool, "se": {}}
    for noise in (("autopsy",) if baseline else ("cohort", "autopsy")):
        draws = [all_scores(*_draws(rng, matrices, pubs, ns, noise)) for _ in range(BOOT)]
        out["se"][noise] = {
            "rows": [{k: finite_sd([d[0][i][k] for d in draws]) for k in base_rows[0]}
                     for i in range(len(pubs))],
            "pooled": {k: finite_sd([d[1][k] for d in draws]) for k in base_pool}}
    return out


def finite_mean(values) -> float:
    """The mean of the finite values (nan if there is none)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def finite_sd(values) -> float:
    """The sample standard deviation of the finite values: nan where a score is
    undefined in (nearly) every draw or seed."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def fold_body(held_out: int) -> tuple[dict, dict]:
    """The body fitted by the surrogate without row ``held_out``: (carcinoma
    overrides, the fitted values)."""
    import calibrate
    from common import targets
    T, _ = targets()
    rows = np.ones(len(T))
    rows[held_out] = 0.0
    res = calibrate.fit(T, rows)
    soil, arrest, node_arrest, _, _, lymph, _ = calibrate.unpack(res.x)
    prob, _ = calibrate.split_soil(soil)
    # every fitted organ's efficiency, 1 included: merged over carcinoma's
    # committed map, an organ left out would keep the committed value
    eff = {"default": 1.0, **{o: float(max(v, 1.0)) for o, v in soil.items()}}
    arrest_map = {"default": float(arrest), **{o: float(arrest) for o in calibrate.ARREST_ORGANS}}
    # the typical carcinoma's lymph fraction, pooled over the training rows only
    # (as calibrate.write_pooled_lymph pools the committed scenarios' for carcinoma)
    lymph_fraction = pooled_fraction(np.delete(lymph, held_out))
    over = {"extravasation": {"probability": prob},
            "colonization": {"fate": {"efficiency": eff}},
            "circulation": {"arrest": arrest_map, "lymph_node_arrest": float(node_arrest)},
            "intravasation": {"lymph_fraction": lymph_fraction},
            **unidentified_off([n for k, n in enumerate(PRIMARIES) if k != held_out])}
    return over, {"soil": prob, "efficiency": eff, "arrest": float(arrest),
                  "lymph_node_arrest": float(node_arrest), "lymph_fraction": lymph_fraction,
                  "cost": float(res.cost)}


def unidentified_off(training) -> dict:
    """Overrides that switch off a route whose parameter no training row
    identifies: the local extension (calibrate.adjacent_cells) where no training
    row has a neighbouring structure among the compared sites (breast held out),
    so that the committed value, fitted on the held-out row, does not carry over."""
    import calibrate
    from paget.plugins.transcoelomic import ADJACENT
    if calibrate.adjacent_cells(list(training), list(SITES)):
        return {}
    return {"transcoelomic": {"extension": {t: 0.0 for targets in ADJACENT.values()
                                            for t in targets}}}


def shared_block_texts() -> dict[Path, str]:
    """The texts of the scenario files holding the shared block (and the
    calibrated rows' own values), to restore after a full-model fold."""
    scenarios = ROOT / "core" / "scenarios"
    return {f: f.read_text() for f in sorted(scenarios.glob("*.toml"))
            if "# BEGIN SHARED ORGANS" in f.read_text()}


def body_overrides(config) -> dict:
    """A carcinoma configuration's shared body (and typical lymph fraction) as
    overrides: what a full-model fold fitted, to be run on the committed files."""
    import calibrate
    fate, dormancy = config.colonization.fate, config.colonization.dormancy
    prob, eff = organ_map(config.extravasation.probability), organ_map(fate.efficiency)
    # every organ's efficiency named: merged over the committed map, an organ
    # whose soil fell below 1 (no entry) would keep its committed efficiency
    eff = {**{o: eff.get("default", 1.0) for o in prob}, **eff}
    return {"extravasation": {"probability": prob},
            "colonization": {"fate": {"die": float(fate.die), "dormant": float(fate.dormant),
                                      "grow": float(fate.grow), "efficiency": eff},
                             # the rounds move the reactivation with grow (calibrate.
                             # write_defaults): without it, the fold's grow would run
                             # with the committed body's reactivation
                             "dormancy": {"reactivation": float(dormancy.reactivation),
                                          "death": float(dormancy.death)}},
            "circulation": {"arrest": organ_map(config.circulation.arrest),
                            "lymph_node_arrest": calibrate.station_arrest(
                                config.circulation.lymph_node_arrest)},
            "transcoelomic": {"exfoliation": float(config.transcoelomic.exfoliation),
                              "extension": dict(config.transcoelomic.extension)},
            "body": {"vertebral_share": float(config.body.vertebral_share)},
            "intravasation": {"lymph_fraction": float(config.intravasation.lymph_fraction)}}


def full_fold(held_out: str, rounds: int, patients: int, seed: int, damping: float):
    """The body fitted by the full model without row ``held_out``: ``rounds``
    joint rounds of calibrate.full_model_round over the training rows, started
    from the committed body, then carcinoma's lymph fraction pooled over the
    training rows.  The rounds rewrite the scenario files; they are restored
    before returning, also on error.  Returns (carcinoma overrides, the log)."""
    import calibrate
    import paget
    texts = shared_block_texts()
    training = [n for n in PRIMARIES if n != held_out]
    try:
        log = [calibrate.full_model_round(patients, seed + r, damping, joint=True, rows=training)
               for r in range(rounds)]
        calibrate.write_pooled_lymph(training)
        fitted = paget.Simulation.from_scenario("carcinoma", unidentified_off(training)).config
        over = body_overrides(fitted)
        rates = {n: calibrate.scenario_rate(PRIMARIES[n][0]) for n in training}
    finally:
        for f, text in texts.items():
            f.write_text(text)
    # the overrides on the committed files give the fold's configuration exactly
    again = paget.Simulation.from_scenario("carcinoma", over).config
    if body_overrides(again) != over:
        raise RuntimeError("the fold's body overrides do not reproduce its carcinoma scenario")
    return over, {"rounds": log, "training_rates": rates, **over}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=40, help="patients of each prediction")
    ap.add_argument("--grid-patients", type=int, default=4,
                    help="patients per organ and rate of each fold's level relation")
    ap.add_argument("--rates", type=float, nargs="+", default=None,
                    help="the shedding rates of every fold's level relation (default: each "
                         "fold's level.rate_grid over its training rows' rates on its body)")
    ap.add_argument("--fold-relation", choices=("organ", "training"), default="organ",
                    help="organ: each fold's level relation from the held-out organ's own "
                         "curve on the fold's body (grid patients x the training rows per "
                         "rate); training: averaged over the training rows' organs")
    ap.add_argument("--body", choices=("full", "surrogate", "committed"), default="full",
                    help="full: each fold's body fitted without its row by full-model joint "
                         "rounds (the cross-validation); surrogate: by the stage-1 surrogate; "
                         "committed: the shared body as committed (in-sample)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="full: joint rounds per fold, from the committed body")
    ap.add_argument("--round-patients", type=int, default=100,
                    help="full: patients per training row in each round")
    ap.add_argument("--damping", type=float, default=0.6, help="full: the rounds' damping")
    ap.add_argument("--seed", type=int, default=808)
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--rescore", action="store_true",
                    help="score the runs saved by the last run (crossval_raw_BODY.json) again")
    ap.add_argument("--replicate", action="store_true",
                    help="keep this run as a seed replicate beside the main run (its --seed "
                         "must differ from the main run's); with --rescore, score that "
                         "replicate's saved runs again")
    a = ap.parse_args(argv)
    if a.replicate:
        main_run = (json.loads(a.out.read_text()) if a.out.exists() else {}).get(
            "runs", {}).get(a.body)
        if main_run is not None and main_run["seed"] == a.seed:
            ap.error(f"--replicate: seed {a.seed} is the main {a.body} run's; give another "
                     "--seed")
    if a.rescore:
        raw = json.loads(raw_path(a.out, a.body, a.seed if a.replicate else None).read_text())
        a.seed = raw.get("seed", a.seed)
        a.fold_relation = raw.get("fold_relation", "training")
        a.patients = len(raw["runs"][0]["matrix"])
        for k in ("grid_patients", "rates", "rounds", "round_patients", "damping"):
            setattr(a, k, raw.get(k, getattr(a, k)))
        return finish(a, raw["folds"], raw["runs"], raw["seconds"], raw["command"])
    import calibrate
    import level
    from paget.config import deep_merge
    from paget.plugins.level import rate_for_sites
    table = read_table()
    names = list(PRIMARIES)
    t0 = time.time()
    folds, jobs = [], []
    for i, name in enumerate(names):
        organ, spp = PRIMARIES[name][1], table[name]["mets_per_primary"]
        training = [n for n in names if n != name]
        if a.body == "committed":
            over = {"primary": {"organ": organ, "sites_per_patient": spp}}
            share = level.compared_share()
            from paget.plugins.level import RATES, SITES_PER_PATIENT
            rel, rate = (RATES, SITES_PER_PATIENT), rate_for_sites(spp)[0]
            fitted = {}
        else:
            if a.body == "full":
                body, fitted = full_fold(name, a.rounds, a.round_patients,
                                         a.seed + 1000 * (i + 1), a.damping)
            else:
                body, fitted = fold_body(i)
            share = level.compared_share(training)
            # the held-out organ alone (as many patients per rate as the training
            # organs together), or each training row's organ
            organs, n = (([organ], a.grid_patients * len(training)) if a.fold_relation == "organ"
                         else ([PRIMARIES[t][1] for t in training], a.grid_patients))
            if a.rates is not None:
                rates = list(a.rates)
            elif a.body == "full":
                rates = list(level.rate_grid(fitted["training_rates"].values(), body))
            else:
                rates = list(level.rate_grid([calibrate.scenario_rate(PRIMARIES[t][0])
                                              for t in training], body))
            S = level.grid(organs, rates, n, a.seed + 100 * (i + 1), body=body,
                           processes=a.processes)
            rel = level.relation(rates, S.mean(axis=0), share)
            fitted["grid_rates"] = rates
            rate = rate_for_sites(spp, relation=rel)[0]
            fitted["grid_sites"] = S.tolist()
            over = deep_merge(body, {"primary": {"organ": organ, "sites_per_patient": None},
                                     "intravasation": {"rate": rate}})
        folds.append({"primary": name, "organ": organ, "sites_per_patient_published": spp,
                      "rate": rate, "clipped": spp > rel[1][-1], "compared_share": share,
                      "relation": {"rates": list(rel[0]), "sites_per_patient": list(rel[1])},
                      "body": fitted})
        jobs.append(("carcinoma", a.patients, a.seed, over))
        print(f"{name}: rate {rate:.3g} for {spp:.2f} sites per patient", flush=True)
    runs = pool_map(run_matrix, jobs, a.processes)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    # to rescore without rerunning
    raw = raw_path(a.out, a.body, a.seed if a.replicate else None)
    command = "python docs/validation/crossval.py " + " ".join(argv or sys.argv[1:])
    raw.write_text(json.dumps({"folds": folds, "runs": runs, "command": command,
                               "seed": a.seed,
                               "fold_relation": a.fold_relation,
                               "grid_patients": a.grid_patients,
                               "rates": None if a.rates is None else list(a.rates),
                               "rounds": a.rounds,
                               "round_patients": a.round_patients, "damping": a.damping,
                               "seconds": round(time.time() - t0, 1)}))
    finish(a, folds, runs, time.time() - t0, command)


def raw_path(out: Path, body: str, seed: int | None = None) -> Path:
    """Where a run's cohorts are kept for ``--rescore``: the main run's, or
    (``seed`` given) a seed replicate's."""
    return out.with_name(f"crossval_raw_{body}.json" if seed is None
                         else f"crossval_raw_{body}_seed{seed}.json")


def finish(a, folds, runs, seconds, command):
    """Score the predictions and write crossval.json (and print the section)."""
    table = read_table()
    names = list(PRIMARIES)
    mats = [np.array(r["matrix"], float) for r in runs]
    pubs = [np.array([table[n][s] / 100 for s in SITES]) for n in names]
    ns = [int(table[n]["n_autopsies"]) for n in names]
    model = evaluate(mats, pubs, ns, seed=a.seed)
    base = evaluate([None] * len(names), pubs, ns, seed=a.seed, baseline=True)
    for f, m, r in zip(folds, mats, runs):
        f.update(dead=r["dead"], patients=len(m), shares=dict(zip(SITES, m.mean(0).tolist())),
                 compared_sites_mean=float(m.sum(1).mean()),
                 compared_sites_se=float(m.sum(1).std(ddof=1) / np.sqrt(len(m))),
                 published_compared_sites=float(sum(table[f["primary"]][s] for s in SITES) / 100))
    out = {"body": a.body, "patients": a.patients, "grid_patients": a.grid_patients,
           **({"rounds": a.rounds, "round_patients": a.round_patients, "damping": a.damping}
              if a.body == "full" else {}),
           "fold_relation": a.fold_relation,
           "rates": None if a.rates is None else list(a.rates), "seed": a.seed,
           "sites": list(SITES), "folds": folds,
           "model": model, "baseline": base, "goals": GOALS,
           "seconds": round(seconds, 1),
           # the command that makes the committed file: where a run wrote is not part of it
           "command": re.sub(r" --out(=| )\S+", "", command)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(a.out.read_text()) if a.out.exists() else {}
    saved = saved if "runs" in saved else {"runs": {}}
    if a.replicate:
        saved.setdefault("replicates", {}).setdefault(a.body, {})[str(a.seed)] = out
    else:
        if not a.rescore:
            # a new main run is another body's, or another command's: its
            # replicates were of the run it replaces, so they go with it
            for seed in saved.get("replicates", {}).pop(a.body, {}):
                raw_path(a.out, a.body, int(seed)).unlink(missing_ok=True)
        saved["runs"][a.body] = out
    a.out.write_text(json.dumps(saved, indent=1))
    print("\n".join(section(saved)))


# ------------------------------------------------------------------ the page

def _pm(v, se_c=None, se_a=None, fmt="{:.2f}") -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    s = fmt.format(v)
    extra = [f"+-{fmt.format(se)} {w}" for se, w in ((se_c, "cohort"), (se_a, "autopsy"))
             if se is not None and np.isfinite(se)]
    return s + (f" ({', '.join(extra)})" if extra else "")


def goals_met(run) -> list[tuple[str, bool]]:
    g, pool = run["goals"], run["model"]["pooled"]
    rows = run["model"]["rows"]
    portal = [(f["primary"], r["liver_lung"]) for f, r in zip(run["folds"], rows)
              if f["primary"] in PORTAL]
    caval = [(f["primary"], r["liver_lung"]) for f, r in zip(run["folds"], rows)
             if f["primary"] not in PORTAL]
    return [(f"mean rho >= {g['mean_rho']}: {pool['mean_rho']:.2f}", pool["mean_rho"] >= g["mean_rho"]),
            (f"pooled R^2 >= {g['pooled_r2']}: {pool['pooled_r2']:.2f}", pool["pooled_r2"] >= g["pooled_r2"]),
            (f"MAE <= {g['mae_pp']:g} pp: {pool['mae_pp']:.1f} pp", pool["mae_pp"] <= g["mae_pp"]),
            ("portal liver/lung >= {}: {}".format(g["portal_ratio"], ", ".join(
                f"{p} {v:.2f}" for p, v in portal)),
             all(np.isfinite(v) and v >= g["portal_ratio"] for _, v in portal)),
            ("caval liver/lung < {}: {}".format(g["caval_ratio"], ", ".join(
                f"{p} {v:.2f}" for p, v in caval)),
             all(np.isfinite(v) and v < g["caval_ratio"] for _, v in caval))]


def goals_text(run) -> str:
    """Each goal with its value and whether it is met, as the page states them."""
    return "; ".join(f"{text} **{'met' if ok else 'not met'}**" for text, ok in goals_met(run))


def published_ratio(row: dict) -> tuple[float, float]:
    """The published liver/lung ratio and its binomial standard error (delta
    method on the log ratio, the two shares taken as independent)."""
    n, pl, pu = row["n_autopsies"], row["liver"] / 100, row["lung"] / 100
    r = pl / pu
    return r, r * float(np.sqrt((1 - pl) / (n * pl) + (1 - pu) / (n * pu)))


def section(saved: dict) -> list[str]:
    """The validation page's cross-validation section, from crossval.json."""
    table = read_table()
    L = ["## Leave-one-primary-out cross-validation\n"]
    w = L.append
    w("Can the shared body predict a primary it was not fitted to? For each calibrated "
      "primary the body is fitted without it and the primary is predicted through the generic "
      "`carcinoma` scenario from its organ and its published sites per patient only "
      "(`docs/validation/crossval.py`, whose docstring gives the procedure; "
      "`results/crossval.json`). Sites compared: " + ", ".join(saved["runs"][next(iter(
          saved["runs"]))]["sites"]) + ". Noise: bootstrap standard errors, of the simulated "
      "cohort (patients resampled) and of the autopsy counts (binomial at the table's number "
      "of autopsies). Baseline: copying the average of the other rows' published shares. "
      "Goals (issue 22): mean rho >= 0.85, pooled R^2 >= 0.80, mean absolute error <= 5 "
      "percentage points, liver/lung >= 1.5 for portal-drained primaries and < 1.2 for caval "
      "ones.\n")
    labels = {"full": "Held out (each fold's body fitted by full-model joint rounds without "
                      "the row; its level relation fitted on that body)",
              "surrogate": "Held out, surrogate folds (each fold's body fitted by the stage-1 "
                           "surrogate without the row; its level relation fitted on that body)",
              "committed": "In-sample reference (the committed body, fitted on all rows, and "
                           "its committed level relation; `primary.sites_per_patient` given)"}
    for key in ("full", "surrogate", "committed"):
        run = saved["runs"].get(key)
        if run is None:
            continue
        m, b = run["model"], run["baseline"]
        sc, sa, ba = m["se"]["cohort"], m["se"]["autopsy"], b["se"]["autopsy"]
        w(f"### {labels[key]}\n")
        w(f"`{run['command']}`: {run['patients']} patients per prediction"
          + ((f", each fold's level relation from the held-out organ's own curve on the "
              f"fold's body, {run['grid_patients'] * (len(run['folds']) - 1)} patients per rate"
              if run.get("fold_relation", "training") == "organ" else
              f", {run['grid_patients']} per organ and rate in each fold's level relation "
              "(the training rows' organs)")
             + (f" (rates {', '.join(f'{r:g}' for r in run['rates'])} CTC per day per "
                "cell^(2/3))" if run.get("rates") else
                " (rates: each fold's log-spaced grid from 1/4 of its training rows' lowest "
                "rate to twice their highest, capped at carcinoma's drain cap)")
             if key != "committed" else "")
          + (f"; {run['rounds']} joint rounds of {run['round_patients']} patients per "
             f"training row per fold, damping {run['damping']:g}" if key == "full" else "")
          + f"; {plural(round(run['seconds'] / 60), 'minute')} on the 2-core development "
            f"machine (shared with other jobs).\n")
        w("| primary | organ | rate, CTC/day per cell^(2/3) | rho | R^2 | MAE, pp | liver/lung (published) "
          "| sites per patient, compared sites (published) | baseline rho | baseline R^2 | "
          "baseline MAE, pp |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for i, f in enumerate(run["folds"]):
            r, rb = m["rows"][i], b["rows"][i]
            pub_ratio, pub_se = published_ratio(table[f["primary"]])
            w(f"| {f['primary']} | {f['organ']} | {f['rate']:.3g}{' (clipped)' if f['clipped'] else ''} | "
              f"{_pm(r['rho'], sc['rows'][i]['rho'], sa['rows'][i]['rho'])} | "
              f"{_pm(r['r2'], sc['rows'][i]['r2'], sa['rows'][i]['r2'])} | "
              f"{_pm(r['mae_pp'], sc['rows'][i]['mae_pp'], sa['rows'][i]['mae_pp'], '{:.1f}')} | "
              f"{_pm(r['liver_lung'], sc['rows'][i]['liver_lung'])} "
              f"({_pm(pub_ratio, None, pub_se)}) | "
              f"{_pm(f['compared_sites_mean'], f['compared_sites_se'])} "
              f"({f['published_compared_sites']:.2f}; all sites {f['sites_per_patient_published']:.2f}) | "
              f"{_pm(rb['rho'], None, ba['rows'][i]['rho'])} | {_pm(rb['r2'], None, ba['rows'][i]['r2'])} | "
              f"{_pm(rb['mae_pp'], None, ba['rows'][i]['mae_pp'], '{:.1f}')} |")
        p, pb = m["pooled"], b["pooled"]
        w(f"\nPooled: mean rho {_pm(p['mean_rho'], sc['pooled']['mean_rho'], sa['pooled']['mean_rho'])}, "
          f"R^2 {_pm(p['pooled_r2'], sc['pooled']['pooled_r2'], sa['pooled']['pooled_r2'])}, "
          f"MAE {_pm(p['mae_pp'], sc['pooled']['mae_pp'], sa['pooled']['mae_pp'], '{:.1f}')} pp; "
          f"baseline mean rho {_pm(pb['mean_rho'], None, ba['pooled']['mean_rho'])}, "
          f"R^2 {_pm(pb['pooled_r2'], None, ba['pooled']['pooled_r2'])}, "
          f"MAE {_pm(pb['mae_pp'], None, ba['pooled']['mae_pp'], '{:.1f}')} pp.\n")
        w("Goals: " + goals_text(run)
          + f". The model {'beats' if p['mae_pp'] < pb['mae_pp'] else 'does not beat'} the "
          f"baseline on MAE, {'beats' if p['pooled_r2'] > pb['pooled_r2'] else 'does not beat'} "
          f"it on R^2 and {'beats' if p['mean_rho'] > pb['mean_rho'] else 'does not beat'} it "
          f"on rho.\n")
        L.extend(replicate_lines(saved, key))
    return L


def seed_runs(saved: dict, body: str) -> list[dict]:
    """The main run of ``body`` and its seed replicates, by seed."""
    runs = [saved["runs"][body], *saved.get("replicates", {}).get(body, {}).values()]
    return sorted(runs, key=lambda r: r["seed"])


def over_seeds(runs: list[dict]) -> dict:
    """The held-out figures the page gives per seed, their mean and standard
    deviation over the seeds: the pooled ones, and each row's rho and liver/lung."""
    def stat(values):
        return {"mean": finite_mean(values), "sd": finite_sd(values)}
    pooled = {k: stat([r["model"]["pooled"][k] for r in runs])
              for k in ("mean_rho", "pooled_r2", "mae_pp")}
    rows = [{k: stat([r["model"]["rows"][i][k] for r in runs]) for k in ("rho", "liver_lung")}
            for i in range(len(runs[0]["folds"]))]
    return {"pooled": pooled, "rows": rows}


def replicate_lines(saved: dict, body: str) -> list[str]:
    """The table of a body's seed replicates, their mean and the goals on it
    (nothing while the main run has no replicate)."""
    if not saved.get("replicates", {}).get(body) or body not in saved["runs"]:
        return []
    runs = seed_runs(saved, body)
    names = [f["primary"] for f in runs[0]["folds"]]
    if any([f["primary"] for f in r["folds"]] != names for r in runs):
        raise ValueError("crossval.json: the seed replicates hold other rows than the main run")
    stats = over_seeds(runs)
    main_seed = saved["runs"][body]["seed"]
    L = [f"**Seed replicates.** The same cross-validation from {plural(len(runs), 'seed')} "
         "(its fold rounds, level grids and predictions drawn anew; the commands differ only "
         f"in `--seed`, the main run above is seed {main_seed}): the spread between seeds is "
         "the noise of the fold fits as well as of the cohorts, which the bootstrap errors "
         "above leave out.\n",
         "| seed | " + " | ".join(f"{n} rho" for n in names) + " | mean rho | pooled R^2 | "
         "MAE, pp | " + " | ".join(f"{n} liver/lung" for n in names) + " | minutes |",
         "|---" * (2 * len(names) + 5) + "|"]
    for r in runs:
        m = r["model"]
        L.append(f"| {r['seed']}{' (main)' if r['seed'] == main_seed else ''} | "
                 + " | ".join(_pm(x["rho"]) for x in m["rows"])
                 + f" | {_pm(m['pooled']['mean_rho'])} | {_pm(m['pooled']['pooled_r2'])} | "
                 f"{_pm(m['pooled']['mae_pp'], fmt='{:.1f}')} | "
                 + " | ".join(_pm(x["liver_lung"]) for x in m["rows"])
                 + f" | {round(r['seconds'] / 60)} |")

    def ms(x, fmt="{:.2f}"):
        return f"{_pm(x['mean'], fmt=fmt)} +- {_pm(x['sd'], fmt=fmt)}"
    p = stats["pooled"]
    L.append(f"| mean +- sd | " + " | ".join(ms(x["rho"]) for x in stats["rows"])
             + f" | {ms(p['mean_rho'])} | {ms(p['pooled_r2'])} | {ms(p['mae_pp'], '{:.1f}')} | "
             + " | ".join(ms(x["liver_lung"]) for x in stats["rows"]) + " | |")
    mean_run = {"goals": runs[0]["goals"], "folds": runs[0]["folds"],
                "model": {"pooled": {k: v["mean"] for k, v in p.items()},
                          "rows": [{"liver_lung": x["liver_lung"]["mean"]}
                                   for x in stats["rows"]]}}
    L.append("\nGoals on the mean over the seeds: " + goals_text(mean_run) + ".")
    goal = runs[0]["goals"]["mean_rho"]
    rhos = {n: [r["model"]["rows"][i]["rho"] for r in runs] for i, n in enumerate(names)}
    below = [n for n, v in rhos.items() if max(v) < goal]
    across = [n for n, v in rhos.items() if min(v) < goal <= max(v)]
    L.append(f"Rows whose rho is below {goal} from every seed (a miss of the model, not "
             f"of the seed): {', '.join(below) or 'none'}; on either side of it by seed: "
             f"{', '.join(across) or 'none'}.\n")
    grows = [[fold_grow(f) for f in r["folds"]] for r in runs]
    if all(g is not None for row in grows for g in row):
        L.append("Where the seeds part: the shared colonization probability "
                 "(`colonization.fate.grow`) each fold's rounds ended at, started from the "
                 "committed body's (a fold holding breast out keeps it: no training row pins "
                 "it):\n")
        L.append("| seed | " + " | ".join(f"{n} held out" for n in names) + " |")
        L.append("|---" * (len(names) + 1) + "|")
        L.extend(f"| {r['seed']} | " + " | ".join(f"{g:.3g}" for g in row) + " |"
                 for r, row in zip(runs, grows))
        L.append("")
    return L


def fold_grow(fold: dict) -> float | None:
    """The shared grow a full-model fold's rounds ended at (None for a fold
    without a fitted body)."""
    try:
        return float(fold["body"]["colonization"]["fate"]["grow"])
    except (KeyError, TypeError):
        return None


if __name__ == "__main__":
    main()
