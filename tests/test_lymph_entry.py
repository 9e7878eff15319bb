"""A lesion's lymph enters the node chain where its organ drains (``FateMatrix.lymph_by_source``).

The primary's lymph meets the regional nodes first; a regional-node metastasis
drains by the efferent vessels into the distant nodes; a distant-node
metastasis by the thoracic duct into the venous blood; a metastasis in any
other organ into its own nodes, which are distant for the primary.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import paget
from paget.engine.dissemination import check_fates, lymph_by_source
from paget.errors import PluginError
from paget.ext import kernels
from paget.plugins.colonization import net_rate
from paget.state import FateMatrix

SIM = paget.Simulation({}, entry_points=False)
FM = SIM.fates
BODY = SIM.body
N = BODY.n_organs
LN, DN = BODY.organ_index("lymph_nodes"), BODY.organ_index("distant_nodes")
PRIMARY = BODY.organ_index(str(SIM.config.primary.organ))


def _station(onward, node, arrest=0.5, death=0.05):
    """The fates of a cell entering a node station, then ``onward``."""
    out = (1 - death) * (1 - arrest) * onward
    out[node] += (1 - death) * arrest
    out[-1] += death
    return out


def test_each_source_enters_the_chain_where_its_organ_drains():
    by = FM.lymph_by_source
    assert by.shape == (N, N + 1)
    np.testing.assert_allclose(by.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    venous = FM.blood[BODY.organ_index("breast")]       # a caval organ: the lung bed first
    distant = _station(venous, DN)
    regional = _station(distant, LN)
    np.testing.assert_allclose(by[PRIMARY], regional, rtol=1e-12)
    np.testing.assert_array_equal(by[PRIMARY], FM.lymph)    # the primary's is `lymph`
    np.testing.assert_allclose(by[LN], distant, rtol=1e-12)
    np.testing.assert_allclose(by[DN], venous, rtol=1e-12)
    for organ in ("liver", "bone", "lung", "adrenal", "peritoneum"):
        np.testing.assert_allclose(by[BODY.organ_index(organ)], distant, rtol=1e-12)
    # a metastasis's lymph reaches the regional nodes only by the blood (their
    # own capillary bed), far less often than the primary's
    others = [i for i in range(N) if i != PRIMARY]
    assert (by[others, LN] < 0.05 * by[PRIMARY, LN]).all()


def test_the_primary_organ_sets_the_regional_row():
    sim = paget.Simulation({"primary": {"organ": "colon"}}, entry_points=False)
    by, colon = sim.fates.lymph_by_source, sim.body.organ_index("colon")
    np.testing.assert_array_equal(by[colon], sim.fates.lymph)
    breast = sim.body.organ_index("breast")
    np.testing.assert_array_equal(by[breast], by[sim.body.organ_index("liver")])
    assert by[breast, LN] < 0.05 * by[colon, LN]


def test_the_kernel_reads_the_source_row_of_the_lymph_fates():
    """With every CTC in lymph, each row's arrests follow its own organ's row."""
    organs = np.array([PRIMARY, LN, DN, BODY.organ_index("liver")], np.int16)
    m = organs.size
    by = np.zeros((1, N, N + 1))
    target = {int(o): (k * 3 + 1) % N for k, o in enumerate(organs)}   # distinct targets
    for o, t in target.items():
        by[0, o, t] = 1.0
    by[0, [i for i in range(N) if i not in target], -1] = 1.0
    out = [np.empty((m, N), np.int64) for _ in range(5)]
    died = np.empty(m, np.int64)
    kernels.disseminate(np.arange(1, m + 1, dtype=np.uint64), np.zeros(m, np.int64), organs,
                        np.zeros(m, np.int64), np.full(m, 50, np.int64), np.ones(m),
                        np.ascontiguousarray(FM.blood[None]), by, np.zeros((m, N)),
                        np.tile([1.0, 0.0, 0.0], (m, N, 1)), 3, 1, out[0], died, *out[1:])
    for k, o in enumerate(organs):
        expected = np.zeros(N, np.int64)
        expected[target[int(o)]] = 50
        np.testing.assert_array_equal(out[0][k], expected)
    assert (died == 0).all()


def test_without_lymph_by_source_every_source_has_the_lymph_fates():
    fm = FateMatrix(blood=FM.blood, lymph=FM.lymph)
    got = lymph_by_source(fm)
    assert got.shape == (N, N + 1)
    assert (got == FM.lymph).all()


def test_a_lymph_by_source_of_the_wrong_shape_is_refused():
    with pytest.raises(PluginError, match=r"lymph_by_source of shape \(3, 4\); expected"):
        check_fates(FM._replace(lymph_by_source=np.full((3, 4), 0.25)), N)
    bad = FM.lymph_by_source.copy()
    bad[0, 0] += 0.5
    with pytest.raises(PluginError, match="lymph_by_source rows must be probabilities"):
        check_fates(FM._replace(lymph_by_source=bad), N)


def test_a_metastasis_rate_factor_multiplies_the_primarys_rate():
    col = paget.Simulation({"colonization": {"growth": {"rate": 0.002},
                                             "metastasis_growth": {"rate_factor": 1.5}}},
                           entry_points=False).config.colonization
    assert col.metastasis_law().rate == pytest.approx(0.003, rel=1e-15)
    assert col.metastasis_law().law == col.growth.law
    assert col.growth.rate == 0.002


def test_a_rate_factor_across_two_laws_compares_the_net_rates_at_1_cm3():
    # an exponential primary doubling in 166 days, Gompertzian metastases (K 3e12):
    # their net rate at 1e9 cells, r_m ln(3e12 / 1e9), is twice the primary's ln2/166
    rho = math.log(2.0) / 166.0
    col = paget.Simulation({"colonization": {
        "growth": {"law": "exponential", "rate": rho},
        "metastasis_growth": {"law": "gompertz", "rate_factor": 2.0}}},
        entry_points=False).config.colonization
    met = col.metastasis_law()
    assert met.law == "gompertz"
    assert met.rate == pytest.approx(2.0 * rho / math.log(3e12 / 1e9), rel=1e-12)
    assert net_rate(met, 1e9) == pytest.approx(2.0 * net_rate(col.growth, 1e9), rel=1e-12)
    # a logistic metastasis law, at its map's default capacity
    col = paget.Simulation({"colonization": {
        "growth": {"law": "gompertz", "rate": 5e-4},
        "metastasis_growth": {"law": "logistic", "capacity": {"default": 4e9, "liver": 1e12},
                              "rate_factor": 3.0}}}, entry_points=False).config.colonization
    assert col.metastasis_law().rate == pytest.approx(
        3.0 * 5e-4 * math.log(3e12 / 1e9) / (1.0 - 1e9 / 4e9), rel=1e-12)


@pytest.mark.parametrize("capacity", [5e8, 1e9])
def test_a_rate_factor_across_two_laws_needs_both_to_grow_at_1_cm3(capacity):
    # at 1e9 the metastases' logistic law gives exactly 0 there, no division by it
    with pytest.raises(paget.ConfigError, match=r"compares their net growth rates at 1e\+09 "
                                                r"cells, where both must grow"):
        paget.Simulation({"colonization": {
            "growth": {"law": "exponential", "rate": 4e-3},
            "metastasis_growth": {"law": "logistic", "capacity": capacity, "rate_factor": 2.0}}},
            entry_points=False)


def test_rate_and_rate_factor_together_are_refused():
    with pytest.raises(paget.ConfigError, match="give rate or rate_factor, not both"):
        paget.Simulation({"colonization": {"metastasis_growth": {"rate": 1e-3,
                                                                 "rate_factor": 2.0}}},
                         entry_points=False)
