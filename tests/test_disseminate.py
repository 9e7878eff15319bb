"""The dissemination kernel: the multinomial split of shed CTCs and DTC fates."""
from __future__ import annotations

import numpy as np
import pytest

import paget
from paget.ext import kernels

SIM = paget.Simulation({}, entry_points=False)
F = SIM.fates
N_ORG = SIM.body.n_organs
BREAST = SIM.body.organ_index("breast")


def every_source(lymph):
    """The kernel's lymph fates, (classes, organs, organs + 1): ``lymph`` for every source."""
    return np.ascontiguousarray(np.broadcast_to(lymph, (1, N_ORG, N_ORG + 1)))


def split(shed, m=4000, lymph=0.0, p_ext=0.3, fates=(0.5, 0.3, 0.2), seed=5):
    uid = np.arange(1, m + 1, dtype=np.uint64)
    out = {k: np.empty((m, N_ORG), np.int64) for k in ("arr", "ext", "die", "dorm", "found")}
    died = np.empty(m, np.int64)
    kernels.disseminate(uid, np.zeros(m, np.int64), np.full(m, BREAST, np.int16),
                        np.zeros(m, np.int64), np.full(m, shed, np.int64), np.full(m, lymph),
                        np.ascontiguousarray(F.blood[None]), every_source(F.lymph),
                        np.full((m, N_ORG), p_ext), np.tile(np.array(fates), (m, N_ORG, 1)),
                        seed, 3, out["arr"], died, out["ext"], out["die"], out["dorm"], out["found"])
    return out, died


@pytest.mark.parametrize("shed", [3, 40, 5000], ids=["few", "inversion", "btpe"])
def test_split_means_match_the_fate_matrix(shed):
    """E arrested_j = n F_j; E extravasated_j = n F_j p; fates split those.
    Each mean within 5 binomial standard errors over m = 4000 rows."""
    m = 4000
    out, died = split(shed, m)
    p = F.blood[BREAST]
    for j in range(N_ORG):
        mean, var = shed * p[j], shed * p[j] * (1 - p[j])
        assert abs(out["arr"][:, j].mean() - mean) <= 5 * np.sqrt(var / m) + 1e-12
        pe = p[j] * 0.3
        assert abs(out["ext"][:, j].mean() - shed * pe) <= 5 * np.sqrt(shed * pe * (1 - pe) / m) + 1e-12
        pg = pe * 0.2
        assert abs(out["found"][:, j].mean() - shed * pg) <= 5 * np.sqrt(shed * pg * (1 - pg) / m) + 1e-12
    pd = p[-1]
    assert abs(died.mean() - shed * pd) <= 5 * np.sqrt(shed * pd * (1 - pd) / m)


def test_split_conserves_every_cell():
    out, died = split(777, m=500, lymph=0.3)
    assert np.all(out["arr"].sum(1) + died == 777)
    np.testing.assert_array_equal(out["ext"], out["die"] + out["dorm"] + out["found"])
    assert np.all(out["ext"] <= out["arr"])


def test_lymph_route_reaches_the_nodes():
    ln = SIM.body.organ_index("lymph_nodes")
    blood, _ = split(200, m=2000, lymph=0.0)
    lymph, _ = split(200, m=2000, lymph=1.0)
    assert lymph["arr"][:, ln].mean() > 5 * blood["arr"][:, ln].mean()


def test_split_is_keyed_by_row_not_position():
    a, _ = split(100, m=50)
    b, _ = split(100, m=50, seed=6)
    assert not np.array_equal(a["arr"], b["arr"])
    again, _ = split(100, m=50)
    np.testing.assert_array_equal(a["arr"], again["arr"])


def test_a_rows_split_does_not_depend_on_the_other_rows():
    """Setups of the inversion binomial are cached across the rows of a call by
    their probability: a row's draws must be those it gets alone."""
    rng = np.random.default_rng(8)
    m = 300
    uid = rng.integers(1, 2**63, m).astype(np.uint64)
    patient = rng.integers(0, 4, m).astype(np.int64)
    organ = rng.integers(0, N_ORG, m).astype(np.int16)
    shed = rng.choice([0, 1, 7, 60, 900], m).astype(np.int64)
    lymph = rng.choice([0.0, 0.1, 0.5], m)
    p_ext = rng.choice([0.01, 0.1, 0.8], (m, N_ORG))
    fates = np.tile(np.array([0.95, 0.05, 0.0]), (m, N_ORG, 1))
    fates[::3] = (0.5, 0.3, 0.2)
    blood = np.ascontiguousarray(F.blood[None])
    lym = every_source(F.lymph)

    def run(rows):
        k = rows.size
        out = [np.empty((k, N_ORG), np.int64), np.empty(k, np.int64)] + \
            [np.empty((k, N_ORG), np.int64) for _ in range(4)]
        kernels.disseminate(uid[rows], patient[rows], organ[rows], np.zeros(k, np.int64),
                            shed[rows], lymph[rows], blood, lym,
                            np.ascontiguousarray(p_ext[rows]), np.ascontiguousarray(fates[rows]),
                            9, 2, *out)
        return out

    together = run(np.arange(m))
    for i in range(0, m, 7):
        alone = run(np.array([i]))
        for a, b in zip(together, alone):
            np.testing.assert_array_equal(a[i], b[0])
