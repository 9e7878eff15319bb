"""The public entry point: ``paget.Simulation``."""
from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np
import xarray as xr
from pydantic import BaseModel

from .body import make_body
from .config import PluginsTable, build_config_model, deep_merge, read_toml, validate_config
from .domains import Group, PeerFailed, group_speedup, layout_time, plan_groups, rank_groups
from .engine import RankRun, StepPlan, select_patients
from .errors import ConfigError, PagetError, PluginError, plural
from .manager import DEFAULT_PLUGINS, make_plugin_manager
from .output import build_dataset, combine_arms, config_attrs

if TYPE_CHECKING:  # pragma: no cover
    from .checkpoint import Checkpoints

__all__ = ["Simulation", "list_scenarios", "scenario_path", "scenario_sources"]


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("paget")
    except Exception:  # pragma: no cover - running from a source tree
        return "0+unknown"


def list_scenarios() -> dict[str, str]:
    """Built-in scenarios: name -> first line of the file's description."""
    out = {}
    for entry in sorted(resources.files("paget.scenarios").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            first = next((ln[1:].strip() for ln in entry.read_text().splitlines()
                          if ln.startswith("#")), "")
            out[entry.name[:-5]] = first
    return out


def scenario_sources(name: str) -> str:
    """The ``# Sources:`` line of a built-in scenario ('' if it has none)."""
    for ln in scenario_path(name).read_text().splitlines():
        if ln.startswith("# Sources:"):
            return ln[len("# Sources:"):].strip()
    return ""


def scenario_path(name: str):
    res = resources.files("paget.scenarios") / f"{name}.toml"
    if not res.is_file():
        raise ConfigError(f"unknown scenario {name!r}; scenarios: {', '.join(list_scenarios())}")
    return res


class Simulation:
    """A configured run of a virtual cohort.

    Parameters
    ----------
    config : mapping, optional
        The configuration as nested dicts (the TOML tables); missing keys take
        their defaults.  Validated at once: a bad value raises
        :class:`paget.ConfigError` naming the key, the value and what is allowed.
    plugins : iterable of (name, object), optional
        Extra plugin objects (modules or instances with ``@paget.hookimpl``
        methods) to register besides the built-ins, entry points and
        ``[plugins] load``.
    entry_points : bool
        Load third-party plugins from the ``paget`` entry-point group.

    Examples
    --------
    >>> sim = paget.Simulation({"cohort": {"patients": 4, "years": 1}, "seed": 7})
    >>> ds = sim.run()
    >>> ds.tumor_cells.sel(organ="liver").isel(time=-1)
    """

    #: steps between checks of how evenly the work is spread over the run's
    #: ranks (0: never move patients between ranks)
    REGROUP_EVERY = 32
    #: a check's loads are summed over the ranks while they take this many more
    #: steps, so that none waits for the others; they move after those steps
    REGROUP_LAG = 8
    #: patients move when the most loaded group's expected time per step is
    #: this many times that of the layout :func:`paget.domains.plan_groups` finds
    REGROUP_ABOVE = 1.25
    #: ... and that group holds at least this many lesion rows' worth of work
    REGROUP_MIN_ROWS = 2048
    #: a live patient's per-step work besides its rows (its share of the hooks'
    #: per-patient arrays), in lesion rows.  An assumption, not measured alone:
    #: in figure 8 of the harness a default patient's whole step (~8 us at 800
    #: patients) is about what its ~16 rows cost at ~0.5 us, so the true share
    #: is smaller; it only tips the balance towards even patient counts
    PATIENT_ROWS = 16
    #: the speed-up of a group of k ranks is taken as 1 + GROUP_EFFICIENCY (k - 1)
    #: (one large patient on 2 ranks: 1.36-1.45x, docs/explanation/performance.md)
    GROUP_EFFICIENCY = 0.5

    def __init__(self, config: Mapping[str, Any] | None = None, *,
                 plugins: Iterable[tuple[str, Any]] = (), entry_points: bool = True):
        if config is not None and not isinstance(config, Mapping):
            raise ConfigError(f"<config> = {config!r}: must be a table (a mapping of keys "
                              f"to values)")
        data = copy.deepcopy(dict(config or {}))
        plugins = tuple(plugins)
        #: after a run on several ranks: ``(step, layout)`` for its first layout
        #: and each it moved to, a layout giving per rank ``(group, lo, hi)``
        #: (:func:`paget.domains.plan_groups`); the same on every rank
        self.layouts: list[tuple[int, list[tuple[int, int, int]]]] = []
        arms = _check_arms(data.pop("arms", None))
        plugin_cfg = validate_config(_plugins_only_model(), {"plugins": data.get("plugins", {})})
        # naming a built-in module in [plugins] load is redundant, not an error:
        # it is loaded already (pluggy would refuse the second registration)
        builtin = {module for _, module in DEFAULT_PLUGINS}
        load = [m for m in plugin_cfg.plugins.load if m not in builtin]
        try:
            self.plugin_manager, self.plugin_info = make_plugin_manager(
                load=load, disable=plugin_cfg.plugins.disable,
                entry_points_too=entry_points, extra=plugins)
        except ValueError as exc:  # pluggy: one module registered under two names
            if isinstance(exc, PagetError):
                raise
            raise PluginError(f"plugins.load = {load!r}: a plugin module is registered twice "
                              f"(loaded already under another name, e.g. as an entry point): "
                              f"{str(exc).split(':', 1)[0]}") from None
        tables: dict[str, type[BaseModel]] = {}
        for impl in self.plugin_manager.hook.paget_config_tables.get_hookimpls():
            result = impl.function() or {}
            if not isinstance(result, Mapping):
                raise PluginError(f"plugin {impl.plugin_name!r}: paget_config_tables returned "
                                  f"{type(result).__name__}, not a dict of tables",
                                  plugin=impl.plugin_name, hook="paget_config_tables")
            for name, model in result.items():
                if name in tables:
                    raise PluginError(f"plugins declare table [{name}] twice (second: "
                                      f"{impl.plugin_name!r})", plugin=impl.plugin_name)
                tables[name] = model
        self.config_model = build_config_model(tables)
        # the table of a disabled plugin is left unread, so a scenario keeps
        # working with one of its stages switched off
        for name in plugin_cfg.plugins.disable:
            if name not in self.config_model.model_fields:
                data.pop(name, None)
        self.config = validate_config(self.config_model, data)
        try:
            self.body = make_body(self.config.body.model, self.config.body.flow_percent)
        except ValueError as exc:
            raise ConfigError(f"body.flow_percent: {exc}") from None
        self.plan = StepPlan.from_config(self.config)
        self.variables = self._collect_variables()
        #: the fate matrix of the default circulation class (None: no provider)
        self.fates = self.fate_matrix(1.0, 1.0)
        self.version = _version()
        #: the dataset's ``scenario`` attribute: the built-in scenario's name or
        #: the configuration file's path (set by :meth:`from_scenario` and
        #: :meth:`from_toml`; empty: a configuration given in Python)
        self.scenario = ""
        #: trial arms: (name, Simulation of the arm's configuration); empty
        #: when the configuration defines none
        self.arms: list[tuple[str, Simulation]] = []
        for i, arm in enumerate(arms):
            overrides = {k: v for k, v in arm.items() if k != "name"}
            try:
                sim = Simulation(deep_merge(data, overrides), plugins=plugins,
                                 entry_points=entry_points)
            except ConfigError as exc:
                raise ConfigError(f"arms[{i}] ({arm['name']!r}): {exc}") from None
            self.arms.append((arm["name"], sim))
        self._arms_json = [dict(a) for a in arms]

    # ----------------------------------------------------------- constructors
    @classmethod
    def from_scenario(cls, name: str = "default", overrides: Mapping[str, Any] | None = None,
                      **kwargs) -> "Simulation":
        """A built-in scenario (see ``paget scenarios``), with nested overrides."""
        sim = cls(deep_merge(_read_resource(scenario_path(name)), overrides or {}), **kwargs)
        sim.scenario = name
        return sim

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Mapping[str, Any] | None = None,
                  **kwargs) -> "Simulation":
        sim = cls(deep_merge(read_toml(path), overrides or {}), **kwargs)
        sim.scenario = str(path)
        return sim

    def _collect_variables(self) -> list:
        from .state import COLUMNS, StateVariable
        variables, owner = [], {}
        for impl in self.plugin_manager.hook.paget_state_variables.get_hookimpls():
            for v in impl.function() or ():
                if not isinstance(v, StateVariable):
                    raise PluginError(f"plugin {impl.plugin_name!r}: paget_state_variables must "
                                      f"return StateVariable objects", plugin=impl.plugin_name)
                if v.name in owner or v.name in COLUMNS:
                    raise PluginError(f"plugin {impl.plugin_name!r} declares state variable "
                                      f"{v.name!r}, already declared by "
                                      f"{owner.get(v.name, 'the engine')!r}", plugin=impl.plugin_name)
                owner[v.name] = impl.plugin_name
                variables.append(v)
        return variables

    def fate_matrix(self, survival: float = 1.0, arrest: float = 1.0):
        """The circulation's fate matrix for one class (see ``paget_fate_matrix``)."""
        fm = self.plugin_manager.hook.paget_fate_matrix(config=self.config, body=self.body,
                                                        survival=survival, arrest=arrest)
        if fm is not None:
            _check_fates(fm, self.body.n_organs)
        return fm

    # ---------------------------------------------------------------- queries
    def resolved_config(self) -> dict[str, Any]:
        """The full configuration with every default filled in (JSON types).

        A trial's arms are listed under ``arms`` as given (each arm's own
        resolved configuration is ``sim.arms[i][1].resolved_config()``).
        """
        out = self.config.model_dump(mode="json")
        if self.arms:
            out["arms"] = copy.deepcopy(self._arms_json)
        return out

    @property
    def total_steps(self) -> int:
        """Steps :meth:`run` takes: the plan's, times the number of arms."""
        return self.plan.n_steps * max(1, len(self.arms))

    @property
    def plugin_names(self) -> list[str]:
        return [p.name for p in self.plugin_info]

    # -------------------------------------------------------------------- run
    def run(self, comm=None, progress: Callable[[int], None] | None = None,
            checkpoint: "Checkpoints | None" = None,
            resume: str | os.PathLike | None = None, *,
            gather: bool = True) -> xr.Dataset | None:
        """Simulate the cohort and return the Dataset.

        Parameters
        ----------
        comm : mpi4py communicator, optional
            Patients are split into contiguous blocks over its ranks; each rank
            simulates its block and rank 0 gathers the result.  Every
            ``REGROUP_EVERY`` steps the ranks compare their work and, when it
            is out of balance, move patients between them (a large patient may
            get several ranks); see :attr:`layouts`.  Defaults to a serial run.
            Results do not depend on the number of ranks or on the moves.
        progress : callable, optional
            Called with the number of steps just completed (on each rank); on
            a resumed run first with the steps the checkpoint had done.
        checkpoint : paget.checkpoint.Checkpoints, optional
            Write checkpoints to ``checkpoint.directory`` every
            ``checkpoint.every`` days, and on SIGTERM or SIGINT (Ctrl-C): then
            every rank stops at the same step, writes a checkpoint and raises
            :class:`paget.checkpoint.Interrupted`.  Ranks then agree once per
            step (one small ``Allreduce``); without checkpoints they
            communicate only to balance their work.
        resume : path, optional
            Continue from the newest complete checkpoint in this directory (or
            from this ``step-*`` directory), written by any number of ranks.
            The checkpoint must come from the same paget version, configuration
            and plugins (see :meth:`from_checkpoint`); otherwise
            :class:`paget.checkpoint.CheckpointError` names what differs.  The
            result equals that of the uninterrupted run, to the bit.
        gather : bool, default True
            With ``False``, no rank gathers the cohort: every rank returns the
            Dataset of its own block of patients (the ``patient`` coordinate
            holds their indices in the cohort; empty if the rank has none), as
            :meth:`write` does for ``.zarr``.  The blocks concatenated along
            ``patient`` in rank order, and the rows of their lesion and clone
            tables too (for a trial: arm after arm, then rank order), are the
            gathered Dataset.  Ignored in a serial run.

        Returns
        -------
        xarray.Dataset on rank 0 (and in a serial run); None on other ranks.
        With ``gather=False``, each rank's own block.

        Notes
        -----
        An exception on one rank reaches every rank, each raising a
        :class:`paget.PagetError` that names the failing rank (and plugin);
        no rank is left waiting.  Without checkpoints a failing rank tells
        the others with a message each polls for once a step; with them the
        failure rides on the per-step agreement.
        """
        if self.arms:
            return self._run_arms(comm, progress, checkpoint, resume, gather)
        part, lo, hi = self._run_block(comm, progress, checkpoint, resume,
                                       gather=gather or comm is None)
        if comm is None:
            parts = [part]
        elif not gather:
            return on_every_rank(comm, lambda: self._dataset([part], first_patient=lo,
                                                             n_patients=hi - lo))
        else:
            # pickle protocol 5 with the arrays sent out of band: no in-band
            # copies, and parts beyond MPI's 2**31-element count still go
            from mpi4py.util import pkl5
            parts = pkl5.Intracomm(comm).gather(part, root=0)
            if comm.Get_rank() != 0:
                return None
        return self._dataset(parts)

    def _run_block(self, comm, progress, checkpoint, resume, *, chunk: int = 1,
                   gather: bool = True, follow: list | None = None
                   ) -> tuple[dict[str, np.ndarray], int, int]:
        """Simulate this rank's block of patients: (results, lo, hi).

        The blocks are whole ``chunk``s of patients (:func:`paget.output.patient_blocks`);
        with fewer blocks than ranks, ranks share a block as a group
        (:func:`paget.domains.rank_groups`): its first rank returns the block's
        results and the others none (``lo = hi``).
        ``gather``: rank 0 will hold the whole cohort's records (memory check).
        ``follow``: the ``layouts`` of another run to move through, step for step,
        instead of deciding moves from this run's loads (the arms of a trial
        written to one zarr store must end on one layout).
        """
        from . import checkpoint as ckpt

        size = 1 if comm is None else comm.Get_size()
        rank = 0 if comm is None else comm.Get_rank()
        plan = self.plan
        P = self.config.cohort.patients
        layout = rank_groups(P, size, chunk)
        g, lo, hi = layout[rank]
        every = checkpoint.every_steps(plan.dt) if checkpoint is not None else None
        error: BaseException | None = None
        run: RankRun | None = None
        start = 0
        regroup = size > 1 and self.REGROUP_EVERY > 0
        shared = len({h for h, _, _ in layout}) < size   # some ranks share a block
        coord = _Coordinator(comm, lockstep=checkpoint is not None, n_steps=plan.n_steps,
                             messages=shared or regroup)
        world: Group | None = None
        if comm is not None:  # collective over the run's ranks, before anything can fail
            if regroup:
                world = Group(comm.Dup(), poll=coord.peer_failed)
            group = self._group_of(comm, layout, coord) if shared else None
        else:
            group = None
        # ---- set-up: every rank builds its run (and loads its checkpoint shards)
        step_dir = None
        if resume is not None:
            found = None
            if rank == 0:
                try:
                    found = str(ckpt.find_checkpoint(resume))
                except ckpt.CheckpointError as exc:
                    found = exc
            found = found if comm is None else comm.bcast(found, root=0)
            if isinstance(found, Exception):
                error = found
            else:
                step_dir = Path(found)
        try:
            if error is None:
                self._check_memory(P if rank == 0 and gather else hi - lo,
                                   whole=rank == 0 and gather)
                if checkpoint is not None and rank == 0:
                    ckpt.check_directory(checkpoint, ckpt.config_digest(self.resolved_config()))
                run = RankRun(self.config, self.body, self.plugin_manager.hook, lo, hi,
                              None if self.fates is None else self.fate_matrix,
                              self.variables, group=group)
                if step_dir is not None:
                    manifest = ckpt.read_manifest(step_dir)
                    ckpt.check_compatible(manifest, step_dir, version=self.version,
                                          config_json=self.resolved_config(),
                                          plugins=self.plugin_names, n_steps=plan.n_steps)
                    run.load_state(ckpt.load_rank_state(step_dir, manifest, lo, hi))
                    start = int(manifest["step"])
        except Exception as exc:  # reported on every rank below, never left hanging
            error = exc
        coord.agree(error)
        coord.start(start)
        self.layouts = [(start, layout)]

        header = None
        if checkpoint is not None:
            config_json = self.resolved_config()
            header = {"paget_version": self.version, "paget_build": ckpt.build_fingerprint(),
                      "config": config_json,
                      "config_sha256": ckpt.config_digest(config_json),
                      "plugins": self.plugin_names, "n_steps": plan.n_steps, "dt": plan.dt,
                      "every_steps": every,
                      "every_days": None if every is None else every * plan.dt}

        def write(step: int) -> Path:
            # (in a group, state_dict gathers the group's state: collective)
            return ckpt.write_checkpoint(
                comm, checkpoint, step,
                lambda: ckpt.at_step(run.state_dict(), step), header)

        def on_step_lockstep(step: int) -> bool:
            flags = coord.sync(step)
            if flags & _FAILED:
                return True
            following = step + 1
            if following >= plan.n_steps:
                return False
            if flags & (_SIGTERM | _SIGINT):
                path = write(following)
                # SIGTERM (a scheduler's) wins if some ranks had SIGINT (Ctrl-C) too
                signum = signal.SIGTERM if flags & _SIGTERM else signal.SIGINT
                stopped = ckpt.Interrupted(
                    f"stopped by {signum.name} at day {following * plan.dt:g} (step "
                    f"{following} of {plan.n_steps}); checkpoint written to {path}; resume "
                    f"with: paget run --restart {checkpoint.directory}",
                    path=path, step=following, directory=checkpoint.directory)
                stopped.signum = signum     # the CLI exits 75 for SIGTERM, 130 for SIGINT
                raise stopped
            if every is not None and following % every == 0:
                write(following)
            return False

        if checkpoint is not None:
            on_step = on_step_lockstep
        elif comm is not None:
            on_step = coord.peer_failed
        else:
            on_step = None
        moving: list | None = None      # the layout to move to, once decided
        followed = {} if follow is None else {step: lay for step, lay in follow[1:]}
        counting = None                 # the loads being summed over the ranks
        lag = min(self.REGROUP_LAG, self.REGROUP_EVERY - 1)

        def on_step_or_regroup(step: int) -> bool:
            nonlocal moving, counting
            if on_step is not None and on_step(step):
                return True
            if world is None:
                return False
            done = step + 1          # steps done; a move happens before step `done`
            if follow is not None:
                moving = followed.get(done)
                return moving is not None
            if done % self.REGROUP_EVERY == 0 and done + lag < plan.n_steps:
                counting = world.start_sum(self._loads(run))
            if counting is not None and done % self.REGROUP_EVERY == lag:
                loads, counting = world.result(counting), None
                moving = self._new_layout(loads, layout, world.size, chunk)
                return moving is not None
            return False

        part: dict[str, np.ndarray] | None = None
        if progress is not None and start:
            progress(start)
        try:
            with coord.catch_sigterm(checkpoint is not None):
                part = run.run(progress=progress, on_step=on_step_or_regroup)
                while moving is not None:
                    run, group = self._move_patients(run, group, layout, moving, world, coord)
                    layout, moving = moving, None
                    g, lo, hi = layout[rank]
                    self.layouts.append((run.next_step, layout))
                    part = run.run(progress=progress, on_step=on_step_or_regroup)
                if part is not None and checkpoint is not None:
                    # this rank's patients all died early: keep agreeing (and
                    # writing its frozen state) with the ranks still stepping
                    for step in range(coord.synced + 1, plan.n_steps):
                        if on_step_lockstep(step):
                            break
        except ckpt.Interrupted:
            raise
        except ckpt.CheckpointError as exc:  # raised on every rank alike
            error = exc
        except PeerFailed:
            # a rank of this group failed while this one waited for it: it has
            # told every rank; this one only takes its part in the agreement
            coord.fail(notify=False)
        except Exception as exc:
            error = exc
            coord.fail()
        coord.finish(error)
        for grp in (group, world):
            if grp is not None:
                grp.close()
        if group is not None and group.rank != 0:
            lo = hi        # the group's first rank returns its patients
        return part, lo, hi

    @staticmethod
    def _group_of(comm, layout: list[tuple[int, int, int]], coord: "_Coordinator"
                  ) -> Group | None:
        """This rank's group in ``layout`` (None: it holds its block alone).
        Collective over ``comm`` (``Split``), blocking: call it only where no
        rank can have failed since the last agreement."""
        rank = comm.Get_rank()
        g = layout[rank][0]
        sub = comm.Split(color=g, key=rank)
        if sum(1 for h, _, _ in layout if h == g) > 1:
            return Group(sub, poll=coord.peer_failed)
        sub.Free()
        return None

    def _loads(self, run: RankRun) -> np.ndarray:
        """This rank's share of every patient's expected work per step, in lesion
        rows; summed over the ranks, the patients' loads."""
        loads = np.zeros(self.config.cohort.patients, np.int64)
        loads[run.lo:run.hi] = np.bincount(run.table.patient - run.lo, minlength=run.P)
        if run.leader():        # a group's per-patient share counted once
            loads[run.lo:run.hi] += self.PATIENT_ROWS * run.alive
        return loads

    def _new_layout(self, loads: np.ndarray, layout: list[tuple[int, int, int]], size: int,
                    chunk: int) -> list[tuple[int, int, int]] | None:
        """A better layout of ``size`` ranks for the patients' ``loads``, or None to
        keep this one (every rank decides alike from the same loads)."""
        loads = loads.astype(np.float64)
        eff = self.GROUP_EFFICIENCY
        now = layout_time(loads, layout, eff)
        # no layout beats the total shared evenly nor the largest patient on
        # every rank: skip the search when even that would not gain enough
        bound = max(loads.sum() / size, loads.max() / group_speedup(size, eff))
        if now < self.REGROUP_MIN_ROWS or now <= self.REGROUP_ABOVE * bound:
            return None
        new = plan_groups(loads, size, chunk, efficiency=eff)
        if new == layout or now <= self.REGROUP_ABOVE * layout_time(loads, new, eff):
            return None
        return new

    def _move_patients(self, run: RankRun, group: Group | None,
                       layout: list[tuple[int, int, int]], new: list[tuple[int, int, int]],
                       world: Group, coord: "_Coordinator") -> tuple[RankRun, Group | None]:
        """Move the patients to the ranks of layout ``new`` (collective): the run's
        state as a checkpoint holds it, cut by :func:`select_patients`, sent in
        one exchange and loaded as a restart does, so that the results are those
        of any other layout, to the bit."""
        rank = world.rank
        state = run.state_dict()       # in a group: on its first rank, the others none
        _, lo, hi = layout[rank]
        pieces: list = [None] * world.size
        if run.leader():
            for r, (_, a, b) in enumerate(new):
                a, b = max(a, lo), min(b, hi)
                if a < b:
                    pieces[r] = select_patients([state], a, b)
        del state
        got = [p for p in world.exchange_arrays(pieces) if p is not None]
        del pieces
        _, lo, hi = new[rank]
        mine, failure = None, None
        try:
            mine = select_patients(got, lo, hi)
        except Exception as exc:
            failure = exc
        # every rank agrees it has its patients before the blocking Split
        world.raise_if_any_failed(failure, PagetError(
            "another rank could not take its patients when they moved between ranks"))
        del got
        joined = self._group_of(world.comm, new, coord)
        moved = RankRun(self.config, self.body, self.plugin_manager.hook, lo, hi,
                        None if self.fates is None else self.fate_matrix, self.variables,
                        group=joined)
        moved.load_state(mine)
        if group is not None:     # only now: on an error the caller frees the old one
            group.close()
        return moved, joined

    def _run_arms(self, comm, progress, checkpoint, resume, gather=True) -> xr.Dataset | None:
        """Run every arm on the same virtual patients; combine on an ``arm`` dimension."""
        self._refuse_arm_checkpoints(checkpoint, resume)
        parts = [sim.run(comm=comm, progress=progress, gather=gather) for _, sim in self.arms]
        if parts[0] is None:
            return None
        return self._combine_arms(parts)

    def _refuse_arm_checkpoints(self, checkpoint, resume) -> None:
        if self.arms and (checkpoint is not None or resume is not None):
            raise ConfigError("arms: checkpoints of a multi-arm trial are not supported yet; "
                              "run the arms as separate configurations to checkpoint them")

    def _combine_arms(self, parts: list[xr.Dataset]) -> xr.Dataset:
        """The arms' Datasets (or blocks) on an ``arm`` dimension, tables arm after arm,
        with the whole trial's configuration."""
        ds = combine_arms(parts, [name for name, _ in self.arms])
        ds.attrs["config_json"] = json.dumps(self.resolved_config(), sort_keys=True)
        ds.attrs["scenario"] = config_attrs({}, 0, "", [], scenario=self.scenario)["scenario"]
        return ds

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs) -> "Simulation":
        """The simulation a checkpoint was made by (its stored configuration).

        Continue it with ``sim.run(resume=path)``.
        """
        from .checkpoint import find_checkpoint, read_manifest
        manifest = read_manifest(find_checkpoint(path))
        sim = cls(manifest["config"], **kwargs)
        # the scenario attribute of the run that wrote it (``paget run`` notes it)
        sim.scenario = str((manifest.get("note") or {}).get("scenario") or "")
        return sim

    def _check_memory(self, n_patients: int, whole: bool = False) -> None:
        """Refuse a run whose records cannot fit in this machine's memory
        (``whole``: this rank will gather the whole cohort's)."""
        from .output import FLUX_VARIABLES, STATE_VARIABLES
        n_rec = len(self.plan.record_steps)
        need = 8.0 * n_patients * n_rec * self.body.n_organs * (
            len(STATE_VARIABLES) + len(FLUX_VARIABLES))
        try:
            have = float(os.sysconf("SC_PAGE_SIZE")) * float(os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            return
        if need > have:
            raise ConfigError(
                f"cohort.patients = {self.config.cohort.patients}: the records of "
                f"{plural(n_patients, 'patient')} x {plural(n_rec, 'recorded time')} "
                f"(output.interval = {plural(float(self.config.output.interval), 'day')}) x "
                f"{self.body.n_organs} organs need "
                f"{need / 2**30:.3g} GiB on one rank, more than this machine's "
                f"{have / 2**30:.3g} GiB; "
                + ("rank 0 gathers the whole cohort to return it or write .nc: write "
                   "-o OUT.zarr instead (each rank keeps its own patients, so more ranks "
                   "help), or use fewer patients or a longer output.interval" if whole else
                   "use more ranks, fewer patients or a longer output.interval"))

    def _dataset(self, parts: list[dict[str, np.ndarray]], first_patient: int = 0,
                 n_patients: int | None = None) -> xr.Dataset:
        merged = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
        attrs = config_attrs(self.resolved_config(), self.config.seed, self.version,
                             self.plugin_names, scenario=self.scenario)
        return build_dataset(merged, times=self.plan.times, organs=self.body.organs,
                             n_patients=self.config.cohort.patients if n_patients is None
                             else n_patients, first_patient=first_patient, attrs=attrs,
                             variables=self.variables, var_attrs=self._output_attrs())

    def _output_attrs(self) -> dict[str, dict[str, Any]]:
        """The attributes the plugins add to output variables (``paget_output_attrs``)."""
        from .output import VARIABLES, plugin_variables
        known = set(VARIABLES) | set(plugin_variables(self.variables))
        out: dict[str, dict[str, Any]] = {}
        owner: dict[tuple[str, str], str] = {}
        for impl in self.plugin_manager.hook.paget_output_attrs.get_hookimpls():
            result = impl.function(**{a: self.config for a in impl.argnames}) or {}
            plugin = impl.plugin_name
            if not isinstance(result, Mapping) or not all(
                    isinstance(a, Mapping) for a in result.values()):
                raise PluginError(f"plugin {plugin!r}: paget_output_attrs returned "
                                  f"{type(result).__name__}, not a dict of attribute dicts",
                                  plugin=plugin, hook="paget_output_attrs")
            for name, attrs in result.items():
                if name not in known:
                    raise PluginError(f"plugin {plugin!r}: paget_output_attrs names {name!r}, "
                                      f"not an output variable", plugin=plugin,
                                      hook="paget_output_attrs")
                for key, value in attrs.items():
                    if key in ("units", "long_name") or (name, key) in owner:
                        by = owner.get((name, key), "its declaration")
                        raise PluginError(f"plugin {plugin!r}: paget_output_attrs sets {name}."
                                          f"{key}, already set by {by}", plugin=plugin,
                                          hook="paget_output_attrs")
                    owner[(name, key)] = repr(plugin)
                    out.setdefault(name, {})[key] = value
        return out

    # ------------------------------------------------------------------ write
    def write(self, path: str | os.PathLike, comm=None, *, overwrite: bool = False,
              progress: Callable[[int], None] | None = None,
              checkpoint: "Checkpoints | None" = None,
              resume: str | os.PathLike | None = None) -> xr.Dataset | None:
        """Run the cohort and write the dataset to ``path``; what :meth:`run` does, plus
        the file.

        ``path`` ending in ``.nc``: the ranks' results gather on rank 0, which
        writes one netCDF file (atomically: :func:`paget.output.write_dataset`).
        Ending in ``.zarr``: no rank ever holds the whole cohort.  The patient
        blocks are whole zarr chunks; rank 0 writes the schema and coordinates
        (:func:`paget.output.write_zarr_schema`),
        every rank then writes the variables of its own patients (at once) and
        its rows of the lesion and clone tables (in rank order: those blocks
        share chunks).  The store is built under a temporary name and renamed
        to ``path`` once complete.  Either file opens to the same Dataset, on
        any number of ranks, for a multi-arm trial too: :func:`paget.open_dataset`
        (``xarray.open_dataset`` with ``decode_times=False``: ``time`` stays in
        float days, see its ``comment``) gives the Dataset :meth:`run` returns,
        to the bit but for the attributes ``date_created`` and ``history``.

        Before the run, ``path`` is checked (:func:`paget.files.check_output`):
        its directory must exist (it is never created) and be writable, and
        something already there is replaced only with ``overwrite`` and only
        if paget could have written it (a regular file, or a Zarr store paget
        wrote); otherwise :class:`paget.errors.PathError`
        (:class:`paget.errors.OutputExistsError` for an output that exists
        without ``overwrite``) is raised on every rank, with nothing run.
        A failure on any rank (a plugin, the disk) raises on every rank and
        leaves no output behind; an existing one is kept.  The output gets the
        permissions the umask allows.

        Returns
        -------
        On rank 0 the Dataset (for ``.zarr``: opened lazily from the store);
        None on the other ranks.
        """
        from .files import check_output
        from .output import output_format, write_dataset
        path = Path(path)
        kind = output_format(path)
        rank = 0 if comm is None else comm.Get_rank()
        on_every_rank(comm, lambda: rank == 0 and check_output(path, overwrite=overwrite,
                                                               flag="output"))
        if kind == "zarr":
            self._refuse_arm_checkpoints(checkpoint, resume)
            return self._write_zarr(path, comm, overwrite, progress, checkpoint, resume)
        ds = self.run(comm=comm, progress=progress, checkpoint=checkpoint, resume=resume)
        on_every_rank(comm, lambda: ds is not None and write_dataset(ds, path,
                                                                     overwrite=overwrite))
        return ds

    def _write_zarr(self, path: Path, comm, overwrite, progress, checkpoint, resume
                    ) -> xr.Dataset | None:
        import shutil
        import tempfile

        from .files import umask_mode
        from .output import publish, write_zarr_block, write_zarr_schema, zarr_patient_chunk
        size = 1 if comm is None else comm.Get_size()
        rank = 0 if comm is None else comm.Get_rank()
        P = self.config.cohort.patients
        per_patient = 8.0 * len(self.plan.record_steps) * self.body.n_organs
        chunk = zarr_patient_chunk(P, size, per_patient)
        arms = self.arms or [(None, self)]
        parts = []
        follow = None
        for _, sim in arms:      # the arms of a trial: the same patient blocks
            # the later arms move as the first did, so that all end on one layout
            # and a rank's block is the same patient range in every arm
            part, lo, hi = sim._run_block(comm, progress, checkpoint, resume, chunk=chunk,
                                          gather=False, follow=follow)
            parts.append((sim, part))
            follow = sim.layouts if follow is None else follow
        coord = _Coordinator(comm, lockstep=True, n_steps=0)
        tmp: str | None = None

        def agree(error: BaseException | None) -> None:
            """Every rank raises if any failed; rank 0 removes the unfinished store."""
            try:
                coord.agree(error)
            except BaseException:
                if rank == 0 and tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                raise

        error: BaseException | None = None
        tables = ("lesion", "clone")
        block, rows = None, np.zeros((len(arms), len(tables)), np.int64)
        try:
            blocks = [sim._dataset([part], first_patient=lo, n_patients=hi - lo)
                      for sim, part in parts]
            rows[:] = [[b.sizes.get(d, 0) for d in tables] for b in blocks]
            block = blocks[0]
            if self.arms:    # as run() combines them: an arm dimension, tables arm after arm
                block = self._combine_arms(blocks)
        except Exception as exc:
            error = exc
        agree(error)
        every = np.array([rows] if comm is None else comm.allgather(rows))  # (ranks, arms, 2)
        per_arm = every.sum(axis=0)                                        # (arms, 2)
        # where each (arm, table) slice of this rank's block goes in the whole table:
        # after the earlier arms' rows and this arm's rows on the lower ranks
        dest = np.cumsum(per_arm, axis=0) - per_arm + every[:rank].sum(axis=0)
        src = np.cumsum(rows, axis=0) - rows
        try:   # a KeyboardInterrupt, say, too: never leave the unfinished store behind
            if rank == 0:
                try:
                    tmp = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                    os.chmod(tmp, umask_mode(0o777))   # mkdtemp makes it 0o700 whatever the umask
                    write_zarr_schema(block, tmp, P,
                                      dict(zip(tables, per_arm.sum(axis=0).tolist())), chunk)
                except Exception as exc:
                    error = exc
            tmp = tmp if comm is None else comm.bcast(tmp, root=0)
            agree(error)
            try:
                write_zarr_block(block, tmp, "patient", lo)
            except Exception as exc:
                error = exc
            for r in range(size):       # the tables' blocks share chunks: one rank at a time
                if r == rank and error is None:
                    try:
                        for a in range(len(arms)):
                            for i, dim in enumerate(tables):
                                piece = block.isel({dim: slice(src[a, i], src[a, i] + rows[a, i])})
                                write_zarr_block(piece, tmp, dim, int(dest[a, i]))
                    except Exception as exc:
                        error = exc
                if comm is not None:
                    comm.Barrier()
            agree(error)
            if rank == 0:
                try:
                    publish(tmp, path, overwrite=overwrite)
                except Exception as exc:
                    error = exc
            agree(error)
        except BaseException:
            if rank == 0 and tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)   # (gone once published)
            raise
        return xr.open_zarr(path, chunks=None, decode_times=False) if rank == 0 else None


#: tables an arm may not override: the arms of a trial share their patients
#: (seed, cohort), time grid (output) and plugins, so that they are paired
_ARM_FIXED = ("seed", "cohort", "output", "plugins", "arms")


def _check_arms(arms) -> list[dict[str, Any]]:
    """Validate the shape of ``[[arms]]``: tables with a unique ``name``."""
    if arms is None:
        return []
    if not isinstance(arms, list) or not arms:
        raise ConfigError(f"arms = {arms!r}: must be a non-empty array of tables "
                          f"([[arms]] with a name and the tables the arm changes)")
    names = set()
    for i, arm in enumerate(arms):
        if not isinstance(arm, Mapping):
            raise ConfigError(f"arms[{i}] = {arm!r}: must be a table")
        name = arm.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"arms[{i}].name = {name!r}: every arm needs a name (a "
                              f"non-empty string)")
        if name in names:
            raise ConfigError(f"arms[{i}].name = {name!r}: arm names must be unique")
        names.add(name)
        fixed = sorted(set(arm) & set(_ARM_FIXED))
        if fixed:
            raise ConfigError(f"arms[{i}] ({name!r}) sets {', '.join(fixed)}: the arms of a "
                              f"trial share {', '.join(_ARM_FIXED[:-1])}; set them outside "
                              f"the arms")
    return arms


def _plugins_only_model():
    """A model that validates only the [plugins] table (read before plugins load)."""
    return _PluginsOnly


class _PluginsOnly(BaseModel):
    model_config = {"extra": "ignore"}
    plugins: PluginsTable = PluginsTable()


def _read_resource(res) -> dict[str, Any]:
    import tomllib
    return tomllib.loads(res.read_text())


def _check_fates(fates, n_org: int) -> None:
    blood, lymph = np.asarray(fates.blood), np.asarray(fates.lymph)
    if blood.shape != (n_org, n_org + 1) or lymph.shape != (n_org + 1,):
        raise PluginError(f"paget_fate_matrix returned shapes {blood.shape}, {lymph.shape}; "
                          f"expected ({n_org}, {n_org + 1}) and ({n_org + 1},)",
                          hook="paget_fate_matrix")
    for name, a in (("blood", blood), ("lymph", lymph)):
        if not (np.all(np.isfinite(a)) and a.min() >= 0 and
                np.allclose(a.sum(axis=-1), 1.0, atol=1e-9)):
            raise PluginError(f"paget_fate_matrix: {name} rows must be probabilities summing to 1",
                              hook="paget_fate_matrix")


# --------------------------------------------------------------------------
# Coordination of the ranks of one run: failures, SIGTERM, agreement
# --------------------------------------------------------------------------

_FAILED = 1
_SIGTERM = 2
_SIGINT = 4
_TAG_FAILED = 7201


class _Coordinator:
    """How the ranks of a run learn of each other's failures and of SIGTERM or SIGINT.

    Two regimes.  Without checkpoints ranks step independently; a rank that
    fails sends every other rank a one-byte message, which each polls for
    (``Iprobe``, well under a microsecond) after every step, so the job ends
    within a step of the failure and all ranks meet in one final
    ``allgather`` of errors.  With checkpoints the ranks agree once per step
    (``Allreduce`` of a flag word: failed, SIGTERM, SIGINT), so that all of them stop,
    or write a checkpoint, at the same step; a failing rank contributes its
    flag to the next agreement instead of sending messages.
    Rejected: ``MPI_Abort`` on failure (kills the job before the error can be
    reported by rank 0 and leaves a Python caller no exception to catch).
    """

    def __init__(self, comm, lockstep: bool, n_steps: int, messages: bool = False):
        self.comm = comm
        self.lockstep = lockstep
        #: failure messages in the lockstep regime too: ranks sharing patients
        #: meet in collectives within a step, where the agreement cannot reach
        self.messages = messages
        self.n_steps = n_steps
        self.synced = -1            # last step agreed on (lockstep)
        self.ctl = None             # duplicate communicator for failure messages
        self._sends: list = []
        self._notified = False
        self._term = False          # SIGTERM received (read at the next agreement)
        self._int = False           # SIGINT (Ctrl-C) received

    # -- set-up
    def agree(self, error: BaseException | None) -> None:
        """Collective check after set-up: if any rank failed, every rank raises."""
        if self.comm is None:
            if error is not None:
                raise error
            return
        _wait_quietly(self.comm)
        errors = self.comm.allgather(_describe(error, self.comm.Get_rank()))
        _raise_first(errors, error)

    def start(self, step: int) -> None:
        self.synced = step - 1
        if self.comm is not None and (self.messages or not self.lockstep):
            self.ctl = self.comm.Dup()

    # -- per step
    def sync(self, step: int, failed: bool = False) -> int:
        """Agree on the flags after ``step`` (lockstep regime)."""
        flags = ((_FAILED if failed else 0) | (_SIGTERM if self._term else 0)
                 | (_SIGINT if self._int else 0))
        if self.comm is not None:
            from mpi4py import MPI
            out = np.zeros(1, np.int32)
            self.comm.Allreduce(np.array([flags], np.int32), out, op=MPI.BOR)
            flags = int(out[0])
        self.synced = step
        return flags

    def peer_failed(self, step: int | None = None) -> bool:
        """Has another rank reported a failure? (by message)"""
        from mpi4py import MPI
        return self.ctl is not None and \
            bool(self.ctl.Iprobe(source=MPI.ANY_SOURCE, tag=_TAG_FAILED))

    def fail(self, notify: bool = True) -> None:
        """This rank failed while stepping: let the others know (``notify``: by
        message, where messages are used), and in the lockstep regime take
        part in the step's agreement with the failed flag."""
        if self.comm is None:
            return
        if notify and self.ctl is not None and not self._notified:
            me = self.comm.Get_rank()
            self._buf = np.ones(1, np.int8)
            self._sends = [self.ctl.Isend(self._buf, dest=r, tag=_TAG_FAILED)
                           for r in range(self.comm.Get_size()) if r != me]
            self._notified = True
        if self.lockstep and self.synced + 1 < self.n_steps:
            self.sync(self.synced + 1, failed=True)

    @contextmanager
    def catch_sigterm(self, enabled: bool):
        """While stepping, SIGTERM and SIGINT (Ctrl-C) only set a flag, read at
        the next agreement: every rank then writes a checkpoint at the same step
        and raises :class:`paget.checkpoint.Interrupted`.  A second SIGINT
        stops at once (``KeyboardInterrupt``), as an impatient Ctrl-C expects."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_term(signum, frame):
            self._term = True

        def on_int(signum, frame):
            if self._int:
                raise KeyboardInterrupt
            self._int = True

        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_term)}
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:   # (a background job's)
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_int)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # -- the end
    def finish(self, error: BaseException | None) -> None:
        """Collective: gather every rank's error; if any, raise on every rank."""
        if self.comm is None:
            if error is not None:
                raise error
            return
        from mpi4py import MPI
        me = self.comm.Get_rank()
        desc = _describe(error, me)
        if desc is not None:
            desc["notified"] = self._notified
        _wait_quietly(self.comm)
        errors = self.comm.allgather(desc)
        if self.ctl is not None:
            # receive the failure messages still pending, complete our own sends
            buf = np.zeros(1, np.int8)
            for e in errors:
                if e is not None and e["notified"] and e["rank"] != me:
                    self.ctl.Recv(buf, source=e["rank"], tag=_TAG_FAILED)
            MPI.Request.Waitall(self._sends)
            self.ctl.Free()
            self.ctl = None
        _raise_first(errors, error)


def on_every_rank(comm, make: Callable[[], Any]) -> Any:
    """``make()`` on this rank, collectively: if it raises on any rank of ``comm``,
    every rank raises (the failing one its own error, the others one naming it),
    so none is left waiting in a later collective.  Returns what ``make`` gave."""
    result, error = None, None
    try:
        result = make()
    except Exception as exc:
        error = exc
    _Coordinator(comm, lockstep=True, n_steps=0).agree(error)
    return result


def _wait_quietly(comm, poll_s: float = 0.002) -> None:
    """Until every rank of ``comm`` arrives here, without keeping a core busy.

    A rank that finishes early (fewer or smaller patients, or none) would
    otherwise wait in a blocking collective, which MPICH completes by polling
    at full speed: on a machine with no core to spare (a laptop, an
    oversubscribed node) that takes the CPU from the ranks still working.
    A non-blocking barrier tested every ``poll_s`` costs at most that much.
    """
    if comm.Get_size() == 1:
        return
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(poll_s)


def _describe(error: BaseException | None, rank: int) -> dict[str, Any] | None:
    if error is None:
        return None
    from .checkpoint import CheckpointError
    kind = ("checkpoint" if isinstance(error, CheckpointError) else
            "config" if isinstance(error, ConfigError) else
            "plugin" if isinstance(error, PluginError) else "other")
    return {"rank": rank, "kind": kind, "type": type(error).__name__, "message": str(error),
            "plugin": getattr(error, "plugin", None), "hook": getattr(error, "hook", None)}


def _raise_first(errors: list[dict[str, Any] | None], own: BaseException | None) -> None:
    """Raise this rank's own error, or one like the first other rank's."""
    if own is not None:
        raise own
    failed = [e for e in errors if e is not None]
    if not failed:
        return
    from .checkpoint import CheckpointError
    e = failed[0]
    if e["kind"] == "checkpoint":
        raise CheckpointError(e["message"])
    if e["kind"] == "config":
        raise ConfigError(e["message"])
    if e["kind"] == "plugin":
        raise PluginError(f"rank {e['rank']}: {e['message']}", e["plugin"], e["hook"])
    raise PagetError(f"rank {e['rank']} failed: {e['type']}: {e['message']}")
