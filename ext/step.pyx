# cython: freethreading_compatible = False
"""The step kernel: every row of the lesion table advanced by one step of ``h`` days.

A row's cells divide, die, shed, reactivate (dormant pools) and mutate.

``step_rows`` loops over the rows in compiled code, drawing each row's events
from its own keyed stream with the samplers of ``samplers.pxd`` and the exact
birth-death step of ``birth_death.pxd``, both compiled inline here.
"""
from libc.math cimport exp, expm1, floor
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from numpy.random cimport bitgen_t

from birth_death cimport (
    LAM_CACHE_BITS, LOG_QUIET, RATE_CACHE_BITS, bd_transition, lam_entry, log_quiet,
    quiet_rest, rate_entry, rate_setup,
)
from keyed_stream cimport (
    paget_philox4x64_10, paget_stream_init, paget_stream_set_block, paget_stream_t,
    paget_word_double,
)
from paget_kernels cimport (
    PGT_FLAG_DORMANT, PGT_PURPOSE_STEP, cells_t, count_t, flag_t, patient_t, rate_t, uid_t,
)
from samplers cimport (
    BINOM_CACHE_BITS, SMALL_MEAN, SPLIT_INVERSION_MEAN, binom_cache_clear, binom_entry,
    binomial_at_least_one, draw_binomial, draw_poisson, draw_poisson_keyed,
)
from special cimport below_exp, below_exp_or_p0, surely_below_exp

cimport numpy as cnp
from engine_support cimport out_data
from plugin_support cimport array_data, array_size

cnp.import_array()

# Rows per chunk of step_rows: its first pass computes their first Philox
# blocks (8 KiB, in L1) and settles the quiet ones, its second steps the rest.
cdef enum:
    STEP_CHUNK = 256


def step_rows(object cells, object flags, object uid, object patient, object birth,
              object death, object shed_rate, object deterministic, double h, uint64_t seed,
              int64_t step, object shed_out, object react_out, object mutation=None,
              object mut_out=None):
    """Advance every row of the lesion table by one step of length ``h`` days.

    Growing rows (flag DORMANT clear) take the exact birth-death transition with
    per-cell rates ``birth`` and ``death`` (1/day) held over the step, or, where
    ``deterministic`` is set, the mean ``n exp((b - d) h)``.  They then shed
    ``Poisson(shed_rate h)`` circulating cells (``shed_rate`` in cells/day),
    never more than they hold; shed cells leave the row.

    Dormant rows are pools of solitary cells, each independently reactivating
    at rate ``birth`` and dying at rate ``death`` (1/day), competing risks:
    a cell leaves the pool within h with probability 1 - exp(-(b + d) h) and,
    having left, was reactivated with probability b / (b + d).

    With ``mutation`` (probability per division that a daughter carries a new
    alteration) a growing row then loses ``M ~ Poisson(mutation b n x)`` cells
    to new clones (``mut_out``), x = (e^{(b-d)h} - 1)/(b - d): ``b n x`` is the
    exact expected number of divisions in the step with rates held constant.
    ASSUMPTION: M is drawn as Poisson given that mean, independently of the
    row's own birth-death draw (mutation is rare, so the correlation between
    the number of divisions and the row's new size is neglected).

    Writes ``cells`` in place, and per row the CTCs shed (``shed_out``) and the
    cells reactivated (``react_out``).  Rows whose ``cells`` is 0 are skipped.
    Each row draws from its own stream keyed by (seed, uid, step, STEP, patient).
    """
    cdef Py_ssize_t i, m = array_size(cells, "cells")
    # (C comparisons: any() over a generator of Python ints cost ~1 us a step)
    if (array_size(flags, "flags") != m or array_size(uid, "uid") != m or
            array_size(patient, "patient") != m or array_size(birth, "birth") != m or
            array_size(death, "death") != m or array_size(shed_rate, "shed_rate") != m or
            array_size(deterministic, "deterministic") != m or
            array_size(shed_out, "shed_out") != m or array_size(react_out, "react_out") != m):
        raise ValueError("step_rows: every row array must have the length of cells")
    cdef bint mutates = mutation is not None
    if mutates and (mut_out is None or array_size(mutation, "mutation") != m or
                    array_size(mut_out, "mut_out") != m):
        raise ValueError("step_rows: mutation and mut_out come together, with the length of cells")
    # the arrays' data through NumPy's C API: a dozen typed memoryviews cost
    # ~1.5 us a call to acquire, more than a small table's whole step
    cdef cells_t *cells_p = <cells_t *>out_data(cells, cnp.NPY_DOUBLE, m, "cells")
    cdef const flag_t *flags_p = <const flag_t *>array_data(flags, cnp.NPY_UINT8, m, "flags")
    cdef const uid_t *uid_p = <const uid_t *>array_data(uid, cnp.NPY_UINT64, m, "uid")
    cdef const patient_t *patient_p = <const patient_t *>array_data(patient, cnp.NPY_INT64, m,
                                                                   "patient")
    cdef const rate_t *birth_p = <const rate_t *>array_data(birth, cnp.NPY_DOUBLE, m, "birth")
    cdef const rate_t *death_p = <const rate_t *>array_data(death, cnp.NPY_DOUBLE, m, "death")
    cdef const rate_t *shed_rate_p = <const rate_t *>array_data(shed_rate, cnp.NPY_DOUBLE, m,
                                                               "shed_rate")
    cdef const uint8_t *deterministic_p = <const uint8_t *>array_data(
        deterministic, cnp.NPY_UINT8, m, "deterministic")
    cdef count_t *shed_out_p = <count_t *>out_data(shed_out, cnp.NPY_INT64, m, "shed_out")
    cdef count_t *react_out_p = <count_t *>out_data(react_out, cnp.NPY_INT64, m, "react_out")
    cdef const double *mutation_p = NULL
    cdef count_t *mut_out_p = NULL
    if mutates:
        mutation_p = <const double *>array_data(mutation, cnp.NPY_DOUBLE, m, "mutation")
        mut_out_p = <count_t *>out_data(mut_out, cnp.NPY_INT64, m, "mut_out")
    if not h > 0.0:
        raise ValueError(f"step_rows: step length h must be > 0 days, got {h}")
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef double n, n0, b, d, lam, total, p_leave, p0, mu, u, y
    cdef count_t shed, left, react
    cdef Py_ssize_t c0, c1, j, jw, n_work
    cdef bint ready, done
    cdef int settled
    # rows of a chunk left for the second pass (see below)
    cdef Py_ssize_t work[STEP_CHUNK]
    # the first Philox block of each row of a chunk (counter and key of a row's
    # stream, paget_stream_key: block 0, step, purpose, patient; seed, uid)
    cdef uint64_t blocks[4 * STEP_CHUNK]
    cdef uint64_t ctr4[4]
    cdef uint64_t key2[2]
    ctr4[0] = 0
    ctr4[1] = <uint64_t>step
    ctr4[2] = PGT_PURPOSE_STEP
    key2[0] = seed
    cdef uint64_t *blk
    cdef rate_entry *cache = <rate_entry *>malloc(sizeof(rate_entry) << RATE_CACHE_BITS)
    cdef lam_entry lams[1 << LAM_CACHE_BITS]
    cdef rate_entry *e
    cdef double nan = float("nan")
    if cache == NULL:
        raise MemoryError()
    cdef binom_entry bcache[1 << BINOM_CACHE_BITS]
    binom_cache_clear(bcache)
    for j in range(1 << RATE_CACHE_BITS):
        cache[j].b = nan              # matches no rate
        cache[j].d = nan
    for j in range(1 << LAM_CACHE_BITS):
        lams[j].lam = nan
    # bg draws from s; s is keyed per row (paget_stream_set_block) only when the
    # row needs more than the words of its first block read directly below
    paget_stream_init(&s, &bg, seed, 0, <uint64_t>step, PGT_PURPOSE_STEP, 0)
    with nogil:
        c0 = 0
        while c0 < m:
            c1 = min(c0 + STEP_CHUNK, m)
            # First pass: compute each row's first Philox block and settle the
            # rows in which surely nothing happens, as the second pass would
            # decide it (the quiet test's sure bound, exp_bound_side, and the
            # mutation draw's), without a branch that depends on the draws: a
            # fifth of small colonies have an event, so a branch on it would be
            # mispredicted at that rate.  With no such branch the CPU overlaps
            # the independent multiply chains of consecutive rows' blocks (a
            # block is ~40 dependent operations) with the rest of the pass.
            # The other rows go to the second pass, which steps them all as
            # before, so the draws are the same row for row.
            n_work = 0
            for i in range(c0, c1):
                ctr4[3] = <uint64_t>patient_p[i]
                key2[1] = uid_p[i]
                paget_philox4x64_10(ctr4, key2, &blocks[4 * (i - c0)])
                shed_out_p[i] = 0
                react_out_p[i] = 0
                n = cells_p[i]
                b = birth_p[i]
                d = death_p[i]
                # the growing rows' quiet test, taken for the dormant rows too
                # (which overwrite y below and never mutate): computing it in
                # the growing branch only measured 1.6 % slower on the
                # benchmark table
                lam = shed_rate_p[i] * h
                e = rate_setup(cache, b, d, h)
                y = log_quiet(e, n, lam, h)
                u = paget_word_double(blocks[4 * (i - c0)])
                if flags_p[i] & PGT_FLAG_DORMANT:
                    # rare, so this branch is well predicted; as in the dormant
                    # step below: nothing happens without rates, or when no
                    # cell leaves (u < e^{-n (b + d) h})
                    total = b + d
                    y = -n * total * h
                    settled = (total <= 0.0) | ((y > LOG_QUIET) & surely_below_exp(u, y))
                else:
                    settled = ((y > LOG_QUIET) & surely_below_exp(u, y)
                               & (deterministic_p[i] == 0))
                if mutates:
                    mut_out_p[i] = 0
                    mu = mutation_p[i] * b * n * e.x
                    settled = settled & ((mutation_p[i] <= 0.0) | (b <= 0.0) | (n < 1.0)
                                         | ((mu < SMALL_MEAN) & surely_below_exp(
                                             paget_word_double(blocks[4 * (i - c0) + 1]), -mu)))
                settled = settled | (n <= 0.0)
                work[n_work] = i
                n_work += 1 - settled
            # Second pass: every other row
            for jw in range(n_work):
                i = work[jw]
                n = cells_p[i]
                if n <= 0.0:
                    continue
                b = birth_p[i]
                d = death_p[i]
                blk = &blocks[4 * (i - c0)]
                if flags_p[i] & PGT_FLAG_DORMANT:
                    total = b + d
                    if total <= 0.0:
                        continue
                    # each cell leaves with probability 1 - e^{-(b + d) h}: none
                    # leaves with probability p0 = e^{-n (b + d) h}
                    y = -n * total * h
                    if y > LOG_QUIET:
                        u = paget_word_double(blk[0])
                        if below_exp_or_p0(u, y, &p0):
                            continue
                        paget_stream_set_block(&s, seed, uid_p[i], <uint64_t>step,
                                               PGT_PURPOSE_STEP, <uint64_t>patient_p[i], blk, 1)
                        p_leave = -expm1(-total * h)
                        left = binomial_at_least_one(&bg, <count_t>n, p_leave, p0)
                    else:
                        paget_stream_set_block(&s, seed, uid_p[i], <uint64_t>step,
                                               PGT_PURPOSE_STEP, <uint64_t>patient_p[i], blk, 0)
                        p_leave = -expm1(-total * h)
                        left = draw_binomial(&bg, NULL, p_leave, <count_t>n, SMALL_MEAN)
                    if left > 0:
                        react = draw_binomial(&bg, bcache, b / total, left, SPLIT_INVERSION_MEAN)
                        react_out_p[i] = react
                    cells_p[i] = n - <double>left
                    continue
                lam = shed_rate_p[i] * h
                n0 = n
                e = NULL
                ready = False
                done = False
                if not deterministic_p[i]:
                    # Quiet rows: the step's three parts are drawn by inversion
                    # from the stream's first uniform u, so that nothing happens
                    # exactly when u < P0 (see quiet_rest and the note above it)
                    e = rate_setup(cache, b, d, h)
                    y = log_quiet(e, n, lam, h)             # log P0
                    if y > LOG_QUIET:
                        u = paget_word_double(blk[0])
                        done = True
                        if not below_exp(u, y):
                            paget_stream_set_block(&s, seed, uid_p[i], <uint64_t>step,
                                                   PGT_PURPOSE_STEP, <uint64_t>patient_p[i],
                                                   blk, 1)
                            ready = True
                            quiet_rest(&bg, &n, b, d, e, lams, lam, u, &shed)
                            shed_out_p[i] = shed
                if not done:
                    paget_stream_set_block(&s, seed, uid_p[i], <uint64_t>step,
                                           PGT_PURPOSE_STEP, <uint64_t>patient_p[i], blk, 0)
                    ready = True
                    if deterministic_p[i]:
                        n = n * exp((b - d) * h)
                    else:
                        n = bd_transition(&bg, n, b, d, e.x)
                    if lam > 0.0 and n >= 1.0:
                        shed = draw_poisson(&bg, lam)
                        if <double>shed > floor(n):
                            shed = <count_t>floor(n)
                        shed_out_p[i] = shed
                        n -= <double>shed
                if mutates:
                    mu = mutation_p[i]
                    if mu > 0.0 and b > 0.0 and n >= 1.0:
                        if e == NULL:
                            e = rate_setup(cache, b, d, h)
                        mu = mu * b * n0 * e.x
                        if not ready:
                            # a quiet row in which nothing happened drew one word;
                            # the mutation draw takes the next, a zero decided as
                            # in draw_poisson_keyed
                            if mu < SMALL_MEAN and below_exp(paget_word_double(blk[1]), -mu):
                                shed = 0
                            else:
                                paget_stream_set_block(&s, seed, uid_p[i], <uint64_t>step,
                                                       PGT_PURPOSE_STEP,
                                                       <uint64_t>patient_p[i], blk, 1)
                                shed = draw_poisson_keyed(&bg, mu)
                        else:
                            shed = draw_poisson_keyed(&bg, mu)
                        if <double>shed > floor(n):
                            shed = <count_t>floor(n)
                        mut_out_p[i] = shed
                        n -= <double>shed
                cells_p[i] = n
            c0 = c1
    free(cache)

