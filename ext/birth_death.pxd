# The exact birth-death step of one lesion row, inline: Kendall's transition and quiet rows.
#
# Cimported by step.pyx (and _testing.pyx); the quiet-row path keeps per-rate
# caches that a step_rows call owns.
from libc.math cimport INFINITY, exp, expm1, fabs, isinf, log1p
from libc.stdint cimport uint32_t, uint64_t
from numpy.random cimport bitgen_t

from keyed_stream cimport paget_stream_next_double
from paget_kernels cimport count_t
from samplers cimport (
    AT_LEAST_ONE_BINOMIAL, AT_LEAST_ONE_PASCAL, SMALL_MEAN, at_least_one, draw_binomial,
    negbin_draw, poisson_at_least_one,
)

cdef extern from "sampler_constants.h" nogil:
    # Mean number of new cells in one step above which counts leave the exact range.
    const double MAX_MEAN_GROWTH "PAGET_MAX_MEAN_GROWTH"
    # log(1/16): rows whose probability that nothing happens, P0, is below it
    # take the general path (see "Quiet rows" below)
    const double LOG_QUIET "PAGET_LOG_QUIET"


# --------------------------------------------------------------------------
# The exact birth-death transition
# --------------------------------------------------------------------------


cdef inline void bd_probabilities(double b, double d, double h, double *alpha,
                                  double *beta, double *one_minus_beta) noexcept nogil:
    """Kendall's (1948) alpha and beta for rates b, d held over a step h.

    alpha = d (e^{rh} - 1) / (b e^{rh} - d), beta = b (e^{rh} - 1) / (b e^{rh} - d),
    r = b - d.  Written with x = (e^{rh} - 1) / r (-> h as r -> 0), so that
    alpha = d x / (b x + 1), beta = b x / (b x + 1) and 1 - beta = 1 / (b x + 1)
    are accurate for every r, including the critical case b = d and the
    pure-death and pure-birth limits.  1 - beta is computed directly, not by
    subtraction, so it keeps its relative accuracy when beta is near 1.
    """
    cdef double r = b - d
    if fabs(r * h) < 1e-12:
        bd_probabilities_x(b, d, h, alpha, beta, one_minus_beta)
    else:
        bd_probabilities_x(b, d, expm1(r * h) / r, alpha, beta, one_minus_beta)


cdef inline void bd_probabilities_x(double b, double d, double x, double *alpha,
                                    double *beta, double *one_minus_beta) noexcept nogil:
    """bd_probabilities given x = (e^{rh} - 1) / r (h when r h is ~0)."""
    if isinf(x):
        # e^{rh} beyond the double range: the limits as x -> infinity (the row
        # then grows past exact counting, and the engine refuses it)
        alpha[0] = d / b
        beta[0] = 1.0
        one_minus_beta[0] = 0.0
        return
    alpha[0] = d * x / (b * x + 1.0)
    beta[0] = b * x / (b * x + 1.0)
    one_minus_beta[0] = 1.0 / (b * x + 1.0)


cdef inline double bd_transition(bitgen_t *bg, double n, double b, double d,
                                 double x) noexcept nogil:
    """Exact state after time h of a linear birth-death process started at n.

    Each of the n cells founds a lineage that is extinct at h with probability
    alpha; a surviving lineage has a Geometric(1 - beta) size on {1, 2, ...}.
    So K ~ Binomial(n, 1 - alpha) lineages survive and the population is
    K + NegativeBinomial(K, 1 - beta) (Kendall 1948; Bailey 1964, ch. 8).
    ``x`` = (e^{(b - d) h} - 1) / (b - d), as rate_setup computes it.
    """
    cdef double alpha, beta, q
    cdef count_t ni, dead, k
    if n <= 0.0:
        return 0.0
    if b <= 0.0 and d <= 0.0:
        return n
    bd_probabilities_x(b, d, x, &alpha, &beta, &q)
    ni = <count_t>n
    dead = draw_binomial(bg, NULL, alpha, ni, SMALL_MEAN)
    k = ni - dead
    if k <= 0:
        return 0.0
    if beta <= 0.0:
        return <double>k
    if not q > 0.0 or <double>k * beta / q > MAX_MEAN_GROWTH:
        # growth beyond ~1e15-fold in one step: past exact counting; the
        # engine refuses counts above 2**53, so report infinity, not a draw
        return INFINITY
    return <double>k + <double>negbin_draw(bg, k, beta, q)


# --------------------------------------------------------------------------
# Quiet rows: one uniform, three transcendentals
# --------------------------------------------------------------------------
# Most rows of a table are small colonies in whose step nothing happens.  For a
# row of n cells the step has three independent parts: D dead lineages
# (Binomial(n, alpha)), E extra cells of the K = n - D survivors
# (NegativeBinomial(K, 1 - beta)) and S shed cells (Poisson(lam)).  They are
# drawn in that order by inversion from ONE uniform u: each part's zero has
# probability p0 (P(D=0) = (1-alpha)^n, P(E=0) = (1-beta)^K, P(S=0) = e^-lam);
# u < p0 means zero and u / p0 is again uniform for the next part; u >= p0
# means at least one event, drawn from the part's law conditioned on >= 1 by a
# fresh uniform, after which the next part takes a fresh uniform too.  Then
# "nothing happens" is exactly u < P0 = (1-alpha)^n (1-beta)^n e^-lam, and
# since 1 - alpha = e^{rh} / (1 + b x) and 1 - beta = 1 / (1 + b x), with
# x = (e^{rh} - 1) / r,
#     log P0 = n (r h - 2 log(1 + b x)) - lam,
# where x and log(1 + b x) come from a per-rate cache (rate_setup) and
# "u < P0" is decided by polynomial bounds on exp (below_exp), so the common
# case takes no transcendental at all.  Rows whose P0 is below 1/16 take the
# general path (bd_transition and draw_poisson): above it a row expects at
# most log 16 ~ 2.8 events in all, so the inversions of quiet_rest stay short,
# and they reuse the per-rate cache where the general path computes a log1p
# and an exp per part (measured on the benchmark's small colonies, 4 % of which
# have P0 between 1/16 and 1/2: 28.0 -> 25.3 ns a row when the floor went from
# 1/2 to 1/16; 1/64 gave no more).  The floor is LOG_QUIET (declared above).


# Per-rate setup shared by rows.  Rows with one (b, d) (over one step h) share x,
# log(1 + b x) and log(1 - alpha); rows of a table take few distinct rate pairs
# (a growth law's rates are a function of size, and most rows are colonies of a
# few cells), so a small direct-mapped cache keyed by the bits of (b, d) skips
# expm1 and log1p for most of them.  An entry holds exactly what the row would
# compute, so results do not depend on which rows hit the cache.
cdef struct rate_entry:
    double b
    double d
    double x          # (e^{rh} - 1) / r, r = b - d
    # The rest only for rows that may be quiet (rate_quiet_setup): a row that
    # sheds lam >= -LOG_QUIET cells on average is not (log P0 <= -lam), and
    # most such rows are lesions of 10^3 cells or more, whose rates are their
    # own, so these would be computed for nothing.
    int have_quiet    # L, log_surv, odds_dead and beta hold their values
    double L          # log(1 + b x) = -log(1 - beta)
    double log_surv   # r h - L = log(1 - alpha)
    double odds_dead  # alpha / (1 - alpha), alpha = d x / (1 + b x)
    double beta       # b x / (1 + b x)
    # Powers for the rows of fewer than POW_CACHE cells in which something
    # happens (quiet_rest): bit j of have_d (have_e) set means pd[j] holds
    # exp(j * log_surv) = (1 - alpha)^j (pe[j] holds exp(-j * L) = (1 - beta)^j),
    # the very expressions quiet_rest would evaluate, computed on first use.
    uint32_t have_d
    uint32_t have_e
    double pd[16]
    double pe[16]

cdef enum:
    RATE_CACHE_BITS = 8
    POW_CACHE = 16
    # exp(-lam) of the shedding means met, by the bits of lam
    LAM_CACHE_BITS = 8


cdef inline rate_entry *rate_setup(rate_entry *cache, double b, double d,
                                   double h) noexcept nogil:
    """The cache entry of (b, d) over h, its x filled on a miss (the rest by
    rate_quiet_setup)."""
    cdef uint64_t kb = (<uint64_t *>&b)[0]
    cdef uint64_t kd = (<uint64_t *>&d)[0]
    cdef uint64_t key = (kb * <uint64_t>0x9E3779B97F4A7C15) ^ (kd * <uint64_t>0xC2B2AE3D27D4EB4F)
    cdef rate_entry *e = &cache[key >> (64 - RATE_CACHE_BITS)]
    cdef double r
    if e.b == b and e.d == d:
        return e
    r = b - d
    if fabs(r * h) < 1e-12:
        e.x = h
    else:
        e.x = expm1(r * h) / r
    e.have_quiet = 0
    e.have_d = 0
    e.have_e = 0
    e.b = b
    e.d = d
    return e


cdef inline void rate_quiet_setup(rate_entry *e, double h) noexcept nogil:
    """Fill the quiet path's part of entry ``e`` (of rates e.b, e.d over h)."""
    cdef double b = e.b, r = e.b - e.d, alpha
    e.L = log1p(b * e.x)
    e.log_surv = r * h - e.L
    e.beta = b * e.x / (b * e.x + 1.0)
    alpha = e.d * e.x / (b * e.x + 1.0)
    e.odds_dead = alpha / (1.0 - alpha)
    e.have_quiet = 1


cdef inline double log_quiet(rate_entry *e, double n, double lam, double h) noexcept nogil:
    """log P0 of a growing row of n cells shedding lam on average, or -lam when
    lam >= -LOG_QUIET (then log P0 <= -lam <= LOG_QUIET: not quiet either way)."""
    if lam >= -LOG_QUIET:
        return -lam
    if not e.have_quiet:
        rate_quiet_setup(e, h)
    return n * (e.log_surv - e.L) - lam


cdef inline double surv_power(rate_entry *e, double n) noexcept nogil:
    """exp(n * log_surv), from the entry's cache for whole n < POW_CACHE."""
    cdef count_t j = <count_t>n
    if <double>j == n and 0 <= j < POW_CACHE:
        if not (e.have_d >> j) & 1:
            e.pd[j] = exp(n * e.log_surv)
            e.have_d |= (<uint32_t>1) << j
        return e.pd[j]
    return exp(n * e.log_surv)


cdef inline double birth_zero(rate_entry *e, count_t k) noexcept nogil:
    """exp(-k L) = (1 - beta)^k, from the entry's cache for k < POW_CACHE."""
    if 0 <= k < POW_CACHE:
        if not (e.have_e >> k) & 1:
            e.pe[k] = exp(-<double>k * e.L)
            e.have_e |= (<uint32_t>1) << k
        return e.pe[k]
    return exp(-<double>k * e.L)


cdef struct lam_entry:
    double lam
    double p0         # exp(-lam)


cdef inline double exp_neg_lam(lam_entry *cache, double lam) noexcept nogil:
    """exp(-lam), remembered by the bits of lam (rows of one size shed alike)."""
    cdef uint64_t key = (<uint64_t *>&lam)[0] * <uint64_t>0x9E3779B97F4A7C15
    cdef lam_entry *c = &cache[key >> (64 - LAM_CACHE_BITS)]
    if c.lam != lam:
        c.p0 = exp(-lam)
        c.lam = lam
    return c.p0


cdef inline count_t quiet_part(bitgen_t *bg, double *u, double p0, int law, count_t k,
                               double a) noexcept nogil:
    """One part of a quiet row's step (quiet_rest) from the row's uniform ``u[0]``:
    0 if it is below the part's P(0), ``p0``, and then ``u[0] / p0``, uniform
    again, is left for the next part; otherwise a draw of the part's law given
    >= 1 (samplers.at_least_one's ``law``, ``k`` and ``a``), and a fresh
    uniform is left."""
    cdef count_t got
    if u[0] < p0:
        u[0] = u[0] / p0
        return 0
    got = at_least_one(bg, law, k, a, p0)
    u[0] = paget_stream_next_double(bg.state)
    return got


cdef inline void quiet_rest(bitgen_t *bg, double *n_io, double b, double d,
                            rate_entry *e, lam_entry *lams, double lam, double u,
                            count_t *shed_out) noexcept nogil:
    """The rest of a quiet row's step once its uniform ``u`` (the stream's first)
    is known to be >= P0: something happens.  ``e`` holds the rates' setup
    (rate_setup).  Writes the new count to ``n_io``, the cells shed to ``shed_out``.
    """
    cdef double n = n_io[0]
    cdef count_t ni = <count_t>n
    cdef double p0
    cdef count_t dead, k, extra = 0, shed = 0
    # dead lineages
    dead = quiet_part(bg, &u, surv_power(e, n), AT_LEAST_ONE_BINOMIAL, ni, e.odds_dead)
    k = ni - dead
    # extra cells of the surviving lineages
    if k > 0 and b > 0.0:
        extra = quiet_part(bg, &u, birth_zero(e, k), AT_LEAST_ONE_PASCAL, k, e.beta)
    n = <double>(k + extra)
    # shedding
    if lam > 0.0 and n >= 1.0:
        p0 = exp_neg_lam(lams, lam)
        if u >= p0:
            shed = poisson_at_least_one(bg, lam, p0)
            if <double>shed > n:
                shed = <count_t>n
    n_io[0] = n - <double>shed
    shed_out[0] = shed



