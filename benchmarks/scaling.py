"""How the whole engine's cost grows with patients and with lesion rows (figure 8).

:func:`patient_sweep` times in-process default cohorts of increasing size; the
slope of log(wall) against log(patients) is the growth exponent (1 = linear; less
while fixed per-step costs are still being amortised).

:func:`lesion_sweep` runs :data:`benchmarks.cohort.LARGE_PATIENT` in-process with a
plugin whose first-called ``paget_update_state`` notes the time and the table's rows
at the start of every step, so each step's wall time (every hook, kernel and the
bookkeeping) pairs with the rows it stepped.  As the patient's table grows from
hundreds to ~10^5 rows, the slope of log(step time) against log(rows), fitted over
the steps with at least 10^3 rows, is the growth exponent in lesions.
"""
from __future__ import annotations

import time
import types

import numpy as np

__all__ = ["patient_sweep", "lesion_sweep"]


def _slope(x, y) -> float | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return None
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def patient_sweep(sizes: list[int], years: float, log=lambda msg: None) -> dict:
    """Wall seconds of ``Simulation({"seed": 1, cohort}).run()`` for each cohort size."""
    import paget
    walls = []
    for p in sizes:
        log(f"{p} patients x {years:g} years, in-process")
        sim = paget.Simulation({"seed": 1, "cohort": {"patients": p, "years": years}})
        t0 = time.perf_counter()
        sim.run()
        walls.append(time.perf_counter() - t0)
    return {"patient_sweep_years": years, "patient_sweep_patients": list(sizes),
            "patient_sweep_seconds": walls,
            "patient_sweep_seconds_per_patient": [w / p for w, p in zip(walls, sizes)],
            "patient_growth_exponent": _slope(sizes, walls)}


def lesion_sweep(years: float, min_rows: int = 1000) -> dict:
    """Per-step wall time against rows for one patient whose table grows."""
    import paget

    from .cohort import large_patient
    marks: list[tuple[float, int]] = []
    probe = types.ModuleType("step_clock")

    @paget.hookimpl(tryfirst=True)
    def paget_update_state(lesions, dt):
        if dt > 0:          # not the injection's dt = 0 call
            marks.append((time.perf_counter(), lesions.cells.size))

    probe.paget_update_state = paget_update_state
    sim = paget.Simulation(large_patient(years), plugins=[("step_clock", probe)],
                           entry_points=False)
    t0 = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t0
    t = np.array([m[0] for m in marks])
    rows = np.array([m[1] for m in marks])
    step_s, rows = np.diff(t), rows[:-1]          # step k: from its start to the next's
    big = rows >= min_rows
    # medians per decade of rows, for the report
    edges = 10.0 ** np.arange(np.floor(np.log10(max(1, rows.min()))),
                              np.ceil(np.log10(rows.max() + 1)) + 1)
    decades = []
    for lo, hi in zip(edges, edges[1:]):
        sel = (rows >= lo) & (rows < hi)
        if sel.any():
            decades.append({"rows_from": int(lo), "rows_to": int(hi), "steps": int(sel.sum()),
                            "median_rows": float(np.median(rows[sel])),
                            "median_step_s": float(np.median(step_s[sel])),
                            "median_s_per_row": float(np.median(step_s[sel] / rows[sel]))})
    return {"lesion_sweep_years": years, "lesion_sweep_wall_s": wall,
            "lesion_sweep_max_rows": int(rows.max()), "lesion_sweep_decades": decades,
            "lesion_growth_exponent": _slope(rows[big], step_s[big])}
