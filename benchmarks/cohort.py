"""Cohort wall time under ``mpiexec -n K``, and the time a run spends outside the kernels.

:func:`cohort_times` launches ``mpiexec -n K python -m paget run --patients P
--years Y --seed 1 --no-progress`` for each K and times it wall-clock, start-up,
MPI launch, simulation, gathering and the printed summary included (nothing is
subtracted).  Python/MPI start-up is reported on its own by the same command
with ``--years 0.01`` (4 steps).

:func:`overhead` runs a cohort in this process with every compiled function
(``paget.ext``: the kernels, :mod:`benchmarks.compiled`) wrapped by timers: the
share of ``sim.run()`` wall time outside them is the per-step overhead (hook calls, rate checks,
bookkeeping, recording, building the Dataset); the hook implementations'
own functions are timed too, which splits that overhead into the plugins'
model computation and the engine's share (dispatch, output checks,
bookkeeping).  A second run under cProfile
lists where that overhead goes; cProfile slows Python code much more than the
compiled kernels, so its fraction is an upper bound, and the unprofiled fraction
is the figure reported.
"""
from __future__ import annotations

import contextlib
import cProfile
import functools
import pstats
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

__all__ = ["mpiexec_path", "cohort_times", "large_patient", "large_patient_times",
           "LARGE_PATIENT", "overhead"]

HERE = Path(__file__).resolve()


def mpiexec_path() -> str | None:
    """The venv's mpiexec (next to this interpreter), else one on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    return shutil.which("mpiexec")


def _launch(cmd: list[str], timeout: float) -> tuple[float | None, str | None, str]:
    """Run ``cmd``: (wall seconds, None, its stdout), or (None, why it failed, "")."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", ""
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return None, f"exit {proc.returncode}: {tail[0]}", ""
    return wall, None, proc.stdout


def _timed(cmd: list[str], timeout: float) -> tuple[float | None, str | None]:
    return _launch(cmd, timeout)[:2]


def _rank_key(kind: str, k: int) -> str:
    return f"{kind}_seconds_{k}_rank" + ("" if k == 1 else "s")


def cohort_times(ranks: list[int], patients: int, years: float, timeout: float = 3600,
                 startup: bool = True, log=lambda msg: None) -> dict:
    """Wall seconds of the CLI cohort run for each rank count, and speed-ups over 1 rank."""
    mpiexec = mpiexec_path()
    out: dict = {"cohort_patients": patients, "cohort_years": years, "mpiexec": mpiexec,
                 "cohort_errors": {}}
    if mpiexec is None:
        out["cohort_errors"]["mpiexec"] = "mpiexec not found"
        return out
    base = [sys.executable, "-m", "paget", "run", "--seed", "1", "--no-progress"]
    for k in ranks:
        launch = [mpiexec, "-n", str(k)]
        if startup:
            log(f"start-up, {k} rank(s)")
            wall, err = _timed(launch + base + ["--patients", str(patients), "--years", "0.01"],
                               timeout)
            out[_rank_key("startup", k)] = wall
            if err:
                out["cohort_errors"][f"startup_{k}"] = err
        log(f"cohort {patients} patients x {years:g} years, {k} rank(s)")
        wall, err = _timed(launch + base + ["--patients", str(patients), "--years", str(years)],
                           timeout)
        out[_rank_key("cohort", k)] = wall
        if err:
            out["cohort_errors"][f"cohort_{k}"] = err
    _speedups(out, "cohort", ranks, "speedup")
    return out


def _speedups(out: dict, kind: str, ranks: list[int], name: str) -> None:
    """``out[f"{name}_{K}_ranks"]``: the 1-rank wall time of ``kind`` over K ranks'."""
    one = out.get(_rank_key(kind, 1))
    for k in ranks:
        if k != 1:
            wk = out.get(_rank_key(kind, k))
            out[f"{name}_{k}_ranks"] = (one / wk) if (one and wk) else None


#: One patient who grows ~10^5 lesion rows within about a year (77,168 rows, 49,345 of
#: them growing lesions, after 1.25 years; 26,160 after 1 year).  ASSUMPTION, chosen for
#: load, not biology: a 10^8-cell breast primary shedding 0.01 N^0.67 CTC/day, with
#: extravasation and a colonization fate far above the calibrated scenarios' (the test
#: suite's BUSY configuration), so that every stage works on a large table.
LARGE_PATIENT = {
    "seed": 11,
    "cohort": {"patients": 1, "dt": 1.0},
    "primary": {"organ": "breast", "cells": 1e8},
    "intravasation": {"rate": 0.01, "exponent": 0.67, "lymph_fraction": 0.2},
    "extravasation": {"probability": {"default": 0.3, "liver": 0.8}},
    "colonization": {
        "growth": {"law": "gompertz", "rate": 0.002, "death": 0.05},
        "fate": {"die": 0.745, "dormant": 0.25, "grow": 0.005},
        "dormancy": {"reactivation": 0.001, "death": 0.02},
    },
    "output": {"interval": 7.0},
}


def large_patient(years: float) -> dict:
    """:data:`LARGE_PATIENT` followed for ``years``."""
    return {**LARGE_PATIENT, "cohort": {**LARGE_PATIENT["cohort"], "years": years}}


def large_patient_times(ranks: list[int], years: float, timeout: float = 3600,
                        log=lambda msg: None) -> dict:
    """Wall seconds of :data:`LARGE_PATIENT` under ``mpiexec -n K`` for each K.

    With K ranks the patient's rows are spread over all of them (its domains:
    docs/explanation/engine.md, "Splitting a patient over ranks"); the wall
    time includes starting K interpreters and writing nothing (no ``-o``).
    """
    import tempfile

    import tomli_w
    mpiexec = mpiexec_path()
    out: dict = {"large_patient_years": years, "large_patient_errors": {}}
    if mpiexec is None:
        out["large_patient_errors"]["mpiexec"] = "mpiexec not found"
        return out
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "large_patient.toml"
        config.write_text(tomli_w.dumps(large_patient(years)))
        for k in ranks:
            log(f"one large patient, {years:g} years, {k} rank(s)")
            wall, err = _timed([mpiexec, "-n", str(k), sys.executable, "-m", "paget", "run",
                                str(config), "--no-progress"], timeout)
            out[_rank_key("large_patient", k)] = wall
            if err:
                out["large_patient_errors"][str(k)] = err
    _speedups(out, "large_patient", ranks, "large_patient_speedup")
    return out


class _Clock:
    """Own (self) time of nested timed regions, by key: a region entered inside
    another pauses the outer one, so no time is counted twice.

    Keys are ``(category, name)``; the categories used are ``"kernel"`` (a
    compiled kernel), ``"plugin"`` (a hook implementation's own function) and
    ``"check"`` (the validating wrapper of ``paget.manager`` around it, less the
    function inside).
    """

    def __init__(self):
        self.stack: list[list] = []          # [key, time the region last resumed]
        self.seconds: dict[tuple[str, str], float] = {}
        self.calls: dict[tuple[str, str], int] = {}

    def wrap(self, fn, category: str, name: str):
        key = (category, name)
        self.seconds.setdefault(key, 0.0)
        self.calls.setdefault(key, 0)
        stack, seconds, calls = self.stack, self.seconds, self.calls
        clock = time.perf_counter

        def wrapper(*args, **kwargs):
            now = clock()
            if stack:                        # pause the region we were called from
                outer = stack[-1]
                seconds[outer[0]] += now - outer[1]
            entry = [key, now]
            stack.append(entry)
            try:
                return fn(*args, **kwargs)
            finally:
                now = clock()
                stack.pop()
                seconds[key] += now - entry[1]
                calls[key] += 1
                if stack:
                    stack[-1][1] = now       # resume it
        functools.update_wrapper(wrapper, fn)
        return wrapper

    def total(self, category: str) -> float:
        return sum(v for (c, _), v in self.seconds.items() if c == category)

    def count(self, category: str) -> int:
        return sum(v for (c, _), v in self.calls.items() if c == category)


def _time_hooks(pm, clock: _Clock) -> int:
    """Time every per-step hook implementation of ``pm``: its own function as
    ``plugin``, the validating wrapper of ``paget.manager`` around it as
    ``check``.  Returns the number of implementations timed."""
    from paget import manager

    n = 0
    for hook_name in dir(pm.hook):
        if not hook_name.startswith("paget_"):
            continue
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            inner = getattr(impl.function, "__wrapped__", None)
            if inner is None or not getattr(impl.function, "_paget_wrapped", False):
                continue  # not wrapped by the manager: left alone
            name = f"{impl.plugin_name}.{hook_name}"
            impl.function = clock.wrap(inner, "plugin", name)
            manager._wrap_errors(impl, hook_name)      # the same check, around the timer
            impl.function = clock.wrap(impl.function, "check", name)
            n += 1
    return n


@contextlib.contextmanager
def replaced_kernels(make: Callable[[str, Callable], Callable], names: tuple[str, ...]):
    """Within the block, each kernel ``name`` in ``names`` is ``make(name, original)``,
    in ``paget.ext.kernels`` and in the engine module too should it hold the
    function itself; the originals are restored after."""
    import paget.engine as engine
    from paget.ext import kernels

    saved = []
    for name in names:
        original = getattr(kernels, name)
        replacement = make(name, original)
        for mod in (kernels, engine):
            if getattr(mod, name, None) is original:
                saved.append((mod, name, original))
                setattr(mod, name, replacement)
    try:
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def _patched_run(config: dict, profiler: cProfile.Profile | None = None) -> dict:
    """Run ``Simulation(config).run()`` with the kernels and the hook
    implementations timed (see :class:`_Clock`); restore the kernels after."""
    import paget

    from .compiled import timed_compiled

    clock = _Clock()
    with timed_compiled(lambda fn, name: clock.wrap(fn, "kernel", name)):
        sim = paget.Simulation(config)
        hooks = _time_hooks(sim.plugin_manager, clock)
        if profiler is not None:
            profiler.enable()
        t0 = time.perf_counter()
        sim.run()
        wall = time.perf_counter() - t0
        if profiler is not None:
            profiler.disable()
    plugin = sorted(((name, s, clock.calls[("plugin", name)])
                     for (c, name), s in clock.seconds.items() if c == "plugin"),
                    key=lambda r: -r[1])
    compiled = sorted(((name, s, clock.calls[("kernel", name)])
                       for (c, name), s in clock.seconds.items() if c == "kernel"),
                      key=lambda r: -r[1])

    def kernel(short: str, what: dict) -> float:
        return sum(what[("kernel", n)] for n, _, _ in compiled if n.endswith("." + short))

    return {"wall_s": wall, "kernel_s": clock.total("kernel"),
            "step_rows_s": kernel("step_rows", clock.seconds),
            "disseminate_s": kernel("disseminate", clock.seconds),
            "step_rows_calls": kernel("step_rows", clock.calls),
            "disseminate_calls": kernel("disseminate", clock.calls),
            "compiled_calls": clock.count("kernel"), "compiled": compiled,
            "plugin_s": clock.total("plugin"), "plugin_calls": clock.count("plugin"),
            "check_s": clock.total("check"), "hook_impls_timed": hooks,
            "plugin_hooks": plugin}


def _source(path: Path, func: str) -> str:
    """Where a profiled function's own time belongs: its file in the repository, a
    package outside it, or a built-in (NumPy's methods and functions together)."""
    if str(path) == "~":
        return "NumPy (C functions, methods)" if "numpy" in func else "other built-ins"
    parts = path.parts
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
        return "NumPy (Python wrappers)" if package == "numpy" else package
    if not path.is_absolute():
        return str(path)
    return "python standard library" if "python3" in str(path) else str(path)


def overhead(patients: int, years: float, top: int = 8, top_functions: int = 15) -> dict:
    """Share of an in-process cohort run spent outside compiled code (every
    ``paget.ext`` function: :mod:`benchmarks.compiled`), split into the plugins'
    hook bodies and the engine, and the ``top_functions`` largest own times
    under cProfile (see benchmarks/README.md, figure 6)."""
    config = {"seed": 1, "cohort": {"patients": patients, "years": years}}
    plain = _patched_run(config)
    prof = cProfile.Profile()
    profiled = _patched_run(config, prof)
    stats = pstats.Stats(prof)
    rows = []
    by_source: dict[str, float] = {}
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        if (func in ("step_rows", "disseminate", "<built-in method time.perf_counter>")
                or Path(file).resolve() == HERE):
            continue  # the kernels, or the timing wrappers around them and their clock
        path = Path(file)
        with contextlib.suppress(ValueError):
            path = path.resolve().relative_to(HERE.parents[1])
        rows.append({"function": f"{path}:{line}({func})" if line else func,
                     "calls": nc, "tottime_s": tt,
                     "share": tt / profiled["wall_s"] if profiled["wall_s"] > 0 else None})
        where = _source(path, func)
        by_source[where] = by_source.get(where, 0.0) + tt
    rows.sort(key=lambda r: -r["tottime_s"])
    wall = plain["wall_s"]

    def share(seconds):
        return seconds / wall if wall > 0 else None

    engine_s = wall - plain["kernel_s"] - plain["plugin_s"]
    out = {
        "overhead_patients": patients, "overhead_years": years,
        "overhead_wall_s": wall,
        "overhead_kernel_s": plain["kernel_s"],
        "overhead_step_rows_s": plain["step_rows_s"],
        "overhead_disseminate_s": plain["disseminate_s"],
        "overhead_kernel_calls": plain["compiled_calls"],
        "overhead_compiled_functions": [{"function": name, "calls": calls, "seconds": sec}
                                        for name, sec, calls in plain["compiled"] if calls],
        "overhead_fraction": (1.0 - plain["kernel_s"] / wall) if wall > 0 else None,
        "overhead_kernel_fraction": share(plain["kernel_s"]),
        "overhead_plugin_s": plain["plugin_s"],
        "overhead_plugin_fraction": share(plain["plugin_s"]),
        "overhead_engine_s": engine_s,
        "overhead_engine_fraction": share(engine_s),
        "overhead_check_s": plain["check_s"],
        "overhead_check_fraction": share(plain["check_s"]),
        "overhead_hook_calls": plain["plugin_calls"],
        "overhead_hook_impls": plain["hook_impls_timed"],
        "overhead_top_hooks": [{"hook": name, "calls": calls, "seconds": sec}
                               for name, sec, calls in plain["plugin_hooks"][:top]],
        "overhead_fraction_cprofile": (1.0 - profiled["kernel_s"] / profiled["wall_s"])
        if profiled["wall_s"] > 0 else None,
        "overhead_wall_s_cprofile": profiled["wall_s"],
        "overhead_top_functions": rows[:top_functions],
        "overhead_top_sources": [
            {"source": k, "tottime_s": v,
             "share": v / profiled["wall_s"] if profiled["wall_s"] > 0 else None}
            for k, v in sorted(by_source.items(), key=lambda kv: -kv[1])[:top_functions]],
    }
    if plain["step_rows_calls"] == 0:
        out["overhead_note"] = "the timers saw no step_rows call: the engine no longer " \
                               "calls paget.ext.kernels.step_rows by attribute"
    elif plain["hook_impls_timed"] == 0:
        out["overhead_note"] = "no hook implementation was timed: paget.manager no longer " \
                               "wraps them as this harness expects"
    return out
