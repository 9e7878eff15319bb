# cython: freethreading_compatible = False
"""The built-in plugins' per-patient readouts: outcome, supportive care, microenvironment, imaging, liquid biopsy.

Part of ``paget.ext.plugin_math`` (which re-exports it; see there): the same
float64 results as the NumPy each function replaces, to the bit."""
from libc.math cimport ceil, floor
from libc.stdint cimport int16_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

cimport numpy as cnp
from plugin_support cimport (
    Gather, Loop, array_data, array_size, check_index, first_of_each, gather_alloc, gather_free, loop_of,
    np_max, np_min, poisson_small, vec, vec_scalar, whole_nonnegative,
)
from scipy import special

cnp.import_array()
cnp.import_ufunc()

cdef Loop LOG = loop_of(np.log)
cdef Loop LOG10 = loop_of(np.log10)
cdef Loop LOG1P = loop_of(np.log1p)
cdef Loop EXPM1 = loop_of(np.expm1)
cdef Loop EXP = loop_of(np.exp)
cdef Loop CBRT = loop_of(np.cbrt)
cdef Loop POWER = loop_of(np.power)
#: SciPy's float64 loop of ``special.ndtri`` (the marker's normal deviates)
cdef Loop NDTRI = loop_of(special.ndtri)
cdef Loop _LOOPS[7]
_LOOPS[:] = [LOG, LOG10, LOG1P, EXPM1, EXP, CBRT, POWER]



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
# outcome

cdef struct Rows:
    # the lesion view's columns a function reads (NULL: not given), N rows
    Py_ssize_t N
    const cnp.npy_bool *dormant
    const double *cells
    const double *lesion_cells
    const uint64_t *lesion
    const cnp.npy_bool *primary
    const int16_t *organ
    const int64_t *pidx


cdef inline const void *_column(object a, int typenum, Py_ssize_t n, str name) except? NULL:
    """``array_data`` of a column, NULL where it is not given (None)."""
    return NULL if a is None else array_data(a, typenum, n, name)


cdef Rows _rows(cells, dormant=None, lesion_cells=None, lesion=None, primary=None,
                organ=None, pidx=None) except *:
    """The checked data of a lesion view's columns (those given, None for the
    others: a C function takes no keywords), each of ``cells``' length:
    ``dormant`` and ``primary`` bool, ``lesion_cells`` float64, ``lesion``
    uint64, ``organ`` int16, ``pidx`` int64."""
    cdef Rows r
    r.N = array_size(cells, "cells")
    r.cells = <const double *>array_data(cells, cnp.NPY_DOUBLE, r.N, "cells")
    r.dormant = <const cnp.npy_bool *>_column(dormant, cnp.NPY_BOOL, r.N, "dormant")
    r.lesion_cells = <const double *>_column(lesion_cells, cnp.NPY_DOUBLE, r.N, "lesion_cells")
    r.lesion = <const uint64_t *>_column(lesion, cnp.NPY_UINT64, r.N, "lesion")
    r.primary = <const cnp.npy_bool *>_column(primary, cnp.NPY_BOOL, r.N, "primary")
    r.organ = <const int16_t *>_column(organ, cnp.NPY_INT16, r.N, "organ")
    r.pidx = <const int64_t *>_column(pidx, cnp.NPY_INT64, r.N, "pidx")
    return r


cdef Py_ssize_t _detectable_first(Rows r, double threshold, Py_ssize_t *big) except -1:
    """Writes to ``big`` the rows, one per lesion of at least ``threshold`` cells,
    that lesion's first growing row (not dormant, cells > 0), in row order
    (``outcome.detectable``); returns how many."""
    cdef Py_ssize_t i, n_big = 0
    for i in range(r.N):
        if not r.dormant[i] and r.cells[i] > 0 and r.lesion_cells[i] >= threshold:
            big[n_big] = i
            n_big += 1
    # keep each lesion's first row (np.unique(..., return_index=True), sorted)
    return first_of_each(r.lesion, big, n_big)


def detectable_rows(dormant, cells, lesion_cells, lesion, primary, double threshold):
    """The first half of ``outcome.paget_outcome``: ``outcome.detectable`` and the
    values of its two sums.

    Returns ``(rows, ones, metastasis)``: the rows (intp), one per lesion of at
    least ``threshold`` cells, that lesion's first growing row (not dormant,
    cells > 0), in row order; ``np.ones(rows.size)``; and
    ``(~primary[rows]).astype(np.float64)``.
    """
    cdef Rows rw = _rows(cells, dormant, lesion_cells, lesion, primary)
    cdef Py_ssize_t N = rw.N, i, m
    cdef Py_ssize_t *big
    cdef cnp.ndarray rows, ones, metastasis
    cdef Py_ssize_t *r
    cdef double *o
    cdef double *mt
    big = <Py_ssize_t *>malloc((N if N > 0 else 1) * sizeof(Py_ssize_t))
    if big == NULL:
        raise MemoryError()
    try:
        m = _detectable_first(rw, threshold, big)
        rows = np.empty(m, dtype=np.intp)
        ones = np.empty(m, dtype=np.float64)
        metastasis = np.empty(m, dtype=np.float64)
        r = <Py_ssize_t *>array_data(rows, cnp.NPY_INTP, m, "rows")
        o = <double *>array_data(ones, cnp.NPY_DOUBLE, m, "ones")
        mt = <double *>array_data(metastasis, cnp.NPY_DOUBLE, m, "metastasis")
        for i in range(m):
            r[i] = big[i]
            o[i] = 1.0
            mt[i] = 0.0 if rw.primary[big[i]] else 1.0
    finally:
        free(big)
    return rows, ones, metastasis


cdef struct OutcomeOut:
    # outcome_update's per-patient arrays, checked
    Py_ssize_t P, O, lymph
    const cnp.npy_bool *alive
    int64_t *detectable_lesions
    double *first_metastasis
    double *first_distant
    const double *burden
    cnp.npy_bool *dying


cdef OutcomeOut _outcome_out(alive, Py_ssize_t O, Py_ssize_t lymph, detectable_lesions,
                             first_metastasis, first_distant, burden, dying) except *:
    """The checked data of ``outcome_update``'s per-patient arguments, ``O`` organs."""
    cdef OutcomeOut out
    cdef Py_ssize_t P = array_size(alive, "alive")
    out.P, out.O, out.lymph = P, O, lymph
    if not 0 <= lymph < O and P:
        raise IndexError(f"outcome_update: lymph node organ {lymph} outside [0, {O})")
    out.alive = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    out.detectable_lesions = <int64_t *>array_data(detectable_lesions, cnp.NPY_INT64, P * O,
                                                   "detectable_lesions")
    out.first_metastasis = <double *>array_data(first_metastasis, cnp.NPY_DOUBLE, P,
                                                "first_metastasis")
    out.first_distant = <double *>array_data(first_distant, cnp.NPY_DOUBLE, P, "first_distant")
    out.burden = <const double *>array_data(burden, cnp.NPY_DOUBLE, P, "burden")
    out.dying = <cnp.npy_bool *>array_data(dying, cnp.NPY_BOOL, P, "dying")
    return out


cdef void _outcome_write(OutcomeOut o, const double *cn, const double *bo, double lethal,
                         double t_end) noexcept:
    """``outcome_update``'s loop over the patients (see there)."""
    cdef Py_ssize_t p, j, O = o.O
    cdef double met, distant
    for p in range(o.P):
        if not o.alive[p]:
            continue
        met = 0.0
        for j in range(O):
            o.detectable_lesions[p * O + j] = <int64_t>cn[p * O + j]
            met = met + bo[p * O + j]
        distant = met - bo[p * O + o.lymph]
        if met > 0 and o.first_metastasis[p] != o.first_metastasis[p]:
            o.first_metastasis[p] = t_end
        if distant > 0 and o.first_distant[p] != o.first_distant[p]:
            o.first_distant[p] = t_end
        if o.burden[p] >= lethal:
            o.dying[p] = 1


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
    cdef Py_ssize_t P = array_size(alive, "alive"), O
    O = array_size(counts, "counts") // P if P else 0
    if O * P != array_size(counts, "counts"):
        raise ValueError(f"counts: expected (P = {P}, n_organs) values, got {array_size(counts, 'counts')}")
    cdef OutcomeOut o = _outcome_out(alive, O, lymph, detectable_lesions, first_metastasis,
                                     first_distant, burden, dying)
    cdef const double *cn = <const double *>array_data(counts, cnp.NPY_DOUBLE, P * O, "counts")
    cdef const double *bo = <const double *>array_data(by_organ, cnp.NPY_DOUBLE, P * O, "by_organ")
    _outcome_write(o, cn, bo, lethal, t_end)


def outcome_serial(dormant, cells, lesion_cells, lesion, primary, pidx, organ,
                   double threshold, Py_ssize_t lymph, alive, detectable_lesions,
                   first_metastasis, first_distant, burden, double lethal, double t_end,
                   dying):
    """``outcome.paget_outcome`` in one call where one rank holds each of its
    patients whole (``Lesions.serial``): ``detectable_rows``, the two
    per-(patient, organ) sums of its ``ones`` and ``metastasis`` (counts of whole
    numbers, so ``patient_sum``'s to the bit in any order) and
    ``outcome_update``.  ``pidx`` (int64) and ``organ`` (int16): each row's
    patient, in [0, P), and organ, in [0, n_organs) where ``detectable_lesions`` is (P,
    n_organs)."""
    cdef Rows rw = _rows(cells, dormant, lesion_cells, lesion, primary, organ, pidx)
    cdef Py_ssize_t N = rw.N, P = array_size(alive, "alive"), i, j, m, O
    O = array_size(detectable_lesions, "detectable_lesions") // P if P else 0
    cdef OutcomeOut o = _outcome_out(alive, O, lymph, detectable_lesions, first_metastasis,
                                     first_distant, burden, dying)
    cdef Py_ssize_t *big = <Py_ssize_t *>malloc((N if N > 0 else 1) * sizeof(Py_ssize_t))
    cdef double *sums = <double *>malloc((2 * P * O if P * O > 0 else 1) * sizeof(double))
    try:
        if big == NULL or sums == NULL:
            raise MemoryError()
        check_index(rw.pidx, N, P, "pidx")
        m = _detectable_first(rw, threshold, big)
        for i in range(2 * P * O):
            sums[i] = 0.0
        for i in range(m):
            if not 0 <= rw.organ[big[i]] < O:
                raise IndexError(f"organ {rw.organ[big[i]]} at {big[i]} outside [0, {O})")
            j = rw.pidx[big[i]] * O + rw.organ[big[i]]
            sums[j] += 1.0
            if not rw.primary[big[i]]:
                sums[P * O + j] += 1.0
        _outcome_write(o, sums, sums + P * O, lethal, t_end)
    finally:
        free(big)
        free(sums)

# --------------------------------------------------------------------------
# shared

cdef double TWO53 = 9007199254740992.0


cdef bint _whole_sums(Rows r, const cnp.npy_bool *skip, const cnp.npy_bool *only,
                      bint by_organ, Py_ssize_t P, Py_ssize_t O, double *out) except -1:
    """One rank's ``Lesions.patient_sum`` of the rows' ``cells`` where ``only`` (if
    given) and not ``skip`` (if given), 0 elsewhere: per patient (``out`` (P,))
    or ``by_organ`` (``out`` (P, O)), written to ``out``.  Its
    plain sums, in row order (``engine_sums.fold_sum_serial``'s, to the bit),
    where every term is whole and >= 0 and every sum below 2**53; else False,
    and the caller takes ``patient_sum`` (its folded sums).  IndexError for a
    row's patient or organ outside [0, P) or [0, O)."""
    cdef Py_ssize_t i, b, n = P * (O if by_organ else 1)
    cdef double x
    for b in range(n):
        out[b] = 0.0
    for i in range(r.N):
        if (only != NULL and not only[i]) or (skip != NULL and skip[i]):
            continue
        x = r.cells[i]
        if not whole_nonnegative(x):
            return False
        if not 0 <= r.pidx[i] < P:
            raise IndexError(f"pidx {r.pidx[i]} at {i} outside [0, {P})")
        b = r.pidx[i]
        if by_organ:
            if not 0 <= r.organ[i] < O:
                raise IndexError(f"organ {r.organ[i]} at {i} outside [0, {O})")
            b = b * O + r.organ[i]
        out[b] += x
    for b in range(n):
        if not out[b] < TWO53:
            return False
    return True


def growing_cells(dormant, cells, primary=None):
    """``np.where(dormant, 0.0, cells)`` (new float64 array); with ``primary``,
    ``np.where(~dormant & primary, cells, 0.0)``."""
    cdef Py_ssize_t N = array_size(cells, "cells"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const cnp.npy_bool *pri = NULL
    cdef cnp.ndarray out = np.empty(N, dtype=np.float64)
    cdef double *o = <double *>array_data(out, cnp.NPY_DOUBLE, N, "out")
    if primary is not None:
        pri = <const cnp.npy_bool *>array_data(primary, cnp.NPY_BOOL, N, "primary")
    for i in range(N):
        o[i] = 0.0 if dor[i] or (pri != NULL and not pri[i]) else c[i]
    return out

# --------------------------------------------------------------------------
# supportive

cdef int _supportive(Py_ssize_t P, Py_ssize_t O, const double *po, Py_ssize_t brain,
                     Py_ssize_t liver, Py_ssize_t bone, burden, alive, double load_cells,
                     double organ_cells, double w_brain, double w_liver, double w_bone,
                     double skeletal_event_rate, double dt, bint bone_agent,
                     double bone_agent_factor, symptom_burden, performance_status,
                     double *r) except -1:
    """``supportive_update`` from the per-(patient, organ) cells ``po``, its
    means written to ``r`` (see there)."""
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *bu = <const double *>array_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef double *sb = <double *>array_data(symptom_burden, cnp.NPY_DOUBLE, P, "symptom_burden")
    cdef int64_t *ps = <int64_t *>array_data(performance_status, cnp.NPY_INT64, P,
                                        "performance_status")
    cdef double *score
    cdef double s
    cdef Py_ssize_t p
    for name, k in (("brain", brain), ("liver", liver), ("bone", bone)):
        if P and not 0 <= k < O:
            raise IndexError(f"supportive_update: {name} organ {k} outside [0, {O})")
    if P == 0:
        return 0
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
    return 0


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
    cdef Py_ssize_t P = array_size(alive, "alive"), O
    cdef cnp.ndarray rate = np.empty(P, dtype=np.float64)
    O = array_size(per_organ, "per_organ") // P if P else 0
    if O * P != array_size(per_organ, "per_organ"):
        raise ValueError(f"per_organ: expected (P = {P}, n_organs) values, got "
                         f"{array_size(per_organ, 'per_organ')}")
    _supportive(P, O, <const double *>array_data(per_organ, cnp.NPY_DOUBLE, P * O, "per_organ"),
                brain, liver, bone, burden, alive, load_cells, organ_cells, w_brain, w_liver,
                w_bone, skeletal_event_rate, dt, bone_agent, bone_agent_factor, symptom_burden,
                performance_status, <double *>cnp.PyArray_DATA(rate))
    return rate


def supportive_serial(dormant, cells, pidx, organ, Py_ssize_t n_organs, Py_ssize_t brain,
                      Py_ssize_t liver, Py_ssize_t bone, burden, alive, double load_cells,
                      double organ_cells, double w_brain, double w_liver, double w_bone,
                      double skeletal_event_rate, double dt, bint bone_agent,
                      double bone_agent_factor, symptom_burden, performance_status):
    """``supportive_update`` where one rank holds each of its patients whole
    (``Lesions.serial``), the growing cells per (patient, organ) summed in the
    same call (``pidx`` int64, ``organ`` int16, per row).  Returns the
    skeletal events' means, None where none is above 0 (no event to draw), or
    False, with nothing written, where the sums are not plain ones (a
    fractional term, a sum from 2**53): the caller takes ``patient_sum`` and
    ``supportive_update``."""
    cdef Rows rw = _rows(cells, dormant, None, None, None, organ, pidx)
    cdef Py_ssize_t P = array_size(alive, "alive"), p
    cdef cnp.ndarray rate = np.empty(P, dtype=np.float64)
    cdef double *r = <double *>cnp.PyArray_DATA(rate)
    cdef double *po = <double *>malloc((P * n_organs if P * n_organs > 0 else 1) * sizeof(double))
    if po == NULL:
        raise MemoryError()
    try:
        if not _whole_sums(rw, rw.dormant, NULL, True, P, n_organs, po):
            return False
        _supportive(P, n_organs, po, brain, liver, bone, burden, alive, load_cells, organ_cells,
                    w_brain, w_liver, w_bone, skeletal_event_rate, dt, bone_agent,
                    bone_agent_factor, symptom_burden, performance_status, r)
    finally:
        free(po)
    for p in range(P):
        if r[p] != 0:
            return rate
    return None


def add_where(mask, values, out):
    """``out[mask] += values[mask]`` for int64 ``values`` and ``out``."""
    cdef Py_ssize_t P = array_size(mask, "mask"), p
    cdef const cnp.npy_bool *m = <const cnp.npy_bool *>array_data(mask, cnp.NPY_BOOL, P, "mask")
    cdef const int64_t *v = <const int64_t *>array_data(values, cnp.NPY_INT64, P, "values")
    cdef int64_t *o = <int64_t *>array_data(out, cnp.NPY_INT64, P, "out")
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
    cdef Py_ssize_t N = array_size(dormant, "dormant"), i, m = 0, j
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *lc = <const double *>array_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const cnp.npy_bool *vas = NULL
    cdef double *o = <double *>array_data(out, cnp.NPY_DOUBLE, N, "out")
    cdef double *x
    cdef Py_ssize_t *rows
    cdef Gather g
    cdef double core, level
    if vascular is not None:
        vas = <const cnp.npy_bool *>array_data(vascular, cnp.NPY_BOOL, N, "vascular")
    if N == 0:
        return
    g = gather_alloc(N)
    x, rows = g.x, g.rows
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
        gather_free(g)


def inflammation_update(burden, double half_burden, alive, inflammation):
    """``inflammation[alive] = (burden / (burden + half_burden))[alive]``."""
    cdef Py_ssize_t P = array_size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *bu = <const double *>array_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef double *inf = <double *>array_data(inflammation, cnp.NPY_DOUBLE, P, "inflammation")
    for p in range(P):
        if al[p]:
            inf[p] = bu[p] / (bu[p] + half_burden)


cdef int _niche(Py_ssize_t P, Py_ssize_t O, double *n, const double *pc, const double *w,
                double half_size, double build, double decay, double dt,
                const cnp.npy_bool *al) except -1:
    """``niche_update``'s loops (see there)."""
    cdef Py_ssize_t p, j, q
    cdef double *e
    cdef double *target
    cdef double signal, a, k
    if P * O == 0:
        return 0
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
    return 0


def niche_update(niche, primary_cells, weight, double half_size, double build, double decay,
                 double dt, alive):
    """``microenvironment.niche_step`` for the ``alive`` patients, in place in
    ``niche`` (float64, (P, n_organs)): the signal ``primary / (primary +
    half_size)`` and the exact step of dn/dt = build S w (1 - n) - decay n."""
    cdef Py_ssize_t P = array_size(alive, "alive"), O = array_size(weight, "weight")
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *pc = <const double *>array_data(primary_cells, cnp.NPY_DOUBLE, P, "primary_cells")
    cdef const double *w = <const double *>array_data(weight, cnp.NPY_DOUBLE, O, "weight")
    cdef double *n = <double *>array_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    _niche(P, O, n, pc, w, half_size, build, decay, dt, al)


def microenvironment_serial(dormant, cells, primary, pidx, alive, double half_burden,
                            inflammation, niche, weight, bint weighted, double half_size,
                            double build, double decay, double dt):
    """``microenvironment.paget_update_state`` but for the hypoxia rows, where one
    rank holds each of its patients whole (``Lesions.serial``): the growing
    cells and the primary's growing cells per patient summed in the call
    (``pidx`` int64, per row), then ``inflammation_update`` and, unless no
    organ is ``weighted`` and every ``niche`` value is 0, ``niche_update``
    (``weight``: the tropism per organ).  False, with nothing written, where
    the sums are not plain ones (a fractional term, a sum from 2**53): the
    caller takes ``patient_sum``."""
    cdef Rows rw = _rows(cells, dormant, None, None, primary, None, pidx)
    cdef Py_ssize_t P = array_size(alive, "alive"), O = array_size(weight, "weight"), p, q
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef double *inf = <double *>array_data(inflammation, cnp.NPY_DOUBLE, P, "inflammation")
    cdef double *n = <double *>array_data(niche, cnp.NPY_DOUBLE, P * O, "niche")
    cdef const double *w = <const double *>array_data(weight, cnp.NPY_DOUBLE, O, "weight")
    cdef double *sums = <double *>malloc((2 * P if P > 0 else 1) * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    try:
        if not (_whole_sums(rw, rw.dormant, NULL, False, P, 1, sums)
                and _whole_sums(rw, rw.dormant, rw.primary, False, P, 1, sums + P)):
            return False
        for p in range(P):
            if al[p]:
                inf[p] = sums[p] / (sums[p] + half_burden)
        if not weighted:
            for q in range(P * O):
                if n[q] != 0:
                    weighted = True
                    break
        if weighted:
            _niche(P, O, n, sums + P, w, half_size, build, decay, dt, al)
    finally:
        free(sums)
    return True


# --------------------------------------------------------------------------
# imaging

def diagnose(alive, primary_cells, need, double t, diagnosis_time):
    """``diagnosis_time[isnan(diagnosis_time) & alive & (primary_cells >= need)] = t``
    (in place): the alive, undiagnosed patients whose primary reached the size
    that finds it.  All float64 (P,) but ``alive`` (bool)."""
    cdef Py_ssize_t P = array_size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *c = <const double *>array_data(primary_cells, cnp.NPY_DOUBLE, P,
                                                      "primary_cells")
    cdef const double *nd = <const double *>array_data(need, cnp.NPY_DOUBLE, P, "need")
    cdef double *d = <double *>array_data(diagnosis_time, cnp.NPY_DOUBLE, P, "diagnosis_time")
    for p in range(P):
        if al[p] and d[p] != d[p] and c[p] >= nd[p]:
            d[p] = t


def scan_due(double t, start, double interval, double dt, alive):
    """``alive & imaging._on_schedule(t, start, interval, dt)`` (bool (P,)), or None
    where no patient has a visit in [t, t + dt).  ``start`` float64 (P,), NaN
    where no schedule has begun."""
    cdef Py_ssize_t P = array_size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *s = <const double *>array_data(start, cnp.NPY_DOUBLE, P, "start")
    cdef cnp.ndarray out = np.zeros(P, dtype=np.bool_)
    cdef cnp.npy_bool *o = <cnp.npy_bool *>array_data(out, cnp.NPY_BOOL, P, "out")
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


def any_nan_where(values, mask=None):
    """``(np.isnan(values) & mask).any()`` (``np.isnan(values).any()`` without a mask)."""
    cdef Py_ssize_t P = array_size(values, "values"), p
    cdef const double *v = <const double *>array_data(values, cnp.NPY_DOUBLE, P, "values")
    cdef const cnp.npy_bool *m = NULL
    if mask is not None:
        m = <const cnp.npy_bool *>array_data(mask, cnp.NPY_BOOL, P, "mask")
    for p in range(P):
        if (m == NULL or m[p]) and v[p] != v[p]:
            return True
    return False


def diagnose_serial(alive, primary, cells, pidx, double need, double t, diagnosis_time):
    """``diagnose`` of a fixed ``need`` (cells) where one rank holds each of its
    patients whole (``Lesions.serial``), the primary's cells per patient
    (``primary`` rows' ``cells``; ``pidx`` int64, per row) summed in the same
    call.  False, with nothing written, where the sums are not plain ones (a
    fractional term, a sum from 2**53): the caller takes ``patient_sum`` and
    ``diagnose``."""
    cdef Rows rw = _rows(cells, None, None, None, primary, None, pidx)
    cdef Py_ssize_t P = array_size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef double *d = <double *>array_data(diagnosis_time, cnp.NPY_DOUBLE, P, "diagnosis_time")
    cdef double *sums = <double *>malloc((P if P > 0 else 1) * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    try:
        if not _whole_sums(rw, NULL, rw.primary, False, P, 1, sums):
            return False
        for p in range(P):
            if al[p] and d[p] != d[p] and sums[p] >= need:
                d[p] = t
    finally:
        free(sums)
    return True


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
    cdef Rows rw = _rows(cells, dormant, lesion_cells, lesion, primary, organ, pidx)
    cdef Py_ssize_t N = rw.N, P = array_size(scan, "scan")
    cdef Py_ssize_t O = array_size(thresholds, "thresholds"), i, j, m = 0, q
    cdef const cnp.npy_bool *dor = rw.dormant
    cdef const double *c = rw.cells
    cdef const double *lc = rw.lesion_cells
    cdef const cnp.npy_bool *pri = rw.primary
    cdef const int16_t *org = rw.organ
    cdef const int64_t *pi = rw.pidx
    cdef const double *thr = <const double *>array_data(thresholds, cnp.NPY_DOUBLE, O, "thresholds")
    cdef const cnp.npy_bool *sc = <const cnp.npy_bool *>array_data(scan, cnp.NPY_BOOL, P, "scan")
    cdef Py_ssize_t *first = <Py_ssize_t *>malloc((N if N else 1) * sizeof(Py_ssize_t))
    cdef double *x = <double *>malloc((N if N else 1) * sizeof(double))
    cdef Py_ssize_t *which = <Py_ssize_t *>malloc((N if N else 1) * sizeof(Py_ssize_t))
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
        for i in range(N):
            if not dor[i] and c[i] > 0:
                first[m] = i
                m += 1
        m = first_of_each(rw.lesion, first, m)
        rows = np.empty(m, dtype=np.intp)
        seen = np.empty(m, dtype=np.float64)
        diameter = np.empty(m, dtype=np.float64)
        metastasis = np.empty(m, dtype=np.float64)
        distant = np.empty(m, dtype=np.float64)
        r = <Py_ssize_t *>array_data(rows, cnp.NPY_INTP, m, "rows")
        se = <double *>array_data(seen, cnp.NPY_DOUBLE, m, "seen")
        di = <double *>array_data(diameter, cnp.NPY_DOUBLE, m, "diameter")
        mt = <double *>array_data(metastasis, cnp.NPY_DOUBLE, m, "metastasis")
        ds = <double *>array_data(distant, cnp.NPY_DOUBLE, m, "distant")
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
    return rows, seen, diameter, metastasis, distant


def imaging_write(scan, counts, diameter_sum, metastases, distant, double t, imaged_lesions,
                  imaged_diameter_sum, last_scan_time, first_detected, first_detected_distant):
    """The scan's readouts, in place: for the ``scan`` patients ``imaged_lesions``
    (int64, (P, n_organs)) = ``counts``, ``imaged_diameter_sum`` = ``diameter_sum``,
    ``last_scan_time`` = ``t``; for every patient with ``metastases`` (``distant``)
    > 0 and no first time yet, ``first_detected`` (``first_detected_distant``) = ``t``."""
    cdef Py_ssize_t P = array_size(scan, "scan"), p, j, O
    cdef const cnp.npy_bool *sc = <const cnp.npy_bool *>array_data(scan, cnp.NPY_BOOL, P, "scan")
    cdef const double *cn
    cdef const double *dsum = <const double *>array_data(diameter_sum, cnp.NPY_DOUBLE, P, "diameter_sum")
    cdef const double *ms = <const double *>array_data(metastases, cnp.NPY_DOUBLE, P, "metastases")
    cdef const double *dt_ = <const double *>array_data(distant, cnp.NPY_DOUBLE, P, "distant")
    cdef int64_t *il
    cdef double *ids = <double *>array_data(imaged_diameter_sum, cnp.NPY_DOUBLE, P, "imaged_diameter_sum")
    cdef double *ls = <double *>array_data(last_scan_time, cnp.NPY_DOUBLE, P, "last_scan_time")
    cdef double *fd = <double *>array_data(first_detected, cnp.NPY_DOUBLE, P, "first_detected")
    cdef double *fdd = <double *>array_data(first_detected_distant, cnp.NPY_DOUBLE, P,
                                       "first_detected_distant")
    O = array_size(counts, "counts") // P if P else 0
    if O * P != array_size(counts, "counts"):
        raise ValueError("counts: expected (P, n_organs) values")
    cn = <const double *>array_data(counts, cnp.NPY_DOUBLE, P * O, "counts")
    il = <int64_t *>array_data(imaged_lesions, cnp.NPY_INT64, P * O, "imaged_lesions")
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
# liquid_biopsy

#: :func:`liquid_biopsy_update`'s ``constants``, in this order (``liquid_biopsy.constants``)
LIQUID_BIOPSY_CONSTANTS = (
    "ctc_half_life_days", "ln2", "blood_volume", "draw_volume", "positive_threshold",
    "ctdna_release", "ctdna_half_life_days", "plasma_volume", "normal_cfdna",
    "baseline", "per_cell", "cv", "half_cv2")


def liquid_biopsy_update(alive, shed, cell_death, burden, u_ctc, u_noise, double dt,
                         constants, ctc_blood, ctc_per_7_5ml, ctc_positive, ctdna_fraction,
                         biomarker):
    """``liquid_biopsy.paget_update_state`` after its keyed draws, in one call:
    every readout written for the ``alive`` patients (P,), in place.

    ``constants`` (float64, :data:`LIQUID_BIOPSY_CONSTANTS`): the tables' values
    and those derived from them.  The CTCs, where ``u_ctc`` (the draw's
    uniforms) is given: ``conc = shed / dt x ctc_half_life_days / ln2 /
    blood_volume`` per mL (``shed``: CTCs shed in the step, int64 as the engine
    keeps them, or float64), a draw of ``Poisson(conc x draw_volume)`` CTCs by
    inversion of ``u_ctc`` (``paget.random.poisson_quantile``: compiled for
    means up to 30, its Python search beyond), positive from
    ``positive_threshold``.  The ctDNA: ``tumour = cell_death x ctdna_release x
    ctdna_half_life_days / ln2 / plasma_volume``, fraction ``tumour / (tumour +
    normal_cfdna)``.  The marker: ``(baseline + per_cell x burden) x exp(cv z -
    half_cv2)``, ``z = scipy.special.ndtri(u_noise)`` (SciPy's own float64
    loop, so it rounds as the call it replaces).
    """
    cdef Py_ssize_t P = array_size(alive, "alive"), p
    cdef const cnp.npy_bool *al = <const cnp.npy_bool *>array_data(alive, cnp.NPY_BOOL, P, "alive")
    cdef const double *k = <const double *>array_data(
        constants, cnp.NPY_DOUBLE, len(LIQUID_BIOPSY_CONSTANTS), "constants")
    cdef const double *cd = <const double *>array_data(cell_death, cnp.NPY_DOUBLE, P, "cell_death")
    cdef const double *bu = <const double *>array_data(burden, cnp.NPY_DOUBLE, P, "burden")
    cdef const double *un = <const double *>array_data(u_noise, cnp.NPY_DOUBLE, P, "u_noise")
    cdef double *fr = <double *>array_data(ctdna_fraction, cnp.NPY_DOUBLE, P, "ctdna_fraction")
    cdef double *bm = <double *>array_data(biomarker, cnp.NPY_DOUBLE, P, "biomarker")
    cdef const double *uc = NULL
    cdef const int64_t *si = NULL
    cdef const double *s = NULL
    cdef double *cb = NULL
    cdef int64_t *cp = NULL
    cdef cnp.npy_bool *pos = NULL
    cdef bint whole = False
    cdef double tumour
    cdef double *buf
    cdef int64_t *count
    cdef int64_t threshold = <int64_t>k[4]
    if u_ctc is not None:
        uc = <const double *>array_data(u_ctc, cnp.NPY_DOUBLE, P, "u_ctc")
        whole = cnp.PyArray_Check(shed) and cnp.PyArray_TYPE(<cnp.ndarray>shed) == cnp.NPY_INT64
        if whole:
            si = <const int64_t *>array_data(shed, cnp.NPY_INT64, P, "shed")
        else:
            s = <const double *>array_data(shed, cnp.NPY_DOUBLE, P, "shed")
        cb = <double *>array_data(ctc_blood, cnp.NPY_DOUBLE, P, "ctc_blood")
        cp = <int64_t *>array_data(ctc_per_7_5ml, cnp.NPY_INT64, P, "ctc_per_7_5ml")
        pos = <cnp.npy_bool *>array_data(ctc_positive, cnp.NPY_BOOL, P, "ctc_positive")
    if P == 0:
        return
    # conc, mean, the Poisson scratch (2 P), then the counts
    buf = <double *>malloc(4 * P * sizeof(double) + P * sizeof(int64_t))
    if buf == NULL:
        raise MemoryError()
    count = <int64_t *>(buf + 4 * P)
    try:
        if uc != NULL:
            for p in range(P):
                buf[p] = (<double>si[p] if whole else s[p]) / dt * k[0] / k[1] / k[2]
                buf[P + p] = buf[p] * k[3]
            if not poisson_small(EXP, uc, buf + P, count, buf + 2 * P, P):
                _poisson_beyond(u_ctc, buf + P, count, P)
            for p in range(P):
                if al[p]:
                    cb[p] = buf[p]
                    cp[p] = count[p]
                    pos[p] = count[p] >= threshold
        # the marker's factor exp(cv ndtri(u) - cv^2 / 2), in the scratch
        vec(NDTRI, <double *>un, buf, P)
        for p in range(P):
            buf[p] = k[11] * buf[p] - k[12]
        vec(EXP, buf, buf, P)
        for p in range(P):
            if al[p]:
                tumour = cd[p] * k[5] * k[6] / k[1] / k[7]
                fr[p] = tumour / (tumour + k[8])
                bm[p] = (k[9] + k[10] * bu[p]) * buf[p]
    finally:
        free(buf)


cdef int _poisson_beyond(object u, const double *mean, int64_t *count, Py_ssize_t P) except -1:
    """``count[:P] = paget.random.poisson_quantile(u, mean[:P])``: its Python path,
    for means above 30 (or NaN)."""
    from paget.random import poisson_quantile
    cdef Py_ssize_t p
    cdef cnp.ndarray lam = np.empty(P, dtype=np.float64)
    cdef double *l = <double *>array_data(lam, cnp.NPY_DOUBLE, P, "mean")
    for p in range(P):
        l[p] = mean[p]
    got = np.ascontiguousarray(poisson_quantile(u, lam), dtype=np.int64)
    cdef const int64_t *g = <const int64_t *>array_data(got, cnp.NPY_INT64, P, "counts")
    for p in range(P):
        count[p] = g[p]
    return 0
