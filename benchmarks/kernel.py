"""Throughput of ``kernels.step_rows``, of its NumPy reference and of raw binomial draws.

Every timing restores the table's cells between repetitions (untimed) and gives
each repetition its own ``step`` (kernel) or generator state (NumPy), so the
draws differ; the report takes the best repetition (the least disturbed by the
rest of the machine) and keeps the median too.  The kernel is serial, so its
rows per second are per core.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from .reference import alpha_beta, step_numpy
from .workload import CLASSES, Workload, make_workload

__all__ = ["time_kernel", "time_numpy", "time_raw_binomial", "time_interleaved",
           "agreement", "sweep"]


def _summary(times: list[float], n: int) -> dict:
    best, med = min(times), statistics.median(times)
    return {"rows": n, "repeats": len(times), "best_s": best, "median_s": med,
            "rows_per_s": n / best, "rows_per_s_median": n / med}


def _timers(w: Workload, names=("kernel", "numpy", "binomial"), first_step: int = 1,
            numpy_seed: int = 7, binomial_seed: int = 11) -> dict:
    """One-repetition timers of figures 1-3 on ``w`` (those in ``names``), each
    warmed up once (untimed).

    ``timers[name](r)`` runs repetition ``r`` and returns its seconds: the kernel
    with step ``first_step + r`` (so draws differ), the NumPy reference and
    ``Generator(PCG64).binomial(n, p)`` (n the table's cells, p each row's alpha)
    with their generators' next draws.  Cells are restored untimed.
    """
    n = len(w)
    cells0 = w.cells.copy()
    shed = np.empty(n, np.int64)
    react = np.empty(n, np.int64)
    rng = np.random.Generator(np.random.PCG64(numpy_seed))
    cells_np = cells0.copy() if "numpy" in names else None
    counts = w.cells.astype(np.int64) if "binomial" in names else None
    alpha = alpha_beta(w.birth, w.death, w.h)[0] if "binomial" in names else None
    brng = np.random.Generator(np.random.PCG64(binomial_seed))

    def kernel(r: int) -> float:
        t0 = time.perf_counter()
        w.step_kernel(first_step + r, shed, react)
        dt = time.perf_counter() - t0
        np.copyto(w.cells, cells0)
        return dt

    def numpy_step(r: int) -> float:
        np.copyto(cells_np, cells0)
        t0 = time.perf_counter()
        step_numpy(cells_np, w.flags, w.birth, w.death, w.shed_rate, w.deterministic, w.h,
                   rng, shed, react)
        return time.perf_counter() - t0

    def binomial(r: int) -> float:
        t0 = time.perf_counter()
        brng.binomial(counts, alpha)
        return time.perf_counter() - t0

    every = {"kernel": kernel, "numpy": numpy_step, "binomial": binomial}
    timers = {name: every[name] for name in names}
    for f in timers.values():
        f(-1)                                           # warm-up, untimed
    return timers


def _binomial_summary(times: list[float], n: int) -> dict:
    out = _summary(times, n)
    out["draws_per_s"] = out.pop("rows_per_s")
    out["draws_per_s_median"] = out.pop("rows_per_s_median")
    return out


def time_kernel(w: Workload, repeats: int = 5, first_step: int = 1) -> dict:
    """Best and median time of one ``step_rows`` call over the whole table."""
    f = _timers(w, ("kernel",), first_step=first_step)["kernel"]
    return _summary([f(r) for r in range(repeats)], len(w))


def time_numpy(w: Workload, repeats: int = 3, seed: int = 7) -> dict:
    """Best and median time of one :func:`~benchmarks.reference.step_numpy` call."""
    f = _timers(w, ("numpy",), numpy_seed=seed)["numpy"]
    return _summary([f(r) for r in range(repeats)], len(w))


def time_raw_binomial(w: Workload, repeats: int = 5, seed: int = 11) -> dict:
    """``Generator(PCG64).binomial(n, p)`` over the table: n its cells, p its alpha."""
    f = _timers(w, ("binomial",), binomial_seed=seed)["binomial"]
    return _binomial_summary([f(r) for r in range(repeats)], len(w))


def time_interleaved(w: Workload, rounds: int = 7) -> tuple[dict, dict, dict]:
    """Figures 1-3 with their repetitions interleaved (kernel, NumPy reference,
    raw binomial draws, then again), so that a change in the machine's speed
    during the run (another tenant, the clock frequency) reaches all three alike
    and their ratios hold.  Returns the kernel's, the reference's and the
    binomial draws' summaries, as :func:`time_kernel`, :func:`time_numpy` and
    :func:`time_raw_binomial` give them."""
    timers = _timers(w)
    times: dict[str, list[float]] = {name: [] for name in timers}
    for r in range(rounds):
        for name, f in timers.items():
            times[name].append(f(r))
    n = len(w)
    return (_summary(times["kernel"], n), _summary(times["numpy"], n),
            _binomial_summary(times["binomial"], n))


def _z(diff: np.ndarray) -> tuple[float, float]:
    """Mean of independent zero-mean differences and its standard error."""
    m = diff.size
    if m < 2:
        return float(diff.mean()) if m else 0.0, float("nan")
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(m))


def agreement(w: Workload, step: int = 1000, seed: int = 3) -> dict:
    """One step of the kernel and of the NumPy reference from the same table, compared.

    Row i gives N'_kernel(i) and N'_numpy(i), independent draws of one
    distribution, so the differences d_i have mean 0 and the mean of N' agrees
    when mean(d) is within a few standard errors std(d) / sqrt(n) (the sample
    variance of the differences estimates the variance of both draws; differences
    cancel the spread of starting sizes, which a two-sample test would carry).
    Compared per row class and over all rows, for N' and for the CTCs shed
    (reactivations for dormant rows).
    """
    n = len(w)
    cells0 = w.cells.copy()
    shed_k = np.empty(n, np.int64)
    react_k = np.empty(n, np.int64)
    w.step_kernel(step, shed_k, react_k)
    cells_k = w.cells.copy()
    np.copyto(w.cells, cells0)
    cells_n = cells0.copy()
    shed_n, react_n = step_numpy(cells_n, w.flags, w.birth, w.death, w.shed_rate,
                                 w.deterministic, w.h,
                                 np.random.Generator(np.random.PCG64(seed)))
    groups = [(name, w.label == i) for i, name in enumerate(CLASSES)]
    groups.append(("all", np.ones(n, bool)))
    rows = []
    for name, sel in groups:
        if not sel.any():
            continue
        mean_d, se = _z(cells_k[sel] - cells_n[sel])
        events_k = np.where(w.label[sel] == 3, react_k[sel], shed_k[sel])
        events_n = np.where(w.label[sel] == 3, react_n[sel], shed_n[sel])
        ev_d, ev_se = _z((events_k - events_n).astype(np.float64))
        rows.append({
            "class": name, "rows": int(sel.sum()),
            "mean_cells_before": float(cells0[sel].mean()),
            "mean_cells_kernel": float(cells_k[sel].mean()),
            "mean_cells_numpy": float(cells_n[sel].mean()),
            "z_cells": mean_d / se if se > 0 else 0.0,
            "mean_events_kernel": float(events_k.mean()),
            "mean_events_numpy": float(events_n.mean()),
            "z_events": ev_d / ev_se if ev_se > 0 else 0.0,
        })
    worst = max(max(abs(r["z_cells"]), abs(r["z_events"])) for r in rows)
    return {"classes": rows, "max_abs_z": worst, "agree": bool(worst < 4.0)}


def sweep(sizes: list[int], budget_s: float = 0.6) -> dict:
    """Kernel seconds per row for tables of each size (best of enough repetitions).

    The best repetition is the one least disturbed by other work on the machine;
    the median is kept too (``sweep_seconds_per_row_median``).
    """
    out = {"sweep_rows": [], "sweep_seconds_per_row": [], "sweep_seconds_per_row_median": [],
           "sweep_repeats": []}
    for n in sizes:
        w = make_workload(n)
        # a first call sizes the number of repetitions to the time budget
        probe = time_kernel(w, repeats=1)["best_s"]
        repeats = int(min(200, max(3, budget_s / max(probe, 1e-6))))
        res = time_kernel(w, repeats=repeats)
        out["sweep_rows"].append(n)
        out["sweep_seconds_per_row"].append(res["best_s"] / n)
        out["sweep_seconds_per_row_median"].append(res["median_s"] / n)
        out["sweep_repeats"].append(repeats)
    return out
