"""Memory per lesion-table row, and the peak of one engine step on a big patient.

:func:`measure` runs ``python -m benchmarks.memory --rows N`` in a fresh
subprocess, which

1. imports paget and sets up a one-patient run of the default scenario
   (``paget.engine.RankRun``), then starts ``tracemalloc`` (NumPy reports its
   array buffers to it) and reads ``ru_maxrss``;
2. builds a ``LesionTable`` of N rows by ``append`` (chunks of 10**5 rows, so
   the inputs are small; the table's capacity is grown from 1024 by doubling, as
   a run grows it) -- the rows are the benchmark workload, all of patient 0,
   very large lesions capped at 1e10 cells so the patient stays below the
   lethal burden;
3. runs one full engine step on it (``RankRun._step``: the hooks' rates, the
   rate arrays, ``kernels.step_rows``, dissemination of the shed CTCs, new rows,
   bookkeeping).  If the engine's private step cannot be driven (its internals
   changed), it falls back to the kernel step alone with the arrays the engine
   allocates around it, and says so (``mode``).

It prints one JSON object: table bytes, the tracemalloc peak of table plus the
step's temporaries, and the ``ru_maxrss`` growth over the same span.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["measure", "bytes_per_row"]


def bytes_per_row() -> int:
    from paget.state import LesionTable
    return int(LesionTable().nbytes_per_row)


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _kernel_step(table, dt: float, seed: int) -> None:
    """The arrays the engine allocates around ``step_rows``, and the call."""
    from paget.ext import kernels
    from paget.state import Rates
    from .workload import DORMANT_DEATH, REACTIVATION, SHED_RATE, TURNOVER
    n = table.n
    rates = Rates.neutral(n)
    dormant = (table.flags & kernels.FLAG_DORMANT) != 0
    rates.birth[:] = np.where(dormant, 0.0, TURNOVER)
    rates.death[:] = np.where(dormant, 0.0, TURNOVER)
    rates.shed[:] = np.where(dormant, 0.0, SHED_RATE * table.cells ** (2 / 3))
    rates.reactivation[:] = np.where(dormant, REACTIVATION, 0.0)
    rates.dormant_death[:] = np.where(dormant, DORMANT_DEATH, 0.0)
    birth = np.where(dormant, rates.reactivation, rates.birth)
    death = np.where(dormant, rates.dormant_death, rates.death)
    cells_before = table.cells.copy()  # noqa: F841 (the engine keeps this copy)
    shed = np.empty(n, np.int64)
    react = np.empty(n, np.int64)
    kernels.step_rows(table.cells, table.flags, table.uid, table.patient, birth, death,
                      rates.shed, rates.deterministic.view(np.uint8), dt, seed, 0, shed, react)


def _child(rows: int) -> dict:
    import paget
    from paget.engine import RankRun
    from paget.state import LesionTable

    from .workload import make_workload

    w = make_workload(rows, patients=1, large_max=1e10)
    sim = paget.Simulation({"seed": 1, "cohort": {"patients": 1, "years": 1}})
    run = None
    try:
        run = RankRun(sim.config, sim.body, sim.plugin_manager.hook, 0, 1,
                      sim.variables)
    except Exception as exc:  # pragma: no cover - engine internals changed
        err = f"{type(exc).__name__}: {exc}"
    organ = np.random.default_rng(5).integers(0, sim.body.n_organs, rows).astype(np.int16)

    tracemalloc.start()
    rss0 = _maxrss_bytes()
    # the table of the default plugins: core columns plus their state variables
    table = LesionTable(extra=run.table.extra if run is not None else None)
    chunk = 100_000
    for lo in range(0, rows, chunk):
        hi = min(rows, lo + chunk)
        m = hi - lo
        table.append(uid=w.uid[lo:hi], parent=np.zeros(m, np.uint64), lesion=w.uid[lo:hi],
                     clone=w.uid[lo:hi], genotype=np.zeros(m, np.uint64), cells=w.cells[lo:hi],
                     patient=np.zeros(m, np.int64), birth_step=np.zeros(m, np.int32),
                     organ=organ[lo:hi], flags=w.flags[lo:hi])
    del w
    table_bytes, _ = tracemalloc.get_traced_memory()
    capacity = int(table._data["cells"].size)
    tracemalloc.reset_peak()
    mode = "engine step (RankRun._step)"
    try:
        if run is None:
            raise RuntimeError(err)
        run.table = table
        run._step(0)
    except Exception as exc:  # pragma: no cover - engine internals changed
        mode = f"kernel step only (engine step failed: {type(exc).__name__}: {exc})"
        _kernel_step(table, sim.plan.dt, 1)
    _, peak = tracemalloc.get_traced_memory()
    rss1 = _maxrss_bytes()
    tracemalloc.stop()
    return {"rows": rows, "rows_after_step": int(table.n), "capacity": capacity,
            "bytes_per_row": bytes_per_row(),
            "bytes_per_row_with_plugin_state": int(table.nbytes_per_row),
            "table_bytes": int(table_bytes),
            "peak_bytes": int(peak), "step_temporaries_bytes": int(peak - table_bytes),
            "maxrss_delta_bytes": int(rss1 - rss0), "mode": mode}


def measure(rows: int = 10**6, timeout: float = 600) -> dict:
    """Run the measurement in a fresh interpreter and return its figures."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--rows", str(rows)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"rows": rows, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    p.add_argument("--rows", type=int, default=10**6)
    args = p.parse_args(argv)
    print(json.dumps(_child(args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
