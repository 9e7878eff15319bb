# cython: freethreading_compatible = False
"""The built-in plugins' extravasation probabilities and cell fates, per (source row, organ).

Part of ``paget.ext.plugin_math`` (which re-exports it; see there): the same
float64 results as the NumPy each function replaces, to the bit."""
from libc.stdint cimport int64_t

import numpy as np

cimport numpy as cnp
from plugin_support cimport (
    array_data, array_size, check_index, np_max, np_min,
)

cnp.import_array()
cnp.import_ufunc()



# --------------------------------------------------------------------------

def fill_rows(per_organ, out):
    """``out[:] = per_organ[None, :]`` for ``out`` (float64, (m, n_organs))."""
    cdef Py_ssize_t O = array_size(per_organ, "per_organ"), n = array_size(out, "out"), i, j
    cdef const double *po = <const double *>array_data(per_organ, cnp.NPY_DOUBLE, O, "per_organ")
    cdef double *o = <double *>array_data(out, cnp.NPY_DOUBLE, n, "out")
    if n == 0:
        return
    if O == 0 or n % O:
        raise ValueError(f"fill_rows: out must be (m, {O}), got {np.shape(out)}")
    for i in range(0, n, O):
        for j in range(O):
            o[i + j] = po[j]

def genetics_extravasation(row, extravasation_factor, bone_tropism, Py_ssize_t bone,
                           probability):
    """``genetics.paget_extravasation``, in place on ``probability`` (float64, (m,
    n_organs)): times the source row's ``extravasation_factor``, the bone column
    times its ``bone_tropism`` too, then clipped to [0, 1]."""
    cdef Py_ssize_t m = array_size(row, "row"), i, j, O, R = array_size(extravasation_factor,
                                                              "extravasation_factor")
    cdef const int64_t *rw = <const int64_t *>array_data(row, cnp.NPY_INT64, m, "row")
    cdef const double *ef = <const double *>array_data(extravasation_factor, cnp.NPY_DOUBLE, R,
                                                  "extravasation_factor")
    cdef const double *bt = <const double *>array_data(bone_tropism, cnp.NPY_DOUBLE, R, "bone_tropism")
    cdef double *pr
    cdef double x
    if m == 0:
        return
    O = array_size(probability, "probability") // m
    if O * m != array_size(probability, "probability") or not 0 <= bone < O:
        raise ValueError(f"genetics_extravasation: probability must be ({m}, n_organs) with "
                         f"bone ({bone}) among the organs")
    pr = <double *>array_data(probability, cnp.NPY_DOUBLE, m * O, "probability")
    check_index(rw, m, R, "genetics_extravasation: row")
    for i in range(m):
        for j in range(O):
            x = pr[i * O + j] * ef[rw[i]]
            if j == bone:
                x = x * bt[rw[i]]
            pr[i * O + j] = np_min(np_max(x, 0.0), 1.0)

def niche_extravasation(pidx, niche, inflammation, double niche_gain,
                        double inflammation_gain, probability):
    """``microenvironment.paget_extravasation``, in place: ``probability`` (float64,
    (m, n_organs)) = ``min(probability x (1 + niche_gain niche[pidx]) x (1 +
    inflammation_gain inflammation[pidx]), 1)``."""
    cdef Py_ssize_t m = array_size(pidx, "pidx"), i, j, p, O, P = array_size(inflammation, "inflammation")
    cdef const int64_t *pi = <const int64_t *>array_data(pidx, cnp.NPY_INT64, m, "pidx")
    cdef const double *inf = <const double *>array_data(inflammation, cnp.NPY_DOUBLE, P, "inflammation")
    cdef const double *n
    cdef double *pr
    cdef double f
    if m == 0:
        return
    O = array_size(probability, "probability") // m
    if O * m != array_size(probability, "probability"):
        raise ValueError("probability: expected (m, n_organs) values")
    n = <const double *>array_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    pr = <double *>array_data(probability, cnp.NPY_DOUBLE, m * O, "probability")
    for i in range(m):
        p = pi[i]
        if p < 0 or p >= P:
            raise IndexError(f"niche_extravasation: patient index {p} outside [0, {P})")
        f = 1.0 + inflammation_gain * inf[p]
        for j in range(O):
            pr[i * O + j] = np_min(pr[i * O + j] * ((1.0 + niche_gain * n[p * O + j]) * f), 1.0)

def fill_fates(fates, die, double dormant, grow):
    """``colonization.paget_dtc_fate``: ``fates[..., 0] = die[organ]``, ``fates[...,
    1] = dormant``, ``fates[..., 2] = grow[organ]`` for ``fates`` (float64, (m,
    n_organs, 3)) and ``die``, ``grow`` (float64, (n_organs,))."""
    cdef Py_ssize_t O = array_size(die, "die"), n = array_size(fates, "fates"), i, j
    cdef const double *d = <const double *>array_data(die, cnp.NPY_DOUBLE, O, "die")
    cdef const double *g = <const double *>array_data(grow, cnp.NPY_DOUBLE, O, "grow")
    cdef double *f = <double *>array_data(fates, cnp.NPY_DOUBLE, n, "fates")
    if O == 0 or n % (3 * O):
        if n == 0:
            return
        raise ValueError(f"fill_fates: fates must be (m, {O}, 3), got {np.shape(fates)}")
    for i in range(0, n, 3 * O):
        for j in range(O):
            f[i + 3 * j] = d[j]
            f[i + 3 * j + 1] = dormant
            f[i + 3 * j + 2] = g[j]

def niche_fates(pidx, niche, double gain, fates):
    """``microenvironment.paget_dtc_fate``, in place on ``fates`` (float64, (m,
    n_organs, 3)): nothing where no source's patient has a niche; else, per
    (source, organ), ``grow' = min(grow + die, grow (1 + gain niche))``, ``die'
    = max(die - (grow' - grow), 0)``.  Returns whether it changed anything."""
    cdef Py_ssize_t m = array_size(pidx, "pidx"), n = array_size(fates, "fates"), i, j, O, P, q
    cdef const int64_t *pi = <const int64_t *>array_data(pidx, cnp.NPY_INT64, m, "pidx")
    cdef const double *nc
    cdef double *f
    cdef double die, grow, new_grow
    cdef bint any_ = False
    if m == 0 or gain == 0:
        return False
    O = n // (3 * m)
    if O * 3 * m != n or O == 0:
        raise ValueError(f"niche_fates: fates must be ({m}, n_organs, 3), got {np.shape(fates)}")
    P = array_size(niche, "niche") // O
    nc = <const double *>array_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    f = <double *>array_data(fates, cnp.NPY_DOUBLE, n, "fates")
    check_index(pi, m, P, "niche_fates: patient index")
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
