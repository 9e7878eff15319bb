"""Founding new rows of the lesion table.

The primaries, injected cells, and the rows that cells found in a step
(reactivated cells, mutant clones, founders of new lesions, cells joining dormant
pools), with the phylogeny's log of new clones."""
from __future__ import annotations

import numpy as np

from ..body import injection_entry
from ..ext import engine_rows, kernels
from ..ext.kernels import FLAG_PRIMARY
from ..random import Draws
from ..state import Rates


def _group_ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each group of a repeat: the rank of each item in its group."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def aligned(a: np.ndarray, dtype) -> np.ndarray:
    """``np.require(a, dtype, "CA")`` without its Python overhead: ``a`` as a
    C-contiguous, aligned array of ``dtype`` (itself when it is one, as every
    array the engine makes is; a copy e.g. for columns another rank sent).  The
    engine's one such conversion in Python; the rates a hook may rebind are
    converted in the compiled passes that read them (``engine_support.as_array``)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.aligned else a.copy()


def _i64(a: np.ndarray) -> np.ndarray:
    return aligned(a, np.int64)


#: the kinds of rows :meth:`Founding._found` makes, and their uid tags
FOUNDED = {"reactivated": kernels.UID_REACTIVATED, "mutant": kernels.UID_MUTANT,
           "founder": kernels.UID_FOUNDER, "pool": kernels.UID_POOL}


class Founding:
    """New rows of :class:`paget.engine.RankRun`'s lesion table."""

    def _seed_primaries(self) -> None:
        P = self.P
        patients = np.arange(self.lo, self.hi, dtype=np.int64)
        injection = getattr(self.config.primary, "injection", "none")
        organ = self.body.organ_index(self.config.primary.organ if injection == "none" else
                                      self.body.organs[injection_entry(self.body, injection)])
        # the primary's identity depends on its patient alone
        uid = kernels.derive_uids(patients.astype(np.uint64), kernels.UID_PRIMARY,
                                  np.zeros(P, np.int64), np.full(P, organ, np.int16),
                                  np.zeros(P, np.int64))
        self.table.append(uid=uid, parent=np.zeros(P, np.uint64), lesion=uid, clone=uid,
                          genotype=np.full(P, getattr(self.config.primary, "genotype", 0),
                                           np.uint64),
                          cells=np.full(P, float(self.config.primary.cells)),
                          patient=patients, birth_step=np.zeros(P, np.int32),
                          organ=np.full(P, organ, np.int16),
                          flags=np.full(P, FLAG_PRIMARY if injection == "none" else 0, np.uint8))
        if self.group is not None:
            self._compact(self._owned())
        self._seeded = True
        self._log_clones(np.arange(self.table.n), parent_clone=np.zeros(self.table.n, np.uint64),
                         birth_step=0)
        if injection != "none":
            self._inject()

    def _inject(self) -> None:
        """Injection (``primary.injection``): every cell of the seed rows enters the blood
        of the injected vessel at once, as CTCs shed in step 0 by a row in an
        organ draining there (so they take that organ's row of the fate
        matrix); the seed rows are left empty.  The state is updated once first
        (``dt = 0``) so that the injected genotype's traits apply."""
        tab = self.table
        env = dict(config=self.config, body=self.body, t=0.0)
        state, patients = self._state(), self._patients()
        self.hook.paget_update_state(lesions=self._lesions(), state=state, patients=patients,
                                     dt=0.0, draws=Draws(self.seed, 0), **env)
        rates = Rates.neutral(tab.n, self._rate_buffers)
        self.hook.paget_circulation(lesions=self._lesions(), rates=rates, state=state,
                                    patients=patients, **env)
        shed = tab.cells.astype(np.int64)
        tab.cells[:] = 0.0
        self._append(self._disseminate(0, 0.0, np.arange(tab.n), shed, rates, state, patients),
                     step=-1)

    def _append(self, new_rows: list[tuple[str, dict[str, np.ndarray]]], step: int) -> None:
        """Append the rows founded in ``step``: lesions, cells joining dormant pools
        (added to the pool, or a new pool, indexed: ``"pool cells"`` entries of
        :meth:`_pool_cells` through :meth:`_found_pools`) and new clones (logged
        in the phylogeny as born at the end of the step).  In a group the rows
        go first to the rank owning their domain (:meth:`_route`)."""
        tab = self.table
        if self.group is not None:
            new_rows = self._route(new_rows)
        for kind, cols in new_rows:
            if kind == "pool cells":    # a rank alone: founded, logged and joined at once
                cols = self._found_pools(*cols)
                if cols is None:
                    continue
            parent_clone = cols.pop("_parent_clone", None)
            if kind == "pool":
                cols = self._join_pools(cols)
                if cols is None:
                    continue
            start = tab.n
            tab.append(**cols)
            if kind == "clone":
                self._log_clones(np.arange(start, tab.n), parent_clone, step + 1)

    def _log_clones(self, rows: np.ndarray, parent_clone: np.ndarray, birth_step: int) -> None:
        tab = self.table
        self.clones.append({
            "clone": tab.clone[rows].copy(), "parent": parent_clone,
            "patient": tab.patient[rows].copy(), "birth_step": np.full(rows.size, birth_step, np.int32),
            "genotype": tab.genotype[rows].copy(), "lesion": tab.lesion[rows].copy(),
            "organ": tab.organ[rows].copy()})

    def _found(self, kind: str, src: np.ndarray, counts: np.ndarray, step: int,
               organ: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Columns of the rows that cells of rows ``src`` found in ``step``.

        ``kind`` is one of :data:`FOUNDED`: ``counts[i]`` one-cell rows for row
        ``src[i]`` (a pool: one row of ``counts[i]`` cells), in ``organ[i]``
        (None: the source row's organ).  A row's ``uid`` derives from its
        source row, the kind, the step, the organ and its rank among the rows
        its source founds (:func:`paget.ext.kernels.derive_uids`); a pool's
        from its source row and organ alone, so that later cells join it.
        Inheritable plugin state is copied from the source row.  A mutant
        (new clone) carries ``_parent_clone`` for the clone log."""
        tab = self.table
        if kind != "mutant":        # the core columns and the log, one compiled pass
            cols, rows, edges = self._found_rows(kind, src, counts, step, organ)
            if edges is not None:       # founders and reactivated cells: edges of the log
                self.seeding.append(edges)
            elif kind == "pool":        # a pool: the registry, the first time it is seen
                self._log_founding(kind, rows, cols["uid"], cols["organ"], step)
            return cols
        # a mutant: a new clone in its parent's lesion, in its parent's organ
        rows = np.repeat(src, counts)
        organ = tab.organ[rows]
        uid = kernels.derive_uids(tab.uid[rows], FOUNDED[kind],
                                  np.full(rows.size, step, np.int64), organ,
                                  _group_ranks(counts))
        cols = dict(uid=uid, parent=tab.uid[rows], lesion=tab.lesion[rows], clone=uid,
                    genotype=self._mutant_genotypes(rows, uid, step), cells=np.ones(rows.size),
                    patient=tab.patient[rows], birth_step=np.full(uid.size, step + 1, np.int32),
                    organ=organ, flags=(tab.flags[rows] & FLAG_PRIMARY).astype(np.uint8))
        self._subclonal = True
        for name in self.inherit:
            cols[name] = tab.column(name)[rows]
        cols["_parent_clone"] = tab.clone[rows]
        return cols

    def _found_rows(self, kind: str, src: np.ndarray, counts: np.ndarray, step: int,
                    organ: np.ndarray | None) -> tuple[dict, np.ndarray, dict | None]:
        """:meth:`_found`'s rows but for mutants, with their inherited plugin state:
        (columns, source rows, seeding-log edges or None), unlogged."""
        tab = self.table
        cols, rows, edges = engine_rows.found_rows(
            FOUNDED[kind], _i64(src), _i64(counts), None if organ is None else _i64(organ),
            step, tab.uid, tab.parent, tab.lesion, tab.clone, tab.genotype, tab.patient,
            tab.organ, self.seeding_on)
        for name in self.inherit:
            cols[name] = tab.column(name)[rows]
        return cols, rows, edges

    def _pool_cells(self, src: np.ndarray, at: np.ndarray, counts: np.ndarray,
                    organ: np.ndarray, step: int) -> tuple[str, object]:
        """The entry of :meth:`_append`'s list for ``counts[j]`` dormant cells of
        row ``src[at[j]]`` that join the pool of (that row, ``organ[j]``): in a
        group, the pool rows' columns, which :meth:`_route` sends to the ranks
        owning them; alone, the cells themselves, which :meth:`_found_pools`
        founds, logs and joins in one compiled pass when they are appended."""
        if self.group is not None:
            return "pool", self._found("pool", src[at], counts, step, organ=organ)
        return "pool cells", (src, at, counts, organ, step)

    def _found_pools(self, src: np.ndarray, at: np.ndarray, counts: np.ndarray,
                     organ: np.ndarray, step: int) -> dict[str, np.ndarray] | None:
        """What ``_found("pool", src[at], ...)``, the registry of
        :meth:`_log_founding` and :meth:`_join_pools` do, for a rank alone, in one
        compiled pass (:func:`paget.ext.engine_rows.found_pools`): the cells are
        added to their live pools, and the columns of the new pools' rows
        returned (None where every pool was live, most steps)."""
        tab = self.table
        new, registered = engine_rows.found_pools(
            src, at, counts, organ, tab.uid, tab.flags, tab.cells,
            tab.patient, tab.lesion, tab.organ, self._pool_known if self.seeding_on else None,
            self._pool_index())
        if registered is not None:
            self.pools.append(registered)
        if not new.size:
            return None
        at = at[new]
        return self._found_rows("pool", src[at], counts[new], step, organ[new])[0]

    def _pool_index(self) -> engine_rows.PoolIndex:
        """The index of the table's dormant rows by uid that :meth:`_found_pools`
        joins by (:class:`paget.ext.engine_rows.PoolIndex`): the one kept since the
        table last dropped rows (its ``layout``) or was replaced, else a new one."""
        tab = self.table
        got = self._pool_rows
        if got is None or got[0] is not tab or got[1] != tab.layout:
            got = self._pool_rows = (tab, tab.layout, engine_rows.PoolIndex())
        return got[2]

    def _mutant_genotypes(self, rows: np.ndarray, uid: np.ndarray, step: int) -> np.ndarray:
        """The genotypes of new clones ``uid`` of rows ``rows`` (``paget_mutation``;
        None from every plugin: the parents')."""
        tab = self.table
        uniform = kernels.keyed_uniform(self.seed, uid, step, kernels.PURPOSE_MUTATION,
                                        tab.patient[rows])
        genotype = self.hook.paget_mutation(parents=self._lesions(rows), uniform=uniform,
                                            config=self.config)
        return tab.genotype[rows] if genotype is None else \
            np.asarray(genotype, dtype=np.uint64).reshape(rows.size)

    def _join_pools(self, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Add the cells of pool rows ``cols`` whose pool exists to it; return the
        others (new pools), None where there are none (most steps).  A step's
        (source row, organ) pairs are unique.

        A live pool only: an emptied pool awaiting compaction is gone, so
        results do not depend on when (or where) compaction runs."""
        tab = self.table
        # the cells added to the live pools, and the others' positions, in one pass
        # (in a group, the columns as another rank sent them: aligned copies if not)
        new = engine_rows.join_pools(aligned(cols["uid"], np.uint64),
                                     aligned(cols["cells"], np.float64), tab.uid,
                                     tab.flags, tab.cells)
        if new.size == cols["uid"].size:
            return cols
        if not new.size:
            return None
        return {k: v[new] for k, v in cols.items()}
