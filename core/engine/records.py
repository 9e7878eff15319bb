"""Records: counters, per-organ states, events and the run's results."""
from __future__ import annotations

import numpy as np

from ..contract import neutral
from ..ext.kernels import FLAG_DORMANT
from ..output import FLUX_VARIABLES, STATE_VARIABLES
from ..random import Draws
from ..state import lesion_groups


class Records:
    """What :class:`paget.engine.RankRun` records and returns."""

    def _add(self, acc: np.ndarray, pidx: np.ndarray, organ: np.ndarray, values) -> None:
        """acc[pidx, organ] += values (repeated indices add up), as one bincount.

        Counts are below 2**53, so the float64 weights of bincount are exact.
        """
        key = pidx.astype(np.int64) * self.n_org + organ
        acc += np.bincount(key, weights=values, minlength=acc.size).reshape(acc.shape) \
            .astype(np.int64)

    def _lesion_sizes(self, rows: np.ndarray | slice = slice(None)):
        """Per lesion among the growing rows selected: (first row, total cells).

        A lesion with several clones spans several rows; until the first
        mutation every lesion is one row and this costs nothing extra.
        """
        tab = self.table
        live = ((tab.flags & FLAG_DORMANT) == 0) & (tab.cells > 0)
        if isinstance(rows, slice) and rows == slice(None):
            idx = np.flatnonzero(live)
        else:
            idx = np.arange(tab.n)[rows]
            idx = idx[live[idx]]
        cells = tab.cells[idx]
        if not self._subclonal:
            return idx, cells
        # only the lesions of several rows need grouping; no sort of the whole table
        at, group, n_groups = lesion_groups(tab.lesion[idx], tab.uid[idx])
        if not n_groups:
            return idx, cells
        first = np.full(n_groups, tab.n, np.int64)
        np.minimum.at(first, group, idx[at])           # a lesion's first (least) row
        size = np.bincount(group, weights=cells[at], minlength=n_groups)
        lone = np.ones(idx.size, bool)
        lone[at] = False
        return np.concatenate([idx[lone], first]), np.concatenate([cells[lone], size])

    def _aggregate(self) -> dict[str, np.ndarray]:
        tab, n_org = self.table, self.n_org
        pidx = (tab.patient - self.lo).astype(np.int64)
        key = pidx * n_org + tab.organ
        size = self.P * n_org
        dormant = (tab.flags & FLAG_DORMANT) != 0
        first_row, _ = self._lesion_sizes()
        lesion_key = key[first_row]

        def agg(k, weights):
            return np.bincount(k, weights=weights, minlength=size).reshape(self.P, n_org)

        # whole numbers: exact sums, on one rank or over a group
        # (float64 on every rank: bincount of no rows gives int64)
        parts = self._gsum(np.stack([
            agg(key, np.where(dormant, 0.0, tab.cells)),
            agg(key, np.where(dormant, tab.cells, 0.0)),
            agg(lesion_key, None)]).astype(np.float64))
        return dict(zip(STATE_VARIABLES, parts))

    def _record(self, ri: int) -> None:
        state = self._aggregate()
        if self.group is not None:
            self._reduce_counters()
        for name in STATE_VARIABLES:
            value = np.where(self.alive[:, None], state[name], self.frozen[name])
            self.rec[name][:, ri] = value
        for name in FLUX_VARIABLES:
            self.rec[name][:, ri] = self.acc[name]
            self.acc[name][:] = 0
        self.rec["ctc_died"][:, ri] = self.acc["ctc_died"]
        self.acc["ctc_died"][:] = 0
        self.rec["alive"][:, ri] = self.alive
        self._record_state(ri)

    def _record_initial_state(self) -> None:
        """Record 0 of the plugins' state: their values at time 0, not the
        declared defaults.

        ``paget_update_state`` is called at ``t = 0`` with ``dt = 0`` (over
        which nothing accumulates, see the hook), then ``paget_outcome`` at
        ``t_end = 0`` (its ``dying`` ignored), the patient-level state recorded,
        and every plugin array then restored: the run goes on from the state it
        had, to the bit (draws are keyed, not consumed).  Drawn patient
        parameters, a biomarker's baseline and values computed from the lesions
        at time 0 are recorded; state that builds up over time keeps its
        initial value."""
        if not any(k.startswith("state.") for k in self.rec):
            return
        tab = self.table
        saved = {k: v.copy() for k, v in self.pstate.items()}
        saved_rows = {k: tab.column(k).copy() for k in tab.extra}
        env = dict(state=self._state(), patients=self._patients(), config=self.config,
                   body=self.body)
        self.hook.paget_update_state(lesions=self._lesions(), t=0.0, dt=0.0,
                                     draws=Draws(self.seed, 0), **env)
        self.hook.paget_outcome(lesions=self._lesions(), t_end=0.0,
                                dying=neutral("dying", self.P), **env)
        self._record_state(0)
        for k, v in saved.items():
            self.pstate[k][...] = v
        for k, v in saved_rows.items():
            tab.column(k)[...] = v

    def _record_state(self, ri: int) -> None:
        """Record the plugins' patient-level state (those recorded over time) as
        record ``ri``: as the last step's ``paget_update_state`` left it (record
        0: :meth:`_record_initial_state`)."""
        for name, value in self.pstate.items():
            if f"state.{name}" in self.rec:
                self.rec[f"state.{name}"][:, ri] = value

    def _summed_counters(self) -> dict[str, np.ndarray]:
        """The flux counters summed over the group, in one reduction (integers: exact)."""
        names = sorted(self.acc)
        flat = self.group.sum(np.concatenate([self.acc[k].reshape(-1) for k in names]))
        parts = np.split(flat, np.cumsum([self.acc[k].size for k in names])[:-1])
        return {k: p.reshape(self.acc[k].shape) for k, p in zip(names, parts)}

    def _reduce_counters(self) -> None:
        """Sum the group's flux counters into every rank's."""
        for k, v in self._summed_counters().items():
            self.acc[k][...] = v

    def _events(self) -> dict[str, np.ndarray]:
        """The event times; in a group the earliest over its ranks (each saw its rows)."""
        if self.group is None:
            return self.events
        return {k: self.group.min(v) for k, v in self.events.items()}

    def _lesion_rows(self) -> dict[str, np.ndarray]:
        """Every row this rank holds or archived (in a group: the group's, on its
        first rank)."""
        parts = self.archive + [self.table.take(slice(None))]
        lt = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return lt if self.group is None else self.group.gather_rows(lt)

    def _clone_rows(self) -> dict[str, np.ndarray]:
        cl = {k: np.concatenate([c[k] for c in self.clones]) for k in self.clones[0]}
        return cl if self.group is None else self.group.gather_rows(cl)

    def _results(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = dict(self.rec)
        out.update(self._events())
        lt = self._lesion_rows()
        keep = lt["cells"] > 0
        lt = {k: v[keep] for k, v in lt.items()}
        order = np.lexsort((lt["uid"], lt["birth_step"], lt["patient"]))
        lt = {k: v[order] for k, v in lt.items()}
        out.update(
            lesion_uid=lt["uid"], lesion_parent=lt["parent"], lesion_patient=lt["patient"],
            lesion_id=lt["lesion"], lesion_genotype=lt["genotype"],
            lesion_organ=lt["organ"].astype(np.int64),
            lesion_birth_time=lt["birth_step"].astype(np.float64) * self.plan.dt,
            lesion_clone=lt["clone"], lesion_cells=lt["cells"],
            lesion_dormant=(lt["flags"] & FLAG_DORMANT) != 0,
        )
        for v in self.variables:
            if v.level == "lesion" and v.output:
                out[f"lesion.{v.name}"] = lt[v.name]
            elif v.output and not v.over_time:
                out[f"state.{v.name}"] = self.pstate[v.name]
        cl = self._clone_rows()
        order = np.lexsort((cl["clone"], cl["birth_step"], cl["patient"]))
        out.update(clone_id=cl["clone"][order], clone_parent=cl["parent"][order],
                   clone_patient=cl["patient"][order],
                   clone_birth_time=cl["birth_step"][order].astype(np.float64) * self.plan.dt,
                   clone_genotype=cl["genotype"][order], clone_lesion=cl["lesion"][order],
                   clone_organ=cl["organ"][order].astype(np.int64))
        edges, pools = self._seeding_parts()
        if self.group is not None:
            edges, pools = self.group.gather_rows(edges), self.group.gather_rows(pools)
        out.update(self._seeding_results(edges, pools))
        if not self.leader():
            # the group's first rank returns its patients; the others none
            out = {k: v if k.startswith(("lesion_", "lesion.", "clone_", "seeding_")) else v[:0]
                   for k, v in out.items()}
        return out
