# cython: freethreading_compatible = False
"""The compiled draws of ``paget.random``: keyed uniforms and Poisson counts by inversion."""
from libc.stdint cimport int64_t, uint64_t
from numpy.random cimport bitgen_t

from keyed_stream cimport paget_stream_init, paget_stream_t
from paget_kernels cimport count_t, patient_t, uid_t

import numpy as np


def keyed_uniform(uint64_t seed, const uid_t[::1] uid, int64_t step, uint64_t purpose,
                  const patient_t[::1] patient):
    """One uniform in [0, 1) per row from the stream (seed, uid, step, purpose, patient).

    For the engine and for plugins that need a random decision per row
    (plugins' purposes come from ``paget.random.purpose_id``).
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
    cdef count_t[::1] out = np.empty(m, dtype=np.int64)
    cdef double pmf, cdf, uu, ll
    cdef count_t j
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

