# cython: freethreading_compatible = False
"""The engine's per-step bookkeeping in compiled passes: rates, tallies, fates' counters, serial sums.

Each function replaces a run of NumPy calls in ``paget.engine`` (the loop of
:class:`paget.engine.RankRun` and its dissemination) by one pass over a
rank's rows, with the same float64 results to the bit: sums are made in the
row order NumPy's ``bincount`` adds them, then cast as it casts them, and
``expm1`` is NumPy's own float64 loop (``plugin_support.pxd``).  The engine
stays free of any stage: these passes know rows, patients, organs and the
row flags, nothing of what a plugin computes.  ``tests/test_engine_step.py``
compares each with the NumPy it replaces, on random inputs.

Arrays are read through NumPy's C API (``array_data``): each must be a
C-contiguous, aligned, native-order ndarray of its dtype, or the call raises
naming the argument (every array the engine passes is).
"""
from libc.math cimport INFINITY, fabs, floor, frexp, ldexp, rint
from libc.stdint cimport int16_t, int32_t, int64_t, int8_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

cimport numpy as cnp
from keyed_stream cimport paget_mix64
from paget_kernels cimport PGT_FLAG_DORMANT
from plugin_support cimport Loop, array_size, loop_of, np_max, np_min, vec

cnp.import_array()
cnp.import_ufunc()


cdef extern from "bounds.h" nogil:
    int paget_out_of_bounds_f64(const double *p, Py_ssize_t m, double lo, double hi)

cdef Loop EXPM1 = loop_of(np.expm1)

cdef int F64 = cnp.NPY_DOUBLE
cdef int I64 = cnp.NPY_INT64
cdef int I16 = cnp.NPY_INT16
cdef int U8 = cnp.NPY_UINT8
cdef int U64 = cnp.NPY_UINT64

# the identity kinds of paget.ext.tables.derive_uids that found_rows makes
DEF KIND_FOUNDER = 1
DEF KIND_POOL = 2
DEF KIND_REACTIVATED = 3

#: :func:`fold_sum_serial`'s constants, those of ``paget.domains.fold_sum``
#: (checked equal by the tests)
DEF FOLD_BITS = 21
DEF FOLDS = 3
FOLD_CONSTANTS = (FOLD_BITS, FOLDS)
cdef int64_t MAX_TERMS = (<int64_t>1) << (52 - FOLD_BITS)
cdef double TWO53 = 9007199254740992.0
cdef double TWO52 = 4503599627370496.0
cdef double ROUNDER = 6755399441055744.0    # 1.5 * 2**52


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
    return <double *>array_data(a, F64, n, name)


cdef inline int64_t *i64(object a, Py_ssize_t n, str name) except NULL:
    return <int64_t *>array_data(a, I64, n, name)


cdef int check_bins(const int64_t *at, Py_ssize_t m, Py_ssize_t hi, str name) except -1:
    cdef Py_ssize_t i
    for i in range(m):
        if at[i] < 0 or at[i] >= hi:
            raise IndexError(f"{name}: index {at[i]} at {i} outside [0, {hi})")
    return 0


def step_rates(object flags, object birth, object reactivation, object death,
               object dormant_death, object shed, object shed_exponent, double dt,
               double max_mean, object cells, object out_birth, object out_death,
               object out_shed_rate, object out_cells_before, object out_death_terms):
    """A step's kernel inputs from its rates, in one pass.

    Per row ``i`` (``dormant``: the row's ``FLAG_DORMANT``), as the engine's
    NumPy did:

    - ``out_birth = where(dormant, reactivation, birth)``,
      ``out_death = where(dormant, dormant_death, death)``;
    - ``out_shed_rate``: :func:`paget.engine.loop.step_shed_rate` of ``shed``,
      ``shed_exponent`` and the net rate ``where(dormant, 0, out_birth -
      out_death)`` over ``dt`` days, its mean count capped at ``max_mean``;
    - ``out_cells_before = cells``;
    - ``out_death_terms = where(dormant, 0.0, out_death * cells)`` (the terms of
      the patients' cell deaths a day).
    """
    cdef Py_ssize_t n = array_size(flags, "flags"), i, k = 0
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef const double *b = f64(birth, n, "birth")
    cdef const double *re = f64(reactivation, n, "reactivation")
    cdef const double *d = f64(death, n, "death")
    cdef const double *dd = f64(dormant_death, n, "dormant_death")
    cdef const double *s = f64(shed, n, "shed")
    cdef const double *e = f64(shed_exponent, n, "shed_exponent")
    cdef const double *c = f64(cells, n, "cells")
    cdef double *ob = f64(out_birth, n, "out_birth")
    cdef double *od = f64(out_death, n, "out_death")
    cdef double *osr = f64(out_shed_rate, n, "out_shed_rate")
    cdef double *ocb = f64(out_cells_before, n, "out_cells_before")
    cdef double *odt = f64(out_death_terms, n, "out_death_terms")
    cdef double net, en, x, mean
    cdef Py_ssize_t *rows = NULL
    cdef double *xs = NULL
    cdef double *em = NULL
    cdef bint dormant
    if n == 0:
        return
    rows = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    xs = <double *>malloc(n * sizeof(double))
    em = <double *>malloc(n * sizeof(double))
    try:
        if rows == NULL or xs == NULL or em == NULL:
            raise MemoryError()
        for i in range(n):
            dormant = (fl[i] & PGT_FLAG_DORMANT) != 0
            if dormant:
                ob[i] = re[i]
                od[i] = dd[i]
                net = 0.0
                odt[i] = 0.0
            else:
                ob[i] = b[i]
                od[i] = d[i]
                net = ob[i] - od[i]
                odt[i] = od[i] * c[i]
            ocb[i] = c[i]
            osr[i] = s[i]
            en = e[i] * net
            if s[i] > 0.0 and en != 0.0:
                rows[k] = i
                xs[k] = en * dt
                k += 1
        if k == 0:
            return
        # expm1 of min(x, 700) over the rows whose rate changes, by NumPy's own
        # loop over that array (so rounded as the NumPy call rounded it)
        for i in range(k):
            em[i] = np_min(xs[i], 700.0)
        vec(EXPM1, em, em, k)
        for i in range(k):
            x = xs[i]
            mean = s[rows[i]] * dt * (em[i] / x)
            osr[rows[i]] = np_min(mean, np_max(s[rows[i]] * dt, max_mean)) / dt
    finally:
        free(rows)
        free(xs)
        free(em)


cdef int add_cast(int64_t *acc, const double *sums, Py_ssize_t size) noexcept:
    """``acc += sums.astype(int64)`` (C's truncation, as NumPy's cast)."""
    cdef Py_ssize_t b
    for b in range(size):
        acc[b] += <int64_t>sums[b]
    return 0


def step_tally(object pidx, object organ, object flags, object cells_before, object cells,
               object react, object shed, object exfoliated, Py_ssize_t n_patients,
               Py_ssize_t n_org, object dormant_died, object dtc_reactivated,
               object out_shed):
    """A step's per-patient tallies after its kernel, in one pass; returns the
    rows that reactivated cells (int64, ascending).

    As the engine's NumPy did (``_add``: a float64 ``bincount`` over
    ``pidx * n_org + organ``, cast to int64 and added):

    - ``dormant_died[pidx, organ] += (cells_before - cells) - react`` over the
      dormant rows;
    - ``dtc_reactivated[pidx, organ] += react`` over the rows with ``react``;
    - ``out_shed[pidx] = bincount(pidx, shed - exfoliated)``, cast to int64.

    ``exfoliated`` may be None (no row took the direct route).
    """
    cdef Py_ssize_t n = array_size(pidx, "pidx"), i, bins = n_patients * n_org, nr = 0
    cdef const int64_t *p = i64(pidx, n, "pidx")
    cdef const int16_t *o = <const int16_t *>array_data(organ, I16, n, "organ")
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef const double *cb = f64(cells_before, n, "cells_before")
    cdef const double *c = f64(cells, n, "cells")
    cdef const int64_t *r = i64(react, n, "react")
    cdef const int64_t *sh = i64(shed, n, "shed")
    cdef const int64_t *ex = NULL if exfoliated is None else i64(exfoliated, n, "exfoliated")
    cdef int64_t *dd = i64(dormant_died, bins, "dormant_died")
    cdef int64_t *dr = i64(dtc_reactivated, bins, "dtc_reactivated")
    cdef int64_t *os = i64(out_shed, n_patients, "out_shed")
    cdef bint any_dormant = False
    cdef int64_t *rows
    cdef double *sums
    cdef double *shed_sums
    check_bins(p, n, n_patients, "pidx")
    for i in range(n):
        if o[i] < 0 or o[i] >= n_org:
            raise IndexError(f"organ: index {o[i]} at {i} outside [0, {n_org})")
    sums = <double *>malloc((bins + n_patients + 1) * sizeof(double))
    shed_sums = sums + bins
    if sums == NULL:
        raise MemoryError()
    try:
        for i in range(n_patients):
            shed_sums[i] = 0.0
        for i in range(n):
            shed_sums[p[i]] += <double>(sh[i] - (0 if ex == NULL else ex[i]))
            if fl[i] & PGT_FLAG_DORMANT:
                any_dormant = True
            if r[i]:
                nr += 1
        for i in range(n_patients):
            os[i] = <int64_t>shed_sums[i]
        if any_dormant:
            for i in range(bins):
                sums[i] = 0.0
            for i in range(n):
                if fl[i] & PGT_FLAG_DORMANT:
                    sums[p[i] * n_org + o[i]] += (cb[i] - c[i]) - <double>r[i]
            add_cast(dd, sums, bins)
        rows_arr = np.empty(nr, np.int64)
        if nr:
            rows = i64(rows_arr, nr, "rows")
            for i in range(bins):
                sums[i] = 0.0
            nr = 0
            for i in range(n):
                if r[i]:
                    sums[p[i] * n_org + o[i]] += <double>r[i]
                    rows[nr] = i
                    nr += 1
            add_cast(dr, sums, bins)
        return rows_arr
    finally:
        free(sums)


cdef inline void add_row(int64_t *acc, const int64_t *row, Py_ssize_t w) noexcept:
    cdef Py_ssize_t j
    for j in range(w):
        acc[j] += row[j]


def tally_fates(object sp, object src_organ, object src_shed, object died, object arrested,
                object extravasated, object dtc_died, object dormant, object founded,
                Py_ssize_t n_patients, Py_ssize_t n_org, object acc_ctc_shed,
                object acc_ctc_died, object acc_arrested, object acc_extravasated,
                object acc_dtc_died, object acc_dormant, object acc_founded,
                object first_seeding, double t_first):
    """The counters of a step's dissemination, in one pass over its source rows.

    Source row ``i`` of patient ``sp[i]`` (an index among the rank's patients)
    in organ ``src_organ[i]`` shed ``src_shed[i]`` CTCs, of which ``died[i]``
    died in circulation; ``arrested`` ... ``founded`` are the kernel's
    (source row, organ) counts.  As the engine's NumPy did:

    - ``acc_ctc_shed[sp, src_organ] += src_shed`` and ``acc_ctc_died[sp] +=
      died`` (float64 ``bincount`` sums, cast to int64);
    - ``acc_x[sp[i], :] += x[i, :]`` for the five (row, organ) counts;
    - ``first_seeding[sp[i]] = t_first`` where it is NaN and row ``i`` sent a
      cell to a dormant pool or a new colony.

    Returns ``(ri, oj, count)`` of the nonzero entries of ``founded``, then of
    ``dormant``, each in row-major order (``np.nonzero``'s), int64.
    """
    cdef Py_ssize_t m = array_size(sp, "sp"), i, j, k, bins = n_patients * n_org
    cdef Py_ssize_t mo = m * n_org, nf = 0, nd = 0
    cdef const int64_t *p = i64(sp, m, "sp")
    cdef const int16_t *o = <const int16_t *>array_data(src_organ, I16, m, "src_organ")
    cdef const int64_t *sh = i64(src_shed, m, "src_shed")
    cdef const int64_t *dd = i64(died, m, "died")
    cdef const int64_t *outs[5]
    cdef int64_t *accs[5]
    cdef int64_t *acs = i64(acc_ctc_shed, bins, "acc_ctc_shed")
    cdef int64_t *acd = i64(acc_ctc_died, n_patients, "acc_ctc_died")
    cdef double *first = f64(first_seeding, n_patients, "first_seeding")
    cdef double *sums
    cdef int64_t seeded, v
    cdef int64_t *fr
    cdef int64_t *fo
    cdef int64_t *fc
    cdef int64_t *dr
    cdef int64_t *do_
    cdef int64_t *dc
    outs[0] = i64(arrested, mo, "arrested")
    outs[1] = i64(extravasated, mo, "extravasated")
    outs[2] = i64(dtc_died, mo, "dtc_died")
    outs[3] = i64(dormant, mo, "dormant")
    outs[4] = i64(founded, mo, "founded")
    accs[0] = i64(acc_arrested, bins, "acc_arrested")
    accs[1] = i64(acc_extravasated, bins, "acc_extravasated")
    accs[2] = i64(acc_dtc_died, bins, "acc_dtc_died")
    accs[3] = i64(acc_dormant, bins, "acc_dormant")
    accs[4] = i64(acc_founded, bins, "acc_founded")
    check_bins(p, m, n_patients, "sp")
    for i in range(m):
        if o[i] < 0 or o[i] >= n_org:
            raise IndexError(f"src_organ: index {o[i]} at {i} outside [0, {n_org})")
    sums = <double *>malloc((bins + n_patients + 1) * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    try:
        for i in range(bins + n_patients):
            sums[i] = 0.0
        for i in range(m):
            sums[p[i] * n_org + o[i]] += <double>sh[i]
            sums[bins + p[i]] += <double>dd[i]
        add_cast(acs, sums, bins)
        add_cast(acd, sums + bins, n_patients)
        for i in range(m):
            for k in range(5):      # contiguous rows: the compiler vectorises them
                add_row(accs[k] + p[i] * n_org, outs[k] + i * n_org, n_org)
            seeded = 0
            for j in range(n_org):
                seeded += outs[3][i * n_org + j] + outs[4][i * n_org + j]
                nf += outs[4][i * n_org + j] != 0
                nd += outs[3][i * n_org + j] != 0
            if seeded > 0 and first[p[i]] != first[p[i]]:
                first[p[i]] = t_first
    finally:
        free(sums)
    f_arr = [np.empty(nf, np.int64) for k in range(3)]
    d_arr = [np.empty(nd, np.int64) for k in range(3)]
    fr, fo, fc = i64(f_arr[0], nf, "ri"), i64(f_arr[1], nf, "oj"), i64(f_arr[2], nf, "count")
    dr, do_, dc = i64(d_arr[0], nd, "ri"), i64(d_arr[1], nd, "oj"), i64(d_arr[2], nd, "count")
    nf = nd = 0
    for i in range(m):
        for j in range(n_org):
            v = outs[4][i * n_org + j]
            if v != 0:
                fr[nf], fo[nf], fc[nf] = i, j, v
                nf += 1
            v = outs[3][i * n_org + j]
            if v != 0:
                dr[nd], do_[nd], dc[nd] = i, j, v
                nd += 1
    return tuple(f_arr), tuple(d_arr)


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
    out_arr = np.zeros(n)
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
        # whole and >= 0 (so finite), as kernels.whole_and_nonnegative: below
        # 2**52, adding and taking away 2**52 rounds to a whole number, exactly
        # (no libm floor); from 2**52 every double is whole
        if not ((x >= 0) & (x < INFINITY) & ((x >= TWO52) | ((x + TWO52) - TWO52 == x))):
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


def found_rows(int kind, object src, object counts, object organ, int64_t step, object uid,
               object parent, object lesion, object clone, object genotype, object patient,
               object organ_col, bint log):
    """The core columns of the rows that cells of table rows ``src`` found in
    ``step``, with their uids, in one pass (``Founding._found`` but for mutants).

    ``kind`` is ``UID_FOUNDER`` (``counts[i]`` one-cell lesions in organ
    ``organ[i]``), ``UID_REACTIVATED`` (``counts[i]`` one-cell lesions in the
    source's organ, ``organ`` None; their parent is the pool's) or ``UID_POOL``
    (one dormant row of ``counts[i]`` cells in organ ``organ[i]``).  A uid is
    :func:`paget.ext.tables.derive_uids`' of the source's uid, the kind, the
    step (0 for a pool), the organ and the new row's rank among its source's
    (0 for a pool).  ``uid`` ... ``organ_col`` are the table's columns.

    Returns ``(columns, rows, edges)``: the new rows' columns (dict, as
    ``LesionTable.append`` takes them), the table row each comes from (int64,
    for the inherited plugin columns), and, with ``log`` and a kind other than a
    pool, their seeding-log columns (``paget.engine.seeding.EDGE_COLUMNS``),
    else None.
    """
    cdef Py_ssize_t m = array_size(src, "src"), n = array_size(uid, "uid"), i, j, r, t = 0
    cdef const int64_t *sr = i64(src, m, "src")
    cdef const int64_t *cn = i64(counts, m, "counts")
    cdef const int64_t *og = NULL
    cdef const uint64_t *u = <const uint64_t *>array_data(uid, U64, n, "uid")
    cdef const uint64_t *pa = <const uint64_t *>array_data(parent, U64, n, "parent")
    cdef const uint64_t *le = <const uint64_t *>array_data(lesion, U64, n, "lesion")
    cdef const uint64_t *cl = <const uint64_t *>array_data(clone, U64, n, "clone")
    cdef const uint64_t *ge = <const uint64_t *>array_data(genotype, U64, n, "genotype")
    cdef const int64_t *pt = i64(patient, n, "patient")
    cdef const int16_t *oc = <const int16_t *>array_data(organ_col, I16, n, "organ_col")
    cdef bint pool = kind == KIND_POOL, react = kind == KIND_REACTIVATED
    cdef uint64_t tag, mask40 = (<uint64_t>1 << 40) - 1
    cdef int16_t o
    if kind != KIND_FOUNDER and not pool and not react:
        raise ValueError(f"found_rows: kind {kind} is not a founder, pool or reactivated cell")
    if react:
        if organ is not None:
            raise ValueError("found_rows: a reactivated cell founds in its pool's organ")
    else:
        og = i64(organ, m, "organ")
    check_bins(sr, m, n, "src")
    for i in range(m):
        if cn[i] < 0:
            raise ValueError(f"found_rows: count {cn[i]} at {i} is negative")
        t += 1 if pool else cn[i]
    cols = {"uid": np.empty(t, np.uint64), "parent": np.empty(t, np.uint64),
            "lesion": np.empty(t, np.uint64), "clone": np.empty(t, np.uint64),
            "genotype": np.empty(t, np.uint64), "cells": np.empty(t, np.float64),
            "patient": np.empty(t, np.int64), "birth_step": np.empty(t, np.int32),
            "organ": np.empty(t, np.int16), "flags": np.empty(t, np.uint8)}
    rows_arr = np.empty(t, np.int64)
    cdef uint64_t *nu = <uint64_t *>array_data(cols["uid"], U64, t, "uid")
    cdef uint64_t *npa = <uint64_t *>array_data(cols["parent"], U64, t, "parent")
    cdef uint64_t *nle = <uint64_t *>array_data(cols["lesion"], U64, t, "lesion")
    cdef uint64_t *ncl = <uint64_t *>array_data(cols["clone"], U64, t, "clone")
    cdef uint64_t *nge = <uint64_t *>array_data(cols["genotype"], U64, t, "genotype")
    cdef double *nce = f64(cols["cells"], t, "cells")
    cdef int64_t *npt = i64(cols["patient"], t, "patient")
    cdef int32_t *nbs = <int32_t *>array_data(cols["birth_step"], cnp.NPY_INT32, t, "birth_step")
    cdef int16_t *nor = <int16_t *>array_data(cols["organ"], I16, t, "organ")
    cdef uint8_t *nfl = <uint8_t *>array_data(cols["flags"], U8, t, "flags")
    cdef int64_t *rows = i64(rows_arr, t, "rows")
    cdef uint64_t base
    t = 0
    for i in range(m):
        r = sr[i]
        o = oc[r] if react else <int16_t>og[i]
        base = paget_mix64(u[r])
        for j in range(1 if pool else cn[i]):
            if pool:
                tag = (<uint64_t>KIND_POOL << 56) | ((<uint64_t>(<unsigned short>o)) << 40)
                nu[t] = paget_mix64(paget_mix64(base ^ tag) ^ <uint64_t>0)
                nce[t] = <double>cn[i]
                nfl[t] = PGT_FLAG_DORMANT
            else:
                tag = ((<uint64_t>kind << 56) | ((<uint64_t>(<unsigned short>o)) << 40)
                       | (<uint64_t>step & mask40))
                nu[t] = paget_mix64(paget_mix64(base ^ tag) ^ <uint64_t>j)
                nce[t] = 1.0
                nfl[t] = 0
            npa[t] = pa[r] if react else u[r]
            nle[t] = nu[t]
            ncl[t] = cl[r]
            nge[t] = ge[r]
            npt[t] = pt[r]
            nbs[t] = <int32_t>(step + 1)
            nor[t] = o
            rows[t] = r
            t += 1
    if not log or pool or t == 0:
        return cols, rows_arr, None
    edges = {"patient": cols["patient"].copy(), "step": cols["birth_step"].copy(),
             "kind": np.full(t, 1 if react else 0, np.int8),
             "source_lesion": np.empty(t, np.uint64), "source_organ": np.empty(t, np.int16),
             "source_clone": cols["clone"].copy(), "target": cols["uid"].copy(),
             "target_organ": cols["organ"].copy(), "cells": np.ones(t, np.int64)}
    cdef uint64_t *esl = <uint64_t *>array_data(edges["source_lesion"], U64, t, "source_lesion")
    cdef int16_t *eso = <int16_t *>array_data(edges["source_organ"], I16, t, "source_organ")
    for i in range(t):
        r = rows[i]
        esl[i] = u[r] if react else le[r]
        eso[i] = -1 if react else oc[r]
    return cols, rows_arr, edges


cdef Py_ssize_t _first_bad(tuple args, tuple checks, object fallback) except -2:
    cdef Py_ssize_t k
    cdef tuple c
    cdef object a
    cdef cnp.ndarray arr
    cdef Py_ssize_t n
    cdef int t
    for k in range(len(checks)):
        c = <tuple>checks[k]
        a = args[<Py_ssize_t>c[0]]
        if c[2] is not None:
            a = getattr(a, c[2])
        if cnp.PyArray_Check(a):
            arr = <cnp.ndarray>a
            n = cnp.PyArray_SIZE(arr)
            t = cnp.PyArray_TYPE(arr)
            if n == 0 or t == cnp.NPY_BOOL:
                continue
            if (t == cnp.NPY_DOUBLE and cnp.PyArray_IS_C_CONTIGUOUS(arr) and
                    cnp.PyArray_ISALIGNED(arr) and cnp.PyArray_ISNOTSWAPPED(arr)):
                if paget_out_of_bounds_f64(<const double *>cnp.PyArray_DATA(arr), n,
                                           <double>c[3], <double>c[4]):
                    return k
                continue
        if fallback(a, c[3], c[4]):
            return k
    return -1


def first_out_of_bounds(tuple args, tuple checks, object fallback):
    """The index of the first of ``checks`` that an output in ``args`` fails, or -1.

    ``checks`` are ``(position, name, field or None, lo, hi)`` (those of
    ``paget.manager._wrap_errors``): output ``args[position]`` (its attribute
    ``field`` when not None) must hold no NaN, no infinity and nothing outside
    ``[lo, hi]``.  A C-contiguous float64 array is checked here
    (``bounds.h``, as ``paget.ext.kernels.bounds_check``); an empty or a boolean
    array passes; anything else is checked by ``fallback(a, lo, hi)``
    (``paget.state.out_of_bounds``).  One call per implementation of a hook
    where the engine made one call per output.
    """
    return _first_bad(args, checks, fallback)


def call_plan(tuple plan, dict kwargs, str name, object errors):
    """Call a hook's implementations as ``paget.engine.hooks.direct_caller``
    plans them, in order, and return their results that are not None (a list).

    ``plan`` holds ``(function, get, checks, plugin)`` per implementation:
    ``get(kwargs)`` gives its arguments (a tuple), ``checks`` its outputs'
    ranges (:func:`first_out_of_bounds`).  ``errors`` makes the errors as the
    Python loop made them: ``missing(KeyError)`` (a missing argument, as pluggy
    says it), ``passthrough`` (the exception types raised as they are),
    ``raised(plugin, hook, exc)`` (any other exception, chained),
    ``bad_output(plugin, hook, check, args)`` and ``out_of_bounds`` (the
    checks' fallback)."""
    cdef list results = []
    cdef tuple entry, args, checks
    cdef Py_ssize_t bad
    for entry in plan:
        fn, get, checks, plugin = entry
        try:
            args = get(kwargs)
        except KeyError as e:
            raise errors.missing(e) from e
        try:
            res = fn(*args)
        except errors.passthrough:
            raise
        except Exception as exc:
            raise errors.raised(plugin, name, exc) from exc
        if checks:
            bad = _first_bad(args, checks, errors.out_of_bounds)
            if bad >= 0:
                raise errors.bad_output(plugin, name, checks[bad], args)
        if res is not None:
            results.append(res)
    return results


def step_burden(object pidx, object flags, object cells, Py_ssize_t n_patients,
                object out_burden):
    """The end of a step's pass over the rows: ``out_burden[p]`` = the cells of
    patient ``p``'s growing rows (``bincount(pidx, where(dormant, 0.0, cells))``,
    added in row order); returns ``(largest cells of a row, rows with cells <=
    0)`` (``np.maximum.reduce``'s largest: NaN if any is NaN; -inf for no row).
    """
    cdef Py_ssize_t n = array_size(pidx, "pidx"), i, empty = 0
    cdef const int64_t *p = i64(pidx, n, "pidx")
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef const double *c = f64(cells, n, "cells")
    cdef double *burden = f64(out_burden, n_patients, "out_burden")
    cdef double top = -INFINITY
    check_bins(p, n, n_patients, "pidx")
    for i in range(n_patients):
        burden[i] = 0.0
    for i in range(n):
        burden[p[i]] += 0.0 if fl[i] & PGT_FLAG_DORMANT else c[i]
        top = np_max(top, c[i]) if i else c[i]
        empty += c[i] <= 0
    return top, empty


def gather_sources(object src, object shed, object uid, object patient, object organ,
                   object lymph_fraction, object survival, object arrest, int64_t lo):
    """The columns of a step's shedding rows ``src`` that dissemination reads, in
    one pass: ``(uid, patient, organ, shed, lymph_fraction, patient - lo,
    survival, arrest)`` of those rows, and whether they share one circulation
    class (every ``survival`` and every ``arrest`` equal to the first row's, as
    ``==`` compares: a NaN never does)."""
    cdef Py_ssize_t m = array_size(src, "src"), n = array_size(uid, "uid"), i, r
    cdef const int64_t *s = i64(src, m, "src")
    cdef const int64_t *sh = i64(shed, n, "shed")
    cdef const uint64_t *u = <const uint64_t *>array_data(uid, U64, n, "uid")
    cdef const int64_t *pt = i64(patient, n, "patient")
    cdef const int16_t *og = <const int16_t *>array_data(organ, I16, n, "organ")
    cdef const double *lf = f64(lymph_fraction, n, "lymph_fraction")
    cdef const double *sv = f64(survival, n, "survival")
    cdef const double *ar = f64(arrest, n, "arrest")
    cdef bint one = True
    check_bins(s, m, n, "src")
    out = (np.empty(m, np.uint64), np.empty(m, np.int64), np.empty(m, np.int16),
           np.empty(m, np.int64), np.empty(m, np.float64), np.empty(m, np.int64),
           np.empty(m, np.float64), np.empty(m, np.float64))
    cdef uint64_t *ou = <uint64_t *>array_data(out[0], U64, m, "uid")
    cdef int64_t *op = i64(out[1], m, "patient")
    cdef int16_t *oo = <int16_t *>array_data(out[2], I16, m, "organ")
    cdef int64_t *osh = i64(out[3], m, "shed")
    cdef double *ol = f64(out[4], m, "lymph_fraction")
    cdef int64_t *osp = i64(out[5], m, "sp")
    cdef double *osv = f64(out[6], m, "survival")
    cdef double *oar = f64(out[7], m, "arrest")
    for i in range(m):
        r = s[i]
        ou[i] = u[r]
        op[i] = pt[r]
        oo[i] = og[r]
        osh[i] = sh[r]
        ol[i] = lf[r]
        osp[i] = pt[r] - lo
        osv[i] = sv[r]
        oar[i] = ar[r]
        one &= (osv[i] == osv[0]) & (oar[i] == oar[0])
    return out + (bool(one),)


def fates_off(object fates):
    """``np.abs(f[..., 0] + f[..., 1] + f[..., 2] - 1.0).max()`` of DTC fates
    ``f`` (rows of three), in one pass: how far the rows' sums stray from 1
    (NaN if any does; -inf for no row)."""
    cdef Py_ssize_t n = array_size(fates, "fates"), i
    cdef const double *f = f64(fates, -1, "fates")
    cdef double top = -INFINITY, x
    if n % 3:
        raise ValueError(f"fates: expected rows of 3 values, got {n} values")
    for i in range(n // 3):
        x = fabs(f[3 * i] + f[3 * i + 1] + f[3 * i + 2] - 1.0)
        top = np_max(top, x) if i else x
    return top


cdef class UidSet:
    """A growing set of uids (uint64), by open addressing: the registry of the
    dormant pools the seeding log has seen (``paget.engine.seeding``), where a
    sorted array took a search and an insertion, O(pools), every step."""

    cdef object _keys       # uint64 slots
    cdef object _used       # uint8: the slot holds a key
    cdef Py_ssize_t _count

    def __init__(self):
        self._keys = np.zeros(16, np.uint64)
        self._used = np.zeros(16, np.uint8)
        self._count = 0

    def __len__(self):
        return self._count

    cdef Py_ssize_t _slot(self, uint64_t *keys, uint8_t *used, Py_ssize_t cap,
                          uint64_t key) noexcept:
        cdef Py_ssize_t h = <Py_ssize_t>(paget_mix64(key) & <uint64_t>(cap - 1))
        while used[h] and keys[h] != key:
            h = (h + 1) & (cap - 1)
        return h

    cdef int _grow(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = array_size(self._keys, "keys"), new_cap = cap, i, h
        if 2 * need <= cap:
            return 0
        while 2 * need > new_cap:
            new_cap *= 2
        old_keys, old_used = self._keys, self._used
        cdef uint64_t *ok = <uint64_t *>array_data(old_keys, U64, cap, "keys")
        cdef uint8_t *ou = <uint8_t *>array_data(old_used, U8, cap, "used")
        self._keys = np.zeros(new_cap, np.uint64)
        self._used = np.zeros(new_cap, np.uint8)
        cdef uint64_t *nk = <uint64_t *>array_data(self._keys, U64, new_cap, "keys")
        cdef uint8_t *nu = <uint8_t *>array_data(self._used, U8, new_cap, "used")
        for i in range(cap):
            if ou[i]:
                h = self._slot(nk, nu, new_cap, ok[i])
                nu[h] = 1
                nk[h] = ok[i]
        return 0

    def add_new(self, object uids):
        """Add ``uids``; returns a bool array, True where a uid was not in the set
        before this call (a uid given twice is new twice if it was not in it)."""
        cdef Py_ssize_t m = array_size(uids, "uids"), i, h, cap
        cdef const uint64_t *u = <const uint64_t *>array_data(uids, U64, m, "uids")
        fresh_arr = np.empty(m, np.bool_)
        cdef cnp.npy_bool *fresh = <cnp.npy_bool *>array_data(fresh_arr, cnp.NPY_BOOL, m,
                                                             "fresh")
        self._grow(self._count + m)
        cap = array_size(self._keys, "keys")
        cdef uint64_t *keys = <uint64_t *>array_data(self._keys, U64, cap, "keys")
        cdef uint8_t *used = <uint8_t *>array_data(self._used, U8, cap, "used")
        for i in range(m):
            fresh[i] = not used[self._slot(keys, used, cap, u[i])]
        for i in range(m):
            if fresh[i]:
                h = self._slot(keys, used, cap, u[i])
                if not used[h]:
                    used[h] = 1
                    keys[h] = u[i]
                    self._count += 1
        return fresh_arr

    def __contains__(self, uid):
        cdef Py_ssize_t cap = array_size(self._keys, "keys")
        cdef uint64_t *keys = <uint64_t *>array_data(self._keys, U64, cap, "keys")
        cdef uint8_t *used = <uint8_t *>array_data(self._used, U8, cap, "used")
        return bool(used[self._slot(keys, used, cap, <uint64_t>uid)])


def join_pools(object key, object counts, object uid, object flags, object cells):
    """Add ``counts[j]`` cells to the live dormant pool (flag DORMANT, cells > 0) of
    uid ``key[j]``, where the table (columns ``uid``, ``flags``, ``cells``)
    holds one; returns the positions ``j`` (ascending, int64) of the keys with
    no live pool (new pools).  ``paget.ext.kernels.match_pools`` and the
    additions, in one call.  The keys must be distinct."""
    cdef Py_ssize_t k = array_size(key, "key"), n = array_size(uid, "uid"), i, j, h
    cdef Py_ssize_t cap = 16, n_new = 0
    cdef const uint64_t *ky = <const uint64_t *>array_data(key, U64, k, "key")
    cdef const double *cn = f64(counts, k, "counts")
    cdef const uint64_t *u = <const uint64_t *>array_data(uid, U64, n, "uid")
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef double *c = f64(cells, n, "cells")
    cdef uint64_t *keys
    cdef int64_t *slot
    cdef int64_t *hit
    cdef int64_t *out
    if k == 0:
        return np.zeros(0, np.int64)
    while cap < 2 * k:
        cap *= 2
    keys = <uint64_t *>malloc(cap * sizeof(uint64_t))
    slot = <int64_t *>malloc(cap * sizeof(int64_t))
    hit = <int64_t *>malloc(k * sizeof(int64_t))
    try:
        if keys == NULL or slot == NULL or hit == NULL:
            raise MemoryError()
        for h in range(cap):
            slot[h] = -1
        for j in range(k):
            hit[j] = -1
            h = <Py_ssize_t>(paget_mix64(ky[j]) & <uint64_t>(cap - 1))
            while slot[h] >= 0 and keys[h] != ky[j]:
                h = (h + 1) & (cap - 1)
            if slot[h] >= 0:
                raise ValueError("join_pools: the pool ids must be distinct")
            keys[h] = ky[j]
            slot[h] = j
        for i in range(n):      # a live pool is the only live row of its id
            if (fl[i] & PGT_FLAG_DORMANT) and c[i] > 0.0:
                h = <Py_ssize_t>(paget_mix64(u[i]) & <uint64_t>(cap - 1))
                while slot[h] >= 0 and keys[h] != u[i]:
                    h = (h + 1) & (cap - 1)
                if slot[h] >= 0:
                    hit[slot[h]] = i
        for j in range(k):
            if hit[j] >= 0:
                c[hit[j]] += cn[j]
            else:
                n_new += 1
        new_arr = np.empty(n_new, np.int64)
        out = i64(new_arr, n_new, "new")
        n_new = 0
        for j in range(k):
            if hit[j] < 0:
                out[n_new] = j
                n_new += 1
        return new_arr
    finally:
        free(keys)
        free(slot)
        free(hit)


def kernel_rows(object cells, object shed, object mutated):
    """After a step's kernel, in one pass: the largest ``cells`` (as
    ``np.maximum.reduce``: NaN if any is NaN; -inf for no row), the rows that
    shed (``np.flatnonzero(shed)``, int64) and whether any row mutated."""
    cdef Py_ssize_t n = array_size(cells, "cells"), i, m = 0
    cdef const double *c = f64(cells, n, "cells")
    cdef const int64_t *sh = i64(shed, n, "shed")
    cdef const int64_t *mu = i64(mutated, n, "mutated")
    cdef double top = -INFINITY
    cdef bint any_mutated = False
    for i in range(n):
        top = np_max(top, c[i]) if i else c[i]
        m += sh[i] != 0
        any_mutated |= mu[i] != 0
    src_arr = np.empty(m, np.int64)
    cdef int64_t *src = i64(src_arr, m, "src")
    m = 0
    for i in range(n):
        if sh[i] != 0:
            src[m] = i
            m += 1
    return top, src_arr, bool(any_mutated)


def take_rows(object rows, tuple columns):
    """``tuple(c[rows] for c in columns)`` for 1-D C-contiguous columns of one
    length ``n`` and ``rows`` an int64 array of positions in ``[0, n)``, in one
    call; None (the caller takes them by NumPy) for anything else."""
    cdef Py_ssize_t m, n = -1, i, k, size
    cdef const int64_t *r
    cdef cnp.ndarray col, got
    cdef char *src
    cdef char *dst
    if not (cnp.PyArray_Check(rows) and cnp.PyArray_TYPE(<cnp.ndarray>rows) == I64 and
            cnp.PyArray_NDIM(<cnp.ndarray>rows) == 1 and
            cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>rows) and
            cnp.PyArray_ISALIGNED(<cnp.ndarray>rows) and
            cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>rows)):
        return None
    m = cnp.PyArray_SIZE(<cnp.ndarray>rows)
    r = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>rows)
    for a in columns:
        if not (cnp.PyArray_Check(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == 1 and
                cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) and
                cnp.PyArray_ISALIGNED(<cnp.ndarray>a) and
                cnp.PyArray_ITEMSIZE(<cnp.ndarray>a) in (1, 2, 4, 8) and
                not (<cnp.ndarray>a).dtype.hasobject):
            return None
        if n < 0:
            n = cnp.PyArray_SIZE(<cnp.ndarray>a)
        elif cnp.PyArray_SIZE(<cnp.ndarray>a) != n:
            return None
    for i in range(m):
        if r[i] < 0 or r[i] >= n:
            return None
    out = []
    for a in columns:
        col = <cnp.ndarray>a
        got = np.empty(m, dtype=col.dtype)
        size = cnp.PyArray_ITEMSIZE(col)
        src = <char *>cnp.PyArray_DATA(col)
        dst = <char *>cnp.PyArray_DATA(got)
        if size == 8:
            for i in range(m):
                (<uint64_t *>dst)[i] = (<const uint64_t *>src)[r[i]]
        elif size == 4:
            for i in range(m):
                (<int32_t *>dst)[i] = (<const int32_t *>src)[r[i]]
        elif size == 2:
            for i in range(m):
                (<int16_t *>dst)[i] = (<const int16_t *>src)[r[i]]
        else:
            for i in range(m):
                (<uint8_t *>dst)[i] = (<const uint8_t *>src)[r[i]]
        out.append(got)
    return tuple(out)
