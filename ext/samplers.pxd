# The exact samplers over a keyed stream, inline and cimportable (numpy.random's c_distributions).
#
# Binomial, Poisson, negative binomial and multinomial.
#
# Each takes a NumPy ``bitgen_t`` pointing at a paget stream (keyed_stream.pxd)
# and returns a count (count_t).  Small means draw by inversion of the exact CDF,
# large ones by Hormann's transformed rejection (BTRS, PTRS) or NumPy's gamma
# mixture; the variants conditioned on at least one event serve the step's quiet
# rows (birth_death.pxd).  They are ``cdef inline ... noexcept nogil``, so a
# module that cimports them compiles them into its own loops, with no call
# through a module's C-API table.
from libc.math cimport exp, fabs, floor, fma, log, log1p, sqrt
from libc.stdint cimport uint64_t
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport random_standard_gamma

from keyed_stream cimport paget_stream_next_double
from paget_kernels cimport count_t
from special cimport (
    HALF_LOG_2PI, below_exp_or_p0, log1p_excess, log1p_gap, reciprocal, stirling_correction,
)

# Every bitgen_t of the kernels draws from a paget stream (paget_stream_init), so
# the samplers below call paget_stream_next_double directly, inlined, rather
# than through bg.next_double; NumPy's gamma sampler uses the pointer.

cdef extern from "sampler_constants.h" nogil:
    # Rows whose expected number of events is below SMALL_MEAN draw by
    # inversion of the exact CDF: one uniform and a short walk along the pmf,
    # the method NumPy's own binomial uses when n p <= 30.  Most rows of a table
    # are colonies of a few cells whose step holds no event at all; for them the
    # walk stops at its first comparison, with no setup beyond one exp().  Rows
    # expecting more draw by transformed rejection (binomial_btrs, poisson_ptrs
    # below; the negative binomial as a gamma mixture of Poissons).  SMALL_MEAN
    # is the smallest mean for which Hormann (1993) gives the
    # transformed-rejection constants.
    const double SMALL_MEAN "PAGET_SMALL_MEAN"
    # Binomials of the dissemination split use inversion up to a mean of 30
    # (NumPy's own threshold for it): the walk costs ~1 ns a step and its setup
    # is cached by p (binomial_small_cached), while BTRS takes ~40-60 ns at
    # these means.
    const double SPLIT_INVERSION_MEAN "PAGET_SPLIT_INVERSION_MEAN"


# --------------------------------------------------------------------------
# Few events: inversion
# --------------------------------------------------------------------------

cdef inline count_t binomial_small(bitgen_t *bg, count_t n, double p) noexcept nogil:
    """Binomial(n, p) by inversion, for n p small and p <= 1/2."""
    cdef double logq = log1p(-p)
    cdef double ratio = p / (1.0 - p)
    cdef double pmf0 = exp(<double>n * logq)
    return binomial_walk(bg, n, ratio, pmf0, paget_stream_next_double(bg.state))


cdef inline count_t binomial_walk(bitgen_t *bg, count_t n, double ratio, double pmf0,
                                  double u) noexcept nogil:
    """The inversion walk of binomial_small from its first uniform ``u``, with
    ratio = p / (1 - p) and pmf0 = (1 - p)^n."""
    cdef double pmf
    cdef count_t k
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


cdef inline count_t negbin_small(bitgen_t *bg, count_t k, double beta,
                                 double q) noexcept nogil:
    """Extra cells of k surviving lineages: sum of k Geometric(1 - beta) - k.

    NegativeBinomial(k, 1 - beta) by inversion: P(0) = (1 - beta)^k,
    P(j + 1) = P(j) beta (k + j) / (j + 1).  For k beta / (1 - beta) small.
    """
    cdef double pmf0 = exp(<double>k * log(q))
    cdef double u, pmf
    cdef count_t j
    cdef count_t bound = <count_t>(64.0 + 64.0 * <double>k * beta / q)
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


cdef inline count_t poisson_invert(bitgen_t *bg, double lam, double pmf0,
                                   double u) noexcept nogil:
    """Poisson(lam) by inversion starting from the uniform ``u`` (pmf0 = e^-lam);
    on the (vanishingly rare) overrun of the bound it starts again from a new uniform."""
    cdef double pmf
    cdef count_t j
    cdef count_t bound = <count_t>(64.0 + 16.0 * lam)
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


cdef inline count_t poisson_small(bitgen_t *bg, double lam) noexcept nogil:
    """Poisson(lam) by inversion, for small lam."""
    cdef double pmf0 = exp(-lam)
    return poisson_invert(bg, lam, pmf0, paget_stream_next_double(bg.state))


cdef inline count_t draw_poisson(bitgen_t *bg, double lam) noexcept nogil:
    """Poisson(lam), lam >= 0: inversion below SMALL_MEAN, PTRS above."""
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


cdef inline count_t binomial_btrs(bitgen_t *bg, count_t n, double p) noexcept nogil:
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
            return <count_t>k
        if m < 0.0:               # the setup of the slower test, on first need
            alpha = (2.83 + 5.1 / b) * spq
            binomial_mode_setup(nd, p, &m, &lam0, &fc_m)
        if log(v * alpha / (a / (us * us) + b)) <= binomial_log_ratio(nd, p, m, lam0, fc_m, k):
            return <count_t>k


cdef inline count_t poisson_ptrs(bitgen_t *bg, double lam) noexcept nogil:
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
            return <count_t>k
        if us < 0.013 and v > us:
            continue
        if inv_alpha == 0.0:      # the setup of the slower test, on first need
            inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
            log_lam = log(lam)
        if log(v * inv_alpha / (a / (us * us) + b)) <= poisson_log_pmf(lam, log_lam, k):
            return <count_t>k


cdef inline count_t negbin_many(bitgen_t *bg, double k, double q) noexcept nogil:
    """NegativeBinomial(k, q) (failures before the k-th success of probability q) as
    the Poisson mixture Poisson(Gamma(k) (1 - q) / q) (Greenwood & Yule 1920,
    J. R. Stat. Soc. 83:255-279), as NumPy's random_negative_binomial draws it."""
    return draw_poisson(bg, random_standard_gamma(bg, k) * ((1.0 - q) / q))


cdef inline count_t negbin_draw(bitgen_t *bg, count_t k, double beta,
                               double q) noexcept nogil:
    """NegativeBinomial(k, q), q = 1 - beta: inversion for a mean below SMALL_MEAN,
    the gamma mixture of Poissons above."""
    if <double>k * beta < SMALL_MEAN * q:
        return negbin_small(bg, k, beta, q)
    return negbin_many(bg, <double>k, q)


# --------------------------------------------------------------------------
# Conditioned on at least one event (the step's quiet rows, birth_death.pxd)
# --------------------------------------------------------------------------

cdef enum:
    # the laws of at_least_one's walk
    AT_LEAST_ONE_POISSON = 0
    AT_LEAST_ONE_PASCAL = 1       # the negative binomial
    AT_LEAST_ONE_BINOMIAL = 2


cdef inline count_t at_least_one(bitgen_t *bg, int law, count_t k, double a,
                                 double p0) noexcept nogil:
    """A draw given >= 1, by inversion, of a law whose P(0) is ``p0``:
    Poisson(a), with P(j) / P(j - 1) = a / j; NegativeBinomial(k, 1 - a),
    a (k + j - 1) / j; Binomial(k, a / (1 + a)), a (k - j + 1) / j.  The walk
    stops at k for the binomial, at 4096 for the others.  ``law`` is a constant
    at every call, so the compiler keeps one branch of each test."""
    cdef double u, pmf
    cdef count_t j
    cdef count_t bound = k if law == AT_LEAST_ONE_BINOMIAL else 4096
    while True:
        u = paget_stream_next_double(bg.state) * (1.0 - p0)
        pmf = p0 * a
        if law != AT_LEAST_ONE_POISSON:
            pmf *= <double>k
        j = 1
        while u > pmf and j < bound:
            u -= pmf
            j += 1
            if law == AT_LEAST_ONE_POISSON:
                pmf *= a * reciprocal(j)
            elif law == AT_LEAST_ONE_PASCAL:
                pmf *= a * <double>(k + j - 1) * reciprocal(j)
            else:
                pmf *= a * <double>(k - j + 1) * reciprocal(j)
        if u <= pmf:
            return j


cdef inline count_t binomial_at_least_one(bitgen_t *bg, count_t n, double p,
                                          double p0) noexcept nogil:
    """Binomial(n, p) given >= 1, by inversion; p0 = P(0) = (1 - p)^n."""
    return at_least_one(bg, AT_LEAST_ONE_BINOMIAL, n, p / (1.0 - p), p0)


cdef inline count_t negbin_at_least_one(bitgen_t *bg, count_t k, double beta,
                                        double p0) noexcept nogil:
    """NegativeBinomial(k, 1 - beta) given >= 1, by inversion; p0 = (1 - beta)^k."""
    return at_least_one(bg, AT_LEAST_ONE_PASCAL, k, beta, p0)


cdef inline count_t poisson_at_least_one(bitgen_t *bg, double lam, double p0) noexcept nogil:
    """Poisson(lam) given >= 1, by inversion; p0 = e^-lam."""
    return at_least_one(bg, AT_LEAST_ONE_POISSON, 0, lam, p0)


# --------------------------------------------------------------------------
# Binomials of many rows: the per-probability cache, any p, the multinomial
# --------------------------------------------------------------------------

# Per-probability setup of the inversion binomial.  The binomials of the
# dissemination split take few distinct p (a fate vector per organ of origin,
# one fate split, and extravasation probabilities per target organ, though
# patient-level factors make those differ per row), so a direct-mapped cache
# keyed by the bits of p skips log1p and a division for most of them, and the
# zero draw (u <= (1 - p)^n, most draws of the rare fates) is decided by the
# bounds on exp without calling it.  An entry holds exactly what
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
    """Empty a cache of 1 << BINOM_CACHE_BITS entries."""
    cdef Py_ssize_t j
    for j in range(1 << BINOM_CACHE_BITS):
        cache[j].p = -1.0             # matches no probability


cdef inline count_t binomial_small_cached(bitgen_t *bg, binom_entry *cache, count_t n,
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


cdef inline count_t draw_poisson_keyed(bitgen_t *bg, double lam) noexcept nogil:
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


cdef inline count_t draw_binomial(bitgen_t *bg, binom_entry *cache, double p, count_t n,
                                  double inversion_below) noexcept nogil:
    """Binomial(n, p) for any p in [0, 1]: inversion when fewer than
    ``inversion_below`` (>= SMALL_MEAN, BTRS's range) successes or failures are
    expected, with the setup of p from ``cache`` (binomial_small_cached) unless
    it is NULL; BTRS otherwise.  Both inversions give the same draw."""
    cdef bint flip = p > 0.5
    cdef count_t k
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


cdef inline count_t multinomial_split(bitgen_t *bg, binom_entry *cache, count_t n,
                                      const double *p, Py_ssize_t k,
                                      count_t *out) noexcept nogil:
    """Multinomial(n, p[0..k-1]) by conditional binomials: writes the counts of
    the first k - 1 categories to ``out[0..k-2]`` and returns the last one's,
    the rest.  ``p`` sums to 1; where nothing is left the draw stops, and the
    remaining entries of ``out`` are not written.  The binomials use inversion
    up to SPLIT_INVERSION_MEAN, with the setup of each p from ``cache``."""
    cdef double remaining = 1.0, q
    cdef count_t got
    cdef Py_ssize_t j
    for j in range(k - 1):
        if n <= 0:
            break
        q = p[j] / remaining if remaining > 0.0 else 1.0
        got = draw_binomial(bg, cache, q, n, SPLIT_INVERSION_MEAN)
        out[j] = got
        n -= got
        remaining -= p[j]
    return n
