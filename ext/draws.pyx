# cython: freethreading_compatible = False
"""The compiled draws of ``paget.random``: keyed uniforms and Poisson counts by inversion."""
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from numpy.random cimport bitgen_t

cimport numpy as cnp
from keyed_stream cimport paget_stream_init, paget_stream_t
from paget_kernels cimport count_t, patient_t, uid_t
from plugin_support cimport (
    Loop, array_data, array_size, loop_of, poisson_invert, poisson_small,
)

import numpy as np

cnp.import_array()
cnp.import_ufunc()

#: NumPy's own float64 loop of ``np.exp`` (``poisson_quantile_small`` rounds as it)
cdef Loop EXP = loop_of(np.exp)


def keyed_uniform(uint64_t seed, object uid, int64_t step, uint64_t purpose, object patient):
    """One uniform in [0, 1) per row from the stream (seed, uid, step, purpose, patient).

    For the engine and for plugins that need a random decision per row
    (plugins' purposes come from ``paget.random.purpose_id``).  ``uid``
    (uint64) and ``patient`` (int64) are C-contiguous, aligned, native-order
    arrays of one length, read through NumPy's C API (typed memoryviews cost
    more to acquire than drawing a few patients' uniforms).
    """
    cdef Py_ssize_t i, m = array_size(uid, "uid")
    cdef const uid_t *u = <const uid_t *>array_data(uid, cnp.NPY_UINT64, m, "uid")
    if array_size(patient, "patient") != m:
        raise ValueError("keyed_uniform: uid and patient must have one length")
    cdef const patient_t *pt = <const patient_t *>array_data(patient, cnp.NPY_INT64, m, "patient")
    cdef paget_stream_t s
    cdef bitgen_t bg
    out_arr = np.empty(m, dtype=np.float64)
    cdef double *out = <double *>cnp.PyArray_DATA(<cnp.ndarray>out_arr)
    with nogil:
        for i in range(m):
            paget_stream_init(&s, &bg, seed, u[i], <uint64_t>step, purpose, <uint64_t>pt[i])
            out[i] = bg.next_double(bg.state)
    return out_arr


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
    for i in range(m):
        out[i] = poisson_invert(u[i], lam[i], pmf0[i])
    return np.asarray(out)


cdef inline bint _plain_f64(object a) noexcept:
    """``a`` is a 1-D, C-contiguous, aligned, native-order float64 ndarray."""
    return (cnp.PyArray_Check(a) and cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_DOUBLE and
            cnp.PyArray_NDIM(<cnp.ndarray>a) == 1 and
            cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) and
            cnp.PyArray_ISALIGNED(<cnp.ndarray>a) and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a))


def poisson_quantile_small(object u, object lam):
    """``paget.random.poisson_quantile(u, lam)`` in one call for its usual case, or None.

    The usual case: ``u`` and ``lam`` 1-D, C-contiguous, aligned, native float64
    arrays of one size, every mean in [0, 30] (no NaN).  Then, as the Python
    path: the smallest ``k`` with ``sum_{j<=k} pmf(j) > u[i]``, ``pmf(0) =
    np.exp(-lam)`` (NumPy's own float64 ``exp`` loop, so it rounds as the
    NumPy call) walked as :func:`poisson_invert_many`, and 0 where the mean is
    0.  Anything else gives None, and the caller takes the Python path.  A
    hook draws one Poisson count per patient each step (a blood draw, skeletal
    events): the Python path's dozen NumPy calls cost ~5 us for 5 values.
    """
    if not (_plain_f64(u) and _plain_f64(lam)):
        return None
    cdef Py_ssize_t m = cnp.PyArray_SIZE(<cnp.ndarray>lam)
    if cnp.PyArray_SIZE(<cnp.ndarray>u) != m:
        return None
    cdef const double *uu = <const double *>cnp.PyArray_DATA(<cnp.ndarray>u)
    cdef const double *ll = <const double *>cnp.PyArray_DATA(<cnp.ndarray>lam)
    out_arr = np.empty(m, dtype=np.int64)
    cdef double *scratch = <double *>malloc(2 * m * sizeof(double) + 1)
    if scratch == NULL:
        raise MemoryError()
    try:
        if not poisson_small(EXP, uu, ll, <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>out_arr),
                             scratch, m):
            return None
    finally:
        free(scratch)
    return out_arr
