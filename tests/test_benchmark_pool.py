"""The harness's NumPy organ-pool model (``benchmarks/pool.py``) is the model issue 21 specifies.

It is the baseline of ``cohort_vs_numpy_pool``, so it must do the work the
specification asks for: growth at the stated rates, migrants drawn at the
stated rate and spread uniformly over the other 15 organs, cells conserved by
migration.  Stochastic checks use fixed seeds and bands of 5 standard errors
from the sample variances (a correct model misses one with probability ~6e-7).
Also: the patient-days counted from a paget output, and the compiled-function
timers of figure 6.  Nothing is timed.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.pool import (BIRTH, DEATH, DEST, MIGRATION, ORGANS, X0, patient_days_alive,
                             pool_model, pool_step)

from .conftest import ROOT


def _within(sample: np.ndarray, expected: float, k: float = 5.0) -> None:
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < k * se, (sample.mean(), expected, se)


def test_pool_model_shape_start_and_dtype():
    states = pool_model(3, 4, seed=2)
    assert states.shape == (5, 3, ORGANS) and states.dtype == np.int64
    assert (states[0, :, 0] == X0).all() and (states[0, :, 1:] == 0).all()
    assert (states >= 0).all()


def test_pool_model_is_reproducible_from_its_seed():
    np.testing.assert_array_equal(pool_model(4, 20, seed=7), pool_model(4, 20, seed=7))
    assert not np.array_equal(pool_model(4, 20, seed=7), pool_model(4, 20, seed=8))


@pytest.mark.parametrize("day", [10, 40])
def test_pool_growth_matches_its_expectation(day):
    """E[organ 0] = X0 (1.01 - 1e-6 * 0.96)^t (migrants leave at (1 - death) * 1e-6 a
    day; what returns from other organs is ~1e-12 of it); E[total] = X0 1.01^t."""
    states = pool_model(3000, 40, seed=11)
    organ0 = states[day, :, 0].astype(np.float64)
    total = states[day].sum(axis=1).astype(np.float64)
    _within(organ0, X0 * (1 + BIRTH - DEATH - (1 - DEATH) * MIGRATION) ** day)
    _within(total, X0 * (1 + BIRTH - DEATH) ** day)


def test_pool_migrants_conserve_cells_and_never_return_home():
    rng = np.random.Generator(np.random.PCG64(3))
    t = 500
    x = np.zeros((t, ORGANS), np.int64)
    home = rng.integers(0, ORGANS, t)
    x[np.arange(t), home] = 10**5
    before = x.copy()
    births, deaths, migrants, inflow = pool_step(x, rng, migration=0.01)
    # migrants leave one organ and arrive in others: totals change by births - deaths only
    np.testing.assert_array_equal(inflow.sum(axis=1), migrants.sum(axis=1))
    np.testing.assert_array_equal(x.sum(axis=1),
                                  before.sum(axis=1) + births.sum(axis=1) - deaths.sum(axis=1))
    np.testing.assert_array_equal(x, before + births - deaths - migrants + inflow)
    assert (inflow[np.arange(t), home] == 0).all()     # none go back to their own organ
    m = migrants[np.arange(t), home].astype(np.float64)
    _within(m, 10**5 * (1 - DEATH) * 0.01)              # Binomial(X - deaths, p)


def test_pool_migrants_spread_uniformly_over_the_other_organs():
    rng = np.random.Generator(np.random.PCG64(4))
    t = 2000
    x = np.zeros((t, ORGANS), np.int64)
    x[:, 5] = 10**4
    _, _, migrants, inflow = pool_step(x, rng, migration=0.05)
    # each of the 15 destinations gets, per trajectory, migrants/15 in expectation
    share = inflow[:, DEST[5]] - migrants[:, 5:6] / (ORGANS - 1)
    for j in range(ORGANS - 1):
        _within(share[:, j], 0.0)
    assert inflow[:, 5].sum() == 0 and (inflow[:, DEST[5]].sum(axis=0) > 0).all()


def test_pool_reference_child_prints_its_figures():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.pool", "--reference",
                           "--trajectories", "3", "--days", "5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["model_seconds"] > 0 and out["mean_final_cells"] > 0


def _output(path, death, alive_end, days=70):
    import xarray as xr
    time_ = np.datetime64("2000-01-01") + np.arange(0, days + 1, 7).astype("timedelta64[D]")
    if time_[-1] != np.datetime64("2000-01-01") + np.timedelta64(days, "D"):
        time_ = np.append(time_, np.datetime64("2000-01-01") + np.timedelta64(days, "D"))
    alive = np.ones((len(death), time_.size), bool)
    alive[:, -1] = alive_end
    xr.Dataset({"death_time": ("patient", np.asarray(death, np.float64)),
                "alive": (("patient", "time"), alive)},
               coords={"time": time_}).to_netcdf(path)
    return path


def test_patient_days_count_only_days_alive(tmp_path):
    path = _output(tmp_path / "a.nc", [np.nan, 10.0, 69.5], [True, False, False])
    total, span, n = patient_days_alive(path)
    assert (span, n) == (70.0, 3)
    assert total == pytest.approx(70.0 + 10.0 + 69.5)


def test_patient_days_refuse_an_inconsistent_output(tmp_path):
    path = _output(tmp_path / "b.nc", [np.nan, 10.0], [True, True])
    with pytest.raises(ValueError, match="disagree"):
        patient_days_alive(path)


def test_compiled_timers_see_the_kernels_and_restore_them():
    """Figure 6 times every paget.ext function wherever paget's modules hold it."""
    import paget
    import paget.state
    from paget.ext import kernels

    from benchmarks.compiled import timed_compiled

    calls: dict[str, int] = {}

    def wrap(fn, name):
        def timed(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        return timed

    step_rows, bounds_check = kernels.step_rows, paget.state.bounds_check
    with timed_compiled(wrap) as places:
        assert places["paget.ext.step.step_rows"] >= 2          # kernels, step
        assert kernels.step_rows is not step_rows
        assert paget.state.bounds_check is not bounds_check     # a from-import too
        paget.Simulation({"seed": 1, "cohort": {"patients": 2, "years": 0.05}}).run()
    assert kernels.step_rows is step_rows and paget.state.bounds_check is bounds_check
    assert calls["paget.ext.step.step_rows"] == 18               # one per step
    assert calls["paget.ext.dissemination.disseminate"] > 0


def test_paget_run_counts_every_patient_day_of_a_short_cohort():
    """Figure 0's paget side: the CLI run writes its file, which is read back."""
    from benchmarks.pool import paget_run
    r = paget_run(2, 0.05)
    assert r["patients"] == 2 and r["days"] == 18.0            # 18 steps of 1 day
    assert r["patient_days_alive"] == 36.0                    # nobody dies within 18 days
    assert r["peak_rss_bytes"] > 2**20 and r["seconds"] > 0


def test_small_run_times_build_and_run_separately():
    from benchmarks.small_run import measure
    r = measure(2, patients=2, years=0.05)
    assert len(r["small_run_seconds_all"]) == 2
    assert 0 < r["small_run_run_only_seconds"] <= r["small_run_seconds"]
