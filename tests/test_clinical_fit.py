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
