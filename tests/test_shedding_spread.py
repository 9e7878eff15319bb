"""docs/validation/shedding_spread.py: the breast shedding spread re-pinned to Coumans' mean."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import paget

from .helpers import validation_module


@pytest.fixture(scope="module")
def spread():
    pytest.importorskip("scipy")
    return validation_module("shedding_spread")


def _multipliers(sigma: float, n: int, seed: int) -> np.ndarray:
    from paget.plugins.heterogeneity import draw
    from paget.state import Patients
    config = paget.Simulation({"seed": seed, "heterogeneity": {"shedding_sigma": sigma}}).config
    idx = np.arange(n, dtype=np.int64)
    return draw(seed, Patients(index=idx, alive=np.ones(n, bool), burden=np.zeros(n)),
                config)["shedding_multiplier"]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_the_drawn_multipliers_have_the_mean_the_pinning_divides_by(sigma):
    """The re-pinning divides the rate by exp(sigma^2 / 2), the mean of the
    plugin's LogNormal(0, sigma) multiplier.  Its variance is (exp(sigma^2) - 1)
    exp(sigma^2), so the mean of n draws has the standard error exp(sigma^2 / 2)
    sqrt((exp(sigma^2) - 1) / n); the draws' mean lies within 3 of them."""
    n = 20000
    m = _multipliers(sigma, n, seed=17)
    mean = math.exp(sigma ** 2 / 2)
    se = mean * math.sqrt(math.expm1(sigma ** 2) / n)
    assert abs(m.mean() - mean) < 3 * se, (m.mean(), mean, se)
    # and the median is 1 (the scenario's "typical" patient): the binomial
    # order-statistic band of the median, 3 SE of a share (1/2 sqrt(n))
    assert abs(np.mean(m < 1.0) - 0.5) < 3 * 0.5 / math.sqrt(n)


def test_the_pinned_rate_keeps_the_cohort_mean_at_coumans(spread):
    assert spread.pinned_rate(0.0, 1000.0) == pytest.approx(9.0 / 1000.0, rel=1e-12)
    for sigma in (1.0, 2.5):
        assert spread.pinned_rate(sigma, 1000.0) * 1000.0 * math.exp(sigma ** 2 / 2) \
            == pytest.approx(9.0, rel=1e-12)


def test_a_one_step_cohort_holds_the_mean_at_the_pinned_rate(spread):
    """A heterogeneous cohort (sigma 2) at the pinned rate: the ratio estimate of
    its mean CTC/L at 2.7 mm is 9 within 3 standard errors.  Both the
    homogeneous run that sets the rate and this run carry only the Poisson noise
    of the shed counts: CTC/L = count x u, u = half-life / ln 2 / blood volume
    (plugins/liquid_biopsy.py), so a sum of CTC/L S has the relative SE
    sqrt(u / S).  A pinning by exp(-sigma^2) instead would miss by e^2."""
    cfg = paget.Simulation.from_scenario("breast").config.liquid_biopsy
    u = cfg.ctc_half_life / 24.0 / math.log(2.0) / cfg.blood_volume * 1000.0
    k, _ = spread.unit_concentration(2.7, 5, seed=3)
    c0 = k * 1e-2 * 5                    # the homogeneous run's sum of CTC/L (rate 1e-2)
    sigma = 2.0
    c, m = spread.ctc_per_litre(2.7, 5, 4, sigma, spread.pinned_rate(sigma, k))
    estimate = c.sum() / m.sum() * math.exp(sigma ** 2 / 2)
    rel_se = math.sqrt(u / c.sum() + u / c0)
    assert abs(estimate / 9.0 - 1.0) < 3 * rel_se, (estimate, rel_se)


def test_the_analytic_share_is_the_log_normal_average(spread):
    """share_analytic: at sigma 0 the Poisson share at the mean concentration;
    at sigma 2 the average over 20000 drawn multipliers (scaled to mean 1),
    within 3 SE of that average; and a wider spread lowers the share."""
    c = 130.0
    assert spread.share_analytic(c, 0.0) == pytest.approx(1 - math.exp(-0.03 * c), rel=1e-9)
    sigma = 2.0
    m = _multipliers(sigma, 20000, seed=5) / math.exp(sigma ** 2 / 2)
    p = -np.expm1(-0.03 * c * m)
    se = p.std(ddof=1) / math.sqrt(p.size)
    assert abs(spread.share_analytic(c, sigma) - p.mean()) < 3 * se
    shares = [spread.share_analytic(c, s) for s in (0.5, 1.0, 2.0, 3.0)]
    assert all(a > b for a, b in zip(shares, shares[1:]))


def test_the_size_mix_nodes_integrate_the_scenario_distribution(spread):
    """Weights sum to 1 and the mean diameter is the mix's: sum of share x midpoint."""
    d, w = spread.size_mix_nodes(3)
    dist = paget.Simulation.from_scenario("breast").config.diagnosis.diameter_distribution
    e = np.asarray(dist.edges)
    assert w.sum() == pytest.approx(1.0, rel=1e-12)
    assert (d * w).sum() == pytest.approx(np.sum(np.asarray(dist.shares) * (e[:-1] + e[1:]) / 2),
                                          rel=1e-12)


def test_a_small_scan_writes_what_the_report_needs(spread, tmp_path):
    out = tmp_path / "spread.json"
    spread.main(["--sigmas", "1.0", "2.0", "--expensive", "2.0", "--patients", "3",
                 "--unit-patients", "8", "--mix-nodes", "1", "--autopsy", "2", "--small", "2",
                 "--mix", "2",
                 "--risk-years", "5.5", "--cellsearch", "2", "--cellsearch-years", "0.3",
                 "--out", str(out)])
    r = json.loads(out.read_text())
    assert [row["sigma"] for row in r["rows"]] == [1.0, 2.0]
    for row in r["rows"]:
        assert {"rate", "ctc_per_litre_2_7mm", "van_dalum_10mm", "van_dalum_size_mix"} <= set(row)
        assert {"mean", "mean_from_multipliers", "median"} <= set(row["ctc_per_litre_2_7mm"])
        assert {"simulated", "analytic"} <= set(row["van_dalum_size_mix"])
        assert {"sites_per_patient", "share", "published_sites_per_patient"} <= set(row["autopsy"])
        assert row["autopsy"]["published_sites_per_patient"]["all sites"] == 5.17
    assert "risk" not in r["rows"][0] and "cellsearch" not in r["rows"][0]
    expensive = r["rows"][1]
    assert set(expensive["risk"]) == {"2.7 mm", "size mix"}
    assert {"risk", "ci", "events", "at_risk", "target"} <= set(expensive["risk"]["2.7 mm"])
    assert {"high", "low", "median_os_months_high", "median_os_months_low"} \
        <= set(expensive["cellsearch"])
    assert r["rows"][1]["rate"] == pytest.approx(
        r["rows"][0]["rate"] * math.exp(-(2.0 ** 2 - 1.0 ** 2) / 2), rel=1e-12)


@pytest.mark.parametrize("argv, words", [
    (["--sigmas", "6"], "shedding sigma 6 is outside 0 to 5"),
    (["--sigmas", "1", "--expensive", "2"], "--expensive 2 is not one of --sigmas"),
    (["--patients", "1"], "--patients 1 must be at least 2"),
    (["--sigmas", "x"], "invalid float value: 'x'"),
])
def test_bad_arguments_give_one_line_and_status_2(spread, tmp_path, capsys, argv, words):
    out = tmp_path / "spread.json"
    with pytest.raises(SystemExit) as exc:
        spread.main(argv + ["--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
