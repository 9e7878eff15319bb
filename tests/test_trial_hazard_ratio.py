"""Peto's log-rank hazard ratio (``paget.trial.logrank_hazard_ratio``): a hand
computation, exponential arms with a known ratio, censoring, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from paget.trial import logrank_hazard_ratio


def test_hand_computed_example():
    """Control events at 1 and 3, treated at 2, one censored treated at 4.
    t=1: n=4, n1=2, d=1: E=1/2, V=1/4; t=2: n=3, n1=2, d=1: E=2/3, V=2/9;
    t=3: n=2, n1=1, d=1: E=1/2, V=1/4.  O=1, E=5/3, V=13/18."""
    r = logrank_hazard_ratio([1.0, 3.0], [True, True], [2.0, 4.0], [True, False])
    e, v = 0.5 + 2 / 3 + 0.5, 0.25 + 2 / 9 + 0.25
    assert r["observed"] == 1.0
    assert r["expected"] == pytest.approx(e, rel=1e-12)
    assert r["variance"] == pytest.approx(v, rel=1e-12)
    assert r["hr"] == pytest.approx(np.exp((1 - e) / v), rel=1e-12)
    assert r["se_log_hr"] == pytest.approx(v ** -0.5, rel=1e-12)
    assert r["chi2"] == pytest.approx((1 - e) ** 2 / v, rel=1e-12)


def test_tied_events_use_the_hypergeometric_variance():
    """Two events at one time among 4 at risk, 2 in each arm: E = 1, V = 1/3."""
    r = logrank_hazard_ratio([1.0, 1.0], [True, False], [1.0, 1.0], [True, False])
    assert r["expected"] == pytest.approx(1.0) and r["variance"] == pytest.approx(1 / 3)
    assert r["hr"] == pytest.approx(1.0)


@pytest.mark.parametrize("ratio", [1.0, 0.75, 0.5])
def test_recovers_a_known_ratio_of_exponential_hazards(ratio):
    """4000 patients per arm, hazard 1/yr against `ratio`/yr, administrative
    censoring at 1.5 yr: ln HR within 3 SE of ln(ratio) (Peto's estimate is
    nearly unbiased in this range), and the 95 % interval covers it."""
    rng = np.random.default_rng(11)
    n, end = 4000, 1.5
    tc, tt = rng.exponential(1.0, n), rng.exponential(1.0 / ratio, n)
    r = logrank_hazard_ratio(np.minimum(tc, end), tc < end, np.minimum(tt, end), tt < end)
    assert abs(np.log(r["hr"]) - np.log(ratio)) < 3 * r["se_log_hr"]
    assert r["ci_low"] < ratio < r["ci_high"]
    assert 0.02 < r["se_log_hr"] < 0.04           # ~ 2 / sqrt(events), ~2 x 2600 events
    assert (r["p"] < 1e-6) == (ratio != 1.0)


def test_the_arms_swapped_invert_the_ratio():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(1.0, 300), rng.exponential(1.4, 300)
    ea, eb = a < 2, b < 2
    r = logrank_hazard_ratio(np.minimum(a, 2), ea, np.minimum(b, 2), eb)
    s = logrank_hazard_ratio(np.minimum(b, 2), eb, np.minimum(a, 2), ea)
    assert r["hr"] * s["hr"] == pytest.approx(1.0, rel=1e-12)
    assert r["ci_low"] * s["ci_high"] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (([np.nan], [True], [1.0], [True]), "time_control: every time must be finite"),
    (([1.0], [True], [-1.0], [True]), "time_treated: every time must be finite and >= 0"),
    (([1.0, 2.0], [True], [1.0], [True]), "one event flag per time"),
    (([1.0], [False], [2.0], [False]), "no event with both arms at risk"),
])
def test_bad_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        logrank_hazard_ratio(*args)


def test_hazard_ratio_of_a_trial_dataset():
    """The synthetic trial (tests/trial_data.py) draws deaths at hazard 1/700
    per day in the control arm and half that in the treated arm, censored at 3
    years: the estimate is within 3 SE of 0.5."""
    from paget.trial import hazard_ratio

    from .trial_data import trial_dataset
    ds = trial_dataset(patients=600, seed=4)
    r = hazard_ratio(ds, "control", "treatment", origin="start")
    assert abs(np.log(r["hr"]) - np.log(0.5)) < 3 * r["se_log_hr"]
    assert r["ci_high"] < 1.0
    with pytest.raises(ValueError, match="arm 'placebo': not in the dataset; its arms are "
                                         "'control', 'treatment'"):
        hazard_ratio(ds, "placebo", "treatment")
