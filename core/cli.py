"""Command line: ``paget run | scenarios | plugins | validate``.

Under ``mpiexec -n K`` every command works the same; only rank 0 prints.
Exit status: 0 success, 2 bad configuration or arguments, 1 any other failure.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from .config import deep_merge
from .errors import ConfigError, PagetError, PluginError

__all__ = ["main"]

EXIT_CONFIG = 2


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
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario or a TOML config")
    run.add_argument("target", nargs="?", default="default",
                     help="a built-in scenario name or a CONFIG.toml (default: the default scenario)")
    run.add_argument("--patients", type=int, help="number of virtual patients")
    run.add_argument("--years", type=float, help="follow-up, years")
    run.add_argument("--seed", type=int, help="seed of every random draw")
    run.add_argument("-o", "--output", type=Path, help="write the dataset to OUT.nc")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    run.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                     help="also load this plugin module (repeatable)")
    run.add_argument("--disable", action="append", default=[], metavar="NAME",
                     help="switch this plugin off (repeatable)")
    run.add_argument("--print-config", action="store_true",
                     help="print the fully resolved configuration as TOML and exit")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    sub.add_parser("scenarios", help="list the built-in scenarios")

    pl = sub.add_parser("plugins", help="list the loaded plugins and their hooks")
    pl.add_argument("target", nargs="?", default="default")
    pl.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    pl.add_argument("--disable", action="append", default=[], metavar="NAME")

    val = sub.add_parser("validate", help="check a config without running it")
    val.add_argument("target", help="a CONFIG.toml or scenario name")
    val.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    return p


def _load_data(target: str) -> dict[str, Any]:
    from .config import read_toml
    from .simulation import _read_resource, scenario_path
    if target.endswith(".toml") or Path(target).exists():
        return read_toml(target)
    return _read_resource(scenario_path(target))


def _simulation(args) -> "Simulation":  # noqa: F821
    from .simulation import Simulation
    data = _load_data(args.target)
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
    return Simulation(deep_merge(data, overrides))


def _drop_none(obj):
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def _cmd_run(args, comm) -> int:
    import tomli_w
    from rich.console import Console
    sim = _simulation(args)
    console = Console(stderr=False)
    rank = _rank(comm)
    if args.print_config:
        if rank == 0:
            sys.stdout.write(tomli_w.dumps(_drop_none(sim.resolved_config())))
        return 0
    if args.output is not None:
        if args.output.suffix != ".nc":
            raise ConfigError(f"-o {str(args.output)!r}: the output must end in .nc")
        if args.output.exists() and not args.overwrite:
            raise ConfigError(f"-o {str(args.output)!r}: file exists; pass --overwrite to replace it")
    show = rank == 0 and not args.no_progress
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        cfg = sim.config
        label = (f"{cfg.cohort.patients} patient(s), {cfg.cohort.years:g} years"
                 + (f", {comm.Get_size()} ranks" if comm is not None else ""))
        with Progress(TextColumn("[bold]paget[/] " + label), BarColumn(),
                      TextColumn("day {task.fields[day]:>6.0f}"), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("run", total=sim.plan.n_steps, day=0)
            dt = sim.plan.dt
            done = [0]

            def progress(k: int) -> None:
                done[0] += k
                bar.update(task, advance=k, day=done[0] * dt)

            ds = sim.run(comm=comm, progress=progress)
    else:
        ds = sim.run(comm=comm)
    if rank != 0:
        return 0
    if args.output is not None:
        from .output import write_dataset
        write_dataset(ds, args.output, overwrite=args.overwrite)
    _summary(ds, console)
    if args.output is not None:
        console.print(f"wrote {args.output}")
    return 0


def _summary(ds, console) -> None:
    import numpy as np
    from rich.table import Table
    last = ds.isel(time=-1)
    n = ds.sizes["patient"]
    table = Table(title=f"paget: {n} patient(s), day {float(ds.time[-1]):.0f}")
    table.add_column("organ")
    table.add_column("with lesions", justify="right")
    table.add_column("lesions/patient", justify="right")
    table.add_column("tumour cells/patient", justify="right")
    table.add_column("dormant cells/patient", justify="right")
    for organ in ds.organ.values:
        o = last.sel(organ=organ)
        table.add_row(str(organ), f"{100 * float((o.lesions > 0).mean()):.0f} %",
                      f"{float(o.lesions.mean()):.2f}", f"{float(o.tumor_cells.mean()):.3g}",
                      f"{float(o.dormant_cells.mean()):.3g}")
    console.print(table)
    seed_t = ds.first_seeding_time.values
    seeded = np.isfinite(seed_t)
    deaths = int(np.isfinite(ds.death_time.values).sum())
    med = f"{np.median(seed_t[seeded]):.0f} days" if seeded.any() else "never"
    console.print(f"seeded: {seeded.sum()}/{n} patients (median first seeding {med})")
    console.print(f"died at the lethal burden: {deaths}/{n} patients")


def _cmd_scenarios(args, comm) -> int:
    from .simulation import list_scenarios
    if _rank(comm) == 0:
        for name, line in list_scenarios().items():
            print(f"{name:<16} {line}")
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
        print(f"{args.target}: valid ({sim.config.cohort.patients} patients, "
              f"{sim.plan.n_steps} steps of {sim.plan.dt:g} days, plugins: "
              f"{', '.join(sim.plugin_names)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    comm = _comm()
    handler = {"run": _cmd_run, "scenarios": _cmd_scenarios, "plugins": _cmd_plugins,
               "validate": _cmd_validate}[args.command]
    try:
        return handler(args, comm)
    except ConfigError as exc:
        if _rank(comm) == 0:
            print(f"paget: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (PluginError, PagetError, FileExistsError) as exc:
        if _rank(comm) == 0:
            print(f"paget: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
