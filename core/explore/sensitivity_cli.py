"""The spec and the command of ``paget sensitivity SPEC.toml -o OUT.nc``.

The spec is TOML: the common keys of every exploration spec
(:mod:`paget.explore.parameters`: ``scenario``, ``seed``, ``[base]``,
``[parameters."key"]`` ranges) and a ``[sensitivity]`` table::

    [sensitivity]
    method = "sobol"              # or "morris"
    samples = 8                   # sobol: base samples (a power of two); morris: trajectories
    outputs = ["sites", "involvement.liver"]
    replicates = 2                # runs per design point, averaged (default 1)

The runs go through :func:`paget.explore.sweep.run_design` into the store
``OUT.runs.zarr`` beside ``OUT.nc``: under ``mpiexec`` they spread over the
ranks, and the same command run again after a kill skips the runs already in
the store.  The indices are written to ``OUT.nc`` (see
:func:`paget.explore.sensitivity.analyse`) and drawn in ``OUT.png`` (or
``--figure``).  Bad input (an unknown key, output or method, a range outside
a key's allowed values, an output that exists) is refused before any run:
one line, exit status 2, nothing written.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import ConfigError, OutputExistsError, PathError, plural
from .parameters import check_keys
from .sensitivity import METHODS, Problem, make_problem

__all__ = ["SPEC_KEYS", "Settings", "check_settings", "available_outputs", "check_outputs", "read_sensitivity_spec", "store_path",
           "add_arguments", "command"]
# ------------------------------------------------------------------ the spec

#: The keys of the ``[sensitivity]`` table: name -> (default, meaning).  None: required.
SPEC_KEYS = {
    "method": ("sobol", '"sobol" (first- and total-order indices) or "morris" (screening)'),
    "samples": (None, "base samples (sobol: a power of two) or trajectories (morris)"),
    "outputs": (None, 'the outputs analysed, e.g. ["sites", "involvement.liver"]'),
    "replicates": (1, "runs per design point, averaged"),
    "levels": (4, "morris: levels of the grid (an even number >= 2)"),
    "confidence": (0.95, "level of the bootstrap confidence intervals"),
    "resamples": (1000, "bootstrap resamples of the confidence intervals"),
}


@dataclass(frozen=True)
class Settings:
    """The checked ``[sensitivity]`` table of a spec."""

    method: str
    samples: int
    outputs: tuple[str, ...]
    replicates: int
    levels: int
    confidence: float
    resamples: int


def _whole(where: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"{where} = {value!r}: must be a whole number >= {least}")
    return value


def check_settings(table: Any, where: str = "sensitivity",
                   outputs: Callable[[list], None] | None = None) -> Settings:
    """The ``[sensitivity]`` table, checked (``outputs`` checks the output names).

    Raises
    ------
    ConfigError
        One line naming the key, the value and what is allowed.
    """
    from ..config import _suggest
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: missing or not a table; give [sensitivity] with "
                          f"samples and outputs (and method)")
    check_keys(table, SPEC_KEYS, f"{where}.")
    for key, (default, meaning) in SPEC_KEYS.items():
        if default is None and key not in table:
            raise ConfigError(f"{where}.{key}: required key is missing ({meaning})")
    method = table.get("method", "sobol")
    if method not in METHODS:
        raise ConfigError(f"{where}.method = {method!r}: unknown method"
                          f"{_suggest(str(method), list(METHODS))}; allowed: "
                          f"{', '.join(repr(m) for m in METHODS)}")
    samples = _whole(f"{where}.samples", table["samples"], 2)
    if method == "sobol" and samples & (samples - 1):
        lower = 1 << (samples.bit_length() - 1)
        raise ConfigError(f"{where}.samples = {samples}: must be a power of two for method "
                          f"'sobol' (a Sobol' sequence is balanced only then), e.g. {lower} "
                          f"or {2 * lower}")
    names = table["outputs"]
    if (not isinstance(names, list) or not names
            or not all(isinstance(o, str) and o for o in names)):
        raise ConfigError(f"{where}.outputs = {names!r}: must be a non-empty list of output "
                          f"names, e.g. [\"sites\", \"involvement.liver\"]")
    twice = sorted({o for o in names if names.count(o) > 1})
    if twice:
        raise ConfigError(f"{where}.outputs: {', '.join(map(repr, twice))} given twice")
    if outputs is not None:
        outputs(names)
    levels = _whole(f"{where}.levels", table.get("levels", 4), 2)
    if levels % 2:
        raise ConfigError(f"{where}.levels = {levels}: must be even (Morris' grid jumps "
                          f"half of the levels)")
    confidence = table.get("confidence", 0.95)
    if (not isinstance(confidence, (int, float)) or isinstance(confidence, bool)
            or not 0 < confidence < 1):
        raise ConfigError(f"{where}.confidence = {confidence!r}: must be a number within "
                          f"(0, 1), e.g. 0.95")
    return Settings(method=method, samples=samples, outputs=tuple(names),
                    replicates=_whole(f"{where}.replicates", table.get("replicates", 1), 1),
                    levels=levels, confidence=float(confidence),
                    resamples=_whole(f"{where}.resamples", table.get("resamples", 1000), 10))


def available_outputs(scenario: str | None, base: Mapping[str, Any] | None = None) -> list[str]:
    """The output names a sensitivity analysis of paget can ask for: ``"sites"``,
    ``"involvement.ORGAN"`` for each organ of the scenario's body and
    ``"survival.Q"`` for each quantile (:mod:`paget.explore.summaries`)."""
    from ..simulation import Simulation
    from .parameters import config_for
    from .summaries import SURVIVAL_QUANTILES
    sim = Simulation(config_for(scenario, base))
    if sim.arms:
        raise ConfigError(f"scenario {scenario!r}: is a trial ({len(sim.arms)} arms); the "
                          f"summaries take one arm: make a config of the arm you want "
                          f"and give its path as the scenario")
    organs = sim.body.organs
    return (["sites"] + [f"involvement.{o}" for o in organs]
            + [f"survival.{q:g}" for q in SURVIVAL_QUANTILES])


def check_outputs(names: list, allowed: list[str], where: str = "sensitivity.outputs") -> None:
    """ConfigError naming the first of ``names`` not in ``allowed`` (with a "did you mean")."""
    from ..config import _suggest
    for name in names:
        if name not in allowed:
            organs = [a.split(".", 1)[1] for a in allowed if a.startswith("involvement.")]
            quantiles = [a for a in allowed if a.startswith("survival.")]
            raise ConfigError(f"{where}: {name!r}: unknown output{_suggest(name, allowed)}; "
                              f"outputs: sites, involvement.ORGAN (ORGAN: {', '.join(organs)}), "
                              f"{', '.join(quantiles)}")


# ------------------------------------------------------------------ reading a spec

@dataclass(frozen=True)
class Plan:
    """A checked spec: everything a run of ``paget sensitivity`` needs."""

    spec: dict
    text: str
    settings: Settings
    problem: Problem


def read_sensitivity_spec(path: str | os.PathLike) -> Plan:
    """Read and check a sensitivity spec; nothing is run or written.

    Raises
    ------
    ConfigError
        One line naming the file, the key, the value and what is allowed:
        an unknown top-level key, parameter key, output or method, a range
        outside the key's allowed values, a bad number of samples.
    """
    from .parameters import is_integer, parameter_ranges, read_spec
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec {str(path)!r}: no such file")
    spec = read_spec(path, keys=("sensitivity",), command="sensitivity")
    name = str(path)
    for key, table in spec["parameters"].items():
        if isinstance(table, Mapping) and "values" in table:
            raise ConfigError(f"{name}: parameters.{json.dumps(key)}.values: a sensitivity "
                              f"analysis samples ranges: give low and high (and log) instead")
    allowed = available_outputs(spec["scenario"], spec["base"])
    settings = check_settings(spec.get("sensitivity"), f"{name}: sensitivity",
                              lambda names: check_outputs(names, allowed,
                                                          f"{name}: sensitivity.outputs"))
    ranges = parameter_ranges(spec)
    problem = make_problem(ranges, integer=tuple(k for k in ranges
                                                 if is_integer(k, spec["scenario"])))
    return Plan(spec=spec, text=path.read_text(encoding="utf-8"), settings=settings,
                problem=problem)


def store_path(output: str | os.PathLike) -> Path:
    """The store of the runs of ``OUT.nc``: ``OUT.runs.zarr`` beside it."""
    output = Path(output)
    return output.with_name(f"{output.stem}.runs.zarr")


def _check_figure(figure: Path, overwrite: bool) -> None:
    from ..files import refusal, replaceable
    if figure.suffix.lower() != ".png":
        raise PathError(f"--figure {str(figure)!r}: must end in .png")
    parent = figure.parent
    if not parent.is_dir():
        raise PathError(f"--figure {str(figure)!r}: directory {str(parent)!r} does not exist; "
                        f"paget does not create missing directories: create it first")
    if os.path.lexists(figure):
        what = replaceable(figure)
        if what is not None or figure.is_dir():
            raise PathError(refusal("--figure", figure, what or "a directory"))
        if not overwrite:
            raise OutputExistsError(f"--figure {str(figure)!r}: exists; pass --overwrite to "
                                    f"replace it")
    if not os.access(parent, os.W_OK):
        raise PathError(f"--figure {str(figure)!r}: cannot create a file in {str(parent)!r}")


def _prepare(args) -> Plan:
    """The checked spec and paths (rank 0)."""
    from ..files import check_output
    if Path(args.output).suffix != ".nc":
        raise PathError(f"-o {str(args.output)!r}: paget sensitivity writes netCDF: give a "
                        f"name ending in .nc")
    plan = read_sensitivity_spec(args.spec)
    check_output(args.output, overwrite=args.overwrite)
    figure = figure_path(args)
    if figure.resolve() == Path(args.output).resolve():
        raise PathError(f"--figure {str(figure)!r}: is the output itself")
    _check_figure(figure, args.overwrite)
    store = store_path(args.output)
    if os.path.lexists(store) and not store.is_dir():
        raise PathError(f"-o {str(args.output)!r}: the runs' store {str(store)!r} exists and "
                        f"is not a directory: remove it or choose another output name")
    return plan


def figure_path(args) -> Path:
    """``--figure``, or ``OUT.png`` beside ``OUT.nc``."""
    return args.figure if args.figure is not None else Path(args.output).with_suffix(".png")


# ------------------------------------------------------------------ the command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``paget sensitivity``."""
    parser.add_argument("spec", type=Path, metavar="SPEC.toml",
                        help="the spec: scenario, seed, [base], [parameters.\"key\"] ranges "
                             "and [sensitivity] (method, samples, outputs, replicates)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.nc",
                        help="write the indices to OUT.nc; the runs are kept in OUT.runs.zarr "
                             "beside it, so the same command run again after a kill resumes")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing OUT.nc and figure, and a runs' store made by "
                             "another spec (a store of this spec is always resumed)")
    parser.add_argument("--figure", type=Path, metavar="FIG.png",
                        help="draw the indices with their confidence intervals into FIG.png "
                             "(default: OUT.png beside OUT.nc)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _on_rank0(comm, make: Callable[[], Any]) -> Any:
    """``make()`` on rank 0, its result (or the error it raised) on every rank."""
    result = None
    if comm is None or comm.Get_rank() == 0:
        try:
            result = make()
        except Exception as exc:    # raised on every rank: none waits in the bcast
            result = exc
    if comm is not None:
        result = comm.bcast(result, root=0)
    if isinstance(result, Exception):
        raise result
    return result


def command(args, comm) -> int:
    """``paget sensitivity SPEC.toml -o OUT.nc``: the exit status (errors raise, for
    :func:`paget.cli._dispatch` to print in one line)."""
    from .sensitivity import PagetModel, sensitivity
    plan = _on_rank0(comm, lambda: _prepare(args))
    rank = 0 if comm is None else comm.Get_rank()
    spec, s = plan.spec, plan.settings
    store = store_path(args.output)
    model = PagetModel(s.outputs, scenario=spec["scenario"], base=spec["base"],
                       replicates=s.replicates, seed=spec["seed"], store=str(store), comm=comm,
                       progress=rank == 0 and not args.no_progress, overwrite=args.overwrite,
                       spec={**spec, "sensitivity": asdict(s)})
    # model.units is filled by the model's call, before the analysis reads it
    ds = sensitivity(model, plan.problem, method=s.method, samples=s.samples, seed=spec["seed"],
                     levels=s.levels, confidence=s.confidence, resamples=s.resamples,
                     units=model.units)
    if rank != 0:
        return 0
    ds = _with_attrs(ds, plan, store)
    from ..output import write_dataset
    from .sensitivity import plot_indices
    figure = figure_path(args)
    write_dataset(ds, args.output, overwrite=args.overwrite)
    tmp = figure.with_name(f".{figure.stem}.tmp.png")
    plot_indices(ds, tmp)
    os.replace(tmp, figure)
    _print_indices(ds)
    print(f"wrote {args.output} and {figure} (runs in {store})")
    return 0


def _with_attrs(ds, plan: Plan, store: Path):
    """The result's global attributes: what was run, by whom, from which spec."""
    from ..output import config_attrs
    from ..simulation import _version
    spec = plan.spec
    common = config_attrs({}, spec["seed"], _version(), (), scenario=spec["scenario"])
    attrs = {k: common[k] for k in ("Conventions", "scenario", "date_created", "history",
                                    "paget_version", "seed")}
    attrs.update(ds.attrs)
    attrs.update({"title": "paget sensitivity analysis", "replicates": plan.settings.replicates,
                  "runs": int(ds.attrs["evaluations"]) * plan.settings.replicates,
                  "runs_store": store.name, "spec_toml": plan.text,
                  "spec_json": json.dumps({**spec, "sensitivity": asdict(plan.settings)},
                                          sort_keys=True, default=list)})
    return ds.assign_attrs(attrs)


def _print_indices(ds) -> None:
    """The indices as a table on stdout."""
    sobol = ds.attrs["method"] == "sobol"
    cols = ("S1", "ST") if sobol else ("mu_star", "sigma")
    conf = {"S1": "S1_conf", "ST": "ST_conf", "mu_star": "mu_star_conf"}
    title = "Sobol' indices" if sobol else "Morris screening"
    print(f"{title} ({100 * ds.attrs['confidence_level']:g} % confidence intervals), "
          f"{plural(int(ds.attrs['runs']), 'run')}:")
    width = max(len(str(p)) for p in ds.parameter.values)
    for out in ds.output.values:
        sel = ds.sel(output=out)
        note = str(sel.note.item())
        unit = "" if sobol else f" [{sel.output_units.item()}]"
        print(f"  {out}{unit}" + (f": {note}" if note else ""))
        if note:
            continue
        for p in ds.parameter.values:
            cells = []
            for c in cols:
                v = float(sel[c].sel(parameter=p))
                text = f"{v:7.3f}" if sobol else f"{v:9.4g}"
                if c in conf:
                    half = float(sel[conf[c]].sel(parameter=p))
                    text += f" ± {half:.3f}" if sobol else f" ± {half:<9.4g}"
                cells.append(f"{c} {text}")
            print(f"    {str(p):<{width}}  " + "   ".join(cells))
