"""Throughput of ``kernels.disseminate`` on the calls of a default cohort.

The dissemination kernel splits the CTCs each shedding row released over their
fates (arrest in each organ or death in circulation, then extravasation and the
fate of each extravasated cell): one multinomial by conditional binomials and a
few binomials per organ for every row that shed.  In a default cohort it costs
several times the step kernel (figure 6), so it is timed on its own here.

:func:`capture` runs an in-process default cohort with the kernel wrapped and
keeps copies of the arguments of some of its calls; :func:`time_calls` replays
them, taking each call's best time over interleaved rounds (so a disturbance of
the machine spoils one round of one call, not the figure), and reports the time
per shedding row and per CTC.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["capture", "time_calls", "figures"]


def capture(patients: int, years: float, keep: int = 120, seed: int = 1) -> list[tuple]:
    """Inputs of up to ``keep`` evenly spaced ``kernels.disseminate`` calls of a
    default cohort of ``patients`` followed for ``years``."""
    import paget

    from .cohort import replaced_kernels

    seen: list[tuple] = []

    def recording(name, original):
        def record(*args):
            seen.append(tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a
                              for a in args[:12]))
            return original(*args)
        return record

    with replaced_kernels(recording, ("disseminate",)):
        paget.Simulation({"seed": seed, "cohort": {"patients": patients,
                                                   "years": years}}).run()
    step = max(1, len(seen) // keep)
    return seen[::step][:keep]


def _outputs(args: tuple) -> list[np.ndarray]:
    m, n_org = args[0].size, args[8].shape[1]
    return [np.empty((m, n_org), np.int64), np.empty(m, np.int64)] + \
        [np.empty((m, n_org), np.int64) for _ in range(4)]


def time_calls(calls: list[tuple], rounds: int = 7) -> dict:
    """Best time of each call over ``rounds`` interleaved rounds, summed."""
    from paget.ext import kernels
    outs = [_outputs(a) for a in calls]
    best = [np.inf] * len(calls)
    for _ in range(rounds):
        for i, (a, o) in enumerate(zip(calls, outs)):
            t0 = time.perf_counter()
            kernels.disseminate(*a, *o)
            best[i] = min(best[i], time.perf_counter() - t0)
    shed = [a[4] for a in calls]
    rows = int(sum(int((s > 0).sum()) for s in shed))
    ctcs = int(sum(int(s.sum()) for s in shed))
    total = float(sum(best))
    return {"calls": len(calls), "rounds": rounds, "rows": rows, "ctcs": ctcs,
            "seconds": total, "ns_per_row": 1e9 * total / max(rows, 1),
            "ns_per_ctc": 1e9 * total / max(ctcs, 1)}


def figures(patients: int, years: float, rounds: int = 7) -> dict:
    """The harness's figure 3b: ``disseminate_*`` keys."""
    t = time_calls(capture(patients, years), rounds)
    out = {f"disseminate_{k}": v for k, v in t.items()}
    out.update(disseminate_patients=patients, disseminate_years=years)
    return out
