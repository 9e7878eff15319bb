"""Figure 9: small runs per second through ``paget.simulate`` and through a sweep, and a sweep's efficiency on K ranks.

:func:`simulate_figures` times, in this process and interleaved (so a change
in the machine's speed reaches both alike), ``runs`` small runs through
:func:`paget.simulate` and the same configurations through
``paget.Simulation.from_scenario(...).run()``: the ratio is simulate's
overhead (target <= 10 %).  It also times the same patients as one cohort of
``runs x patients`` patients: a run's fixed cost per step (the hooks, the
records) is paid once there, so many small runs cost more than one large
cohort, whatever the wrapper does.

:func:`sweep_figures` launches ``mpiexec -n K python -m benchmarks.explore
SAMPLES REPLICATES PATIENTS YEARS`` for each K; each times
:func:`paget.explore.sweep.run_design` in-process (start-up excluded, no
store) and prints one JSON line.  Efficiency on K ranks = time(1) / (K
time(K)).
"""
from __future__ import annotations

import json
import sys
import time

from .cohort import _launch, mpiexec_path

#: the parameter varied: the shedding rate, over the default scenario's range
PARAMETER = "intravasation.rate"
LOW, HIGH = 0.003, 0.03


def _base(patients: int, years: float) -> dict:
    return {"cohort": {"patients": patients, "years": years}}


def _values(n: int) -> list[float]:
    import numpy as np
    return list(np.geomspace(LOW, HIGH, n))


def simulate_figures(runs: int, patients: int, years: float, rounds: int = 2,
                     log=lambda msg: None) -> dict:
    """Runs per second (one core) through simulate and directly, simulate's overhead,
    and the same patients as one cohort; each the best of ``rounds`` interleaved rounds."""
    import os

    import paget
    from paget.config import deep_merge
    base = _base(patients, years)
    values = _values(runs)
    paget.simulate({PARAMETER: values[0]}, seed=0, base=base)     # imports, caches
    one_cfg = deep_merge(base, {"cohort": {"patients": runs * patients}, "seed": 0})
    t_sim, t_direct, t_one = [], [], []
    load = os.getloadavg()[0]
    for rnd in range(rounds):
        log(f"round {rnd + 1}/{rounds}: {runs} runs through simulate, {runs} direct, one "
            f"cohort of {runs * patients} patients")
        a = b = 0.0
        for i, v in enumerate(values):
            t0 = time.perf_counter()
            paget.simulate({PARAMETER: v}, seed=i, base=base)
            t1 = time.perf_counter()
            cfg = deep_merge(base, {"intravasation": {"rate": float(v)}, "seed": i})
            paget.Simulation.from_scenario("default", cfg).run()
            a += t1 - t0
            b += time.perf_counter() - t1
        t0 = time.perf_counter()
        paget.Simulation.from_scenario("default", one_cfg).run()
        t_one.append(time.perf_counter() - t0)
        t_sim.append(a)
        t_direct.append(b)
    sim, direct, one = min(t_sim), min(t_direct), min(t_one)
    return {"explore_runs": runs, "explore_patients": patients, "explore_years": years,
            "explore_rounds": rounds, "explore_load_average": load,
            "simulate_runs_per_s": runs / sim, "direct_runs_per_s": runs / direct,
            "simulate_overhead": sum(t_sim) / sum(t_direct) - 1.0,
            "one_cohort_seconds": one, "runs_seconds": sim,
            "runs_vs_one_cohort": sim / one}


def sweep_figures(ranks: list[int], samples: int, replicates: int, patients: int,
                  years: float, timeout: float = 3600, log=lambda msg: None) -> dict:
    """Runs per second through run_design on each rank count, and the efficiency."""
    mpiexec = mpiexec_path()
    import os
    out: dict = {"sweep_samples": samples, "sweep_replicates": replicates,
                 "sweep_errors": {}, "sweep_load_average": os.getloadavg()[0]}
    args = [str(samples), str(replicates), str(patients), str(years)]
    for k in ranks:
        log(f"sweep of {samples} samples x {replicates} replicates, {k} rank(s)")
        cmd = [sys.executable, "-m", "benchmarks.explore", *args]
        if k > 1 or mpiexec is not None:
            if mpiexec is None:
                out["sweep_errors"][str(k)] = "mpiexec not found"
                continue
            cmd = [mpiexec, "-n", str(k)] + cmd
        wall, err, stdout = _launch(cmd, timeout)
        if err:
            out["sweep_errors"][str(k)] = err
            continue
        got = json.loads(stdout.strip().splitlines()[-1])
        out[f"sweep_seconds_{k}_rank" + ("" if k == 1 else "s")] = got["seconds"]
    one = out.get("sweep_seconds_1_rank")
    runs = samples * replicates
    if one:
        out["sweep_runs_per_s_per_core"] = runs / one
    for k in ranks:
        tk = out.get(f"sweep_seconds_{k}_ranks")
        if k > 1 and one and tk:
            out[f"sweep_runs_per_s_{k}_ranks"] = runs / tk
            out[f"sweep_efficiency_{k}_ranks"] = one / (k * tk)
    return out


def figures(quick: bool, ranks: list[int], log=lambda msg: None) -> dict:
    """Figure 9 of ``python -m benchmarks``."""
    runs, patients, years = (8, 5, 1.0) if quick else (16, 5, 2.0)
    res = simulate_figures(runs, patients, years, log=log)
    res.update(sweep_figures(ranks, 8 if quick else 16, 2, patients, years, log=log))
    return res


def section(res: dict):
    """The report's section of figure 9."""
    from .report import Section, fmt_s, met_text, target_status
    s = Section(f"9. Exploration: runs of {res['explore_patients']} patients x "
                f"{res['explore_years']:g} years (default scenario, {PARAMETER} varied)",
                ["figure", "value", "target", "status"])
    text, ok = target_status("simulate_overhead", res.get("simulate_overhead"))
    s.rows.append(["paget.simulate, runs/s (one core)", f"{res['simulate_runs_per_s']:.3g}",
                   "", ""])
    s.rows.append(["Simulation(...).run(), runs/s (one core)",
                   f"{res['direct_runs_per_s']:.3g}", "", ""])
    s.rows.append(["simulate_overhead", f"{res['simulate_overhead']:+.1%}", text, met_text(ok)])
    s.rows.append([f"{res['explore_runs']} runs vs one cohort of "
                   f"{res['explore_runs'] * res['explore_patients']} patients",
                   f"{fmt_s(res['runs_seconds'])} vs {fmt_s(res['one_cohort_seconds'])} "
                   f"({res['runs_vs_one_cohort']:.2f}x)", "", ""])
    if res.get("sweep_runs_per_s_per_core"):
        s.rows.append([f"sweep ({res['sweep_samples']} samples x {res['sweep_replicates']} "
                       f"replicates), runs/s on 1 rank",
                       f"{res['sweep_runs_per_s_per_core']:.3g}", "", ""])
    for key in sorted(k for k in res if k.startswith("sweep_efficiency_")):
        kk = key.split("_")[2]
        s.rows.append([f"sweep on {kk} ranks: runs/s, efficiency",
                       f"{res[f'sweep_runs_per_s_{kk}_ranks']:.3g}, {res[key]:.0%}", "", ""])
    for k, err in res.get("sweep_errors", {}).items():
        s.notes.append(f"sweep on {k} rank(s): {err}")
    s.notes.append("overhead: simulate against Simulation.from_scenario(...).run() of the same "
                   "configuration, interleaved; the one-cohort line shows a run's fixed cost "
                   "per step, paid once per run")
    s.notes.append("sweep times: run_design in-process under mpiexec -n K (start-up "
                   "excluded); efficiency = time(1 rank) / (K x time(K ranks))")
    s.notes.append(f"load average (1 min) before the runs {res['explore_load_average']:.2f}, "
                   f"before the sweeps {res['sweep_load_average']:.2f}: other work on the "
                   f"machine lowers the efficiency")
    return s


def main(argv: list[str]) -> None:
    """Under ``mpiexec -n K``: time one sweep in-process; rank 0 prints a JSON line."""
    from mpi4py import MPI

    from paget.explore.sweep import run_design
    samples, replicates, patients = int(argv[0]), int(argv[1]), int(argv[2])
    years = float(argv[3])
    comm = MPI.COMM_WORLD
    comm = comm if comm.Get_size() > 1 else None
    import paget
    paget.simulate({PARAMETER: LOW}, seed=0, base=_base(patients, years))   # warm
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    run_design({PARAMETER: _values(samples)}, base=_base(patients, years),
               replicates=replicates, seed=1, comm=comm, progress=False)
    seconds = time.perf_counter() - t0
    if comm is None or comm.Get_rank() == 0:
        print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    if len(sys.argv) == 1:   # the figure alone: python -m benchmarks.explore
        res = figures(quick=True, ranks=[1, 2],
                      log=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps(res, indent=1, default=float))
    else:
        main(sys.argv[1:])
