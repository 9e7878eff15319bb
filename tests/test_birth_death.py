"""The exact linear birth-death step of ``kernels.step_rows`` (Kendall 1948).

Each row of a ``step_rows`` call draws from its own stream keyed by its uid, so
many rows with distinct uids are independent replicates of one process.

Tolerances: a sample mean of R replicates is compared with its exact value
within 5 sigma / sqrt(R), sigma the exact standard deviation of one replicate;
a proportion within 5 sqrt(p (1 - p) / R).  (A 5-sigma band is missed by a
correct kernel with probability ~6e-7; the seeds are fixed, so each test is
deterministic.)  Sample variances are compared within 6 standard errors
estimated from the sample fourth moment (see ``_var_se``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from paget.ext import kernels

DORMANT = int(kernels.FLAG_DORMANT)


def step(cells, *, birth=0.0, death=0.0, shed_rate=0.0, flags=0, deterministic=0, h=1.0,
         seed=1, step_index=0, uid=None, patient=0):
    """One call of step_rows on float cells (modified in place).

    Scalars broadcast over the rows; returns (cells, shed_out, react_out).
    """
    cells = np.ascontiguousarray(cells, dtype=np.float64)
    m = cells.size

    def col(v, dtype):
        return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=dtype), (m,)))

    if uid is None:
        uid = np.arange(1, m + 1, dtype=np.uint64)
    shed_out = np.full(m, -7, np.int64)   # garbage: the kernel must overwrite every row
    react_out = np.full(m, -7, np.int64)
    kernels.step_rows(cells, col(flags, np.uint8), col(uid, np.uint64), col(patient, np.int64),
                      col(birth, np.float64), col(death, np.float64),
                      col(shed_rate, np.float64), col(deterministic, np.uint8),
                      h, seed, step_index, shed_out, react_out)
    return cells, shed_out, react_out


def _var_se(x):
    """Standard error of the sample variance, from the sample fourth central moment.

    Var(s^2) = (mu4 - sigma^4 (R - 3) / (R - 1)) / R for R i.i.d. draws.  N(t) of a
    birth-death process is over-dispersed (a geometric-like tail), so mu4 is far
    from the normal 3 sigma^4; estimating it from the sample keeps the SE honest.
    The estimate of mu4 is itself noisy for such tails, hence the 6 SE margin
    (rather than 5) used with it.
    """
    r = x.size
    c = x - x.mean()
    s2 = np.mean(c**2) * r / (r - 1)
    m4 = np.mean(c**4)
    return math.sqrt((m4 - s2**2 * (r - 3) / (r - 1)) / r)


def kendall(b, d, t):
    """alpha (extinction of one cell's lineage by t) and beta, from the closed form."""
    if b == d:  # the r -> 0 limit
        return b * t / (1 + b * t), b * t / (1 + b * t)
    r = b - d
    e = math.exp(r * t)
    return d * (e - 1) / (b * e - d), b * (e - 1) / (b * e - d)


# ---------------------------------------------------------------- alpha and beta

@pytest.mark.parametrize(
    "b,d,h",
    [(0.05, 0.04, 1.0), (0.04, 0.05, 1.0), (1.0, 0.3, 7.0), (0.3, 1.0, 7.0), (2.0, 0.5, 30.0),
     (0.02, 0.01, 0.25), (0.6, 0.1, 0.01)],
    ids=["slow_growth", "slow_decline", "fast_growth", "fast_decline", "explosive",
         "short_step", "tiny_step"])
def test_alpha_beta_closed_form(b, d, h):
    # |r h| >= 1e-3 here, so the naive closed form loses at most ~1e-13 relative
    alpha, beta = kernels.bd_alpha_beta(b, d, h)
    a_ref, b_ref = kendall(b, d, h)
    np.testing.assert_allclose([alpha, beta], [a_ref, b_ref], rtol=1e-10, atol=0)
    assert 0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0  # beta rounds to 1 at e^{rh} ~ 1e19


@pytest.mark.parametrize("b,h", [(0.05, 1.0), (0.05, 100.0), (1.0, 0.5), (1e-6, 3.0)],
                         ids=["b0.05_h1", "b0.05_h100", "b1_h0.5", "b1e-6_h3"])
def test_alpha_beta_critical(b, h):
    alpha, beta = kernels.bd_alpha_beta(b, b, h)
    expected = b * h / (1 + b * h)
    np.testing.assert_allclose([alpha, beta], [expected, expected], rtol=1e-14)


@pytest.mark.parametrize("d,h", [(0.04, 1.0), (1.0, 5.0), (1e-9, 1.0)],
                         ids=["d0.04", "d1_h5", "d1e-9"])
def test_alpha_beta_pure_death(d, h):
    alpha, beta = kernels.bd_alpha_beta(0.0, d, h)
    np.testing.assert_allclose(alpha, -math.expm1(-d * h), rtol=1e-13)
    assert beta == 0.0


@pytest.mark.parametrize("b,h", [(0.05, 1.0), (1.0, 5.0), (1e-9, 1.0)],
                         ids=["b0.05", "b1_h5", "b1e-9"])
def test_alpha_beta_pure_birth(b, h):
    alpha, beta = kernels.bd_alpha_beta(b, 0.0, h)
    assert alpha == 0.0
    np.testing.assert_allclose(beta, -math.expm1(-b * h), rtol=1e-13)


@pytest.mark.parametrize(
    "delta,h",
    [(1e-13, 1.0), (-1e-13, 1.0), (1.1e-12, 1.0), (-1.1e-12, 1.0), (0.9e-12, 1.0),
     (1e-10, 1.0), (1e-13, 100.0)],
    ids=["+1e-13", "-1e-13", "+1.1e-12_above_switch", "-1.1e-12_above_switch",
         "+0.9e-12_below_switch", "+1e-10", "+1e-13_h100"])
def test_alpha_beta_continuous_near_critical(delta, h):
    """d = b + delta near r = 0: alpha, beta match the series of the closed form.

    x = (e^{rh} - 1) / r = h (1 + rh/2 + (rh)^2/6 + ...), alpha = d x / (b x + 1),
    beta = b x / (b x + 1); the truncation error of the series is O((rh)^3) and the
    kernel switches formulas at |rh| = 1e-12, so it must agree on both sides.
    """
    b = 0.05
    d = b + delta
    r = b - d
    x = h * (1.0 + r * h / 2 + (r * h) ** 2 / 6)
    alpha, beta = kernels.bd_alpha_beta(b, d, h)
    np.testing.assert_allclose([alpha, beta], [d * x / (b * x + 1), b * x / (b * x + 1)],
                               rtol=1e-11)
    # and they are within first order of the critical values: alpha is linear in d
    # (relative change |delta| / d) and x moves by a relative r h / 2
    crit = kernels.bd_alpha_beta(b, b, h)
    np.testing.assert_allclose([alpha, beta], crit, rtol=2 * abs(delta) * (1 / b + h) + 1e-14)


# ---------------------------------------------------------------- extinction

R_EXT = 20000
EXT_B, EXT_D, EXT_H = 0.4, 0.2, 1.0
EXT_STEPS = 60       # r T = 12: alpha(T) = d/b - (d/b)(r/b)/(e^{rT} - ...) ~ d/b - 1.5e-6
EXT_EARLY = 5        # an intermediate time T = 5 days, far from the limit
N0S = (1, 2, 5)


@pytest.fixture(scope="module")
def many_step_extinction():
    """R_EXT colonies of each n0, stepped EXT_STEPS times with constant rates.

    Returns {n0: (extinct fraction after EXT_EARLY steps, after EXT_STEPS steps)}.
    """
    n0 = np.repeat(np.array(N0S, dtype=np.float64), R_EXT)
    cells = n0.copy()
    uid = np.arange(1, n0.size + 1, dtype=np.uint64)
    early = None
    for s in range(EXT_STEPS):
        # rates re-filled each step, as the engine does; the step index keys the streams
        cells, _, _ = step(cells, birth=np.full(n0.size, EXT_B), death=np.full(n0.size, EXT_D),
                           h=EXT_H, seed=2718, step_index=s, uid=uid)
        assert np.all(cells == np.floor(cells)) and cells.min() >= 0
        if s + 1 == EXT_EARLY:
            early = cells == 0
    final = cells == 0
    assert not np.any(early & ~final), "an extinct colony came back"
    return {k: (early[n0 == k].mean(), final[n0 == k].mean()) for k in N0S}


def _prop_tol(p, n):
    # 5 binomial standard errors of a proportion
    return 5.0 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("n0", N0S, ids=[f"n0={k}" for k in N0S])
def test_extinction_approaches_eventual_probability(many_step_extinction, n0):
    """After T = 60 days of b = 0.4, d = 0.2 a colony of n0 cells is extinct with
    probability alpha(T)^n0, within 2e-6 of the eventual (d/b)^n0 (Kendall 1948)."""
    p_eventual = (EXT_D / EXT_B) ** n0
    p_T = kendall(EXT_B, EXT_D, EXT_H * EXT_STEPS)[0] ** n0
    assert abs(p_T - p_eventual) < 2e-6   # the limit is reached to far below one SE
    frac = many_step_extinction[n0][1]
    assert abs(frac - p_eventual) < _prop_tol(p_eventual, R_EXT)


@pytest.mark.parametrize("n0", N0S, ids=[f"n0={k}" for k in N0S])
def test_extinction_by_intermediate_time_many_steps(many_step_extinction, n0):
    """After 5 steps of 1 day the extinct fraction is alpha(5)^n0, as for one step."""
    p = kendall(EXT_B, EXT_D, EXT_H * EXT_EARLY)[0] ** n0
    frac = many_step_extinction[n0][0]
    assert abs(frac - p) < _prop_tol(p, R_EXT)


@pytest.mark.parametrize(
    "n0,b,d,T",
    [(1, 0.4, 0.2, 5.0), (2, 0.4, 0.2, 5.0), (5, 0.4, 0.2, 5.0),
     (1, 0.05, 0.04, 400.0), (2, 0.05, 0.04, 400.0), (5, 0.05, 0.04, 400.0),
     (3, 0.1, 0.1, 20.0), (4, 0.02, 0.1, 10.0)],
    ids=["n0=1_T5", "n0=2_T5", "n0=5_T5", "n0=1_T400", "n0=2_T400", "n0=5_T400",
         "n0=3_critical", "n0=4_declining"])
def test_extinction_single_long_step(n0, b, d, T):
    p = kendall(b, d, T)[0] ** n0
    cells, _, _ = step(np.full(R_EXT, float(n0)), birth=b, death=d, h=T, seed=99)
    assert np.all(cells == np.floor(cells))
    assert abs(np.mean(cells == 0) - p) < _prop_tol(p, R_EXT)


# ---------------------------------------------------------------- moments of N(t)

R_MOM = 20000
MOM_N0, MOM_T = 10, 50.0
MOM_RATES = [(0.06, 0.04), (0.05, 0.05), (0.04, 0.06)]
MOM_GRIDS = [(1, MOM_T), (100, MOM_T / 100)]   # (steps, h): one step, or 100 of 0.5 day


def _exact_moments(n0, b, d, t):
    if b == d:
        return float(n0), 2.0 * n0 * b * t
    e = math.exp((b - d) * t)
    return n0 * e, n0 * (b + d) / (b - d) * e * (e - 1)


@pytest.mark.parametrize("steps,h", MOM_GRIDS, ids=["one_step", "100_steps"])
@pytest.mark.parametrize("b,d", MOM_RATES, ids=["growing", "critical", "declining"])
def test_mean_and_variance_of_population(b, d, steps, h):
    """E N(t) = n0 e^{rt}; Var N(t) = n0 (b+d)/(b-d) e^{rt} (e^{rt} - 1) (2 n0 b t at b = d),
    the same whether t is one exact step or many (the Markov property)."""
    cells = np.full(R_MOM, float(MOM_N0))
    uid = np.arange(1, R_MOM + 1, dtype=np.uint64)
    for s in range(steps):
        cells, _, _ = step(cells, birth=b, death=d, h=h, seed=4242, step_index=s, uid=uid)
    assert np.all(cells == np.floor(cells))
    mean, var = _exact_moments(MOM_N0, b, d, MOM_T)
    # sample mean: SE = sigma / sqrt(R) with the exact sigma
    assert abs(cells.mean() - mean) < 5.0 * math.sqrt(var / R_MOM)
    assert abs(cells.var(ddof=1) - var) < 6.0 * _var_se(cells)


# ---------------------------------------------------------------- deterministic rows

@pytest.mark.parametrize(
    "n,b,d,h",
    [(1000.0, 0.05, 0.04, 1.0), (1000.0, 0.0, 0.3, 7.0), (3.5, 0.2, 0.0, 30.0),
     (1e12, 0.01, 0.01, 1.0), (1.0, 0.0, 0.0, 1.0)],
    ids=["growing", "declining", "fractional", "critical_large", "no_rates"])
def test_deterministic_rows_follow_the_mean(n, b, d, h):
    results = []
    for seed in (1, 2):  # no randomness: the seed changes nothing
        cells, shed, react = step(np.full(50, n), birth=b, death=d, deterministic=1, h=h,
                                  seed=seed)
        np.testing.assert_allclose(cells, n * math.exp((b - d) * h), rtol=1e-12)
        assert np.all(shed == 0) and np.all(react == 0)
        results.append(cells)
    np.testing.assert_array_equal(results[0], results[1])


# ---------------------------------------------------------------- shedding

R_SHED = 20000


@pytest.mark.parametrize("lam,h", [(3.0, 1.0), (0.2, 0.5), (250.0, 2.0)],
                         ids=["lam3", "lam0.2_h0.5", "lam250_h2"])
def test_shedding_is_poisson(lam, h):
    n = 1e6  # far above any shed count: the cap never binds
    cells, shed, react = step(np.full(R_SHED, n), shed_rate=lam, h=h, seed=8)
    mu = lam * h
    # Poisson: mean = variance = mu; Var(s^2) = (mu4 - sigma^4 (R-3)/(R-1)) / R with
    # mu4 = mu (1 + 3 mu)
    assert abs(shed.mean() - mu) < 5.0 * math.sqrt(mu / R_SHED)
    se_var = math.sqrt((mu * (1 + 3 * mu) - mu**2 * (R_SHED - 3) / (R_SHED - 1)) / R_SHED)
    assert abs(shed.var(ddof=1) - mu) < 5.0 * se_var
    # shed cells leave the row, exactly
    np.testing.assert_array_equal(cells, n - shed)
    assert np.all(react == 0)


@pytest.mark.parametrize("deterministic", [0, 1], ids=["stochastic", "deterministic"])
def test_shedding_never_exceeds_cells(deterministic):
    cells, shed, _ = step(np.full(100, 3.0), shed_rate=1e9, deterministic=deterministic)
    assert np.all(shed == 3)
    assert np.all(cells == 0.0)


def test_shedding_follows_growth():
    """With birth and death the row grows first, then sheds from its new size."""
    cells0 = np.full(R_SHED, 50.0)
    grown, _, _ = step(cells0.copy(), birth=0.1, death=0.05, seed=3)
    after, shed, _ = step(cells0.copy(), birth=0.1, death=0.05, shed_rate=2.0, seed=3)
    # the birth-death draw comes first from the same stream, so the same sizes
    # are reached; shedding then removes shed_out cells (never more than there are)
    np.testing.assert_array_equal(after, grown - shed)
    assert np.all(shed <= grown)
    assert np.all(shed[grown == 0] == 0)


# ---------------------------------------------------------------- dormant pools

R_DORM = 10000


@pytest.mark.parametrize(
    "n,rho,delta,h",
    [(1000.0, 0.01, 0.03, 1.0), (50.0, 0.5, 0.5, 2.0), (10000.0, 1e-4, 1e-3, 30.0),
     (200.0, 0.2, 0.0, 1.0), (200.0, 0.0, 0.2, 1.0)],
    ids=["typical", "fast", "slow_long_step", "reactivate_only", "die_only"])
def test_dormant_pool_competing_risks(n, rho, delta, h):
    cells, shed, react = step(np.full(R_DORM, n), flags=DORMANT, birth=rho, death=delta,
                              shed_rate=5.0, h=h, seed=77)
    left = n - cells
    assert np.all(cells == np.floor(cells)) and cells.min() >= 0
    assert np.all(shed == 0)                    # dormant pools never shed
    assert np.all((react >= 0) & (react <= left))
    total = rho + delta
    p_leave = -math.expm1(-total * h)
    q = rho / total
    # left ~ Binomial(n, p_leave); react ~ Binomial(n, p_leave q), each cell independently
    assert abs(left.mean() - n * p_leave) < 5.0 * math.sqrt(n * p_leave * (1 - p_leave) / R_DORM)
    pr = p_leave * q
    if q > 0:
        assert abs(react.mean() - n * pr) < 5.0 * math.sqrt(n * pr * (1 - pr) / R_DORM)
    if 0 < q < 1:
        # given L = sum(left) cells left, sum(react) ~ Binomial(L, q)
        L = left.sum()
        assert abs(react.sum() / L - q) < 5.0 * math.sqrt(q * (1 - q) / L)
    elif q == 1:
        np.testing.assert_array_equal(react, left)
    else:
        assert np.all(react == 0)


def test_dormant_pool_without_rates_is_unchanged():
    cells, shed, react = step(np.full(10, 40.0), flags=DORMANT, birth=0.0, death=0.0,
                              shed_rate=5.0)
    assert np.all(cells == 40.0) and np.all(shed == 0) and np.all(react == 0)


# ---------------------------------------------------------------- empty rows, large counts

@pytest.mark.parametrize("flags,deterministic", [(0, 0), (0, 1), (DORMANT, 0)],
                         ids=["growing", "deterministic", "dormant"])
def test_empty_rows_stay_empty_and_draw_nothing(flags, deterministic):
    cells, shed, react = step(np.zeros(20), flags=flags, deterministic=deterministic,
                              birth=0.5, death=0.1, shed_rate=100.0)
    assert np.all(cells == 0) and np.all(shed == 0) and np.all(react == 0)


def test_empty_rows_do_not_disturb_other_rows():
    uid = np.arange(1, 201, dtype=np.uint64)
    full = np.full(200, 30.0)
    a, sa, _ = step(full.copy(), birth=0.2, death=0.1, shed_rate=1.0, uid=uid, seed=5)
    mixed = full.copy()
    mixed[::2] = 0.0
    b, sb, _ = step(mixed, birth=0.2, death=0.1, shed_rate=1.0, uid=uid, seed=5)
    np.testing.assert_array_equal(b[1::2], a[1::2])
    np.testing.assert_array_equal(sb[1::2], sa[1::2])
    assert np.all(b[::2] == 0) and np.all(sb[::2] == 0)


@pytest.mark.parametrize("b,d", [(0.01, 0.01), (0.02, 0.01), (0.01, 0.02)],
                         ids=["critical", "growing", "declining"])
def test_large_counts_exact_and_within_six_sd(b, d):
    n, h, rows = 1e12, 1.0, 200
    cells, _, _ = step(np.full(rows, n), birth=b, death=d, h=h, seed=12)
    assert np.all(cells == np.floor(cells))
    mean, var = _exact_moments(n, b, d, h)
    sd = math.sqrt(var)
    # each row within 6 sd (P(any of 200 outside) ~ 200 * 2e-9 for a near-normal N)
    assert np.all(np.abs(cells - mean) < 6.0 * sd)
    assert abs(cells.mean() - mean) < 5.0 * sd / math.sqrt(rows)


@pytest.mark.parametrize(
    "b,d,h",
    [(2.0, 0.5, 30.0), (1.52, 0.02, 30.0), (45.0, 0.0, 1.0)],
    ids=["b2_d0.5_h30", "engine_rate1.5_dt30", "b45_h1"])
def test_counts_never_negative_when_growth_overflows_exact_range(b, d, h):
    """A step whose mean growth factor e^{(b-d)h} exceeds ~1e16 must still give a
    count >= 0 (the exact law has N >= 0 always; a count beyond 2**53 is for the
    engine to refuse with its ConfigError).  In this regime beta rounds to 1.0 in
    double precision.  The second case is what the engine hands the kernel for
    colonization.growth = {law: exponential, rate: 1.5, death: 0.02} at
    cohort.dt = 30 (b = d0 + g = 1.52, d = d0 = 0.02), both accepted by the config.
    """
    cells, _, _ = step(np.full(50, 1000.0), birth=b, death=d, h=h, seed=21)
    assert np.all(cells >= 0), f"negative cell counts: {cells[cells < 0][:3]}"
    # with d / b <= 1/3 and n0 = 1000 cells, extinction has probability < 3**-1000
    assert np.all(cells > 0)


# ---------------------------------------------------------------- reproducibility

def _keying_inputs():
    rng = np.random.default_rng(2024)
    m = 500
    return dict(
        cells=rng.integers(0, 200, m).astype(np.float64),
        flags=(rng.random(m) < 0.3).astype(np.uint8) * DORMANT,
        birth=rng.uniform(0.0, 0.3, m), death=rng.uniform(0.0, 0.3, m),
        shed_rate=rng.uniform(0.0, 5.0, m), uid=rng.integers(1, 2**63, m).astype(np.uint64),
        patient=rng.integers(0, 10, m))


def _run_keyed(inp, order=None, seed=1, step_index=3):
    order = np.arange(inp["cells"].size) if order is None else order
    return step(inp["cells"][order].copy(), flags=inp["flags"][order],
                birth=inp["birth"][order], death=inp["death"][order],
                shed_rate=inp["shed_rate"][order], uid=inp["uid"][order],
                patient=inp["patient"][order], h=2.0, seed=seed, step_index=step_index)


def test_same_inputs_same_result():
    inp = _keying_inputs()
    a, b = _run_keyed(inp), _run_keyed(inp)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_permuting_rows_permutes_results():
    inp = _keying_inputs()
    base = _run_keyed(inp)
    perm = np.random.default_rng(7).permutation(inp["cells"].size)
    permuted = _run_keyed(inp, order=perm)
    for x, y in zip(base, permuted):
        np.testing.assert_array_equal(y, x[perm])


@pytest.mark.parametrize("change", [dict(seed=2), dict(step_index=4)], ids=["seed", "step"])
def test_other_seed_or_step_changes_results(change):
    inp = _keying_inputs()
    a = _run_keyed(inp)[0]
    b = _run_keyed(inp, **change)[0]
    live = inp["cells"] > 0
    # rows with several cells and nonzero rates almost never repeat their draw
    assert np.mean(a[live] != b[live]) > 0.5


def test_patient_is_part_of_the_key():
    uid = np.arange(1, 1001, dtype=np.uint64)
    a, _, _ = step(np.full(1000, 100.0), birth=0.2, death=0.1, uid=uid, patient=0, seed=3)
    b, _, _ = step(np.full(1000, 100.0), birth=0.2, death=0.1, uid=uid, patient=1, seed=3)
    assert np.mean(a != b) > 0.5


# ---------------------------------------------------------------- bad input

ROW_ARGS = ["cells", "flags", "uid", "patient", "birth", "death", "shed_rate",
            "deterministic", "shed_out", "react_out"]


def _valid_args(m=4):
    return dict(cells=np.ones(m), flags=np.zeros(m, np.uint8),
                uid=np.arange(1, m + 1, dtype=np.uint64), patient=np.zeros(m, np.int64),
                birth=np.full(m, 0.1), death=np.full(m, 0.05), shed_rate=np.zeros(m),
                deterministic=np.zeros(m, np.uint8), shed_out=np.zeros(m, np.int64),
                react_out=np.zeros(m, np.int64))


def _call(a, h=1.0):
    kernels.step_rows(a["cells"], a["flags"], a["uid"], a["patient"], a["birth"], a["death"],
                      a["shed_rate"], a["deterministic"], h, 1, 0, a["shed_out"],
                      a["react_out"])


def test_valid_arguments_accepted():
    """Well-formed rows are stepped in place: a deterministic row takes its mean
    n exp((b - d) h) exactly, a stochastic one a whole number of cells, and
    with no shedding and no dormant row nothing is shed or reactivated."""
    a = _valid_args()
    a["cells"][:] = 1000.0
    a["deterministic"][0] = 1
    _call(a, h=2.0)
    np.testing.assert_allclose(a["cells"][0], 1000.0 * math.exp((0.1 - 0.05) * 2.0), rtol=1e-12)
    stochastic = a["cells"][1:]
    assert np.all(stochastic == np.round(stochastic)) and np.all(stochastic >= 0)
    assert np.any(stochastic != 1000.0)     # the step drew, it did not skip the rows
    np.testing.assert_array_equal(a["shed_out"], 0)
    np.testing.assert_array_equal(a["react_out"], 0)


@pytest.mark.parametrize("name", ROW_ARGS[1:], ids=ROW_ARGS[1:])
def test_mismatched_lengths_raise(name):
    a = _valid_args()
    a[name] = a[name][:3].copy()
    with pytest.raises(ValueError):
        _call(a)


@pytest.mark.parametrize("h", [0.0, -1.0, float("nan")], ids=["zero", "negative", "nan"])
def test_nonpositive_step_raises(h):
    with pytest.raises(ValueError):
        _call(_valid_args(), h=h)


# ---------------------------------------------------------------- the whole law of one step

def _one_step_pmf(n0, b, d, h, m_max):
    """P(N(h) = m | N(0) = n0), m = 0..m_max: K ~ Bin(n0, 1 - alpha) surviving lineages,
    N = K + NegBin(K, 1 - beta) (Kendall 1948), by direct summation."""
    from scipy import stats
    alpha, beta = kendall(b, d, h)
    m = np.arange(m_max + 1)
    pmf = np.zeros(m_max + 1)
    pmf[0] = stats.binom.pmf(0, n0, 1 - alpha)
    for k in range(1, n0 + 1):
        pk = stats.binom.pmf(k, n0, 1 - alpha)
        extra = m - k
        ok = extra >= 0
        pmf[ok] += pk * stats.nbinom.pmf(extra[ok], k, 1 - beta)
    return pmf


@pytest.mark.parametrize("n0,b,d,h", [
    (1, 0.05, 0.04, 1.0),     # nearly every row: no event (the quiet-row path)
    (2, 0.15, 0.1, 1.0),      # quiet path, P(no event) ~ 0.62: conditional draws too
    (3, 0.3, 0.2, 2.0),       # quiet path, P(no event) ~ 0.09, above its floor of 1/16
    (6, 0.3, 0.2, 2.0),       # P(no event) ~ 0.007: the general path's inversion walks
    (40, 0.4, 0.3, 1.0),      # dead lineages by BTRS (n alpha >= 10)
    (20, 1.0, 0.1, 2.0),      # extra cells by the gamma-Poisson negative binomial (mean >= 10)
], ids=["no-event", "quiet-with-events", "quiet-several-events", "few-events",
        "binomial-branch", "negbin-branch"])
def test_one_step_distribution_matches_kendall(n0, b, d, h):
    """Chi-square of the drawn N(h) against the exact pmf, over cells with expected
    count >= 5 (the rest pooled).  p > 1e-4 at a fixed seed: a correct sampler fails
    with probability 1e-4; a wrong branch fails with p ~ 0 at R = 50,000."""
    from scipy import stats
    R = 50000
    cells, _, _ = step(np.full(R, float(n0)), birth=b, death=d, h=h, seed=2024)
    m_max = int(cells.max())
    pmf = _one_step_pmf(n0, b, d, h, m_max)
    observed = np.bincount(cells.astype(np.int64), minlength=m_max + 1).astype(float)
    expected = pmf * R
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum() + 0.0)
    exp = np.append(expected[big], R - expected[big].sum())
    keep = exp > 0
    assert stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue > 1e-4


@pytest.mark.parametrize("n0,b,d,lam", [(1, 0.1, 0.05, 0.2), (2, 0.15, 0.1, 0.05),
                                        (6, 0.1, 0.05, 0.5), (5, 0.4, 0.3, 3.0)],
                         ids=["quiet", "quiet-rare-shed", "quiet-several-events", "general"])
def test_shedding_after_growth_matches_its_exact_mean(n0, b, d, lam):
    """Shedding follows growth: S = min(Poisson(lam), N'), N' the grown count, so
    E S = sum_n P(N' = n) E min(Pois(lam), n).  Mean within 5 SE (sample SD)."""
    from scipy import stats
    R = 40000
    cells, shed, _ = step(np.full(R, float(n0)), birth=b, death=d, shed_rate=lam, seed=77)
    grown = cells + shed
    m_max = int(grown.max())
    pmf = _one_step_pmf(n0, b, d, 1.0, m_max)
    e_min = np.array([np.sum(np.minimum(np.arange(200), n) * stats.poisson.pmf(np.arange(200), lam))
                      for n in range(m_max + 1)])
    expected = float(np.sum(pmf * e_min))
    assert abs(shed.mean() - expected) < 5 * shed.std(ddof=1) / math.sqrt(R)
    # and the grown count (before shedding) still follows Kendall's law in the mean
    mean_grown = float(np.sum(np.arange(m_max + 1) * pmf))
    assert abs(grown.mean() - mean_grown) < 5 * grown.std(ddof=1) / math.sqrt(R)
