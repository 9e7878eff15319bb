# Shared inline helpers of the engine's compiled bookkeeping (engine_*.pyx).
#
# ``array_data`` checks an argument (a C-contiguous, aligned, native-order
# ndarray of one dtype, or of an equivalent one: ``ulonglong`` for ``uint64``,
# as MPI records arrive) and hands back its data, naming the argument when it is
# not; ``f64``, ``i64``, ``i16``, ``u8`` and ``u64`` are it for one dtype each.
# ``check_bins`` refuses an index outside ``[0, hi)``.  Every module that
# cimports this calls ``cnp.import_array()``.
from libc.stdint cimport int16_t, int64_t, uint8_t, uint64_t

cimport numpy as cnp


cdef inline void *array_data(object a, int typenum, Py_ssize_t n, str name) except NULL:
    """The data of ``a``, a C-contiguous, aligned, native-order ndarray of
    ``typenum`` or an equivalent type (``uint64`` and ``ulonglong`` alike) with
    ``n`` elements (any number when ``n`` < 0); TypeError or ValueError naming
    the argument otherwise.  Never NULL."""
    cdef cnp.ndarray arr
    cdef void *p
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name}: expected a NumPy array, got {type(a).__name__}")
    arr = <cnp.ndarray>a
    if (not cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(arr), typenum)
            or not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr)
            or not cnp.PyArray_ISNOTSWAPPED(arr)):
        raise TypeError(f"{name}: expected a C-contiguous, aligned, native "
                        f"{cnp.PyArray_DescrFromType(typenum)} array, got {arr.dtype} "
                        f"(C-contiguous: {bool(cnp.PyArray_IS_C_CONTIGUOUS(arr))}, "
                        f"aligned: {bool(cnp.PyArray_ISALIGNED(arr))})")
    if n >= 0 and cnp.PyArray_SIZE(arr) != n:
        raise ValueError(f"{name}: expected {n} values, got {cnp.PyArray_SIZE(arr)}")
    p = cnp.PyArray_DATA(arr)
    return p if p != NULL else <void *>a


cdef inline double *f64(object a, Py_ssize_t n, str name) except NULL:
    return <double *>array_data(a, cnp.NPY_DOUBLE, n, name)


cdef inline int64_t *i64(object a, Py_ssize_t n, str name) except NULL:
    return <int64_t *>array_data(a, cnp.NPY_INT64, n, name)


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
