# cython: freethreading_compatible = False
"""One-pass array numerics of the engine's bookkeeping: hook output checks, fold sums, balance.

Each replaces several NumPy passes (or a Python loop) on arrays of a rank's rows
or patients with one compiled pass.
"""
from libc.math cimport INFINITY, floor, ldexp, rint
from libc.stdint cimport int64_t, uint8_t

import numpy as np

cimport numpy as cnp
cnp.import_array()


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

