# cython: freethreading_compatible = False
"""Test-only entry points to the kernels' C-level stream, samplers and special functions.

Nothing in paget calls these; tests (and the benchmarks of the samplers) do,
through ``paget.ext.kernels``, which re-exports them.  Each draws or evaluates
exactly as the step and dissemination kernels do, from the same inline code.
"""
from libc.math cimport log
from libc.stdint cimport int64_t, uint8_t, uint64_t
from numpy.random cimport bitgen_t

from birth_death cimport bd_probabilities
from keyed_stream cimport paget_philox4x64_10, paget_stream_init, paget_stream_t
from paget_kernels cimport PGT_PURPOSE_TEST, count_t, uid_t
from samplers cimport (
    SMALL_MEAN, binomial_log_ratio, binomial_mode_setup, draw_binomial, draw_poisson,
    negbin_draw, poisson_log_pmf,
)
from special cimport FC, FC_TABLE, RECIP, RECIPROCALS, below_exp, below_exp_or_p0

import numpy as np


# --------------------------------------------------------------------------
# The keyed stream and the samplers
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


def stream_binomial(uint64_t seed, const uid_t[::1] uid, int64_t n, double p):
    """One ``Binomial(n, p)`` draw per uid, each from its own keyed stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i, m = uid.shape[0]
    cdef count_t[::1] out = np.empty(m, dtype=np.int64)
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
            out[i] = draw_binomial(&bg, NULL, p, n, SMALL_MEAN)
    return np.asarray(out)


def stream_poisson(uint64_t seed, const uid_t[::1] uid, double lam):
    """One ``Poisson(lam)`` draw per uid (the shedding sampler of step_rows), each
    from its own keyed stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i, m = uid.shape[0]
    cdef count_t[::1] out = np.empty(m, dtype=np.int64)
    if not lam >= 0.0:
        raise ValueError(f"stream_poisson: lam must be >= 0, got {lam}")
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
            out[i] = draw_poisson(&bg, lam) if lam > 0.0 else 0
    return np.asarray(out)


def stream_negbin(uint64_t seed, const uid_t[::1] uid, int64_t k, double q):
    """One ``NegativeBinomial(k, q)`` draw per uid (failures before the k-th success
    of probability q; the growth sampler of step_rows), each from its own keyed
    stream."""
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i, m = uid.shape[0]
    cdef count_t[::1] out = np.empty(m, dtype=np.int64)
    if k < 1 or not 0.0 < q <= 1.0:
        raise ValueError(f"stream_negbin: need k >= 1 and 0 < q <= 1, got k={k}, q={q}")
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
            out[i] = negbin_draw(&bg, k, 1.0 - q, q)
    return np.asarray(out)



# --------------------------------------------------------------------------
# The samplers' special functions and tables
# --------------------------------------------------------------------------

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



def bd_alpha_beta(double b, double d, double h):
    """(alpha, beta) of the exact step, for tests."""
    cdef double a, be, q
    bd_probabilities(b, d, h, &a, &be, &q)
    return a, be



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



def sampler_tables():
    """(1/k for k < RECIPROCALS with 0 at k = 0, fc(k) for k < FC_TABLE): the
    samplers' tables (sampler_constants.h), as float64 arrays."""
    return (np.array([RECIP[j] for j in range(RECIPROCALS)]),
            np.array([FC[j] for j in range(FC_TABLE)]))
