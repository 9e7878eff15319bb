# cython: freethreading_compatible = False
"""The dissemination kernel: the fates of the CTCs each lesion row shed in one step.

The CTCs of a row are split over circulation, arrest, extravasation and the
fates of disseminated cells, from one keyed stream per shedding row; the splits
are multinomials by conditional binomials (``samplers.pxd``, compiled inline).
"""
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from numpy.random cimport bitgen_t

from keyed_stream cimport paget_stream_init, paget_stream_t
from paget_kernels cimport PGT_PURPOSE_DISSEMINATE, count_t, organ_t, patient_t, uid_t
from samplers cimport (
    BINOM_CACHE_BITS, SPLIT_INVERSION_MEAN, binom_cache_clear, binom_entry, draw_binomial,
    multinomial_split,
)

cimport numpy as cnp
from engine_support cimport grid_data, out_data
from plugin_support cimport array_data, array_size

cnp.import_array()


cdef inline void *out_grid(object a, Py_ssize_t m, Py_ssize_t n_org, str name) except NULL:
    """An int64 (rows, organs) output's data: ValueError for another shape."""
    cdef Py_ssize_t shape[2]
    cdef void *p = grid_data(a, cnp.NPY_INT64, 2, shape, name)
    if shape[0] != m or shape[1] != n_org:
        raise ValueError("disseminate: outputs must be (rows, organs)")
    if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a):
        raise ValueError(f"{name}: the array is read-only")
    return p


def disseminate(object uid, object patient, object organ, object fate_class, object shed,
                object lymph, object f_blood, object f_lymph, object p_extravasate,
                object dtc_fates, uint64_t seed, int64_t step, object arrested, object died,
                object extravasated, object dtc_died, object dormant, object founded,
                object direct=None, object f_direct=None, object exfoliated=None):
    """Split the CTCs each source row shed over their fates.

    For source row i (organ o, shed n_i, lymphatic fraction l_i, circulation
    class c_i), the CTCs are split multinomially over the absorbing fates of the
    circulation, ``(1 - l_i) f_blood[c_i, o] + l_i f_lymph[c_i, o]`` (columns:
    arrest in each organ, then death in circulation).  In each organ j, the
    arrested cells extravasate with probability ``p_extravasate[i, j]``; those
    that fail die in the capillary bed.  Extravasated cells take a fate (die,
    dormant, grow) with probabilities ``dtc_fates[i, j, :]``.

    A third, direct route (a serosal cavity: ``direct``, ``f_direct`` and
    ``exfoliated``, given together or not at all): of row i's CTCs,
    Binomial(n_i, d_i) with d_i = ``direct[i]`` take it, written to
    ``exfoliated[i]``, and are split over ``f_direct[c_i, o]`` (same columns as
    ``f_blood``); the rest over the blood and lymph mixture with the lymphatic
    share l_i / (1 - d_i), so that l_i of all the row's cells enter lymph.  A row
    with d_i = 0 draws exactly as without the route.

    Outputs are per (source row, organ) except ``died`` (per source row).  Draws
    come from the stream keyed by (seed, uid, step, DISSEMINATE, patient), so the
    result for a row does not depend on which other rows are present.
    """
    # the arrays' data through NumPy's C API: the typed memoryviews of a call
    # cost ~2.5 us to acquire, most of a step's call with a few shedding rows
    cdef Py_ssize_t m = array_size(uid, "uid")
    cdef Py_ssize_t sb[3]
    cdef Py_ssize_t sl[3]
    cdef Py_ssize_t sp[2]
    cdef Py_ssize_t sf[3]
    cdef Py_ssize_t sd[3]
    cdef const double *fb = <const double *>grid_data(f_blood, cnp.NPY_DOUBLE, 3, sb, "f_blood")
    cdef const double *fl = <const double *>grid_data(f_lymph, cnp.NPY_DOUBLE, 3, sl, "f_lymph")
    cdef const double *pe = <const double *>grid_data(p_extravasate, cnp.NPY_DOUBLE, 2, sp,
                                                      "p_extravasate")
    cdef const double *df = <const double *>grid_data(dtc_fates, cnp.NPY_DOUBLE, 3, sf, "dtc_fates")
    cdef Py_ssize_t n_cls = sb[0]
    cdef Py_ssize_t n_org = sb[1]
    cdef Py_ssize_t n_fate = sb[2]
    if (n_fate != n_org + 1 or sl[0] != n_cls or sl[1] != n_org or sl[2] != n_fate):
        raise ValueError("disseminate: f_blood and f_lymph are (classes, organs, organs + 1)")
    if (sp[0] != m or sp[1] != n_org or sf[0] != m or sf[1] != n_org or sf[2] != 3):
        raise ValueError("disseminate: p_extravasate is (rows, organs), dtc_fates (rows, organs, 3)")
    # (C comparisons: any() over generators of Python ints cost ~2 us a step)
    if (array_size(patient, "patient") != m or array_size(organ, "organ") != m or
            array_size(fate_class, "fate_class") != m or array_size(shed, "shed") != m or
            array_size(lymph, "lymph") != m or array_size(died, "died") != m):
        raise ValueError("disseminate: every row array must have one length")
    cdef count_t *ar = <count_t *>out_grid(arrested, m, n_org, "arrested")
    cdef count_t *ex = <count_t *>out_grid(extravasated, m, n_org, "extravasated")
    cdef count_t *dd = <count_t *>out_grid(dtc_died, m, n_org, "dtc_died")
    cdef count_t *dm = <count_t *>out_grid(dormant, m, n_org, "dormant")
    cdef count_t *fo = <count_t *>out_grid(founded, m, n_org, "founded")
    cdef const uid_t *ui = <const uid_t *>array_data(uid, cnp.NPY_UINT64, m, "uid")
    cdef const patient_t *pt = <const patient_t *>array_data(patient, cnp.NPY_INT64, m, "patient")
    cdef const organ_t *og = <const organ_t *>array_data(organ, cnp.NPY_INT16, m, "organ")
    cdef const int64_t *fc = <const int64_t *>array_data(fate_class, cnp.NPY_INT64, m, "fate_class")
    cdef const count_t *sh = <const count_t *>array_data(shed, cnp.NPY_INT64, m, "shed")
    cdef const double *ly = <const double *>array_data(lymph, cnp.NPY_DOUBLE, m, "lymph")
    cdef count_t *di = <count_t *>out_data(died, cnp.NPY_INT64, m, "died")
    cdef bint has_direct = direct is not None
    if has_direct != (f_direct is not None) or has_direct != (exfoliated is not None):
        raise ValueError("disseminate: direct, f_direct and exfoliated go together")
    cdef const double *dr = NULL
    cdef const double *fd = NULL
    cdef count_t *xf = NULL
    if has_direct:
        fd = <const double *>grid_data(f_direct, cnp.NPY_DOUBLE, 3, sd, "f_direct")
        if (array_size(direct, "direct") != m or array_size(exfoliated, "exfoliated") != m or
                sd[0] != n_cls or sd[1] != n_org or sd[2] != n_fate):
            raise ValueError("disseminate: direct and exfoliated are (rows,), f_direct "
                             "(classes, organs, organs + 1)")
        dr = <const double *>array_data(direct, cnp.NPY_DOUBLE, m, "direct")
        xf = <count_t *>out_data(exfoliated, cnp.NPY_INT64, m, "exfoliated")
    cdef Py_ssize_t i, j, c, at
    for i in range(m):
        if not 0 <= fc[i] < n_cls:
            raise ValueError(f"disseminate: fate class {fc[i]} of row {i} out of range")
        if not 0 <= og[i] < n_org:
            raise ValueError(f"disseminate: organ {og[i]} of row {i} out of range")
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef double l, pd, pdorm, d
    cdef count_t left, ext, x, xd
    cdef binom_entry bcache[1 << BINOM_CACHE_BITS]
    # scratch: the fates of a row's blood and lymph mixture, of its direct route,
    # and the direct route's arrests
    cdef double *pix = <double *>malloc(2 * n_fate * sizeof(double))
    cdef double *pdir = pix + n_fate
    cdef count_t *cav = <count_t *>malloc((n_org if n_org > 0 else 1) * sizeof(count_t))
    if pix == NULL or cav == NULL:
        free(pix)
        free(cav)
        raise MemoryError()
    binom_cache_clear(bcache)
    try:
        with nogil:
            for i in range(m):
                di[i] = 0
                for j in range(i * n_org, (i + 1) * n_org):
                    ar[j] = 0
                    ex[j] = 0
                    dd[j] = 0
                    dm[j] = 0
                    fo[j] = 0
                left = sh[i]
                if left <= 0:
                    continue
                paget_stream_init(&s, &bg, seed, ui[i], <uint64_t>step,
                                  PGT_PURPOSE_DISSEMINATE, <uint64_t>pt[i])
                l = ly[i]
                c = fc[i]
                xd = 0
                if has_direct:
                    xf[i] = 0
                    d = dr[i]
                    if d > 0.0:
                        # the direct route first: its cells, then the rest's lymph share
                        xd = draw_binomial(&bg, bcache, d, left, SPLIT_INVERSION_MEAN)
                        xf[i] = xd
                        left -= xd
                        l = l / (1.0 - d) if d < 1.0 else 0.0
                        if l > 1.0:
                            l = 1.0
                # the row of the source's class and organ in the (classes, organs,
                # organs + 1) fates
                at = (c * n_org + og[i]) * n_fate
                for j in range(n_fate):
                    pix[j] = (1.0 - l) * fb[at + j] + l * fl[at + j]
                # arrest in each organ (columns 0 .. n_org - 1) or death in the
                # circulation (the last fate, the rest)
                if left > 0:
                    di[i] = multinomial_split(&bg, bcache, left, pix, n_fate, &ar[i * n_org])
                if xd > 0:
                    for j in range(n_org):
                        cav[j] = 0
                    for j in range(n_fate):
                        pdir[j] = fd[at + j]
                    di[i] += multinomial_split(&bg, bcache, xd, pdir, n_fate, cav)
                    for j in range(n_org):
                        ar[i * n_org + j] += cav[j]
                for j in range(n_org):
                    x = ar[i * n_org + j]
                    if x <= 0:
                        continue
                    ext = draw_binomial(&bg, bcache, pe[i * n_org + j], x, SPLIT_INVERSION_MEAN)
                    ex[i * n_org + j] = ext
                    if ext <= 0:
                        continue
                    pd = df[(i * n_org + j) * 3]
                    pdorm = df[(i * n_org + j) * 3 + 1]
                    x = draw_binomial(&bg, bcache, pd, ext, SPLIT_INVERSION_MEAN)
                    dd[i * n_org + j] = x
                    ext -= x
                    if ext > 0 and pd < 1.0:
                        x = draw_binomial(&bg, bcache, pdorm / (1.0 - pd), ext,
                                          SPLIT_INVERSION_MEAN)
                        dm[i * n_org + j] = x
                        fo[i * n_org + j] = ext - x
    finally:
        free(pix)
        free(cav)
