"""The exact samplers of the step kernel for many events: BTRS binomial, PTRS
Poisson and the gamma-Poisson negative binomial (``ext/samplers.pxd``).

Their log-pmf evaluations are checked against 50-digit arithmetic (mpmath), the
draws against the exact pmf by chi-square tests on fixed seeds.
"""
import mpmath
import numpy as np
import pytest
from scipy import stats

from paget.ext import kernels

mpmath.mp.dps = 50
N_DRAWS = 40_000
#: A fixed seed makes every test deterministic; at p > 1e-4 a correct sampler
#: fails one case in 10,000 seeds, while a wrong squeeze or hat shifts the
#: distribution by far more than 40,000 draws resolve.
P_MIN = 1e-4


def _log_fact(k):
    return mpmath.loggamma(mpmath.mpf(k) + 1)


def _exact_binomial_log_ratio(n, p, k):
    m = np.floor((n + 1) * p)
    p = mpmath.mpf(p)
    lf = lambda j: -_log_fact(j) - _log_fact(n - j) + j * mpmath.log(p) \
        + (n - j) * mpmath.log(1 - p)
    return float(lf(k) - lf(m))


def _exact_poisson_log_pmf(lam, k):
    lam = mpmath.mpf(lam)
    return float(k * mpmath.log(lam) - lam - _log_fact(k))


@pytest.mark.parametrize("n,p", [(20, 0.5), (100, 0.1), (10**4, 0.02), (10**6, 0.3),
                                 (10**11, 0.02), (2**52, 0.25)])
def test_binomial_log_ratio_is_accurate_for_any_n(n, p):
    """Up to n = 2**52, where log n! is ~1.6e17 and a direct difference of
    log-factorials would keep no digit, the ratio is good to ~1e-12."""
    m = np.floor((n + 1) * p)
    sd = np.sqrt(n * p * (1 - p))
    for k in np.unique(np.clip(np.floor(m + sd * np.array([-8, -3, -1, 0, 1, 2.5, 7])), 0, n)):
        exact = _exact_binomial_log_ratio(n, p, int(k))
        got = kernels.log_pmf_check("binomial", float(n), p, float(k))
        assert abs(got - exact) <= 1e-12 * max(1.0, abs(exact)), (n, p, k, got, exact)


@pytest.mark.parametrize("lam", [10.0, 37.5, 1e3, 1e6, 1e10, 1e15])
def test_poisson_log_pmf_is_accurate_for_any_mean(lam):
    sd = np.sqrt(lam)
    for k in np.unique(np.clip(np.floor(lam + sd * np.array([-6, -1, 0, 1, 6])), 0, None)):
        exact = _exact_poisson_log_pmf(lam, int(k))
        got = kernels.log_pmf_check("poisson", lam, 0.0, float(k))
        assert abs(got - exact) <= 1e-12 * max(1.0, abs(exact)), (lam, k, got, exact)


def test_log_pmf_check_refuses_an_unknown_law():
    with pytest.raises(ValueError, match="law must be"):
        kernels.log_pmf_check("gamma", 1.0, 0.0, 1.0)


def _chisquare_pvalue(x: np.ndarray, pmf) -> float:
    """Chi-square p-value of integer draws ``x`` against ``pmf(k)`` over the
    support the draws span, tails pooled into the end bins, bins merged so that
    every expected count is >= 5."""
    lo, hi = int(x.min()), int(x.max())
    k = np.arange(lo, hi + 1)
    expected = pmf(k) * x.size
    expected[0] += pmf.cdf_below(lo) * x.size
    expected[-1] += pmf.sf_above(hi) * x.size
    observed = np.bincount(x - lo, minlength=k.size).astype(float)
    obs_b, exp_b, o, e = [], [], 0.0, 0.0
    for oi, ei in zip(observed, expected):
        o, e = o + oi, e + ei
        if e >= 5:
            obs_b.append(o)
            exp_b.append(e)
            o = e = 0.0
    obs_b[-1] += o
    exp_b[-1] += e
    exp_b = np.array(exp_b) * (sum(obs_b) / sum(exp_b))
    return stats.chisquare(obs_b, exp_b).pvalue


class _Law:
    def __init__(self, dist):
        self.dist = dist

    def __call__(self, k):
        return self.dist.pmf(k)

    def cdf_below(self, k):
        return self.dist.cdf(k - 1)

    def sf_above(self, k):
        return self.dist.sf(k)


UIDS = np.arange(1, N_DRAWS + 1, dtype=np.uint64)


@pytest.mark.parametrize("n,p", [(100, 0.099), (100, 0.1), (40, 0.5), (1000, 0.02),
                                 (30_000, 0.02), (10**6, 0.3), (10**9, 1e-4), (200, 0.93)])
def test_binomial_draws_follow_the_pmf(n, p):
    """Around the switch from inversion to BTRS (n p = 10), where BTRS takes
    its slower test most often, and far above it; p > 1/2 by symmetry."""
    x = kernels.stream_binomial(2024, UIDS, n, p)
    assert x.min() >= 0 and x.max() <= n
    assert _chisquare_pvalue(x, _Law(stats.binom(n, p))) > P_MIN


@pytest.mark.parametrize("lam", [9.99, 10.0, 12.5, 30.0, 1e3, 1e6])
def test_poisson_draws_follow_the_pmf(lam):
    x = kernels.stream_poisson(2024, UIDS, lam)
    assert _chisquare_pvalue(x, _Law(stats.poisson(lam))) > P_MIN


@pytest.mark.parametrize("k,q", [(1, 0.5), (30, 0.9), (1000, 0.98), (10**6, 0.98)])
def test_negative_binomial_draws_follow_the_pmf(k, q):
    """The extra cells of k surviving lineages: inversion below a mean of 10,
    a gamma mixture of PTRS Poissons above."""
    x = kernels.stream_negbin(2024, UIDS, k, q)
    assert _chisquare_pvalue(x, _Law(stats.nbinom(k, q))) > P_MIN


def test_samplers_are_keyed_by_uid():
    perm = np.random.default_rng(0).permutation(UIDS.size)
    for draw in (lambda u: kernels.stream_poisson(5, u, 40.0),
                 lambda u: kernels.stream_negbin(5, u, 500, 0.97),
                 lambda u: kernels.stream_binomial(5, u, 5000, 0.3)):
        np.testing.assert_array_equal(draw(UIDS[perm]), draw(UIDS)[perm])


def test_sampler_entry_points_refuse_bad_parameters():
    with pytest.raises(ValueError, match="lam must be >= 0"):
        kernels.stream_poisson(1, UIDS[:3], -1.0)
    with pytest.raises(ValueError, match="need k >= 1"):
        kernels.stream_negbin(1, UIDS[:3], 0, 0.5)
    with pytest.raises(ValueError, match="need k >= 1"):
        kernels.stream_negbin(1, UIDS[:3], 3, 0.0)
