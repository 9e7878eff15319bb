# cython: freethreading_compatible = False
"""The dissemination kernel: the fates of the CTCs each lesion row shed in one step.

The CTCs of a row are split over circulation, arrest, extravasation and the
fates of disseminated cells, from one keyed stream per shedding row; the splits
are multinomials by conditional binomials (``samplers.pxd``, compiled inline).
"""
from libc.stdint cimport int64_t, uint64_t
from numpy.random cimport bitgen_t

from keyed_stream cimport paget_stream_init, paget_stream_t
from paget_kernels cimport PGT_PURPOSE_DISSEMINATE, count_t, organ_t, patient_t, uid_t
from samplers cimport (
    BINOM_CACHE_BITS, SPLIT_INVERSION_MEAN, binom_cache_clear, binom_entry, draw_binomial,
    multinomial_split,
)

import numpy as np


def disseminate(const uid_t[::1] uid, const patient_t[::1] patient,
                const organ_t[::1] organ, const int64_t[::1] fate_class,
                const count_t[::1] shed, const double[::1] lymph,
                const double[:, :, ::1] f_blood, const double[:, :, ::1] f_lymph,
                const double[:, ::1] p_extravasate, const double[:, :, ::1] dtc_fates,
                uint64_t seed, int64_t step,
                count_t[:, ::1] arrested, count_t[::1] died,
                count_t[:, ::1] extravasated, count_t[:, ::1] dtc_died,
                count_t[:, ::1] dormant, count_t[:, ::1] founded,
                const double[::1] direct=None, const double[:, :, ::1] f_direct=None,
                count_t[::1] exfoliated=None):
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
    cdef Py_ssize_t m = uid.shape[0]
    cdef Py_ssize_t n_cls = f_blood.shape[0]
    cdef Py_ssize_t n_org = f_blood.shape[1]
    cdef Py_ssize_t n_fate = f_blood.shape[2]
    if (n_fate != n_org + 1 or f_lymph.shape[0] != n_cls or f_lymph.shape[1] != n_org or
            f_lymph.shape[2] != n_fate):
        raise ValueError("disseminate: f_blood and f_lymph are (classes, organs, organs + 1)")
    if (p_extravasate.shape[0] != m or p_extravasate.shape[1] != n_org or
            dtc_fates.shape[0] != m or dtc_fates.shape[1] != n_org or dtc_fates.shape[2] != 3):
        raise ValueError("disseminate: p_extravasate is (rows, organs), dtc_fates (rows, organs, 3)")
    # (C comparisons: any() over generators of Python ints cost ~2 us a step)
    if (patient.shape[0] != m or organ.shape[0] != m or fate_class.shape[0] != m or
            shed.shape[0] != m or lymph.shape[0] != m or died.shape[0] != m):
        raise ValueError("disseminate: every row array must have one length")
    if (arrested.shape[0] != m or arrested.shape[1] != n_org or
            extravasated.shape[0] != m or extravasated.shape[1] != n_org or
            dtc_died.shape[0] != m or dtc_died.shape[1] != n_org or
            dormant.shape[0] != m or dormant.shape[1] != n_org or
            founded.shape[0] != m or founded.shape[1] != n_org):
        raise ValueError("disseminate: outputs must be (rows, organs)")
    cdef bint has_direct = direct is not None
    if has_direct != (f_direct is not None) or has_direct != (exfoliated is not None):
        raise ValueError("disseminate: direct, f_direct and exfoliated go together")
    if has_direct and (direct.shape[0] != m or exfoliated.shape[0] != m or
                       f_direct.shape[0] != n_cls or f_direct.shape[1] != n_org or
                       f_direct.shape[2] != n_fate):
        raise ValueError("disseminate: direct and exfoliated are (rows,), f_direct "
                         "(classes, organs, organs + 1)")
    cdef Py_ssize_t i, j, c
    for i in range(m):
        if not 0 <= fate_class[i] < n_cls:
            raise ValueError(f"disseminate: fate class {fate_class[i]} of row {i} out of range")
        if not 0 <= organ[i] < n_org:
            raise ValueError(f"disseminate: organ {organ[i]} of row {i} out of range")
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef double[::1] pix = np.empty(n_fate, dtype=np.float64)
    cdef double[::1] pdir = np.empty(n_fate, dtype=np.float64)
    cdef count_t[::1] cav = np.empty(n_org, dtype=np.int64)
    cdef double l, pd, pdorm, d
    cdef count_t left, ext, x, xd
    cdef binom_entry bcache[1 << BINOM_CACHE_BITS]
    binom_cache_clear(bcache)
    with nogil:
        for i in range(m):
            died[i] = 0
            for j in range(n_org):
                arrested[i, j] = 0
                extravasated[i, j] = 0
                dtc_died[i, j] = 0
                dormant[i, j] = 0
                founded[i, j] = 0
            left = shed[i]
            if left <= 0:
                continue
            paget_stream_init(&s, &bg, seed, uid[i], <uint64_t>step,
                              PGT_PURPOSE_DISSEMINATE, <uint64_t>patient[i])
            l = lymph[i]
            c = fate_class[i]
            xd = 0
            if has_direct:
                exfoliated[i] = 0
                d = direct[i]
                if d > 0.0:
                    # the direct route first: its cells, then the rest's lymph share
                    xd = draw_binomial(&bg, bcache, d, left, SPLIT_INVERSION_MEAN)
                    exfoliated[i] = xd
                    left -= xd
                    l = l / (1.0 - d) if d < 1.0 else 0.0
                    if l > 1.0:
                        l = 1.0
            for j in range(n_fate):
                pix[j] = (1.0 - l) * f_blood[c, organ[i], j] + l * f_lymph[c, organ[i], j]
            # arrest in each organ (columns 0 .. n_org - 1) or death in the
            # circulation (the last fate, the rest)
            if left > 0:
                died[i] = multinomial_split(&bg, bcache, left, &pix[0], n_fate,
                                            &arrested[i, 0])
            if xd > 0:
                for j in range(n_org):
                    cav[j] = 0
                for j in range(n_fate):
                    pdir[j] = f_direct[c, organ[i], j]
                died[i] += multinomial_split(&bg, bcache, xd, &pdir[0], n_fate, &cav[0])
                for j in range(n_org):
                    arrested[i, j] += cav[j]
            for j in range(n_org):
                x = arrested[i, j]
                if x <= 0:
                    continue
                ext = draw_binomial(&bg, bcache, p_extravasate[i, j], x, SPLIT_INVERSION_MEAN)
                extravasated[i, j] = ext
                if ext <= 0:
                    continue
                pd = dtc_fates[i, j, 0]
                pdorm = dtc_fates[i, j, 1]
                x = draw_binomial(&bg, bcache, pd, ext, SPLIT_INVERSION_MEAN)
                dtc_died[i, j] = x
                ext -= x
                if ext > 0 and pd < 1.0:
                    x = draw_binomial(&bg, bcache, pdorm / (1.0 - pd), ext, SPLIT_INVERSION_MEAN)
                    dormant[i, j] = x
                    founded[i, j] = ext - x

