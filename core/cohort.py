"""The cohort block runner: one rank's block of patients through every step, with its
checkpoints, its failure protocol and the moves of patients between ranks."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import balance
from .coordination import _FAILED, _SIGINT, _SIGTERM, _Coordinator
from .domains import Group, PeerFailed, rank_groups
from .engine import RankRun
from .errors import ConfigError, plural
from .model import make_run

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Simulation


def run_block(sim: "Simulation", comm, progress, checkpoint, resume, *, chunk: int = 1,
              gather: bool = True, follow: list | None = None
              ) -> tuple[dict[str, np.ndarray], int, int]:
    """Simulate this rank's block of ``sim``'s patients: (results, lo, hi).

    The blocks are whole ``chunk``s of patients (:func:`paget.output.patient_blocks`);
    with fewer blocks than ranks, ranks share a block as a group
    (:func:`paget.domains.rank_groups`): its first rank returns the block's
    results and the others none (``lo = hi``).
    ``gather``: rank 0 will hold the whole cohort's records (memory check).
    ``follow``: the ``layouts`` of another run to move through, step for step,
    instead of deciding moves from this run's loads (the arms of a trial
    written to one zarr store must end on one layout).
    """
    return BlockRunner(sim, comm, progress, checkpoint, resume, chunk=chunk, gather=gather,
                       follow=follow).run()


class BlockRunner:
    """One run of :func:`run_block`: its set-up, its per-step callback (agreement,
    checkpoints, load checks) and its moves; sets ``sim.layouts``."""

    def __init__(self, sim: "Simulation", comm, progress, checkpoint, resume, *,
                 chunk: int, gather: bool, follow: list | None):
        self.sim, self.comm, self.progress = sim, comm, progress
        self.checkpoint, self.resume = checkpoint, resume
        self.chunk, self.gather, self.follow = chunk, gather, follow
        self.size = 1 if comm is None else comm.Get_size()
        self.rank = 0 if comm is None else comm.Get_rank()
        self.plan = sim.plan
        self.layout = rank_groups(sim.config.cohort.patients, self.size, chunk)
        self.every = checkpoint.every_steps(self.plan.dt) if checkpoint is not None else None
        self.rank_run: RankRun | None = None
        self.group: Group | None = None
        self.world: Group | None = None
        self.header: dict[str, Any] | None = None
        self.on_step: Callable[[int], bool] | None = None
        self.moving: list | None = None     # the layout to move to, once decided
        self.counting = None                # the loads being summed over the ranks
        self.followed = {} if follow is None else {step: lay for step, lay in follow[1:]}
        self.lag = min(sim.REGROUP_LAG, sim.REGROUP_EVERY - 1)

    def run(self) -> tuple[dict[str, np.ndarray], int, int]:
        """Set up, step to the end, and agree with the other ranks on any failure."""
        from . import checkpoint as ckpt
        start, error = self._set_up()
        coord = self.coord
        coord.agree(error)
        coord.start(start)
        self.sim.layouts = [(start, self.layout)]
        if self.checkpoint is not None:
            self.header = self._header()
            self.on_step = self._on_step_lockstep
        elif self.comm is not None:
            self.on_step = coord.peer_failed

        part: dict[str, np.ndarray] | None = None
        if self.progress is not None and start:
            self.progress(start)
        try:
            with coord.catch_sigterm(self.checkpoint is not None):
                part = self._step()
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
        for grp in (self.group, self.world):
            if grp is not None:
                grp.close()
        _, lo, hi = self.layout[self.rank]
        if self.group is not None and self.group.rank != 0:
            lo = hi        # the group's first rank returns its patients
        return part, lo, hi

    # -- set-up: every rank builds its run (and loads its checkpoint shards)
    def _set_up(self) -> tuple[int, BaseException | None]:
        """The coordinator, the groups and this rank's run: (first step, error)."""
        from . import checkpoint as ckpt
        sim, comm, rank, plan = self.sim, self.comm, self.rank, self.plan
        P = sim.config.cohort.patients
        _, lo, hi = self.layout[rank]
        error: BaseException | None = None
        start = 0
        regroup = self.size > 1 and sim.REGROUP_EVERY > 0
        shared = len({h for h, _, _ in self.layout}) < self.size   # some ranks share a block
        self.coord = _Coordinator(comm, lockstep=self.checkpoint is not None,
                                  n_steps=plan.n_steps, messages=shared or regroup)
        if comm is not None:  # collective over the run's ranks, before anything can fail
            if regroup:
                self.world = Group(comm.Dup(), poll=self.coord.peer_failed)
            self.group = balance.group_of(comm, self.layout, self.coord) if shared else None
        step_dir = None
        if self.resume is not None:
            found = None
            if rank == 0:
                try:
                    found = str(ckpt.find_checkpoint(self.resume))
                except ckpt.CheckpointError as exc:
                    found = exc
            found = found if comm is None else comm.bcast(found, root=0)
            if isinstance(found, Exception):
                error = found
            else:
                step_dir = Path(found)
        try:
            if error is None:
                check_memory(sim, P if rank == 0 and self.gather else hi - lo,
                             whole=rank == 0 and self.gather)
                if self.checkpoint is not None and rank == 0:
                    ckpt.check_directory(self.checkpoint,
                                         ckpt.config_digest(sim.resolved_config()))
                self.rank_run = make_run(sim, lo, hi, self.group)
                if step_dir is not None:
                    manifest = ckpt.read_manifest(step_dir)
                    ckpt.check_compatible(manifest, step_dir, version=sim.version,
                                          config_json=sim.resolved_config(),
                                          plugins=sim.plugin_names, n_steps=plan.n_steps)
                    self.rank_run.load_state(ckpt.load_rank_state(step_dir, manifest, lo, hi))
                    start = int(manifest["step"])
        except Exception as exc:  # reported on every rank below, never left hanging
            error = exc
        return start, error

    def _header(self) -> dict[str, Any]:
        """The checkpoints' manifest header."""
        from . import checkpoint as ckpt
        sim, plan, every = self.sim, self.plan, self.every
        config_json = sim.resolved_config()
        return {"paget_version": sim.version, "paget_build": ckpt.build_fingerprint(),
                "config": config_json,
                "config_sha256": ckpt.config_digest(config_json),
                "plugins": sim.plugin_names, "n_steps": plan.n_steps, "dt": plan.dt,
                "every_steps": every,
                "every_days": None if every is None else every * plan.dt}

    # -- stepping
    def _step(self) -> dict[str, np.ndarray] | None:
        """Every step, moving the patients between ranks where decided."""
        part = self.rank_run.run(progress=self.progress, on_step=self._on_step_or_regroup)
        while self.moving is not None:
            self.rank_run, self.group = balance.move_patients(self.sim, self.rank_run, self.group,
                                                          self.layout, self.moving,
                                                          self.world, self.coord)
            self.layout, self.moving = self.moving, None
            self.sim.layouts.append((self.rank_run.next_step, self.layout))
            part = self.rank_run.run(progress=self.progress, on_step=self._on_step_or_regroup)
        if part is not None and self.checkpoint is not None:
            # this rank's patients all died early: keep agreeing (and
            # writing its frozen state) with the ranks still stepping
            for step in range(self.coord.synced + 1, self.plan.n_steps):
                if self._on_step_lockstep(step):
                    break
        return part

    def _write(self, step: int) -> Path:
        from . import checkpoint as ckpt
        # (in a group, state_dict gathers the group's state: collective)
        return ckpt.write_checkpoint(
            self.comm, self.checkpoint, step,
            lambda: ckpt.at_step(self.rank_run.state_dict(), step), self.header)

    def _on_step_lockstep(self, step: int) -> bool:
        from . import checkpoint as ckpt
        plan, checkpoint = self.plan, self.checkpoint
        flags = self.coord.sync(step)
        if flags & _FAILED:
            return True
        following = step + 1
        if following >= plan.n_steps:
            return False
        if flags & (_SIGTERM | _SIGINT):
            path = self._write(following)
            # SIGTERM (a scheduler's) wins if some ranks had SIGINT (Ctrl-C) too
            signum = signal.SIGTERM if flags & _SIGTERM else signal.SIGINT
            stopped = ckpt.Interrupted(
                f"stopped by {signum.name} at day {following * plan.dt:g} (step "
                f"{following} of {plan.n_steps}); checkpoint written to {path}; resume "
                f"with: paget run --restart {checkpoint.directory}",
                path=path, step=following, directory=checkpoint.directory)
            stopped.signum = signum     # the CLI exits 75 for SIGTERM, 130 for SIGINT
            raise stopped
        if self.every is not None and following % self.every == 0:
            self._write(following)
        return False

    def _on_step_or_regroup(self, step: int) -> bool:
        if self.on_step is not None and self.on_step(step):
            return True
        world = self.world
        if world is None:
            return False
        done = step + 1          # steps done; a move happens before step `done`
        if self.follow is not None:
            self.moving = self.followed.get(done)
            return self.moving is not None
        every = self.sim.REGROUP_EVERY
        if done % every == 0 and done + self.lag < self.plan.n_steps:
            self.counting = world.start_sum(balance.loads(self.sim, self.rank_run))
        if self.counting is not None and done % every == self.lag:
            loads, self.counting = world.result(self.counting), None
            self.moving = balance.new_layout(self.sim, loads, self.layout, world.size,
                                             self.chunk)
            return self.moving is not None
        return False


def check_memory(sim: "Simulation", n_patients: int, whole: bool = False) -> None:
    """Refuse a run whose records cannot fit in this machine's memory
    (``whole``: this rank will gather the whole cohort's)."""
    from .output import FLUX_VARIABLES, STATE_VARIABLES
    n_rec = len(sim.plan.record_steps)
    need = 8.0 * n_patients * n_rec * sim.body.n_organs * (
        len(STATE_VARIABLES) + len(FLUX_VARIABLES))
    try:
        have = float(os.sysconf("SC_PAGE_SIZE")) * float(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return
    if need > have:
        raise ConfigError(
            f"cohort.patients = {sim.config.cohort.patients}: the records of "
            f"{plural(n_patients, 'patient')} x {plural(n_rec, 'recorded time')} "
            f"(output.interval = {plural(float(sim.config.output.interval), 'day')}) x "
            f"{sim.body.n_organs} organs need "
            f"{need / 2**30:.3g} GiB on one rank, more than this machine's "
            f"{have / 2**30:.3g} GiB; "
            + ("rank 0 gathers the whole cohort to return it or write .nc: write "
               "-o OUT.zarr instead (each rank keeps its own patients, so more ranks "
               "help), or use fewer patients or a longer output.interval" if whole else
               "use more ranks, fewer patients or a longer output.interval"))
