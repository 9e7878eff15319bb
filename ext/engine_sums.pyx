# cython: freethreading_compatible = False
"""The per-patient fold sum of ``paget.domains.fold_sum`` on one rank, to the bit, in one compiled call.

Arrays are read through NumPy's C API (``engine_support.pxd``): each must be a
C-contiguous, aligned, native-order ndarray of its dtype (or an equivalent
one), or the call raises naming the argument (every array the engine passes
is).  ``tests/test_engine_step.py`` compares each function with the NumPy it
replaces, on random inputs, for exact equality.
"""
from libc.math cimport frexp, ldexp, rint
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

import numpy as np

cimport numpy as cnp
from engine_support cimport check_bins, f64, i64, new_array
from plugin_support cimport np_max, whole_nonnegative

cnp.import_array()

cdef int I64 = cnp.NPY_INT64
cdef int F64 = cnp.NPY_DOUBLE

#: :func:`fold_sum_serial`'s constants, those of ``paget.domains.fold_sum``
#: (checked equal by the tests)
DEF FOLD_BITS = 21
DEF FOLDS = 3
FOLD_CONSTANTS = (FOLD_BITS, FOLDS)
cdef int64_t MAX_TERMS = (<int64_t>1) << (52 - FOLD_BITS)
cdef double TWO53 = 9007199254740992.0
cdef double ROUNDER = 6755399441055744.0    # 1.5 * 2**52


def fold_sum_serial(object index, object values, Py_ssize_t n):
    """``paget.domains.fold_sum(index, values, n)`` on one rank (no group), to the
    bit, in one compiled call.

    Whole non-negative terms: their plain sum per bin (``bincount``'s, in row
    order), unless a bin reaches 2**53; otherwise each finite term is cut into
    ``FOLDS`` folds of ``FOLD_BITS`` bits on the grid of its bin's largest term,
    the folds summed exactly and combined smallest first, and the non-finite
    terms' plain sum added (as ``fold_sum`` does; see there).  Indices must be
    in ``[0, n)``.
    """
    cdef cnp.ndarray arr
    if not (cnp.PyArray_Check(values) and cnp.PyArray_TYPE(<cnp.ndarray>values) == F64 and
            cnp.PyArray_NDIM(<cnp.ndarray>values) == 1 and
            cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>values) and
            cnp.PyArray_ISALIGNED(<cnp.ndarray>values) and
            cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>values)):
        values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if not (cnp.PyArray_Check(index) and cnp.PyArray_TYPE(<cnp.ndarray>index) == I64 and
            cnp.PyArray_NDIM(<cnp.ndarray>index) == 1 and
            cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>index) and
            cnp.PyArray_ISALIGNED(<cnp.ndarray>index) and
            cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>index)):
        index = np.ascontiguousarray(np.asarray(index, dtype=np.intp).reshape(-1),
                                     dtype=np.int64)
    cdef Py_ssize_t m = cnp.PyArray_SIZE(<cnp.ndarray>values), mi = cnp.PyArray_SIZE(<cnp.ndarray>index)
    if m != mi:
        raise ValueError(f"fold_sum: {mi} indices for {m} values")
    if m >= MAX_TERMS:
        raise ValueError(f"fold_sum: {m} terms; at most {MAX_TERMS - 1} add exactly")
    if n < 0:
        raise ValueError(f"fold_sum: {n} bins")
    cdef const double *v = f64(values, m, "values")
    cdef const int64_t *at = i64(index, m, "index")
    check_bins(at, m, n, "fold_sum")
    out_arr = new_array(n, F64, True)
    cdef double *out = f64(out_arr, n, "out")
    cdef Py_ssize_t i, b
    cdef int k, s, e
    cdef bint whole = True, odd = False, scaled = False
    cdef double x = 0.0, r, q, largest
    cdef double acc[FOLDS]
    cdef double u[FOLDS]
    cdef double d[FOLDS]
    for i in range(m):
        x = v[i]
        if not whole_nonnegative(x):
            whole = False
            break
    if whole:
        # bincount's sums, term by term in row order; a run of terms of one bin
        # (a patient's rows lie together) adds in a register
        b = -1
        for i in range(m):
            if at[i] != b:
                if b >= 0:
                    out[b] = x
                b = at[i]
                x = out[b]
            x += v[i]
        if b >= 0:
            out[b] = x
        largest = 0.0
        for b in range(n):
            largest = np_max(largest, out[b])
        if n == 0 or largest < TWO53:
            return out_arr
        for b in range(n):
            out[b] = 0.0
    # the folds: per bin its largest finite term's exponent, the folds' exact
    # sums, then their values smallest first
    cdef double *top = <double *>malloc((n + 1) * sizeof(double))
    cdef double *folds = <double *>malloc((FOLDS * n + 1) * sizeof(double))
    cdef double *odds = <double *>malloc((n + 1) * sizeof(double))
    cdef int *expo = <int *>malloc((n + 1) * sizeof(int))
    cdef double *up = <double *>malloc((FOLDS * n + 1) * sizeof(double))
    cdef double *down = <double *>malloc((FOLDS * n + 1) * sizeof(double))
    try:
        if (top == NULL or folds == NULL or odds == NULL or expo == NULL or up == NULL
                or down == NULL):
            raise MemoryError()
        for b in range(n):
            top[b] = 0.0
            odds[b] = 0.0
        for b in range(FOLDS * n):
            folds[b] = 0.0
        for i in range(m):
            x = v[i]
            if x - x != 0.0:         # inf or nan: summed apart
                odd = True
                odds[at[i]] += x
            else:
                top[at[i]] = np_max(top[at[i]], -x if x < 0 else x)
        for b in range(n):
            frexp(top[b], &e)
            expo[b] = e
            if -100 <= e <= 100:
                for k in range(FOLDS):
                    s = FOLD_BITS * (k + 1) - e
                    up[k * n + b] = ldexp(1.0, s)
                    down[k * n + b] = ldexp(1.0, -s)
        # each term's folds; a run of terms of one bin (a patient's rows lie
        # together) adds its folds in registers (whole numbers below 2**53:
        # exact in any order), so that no addition waits on the one before
        b = -1
        for i in range(m):
            r = v[i]
            if r - r != 0.0:
                continue
            if at[i] != b:
                if b >= 0:
                    for k in range(FOLDS):
                        folds[k * n + b] += acc[k]
                b = at[i]
                scaled = -100 <= expo[b] <= 100
                for k in range(FOLDS):
                    acc[k] = 0.0
                    if scaled:
                        u[k] = up[k * n + b]
                        d[k] = down[k * n + b]
            # fold_terms' arithmetic: products with 2**s where both powers are
            # normal doubles (then as exact as ldexp), else ldexp itself
            if scaled:
                for k in range(FOLDS):
                    # rint of |y| < 2**22 by adding and taking away 1.5 * 2**52:
                    # the sum rounds to a whole number as rint does (to nearest,
                    # ties to even), and both steps are exact; no libm call
                    q = (r * u[k] + ROUNDER) - ROUNDER
                    r -= q * d[k]
                    acc[k] += q
            else:
                for k in range(FOLDS):
                    s = FOLD_BITS * (k + 1) - expo[b]
                    q = rint(ldexp(r, s))
                    r -= ldexp(q, -s)
                    acc[k] += q
        if b >= 0:
            for k in range(FOLDS):
                folds[k * n + b] += acc[k]
        for b in range(n):
            x = 0.0
            for k in range(FOLDS - 1, -1, -1):
                x = x + ldexp(folds[k * n + b], expo[b] - FOLD_BITS * (k + 1))
            out[b] = x + odds[b] if odd else x
    finally:
        free(top)
        free(folds)
        free(odds)
        free(expo)
        free(up)
        free(down)
    return out_arr
