"""Growth laws: the step-averaged net rate reproduces each law's closed form.

``step_net_rate(law, n, r, k, dt)`` is ``ln(N(t+dt) / N(t)) / dt`` of the law, so
iterating ``n *= exp(g dt)`` must follow the closed-form solution at every step,
whatever dt.  These checks are deterministic (no random draws): the tolerance
rtol 1e-9 only allows floating-point rounding accumulated over <= 1456 steps
(~1e-16 per step).
"""
from __future__ import annotations

import numpy as np
import pytest

import paget
from paget.plugins.colonization import step_net_rate

from .factors import only

T_END = 364.0   # a whole number of steps for every dt below (52 weeks)
DTS = [0.25, 1.0, 7.0]


def closed_form(law, n0, r, k, t):
    t = np.asarray(t, dtype=np.float64)
    if law == "exponential":
        return n0 * np.exp(r * t)
    if law == "logistic":
        return k * n0 * np.exp(r * t) / (k + n0 * np.expm1(r * t))
    if law == "gompertz":
        return k * np.exp(np.log(n0 / k) * np.exp(-r * t))
    raise ValueError(law)


CASES = [
    ("exponential", 1000.0, 0.01, 1e5),
    ("exponential", 1000.0, 0.0, 1e5),
    ("logistic", 1000.0, 0.05, 1e5),
    ("logistic", 5e5, 0.05, 1e5),        # above capacity: declines towards K
    ("gompertz", 1000.0, 0.01, 1e6),
    ("gompertz", 5e7, 0.01, 1e6),        # above capacity: declines towards K
    ("gompertz", 1e6, 0.01, 3e12),       # the default capacity
]
CASE_IDS = ["exponential", "exponential_r0", "logistic", "logistic_above_K", "gompertz",
            "gompertz_above_K", "gompertz_default_K"]


@pytest.mark.parametrize("dt", DTS, ids=[f"dt={dt}" for dt in DTS])
@pytest.mark.parametrize("law,n0,r,k", CASES, ids=CASE_IDS)
def test_iterated_step_rate_reproduces_closed_form(law, n0, r, k, dt):
    steps = int(round(T_END / dt))
    n = np.array([n0])
    kk = np.array([k])
    path = [n[0]]
    for _ in range(steps):
        n = n * np.exp(step_net_rate(law, n, r, kk, dt) * dt)
        path.append(n[0])
    times = dt * np.arange(steps + 1)
    np.testing.assert_allclose(path, closed_form(law, n0, r, k, times), rtol=1e-9)


@pytest.mark.parametrize("law,n0,k", [("logistic", 5e5, 1e5), ("gompertz", 5e7, 1e6),
                                      ("logistic", 1e3, 1e5), ("gompertz", 1e3, 1e6)],
                         ids=["logistic_above", "gompertz_above", "logistic_below",
                              "gompertz_below"])
def test_net_rate_sign_and_approach_to_capacity(law, n0, k):
    """Below K the rate is positive, above K negative; N approaches K monotonically."""
    n, kk = np.array([n0]), np.array([k])
    g = step_net_rate(law, n, 0.05, kk, 1.0)
    assert np.sign(g[0]) == np.sign(k - n0)
    assert abs(step_net_rate(law, kk.copy(), 0.05, kk, 1.0)[0]) < 1e-15   # K is a fixed point
    prev = n0
    for _ in range(2000):
        n = n * np.exp(step_net_rate(law, n, 0.05, kk, 1.0))
        assert (n[0] - prev) * (k - n0) >= 0          # never moves away from K
        assert (n[0] - k) * (n0 - k) >= 0             # never overshoots K
        prev = n[0]
    np.testing.assert_allclose(n[0], k, rtol=1e-9)


def test_net_rate_is_vectorised_over_rows():
    n = np.array([1e3, 1e5, 5e5, 1.0])
    k = np.array([1e5, 1e5, 1e5, 3e12])
    for law in ("exponential", "logistic", "gompertz"):
        g = step_net_rate(law, n, 0.05, k, 2.0)
        one = [step_net_rate(law, n[i:i + 1], 0.05, k[i:i + 1], 2.0)[0] for i in range(n.size)]
        np.testing.assert_array_equal(g, one)


def test_unknown_law_raises():
    with pytest.raises(ValueError):
        step_net_rate("linear", np.array([1.0]), 0.1, np.array([10.0]), 1.0)


# ------------------------------------------------------------------ end to end

E2E = [("exponential", 0.01, 3e12), ("logistic", 0.05, 1e5), ("gompertz", 0.01, 1e6)]


@pytest.mark.parametrize("law,r,k", E2E, ids=[c[0] for c in E2E])
def test_deterministic_simulation_follows_closed_form(law, r, k):
    n0 = 1000.0
    ds = paget.Simulation(only({   # the law alone: no factor plugin (e.g. the immune kill)
        "seed": 1,
        "cohort": {"patients": 1, "years": 1, "dt": 1.0},
        "primary": {"cells": n0},
        "intravasation": {"rate": 0},
        "colonization": {"growth": {"law": law, "rate": r, "capacity": k,
                                    "mode": "deterministic", "death": 0.0}},
        "output": {"interval": 1.0},
    })).run()
    cells = ds.tumor_cells.sel(organ="breast").isel(patient=0)
    times = cells["time"].values
    # 1 year of 1-day steps: round(365.25) = 365 steps, recorded every day
    np.testing.assert_allclose(times, np.arange(366.0))
    np.testing.assert_allclose(cells.values, closed_form(law, n0, r, k, times), rtol=1e-9)
    # nothing was shed, so no other organ holds cells
    assert float(ds.tumor_cells.isel(patient=0).drop_sel(organ="breast").sum()) == 0.0


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("r", [29.0, 31.0, 200.0, 800.0, 1e300])
def test_logistic_step_at_extreme_rates_is_the_closed_form_without_overflow(r):
    """Past r dt = 30 the logistic step is written with e^-(r dt), so that n e^(r dt)
    cannot overflow; either side of the switch it is the closed-form solution."""
    n = np.array([1.0, 1e3, 1e9, 5e12])
    k = np.full(n.size, 3e12)
    got = n * np.exp(step_net_rate("logistic", n, r, k, 1.0))
    with np.errstate(over="ignore", invalid="ignore"):
        want = closed_form("logistic", n, r, k, 1.0)
    want = np.where(np.isfinite(want), want, k)   # the closed form's own overflow: N = K
    np.testing.assert_allclose(got, want, rtol=1e-12)
