"""The built-in plugins' compiled rate and dissemination math against the NumPy it replaces.

The second half of ``test_plugin_math.py`` (which says how the comparison is
made): shedding, invasion, the immune kill and the hooks that scale rates or
extravasation probabilities, each compared with the NumPy expressions of commit
69486c6 on random inputs, for exact equality.
"""
from __future__ import annotations

import numpy as np
import pytest

from paget.ext import plugin_math as pm

from .test_plugin_math import RNG_SEED, _same, _View


# -- intravasation, transcoelomic, invasion


@pytest.mark.parametrize("metastases_shed", [True, False])
@pytest.mark.parametrize("exponent", [1.0, 2.0 / 3.0, 0.5])
def test_shed_terms_single_clone_equal_numpy(metastases_shed, exponent):
    rng = np.random.default_rng(RNG_SEED)
    v = _View(rng, 700)
    invasive = np.where(rng.random(700) < 0.5, 1.0, rng.random(700))
    m = 3.7e-5
    sheds = ~v.dormant if metastases_shed else ~v.dormant & v.primary
    n = np.where(sheds, v.cells * invasive, 0.0)
    want = m * np.power(n, exponent, where=n > 0, out=np.zeros_like(n))
    shed = np.full(700, 9.0)
    assert pm.shed_terms(v.dormant, v.primary, v.cells, invasive, metastases_shed, True, m,
                         exponent, shed) is None
    assert _same(shed, want)
    got_n = pm.shed_terms(v.dormant, v.primary, v.cells, invasive, metastases_shed, False, m,
                          exponent, shed)
    assert _same(got_n, n)


def test_shed_scale_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    v = _View(rng, 700)
    n = np.where(v.dormant, 0.0, v.cells * rng.random(700))
    ids, inv = np.unique(v.lesion, return_inverse=True)
    total = np.bincount(inv, weights=n, minlength=ids.size)[inv]
    m, exponent = 3.7e-5, 2.0 / 3.0
    scale = np.power(total, exponent - 1.0, where=total > 0, out=np.zeros_like(total))
    shed = np.full(700, 9.0)
    pm.shed_scale(n, total, m, exponent - 1.0, shed)
    assert _same(shed, m * n * scale)


def test_direct_shares_equal_numpy():
    rng = np.random.default_rng(RNG_SEED)
    N, O = 400, 8
    v = _View(rng, N)
    organ = rng.integers(0, O, N).astype(np.int16)
    share = np.where(rng.random(O) < 0.4, rng.random(O), 0.0)
    direct, lymph = rng.random(N), rng.random(N)
    want_direct, want_lymph = direct.copy(), lymph.copy()
    d = np.where(v.primary & ~v.dormant, share[organ], 0.0)
    rows = np.flatnonzero(d)
    want_direct[rows] = d[rows]
    want_lymph[rows] *= 1.0 - d[rows]
    pm.direct_shares(v.primary, v.dormant, organ, share, direct, lymph)
    assert _same(direct, want_direct)
    assert _same(lymph, want_lymph)


def test_direct_shares_of_metastases_equal_numpy():
    """With ``metastases``, every growing row in an organ of a cavity takes the
    share, the primary's or not."""
    rng = np.random.default_rng(RNG_SEED)
    N, O = 400, 8
    v = _View(rng, N)
    assert (~v.primary & ~v.dormant).any()
    organ = rng.integers(0, O, N).astype(np.int16)
    share = np.where(rng.random(O) < 0.4, rng.random(O), 0.0)
    direct, lymph = rng.random(N), rng.random(N)
    want_direct, want_lymph = direct.copy(), lymph.copy()
    d = np.where(~v.dormant, share[organ], 0.0)
    rows = np.flatnonzero(d)
    want_direct[rows] = d[rows]
    want_lymph[rows] *= 1.0 - d[rows]
    pm.direct_shares(v.primary, v.dormant, organ, share, direct, lymph, True)
    assert _same(direct, want_direct)
    assert _same(lymph, want_lymph)


def test_per_organ_rows_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    per_organ, organ = rng.random(7), rng.integers(0, 7, 300).astype(np.int16)
    out = np.empty(300)
    pm.per_organ_rows(per_organ, organ, out)
    assert _same(out, per_organ[organ])
    with pytest.raises(IndexError, match="organ 7"):
        pm.per_organ_rows(per_organ, np.full(3, 7, np.int16), np.empty(3))


# -- immune, genetics' extravasation


class _ImmuneView:
    def __init__(self, rng, n, P):
        v = _View(rng, n)
        self.dormant, self.cells, self.lesion_cells = v.dormant, v.cells, v.lesion_cells
        self.pidx = rng.integers(0, P, n)
        self.row = np.arange(n, dtype=np.int64)

    def __len__(self):
        return self.row.size


@pytest.mark.parametrize("with_evasion", [False, True])
def test_immune_rates_equal_numpy(with_evasion):
    from paget.plugins.immune import ImmuneTable, apply_lesion_kill, visibility
    from paget.state import State

    class Config:
        immune = ImmuneTable(competence=0.8, lesion_kill=0.01, ctc_kill=0.3)

    rng = np.random.default_rng(RNG_SEED)
    P, N = 15, 600
    les = _ImmuneView(rng, N, P)
    ic = np.where(rng.random(P) < 0.2, 0.0, rng.uniform(0.0, 2.0, P))
    lesion_state = {"immune_evasion": rng.random(N)} if with_evasion else {}
    state = State(lesion_state, {"immune_competence": ic})
    evasion = lesion_state.get("immune_evasion")
    cfg = Config.immune

    class Rates:
        death = rng.random(N)
        ctc_survival = rng.random(N)

    want_death, want_surv = Rates.death.copy(), Rates.ctc_survival.copy()
    v = visibility(les, state, Config)
    want_surv *= np.maximum(1.0 - cfg.ctc_kill * v, 0.0)
    apply_lesion_kill(les, Rates, state, Config, v)
    want_death, Rates.death = Rates.death, want_death
    pm.immune_ctc_survival(les.pidx, ic, evasion, les.row, cfg.competence, cfg.ctc_kill,
                           Rates.ctc_survival)
    pm.immune_lesion_kill(les.dormant, les.cells, les.lesion_cells, les.pidx, ic, evasion,
                          les.row, cfg.competence, cfg.lesion_kill, cfg.half_size, Rates.death)
    assert _same(Rates.ctc_survival, want_surv)
    assert _same(Rates.death, want_death)


def test_genetics_extravasation_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    R, m, O, bone = 500, 120, 17, 6
    rows = rng.integers(0, R, m)
    ef, bt = rng.uniform(0.2, 3.0, R), rng.uniform(0.2, 3.0, R)
    probability = rng.random((m, O))
    want = probability.copy()
    want *= ef[rows][:, None]
    want[:, bone] *= bt[rows]
    np.clip(want, 0.0, 1.0, out=want)
    pm.genetics_extravasation(rows, ef, bt, bone, probability)
    assert _same(probability, want)


# -- the rate-scaling hooks


def _rates(rng, n):
    birth, death = rng.random(n), rng.random(n)
    birth[::7] = death[::7]                      # b == d: left alone
    return birth, death


def test_genetics_growth_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    N = 600
    v = _View(rng, N)
    p = np.where(rng.random(N) < 0.5, 1.0, rng.uniform(0.5, 2.0, N))
    birth, death = _rates(rng, N)
    mutation = np.zeros(N)
    wb, wd, wm = birth.copy(), death.copy(), mutation.copy()
    grows = ~v.dormant & (v.cells > 0)
    wm[grows] = 1e-6
    scale = grows & (wb > wd) & (p != 1.0)
    wb[scale] = wd[scale] + (wb[scale] - wd[scale]) * p[scale]
    pm.genetics_growth(v.dormant, v.cells, p, 1e-6, mutation, birth, death)
    assert _same(birth, wb) and _same(death, wd) and _same(mutation, wm)


def test_heterogeneity_hooks_equal_numpy():
    rng = np.random.default_rng(RNG_SEED)
    N, P = 600, 20
    dormant, pidx = rng.random(N) < 0.3, rng.integers(0, P, N)
    gm = np.where(rng.random(P) < 0.3, 1.0, rng.lognormal(0.0, 0.3, P))
    birth, death = _rates(rng, N)
    wb = birth.copy()
    m = gm[pidx]
    scale = ~dormant & (wb > death) & (m != 1.0)
    wb[scale] = death[scale] + (wb[scale] - death[scale]) * m[scale]
    pm.heterogeneity_growth(dormant, pidx, gm, birth, death)
    assert _same(birth, wb)
    shed = rng.random(N)
    want = shed.copy()
    want[m != 1.0] *= m[m != 1.0]
    pm.scale_by_patient(pidx, gm, shed)
    assert _same(shed, want)


def test_genetics_invasion_and_circulation_equal_numpy():
    rng = np.random.default_rng(RNG_SEED)
    N = 300
    for f in (np.ones(N), np.where(rng.random(N) < 0.5, 1.0, rng.uniform(0.3, 3.0, N))):
        invasive = rng.random(N)
        want = invasive.copy()
        if (f != 1.0).any():
            np.minimum(want * f, 1.0, out=want)
        pm.genetics_invasion(f, invasive)
        assert _same(invasive, want)
    factor, rows, surv = rng.random(N), rng.integers(0, N, 200), rng.random(200)
    want = surv * factor[rows]
    pm.multiply_at(factor, rows, surv)
    assert _same(surv, want)


def test_hypoxia_invasion_equals_numpy():
    """microenvironment.apply_invasion as NumPy wrote it (before this function):
    nothing where every row is wholly invasive, else the clipped product on
    every row, NaN kept."""
    rng = np.random.default_rng(RNG_SEED)
    N = 300
    hypoxia = rng.random(N)
    cases = [rng.random(N), np.ones(N), np.r_[np.ones(N - 1), 0.5], rng.uniform(1.0, 2.0, N),
             np.r_[np.ones(N - 1), np.nan], np.zeros(0)]
    for gain in (0.7, 3.0, -0.5):
        for invasive in cases:
            h = hypoxia[:invasive.size]
            want = invasive.copy()
            if want.size and not want.min() >= 1.0:
                np.minimum(1.0, want * (1.0 + gain * h), out=want)
            got = invasive.copy()
            pm.hypoxia_invasion(h, gain, got)
            assert _same(got, want)


def test_angiogenesis_hooks_equal_numpy():
    rng = np.random.default_rng(RNG_SEED)
    N = 800
    v = _View(rng, N)
    vascular = rng.random(N) < 0.4
    birth, death = _rates(rng, N)
    want = death.copy()
    # angiogenesis.apply_cap as NumPy wrote it (commit 69486c6)
    growing = ~v.dormant & (v.cells > 0) & ~vascular
    room = np.maximum(np.log(2e6 / v.lesion_cells[growing]) / 0.5, 0.0)
    want[growing] = np.maximum(want[growing], birth[growing] - room)
    pm.avascular_cap(v.dormant, v.cells, v.lesion_cells, vascular, 2e6, 0.5, birth, death)
    assert _same(death, want)
    # the switch's candidates, as paget_update_state found them with NumPy
    cells = np.where(rng.random(N) < 0.1, np.where(rng.random(N) < 0.5, 0.0, np.nan), v.cells)
    for vas in (vascular, np.zeros(N, bool), np.ones(N, bool)):
        rows = pm.avascular_rows(v.dormant, cells, vas)
        assert _same(rows, np.flatnonzero(~v.dormant & (cells > 0) & ~vas).astype(np.int64))
    shed = rng.random(N)
    want = shed.copy()
    want[~vascular] /= 3.0
    pm.divide_where_not(vascular, 3.0, shed)
    assert _same(shed, want)


def test_fill_rows_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    per_organ, out = rng.random(17), np.zeros((40, 17))
    pm.fill_rows(per_organ, out)
    assert _same(out, np.broadcast_to(per_organ[None, :], (40, 17)))


@pytest.mark.parametrize("with_niche", [False, True])
def test_niche_fates_equal_numpy(with_niche):
    rng = np.random.default_rng(RNG_SEED)
    P, O, m, gain = 12, 9, 50, 1.5
    niche = np.where(rng.random((P, O)) < 0.5, rng.random((P, O)), 0.0) if with_niche \
        else np.zeros((P, O))
    pidx = rng.integers(0, P, m)
    fates = np.empty((m, O, 3))
    fates[..., 2] = rng.random((m, O)) * 1e-3
    fates[..., 1] = 0.05
    fates[..., 0] = 1.0 - fates[..., 1] - fates[..., 2]
    want = fates.copy()
    nc = niche[pidx]
    if nc.any():
        die, grow = want[..., 0], want[..., 2]
        new_grow = np.minimum(grow + die, grow * (1.0 + gain * nc))
        shift = new_grow - grow
        want[..., 0] = np.maximum(die - shift, 0.0)
        want[..., 2] = new_grow
    assert pm.niche_fates(pidx, niche, gain, fates) == bool(nc.any())
    assert _same(fates, want)


@pytest.mark.parametrize("n, share", [(0, 0.3), (1, 1.0), (1, 0.0), (2, 0.5), (60, 0.0),
                                      (60, 1.0), (3000, 0.05), (3000, 0.4)],
                         ids=["empty", "one-vascular", "one-avascular", "two", "none-vascular",
                              "all-vascular", "few-vascular", "many-vascular"])
def test_share_vessels_equals_lesion_sum(n, share):
    """angiogenesis.share_vessels as NumPy wrote it: every row of a lesion with a
    vascular row (lesions of one to four rows, scattered) made vascular."""
    from paget.state import LesionTable
    rng = np.random.default_rng(RNG_SEED + n)
    t = LesionTable()
    lesion = rng.integers(1, max(2, n // 2), n).astype(np.uint64) * np.uint64(7919)
    t.append(uid=np.arange(1, n + 1, dtype=np.uint64), parent=np.zeros(n, np.uint64),
             lesion=lesion, clone=np.zeros(n, np.uint64), genotype=np.zeros(n, np.uint64),
             cells=np.ones(n), patient=np.zeros(n, np.int64), birth_step=np.zeros(n, np.int32),
             organ=np.zeros(n, np.int16), flags=np.zeros(n, np.uint8))
    view = t.view(1.0)
    vascular = rng.random(n) < share
    want = vascular | (view.lesion_sum(vascular) > 0)
    pm.share_vessels(view.lesion, vascular)
    assert _same(vascular, want)
