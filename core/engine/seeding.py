"""The seeding log: every lesion founded by a disseminated or reactivated cell.

The engine knows no stage: it records generic founding events, as rows are
founded (:meth:`paget.engine.founding.Founding._found`).  Each event is one
new lesion row founded by one cell of a source row, in a target organ:

- ``kind`` 0 (*founded*): a cell that extravasated and grew (counted in
  ``colonies_founded``); its source row is the row that shed it;
- ``kind`` 1 (*reactivated*): a dormant cell that left its pool and grew
  (counted in ``dtc_reactivated``); its source is the row that shed the cell
  into the pool, found again at output through the pool registry.

Cells joining dormant pools are not edges; each pool's source lesion and organ
are registered once (a pool's uid derives from its source row and organ alone,
so the registry is small).  The log is gathered and sorted by (patient, time,
target lesion) at output, so it is the same on any number of ranks, and it is
part of a checkpoint (:mod:`paget.engine.snapshot`).
"""
from __future__ import annotations

import numpy as np

from ..ext.engine_rows import UidSet

#: columns of the log, with their dtypes
EDGE_COLUMNS = {"patient": np.int64, "step": np.int32, "kind": np.int8,
                "source_lesion": np.uint64, "source_organ": np.int16,
                "source_clone": np.uint64, "target": np.uint64, "target_organ": np.int16,
                "cells": np.int64}
#: columns of the pool registry
POOL_COLUMNS = {"pool": np.uint64, "patient": np.int64, "source_lesion": np.uint64,
                "source_organ": np.int16}
#: ``seeding_kind`` codes
KIND_FOUNDED, KIND_REACTIVATED = 0, 1


def empty(columns: dict) -> dict[str, np.ndarray]:
    """Columns of no rows."""
    return {k: np.zeros(0, dt) for k, dt in columns.items()}


class SeedingLog:
    """The seeding log of :class:`paget.engine.RankRun` (``[output] seeding_graph``)."""

    def _init_seeding(self) -> None:
        self.seeding_on = bool(getattr(self.config.output, "seeding_graph", True))
        self.seeding: list[dict[str, np.ndarray]] = []
        self.pools: list[dict[str, np.ndarray]] = []
        self._pool_known = UidSet()     # the uids of the pools registered

    def _log_founding(self, kind: str, rows: np.ndarray, uid: np.ndarray,
                      organ: np.ndarray, step: int) -> None:
        """Log what :meth:`_found` makes from source rows ``rows`` (one per new row,
        or per pool increment): founders and reactivated cells as edges, pools
        in the registry (first time seen)."""
        if not self.seeding_on or rows.size == 0:
            return
        tab = self.table
        if kind == "pool":
            fresh = self._pool_known.add_new(np.ascontiguousarray(uid, dtype=np.uint64))
            if np.count_nonzero(fresh):
                self.pools.append({"pool": uid[fresh].copy(),
                                   "patient": tab.patient[rows[fresh]].astype(np.int64),
                                   "source_lesion": tab.lesion[rows[fresh]].copy(),
                                   "source_organ": tab.organ[rows[fresh]].astype(np.int16)})
            return
        n = rows.size
        react = kind == "reactivated"
        self.seeding.append({
            "patient": tab.patient[rows].astype(np.int64),
            "step": np.full(n, step + 1, np.int32),
            "kind": np.full(n, KIND_REACTIVATED if react else KIND_FOUNDED, np.int8),
            # a reactivated cell's source is its pool's, resolved at output
            "source_lesion": (tab.uid if react else tab.lesion)[rows].astype(np.uint64),
            "source_organ": np.full(n, -1, np.int16) if react
            else tab.organ[rows].astype(np.int16),
            "source_clone": tab.clone[rows].astype(np.uint64),
            "target": np.asarray(uid, np.uint64).copy(),
            "target_organ": np.asarray(organ, np.int16).copy(),
            "cells": np.ones(n, np.int64)})

    def _seeding_parts(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(the log, the pool registry) of this rank, each as one set of columns."""
        def cat(parts, columns):
            parts = [p for p in parts if p["patient"].size] or [empty(columns)]
            return {k: np.concatenate([p[k] for p in parts]).astype(dt, copy=False)
                    for k, dt in columns.items()}
        return cat(self.seeding, EDGE_COLUMNS), cat(self.pools, POOL_COLUMNS)

    def _load_seeding(self, state: dict[str, np.ndarray]) -> None:
        """Restore the log from a checkpoint's ``seeding.*`` and ``pools.*`` arrays
        (a checkpoint written before the log existed: an empty log)."""
        self._init_seeding()
        edges = {k: np.array(state.get(f"seeding.{k}", np.zeros(0, dt)), dtype=dt)
                 for k, dt in EDGE_COLUMNS.items()}
        pools = {k: np.array(state.get(f"pools.{k}", np.zeros(0, dt)), dtype=dt)
                 for k, dt in POOL_COLUMNS.items()}
        self.seeding, self.pools = [edges], [pools]
        self._pool_known = UidSet()
        self._pool_known.add_new(pools["pool"])

    def _seeding_results(self, edges: dict[str, np.ndarray], pools: dict[str, np.ndarray]
                         ) -> dict[str, np.ndarray]:
        """The output variables of the log: reactivations resolved to their pools'
        sources, sorted by (patient, time, target)."""
        react = edges["kind"] == KIND_REACTIVATED
        if react.any():
            uid, first = np.unique(pools["pool"], return_index=True)
            at = np.searchsorted(uid, edges["source_lesion"][react])
            at = np.minimum(at, max(uid.size - 1, 0))
            if uid.size == 0 or np.any(uid[at] != edges["source_lesion"][react]):
                raise RuntimeError("seeding log: a reactivated cell's pool is not registered")
            edges = dict(edges)
            src_lesion, src_organ = edges["source_lesion"].copy(), edges["source_organ"].copy()
            src_lesion[react] = pools["source_lesion"][first][at]
            src_organ[react] = pools["source_organ"][first][at]
            edges["source_lesion"], edges["source_organ"] = src_lesion, src_organ
        order = np.lexsort((edges["target"], edges["step"], edges["patient"]))
        e = {k: v[order] for k, v in edges.items()}
        return dict(
            seeding_patient=e["patient"], seeding_time=e["step"].astype(np.float64) * self.plan.dt,
            seeding_kind=e["kind"], seeding_source_lesion=e["source_lesion"],
            seeding_source_organ=e["source_organ"].astype(np.int64),
            seeding_source_clone=e["source_clone"], seeding_target_lesion=e["target"],
            seeding_target_organ=e["target_organ"].astype(np.int64), seeding_cells=e["cells"])
