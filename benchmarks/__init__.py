"""Performance benchmarks of paget, run with ``python -m benchmarks [--quick]``.

Modules:

* :mod:`benchmarks.workload` -- a realistic lesion table (rows, rates) for the kernels;
* :mod:`benchmarks.reference` -- the step of ``kernels.step_rows`` in plain NumPy,
  a readable reference and the baseline the kernel is compared with;
* :mod:`benchmarks.kernel` -- kernel / NumPy / raw-binomial throughput, the
  statistical agreement check and the scaling sweep;
* :mod:`benchmarks.memory` -- bytes per row and the peak memory of one engine
  step on a 10**6-row patient (run in a fresh subprocess);
* :mod:`benchmarks.pool` -- the default cohort against a NumPy organ-pool model
  (``cohort_vs_numpy_pool``) and the cohort's peak memory;
* :mod:`benchmarks.small_run` -- one small run through the Python API;
* :mod:`benchmarks.cohort` -- cohort wall time under ``mpiexec -n K`` and the share
  of a run spent outside compiled code (:mod:`benchmarks.compiled` times it);
* :mod:`benchmarks.explore` -- runs per second through ``paget.simulate`` and a
  sweep, and a sweep's efficiency on K ranks;
* :mod:`benchmarks.report` -- targets and the printed report.

Every figure is measured and reported, never asserted: see ``benchmarks/README.md``.
"""

__all__ = ["TARGETS"]

#: Targets printed next to the figures: key -> (comparison, threshold).
TARGETS: dict[str, tuple[str, float]] = {
    "kernel_vs_numpy": (">=", 5.0),
    "kernel_vs_raw_binomial": (">=", 1.0),
    "bytes_per_row": ("<=", 64),
    "overhead_fraction": ("<=", 0.2),
    "speedup_2_ranks": (">=", 1.8),
    # cost no worse than linear in patients and in lesion rows (figure 8)
    "patient_growth_exponent": ("<=", 1.0),
    "lesion_growth_exponent": ("<=", 1.0),
    # paget.simulate against Simulation(...).run() of the same configuration (figure 9)
    "simulate_overhead": ("<=", 0.1),
    # paget run's patient-days/s over the NumPy organ-pool model's trajectory-days/s
    # (figure 0; issue 21's goal, 3 is the bar for closing it)
    "cohort_vs_numpy_pool": (">=", 10.0),
    # one 5-patient, 2-year run through the Python API, after import (figure 0b)
    "small_run_seconds": ("<=", 0.1),
}
