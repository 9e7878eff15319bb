"""Sharing a patient block over a group of ranks (see :mod:`paget.domains`).

Routing new rows to the rank owning their domain, rebalancing domains between
the group's ranks, and per-patient sums over the group."""
from __future__ import annotations

import numpy as np

from ..domains import fold_sum
from ..ext.engine_sums import fold_sum_serial
from ..state import COLUMNS


class Decomposition:
    """The group side of :class:`paget.engine.RankRun` (see :mod:`paget.domains`)."""

    def leader(self) -> bool:
        """This rank returns the block's results (alone, or first of its group)."""
        return self.group is None or self.group.rank == 0

    def _row_domains(self) -> np.ndarray:
        """Each row's domain (:meth:`paget.domains.Domains.domain`)."""
        tab = self.table
        return self.domains.domain(tab.patient - self.lo, tab.organ, tab.lesion)

    def _owned(self) -> np.ndarray:
        """bool per row: owned by this rank of the group."""
        return self.domains.owner[self._row_domains()] == self.group.rank

    def _route(self, new_rows: list[tuple[str, dict[str, np.ndarray]]]
               ) -> list[tuple[str, dict[str, np.ndarray]]]:
        """Send new lesions and pool increments to the ranks owning their domains,
        in one exchange each (every rank takes part, with rows or without).
        New clones stay: they join their parent's lesion, in this rank's domain."""
        out = []
        for kind in ("lesion", "pool"):
            parts = [c for k, c in new_rows if k == kind]
            # the table's dtypes on every rank: the records' layout must agree
            cols = ({k: np.concatenate([c[k] for c in parts]).astype(
                        self.table.column(k).dtype, copy=False) for k in parts[0]}
                    if parts else self._no_rows())
            dest = self.domains.owner_of(cols["patient"] - self.lo, cols["organ"],
                                         cols["lesion"])
            got = self.group.exchange(cols, dest)
            if got["uid"].size:
                out.append((kind, got))
        clones = [(k, c) for k, c in new_rows if k == "clone"]
        return out + clones

    def _no_rows(self) -> dict[str, np.ndarray]:
        """Columns of no rows, as :meth:`_found` makes them."""
        tab = self.table
        return {k: tab.column(k)[:0].copy() for k in (*COLUMNS, *self.inherit)}

    def _rebalance(self) -> None:
        """Move domains between the group's ranks when the rows are out of balance."""
        tab, dom = self.table, self.domains
        d = self._row_domains()
        counts = self.group.sum(np.bincount(d, minlength=dom.owner.size).astype(np.int64))
        total = int(counts.sum())
        if total <= 64 * dom.size or \
                dom.imbalance(counts, dom.owner, dom.size) <= self.REBALANCE_ABOVE:
            return
        owner = dom.assign(counts)
        dest = owner[d]
        move = dest != self.group.rank
        cols = tab.take(move)
        dom.owner = owner
        got = self.group.exchange(cols, dest[move])
        self._compact(~move)
        tab.append(**got)
        if got["uid"].size and np.any(got["lesion"] != got["uid"]):
            self._subclonal = True

    def _psum(self, pidx: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per patient: the sum of ``values`` over the group (the same to the bit on
        any split; see :func:`paget.domains.fold_sum`)."""
        if self.group is None:     # alone: the compiled serial form, to the bit
            return fold_sum_serial(pidx, values, self.P)
        return fold_sum(pidx, values, self.P, self.group)

    def _gsum(self, a: np.ndarray) -> np.ndarray:
        """``a`` summed over the group (integers, or whole numbers below 2**53).
        Its dtype must not depend on the rank's rows."""
        return a if self.group is None else self.group.sum(a)
