"""The step loop of one rank: its patients, their lesion table, the cascade.

The engine knows no stage, factor or cancer.  Each step it asks the plugins for
per-row rates (one hook call per stage per step for the whole table), runs the
compiled kernels, and does the bookkeeping: new lesions, dormant pools,
compaction, counters, events and recorded states.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .body import Body
from .errors import ConfigError, PluginError
from .ext import kernels
from .ext.kernels import FLAG_DORMANT, FLAG_PRIMARY
from .output import FLUX_VARIABLES, STATE_VARIABLES
from .state import COLUMNS, FateMatrix, LesionTable, Patients, Rates

__all__ = ["StepPlan", "RankRun", "select_patients"]

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class StepPlan:
    """The time grid of a run."""

    dt: float
    n_steps: int
    record_every: int

    @classmethod
    def from_config(cls, config) -> "StepPlan":
        dt = config.cohort.dt
        n_steps = int(round(config.cohort.years * DAYS_PER_YEAR / dt))
        if n_steps < 1:
            raise ConfigError(f"cohort.years = {config.cohort.years!r}: shorter than one step "
                              f"(cohort.dt = {dt} days)")
        ratio = config.output.interval / dt
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio) or round(ratio) < 1:
            raise ConfigError(f"output.interval = {config.output.interval!r}: must be a whole "
                              f"number (>= 1) of steps of cohort.dt = {dt} days")
        return cls(dt, n_steps, int(round(ratio)))

    @property
    def record_steps(self) -> np.ndarray:
        steps = np.arange(0, self.n_steps + 1, self.record_every)
        if steps[-1] != self.n_steps:
            steps = np.append(steps, self.n_steps)
        return steps

    @property
    def times(self) -> np.ndarray:
        return self.record_steps * self.dt


def _group_ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each group of a repeat: the rank of each item in its group."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


class RankRun:
    """Simulate patients ``[lo, hi)`` of the cohort on this rank."""

    def __init__(self, config, body: Body, hook, lo: int, hi: int, fates: FateMatrix | None,
                 sheds: bool):
        self.config = config
        self.body = body
        self.hook = hook
        self.lo, self.hi = lo, hi
        self.P = hi - lo
        self.plan = StepPlan.from_config(config)
        self.seed = int(config.seed)
        self.fates = fates
        self.sheds = sheds
        n_org = body.n_organs
        self.n_org = n_org
        n_rec = len(self.plan.record_steps)
        self.table = LesionTable(capacity=max(64, 4 * self.P))
        self.rec = {name: np.zeros((self.P, n_rec, n_org),
                                   dtype=np.float64 if name.endswith("cells") else np.int64)
                    for name in STATE_VARIABLES + FLUX_VARIABLES}
        self.rec["ctc_died"] = np.zeros((self.P, n_rec), dtype=np.int64)
        self.rec["alive"] = np.zeros((self.P, n_rec), dtype=bool)
        self.acc = {name: np.zeros((self.P, n_org), dtype=np.int64) for name in FLUX_VARIABLES}
        self.acc["ctc_died"] = np.zeros(self.P, dtype=np.int64)
        self.alive = np.ones(self.P, dtype=bool)
        self.burden = np.zeros(self.P)
        self.events = {k: np.full(self.P, np.nan) for k in
                       ("first_seeding_time", "first_detectable_metastasis_time", "death_time")}
        self.frozen = {name: np.zeros((self.P, n_org)) for name in STATE_VARIABLES}
        self.archive: list[dict[str, np.ndarray]] = []
        self.next_step = 0      # the next step to simulate
        self.next_record = 0    # index into plan.record_steps of the next record
        self._pools: tuple[np.ndarray, np.ndarray] | None = None
        self._rate_buffers: dict[str, np.ndarray] = {}
        self._seed_primaries()

    # ------------------------------------------------------------------ set-up
    def _seed_primaries(self) -> None:
        P = self.P
        patients = np.arange(self.lo, self.hi, dtype=np.int64)
        organ = self.body.organ_index(self.config.primary.organ)
        # the primary's identity depends on its patient alone
        uid = kernels.derive_uids(patients.astype(np.uint64), kernels.UID_PRIMARY,
                                  np.zeros(P, np.int64), np.full(P, organ, np.int16),
                                  np.zeros(P, np.int64))
        self.table.append(uid=uid, parent=np.zeros(P, np.uint64),
                          cells=np.full(P, float(self.config.primary.cells)),
                          patient=patients, birth_step=np.zeros(P, np.int32),
                          clone=np.zeros(P, np.int32), organ=np.full(P, organ, np.int16),
                          flags=np.full(P, FLAG_PRIMARY, np.uint8))

    # ------------------------------------------------------------------ loop
    def run(self, progress: Callable[[int], None] | None = None,
            on_step: Callable[[int], bool] | None = None) -> dict[str, Any] | None:
        """Step from ``self.next_step`` to the end and return this rank's results.

        ``progress(k)`` is told of every ``k`` steps done.  ``on_step(s)`` is
        called after step ``s`` (when ``self.next_step == s + 1``), with the
        state complete and consistent, so it may save a checkpoint; if it
        returns True the run stops there and ``run`` returns None.
        """
        plan = self.plan
        rec_steps = plan.record_steps
        if self.next_step == 0 and self.next_record == 0:
            self._record(0)
            self.next_record = 1
        for step in range(self.next_step, plan.n_steps):
            if not self.alive.any():
                # nothing left to simulate; later records repeat the frozen state
                self._record_rest(self.next_record)
                self.next_record = len(rec_steps)
                self.next_step = plan.n_steps
                if progress:
                    progress(plan.n_steps - step)
                break
            self._step(step)
            self.next_step = step + 1
            if self.next_record < len(rec_steps) and step + 1 == rec_steps[self.next_record]:
                self._record(self.next_record)
                self.next_record += 1
            if progress:
                progress(1)
            if on_step is not None and on_step(step) and step + 1 < plan.n_steps:
                return None
        return self._results()

    # ------------------------------------------------------------- state I/O
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array of this rank's state, for a checkpoint (no Python objects).

        Per-patient arrays have this rank's patients on axis 0 (``lo`` to
        ``hi``); lesion rows carry their patient, so a state can be re-split
        over another number of ranks (:func:`select_patients`).
        """
        state: dict[str, np.ndarray] = {
            "lo": np.int64(self.lo), "hi": np.int64(self.hi),
            "next_step": np.int64(self.next_step), "next_record": np.int64(self.next_record),
            "alive": self.alive, "burden": self.burden,
        }
        for k, v in self.rec.items():
            state[f"rec.{k}"] = v
        for k, v in self.acc.items():
            state[f"acc.{k}"] = v
        for k, v in self.events.items():
            state[f"events.{k}"] = v
        for k, v in self.frozen.items():
            state[f"frozen.{k}"] = v
        live = self.table.take(slice(None))
        for k, v in live.items():
            state[f"table.{k}"] = v
        archive = self.archive or [{k: v[:0] for k, v in live.items()}]
        for k in live:
            state[f"archive.{k}"] = np.concatenate([a[k] for a in archive])
        return {k: np.asarray(v) for k, v in state.items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state made by :meth:`state_dict` (or :func:`select_patients`)."""
        if int(state["lo"]) != self.lo or int(state["hi"]) != self.hi:
            raise ValueError(f"state holds patients [{int(state['lo'])}, {int(state['hi'])}), "
                             f"this rank owns [{self.lo}, {self.hi})")
        self.next_step = int(state["next_step"])
        self.next_record = int(state["next_record"])
        self.alive = np.array(state["alive"], dtype=bool)
        self.burden = np.array(state["burden"], dtype=np.float64)
        for group in ("rec", "acc", "events", "frozen"):
            target = getattr(self, group)
            for k in target:
                target[k] = np.array(state[f"{group}.{k}"], dtype=target[k].dtype)
        self._pools = None
        self.table = LesionTable(capacity=max(64, len(state["table.uid"])))
        self.table.append(**{k: state[f"table.{k}"] for k in COLUMNS})
        self.archive = [{k: np.array(state[f"archive.{k}"]) for k in COLUMNS}]

    def _t(self, step) -> float | np.ndarray:
        return step * self.plan.dt

    def _lesions(self):
        return self.table.view(self.plan.dt)

    def _patients(self) -> Patients:
        ro = lambda a: np.frombuffer(a.tobytes(), dtype=a.dtype)  # noqa: E731 (read-only copy)
        return Patients(index=ro(np.arange(self.lo, self.hi, dtype=np.int64)),
                        alive=ro(self.alive), burden=ro(self.burden))

    def _step(self, step: int) -> None:
        tab, dt, t = self.table, self.plan.dt, self._t(step)
        n = tab.n
        les = self._lesions()
        rates = Rates.neutral(n, self._rate_buffers)
        common = dict(lesions=les, rates=rates, config=self.config, body=self.body, t=t)
        self.hook.paget_invasion(**common)
        self.hook.paget_intravasation(**common)
        self.hook.paget_growth(**common, dt=dt)
        self.hook.paget_dormancy(**common)
        dormant = (tab.flags & FLAG_DORMANT) != 0
        birth = np.where(dormant, rates.reactivation, rates.birth)
        death = np.where(dormant, rates.dormant_death, rates.death)
        cells_before = tab.cells.copy()
        shed = np.empty(n, np.int64)
        react = np.empty(n, np.int64)
        kernels.step_rows(tab.cells, tab.flags, tab.uid, tab.patient, birth, death,
                          rates.shed, rates.deterministic.view(np.uint8), dt, self.seed, step,
                          shed, react)
        pidx = tab.patient - self.lo
        acc = self.acc
        # dormant pools: deaths are what left the pool without reactivating
        if dormant.any():
            left = (cells_before - tab.cells)[dormant]
            self._add(acc["dormant_died"], pidx[dormant], tab.organ[dormant],
                      left - react[dormant])
        new_rows = []
        src = np.flatnonzero(shed)
        if src.size:
            new_rows += self._disseminate(step, t, src, shed, rates.lymph_fraction, pidx)
        reac = np.flatnonzero(react)
        if reac.size:
            self._add(acc["dtc_reactivated"], pidx[reac], tab.organ[reac], react[reac])
            counts = react[reac]
            rows = np.repeat(reac, counts)
            k = _group_ranks(counts)
            uid = kernels.derive_uids(tab.uid[rows], kernels.UID_REACTIVATED,
                                      np.full(rows.size, step, np.int64), tab.organ[rows], k)
            new_rows.append(("lesion", dict(uid=uid, parent=tab.parent[rows], cells=np.ones(rows.size),
                                 patient=tab.patient[rows],
                                 birth_step=np.full(rows.size, step + 1, np.int32),
                                 clone=tab.clone[rows], organ=tab.organ[rows],
                                 flags=np.zeros(rows.size, np.uint8))))
        for kind, cols in new_rows:
            start = tab.n
            tab.append(**cols)
            if kind == "pool":
                self._pool_insert(cols["uid"], np.arange(start, tab.n))
        self._after_step(step)

    def _disseminate(self, step, t, src, shed, lymph, pidx) -> list[tuple[str, dict[str, np.ndarray]]]:
        tab, n_org, acc = self.table, self.n_org, self.acc
        if self.fates is None:
            raise PluginError("lesions shed CTCs but no plugin implements paget_fate_matrix "
                              "(is the circulation plugin disabled?)", hook="paget_fate_matrix")
        patients = self._patients()
        p_ext = np.ones((self.P, n_org))
        fates = np.zeros((self.P, n_org, 3))
        fates[..., 2] = 1.0
        self.hook.paget_extravasation(patients=patients, probability=p_ext,
                                      config=self.config, body=self.body, t=t)
        self.hook.paget_dtc_fate(patients=patients, fates=fates, config=self.config,
                                 body=self.body, t=t)
        if np.abs(fates.sum(axis=-1) - 1.0).max() > 1e-9:
            raise PluginError("paget_dtc_fate: fates must sum to 1 over (die, dormant, grow)",
                              hook="paget_dtc_fate")
        m = src.size
        out = {k: np.empty((m, n_org), np.int64) for k in
               ("arrested", "extravasated", "dtc_died", "dormant", "founded")}
        died = np.empty(m, np.int64)
        sp = pidx[src]
        kernels.disseminate(tab.uid[src], tab.patient[src], tab.organ[src], sp, shed[src],
                            np.ascontiguousarray(lymph[src]), self.fates.blood, self.fates.lymph,
                            p_ext, fates, self.seed, step, out["arrested"], died,
                            out["extravasated"], out["dtc_died"], out["dormant"], out["founded"])
        self._add(acc["ctc_shed"], sp, tab.organ[src], shed[src])
        acc["ctc_died"] += np.bincount(sp, weights=died, minlength=self.P).astype(np.int64)
        per_organ = np.arange(n_org)
        for name, key in (("ctc_arrested", "arrested"), ("dtc_extravasated", "extravasated"),
                          ("dtc_died", "dtc_died"), ("dtc_dormant", "dormant"),
                          ("colonies_founded", "founded")):
            self._add(acc[name], np.repeat(sp, n_org), np.tile(per_organ, m), out[key].ravel())
        seeded = (out["dormant"] + out["founded"]).sum(axis=1) > 0
        if seeded.any():
            first = self.events["first_seeding_time"]
            sp_seeded = np.unique(sp[seeded])
            fresh = sp_seeded[np.isnan(first[sp_seeded])]
            first[fresh] = self._t(step + 1)
        new = []
        # founders: one new one-cell lesion per growing cell
        ri, oj = np.nonzero(out["founded"])
        if ri.size:
            counts = out["founded"][ri, oj]
            rows = np.repeat(src[ri], counts)
            organ = np.repeat(oj, counts).astype(np.int16)
            uid = kernels.derive_uids(tab.uid[rows], kernels.UID_FOUNDER,
                                      np.full(rows.size, step, np.int64), organ,
                                      _group_ranks(counts))
            new.append(("lesion", dict(uid=uid, parent=tab.uid[rows], cells=np.ones(rows.size),
                                       patient=tab.patient[rows],
                                       birth_step=np.full(rows.size, step + 1, np.int32),
                                       clone=tab.clone[rows], organ=organ,
                                       flags=np.zeros(rows.size, np.uint8))))
        # dormant cells join the pool of (source lesion, organ)
        ri, oj = np.nonzero(out["dormant"])
        if ri.size:
            counts = out["dormant"][ri, oj].astype(np.float64)
            rows = src[ri]
            organ = oj.astype(np.int16)
            pool_uid = kernels.derive_uids(tab.uid[rows], kernels.UID_POOL,
                                           np.zeros(rows.size, np.int64), organ,
                                           np.zeros(rows.size, np.int64))
            # live pools only: an emptied pool awaiting compaction is gone, so
            # results do not depend on when (or on which rank) compaction runs
            sorted_uid, sorted_row = self._pool_index()
            pos = np.minimum(np.searchsorted(sorted_uid, pool_uid), max(sorted_uid.size - 1, 0))
            if sorted_uid.size:
                hit = sorted_row[pos]
                # a live pool only: an emptied pool awaiting compaction is gone,
                # so results do not depend on when (or where) compaction runs
                found = (sorted_uid[pos] == pool_uid) & (tab.cells[hit] > 0)
            else:
                found = np.zeros(pool_uid.size, bool)
            if found.any():
                tab.cells[hit[found]] += counts[found]   # (source, organ) pairs are unique
            fresh = ~found
            if fresh.any():
                r = rows[fresh]
                new.append(("pool", dict(uid=pool_uid[fresh], parent=tab.uid[r],
                                         cells=counts[fresh], patient=tab.patient[r],
                                         birth_step=np.full(r.size, step + 1, np.int32),
                                         clone=tab.clone[r], organ=organ[fresh],
                                         flags=np.full(r.size, FLAG_DORMANT, np.uint8))))
        return new

    def _add(self, acc: np.ndarray, pidx: np.ndarray, organ: np.ndarray, values) -> None:
        """acc[pidx, organ] += values (repeated indices add up), as one bincount.

        Counts are below 2**53, so the float64 weights of bincount are exact.
        """
        key = pidx.astype(np.int64) * self.n_org + organ
        acc += np.bincount(key, weights=values, minlength=acc.size).reshape(acc.shape) \
            .astype(np.int64)

    def _pool_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Uids of the dormant-pool rows, sorted, and their rows; cached until the
        table is compacted or a pool is added (appending other rows keeps it valid)."""
        if self._pools is None:
            tab = self.table
            # live pools only; one that empties later is still listed, and a
            # lookup that finds it empty makes a new pool and a new index
            rows = np.flatnonzero((tab.flags & FLAG_DORMANT) & (tab.cells > 0))
            order = np.argsort(tab.uid[rows], kind="stable")
            self._pools = (tab.uid[rows][order], rows[order])
        return self._pools

    def _pool_insert(self, uid: np.ndarray, rows: np.ndarray) -> None:
        """Add new pools to the cached index (a merge, not a new sort)."""
        if self._pools is None:
            return
        order = np.argsort(uid, kind="stable")
        sorted_uid, sorted_row = self._pools
        at = np.searchsorted(sorted_uid, uid[order])
        self._pools = (np.insert(sorted_uid, at, uid[order]), np.insert(sorted_row, at, rows[order]))

    def _compact(self, keep: np.ndarray) -> None:
        self.table.compact(keep)
        self._pools = None

    def _after_step(self, step: int) -> None:
        tab, cfg = self.table, self.config.outcome
        t_end = self._t(step + 1)
        if tab.n and tab.cells.max() > kernels.MAX_EXACT_CELLS:
            raise ConfigError("a lesion exceeded 2**53 cells, beyond exact counting; lower "
                              "colonization.growth.capacity")
        growing = (tab.flags & FLAG_DORMANT) == 0
        pidx = tab.patient - self.lo
        self.burden = np.bincount(pidx, weights=np.where(growing, tab.cells, 0.0),
                                  minlength=self.P)
        # first detectable metastasis
        met = growing & ((tab.flags & FLAG_PRIMARY) == 0) & (tab.cells >= cfg.detectable_cells)
        if met.any():
            ev = self.events["first_detectable_metastasis_time"]
            p = np.unique(pidx[met])
            p = p[np.isnan(ev[p])]
            ev[p] = t_end
        # death at the lethal burden: freeze the patient's state
        dying = self.alive & (self.burden >= cfg.lethal_cells)
        if dying.any():
            self.events["death_time"][dying] = t_end
            self.alive &= ~dying
            rows = dying[pidx]
            state = self._aggregate(rows)
            for name in STATE_VARIABLES:
                self.frozen[name][dying] = state[name][dying]
            self.archive.append(tab.take(rows))
            self._compact(~rows)
        # drop rows that reached zero cells, once they are a sixteenth of the table
        empty = tab.cells <= 0
        if empty.sum() * 16 > tab.n:
            self._compact(~empty)

    # ------------------------------------------------------------- recording
    def _aggregate(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        tab, n_org = self.table, self.n_org
        sel = slice(None) if rows is None else rows
        pidx = (tab.patient[sel] - self.lo).astype(np.int64)
        organ = tab.organ[sel].astype(np.int64)
        cells = tab.cells[sel]
        dormant = (tab.flags[sel] & FLAG_DORMANT) != 0
        key = pidx * n_org + organ
        size = self.P * n_org
        live = ~dormant & (cells > 0)

        def agg(weights):
            return np.bincount(key, weights=weights, minlength=size).reshape(self.P, n_org)

        return {
            "tumor_cells": agg(np.where(dormant, 0.0, cells)),
            "dormant_cells": agg(np.where(dormant, cells, 0.0)),
            "lesions": agg(live.astype(np.float64)),
            "detectable_lesions": agg((live & (cells >= self.config.outcome.detectable_cells))
                                      .astype(np.float64)),
        }

    def _record(self, ri: int) -> None:
        state = self._aggregate()
        for name in STATE_VARIABLES:
            value = np.where(self.alive[:, None], state[name], self.frozen[name])
            self.rec[name][:, ri] = value
        for name in FLUX_VARIABLES:
            self.rec[name][:, ri] = self.acc[name]
            self.acc[name][:] = 0
        self.rec["ctc_died"][:, ri] = self.acc["ctc_died"]
        self.acc["ctc_died"][:] = 0
        self.rec["alive"][:, ri] = self.alive

    def _record_rest(self, ri: int) -> None:
        for r in range(ri, len(self.plan.record_steps)):
            self._record(r)

    def _results(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = dict(self.rec)
        out.update(self.events)
        parts = self.archive + [self.table.take(slice(None))]
        lt = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        keep = lt["cells"] > 0
        lt = {k: v[keep] for k, v in lt.items()}
        order = np.lexsort((lt["uid"], lt["birth_step"], lt["patient"]))
        lt = {k: v[order] for k, v in lt.items()}
        out.update(
            lesion_uid=lt["uid"], lesion_parent=lt["parent"], lesion_patient=lt["patient"],
            lesion_organ=lt["organ"].astype(np.int64),
            lesion_birth_time=lt["birth_step"].astype(np.float64) * self.plan.dt,
            lesion_clone=lt["clone"], lesion_cells=lt["cells"],
            lesion_dormant=(lt["flags"] & FLAG_DORMANT) != 0,
        )
        return out


def select_patients(states: list[dict[str, np.ndarray]], lo: int, hi: int) -> dict[str, np.ndarray]:
    """The state of patients ``[lo, hi)`` cut from rank states covering them.

    ``states`` are :meth:`RankRun.state_dict` results of consecutive patient
    blocks (any number of ranks); the result loads into the rank owning
    ``[lo, hi)`` of another decomposition.  Steps must agree.
    """
    states = sorted(states, key=lambda s: int(s["lo"]))
    first, last = int(states[0]["lo"]), int(states[-1]["hi"])
    for a, b in zip(states, states[1:]):
        if int(a["hi"]) != int(b["lo"]):
            raise ValueError("checkpoint shards do not cover consecutive patients")
    if lo < first or hi > last:
        raise ValueError(f"checkpoint holds patients [{first}, {last}), asked for [{lo}, {hi})")
    steps = {(int(s["next_step"]), int(s["next_record"])) for s in states}
    if len(steps) != 1:
        raise ValueError(f"checkpoint shards were written at different steps: {sorted(steps)}")
    out: dict[str, np.ndarray] = {"lo": np.int64(lo), "hi": np.int64(hi),
                                  "next_step": states[0]["next_step"],
                                  "next_record": states[0]["next_record"]}
    for key in states[0]:
        if key in out:
            continue
        if key.startswith(("table.", "archive.")):
            group = key.split(".", 1)[0]
            patient = np.concatenate([s[f"{group}.patient"] for s in states])
            values = np.concatenate([s[key] for s in states])
            out[key] = values[(patient >= lo) & (patient < hi)]
        else:  # per-patient arrays: patients on axis 0
            out[key] = np.concatenate([s[key] for s in states], axis=0)[lo - first: hi - first]
    return out
