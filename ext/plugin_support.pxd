# Shared inline helpers of the built-in plugins' compiled math (plugin_*.pyx).
#
# ``Loop``: NumPy's own float64 inner loop of a ufunc (``loop_of(np.log)``),
# called on contiguous data by ``vec``, ``vec_scalar`` and ``one``, so that a
# transcendental function rounds exactly as the NumPy call it replaces (NumPy's
# SIMD loops round some values otherwise than the C library).  ``array_data``
# checks an argument (C-contiguous, aligned, native, of one dtype and size)
# and hands back its data; ``np_max``/``np_min`` are ``np.maximum``/``np.minimum``
# of two doubles, NaN first; ``whole_nonnegative`` tells a whole number >= 0;
# ``first_of_each`` keeps the first row of each lesion id.  Every module that cimports this calls ``cnp.import_array()`` and
# ``cnp.import_ufunc()``.
from libc.math cimport INFINITY
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp


cdef struct Loop:
    cnp.PyUFuncGenericFunction f
    void *data


cdef inline Loop loop_of(cnp.ufunc u) except *:
    """The inner loop NumPy runs for ``u`` on float64 arguments (all of them)."""
    cdef int i, j
    cdef bint all_double
    cdef Loop out
    for i in range(u.ntypes):
        all_double = True
        for j in range(u.nargs):
            if u.types[i * u.nargs + j] != cnp.NPY_DOUBLE:
                all_double = False
        if all_double and u.functions[i] != NULL:
            out.f = u.functions[i]
            out.data = u.data[i]
            return out
    raise ImportError(f"paget.ext: NumPy's {u.__name__} has no float64 inner loop")


cdef inline void vec(Loop L, double *x, double *out, cnp.npy_intp n) noexcept:
    """``out[:n] = u(x[:n])`` for contiguous ``x`` and ``out`` (they may be the same)."""
    cdef char *args[2]
    cdef cnp.npy_intp steps[2]
    if n <= 0:
        return
    args[0] = <char *>x
    args[1] = <char *>out
    steps[0] = sizeof(double)
    steps[1] = sizeof(double)
    L.f(args, &n, steps, L.data)


cdef inline void vec_scalar(Loop L, double *x, double s, double *out,
                            cnp.npy_intp n) noexcept:
    """``out[:n] = u(x[:n], s)``: a binary ufunc with a scalar second argument
    (stride 0, as NumPy passes a Python float)."""
    cdef char *args[3]
    cdef cnp.npy_intp steps[3]
    if n <= 0:
        return
    args[0] = <char *>x
    args[1] = <char *>&s
    args[2] = <char *>out
    steps[0] = sizeof(double)
    steps[1] = 0
    steps[2] = sizeof(double)
    L.f(args, &n, steps, L.data)


cdef inline double one(Loop L, double x) noexcept:
    """``u(x)`` of one value, as ``np.u(x)`` of a Python float gives it."""
    cdef double out
    vec(L, &x, &out, 1)
    return out


cdef inline Py_ssize_t array_size(object a, str name) except -1:
    """The number of elements of the ndarray ``a`` (``name``: the argument, for errors)."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name}: expected a NumPy array, got {type(a).__name__}")
    return cnp.PyArray_SIZE(<cnp.ndarray>a)


cdef struct Gather:
    double *x           # the gathered rows' values, for one vectorised call
    Py_ssize_t *rows    # their row numbers, to scatter the results back


cdef inline Gather gather_alloc(Py_ssize_t n) except *:
    """Scratch for gathering up to ``n`` rows (at least one): MemoryError, with
    nothing left allocated, if it cannot be had.  Free it with
    ``gather_free``."""
    cdef Gather g
    g.x = <double *>malloc((n if n > 0 else 1) * sizeof(double))
    g.rows = <Py_ssize_t *>malloc((n if n > 0 else 1) * sizeof(Py_ssize_t))
    if g.x == NULL or g.rows == NULL:
        free(g.x)
        free(g.rows)
        raise MemoryError()
    return g


cdef inline void gather_free(Gather g) noexcept:
    free(g.x)
    free(g.rows)


cdef inline void *array_data(object a, int typenum, Py_ssize_t n, str name) except NULL:
    """The data of ``a``, a C-contiguous, aligned, native-order ndarray of
    ``typenum`` or an equivalent type (``uint64`` and ``ulonglong`` alike) with
    ``n`` elements (any number when ``n`` < 0); TypeError or ValueError naming
    the argument otherwise.  Never NULL (an empty array's pointer is not
    read).  The one check of every compiled plugin and engine function."""
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


cdef inline int check_index(const int64_t *a, Py_ssize_t n, Py_ssize_t hi,
                            str name) except -1:
    """IndexError unless every ``a[:n]`` is in [0, hi)."""
    cdef Py_ssize_t i
    for i in range(n):
        if a[i] < 0 or a[i] >= hi:
            raise IndexError(f"{name} {a[i]} at {i} outside [0, {hi})")
    return 0


cdef inline double np_max(double a, double b) noexcept:
    """``np.maximum(a, b)``: NaN if either is NaN."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


cdef inline double np_min(double a, double b) noexcept:
    """``np.minimum(a, b)``: NaN if either is NaN."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


cdef inline bint whole_nonnegative(double x) noexcept:
    """``x`` is a whole number >= 0 (so finite), as ``kernels.whole_and_nonnegative``
    tells of an array: below 2**52, adding and taking away 2**52 rounds to a
    whole number, exactly (no libm floor); from 2**52 every double is whole."""
    return (x >= 0) & (x < INFINITY) & ((x >= 4503599627370496.0)
                                        | ((x + 4503599627370496.0) - 4503599627370496.0 == x))


cdef inline uint64_t mix64(uint64_t x) noexcept:
    """A 64-bit finaliser (splitmix64's), to spread ids over a hash table."""
    x ^= x >> 30
    x *= 0xbf58476d1ce4e5b9ULL
    x ^= x >> 27
    x *= 0x94d049bb133111ebULL
    x ^= x >> 31
    return x


cdef struct IdSet:
    # an open-addressing set of uint64 ids (``id_set``, ``id_set_free``)
    uint64_t *keys
    cnp.npy_bool *used
    Py_ssize_t cap


cdef inline IdSet id_set(Py_ssize_t n) except *:
    """An empty set for up to ``n`` ids (a table of at least twice as many
    slots); MemoryError, nothing left allocated, if it cannot be had."""
    cdef IdSet s
    cdef Py_ssize_t h
    s.cap = 16
    while s.cap < 2 * n:
        s.cap *= 2
    s.keys = <uint64_t *>malloc(s.cap * sizeof(uint64_t))
    s.used = <cnp.npy_bool *>malloc(s.cap * sizeof(cnp.npy_bool))
    if s.keys == NULL or s.used == NULL:
        free(s.keys)
        free(s.used)
        raise MemoryError()
    for h in range(s.cap):
        s.used[h] = 0
    return s


cdef inline void id_set_free(IdSet s) noexcept:
    free(s.keys)
    free(s.used)


cdef inline Py_ssize_t id_slot(IdSet s, uint64_t key) noexcept:
    """The slot of ``key`` in ``s``: its own, or the empty one it would take."""
    cdef Py_ssize_t h = <Py_ssize_t>(mix64(key) & <uint64_t>(s.cap - 1))
    while s.used[h] and s.keys[h] != key:
        h = (h + 1) & (s.cap - 1)
    return h


cdef inline Py_ssize_t first_of_each(const uint64_t *ids, Py_ssize_t *rows,
                                     Py_ssize_t n) except -1:
    """Keep, in place and in order, the first of ``rows[:n]`` of each id
    ``ids[row]`` (``np.unique(..., return_index=True)``'s rows, in row order);
    returns how many are kept."""
    cdef Py_ssize_t i, h, m = 0
    cdef IdSet seen
    if n <= 1:
        return n
    seen = id_set(n)
    try:
        for i in range(n):
            h = id_slot(seen, ids[rows[i]])
            if not seen.used[h]:
                seen.used[h] = 1
                seen.keys[h] = ids[rows[i]]
                rows[m] = rows[i]
                m += 1
    finally:
        id_set_free(seen)
    return m


cdef inline int64_t poisson_invert(double uu, double ll, double pmf) noexcept nogil:
    """The smallest k with sum_{j<=k} pmf(j) > uu, pmf(0) = ``pmf`` and pmf(j) =
    pmf(j-1) * (ll / j), stopping at 200 (``draws.poisson_invert_many``)."""
    cdef double cdf = pmf
    cdef int64_t j = 0
    while uu >= cdf:
        j += 1
        pmf *= ll / <double>j
        cdf += pmf
        if j >= 200:
            break
    return j


cdef inline bint poisson_small(Loop EXP, const double *u, const double *lam, int64_t *out,
                               double *scratch, Py_ssize_t m) noexcept:
    """``out[:m]`` = Poisson(``lam``) counts by inversion of the uniforms ``u``
    where every mean is in [0, 30] (no NaN), as ``draws.poisson_quantile_small``
    (``EXP``: NumPy's float64 ``exp`` loop; ``scratch``: 2 m doubles); False,
    with nothing written, otherwise."""
    cdef Py_ssize_t i
    cdef double *neg = scratch + m
    for i in range(m):
        if not (lam[i] >= 0.0 and lam[i] <= 30.0):    # (NaN fails)
            return False
    for i in range(m):
        neg[i] = -lam[i]
    vec(EXP, neg, scratch, m)
    for i in range(m):
        out[i] = poisson_invert(u[i], lam[i], scratch[i]) if lam[i] != 0.0 else 0
    return True
