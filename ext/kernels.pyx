# cython: freethreading_compatible = False
"""Compiled kernels of the paget engine.

Every function here works on whole arrays of the lesion table at once, in
``nogil`` loops over typed memoryviews, and draws its random variates by exact
samplers of its own (inversion; Hormann's transformed rejection) and NumPy's C
gamma, over the keyed Philox stream of ``keyed_stream.h``.  The Python
wrappers check shapes and allocate; the loops allocate nothing.

Representation of cell counts
-----------------------------
The table's ``cells`` column is ``float64`` holding whole numbers in stochastic
mode.  Every integer up to 2**53 (about 9.0e15 cells, some 9,000 times the
lethal burden of ~1e12 cells, Coumans 2013) is exact in a double, so sums and
differences of counts are exact in any order; deterministic mode stores the
fractional solution of the growth law in the same column.  The engine refuses
capacities above ``MAX_EXACT_CELLS``.  Rejected: ``int64`` counts, which would
need a second column for deterministic mode and buy no exactness that matters.
"""
cimport cython
from libc.math cimport (
    INFINITY, exp, expm1, fabs, floor, fma, isinf, ldexp, lgamma, log, log1p, rint, sqrt,
)
from libc.stdint cimport int16_t, int64_t, uint8_t, uint64_t
from libc.stdint cimport uint32_t
from libc.stdlib cimport free, malloc
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport (
    random_standard_gamma,
)

from paget_kernels cimport (
    PGT_FLAG_DORMANT, PGT_FLAG_PRIMARY, PGT_PURPOSE_DISSEMINATE, PGT_PURPOSE_STEP,
    PGT_PURPOSE_TEST, paget_mix64, paget_philox4x64_10,
    paget_stream_init, paget_stream_next_double, paget_stream_set_block, paget_stream_t,
    paget_word_double,
)

import numpy as np

cimport numpy as cnp
cnp.import_array()

#: Row flags of the lesion table (bits of ``flags``).
FLAG_DORMANT = PGT_FLAG_DORMANT
FLAG_PRIMARY = PGT_FLAG_PRIMARY
#: Purposes: the third word of a stream's counter.
PURPOSE_STEP = PGT_PURPOSE_STEP
PURPOSE_DISSEMINATE = PGT_PURPOSE_DISSEMINATE
PURPOSE_TEST = PGT_PURPOSE_TEST
PURPOSE_MUTATION = 3

#: Largest cell count the float64 column holds exactly (2**53).
MAX_EXACT_CELLS = 9007199254740992.0

# Identity kinds for derive_uids (top byte of the tag word).
UID_PRIMARY = 0
UID_FOUNDER = 1
UID_POOL = 2
UID_REACTIVATED = 3
UID_MUTANT = 4


# --------------------------------------------------------------------------
# The keyed stream, exposed for tests and benchmarks
# --------------------------------------------------------------------------

def philox_block(ctr, key):
    """Philox4x64-10 of one 4-word counter under a 2-word key (for tests)."""
    cdef uint64_t c[4]
    cdef uint64_t k[2]
    cdef uint64_t out[4]
    cdef int i
    for i in range(4):
        c[i] = ctr[i]
    for i in range(2):
        k[i] = key[i]
    paget_philox4x64_10(c, k, out)
    return [out[0], out[1], out[2], out[3]]


def stream_raw(uint64_t seed, uint64_t uid, uint64_t step, uint64_t purpose,
               uint64_t patient, Py_ssize_t n):
    """The first ``n`` raw 64-bit words of one keyed stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef uint64_t[::1] out = np.empty(n, dtype=np.uint64)
    cdef Py_ssize_t i
    paget_stream_init(&s, &bg, seed, uid, step, purpose, patient)
    with nogil:
        for i in range(n):
            out[i] = bg.next_uint64(bg.state)
    return np.asarray(out)


def stream_binomial(uint64_t seed, const uint64_t[::1] uid, int64_t n, double p):
    """One ``Binomial(n, p)`` draw per uid, each from its own keyed stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i, m = uid.shape[0]
    cdef int64_t[::1] out = np.empty(m, dtype=np.int64)
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
            out[i] = draw_binomial(&bg, NULL, p, n, SMALL_MEAN)
    return np.asarray(out)


def stream_poisson(uint64_t seed, const uint64_t[::1] uid, double lam):
    """One ``Poisson(lam)`` draw per uid (the shedding sampler of step_rows), each
    from its own keyed stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i, m = uid.shape[0]
    cdef int64_t[::1] out = np.empty(m, dtype=np.int64)
    if not lam >= 0.0:
        raise ValueError(f"stream_poisson: lam must be >= 0, got {lam}")
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
            out[i] = draw_poisson(&bg, lam) if lam > 0.0 else 0
    return np.asarray(out)


def stream_negbin(uint64_t seed, const uint64_t[::1] uid, int64_t k, double q):
    """One ``NegativeBinomial(k, q)`` draw per uid (failures before the k-th success
    of probability q; the growth sampler of step_rows), each from its own keyed
    stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i, m = uid.shape[0]
    cdef int64_t[::1] out = np.empty(m, dtype=np.int64)
    if k < 1 or not 0.0 < q <= 1.0:
        raise ValueError(f"stream_negbin: need k >= 1 and 0 < q <= 1, got k={k}, q={q}")
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
            out[i] = negbin_draw(&bg, k, 1.0 - q, q)
    return np.asarray(out)


def derive_uids(const uint64_t[::1] parent, uint64_t kind, const int64_t[::1] step,
                const int16_t[::1] organ, const int64_t[::1] k):
    """Identities of new lesions, derived from what founded them.

    ``uid = mix(mix(mix(parent) ^ tag) ^ k)`` with ``tag = kind << 56 | organ << 40 |
    step``.  A lesion's identity therefore depends on its parent, the step and
    organ of its founding and its rank among that event's founders, never on the
    MPI rank that created it.  Two lesions of one patient share an identity with
    probability ~ L**2 / 2**65 for L lesions (3e-8 at L = 1e6).
    """
    cdef Py_ssize_t i, m = parent.shape[0]
    if step.shape[0] != m or organ.shape[0] != m or k.shape[0] != m:
        raise ValueError("derive_uids: parent, step, organ and k must have one length")
    cdef uint64_t[::1] out = np.empty(m, dtype=np.uint64)
    cdef uint64_t tag
    cdef uint64_t mask40 = (<uint64_t>1 << 40) - 1
    with nogil:
        for i in range(m):
            tag = (kind << 56) | ((<uint64_t>(<unsigned short>organ[i])) << 40) | (<uint64_t>step[i] & mask40)
            out[i] = paget_mix64(paget_mix64(paget_mix64(parent[i]) ^ tag) ^ <uint64_t>k[i])
    return np.asarray(out)



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


# Every bitgen_t of this module draws from a paget stream (paget_stream_init), so
# the samplers below call paget_stream_next_double directly, inlined, rather
# than through bg.next_double; NumPy's gamma sampler uses the pointer.

# Rows whose expected number of events is below SMALL_MEAN draw by inversion of
# the exact CDF: one uniform and a short walk along the pmf, the method NumPy's
# own binomial uses when n p <= 30.  Most rows of a table are colonies of a few
# cells whose step holds no event at all; for them the walk stops at its first
# comparison, with no setup beyond one exp().  Rows expecting more draw by
# transformed rejection (binomial_btrs, poisson_ptrs below; the negative binomial
# as a gamma mixture of Poissons).  SMALL_MEAN is the smallest mean for which
# Hormann (1993) gives the transformed-rejection constants.
cdef double SMALL_MEAN = 10.0
# Binomials of the dissemination split use inversion up to a mean of 30 (NumPy's
# own threshold for it): the walk costs ~1 ns a step and its setup is cached by p
# (binomial_small_cached), while BTRS takes ~40-60 ns at these means.
cdef double SPLIT_INVERSION_MEAN = 30.0
# Mean number of new cells in one step above which counts leave the exact range.
cdef double MAX_MEAN_GROWTH = 1e15


cdef inline int64_t binomial_small(bitgen_t *bg, int64_t n, double p) noexcept nogil:
    """Binomial(n, p) by inversion, for n p small and p <= 1/2."""
    cdef double logq = log1p(-p)
    cdef double ratio = p / (1.0 - p)
    cdef double pmf0 = exp(<double>n * logq)
    return binomial_walk(bg, n, ratio, pmf0, paget_stream_next_double(bg.state))


# 1/k for the inversion walks, so that a step of the walk multiplies instead of
# dividing (the division's throughput, not the walk's dependency chain, bounded it)
cdef enum:
    RECIPROCALS = 256
cdef double RECIP[RECIPROCALS]


def _fill_reciprocals():
    cdef int j
    RECIP[0] = 0.0
    for j in range(1, RECIPROCALS):
        RECIP[j] = 1.0 / j

_fill_reciprocals()


cdef inline double reciprocal(int64_t k) noexcept nogil:
    """1 / k for whole k >= 1."""
    if k < RECIPROCALS:
        return RECIP[k]
    return 1.0 / <double>k


cdef inline int64_t binomial_walk(bitgen_t *bg, int64_t n, double ratio, double pmf0,
                                  double u) noexcept nogil:
    """The inversion walk of binomial_small from its first uniform ``u``, with
    ratio = p / (1 - p) and pmf0 = (1 - p)^n."""
    cdef double pmf
    cdef int64_t k
    while True:
        pmf = pmf0
        k = 0
        while u > pmf:
            u -= pmf
            k += 1
            if k > n or pmf == 0.0:
                break
            pmf *= ratio * <double>(n - k + 1) * reciprocal(k)
        if k <= n and u <= pmf:
            return k
        # rounding left u beyond the summed pmf: draw again (as NumPy does)
        u = paget_stream_next_double(bg.state)


cdef inline int64_t negbin_small(bitgen_t *bg, int64_t k, double beta,
                                 double q) noexcept nogil:
    """Extra cells of k surviving lineages: sum of k Geometric(1 - beta) - k.

    NegativeBinomial(k, 1 - beta) by inversion: P(0) = (1 - beta)^k,
    P(j + 1) = P(j) beta (k + j) / (j + 1).  For k beta / (1 - beta) small.
    """
    cdef double pmf0 = exp(<double>k * log(q))
    cdef double u, pmf
    cdef int64_t j
    cdef int64_t bound = <int64_t>(64.0 + 64.0 * <double>k * beta / q)
    while True:
        u = paget_stream_next_double(bg.state)
        pmf = pmf0
        j = 0
        while u > pmf and j < bound:
            u -= pmf
            pmf *= beta * <double>(k + j) * reciprocal(j + 1)
            j += 1
        if u <= pmf:
            return j


cdef inline int64_t poisson_invert(bitgen_t *bg, double lam, double pmf0,
                                   double u) noexcept nogil:
    """Poisson(lam) by inversion starting from the uniform ``u`` (pmf0 = e^-lam);
    on the (vanishingly rare) overrun of the bound it starts again from a new uniform."""
    cdef double pmf
    cdef int64_t j
    cdef int64_t bound = <int64_t>(64.0 + 16.0 * lam)
    while True:
        pmf = pmf0
        j = 0
        while u > pmf and j < bound:
            u -= pmf
            j += 1
            pmf *= lam * reciprocal(j)
        if u <= pmf:
            return j
        u = paget_stream_next_double(bg.state)


cdef inline int64_t poisson_small(bitgen_t *bg, double lam) noexcept nogil:
    """Poisson(lam) by inversion, for small lam."""
    cdef double pmf0 = exp(-lam)
    return poisson_invert(bg, lam, pmf0, paget_stream_next_double(bg.state))


cdef inline int64_t draw_poisson(bitgen_t *bg, double lam) noexcept nogil:
    if lam < SMALL_MEAN:
        return poisson_small(bg, lam)
    return poisson_ptrs(bg, lam)


# --------------------------------------------------------------------------
# Many events: transformed rejection (Hormann 1993)
# --------------------------------------------------------------------------
# Binomial and Poisson draws whose mean is at least SMALL_MEAN use Hormann's
# transformed rejection with squeeze: BTRS for the binomial (Hormann 1993,
# J. Stat. Comput. Simul. 46:101-110) and PTRS for the Poisson (Hormann 1993,
# Insurance Math. Econom. 12:39-45).  Both are exact.  A candidate k comes from
# two uniforms through a transformed Cauchy-like hat; about 86 % of candidates
# are accepted by a square squeeze that needs no transcendental, and only the
# others compare log V with the log of the pmf.  The setup of that comparison
# (logarithms, log-factorials of the mode) is therefore done on first need,
# which is what makes these cheaper than NumPy's BTPE (whose setup runs on every
# call whose (n, p) differs from the last, as a row's always does) and PTRS
# (which takes log(lam) up front).
#
# The log pmf is evaluated in a form without cancellation (log1p of ratios and
# Stirling's series; see binomial_log_ratio and poisson_log_pmf), so that it is
# accurate to ~1e-15 for counts up to 2**53, where log k! itself is ~3e17 and
# the direct differences of log-factorials would lose every digit.

cdef enum:
    # fc(k) below is tabulated for k < FC_TABLE; beyond, Stirling's series to
    # x**-7 is within 1e-17 of it (the next term is 1/(1188 x**9), x = k + 1).
    FC_TABLE = 32

cdef double HALF_LOG_2PI = 0.91893853320467274178
cdef double FC[FC_TABLE]


cdef double stirling_correction_series(double x) noexcept nogil:
    """Stirling's series for log Gamma(x) - ((x - 1/2) log x - x + log(2 pi)/2)."""
    cdef double r = 1.0 / x
    cdef double r2 = r * r
    return r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)))


cdef inline double stirling_correction(double k) noexcept nogil:
    """fc(k) = log k! - ((k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2), k >= 0 whole."""
    if k < FC_TABLE:
        return FC[<int>k]
    return stirling_correction_series(k + 1.0)


def _fill_fc():
    cdef int j
    for j in range(FC_TABLE):
        # lgamma is exact to a few ulp of log k!, so fc(k) is too
        FC[j] = lgamma(j + 1.0) - ((j + 0.5) * log(j + 1.0) - (j + 1.0) + HALF_LOG_2PI)

_fill_fc()


cdef double SERIES_BELOW = 0.02


cdef inline double log1p_gap(double x, double log1p_x) noexcept nogil:
    """x - log1p(x) >= 0, given log1p_x = log1p(x), to a few ulp also where the
    difference cancels: for |x| < SERIES_BELOW the series
    sum_{j>=2} (-1)^j x^j / j (to x**13, whose remainder is below 1e-20 of the
    sum); elsewhere the difference, whose cancellation loses at most
    ~2 / |x| < 100 ulp.  (The callers need log1p(x) too: taking it as an
    argument computes it once.)"""
    cdef double acc
    cdef int i
    if not fabs(x) < SERIES_BELOW:
        return x - log1p_x
    acc = 0.0
    for i in range(11, -1, -1):
        acc = acc * x + (1.0 if i % 2 == 0 else -1.0) / (i + 2.0)
    return x * x * acc


cdef inline double log1p_excess(double t, double log1p_t) noexcept nogil:
    """(1 + t) log1p(t) - t >= 0, given log1p_t = log1p(t), likewise: the series
    sum_{j>=2} (-1)^j t^j / (j (j - 1)) below SERIES_BELOW, the difference above."""
    cdef double acc
    cdef int i
    if not fabs(t) < SERIES_BELOW:
        return (1.0 + t) * log1p_t - t
    acc = 0.0
    for i in range(11, -1, -1):
        acc = acc * t + (1.0 if i % 2 == 0 else -1.0) / ((i + 2.0) * (i + 1.0))
    return t * t * acc


cdef inline double binomial_log_ratio(double n, double p, double m, double lam0,
                                      double fc_m, double k) noexcept nogil:
    """log(f(k) / f(m)) for f the Binomial(n, p) pmf, 0 <= k, m <= n whole, given
    lam0 = log(p (n - m + 1) / ((1 - p) (m + 1))) and fc_m = fc(m) + fc(n - m)
    (binomial_mode_setup).

    With log j! = (j + 1/2) log(j + 1) - (j + 1) + log(2 pi)/2 + fc(j), d = k - m,
    x = -d / (k + 1) and y = d / (n - k + 1), the log-factorials and
    d log(p / q) combine into
        -(k + 1) G(x) - (n - k + 1) G(y) - (log1p(x) + log1p(y)) / 2 + d lam0
        + fc(m) + fc(n - m) - fc(k) - fc(n - k),
    G(x) = x - log1p(x): the terms linear in d cancel exactly, and each term
    left is of the size of the result (G by log1p_gap), never a difference of
    numbers of the size of log n!.
    """
    cdef double d = k - m
    cdef double x = -d / (k + 1.0)
    cdef double y = d / (n - k + 1.0)
    cdef double lx = log1p(x)
    cdef double ly = log1p(y)
    return (-(k + 1.0) * log1p_gap(x, lx) - (n - k + 1.0) * log1p_gap(y, ly)
            - 0.5 * (lx + ly) + d * lam0
            + fc_m - stirling_correction(k) - stirling_correction(n - k))


cdef inline void binomial_mode_setup(double n, double p, double *m, double *lam0,
                                     double *fc_m) noexcept nogil:
    """The mode m = floor((n + 1) p) and the constants of binomial_log_ratio.
    p (n - m + 1) / ((1 - p) (m + 1)) - 1 = (p (n + 2) - (m + 1)) / ((1 - p) (m + 1)),
    whose numerator, a difference of nearly equal numbers, is rounded once (fma)."""
    m[0] = floor((n + 1.0) * p)
    lam0[0] = log1p(fma(p, n + 2.0, -(m[0] + 1.0)) / ((1.0 - p) * (m[0] + 1.0)))
    fc_m[0] = stirling_correction(m[0]) + stirling_correction(n - m[0])


cdef inline double poisson_log_pmf(double lam, double log_lam, double k) noexcept nogil:
    """log of the Poisson(lam) pmf at whole k >= 0, lam > 0, given log_lam = log(lam).

    With t = (k + 1 - lam) / lam (k + 1 - lam is exact near the mode, Sterbenz),
    log1p(t) = log(k + 1) - log(lam) and Stirling's form of log k!,
        k log lam - lam - log k! = -lam E(t) + (log1p(t) - log(lam)) / 2
                                   - log(2 pi) / 2 - fc(k),
    E(t) = (1 + t) log1p(t) - t (log1p_excess), whose terms are of the size of
    the result, not of k log lam.
    """
    cdef double t = (k + 1.0 - lam) / lam
    cdef double lt = log1p(t)
    return (-lam * log1p_excess(t, lt) + 0.5 * (lt - log_lam) - HALF_LOG_2PI
            - stirling_correction(k))


def log_pmf_check(str law, double a, double b, double k):
    """binomial_log_ratio(n=a, p=b, m=floor((n + 1) p), k) or poisson_log_pmf(lam=a, k),
    for tests."""
    cdef double m, lam0, fc_m
    if law == "binomial":
        binomial_mode_setup(a, b, &m, &lam0, &fc_m)
        return binomial_log_ratio(a, b, m, lam0, fc_m, k)
    if law == "poisson":
        return poisson_log_pmf(a, log(a), k)
    raise ValueError(f"log_pmf_check: law must be 'binomial' or 'poisson', got {law!r}")


cdef int64_t binomial_btrs(bitgen_t *bg, int64_t n, double p) noexcept nogil:
    """Binomial(n, p) by BTRS (Hormann 1993), for p <= 1/2 and n p >= SMALL_MEAN."""
    cdef double nd = <double>n
    cdef double q = 1.0 - p
    cdef double spq = sqrt(nd * p * q)
    cdef double b = 1.15 + 2.53 * spq
    cdef double a = -0.0873 + 0.0248 * b + 0.01 * p
    cdef double c = nd * p + 0.5
    cdef double vr = 0.92 - 4.2 / b
    cdef double alpha = 0.0, m = -1.0, lam0 = 0.0, fc_m = 0.0
    cdef double u, v, us, k
    while True:
        u = paget_stream_next_double(bg.state) - 0.5
        v = paget_stream_next_double(bg.state)
        us = 0.5 - fabs(u)
        k = floor((2.0 * a / us + b) * u + c)
        if k < 0.0 or k > nd:
            continue
        if us >= 0.07 and v <= vr:
            return <int64_t>k
        if m < 0.0:               # the setup of the slower test, on first need
            alpha = (2.83 + 5.1 / b) * spq
            binomial_mode_setup(nd, p, &m, &lam0, &fc_m)
        if log(v * alpha / (a / (us * us) + b)) <= binomial_log_ratio(nd, p, m, lam0, fc_m, k):
            return <int64_t>k


cdef int64_t poisson_ptrs(bitgen_t *bg, double lam) noexcept nogil:
    """Poisson(lam) by PTRS (Hormann 1993), for lam >= SMALL_MEAN."""
    cdef double slam = sqrt(lam)
    cdef double b = 0.931 + 2.53 * slam
    cdef double a = -0.059 + 0.02483 * b
    cdef double vr = 0.9277 - 3.6224 / (b - 2.0)
    cdef double inv_alpha = 0.0, log_lam = 0.0
    cdef double u, v, us, k
    while True:
        u = paget_stream_next_double(bg.state) - 0.5
        v = paget_stream_next_double(bg.state)
        us = 0.5 - fabs(u)
        k = floor((2.0 * a / us + b) * u + lam + 0.43)
        if k < 0.0:
            continue
        if us >= 0.07 and v <= vr:
            return <int64_t>k
        if us < 0.013 and v > us:
            continue
        if inv_alpha == 0.0:      # the setup of the slower test, on first need
            inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
            log_lam = log(lam)
        if log(v * inv_alpha / (a / (us * us) + b)) <= poisson_log_pmf(lam, log_lam, k):
            return <int64_t>k


cdef inline int64_t negbin_many(bitgen_t *bg, double k, double q) noexcept nogil:
    """NegativeBinomial(k, q) (failures before the k-th success of probability q) as
    the Poisson mixture Poisson(Gamma(k) (1 - q) / q) (Greenwood & Yule 1920,
    J. R. Stat. Soc. 83:255-279), as NumPy's random_negative_binomial draws it."""
    return draw_poisson(bg, random_standard_gamma(bg, k) * ((1.0 - q) / q))


cdef inline int64_t negbin_draw(bitgen_t *bg, int64_t k, double beta,
                               double q) noexcept nogil:
    """NegativeBinomial(k, q), q = 1 - beta: inversion for a mean below SMALL_MEAN,
    the gamma mixture of Poissons above."""
    if <double>k * beta < SMALL_MEAN * q:
        return negbin_small(bg, k, beta, q)
    return negbin_many(bg, <double>k, q)


cdef double bd_transition(bitgen_t *bg, double n, double b, double d,
                          double x) noexcept nogil:
    """Exact state after time h of a linear birth-death process started at n.

    Each of the n cells founds a lineage that is extinct at h with probability
    alpha; a surviving lineage has a Geometric(1 - beta) size on {1, 2, ...}.
    So K ~ Binomial(n, 1 - alpha) lineages survive and the population is
    K + NegativeBinomial(K, 1 - beta) (Kendall 1948; Bailey 1964, ch. 8).
    ``x`` = (e^{(b - d) h} - 1) / (b - d), as rate_setup computes it.
    """
    cdef double alpha, beta, q
    cdef int64_t ni, dead, k
    if n <= 0.0:
        return 0.0
    if b <= 0.0 and d <= 0.0:
        return n
    bd_probabilities_x(b, d, x, &alpha, &beta, &q)
    ni = <int64_t>n
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
# 1/2 to 1/16; 1/64 gave no more).
cdef double LOG_QUIET = -2.772588722239781   # log(1/16)
# Rows per chunk of step_rows: its first pass computes their first Philox
# blocks (8 KiB, in L1) and settles the quiet ones, its second steps the rest.
cdef enum:
    STEP_CHUNK = 256


cdef inline int64_t binomial_at_least_one(bitgen_t *bg, int64_t n, double p,
                                          double p0) noexcept nogil:
    """Binomial(n, p) given >= 1, by inversion; p0 = P(0) = (1 - p)^n."""
    return binomial_at_least_one_r(bg, n, p / (1.0 - p), p0)


cdef inline int64_t binomial_at_least_one_r(bitgen_t *bg, int64_t n, double ratio,
                                            double p0) noexcept nogil:
    """binomial_at_least_one with the odds ratio = p / (1 - p) given."""
    cdef double u, pmf
    cdef int64_t k
    while True:
        u = paget_stream_next_double(bg.state) * (1.0 - p0)
        pmf = p0 * ratio * <double>n
        k = 1
        while u > pmf and k < n:
            u -= pmf
            k += 1
            pmf *= ratio * <double>(n - k + 1) * reciprocal(k)
        if u <= pmf:
            return k


cdef inline int64_t negbin_at_least_one(bitgen_t *bg, int64_t k, double beta,
                                        double p0) noexcept nogil:
    """NegativeBinomial(k, 1 - beta) given >= 1, by inversion; p0 = (1 - beta)^k."""
    cdef double u, pmf
    cdef int64_t j
    while True:
        u = paget_stream_next_double(bg.state) * (1.0 - p0)
        pmf = p0 * beta * <double>k
        j = 1
        while u > pmf and j < 4096:
            u -= pmf
            pmf *= beta * <double>(k + j) * reciprocal(j + 1)
            j += 1
        if u <= pmf:
            return j


cdef inline int64_t poisson_at_least_one(bitgen_t *bg, double lam, double p0) noexcept nogil:
    """Poisson(lam) given >= 1, by inversion; p0 = e^-lam."""
    cdef double u, pmf
    cdef int64_t j
    while True:
        u = paget_stream_next_double(bg.state) * (1.0 - p0)
        pmf = p0 * lam
        j = 1
        while u > pmf and j < 4096:
            u -= pmf
            j += 1
            pmf *= lam * reciprocal(j)
        if u <= pmf:
            return j


# Deciding "u < e^y" without e^y.  For every y, e^y >= T3(y) = 1 + y + y^2/2 +
# y^3/6 (the Taylor remainder e^c y^4/24 is >= 0), and for y <= 0, e^y <= T4(y) =
# T3(y) + y^4/24 (the remainder e^c y^5/120 is <= 0).  With |y| <= 1 the two
# polynomials are evaluated to within ~1e-15 and libm's exp is within one ulp
# (2.2e-16 below 2), so a uniform below T3 - EXP_MARGIN is certainly below the
# computed exp(y) and one at or above T4 + EXP_MARGIN certainly is not: exp()
# runs only for the ~y^4/24 + 2e-14 of uniforms between the bounds.  The outcome
# is the one of ``u < exp(y)``, bit for bit, at the cost of a few multiply-adds.
cdef double EXP_MARGIN = 1e-14


cdef inline double exp_lower(double y) noexcept nogil:
    """T3(y) - EXP_MARGIN: ``u`` below it is surely below exp(y), for |y| <= 1."""
    return 1.0 + y + y * y * (0.5 + y * (1.0 / 6.0)) - EXP_MARGIN


cdef inline bint surely_below_exp(double u, double y) noexcept nogil:
    """``u < exp(y)`` by the lower bound alone (False: cannot tell), written
    without branches (step_rows' first pass)."""
    return (fabs(y) <= 1.0) & (u < exp_lower(y))


cdef inline int exp_bound_side(double u, double y) noexcept nogil:
    """+1 if ``u < exp(y)`` surely, -1 if ``u > exp(y)`` surely, by the
    polynomial bounds above; 0 if they cannot tell."""
    cdef double lower
    if fabs(y) <= 1.0:
        lower = exp_lower(y)
        if u < lower:
            return 1
        if y <= 0.0 and u >= lower + 2.0 * EXP_MARGIN + y * y * y * y * (1.0 / 24.0):
            return -1
    return 0


cdef inline bint below_exp(double u, double y) noexcept nogil:
    """``u < exp(y)``, deciding most cases by polynomial bounds on exp."""
    cdef int side = exp_bound_side(u, y)
    if side != 0:
        return side > 0
    return u < exp(y)


cdef inline bint below_exp_or_p0(double u, double y, double *p0) noexcept nogil:
    """``u < exp(y)`` as below_exp decides it; when that is False, ``p0`` is set
    to exp(y), for an inversion walk that starts from u (which also returns 0
    when u equals it): one exp() where a test and a walk took two."""
    cdef int side = exp_bound_side(u, y)
    if side > 0:
        return True
    p0[0] = exp(y)
    return side == 0 and u < p0[0]


# Per-probability setup of the inversion binomial.  The binomials of the
# dissemination split take few distinct p (a fate vector per organ of origin,
# one fate split, and extravasation probabilities per target organ, though
# patient-level factors make those differ per row), so a direct-mapped cache
# keyed by the bits of p skips log1p and a division for most of them, and the zero draw (u <= (1 - p)^n, most draws of the rare fates) is
# decided by the bounds on exp without calling it.  An entry holds exactly what
# binomial_small computes, so the draws are the same, bit for bit.
cdef struct binom_entry:
    double p
    double logq       # log1p(-p) = log(1 - p)
    double ratio      # p / (1 - p)

cdef enum:
    # 512 entries (12 KiB): the extravasation probabilities differ per row when
    # patient-level factors scale them (17 new values a shedding row in the
    # default scenario), and with 64 entries they evicted the fixed ones (3 %
    # of the dissemination kernel)
    BINOM_CACHE_BITS = 9


cdef inline void binom_cache_clear(binom_entry *cache) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(1 << BINOM_CACHE_BITS):
        cache[j].p = -1.0             # matches no probability


cdef inline int64_t binomial_small_cached(bitgen_t *bg, binom_entry *cache, int64_t n,
                                          double p) noexcept nogil:
    """binomial_small(bg, n, p), with the setup of p from ``cache``."""
    cdef uint64_t key = (<uint64_t *>&p)[0] * <uint64_t>0x9E3779B97F4A7C15
    cdef binom_entry *e = &cache[key >> (64 - BINOM_CACHE_BITS)]
    cdef double y, u, p0
    if e.p != p:
        e.logq = log1p(-p)
        e.ratio = p / (1.0 - p)
        e.p = p
    y = <double>n * e.logq
    u = paget_stream_next_double(bg.state)
    # the zero draw, u <= (1 - p)^n: u < it here, u equal to it in the walk
    if below_exp_or_p0(u, y, &p0):
        return 0
    return binomial_walk(bg, n, e.ratio, p0, u)


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
    cdef int64_t j = <int64_t>n
    if <double>j == n and 0 <= j < POW_CACHE:
        if not (e.have_d >> j) & 1:
            e.pd[j] = exp(n * e.log_surv)
            e.have_d |= (<uint32_t>1) << j
        return e.pd[j]
    return exp(n * e.log_surv)


cdef inline double birth_zero(rate_entry *e, int64_t k) noexcept nogil:
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


cdef inline void quiet_rest(bitgen_t *bg, double *n_io, double b, double d,
                            rate_entry *e, lam_entry *lams, double lam, double u,
                            int64_t *shed_out) noexcept nogil:
    """The rest of a quiet row's step once its uniform ``u`` (the stream's first)
    is known to be >= P0: something happens.  ``e`` holds the rates' setup
    (rate_setup).  Writes the new count to ``n_io``, the cells shed to ``shed_out``.
    """
    cdef double n = n_io[0]
    cdef int64_t ni = <int64_t>n
    cdef double p0
    cdef int64_t dead = 0, k, extra = 0, shed = 0
    # dead lineages
    p0 = surv_power(e, n)
    if u < p0:
        u = u / p0
    else:
        dead = binomial_at_least_one_r(bg, ni, e.odds_dead, p0)
        u = paget_stream_next_double(bg.state)
    k = ni - dead
    # extra cells of the surviving lineages
    if k > 0 and b > 0.0:
        p0 = birth_zero(e, k)
        if u < p0:
            u = u / p0
        else:
            extra = negbin_at_least_one(bg, k, e.beta, p0)
            u = paget_stream_next_double(bg.state)
    n = <double>(k + extra)
    # shedding
    if lam > 0.0 and n >= 1.0:
        p0 = exp_neg_lam(lams, lam)
        if u >= p0:
            shed = poisson_at_least_one(bg, lam, p0)
            if <double>shed > n:
                shed = <int64_t>n
    n_io[0] = n - <double>shed
    shed_out[0] = shed


cdef inline int64_t draw_poisson_keyed(bitgen_t *bg, double lam) noexcept nogil:
    """draw_poisson, with the common zero of a small mean decided without exp().

    Takes the uniform poisson_small would take first and returns 0 when it is
    below e^-lam; otherwise continues exactly as poisson_small with that uniform.
    """
    cdef double u, p0
    if lam >= SMALL_MEAN:
        return poisson_ptrs(bg, lam)
    u = paget_stream_next_double(bg.state)
    if below_exp_or_p0(u, -lam, &p0):
        return 0
    return poisson_invert(bg, lam, p0, u)


def bd_alpha_beta(double b, double d, double h):
    """(alpha, beta) of the exact step, for tests."""
    cdef double a, be, q
    bd_probabilities(b, d, h, &a, &be, &q)
    return a, be


cdef inline int64_t draw_binomial(bitgen_t *bg, binom_entry *cache, double p, int64_t n,
                                  double inversion_below) noexcept nogil:
    """Binomial(n, p) for any p in [0, 1]: inversion when fewer than
    ``inversion_below`` (>= SMALL_MEAN, BTRS's range) successes or failures are
    expected, with the setup of p from ``cache`` (binomial_small_cached) unless
    it is NULL; BTRS otherwise.  Both inversions give the same draw."""
    cdef bint flip = p > 0.5
    cdef int64_t k
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if flip:
        p = 1.0 - p                   # exact for p > 1/2 (Sterbenz)
    if <double>n * p < inversion_below:
        if cache != NULL:
            k = binomial_small_cached(bg, cache, n, p)
        else:
            k = binomial_small(bg, n, p)
    else:
        k = binomial_btrs(bg, n, p)
    return n - k if flip else k


def step_rows(double[::1] cells, const uint8_t[::1] flags,
              const uint64_t[::1] uid, const int64_t[::1] patient,
              const double[::1] birth, const double[::1] death,
              const double[::1] shed_rate, const uint8_t[::1] deterministic,
              double h, uint64_t seed, int64_t step,
              int64_t[::1] shed_out, int64_t[::1] react_out,
              const double[::1] mutation=None, int64_t[::1] mut_out=None):
    """Advance every row of the lesion table by one step of length ``h`` days.

    Growing rows (flag DORMANT clear) take the exact birth-death transition with
    per-cell rates ``birth`` and ``death`` (1/day) held over the step, or, where
    ``deterministic`` is set, the mean ``n exp((b - d) h)``.  They then shed
    ``Poisson(shed_rate h)`` circulating cells (``shed_rate`` in cells/day),
    never more than they hold; shed cells leave the row.

    Dormant rows are pools of solitary cells, each independently reactivating
    at rate ``birth`` and dying at rate ``death`` (1/day), competing risks:
    a cell leaves the pool within h with probability 1 - exp(-(b + d) h) and,
    having left, was reactivated with probability b / (b + d).

    With ``mutation`` (probability per division that a daughter carries a new
    alteration) a growing row then loses ``M ~ Poisson(mutation b n x)`` cells
    to new clones (``mut_out``), x = (e^{(b-d)h} - 1)/(b - d): ``b n x`` is the
    exact expected number of divisions in the step with rates held constant.
    ASSUMPTION: M is drawn as Poisson given that mean, independently of the
    row's own birth-death draw (mutation is rare, so the correlation between
    the number of divisions and the row's new size is neglected).

    Writes ``cells`` in place, and per row the CTCs shed (``shed_out``) and the
    cells reactivated (``react_out``).  Rows whose ``cells`` is 0 are skipped.
    Each row draws from its own stream keyed by (seed, uid, step, STEP, patient).
    """
    cdef Py_ssize_t i, m = cells.shape[0]
    if any(k != m for k in (flags.shape[0], uid.shape[0], patient.shape[0],
                            birth.shape[0], death.shape[0], shed_rate.shape[0],
                            deterministic.shape[0], shed_out.shape[0],
                            react_out.shape[0])):
        raise ValueError("step_rows: every row array must have the length of cells")
    cdef bint mutates = mutation is not None
    if mutates and (mut_out is None or mutation.shape[0] != m or mut_out.shape[0] != m):
        raise ValueError("step_rows: mutation and mut_out come together, with the length of cells")
    if not h > 0.0:
        raise ValueError(f"step_rows: step length h must be > 0 days, got {h}")
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef double n, n0, b, d, lam, total, p_leave, p0, mu, u, y
    cdef int64_t shed, left, react
    cdef Py_ssize_t c0, c1, j, jw, n_work
    cdef bint ready, done
    cdef int settled
    # rows of a chunk left for the second pass (see below)
    cdef Py_ssize_t work[STEP_CHUNK]
    # the first Philox block of each row of a chunk (counter and key of a row's
    # stream, paget_stream_key: block 0, step, purpose, patient; seed, uid)
    cdef uint64_t blocks[4 * STEP_CHUNK]
    cdef uint64_t ctr4[4]
    cdef uint64_t key2[2]
    ctr4[0] = 0
    ctr4[1] = <uint64_t>step
    ctr4[2] = PGT_PURPOSE_STEP
    key2[0] = seed
    cdef uint64_t *blk
    cdef rate_entry *cache = <rate_entry *>malloc(sizeof(rate_entry) << RATE_CACHE_BITS)
    cdef lam_entry lams[1 << LAM_CACHE_BITS]
    cdef rate_entry *e
    cdef double nan = float("nan")
    if cache == NULL:
        raise MemoryError()
    cdef binom_entry bcache[1 << BINOM_CACHE_BITS]
    binom_cache_clear(bcache)
    for j in range(1 << RATE_CACHE_BITS):
        cache[j].b = nan              # matches no rate
        cache[j].d = nan
    for j in range(1 << LAM_CACHE_BITS):
        lams[j].lam = nan
    # bg draws from s; s is keyed per row (paget_stream_set_block) only when the
    # row needs more than the words of its first block read directly below
    paget_stream_init(&s, &bg, seed, 0, <uint64_t>step, PGT_PURPOSE_STEP, 0)
    with nogil:
        c0 = 0
        while c0 < m:
            c1 = min(c0 + STEP_CHUNK, m)
            # First pass: compute each row's first Philox block and settle the
            # rows in which surely nothing happens, as the second pass would
            # decide it (the quiet test's sure bound, exp_bound_side, and the
            # mutation draw's), without a branch that depends on the draws: a
            # fifth of small colonies have an event, so a branch on it would be
            # mispredicted at that rate.  With no such branch the CPU overlaps
            # the independent multiply chains of consecutive rows' blocks (a
            # block is ~40 dependent operations) with the rest of the pass.
            # The other rows go to the second pass, which steps them all as
            # before, so the draws are the same row for row.
            n_work = 0
            for i in range(c0, c1):
                ctr4[3] = <uint64_t>patient[i]
                key2[1] = uid[i]
                paget_philox4x64_10(ctr4, key2, &blocks[4 * (i - c0)])
                shed_out[i] = 0
                react_out[i] = 0
                n = cells[i]
                b = birth[i]
                d = death[i]
                # the growing rows' quiet test, taken for the dormant rows too
                # (which overwrite y below and never mutate): computing it in
                # the growing branch only measured 1.6 % slower on the
                # benchmark table
                lam = shed_rate[i] * h
                e = rate_setup(cache, b, d, h)
                y = log_quiet(e, n, lam, h)
                u = paget_word_double(blocks[4 * (i - c0)])
                if flags[i] & PGT_FLAG_DORMANT:
                    # rare, so this branch is well predicted; as in the dormant
                    # step below: nothing happens without rates, or when no
                    # cell leaves (u < e^{-n (b + d) h})
                    total = b + d
                    y = -n * total * h
                    settled = (total <= 0.0) | ((y > LOG_QUIET) & surely_below_exp(u, y))
                else:
                    settled = ((y > LOG_QUIET) & surely_below_exp(u, y)
                               & (deterministic[i] == 0))
                if mutates:
                    mut_out[i] = 0
                    mu = mutation[i] * b * n * e.x
                    settled = settled & ((mutation[i] <= 0.0) | (b <= 0.0) | (n < 1.0)
                                         | ((mu < SMALL_MEAN) & surely_below_exp(
                                             paget_word_double(blocks[4 * (i - c0) + 1]), -mu)))
                settled = settled | (n <= 0.0)
                work[n_work] = i
                n_work += 1 - settled
            # Second pass: every other row
            for jw in range(n_work):
                i = work[jw]
                n = cells[i]
                if n <= 0.0:
                    continue
                b = birth[i]
                d = death[i]
                blk = &blocks[4 * (i - c0)]
                if flags[i] & PGT_FLAG_DORMANT:
                    total = b + d
                    if total <= 0.0:
                        continue
                    # each cell leaves with probability 1 - e^{-(b + d) h}: none
                    # leaves with probability p0 = e^{-n (b + d) h}
                    y = -n * total * h
                    if y > LOG_QUIET:
                        u = paget_word_double(blk[0])
                        if below_exp_or_p0(u, y, &p0):
                            continue
                        paget_stream_set_block(&s, seed, uid[i], <uint64_t>step,
                                               PGT_PURPOSE_STEP, <uint64_t>patient[i], blk, 1)
                        p_leave = -expm1(-total * h)
                        left = binomial_at_least_one(&bg, <int64_t>n, p_leave, p0)
                    else:
                        paget_stream_set_block(&s, seed, uid[i], <uint64_t>step,
                                               PGT_PURPOSE_STEP, <uint64_t>patient[i], blk, 0)
                        p_leave = -expm1(-total * h)
                        left = draw_binomial(&bg, NULL, p_leave, <int64_t>n, SMALL_MEAN)
                    if left > 0:
                        react = draw_binomial(&bg, bcache, b / total, left, SPLIT_INVERSION_MEAN)
                        react_out[i] = react
                    cells[i] = n - <double>left
                    continue
                lam = shed_rate[i] * h
                n0 = n
                e = NULL
                ready = False
                done = False
                if not deterministic[i]:
                    # Quiet rows: the step's three parts are drawn by inversion
                    # from the stream's first uniform u, so that nothing happens
                    # exactly when u < P0 (see quiet_rest and the note above it)
                    e = rate_setup(cache, b, d, h)
                    y = log_quiet(e, n, lam, h)             # log P0
                    if y > LOG_QUIET:
                        u = paget_word_double(blk[0])
                        done = True
                        if not below_exp(u, y):
                            paget_stream_set_block(&s, seed, uid[i], <uint64_t>step,
                                                   PGT_PURPOSE_STEP, <uint64_t>patient[i],
                                                   blk, 1)
                            ready = True
                            quiet_rest(&bg, &n, b, d, e, lams, lam, u, &shed)
                            shed_out[i] = shed
                if not done:
                    paget_stream_set_block(&s, seed, uid[i], <uint64_t>step,
                                           PGT_PURPOSE_STEP, <uint64_t>patient[i], blk, 0)
                    ready = True
                    if deterministic[i]:
                        n = n * exp((b - d) * h)
                    else:
                        n = bd_transition(&bg, n, b, d, e.x)
                    if lam > 0.0 and n >= 1.0:
                        shed = draw_poisson(&bg, lam)
                        if <double>shed > floor(n):
                            shed = <int64_t>floor(n)
                        shed_out[i] = shed
                        n -= <double>shed
                if mutates:
                    mu = mutation[i]
                    if mu > 0.0 and b > 0.0 and n >= 1.0:
                        if e == NULL:
                            e = rate_setup(cache, b, d, h)
                        mu = mu * b * n0 * e.x
                        if not ready:
                            # a quiet row in which nothing happened drew one word;
                            # the mutation draw takes the next, a zero decided as
                            # in draw_poisson_keyed
                            if mu < SMALL_MEAN and below_exp(paget_word_double(blk[1]), -mu):
                                shed = 0
                            else:
                                paget_stream_set_block(&s, seed, uid[i], <uint64_t>step,
                                                       PGT_PURPOSE_STEP,
                                                       <uint64_t>patient[i], blk, 1)
                                shed = draw_poisson_keyed(&bg, mu)
                        else:
                            shed = draw_poisson_keyed(&bg, mu)
                        if <double>shed > floor(n):
                            shed = <int64_t>floor(n)
                        mut_out[i] = shed
                        n -= <double>shed
                cells[i] = n
            c0 = c1
    free(cache)


# --------------------------------------------------------------------------
# Dissemination: fates of the CTCs shed in one step
# --------------------------------------------------------------------------

def disseminate(const uint64_t[::1] uid, const int64_t[::1] patient,
                const int16_t[::1] organ, const int64_t[::1] fate_class,
                const int64_t[::1] shed, const double[::1] lymph,
                const double[:, :, ::1] f_blood, const double[:, ::1] f_lymph,
                const double[:, ::1] p_extravasate, const double[:, :, ::1] dtc_fates,
                uint64_t seed, int64_t step,
                int64_t[:, ::1] arrested, int64_t[::1] died,
                int64_t[:, ::1] extravasated, int64_t[:, ::1] dtc_died,
                int64_t[:, ::1] dormant, int64_t[:, ::1] founded):
    """Split the CTCs each source row shed over their fates.

    For source row i (organ o, shed n_i, lymphatic fraction l_i, circulation
    class c_i), the CTCs are split multinomially over the absorbing fates of the
    circulation, ``(1 - l_i) f_blood[c_i, o] + l_i f_lymph[c_i]`` (columns:
    arrest in each organ, then death in circulation).  In each organ j, the
    arrested cells extravasate with probability ``p_extravasate[i, j]``; those
    that fail die in the capillary bed.  Extravasated cells take a fate (die,
    dormant, grow) with probabilities ``dtc_fates[i, j, :]``.

    Outputs are per (source row, organ) except ``died`` (per source row).  Draws
    come from the stream keyed by (seed, uid, step, DISSEMINATE, patient), so the
    result for a row does not depend on which other rows are present.
    """
    cdef Py_ssize_t m = uid.shape[0]
    cdef Py_ssize_t n_cls = f_blood.shape[0]
    cdef Py_ssize_t n_org = f_blood.shape[1]
    cdef Py_ssize_t n_fate = f_blood.shape[2]
    if n_fate != n_org + 1 or f_lymph.shape[0] != n_cls or f_lymph.shape[1] != n_fate:
        raise ValueError("disseminate: f_blood is (classes, organs, organs + 1), f_lymph "
                         "(classes, organs + 1)")
    if (p_extravasate.shape[0] != m or p_extravasate.shape[1] != n_org or
            dtc_fates.shape[0] != m or dtc_fates.shape[1] != n_org or dtc_fates.shape[2] != 3):
        raise ValueError("disseminate: p_extravasate is (rows, organs), dtc_fates (rows, organs, 3)")
    if any(k != m for k in (patient.shape[0], organ.shape[0], fate_class.shape[0],
                            shed.shape[0], lymph.shape[0], died.shape[0])):
        raise ValueError("disseminate: every row array must have one length")
    if any(a != m or b != n_org for a, b in (
            (arrested.shape[0], arrested.shape[1]),
            (extravasated.shape[0], extravasated.shape[1]),
            (dtc_died.shape[0], dtc_died.shape[1]),
            (dormant.shape[0], dormant.shape[1]),
            (founded.shape[0], founded.shape[1]))):
        raise ValueError("disseminate: outputs must be (rows, organs)")
    cdef Py_ssize_t i, j, c
    for i in range(m):
        if not 0 <= fate_class[i] < n_cls:
            raise ValueError(f"disseminate: fate class {fate_class[i]} of row {i} out of range")
        if not 0 <= organ[i] < n_org:
            raise ValueError(f"disseminate: organ {organ[i]} of row {i} out of range")
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef double[::1] pix = np.empty(n_fate, dtype=np.float64)
    cdef double remaining, q, l, pd, pdorm
    cdef int64_t left, got, ext, x
    cdef binom_entry bcache[1 << BINOM_CACHE_BITS]
    binom_cache_clear(bcache)
    with nogil:
        for i in range(m):
            died[i] = 0
            for j in range(n_org):
                arrested[i, j] = 0
                extravasated[i, j] = 0
                dtc_died[i, j] = 0
                dormant[i, j] = 0
                founded[i, j] = 0
            left = shed[i]
            if left <= 0:
                continue
            paget_stream_init(&s, &bg, seed, uid[i], <uint64_t>step,
                              PGT_PURPOSE_DISSEMINATE, <uint64_t>patient[i])
            l = lymph[i]
            c = fate_class[i]
            for j in range(n_fate):
                pix[j] = (1.0 - l) * f_blood[c, organ[i], j] + l * f_lymph[c, j]
            # multinomial by conditional binomials; the last fate takes the rest
            remaining = 1.0
            for j in range(n_fate - 1):
                if left <= 0:
                    break
                q = pix[j] / remaining if remaining > 0.0 else 1.0
                got = draw_binomial(&bg, bcache, q, left, SPLIT_INVERSION_MEAN)
                arrested[i, j] = got
                left -= got
                remaining -= pix[j]
            died[i] = left
            for j in range(n_org):
                x = arrested[i, j]
                if x <= 0:
                    continue
                ext = draw_binomial(&bg, bcache, p_extravasate[i, j], x, SPLIT_INVERSION_MEAN)
                extravasated[i, j] = ext
                if ext <= 0:
                    continue
                pd = dtc_fates[i, j, 0]
                pdorm = dtc_fates[i, j, 1]
                x = draw_binomial(&bg, bcache, pd, ext, SPLIT_INVERSION_MEAN)
                dtc_died[i, j] = x
                ext -= x
                if ext > 0 and pd < 1.0:
                    x = draw_binomial(&bg, bcache, pdorm / (1.0 - pd), ext, SPLIT_INVERSION_MEAN)
                    dormant[i, j] = x
                    founded[i, j] = ext - x


def keyed_uniform(uint64_t seed, const uint64_t[::1] uid, int64_t step, uint64_t purpose,
                  const int64_t[::1] patient):
    """One uniform in [0, 1) per row from the stream (seed, uid, step, purpose, patient).

    For plugins that need a random decision per row (``purpose`` >= 1000 are
    theirs; see ``paget.random``).
    """
    cdef Py_ssize_t i, m = uid.shape[0]
    if patient.shape[0] != m:
        raise ValueError("keyed_uniform: uid and patient must have one length")
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef double[::1] out = np.empty(m, dtype=np.float64)
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], <uint64_t>step, purpose,
                              <uint64_t>patient[i])
            out[i] = bg.next_double(bg.state)
    return np.asarray(out)


def below_exp_many(const double[::1] u, const double[::1] y, bint or_equal=False):
    """``u < exp(y)`` (``u <= exp(y)`` with ``or_equal``) per element as the
    kernels decide it (polynomial bounds on exp first, libm's exp only between
    them), for tests."""
    cdef Py_ssize_t i, m = u.shape[0]
    cdef double p0
    if y.shape[0] != m:
        raise ValueError("below_exp_many: u and y must have one length")
    cdef uint8_t[::1] out = np.empty(m, dtype=np.uint8)
    with nogil:
        for i in range(m):
            if or_equal:
                # as an inversion's zero draw decides it: below_exp_or_p0, then
                # the walk's first test, u <= pmf(0), with the exp it handed over
                out[i] = below_exp_or_p0(u[i], y[i], &p0) or u[i] <= p0
            else:
                out[i] = below_exp(u[i], y[i])
    return np.asarray(out).astype(bool)


cdef extern from "bounds.h" nogil:
    int paget_out_of_bounds_f64(const double *p, Py_ssize_t m, double lo, double hi)


def bounds_check(object a, double lo, double hi):
    """1 if the array ``a`` holds NaN, +-inf or a value outside [lo, hi], else 0,
    in one compiled pass (``ext/bounds.h``); 0 for an empty or a boolean array;
    -1 if ``a`` is not an aligned, native-order, C-contiguous float64 ndarray,
    which the caller then checks otherwise.

    For the engine's check of what each hook implementation wrote
    (``paget.state.out_of_bounds``), tens of thousands of calls a run: the
    array is read through NumPy's C API rather than a typed memoryview, whose
    acquisition alone costs more than the pass on a rank's few thousand rows.
    """
    cdef cnp.ndarray arr
    cdef Py_ssize_t n
    if not cnp.PyArray_Check(a):
        return -1
    arr = <cnp.ndarray>a
    n = cnp.PyArray_SIZE(arr)
    if n == 0 or cnp.PyArray_TYPE(arr) == cnp.NPY_BOOL:
        return 0
    if (cnp.PyArray_TYPE(arr) != cnp.NPY_DOUBLE or not cnp.PyArray_IS_C_CONTIGUOUS(arr)
            or not cnp.PyArray_ISALIGNED(arr) or not cnp.PyArray_ISNOTSWAPPED(arr)):
        return -1
    return 1 if paget_out_of_bounds_f64(<const double *>cnp.PyArray_DATA(arr), n, lo, hi) else 0


def poisson_invert_many(const double[::1] u, const double[::1] lam, const double[::1] pmf0):
    """Poisson(lam[i]) by inversion of the uniform u[i] (int64), for means up to 30:
    the smallest k with sum_{j<=k} pmf(j) > u[i], pmf(0) = ``pmf0[i]`` (e^-lam,
    computed by the caller) and pmf(j) = pmf(j-1) * (lam / j), stopping at 200.

    ``paget.random.poisson_quantile``'s loop over counts, one element at a time:
    the same floating-point operations in the same order, so the same counts,
    without a pass of NumPy calls per count.
    """
    cdef Py_ssize_t i, m = u.shape[0]
    if lam.shape[0] != m or pmf0.shape[0] != m:
        raise ValueError("poisson_invert_many: u, lam and pmf0 must have one length")
    cdef int64_t[::1] out = np.empty(m, dtype=np.int64)
    cdef double pmf, cdf, uu, ll
    cdef int64_t j
    for i in range(m):
        uu, ll = u[i], lam[i]
        pmf = pmf0[i]
        cdf = pmf
        j = 0
        while uu >= cdf:
            j += 1
            pmf *= ll / <double>j
            cdf += pmf
            if j >= 200:
                break
        out[i] = j
    return np.asarray(out)


def fold_terms(const int64_t[::1] index, const double[::1] values, const int64_t[::1] exponent,
               int folds, int bits, double[:, ::1] out):
    """Add the folds of each term to its bin: ``out[k, b] += q_k`` (paget.domains.fold_sum).

    Term ``x`` of bin ``b`` is cut into whole numbers ``q_0, q_1, ...``, fold ``k``
    being the remainder rounded to a multiple of ``2**(exponent[b] - bits (k+1))``
    (the remainders are exact: a power-of-two scale and a rounding to integer
    lose nothing), in one pass where NumPy makes three per fold.  Terms must be
    finite; ``out`` is (folds, n_bins).
    """
    cdef Py_ssize_t i, m = index.shape[0], n = out.shape[1]
    cdef int k, s
    cdef int64_t b
    cdef double r, q
    if folds < 1 or folds > 8 or bits < 1 or (folds + 1) * bits > 900:
        raise ValueError(f"fold_terms: need 1 <= folds <= 8 and (folds + 1) bits <= 900, "
                         f"got folds={folds}, bits={bits}")
    # per bin, the powers 2**s and 2**-s of each fold when both are normal
    # doubles (then r * 2**s and q * 2**-s round exactly as ldexp does);
    # otherwise (bins whose largest term is beyond 2**+-100) ldexp itself
    cdef double[:, ::1] up = np.empty((folds, n))
    cdef double[:, ::1] down = np.empty((folds, n))
    cdef uint8_t[::1] scaled = np.empty(n, np.uint8)
    with nogil:
        for b in range(n):
            scaled[b] = -100 <= exponent[b] <= 100
            if scaled[b]:
                for k in range(folds):
                    s = <int>(bits * (k + 1) - exponent[b])
                    up[k, b] = ldexp(1.0, s)
                    down[k, b] = ldexp(1.0, -s)
        for i in range(m):
            b = index[i]
            r = values[i]
            if scaled[b]:
                for k in range(folds):
                    q = rint(r * up[k, b])
                    r -= q * down[k, b]
                    out[k, b] += q
            else:
                for k in range(folds):
                    # ldexp of the term, not a product with 2**s: 2**s alone may
                    # overflow where the scaled term does not (tiny terms)
                    s = <int>(bits * (k + 1) - exponent[b])
                    q = rint(ldexp(r, s))
                    r -= ldexp(q, -s)
                    out[k, b] += q


def whole_and_nonnegative(const double[::1] a):
    """True if every element is a whole number >= 0 (so finite), in one pass."""
    cdef Py_ssize_t i, m = a.shape[0]
    cdef int ok = 1
    cdef double x
    for i in range(m):
        x = a[i]
        ok &= (x >= 0) & (x < INFINITY) & (floor(x) == x)
    return bool(ok)


def lpt_assign(const int64_t[::1] order, const int64_t[::1] counts, int64_t[::1] owner,
               int size):
    """Longest processing time first (Graham 1969; paget.domains.Domains.assign):
    the domains ``order`` (by falling count) each go to the rank with the fewest
    rows so far (ties: the lowest rank); ``owner`` is updated in place."""
    cdef Py_ssize_t i, d, m = order.shape[0]
    cdef int r, best
    if size < 1:
        raise ValueError("lpt_assign: a group has at least one rank")
    cdef int64_t[::1] load = np.zeros(size, dtype=np.int64)
    with nogil:
        for i in range(m):
            d = order[i]
            best = 0
            for r in range(1, size):
                if load[r] < load[best]:
                    best = r
            owner[d] = best
            load[best] += counts[d]


# --------------------------------------------------------------------------
# Rows of lesions of several rows (paget.state.lesion_groups)
# --------------------------------------------------------------------------

cdef tuple _hash_table(Py_ssize_t n):
    """(bits, keys, slot) of an empty open-addressing table for ``n`` keys, at
    most half full: 2**bits slots, ``slot`` -1 (empty) everywhere."""
    cdef int bits = 1
    while (<Py_ssize_t>1 << bits) < 2 * n:
        bits += 1
    return (bits, np.empty(<Py_ssize_t>1 << bits, np.uint64),
            np.full(<Py_ssize_t>1 << bits, -1, np.int64))


cdef inline Py_ssize_t _probe(const uint64_t *keys, const int64_t *slot, uint64_t mask,
                              int bits, uint64_t key) noexcept nogil:
    """The slot of ``key`` in an open-addressing table (linear probing, Fibonacci
    hashing), or the empty slot where it would go; slot[j] < 0 marks empty."""
    cdef uint64_t h = (key * <uint64_t>0x9E3779B97F4A7C15) >> (64 - bits)
    while slot[h] >= 0 and keys[h] != key:
        h = (h + 1) & mask
    return <Py_ssize_t>h


def lesion_groups(const uint64_t[::1] lesion, const uint64_t[::1] uid):
    """(positions, group, n_groups) of the rows whose lesion has several rows.

    A lesion of several rows holds a row whose ``lesion`` differs from its
    ``uid`` (a clone founded inside it), so its id is among the distinct
    ``lesion`` ids of such rows, ``ids`` (sorted).  Returns the positions of the
    rows whose ``lesion`` is in ``ids`` (ascending), each one's index in ``ids``,
    and ``ids.size``: what ``np.searchsorted`` of every row in ``ids`` gives.
    The ids are collected in an open-addressing hash table (no sort of the
    clone rows, only of the distinct ids), then every row is looked up in it
    (a row not in a group costs one probe of an empty slot, mostly).
    """
    cdef Py_ssize_t i, j, m = lesion.shape[0], n_odd = 0, n_ids = 0, n_at = 0, h
    if uid.shape[0] != m:
        raise ValueError("lesion_groups: lesion and uid must have one length")
    with nogil:
        for i in range(m):
            n_odd += lesion[i] != uid[i]
    if n_odd == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), 0
    cdef int bits
    bits, keys_arr, slot_arr = _hash_table(n_odd)
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef uint64_t[::1] keys = keys_arr
    cdef int64_t[::1] slot = slot_arr
    cdef uint64_t[::1] distinct = np.empty(n_odd, np.uint64)
    with nogil:
        for i in range(m):
            if lesion[i] != uid[i]:
                h = _probe(&keys[0], &slot[0], mask, bits, lesion[i])
                if slot[h] < 0:
                    keys[h] = lesion[i]
                    slot[h] = 0
                    distinct[n_ids] = lesion[i]
                    n_ids += 1
    ids_arr = np.sort(np.asarray(distinct)[:n_ids])
    cdef const uint64_t[::1] ids = ids_arr
    cdef Py_ssize_t[::1] at = np.empty(m, np.intp)
    cdef Py_ssize_t[::1] group = np.empty(m, np.intp)
    with nogil:
        for j in range(n_ids):
            slot[_probe(&keys[0], &slot[0], mask, bits, ids[j])] = j
        for i in range(m):
            h = _probe(&keys[0], &slot[0], mask, bits, lesion[i])
            if slot[h] >= 0:
                at[n_at] = i
                group[n_at] = slot[h]
                n_at += 1
    return (np.asarray(at)[:n_at].copy(), np.asarray(group)[:n_at].copy(), int(n_ids))


def add_rows_at(int64_t[:, ::1] acc, const int64_t[::1] at, const int64_t[:, ::1] values):
    """``acc[at[i], :] += values[i, :]`` for every row i, repeated ``at`` adding up
    (``np.add.at`` for int64 rows, in one pass: integer sums are exact in any
    order)."""
    cdef Py_ssize_t i, j, m = at.shape[0], n = acc.shape[0], w = acc.shape[1]
    cdef int64_t r
    if values.shape[0] != m or values.shape[1] != w:
        raise ValueError(f"add_rows_at: values must be ({m}, {w}), got "
                         f"({values.shape[0]}, {values.shape[1]})")
    for i in range(m):
        if not 0 <= at[i] < n:
            raise IndexError(f"add_rows_at: index {at[i]} out of range for {n} rows")
    with nogil:
        for i in range(m):
            r = at[i]
            for j in range(w):
                acc[r, j] += values[i, j]



def match_pools(const uint64_t[::1] key, const uint64_t[::1] uid, const uint8_t[::1] flags,
                const double[::1] cells):
    """For each of the distinct pool ids ``key``, the row of the table (columns
    ``uid``, ``flags``, ``cells``) holding that live dormant pool (flag DORMANT
    set, cells > 0), or -1 (int64).

    The engine adds a step's dormant cells to their pools with it.  A pool that
    empties stays empty, and a new pool of the same id is made only when no live
    one exists, so a live pool is the only live row of its id; were there
    several, the last would be given.  The keys are put in an open-addressing
    hash table and every row of the table is looked up in it once: O(rows +
    keys), where sorting the keys and searching them among the pools took
    O(keys log pools).
    """
    cdef Py_ssize_t k = key.shape[0], m = uid.shape[0], i, j, h
    if flags.shape[0] != m or cells.shape[0] != m:
        raise ValueError("match_pools: uid, flags and cells must have one length")
    hit_arr = np.full(k, -1, np.int64)
    if k == 0:
        return hit_arr
    cdef int64_t[::1] hit = hit_arr
    cdef int bits
    bits, keys_arr, slot_arr = _hash_table(k)
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef uint64_t[::1] keys = keys_arr
    cdef int64_t[::1] slot = slot_arr
    cdef bint repeated = False
    with nogil:
        for j in range(k):
            h = _probe(&keys[0], &slot[0], mask, bits, key[j])
            if slot[h] >= 0:
                repeated = True
                break
            keys[h] = key[j]
            slot[h] = j
    if repeated:
        raise ValueError("match_pools: the pool ids must be distinct")
    with nogil:
        for i in range(m):
            if (flags[i] & PGT_FLAG_DORMANT) and cells[i] > 0.0:
                h = _probe(&keys[0], &slot[0], mask, bits, uid[i])
                if slot[h] >= 0:
                    hit[slot[h]] = i
    return hit_arr
