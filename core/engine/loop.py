"""The step loop of one rank: each step's hooks, kernel and bookkeeping."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..body import Body
from ..contract import neutral
from ..domains import Domains, Group
from ..errors import ConfigError
from ..ext import engine_step, kernels
from ..output import FLUX_VARIABLES, STATE_VARIABLES
from ..random import Draws, purpose_id
from ..state import FateMatrix, LesionTable, Patients, Rates, State, StateVariable
from .decomposition import Decomposition
from .dissemination import Dissemination
from .founding import Founding
from .hooks import StepHooks
from .plan import StepPlan
from .records import Records
from .seeding import SeedingLog
from .snapshot import Snapshot

_PURPOSE_REMOVAL = purpose_id("paget.removal")

#: the largest mean count of CTCs a row sheds in a step (a row never holds more
#: than 2**53 cells, so a larger mean sheds every cell all the same); it keeps
#: the kernel's Poisson draw inside its 64-bit counts
MAX_SHED_MEAN = 2.0**60


def step_shed_rate(shed: np.ndarray, exponent: np.ndarray, net: np.ndarray,
                   dt: float) -> np.ndarray:
    """The mean shedding rate over a step, CTC/day: ``shed`` integrated under the step's growth.

    A row that sheds ``shed (N(s) / N0)^alpha`` cells a day while it grows as
    ``N0 e^(g s)`` sheds on average ``shed (e^(alpha g dt) - 1) / (alpha g)``
    cells in a step of ``dt`` days: the rate ``shed expm1(x) / x``, ``x = alpha
    g dt``, which tends to ``shed`` as ``x -> 0``.  Rejected: ``shed`` held at
    its start-of-step value, a mean of ``shed dt``, which at g = 0.4/day, alpha =
    2/3 and dt = 1 day sheds 13 % too few cells.  ``exponent`` is alpha
    (``rates.shed_exponent``) and ``net`` the step's g (``birth - death``) per
    row.  The mean count is capped at :data:`MAX_SHED_MEAN`.  Returns ``shed``
    itself where no row's rate changes.
    """
    rows = np.flatnonzero((shed > 0.0) & (exponent * net != 0.0))
    if rows.size == 0:
        return shed
    x = exponent[rows] * net[rows] * dt
    with np.errstate(over="ignore"):
        mean = shed[rows] * dt * (np.expm1(np.minimum(x, 700.0)) / x)
    out = shed.copy()
    out[rows] = np.minimum(mean, np.maximum(shed[rows] * dt, MAX_SHED_MEAN)) / dt
    return out


class RankRun(Founding, Dissemination, Records, Decomposition, Snapshot, SeedingLog):
    """Simulate patients ``[lo, hi)`` of the cohort on this rank.

    Parameters
    ----------
    hook : pluggy.HookRelay
        The plugin manager's hooks, called each step (and ``paget_fate_matrix``
        once per circulation class, cached here per pair).
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
                 variables: list[StateVariable] = (), group: Group | None = None):
        self.config = config
        self.body = body
        self.hook = StepHooks(hook)
        self.lo, self.hi = lo, hi
        self.P = hi - lo
        self.plan = StepPlan.from_config(config)
        self.seed = int(config.seed)
        self._fate_cache: dict[tuple[float, float], FateMatrix] = {}
        self._stack_cache: dict[tuple, tuple] = {}
        # what the end of a step hands the next (``_view_of_last_step``,
        # ``_patients_of_last_step``), and the patients' read-only index
        self._last_view: tuple | None = None
        self._last_patients: tuple | None = None
        self._step_view: tuple | None = None
        self._last_sources: tuple | None = None     # (Dissemination._sources)
        self._pool_rows: tuple | None = None        # (Founding._pool_index)
        self._index: np.ndarray | None = None
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
        self.events = {k: np.full(self.P, np.nan) for k in ("first_seeding_time", "death_time")}
        self.frozen = {name: np.zeros((self.P, n_org)) for name in STATE_VARIABLES}
        self.archive: list[dict[str, np.ndarray]] = []
        self.clones: list[dict[str, np.ndarray]] = []
        self.next_step = 0      # the next step to simulate
        self.next_record = 0    # index into plan.record_steps of the next record
        self._rate_buffers: dict[str, np.ndarray] = {}
        self._neutral_buffers: dict = {}    # (contract.neutral)
        self._dissemination_scratch: tuple | None = None   # (Dissemination._kernel_outputs)
        self._step_block: tuple[np.ndarray, np.ndarray] | None = None
        self._step_views: tuple | None = None    # (n, _scratch's views of _step_block)
        self._subclonal = False  # True once a lesion holds more than one row (clone)
        self.group = group
        self.domains = None if group is None else Domains(group.size, self.P, n_org)
        self._seeded = False
        self._init_seeding()
        if group is None:   # a group seeds in run(): it may exchange rows (injection)
            self._seed_primaries()

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

    def _step(self, step: int) -> None:
        tab, dt, t = self.table, self.plan.dt, self._t(step)
        les = self._view_of_last_step()
        if les is None:
            les = self._lesions()
        state = self._state()
        patients = self._patients_of_last_step()
        if patients is None:
            patients = self._patients()
        draws = Draws(self.seed, step)
        env = dict(config=self.config, body=self.body, t=t)
        self.hook.paget_update_state(lesions=les, state=state, patients=patients, dt=dt,
                                     draws=draws, **env)
        if self._remove(step, les, state, patients, env):
            les = self._lesions()
        # the view of the table's live rows the step's hooks see: the end of the
        # step renews it while the rows stay the same (_after_step)
        self._step_view = (les, tab, tab.version)
        n = tab.n
        rates = Rates.neutral(n, self._rate_buffers)
        common = dict(lesions=les, rates=rates, state=state, patients=patients, **env)
        self.hook.paget_invasion(**common)
        self.hook.paget_intravasation(**common)
        self.hook.paget_growth(**common, dt=dt)
        self.hook.paget_dormancy(**common)
        self.hook.paget_circulation(**common)
        # the kernel's inputs from the rates, in one compiled pass: birth and
        # death (a dormant row's are its reactivation and death), the rate of
        # shedding over the step (step_shed_rate), the cells before the step and
        # the terms of the patients' cell deaths a day
        birth, death, shed_rate, cells_before, death_terms, shed, react, mutated = \
            self._scratch(n)
        engine_step.step_rates(tab.flags, rates.birth, rates.reactivation, rates.death,
                               rates.dormant_death, rates.shed, rates.shed_exponent, dt,
                               MAX_SHED_MEAN, tab.cells, birth, death, shed_rate, cells_before,
                               death_terms)
        kernels.step_rows(tab.cells, tab.flags, tab.uid, tab.patient, birth, death,
                          shed_rate, rates.deterministic.view(np.uint8), dt, self.seed, step,
                          shed, react, rates.mutation, mutated)
        # the largest row, the rows that shed and whether any mutated, in one pass
        largest, src, mutating = engine_step.kernel_rows(tab.cells, shed, mutated)
        self._check_exact(largest)  # before the counts it drew make new rows
        pidx = les.pidx
        acc = self.acc
        self.last_death = self._psum(pidx, death_terms)
        new_rows: list[tuple[str, dict[str, np.ndarray]]] = []
        exfoliated = np.zeros(n, np.int64)
        if src.size:
            new_rows += self._disseminate(step, t, src, shed, rates, state, patients,
                                          exfoliated)
        # one compiled pass: the dormant pools' deaths (what left a pool without
        # reactivating), the reactivations, and what readouts see as shed
        # (patients.ctc_shed: the cells that entered blood or lymph, not those a
        # direct route took into a serosal cavity)
        last_shed = np.empty(self.P, np.int64)
        reac = engine_step.step_tally(pidx, tab.organ, tab.flags, cells_before, tab.cells, react,
                                      shed, exfoliated, self.P, self.n_org, acc["dormant_died"],
                                      acc["dtc_reactivated"], last_shed)
        self.last_shed = self._gsum(last_shed)
        if reac.size:
            new_rows.append(("lesion", self._found("reactivated", reac, react[reac], step)))
        if mutating:
            mut = np.flatnonzero(mutated)
            new_rows.append(("clone", self._found("mutant", mut, mutated[mut], step)))
        self._append(new_rows, step)
        self._after_step(step)

    def _remove(self, step: int, les, state, patients, env) -> bool:
        """Apply ``paget_removal``; True if any cell was removed."""
        tab = self.table
        fraction = neutral("fraction", tab.n, self._neutral_buffers)
        self.hook.paget_removal(lesions=les, fraction=fraction, state=state, patients=patients,
                                **env)
        if not engine_step.any_nonzero(fraction):
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

    @staticmethod
    def _check_exact(cells: np.ndarray | float) -> None:
        """Refuse a row beyond exact counting: ``cells`` are the rows' cells, or
        the largest of them."""
        if isinstance(cells, np.ndarray):
            cells = np.maximum.reduce(cells) if cells.size else 0.0
        if cells > kernels.MAX_EXACT_CELLS:
            raise ConfigError("a lesion exceeded 2**53 cells, beyond exact counting; lower "
                              "the growth rates the plugins set, or the shedding that feeds "
                              "the lesion")

    def _after_step(self, step: int) -> None:
        tab = self.table
        t_end = self._t(step + 1)
        # the view the outcome (and, rows unchanged, the next step) sees: the
        # step's own renewed (cells changed in place, what derives from the other
        # columns kept) when no row was added or dropped during the step
        got, self._step_view = self._step_view, None
        if got is not None and got[1] is tab and got[2] == tab.version:
            les = got[0].renewed()
        else:
            les = self._lesions()
        version = tab.version
        pidx = les.pidx
        # one compiled pass: the patients' burden (whole numbers below 2**53:
        # the sum over growing rows is exact), the largest row, the empty rows
        burden = np.empty(self.P)
        largest, n_empty = engine_step.step_burden(pidx, tab.flags, tab.cells, self.P, burden)
        self._check_exact(largest)
        self.burden = self._gsum(burden)
        dying = neutral("dying", self.P, self._neutral_buffers)
        patients = self._patients()
        self.hook.paget_outcome(lesions=les, patients=patients,
                                state=self._state(), config=self.config, body=self.body,
                                t_end=t_end, dying=dying)
        # what the next step's hooks see of the patients, unless one dies now
        self._last_patients = (patients, self.alive, self.burden, self.last_shed,
                               self.last_death, self.lo, self.hi)
        # freeze the dying patients' state (only the living die; most steps none is
        # marked, and the mask is left as it is)
        if engine_step.any_nonzero(dying) and \
                engine_step.any_nonzero(np.logical_and(dying, self.alive, out=dying)):
            self._last_patients = None
            self.events["death_time"][dying] = t_end
            self.alive &= ~dying
            rows = dying[pidx]
            state = self._aggregate()
            for name in STATE_VARIABLES:
                self.frozen[name][dying] = state[name][dying]
            self.archive.append(tab.take(rows))
            self._compact(~rows)
            n_empty = np.count_nonzero(tab.cells <= 0)
        # drop rows that reached zero cells, once they are a sixteenth of the table
        if n_empty * 16 > tab.n:
            self._compact(~(tab.cells <= 0))
        if self.group is not None and (step + 1) % self.REBALANCE_EVERY == 0:
            self._rebalance()
        self._last_view = (tab, version, (self.lo, self.P, self.group), les)

    def _view_of_last_step(self):
        """The view of the rows that ``paget_outcome`` saw at the end of the last
        step, with what it derived (``dormant``, ``lesion_cells``, ...), when the
        rows have not changed since (no death, compaction or move): the next
        step starts from the same rows.  None otherwise; used once."""
        got, self._last_view = self._last_view, None
        if got is not None:
            tab, version, block, les = got
            if tab is self.table and tab.version == version and \
                    block == (self.lo, self.P, self.group):
                return les
        return None

    def _patients_of_last_step(self) -> Patients | None:
        """The patients ``paget_outcome`` saw at the end of the last step (their
        copies), when nothing of them has changed since (no death, no load of
        a state, the same block); None otherwise; used once."""
        got, self._last_patients = self._last_patients, None
        if got is not None:
            patients, alive, burden, shed, death, lo, hi = got
            if alive is self.alive and burden is self.burden and shed is self.last_shed \
                    and death is self.last_death and (lo, hi) == (self.lo, self.hi):
                return patients
        return None

    def _scratch(self, n: int) -> tuple[np.ndarray, ...]:
        """Arrays of ``n`` values, rows of two buffers kept from step to step
        (grown as needed): a step's kernel inputs (birth, death, shedding rate,
        cells before) and cell-death terms, five float64, then the kernel's
        outputs (CTCs shed, cells reactivated, mutant cells), three int64, each
        written in full by the step and read only within it."""
        views = self._step_views
        if views is not None and views[0] == n:     # the same rows as the last step
            return views[1]
        block = self._step_block
        if block is None or block[0].shape[1] < n:
            cap = max(n, 2 * (0 if block is None else block[0].shape[1]))
            block = self._step_block = (np.empty((5, cap)), np.empty((3, cap), np.int64))
        self._step_views = (n, (*block[0][:, :n], *block[1][:, :n]))
        return self._step_views[1]

    def _compact(self, keep: np.ndarray) -> None:
        self.table.compact(keep)

    def _t(self, step) -> float | np.ndarray:
        return step * self.plan.dt

    def _lesions(self, rows: np.ndarray | None = None):
        return self.table.view(self.plan.dt, self.lo, rows, n_patients=self.P,
                               n_organs=self.n_org, group=self.group)

    def _patients(self) -> Patients:
        """The patients for the hooks: immutable copies of their arrays (made in
        one compiled call, :func:`paget.ext.engine_step.frozen_copies`)."""
        index = self._index
        if index is None or index.size != self.hi - self.lo or (index.size and
                                                                index[0] != self.lo):
            index = self._index = engine_step.frozen_copies(
                (np.arange(self.lo, self.hi, dtype=np.int64),))[0]
        alive, burden, ctc_shed, cell_death = engine_step.frozen_copies(
            (self.alive, self.burden, self.last_shed, self.last_death))
        return Patients.of(index, alive, burden, ctc_shed, cell_death)

    def _state(self) -> State:
        return State(self.table.extra_columns(), self.pstate)
