# cython: freethreading_compatible = False
"""The engine's per-step passes over a rank's rows: the kernel's inputs, its outputs' tallies, dissemination's.

Each function replaces a run of NumPy calls in ``paget.engine`` (the loop of
:class:`paget.engine.RankRun` and its dissemination) by one pass, with the
same results to the bit: sums are made in the row order NumPy's ``bincount``
adds them, then cast as it casts them, and ``expm1`` is NumPy's own float64
loop (``plugin_support.pxd``).  The engine stays free of any stage: these
passes know rows, patients, organs and the row flags, nothing of what a
plugin computes.

Arrays are read through NumPy's C API (``engine_support.pxd``): each must be a
C-contiguous, aligned, native-order ndarray of its dtype (or an equivalent
one), or the call raises naming the argument (every array the engine passes
is).  ``tests/test_engine_step.py`` compares each function with the NumPy it
replaces, on random inputs, for exact equality.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.math cimport INFINITY, fabs
from libc.stdint cimport int16_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

cimport numpy as cnp
from engine_support cimport array_data, as_array, check_bins, f64, i64, new_array
from paget_kernels cimport PGT_FLAG_DORMANT
from plugin_support cimport Loop, array_size, loop_of, np_max, np_min, vec

cnp.import_array()
cnp.import_ufunc()

cdef Loop EXPM1 = loop_of(np.expm1)

cdef int F64 = cnp.NPY_DOUBLE
cdef int I64 = cnp.NPY_INT64
cdef int I16 = cnp.NPY_INT16
cdef int U8 = cnp.NPY_UINT8
cdef int U64 = cnp.NPY_UINT64


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

    The six rates (``birth`` ... ``shed_exponent``, a step's ``Rates``) may be
    any arrays or sequences: one that is not a C-contiguous, aligned float64
    array is read from an aligned float64 copy, as ``paget.engine.dissemination.f64``
    made it.
    """
    cdef Py_ssize_t n = array_size(flags, "flags"), i, k = 0
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    # the rates as the engine's f64 gave them (a hook may rebind one)
    birth, reactivation, death = as_array(birth, F64), as_array(reactivation, F64), \
        as_array(death, F64)
    dormant_death, shed = as_array(dormant_death, F64), as_array(shed, F64)
    shed_exponent = as_array(shed_exponent, F64)
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
    src_arr = new_array(m, I64)
    cdef int64_t *src = i64(src_arr, m, "src")
    m = 0
    for i in range(n):
        if sh[i] != 0:
            src[m] = i
            m += 1
    return top, src_arr, bool(any_mutated)


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
        rows_arr = new_array(nr, I64)
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
    ``==`` compares: a NaN never does).  The three rates may be any arrays or
    sequences, read as float64 (as ``step_rates`` reads its rates)."""
    cdef Py_ssize_t m = array_size(src, "src"), n = array_size(uid, "uid"), i, r
    cdef const int64_t *s = i64(src, m, "src")
    cdef const int64_t *sh = i64(shed, n, "shed")
    cdef const uint64_t *u = <const uint64_t *>array_data(uid, U64, n, "uid")
    cdef const int64_t *pt = i64(patient, n, "patient")
    cdef const int16_t *og = <const int16_t *>array_data(organ, I16, n, "organ")
    # the rates as the engine's f64 gave them (a hook may rebind one)
    lymph_fraction, survival = as_array(lymph_fraction, F64), as_array(survival, F64)
    arrest = as_array(arrest, F64)
    cdef const double *lf = f64(lymph_fraction, n, "lymph_fraction")
    cdef const double *sv = f64(survival, n, "survival")
    cdef const double *ar = f64(arrest, n, "arrest")
    cdef bint one = True
    check_bins(s, m, n, "src")
    out = (new_array(m, U64), new_array(m, I64), new_array(m, I16), new_array(m, I64),
           new_array(m, F64), new_array(m, I64), new_array(m, F64), new_array(m, F64))
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


cdef enum:
    # the most circulation classes unique_pairs collects (a step has one to three)
    MAX_PAIRS = 16


def unique_pairs(object a, object b):
    """``np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)`` of a step's
    circulation classes (``paget.engine.dissemination._unique_pairs``), in one
    pass, for float64 ``a`` and ``b`` of one length: the distinct pairs
    (float64, ``(k, 2)``, in lexicographic order) and each row's index among
    them (int64).  The rows' pairs are matched against the few met so far (a
    step of the default cohort has ~540 shedding rows in two or three classes,
    where NumPy's three sorts took ~190 us).  None, for the caller's NumPy,
    where a value is NaN or zero (which of 0.0 and -0.0 NumPy keeps depends on
    its sort) or there are more than 16 pairs."""
    cdef Py_ssize_t m = array_size(a, "a"), i, j, k = 0, last = 0
    cdef const double *x = f64(a, m, "a")
    cdef const double *y = f64(b, m, "b")
    if array_size(b, "b") != m:
        raise ValueError("unique_pairs: a and b must have one length")
    cdef double px[MAX_PAIRS]
    cdef double py[MAX_PAIRS]
    cdef int64_t rank[MAX_PAIRS]
    cdef int64_t order[MAX_PAIRS]
    inverse = new_array(m, I64)
    cdef int64_t *inv = i64(inverse, m, "inverse")
    for i in range(m):
        if not (x[i] != 0.0 and y[i] != 0.0 and x[i] == x[i] and y[i] == y[i]):
            return None
        if k and x[i] == px[last] and y[i] == py[last]:
            inv[i] = last               # (the usual: the row's class is the last one's)
            continue
        for j in range(k):
            if x[i] == px[j] and y[i] == py[j]:
                break
        else:
            if k == MAX_PAIRS:
                return None
            px[k] = x[i]
            py[k] = y[i]
            j = k
            k += 1
        inv[i] = last = j
    # the pairs in lexicographic order (an insertion sort of at most 16), then
    # each row's index among them
    for j in range(k):
        order[j] = j
        i = j
        while i > 0 and (px[order[i - 1]] > px[j] or
                         (px[order[i - 1]] == px[j] and py[order[i - 1]] > py[j])):
            order[i] = order[i - 1]
            i -= 1
        order[i] = j
    pairs = np.empty((k, 2), np.float64)
    cdef double *pp = f64(pairs, 2 * k, "pairs")
    for j in range(k):
        rank[order[j]] = j
        pp[2 * j] = px[order[j]]
        pp[2 * j + 1] = py[order[j]]
    for i in range(m):
        inv[i] = rank[inv[i]]
    return pairs, inverse


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
    f_arr = [new_array(nf, I64) for k in range(3)]
    d_arr = [new_array(nd, I64) for k in range(3)]
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


def frozen_copies(tuple arrays):
    """Immutable copies of 1-D arrays of numbers (or bools), in one call: each as
    ``np.frombuffer(a.tobytes(), a.dtype)`` makes it (read-only, and never
    writable again: its data is held by a ``bytes`` object), all held by one
    ``bytes`` object, each copy aligned to 16 bytes, in native byte order.
    The patients' arrays the end of a step hands to the hooks
    (``RankRun._patients``)."""
    cdef Py_ssize_t k = len(arrays), i, total = 0, size
    cdef cnp.ndarray arr
    cdef cnp.npy_intp dims[1]
    cdef Py_ssize_t *at = <Py_ssize_t *>malloc((k if k else 1) * sizeof(Py_ssize_t))
    cdef char *data
    if at == NULL:
        raise MemoryError()
    try:
        arrays = tuple(arrays)
        for i in range(k):
            a = arrays[i]
            if not cnp.PyArray_Check(a):
                raise TypeError(f"frozen_copies: expected NumPy arrays, got {type(a).__name__}")
            arr = <cnp.ndarray>a
            if cnp.PyArray_NDIM(arr) != 1 or not cnp.PyArray_ISNUMBER(arr):
                raise TypeError(f"frozen_copies: array {i} is not a 1-D array of numbers "
                                f"({arr.dtype}, {cnp.PyArray_NDIM(arr)} axes)")
            if not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)
                    and cnp.PyArray_ISNOTSWAPPED(arr)):    # (never the engine's)
                arrays = arrays[:i] + (as_array(arr, cnp.PyArray_TYPE(arr)),) + arrays[i + 1:]
                arr = <cnp.ndarray>arrays[i]
            at[i] = total
            total += (cnp.PyArray_NBYTES(arr) + 15) & ~(<Py_ssize_t>15)
        buf = PyBytes_FromStringAndSize(NULL, total)
        data = PyBytes_AS_STRING(buf)
        out = []
        for i in range(k):
            arr = <cnp.ndarray>arrays[i]
            size = cnp.PyArray_NBYTES(arr)
            if size:
                memcpy(data + at[i], cnp.PyArray_DATA(arr), size)
            dims[0] = cnp.PyArray_DIMS(arr)[0]
            copy = cnp.PyArray_SimpleNewFromData(1, dims, cnp.PyArray_TYPE(arr), data + at[i])
            cnp.set_array_base(<cnp.ndarray>copy, buf)
            cnp.PyArray_CLEARFLAGS(<cnp.ndarray>copy, cnp.NPY_ARRAY_WRITEABLE)
            out.append(copy)
        return tuple(out)
    finally:
        free(at)


def fill_rows(object block, object values):
    """``block[...] = values[:, None]`` in one call: row ``i`` of the 2-D
    ``block`` set to ``values[i]``, for float64 or bool arrays of one dtype
    whose rows are each C-contiguous (the first ``n`` columns of a wider
    buffer, as ``paget.state.Rates.neutral`` keeps the step's rates), where
    NumPy's broadcast assignment sets up an iterator each call."""
    if not (cnp.PyArray_Check(block) and cnp.PyArray_Check(values)):
        raise TypeError("fill_rows: expected NumPy arrays")
    cdef cnp.ndarray b = <cnp.ndarray>block, v = <cnp.ndarray>values
    cdef int t = cnp.PyArray_TYPE(b)
    if t != cnp.PyArray_TYPE(v) or t not in (F64, cnp.NPY_BOOL):
        raise TypeError(f"fill_rows: expected float64 or bool arrays of one dtype, got "
                        f"{b.dtype} and {v.dtype}")
    if cnp.PyArray_NDIM(b) != 2 or cnp.PyArray_NDIM(v) != 1 or \
            cnp.PyArray_DIMS(b)[0] != cnp.PyArray_DIMS(v)[0]:
        raise ValueError(f"fill_rows: expected a (k, n) block and k values, got shapes "
                         f"{block.shape} and {values.shape}")
    cdef Py_ssize_t k = cnp.PyArray_DIMS(b)[0], n = cnp.PyArray_DIMS(b)[1], i, j
    cdef Py_ssize_t size = cnp.PyArray_ITEMSIZE(b), step = cnp.PyArray_STRIDES(b)[0]
    if not (cnp.PyArray_ISALIGNED(b) and cnp.PyArray_ISNOTSWAPPED(b) and
            (n <= 1 or cnp.PyArray_STRIDES(b)[1] == size)):
        raise ValueError("fill_rows: the block's rows must be C-contiguous, aligned and "
                         "in native byte order")
    if not cnp.PyArray_ISWRITEABLE(b):
        raise ValueError("fill_rows: the block is read-only")
    values = as_array(values, t)
    cdef char *data = <char *>cnp.PyArray_DATA(b)
    cdef const char *val = <const char *>cnp.PyArray_DATA(<cnp.ndarray>values)
    cdef double x
    cdef double *row
    for i in range(k):
        if t == F64:
            x = (<const double *>val)[i]
            row = <double *>(data + i * step)
            for j in range(n):
                row[j] = x
        else:
            memset(data + i * step, 1 if val[i] else 0, n)



def any_nonzero(object a):
    """``np.count_nonzero(a) > 0`` in one call, without NumPy's Python wrapper
    (the engine asks it three times a step: a removal, the direct route, a
    death): a C-contiguous, aligned float64 or bool array is read here (a NaN
    is nonzero, as there), anything else given to ``np.count_nonzero``."""
    cdef cnp.ndarray arr
    cdef Py_ssize_t n, i
    cdef const double *d
    cdef const char *b
    if cnp.PyArray_Check(a):
        arr = <cnp.ndarray>a
        if cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr):
            n = cnp.PyArray_SIZE(arr)
            if cnp.PyArray_TYPE(arr) == F64 and cnp.PyArray_ISNOTSWAPPED(arr):
                d = <const double *>cnp.PyArray_DATA(arr)
                for i in range(n):
                    if d[i] != 0.0:
                        return True
                return False
            if cnp.PyArray_TYPE(arr) == cnp.NPY_BOOL:
                b = <const char *>cnp.PyArray_DATA(arr)
                for i in range(n):
                    if b[i]:
                        return True
                return False
    return bool(np.count_nonzero(a))
