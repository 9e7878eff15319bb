"""docs/validation/clinical_fit.py: the closed-form Gompertz rate and the scan's interpolation."""
from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "docs" / "validation"


@pytest.fixture(scope="module")
def fit():
    sys.path.insert(0, str(HERE))
    try:
        return importlib.import_module("clinical_fit")
    finally:
        sys.path.remove(str(HERE))


def test_the_closed_form_rate_doubles_a_10_mm_tumour_in_the_target_time(fit):
    """Gompertz N(t) = K exp(ln(N0/K) e^{-rt}) from a 10 mm sphere's cells reaches
    twice as many after the target time."""
    r = fit.gompertz_rate_for_doubling(1.7, 10.0)
    n0 = math.pi / 6 * 10.0 ** 3 * 1e6
    t = 1.7 * 365.25 / 12
    n = fit.CAPACITY * math.exp(math.log(n0 / fit.CAPACITY) * math.exp(-r * t))
    assert n == pytest.approx(2 * n0, rel=1e-9)
    assert fit.round2(r) == 1.6e-3            # the value in core/scenarios/breast.toml


def test_the_scan_interpolates_log_linearly_between_bracketing_rates(fit):
    # median = 0.05 / rate: exactly log-linear, so the crossing is exact
    rates = [2e-3, 4e-3, 8e-3]
    medians = [0.05 / r for r in rates]
    assert fit.crossing(rates, medians, 10.0) == pytest.approx(5e-3, rel=1e-12)
    with pytest.raises(ValueError, match="no scanned rate brackets the target 100"):
        fit.crossing(rates, medians, 100.0)


def test_the_rate_search_steps_on_log_log_secants_within_bounds(fit):
    """f(x) = 3 sqrt(x): from x0 = 1 (f = 3) the first step assumes slope 1 (x =
    2), the second finds the slope 1/2 and lands on f = 6 at x = 4 exactly."""
    calls = []

    def f(x):
        calls.append(x)
        return 3.0 * math.sqrt(x)
    x, y, n = fit.secant_log(f, 1.0, 6.0)
    assert (x, n) == (pytest.approx(4.0, rel=1e-12), 3) and y == pytest.approx(6.0)
    assert calls[:2] == [1.0, 2.0]
    # a target out of reach: x stops at the upper bound, after the evaluations allowed
    x, y, n = fit.secant_log(f, 1.0, 1e6, bounds=(1e-3, 10.0), max_evals=4)
    assert x == 10.0 and n <= 4 and y == pytest.approx(3.0 * math.sqrt(10.0))
    # already within the tolerance: one evaluation
    assert fit.secant_log(f, 4.0, 6.1)[2] == 1


def test_the_autopsy_level_weights_the_chunks_by_their_patients(fit):
    """Chunks of 50, 50 and 20 patients whose sites per patient are 1, 2 and 4:
    (50 + 100 + 80) / 120 sites per patient; each chunk its own seed."""
    seen = []

    def pool(jobs):     # common.run_scenario's jobs and results
        seen.extend(jobs)
        per = {0: 1.0, 1: 2.0, 2: 4.0}
        return [{"mets_mean": per[seed - 7], "patients": n} for _, n, seed, _ in jobs]
    assert fit.autopsy_level(pool, "pancreas", {}, 120, 7) == pytest.approx(230 / 120)
    assert [(n, seed) for _, n, seed, _ in seen] == [(50, 7), (50, 8), (20, 9)]
    # a diagnostic involvement size travels with every chunk's job
    seen.clear()
    fit.autopsy_level(lambda jobs: seen.extend(jobs) or [{"mets_mean": 1.0, "patients": n}
                                                        for _, n, *_ in jobs],
                      "pancreas", {}, 60, 7, involved=6.5e7)
    assert [job[4] for job in seen] == [6.5e7, 6.5e7]
