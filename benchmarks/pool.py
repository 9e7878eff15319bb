"""Figure 0, ``cohort_vs_numpy_pool``: paget's default cohort against a NumPy organ-pool model.

The reference (:func:`pool_model`) is what a user could write in an afternoon
instead of paget, as issue 21 specifies it: 16 organs, int64 cell counts, each
trajectory starting with 1,000 cells in organ 0; every day, per organ,
births ~ Binomial(X, 0.05), deaths ~ Binomial(X, 0.04) and migrants ~
Binomial(X - deaths, 1e-6), then X += births - deaths - migrants; for each
(trajectory, organ) with migrants, one multinomial spreads them uniformly over
the 15 other organs.  All trajectories are stepped together (vectorised), with
one ``Generator(PCG64)``, and the daily state is stored.  These rates are a
benchmark load, not biology (ASSUMPTION: they make the pools grow ~1 %/day and
seed every organ within the run, as a metastasising cohort does).  After 3,650
days an organ holds up to ~0.8 * 2**63 cells; a count past int64 would turn
negative and stop the run (``binomial`` rejects n < 0) rather than go unnoticed.

:func:`figures` times, interleaved and each as a whole process, ``python -m
paget run --patients P --years Y --seed S --no-progress -o OUT.nc`` (one rank,
the default scenario, writing its output as a user runs it) and ``python -m
benchmarks.pool --reference --trajectories P --days D`` (D = 365 Y), median of
the rounds.  paget's rate counts patient-days while alive (the output's
``death_time``, NaN while alive, else the day the patient died; checked against
``alive`` at the last record), so a scenario whose patients die sooner gets no
credit for it.  ``cohort_vs_numpy_pool`` = paget's patient-days/s over the
reference's trajectory-days/s (goal >= 10).  Each paget run's peak resident
memory (``ru_maxrss`` of that child, from ``os.wait4``) gives
``cohort_peak_mib``.

Alone: ``python -m benchmarks.pool [--quick] [--rounds R] [--json FILE]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ORGANS", "pool_step", "pool_model", "patient_days_alive", "paget_run",
           "reference_run", "figures", "section"]

ORGANS = 16
X0 = 1000
BIRTH, DEATH, MIGRATION = 0.05, 0.04, 1e-6

#: DEST[o] = the 15 organs other than o, in order: where organ o's migrants go
DEST = np.array([[j for j in range(ORGANS) if j != o] for o in range(ORGANS)])


def pool_step(x: np.ndarray, rng: np.random.Generator, birth: float = BIRTH,
              death: float = DEATH, migration: float = MIGRATION):
    """One day of the pool model, in place on ``x`` (trajectories, organs), int64.

    Returns (births, deaths, migrants, inflow), each shaped like ``x``;
    ``inflow`` is the migrants each organ received from the others.
    """
    births = rng.binomial(x, birth)
    deaths = rng.binomial(x, death)
    migrants = rng.binomial(x - deaths, migration)
    t, o = np.nonzero(migrants)
    inflow = np.zeros_like(x)
    if t.size:
        counts = rng.multinomial(migrants[t, o], np.full(ORGANS - 1, 1.0 / (ORGANS - 1)))
        np.add.at(inflow, (t[:, None], DEST[o]), counts)
    x -= deaths           # subtract first: X + births alone could pass 2**63 late in a run
    x -= migrants
    x += births
    x += inflow
    return births, deaths, migrants, inflow


def pool_model(trajectories: int, days: int, seed: int = 1, x0: int = X0,
               **rates) -> np.ndarray:
    """The daily state (days + 1, trajectories, 16), int64, of ``trajectories``
    pools started with ``x0`` cells in organ 0."""
    rng = np.random.Generator(np.random.PCG64(seed))
    states = np.empty((days + 1, trajectories, ORGANS), np.int64)
    x = np.zeros((trajectories, ORGANS), np.int64)
    x[:, 0] = x0
    states[0] = x
    for day in range(1, days + 1):
        pool_step(x, rng, **rates)
        states[day] = x
    return states


def patient_days_alive(path: Path) -> tuple[float, float, int]:
    """(patient-days while alive, days simulated, patients) of a paget output file.

    Days simulated: from the first to the last recorded time.  A patient counts
    up to ``death_time`` (days; NaN while alive at the end).
    """
    import xarray as xr
    with xr.open_dataset(path) as ds:
        time_ = ds["time"].values
        span = float((time_[-1] - time_[0]) / np.timedelta64(1, "D"))
        death = ds["death_time"].values.astype(np.float64)
        alive_end = ds["alive"].isel(time=-1).values.astype(bool)
    if not np.array_equal(np.isnan(death), alive_end):
        raise ValueError(f"{path}: death_time and alive at the last record disagree")
    days = np.where(np.isnan(death), span, np.minimum(death, span))
    return float(days.sum()), span, int(death.size)


def _wait4(cmd: list[str], timeout: float) -> tuple[float, int, str]:
    """Run ``cmd`` with its output in a temporary file: (wall s, peak RSS bytes, stderr)."""
    with tempfile.TemporaryFile("w+") as errf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf,
                                stdin=subprocess.DEVNULL, cwd=ROOT)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"timed out after {timeout:.0f} s")
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read()
    if proc.returncode != 0:
        tail = err.strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0]}")
    return wall, usage.ru_maxrss * 1024, err   # KiB on Linux


def paget_run(patients: int, years: float, seed: int = 1, timeout: float = 3600) -> dict:
    """One ``python -m paget run ... -o OUT.nc`` (default scenario, one rank), timed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cohort.nc"
        cmd = [sys.executable, "-m", "paget", "run", "--patients", str(patients),
               "--years", repr(float(years)), "--seed", str(seed), "--no-progress",
               "-o", str(out)]
        wall, rss, _ = _wait4(cmd, timeout)
        alive_days, span, n = patient_days_alive(out)
    return {"seconds": wall, "peak_rss_bytes": rss, "patient_days_alive": alive_days,
            "days": span, "patients": n, "patient_days_per_s": alive_days / wall}


def reference_run(trajectories: int, days: int, seed: int = 1, timeout: float = 3600) -> dict:
    """One ``python -m benchmarks.pool --reference ...``, timed as a whole process."""
    cmd = [sys.executable, "-m", "benchmarks.pool", "--reference", "--trajectories",
           str(trajectories), "--days", str(days), "--seed", str(seed)]
    wall, rss, err = _wait4(cmd, timeout)
    return {"seconds": wall, "peak_rss_bytes": rss, "trajectory_days": trajectories * days,
            "trajectory_days_per_s": trajectories * days / wall}


def figures(patients: int, years: float, rounds: int = 2, log=lambda msg: None) -> dict:
    """``cohort_vs_numpy_pool`` and ``cohort_peak_mib``: paget and the reference,
    interleaved (paget, reference, paget, ...), median of ``rounds`` each."""
    days = int(round(365 * years))
    res: dict = {"pool_patients": patients, "pool_years": years, "pool_days": days,
                 "pool_rounds": rounds, "pool_errors": {}}
    runs, refs, loads = [], [], []
    for rnd in range(rounds):
        loads.append(os.getloadavg()[0])
        try:
            log(f"round {rnd + 1}/{rounds}: paget run, {patients:,} patients x {years:g} years")
            runs.append(paget_run(patients, years, seed=1))
            log(f"round {rnd + 1}/{rounds}: NumPy pool model, {patients:,} trajectories x "
                f"{days:,} days")
            refs.append(reference_run(patients, days, seed=1 + rnd))
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            res["pool_errors"][f"round_{rnd + 1}"] = str(exc)
            break
    loads.append(os.getloadavg()[0])
    res["pool_load_average"] = loads
    if runs:
        res["paget_cohort_seconds"] = [r["seconds"] for r in runs]
        res["paget_patient_days_alive"] = runs[0]["patient_days_alive"]
        res["paget_days_simulated"] = runs[0]["days"]
        res["paget_patient_days_per_s"] = statistics.median(
            r["patient_days_per_s"] for r in runs)
        res["cohort_peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
        res["cohort_peak_mib"] = res["cohort_peak_rss_bytes"] / 2**20
    if refs:
        res["numpy_pool_seconds"] = [r["seconds"] for r in refs]
        res["numpy_pool_trajectory_days_per_s"] = statistics.median(
            r["trajectory_days_per_s"] for r in refs)
        res["numpy_pool_peak_mib"] = max(r["peak_rss_bytes"] for r in refs) / 2**20
    if runs and refs:
        res["cohort_vs_numpy_pool"] = (res["paget_patient_days_per_s"]
                                       / res["numpy_pool_trajectory_days_per_s"])
    return res


def section(res: dict):
    """The report's section for these figures."""
    from .report import Section, fmt_rate, fmt_s, met_text, target_status
    p, y = res["pool_patients"], res["pool_years"]
    s = Section(f"0. Cohort against a NumPy organ-pool model: {p:,} patients x {y:g} years, "
                f"{p:,} trajectories x {res['pool_days']:,} days, whole processes, "
                f"median of {res['pool_rounds']}", ["figure", "value", "runs", "target", "status"])
    if "paget_patient_days_per_s" in res:
        s.rows.append(["paget run (1 rank, writes .nc), patient-days alive/s",
                       fmt_rate(res["paget_patient_days_per_s"]),
                       ", ".join(fmt_s(t) for t in res["paget_cohort_seconds"]), "", ""])
    if "numpy_pool_trajectory_days_per_s" in res:
        s.rows.append(["NumPy pool model (benchmarks.pool), trajectory-days/s",
                       fmt_rate(res["numpy_pool_trajectory_days_per_s"]),
                       ", ".join(fmt_s(t) for t in res["numpy_pool_seconds"]), "", ""])
    text, ok = target_status("cohort_vs_numpy_pool", res.get("cohort_vs_numpy_pool"))
    v = res.get("cohort_vs_numpy_pool")
    s.rows.append(["cohort_vs_numpy_pool", "n/a" if v is None else f"{v:.2f}x", "", text,
                   met_text(ok)])
    if "cohort_peak_mib" in res:
        s.rows.append(["cohort_peak_mib: peak RSS of the paget run",
                       f"{res['cohort_peak_mib']:.0f} MiB", "", "", ""])
    if "bytes_per_row" in res:
        text, ok = target_status("bytes_per_row", res["bytes_per_row"])
        s.rows.append(["bytes_per_row: lesion-table row (figure 4)", f"{res['bytes_per_row']} B",
                       "", text, met_text(ok)])
    for k, err in res.get("pool_errors", {}).items():
        s.notes.append(f"{k}: {err}")
    if "paget_patient_days_alive" in res:
        s.notes.append(f"{res['paget_patient_days_alive']:,.0f} patient-days alive of "
                       f"{p * res['paget_days_simulated']:,.0f} ({res['paget_days_simulated']:g} "
                       f"days simulated); wall time includes start-up and writing the file")
    s.notes.append("load average (1 min) before each round and at the end: "
                   + ", ".join(f"{x:.2f}" for x in res["pool_load_average"]))
    return s


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pool",
                                description="paget's default cohort against a NumPy "
                                            "organ-pool model (figure 0)")
    p.add_argument("--reference", action="store_true",
                   help="run the reference model once and print its JSON (a child of the figure)")
    p.add_argument("--trajectories", type=int, default=1000)
    p.add_argument("--days", type=int, default=3650)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="100 patients x 2 years")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", type=Path, metavar="FILE")
    args = p.parse_args(argv)
    if args.reference:
        t0 = time.perf_counter()
        states = pool_model(args.trajectories, args.days, args.seed)
        print(json.dumps({"model_seconds": time.perf_counter() - t0,
                          "mean_final_cells": float(states[-1].astype(np.float64)
                                                    .sum(axis=1).mean())}))
        return 0
    patients, years = (100, 2.0) if args.quick else (1000, 10.0)
    res = figures(patients, years, args.rounds,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    from .report import render
    render([f"load average (1 min) {os.getloadavg()[0]:.2f}"], [section(res)], plain=True)
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
