# cython: freethreading_compatible = False
"""The built-in plugins' per-row rates: growth, dormancy, traits, scaling, shedding, the immune kill.

Part of ``paget.ext.plugin_math`` (which re-exports it; see there): the same
float64 results as the NumPy each function replaces, to the bit."""
from libc.stdint cimport int16_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

cimport numpy as cnp
from plugin_support cimport (
    Gather, IdSet, Loop, array_data, array_size, check_index, gather_alloc, gather_free, id_set,
    id_set_free, id_slot, loop_of, mix64, np_max, np_min, one, vec, vec_scalar,
)

cnp.import_array()
cnp.import_ufunc()

cdef Loop LOG = loop_of(np.log)
cdef Loop LOG1P = loop_of(np.log1p)
cdef Loop EXPM1 = loop_of(np.expm1)
cdef Loop EXP = loop_of(np.exp)
cdef Loop POWER = loop_of(np.power)


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
    cdef Py_ssize_t N = array_size(cells, "cells"), i, m0 = 0, m1 = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const int16_t *org = <const int16_t *>array_data(organ, cnp.NPY_INT16, N, "organ")
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>array_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const double *k0 = <const double *>array_data(capacity0, cnp.NPY_DOUBLE, -1, "capacity0")
    cdef const double *k1 = <const double *>array_data(capacity1, cnp.NPY_DOUBLE, -1, "capacity1")
    cdef Py_ssize_t nk0 = array_size(capacity0, "capacity0"), nk1 = array_size(capacity1, "capacity1")
    cdef double *b = <double *>array_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>array_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef cnp.npy_bool *det = <cnp.npy_bool *>array_data(deterministic, cnp.NPY_BOOL, N, "deterministic")
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
    cdef Py_ssize_t N = array_size(dormant, "dormant"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef double *a = <double *>array_data(out_reactivation, cnp.NPY_DOUBLE, N, "out_reactivation")
    cdef double *b = <double *>array_data(out_death, cnp.NPY_DOUBLE, N, "out_death")
    for i in range(N):
        if dor[i]:
            a[i] = reactivation
            b[i] = death
        else:
            a[i] = 0.0
            b[i] = 0.0

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
    cdef Py_ssize_t N = array_size(genotype, "genotype"), E = array_size(bits, "bits"), T = len(outs)
    cdef Py_ssize_t i, e, c, t
    cdef const uint64_t *gen = <const uint64_t *>array_data(genotype, cnp.NPY_UINT64, N, "genotype")
    cdef const uint64_t *b = <const uint64_t *>array_data(bits, cnp.NPY_UINT64, E, "bits")
    cdef const int64_t *st = <const int64_t *>array_data(start, cnp.NPY_INT64, E + 1, "start")
    cdef Py_ssize_t C = array_size(trait, "trait")
    cdef const int64_t *tr = <const int64_t *>array_data(trait, cnp.NPY_INT64, C, "trait")
    cdef const double *fa = <const double *>array_data(factor, cnp.NPY_DOUBLE, C, "factor")
    cdef const cnp.npy_bool *fr = <const cnp.npy_bool *>array_data(fraction, cnp.NPY_BOOL, T, "fraction")
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
            out[t] = <double *>array_data(outs[t], cnp.NPY_DOUBLE, N, f"outs[{t}]")
        if N == 0:
            return
        first_eff = gen[0] | initial
        for i in range(N):
            if (gen[i] | initial) != first_eff:
                alike = False
                break
        for i in range(N):
            eff = gen[i] | initial
            h = <Py_ssize_t>(mix64(eff) & <uint64_t>(n_memo - 1))
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

def genetics_growth(dormant, cells, proliferation, double mutation_rate, mutation, birth,
                    death):
    """``genetics.paget_growth``, in place: growing rows (not dormant, cells > 0)
    get ``mutation = mutation_rate``, and where ``birth > death`` and their
    ``proliferation`` is not 1, ``birth = death + (birth - death) x
    proliferation``."""
    cdef Py_ssize_t N = array_size(cells, "cells"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *p = <const double *>array_data(proliferation, cnp.NPY_DOUBLE, N, "proliferation")
    cdef double *mu = <double *>array_data(mutation, cnp.NPY_DOUBLE, N, "mutation")
    cdef double *b = <double *>array_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>array_data(death, cnp.NPY_DOUBLE, N, "death")
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
    cdef Py_ssize_t N = array_size(pidx, "pidx"), P = array_size(multiplier, "multiplier"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const int64_t *pi = <const int64_t *>array_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *m = <const double *>array_data(multiplier, cnp.NPY_DOUBLE, P, "multiplier")
    cdef double *b = <double *>array_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>array_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef double f
    check_index(pi, N, P, "heterogeneity_growth: patient index")
    for i in range(N):
        f = m[pi[i]]
        if not dor[i] and b[i] > d[i] and f != 1.0:
            b[i] = d[i] + (b[i] - d[i]) * f


def scale_by_patient(pidx, multiplier, values):
    """``values[i] *= multiplier[pidx[i]]`` where that multiplier is not 1
    (``heterogeneity.paget_intravasation``'s shedding), in place."""
    cdef Py_ssize_t N = array_size(pidx, "pidx"), P = array_size(multiplier, "multiplier"), i
    cdef const int64_t *pi = <const int64_t *>array_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *m = <const double *>array_data(multiplier, cnp.NPY_DOUBLE, P, "multiplier")
    cdef double *v = <double *>array_data(values, cnp.NPY_DOUBLE, N, "values")
    cdef double f
    check_index(pi, N, P, "scale_by_patient: patient index")
    for i in range(N):
        f = m[pi[i]]
        if f != 1.0:
            v[i] = v[i] * f


def genetics_invasion(invasiveness, invasive):
    """``genetics.paget_invasion``: where any row's ``invasiveness`` is not 1,
    ``invasive = min(invasive x invasiveness, 1)`` on every row, in place."""
    cdef Py_ssize_t N = array_size(invasive, "invasive"), i
    cdef const double *f = <const double *>array_data(invasiveness, cnp.NPY_DOUBLE, N, "invasiveness")
    cdef double *v = <double *>array_data(invasive, cnp.NPY_DOUBLE, N, "invasive")
    cdef bint any_ = False
    for i in range(N):
        if f[i] != 1.0:
            any_ = True
            break
    if any_:
        for i in range(N):
            v[i] = np_min(v[i] * f[i], 1.0)


def hypoxia_invasion(hypoxia, double gain, invasive):
    """``microenvironment.apply_invasion`` for a gain ``gain`` (``hypoxia_invasion``):
    unless every row's ``invasive`` is at least 1 already (a NaN is not),
    ``invasive = min(1, invasive x (1 + gain x hypoxia))`` on every row, in place."""
    cdef Py_ssize_t N = array_size(invasive, "invasive"), i
    cdef const double *h = <const double *>array_data(hypoxia, cnp.NPY_DOUBLE, N, "hypoxia")
    cdef double *v = <double *>array_data(invasive, cnp.NPY_DOUBLE, N, "invasive")
    cdef bint below = False
    for i in range(N):
        if not v[i] >= 1.0:
            below = True
            break
    if below:
        for i in range(N):
            v[i] = np_min(1.0, v[i] * (1.0 + gain * h[i]))


def multiply_at(factor, row, values):
    """``values *= factor[row]`` (``genetics.paget_circulation``), in place."""
    cdef Py_ssize_t N = array_size(row, "row"), R = array_size(factor, "factor"), i
    cdef const double *f = <const double *>array_data(factor, cnp.NPY_DOUBLE, R, "factor")
    cdef const int64_t *rw = <const int64_t *>array_data(row, cnp.NPY_INT64, N, "row")
    cdef double *v = <double *>array_data(values, cnp.NPY_DOUBLE, N, "values")
    check_index(rw, N, R, "multiply_at: row")
    for i in range(N):
        v[i] = v[i] * f[rw[i]]


def share_vessels(lesion, vascular):
    """``angiogenesis.share_vessels``: every row of a lesion (``lesion`` ids,
    uint64) with a vascular row made vascular, in place in ``vascular`` (bool),
    as ``vascular |= lesions.lesion_sum(vascular) > 0``: an open-addressing set
    of the vascular rows' lesion ids, then one pass; nothing to do where no
    row, or every row, is vascular."""
    cdef Py_ssize_t N = array_size(vascular, "vascular"), i, k = 0, h
    cdef const uint64_t *les = <const uint64_t *>array_data(lesion, cnp.NPY_UINT64, N, "lesion")
    cdef cnp.npy_bool *vas = <cnp.npy_bool *>array_data(vascular, cnp.NPY_BOOL, N, "vascular")
    cdef IdSet vascular_lesions
    for i in range(N):
        k += vas[i] != 0
    if k == 0 or k == N:
        return
    vascular_lesions = id_set(k)
    try:
        for i in range(N):
            if vas[i]:
                h = id_slot(vascular_lesions, les[i])
                vascular_lesions.used[h] = 1
                vascular_lesions.keys[h] = les[i]
        for i in range(N):
            if not vas[i] and vascular_lesions.used[id_slot(vascular_lesions, les[i])]:
                vas[i] = 1
    finally:
        id_set_free(vascular_lesions)


def avascular_rows(dormant, cells, vascular):
    """``np.flatnonzero(~dormant & (cells > 0) & ~vascular)`` (int64): the growing
    rows not yet vascular, those ``angiogenesis.paget_update_state`` lets switch."""
    cdef Py_ssize_t N = array_size(cells, "cells"), i, k = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const cnp.npy_bool *vas = <const cnp.npy_bool *>array_data(vascular, cnp.NPY_BOOL, N, "vascular")
    for i in range(N):
        if not dor[i] and c[i] > 0.0 and not vas[i]:
            k += 1
    cdef cnp.ndarray out = np.empty(k, dtype=np.int64)
    cdef int64_t *o = <int64_t *>array_data(out, cnp.NPY_INT64, k, "out")
    k = 0
    for i in range(N):
        if not dor[i] and c[i] > 0.0 and not vas[i]:
            o[k] = i
            k += 1
    return out


def avascular_cap(dormant, cells, lesion_cells, vascular, double cap, double dt, birth, death):
    """The angiogenesis plugin's avascular cap, in place: on growing rows (not dormant, cells >
    0) not ``vascular``, ``death = max(death, birth - room)`` with ``room =
    max(log(cap / lesion_cells) / dt, 0)``."""
    cdef Py_ssize_t N = array_size(cells, "cells"), i, k = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *lc = <const double *>array_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const cnp.npy_bool *vas = <const cnp.npy_bool *>array_data(vascular, cnp.NPY_BOOL, N, "vascular")
    cdef const double *b = <const double *>array_data(birth, cnp.NPY_DOUBLE, N, "birth")
    cdef double *d = <double *>array_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef double *x
    cdef Py_ssize_t *rows
    cdef Gather g
    if N == 0:
        return
    g = gather_alloc(N)
    x, rows = g.x, g.rows
    try:
        for i in range(N):
            if not dor[i] and c[i] > 0 and not vas[i]:
                x[k] = cap / lc[i]
                rows[k] = i
                k += 1
        vec(LOG, x, x, k)
        for i in range(k):
            d[rows[i]] = np_max(d[rows[i]], b[rows[i]] - np_max(x[i] / dt, 0.0))
    finally:
        gather_free(g)


def divide_where_not(mask, double ratio, values):
    """``values[~mask] /= ratio`` (the angiogenesis plugin's avascular shedding), in place."""
    cdef Py_ssize_t N = array_size(values, "values"), i
    cdef const cnp.npy_bool *m = <const cnp.npy_bool *>array_data(mask, cnp.NPY_BOOL, N, "mask")
    cdef double *v = <double *>array_data(values, cnp.NPY_DOUBLE, N, "values")
    for i in range(N):
        if not m[i]:
            v[i] = v[i] / ratio

# --------------------------------------------------------------------------
# immune

cdef inline double _visibility(double competence, const double *ic, const int64_t *pi,
                               const double *ev, const int64_t *row, Py_ssize_t i) noexcept:
    """``immune.visibility`` of row ``i``."""
    cdef double v = competence * ic[pi[i]]
    if ev != NULL:
        v = v * (1.0 - ev[row[i]])
    return v


def immune_ctc_survival(pidx, immune_competence, evasion, row, double competence,
                        double ctc_kill, ctc_survival):
    """``immune.paget_circulation``: ``ctc_survival *= max(1 - ctc_kill v, 0)`` with
    ``v`` the row's visibility (``evasion``: the lesion state ``immune_evasion``,
    indexed by ``row``, or None)."""
    cdef Py_ssize_t N = array_size(pidx, "pidx"), P = array_size(immune_competence, "immune_competence"), i
    cdef const int64_t *pi = <const int64_t *>array_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *ic = <const double *>array_data(immune_competence, cnp.NPY_DOUBLE, P,
                                                  "immune_competence")
    cdef const double *ev = NULL
    cdef const int64_t *rw = NULL
    cdef double *s = <double *>array_data(ctc_survival, cnp.NPY_DOUBLE, N, "ctc_survival")
    check_index(pi, N, P, "immune_ctc_survival: patient index")
    if evasion is not None:
        ev = <const double *>array_data(evasion, cnp.NPY_DOUBLE, -1, "evasion")
        rw = <const int64_t *>array_data(row, cnp.NPY_INT64, N, "row")
        check_index(rw, N, array_size(evasion, "evasion"), "immune_ctc_survival: row")
    for i in range(N):
        s[i] = s[i] * np_max(1.0 - ctc_kill * _visibility(competence, ic, pi, ev, rw, i), 0.0)


def immune_lesion_kill(dormant, cells, lesion_cells, pidx, immune_competence, evasion, row,
                       double competence, double lesion_kill, double half_size, death):
    """``immune.apply_lesion_kill``: on growing rows (not dormant, cells > 0) of
    visibility ``v`` > 0, ``death += lesion_kill v / (1 + lesion_cells /
    half_size)``, in place."""
    cdef Py_ssize_t N = array_size(pidx, "pidx"), P = array_size(immune_competence, "immune_competence"), i
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *lc = <const double *>array_data(lesion_cells, cnp.NPY_DOUBLE, N, "lesion_cells")
    cdef const int64_t *pi = <const int64_t *>array_data(pidx, cnp.NPY_INT64, N, "pidx")
    cdef const double *ic = <const double *>array_data(immune_competence, cnp.NPY_DOUBLE, P,
                                                  "immune_competence")
    cdef const double *ev = NULL
    cdef const int64_t *rw = NULL
    cdef double *d = <double *>array_data(death, cnp.NPY_DOUBLE, N, "death")
    cdef double v
    check_index(pi, N, P, "immune_lesion_kill: patient index")
    if evasion is not None:
        ev = <const double *>array_data(evasion, cnp.NPY_DOUBLE, -1, "evasion")
        rw = <const int64_t *>array_data(row, cnp.NPY_INT64, N, "row")
        check_index(rw, N, array_size(evasion, "evasion"), "immune_lesion_kill: row")
    for i in range(N):
        if dor[i] or not (c[i] > 0):
            continue
        v = _visibility(competence, ic, pi, ev, rw, i)
        if v > 0:
            d[i] = d[i] + lesion_kill * v / (1.0 + lc[i] / half_size)

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
    cdef Py_ssize_t N = array_size(cells, "cells"), i, k = 0
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>array_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const double *c = <const double *>array_data(cells, cnp.NPY_DOUBLE, N, "cells")
    cdef const double *inv = <const double *>array_data(invasive, cnp.NPY_DOUBLE, N, "invasive")
    cdef double *sh = <double *>array_data(shed, cnp.NPY_DOUBLE, N, "shed")
    cdef cnp.ndarray n_arr
    cdef double *n
    cdef double *x
    cdef Py_ssize_t *rows
    cdef Gather g
    if not single_clone:
        n_arr = np.empty(N, dtype=np.float64)
        n = <double *>array_data(n_arr, cnp.NPY_DOUBLE, N, "n")
        for i in range(N):
            n[i] = c[i] * inv[i] if not dor[i] and (metastases_shed or pri[i]) else 0.0
        return n_arr
    if N == 0:
        return None
    g = gather_alloc(N)
    x, rows = g.x, g.rows
    try:
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
        gather_free(g)
    return None


def shed_scale(n, total, double m, double exponent_minus_1, shed):
    """``shed = m n scale`` with ``scale = total**(exponent - 1)`` where ``total``
    (the lesion's sum of ``n``) > 0, else 0: the lesions of several clones."""
    cdef Py_ssize_t N = array_size(n, "n"), i, k = 0
    cdef const double *nn = <const double *>array_data(n, cnp.NPY_DOUBLE, N, "n")
    cdef const double *tt = <const double *>array_data(total, cnp.NPY_DOUBLE, N, "total")
    cdef double *sh = <double *>array_data(shed, cnp.NPY_DOUBLE, N, "shed")
    cdef double *x
    cdef Py_ssize_t *rows
    cdef Gather g
    if N == 0:
        return
    g = gather_alloc(N)
    x, rows = g.x, g.rows
    try:
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
        gather_free(g)


def direct_shares(primary, dormant, organ, share, direct_fraction, lymph_fraction,
                  bint metastases=False):
    """``transcoelomic.paget_intravasation``: on the growing rows in an organ of a
    cavity (``share[organ]`` != 0), the primary's alone unless ``metastases``,
    ``direct_fraction = d`` and ``lymph_fraction *= 1 - d``, in place."""
    cdef Py_ssize_t N = array_size(primary, "primary"), O = array_size(share, "share"), i
    cdef const cnp.npy_bool *pri = <const cnp.npy_bool *>array_data(primary, cnp.NPY_BOOL, N, "primary")
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N, "dormant")
    cdef const int16_t *org = <const int16_t *>array_data(organ, cnp.NPY_INT16, N, "organ")
    cdef const double *sh = <const double *>array_data(share, cnp.NPY_DOUBLE, O, "share")
    cdef double *df = <double *>array_data(direct_fraction, cnp.NPY_DOUBLE, N, "direct_fraction")
    cdef double *lf = <double *>array_data(lymph_fraction, cnp.NPY_DOUBLE, N, "lymph_fraction")
    cdef double d
    for i in range(N):
        if org[i] < 0 or org[i] >= O:
            raise IndexError(f"direct_shares: organ {org[i]} of row {i} outside [0, {O})")
        if (metastases or pri[i]) and not dor[i]:
            d = sh[org[i]]
            if d != 0:
                df[i] = d
                lf[i] = lf[i] * (1.0 - d)


def per_organ_rows(per_organ, organ, out):
    """``out[:] = per_organ[organ]`` (float64 per organ, int16 organ per row)."""
    cdef Py_ssize_t N = array_size(organ, "organ"), O = array_size(per_organ, "per_organ"), i
    cdef const double *po = <const double *>array_data(per_organ, cnp.NPY_DOUBLE, O, "per_organ")
    cdef const int16_t *org = <const int16_t *>array_data(organ, cnp.NPY_INT16, N, "organ")
    cdef double *o = <double *>array_data(out, cnp.NPY_DOUBLE, N, "out")
    for i in range(N):
        if org[i] < 0 or org[i] >= O:
            raise IndexError(f"per_organ_rows: organ {org[i]} of row {i} outside [0, {O})")
        o[i] = po[org[i]]
