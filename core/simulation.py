"""The public entry point: ``paget.Simulation``."""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np
import xarray as xr

from . import trial
from .body import make_body
from .cohort import run_block
from .config import deep_merge, read_toml, validate_config
# re-exported: imported from here by the CLI, the checkpoints and the tests
from .coordination import _Coordinator, _describe, _raise_first, on_every_rank  # noqa: F401
from .engine import RankRun, StepPlan, select_patients  # noqa: F401
from .errors import ConfigError
from .engine.dissemination import solve_fate_matrix
from .model import check_state_reads, collect_variables, load_plugins, output_attrs
from .output import build_dataset, config_attrs
from .scenario_files import _read_resource, list_scenarios, scenario_path, scenario_sources

if TYPE_CHECKING:  # pragma: no cover
    from .checkpoint import Checkpoints

__all__ = ["Simulation", "list_scenarios", "scenario_path", "scenario_sources"]


@functools.lru_cache(maxsize=1)
def _version() -> str:
    """paget's installed version (read once: the code running is that of the
    import, whatever is installed later)."""
    try:
        from importlib.metadata import version
        return version("paget")
    except Exception:  # pragma: no cover - running from a source tree
        return "0+unknown"


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
    #: (one large patient on 2 ranks: 1.36-1.45x, docs/explanation/performance-history.md)
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
        arms = trial.check_arms(data.pop("arms", None))
        self.plugin_manager, self.plugin_info, self.config_model = load_plugins(
            data, plugins, entry_points)
        self.config = validate_config(self.config_model, data)
        try:
            self.body = make_body(self.config.body.model, self.config.body.flow_percent,
                                  self.config.body.vertebral_share)
        except ValueError as exc:
            raise ConfigError(f"body.flow_percent: {exc}") from None
        self.plan = StepPlan.from_config(self.config)
        self.variables = collect_variables(self.plugin_manager)
        check_state_reads(self.plugin_manager, self.config)
        self.plugin_manager.hook.paget_check_config(config=self.config, body=self.body)
        #: the fate matrix of the default circulation class (None: no provider)
        self.fates = self.fate_matrix(1.0, 1.0)
        self.version = _version()
        #: the dataset's ``scenario`` attribute: the built-in scenario's name or
        #: the configuration file's path (set by :meth:`from_scenario` and
        #: :meth:`from_toml`; empty: a configuration given in Python)
        self.scenario = ""
        #: trial arms: (name, Simulation of the arm's configuration); empty
        #: when the configuration defines none
        self.arms: list[tuple[str, Simulation]] = trial.make_arms(
            Simulation, data, arms, plugins, entry_points)
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

    def fate_matrix(self, survival: float = 1.0, arrest: float = 1.0):
        """The circulation's fate matrix for one class (see ``paget_fate_matrix``)."""
        return solve_fate_matrix(self.plugin_manager.hook, self.config, self.body,
                                 survival, arrest)

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
            return trial.run_arms(self, comm, progress, checkpoint, resume, gather)
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
        """Simulate this rank's block of patients: (results, lo, hi); see
        :func:`paget.cohort.run_block`."""
        return run_block(self, comm, progress, checkpoint, resume, chunk=chunk, gather=gather,
                         follow=follow)

    def _dataset(self, parts: list[dict[str, np.ndarray]], first_patient: int = 0,
                 n_patients: int | None = None) -> xr.Dataset:
        merged = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
        attrs = config_attrs(self.resolved_config(), self.config.seed, self.version,
                             self.plugin_names, scenario=self.scenario)
        ds = build_dataset(merged, times=self.plan.times, organs=self.body.organs,
                           n_patients=self.config.cohort.patients if n_patients is None
                           else n_patients, first_patient=first_patient, attrs=attrs,
                           variables=self.variables, var_attrs=self._output_attrs())
        if getattr(self.config.output, "seeding_graph", True):
            from .migration import add_migration
            ds = add_migration(ds)
        return ds

    def _output_attrs(self) -> dict[str, dict[str, Any]]:
        """The attributes the plugins add to output variables (``paget_output_attrs``)."""
        return output_attrs(self.plugin_manager, self.config, self.variables)

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
            from .zarr_writer import write_zarr
            trial.refuse_checkpoints(self, checkpoint, resume)
            return write_zarr(self, path, comm, overwrite, progress, checkpoint, resume)
        ds = self.run(comm=comm, progress=progress, checkpoint=checkpoint, resume=resume)
        on_every_rank(comm, lambda: ds is not None and write_dataset(ds, path,
                                                                     overwrite=overwrite))
        return ds

