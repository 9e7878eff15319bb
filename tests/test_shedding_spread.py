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


def test_the_grow_factor_scales_grow_and_die_takes_the_difference(spread):
    """G = 1 leaves the body as committed; G = 30 multiplies the shared
    colonization probability, the three fates still sum to 1, and the dormant
    cells' reactivation moves with grow, so dormancy keeps its share of the
    colonization (as the calibration moves it)."""
    assert "colonization" not in spread._overrides(2.0, 1e-3)
    fate = paget.Simulation.from_scenario("breast").config.colonization.fate
    f = spread._overrides(2.0, 1e-3, 30.0)["colonization"]["fate"]
    assert f["grow"] == pytest.approx(30.0 * fate.grow, rel=1e-12)
    assert f["grow"] + f["die"] + fate.dormant == pytest.approx(1.0, abs=1e-15)
    config = paget.Simulation.from_scenario("breast", spread._overrides(2.0, 1e-3, 30.0)).config
    assert config.colonization.fate.grow == pytest.approx(30.0 * fate.grow, rel=1e-12)
    d = config.colonization.dormancy
    back = fate.dormant * d.reactivation / (d.reactivation + d.death)
    committed = paget.Simulation.from_scenario("breast").config.colonization.dormancy
    assert d.death == committed.death and d.reactivation > 29 * committed.reactivation
    assert back / (back + config.colonization.fate.grow) == pytest.approx(0.9, abs=1e-9)


def test_the_restoring_bisection_finds_the_level(spread, monkeypatch):
    """With sites per patient = ln(G) + 1 (rising with G), the bisection ends
    within its resolution, ln(1000) / 2^7, of G = e^2 (the level 3)."""
    calls = []

    def fake_autopsy(sigma, rate, patients, seed, processes, grow_factor=1.0):
        calls.append(grow_factor)
        return {"sites_per_patient": math.log(grow_factor) + 1.0}
    monkeypatch.setattr(spread, "autopsy", fake_autopsy)
    found = spread.restore_level(2.0, 1e-3, 3.0, 10, 1, 1)
    assert abs(math.log(found["grow_factor"]) - 2.0) <= math.log(spread.RESTORE_MAX) / 2 ** 7
    assert len(calls) == spread.RESTORE_STEPS == len(found["tried"])
    assert found["target_sites_per_patient"] == 3.0


def test_a_small_restored_scan_writes_its_rows(spread, tmp_path):
    out = tmp_path / "spread.json"
    spread.main(["--sigmas", "1.0", "2.0", "--expensive", "2.0", "--restore", "--patients", "3",
                 "--unit-patients", "8", "--mix-nodes", "1", "--autopsy", "2", "--small", "2",
                 "--mix", "2", "--risk-years", "5.5", "--cellsearch", "2",
                 "--cellsearch-years", "0.3", "--out", str(out)])
    r = json.loads(out.read_text())
    assert "restored" not in r["rows"][0]
    x = r["rows"][1]["restored"]
    assert {"grow_factor", "tried", "autopsy", "risk", "cellsearch"} <= set(x)
    assert x["target_sites_per_patient"] == r["rows"][0]["autopsy"]["sites_per_patient"]
    assert -1.0 <= x["autopsy"]["rho"] <= 1.0 or math.isnan(x["autopsy"]["rho"])
    assert "Restored to sigma 1's autopsy level" in "\n".join(spread.table(r))


@pytest.mark.parametrize("argv, words", [
    (["--sigmas", "6"], "shedding sigma 6 is outside 0 to 5"),
    (["--sigmas", "2", "--restore"], "--restore restores sigma 1's autopsy level"),
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


def test_the_report_renders_the_restored_row_that_meets_van_dalum(tmp_path, monkeypatch):
    """report.spread_text says the spread is fitted and reads the scan that chose
    it from results/shedding_spread.json: sigma 1 against the smallest restored
    sigma whose share at 10 mm lies within 0.19 +- 0.10, its colonization
    factor, risks, pattern and CellSearch verdict; then the refits' findings."""
    pytest.importorskip("scipy")
    report = validation_module("report")
    risk = (lambda k, n: {"risk": k / n, "events": k, "at_risk": n})
    split = {"high": 30, "low": 20, "median_os_months_high": 9.0, "median_os_months_low": None}
    aut = (lambda sites, rho: {"sites_per_patient": sites, "rho": rho})

    def row(sigma, share, sites, restored=None):
        r = {"sigma": sigma, "van_dalum_10mm": {"simulated": share},
             "van_dalum_size_mix": {"simulated": share + 0.1}, "autopsy": aut(sites, 0.8),
             "risk": {"2.7 mm": risk(0, 300), "size mix": risk(40, 400)}}
        return r | ({"restored": restored} if restored else {})
    out = {"targets": {"van_dalum_share": [0.19, 0.10]}, "rows": [
        row(1.0, 0.81, 2.9),
        row(2.5, 0.33, 1.0, {"grow_factor": 7.0, "autopsy": aut(2.9, 0.81), "cellsearch": split,
                             "risk": {"2.7 mm": risk(0, 300), "size mix": risk(42, 394)}}),
        row(3.0, 0.21, 0.6, {"grow_factor": 22.3, "autopsy": aut(2.9, 0.78), "cellsearch": split,
                             "risk": {"2.7 mm": risk(2, 300), "size mix": risk(47, 394)}})]}
    (tmp_path / "shedding_spread.json").write_text(json.dumps(out))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    text = report.spread_text()
    assert text.startswith("(a) The patients' shedding spread (`heterogeneity.shedding_sigma`) "
                           "is fitted: 3, breast's")
    assert "from 0.81 at sigma 1 to 0.21 at sigma 3" in text          # 2.5's 0.33 is outside
    assert "times 22.3" in text and "0.67 % (2 of 300) at 2.7 mm" in text
    assert "rho 0.78 (sigma 1: 0.80)" in text
    assert "9.0 months (n = 30) against not reached (n = 20), which held" in text
    assert text.endswith(report.SPREAD_REFIT + "; ")             # no crossval.json here
    (tmp_path / "crossval.json").write_text(json.dumps({"runs": {"full": {"folds": [
        {"primary": "lung", "shares": {"pleura": 0.52}}]}}}))
    assert report.spread_text().endswith(
        "ASSUMPTION); since, the lung fold predicts it at 52 % against 16.6 % published "
        "(the sigma-1 body's fold: 24 %); ")
    (tmp_path / "crossval.json").unlink()
    out["rows"] = out["rows"][:1]                                     # no restored row
    (tmp_path / "shedding_spread.json").write_text(json.dumps(out))
    assert "has no restored row (`--restore`); " + report.SPREAD_REFIT in report.spread_text()
    (tmp_path / "shedding_spread.json").unlink()
    assert "is not in the results; " + report.SPREAD_REFIT in report.spread_text()


def test_the_expected_mean_cancels_the_multipliers_tail():
    """liquid_biopsy.expected_mean: concentrations exactly proportional to the
    multipliers (no Poisson noise) give the proportionality constant times the
    log-normal mean exp(sigma^2 / 2), whatever the sample's own mean, which at
    sigma 3 wanders far from it."""
    lb = validation_module("liquid_biopsy")
    m = _multipliers(3.0, 300, seed=5)
    c = 0.7 * m
    assert lb.expected_mean(c, m, 3.0) == pytest.approx(0.7 * math.exp(4.5), rel=1e-12)
    assert lb.expected_mean(c, m, 0.0) == pytest.approx(0.7, rel=1e-12)
