"""Command line: ``paget run | scenarios | plugins | validate | plot | sweep | sensitivity |
calibrate``.

Under ``mpiexec -n K`` every command works the same; only rank 0 prints.

Exit status: 0 success; 1 a failure while running (a plugin raised, a rank
failed); 2 bad configuration, arguments, paths or checkpoint (nothing is run or
written: the output and checkpoint directories are checked before step 0);
75 (``EX_TEMPFAIL``) stopped on SIGTERM after writing a checkpoint: resume
with ``paget run --restart DIR``; 130 stopped by SIGINT (Ctrl-C), after
writing a checkpoint if ``--checkpoint`` was given (else nothing is written).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from .config import deep_merge
from .errors import ConfigError, PagetError, PathError, PluginError, plural

__all__ = ["main"]

EXIT_FAILURE = 1
EXIT_CONFIG = 2
#: Stopped by SIGTERM after writing a checkpoint (sysexits' EX_TEMPFAIL: try
#: again later).  Not 0, so a job script never takes a stopped run for a
#: finished one; not 143, which a shell also reports for a run killed by
#: SIGTERM without a checkpoint.
EXIT_INTERRUPTED = 75
#: Stopped by SIGINT (Ctrl-C): 128 + 2, what a shell reports for a program
#: that SIGINT ended, after a checkpoint where one is configured.
EXIT_SIGINT = 130


def _comm():
    """COMM_WORLD when launched by mpiexec on more than one rank, else None."""
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover - mpi4py is a dependency
        return None
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


def _rank(comm) -> int:
    return 0 if comm is None else comm.Get_rank()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paget", description="Simulate the metastatic cascade.")
    p.add_argument("--version", action="version", version=f"paget {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario or a TOML config")
    run.add_argument("target", nargs="?", default=None,
                     help="a built-in scenario name or a CONFIG.toml (default: the default scenario)")
    run.add_argument("--patients", type=int, help="number of virtual patients")
    run.add_argument("--years", type=float, help="follow-up, years")
    run.add_argument("--seed", type=int, help="seed of every random draw")
    run.add_argument("-o", "--output", type=Path,
                     help="write the dataset to OUT.nc (gathered on rank 0) or OUT.zarr (each "
                          "MPI rank writes its own patients); its directory must exist (it is "
                          "not created) and is checked before the run")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing output: a file, or a .zarr store paget wrote "
                          "(never another directory)")
    run.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                     help="also load this plugin module (repeatable)")
    run.add_argument("--disable", action="append", default=[], metavar="NAME",
                     help="switch this plugin off (repeatable)")
    run.add_argument("--print-config", action="store_true",
                     help="print the fully resolved configuration as TOML and exit")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--checkpoint", type=Path, metavar="DIR",
                     help="write checkpoints into DIR (every --checkpoint-every days, and on "
                          "SIGTERM or Ctrl-C, which then stop the run with exit status 75 or "
                          "130); DIR is created if missing, but its parent must exist")
    run.add_argument("--checkpoint-every", type=float, metavar="DAYS",
                     help="days of simulated time between checkpoints (a whole number of steps)")
    run.add_argument("--checkpoint-keep", type=int, default=None, metavar="N",
                     help="complete checkpoints to keep, the newest (default 2)")
    run.add_argument("--restart", type=Path, metavar="DIR",
                     help="continue the run whose checkpoints are in DIR (or one DIR/step-*); "
                          "its configuration and output file come from the checkpoint")

    sub.add_parser("scenarios", help="list the built-in scenarios")

    pl = sub.add_parser("plugins", help="list the loaded plugins and their hooks")
    pl.add_argument("target", nargs="?", default="default")
    pl.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    pl.add_argument("--disable", action="append", default=[], metavar="NAME")

    val = sub.add_parser("validate", help="check a config without running it")
    val.add_argument("target", help="a CONFIG.toml or scenario name")
    val.add_argument("--plugin", action="append", default=[], metavar="MODULE")

    plot = sub.add_parser("plot", help="draw PNG figures of a result file")
    plot.add_argument("result", type=Path, metavar="OUT",
                      help="a result file written by paget run -o OUT.nc")
    plot.add_argument("-o", "--output", type=Path, metavar="DIR",
                      help="write the PNG files into DIR (default: STEM_plots/ beside OUT, "
                           "e.g. cohort_plots/ for cohort.nc)")
    plot.add_argument("--patients", type=int, default=20, metavar="N",
                      help="patients in the swimmer plot (default 20), evenly spaced in the "
                           "ranking by overall survival; in a trial the same patients in every arm")
    plot.add_argument("--origin", choices=("start", "diagnosis"), default="start",
                      help="survival time counts from the start of the run (default) or from "
                           "each patient's diagnosis_time (patients never diagnosed left out)")

    def plot_usage_error(message: str):
        """A bad plot argument: one line on stderr, exit status 2 (argparse prints the usage)."""
        plot.exit(EXIT_CONFIG, f"paget: error: plot: {' '.join(message.split())} "
                               f"(see paget plot --help)\n")

    plot.error = plot_usage_error
    from . import migration_export
    migration_export.add_arguments(sub.add_parser(
        "export-migration", help="write one patient's clones and sites in Metient's input "
                                 "format (reads table, presence table, clone tree)"))
    for name, text in EXPLORE_COMMANDS.items():
        _explore_module(name).add_arguments(sub.add_parser(name, help=text, description=text))

    return p


#: the exploration commands (paget.explore): name -> help
EXPLORE_COMMANDS = {
    "sweep": "run a design of parameter values crossed with replicates into one Zarr store "
             "(resumable, over MPI ranks)",
    "sensitivity": "Sobol' indices or Morris screening of chosen outputs, with a figure",
    "calibrate": "Bayesian calibration (ABC-SMC, pyABC) of parameters to a data table "
                 "(resumable, over MPI ranks)",
}


def _explore_module(name: str):
    """The module of exploration command ``name``: ``add_arguments(parser)`` and
    ``command(args, comm) -> exit status``.  (pyABC and SALib themselves are
    imported only when a command runs.)"""
    if name == "sweep":
        from .explore import sweep as module
    elif name == "sensitivity":
        from .explore import sensitivity_cli as module
    elif name == "calibrate":
        from .explore import calibrate as module
    else:
        raise KeyError(name)
    return module


def _version() -> str:
    """The installed package's version (its metadata), or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("paget")
    except PackageNotFoundError:  # pragma: no cover - run from a bare source tree
        return "unknown"


def _load_data(target: str | None) -> dict[str, Any]:
    from .config import read_toml
    from .simulation import _read_resource, scenario_path
    if target is None:
        target = "default"
    if target.endswith(".toml") or Path(target).exists():
        return read_toml(target)
    return _read_resource(scenario_path(target))


def _simulation(args, base: dict[str, Any] | None = None) -> "Simulation":  # noqa: F821
    """The Simulation the arguments ask for.  A plugin that cannot be loaded or
    declares a bad table is bad input like a bad value: a ConfigError (exit 2)."""
    from .simulation import Simulation
    data = base if args is None else _config_data(args, base)
    try:
        sim = Simulation(data)
    except PluginError as exc:
        raise ConfigError(str(exc)) from None
    target = getattr(args, "target", None)
    if target is not None or (args is not None and base is None):
        sim.scenario = target or "default"     # the dataset's scenario attribute
    return sim


def _config_data(args, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration the arguments ask for: the file or scenario named (else
    ``base``, else the default scenario), then the command-line overrides."""
    data = base if (args.target is None and base is not None) else _load_data(args.target)
    overrides: dict[str, Any] = {}
    cohort = {k: v for k, v in (("patients", getattr(args, "patients", None)),
                                ("years", getattr(args, "years", None))) if v is not None}
    if cohort:
        overrides["cohort"] = cohort
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    plugins = dict(data.get("plugins", {}))
    if getattr(args, "plugin", None):
        plugins["load"] = list(plugins.get("load", [])) + list(args.plugin)
    if getattr(args, "disable", None):
        plugins["disable"] = list(plugins.get("disable", [])) + list(args.disable)
    if plugins:
        overrides["plugins"] = plugins
    return deep_merge(data, overrides)


def _restart_setup(args, comm):
    """The simulation, checkpoint policy and output of ``paget run --restart DIR``."""
    from .checkpoint import CheckpointError, Checkpoints, find_checkpoint, read_manifest
    found = None
    if _rank(comm) == 0:
        try:
            found = str(find_checkpoint(args.restart))
        except CheckpointError as exc:
            found = exc
    found = found if comm is None else comm.bcast(found, root=0)
    if isinstance(found, Exception):
        raise found
    step_dir = Path(found)
    manifest = read_manifest(step_dir)
    stored = manifest["config"]
    given = [flag for flag, value in (("CONFIG", args.target), ("--patients", args.patients),
                                      ("--years", args.years), ("--seed", args.seed),
                                      ("--plugin", args.plugin), ("--disable", args.disable))
             if value is not None and value != []]
    sim = _simulation(None, base=stored)
    if given:
        # allowed only if they ask for the very run the checkpoint holds
        from .checkpoint import _config_diff, config_digest
        wanted = _simulation(args, base=stored).resolved_config()
        if config_digest(wanted) != config_digest(sim.resolved_config()):
            raise CheckpointError(
                f"--restart {args.restart}: {', '.join(given)} "
                f"{'asks' if len(given) == 1 else 'ask'} for another run than the checkpoint "
                f"holds ({_config_diff(sim.resolved_config(), wanted)}); leave "
                f"{'it' if len(given) == 1 else 'them'} out to continue the checkpointed run")
    note = manifest.get("note") or {}
    sim.scenario = note.get("scenario") or ""     # the interrupted run's scenario attribute
    output = args.output
    if output is None and note.get("output"):
        output = Path(note["output"])
    overwrite = args.overwrite or (args.output is None and bool(note.get("overwrite")))
    every = args.checkpoint_every if args.checkpoint_every is not None else \
        manifest.get("every_days")
    directory = args.checkpoint if args.checkpoint is not None else step_dir.parent
    policy = Checkpoints(directory, every=every,
                         keep=2 if args.checkpoint_keep is None else args.checkpoint_keep,
                         note={"output": None if output is None else str(output.resolve()),
                               "overwrite": overwrite, "scenario": sim.scenario})
    return sim, policy, step_dir, output, overwrite


def _cmd_run(args, comm) -> int:
    from rich.console import Console

    from .checkpoint import CheckpointError, Checkpoints, find_checkpoint
    rank = _rank(comm)
    resume = None
    policy = None
    output, overwrite = args.output, args.overwrite
    if args.restart is not None:
        sim, policy, resume, output, overwrite = _restart_setup(args, comm)
    else:
        sim = _simulation(args)
        if args.checkpoint is None and (args.checkpoint_every is not None or
                                        args.checkpoint_keep is not None):
            raise ConfigError("--checkpoint-every and --checkpoint-keep need --checkpoint DIR")
        if args.checkpoint is not None:
            try:
                existing = find_checkpoint(args.checkpoint)
            except CheckpointError:
                existing = None
            if existing is not None:
                raise CheckpointError(
                    f"--checkpoint {args.checkpoint}: holds a checkpoint already ({existing}); "
                    f"continue it with --restart {args.checkpoint}, or choose another directory")
            policy = Checkpoints(args.checkpoint, every=args.checkpoint_every,
                                 keep=2 if args.checkpoint_keep is None else args.checkpoint_keep,
                                 note={"output": None if output is None else
                                       str(output.resolve()), "overwrite": overwrite,
                                       "scenario": sim.scenario})
    if policy is not None:
        policy.every_steps(sim.plan.dt)   # refuse a bad interval before running
    console = Console(stderr=False)
    if args.print_config:
        if rank == 0:
            from .config_toml import config_toml
            sys.stdout.write(config_toml(sim.resolved_config(), sim.config_model))
        return 0
    _check_paths(comm, output, overwrite, policy,
                 "--checkpoint" if args.checkpoint is not None else "--restart")
    show = rank == 0 and not args.no_progress
    run_kw = dict(comm=comm, checkpoint=policy, resume=resume)

    def run(**kw):
        if output is None:   # nothing to write: the summary needs no gathered cohort
            return sim.run(**kw, **run_kw, gather=False)
        return sim.write(output, overwrite=overwrite, **kw, **run_kw)
    try:
        ds = _run_with_progress(sim, run, show, comm, console)
    except KeyboardInterrupt:
        # Ctrl-C without a checkpoint (or a second one): the outputs are atomic,
        # so nothing is written; checkpoints already written are kept
        note = "nothing written"
        if policy is not None:
            try:
                find_checkpoint(policy.directory)
                note += (f"; the checkpoints in {policy.directory} are kept: resume with "
                         f"paget run --restart {policy.directory}")
            except CheckpointError:
                pass
        raise KeyboardInterrupt(note) from None
    if output is None and comm is not None:
        # every rank holds its own patients only: rank 0 gathers what the summary needs
        summary = _gather_summary(ds, comm)
    else:
        summary = _summary_part(ds) if rank == 0 else None
    if rank != 0:
        return 0
    _print_summary(summary, console)
    if output is not None:
        console.print(f"wrote {output}")
    return 0


def _check_paths(comm, output: Path | None, overwrite: bool, policy, flag: str) -> None:
    """Before step 0: the output can be written where it is asked for, and
    what is there may be replaced; the checkpoint directory can be made or
    written (:mod:`paget.files`).  Checked on rank 0; every rank raises the
    :class:`PathError` alike."""
    from .files import check_checkpoint_directory, check_output
    error = None
    if _rank(comm) == 0:
        try:
            if output is not None:
                check_output(output, overwrite=overwrite)
            if policy is not None:
                check_checkpoint_directory(policy.directory, flag=flag)
        except PathError as exc:
            error = exc
    error = error if comm is None else comm.bcast(error, root=0)
    if error is not None:
        raise error


def _run_with_progress(sim, run, show: bool, comm, console):
    """``run()``, under a progress bar if ``show``."""
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        cfg = sim.config
        label = (f"{plural(cfg.cohort.patients, 'patient')}, {plural(cfg.cohort.years, 'year')}"
                 + (f", {comm.Get_size()} ranks" if comm is not None else ""))
        with Progress(TextColumn("[bold]paget[/] " + label), BarColumn(),
                      TextColumn("day {task.fields[day]:>6.0f}"), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("run", total=sim.total_steps, day=0)
            dt, n_steps = sim.plan.dt, sim.plan.n_steps
            done = [0]

            def progress(k: int) -> None:   # the day within the current arm
                done[0] += k
                bar.update(task, advance=k, day=(done[0] - 1) % n_steps * dt + dt)

            return run(progress=progress)
    return run()


def _summary_part(ds) -> dict:
    """What the printed summary needs from a Dataset of some or all of the patients:
    sums over patients (and arms) per organ at the last time, and the per-patient
    times whose medians it prints (a few numbers per patient, never the series)."""
    import numpy as np
    last = ds.isel(time=-1)

    def per_organ(x):
        return x.sum([d for d in x.dims if d != "organ"]).values.astype(np.float64)

    arms = [str(a) for a in ds.arm.values] if "arm" in ds.dims else None
    detected = "first_detected_metastasis_time" in ds
    return {
        "patients": ds.sizes["patient"], "day": float(ds.time[-1]),
        "organs": [str(o) for o in ds.organ.values], "arms": arms,
        "with_lesions": per_organ(last.lesions > 0), "lesions": per_organ(last.lesions),
        "tumor_cells": per_organ(last.tumor_cells),
        "dormant_cells": per_organ(last.dormant_cells),
        "first_seeding_time": ds.first_seeding_time.values.ravel(),
        # (arms, patients): one row without arms
        "death_time": ds.death_time.values.reshape(len(arms or [0]), -1),
        "detected": (np.isfinite(ds.first_detected_metastasis_time.values)
                     .reshape(len(arms or [0]), -1).sum(axis=1) if detected else None),
        "patterns": (_pattern_counts(ds.migration_pattern.values)
                     if "migration_pattern" in ds else None),
        "causes": _cause_counts(ds),
    }


def _cause_counts(ds) -> dict[str, int] | None:
    """How many of the dead patients (x arms) died of each cause, where a plugin
    records it as a CF flag variable ``death_cause`` (``flag_values`` and
    ``flag_meanings``); None where no plugin does."""
    import numpy as np
    var = ds.get("death_cause")
    if var is None or "flag_meanings" not in var.attrs:
        return None
    meanings = str(var.attrs["flag_meanings"]).split()
    values = np.asarray(var.attrs.get("flag_values", np.arange(len(meanings)))).ravel()
    dead = np.isfinite(ds.death_time.values)
    codes = np.asarray(var.values)[dead]
    return {m: int((codes == v).sum()) for v, m in zip(values, meanings)}


def _pattern_counts(values) -> dict[str, int]:
    """How many patients (x arms) have each migration pattern (paget.migration.PATTERNS)."""
    from .migration import PATTERNS
    values = [str(v) for v in values.ravel()]
    return {k: values.count(k) for k in PATTERNS}


def _gather_summary(ds, comm) -> dict | None:
    """Collective: every rank's :func:`_summary_part` of its own patients, merged on
    rank 0 (None elsewhere): sums added and per-patient times joined in rank order."""
    import numpy as np

    from .simulation import on_every_rank
    # if any rank cannot make its part, every rank raises: none waits in the gather
    parts = comm.gather(on_every_rank(comm, lambda: _summary_part(ds)), root=0)
    if parts is None:
        return None
    whole = dict(parts[0])
    whole["patients"] = sum(p["patients"] for p in parts)
    for key in ("with_lesions", "lesions", "tumor_cells", "dormant_cells"):
        whole[key] = np.sum([p[key] for p in parts], axis=0)
    whole["first_seeding_time"] = np.concatenate([p["first_seeding_time"] for p in parts])
    whole["death_time"] = np.concatenate([p["death_time"] for p in parts], axis=1)
    if whole["detected"] is not None:
        whole["detected"] = np.sum([p["detected"] for p in parts], axis=0)
    if whole["patterns"] is not None:
        whole["patterns"] = {k: sum(p["patterns"][k] for p in parts) for k in whole["patterns"]}
    if whole.get("causes") is not None:
        whole["causes"] = {k: sum(p["causes"][k] for p in parts) for k in whole["causes"]}
    return whole


def _print_summary(s: dict, console) -> None:
    import numpy as np
    from rich.table import Table
    n, arms = s["patients"], s["arms"]
    count = n * len(arms or [0])          # the means are over patients (x arms)
    table = Table(title=f"paget: {plural(n, 'patient')}, day {s['day']:.0f}")
    table.add_column("organ")
    table.add_column("with lesions", justify="right")
    table.add_column("lesions/patient", justify="right")
    table.add_column("tumour cells/patient", justify="right")
    table.add_column("dormant cells/patient", justify="right")
    for j, organ in enumerate(s["organs"]):
        table.add_row(organ, f"{100 * s['with_lesions'][j] / count:.0f} %",
                      f"{s['lesions'][j] / count:.2f}", f"{s['tumor_cells'][j] / count:.3g}",
                      f"{s['dormant_cells'][j] / count:.3g}")
    console.print(table)
    seed_t = s["first_seeding_time"]
    seeded = np.isfinite(seed_t)
    med = _days(np.median(seed_t[seeded])) if seeded.any() else "never"
    who = plural(seeded.size, "patient") if arms is None else \
        plural(seeded.size, "patient x arm", "patients x arms")
    console.print(f"seeded: {seeded.sum()}/{who} (median first seeding {med})")
    if s.get("patterns"):
        shares = ", ".join(f"{k} {100 * v / count:.0f} %" for k, v in s["patterns"].items()
                           if v or k != "none")
        console.print(f"migration patterns (MACHINA classes; none: no growing metastasis): "
                      f"{shares}")
    if arms is None:
        deaths = int(np.isfinite(s["death_time"]).sum())
        causes = s.get("causes")
        why = "" if not causes else " (" + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in causes.items() if v) + ")"
        console.print(f"died: {deaths}/{plural(n, 'patient')}{why}")
        return
    table = Table(title="trial arms (same virtual patients)")
    for column in ("arm", "died", "median survival", "metastasis detected"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for a, arm in enumerate(arms):
        times = s["death_time"][a]
        died = np.isfinite(times)
        med_os = _days(np.median(times[died])) if died.sum() * 2 > n else "not reached"
        mets = "n/a" if s["detected"] is None else f"{int(s['detected'][a])}/{n}"
        table.add_row(arm, f"{int(died.sum())}/{n}", med_os, mets)
    console.print(table)


def _days(t: float) -> str:
    """A time in whole days: "1 day", "30 days"."""
    return plural(int(round(float(t))), "day")


def _cmd_scenarios(args, comm) -> int:
    from .simulation import list_scenarios, scenario_sources
    if _rank(comm) == 0:
        for name, line in list_scenarios().items():
            print(f"{name:<16} {line}")
            sources = scenario_sources(name)
            if sources:
                print(f"{'':<16} sources: {sources}")
    return 0


def _cmd_plugins(args, comm) -> int:
    sim = _simulation(args)
    if _rank(comm) == 0:
        from rich.console import Console
        from rich.table import Table
        table = Table(title="paget plugins")
        table.add_column("name")
        table.add_column("origin")
        table.add_column("module")
        table.add_column("hooks")
        for info in sim.plugin_info:
            table.add_row(info.name, info.origin, info.module, ", ".join(info.hooks))
        Console().print(table)
    return 0


def _cmd_validate(args, comm) -> int:
    sim = _simulation(args)
    if _rank(comm) == 0:
        print(f"{args.target}: valid ({plural(sim.config.cohort.patients, 'patient')}, "
              f"{plural(sim.plan.n_steps, 'step')} of {plural(float(sim.plan.dt), 'day')}, "
              f"plugins: {', '.join(sim.plugin_names)})")
    return 0


def _cmd_plot(args, comm) -> int:
    """survival.png, burden.png, sites.png, swimmer.png, migration_graph.png and
    migration_patterns.png of a result file.

    A file that is missing, unreadable or not a paget result is bad input:
    exit status 2, one line on stderr, nothing written."""
    if _rank(comm) != 0:
        return 0
    from .plot import check_origin, plot_all, read_result
    if args.patients < 1:
        _say(comm, f"paget: error: --patients {args.patients}: must be at least 1")
        return EXIT_CONFIG
    try:
        ds = read_result(args.result)
    except ValueError as exc:
        _say(comm, f"paget: error: {_one_line(exc)}")
        return EXIT_CONFIG
    try:
        check_origin(ds, args.origin)
    except ValueError as exc:
        _say(comm, f"paget: error: --origin {args.origin}: {str(args.result)!r}: {_one_line(exc)}")
        return EXIT_CONFIG
    directory = args.output if args.output is not None else \
        args.result.with_name(f"{args.result.stem}_plots")
    try:
        paths = plot_all(ds, directory, patients=args.patients, origin=args.origin)
    except OSError as exc:   # the directory cannot be made or written
        _say(comm, f"paget: error: {_one_line(exc)}")
        return EXIT_FAILURE
    for path in paths:
        print(path)
    return 0


def _cmd_export_migration(args, comm) -> int:
    """One patient's history for Metient (:mod:`paget.migration_export`)."""
    from .migration_export import command
    return command(args, comm)


def main(argv: Sequence[str] | None = None) -> int:
    comm = None
    try:
        args = _parser().parse_args(argv)
        comm = _comm()
        return _dispatch(args, comm)
    except KeyboardInterrupt as exc:   # Ctrl-C with no checkpoint to write (or a second one)
        note = str(exc)
        _say(comm, "paget: stopped by SIGINT (Ctrl-C)" + (f"; {note}" if note else ""))
        return EXIT_SIGINT


def _dispatch(args, comm) -> int:
    """Run the command; its errors become one line on stderr and an exit status."""
    import signal
    handler = {"run": _cmd_run, "scenarios": _cmd_scenarios, "plugins": _cmd_plugins,
               "validate": _cmd_validate, "plot": _cmd_plot,
               "export-migration": _cmd_export_migration,
               **{name: _explore_module(name).command for name in EXPLORE_COMMANDS}
               }[args.command]
    from .checkpoint import CheckpointError, Interrupted
    try:
        with _notes(comm):
            return handler(args, comm)
    except PathError as exc:    # an output or checkpoint path that cannot be used
        _say(comm, f"paget: error: {_one_line(exc)}")
        return EXIT_CONFIG
    except ConfigError as exc:
        _say(comm, f"paget: config error: {_one_line(exc)}")
        return EXIT_CONFIG
    except CheckpointError as exc:
        _say(comm, f"paget: checkpoint error: {_one_line(exc)}")
        return EXIT_CONFIG
    except Interrupted as exc:   # a checkpoint was written on SIGTERM or SIGINT
        _say(comm, f"paget: {exc}")
        return EXIT_SIGINT if getattr(exc, "signum", None) == signal.SIGINT else \
            EXIT_INTERRUPTED
    except (PluginError, PagetError, OSError) as exc:   # OSError: the output could not be written
        _say(comm, f"paget: error: {_one_line(exc)}")
        return EXIT_FAILURE


@contextlib.contextmanager
def _notes(comm):
    """A :class:`~paget.errors.ConfigWarning` (a value adjusted, e.g.
    ``output.interval`` rounded to whole steps) becomes one line on stderr,
    ``paget: note: ...``, once and from rank 0 only; other warnings show as usual."""
    from .errors import ConfigWarning
    said: set[str] = set()
    with warnings.catch_warnings():
        show = warnings.showwarning

        def note(message, category, *rest, **kw):
            if not issubclass(category, ConfigWarning):
                return show(message, category, *rest, **kw)
            line = f"paget: note: {_one_line(message)}"
            if line not in said:
                said.add(line)
                _say(comm, line)

        warnings.showwarning = note
        warnings.simplefilter("always", ConfigWarning)
        yield


def _say(comm, line: str) -> None:
    """Print one line on stderr, from rank 0 only."""
    if _rank(comm) == 0:
        print(line, file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
