# cython: freethreading_compatible = False
"""The built-in plugins' per-step row and patient math, one compiled call per hook body.

Each function here replaces the NumPy expressions of one built-in plugin's hook
(the plugin names it in its docstring) and gives the same float64 results to
the bit: the same operations in the same order, and for the transcendental
functions (log, log10, log1p, expm1, exp, cbrt, power) NumPy's own float64
inner loops, called directly on the same contiguous data.  NumPy picks those
loops for the CPU at import (its SIMD versions round differently from the C
library's ``log`` or ``exp``), so calling ``libm`` here would change results;
calling the very loop ``np.log`` calls keeps them, on any CPU.

Arrays are read through NumPy's C API (no typed memoryviews: acquiring ten of
them costs more than the pass over a step's few hundred rows).  Every array
must be C-contiguous, aligned, native-order and of the dtype named; a wrong
one raises ``TypeError`` naming the argument.  Third-party plugins keep
writing NumPy: nothing here is part of the plugin contract.
"""
from libc.math cimport ceil, floor
from libc.stdint cimport int16_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

cimport numpy as cnp
cnp.import_array()
cnp.import_ufunc()


# --------------------------------------------------------------------------
# NumPy's float64 inner loops

cdef struct Loop:
    cnp.PyUFuncGenericFunction f
    void *data


cdef Loop _loop(cnp.ufunc u) except *:
    """The inner loop NumPy runs for ``u`` on float64 arguments (all of them)."""
    cdef int i, j
    cdef Loop out
    for i in range(u.ntypes):
        for j in range(u.nargs):
            if u.types[i * u.nargs + j] != cnp.NPY_DOUBLE:
                break
        else:
            out.f = u.functions[i]
            out.data = u.data[i]
            if out.f == NULL:
                break
            return out
    raise ImportError(f"paget.ext.plugin_math: NumPy's {u.__name__} has no float64 loop")


cdef Loop LOG = _loop(np.log)
cdef Loop LOG10 = _loop(np.log10)
cdef Loop LOG1P = _loop(np.log1p)
cdef Loop EXPM1 = _loop(np.expm1)
cdef Loop EXP = _loop(np.exp)
cdef Loop CBRT = _loop(np.cbrt)
cdef Loop POWER = _loop(np.power)
cdef Loop _LOOPS[7]
_LOOPS[:] = [LOG, LOG10, LOG1P, EXPM1, EXP, CBRT, POWER]


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
    """``out[:n] = u(x[:n], s)``: a binary ufunc with a scalar second argument (stride 0)."""
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


def numpy_loop(str name, double[::1] x, double[::1] out, object scalar=None):
    """``out[:] = np.<name>(x)`` (or ``np.<name>(x, scalar)``) through the inner loop
    this module calls; for the tests, which compare it with NumPy's own call."""
    cdef Loop L
    loops = {"log": 0, "log10": 1, "log1p": 2, "expm1": 3, "exp": 4, "cbrt": 5, "power": 6}
    if name not in loops:
        raise ValueError(f"numpy_loop: name must be one of {', '.join(loops)}, got {name!r}")
    if x.shape[0] != out.shape[0]:
        raise ValueError(f"numpy_loop: x has {x.shape[0]} values, out {out.shape[0]}")
    L = _LOOPS[loops[name]]
    if (scalar is None) != (name != "power"):
        raise ValueError("numpy_loop: scalar is the second argument of power, and of it alone")
    if x.shape[0] == 0:
        return
    if name == "power":
        vec_scalar(L, &x[0], float(scalar), &out[0], x.shape[0])
    else:
        vec(L, &x[0], &out[0], x.shape[0])


# --------------------------------------------------------------------------
# argument checks

cdef void *_data(object a, int typenum, Py_ssize_t n, str name) except NULL:
    """The data of ``a``, a C-contiguous aligned native ndarray of ``typenum`` with
    ``n`` elements (any number when ``n`` < 0)."""
    cdef cnp.ndarray arr
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name}: expected a NumPy array, got {type(a).__name__}")
    arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(arr)
            or not cnp.PyArray_ISALIGNED(arr) or not cnp.PyArray_ISNOTSWAPPED(arr)):
        raise TypeError(f"{name}: expected a C-contiguous {np.dtype(cnp.PyArray_DescrFromType(typenum))} "
                        f"array, got {arr.dtype} (contiguous: {bool(arr.flags.c_contiguous)})")
    if n >= 0 and cnp.PyArray_SIZE(arr) != n:
        raise ValueError(f"{name}: expected {n} values, got {cnp.PyArray_SIZE(arr)}")
    # an empty array's data pointer may be NULL: hand back a valid one
    if cnp.PyArray_SIZE(arr) == 0:
        return <void *>&_EMPTY
    return cnp.PyArray_DATA(arr)


cdef double _EMPTY = 0.0


cdef inline Py_ssize_t _size(object a, str name) except -1:
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name}: expected a NumPy array, got {type(a).__name__}")
    return cnp.PyArray_SIZE(<cnp.ndarray>a)


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


# --------------------------------------------------------------------------
# colonization

# growth laws, numbered as colonization.LAW_CODES numbers them
cdef enum:
    EXPONENTIAL = 0
    LOGISTIC = 1
    GOMPERTZ = 2


cdef int _law_rates(int law, double r, double d0, bint det, const double *capacity,
                    Py_ssize_t n_organs, const Py_ssize_t *rows, Py_ssize_t m,
                    const double *cells, const int16_t *organ, double dt,
                    double *birth, double *death, cnp.npy_bool *deterministic) except -1:
    """``colonization._set_rates`` of the ``m`` rows ``rows`` under one law."""
    cdef Py_ssize_t j, i
    cdef double *n
    cdef double *t
    cdef double *u
    cdef double g, x, e, c, ratio
    if m == 0:
        return 0
    n = <double *>malloc(3 * m * sizeof(double))
    if n == NULL:
        raise MemoryError()
    t = n + m
    u = t + m
    try:
        for j in range(m):
            i = rows[j]
            if organ[i] < 0 or organ[i] >= n_organs:
                raise IndexError(f"growth_rates: organ {organ[i]} of row {i} is outside "
                                 f"[0, {n_organs})")
            n[j] = np_max(cells[i], 1.0)
            t[j] = capacity[organ[i]]            # k
        if law == EXPONENTIAL:
            for j in range(m):
                u[j] = r
        elif law == LOGISTIC:
            x = r * dt
            if x <= 30.0:
                # r - log1p(n expm1(x) / k) / dt
                e = one(EXPM1, x)
                for j in range(m):
                    u[j] = n[j] * e / t[j]
                vec(LOG1P, u, u, m)
                for j in range(m):
                    u[j] = r - u[j] / dt
            else:
                # (log(k / n) - log1p((k / n - 1) e^-x)) / dt
                e = one(EXP, -x)
                for j in range(m):
                    ratio = t[j] / n[j]
                    t[j] = ratio
                    u[j] = (ratio - 1.0) * e
                vec(LOG, t, t, m)
                vec(LOG1P, u, u, m)
                for j in range(m):
                    u[j] = (t[j] - u[j]) / dt
        elif law == GOMPERTZ:
            # log(k / n) (-expm1(-r dt)) / dt
            c = -one(EXPM1, (-r) * dt)
            for j in range(m):
                u[j] = t[j] / n[j]
            vec(LOG, u, u, m)
            for j in range(m):
                u[j] = u[j] * c / dt
        else:
            raise ValueError(f"growth_rates: unknown law code {law}")
        for j in range(m):
            i = rows[j]
            g = u[j]
            birth[i] = d0 + np_max(g, 0.0)
            death[i] = d0 + np_max(-g, 0.0)
            deterministic[i] = det
    finally:
        free(n)
    return 0


def growth_rates(dormant, cells, organ, primary, bint split,
                 int law0, double rate0, double death0, capacity0, bint det0,
                 int law1, double rate1, double death1, capacity1, bint det1,
                 double dt, birth, death, deterministic):
    """The body of ``colonization.paget_growth``: per-cell birth and death rates.

    Every row gets 0 and 0, and ``det0``; each growing row (not dormant, cells
    > 0) gets ``b = d0 + max(g, 0)``, ``d = d0 + max(-g, 0)`` with ``g`` the
    step-averaged net rate of its law (``colonization.step_net_rate``) at ``n =
    max(cells, 1)`` and its organ's capacity.  Law 0 (``law0``, ...) is the
    primary's, law 1 the metastases'; with ``split`` false every growing row
    takes law 0.  ``law``: 0 exponential, 1 logistic, 2 gompertz; ``capacity``:
    float64 per organ.  Writes ``birth``, ``death`` (float64) and
    ``deterministic`` (bool) in place.
    """
    cdef Py_ssize_t N = _size(cells, "cells"), i, m0 = 0, m1 = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const int16_t *org = <const int16_t *>_data(organ, cnp.NPY_INT16, N, "organ")
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const double *k0 = <const double *>_data(capacity0, cnp.NPY_DOUBLE, -1, "capacity0")
    cdef const double *k1 = <const double *>_data(capacity1, cnp.NPY_DOUBLE, -1, "capacity1")
    cdef Py_ssize_t nk0 = _size(capacity0, "capacity0"), nk1 = _size(capacity1, "capacity1")
    cdef double *b = <double *>_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef cnp.npy_bool *det = <cnp.npy_bool *>_data(deterministic, cnp.NPY_BOOL, N, "deterministic")
    cdef Py_ssize_t *rows
    if N == 0:
        return
    rows = <Py_ssize_t *>malloc(N * sizeof(Py_ssize_t))
    if rows == NULL:
        raise MemoryError()
    try:
        # law 0's rows from the front of ``rows``, law 1's from the back (reversed)
        for i in range(N):
            b[i] = 0.0
            d[i] = 0.0
            det[i] = det0
            if dor[i] or not (c[i] > 0):
                continue
            if split and not pri[i]:
                m1 += 1
                rows[N - m1] = i
            else:
                rows[m0] = i
                m0 += 1
        _law_rates(law0, rate0, death0, det0, k0, nk0, rows, m0, c, org, dt, b, d, det)
        _law_rates(law1, rate1, death1, det1, k1, nk1, rows + N - m1, m1, c, org, dt, b, d, det)
    finally:
        free(rows)


def dormancy_rates(dormant, double reactivation, double death, out_reactivation, out_death):
    """The body of ``colonization.paget_dormancy``: ``np.where(dormant, rate, 0.0)``
    for both rates, written in place."""
    cdef Py_ssize_t N = _size(dormant, "dormant"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef double *a = <double *>_data(out_reactivation, cnp.NPY_DOUBLE, N, "out_reactivation")
    cdef double *b = <double *>_data(out_death, cnp.NPY_DOUBLE, N, "out_death")
    for i in range(N):
        if dor[i]:
            a[i] = reactivation
            b[i] = death
        else:
            a[i] = 0.0
            b[i] = 0.0


# --------------------------------------------------------------------------
# outcome

cdef inline uint64_t _mix(uint64_t x) noexcept:
    """A 64-bit finaliser (splitmix64's), to spread lesion ids over a hash table."""
    x ^= x >> 30
    x *= 0xbf58476d1ce4e5b9ULL
    x ^= x >> 27
    x *= 0x94d049bb133111ebULL
    x ^= x >> 31
    return x


def detectable_rows(dormant, cells, lesion_cells, lesion, primary, double threshold):
    """The first half of ``outcome.paget_outcome``: ``outcome.detectable`` and the
    values of its two sums.

    Returns ``(rows, ones, metastasis)``: the rows (intp), one per lesion of at
    least ``threshold`` cells, that lesion's first growing row (not dormant,
    cells > 0), in row order; ``np.ones(rows.size)``; and
    ``(~primary[rows]).astype(np.float64)``.
    """
    cdef Py_ssize_t N = _size(cells, "cells"), i, m = 0, cap, h
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *lc = <const double *>_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const uint64_t *les = <const uint64_t *>_data(lesion, cnp.NPY_UINT64, N, "lesion")
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef Py_ssize_t *big
    cdef uint64_t *keys
    cdef cnp.npy_bool *used
    cdef cnp.ndarray rows, ones, metastasis
    cdef Py_ssize_t *r
    cdef double *o
    cdef double *mt
    cdef Py_ssize_t n_big = 0
    big = <Py_ssize_t *>malloc((N if N > 0 else 1) * sizeof(Py_ssize_t))
    if big == NULL:
        raise MemoryError()
    keys = NULL
    used = NULL
    try:
        for i in range(N):
            if not dor[i] and c[i] > 0 and lc[i] >= threshold:
                big[n_big] = i
                n_big += 1
        if n_big > 1:
            # keep each lesion's first row (np.unique(..., return_index=True), sorted):
            # an open-addressing set of the lesion ids seen, rows in order
            cap = 16
            while cap < 2 * n_big:
                cap *= 2
            keys = <uint64_t *>malloc(cap * sizeof(uint64_t))
            used = <cnp.npy_bool *>malloc(cap * sizeof(cnp.npy_bool))
            if keys == NULL or used == NULL:
                raise MemoryError()
            for h in range(cap):
                used[h] = 0
            for i in range(n_big):
                h = <Py_ssize_t>(_mix(les[big[i]]) & <uint64_t>(cap - 1))
                while used[h] and keys[h] != les[big[i]]:
                    h = (h + 1) & (cap - 1)
                if not used[h]:
                    used[h] = 1
                    keys[h] = les[big[i]]
                    big[m] = big[i]
                    m += 1
        else:
            m = n_big
        rows = np.empty(m, dtype=np.intp)
        ones = np.empty(m, dtype=np.float64)
        metastasis = np.empty(m, dtype=np.float64)
        r = <Py_ssize_t *>_data(rows, cnp.NPY_INTP, m, "rows")
        o = <double *>_data(ones, cnp.NPY_DOUBLE, m, "ones")
        mt = <double *>_data(metastasis, cnp.NPY_DOUBLE, m, "metastasis")
        for i in range(m):
            r[i] = big[i]
            o[i] = 1.0
            mt[i] = 0.0 if pri[big[i]] else 1.0
    finally:
        free(big)
        free(keys)
        free(used)
    return rows, ones, metastasis


def outcome_update(counts, by_organ, Py_ssize_t lymph, alive, detectable_lesions,
                   first_metastasis, first_distant, burden, double lethal, double t_end,
                   dying):
    """The second half of ``outcome.paget_outcome``, per patient, in place.

    ``counts`` and ``by_organ`` (float64, (P, n_organs)): the detectable lesions
    and metastases per (patient, organ); ``lymph``: the regional nodes' organ
    index.  For each ``alive`` patient: ``detectable_lesions`` (int64, (P,
    n_organs)) = ``counts``; the first time of a metastasis (any; outside the
    regional nodes) set to ``t_end`` where there is one now and it is NaN;
    ``dying`` |= ``burden >= lethal``.  The metastases' sums over organs are of
    whole numbers, exact in any order, as NumPy's.
    """
    cdef Py_ssize_t P = _size(alive, "alive"), p, j, O
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *cn
    cdef const double *bo
    cdef int64_t *dl
    cdef double *fm = <double *>_data(first_metastasis, cnp.NPY_DOUBLE, P, "first_metastasis")
    cdef double *fd = <double *>_data(first_distant, cnp.NPY_DOUBLE, P, "first_distant")
    cdef const double *bu = <const double *>_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef cnp.npy_bool *dy = <cnp.npy_bool *>_data(dying, cnp.NPY_BOOL, P, "dying")
    cdef double met, distant
    O = _size(counts, "counts") // P if P else 0
    if O * P != _size(counts, "counts"):
        raise ValueError(f"counts: expected (P = {P}, n_organs) values, got {_size(counts, 'counts')}")
    if not 0 <= lymph < O and P:
        raise IndexError(f"outcome_update: lymph node organ {lymph} outside [0, {O})")
    cn = <const double *>_data(counts, cnp.NPY_DOUBLE, P * O, "counts")
    bo = <const double *>_data(by_organ, cnp.NPY_DOUBLE, P * O, "by_organ")
    dl = <int64_t *>_data(detectable_lesions, cnp.NPY_INT64, P * O, "detectable_lesions")
    for p in range(P):
        if not al[p]:
            continue
        met = 0.0
        for j in range(O):
            dl[p * O + j] = <int64_t>cn[p * O + j]
            met = met + bo[p * O + j]
        distant = met - bo[p * O + lymph]
        if met > 0 and fm[p] != fm[p]:
            fm[p] = t_end
        if distant > 0 and fd[p] != fd[p]:
            fd[p] = t_end
        if bu[p] >= lethal:
            dy[p] = 1


# --------------------------------------------------------------------------
# shared: the growing rows' cells

def growing_cells(dormant, cells, primary=None):
    """``np.where(dormant, 0.0, cells)`` (new float64 array); with ``primary``,
    ``np.where(~dormant & primary, cells, 0.0)``."""
    cdef Py_ssize_t N = _size(cells, "cells"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const cnp.npy_bool *pri = NULL
    cdef cnp.ndarray out = np.empty(N, dtype=np.float64)
    cdef double *o = <double *>_data(out, cnp.NPY_DOUBLE, N, "out")
    if primary is not None:
        pri = <const cnp.npy_bool *>_data(primary, cnp.NPY_BOOL, N, "primary")
    for i in range(N):
        o[i] = 0.0 if dor[i] or (pri != NULL and not pri[i]) else c[i]
    return out


# --------------------------------------------------------------------------
# supportive

def supportive_update(per_organ, Py_ssize_t brain, Py_ssize_t liver, Py_ssize_t bone, burden,
                      alive, double load_cells, double organ_cells, double w_brain,
                      double w_liver, double w_bone, double skeletal_event_rate, double dt,
                      bint bone_agent, double bone_agent_factor, symptom_burden,
                      performance_status):
    """``supportive.paget_update_state`` but for the skeletal events' draws.

    ``per_organ`` (float64, (P, n_organs)): growing tumour cells per (patient,
    organ).  Per patient: the symptom burden ``max(0, log10(max(burden, 1) /
    load_cells))`` plus each of brain, liver and bone's weight where its organ
    holds ``organ_cells`` or more, and the performance status ``min(4,
    floor(score))``, both written for the ``alive`` patients.  Returns the
    skeletal events' mean per patient, ``rate * bone / 1e9 * dt`` (x the bone
    agent's factor), float64 (P,).
    """
    cdef Py_ssize_t P = _size(alive, "alive"), p, O
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *bu = <const double *>_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef double *sb = <double *>_data(symptom_burden, cnp.NPY_DOUBLE, P, "symptom_burden")
    cdef int64_t *ps = <int64_t *>_data(performance_status, cnp.NPY_INT64, P,
                                        "performance_status")
    cdef const double *po
    cdef cnp.ndarray rate = np.empty(P, dtype=np.float64)
    cdef double *r = <double *>_data(rate, cnp.NPY_DOUBLE, P, "rate")
    cdef double *score
    cdef double s
    O = _size(per_organ, "per_organ") // P if P else 0
    if O * P != _size(per_organ, "per_organ"):
        raise ValueError(f"per_organ: expected (P = {P}, n_organs) values, got "
                         f"{_size(per_organ, 'per_organ')}")
    for name, k in (("brain", brain), ("liver", liver), ("bone", bone)):
        if P and not 0 <= k < O:
            raise IndexError(f"supportive_update: {name} organ {k} outside [0, {O})")
    po = <const double *>_data(per_organ, cnp.NPY_DOUBLE, P * O, "per_organ")
    if P == 0:
        return rate
    score = <double *>malloc(P * sizeof(double))
    if score == NULL:
        raise MemoryError()
    try:
        for p in range(P):
            score[p] = np_max(bu[p], 1.0) / load_cells
        vec(LOG10, score, score, P)
        for p in range(P):
            s = np_max(0.0, score[p])
            s = s + w_brain * (1.0 if po[p * O + brain] >= organ_cells else 0.0)
            s = s + w_liver * (1.0 if po[p * O + liver] >= organ_cells else 0.0)
            s = s + w_bone * (1.0 if po[p * O + bone] >= organ_cells else 0.0)
            r[p] = skeletal_event_rate * po[p * O + bone] / 1e9 * dt
            if bone_agent:
                r[p] = r[p] * bone_agent_factor
            if al[p]:
                sb[p] = s
                ps[p] = <int64_t>np_min(4.0, floor(s))
    finally:
        free(score)
    return rate


def add_where(mask, values, out):
    """``out[mask] += values[mask]`` for int64 ``values`` and ``out``."""
    cdef Py_ssize_t P = _size(mask, "mask"), p
    cdef const cnp.npy_bool *m = <const cnp.npy_bool *>_data(mask, cnp.NPY_BOOL, P, "mask")
    cdef const int64_t *v = <const int64_t *>_data(values, cnp.NPY_INT64, P, "values")
    cdef int64_t *o = <int64_t *>_data(out, cnp.NPY_INT64, P, "out")
    for p in range(P):
        if m[p]:
            o[p] += v[p]


# --------------------------------------------------------------------------
# microenvironment

def hypoxia_rows(dormant, lesion_cells, vascular, double diffusion_limit_mm,
                 double sphere, double vascular_hypoxia, out):
    """``microenvironment.hypoxia_index``, written into ``out`` (float64, per row).

    Dormant rows 0; each growing row the hypoxic fraction of a sphere of its
    lesion's cells (``microenvironment.hypoxic_fraction``: radius ``cbrt(3 cells /
    sphere)``, ``sphere`` = 4 pi x cells per mm^3 as that function computes it) times
    ``vascular_hypoxia`` where its lesion is vascular (``vascular`` bool per
    row, or None: all vascular), else 1.
    """
    cdef Py_ssize_t N = _size(dormant, "dormant"), i, m = 0, j
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *lc = <const double *>_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const cnp.npy_bool *vas = NULL
    cdef double *o = <double *>_data(out, cnp.NPY_DOUBLE, N, "out")
    cdef double *x
    cdef Py_ssize_t *rows
    cdef double core, level
    if vascular is not None:
        vas = <const cnp.npy_bool *>_data(vascular, cnp.NPY_BOOL, N, "vascular")
    if N == 0:
        return
    x = <double *>malloc(N * sizeof(double))
    rows = <Py_ssize_t *>malloc(N * sizeof(Py_ssize_t))
    if x == NULL or rows == NULL:
        free(x)
        free(rows)
        raise MemoryError()
    try:
        for i in range(N):
            o[i] = 0.0
            if not dor[i]:
                rows[m] = i
                x[m] = 3.0 * lc[i] / sphere
                m += 1
        vec(CBRT, x, x, m)                          # the radius, mm
        j = 0
        for i in range(m):
            # core = clip(1 - L / radius, 0, 1), 1 - 1 = 0 where the radius is 0
            core = 1.0 - (diffusion_limit_mm / x[i] if x[i] > 0 else 1.0)
            core = np_min(np_max(core, 0.0), 1.0)
            x[i] = core
            if core > 0:                             # the cube only where there is a core
                rows[j], rows[i] = rows[i], rows[j]
                x[j], x[i] = x[i], x[j]
                j += 1
        vec_scalar(POWER, x, 3.0, x, j)
        for i in range(m):
            level = vascular_hypoxia if vas == NULL or vas[rows[i]] else 1.0
            o[rows[i]] = (x[i] if i < j else 0.0) * level
    finally:
        free(x)
        free(rows)


def inflammation_update(burden, double half_burden, alive, inflammation):
    """``inflammation[alive] = (burden / (burden + half_burden))[alive]``."""
    cdef Py_ssize_t P = _size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *bu = <const double *>_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef double *inf = <double *>_data(inflammation, cnp.NPY_DOUBLE, P, "inflammation")
    for p in range(P):
        if al[p]:
            inf[p] = bu[p] / (bu[p] + half_burden)


def niche_update(niche, primary_cells, weight, double half_size, double build, double decay,
                 double dt, alive):
    """``microenvironment.niche_step`` for the ``alive`` patients, in place in
    ``niche`` (float64, (P, n_organs)): the signal ``primary / (primary +
    half_size)`` and the exact step of dn/dt = build S w (1 - n) - decay n."""
    cdef Py_ssize_t P = _size(alive, "alive"), p, j, O = _size(weight, "weight"), q
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *pc = <const double *>_data(primary_cells, cnp.NPY_DOUBLE, P, "primary_cells")
    cdef const double *w = <const double *>_data(weight, cnp.NPY_DOUBLE, O, "weight")
    cdef double *n = <double *>_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    cdef double *e
    cdef double *target
    cdef double signal, a, k
    if P * O == 0:
        return
    e = <double *>malloc(2 * P * O * sizeof(double))
    if e == NULL:
        raise MemoryError()
    target = e + P * O
    try:
        for p in range(P):
            signal = pc[p] / (pc[p] + half_size)
            for j in range(O):
                q = p * O + j
                a = build * signal * w[j]
                k = a + decay
                target[q] = a / k if k > 0 else 0.0
                e[q] = (-k) * dt
        vec(EXP, e, e, P * O)
        for p in range(P):
            if al[p]:
                for j in range(O):
                    q = p * O + j
                    n[q] = target[q] + (n[q] - target[q]) * e[q]
    finally:
        free(e)


def niche_extravasation(pidx, niche, inflammation, double niche_gain,
                        double inflammation_gain, probability):
    """``microenvironment.paget_extravasation``, in place: ``probability`` (float64,
    (m, n_organs)) = ``min(probability x (1 + niche_gain niche[pidx]) x (1 +
    inflammation_gain inflammation[pidx]), 1)``."""
    cdef Py_ssize_t m = _size(pidx, "pidx"), i, j, p, O, P = _size(inflammation, "inflammation")
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, m, "pidx")
    cdef const double *inf = <const double *>_data(inflammation, cnp.NPY_DOUBLE, P, "inflammation")
    cdef const double *n
    cdef double *pr
    cdef double f
    if m == 0:
        return
    O = _size(probability, "probability") // m
    if O * m != _size(probability, "probability"):
        raise ValueError("probability: expected (m, n_organs) values")
    n = <const double *>_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    pr = <double *>_data(probability, cnp.NPY_DOUBLE, m * O, "probability")
    for i in range(m):
        p = pi[i]
        if p < 0 or p >= P:
            raise IndexError(f"niche_extravasation: patient index {p} outside [0, {P})")
        f = 1.0 + inflammation_gain * inf[p]
        for j in range(O):
            pr[i * O + j] = np_min(pr[i * O + j] * ((1.0 + niche_gain * n[p * O + j]) * f), 1.0)


# --------------------------------------------------------------------------
# colonization's fates

def fill_fates(fates, die, double dormant, grow):
    """``colonization.paget_dtc_fate``: ``fates[..., 0] = die[organ]``, ``fates[...,
    1] = dormant``, ``fates[..., 2] = grow[organ]`` for ``fates`` (float64, (m,
    n_organs, 3)) and ``die``, ``grow`` (float64, (n_organs,))."""
    cdef Py_ssize_t O = _size(die, "die"), n = _size(fates, "fates"), i, j
    cdef const double *d = <const double *>_data(die, cnp.NPY_DOUBLE, O, "die")
    cdef const double *g = <const double *>_data(grow, cnp.NPY_DOUBLE, O, "grow")
    cdef double *f = <double *>_data(fates, cnp.NPY_DOUBLE, n, "fates")
    if O == 0 or n % (3 * O):
        if n == 0:
            return
        raise ValueError(f"fill_fates: fates must be (m, {O}, 3), got {np.shape(fates)}")
    for i in range(0, n, 3 * O):
        for j in range(O):
            f[i + 3 * j] = d[j]
            f[i + 3 * j + 1] = dormant
            f[i + 3 * j + 2] = g[j]


# --------------------------------------------------------------------------
# genetics

def genetics_traits(genotype, uint64_t initial, bits, start, trait, factor, fraction, outs):
    """``genetics._fill_traits`` of the effective genotypes ``genotype | initial``.

    The catalogue's effects flattened: alteration ``e`` (bit ``bits[e]``)
    multiplies trait ``trait[c]`` by ``factor[c]`` for ``c`` in ``start[e] ..
    start[e + 1]``; each row's traits start at 1 and take the factors of its
    bits in that order; the traits flagged in ``fraction`` (bool per trait) end
    as ``1 - value``.  ``outs``: one float64 array per trait, one value per row.
    """
    cdef Py_ssize_t N = _size(genotype, "genotype"), E = _size(bits, "bits"), T = len(outs)
    cdef Py_ssize_t i, e, c, t
    cdef const uint64_t *gen = <const uint64_t *>_data(genotype, cnp.NPY_UINT64, N, "genotype")
    cdef const uint64_t *b = <const uint64_t *>_data(bits, cnp.NPY_UINT64, E, "bits")
    cdef const int64_t *st = <const int64_t *>_data(start, cnp.NPY_INT64, E + 1, "start")
    cdef Py_ssize_t C = _size(trait, "trait")
    cdef const int64_t *tr = <const int64_t *>_data(trait, cnp.NPY_INT64, C, "trait")
    cdef const double *fa = <const double *>_data(factor, cnp.NPY_DOUBLE, C, "factor")
    cdef const cnp.npy_bool *fr = <const cnp.npy_bool *>_data(fraction, cnp.NPY_BOOL, T, "fraction")
    cdef double **out
    cdef double v[64]
    cdef uint64_t eff
    cdef double w
    # the traits of the genotypes met so far, direct-mapped by a hash of the
    # genotype (most rows share a few genotypes: one before the first mutation)
    cdef uint64_t *memo_key
    cdef double *memo
    cdef cnp.npy_bool *memo_used
    cdef Py_ssize_t h, n_memo = 256
    cdef uint64_t first_eff
    cdef bint alike = True
    cdef const double *m
    if T > 64:
        raise ValueError(f"genetics_traits: at most 64 traits, got {T}")
    for e in range(E):
        if st[e] > st[e + 1] or st[e] < 0 or st[e + 1] > C:
            raise ValueError("genetics_traits: start must rise within the changes")
    for c in range(C):
        if tr[c] < 0 or tr[c] >= T:
            raise IndexError(f"genetics_traits: trait {tr[c]} outside [0, {T})")
    out = <double **>malloc((T if T else 1) * sizeof(double *))
    memo_key = <uint64_t *>malloc(n_memo * sizeof(uint64_t))
    memo = <double *>malloc(n_memo * (T if T else 1) * sizeof(double))
    memo_used = <cnp.npy_bool *>malloc(n_memo * sizeof(cnp.npy_bool))
    try:
        if out == NULL or memo_key == NULL or memo == NULL or memo_used == NULL:
            raise MemoryError()
        for h in range(n_memo):
            memo_used[h] = 0
        for t in range(T):
            out[t] = <double *>_data(outs[t], cnp.NPY_DOUBLE, N, f"outs[{t}]")
        if N == 0:
            return
        first_eff = gen[0] | initial
        for i in range(N):
            if (gen[i] | initial) != first_eff:
                alike = False
                break
        for i in range(N):
            eff = gen[i] | initial
            h = <Py_ssize_t>(_mix(eff) & <uint64_t>(n_memo - 1))
            if not memo_used[h] or memo_key[h] != eff:
                for t in range(T):
                    v[t] = 1.0
                for e in range(E):
                    if eff & b[e]:
                        for c in range(st[e], st[e + 1]):
                            v[tr[c]] = v[tr[c]] * fa[c]
                for t in range(T):
                    memo[h * T + t] = 1.0 - v[t] if fr[t] else v[t]
                memo_key[h] = eff
                memo_used[h] = 1
            m = memo + h * T
            if alike:       # one genotype (always so before the first mutation): fills
                for t in range(T):
                    w = m[t]
                    for e in range(N):
                        out[t][e] = w
                break
            for t in range(T):
                out[t][i] = m[t]
    finally:
        free(out)
        free(memo_key)
        free(memo)
        free(memo_used)


# --------------------------------------------------------------------------
# imaging

def scan_due(double t, start, double interval, double dt, alive):
    """``alive & imaging._on_schedule(t, start, interval, dt)`` (bool (P,)), or None
    where no patient has a visit in [t, t + dt).  ``start`` float64 (P,), NaN
    where no schedule has begun."""
    cdef Py_ssize_t P = _size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *s = <const double *>_data(start, cnp.NPY_DOUBLE, P, "start")
    cdef cnp.ndarray out = np.zeros(P, dtype=np.bool_)
    cdef cnp.npy_bool *o = <cnp.npy_bool *>_data(out, cnp.NPY_BOOL, P, "out")
    cdef double since, k, visit, hi = t + dt - 1e-9, lo = t - 1e-9
    cdef bint any_due = False
    for p in range(P):
        if not al[p]:
            continue
        since = t - s[p]
        if interval <= 0:
            o[p] = since >= 0 and since < dt
        else:
            k = ceil(np_max(since, 0.0) / interval - 1e-9)
            visit = s[p] + k * interval
            o[p] = since >= -1e-9 and visit < hi and visit >= lo
        any_due = any_due or o[p]
    return out if any_due else None


def any_nan_where(values, mask):
    """``(np.isnan(values) & mask).any()``."""
    cdef Py_ssize_t P = _size(mask, "mask"), p
    cdef const cnp.npy_bool *m = <const cnp.npy_bool *>_data(mask, cnp.NPY_BOOL, P, "mask")
    cdef const double *v = <const double *>_data(values, cnp.NPY_DOUBLE, P, "values")
    for p in range(P):
        if m[p] and v[p] != v[p]:
            return True
    return False


# --------------------------------------------------------------------------
# liquid_biopsy

def ctc_means(shed, double dt, double half_life_days, double ln2, double blood_volume,
              double draw_volume):
    """``liquid_biopsy.ctc_concentration(shed / dt, cfg)`` and that times the draw's
    volume: (concentration per mL, mean CTCs in a draw), float64 (P,) each.
    ``shed``: CTCs shed in the step per patient, int64 (as the engine keeps
    them) or float64."""
    cdef Py_ssize_t P = _size(shed, "shed"), p
    cdef bint whole = cnp.PyArray_Check(shed) and cnp.PyArray_TYPE(<cnp.ndarray>shed) == cnp.NPY_INT64
    cdef const int64_t *si = <const int64_t *>_data(shed, cnp.NPY_INT64, P, "shed") if whole else NULL
    cdef const double *s = NULL if whole else <const double *>_data(shed, cnp.NPY_DOUBLE, P, "shed")
    cdef cnp.ndarray conc = np.empty(P, dtype=np.float64)
    cdef cnp.ndarray mean = np.empty(P, dtype=np.float64)
    cdef double *c = <double *>_data(conc, cnp.NPY_DOUBLE, P, "conc")
    cdef double *m = <double *>_data(mean, cnp.NPY_DOUBLE, P, "mean")
    for p in range(P):
        c[p] = (<double>si[p] if whole else s[p]) / dt * half_life_days / ln2 / blood_volume
        m[p] = c[p] * draw_volume
    return conc, mean


def liquid_biopsy_write(alive, conc, count, int64_t positive_threshold, ctc_blood,
                        ctc_per_7_5ml, ctc_positive):
    """The CTC readouts of the ``alive`` patients, in place: ``ctc_blood = conc``,
    ``ctc_per_7_5ml = count``, ``ctc_positive = count >= positive_threshold``."""
    cdef Py_ssize_t P = _size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *c = <const double *>_data(conc, cnp.NPY_DOUBLE, P, "conc")
    cdef const int64_t *n = <const int64_t *>_data(count, cnp.NPY_INT64, P, "count")
    cdef double *cb = <double *>_data(ctc_blood, cnp.NPY_DOUBLE, P, "ctc_blood")
    cdef int64_t *cp = <int64_t *>_data(ctc_per_7_5ml, cnp.NPY_INT64, P, "ctc_per_7_5ml")
    cdef cnp.npy_bool *pos = <cnp.npy_bool *>_data(ctc_positive, cnp.NPY_BOOL, P, "ctc_positive")
    for p in range(P):
        if al[p]:
            cb[p] = c[p]
            cp[p] = n[p]
            pos[p] = n[p] >= positive_threshold


def ctdna_biomarker(alive, cell_death, double release, double half_life_days, double ln2,
                    double plasma_volume, double normal_cfdna, z, double baseline,
                    double per_cell, burden, double cv, double half_cv2, ctdna_fraction,
                    biomarker):
    """``liquid_biopsy``'s ctDNA fraction and serum marker, written for the
    ``alive`` patients: ``tumour = cell_death x release x half_life_days / ln2 /
    plasma_volume``, fraction ``tumour / (tumour + normal_cfdna)``; marker
    ``(baseline + per_cell x burden) x exp(cv z - half_cv2)`` with ``z`` the
    normal deviates and ``half_cv2`` = ``0.5 cv**2``."""
    cdef Py_ssize_t P = _size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *cd = <const double *>_data(cell_death, cnp.NPY_DOUBLE, P, "cell_death")
    cdef const double *zz = <const double *>_data(z, cnp.NPY_DOUBLE, P, "z")
    cdef const double *bu = <const double *>_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef double *fr = <double *>_data(ctdna_fraction, cnp.NPY_DOUBLE, P, "ctdna_fraction")
    cdef double *bm = <double *>_data(biomarker, cnp.NPY_DOUBLE, P, "biomarker")
    cdef double *e
    cdef double tumour
    if P == 0:
        return
    e = <double *>malloc(P * sizeof(double))
    if e == NULL:
        raise MemoryError()
    try:
        for p in range(P):
            e[p] = cv * zz[p] - half_cv2
        vec(EXP, e, e, P)
        for p in range(P):
            if al[p]:
                tumour = cd[p] * release * half_life_days / ln2 / plasma_volume
                fr[p] = tumour / (tumour + normal_cfdna)
                bm[p] = (baseline + per_cell * bu[p]) * e[p]
    finally:
        free(e)


def imaging_scan_terms(dormant, cells, lesion_cells, lesion, primary, organ, pidx, thresholds,
                       scan, Py_ssize_t lymph, double diameter_scale):
    """The per-lesion terms of ``imaging.paget_update_state``'s scan.

    One term per lesion with growing rows (not dormant, cells > 0), at its first
    such row (in row order; ``imaging.lesion_totals`` lists them by lesion id,
    and the patient sums they feed are exact in any order): its size is
    ``lesion_cells`` there; ``seen`` where the size reaches its organ's
    ``thresholds`` and its patient is in ``scan``.  Returns ``(rows, seen,
    diameter, metastasis, distant)``: rows (intp), then float64 0/1 flags and
    the diameter ``cbrt(6 size / diameter_scale)`` mm of the seen lesions (0
    for the others); ``diameter_scale`` = pi x cells per mm^3.  ``lymph``: the
    regional nodes' organ.
    """
    cdef Py_ssize_t N = _size(cells, "cells"), P = _size(scan, "scan")
    cdef Py_ssize_t O = _size(thresholds, "thresholds"), i, j, m = 0, cap, h, q
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *lc = <const double *>_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const uint64_t *les = <const uint64_t *>_data(lesion, cnp.NPY_UINT64, N, "lesion")
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const int16_t *org = <const int16_t *>_data(organ, cnp.NPY_INT16, N, "organ")
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *thr = <const double *>_data(thresholds, cnp.NPY_DOUBLE, O, "thresholds")
    cdef const cnp.npy_bool *sc = <const cnp.npy_bool *>_data(scan, cnp.NPY_BOOL, P, "scan")
    cdef Py_ssize_t *first = <Py_ssize_t *>malloc((N if N else 1) * sizeof(Py_ssize_t))
    cdef double *x = <double *>malloc((N if N else 1) * sizeof(double))
    cdef Py_ssize_t *which = <Py_ssize_t *>malloc((N if N else 1) * sizeof(Py_ssize_t))
    cdef uint64_t *keys = NULL
    cdef cnp.npy_bool *used = NULL
    cdef cnp.ndarray rows, seen, diameter, metastasis, distant
    cdef Py_ssize_t *r
    cdef double *se
    cdef double *di
    cdef double *mt
    cdef double *ds
    cdef bint s
    try:
        if first == NULL or x == NULL or which == NULL:
            raise MemoryError()
        cap = 16
        while cap < 2 * N:
            cap *= 2
        keys = <uint64_t *>malloc(cap * sizeof(uint64_t))
        used = <cnp.npy_bool *>malloc(cap * sizeof(cnp.npy_bool))
        if keys == NULL or used == NULL:
            raise MemoryError()
        for h in range(cap):
            used[h] = 0
        for i in range(N):
            if dor[i] or not (c[i] > 0):
                continue
            h = <Py_ssize_t>(_mix(les[i]) & <uint64_t>(cap - 1))
            while used[h] and keys[h] != les[i]:
                h = (h + 1) & (cap - 1)
            if not used[h]:
                used[h] = 1
                keys[h] = les[i]
                first[m] = i
                m += 1
        rows = np.empty(m, dtype=np.intp)
        seen = np.empty(m, dtype=np.float64)
        diameter = np.empty(m, dtype=np.float64)
        metastasis = np.empty(m, dtype=np.float64)
        distant = np.empty(m, dtype=np.float64)
        r = <Py_ssize_t *>_data(rows, cnp.NPY_INTP, m, "rows")
        se = <double *>_data(seen, cnp.NPY_DOUBLE, m, "seen")
        di = <double *>_data(diameter, cnp.NPY_DOUBLE, m, "diameter")
        mt = <double *>_data(metastasis, cnp.NPY_DOUBLE, m, "metastasis")
        ds = <double *>_data(distant, cnp.NPY_DOUBLE, m, "distant")
        q = 0
        for j in range(m):
            i = first[j]
            if org[i] < 0 or org[i] >= O:
                raise IndexError(f"imaging_scan_terms: organ {org[i]} of row {i} outside [0, {O})")
            if pi[i] < 0 or pi[i] >= P:
                raise IndexError(f"imaging_scan_terms: patient index {pi[i]} of row {i} "
                                 f"outside [0, {P})")
            r[j] = i
            s = lc[i] >= thr[org[i]] and sc[pi[i]]
            se[j] = 1.0 if s else 0.0
            mt[j] = 1.0 if s and not pri[i] else 0.0
            ds[j] = 1.0 if s and not pri[i] and org[i] != lymph else 0.0
            di[j] = 0.0
            if s:
                x[q] = 6.0 * lc[i] / diameter_scale
                which[q] = j
                q += 1
        vec(CBRT, x, x, q)
        for j in range(q):
            di[which[j]] = x[j]
    finally:
        free(first)
        free(x)
        free(which)
        free(keys)
        free(used)
    return rows, seen, diameter, metastasis, distant


def imaging_write(scan, counts, diameter_sum, metastases, distant, double t, imaged_lesions,
                  imaged_diameter_sum, last_scan_time, first_detected, first_detected_distant):
    """The scan's readouts, in place: for the ``scan`` patients ``imaged_lesions``
    (int64, (P, n_organs)) = ``counts``, ``imaged_diameter_sum`` = ``diameter_sum``,
    ``last_scan_time`` = ``t``; for every patient with ``metastases`` (``distant``)
    > 0 and no first time yet, ``first_detected`` (``first_detected_distant``) = ``t``."""
    cdef Py_ssize_t P = _size(scan, "scan"), p, j, O
    cdef const cnp.npy_bool *sc = <const cnp.npy_bool *>_data(scan, cnp.NPY_BOOL, P, "scan")
    cdef const double *cn
    cdef const double *dsum = <const double *>_data(diameter_sum, cnp.NPY_DOUBLE, P, "diameter_sum")
    cdef const double *ms = <const double *>_data(metastases, cnp.NPY_DOUBLE, P, "metastases")
    cdef const double *dt_ = <const double *>_data(distant, cnp.NPY_DOUBLE, P, "distant")
    cdef int64_t *il
    cdef double *ids = <double *>_data(imaged_diameter_sum, cnp.NPY_DOUBLE, P, "imaged_diameter_sum")
    cdef double *ls = <double *>_data(last_scan_time, cnp.NPY_DOUBLE, P, "last_scan_time")
    cdef double *fd = <double *>_data(first_detected, cnp.NPY_DOUBLE, P, "first_detected")
    cdef double *fdd = <double *>_data(first_detected_distant, cnp.NPY_DOUBLE, P,
                                       "first_detected_distant")
    O = _size(counts, "counts") // P if P else 0
    if O * P != _size(counts, "counts"):
        raise ValueError("counts: expected (P, n_organs) values")
    cn = <const double *>_data(counts, cnp.NPY_DOUBLE, P * O, "counts")
    il = <int64_t *>_data(imaged_lesions, cnp.NPY_INT64, P * O, "imaged_lesions")
    for p in range(P):
        if sc[p]:
            for j in range(O):
                il[p * O + j] = <int64_t>cn[p * O + j]
            ids[p] = dsum[p]
            ls[p] = t
        if ms[p] > 0 and fd[p] != fd[p]:
            fd[p] = t
        if dt_[p] > 0 and fdd[p] != fdd[p]:
            fdd[p] = t


# --------------------------------------------------------------------------
# intravasation, transcoelomic, invasion

def shed_terms(dormant, primary, cells, invasive, bint metastases_shed, bint single_clone,
               double m, double exponent, shed):
    """``intravasation.paget_intravasation``'s shedding rate, its first part.

    ``n = cells x invasive`` on the shedding rows (not dormant; the primary's
    alone without ``metastases_shed``), 0 elsewhere.  With ``single_clone``
    writes ``shed = m n**exponent`` (0 where n is 0) and returns None; else
    returns ``n`` (float64, new), whose lesion sums :func:`shed_scale` takes.
    """
    cdef Py_ssize_t N = _size(cells, "cells"), i, k = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *inv = <const double *>_data(invasive, cnp.NPY_DOUBLE, N, "invasive")
    cdef double *sh = <double *>_data(shed, cnp.NPY_DOUBLE, N, "shed")
    cdef cnp.ndarray n_arr
    cdef double *n
    cdef double *x
    cdef Py_ssize_t *rows
    if not single_clone:
        n_arr = np.empty(N, dtype=np.float64)
        n = <double *>_data(n_arr, cnp.NPY_DOUBLE, N, "n")
        for i in range(N):
            n[i] = c[i] * inv[i] if not dor[i] and (metastases_shed or pri[i]) else 0.0
        return n_arr
    if N == 0:
        return None
    x = <double *>malloc(N * sizeof(double))
    rows = <Py_ssize_t *>malloc(N * sizeof(Py_ssize_t))
    try:
        if x == NULL or rows == NULL:
            raise MemoryError()
        for i in range(N):
            if not dor[i] and (metastases_shed or pri[i]):
                x[k] = c[i] * inv[i]
                if x[k] > 0:            # the power only where n > 0 (else 0)
                    rows[k] = i
                    k += 1
        vec_scalar(POWER, x, exponent, x, k)
        for i in range(N):
            sh[i] = m * 0.0
        for i in range(k):
            sh[rows[i]] = m * x[i]
    finally:
        free(x)
        free(rows)
    return None


def shed_scale(n, total, double m, double exponent_minus_1, shed):
    """``shed = m n scale`` with ``scale = total**(exponent - 1)`` where ``total``
    (the lesion's sum of ``n``) > 0, else 0: the lesions of several clones."""
    cdef Py_ssize_t N = _size(n, "n"), i, k = 0
    cdef const double *nn = <const double *>_data(n, cnp.NPY_DOUBLE, N, "n")
    cdef const double *tt = <const double *>_data(total, cnp.NPY_DOUBLE, N, "total")
    cdef double *sh = <double *>_data(shed, cnp.NPY_DOUBLE, N, "shed")
    cdef double *x
    cdef Py_ssize_t *rows
    if N == 0:
        return
    x = <double *>malloc(N * sizeof(double))
    rows = <Py_ssize_t *>malloc(N * sizeof(Py_ssize_t))
    try:
        if x == NULL or rows == NULL:
            raise MemoryError()
        for i in range(N):
            if tt[i] > 0:
                x[k] = tt[i]
                rows[k] = i
                k += 1
        vec_scalar(POWER, x, exponent_minus_1, x, k)
        for i in range(N):
            sh[i] = m * nn[i] * 0.0
        for i in range(k):
            sh[rows[i]] = m * nn[rows[i]] * x[i]
    finally:
        free(x)
        free(rows)


def direct_shares(primary, dormant, organ, share, direct_fraction, lymph_fraction):
    """``transcoelomic.paget_intravasation``: on the primary's growing rows in an
    organ of a cavity (``share[organ]`` != 0), ``direct_fraction = d`` and
    ``lymph_fraction *= 1 - d``, in place."""
    cdef Py_ssize_t N = _size(primary, "primary"), O = _size(share, "share"), i
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const int16_t *org = <const int16_t *>_data(organ, cnp.NPY_INT16, N, "organ")
    cdef const double *sh = <const double *>_data(share, cnp.NPY_DOUBLE, O, "share")
    cdef double *df = <double *>_data(direct_fraction, cnp.NPY_DOUBLE, N, "direct_fraction")
    cdef double *lf = <double *>_data(lymph_fraction, cnp.NPY_DOUBLE, N, "lymph_fraction")
    cdef double d
    for i in range(N):
        if org[i] < 0 or org[i] >= O:
            raise IndexError(f"direct_shares: organ {org[i]} of row {i} outside [0, {O})")
        if pri[i] and not dor[i]:
            d = sh[org[i]]
            if d != 0:
                df[i] = d
                lf[i] = lf[i] * (1.0 - d)


def per_organ_rows(per_organ, organ, out):
    """``out[:] = per_organ[organ]`` (float64 per organ, int16 organ per row)."""
    cdef Py_ssize_t N = _size(organ, "organ"), O = _size(per_organ, "per_organ"), i
    cdef const double *po = <const double *>_data(per_organ, cnp.NPY_DOUBLE, O, "per_organ")
    cdef const int16_t *org = <const int16_t *>_data(organ, cnp.NPY_INT16, N, "organ")
    cdef double *o = <double *>_data(out, cnp.NPY_DOUBLE, N, "out")
    for i in range(N):
        if org[i] < 0 or org[i] >= O:
            raise IndexError(f"per_organ_rows: organ {org[i]} of row {i} outside [0, {O})")
        o[i] = po[org[i]]


# --------------------------------------------------------------------------
# immune, genetics' scaling hooks

cdef inline double _visibility(double competence, const double *ic, const int64_t *pi,
                               const double *ev, const int64_t *row, Py_ssize_t i) noexcept:
    """``immune.visibility`` of row ``i``."""
    cdef double v = competence * ic[pi[i]]
    if ev != NULL:
        v = v * (1.0 - ev[row[i]])
    return v


cdef int _check_index(const int64_t *a, Py_ssize_t n, Py_ssize_t hi, str name) except -1:
    cdef Py_ssize_t i
    for i in range(n):
        if a[i] < 0 or a[i] >= hi:
            raise IndexError(f"{name} {a[i]} at {i} outside [0, {hi})")
    return 0


def immune_ctc_survival(pidx, immune_competence, evasion, row, double competence,
                        double ctc_kill, ctc_survival):
    """``immune.paget_circulation``: ``ctc_survival *= max(1 - ctc_kill v, 0)`` with
    ``v`` the row's visibility (``evasion``: the lesion state ``immune_evasion``,
    indexed by ``row``, or None)."""
    cdef Py_ssize_t N = _size(pidx, "pidx"), P = _size(immune_competence, "immune_competence"), i
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *ic = <const double *>_data(immune_competence, cnp.NPY_DOUBLE, P,
                                                  "immune_competence")
    cdef const double *ev = NULL
    cdef const int64_t *rw = NULL
    cdef double *s = <double *>_data(ctc_survival, cnp.NPY_DOUBLE, N, "ctc_survival")
    _check_index(pi, N, P, "immune_ctc_survival: patient index")
    if evasion is not None:
        ev = <const double *>_data(evasion, cnp.NPY_DOUBLE, -1, "evasion")
        rw = <const int64_t *>_data(row, cnp.NPY_INT64, N, "row")
        _check_index(rw, N, _size(evasion, "evasion"), "immune_ctc_survival: row")
    for i in range(N):
        s[i] = s[i] * np_max(1.0 - ctc_kill * _visibility(competence, ic, pi, ev, rw, i), 0.0)


def immune_lesion_kill(dormant, cells, lesion_cells, pidx, immune_competence, evasion, row,
                       double competence, double lesion_kill, double half_size, death):
    """``immune.apply_lesion_kill``: on growing rows (not dormant, cells > 0) of
    visibility ``v`` > 0, ``death += lesion_kill v / (1 + lesion_cells /
    half_size)``, in place."""
    cdef Py_ssize_t N = _size(pidx, "pidx"), P = _size(immune_competence, "immune_competence"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *lc = <const double *>_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *ic = <const double *>_data(immune_competence, cnp.NPY_DOUBLE, P,
                                                  "immune_competence")
    cdef const double *ev = NULL
    cdef const int64_t *rw = NULL
    cdef double *d = <double *>_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef double v
    _check_index(pi, N, P, "immune_lesion_kill: patient index")
    if evasion is not None:
        ev = <const double *>_data(evasion, cnp.NPY_DOUBLE, -1, "evasion")
        rw = <const int64_t *>_data(row, cnp.NPY_INT64, N, "row")
        _check_index(rw, N, _size(evasion, "evasion"), "immune_lesion_kill: row")
    for i in range(N):
        if dor[i] or not (c[i] > 0):
            continue
        v = _visibility(competence, ic, pi, ev, rw, i)
        if v > 0:
            d[i] = d[i] + lesion_kill * v / (1.0 + lc[i] / half_size)


def genetics_extravasation(row, extravasation_factor, bone_tropism, Py_ssize_t bone,
                           probability):
    """``genetics.paget_extravasation``, in place on ``probability`` (float64, (m,
    n_organs)): times the source row's ``extravasation_factor``, the bone column
    times its ``bone_tropism`` too, then clipped to [0, 1]."""
    cdef Py_ssize_t m = _size(row, "row"), i, j, O, R = _size(extravasation_factor,
                                                              "extravasation_factor")
    cdef const int64_t *rw = <const int64_t *>_data(row, cnp.NPY_INT64, m, "row")
    cdef const double *ef = <const double *>_data(extravasation_factor, cnp.NPY_DOUBLE, R,
                                                  "extravasation_factor")
    cdef const double *bt = <const double *>_data(bone_tropism, cnp.NPY_DOUBLE, R, "bone_tropism")
    cdef double *pr
    cdef double x
    if m == 0:
        return
    O = _size(probability, "probability") // m
    if O * m != _size(probability, "probability") or not 0 <= bone < O:
        raise ValueError(f"genetics_extravasation: probability must be ({m}, n_organs) with "
                         f"bone ({bone}) among the organs")
    pr = <double *>_data(probability, cnp.NPY_DOUBLE, m * O, "probability")
    _check_index(rw, m, R, "genetics_extravasation: row")
    for i in range(m):
        for j in range(O):
            x = pr[i * O + j] * ef[rw[i]]
            if j == bone:
                x = x * bt[rw[i]]
            pr[i * O + j] = np_min(np_max(x, 0.0), 1.0)


# --------------------------------------------------------------------------
# the rate-scaling hooks: genetics, heterogeneity, angiogenesis, extravasation

def genetics_growth(dormant, cells, proliferation, double mutation_rate, mutation, birth,
                    death):
    """``genetics.paget_growth``, in place: growing rows (not dormant, cells > 0)
    get ``mutation = mutation_rate``, and where ``birth > death`` and their
    ``proliferation`` is not 1, ``birth = death + (birth - death) x
    proliferation``."""
    cdef Py_ssize_t N = _size(cells, "cells"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *p = <const double *>_data(proliferation, cnp.NPY_DOUBLE, N, "proliferation")
    cdef double *mu = <double *>_data(mutation, cnp.NPY_DOUBLE, N, "mutation")
    cdef double *b = <double *>_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>_data(death, cnp.NPY_DOUBLE, N, "death")
    for i in range(N):
        if dor[i] or not (c[i] > 0):
            continue
        mu[i] = mutation_rate
        if b[i] > d[i] and p[i] != 1.0:
            b[i] = d[i] + (b[i] - d[i]) * p[i]


def heterogeneity_growth(dormant, pidx, multiplier, birth, death):
    """``heterogeneity.paget_growth``, in place: on rows not dormant with ``birth >
    death`` and a patient ``multiplier`` (per patient, by ``pidx``) not 1,
    ``birth = death + (birth - death) x multiplier``."""
    cdef Py_ssize_t N = _size(pidx, "pidx"), P = _size(multiplier, "multiplier"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *m = <const double *>_data(multiplier, cnp.NPY_DOUBLE, P, "multiplier")
    cdef double *b = <double *>_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef double f
    _check_index(pi, N, P, "heterogeneity_growth: patient index")
    for i in range(N):
        f = m[pi[i]]
        if not dor[i] and b[i] > d[i] and f != 1.0:
            b[i] = d[i] + (b[i] - d[i]) * f


def scale_by_patient(pidx, multiplier, values):
    """``values[i] *= multiplier[pidx[i]]`` where that multiplier is not 1
    (``heterogeneity.paget_intravasation``'s shedding), in place."""
    cdef Py_ssize_t N = _size(pidx, "pidx"), P = _size(multiplier, "multiplier"), i
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *m = <const double *>_data(multiplier, cnp.NPY_DOUBLE, P, "multiplier")
    cdef double *v = <double *>_data(values, cnp.NPY_DOUBLE, N, "values")
    cdef double f
    _check_index(pi, N, P, "scale_by_patient: patient index")
    for i in range(N):
        f = m[pi[i]]
        if f != 1.0:
            v[i] = v[i] * f


def genetics_invasion(invasiveness, invasive):
    """``genetics.paget_invasion``: where any row's ``invasiveness`` is not 1,
    ``invasive = min(invasive x invasiveness, 1)`` on every row, in place."""
    cdef Py_ssize_t N = _size(invasive, "invasive"), i
    cdef const double *f = <const double *>_data(invasiveness, cnp.NPY_DOUBLE, N, "invasiveness")
    cdef double *v = <double *>_data(invasive, cnp.NPY_DOUBLE, N, "invasive")
    cdef bint any_ = False
    for i in range(N):
        if f[i] != 1.0:
            any_ = True
            break
    if any_:
        for i in range(N):
            v[i] = np_min(v[i] * f[i], 1.0)


def multiply_at(factor, row, values):
    """``values *= factor[row]`` (``genetics.paget_circulation``), in place."""
    cdef Py_ssize_t N = _size(row, "row"), R = _size(factor, "factor"), i
    cdef const double *f = <const double *>_data(factor, cnp.NPY_DOUBLE, R, "factor")
    cdef const int64_t *rw = <const int64_t *>_data(row, cnp.NPY_INT64, N, "row")
    cdef double *v = <double *>_data(values, cnp.NPY_DOUBLE, N, "values")
    _check_index(rw, N, R, "multiply_at: row")
    for i in range(N):
        v[i] = v[i] * f[rw[i]]


def avascular_cap(dormant, cells, lesion_cells, vascular, double cap, double dt, birth, death):
    """``angiogenesis.apply_cap``, in place: on growing rows (not dormant, cells >
    0) not ``vascular``, ``death = max(death, birth - room)`` with ``room =
    max(log(cap / lesion_cells) / dt, 0)``."""
    cdef Py_ssize_t N = _size(cells, "cells"), i, k = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *lc = <const double *>_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const cnp.npy_bool *vas = <const cnp.npy_bool *>_data(vascular, cnp.NPY_BOOL, N, "vascular")
    cdef const double *b = <const double *>_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef double *x
    cdef Py_ssize_t *rows
    if N == 0:
        return
    x = <double *>malloc(N * sizeof(double))
    rows = <Py_ssize_t *>malloc(N * sizeof(Py_ssize_t))
    try:
        if x == NULL or rows == NULL:
            raise MemoryError()
        for i in range(N):
            if not dor[i] and c[i] > 0 and not vas[i]:
                x[k] = cap / lc[i]
                rows[k] = i
                k += 1
        vec(LOG, x, x, k)
        for i in range(k):
            d[rows[i]] = np_max(d[rows[i]], b[rows[i]] - np_max(x[i] / dt, 0.0))
    finally:
        free(x)
        free(rows)


def divide_where_not(mask, double ratio, values):
    """``values[~mask] /= ratio`` (``angiogenesis.apply_shedding``), in place."""
    cdef Py_ssize_t N = _size(values, "values"), i
    cdef const cnp.npy_bool *m = <const cnp.npy_bool *>_data(mask, cnp.NPY_BOOL, N, "mask")
    cdef double *v = <double *>_data(values, cnp.NPY_DOUBLE, N, "values")
    for i in range(N):
        if not m[i]:
            v[i] = v[i] / ratio


def fill_rows(per_organ, out):
    """``out[:] = per_organ[None, :]`` for ``out`` (float64, (m, n_organs))."""
    cdef Py_ssize_t O = _size(per_organ, "per_organ"), n = _size(out, "out"), i, j
    cdef const double *po = <const double *>_data(per_organ, cnp.NPY_DOUBLE, O, "per_organ")
    cdef double *o = <double *>_data(out, cnp.NPY_DOUBLE, n, "out")
    if n == 0:
        return
    if O == 0 or n % O:
        raise ValueError(f"fill_rows: out must be (m, {O}), got {np.shape(out)}")
    for i in range(0, n, O):
        for j in range(O):
            o[i + j] = po[j]


def niche_fates(pidx, niche, double gain, fates):
    """``microenvironment.paget_dtc_fate``, in place on ``fates`` (float64, (m,
    n_organs, 3)): nothing where no source's patient has a niche; else, per
    (source, organ), ``grow' = min(grow + die, grow (1 + gain niche))``, ``die'
    = max(die - (grow' - grow), 0)``.  Returns whether it changed anything."""
    cdef Py_ssize_t m = _size(pidx, "pidx"), n = _size(fates, "fates"), i, j, O, P, q
    cdef const int64_t *pi = <const int64_t *>_data(pidx, cnp.NPY_INT64, m, "pidx")
    cdef const double *nc
    cdef double *f
    cdef double die, grow, new_grow
    cdef bint any_ = False
    if m == 0 or gain == 0:
        return False
    O = n // (3 * m)
    if O * 3 * m != n or O == 0:
        raise ValueError(f"niche_fates: fates must be ({m}, n_organs, 3), got {np.shape(fates)}")
    P = _size(niche, "niche") // O
    nc = <const double *>_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    f = <double *>_data(fates, cnp.NPY_DOUBLE, n, "fates")
    _check_index(pi, m, P, "niche_fates: patient index")
    for i in range(m):
        for j in range(O):
            if nc[pi[i] * O + j] != 0:
                any_ = True
                break
        if any_:
            break
    if not any_:
        return False
    for i in range(m):
        for j in range(O):
            q = (i * O + j) * 3
            die, grow = f[q], f[q + 2]
            new_grow = np_min(grow + die, grow * (1.0 + gain * nc[pi[i] * O + j]))
            f[q] = np_max(die - (new_grow - grow), 0.0)
            f[q + 2] = new_grow
    return True
