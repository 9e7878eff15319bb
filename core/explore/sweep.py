"""Sweeps: a design of parameter values crossed with replicates, run over MPI ranks into one Zarr store.

:func:`run_design` runs every (sample, replicate) of a design;
:func:`make_design` draws a design from a spec's ``[design]`` table (grid,
Latin hypercube or Sobol'); :func:`command` is ``paget sweep SPEC.toml -o
OUT.zarr``.

The result has the dimensions ``sample`` and ``replicate`` before the run's
own (``patient``, ``time``, ``organ``); each parameter is a coordinate along
``sample`` named by its dotted key (``ds["intravasation.rate"]``), and
``seed(sample, replicate)`` holds each run's seed, derived from the root seed
and the (sample, replicate) index alone (:func:`unit_seed`): never from the
clock, the rank or the order of the runs.  The lesion and clone tables,
whose lengths differ between runs, are dropped (``tables="drop"``, the
default) or, with a store, kept per run (``tables="keep"``) as the Zarr
groups ``tables/sample-S/replicate-R`` (:func:`open_tables`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import xarray as xr

from ..errors import ConfigError, PathError, plural
from ..output import TABLE_DIMS
from .parameters import bounds, check_keys, config_for, is_integer, resolve

__all__ = ["run_design", "make_design", "unit_seed", "open_tables", "spec_digest",
           "add_arguments", "command", "SWEEP_KEYS", "DESIGN_KINDS"]

#: the spec's top-level keys a sweep adds to the common ones
SWEEP_KEYS = ("design", "replicates", "summary", "tables")
DESIGN_KINDS = ("grid", "lhs", "sobol")
#: keys that change the shape of a run's dataset (patients, times, organs) or its
#: seed: they cannot vary along a sweep, whose runs share one store
FIXED_PREFIXES = ("cohort.", "output.", "body.", "plugins.")


def _fixed(key: str) -> bool:
    """The key cannot vary along a sweep (:data:`FIXED_PREFIXES`, or the seed)."""
    return key == "seed" or key.startswith(FIXED_PREFIXES)
TABLES = ("drop", "keep")
#: the attribute naming a sweep store's spec
DIGEST_ATTR = "paget_sweep_digest"


# ---------------------------------------------------------------------- seeds
def unit_seed(seed: int, sample: int, replicate: int) -> int:
    """The seed of run (sample, replicate) of a sweep with root ``seed``: a
    63-bit number from NumPy's :class:`~numpy.random.SeedSequence` of the root
    seed with the spawn key (sample, replicate), so runs never share streams
    and the seed does not depend on the rank, the order or the clock."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(sample), int(replicate)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


# --------------------------------------------------------------------- design
def make_design(spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The design of a spec: ``{key: values}``, one value per sample.

    ``[design] kind``: ``"grid"`` (every combination of ``levels`` values per
    parameter, evenly spaced on its scale, or of a parameter's own
    ``values``), ``"lhs"`` (Latin hypercube, :class:`scipy.stats.qmc.LatinHypercube`)
    or ``"sobol"`` (:class:`scipy.stats.qmc.Sobol`; ``samples`` a power of
    two).  LHS and Sobol' are scrambled with the spec's seed, so a spec
    always gives the same design.  A ``log = true`` parameter is spread
    uniformly in log(value); a whole-number key's values are rounded.
    """
    from .parameters import parameter_ranges
    ranges = parameter_ranges(spec)
    table = spec.get("design", {})
    if not ranges:
        raise ConfigError("parameters: a sweep needs at least one [parameters.\"key\"] table")
    if not isinstance(table, Mapping):
        raise ConfigError(f"design = {table!r}: must be a table [design] with kind and samples")
    allowed = ("kind", "samples", "levels")
    check_keys(table, allowed, "design.")
    kind = table.get("kind", "lhs")
    if kind not in DESIGN_KINDS:
        raise ConfigError(f"design.kind = {kind!r}: must be one of {', '.join(DESIGN_KINDS)}")
    scenario = spec.get("scenario", "default")
    for key in ranges:
        if _fixed(key):
            raise ConfigError(f"parameters.{json.dumps(key)}: cannot vary in a sweep (it "
                              f"changes the runs' patients, times or organs, which all runs "
                              f"of a store share); set it in [base]")
    keys = list(ranges)
    if kind == "grid":
        levels = table.get("levels")
        axes = []
        for key in keys:
            given = spec["parameters"][key].get("values")
            if given is not None:
                axes.append(np.asarray(given, dtype=np.float64))
                continue
            if not _whole(levels) or levels < 2:
                raise ConfigError(f"design.levels = {levels!r}: a grid needs levels, a whole "
                                  f"number >= 2 (values per parameter), or values = [...] for "
                                  f"each parameter")
            lo, hi, log = ranges[key]
            axes.append(np.geomspace(lo, hi, levels) if log else np.linspace(lo, hi, levels))
        if "samples" in table:
            raise ConfigError("design.samples: a grid's size is the product of its levels; "
                              "give levels (or each parameter's values), not samples")
        mesh = np.meshgrid(*axes, indexing="ij")
        values = {k: m.ravel() for k, m in zip(keys, mesh)}
    else:
        n = table.get("samples")
        if not _whole(n) or n < 1:
            raise ConfigError(f"design.samples = {n!r}: must be a whole number >= 1")
        if kind == "sobol" and n & (n - 1):
            below = 1 << (n.bit_length() - 1)
            raise ConfigError(f"design.samples = {n}: a Sobol' design needs a power of 2 "
                              f"(e.g. {below} or {below * 2})")
        if "levels" in table:
            raise ConfigError(f"design.levels: only a grid has levels; a {kind} design takes "
                              f"samples")
        unit = _qmc(kind, len(keys), n, spec.get("seed", 1))
        values = {}
        for j, key in enumerate(keys):
            lo, hi, log = ranges[key]
            u = unit[:, j]
            values[key] = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if log \
                else lo + u * (hi - lo)
    for key in keys:
        if is_integer(key, scenario):
            values[key] = np.round(values[key])
        lo, hi = bounds(key, scenario)
        values[key] = np.clip(values[key], lo, hi)   # exp(log) may round past an end
    return values


def _whole(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def _qmc(kind: str, d: int, n: int, seed: int) -> np.ndarray:
    """(n, d) points in [0, 1)^d, scrambled with ``seed``."""
    import inspect

    from scipy.stats import qmc
    cls = qmc.LatinHypercube if kind == "lhs" else qmc.Sobol
    rng = np.random.default_rng(seed)
    # scipy >= 1.15 names the generator rng (seed before)
    key = "rng" if "rng" in inspect.signature(cls.__init__).parameters else "seed"
    sampler = cls(d, scramble=True, **{key: rng})
    if kind == "sobol":
        return sampler.random_base2(int(n).bit_length() - 1)
    return sampler.random(n)


# ----------------------------------------------------------------------- runs
def _check_design(design: Mapping[str, Any], scenario, base) -> tuple[dict, int]:
    if not isinstance(design, Mapping) or not design:
        raise ConfigError("design: must be a mapping of at least one dotted key to values")
    arrays = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in design.items()}
    sizes = {a.size for a in arrays.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ConfigError(f"design: every parameter needs the same number (>= 1) of values; "
                          f"got {', '.join(f'{k}: {a.size}' for k, a in arrays.items())}")
    for key, a in arrays.items():
        if _fixed(key):
            raise ConfigError(f"design: {key!r} cannot vary in a sweep (it changes the runs' "
                              f"patients, times or organs, or their seeds); set it in base")
        # the whole range is checked up front: the least and greatest values
        for v in (a.min(), a.max()):
            resolve({key: v}, scenario, base=base)
    return arrays, sizes.pop()


def _params(arrays: Mapping[str, np.ndarray], s: int) -> dict[str, Any]:
    return {k: a[s] for k, a in arrays.items()}


def _run_unit(arrays, s: int, r: int, seed: int, scenario, base, summary) -> xr.Dataset:
    """Run (sample s, replicate r): its dataset (tables kept) or summary."""
    from .simulate import simulation
    sim = simulation(_params(arrays, s), seed=unit_seed(seed, s, r), scenario=scenario,
                     base=base)
    ds = sim.run()
    if summary is not None:
        from .summaries import summarize
        return summarize(ds, summary)
    return ds


_TABLE_DIMS = TABLE_DIMS


def _split(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset | None]:
    """(the run's variables without the tables, the tables)."""
    table_vars = [v for v in ds.variables if set(ds[v].dims) & set(_TABLE_DIMS)]
    if not table_vars:
        return ds, None
    return ds.drop_vars(table_vars), ds[[v for v in ds.data_vars if v in table_vars]]


def _unit_block(ds: xr.Dataset, s: int, r: int) -> xr.Dataset:
    """A run's variables with leading sample and replicate dims of size 1."""
    data = {name: xr.Variable(("sample", "replicate") + v.dims, v.values[None, None],
                              v.attrs, v.encoding) for name, v in ds.data_vars.items()}
    coords = {name: c.variable for name, c in ds.coords.items()}
    coords["sample"] = xr.Variable(("sample",), np.array([s], np.int64))
    coords["replicate"] = xr.Variable(("replicate",), np.array([r], np.int64))
    return xr.Dataset(data, coords=coords)


def spec_digest(arrays: Mapping[str, np.ndarray], *, scenario, base, replicates: int,
                seed: int, summary, tables: str) -> str:
    """SHA-256 of what decides a sweep's store: the configuration (scenario and
    base), the design's values, the replicates, the root seed, the summary and
    the tables option."""
    names = None if summary is None else [s if isinstance(s, str) else
                                          f"{getattr(s, '__module__', '')}."
                                          f"{getattr(s, '__qualname__', repr(s))}"
                                          for s in ([summary] if isinstance(summary, str)
                                                    or callable(summary) else summary)]
    what = {"config": config_for(scenario, base), "replicates": int(replicates),
            "seed": int(seed), "summary": names, "tables": tables,
            "design": {k: [float(x).hex() for x in a] for k, a in arrays.items()}}
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_design(design: Mapping[str, Any], *, scenario: str | None = None,
               base: Mapping[str, Any] | None = None, replicates: int = 1, seed: int = 0,
               summary: Any = None, store: str | os.PathLike | None = None, comm=None,
               progress: bool | Callable[[int], None] = True, tables: str = "drop",
               overwrite: bool = False, spec: Mapping[str, Any] | None = None
               ) -> xr.Dataset | None:
    """Run every (sample, replicate) of a design, over the ranks of ``comm``.

    Parameters
    ----------
    design : mapping
        Dotted key -> values, one per sample (all of one length), e.g. from
        :func:`make_design`.  Keys that change a run's shape (``cohort.*``,
        ``output.*``, ``body.*``, ``plugins.*``) and the seed cannot vary.
    scenario, base
        The configuration every run starts from (as :func:`paget.simulate`).
    replicates : int
        Runs per sample, with different seeds.
    seed : int
        Root seed: run (s, r) has seed :func:`unit_seed` (seed, s, r).
    summary : optional
        Keep each run's summary statistics (:mod:`paget.explore.summaries`)
        instead of its per-patient variables; a callable's values must have
        the same shapes in every run.
    store : path, optional
        A ``.zarr`` store to write (rank 0 creates it; each rank writes its
        runs' regions).  If it holds a sweep of the same spec, the finished
        runs are skipped (a killed sweep resumes; the store ends identical to
        an uninterrupted one's); a sweep of another spec is refused
        (:class:`paget.errors.PathError`) unless ``overwrite``.
    comm : mpi4py communicator, optional
        The runs are dealt out over its ranks (run k of those left to do goes
        to rank k mod size).  None: serial.
    progress : bool or callable
        True: a progress bar of this rank's runs on rank 0; a callable is
        called with 1 after each of this rank's runs.
    tables : {"drop", "keep"}
        The lesion and clone tables: dropped, or (with a store) kept per run
        in the groups ``tables/sample-S/replicate-R`` (:func:`open_tables`).
    overwrite : bool
        Replace a store of another spec (only a store paget wrote).
    spec : mapping, optional
        The spec the design came from, kept in the store's ``spec_json``.

    Returns
    -------
    xarray.Dataset on rank 0 (from a store: opened from it); None elsewhere.
    """
    from .summaries import check_summary
    rank = 0 if comm is None else comm.Get_rank()
    size = 1 if comm is None else comm.Get_size()
    if not _whole(replicates) or replicates < 1:
        raise ConfigError(f"replicates = {replicates!r}: must be a whole number >= 1")
    if tables not in TABLES:
        raise ConfigError(f"tables = {tables!r}: must be one of {', '.join(TABLES)}")
    if summary is not None:
        check_summary(summary)
    if tables == "keep" and (store is None or summary is not None):
        raise ConfigError("tables = 'keep': the tables are kept per run in a store's groups; "
                          "give a store (and no summary)")
    arrays, n = _check_design(design, scenario, base)
    units = [(s, r) for s in range(n) for r in range(replicates)]
    digest = spec_digest(arrays, scenario=scenario, base=base, replicates=replicates, seed=seed,
                         summary=summary, tables=tables)
    done = np.zeros((n, replicates), bool)
    fresh = True           # (with a store) no store yet: rank 0 creates it
    if store is not None:
        store = Path(store)
        found = None
        if rank == 0:
            try:
                found = _open_existing(store, digest, overwrite)
            except Exception as exc:    # every rank raises it: none waits for rank 0
                found = exc
        found = found if comm is None else comm.bcast(found, root=0)
        if isinstance(found, Exception):
            raise found
        if found is not None:
            done, fresh = found, False
    todo = [u for u in units if not done[u]]
    mine = todo[rank::size]
    tick = _progress(progress, rank, len(mine))
    run = dict(arrays=arrays, seed=seed, scenario=scenario, base=base, summary=summary)
    try:
        if store is None:
            out = _run_in_memory(mine, run, comm, tick)
        else:
            out = _run_to_store(mine, run, comm, tick, store, n, replicates, digest,
                                fresh, tables, spec)
    finally:
        tick(None)
    if out is None:
        return None
    if store is not None:
        return xr.open_zarr(store, chunks=None, decode_times=False)
    for key, a in arrays.items():
        out.coords[key] = xr.Variable(("sample",), a, {"long_name": f"parameter {key}"})
    out.attrs = _sweep_attrs(digest, seed, tables, spec)
    return out


def _progress(progress, rank: int, total: int) -> Callable[[int | None], None]:
    """tick(1) after a run, tick(None) at the end."""
    if callable(progress):
        return lambda k: k is not None and progress(k)
    if not progress or rank != 0 or total == 0:
        return lambda k: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeRemainingColumn
    bar = Progress(TextColumn("[bold]paget sweep[/] runs of rank 0"), BarColumn(),
                   MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    task = bar.add_task("sweep", total=total)
    bar.start()

    def tick(k):
        if k is None:
            bar.stop()
        else:
            bar.update(task, advance=k)
    return tick


def _agree(comm, error: BaseException | None) -> None:
    """Every rank raises if any rank failed (the first failure, naming its rank)."""
    if comm is None:
        if error is not None:
            raise error
        return
    errors = comm.allgather(None if error is None else (type(error), str(error)))
    for r, e in enumerate(errors):
        if e is not None:
            if error is not None:
                raise error
            from ..errors import PagetError
            raise PagetError(f"rank {r} failed: {e[0].__name__}: {e[1]}")


def _run_in_memory(mine, run, comm, tick) -> xr.Dataset | None:
    blocks, error = [], None
    try:
        for s, r in mine:
            ds = _run_unit(s=s, r=r, **run)
            if run["summary"] is None:
                ds, _ = _split(ds)
            blocks.append(_unit_block(ds, s, r))
            tick(1)
    except Exception as exc:
        error = exc
    _agree(comm, error)
    if comm is not None:
        from mpi4py.util import pkl5
        gathered = pkl5.Intracomm(comm).gather(blocks, root=0)
        if comm.Get_rank() != 0:
            return None
        blocks = [b for part in gathered for b in part]
    return _assemble(blocks, run)


def _assemble(blocks: list[xr.Dataset], run) -> xr.Dataset:
    """One Dataset of the runs' blocks (sample x replicate), seeds as a coordinate."""
    first = blocks[0]
    where = [(int(b.variables["sample"].values[0]), int(b.variables["replicate"].values[0]))
             for b in blocks]
    n, reps = 1 + max(s for s, _ in where), 1 + max(r for _, r in where)
    data = {}
    for name, v in first.data_vars.items():
        values = np.empty((n, reps) + v.shape[2:], v.dtype)
        for (s, r), b in zip(where, blocks):
            values[s, r] = b.variables[name].values[0, 0]
        data[name] = xr.Variable(v.dims, values, v.attrs, v.encoding)
    coords = {name: c.variable for name, c in first.coords.items()
              if name not in ("sample", "replicate")}
    coords["sample"] = xr.Variable(("sample",), np.arange(n, dtype=np.int64))
    coords["replicate"] = xr.Variable(("replicate",), np.arange(reps, dtype=np.int64))
    coords["seed"] = xr.Variable(
        ("sample", "replicate"),
        np.array([[unit_seed(run["seed"], s, r) for r in range(reps)] for s in range(n)],
                 np.int64),
        {"long_name": "seed of the run (from the root seed and the (sample, replicate) "
                      "index)"})
    return xr.Dataset(data, coords=coords)


# ---------------------------------------------------------------------- store
def _read_attrs(store: Path) -> dict | None:
    """The root attributes of a Zarr (format 2) store, or None."""
    try:
        return json.loads((store / ".zattrs").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _open_existing(store: Path, digest: str, overwrite: bool) -> np.ndarray | None:
    """The done mask of the sweep in ``store`` (None: nothing there, or replaced)."""
    from ..files import check_output, refusal, replaceable
    if not os.path.lexists(store):
        check_output(store, overwrite=False)
        return None
    what = replaceable(store)
    if what is not None:
        raise PathError(refusal("-o", store, what))
    attrs = _read_attrs(store) or {}
    theirs = attrs.get(DIGEST_ATTR)
    if theirs == digest and not overwrite:
        import zarr
        # a writer killed mid-chunk leaves its temporary file (zarr's LocalStore
        # writes '<key>.<uuid>.partial', then renames it over the key): never
        # read, the chunk itself is old or new whole, so it is only litter
        for tmp in store.rglob("*.partial"):
            tmp.unlink()
        return np.asarray(zarr.open_group(store, mode="r", zarr_format=2,
                                          use_consolidated=False)["done"][:], bool)
    if not overwrite:
        if theirs is None:
            raise PathError(f"-o {str(store)!r}: is a paget store but not a sweep; pass "
                            f"--overwrite to replace it, or choose another name")
        raise PathError(f"-o {str(store)!r}: holds a sweep of another spec (spec digest "
                        f"{theirs[:12]}, this spec's {digest[:12]}); pass --overwrite to "
                        f"replace it, or choose another name")
    shutil.rmtree(store)
    return None


def _sweep_attrs(digest: str, seed: int, tables: str, spec) -> dict[str, Any]:
    """The attributes of a sweep's dataset (and store): none records when or where
    it ran, so that a store is the same on any number of ranks and after a resume."""
    from ..simulation import _version
    return {"title": "paget simulation", "Conventions": "CF-1.10",
            "paget_version": _version(), "source": "paget sweep", DIGEST_ATTR: digest,
            "root_seed": int(seed), "tables": tables,
            "spec_json": json.dumps(spec or {}, sort_keys=True, default=str)}


def _create_store(store: Path, template: xr.Dataset, n: int, reps: int, digest: str,
                  arrays, seed: int, spec, tables: str) -> None:
    """Write the store's schema (every variable, no data) from one run's block,
    under a temporary name renamed to ``store`` once complete."""
    import zarr

    from ..files import umask_mode
    tmp = tempfile.mkdtemp(prefix=f".{store.name}.", suffix=".tmp", dir=store.parent)
    try:
        os.chmod(tmp, umask_mode(0o777))
        empty = template.isel(sample=slice(0, 0))
        empty.attrs = _sweep_attrs(digest, seed, tables, spec)
        encoding = {name: {"chunks": (1, 1) + tuple(max(1, x) for x in v.shape[2:])}
                    for name, v in empty.data_vars.items()}
        empty.to_zarr(tmp, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
        group = zarr.open_group(tmp, mode="r+", zarr_format=2, use_consolidated=False)
        for _, array in group.arrays():
            dims = array.attrs["_ARRAY_DIMENSIONS"]
            if dims[:2] == ["sample", "replicate"]:
                array.resize((n, reps) + tuple(array.shape[2:]))
        group["sample"].resize((n,))
        group["replicate"].resize((reps,))
        group["sample"][:] = np.arange(n, dtype=np.int64)
        group["replicate"][:] = np.arange(reps, dtype=np.int64)
        coords = {k: xr.Variable(("sample",), a, {"long_name": f"parameter {k}"})
                  for k, a in arrays.items()}
        coords["seed"] = xr.Variable(
            ("sample", "replicate"),
            np.array([[unit_seed(seed, s, r) for r in range(reps)] for s in range(n)],
                     np.int64),
            {"long_name": "seed of the run (from the root seed and the (sample, replicate) "
                          "index)"})
        coords["done"] = xr.Variable(("sample", "replicate"), np.zeros((n, reps), bool),
                                     {"long_name": "the run is written"})
        extra = xr.Dataset(coords, attrs=empty.attrs)   # (appending rewrites the attributes)
        extra.to_zarr(tmp, mode="a", zarr_format=2, consolidated=False,
                      encoding={"done": {"chunks": (1, 1)}})
        # the parameters and seeds are coordinates of the data variables
        for name, array in group.arrays():
            dims = array.attrs["_ARRAY_DIMENSIONS"]
            if dims[:1] == ["sample"] and name not in coords and name != "sample":
                array.attrs["coordinates"] = " ".join(list(arrays) + ["seed"])
        zarr.consolidate_metadata(tmp, zarr_format=2)
        os.rename(tmp, store)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_unit(store: Path, block: xr.Dataset, tables_ds: xr.Dataset | None,
                s: int, r: int) -> None:
    """Write one run's region (then its tables' group), then mark it done."""
    import zarr
    part = block.drop_vars([c for c in block.coords if c not in ("sample", "replicate")] +
                           ["sample", "replicate"])
    part.to_zarr(store, region={"sample": slice(s, s + 1), "replicate": slice(r, r + 1)},
                 mode="r+", zarr_format=2, consolidated=False)
    if tables_ds is not None:
        tables_ds = tables_ds.copy()
        tables_ds.attrs = {}
        tables_ds.to_zarr(store, group=f"tables/sample-{s}/replicate-{r}", mode="w",
                          zarr_format=2, consolidated=False)
    group = zarr.open_group(store, mode="r+", zarr_format=2, use_consolidated=False)
    group["done"][s, r] = True


def open_tables(store: str | os.PathLike, sample: int, replicate: int = 0) -> xr.Dataset:
    """The lesion and clone tables of run (sample, replicate) of a sweep written
    with ``tables = "keep"``."""
    return xr.open_zarr(store, group=f"tables/sample-{int(sample)}/replicate-{int(replicate)}",
                        chunks=None, consolidated=False, decode_times=False)


def _run_to_store(mine, run, comm, tick, store: Path, n: int, reps: int, digest: str,
                  fresh: bool, tables: str, spec) -> xr.Dataset | None:
    """Run this rank's runs into ``store``; ``fresh`` (the same on every rank): the
    store is still to be made."""
    import zarr
    rank = 0 if comm is None else comm.Get_rank()
    error: BaseException | None = None
    first: tuple[xr.Dataset, xr.Dataset | None] | None = None
    if fresh:
        # the schema comes from a run's block: rank 0 makes it from its first run
        # (unit (0, 0): every run is still to do); the others wait after theirs
        try:
            if mine:
                first = _block_of(mine[0], run)
            if rank == 0:
                if first is None:
                    first = _block_of((0, 0), run)
                _create_store(store, first[0], n, reps, digest, run["arrays"], run["seed"],
                              spec, tables)
        except Exception as exc:
            error = exc
        _agree(comm, error)
    try:
        for k, unit in enumerate(mine):
            block, tab = first if (k == 0 and first is not None) else _block_of(unit, run)
            _write_unit(store, block, tab if tables == "keep" else None, *unit)
            tick(1)
    except Exception as exc:
        error = exc
    _agree(comm, error)
    if rank == 0:
        zarr.consolidate_metadata(store, zarr_format=2)
    if comm is not None:
        comm.Barrier()
    return xr.Dataset() if rank == 0 else None


def _block_of(unit, run) -> tuple[xr.Dataset, xr.Dataset | None]:
    s, r = unit
    ds = _run_unit(s=s, r=r, **run)
    tab = None
    if run["summary"] is None:
        ds, tab = _split(ds)
    return _unit_block(ds, s, r), tab


# ------------------------------------------------------------------------ CLI
def read_sweep_spec(path: str | os.PathLike) -> dict[str, Any]:
    """A sweep spec: the common keys (:func:`paget.explore.parameters.read_spec`),
    ``[design]``, ``replicates`` (default 1), ``summary`` (a name or a list of
    names; default: every per-patient variable) and ``tables`` (``"drop"``,
    the default, or ``"keep"``), all checked, with ``design`` drawn into
    ``spec["values"]``."""
    from .parameters import read_spec
    from .summaries import check_summary
    spec = read_spec(path, keys=SWEEP_KEYS, command="sweep")
    name = str(path)
    try:
        reps = spec.setdefault("replicates", 1)
        if not _whole(reps) or reps < 1:
            raise ConfigError(f"replicates = {reps!r}: must be a whole number >= 1")
        tables = spec.setdefault("tables", "drop")
        if tables not in TABLES:
            raise ConfigError(f"tables = {tables!r}: must be one of {', '.join(TABLES)}")
        summary = spec.get("summary")
        if summary is not None:
            if not (isinstance(summary, str) or (isinstance(summary, list) and all(
                    isinstance(s, str) for s in summary))):
                raise ConfigError(f"summary = {summary!r}: must be a summary name or a list "
                                  f"of names")
            check_summary(summary)
            if tables == "keep":
                raise ConfigError("tables = 'keep': a sweep of summaries has no tables; "
                                  "leave tables out, or summary")
        if "design" not in spec:
            raise ConfigError("design: required table is missing ([design] kind = \"lhs\", "
                              "samples = 8)")
        spec["values"] = make_design(spec)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return spec


def add_arguments(parser) -> None:
    """The arguments of ``paget sweep``."""
    from pathlib import Path as _Path
    parser.add_argument("spec", type=_Path, metavar="SPEC.toml",
                        help="the sweep's spec: scenario, seed, [base], [parameters.\"key\"] "
                             "ranges, [design] (kind = grid, lhs or sobol), replicates")
    parser.add_argument("-o", "--output", type=_Path, required=True, metavar="OUT.zarr",
                        help="the Zarr store to write (each MPI rank writes its runs); run "
                             "the same command again to resume a killed sweep")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a store of another spec (only a .zarr store paget wrote)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def command(args, comm) -> int:
    """``paget sweep SPEC.toml -o OUT.zarr``: run the spec's design into the store."""
    from rich.console import Console
    rank = 0 if comm is None else comm.Get_rank()
    error, spec = None, None
    try:
        if args.output.suffix != ".zarr":
            raise PathError(f"-o {str(args.output)!r}: a sweep writes a Zarr store: the name "
                            f"must end in .zarr")
        spec = read_sweep_spec(args.spec)
    except ConfigError as exc:
        error = exc
    if comm is not None:     # every rank read the spec: agree before any run
        errors = comm.allgather(error)
        error = next((e for e in errors if e is not None), None)
    if error is not None:
        raise error
    values = spec["values"]
    n, reps = len(next(iter(values.values()))), spec["replicates"]
    kept = {k: v for k, v in spec.items() if k != "values"}
    run_design(values, scenario=spec["scenario"], base=spec["base"], replicates=reps,
               seed=spec["seed"], summary=spec.get("summary"), store=args.output, comm=comm,
               progress=not args.no_progress, tables=spec["tables"],
               overwrite=args.overwrite, spec=kept)
    if rank == 0:
        size = 1 if comm is None else comm.Get_size()
        Console(stderr=False).print(
            f"wrote {args.output}: {plural(n, 'sample')} x {plural(reps, 'replicate')}"
            + (f" on {size} ranks" if size > 1 else ""))
    return 0
