"""``python -m benchmarks [--quick] [--json FILE] [--ranks 1,2] [--rows N]``.

Measures, in one run on one machine: the default cohort's speed against a NumPy
organ-pool model and its peak memory, a small run's time through the Python API,
kernel throughput, the NumPy reference and raw binomial draws on the same table
(with a statistical check that kernel and reference take the same step), memory
per row and the peak of a 10**6-row patient's step, cohort wall time on each MPI
rank count, the share of a run outside compiled code (with its largest Python
functions), and a sweep of kernel cost over table sizes.  Targets are printed
next to the figures; nothing is asserted.  See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from . import TARGETS

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Performance benchmarks of paget (kernels, memory, cohort, overhead).")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (2e5 rows, 100 patients x 5 years, 100 x 2 against "
                        "the NumPy pool model, sweep to 1e5): "
                        "under two minutes on two cores")
    p.add_argument("--json", metavar="FILE", type=Path, help="also write every figure to FILE")
    p.add_argument("--ranks", default="1,2", metavar="K,K,...",
                   help="MPI rank counts of the cohort runs (default 1,2)")
    p.add_argument("--rows", type=int, metavar="N",
                   help="rows of the kernel table (default 1e6; 2e5 with --quick)")
    p.add_argument("--patients", type=int, metavar="P",
                   help="patients of the cohort runs (default 1000; 100 with --quick)")
    p.add_argument("--years", type=float, metavar="Y",
                   help="years of the cohort runs (default 10; 5 with --quick)")
    p.add_argument("--plain", action="store_true", help="plain-text report (no rich)")
    return p


def _ranks(text: str) -> list[int]:
    try:
        ks = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ranks {text!r}: expected e.g. 1,2,4") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"--ranks {text!r}: rank counts must be >= 1")
    if 1 not in ks:
        ks.insert(0, 1)  # speed-ups are relative to one rank
    return sorted(set(ks))


def _machine() -> dict:
    import numpy as np
    info = {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": None,
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "git_commit": None,
        "git_dirty": None,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from paget.ext import kernels
        info["kernels_module"] = str(kernels.__file__)
        info["kernels_build_stale"] = _kernels_stale(Path(kernels.__file__).parent)
    except Exception:
        info["kernels_build_stale"] = None
    try:
        from importlib.metadata import version
        info["paget_version"] = version("paget")
    except Exception:
        info["paget_version"] = None
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=10, check=True).stdout.strip()
        info["git_dirty"] = bool(subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
            capture_output=True, text=True, timeout=10).stdout.strip())
    except Exception:
        pass
    return info


def _kernels_stale(built: Path) -> bool:
    """Whether a compiled module in ``built`` is older than its ``ext/*.pyx``, or
    every one older than the newest ``ext/*.pxd`` or ``*.h`` (which each module
    cimports is not traced: a module that does not use a changed .pxd is not
    rebuilt, so only "none rebuilt since" is sure to be stale)."""
    from importlib.machinery import EXTENSION_SUFFIXES
    compiled = {}
    for f in built.iterdir():
        suffix = next((s for s in EXTENSION_SUFFIXES if f.name.endswith(s)), None)
        if suffix:
            compiled[f.name[:-len(suffix)]] = f.stat().st_mtime
    if not compiled:
        return False
    ext = ROOT / "ext"
    headers = [f.stat().st_mtime for f in ext.iterdir() if f.suffix in (".pxd", ".h")]
    return (any((ext / f"{m}.pyx").exists() and t < (ext / f"{m}.pyx").stat().st_mtime
                for m, t in compiled.items())
            or bool(headers) and max(compiled.values()) < max(headers))


def _load() -> float | None:
    """1-minute load average: other work on the machine disturbs every timing."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


class _Log:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def run(args) -> dict:
    from . import cohort, kernel, memory
    from .workload import make_workload

    quick = args.quick
    rows = args.rows or (2 * 10**5 if quick else 10**6)
    patients = args.patients or (100 if quick else 1000)
    years = args.years or (5.0 if quick else 10.0)
    ranks = _ranks(args.ranks)
    sweep_sizes = [10**3, 10**4, 10**5] + ([] if quick else [10**6])
    ov_patients, ov_years = (50, 1.0) if quick else (200, 2.0)
    log = _Log()
    res: dict = {"mode": "quick" if quick else "full", "rows": rows, **_machine(),
                 "load_average_start": _load()}

    from . import pool, small_run
    pool_patients = args.patients or (100 if quick else 1000)
    pool_years = args.years or (2.0 if quick else 10.0)
    log(f"0. paget run against the NumPy organ-pool model, {pool_patients:,} x "
        f"{pool_years:g} years (interleaved)")
    res.update(pool.figures(pool_patients, pool_years, rounds=3 if quick else 2,
                            log=lambda m: log("   " + m)))
    log("0b. small runs through the Python API (fresh interpreter)")
    res.update(small_run.figures())

    log(f"workload: {rows:,} rows")
    w = make_workload(rows)
    res["workload_classes"] = {name: int((w.label == i).sum())
                               for i, name in enumerate(("small", "medium", "large", "dormant"))}

    log("1-3. kernel step_rows, NumPy reference step, raw binomial draws (interleaved)")
    k, npy, rb = kernel.time_interleaved(w, rounds=5 if quick else 7)
    res["kernel"] = k
    res["kernel_lesion_steps_per_s"] = k["rows_per_s"]
    res["numpy"] = npy
    res["numpy_lesion_steps_per_s"] = npy["rows_per_s"]
    res["kernel_vs_numpy"] = k["rows_per_s"] / npy["rows_per_s"]
    log("2b. agreement of kernel and NumPy reference")
    res["agreement"] = kernel.agreement(w)
    res["raw_binomial"] = rb
    res["raw_binomial_draws_per_s"] = rb["draws_per_s"]
    res["kernel_vs_raw_binomial"] = k["rows_per_s"] / rb["draws_per_s"]
    del w

    log("3b. dissemination kernel, on the calls of an in-process default cohort")
    from . import disseminate
    res.update(disseminate.figures(*((50, 1.0) if quick else (200, 2.0))))

    log("7. scaling sweep")
    res.update(kernel.sweep(sweep_sizes))

    log("4. memory (fresh subprocess, 1e6-row patient)")
    res["bytes_per_row"] = memory.bytes_per_row()
    mem = memory.measure(10**6)
    res["memory"] = mem
    res["peak_bytes_1e6_rows"] = mem.get("peak_bytes")

    log("6. time outside compiled code (in-process run, then under cProfile)")
    res.update(cohort.overhead(ov_patients, ov_years))

    log("5. cohort wall time")
    res.update(cohort.cohort_times(ranks, patients, years, log=lambda m: log("   " + m)))
    log("5b. one large patient")
    res.update(cohort.large_patient_times(ranks, 1.0 if quick else 1.25,
                                          log=lambda m: log("   " + m)))

    log("5c. a heterogeneous cohort, with and without moving patients")
    from . import heterogeneous
    res.update(heterogeneous.heterogeneous_times(ranks, 0.75 if quick else 1.0,
                                                 log=lambda m: log("   " + m)))

    log("8. engine cost against patients and against lesion rows")
    from . import scaling
    res.update(scaling.patient_sweep([25, 50, 100, 200] if quick else [50, 100, 200, 400, 800],
                                     1.0 if quick else 2.0, log=lambda m: log("   " + m)))
    res.update(scaling.lesion_sweep(1.0 if quick else 1.25))

    log("9. exploration: simulate and a sweep")
    from . import explore
    res.update(explore.figures(quick, ranks, log=lambda m: log("   " + m)))

    res["targets"] = {}
    from .report import target_status
    for key in TARGETS:
        text, ok = target_status(key, res.get(key))
        res["targets"][key] = {"target": text, "value": res.get(key), "met": ok}
    res["load_average_end"] = _load()
    res["benchmark_seconds"] = time.perf_counter() - log.t0
    log("done")
    return res


def sections(res: dict):
    from .report import Section, fmt_bytes, fmt_rate, fmt_s, met_text, target_status

    def tgt(key):
        text, ok = target_status(key, res.get(key))
        return [text, met_text(ok)]

    from . import pool, small_run
    out = [pool.section(res), small_run.section(res)]
    k, npy, rb = res["kernel"], res["numpy"], res["raw_binomial"]
    cls = res["workload_classes"]
    s = Section(f"1-3. One step of {res['rows']:,} rows (h = 1 day), best of repeats",
                ["figure", "value", "median", "target", "status"])
    s.rows.append(["kernels.step_rows, lesion-steps/s per core",
                   fmt_rate(k["rows_per_s"]), fmt_rate(k["rows_per_s_median"]), "", ""])
    s.rows.append(["NumPy reference (benchmarks.reference), rows/s",
                   fmt_rate(npy["rows_per_s"]), fmt_rate(npy["rows_per_s_median"]), "", ""])
    s.rows.append(["kernel_vs_numpy", f"{res['kernel_vs_numpy']:.2f}x", "",
                   *tgt("kernel_vs_numpy")])
    s.rows.append(["Generator(PCG64).binomial, draws/s",
                   fmt_rate(rb["draws_per_s"]), fmt_rate(rb["draws_per_s_median"]), "", ""])
    s.rows.append(["kernel_vs_raw_binomial", f"{res['kernel_vs_raw_binomial']:.2f}x", "",
                   *tgt("kernel_vs_raw_binomial")])
    s.notes.append(f"rows: {cls['small']:,} small (1-20 cells), {cls['medium']:,} medium "
                   f"(1e3-1e6), {cls['large']:,} large (1e9-1e11), {cls['dormant']:,} dormant")
    s.notes.append(f"best step: kernel {fmt_s(k['best_s'])} ({k['repeats']} repeats), NumPy "
                   f"{fmt_s(npy['best_s'])} ({npy['repeats']}), binomial {fmt_s(rb['best_s'])} "
                   f"({rb['repeats']}); the kernel is serial: rows/s = per core")
    out.append(s)

    if "disseminate_ns_per_row" in res:
        s = Section(f"3b. Dissemination kernel: {res['disseminate_calls']} calls of a default "
                    f"cohort of {res['disseminate_patients']} patients x "
                    f"{res['disseminate_years']:g} years", ["figure", "value"])
        s.rows.append(["kernels.disseminate, per shedding row",
                       fmt_s(1e-9 * res["disseminate_ns_per_row"])])
        s.rows.append(["  per CTC split", fmt_s(1e-9 * res["disseminate_ns_per_ctc"])])
        s.notes.append(f"{res['disseminate_rows']:,} shedding rows, {res['disseminate_ctcs']:,} "
                       f"CTCs; each call's best of {res['disseminate_rounds']} interleaved "
                       f"rounds, summed")
        out.append(s)

    ag = res["agreement"]
    s = Section("2b. Kernel vs NumPy reference: same step? (one step each, not timed)",
                ["rows", "n", "N before", "N' kernel", "N' NumPy", "z(N')",
                 "events kernel", "events NumPy", "z(events)"])
    for r in ag["classes"]:
        s.rows.append([r["class"], f"{r['rows']:,}", f"{r['mean_cells_before']:.6g}",
                       f"{r['mean_cells_kernel']:.6g}", f"{r['mean_cells_numpy']:.6g}",
                       f"{r['z_cells']:+.2f}", f"{r['mean_events_kernel']:.4g}",
                       f"{r['mean_events_numpy']:.4g}", f"{r['z_events']:+.2f}"])
    s.notes.append("means per row; events = CTCs shed (cells reactivated for dormant rows)")
    s.notes.append("z = mean(kernel - NumPy) / (sd of the row differences / sqrt(n))")
    s.notes.append("=> agree: every |z| < 4" if ag["agree"]
                   else f"=> DISAGREE: max |z| = {ag['max_abs_z']:.1f} >= 4")
    out.append(s)

    mem = res["memory"]
    s = Section("4. Memory", ["figure", "value", "", "target", "status"])
    s.rows.append(["bytes_per_row (LesionTable.nbytes_per_row)", f"{res['bytes_per_row']} B", "",
                   *tgt("bytes_per_row")])
    if "error" in mem:
        s.rows.append(["1e6-row patient, one engine step", "failed", "", "", ""])
        s.notes.append(f"memory subprocess failed: {mem['error']}")
    else:
        s.rows.append(["bytes per row with the default plugins' state variables",
                       f"{mem['bytes_per_row_with_plugin_state']} B", "", "", ""])
        s.rows.append([f"table of {mem['rows']:,} rows (capacity {mem['capacity']:,})",
                       fmt_bytes(mem["table_bytes"]), "", "", ""])
        s.rows.append(["peak: table + one step's temporaries (tracemalloc)",
                       fmt_bytes(mem["peak_bytes"]),
                       f"{mem['peak_bytes'] / mem['rows']:.0f} B/row", "", ""])
        s.rows.append(["  of which step temporaries", fmt_bytes(mem["step_temporaries_bytes"]),
                       f"{mem['step_temporaries_bytes'] / mem['rows']:.0f} B/row", "", ""])
        s.rows.append(["ru_maxrss growth over the same span", fmt_bytes(mem["maxrss_delta_bytes"]),
                       "", "", ""])
        s.notes.append(f"{mem['mode']}; {mem['rows_after_step']:,} rows after the step")
    out.append(s)

    ranks = sorted(int(key.split("_")[2]) for key in res
                   if key.startswith("cohort_seconds_"))
    s = Section(f"5. Cohort wall time: default scenario, {res['cohort_patients']:,} patients x "
                f"{res['cohort_years']:g} years",
                ["ranks", "wall", "start-up (--years 0.01)", "speed-up", "target", "status"])
    for kk in ranks:
        suffix = "rank" if kk == 1 else "ranks"
        wall = res.get(f"cohort_seconds_{kk}_{suffix}")
        start = res.get(f"startup_seconds_{kk}_{suffix}")
        sp = 1.0 if kk == 1 else res.get(f"speedup_{kk}_ranks")
        if kk == 2:
            trow = tgt("speedup_2_ranks")
        else:
            trow = ["", ""]
        s.rows.append([str(kk), fmt_s(wall), fmt_s(start),
                       "n/a" if sp is None else f"{sp:.2f}x", *trow])
    for name, err in res.get("cohort_errors", {}).items():
        s.notes.append(f"{name}: {err}")
    s.notes.append(f"mpiexec -n K python -m paget run --patients {res['cohort_patients']} "
                   f"--years {res['cohort_years']:g} --seed 1 --no-progress")
    s.notes.append("wall time includes interpreter and MPI start-up, nothing subtracted")
    out.append(s)

    if "large_patient_years" in res:
        s = Section(f"5b. One large patient (~10^5 rows at the end; benchmarks.cohort."
                    f"LARGE_PATIENT), {res['large_patient_years']:g} years",
                    ["ranks", "wall", "speed-up"])
        for kk in ranks:
            suffix = "rank" if kk == 1 else "ranks"
            wall = res.get(f"large_patient_seconds_{kk}_{suffix}")
            sp = 1.0 if kk == 1 else res.get(f"large_patient_speedup_{kk}_ranks")
            s.rows.append([str(kk), fmt_s(wall), "n/a" if sp is None else f"{sp:.2f}x"])
        for name, err in res.get("large_patient_errors", {}).items():
            s.notes.append(f"{name} rank(s): {err}")
        s.notes.append("on K ranks the patient's rows are spread over all of them "
                       "(docs/explanation/engine.md, 'Splitting a patient over ranks')")
        out.append(s)

    if "heterogeneous_years" in res:
        s = Section(f"5c. A heterogeneous cohort (benchmarks.heterogeneous.HETEROGENEOUS, "
                    f"9 patients), {res['heterogeneous_years']:g} years, in-process",
                    ["ranks", "layout", "wall", "speed-up", "moves"])
        s.rows.append(["1", "", fmt_s(res.get("heterogeneous_seconds_1_rank")), "1.00x", ""])
        for kk in ranks:
            if kk == 1:
                continue
            for suffix, name in (("_static", "first kept"), ("", "moving")):
                wall = res.get(f"heterogeneous_seconds_{kk}_ranks{suffix}")
                sp = res.get(f"heterogeneous_speedup_{kk}_ranks{suffix}")
                moves = res.get(f"heterogeneous_moves_{kk}_ranks") if not suffix else None
                s.rows.append([str(kk), name, fmt_s(wall),
                               "n/a" if sp is None else f"{sp:.2f}x",
                               "" if moves is None else str(moves)])
        for name, err in res.get("heterogeneous_errors", {}).items():
            s.notes.append(f"{name}: {err}")
        if res.get("heterogeneous_rows"):
            s.notes.append(f"lesion rows per patient at the end: {res['heterogeneous_rows']}")
        s.notes.append(f"moving: Simulation.REGROUP_EVERY = {res['heterogeneous_every']} "
                       "steps; 'first kept': 0 (docs/explanation/engine.md, 'Moving "
                       "patients between ranks')")
        out.append(s)

    s = Section(f"6. Time outside compiled code: in-process run, {res['overhead_patients']} "
                f"patients x {res['overhead_years']:g} years",
                ["figure", "value", "share", "target", "status"])
    wall = res["overhead_wall_s"]
    s.rows.append(["sim.run() wall", fmt_s(wall), "", "", ""])
    s.rows.append(["  in kernels.step_rows", fmt_s(res["overhead_step_rows_s"]),
                   f"{res['overhead_step_rows_s'] / wall:.1%}", "", ""])
    s.rows.append(["  in kernels.disseminate", fmt_s(res["overhead_disseminate_s"]),
                   f"{res['overhead_disseminate_s'] / wall:.1%}", "", ""])
    other = res["overhead_kernel_s"] - res["overhead_step_rows_s"] - res["overhead_disseminate_s"]
    s.rows.append(["  in other compiled functions (paget.ext)", fmt_s(other),
                   f"{other / wall:.1%}", "", ""])
    s.rows.append(["overhead_fraction (outside compiled code)",
                   fmt_s(wall - res["overhead_kernel_s"]), f"{res['overhead_fraction']:.1%}",
                   *tgt("overhead_fraction")])
    s.rows.append(["  in the plugins' hook bodies", fmt_s(res["overhead_plugin_s"]),
                   f"{res['overhead_plugin_fraction']:.1%}", "", ""])
    # the same <= 20 % target, read as the engine's share alone
    text, ok = target_status("overhead_fraction", res["overhead_engine_fraction"])
    s.rows.append(["  engine: dispatch, checks, bookkeeping", fmt_s(res["overhead_engine_s"]),
                   f"{res['overhead_engine_fraction']:.1%}", text, met_text(ok)])
    s.rows.append(["    of which the output checks", fmt_s(res["overhead_check_s"]),
                   f"{res['overhead_check_fraction']:.1%}", "", ""])
    s.notes.append(f"compiled functions timed by wrappers, {res['overhead_kernel_calls']:,} "
                   f"calls; "
                   f"{res['overhead_hook_impls']} hook implementations timed, "
                   f"{res['overhead_hook_calls']:,} calls; under "
                   f"cProfile (wall {fmt_s(res['overhead_wall_s_cprofile'])}) "
                   f"{res['overhead_fraction_cprofile']:.1%} is outside compiled code;")
    s.notes.append("largest hook bodies (own time):")
    for r in res["overhead_top_hooks"]:
        s.notes.append(f"    {fmt_s(r['seconds']):>9}  {r['calls']:>7} calls  {r['hook']}")
    s.notes.append("largest own (cProfile tottime) times outside compiled code, share of the "
                   "profiled wall:")
    for r in res["overhead_top_functions"]:
        s.notes.append(f"    {fmt_s(r['tottime_s']):>9} {r.get('share') or 0:6.1%} "
                       f"{r['calls']:>7} calls  {r['function']}")
    if res.get("overhead_top_sources"):
        s.notes.append("the same own times summed by file:")
        for r in res["overhead_top_sources"]:
            s.notes.append(f"    {fmt_s(r['tottime_s']):>9} {r['share'] or 0:6.1%}  {r['source']}")
    if res.get("overhead_note"):
        s.notes.append(res["overhead_note"])
    out.append(s)

    s = Section("7. Scaling: kernel time per row (best of repeats)",
                ["rows", "time per row", "median", "rows/s", "vs largest", "repeats"])
    sw_rows, sw_t = res["sweep_rows"], res["sweep_seconds_per_row"]
    for n, t, tm, rep in zip(sw_rows, sw_t, res["sweep_seconds_per_row_median"],
                             res["sweep_repeats"]):
        s.rows.append([f"{n:,}", fmt_s(t), fmt_s(tm), fmt_rate(1.0 / t),
                       f"{t / sw_t[-1]:.2f}", str(rep)])
    s.notes.append("linear cost: time per row constant over sizes (vs largest ~ 1)")
    out.append(s)

    if "patient_sweep_patients" in res:
        s = Section(f"8. Whole engine: default cohorts x {res['patient_sweep_years']:g} years "
                    f"in-process, and one growing patient (LARGE_PATIENT, "
                    f"{res['lesion_sweep_years']:g} years)",
                    ["size", "wall or median step", "per patient or per row", "", ""])
        for p, w, wp in zip(res["patient_sweep_patients"], res["patient_sweep_seconds"],
                            res["patient_sweep_seconds_per_patient"]):
            s.rows.append([f"{p:,} patients", fmt_s(w), fmt_s(wp), "", ""])
        s.rows.append(["growth exponent in patients", f"{res['patient_growth_exponent']:.2f}", "",
                       *tgt("patient_growth_exponent")])
        for d in res["lesion_sweep_decades"]:
            s.rows.append([f"{d['rows_from']:,}-{d['rows_to']:,} rows ({d['steps']} steps)",
                           fmt_s(d["median_step_s"]), fmt_s(d["median_s_per_row"]), "", ""])
        s.rows.append(["growth exponent in rows (steps >= 10^3 rows)",
                       "n/a" if res["lesion_growth_exponent"] is None
                       else f"{res['lesion_growth_exponent']:.2f}", "",
                       *tgt("lesion_growth_exponent")])
        s.notes.append("exponent: slope of log(time) against log(size); 1 = linear, below 1 "
                       "while fixed per-step costs are being amortised")
        out.append(s)

    if "simulate_overhead" in res:
        from .explore import section
        out.append(section(res))

    s = Section("Targets", ["key", "value", "target", "status"])
    for key, t in res["targets"].items():
        v = t["value"]
        s.rows.append([key, "n/a" if v is None else f"{v:.3g}", t["target"], met_text(t["met"])])
    out.append(s)
    return out


def header(res: dict) -> list[str]:
    commit = (res["git_commit"] or "unknown")[:12] + (" (+ uncommitted changes)"
                                                      if res["git_dirty"] else "")
    lines = [f"mode {res['mode']}; {res['cpu_count']} CPUs ({res['cpu_model'] or 'unknown'}); "
             f"Python {res['python_version']}, NumPy {res['numpy_version']}",
             f"paget {res.get('paget_version')} at commit {commit}"]
    la0, la1 = res.get("load_average_start"), res.get("load_average_end")
    if la0 is not None and la1 is not None:
        busy = la0 > 0.5 * (res["cpu_count"] or 1)
        lines.append(f"load average (1 min) {la0:.2f} at start, {la1:.2f} at end (our own "
                     "cohort runs included)"
                     + ("; the machine was busy at start: timings are noisy" if busy else ""))
    if res.get("kernels_build_stale"):
        lines.append("WARNING: the compiled kernels are older than their sources in ext/: rebuild "
                     "(pip install -e .) to measure the current source")
    return lines


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        _ranks(args.ranks)
    except argparse.ArgumentTypeError as exc:
        _parser().error(str(exc))
    res = run(args)
    from .report import render
    render(header(res), sections(res), plain=args.plain)
    print(f"\nbenchmark run time: {res['benchmark_seconds']:.1f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=2, default=_jsonable) + "\n")
        print(f"wrote {args.json}")
    return 0


def _jsonable(x):
    import numpy as np
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
