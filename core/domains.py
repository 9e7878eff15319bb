"""Splitting patients over ranks: rank groups, domains, exchange, reductions.

A run's patients are cut into contiguous blocks (:func:`paget.output.patient_blocks`).
With at least as many blocks as ranks each rank simulates its own block alone, as
before.  With fewer patients than ranks the ranks left over join the blocks: the
ranks sharing a block form a **group** (:func:`rank_groups`), and the lesion rows
of the group's patients are spread over its ranks by **domain** = (patient,
organ, shard), the shard a hash of the row's lesion id, so that the clones of a
lesion stay together and one patient with 10^5 lesions in one organ still spreads
over every rank of its group (:class:`Domains`).

Inside a group every rank holds every per-patient array of the block (records,
counters, plugin state) and runs every hook on its own rows; what needs the whole
patient is reduced over the group:

- sums over a patient's rows (:meth:`paget.state.Lesions.patient_sum`,
  :func:`fold_sum`), reproducible to the bit
  whatever the split: whole numbers add exactly in any order, and other values
  are pre-rounded to a grid set by the patient's largest term so that their parts
  add exactly too (Demmel & Nguyen 2013);
- CTCs arriving in a domain owned by another rank of the group travel in one
  buffer-based ``Alltoallv`` a step (:meth:`Group.exchange`: fixed-width NumPy
  records, nothing pickled);
- domains are rebalanced by row count as lesions are founded and die
  (:meth:`Domains.assign`, called by the engine's ``RankRun._rebalance``).

As patients grow apart, the ranks are laid out again: every so often they add up
each patient's rows, :func:`plan_groups` cuts the cohort into contiguous segments
with one or more ranks each (a large patient among small ones gets a group of its
own), and the engine moves the patients' state to their new ranks in one exchange
(:meth:`Group.exchange_arrays`), as a restart from a checkpoint would load it.

Every collective waits without blocking and checks whether another rank of the
run has failed (:class:`PeerFailed`), so that an error anywhere ends the job and
no rank is left waiting in a reduction its failed peer will never join.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from .ext import kernels
from .output import patient_blocks

__all__ = ["PeerFailed", "rank_groups", "plan_groups", "layout_time", "group_speedup",
           "Group", "Domains", "fold_sum"]


class PeerFailed(Exception):
    """Another rank of the run failed; this rank stops (it has no error of its own)."""


def rank_groups(n_patients: int, n_ranks: int, chunk: int = 1
                ) -> list[tuple[int, int, int]]:
    """Per rank: (group, lo, hi), the group's index and its patient block ``[lo, hi)``.

    The blocks are those of :func:`patient_blocks`; when some are empty (fewer
    chunks of patients than ranks) the non-empty ones are shared out over all
    the ranks, contiguous ranks per block, as evenly as they go.  A group's
    first rank (its leader) comes before the next group's, so the leaders hold
    the blocks in patient order.
    """
    blocks = [b for b in patient_blocks(n_patients, n_ranks, chunk) if b[1] > b[0]]
    if len(blocks) == n_ranks or not blocks:
        return [(r, lo, hi) for r, (lo, hi) in enumerate(patient_blocks(n_patients, n_ranks,
                                                                         chunk))]
    m = len(blocks)
    out = []
    for r in range(n_ranks):
        g = (r * m) // n_ranks
        # the ranks of group g are those r with floor(r m / n) = g: contiguous
        out.append((g, *blocks[g]))
    return out


def group_speedup(k, efficiency: float = 0.5):
    """The speed-up assumed for a group of ``k`` ranks: ``1 + efficiency (k - 1)``
    (see :func:`plan_groups`)."""
    return 1.0 + efficiency * (k - 1)


def plan_groups(loads: np.ndarray, n_ranks: int, chunk: int = 1, *,
                efficiency: float = 0.5) -> list[tuple[int, int, int]]:
    """Per rank: (group, lo, hi), a layout of the ranks that evens out ``loads``.

    ``loads`` are the patients' expected costs per step (the engine's: lesion
    rows plus a per-patient share).  The patients are cut, in whole ``chunk``s,
    into contiguous segments, and each segment gets ``k >= 1`` contiguous ranks
    (a group when ``k > 1``), so that the largest segment time, ``W / s(k)``
    with ``s(k) = 1 + efficiency (k - 1)`` the speed-up of a group of ``k``
    ranks, is as small as this search finds:

    - bisection on the bottleneck ``B``: scanning the chunks in order, a segment
      starting at a chunk of load ``u`` takes the fewest ranks ``k`` with
      ``u <= B s(k)`` and extends while its load stays within ``B s(k)`` (the
      ends found by binary search on the cumulative loads, so a test costs
      ``O(segments log chunks)``); ``B`` is feasible when the ranks suffice;
    - ranks left over go, one at a time, to the segment with the largest time
      (ties: the first).

    Every rank computes the same layout from the same ``loads`` (the same
    floating-point operations in the same order).  The leaders (first rank of
    each group) hold the segments in patient order, as :func:`rank_groups`'s do.
    ``efficiency``: an assumption, 0.5, from one split patient measured on 2
    ranks (1.36-1.45x, ``docs/explanation/performance-history.md``).
    """
    loads = np.asarray(loads, np.float64)
    P = loads.size
    if P == 0 or n_ranks < 1:
        raise ValueError(f"cannot lay out {P} patients over {n_ranks} ranks")
    if not (efficiency > 0 and np.all(loads >= 0) and np.all(np.isfinite(loads))):
        raise ValueError("plan_groups needs finite loads >= 0 and an efficiency > 0")
    starts = np.arange(0, P, chunk)
    units = np.add.reduceat(loads, starts)
    U = units.size
    cum = np.concatenate([[0.0], np.cumsum(units)])

    def speed(k):
        return group_speedup(k, efficiency)

    def ranks_for(w: float, b: float) -> int:
        if w <= b:
            return 1
        return 1 + int(np.ceil((w / b - 1.0) / efficiency))

    def segments(b: float) -> list[tuple[int, int, int]] | None:
        """(first chunk, end chunk, ranks) per segment; None when over ``n_ranks``."""
        out, i, used = [], 0, 0
        while i < U:
            k = ranks_for(units[i], b)
            # the last chunk end j with cum[j] - cum[i] <= b s(k), at least i + 1
            j = max(i + 1, int(np.searchsorted(cum, cum[i] + b * speed(k), side="right")) - 1)
            used += k
            if used > n_ranks:
                return None
            out.append((i, j, k))
            i = j
        return out

    total = float(cum[-1])
    if not total > 0:      # nothing to balance: the even split
        return rank_groups(P, n_ranks, chunk)
    lo_b, hi_b = float(units.max()) / speed(n_ranks) * (1 - 1e-12), total
    best = segments(hi_b)
    for _ in range(64):
        mid = 0.5 * (lo_b + hi_b)
        if not lo_b < mid < hi_b:
            break
        found = segments(mid)
        if found is None:
            lo_b = mid
        else:
            hi_b, best = mid, found
    assert best is not None
    ranks = [k for _, _, k in best]
    work = [cum[j] - cum[i] for i, j, _ in best]
    for _ in range(n_ranks - sum(ranks)):
        s = max(range(len(best)), key=lambda t: (work[t] / speed(ranks[t]), -t))
        ranks[s] += 1
    out = []
    for g, ((i, j, _), k) in enumerate(zip(best, ranks)):
        lo, hi = int(starts[i]), int(starts[j]) if j < U else P
        out += [(g, lo, hi)] * k
    return out


def layout_time(loads: np.ndarray, layout: list[tuple[int, int, int]],
                efficiency: float = 0.5) -> float:
    """The largest time ``W / s(k)`` of a layout's groups (see :func:`plan_groups`)."""
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(loads, np.float64))])
    size: dict[int, list] = {}
    for g, lo, hi in layout:
        size.setdefault(g, [lo, hi, 0])[2] += 1
    return max(((cum[hi] - cum[lo]) / group_speedup(k, efficiency)
                for lo, hi, k in size.values()), default=0.0)


def _waiter(poll: Callable[[], bool] | None, spin_s: float = 0.01):
    """Wait for an MPI request without blocking: for ``spin_s`` test it between
    yields of the CPU (``sched_yield``: at once back where the core is free,
    to a rank still working where the machine is oversubscribed), then between
    sleeps that grow to 1 ms; raise :class:`PeerFailed` if ``poll()`` says
    another rank failed."""
    yield_cpu = getattr(os, "sched_yield", lambda: time.sleep(0))

    def wait(request) -> None:
        if request.Test():
            return
        start = time.perf_counter()
        tests = 0
        while time.perf_counter() - start < spin_s:
            if request.Test():
                return
            tests += 1
            if tests % 64 == 0 and poll is not None and poll():
                raise PeerFailed("another rank failed")
            yield_cpu()
        delay = 5e-5
        while not request.Test():
            if poll is not None and poll():
                raise PeerFailed("another rank failed")
            time.sleep(delay)
            delay = min(2 * delay, 1e-3)
    return wait


#: Bits per fold of :func:`fold_sum`: a reduction adds at most 2**31 terms per
#: patient (assumed: 2**31 rows of 63 bytes are 135 GB, beyond any one patient's
#: table), so 2**31 folded parts of at most 2**21 add exactly in float64.
FOLD_BITS = 21
#: Folds: 63 bits below the largest term are kept, beyond float64's 53.
FOLDS = 3
MAX_TERMS = 2 ** (52 - FOLD_BITS)

_max = np.maximum.reduce


def _folds(index: np.ndarray, values: np.ndarray, n: int, exponent: np.ndarray) -> np.ndarray:
    """Per bin, the sums of each fold of the (finite) terms: exact whole numbers,
    (FOLDS, n); one compiled pass (:func:`paget.ext.kernels.fold_terms`)."""
    out = np.zeros((FOLDS, n))
    kernels.fold_terms(np.ascontiguousarray(index, dtype=np.int64),
                       np.ascontiguousarray(values, dtype=np.float64),
                       np.ascontiguousarray(exponent, dtype=np.int64), FOLDS, FOLD_BITS, out)
    return out


def _combine(folds: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """The value of summed folds, smallest fold first (a fixed order)."""
    total = np.zeros(folds.shape[1])
    for k in reversed(range(FOLDS)):
        total += np.ldexp(folds[k], exponent - FOLD_BITS * (k + 1))
    return total


class _Alone:
    """The collectives of a group of one rank (a serial reduction)."""

    @staticmethod
    def sum(a):
        return a

    max = sum


def fold_sum(index: np.ndarray, values: np.ndarray, n: int,
             group: "Group | None" = None) -> np.ndarray:
    """``np.bincount(index, values, minlength=n)``, the same to the bit however the
    terms are ordered or split over the ranks of ``group``.

    Whole non-negative values whose sums stay below 2**53 (cells, counts) add
    exactly in any order: when every term of every rank is one, the result is
    the plain sum.  Otherwise the terms are split into ``FOLDS`` parts on grids
    of ``FOLD_BITS`` bits set by the bin's largest term over the group, whose
    sums are exact whole numbers in any order (Demmel & Nguyen 2013, "Fast
    reproducible floating-point summation", ARITH 21).  The result is within
    about ``n_terms 2**-63`` of the largest term of the exact sum, so within the
    rounding of an ordinary sum.  Non-finite terms give the non-finite sum
    (``inf``, or ``nan`` for ``inf - inf`` or a ``nan``) in any order too.
    Collective over ``group``: two reductions, three when the terms are not
    all whole.
    """
    g = _Alone if group is None else group
    values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    index = np.asarray(index, dtype=np.intp).reshape(-1)
    if values.size != index.size:
        raise ValueError(f"fold_sum: {index.size} indices for {values.size} values")
    if values.size >= MAX_TERMS:
        raise ValueError(f"fold_sum: {values.size} terms; at most {MAX_TERMS - 1} add exactly")
    whole = kernels.whole_and_nonnegative(values)

    def plain() -> np.ndarray | None:
        """The group's plain sum, if its bins stay below 2**53 (then it is exact)."""
        s = g.sum(np.bincount(index, weights=values, minlength=n).astype(np.float64, copy=False))
        return s if not s.size or _max(s) < 2.0 ** 53 else None

    if whole and group is None:     # the usual serial case (cells, counts): no folds
        got = plain()
        if got is not None:
            return got
    odd = None
    if not whole:
        finite = np.isfinite(values)
        if not finite.all():
            odd = np.bincount(index[~finite], weights=values[~finite], minlength=n)
            index, values = index[finite], values[finite]
    largest = np.zeros(n + 2)
    np.maximum.at(largest, index, np.abs(values))
    largest[n] = 0.0 if whole else 1.0            # some term is not whole (or not finite)
    largest[n + 1] = 0.0 if odd is None else 1.0  # some term is not finite
    largest = g.max(largest)
    if not largest[n]:
        got = plain()
        if got is not None:
            return got
    exponent = np.frexp(largest[:n])[1].astype(np.int64)     # largest < 2**exponent
    total = _combine(g.sum(_folds(index, values, n, exponent)), exponent)
    if largest[n + 1]:
        total = total + g.sum(np.zeros(n) if odd is None else odd)
    return total


class Group:
    """The ranks sharing a block of patients, and the collectives between them.

    ``comm`` is the group's own communicator (of two ranks or more);
    ``poll()`` tells whether another rank of the run has failed.  Every
    collective is non-blocking underneath and raises :class:`PeerFailed` if a
    peer fails while this rank waits.
    """

    def __init__(self, comm, poll: Callable[[], bool] | None = None):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._wait = _waiter(poll)
        self._types: dict[int, object] = {}

    # -- reductions (every rank of the group calls each, in the same order)
    def _start(self, a: np.ndarray, op) -> tuple:
        """A begun ``Iallreduce`` of ``a``: (request, result, ``a`` kept alive)."""
        a = np.ascontiguousarray(a)
        out = np.empty_like(a)
        return self.comm.Iallreduce(a, out, op=op), out, a

    def _allreduce(self, a: np.ndarray, op) -> np.ndarray:
        return self.result(self._start(a, op))

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Element-wise sum over the group (exact for integers and for whole
        float64 numbers below 2**53, whatever order MPI adds them in)."""
        from mpi4py import MPI
        return self._allreduce(a, MPI.SUM)

    def start_sum(self, a: np.ndarray) -> tuple:
        """Begin :meth:`sum` without waiting; :meth:`result` finishes it.  Ranks
        that reach the two calls at different times do not wait for each
        other in between."""
        from mpi4py import MPI
        return self._start(a, MPI.SUM)

    def result(self, started: tuple) -> np.ndarray:
        request, out, _ = started
        self._wait(request)
        return out

    def max(self, a: np.ndarray) -> np.ndarray:
        from mpi4py import MPI
        return self._allreduce(a, MPI.MAX)

    def min(self, a: np.ndarray) -> np.ndarray:
        """Element-wise minimum; NaN counts as missing (``np.fmin``)."""
        from mpi4py import MPI
        a = np.asarray(a)
        if a.dtype.kind != "f":
            return self._allreduce(a, MPI.MIN)
        filled = np.where(np.isnan(a), np.inf, a)
        out = self._allreduce(filled, MPI.MIN)
        gone = self._allreduce(np.isnan(a).astype(np.int8), MPI.MIN)   # NaN everywhere
        out[gone.astype(bool)] = np.nan
        return out

    def raise_if_any_failed(self, failure: BaseException | None,
                            others: BaseException) -> None:
        """Collective: if any rank of the group had a ``failure`` in local work that
        comes before the group's next collectives, raise on every rank, the
        failing ones their own error and the others ``others``; so none is
        left waiting in a collective a failed peer will not join."""
        if not self.min(np.array([failure is None], np.int64))[0]:
            raise failure or others

    def allgather(self, a: np.ndarray) -> np.ndarray:
        """Every rank's ``a`` (same shape on all), stacked on a new first axis."""
        a = np.ascontiguousarray(a)
        out = np.empty((self.size,) + a.shape, a.dtype)
        self._wait(self.comm.Iallgather(a, out))
        return out

    # -- exchange of rows
    def _record_type(self, itemsize: int):
        t = self._types.get(itemsize)
        if t is None:
            from mpi4py import MPI
            t = self._types[itemsize] = MPI.BYTE.Create_contiguous(itemsize).Commit()
        return t

    def exchange(self, cols: dict[str, np.ndarray], dest: np.ndarray) -> dict[str, np.ndarray]:
        """Send row ``i`` of the columns to group rank ``dest[i]``; return the rows
        received, in the order (source rank, then the sender's row order).

        The columns are packed into one array of fixed-width records (a NumPy
        structured dtype) and sent in one ``Alltoallv`` after an ``Alltoall`` of
        the counts.  Every rank must call it, with the same column names and
        dtypes, even with no rows to send.
        """
        names = sorted(cols)
        dtype = np.dtype([(k, np.asarray(cols[k]).dtype) for k in names])
        dest = np.asarray(dest, dtype=np.int64)
        order = np.argsort(dest, kind="stable")
        send = np.empty(dest.size, dtype)
        for k in names:
            send[k] = np.asarray(cols[k])[order]
        counts = np.bincount(dest, minlength=self.size).astype(np.int64)
        recv_counts = np.empty(self.size, np.int64)
        self._wait(self.comm.Ialltoall(counts, recv_counts))
        recv = np.empty(int(recv_counts.sum()), dtype)
        rtype = self._record_type(dtype.itemsize)
        sdispl = np.cumsum(counts) - counts
        rdispl = np.cumsum(recv_counts) - recv_counts
        self._wait(self.comm.Ialltoallv(
            [send.view(np.uint8), (counts.astype(np.int32), sdispl.astype(np.int32)), rtype],
            [recv.view(np.uint8), (recv_counts.astype(np.int32), rdispl.astype(np.int32)),
             rtype]))
        return {k: np.ascontiguousarray(recv[k]) for k in names}

    def exchange_arrays(self, states: list) -> list:
        """Send ``states[r]`` (a dict of NumPy arrays, or None for nothing) to rank
        ``r``; return what each rank sent this one (None where nothing).

        For the rare moves of whole patients between groups.  Each dict travels
        as its arrays' raw bytes after a JSON header of their names, dtypes and
        shapes (:func:`pack_arrays`; nothing pickled): one ``Alltoall`` of the
        sizes, then one ``Alltoallv`` of the bytes in 4 KiB blocks, so that a
        rank may send up to 8 TiB within MPI's ``int`` counts.
        """
        if len(states) != self.size:
            raise ValueError(f"{len(states)} states for a group of {self.size} ranks")
        unit = 4096
        # packed straight into the send buffer: the states' bytes are copied once
        pieces = [[] if st is None else _packed(st) for st in states]
        counts = np.array([sum(p.size for p in ps) for ps in pieces], np.int64)
        recv_counts = np.empty(self.size, np.int64)
        self._wait(self.comm.Ialltoall(counts, recv_counts))
        sblocks, rblocks = -(-counts // unit), -(-recv_counts // unit)
        if max(sblocks.sum(), rblocks.sum()) >= 2**31:
            raise OverflowError("more than 8 TiB of patient state to move at once")
        sdispl, rdispl = np.cumsum(sblocks) - sblocks, np.cumsum(rblocks) - rblocks
        send = np.zeros(int(sblocks.sum()) * unit, np.uint8)
        for ps, at in zip(pieces, sdispl):
            at = int(at) * unit
            for p in ps:
                send[at: at + p.size] = p
                at += p.size
        del pieces
        recv = np.empty(int(rblocks.sum()) * unit, np.uint8)
        rtype = self._record_type(unit)
        self._wait(self.comm.Ialltoallv(
            [send, (sblocks.astype(np.int32), sdispl.astype(np.int32)), rtype],
            [recv, (rblocks.astype(np.int32), rdispl.astype(np.int32)), rtype]))
        return [unpack_arrays(recv[at * unit: at * unit + n]) if n else None
                for n, at in zip(recv_counts, rdispl)]

    def gather_rows(self, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every rank's rows on the group's first rank (others get none back)."""
        n = len(next(iter(cols.values()))) if cols else 0
        return self.exchange(cols, np.zeros(n, np.int64))

    def free(self) -> None:
        """Free the MPI datatypes this group made (the communicator stays)."""
        for t in self._types.values():
            t.Free()
        self._types.clear()

    def close(self) -> None:
        """:meth:`free`, and free the group's communicator too."""
        self.free()
        self.comm.Free()


def _packed(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The pieces of :func:`pack_arrays`'s buffer, uncopied: the header, then
    each array's bytes."""
    import json
    meta, parts = [], []
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.hasobject:
            raise TypeError(f"{name}: object arrays cannot be sent between ranks")
        meta.append([name, a.dtype.str, list(a.shape)])
        parts.append(np.ascontiguousarray(a.reshape(-1)).view(np.uint8))
    head = json.dumps(meta).encode()
    return [np.frombuffer(np.int64(len(head)).tobytes() + head, np.uint8), *parts]


def pack_arrays(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """``arrays`` as one uint8 buffer: an 8-byte header length, a JSON header of
    names, dtypes and shapes, then each array's bytes (C order).  Object
    arrays are refused: only numbers, booleans and fixed-width strings travel."""
    return np.concatenate(_packed(arrays))


def unpack_arrays(buf: np.ndarray) -> dict[str, np.ndarray]:
    """The dict :func:`pack_arrays` packed (arrays copied out of ``buf``)."""
    import json
    n = int(np.frombuffer(buf[:8].tobytes(), np.int64)[0])
    at = 8 + n
    out = {}
    for name, dtype, shape in json.loads(buf[8:at].tobytes()):
        dt = np.dtype(dtype)
        size = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        out[name] = buf[at: at + size].view(dt).reshape(shape).copy() if size else \
            np.zeros(shape, dt)
        at += size
    return out


class Domains:
    """Which rank of a group owns each domain (patient, organ, shard).

    A row's shard is its lesion id modulo ``shards`` (ids are outputs of a
    64-bit mixing function, so the residues are evenly spread), so that every
    clone of a lesion shares its domain.  ``shards`` is a multiple of the
    group's size; the domains start dealt out in turn, so that every (patient,
    organ) starts spread over every rank.
    """

    SHARDS_PER_RANK = 8

    def __init__(self, group_size: int, n_patients: int, n_organs: int):
        self.size = group_size
        self.n_org = n_organs
        self.shards = self.SHARDS_PER_RANK * group_size
        n = n_patients * n_organs * self.shards
        self.owner = (np.arange(n) % group_size).astype(np.int64)

    def domain(self, pidx: np.ndarray, organ: np.ndarray, lesion: np.ndarray) -> np.ndarray:
        shard = (np.asarray(lesion, dtype=np.uint64) % np.uint64(self.shards)).astype(np.int64)
        return (np.asarray(pidx, np.int64) * self.n_org + np.asarray(organ, np.int64)) \
            * self.shards + shard

    def owner_of(self, pidx, organ, lesion) -> np.ndarray:
        return self.owner[self.domain(pidx, organ, lesion)]

    def assign(self, rows_per_domain: np.ndarray) -> np.ndarray:
        """A new owner per domain from the group's row counts per domain (the same
        on every rank, so every rank computes the same map).

        Longest-processing-time first (Graham 1969): domains by falling count
        (ties: domain order) each go to the least loaded rank (ties: the lowest).
        Empty domains keep their owner.
        """
        counts = np.ascontiguousarray(rows_per_domain, np.int64)
        owner = np.ascontiguousarray(self.owner, np.int64).copy()
        busy = np.flatnonzero(counts)
        order = np.ascontiguousarray(busy[np.argsort(-counts[busy], kind="stable")], np.int64)
        kernels.lpt_assign(order, counts, owner, self.size)     # compiled: one pass
        return owner

    @staticmethod
    def imbalance(rows_per_domain: np.ndarray, owner: np.ndarray, size: int) -> float:
        """The most loaded rank's rows over the mean (1.0: even)."""
        load = np.bincount(owner, weights=rows_per_domain, minlength=size)
        mean = load.sum() / size
        return float(load.max() / mean) if mean > 0 else 1.0
