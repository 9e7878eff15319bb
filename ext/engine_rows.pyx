# cython: freethreading_compatible = False
"""The engine's compiled passes over new and chosen rows: founding, joining pools, the pool registry, views.

Arrays are read through NumPy's C API (``engine_support.pxd``): each must be a
C-contiguous, aligned, native-order ndarray of its dtype (or an equivalent
one), or the call raises naming the argument (every array the engine passes
is).  ``tests/test_engine_step.py`` compares each function with the NumPy it
replaces, on random inputs, for exact equality.
"""
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

cimport numpy as cnp
from engine_support cimport array_data, as_array, check_bins, f64, i64, new_array
from keyed_stream cimport paget_mix64
from paget_kernels cimport PGT_FLAG_DORMANT, PGT_FLAG_PRIMARY
from plugin_support cimport array_size

cnp.import_array()

cdef extern from *:
    # GCC's and Clang's hint that a cache line will be read soon
    void prefetch "__builtin_prefetch" (const void *addr) noexcept nogil

cdef int F64 = cnp.NPY_DOUBLE
cdef int I64 = cnp.NPY_INT64
cdef int I16 = cnp.NPY_INT16
cdef int U8 = cnp.NPY_UINT8
cdef int U64 = cnp.NPY_UINT64

# the identity kinds of paget.ext.tables.derive_uids that found_rows makes
DEF KIND_FOUNDER = 1
DEF KIND_POOL = 2
DEF KIND_REACTIVATED = 3


cdef inline uint64_t pool_uid(uint64_t source, int16_t organ) noexcept:
    """The uid of the dormant pool of cells shed by a row of uid ``source`` into
    ``organ``: :func:`paget.ext.tables.derive_uids`' of the source, ``UID_POOL``,
    step 0, the organ and rank 0."""
    cdef uint64_t tag = (<uint64_t>KIND_POOL << 56) | ((<uint64_t>(<unsigned short>organ)) << 40)
    return paget_mix64(paget_mix64(paget_mix64(source) ^ tag) ^ <uint64_t>0)


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
    cols = {"uid": new_array(t, U64), "parent": new_array(t, U64),
            "lesion": new_array(t, U64), "clone": new_array(t, U64),
            "genotype": new_array(t, U64), "cells": new_array(t, F64),
            "patient": new_array(t, I64), "birth_step": new_array(t, cnp.NPY_INT32),
            "organ": new_array(t, I16), "flags": new_array(t, U8)}
    rows_arr = new_array(t, I64)
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
                nu[t] = pool_uid(u[r], o)
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


cdef object join(const uint64_t *ky, const double *cn, Py_ssize_t k, const uint64_t *u,
                 const uint8_t *fl, double *c, Py_ssize_t n):
    """``join_pools`` of ``k`` keys over a table of ``n`` rows."""
    cdef Py_ssize_t cap = 16, i, j, h
    cdef uint64_t *keys
    cdef int64_t *slot
    cdef int64_t *hit
    if k == 0:
        return new_array(0, I64)
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
        return add_hits(hit, cn, k, c)
    finally:
        free(keys)
        free(slot)
        free(hit)


cdef object add_hits(const int64_t *hit, const double *cn, Py_ssize_t k, double *c):
    """``c[hit[j]] += cn[j]`` for the keys ``j`` with a live pool (``hit[j] >= 0``);
    returns the others' positions (ascending, int64): the join's result."""
    cdef Py_ssize_t j, n_new = 0
    cdef int64_t *out
    for j in range(k):
        if hit[j] >= 0:
            c[hit[j]] += cn[j]
        else:
            n_new += 1
    new_arr = new_array(n_new, I64)
    out = i64(new_arr, n_new, "new")
    n_new = 0
    for j in range(k):
        if hit[j] < 0:
            out[n_new] = j
            n_new += 1
    return new_arr


def join_pools(object key, object counts, object uid, object flags, object cells):
    """Add ``counts[j]`` cells to the live dormant pool (flag DORMANT, cells > 0) of
    uid ``key[j]``, where the table (columns ``uid``, ``flags``, ``cells``)
    holds one; returns the positions ``j`` (ascending, int64) of the keys with
    no live pool (new pools).  ``paget.ext.kernels.match_pools`` and the
    additions, in one call.  The keys must be distinct."""
    cdef Py_ssize_t k = array_size(key, "key"), n = array_size(uid, "uid")
    cdef const uint64_t *ky = <const uint64_t *>array_data(key, U64, k, "key")
    cdef const double *cn = f64(counts, k, "counts")
    cdef const uint64_t *u = <const uint64_t *>array_data(uid, U64, n, "uid")
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef double *c = f64(cells, n, "cells")
    return join(ky, cn, k, u, fl, c, n)


cdef struct pool_slot:
    uint64_t key
    int64_t row         # the last dormant row of this uid indexed; -1: none (yet)
    int64_t stamp       # the join that last asked for this uid; -1: an empty slot


cdef class PoolIndex:
    """The dormant rows of a rank's lesion table by uid, kept from step to step,
    for ``found_pools``: a step's pools are looked up here rather than hashed
    and matched against every row of the table (the default cohort joins ~3,300
    pools a step into a table of ~8,400 rows, 200 patients over 10 years).

    Each call first indexes the rows appended since the last one: appends keep
    every row's position, so the index stays valid until rows are dropped or the
    table is replaced, when the engine makes a new one
    (``Founding._pool_index``: a new index per table and ``layout``).  Of the
    dormant rows that share a uid (a pool emptied, awaiting compaction, then
    founded again) the last appended is indexed: a pool is founded again only
    where no live row of its uid is left, and an emptied row never gains cells
    (only a live pool is joined), so the last row is the live one if any is.
    A looked-up row is still checked (its uid, DORMANT, cells > 0) as ``join``
    checks every row."""

    cdef pool_slot *slots
    cdef Py_ssize_t cap         # slots, a power of two (0 before the first call)
    cdef Py_ssize_t count       # slots in use
    cdef Py_ssize_t indexed     # rows [0, indexed) of the table are indexed
    cdef int64_t joins          # joins so far (the stamp of the current one)

    def __dealloc__(self):
        free(self.slots)

    def __len__(self):
        return self.count

    cdef inline Py_ssize_t _home(self, uint64_t key) noexcept:
        """The first slot ``key`` may take."""
        return <Py_ssize_t>(paget_mix64(key) & <uint64_t>(self.cap - 1))

    cdef inline pool_slot *_slot(self, uint64_t key, Py_ssize_t h) noexcept:
        """The slot of ``key``, or the empty one where it would go, from its
        first slot ``h`` (``_home``)."""
        while self.slots[h].stamp >= 0 and self.slots[h].key != key:
            h = (h + 1) & (self.cap - 1)
        return &self.slots[h]

    cdef int _grow(self, Py_ssize_t need) except -1:
        """Room for ``need`` keys at a load of at most a half."""
        cdef Py_ssize_t new_cap = self.cap if self.cap else 64, i, old_cap = self.cap
        cdef pool_slot *old = self.slots
        cdef pool_slot *s
        if 2 * need <= self.cap:
            return 0
        while 2 * need > new_cap:
            new_cap *= 2
        self.slots = <pool_slot *>malloc(new_cap * sizeof(pool_slot))
        if self.slots == NULL:
            self.slots = old
            raise MemoryError()
        self.cap = new_cap
        for i in range(new_cap):
            self.slots[i].stamp = -1
        for i in range(old_cap):
            if old[i].stamp >= 0:
                s = self._slot(old[i].key, self._home(old[i].key))
                s[0] = old[i]
        free(old)
        return 0

    cdef int _index_rows(self, const uint64_t *u, const uint8_t *fl, Py_ssize_t n) except -1:
        """Index the dormant rows among ``[indexed, n)`` (all of them, afresh,
        should the table hold fewer rows than were indexed)."""
        cdef Py_ssize_t i, add = 0
        cdef pool_slot *s
        if n < self.indexed:
            for i in range(self.cap):
                self.slots[i].stamp = -1
            self.count = 0
            self.indexed = 0
        for i in range(self.indexed, n):
            add += (fl[i] & PGT_FLAG_DORMANT) != 0
        self._grow(self.count + add)
        for i in range(self.indexed, n):
            if fl[i] & PGT_FLAG_DORMANT:
                s = self._slot(u[i], self._home(u[i]))
                if s.stamp < 0:
                    s.key = u[i]
                    s.stamp = 0
                    self.count += 1
                s.row = i
        self.indexed = n
        return 0

    cdef object join(self, const uint64_t *ky, const double *cn, Py_ssize_t k,
                     const uint64_t *u, const uint8_t *fl, double *c, Py_ssize_t n):
        """``join``'s result and additions for ``k`` keys over a table of ``n``
        rows, by the index: the keys not indexed yet are added without a row
        (their new pools' rows, once appended, are indexed by the next call)."""
        cdef Py_ssize_t j
        cdef int64_t r
        cdef pool_slot *s
        cdef int64_t *hit
        self._index_rows(u, fl, n)
        if k == 0:
            return new_array(0, I64)
        self._grow(self.count + k)
        self.joins += 1
        hit = <int64_t *>malloc(k * sizeof(int64_t))
        if hit == NULL:
            raise MemoryError()
        try:
            # in three passes, each asking for the cache lines the next reads
            # (the index and the pools' rows are spread over megabytes that the
            # step's other passes have evicted): the keys' first slots, their
            # rows, then the rows' columns
            for j in range(k):
                hit[j] = self._home(ky[j])
                prefetch(&self.slots[hit[j]])
            for j in range(k):
                s = self._slot(ky[j], hit[j])
                if s.stamp < 0:
                    s.key = ky[j]
                    s.row = -1
                    self.count += 1
                elif s.stamp == self.joins:
                    raise ValueError("join_pools: the pool ids must be distinct")
                s.stamp = self.joins
                r = s.row
                hit[j] = r if 0 <= r < n else -1
                if hit[j] >= 0:
                    prefetch(&c[r])
                    prefetch(&u[r])
                    prefetch(&fl[r])
            for j in range(k):
                r = hit[j]
                if r >= 0 and not (u[r] == ky[j] and (fl[r] & PGT_FLAG_DORMANT) and c[r] > 0.0):
                    hit[j] = -1
            return add_hits(hit, cn, k, c)
        finally:
            free(hit)


def found_pools(object src, object at, object counts, object organ, object uid,
                object flags, object cells, object patient, object lesion, object organ_col,
                UidSet registry, PoolIndex index=None):
    """The cells of table rows ``src[at[j]]`` that join dormant pools in a step,
    ``counts[j]`` into organ ``organ[j]``, on a rank that holds its patients
    alone: their pools' uids (``found_rows(UID_POOL, ...)``'s), the pool
    registry, and ``join_pools``, in one pass.

    With ``registry`` (the seeding log's, None without the log), the uids not
    in it yet are added, and their registry columns
    (``paget.engine.seeding.POOL_COLUMNS``: pool, patient, source_lesion,
    source_organ) made as ``SeedingLog._log_founding`` makes them.  Then each
    pool's cells are added to its live pool (flag DORMANT, cells > 0) where
    the table (columns ``uid`` ... ``organ_col``) holds one.  The (row, organ)
    pairs must be distinct.

    With ``index`` (a :class:`PoolIndex` of this table) the live pools are
    looked up there, after it has indexed the rows appended since its last call,
    instead of scanning every row of the table; the result is the same.

    Returns ``(new, registered)``: the positions ``j`` (ascending, int64) of the
    pools with no live row (new pools: ``found_rows`` makes their rows), and the
    registry columns, or None where no uid was new to it.
    """
    cdef Py_ssize_t k = array_size(at, "at"), m = array_size(src, "src")
    cdef Py_ssize_t n = array_size(uid, "uid"), j, r, n_fresh = 0
    cdef const int64_t *sr = i64(src, m, "src")
    cdef const int64_t *ix = i64(at, k, "at")
    cdef const int64_t *cn = i64(counts, k, "counts")
    cdef const int64_t *og = i64(organ, k, "organ")
    cdef const uint64_t *u = <const uint64_t *>array_data(uid, U64, n, "uid")
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef double *c = f64(cells, n, "cells")
    cdef const int64_t *pt = i64(patient, n, "patient")
    cdef const uint64_t *le = <const uint64_t *>array_data(lesion, U64, n, "lesion")
    cdef const int16_t *oc = <const int16_t *>array_data(organ_col, I16, n, "organ_col")
    check_bins(ix, k, m, "at")
    # the pools' uids, counts and registry flags in one scratch block, not three
    # NumPy arrays (a step calls this once, with a few pools)
    cdef uint64_t *ky = <uint64_t *>malloc(k * (sizeof(uint64_t) + sizeof(double) + 1) + 1)
    if ky == NULL:
        raise MemoryError()
    cdef double *cf = <double *>(ky + k)
    cdef uint8_t *fresh = <uint8_t *>(cf + k)
    registered = None
    cdef uint64_t *rp
    cdef int64_t *rt
    cdef uint64_t *rl
    cdef int16_t *ro
    try:
        for j in range(k):
            r = sr[ix[j]]
            if r < 0 or r >= n:
                raise IndexError(f"src: index {r} at {ix[j]} outside [0, {n})")
            if cn[j] < 0:
                raise ValueError(f"found_pools: count {cn[j]} at {j} is negative")
            ky[j] = pool_uid(u[r], <int16_t>og[j])
            cf[j] = <double>cn[j]
        if registry is not None and k:
            n_fresh = registry.add_new_to(ky, k, fresh)
            if n_fresh:
                registered = {"pool": np.empty(n_fresh, np.uint64),
                              "patient": np.empty(n_fresh, np.int64),
                              "source_lesion": np.empty(n_fresh, np.uint64),
                              "source_organ": np.empty(n_fresh, np.int16)}
                rp = <uint64_t *>array_data(registered["pool"], U64, n_fresh, "pool")
                rt = i64(registered["patient"], n_fresh, "patient")
                rl = <uint64_t *>array_data(registered["source_lesion"], U64, n_fresh,
                                            "source_lesion")
                ro = <int16_t *>array_data(registered["source_organ"], I16, n_fresh,
                                           "source_organ")
                n_fresh = 0
                for j in range(k):
                    if fresh[j]:
                        r = sr[ix[j]]
                        rp[n_fresh] = ky[j]
                        rt[n_fresh] = pt[r]
                        rl[n_fresh] = le[r]
                        ro[n_fresh] = oc[r]
                        n_fresh += 1
        if index is None:
            return join(ky, cf, k, u, fl, c, n), registered
        return index.join(ky, cf, k, u, fl, c, n), registered
    finally:
        free(ky)


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
        cdef Py_ssize_t m = array_size(uids, "uids")
        cdef const uint64_t *u = <const uint64_t *>array_data(uids, U64, m, "uids")
        fresh_arr = np.empty(m, np.bool_)
        self.add_new_to(u, m, <uint8_t *>array_data(fresh_arr, cnp.NPY_BOOL, m, "fresh"))
        return fresh_arr

    cdef Py_ssize_t add_new_to(self, const uint64_t *u, Py_ssize_t m,
                               uint8_t *fresh) except -1:
        """:meth:`add_new` of ``m`` uids at ``u``, writing its flags (0 or 1) to
        ``fresh``; returns how many are set."""
        cdef Py_ssize_t i, h, cap, n_fresh = 0
        self._grow(self._count + m)
        cap = array_size(self._keys, "keys")
        cdef uint64_t *keys = <uint64_t *>array_data(self._keys, U64, cap, "keys")
        cdef uint8_t *used = <uint8_t *>array_data(self._used, U8, cap, "used")
        for i in range(m):      # ask for the uids' first slots before reading them
            h = <Py_ssize_t>(paget_mix64(u[i]) & <uint64_t>(cap - 1))
            prefetch(&used[h])
            prefetch(&keys[h])
        for i in range(m):
            fresh[i] = not used[self._slot(keys, used, cap, u[i])]
            n_fresh += fresh[i]
        for i in range(m):
            if fresh[i]:
                h = self._slot(keys, used, cap, u[i])
                if not used[h]:
                    used[h] = 1
                    keys[h] = u[i]
                    self._count += 1
        return n_fresh

    def __contains__(self, uid):
        cdef Py_ssize_t cap = array_size(self._keys, "keys")
        cdef uint64_t *keys = <uint64_t *>array_data(self._keys, U64, cap, "keys")
        cdef uint8_t *used = <uint8_t *>array_data(self._used, U8, cap, "used")
        return bool(used[self._slot(keys, used, cap, <uint64_t>uid)])


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


def lesion_cells(object dormant, object cells, object at, object group, Py_ssize_t n_groups):
    """``Lesions.lesion_cells``: per row, the cells of its lesion (its growing
    rows; 0 for a dormant pool's own row), a new float64 array.

    ``np.where(dormant, 0.0, cells)``, then over the rows of lesions of several
    rows (``at``, intp positions, and their ``group`` in [0, ``n_groups``):
    ``paget.state.lesion_groups``) each group's sum in ``at``'s order, as
    ``np.bincount(group, weights=...)`` adds, written back to its rows.
    """
    cdef Py_ssize_t N = array_size(cells, "cells"), m = array_size(at, "at"), i, g
    cdef const cnp.npy_bool *dor = <const cnp.npy_bool *>array_data(dormant, cnp.NPY_BOOL, N,
                                                                      "dormant")
    cdef const double *c = f64(cells, N, "cells")
    cdef const Py_ssize_t *pos = <const Py_ssize_t *>array_data(at, cnp.NPY_INTP, m, "at")
    cdef const Py_ssize_t *grp = <const Py_ssize_t *>array_data(group, cnp.NPY_INTP, m, "group")
    out_arr = new_array(N, F64)
    cdef double *out = <double *>cnp.PyArray_DATA(<cnp.ndarray>out_arr)
    cdef double *acc
    for i in range(N):
        out[i] = 0.0 if dor[i] else c[i]
    if m == 0:
        return out_arr
    for i in range(m):
        if not (0 <= pos[i] < N and 0 <= grp[i] < n_groups):
            raise IndexError(f"lesion_cells: row {pos[i]} or group {grp[i]} at {i} outside "
                             f"[0, {N}) or [0, {n_groups})")
    acc = <double *>malloc(n_groups * sizeof(double))
    if acc == NULL:
        raise MemoryError()
    try:
        for g in range(n_groups):
            acc[g] = 0.0
        for i in range(m):
            acc[grp[i]] += out[pos[i]]
        for i in range(m):
            out[pos[i]] = acc[grp[i]]
    finally:
        free(acc)
    return out_arr


def view_masks(object flags, object patient, int64_t lo):
    """``(flags & FLAG_DORMANT) != 0``, ``(flags & FLAG_PRIMARY) != 0`` and
    ``patient - lo`` of a view's rows (``paget.state.Lesions``: ``dormant``,
    ``primary``, ``pidx``), read-only, in one pass where NumPy made six
    arrays.  ``flags`` (uint8) and ``patient`` (int64) of one length; any
    other array is read from a copy of that type."""
    flags, patient = as_array(flags, U8), as_array(patient, I64)
    cdef Py_ssize_t n = array_size(flags, "flags"), i
    cdef const uint8_t *fl = <const uint8_t *>array_data(flags, U8, n, "flags")
    cdef const int64_t *pt = i64(patient, n, "patient")
    cdef cnp.ndarray dormant = new_array(n, cnp.NPY_BOOL), primary = new_array(n, cnp.NPY_BOOL)
    cdef cnp.ndarray pidx = new_array(n, I64)
    cdef cnp.npy_bool *dm = <cnp.npy_bool *>cnp.PyArray_DATA(dormant)
    cdef cnp.npy_bool *pm = <cnp.npy_bool *>cnp.PyArray_DATA(primary)
    cdef int64_t *px = <int64_t *>cnp.PyArray_DATA(pidx)
    for i in range(n):
        dm[i] = (fl[i] & PGT_FLAG_DORMANT) != 0
        pm[i] = (fl[i] & PGT_FLAG_PRIMARY) != 0
        px[i] = pt[i] - lo
    for a in (dormant, primary, pidx):
        cnp.PyArray_CLEARFLAGS(<cnp.ndarray>a, cnp.NPY_ARRAY_WRITEABLE)
    return dormant, primary, pidx


def readonly_heads(tuple buffers, Py_ssize_t n):
    """``b[:n]`` of each 1-D C-contiguous buffer, read-only, then ``arange(n)``
    (int64, read-only), in one call: the table's columns as a view of its
    live rows shows them (``paget.state.LesionTable.frozen_columns``), where
    each took a slice, a view and a flag change.  Each view's base is its
    buffer, so it sees the buffer's values as they change."""
    cdef Py_ssize_t k = len(buffers), i
    cdef cnp.ndarray b, v
    cdef cnp.npy_intp dim = n
    out = []
    for i in range(k):
        a = buffers[i]
        if not (cnp.PyArray_Check(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == 1 and
                cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) and
                not (<cnp.ndarray>a).dtype.hasobject):
            raise TypeError(f"readonly_heads: buffer {i} is not a 1-D C-contiguous array "
                            f"of numbers")
        b = <cnp.ndarray>a
        if n < 0 or n > cnp.PyArray_DIMS(b)[0]:
            raise ValueError(f"readonly_heads: {n} values of a buffer of "
                             f"{cnp.PyArray_DIMS(b)[0]}")
        if not (cnp.PyArray_ISALIGNED(b) and cnp.PyArray_ISNOTSWAPPED(b)):
            raise TypeError(f"readonly_heads: buffer {i} is not aligned in native order")
        v = cnp.PyArray_SimpleNewFromData(1, &dim, cnp.PyArray_TYPE(b), cnp.PyArray_DATA(b))
        cnp.set_array_base(v, b)
        cnp.PyArray_CLEARFLAGS(v, cnp.NPY_ARRAY_WRITEABLE)
        out.append(v)
    row = new_array(n, I64)
    cdef int64_t *r = <int64_t *>cnp.PyArray_DATA(row)
    for i in range(n):
        r[i] = i
    cnp.PyArray_CLEARFLAGS(row, cnp.NPY_ARRAY_WRITEABLE)
    out.append(row)
    return tuple(out)


def put_rows(tuple buffers, Py_ssize_t start, Py_ssize_t m, tuple values):
    """``b[start:start + m] = v`` for each buffer ``b`` (1-D, C-contiguous) and its
    value ``v``, in one call (``paget.state.LesionTable.append``, twenty
    columns a founding): an array of ``m`` values of the buffer's type
    (C-contiguous, aligned, native order) is copied, a Python float or bool
    default written into a float64 or bool buffer, and anything else given to
    NumPy's assignment, with its casts and broadcasting."""
    cdef Py_ssize_t k = len(buffers), i, j
    cdef cnp.ndarray b, v
    cdef Py_ssize_t size
    cdef char *dst
    cdef double x
    if len(values) != k:
        raise ValueError(f"put_rows: {len(values)} values for {k} buffers")
    for i in range(k):
        a = buffers[i]
        if not (cnp.PyArray_Check(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == 1 and
                cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) and
                cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a)):
            raise TypeError(f"put_rows: buffer {i} is not a writable 1-D C-contiguous array")
        b = <cnp.ndarray>a
        if start < 0 or m < 0 or start + m > cnp.PyArray_DIMS(b)[0]:
            raise ValueError(f"put_rows: rows [{start}, {start + m}) of a buffer of "
                             f"{cnp.PyArray_DIMS(b)[0]}")
        size = cnp.PyArray_ITEMSIZE(b)
        dst = <char *>cnp.PyArray_DATA(b) + start * size
        got = values[i]
        if cnp.PyArray_Check(got):
            v = <cnp.ndarray>got
            if (cnp.PyArray_NDIM(v) == 1 and cnp.PyArray_DIMS(v)[0] == m and
                    cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(v), cnp.PyArray_TYPE(b)) and
                    cnp.PyArray_IS_C_CONTIGUOUS(v) and cnp.PyArray_ISALIGNED(v) and
                    cnp.PyArray_ISNOTSWAPPED(v) and cnp.PyArray_ISNOTSWAPPED(b) and
                    not v.dtype.hasobject):
                if m:
                    memcpy(dst, cnp.PyArray_DATA(v), m * size)
                continue
        elif type(got) is float and cnp.PyArray_TYPE(b) == F64 and \
                cnp.PyArray_ISNOTSWAPPED(b):
            x = got
            for j in range(m):
                (<double *>dst)[j] = x
            continue
        elif type(got) is bool and cnp.PyArray_TYPE(b) == cnp.NPY_BOOL:
            memset(dst, 1 if got else 0, m)
            continue
        b[start:start + m] = got
