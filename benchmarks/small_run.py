"""The ``small_run_seconds`` figure: one 5-patient, 2-year run through the Python API, after import.

:func:`figures` starts a fresh interpreter (``python -m benchmarks.small_run
--repeats R``), which imports paget, then times
``paget.Simulation.from_scenario("default", {"cohort": {"patients": 5,
"years": 2}, "seed": i}).run()``: the first run on its own (it pays the lazy
imports and caches of a first run, as a script that runs once does), then R
more.  ``small_run_seconds`` is the median of those R (target <= 0.1 s: the
cost of one run of a calibration or a sweep, which makes thousands in one
process).  Import time is not counted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["PATIENTS", "YEARS", "measure", "figures", "section"]

PATIENTS, YEARS = 5, 2.0


def measure(repeats: int, patients: int = PATIENTS, years: float = YEARS) -> dict:
    """In this process: the first run's seconds, then ``repeats`` more."""
    import paget

    def one(seed: int) -> tuple[float, float]:
        """(seconds to build the simulation and run it, seconds of run() alone)"""
        t0 = time.perf_counter()
        sim = paget.Simulation.from_scenario(
            "default", {"cohort": {"patients": patients, "years": years}, "seed": seed})
        t1 = time.perf_counter()
        sim.run()
        t2 = time.perf_counter()
        return t2 - t0, t2 - t1

    first = one(0)[0]
    both = [one(i + 1) for i in range(repeats)]
    times = [b[0] for b in both]
    run_only = [b[1] for b in both]
    return {"small_run_patients": patients, "small_run_years": years,
            "small_run_first_seconds": first, "small_run_seconds_all": times,
            "small_run_seconds": statistics.median(times),
            "small_run_run_only_seconds": statistics.median(run_only)}


def figures(repeats: int = 9, timeout: float = 600) -> dict:
    """:func:`measure` in a fresh interpreter (so the first run is a first run)."""
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.small_run", "--repeats",
                           str(repeats)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]
        return {"small_run_error": tail[0], "small_run_load_average": load}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["small_run_load_average"] = load
    return res


def section(res: dict):
    """The report's section for this figure."""
    from .report import Section, fmt_s, met_text, target_status
    s = Section(f"0b. A small run through the Python API: {PATIENTS} patients x {YEARS:g} years "
                "after import", ["figure", "value", "target", "status"])
    if "small_run_error" in res:
        s.notes.append(f"failed: {res['small_run_error']}")
        return s
    text, ok = target_status("small_run_seconds", res["small_run_seconds"])
    s.rows.append([f"small_run_seconds (median of {len(res['small_run_seconds_all'])}, "
                   "from_scenario + run)", fmt_s(res["small_run_seconds"]), text, met_text(ok)])
    s.rows.append(["  of which run()", fmt_s(res["small_run_run_only_seconds"]), "", ""])
    s.rows.append(["the first run after import (lazy imports, caches)",
                   fmt_s(res["small_run_first_seconds"]), "", ""])
    s.notes.append(f"paget.Simulation.from_scenario('default', {{'cohort': {{'patients': "
                   f"{PATIENTS}, 'years': {YEARS:g}}}, 'seed': i}}).run() in a fresh "
                   f"interpreter, import excluded; load average (1 min) "
                   f"{res['small_run_load_average']:.2f}")
    return s


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.small_run")
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
