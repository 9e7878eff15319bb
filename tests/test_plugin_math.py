"""The built-in plugins' compiled math (``paget.ext.plugin_math``) against the NumPy it replaces.

Each compiled function is compared with the NumPy expressions its plugin ran
before, on random inputs, for exact equality (``np.array_equal``, NaN equal to
NaN where a NaN can arise): the compiled code does the same operations in the
same order and calls NumPy's own float64 loops for the transcendental
functions, so results, and hence every run, stay bit-identical.  The rate
and dissemination functions are in ``test_plugin_math_rates.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from paget.ext import plugin_math as pm
from paget.plugins.colonization import LAW_CODES, step_net_rate

RNG_SEED = 20261206


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True) and \
        np.asarray(a).dtype == np.asarray(b).dtype


# -- NumPy's inner loops, called directly


@pytest.mark.parametrize("n", [1, 3, 8, 17, 1000])
@pytest.mark.parametrize("name", ["log", "log10", "log1p", "expm1", "exp", "cbrt"])
def test_numpy_loop_is_numpys_ufunc(name, n):
    rng = np.random.default_rng(RNG_SEED + n)
    x = np.exp(rng.uniform(-30.0, 30.0, n)) if name.startswith("log") or name == "cbrt" \
        else rng.uniform(-40.0, 40.0, n)
    out = np.empty(n)
    pm.numpy_loop(name, x, out)
    assert _same(out, getattr(np, name)(x))
    pm.numpy_loop(name, x, x)            # in place
    assert _same(x, out)


def test_numpy_loop_power_with_a_scalar_exponent():
    rng = np.random.default_rng(RNG_SEED)
    core = rng.uniform(0.0, 1.0, 999)
    out = np.empty_like(core)
    pm.numpy_loop("power", core, out, 3.0)
    assert _same(out, np.power(core, 3.0))


def test_numpy_loop_differs_from_the_c_library_somewhere():
    """Why the loops are NumPy's: on SIMD CPUs NumPy's log1p/expm1/cbrt round some
    values otherwise than the C library (``math``); the loop follows NumPy."""
    import math
    rng = np.random.default_rng(RNG_SEED)
    x = np.exp(rng.uniform(-20.0, 20.0, 20000))
    out = np.empty_like(x)
    pm.numpy_loop("cbrt", x, out)
    assert _same(out, np.cbrt(x))
    libm = np.array([math.cbrt(v) for v in x])
    if np.array_equal(libm, np.cbrt(x)):
        pytest.skip("this NumPy's cbrt is the C library's on this CPU")
    assert not np.array_equal(out, libm)


def test_numpy_loop_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        pm.numpy_loop("sin", np.ones(2), np.ones(2))


# -- colonization


def _rows(rng, n, n_organs):
    dormant = rng.random(n) < 0.3
    cells = np.floor(np.exp(rng.uniform(0.0, 30.0, n)))
    cells[rng.random(n) < 0.1] = 0.0
    cells[rng.random(n) < 0.1] = 1.0
    organ = rng.integers(0, n_organs, n).astype(np.int16)
    primary = rng.random(n) < 0.4
    return dormant, cells, organ, primary


def _numpy_growth(dormant, cells, organ, primary, laws, split, dt):
    """colonization.paget_growth as NumPy wrote it (commit 69486c6)."""
    n_rows = cells.size
    birth, death = np.zeros(n_rows), np.zeros(n_rows)
    det = np.full(n_rows, laws[0][4])
    grows = ~dormant & (cells > 0)
    groups = [(np.flatnonzero(grows), laws[0])] if not split else \
        [(np.flatnonzero(grows & primary), laws[0]), (np.flatnonzero(grows & ~primary), laws[1])]
    for rows, (law, r, d0, cap, is_det) in groups:
        n = np.maximum(cells[rows], 1.0)
        k = cap[organ[rows]]
        g = step_net_rate(law, n, r, k, dt)
        birth[rows] = d0 + np.maximum(g, 0.0)
        death[rows] = d0 + np.maximum(-g, 0.0)
        det[rows] = is_det
    return birth, death, det


def _compiled_growth(dormant, cells, organ, primary, laws, split, dt):
    n_rows = cells.size
    birth, death = np.full(n_rows, 7.0), np.full(n_rows, 7.0)
    det = np.zeros(n_rows, bool)
    args = []
    for law, r, d0, cap, is_det in laws:
        args += [LAW_CODES[law], r, d0, cap, is_det]
    pm.growth_rates(dormant, cells, organ, primary, split, *args, dt, birth, death, det)
    return birth, death, det


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("laws", [("gompertz", "gompertz"), ("logistic", "gompertz"),
                                  ("exponential", "logistic"), ("gompertz", "exponential")])
@pytest.mark.parametrize("rate", [6e-4, 0.3, 45.0])     # 45/day: logistic's e^-x branch
def test_growth_rates_equal_numpy(laws, split, rate):
    rng = np.random.default_rng(RNG_SEED)
    n_organs = 5
    rows = _rows(rng, 400, n_organs)
    law_args = [(law, rate * (1 + i), 0.02 * i, np.exp(rng.uniform(10.0, 29.0, n_organs)),
                 bool(i)) for i, law in enumerate(laws)]
    for dt in (1.0, 0.25, 7.0):
        want = _numpy_growth(*rows, law_args, split, dt)
        got = _compiled_growth(*rows, law_args, split, dt)
        for a, b in zip(got, want):
            assert _same(a, b)


def test_growth_rates_checks_its_arrays():
    rng = np.random.default_rng(RNG_SEED)
    dormant, cells, organ, primary = _rows(rng, 10, 3)
    cap = np.full(3, 1e12)
    out = [np.zeros(10), np.zeros(10), np.zeros(10, bool)]
    with pytest.raises(TypeError, match="organ"):
        pm.growth_rates(dormant, cells, organ.astype(np.int64), primary, False,
                        2, 0.1, 0.0, cap, False, 2, 0.1, 0.0, cap, False, 1.0, *out)
    with pytest.raises(IndexError, match="organ 3"):
        pm.growth_rates(np.zeros(10, bool), cells + 1.0, np.full(10, 3, np.int16), primary,
                        False, 2, 0.1, 0.0, cap, False, 2, 0.1, 0.0, cap, False, 1.0, *out)


def test_dormancy_rates_equal_numpy():
    rng = np.random.default_rng(RNG_SEED)
    dormant = rng.random(300) < 0.5
    a, b = np.full(300, 9.0), np.full(300, 9.0)
    pm.dormancy_rates(dormant, 1e-9, 1e-3, a, b)
    assert _same(a, np.where(dormant, 1e-9, 0.0))
    assert _same(b, np.where(dormant, 1e-3, 0.0))


# -- outcome


class _View:
    """The few columns of a lesion view that outcome.detectable reads."""

    def __init__(self, rng, n):
        self.dormant = rng.random(n) < 0.2
        self.cells = np.floor(np.exp(rng.uniform(0.0, 22.0, n)))
        self.cells[rng.random(n) < 0.1] = 0.0
        # lesions of one to four rows (clones), their rows scattered over the table
        self.lesion = rng.integers(1, max(2, n // 2), n).astype(np.uint64) * np.uint64(7919)
        grow = np.where(self.dormant, 0.0, self.cells)
        ids, inv = np.unique(self.lesion, return_inverse=True)
        self.lesion_cells = np.bincount(inv, weights=grow, minlength=ids.size)[inv].astype(float)
        self.primary = rng.random(n) < 0.3


@pytest.mark.parametrize("n", [0, 1, 2, 50, 3000])
def test_detectable_rows_equal_numpy(n):
    from paget.plugins.outcome import detectable
    rng = np.random.default_rng(RNG_SEED + n)
    v = _View(rng, n)
    for threshold in (1.0, 1e6, 6.5e7, 1e12):
        rows, ones, metastasis = pm.detectable_rows(v.dormant, v.cells, v.lesion_cells,
                                                    v.lesion, v.primary, threshold)
        want = detectable(v, threshold)
        assert _same(rows, want.astype(np.intp))
        assert _same(ones, np.ones(want.size))
        assert _same(metastasis, (~v.primary[want]).astype(np.float64))


def _numpy_outcome(counts, by_organ, lymph, alive, ps, burden, lethal, t_end, dying):
    """outcome.paget_outcome's per-patient part as NumPy wrote it (commit 69486c6)."""
    metastases = by_organ.sum(axis=1)
    distant_metastases = metastases - by_organ[:, lymph]
    ps["detectable_lesions"][alive] = counts[alive]
    for name, n in (("first_detectable_metastasis_time", metastases),
                    ("first_detectable_distant_metastasis_time", distant_metastases)):
        when = ps[name]
        when[alive & (n > 0) & np.isnan(when)] = t_end
    dying |= alive & (burden >= lethal)


def _outcome_state(rng, P, O):
    """Random outcome readouts of P patients and O organs, some dead, dying or
    with a metastasis time already: (alive, burden, ps, dying) and copies of
    ps and dying for the expected values."""
    alive = rng.random(P) < 0.8
    burden = np.exp(rng.uniform(0.0, 29.0, P))
    ps = {"detectable_lesions": rng.integers(0, 5, (P, O)),
          "first_detectable_metastasis_time": np.where(rng.random(P) < 0.5, np.nan, 3.0),
          "first_detectable_distant_metastasis_time": np.where(rng.random(P) < 0.5, np.nan, 4.0)}
    dying = rng.random(P) < 0.1
    return alive, burden, ps, dying, {k: a.copy() for k, a in ps.items()}, dying.copy()


def _outcome_outs(alive, ps, burden, dying):
    """The per-patient arguments outcome_update and outcome_serial end with (a
    lethal burden of 1e12 cells, at t_end = 30)."""
    return (alive, ps["detectable_lesions"], ps["first_detectable_metastasis_time"],
            ps["first_detectable_distant_metastasis_time"], burden, 1e12, 30.0, dying)


def test_outcome_update_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    P, O = 40, 17
    for lymph in (0, 5, O - 1):
        counts = rng.integers(0, 3, (P, O)).astype(np.float64)
        by_organ = np.minimum(counts, rng.integers(0, 3, (P, O))).astype(np.float64)
        by_organ[:, lymph] *= rng.random(P) < 0.5
        alive, burden, ps, dying, want, want_dying = _outcome_state(rng, P, O)
        _numpy_outcome(counts, by_organ, lymph, alive, want, burden, 1e12, 30.0, want_dying)
        pm.outcome_update(counts, by_organ, lymph, *_outcome_outs(alive, ps, burden, dying))
        assert all(_same(ps[k], want[k]) for k in ps) and _same(dying, want_dying)


@pytest.mark.parametrize("n, P", [(0, 3), (1, 1), (1, 4), (60, 1), (400, 7)],
                         ids=["empty", "one-row-one-patient", "one-row", "one-patient", "many"])
def test_outcome_serial_equals_the_sums_and_numpy(n, P):
    """One rank's whole body (Lesions.serial) against outcome.detectable, the
    per-(patient, organ) sums by np.add.at and outcome_update's NumPy; dead
    patients' readouts untouched."""
    from paget.plugins.outcome import detectable
    rng = np.random.default_rng(RNG_SEED + n + P)
    O, lymph = 6, 2
    v = _View(rng, n)
    pidx = rng.integers(0, P, n)
    organ = rng.integers(0, O, n).astype(np.int16)
    for threshold in (1.0, 1e6, 1e12):
        alive, burden, ps, dying, want, want_dying = _outcome_state(rng, P, O)
        rows = detectable(v, threshold)
        counts, by_organ = np.zeros((P, O)), np.zeros((P, O))
        np.add.at(counts, (pidx[rows], organ[rows]), 1.0)
        np.add.at(by_organ, (pidx[rows], organ[rows]), (~v.primary[rows]).astype(float))
        _numpy_outcome(counts, by_organ, lymph, alive, want, burden, 1e12, 30.0, want_dying)
        pm.outcome_serial(v.dormant, v.cells, v.lesion_cells, v.lesion, v.primary, pidx, organ,
                          threshold, lymph, *_outcome_outs(alive, ps, burden, dying))
        assert all(_same(ps[k], want[k]) for k in ps) and _same(dying, want_dying)


def test_outcome_serial_refuses_a_row_outside_the_patients_or_organs():
    rng = np.random.default_rng(RNG_SEED)
    v = _View(rng, 5)
    v.dormant[:] = False
    v.cells[:] = v.lesion_cells[:] = 1e9
    P, O = 2, 3

    def call(pidx, organ):
        pm.outcome_serial(v.dormant, v.cells, v.lesion_cells, v.lesion, v.primary, pidx,
                          organ, 1.0, 0, np.ones(P, bool), np.zeros((P, O), np.int64),
                          np.full(P, np.nan), np.full(P, np.nan), np.zeros(P), 1e12, 1.0,
                          np.zeros(P, bool))
    with pytest.raises(IndexError, match="pidx 2"):
        call(np.full(5, 2), np.zeros(5, np.int16))
    with pytest.raises(IndexError, match="organ 3"):
        call(np.zeros(5, np.int64), np.full(5, 3, np.int16))


def test_outcome_update_refuses_a_lymph_node_outside_the_organs():
    P, O = 3, 4
    args = (np.zeros((P, O)), np.zeros((P, O)), O, np.ones(P, bool), np.zeros((P, O), np.int64),
            np.full(P, np.nan), np.full(P, np.nan), np.zeros(P), 1e12, 1.0, np.zeros(P, bool))
    with pytest.raises(IndexError, match="lymph node organ 4"):
        pm.outcome_update(*args)


# -- shared, supportive


def test_growing_cells_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    v = _View(rng, 500)
    assert _same(pm.growing_cells(v.dormant, v.cells), np.where(v.dormant, 0.0, v.cells))
    assert _same(pm.growing_cells(v.dormant, v.cells, v.primary),
                 np.where(~v.dormant & v.primary, v.cells, 0.0))


def _numpy_supportive(per_organ, idx, burden, alive, cfg, dt, ps):
    """supportive.paget_update_state's arithmetic as NumPy wrote it (commit 69486c6)."""
    organ = {name: per_organ[:, idx[i]] for i, name in enumerate(("brain", "liver", "bone"))}
    score = np.maximum(0.0, np.log10(np.maximum(burden, 1.0) / cfg.load_cells))
    for name in ("brain", "liver", "bone"):
        score += getattr(cfg, name) * (organ[name] >= cfg.organ_cells)
    rate = cfg.skeletal_event_rate * organ["bone"] / 1e9 * dt
    if cfg.bone_agent:
        rate *= cfg.bone_agent_factor
    ps["symptom_burden"][alive] = score[alive]
    ps["performance_status"][alive] = np.minimum(4, np.floor(score[alive])).astype(np.int64)
    return rate


@pytest.mark.parametrize("bone_agent", [False, True])
def test_supportive_update_equals_numpy(bone_agent):
    from paget.plugins.supportive import SupportiveTable
    cfg = SupportiveTable(bone_agent=bone_agent, brain=2.5, liver=0.7)
    rng = np.random.default_rng(RNG_SEED)
    P, O = 60, 9
    idx = (3, 0, 7)
    per_organ = np.floor(np.exp(rng.uniform(0.0, 25.0, (P, O))))
    per_organ[rng.random((P, O)) < 0.3] = 0.0
    burden = np.floor(np.exp(rng.uniform(-1.0, 29.0, P)))
    alive = rng.random(P) < 0.8
    ps = {"symptom_burden": rng.random(P), "performance_status": rng.integers(0, 5, P)}
    want = {k: v.copy() for k, v in ps.items()}
    want_rate = _numpy_supportive(per_organ, idx, burden, alive, cfg, 0.5, want)
    rate = pm.supportive_update(per_organ, *idx, burden, alive, cfg.load_cells, cfg.organ_cells,
                                cfg.brain, cfg.liver, cfg.bone, cfg.skeletal_event_rate, 0.5,
                                cfg.bone_agent, cfg.bone_agent_factor, ps["symptom_burden"],
                                ps["performance_status"])
    assert _same(rate, want_rate)
    for k in ps:
        assert _same(ps[k], want[k])


def test_add_where_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    mask, events, out = rng.random(50) < 0.5, rng.integers(0, 4, 50), rng.integers(0, 9, 50)
    want = out.copy()
    want[mask] += events[mask]
    pm.add_where(mask, events, out)
    assert _same(out, want)


# -- microenvironment


class _Lesions:
    def __init__(self, v):
        self.dormant, self.lesion_cells = v.dormant, v.lesion_cells

    def __len__(self):
        return self.dormant.size


@pytest.mark.parametrize("with_vascular", [False, True])
def test_hypoxia_rows_equal_numpy(with_vascular):
    from paget.plugins.microenvironment import SPHERE, MicroenvironmentTable, hypoxia_index
    rng = np.random.default_rng(RNG_SEED)
    v = _View(rng, 2000)
    v.lesion_cells[rng.random(2000) < 0.05] = 0.0       # a lesion of no growing cells
    vascular = rng.random(2000) < 0.5 if with_vascular else None
    for limit in (0.15, 0.02, 3.0):
        cfg = MicroenvironmentTable(diffusion_limit_mm=limit)
        out = np.full(2000, 5.0)
        pm.hypoxia_rows(v.dormant, v.lesion_cells, vascular, cfg.diffusion_limit_mm, SPHERE,
                        cfg.vascular_hypoxia, out)
        assert _same(out, hypoxia_index(_Lesions(v), vascular, cfg))


def test_inflammation_update_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    burden = np.floor(np.exp(rng.uniform(0.0, 29.0, 80)))
    alive = rng.random(80) < 0.7
    got, want = rng.random(80), None
    want = got.copy()
    want[alive] = (burden / (burden + 1e10))[alive]
    pm.inflammation_update(burden, 1e10, alive, got)
    assert _same(got, want)


def test_niche_update_equals_numpy():
    from paget.plugins.microenvironment import MicroenvironmentTable, niche_step
    cfg = MicroenvironmentTable()
    rng = np.random.default_rng(RNG_SEED)
    P, O = 30, 12
    niche = rng.random((P, O))
    primary = np.floor(np.exp(rng.uniform(0.0, 25.0, P)))
    weight = np.where(rng.random(O) < 0.5, rng.random(O), 0.0)
    alive = rng.random(P) < 0.8
    want = niche.copy()
    signal = primary / (primary + cfg.niche_half_size)
    want[alive] = niche_step(niche, signal, weight, cfg, 0.7)[alive]
    pm.niche_update(niche, primary, weight, cfg.niche_half_size, cfg.niche_build,
                    cfg.niche_decay, 0.7, alive)
    assert _same(niche, want)


def test_niche_extravasation_equals_numpy():
    from paget.plugins.microenvironment import MicroenvironmentTable, extravasation_factor
    from paget.state import State
    cfg = MicroenvironmentTable(niche_extravasation=3.0)
    rng = np.random.default_rng(RNG_SEED)
    P, O, m = 20, 11, 300

    class Sources:
        pidx = rng.integers(0, P, m)

    state = State({}, {"niche": rng.random((P, O)), "inflammation": rng.random(P)})
    probability = rng.random((m, O))
    want = np.minimum(probability * extravasation_factor(Sources, state, cfg), 1.0)
    pm.niche_extravasation(Sources.pidx, state.patient["niche"], state.patient["inflammation"],
                           cfg.niche_extravasation, cfg.inflammation_extravasation, probability)
    assert _same(probability, want)


# -- colonization's fates, genetics


def test_fill_fates_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    m, O = 37, 17
    die, grow = rng.random(O), rng.random(O) * 1e-6
    fates = np.full((m, O, 3), 9.0)
    pm.fill_fates(fates, die, 0.05, grow)
    want = np.empty((m, O, 3))
    want[..., 0], want[..., 1], want[..., 2] = die, 0.05, grow
    assert _same(fates, want)
    want[...] = (0.9, 0.05, 0.05)
    pm.fill_fates(fates, np.full(O, 0.9), 0.05, np.full(O, 0.05))
    assert _same(fates, want)
    pm.fill_fates(np.empty((0, O, 3)), die, 0.05, grow)     # no sources: nothing to do


@pytest.mark.parametrize("initial", [0, 1, 2])
def test_genetics_traits_equal_numpy(initial):
    from paget.plugins.genetics import GeneticsTable
    names = tuple(GeneticsTable().alterations)
    table = GeneticsTable(initial=list(names[:initial]))
    rng = np.random.default_rng(RNG_SEED + initial)
    k = len(names)
    genotype = rng.integers(0, 2 ** k, 500).astype(np.uint64)
    genotype[:50] = 0
    for alike in (False, True):     # mixed genotypes, then one for every row
        if alike:
            genotype[:] = genotype[77]
        _check_traits(table, genotype)


def _check_traits(table, genotype):
    from paget.plugins.genetics import TRAITS, _fill_traits, _flat_effects
    eff = genotype | table._initial_mask
    want = {t: np.empty(genotype.size) for t in TRAITS}
    _fill_traits(eff, table._effects, want)
    got = tuple(np.full(genotype.size, 7.0) for _ in TRAITS)
    pm.genetics_traits(genotype, int(table._initial_mask), *_flat_effects(table), got)
    for t, g in zip(TRAITS, got):
        assert _same(g, want[t]), t


# -- imaging


def _numpy_on_schedule(t, start, interval, dt):
    """imaging._on_schedule as NumPy wrote it (commit 69486c6)."""
    since = t - start
    if interval <= 0:
        return (since >= 0) & (since < dt)
    k = np.ceil(np.maximum(since, 0.0) / interval - 1e-9)
    visit = start + k * interval
    return (since >= -1e-9) & (visit < t + dt - 1e-9) & (visit >= t - 1e-9)


@pytest.mark.parametrize("interval", [0.0, 30.0, 91.3125, 365.25])
def test_scan_due_equals_numpy(interval):
    rng = np.random.default_rng(RNG_SEED)
    P = 200
    start = np.where(rng.random(P) < 0.2, np.nan, np.floor(rng.uniform(0.0, 400.0, P)))
    alive = rng.random(P) < 0.9
    seen = 0
    for t in np.arange(0.0, 800.0, 1.0):
        want = alive & _numpy_on_schedule(t, start, interval, 1.0)
        got = pm.scan_due(float(t), start, interval, 1.0, alive)
        if want.any():
            seen += 1
            assert _same(got, want)
        else:
            assert got is None
    assert seen > 0


def test_diagnose_equals_numpy():
    """imaging's diagnosis as NumPy wrote it: only the alive, undiagnosed
    patients whose primary reached the size are diagnosed, at t."""
    rng = np.random.default_rng(RNG_SEED)
    P = 300
    for t in (0.0, 17.0, 730.5):
        diag = np.where(rng.random(P) < 0.5, np.nan, rng.uniform(0.0, 100.0, P))
        alive = rng.random(P) < 0.8
        cells = np.where(rng.random(P) < 0.05, np.nan, rng.uniform(0.0, 2e9, P))
        need = np.where(rng.random(P) < 0.5, 1e9, rng.uniform(0.0, 2e9, P))
        want = diag.copy()
        want[np.isnan(want) & alive & (cells >= need)] = t
        pm.diagnose(alive, cells, need, t, diag)
        assert _same(diag, want)


def test_any_nan_where_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(50):
        v = np.where(rng.random(20) < 0.1, np.nan, 1.0)
        mask = rng.random(20) < 0.5
        assert pm.any_nan_where(v, mask) == bool((np.isnan(v) & mask).any())


# -- one rank's sums in the bodies' compiled calls (Lesions.serial)


def _serial_view(rng, n, P, O, fractional=False, huge=False):
    """A view of ``n`` random rows of ``P`` patients and ``O`` organs, whole cells
    (a fractional dormant pool and growing row with ``fractional``, sums from
    2**53 with ``huge``), the counts known: ``serial``."""
    from paget.ext.kernels import FLAG_DORMANT, FLAG_PRIMARY
    from paget.state import LesionTable
    t = LesionTable()
    cells = np.floor(np.exp(rng.uniform(0.0, 30.0 if huge else 22.0, n)))
    cells[rng.random(n) < 0.1] = 0.0
    flags = (np.where(rng.random(n) < 0.2, FLAG_DORMANT, 0)
             | np.where(rng.random(n) < 0.3, FLAG_PRIMARY, 0)).astype(np.uint8)
    if fractional and n:
        cells[0], flags[0] = 2.5, FLAG_DORMANT
        if n > 1:
            cells[1], flags[1] = 7.25, FLAG_PRIMARY
    if huge and n:
        cells[: min(n, 4)], flags[: min(n, 4)] = 2.0 ** 53, FLAG_PRIMARY
    t.append(uid=np.arange(1, n + 1, dtype=np.uint64), parent=np.zeros(n, np.uint64),
             lesion=np.arange(1, n + 1, dtype=np.uint64), clone=np.zeros(n, np.uint64),
             genotype=np.zeros(n, np.uint64), cells=cells,
             patient=np.sort(rng.integers(0, P, n)) + 3, birth_step=np.zeros(n, np.int32),
             organ=rng.integers(0, O, n).astype(np.int16), flags=flags)
    view = t.view(1.0, lo=3, n_patients=P, n_organs=O)
    assert view.serial
    return view


_SERIAL_CASES = pytest.mark.parametrize("n, P, fractional, huge", [
    (0, 3, False, False), (1, 1, False, False), (1, 4, False, False), (80, 1, False, False),
    (500, 7, False, False), (500, 7, True, False), (500, 7, False, True)],
    ids=["empty", "one-row-one-patient", "one-row", "one-patient", "many",
         "fractional", "from-2**53"])


@_SERIAL_CASES
def test_diagnose_serial_equals_patient_sum_and_diagnose(n, P, fractional, huge):
    """The primaries' sums in the call, against patient_sum and diagnose (dead
    and diagnosed patients left alone); False, nothing written, where the
    fractional primary row or a sum from 2**53 needs patient_sum's folds."""
    rng = np.random.default_rng(RNG_SEED + n + P)
    v = _serial_view(rng, n, P, 5, fractional, huge)
    for need in (0.0, 1e6, 1e9, 2.0 ** 54):
        alive = rng.random(P) < 0.8
        diag = np.where(rng.random(P) < 0.6, np.nan, 5.0)
        want = diag.copy()
        pm.diagnose(alive, v.patient_sum(np.where(v.primary, v.cells, 0.0)), np.full(P, need),
                    30.0, want)
        before = diag.copy()
        done = pm.diagnose_serial(alive, v.primary, v.cells, v.pidx, need, 30.0, diag)
        assert done is ((not fractional or n < 2) and not huge)
        assert _same(diag, want if done else before)


@_SERIAL_CASES
def test_supportive_serial_equals_patient_sum_and_supportive_update(n, P, fractional, huge):
    """The growing cells per (patient, organ) in the call, against patient_sum
    and supportive_update; None where no mean is above 0; False, nothing
    written, where a sum is not a plain one (a fractional growing row, a sum
    from 2**53; a fractional dormant pool counts 0 and is no obstacle)."""
    from paget.plugins.supportive import SupportiveTable
    cfg = SupportiveTable(bone_agent=True, brain=2.5, liver=0.7)
    rng = np.random.default_rng(RNG_SEED + n + P)
    O, idx = 6, (3, 0, 5)
    v = _serial_view(rng, n, P, O, fractional, huge)
    burden = np.floor(np.exp(rng.uniform(-1.0, 29.0, P)))
    alive = rng.random(P) < 0.8
    ps = {"symptom_burden": rng.random(P), "performance_status": rng.integers(0, 5, P)}
    want = {k: a.copy() for k, a in ps.items()}
    before = {k: a.copy() for k, a in ps.items()}
    args = (burden, alive, cfg.load_cells, cfg.organ_cells, cfg.brain, cfg.liver, cfg.bone,
            cfg.skeletal_event_rate, 1.0, cfg.bone_agent, cfg.bone_agent_factor)
    want_rate = pm.supportive_update(
        v.patient_sum(pm.growing_cells(v.dormant, v.cells), by_organ=True), *idx, *args,
        want["symptom_burden"], want["performance_status"])
    rate = pm.supportive_serial(v.dormant, v.cells, v.pidx, v.organ, O, *idx, *args,
                                ps["symptom_burden"], ps["performance_status"])
    if (fractional and n > 1) or huge:
        assert rate is False
        want = before
    elif not np.count_nonzero(want_rate):
        assert rate is None
    else:
        assert _same(rate, want_rate)
    for k in ps:
        assert _same(ps[k], want[k])


@_SERIAL_CASES
@pytest.mark.parametrize("weighted, niche0", [(True, 0.3), (False, 0.3), (False, 0.0)],
                         ids=["tropism", "no-tropism-decaying-niche", "no-tropism-no-niche"])
def test_microenvironment_serial_equals_patient_sum_and_updates(n, P, fractional, huge,
                                                                weighted, niche0):
    """The burden and the primary's cells per patient in the call, against
    patient_sum, inflammation_update and niche_update (the niche skipped where
    no organ is weighted and it is 0 everywhere); False, nothing written,
    where a sum is not a plain one."""
    rng = np.random.default_rng(RNG_SEED + n + P)
    O = 5
    v = _serial_view(rng, n, P, O, fractional, huge)
    alive = rng.random(P) < 0.8
    weight = rng.random(O) * weighted
    inflammation = rng.random(P)
    niche = np.where(rng.random((P, O)) < 0.5, niche0, 0.0)
    want_inf, want_niche = inflammation.copy(), niche.copy()
    before = inflammation.copy(), niche.copy()
    pm.inflammation_update(v.patient_sum(pm.growing_cells(v.dormant, v.cells)), 1e9, alive,
                           want_inf)
    if weighted or np.count_nonzero(want_niche):
        pm.niche_update(want_niche, v.patient_sum(pm.growing_cells(v.dormant, v.cells,
                                                                   v.primary)),
                        weight, 1e8, 0.2, 0.05, 1.0, alive)
    done = pm.microenvironment_serial(v.dormant, v.cells, v.primary, v.pidx, alive, 1e9,
                                      inflammation, niche, weight, weighted, 1e8, 0.2, 0.05, 1.0)
    assert done is not ((fractional and n > 1) or huge)
    if not done:
        want_inf, want_niche = before
    assert _same(inflammation, want_inf)
    assert _same(niche, want_niche)


def test_any_nan_where_without_a_mask():
    assert pm.any_nan_where(np.array([1.0, np.nan]))
    assert not pm.any_nan_where(np.array([1.0, 2.0]))
    assert not pm.any_nan_where(np.zeros(0))


# -- liquid_biopsy


def _numpy_liquid_biopsy(alive, shed, death, burden, u, u_noise, dt, cfg, b, ps):
    """liquid_biopsy.paget_update_state's readouts as NumPy wrote them (commit 69486c6)."""
    from scipy import special

    from paget.plugins.liquid_biopsy import ctc_concentration, ctdna_fraction
    from paget.random import poisson_quantile
    if u is not None:
        conc = ctc_concentration(shed / dt, cfg)
        count = poisson_quantile(u, conc * cfg.draw_volume)
        ps["ctc_blood"][alive] = conc[alive]
        ps["ctc_per_7_5ml"][alive] = count[alive]
        ps["ctc_positive"][alive] = count[alive] >= cfg.positive_threshold
    ps["ctdna_fraction"][alive] = ctdna_fraction(death, cfg)[alive]
    z = special.ndtri(u_noise)
    ps["biomarker"][alive] = ((b.baseline + b.per_cell * burden)
                              * np.exp(b.cv * z - 0.5 * b.cv ** 2))[alive]


@pytest.mark.parametrize("P, dtype, top, dt", [
    (0, np.int64, 10 ** 6, 1.0), (1, np.int64, 10 ** 6, 1.0), (1, np.float64, 10 ** 6, 0.0),
    (100, np.int64, 10 ** 6, 0.5), (100, np.float64, 10 ** 6, 1.0),
    (100, np.int64, 10 ** 9, 1.0)],
    ids=["empty", "one", "one-time-zero", "many", "many-float-shed", "means-above-30"])
def test_liquid_biopsy_update_equals_numpy(P, dtype, top, dt):
    """Every readout of the alive patients against the NumPy it replaced; dead
    patients' left as they were; at dt = 0 the CTC readouts untouched; means
    above 30 by poisson_quantile's search."""
    from paget.plugins.liquid_biopsy import BiomarkerTable, LiquidBiopsyTable, constants
    cfg, b = LiquidBiopsyTable(), BiomarkerTable(cv=0.3)
    rng = np.random.default_rng(RNG_SEED + P)
    shed = rng.integers(0, top, P).astype(dtype)
    shed[:P // 4] = 0
    death = np.exp(rng.uniform(0.0, 25.0, P))
    burden = np.floor(np.exp(rng.uniform(0.0, 28.0, P)))
    alive = rng.random(P) < 0.8
    u = rng.random(P) if dt > 0 else None
    u_noise = rng.random(P)
    ps = {"ctc_blood": rng.random(P), "ctc_per_7_5ml": rng.integers(0, 3, P),
          "ctc_positive": rng.random(P) < 0.5, "ctdna_fraction": rng.random(P),
          "biomarker": rng.random(P)}
    want = {k: v.copy() for k, v in ps.items()}
    _numpy_liquid_biopsy(alive, shed, death, burden, u, u_noise, dt, cfg, b, want)
    pm.liquid_biopsy_update(alive, shed, death, burden, u, u_noise, dt, constants(cfg, b),
                            ps["ctc_blood"], ps["ctc_per_7_5ml"], ps["ctc_positive"],
                            ps["ctdna_fraction"], ps["biomarker"])
    for k in ps:
        assert _same(ps[k], want[k]), k
    if top > 10 ** 6 and P:
        assert want["ctc_per_7_5ml"][alive].max() > 30     # the search was taken


def test_imaging_scan_terms_equal_numpy():
    from paget.plugins.imaging import DIAMETER_SCALE, diameter_of_cells, lesion_totals
    rng = np.random.default_rng(RNG_SEED)
    P, O, N, lymph = 30, 9, 2500, 4
    v = _View(rng, N)
    v.organ = rng.integers(0, O, N).astype(np.int16)
    v.pidx = rng.integers(0, P, N)
    thr = np.exp(rng.uniform(10.0, 20.0, O))
    scan = rng.random(P) < 0.6
    rows, seen, diameter, met, distant = pm.imaging_scan_terms(
        v.dormant, v.cells, v.lesion_cells, v.lesion, v.primary, v.organ, v.pidx, thr, scan,
        lymph, DIAMETER_SCALE)
    # imaging.paget_update_state's NumPy (commit 69486c6), its terms then put in row order
    first, size = lesion_totals(v)
    pidx, organ = v.pidx[first], v.organ[first]
    w_seen = (size >= thr[organ]) & scan[pidx]
    w_met = w_seen & ~v.primary[first]
    w_distant = w_met & (organ != lymph)
    w_diameter = np.where(w_seen, diameter_of_cells(size), 0.0)
    order = np.argsort(first)
    assert _same(rows, first[order].astype(np.intp))
    assert _same(seen, w_seen[order].astype(np.float64))
    assert _same(met, w_met[order].astype(np.float64))
    assert _same(distant, w_distant[order].astype(np.float64))
    assert _same(diameter, w_diameter[order])
    assert 0 < seen.sum() < seen.size


def test_imaging_write_equals_numpy():
    rng = np.random.default_rng(RNG_SEED)
    P, O, t = 25, 6, 91.0
    scan = rng.random(P) < 0.5
    counts = rng.integers(0, 4, (P, O)).astype(np.float64)
    dsum, met, distant = rng.random(P) * 40, rng.integers(0, 2, P) * 1.0, rng.integers(0, 2, P) * 1.0
    ps = {"imaged_lesions": rng.integers(0, 3, (P, O)), "imaged_diameter_sum": rng.random(P),
          "last_scan_time": np.where(rng.random(P) < 0.5, np.nan, 1.0),
          "first_detected_metastasis_time": np.where(rng.random(P) < 0.5, np.nan, 2.0),
          "first_detected_distant_metastasis_time": np.where(rng.random(P) < 0.5, np.nan, 3.0)}
    want = {k: a.copy() for k, a in ps.items()}
    want["imaged_lesions"][scan] = counts[scan]
    want["imaged_diameter_sum"][scan] = dsum[scan]
    want["last_scan_time"][scan] = t
    for name, s in (("first_detected_metastasis_time", met),
                    ("first_detected_distant_metastasis_time", distant)):
        when = want[name]
        when[(s > 0) & np.isnan(when)] = t
    pm.imaging_write(scan, counts, dsum, met, distant, t, *ps.values())
    for k in ps:
        assert _same(ps[k], want[k]), k
