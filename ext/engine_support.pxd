# Shared inline helpers of the engine's compiled bookkeeping (engine_*.pyx).
#
# ``f64``, ``i64``, ``i16``, ``u8`` and ``u64`` are ``plugin_support.array_data``
# (a C-contiguous, aligned, native-order ndarray of one dtype, or of an
# equivalent one: ``ulonglong`` for ``uint64``, as MPI records arrive) for one
# dtype each.
# ``check_bins`` refuses an index outside ``[0, hi)``.  ``new_array`` makes a
# 1-D array through NumPy's C API.  Every module that cimports this calls
# ``cnp.import_array()``.
from libc.stdint cimport int16_t, int64_t, uint8_t, uint64_t

cimport numpy as cnp
from plugin_support cimport array_data


cdef inline double *f64(object a, Py_ssize_t n, str name) except NULL:
    return <double *>array_data(a, cnp.NPY_DOUBLE, n, name)


cdef inline int64_t *i64(object a, Py_ssize_t n, str name) except NULL:
    return <int64_t *>array_data(a, cnp.NPY_INT64, n, name)


cdef inline cnp.ndarray new_array(Py_ssize_t n, int typenum, bint zeros=False):
    """``np.empty(n, dtype)`` (``np.zeros`` with ``zeros``) of NumPy type number
    ``typenum``, without the Python call (its name lookups and argument
    parsing): the passes that run every step make a dozen such arrays."""
    cdef cnp.npy_intp dim = n
    if zeros:
        return cnp.PyArray_ZEROS(1, &dim, typenum, 0)
    return cnp.PyArray_EMPTY(1, &dim, typenum, 0)


cdef inline int check_bins(const int64_t *at, Py_ssize_t m, Py_ssize_t hi, str name) except -1:
    cdef Py_ssize_t i
    for i in range(m):
        if at[i] < 0 or at[i] >= hi:
            raise IndexError(f"{name}: index {at[i]} at {i} outside [0, {hi})")
    return 0


cdef inline int16_t *i16(object a, Py_ssize_t n, str name) except NULL:
    return <int16_t *>array_data(a, cnp.NPY_INT16, n, name)


cdef inline uint8_t *u8(object a, Py_ssize_t n, str name) except NULL:
    return <uint8_t *>array_data(a, cnp.NPY_UINT8, n, name)


cdef inline uint64_t *u64(object a, Py_ssize_t n, str name) except NULL:
    return <uint64_t *>array_data(a, cnp.NPY_UINT64, n, name)


cdef inline void *out_data(object a, int typenum, Py_ssize_t n, str name) except NULL:
    """``array_data`` of an output: ValueError if ``a`` is read-only (as a
    typed memoryview refuses one)."""
    cdef void *p = array_data(a, typenum, n, name)
    if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a):
        raise ValueError(f"{name}: the array is read-only")
    return p


cdef inline void *grid_data(object a, int typenum, int ndim, Py_ssize_t *shape,
                            str name) except NULL:
    """``array_data`` of an array of ``ndim`` axes, its lengths written to
    ``shape``: ValueError for another number of axes."""
    cdef void *p = array_data(a, typenum, -1, name)
    cdef int k
    if cnp.PyArray_NDIM(<cnp.ndarray>a) != ndim:
        raise ValueError(f"{name}: expected {ndim} axes, got "
                         f"{cnp.PyArray_NDIM(<cnp.ndarray>a)}")
    for k in range(ndim):
        shape[k] = cnp.PyArray_DIMS(<cnp.ndarray>a)[k]
    return p


cdef inline object as_array(object a, int typenum):
    """``a`` itself where ``array_data`` takes it as ``typenum``, else a
    C-contiguous, aligned copy of it as that type: ``paget.engine.founding.aligned``
    for the rates a hook may have rebound (a list, another dtype), without a
    Python call for the engine's own arrays."""
    cdef cnp.ndarray arr
    if cnp.PyArray_Check(a):
        arr = <cnp.ndarray>a
        if (cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(arr), typenum)
                and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)
                and cnp.PyArray_ISNOTSWAPPED(arr)):
            return a
    return cnp.PyArray_FROMANY(a, typenum, 0, 0, cnp.NPY_ARRAY_IN_ARRAY)
