# Special functions of the samplers, inline: 1/k, log1p differences, Stirling's fc, bounds on exp.
from libc.math cimport exp, fabs
from libc.stdint cimport int64_t

cdef extern from "sampler_constants.h" nogil:
    const double HALF_LOG_2PI "PAGET_HALF_LOG_2PI"
    # |x| below which log1p_gap and log1p_excess sum their series
    const double SERIES_BELOW "PAGET_SERIES_BELOW"
    # the margin of the polynomial bounds on exp (exp_lower)
    const double EXP_MARGIN "PAGET_EXP_MARGIN"
    # 1/k for the inversion walks, so that a step of a walk multiplies instead
    # of dividing (the division's throughput, not the walk's dependency chain,
    # bounded it)
    enum: RECIPROCALS "PAGET_RECIPROCALS"
    const double RECIP "paget_recip"[]
    # fc(k) below is tabulated for k < FC_TABLE; beyond, Stirling's series to
    # x**-7 is within 1e-17 of it (the next term is 1/(1188 x**9), x = k + 1).
    enum: FC_TABLE "PAGET_FC_TABLE"
    const double FC "paget_fc"[]


cdef inline double reciprocal(int64_t k) noexcept nogil:
    """1 / k for whole k >= 1."""
    if k < RECIPROCALS:
        return RECIP[k]
    return 1.0 / <double>k


# --------------------------------------------------------------------------
# Log-pmfs without cancellation (samplers.pxd's binomial_log_ratio and
# poisson_log_pmf): Stirling's form of log k! and the log1p differences
# --------------------------------------------------------------------------

cdef inline double stirling_correction_series(double x) noexcept nogil:
    """Stirling's series for log Gamma(x) - ((x - 1/2) log x - x + log(2 pi)/2)."""
    cdef double r = 1.0 / x
    cdef double r2 = r * r
    return r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)))


cdef inline double stirling_correction(double k) noexcept nogil:
    """fc(k) = log k! - ((k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2), k >= 0 whole."""
    if k < FC_TABLE:
        return FC[<int>k]
    return stirling_correction_series(k + 1.0)


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


# --------------------------------------------------------------------------
# Deciding "u < e^y" without e^y
# --------------------------------------------------------------------------
# For every y, e^y >= T3(y) = 1 + y + y^2/2 + y^3/6 (the Taylor remainder
# e^c y^4/24 is >= 0), and for y <= 0, e^y <= T4(y) = T3(y) + y^4/24 (the
# remainder e^c y^5/120 is <= 0).  With |y| <= 1 the two polynomials are
# evaluated to within ~1e-15 and libm's exp is within one ulp (2.2e-16 below
# 2), so a uniform below T3 - EXP_MARGIN is certainly below the computed exp(y)
# and one at or above T4 + EXP_MARGIN certainly is not: exp() runs only for the
# ~y^4/24 + 2e-14 of uniforms between the bounds.  The outcome is the one of
# ``u < exp(y)``, bit for bit, at the cost of a few multiply-adds.

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
