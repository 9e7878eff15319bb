# cython: freethreading_compatible = False
"""Compiled operations on the lesion table's rows: new identities, lesion groups, pools, sums.

Each is one compiled pass over the table (open-addressing hash tables where a
row is looked up among keys), called by the engine where NumPy would sort or
take several passes.
"""
from libc.stdint cimport int64_t, uint64_t

from keyed_stream cimport paget_mix64
from paget_kernels cimport PGT_FLAG_DORMANT, cells_t, count_t, flag_t, organ_t, uid_t

import numpy as np

# Identity kinds for derive_uids (top byte of the tag word).
UID_PRIMARY = 0
UID_FOUNDER = 1
UID_POOL = 2
UID_REACTIVATED = 3
UID_MUTANT = 4


def derive_uids(const uid_t[::1] parent, uint64_t kind, const int64_t[::1] step,
                const organ_t[::1] organ, const int64_t[::1] k):
    """Identities of new lesions, derived from what founded them.

    ``uid = mix(mix(mix(parent) ^ tag) ^ k)`` with ``tag = kind << 56 | organ << 40 |
    step``.  A lesion's identity therefore depends on its parent, the step and
    organ of its founding and its rank among that event's founders, never on the
    MPI rank that created it.  Two lesions of one patient share an identity with
    probability ~ L**2 / 2**65 for L lesions (3e-8 at L = 1e6).
    """
    cdef Py_ssize_t i, m = parent.shape[0]
    if step.shape[0] != m or organ.shape[0] != m or k.shape[0] != m:
        raise ValueError("derive_uids: parent, step, organ and k must have one length")
    cdef uid_t[::1] out = np.empty(m, dtype=np.uint64)
    cdef uint64_t tag
    cdef uint64_t mask40 = (<uint64_t>1 << 40) - 1
    with nogil:
        for i in range(m):
            tag = ((kind << 56) | ((<uint64_t>(<unsigned short>organ[i])) << 40)
                   | (<uint64_t>step[i] & mask40))
            out[i] = paget_mix64(paget_mix64(paget_mix64(parent[i]) ^ tag) ^ <uint64_t>k[i])
    return np.asarray(out)



# --------------------------------------------------------------------------
# Rows of lesions of several rows (paget.state.lesion_groups)
# --------------------------------------------------------------------------

cdef tuple _hash_table(Py_ssize_t n):
    """(bits, keys, slot) of an empty open-addressing table for ``n`` keys, at
    most half full: 2**bits slots, ``slot`` -1 (empty) everywhere."""
    cdef int bits = 1
    while (<Py_ssize_t>1 << bits) < 2 * n:
        bits += 1
    return (bits, np.empty(<Py_ssize_t>1 << bits, np.uint64),
            np.full(<Py_ssize_t>1 << bits, -1, np.int64))


cdef inline Py_ssize_t _probe(const uint64_t *keys, const int64_t *slot, uint64_t mask,
                              int bits, uint64_t key) noexcept nogil:
    """The slot of ``key`` in an open-addressing table (linear probing, Fibonacci
    hashing), or the empty slot where it would go; slot[j] < 0 marks empty."""
    cdef uint64_t h = (key * <uint64_t>0x9E3779B97F4A7C15) >> (64 - bits)
    while slot[h] >= 0 and keys[h] != key:
        h = (h + 1) & mask
    return <Py_ssize_t>h


def lesion_groups(const uid_t[::1] lesion, const uid_t[::1] uid):
    """(positions, group, n_groups) of the rows whose lesion has several rows.

    A lesion of several rows holds a row whose ``lesion`` differs from its
    ``uid`` (a clone founded inside it), so its id is among the distinct
    ``lesion`` ids of such rows, ``ids`` (sorted).  Returns the positions of the
    rows whose ``lesion`` is in ``ids`` (ascending), each one's index in ``ids``,
    and ``ids.size``: what ``np.searchsorted`` of every row in ``ids`` gives.
    The ids are collected in an open-addressing hash table (no sort of the
    clone rows, only of the distinct ids), then every row is looked up in it
    (a row not in a group costs one probe of an empty slot, mostly).
    """
    cdef Py_ssize_t i, j, m = lesion.shape[0], n_odd = 0, n_ids = 0, n_at = 0, h
    if uid.shape[0] != m:
        raise ValueError("lesion_groups: lesion and uid must have one length")
    with nogil:
        for i in range(m):
            n_odd += lesion[i] != uid[i]
    if n_odd == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), 0
    cdef int bits
    bits, keys_arr, slot_arr = _hash_table(n_odd)
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef uint64_t[::1] keys = keys_arr
    cdef int64_t[::1] slot = slot_arr
    cdef uint64_t[::1] distinct = np.empty(n_odd, np.uint64)
    with nogil:
        for i in range(m):
            if lesion[i] != uid[i]:
                h = _probe(&keys[0], &slot[0], mask, bits, lesion[i])
                if slot[h] < 0:
                    keys[h] = lesion[i]
                    slot[h] = 0
                    distinct[n_ids] = lesion[i]
                    n_ids += 1
    ids_arr = np.sort(np.asarray(distinct)[:n_ids])
    cdef const uint64_t[::1] ids = ids_arr
    cdef Py_ssize_t[::1] at = np.empty(m, np.intp)
    cdef Py_ssize_t[::1] group = np.empty(m, np.intp)
    with nogil:
        for j in range(n_ids):
            slot[_probe(&keys[0], &slot[0], mask, bits, ids[j])] = j
        for i in range(m):
            h = _probe(&keys[0], &slot[0], mask, bits, lesion[i])
            if slot[h] >= 0:
                at[n_at] = i
                group[n_at] = slot[h]
                n_at += 1
    return (np.asarray(at)[:n_at].copy(), np.asarray(group)[:n_at].copy(), int(n_ids))


def add_rows_at(count_t[:, ::1] acc, const int64_t[::1] at, const count_t[:, ::1] values):
    """``acc[at[i], :] += values[i, :]`` for every row i, repeated ``at`` adding up
    (``np.add.at`` for int64 rows, in one pass: integer sums are exact in any
    order)."""
    cdef Py_ssize_t i, j, m = at.shape[0], n = acc.shape[0], w = acc.shape[1]
    cdef int64_t r
    if values.shape[0] != m or values.shape[1] != w:
        raise ValueError(f"add_rows_at: values must be ({m}, {w}), got "
                         f"({values.shape[0]}, {values.shape[1]})")
    for i in range(m):
        if not 0 <= at[i] < n:
            raise IndexError(f"add_rows_at: index {at[i]} out of range for {n} rows")
    with nogil:
        for i in range(m):
            r = at[i]
            for j in range(w):
                acc[r, j] += values[i, j]



def match_pools(const uid_t[::1] key, const uid_t[::1] uid, const flag_t[::1] flags,
                const cells_t[::1] cells):
    """For each of the distinct pool ids ``key``, the row of the table (columns
    ``uid``, ``flags``, ``cells``) holding that live dormant pool (flag DORMANT
    set, cells > 0), or -1 (int64).

    The engine adds a step's dormant cells to their pools with it.  A pool that
    empties stays empty, and a new pool of the same id is made only when no live
    one exists, so a live pool is the only live row of its id; were there
    several, the last would be given.  The keys are put in an open-addressing
    hash table and every row of the table is looked up in it once: O(rows +
    keys), where sorting the keys and searching them among the pools took
    O(keys log pools).
    """
    cdef Py_ssize_t k = key.shape[0], m = uid.shape[0], i, j, h
    if flags.shape[0] != m or cells.shape[0] != m:
        raise ValueError("match_pools: uid, flags and cells must have one length")
    hit_arr = np.full(k, -1, np.int64)
    if k == 0:
        return hit_arr
    cdef int64_t[::1] hit = hit_arr
    cdef int bits
    bits, keys_arr, slot_arr = _hash_table(k)
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef uint64_t[::1] keys = keys_arr
    cdef int64_t[::1] slot = slot_arr
    cdef bint repeated = False
    with nogil:
        for j in range(k):
            h = _probe(&keys[0], &slot[0], mask, bits, key[j])
            if slot[h] >= 0:
                repeated = True
                break
            keys[h] = key[j]
            slot[h] = j
    if repeated:
        raise ValueError("match_pools: the pool ids must be distinct")
    with nogil:
        for i in range(m):
            if (flags[i] & PGT_FLAG_DORMANT) and cells[i] > 0.0:
                h = _probe(&keys[0], &slot[0], mask, bits, uid[i])
                if slot[h] >= 0:
                    hit[slot[h]] = i
    return hit_arr
