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

from .body import Body, injection_entry
from .domains import Domains, Group, fold_sum
from .errors import ConfigError, PluginError
from .ext import kernels
from .ext.kernels import FLAG_DORMANT, FLAG_PRIMARY
from .output import FLUX_VARIABLES, STATE_VARIABLES
from .random import Draws, purpose_id
from .state import (COLUMNS, FateMatrix, LesionTable, Patients, Rates, State, StateVariable,
                    lesion_groups)

__all__ = ["StepPlan", "RankRun", "select_patients"]

DAYS_PER_YEAR = 365.25
_PURPOSE_REMOVAL = purpose_id("paget.removal")


@dataclass(frozen=True)
class StepPlan:
    """The time grid of a run."""

    dt: float
    n_steps: int
    record_every: int

    @classmethod
    def from_config(cls, config) -> "StepPlan":
        from .errors import plural
        dt = config.cohort.dt
        n_steps = int(round(config.cohort.years * DAYS_PER_YEAR / dt))
        if n_steps < 1:
            raise ConfigError(f"cohort.years = {config.cohort.years!r}: shorter than one step "
                              f"(cohort.dt = {plural(dt, 'day')})")
        ratio = config.output.interval / dt
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio) or round(ratio) < 1:
            raise ConfigError(f"output.interval = {config.output.interval!r}: must be a whole "
                              f"number (>= 1) of steps of cohort.dt = {plural(dt, 'day')}")
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


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)`` for two
    float columns, by three 1-D uniques (the axis form sorts rows as void
    records, ~10x slower): the pairs in lexicographic order, and each row's index
    among them."""
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    codes, inverse = np.unique(ia.ravel() * ub.size + ib.ravel(), return_inverse=True)
    return np.stack([ua[codes // ub.size], ub[codes % ub.size]], 1), inverse.ravel()


def _group_ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each group of a repeat: the rank of each item in its group."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


class RankRun:
    """Simulate patients ``[lo, hi)`` of the cohort on this rank.

    Parameters
    ----------
    fates : callable (survival, arrest) -> FateMatrix, or None
        The circulation's fate matrices per class (cached here per pair).
    variables : list of StateVariable
        Plugin state to allocate and carry.
    group : paget.domains.Group, optional
        The ranks sharing patients ``[lo, hi)`` with this one (see
        :mod:`paget.domains`): each holds the rows of the domains it owns and
        every per-patient array; what spans a patient is reduced over the
        group.  None: this rank holds the block alone.
    """

    #: steps between checks of a group's balance of rows over its ranks
    REBALANCE_EVERY = 4
    #: a group moves domains when its most loaded rank has this many times the
    #: mean rows (and the group more than 64 rows per rank)
    REBALANCE_ABOVE = 1.1

    def __init__(self, config, body: Body, hook, lo: int, hi: int,
                 fates: Callable[[float, float], FateMatrix] | None,
                 variables: list[StateVariable] = (), group: Group | None = None):
        self.config = config
        self.body = body
        self.hook = hook
        self.lo, self.hi = lo, hi
        self.P = hi - lo
        self.plan = StepPlan.from_config(config)
        self.seed = int(config.seed)
        self.fate_provider = fates
        self._fate_cache: dict[tuple[float, float], FateMatrix] = {}
        n_org = body.n_organs
        self.n_org = n_org
        n_rec = len(self.plan.record_steps)
        self.variables = list(variables)
        lesion_vars = [v for v in self.variables if v.level == "lesion"]
        self.inherit = [v.name for v in lesion_vars if v.inherit]
        self.table = LesionTable(capacity=max(64, 4 * self.P),
                                 extra={v.name: (v.dtype, v.default) for v in lesion_vars})
        self.pstate = {v.name: np.full((self.P,) if v.level == "patient" else (self.P, n_org),
                                       v.default, dtype=v.dtype)
                       for v in self.variables if v.level != "lesion"}
        self.rec = {name: np.zeros((self.P, n_rec, n_org),
                                   dtype=np.float64 if name.endswith("cells") else np.int64)
                    for name in STATE_VARIABLES + FLUX_VARIABLES}
        self.rec["ctc_died"] = np.zeros((self.P, n_rec), dtype=np.int64)
        self.rec["alive"] = np.zeros((self.P, n_rec), dtype=bool)
        for v in self.variables:
            if v.level != "lesion" and v.output and v.over_time:
                shape = (self.P, n_rec) if v.level == "patient" else (self.P, n_rec, n_org)
                self.rec[f"state.{v.name}"] = np.zeros(shape, dtype=v.dtype)
        self.acc = {name: np.zeros((self.P, n_org), dtype=np.int64) for name in FLUX_VARIABLES}
        self.acc["ctc_died"] = np.zeros(self.P, dtype=np.int64)
        self.alive = np.ones(self.P, dtype=bool)
        self.burden = np.zeros(self.P)
        self.last_shed = np.zeros(self.P, dtype=np.int64)   # CTCs shed in the previous step
        self.last_death = np.zeros(self.P)                  # cells/day dying in the previous step
        self.events = {k: np.full(self.P, np.nan) for k in
                       ("first_seeding_time", "first_detectable_metastasis_time", "death_time")}
        self.frozen = {name: np.zeros((self.P, n_org)) for name in STATE_VARIABLES}
        self.archive: list[dict[str, np.ndarray]] = []
        self.clones: list[dict[str, np.ndarray]] = []
        self.next_step = 0      # the next step to simulate
        self.next_record = 0    # index into plan.record_steps of the next record
        self._rate_buffers: dict[str, np.ndarray] = {}
        self._subclonal = False  # True once a lesion holds more than one row (clone)
        self.group = group
        self.domains = None if group is None else Domains(group.size, self.P, n_org)
        self._seeded = False
        if group is None:   # a group seeds in run(): it may exchange rows (injection)
            self._seed_primaries()

    # ------------------------------------------------------------------ set-up
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
        """Experimental metastasis: every cell of the seed rows enters the blood
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
        (added to the pool, or a new pool, indexed) and new clones (logged in
        the phylogeny as born at the end of the step).  In a group the rows go
        first to the rank owning their domain (:meth:`_route`)."""
        tab = self.table
        if self.group is not None:
            new_rows = self._route(new_rows)
        for kind, cols in new_rows:
            parent_clone = cols.pop("_parent_clone", None)
            if kind == "pool":
                cols = self._join_pools(cols)
            start = tab.n
            tab.append(**cols)
            if kind == "clone":
                self._log_clones(np.arange(start, tab.n), parent_clone, step + 1)

    # ------------------------------------------------------------ domains
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
        """Columns of no rows, as :meth:`_new_rows` makes them."""
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
        return fold_sum(pidx, values, self.P, self.group)

    def _gsum(self, a: np.ndarray) -> np.ndarray:
        """``a`` summed over the group (integers, or whole numbers below 2**53).
        Its dtype must not depend on the rank's rows."""
        return a if self.group is None else self.group.sum(a)

    def _log_clones(self, rows: np.ndarray, parent_clone: np.ndarray, birth_step: int) -> None:
        tab = self.table
        self.clones.append({
            "clone": tab.clone[rows].copy(), "parent": parent_clone,
            "patient": tab.patient[rows].copy(), "birth_step": np.full(rows.size, birth_step, np.int32),
            "genotype": tab.genotype[rows].copy(), "lesion": tab.lesion[rows].copy(),
            "organ": tab.organ[rows].copy()})

    def fate_matrix(self, survival: float, arrest: float) -> FateMatrix:
        key = (float(survival), float(arrest))
        fm = self._fate_cache.get(key)
        if fm is None:
            if self.fate_provider is None:
                raise PluginError("lesions shed CTCs but no plugin implements paget_fate_matrix "
                                  "(is the circulation plugin disabled?)", hook="paget_fate_matrix")
            fm = self._fate_cache[key] = self.fate_provider(*key)
        return fm

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
        if not self._seeded:
            self._seed_primaries()
        if self.next_step == 0 and self.next_record == 0:
            self._record(0)
            self._record_initial_state()
            self.next_record = 1
        for step in range(self.next_step, plan.n_steps):
            # A rank whose patients have all died keeps stepping (over an empty
            # table, cheaply): its plugins' update_state still runs, as it would
            # on a rank that also holds live patients, so results never depend on
            # how patients are spread over ranks.
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
        over another number of ranks (:func:`select_patients`).  In a group
        (collective) the first rank returns the group's whole state and the
        others a state of no patients (``lo = hi``).
        """
        def local() -> tuple[dict[str, np.ndarray], ...]:
            live = self.table.take(slice(None))
            archive = self.archive or [{k: v[:0] for k, v in live.items()}]
            archive = {k: np.concatenate([a[k] for a in archive]) for k in live}
            clones = {k: np.concatenate([c[k] for c in self.clones]) for k in self.clones[0]}
            return live, archive, clones

        if self.group is None:
            (live, archive, clones), acc, events = local(), self.acc, self.events
        else:
            # every rank assembles its part before the group's collectives and the
            # group agrees that all could, so that none is left waiting in them
            parts, failure = None, None
            try:
                parts = local()
            except Exception as exc:
                failure = exc
            self.group.raise_if_any_failed(failure, RuntimeError(
                "another rank of the group could not assemble its state"))
            live, archive, clones = (self.group.gather_rows(p) for p in parts)
            acc, events = self._summed_counters(), self._events()
        state: dict[str, np.ndarray] = {
            "lo": np.int64(self.lo), "hi": np.int64(self.hi),
            "next_step": np.int64(self.next_step), "next_record": np.int64(self.next_record),
            "alive": self.alive, "burden": self.burden,
            "last_shed": self.last_shed, "last_death": self.last_death,
        }
        for k, v in self.rec.items():
            state[f"rec.{k}"] = v
        for k, v in acc.items():
            state[f"acc.{k}"] = v
        for k, v in events.items():
            state[f"events.{k}"] = v
        for k, v in self.frozen.items():
            state[f"frozen.{k}"] = v
        for k, v in self.pstate.items():
            state[f"pstate.{k}"] = v
        for k in ("clone", "parent", "patient", "birth_step", "genotype", "lesion", "organ"):
            state[f"clones.{k}"] = clones[k]
        for k, v in live.items():
            state[f"table.{k}"] = v
        for k, v in archive.items():
            state[f"archive.{k}"] = v
        state = {k: np.asarray(v) for k, v in state.items()}
        if not self.leader():
            state = select_patients([state], self.hi, self.hi)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state made by :meth:`state_dict` (or :func:`select_patients`)."""
        if int(state["lo"]) != self.lo or int(state["hi"]) != self.hi:
            raise ValueError(f"state holds patients [{int(state['lo'])}, {int(state['hi'])}), "
                             f"this rank owns [{self.lo}, {self.hi})")
        self.next_step = int(state["next_step"])
        self.next_record = int(state["next_record"])
        self.alive = np.array(state["alive"], dtype=bool)
        self.burden = np.array(state["burden"], dtype=np.float64)
        self.last_shed = np.array(state["last_shed"], dtype=np.int64)
        self.last_death = np.array(state["last_death"], dtype=np.float64)
        for group in ("rec", "acc", "events", "frozen", "pstate"):
            target = getattr(self, group)
            for k in target:
                target[k] = np.array(state[f"{group}.{k}"], dtype=target[k].dtype)
        extra = self.table.extra
        self.table = LesionTable(capacity=max(64, len(state["table.uid"])), extra=extra)
        self.table.append(**{k: state[f"table.{k}"] for k in self.table.columns})
        self.archive = [{k: np.array(state[f"archive.{k}"]) for k in self.table.columns}]
        self.clones = [{k: np.array(state[f"clones.{k}"]) for k in
                        ("clone", "parent", "patient", "birth_step", "genotype", "lesion", "organ")}]
        self._seeded = True
        if self.group is not None:
            # every rank of the group loaded the group's state: each keeps the rows
            # of its domains (dealt by rows, as the rebalancing would) and the
            # first rank the counters, archive and phylogeny, which the group
            # adds up or gathers again
            dom = self.domains
            dom.owner = dom.assign(np.bincount(self._row_domains(), minlength=dom.owner.size))
            self._compact(self._owned())
            if not self.leader():
                for a in self.acc.values():
                    a[:] = 0
                self.archive = [{k: v[:0] for k, v in self.archive[0].items()}]
                self.clones = [{k: v[:0] for k, v in self.clones[0].items()}]
        self._subclonal = bool(np.any(self.table.lesion != self.table.uid)
                               | np.any(self.archive[0]["lesion"] != self.archive[0]["uid"]))

    def _t(self, step) -> float | np.ndarray:
        return step * self.plan.dt

    def _lesions(self, rows: np.ndarray | None = None):
        return self.table.view(self.plan.dt, self.lo, rows, n_patients=self.P,
                               n_organs=self.n_org, group=self.group)

    def _patients(self) -> Patients:
        ro = lambda a: np.frombuffer(a.tobytes(), dtype=a.dtype)  # noqa: E731 (read-only copy)
        return Patients(index=ro(np.arange(self.lo, self.hi, dtype=np.int64)),
                        alive=ro(self.alive), burden=ro(self.burden),
                        ctc_shed=ro(self.last_shed), cell_death=ro(self.last_death))

    def _state(self) -> State:
        tab = self.table
        return State({name: tab.column(name) for name in tab.extra}, self.pstate)

    def _new_rows(self, src: np.ndarray, *, uid, parent, lesion, clone, genotype, cells, organ,
                  flags, step: int) -> dict[str, np.ndarray]:
        """Columns of rows founded by rows ``src`` (inheritable plugin state copied)."""
        tab = self.table
        cols = dict(uid=uid, parent=parent, lesion=lesion, clone=clone, genotype=genotype,
                    cells=np.asarray(cells, dtype=np.float64), patient=tab.patient[src],
                    birth_step=np.full(uid.size, step + 1, np.int32),
                    organ=np.asarray(organ, dtype=np.int16), flags=flags)
        for name in self.inherit:
            cols[name] = tab.column(name)[src]
        return cols

    def _step(self, step: int) -> None:
        tab, dt, t = self.table, self.plan.dt, self._t(step)
        les = self._lesions()
        state = self._state()
        patients = self._patients()
        draws = Draws(self.seed, step)
        env = dict(config=self.config, body=self.body, t=t)
        self.hook.paget_update_state(lesions=les, state=state, patients=patients, dt=dt,
                                     draws=draws, **env)
        if self._remove(step, les, state, patients, env):
            les = self._lesions()
        n = tab.n
        rates = Rates.neutral(n, self._rate_buffers)
        common = dict(lesions=les, rates=rates, state=state, patients=patients, **env)
        self.hook.paget_invasion(**common)
        self.hook.paget_intravasation(**common)
        self.hook.paget_growth(**common, dt=dt)
        self.hook.paget_dormancy(**common)
        self.hook.paget_circulation(**common)
        dormant = (tab.flags & FLAG_DORMANT) != 0
        birth = np.where(dormant, rates.reactivation, rates.birth)
        death = np.where(dormant, rates.dormant_death, rates.death)
        cells_before = tab.cells.copy()
        shed = np.empty(n, np.int64)
        react = np.empty(n, np.int64)
        mutated = np.empty(n, np.int64)
        kernels.step_rows(tab.cells, tab.flags, tab.uid, tab.patient, birth, death,
                          rates.shed, rates.deterministic.view(np.uint8), dt, self.seed, step,
                          shed, react, rates.mutation, mutated)
        self._check_exact(tab.cells)  # before the counts it drew make new rows
        pidx = tab.patient - self.lo
        acc = self.acc
        self.last_shed = self._gsum(np.bincount(pidx, weights=shed, minlength=self.P)
                                    .astype(np.int64))
        self.last_death = self._psum(pidx, np.where(dormant, 0.0, death * cells_before))
        # dormant pools: deaths are what left the pool without reactivating
        # (other rows add 0.0, which leaves every partial sum of bincount as it is)
        if dormant.any():
            self._add(acc["dormant_died"], pidx, tab.organ,
                      np.where(dormant, (cells_before - tab.cells) - react, 0.0))
        new_rows: list[tuple[str, dict[str, np.ndarray]]] = []
        src = np.flatnonzero(shed)
        if src.size:
            new_rows += self._disseminate(step, t, src, shed, rates, state, patients)
        if react.any():
            reac = np.flatnonzero(react)
            self._add(acc["dtc_reactivated"], pidx[reac], tab.organ[reac], react[reac])
            counts = react[reac]
            rows = np.repeat(reac, counts)
            uid = kernels.derive_uids(tab.uid[rows], kernels.UID_REACTIVATED,
                                      np.full(rows.size, step, np.int64), tab.organ[rows],
                                      _group_ranks(counts))
            new_rows.append(("lesion", self._new_rows(
                rows, uid=uid, parent=tab.parent[rows], lesion=uid, clone=tab.clone[rows],
                genotype=tab.genotype[rows], cells=np.ones(rows.size), organ=tab.organ[rows],
                flags=np.zeros(rows.size, np.uint8), step=step)))
        if mutated.any():
            mut = np.flatnonzero(mutated)
            new_rows.append(("clone", self._mutants(step, mut, mutated[mut])))
        self._append(new_rows, step)
        self._after_step(step)

    def _remove(self, step: int, les, state, patients, env) -> bool:
        """Apply ``paget_removal``; True if any cell was removed."""
        tab = self.table
        fraction = np.zeros(tab.n)
        self.hook.paget_removal(lesions=les, fraction=fraction, state=state, patients=patients,
                                **env)
        if not fraction.any():
            return False
        rows = np.flatnonzero(fraction)
        f = fraction[rows]   # in [0, 1]: checked after each plugin (manager.HOOK_OUTPUTS)
        u = kernels.keyed_uniform(self.seed, np.ascontiguousarray(tab.uid[rows]), step,
                                  _PURPOSE_REMOVAL, np.ascontiguousarray(tab.patient[rows]))
        before = tab.cells[rows]
        # stochastic rounding: E[kept] = cells * (1 - f) exactly; f = 1 keeps none
        kept = np.minimum(np.floor(before * (1.0 - f) + u), before)
        tab.cells[rows] = kept
        self._add(self.acc["cells_removed"], tab.patient[rows] - self.lo, tab.organ[rows],
                  before - kept)
        return True

    def _mutants(self, step: int, mut: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
        """New clones: one one-cell row per mutated cell, in its parent's lesion."""
        tab = self.table
        rows = np.repeat(mut, counts)
        uid = kernels.derive_uids(tab.uid[rows], kernels.UID_MUTANT,
                                  np.full(rows.size, step, np.int64), tab.organ[rows],
                                  _group_ranks(counts))
        uniform = kernels.keyed_uniform(self.seed, uid, step, kernels.PURPOSE_MUTATION,
                                        tab.patient[rows])
        genotype = self.hook.paget_mutation(parents=self._lesions(rows), uniform=uniform,
                                            config=self.config)
        genotype = tab.genotype[rows] if genotype is None else \
            np.asarray(genotype, dtype=np.uint64).reshape(rows.size)
        self._subclonal = True
        cols = self._new_rows(rows, uid=uid, parent=tab.uid[rows], lesion=tab.lesion[rows],
                              clone=uid, genotype=genotype, cells=np.ones(rows.size),
                              organ=tab.organ[rows],
                              flags=(tab.flags[rows] & FLAG_PRIMARY).astype(np.uint8), step=step)
        cols["_parent_clone"] = tab.clone[rows]
        return cols

    def _disseminate(self, step, t, src, shed, rates, state, patients
                     ) -> list[tuple[str, dict[str, np.ndarray]]]:
        tab, n_org, acc = self.table, self.n_org, self.acc
        m = src.size
        sources = self._lesions(src)
        # circulation classes: one fate matrix per distinct (survival, arrest) pair
        surv, arr = rates.ctc_survival[src], rates.ctc_arrest[src]
        if (surv == surv[0]).all() and (arr == arr[0]).all():   # the usual: one class
            pairs, fate_class = [(surv[0], arr[0])], np.zeros(m, np.int64)
        else:
            pairs, fate_class = _unique_pairs(surv, arr)
        mats = [self.fate_matrix(a, b) for a, b in pairs]
        f_blood = np.ascontiguousarray(np.stack([fm.blood for fm in mats]))
        f_lymph = np.ascontiguousarray(np.stack([fm.lymph for fm in mats]))
        p_ext = np.ones((m, n_org))
        fates = np.zeros((m, n_org, 3))
        fates[..., 2] = 1.0
        env = dict(sources=sources, state=state, patients=patients, config=self.config,
                   body=self.body, t=t)
        self.hook.paget_extravasation(probability=p_ext, **env)
        self.hook.paget_dtc_fate(fates=fates, **env)
        # the sum over the last axis, added as NumPy's reduction adds three terms
        if np.abs(fates[..., 0] + fates[..., 1] + fates[..., 2] - 1.0).max() > 1e-9:
            raise PluginError("paget_dtc_fate: fates must sum to 1 over (die, dormant, grow)",
                              hook="paget_dtc_fate")
        out = {k: np.empty((m, n_org), np.int64) for k in
               ("arrested", "extravasated", "dtc_died", "dormant", "founded")}
        died = np.empty(m, np.int64)
        src_patient, src_organ, src_shed = tab.patient[src], tab.organ[src], shed[src]
        sp = src_patient - self.lo
        kernels.disseminate(tab.uid[src], src_patient, src_organ,
                            fate_class.astype(np.int64).ravel(), src_shed,
                            np.ascontiguousarray(rates.lymph_fraction[src]), f_blood, f_lymph,
                            p_ext, fates, self.seed, step, out["arrested"], died,
                            out["extravasated"], out["dtc_died"], out["dormant"], out["founded"])
        self._add(acc["ctc_shed"], sp, src_organ, src_shed)
        acc["ctc_died"] += np.bincount(sp, weights=died, minlength=self.P).astype(np.int64)
        # a patient's rows add up (integers: exact in any order), one compiled pass
        for name, key in (("ctc_arrested", "arrested"), ("dtc_extravasated", "extravasated"),
                          ("dtc_died", "dtc_died"), ("dtc_dormant", "dormant"),
                          ("colonies_founded", "founded")):
            kernels.add_rows_at(acc[name], sp, out[key])
        seeded = (out["dormant"] + out["founded"]).sum(axis=1) > 0
        if seeded.any():
            first = self.events["first_seeding_time"]
            fresh = np.zeros(self.P, bool)
            fresh[sp[seeded]] = True
            first[fresh & np.isnan(first)] = self._t(step + 1)
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
            new.append(("lesion", self._new_rows(
                rows, uid=uid, parent=tab.uid[rows], lesion=uid, clone=tab.clone[rows],
                genotype=tab.genotype[rows], cells=np.ones(rows.size), organ=organ,
                flags=np.zeros(rows.size, np.uint8), step=step)))
        # dormant cells join the pool of (source row, organ): as a new pool's
        # row, which _join_pools adds to the pool instead if it exists already
        ri, oj = np.nonzero(out["dormant"])
        if ri.size:
            rows = src[ri]
            organ = oj.astype(np.int16)
            pool_uid = kernels.derive_uids(tab.uid[rows], kernels.UID_POOL,
                                           np.zeros(rows.size, np.int64), organ,
                                           np.zeros(rows.size, np.int64))
            new.append(("pool", self._new_rows(
                rows, uid=pool_uid, parent=tab.uid[rows], lesion=pool_uid,
                clone=tab.clone[rows], genotype=tab.genotype[rows],
                cells=out["dormant"][ri, oj].astype(np.float64), organ=organ,
                flags=np.full(rows.size, FLAG_DORMANT, np.uint8), step=step)))
        return new

    def _join_pools(self, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Add the cells of pool rows ``cols`` whose pool exists to it; return the
        others (new pools).  A step's (source row, organ) pairs are unique.

        A live pool only: an emptied pool awaiting compaction is gone, so
        results do not depend on when (or where) compaction runs."""
        tab = self.table
        pool_uid, counts = cols["uid"], cols["cells"]
        hit = kernels.match_pools(np.ascontiguousarray(pool_uid, np.uint64), tab.uid,
                                  tab.flags, tab.cells)
        found = hit >= 0
        if not found.any():
            return cols
        tab.cells[hit[found]] += counts[found]
        return {k: v[~found] for k, v in cols.items()}

    def _add(self, acc: np.ndarray, pidx: np.ndarray, organ: np.ndarray, values) -> None:
        """acc[pidx, organ] += values (repeated indices add up), as one bincount.

        Counts are below 2**53, so the float64 weights of bincount are exact.
        """
        key = pidx.astype(np.int64) * self.n_org + organ
        acc += np.bincount(key, weights=values, minlength=acc.size).reshape(acc.shape) \
            .astype(np.int64)

    def _compact(self, keep: np.ndarray) -> None:
        self.table.compact(keep)

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

    @staticmethod
    def _check_exact(cells: np.ndarray) -> None:
        if cells.size and cells.max() > kernels.MAX_EXACT_CELLS:
            raise ConfigError("a lesion exceeded 2**53 cells, beyond exact counting; lower "
                              "the growth (colonization.growth) or the shedding that feeds it")

    def _after_step(self, step: int) -> None:
        tab, cfg = self.table, self.config.outcome
        t_end = self._t(step + 1)
        self._check_exact(tab.cells)
        growing = np.flatnonzero((tab.flags & FLAG_DORMANT) == 0)
        pidx = tab.patient - self.lo
        # whole numbers below 2**53: the sum over growing rows is exact
        self.burden = self._gsum(np.bincount(pidx[growing], weights=tab.cells[growing],
                                             minlength=self.P).astype(np.float64))
        # first detectable metastasis (a lesion: all its clones together)
        first_row, size = self._lesion_sizes()
        met = first_row[(size >= cfg.detectable_cells)
                        & ((tab.flags[first_row] & FLAG_PRIMARY) == 0)]
        if met.size:
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
            state = self._aggregate()
            for name in STATE_VARIABLES:
                self.frozen[name][dying] = state[name][dying]
            self.archive.append(tab.take(rows))
            self._compact(~rows)
        # drop rows that reached zero cells, once they are a sixteenth of the table
        empty = tab.cells <= 0
        if np.count_nonzero(empty) * 16 > tab.n:
            self._compact(~empty)
        if self.group is not None and (step + 1) % self.REBALANCE_EVERY == 0:
            self._rebalance()

    # ------------------------------------------------------------- recording
    def _aggregate(self) -> dict[str, np.ndarray]:
        tab, n_org = self.table, self.n_org
        pidx = (tab.patient - self.lo).astype(np.int64)
        key = pidx * n_org + tab.organ
        size = self.P * n_org
        dormant = (tab.flags & FLAG_DORMANT) != 0
        first_row, lesion_cells = self._lesion_sizes()
        lesion_key = key[first_row]

        def agg(k, weights):
            return np.bincount(k, weights=weights, minlength=size).reshape(self.P, n_org)

        # whole numbers: exact sums, on one rank or over a group
        # (float64 on every rank: bincount of no rows gives int64)
        parts = self._gsum(np.stack([
            agg(key, np.where(dormant, 0.0, tab.cells)),
            agg(key, np.where(dormant, tab.cells, 0.0)),
            agg(lesion_key, None),
            agg(lesion_key, (lesion_cells >= self.config.outcome.detectable_cells)
                .astype(np.float64))]).astype(np.float64))
        return dict(zip(("tumor_cells", "dormant_cells", "lesions", "detectable_lesions"),
                        parts))

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
        which nothing accumulates, see the hook), the patient-level state
        recorded, and every plugin array then restored: the run goes on from
        the state it had, to the bit (draws are keyed, not consumed).  Drawn patient parameters, a biomarker's
        baseline and values computed from the burden at time 0 are recorded;
        state that builds up over time keeps its initial value."""
        if not any(k.startswith("state.") for k in self.rec):
            return
        tab = self.table
        saved = {k: v.copy() for k, v in self.pstate.items()}
        saved_rows = {k: tab.column(k).copy() for k in tab.extra}
        self.hook.paget_update_state(lesions=self._lesions(), state=self._state(),
                                     patients=self._patients(), config=self.config,
                                     body=self.body, t=0.0, dt=0.0, draws=Draws(self.seed, 0))
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

    def leader(self) -> bool:
        """This rank returns the block's results (alone, or first of its group)."""
        return self.group is None or self.group.rank == 0

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
        if not self.leader():
            # the group's first rank returns its patients; the others none
            out = {k: v if k.startswith(("lesion_", "lesion.", "clone_")) else v[:0]
                   for k, v in out.items()}
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
        if key.startswith(("table.", "archive.", "clones.")):
            group = key.split(".", 1)[0]
            patient = np.concatenate([s[f"{group}.patient"] for s in states])
            values = np.concatenate([s[key] for s in states])
            out[key] = values[(patient >= lo) & (patient < hi)]
        else:  # per-patient arrays: patients on axis 0
            out[key] = np.concatenate([s[key] for s in states], axis=0)[lo - first: hi - first]
    return out
