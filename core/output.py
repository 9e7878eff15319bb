"""The output schema and the assembly of the xarray Dataset.

Every variable is declared once here with its dimensions, units and meaning;
the Dataset, its attributes and the output reference in the docs all derive
from :data:`VARIABLES`.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

__all__ = ["Variable", "VARIABLES", "COORDS", "build_dataset", "combine_arms", "write_dataset",
           "output_format", "open_dataset", "TIME_UNITS"]


@dataclass(frozen=True)
class Variable:
    """One variable of the output: its dimensions, CF attributes and dtype.

    ``units`` is a UDUNITS unit ("1" for a number, a count or a fraction; ""
    for strings, which have none); ``comment`` and ``attrs`` (e.g. CF's
    ``standard_name``, ``axis``, ``flag_values`` and ``flag_meanings``) are
    written as the variable's attributes too.
    """

    dims: tuple[str, ...]
    units: str
    long_name: str
    dtype: str
    comment: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def cf_attrs(self) -> dict[str, Any]:
        """The attributes written to the output."""
        out: dict[str, Any] = {"units": self.units} if self.units else {}
        out["long_name"] = self.long_name
        if self.comment:
            out["comment"] = self.comment
        out.update(self.attrs)
        return out


#: Units of the time coordinate.  2000-01-01 is a nominal reference standing
#: for the start of the run (:data:`TIME_COMMENT`); the values stay float days.
TIME_UNITS = "days since 2000-01-01 00:00:00"
TIME_COMMENT = (
    "Days since the start of the run (time 0, when every patient's primary tumour is "
    "seeded). The reference date 2000-01-01 in the units is nominal, a CF requirement "
    "for a time coordinate, not a calendar date of the patients. paget keeps the values "
    "as float days: read files with paget.open_dataset(path), or "
    "xarray.open_dataset(path, decode_times=False); xarray's default decoding turns "
    "them into dates counted from 2000-01-01.")

COORDS = {
    "patient": Variable(("patient",), "1", "index of the virtual patient in the cohort", "int64"),
    "time": Variable(("time",), TIME_UNITS, "time since the start of the run", "float64",
                     comment=TIME_COMMENT,
                     attrs={"standard_name": "time", "axis": "T",
                            "calendar": "proleptic_gregorian"}),
    "organ": Variable(("organ",), "", "organ (compartment) of the body", "str"),
    "lesion": Variable(("lesion",), "1", "row of the final lesion table", "int64"),
    "clone": Variable(("clone",), "1", "row of the clone table", "int64"),
    "seeding_edge": Variable(("seeding_edge",), "1", "founding event of the seeding log",
                             "int64"),
}

_PTO = ("patient", "time", "organ")
_FLUX = "summed over the steps since the previous recorded time"
_SINCE = "days since the start of the run"
_EDGE = ("seeding_edge",)
VARIABLES: dict[str, Variable] = {
    # state at each recorded time
    "tumor_cells": Variable(_PTO, "1", "number of tumour cells in growing lesions", "float64"),
    "dormant_cells": Variable(_PTO, "1", "number of solitary dormant disseminated cells",
                              "float64"),
    "lesions": Variable(_PTO, "1", "number of growing lesions with at least one cell", "int64"),
    "alive": Variable(("patient", "time"), "1", "patient alive at this time", "bool"),
    # flux counters
    "ctc_shed": Variable(_PTO, "1", f"number of CTCs shed by lesions of this organ, {_FLUX}",
                         "int64"),
    "ctc_arrested": Variable(_PTO, "1", f"number of CTCs arrested in this organ's "
                             f"capillaries, {_FLUX}", "int64"),
    "ctc_died": Variable(("patient", "time"), "1", f"number of CTCs that died in "
                         f"circulation, {_FLUX}", "int64"),
    "dtc_extravasated": Variable(_PTO, "1", f"number of arrested CTCs that extravasated, "
                                 f"{_FLUX}", "int64"),
    "dtc_died": Variable(_PTO, "1", f"number of extravasated cells that died, {_FLUX}", "int64"),
    "dtc_dormant": Variable(_PTO, "1", f"number of extravasated cells that became dormant, "
                            f"{_FLUX}", "int64"),
    "colonies_founded": Variable(_PTO, "1", f"number of lesions founded by extravasated cells, "
                                 f"{_FLUX}", "int64"),
    "dtc_reactivated": Variable(_PTO, "1", f"number of lesions founded by reactivated dormant "
                                f"cells, {_FLUX}", "int64"),
    "dormant_died": Variable(_PTO, "1", f"number of dormant cells that died, {_FLUX}", "int64"),
    "cells_removed": Variable(_PTO, "1", f"number of cells removed from the body (resection, "
                              f"biopsy; paget_removal), {_FLUX}", "int64"),
    # event times
    "first_seeding_time": Variable(("patient",), "days", f"first time a disseminated cell "
                                   f"survived extravasation, {_SINCE} (NaN: never)", "float64"),
    "death_time": Variable(("patient",), "days", f"time the total burden reached "
                           f"outcome.lethal_cells, {_SINCE} (NaN: alive at the end)", "float64"),
    # the final lesion table
    "lesion_uid": Variable(("lesion",), "1", "identity of the row (one clone in one lesion), derived from what founded it", "uint64"),
    "lesion_id": Variable(("lesion",), "1", "identity of the lesion the row belongs to (rows of one lesion are its clones)", "uint64"),
    "lesion_parent": Variable(("lesion",), "1", "uid of the row whose cell founded this row (0: the primary)", "uint64"),
    "lesion_genotype": Variable(("lesion",), "1", "driver alterations of the row's clone, one bit each", "uint64"),
    "lesion_patient": Variable(("lesion",), "1", "patient of the lesion", "int64"),
    "lesion_organ": Variable(("lesion",), "", "organ of the lesion", "str"),
    "lesion_birth_time": Variable(("lesion",), "days", f"time the lesion was founded, {_SINCE}",
                                  "float64"),
    "lesion_clone": Variable(("lesion",), "1", "clone of the row (for a metastasis: the clone that seeded it)", "uint64"),
    "lesion_cells": Variable(("lesion",), "1", "number of cells at the end of the run (or at the "
                             "patient's death)", "float64"),
    "lesion_dormant": Variable(("lesion",), "1", "the row is a pool of solitary dormant cells", "bool"),
    # the clone phylogeny
    "clone_id": Variable(("clone",), "1", "clone identity (uid of the row that founded it)", "uint64"),
    "clone_parent": Variable(("clone",), "1", "clone it arose from by mutation (0: the founding clone of a primary)", "uint64"),
    "clone_patient": Variable(("clone",), "1", "patient of the clone", "int64"),
    "clone_birth_time": Variable(("clone",), "days", f"time the clone arose, {_SINCE}",
                                 "float64"),
    "clone_genotype": Variable(("clone",), "1", "driver alterations of the clone, one bit each", "uint64"),
    "clone_lesion": Variable(("clone",), "1", "lesion in which the clone arose", "uint64"),
    "clone_organ": Variable(("clone",), "", "organ in which the clone arose", "str"),
    # the seeding log: one edge per lesion founded by a disseminated or reactivated cell
    "seeding_patient": Variable(_EDGE, "1", "patient of the founding event", "int64"),
    "seeding_time": Variable(_EDGE, "days", f"time the lesion was founded, {_SINCE} (its "
                             f"lesion_birth_time)", "float64"),
    "seeding_kind": Variable(_EDGE, "1", "what founded the lesion", "int8",
                             comment="founded: a disseminated cell that extravasated and grew "
                                     "(counted in colonies_founded); reactivated: a dormant "
                                     "cell that left its pool and grew (counted in "
                                     "dtc_reactivated)",
                             attrs={"flag_values": np.array([0, 1], np.int8),
                                    "flag_meanings": "founded reactivated"}),
    "seeding_source_lesion": Variable(_EDGE, "1", "lesion_id of the lesion that shed the "
                                      "founding cell (for a reactivated cell: the lesion that "
                                      "shed it into its dormant pool)", "uint64"),
    "seeding_source_organ": Variable(_EDGE, "", "organ of the source lesion", "str"),
    "seeding_source_clone": Variable(_EDGE, "1", "clone of the founding cell (a clone_id)",
                                     "uint64"),
    "seeding_target_lesion": Variable(_EDGE, "1", "lesion_id (and lesion_uid of the founding "
                                      "row) of the lesion founded; it may have died since",
                                      "uint64"),
    "seeding_target_organ": Variable(_EDGE, "", "organ of the lesion founded", "str"),
    "seeding_cells": Variable(_EDGE, "1", "number of founding cells (1: each disseminated or "
                              "reactivated cell founds its own lesion)", "int64"),
    # from the seeding log, by paget.migration.add_migration (not the engine)
    "migration_pattern": Variable(("patient",), "", "migration pattern of the patient's "
                                  "metastases (MACHINA's classes)", "str",
                                  comment="one of mPS, pPS, mS, pS, mM, pM, mR, pR (m/p: "
                                          "monoclonal/polyclonal; PS: primary single-source, "
                                          "S: single-source, M: multi-source, R: reseeding; "
                                          "El-Kebir et al. 2018, Nat Genet 50:1217, decided as "
                                          "Metient decides them, Koyyalagunta et al. 2025, Nat "
                                          "Cancer), or none (no growing metastasis at the end); "
                                          "see paget.migration"),
    "site_seeding_clones": Variable(("patient", "organ"), "1", "number of distinct clones that "
                                    "seeded the organ's present lesions from other organs (0: "
                                    "not seeded, 1: monoclonal, more: polyclonal)", "int64"),
}
#: variables computed from the others once the Dataset is built (build_dataset skips them)
DERIVED_VARIABLES = ("migration_pattern", "site_seeding_clones")
#: the variables of the seeding log (``[output] seeding_graph``)
SEEDING_VARIABLES = tuple(k for k in VARIABLES if k.startswith("seeding_"))

#: the dimensions of the tables, whose rows are not patients
TABLE_DIMS = ("lesion", "clone", "seeding_edge")

FLUX_VARIABLES = ("ctc_shed", "ctc_arrested", "dtc_extravasated", "dtc_died", "dtc_dormant",
                  "colonies_founded", "dtc_reactivated", "dormant_died", "cells_removed")
STATE_VARIABLES = ("tumor_cells", "dormant_cells", "lesions")


def plugin_variables(variables) -> dict[str, tuple[str, Variable]]:
    """Output name -> (key in the engine's results, Variable) of plugin state."""
    out = {}
    for v in variables:
        if not v.output:
            continue
        if v.level == "lesion":
            out[f"lesion_{v.name}"] = (f"lesion.{v.name}",
                                       Variable(("lesion",), v.units, v.long_name, v.dtype))
        else:
            dims = ("patient", "time") if v.level == "patient" else _PTO
            if not v.over_time:
                dims = tuple(d for d in dims if d != "time")
            out[v.name] = (f"state.{v.name}", Variable(dims, v.units, v.long_name, v.dtype))
    return out


def build_dataset(parts: Mapping[str, np.ndarray], *, times: np.ndarray, organs: tuple[str, ...],
                  n_patients: int, attrs: Mapping[str, Any], variables=(),
                  first_patient: int = 0,
                  var_attrs: Mapping[str, Mapping[str, Any]] | None = None) -> xr.Dataset:
    """Assemble the Dataset from per-variable arrays (in patient order).

    The arrays hold patients ``first_patient`` to ``first_patient +
    n_patients - 1``: the whole cohort, or one rank's block of it (for a
    ``.zarr`` output, which each rank writes itself).  ``variables`` are the
    plugins' StateVariables; those marked for output become variables too.
    ``var_attrs``: more attributes of some variables (variable name ->
    attributes), e.g. the CF flags the plugins declare
    (``paget_output_attrs``).  The ``lesion`` and ``clone`` coordinates number
    the rows of this block from 0 (a ``.zarr`` store numbers the whole table).
    """
    data_vars = {}
    extra = plugin_variables(variables)
    clash = set(extra) & set(VARIABLES)
    if clash:
        raise ValueError(f"plugin state variables clash with output variables: {sorted(clash)}")
    var_attrs = var_attrs or {}
    for name, (key, var) in [(n, (n, v)) for n, v in VARIABLES.items()
                             if n not in DERIVED_VARIABLES] + list(extra.items()):
        values = np.asarray(parts[key])
        if name in ("lesion_organ", "clone_organ", "seeding_source_organ",
                    "seeding_target_organ"):
            # as wide as the longest organ name, whichever organs occur: the
            # blocks of a .zarr output written by different ranks then agree
            values = np.asarray(organs, dtype=str)[values.astype(np.int64)]
        elif values.dtype != np.dtype(var.dtype) and var.dtype != "str":
            values = values.astype(var.dtype)
        more = {k: _attr_value(v) for k, v in var_attrs.get(name, {}).items()}
        data_vars[name] = xr.Variable(var.dims, values, attrs={**var.cf_attrs(), **more})
    sizes = {dim: size for v in data_vars.values() for dim, size in zip(v.dims, v.shape)}
    coords = {
        "patient": np.arange(first_patient, first_patient + n_patients, dtype=np.int64),
        "time": np.asarray(times, dtype=np.float64),
        "organ": np.asarray(organs, dtype=str),
    }
    # the tables' rows numbered from 0 (an empty table too); every coordinate
    # with its attributes, in one construction (each one added afterwards was
    # a merge of the whole Dataset)
    coords.update({dim: np.arange(sizes.get(dim, 0), dtype=np.int64) for dim in TABLE_DIMS})
    coords = {name: (name, values, COORDS[name].cf_attrs()) for name, values in coords.items()}
    return xr.Dataset(data_vars, coords=coords, attrs=dict(attrs))


def _attr_value(value: Any) -> Any:
    """An attribute as a file returns it: a one-element array as its scalar."""
    if isinstance(value, (np.ndarray, list, tuple)) and np.size(value) == 1:
        return np.asarray(value).reshape(-1)[0]
    return value


def combine_arms(datasets: list[xr.Dataset], names: list[str]) -> xr.Dataset:
    """One Dataset from the arms of a trial (same patients, times and organs).

    Variables over patients gain a leading ``arm`` dimension; the lesion and
    clone tables, whose lengths differ between arms, are concatenated along
    ``lesion`` / ``clone`` with ``lesion_arm`` / ``clone_arm`` naming each
    row's arm.
    """
    tables = {dim: f"{dim.split('_')[0]}_arm" for dim in TABLE_DIMS}
    per_arm, table_vars = [], {dim: [] for dim in tables}
    for ds, name in zip(datasets, names):
        keep = [v for v in ds.data_vars if not set(ds[v].dims) & set(tables)]
        per_arm.append(ds[keep])
        for dim, arm_var in tables.items():
            part = ds[[v for v in ds.data_vars if dim in ds[v].dims]]
            part[arm_var] = xr.Variable((dim,), np.array([name] * ds.sizes.get(dim, 0), dtype=str),
                                        attrs={"long_name": f"trial arm of the {dim} row"})
            table_vars[dim].append(part)
    out = xr.concat(per_arm, dim=xr.DataArray(np.asarray(names, dtype=str), dims="arm",
                                              name="arm"),
                    data_vars="all", coords="minimal", compat="equals", join="exact",
                    combine_attrs="override")
    out["arm"].attrs.update(long_name="trial arm")
    for dim in tables:
        cat = xr.concat(table_vars[dim], dim=dim, data_vars="all", combine_attrs="override")
        for v in cat.data_vars:
            out[v] = cat[v].variable
        out.coords[dim] = (dim, np.arange(out.sizes.get(dim, 0), dtype=np.int64),
                           COORDS[dim].cf_attrs())
    # a variable's attributes (e.g. the genotype's flag meanings, from each arm's
    # configuration) are kept where every arm agrees on them
    for name, var in out.variables.items():
        if name == "arm":
            continue
        differ = sorted(k for k in var.attrs if any(
            name in ds.variables and not _same(ds[name].attrs.get(k), var.attrs[k])
            for ds in datasets))
        for k in differ:
            del var.attrs[k]
        if differ:
            var.attrs["comment"] = (f"the arms' {', '.join(differ)} differ: see each arm's "
                                    f"configuration in the config_json attribute")
    return out


def _same(a: Any, b: Any) -> bool:
    """Two attribute values are equal (arrays elementwise)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype.kind == b.dtype.kind and bool(np.all(a == b))


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``ds`` to netCDF (``.nc``) atomically: a temporary file, then a rename.

    A file at ``path`` is never half-written: it appears only when complete
    (and flushed to disk).  If the write fails, nothing is left behind and a
    file already at ``path`` is untouched.  Without ``overwrite`` an existing
    file is never replaced, even one created while this was writing (the
    final step is a hard link, which fails if the name exists).

    The file's directory must exist (it is never created: FileNotFoundError),
    and something already at ``path`` is replaced only if it is a regular file
    (else :class:`paget.errors.PathError`).  The file gets the permissions the
    umask allows (``0o644`` under umask ``022``), as ``open()`` would give it.

    Numeric variables are compressed (gzip level 1 after HDF5's byte shuffle,
    lossless): a 300-patient, 3-year default run's file shrinks from 25.5 MB to
    2.4 MB, for ~0.1 s more to write and to read.
    """
    from .errors import OutputExistsError, PathError
    from .files import refusal, replaceable, umask_mode
    path = Path(path)
    if path.suffix != ".nc":
        raise ValueError(f"output {str(path)!r}: only netCDF (.nc) is written so far")
    if not path.parent.is_dir():   # an OSError: Simulation.write checked it before the run
        raise FileNotFoundError(f"output {str(path)!r}: directory {str(path.parent)!r} does "
                                f"not exist (paget does not create missing directories)")
    what = replaceable(path)
    if what is not None:
        raise PathError(refusal("output", path, what))
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"output {str(path)!r} exists; pass --overwrite to replace it")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, umask_mode(0o666))   # mkstemp makes it 0o600 whatever the umask
        encoding = {name: {"compression": "gzip", "compression_opts": 1, "shuffle": True}
                    for name, v in ds.data_vars.items() if v.dtype.kind in "biuf" and v.size}
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _link_no_clobber(tmp: str, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless that name exists (atomically where possible)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"output {str(path)!r} appeared while writing; "
                              f"pass --overwrite to replace it") from None
    except OSError:  # a filesystem without hard links: check, then rename
        if path.exists():
            raise FileExistsError(f"output {str(path)!r} exists; pass --overwrite to replace it")
        os.replace(tmp, path)


def config_attrs(config_json: Mapping[str, Any], seed: int, version: str,
                 plugins: list[str], *, scenario: str = "",
                 now: datetime | None = None, argv: list[str] | None = None
                 ) -> dict[str, Any]:
    """The Dataset's global attributes (CF and ACDD names where they exist).

    ``scenario``: the built-in scenario's name or the configuration file's path
    (empty: a configuration given in Python).  ``date_created`` (ISO 8601, UTC,
    ``now``: the current time) and ``history`` (``"<date>: <command line>"``,
    CF's convention, ``argv``: ``sys.argv``) are the only attributes that
    differ between two runs of one configuration.
    """
    import shlex
    import sys
    now = datetime.now(timezone.utc) if now is None else now.astimezone(timezone.utc)
    stamp = now.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    argv = list(sys.argv if argv is None else argv) or ["python"]
    command = shlex.join([Path(argv[0]).name, *argv[1:]])
    return {
        "title": "paget simulation",
        "Conventions": "CF-1.10",
        "scenario": scenario or "(a configuration given in Python)",
        "date_created": stamp,
        "history": f"{stamp}: {command}",
        "paget_version": version,
        "seed": np.int64(seed),
        "plugins": ", ".join(plugins),
        "config_json": json.dumps(config_json, sort_keys=True),
    }


#: Global attributes that change from one run of a configuration to the next.
RUN_ATTRS = ("date_created", "history")


def open_dataset(path: str | os.PathLike, **kwargs) -> xr.Dataset:
    """Open a result written by ``paget run -o`` (``.nc`` or ``.zarr``) lazily.

    The ``time`` coordinate keeps its float days since the start of the run
    (``decode_times=False``: the units' reference date is nominal, see the
    coordinate's ``comment``), so the Dataset equals the one
    :meth:`paget.Simulation.run` returned.  ``kwargs`` go to
    :func:`xarray.open_dataset`.
    """
    path = Path(path)
    kwargs.setdefault("decode_times", False)
    if path.suffix == ".zarr":
        kwargs.setdefault("engine", "zarr")
        kwargs.setdefault("chunks", None)
    elif path.suffix == ".nc":
        kwargs.setdefault("engine", "h5netcdf")
    return xr.open_dataset(path, **kwargs)


# --------------------------------------------------------------------------
# Zarr: every rank writes its own block
# --------------------------------------------------------------------------

#: The formats ``-o`` accepts, by file name suffix.
FORMATS = {".nc": "nc", ".zarr": "zarr"}
#: Upper bound of one zarr chunk of a per-patient variable (bytes).
ZARR_CHUNK_BYTES = 64 * 2**20
#: Rows of one zarr chunk of the lesion and clone tables.
ZARR_TABLE_CHUNK = 2**18


def output_format(path: str | os.PathLike) -> str:
    """``"nc"`` or ``"zarr"``, from the name of an output; ValueError for others."""
    kind = FORMATS.get(Path(path).suffix)
    if kind is None:
        raise ValueError(f"output {str(path)!r}: the name must end in .nc (netCDF, gathered "
                         f"on rank 0) or .zarr (each rank writes its own patients)")
    return kind


def zarr_patient_chunk(n_patients: int, n_ranks: int, bytes_per_patient: float) -> int:
    """Patients per zarr chunk: at most :data:`ZARR_CHUNK_BYTES` of the largest
    per-patient variable, and no more than a rank's share, so that the ranks'
    blocks (whole chunks, :func:`patient_blocks`) never share a chunk."""
    by_size = int(ZARR_CHUNK_BYTES // max(1.0, bytes_per_patient))
    return max(1, min(n_patients // max(1, n_ranks), by_size))


def patient_blocks(n_patients: int, n_ranks: int, chunk: int = 1) -> list[tuple[int, int]]:
    """Contiguous patient blocks ``[lo, hi)`` of the ranks, made of whole ``chunk``s.

    With ``chunk = 1`` this is the even split ``P r / n``; results never depend
    on the split (the decomposition invariance), only the work per rank does.
    """
    n_chunks = -(-n_patients // chunk)
    out = []
    for r in range(n_ranks):
        a, b = n_chunks * r // n_ranks, n_chunks * (r + 1) // n_ranks
        out.append((min(a * chunk, n_patients), min(b * chunk, n_patients)))
    return out


def write_zarr_schema(block: xr.Dataset, store: str | os.PathLike, n_patients: int,
                      table_rows: Mapping[str, int], patient_chunk: int) -> None:
    """Write the whole cohort's store shaped like ``block`` (one rank's patients):
    every variable, attribute, encoding and coordinate, and no data, which
    :func:`write_zarr_block` then fills in.

    xarray writes the variables with no patients and no table rows (so its
    encoding of bools, strings and fill values is the one the blocks use), zarr
    then resizes the arrays to the whole cohort (metadata only) and the
    metadata is consolidated once, at the end.  The store is zarr format 2:
    in format 3 (zarr-python 3.1) the fixed-width strings of the organ names
    have no specification yet and consolidated metadata is an extension, and
    zarr-python warns of both.
    """
    import zarr
    sizes = dict(block.sizes)
    sizes["patient"] = n_patients
    sizes.update(table_rows)
    grown = ("patient", *table_rows)

    def chunk(dim: str) -> int:
        if dim == "patient":
            return patient_chunk
        if dim in table_rows:
            return max(1, min(ZARR_TABLE_CHUNK, sizes[dim]))
        return max(1, sizes[dim])

    empty = block.isel({d: slice(0, 0) for d in grown if d in block.dims})
    encoding = {name: {"chunks": tuple(chunk(d) for d in v.dims)}
                for name, v in empty.variables.items() if set(v.dims) & set(grown)}
    empty.to_zarr(store, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
    group = zarr.open_group(store, mode="r+", zarr_format=2, use_consolidated=False)
    for _, array in group.arrays():
        dims = array.attrs["_ARRAY_DIMENSIONS"]
        if set(dims) & set(grown):
            array.resize(tuple(sizes[d] for d in dims))
    group["patient"][:] = np.arange(n_patients, dtype=np.int64)
    for dim in table_rows:      # the tables' row numbers run over the whole store
        if dim in group and sizes[dim]:
            group[dim][:] = np.arange(sizes[dim], dtype=np.int64)
    zarr.consolidate_metadata(store, zarr_format=2)


def write_zarr_block(block: xr.Dataset, store: str | os.PathLike, dim: str, start: int) -> None:
    """Write the variables of ``block`` along ``dim`` into rows ``start..`` of ``store``.

    Along ``patient`` the blocks of the ranks are whole chunks, so ranks write
    at once; the lesion and clone tables' blocks share chunks with their
    neighbours', so ranks write those one after the other (the caller orders
    them).
    """
    names = [v for v in block.data_vars if dim in block[v].dims]
    part = block[names]
    # the schema wrote the tables' row numbers: a block numbers its own rows from 0
    part = part.drop_vars([c for c in part.coords if dim not in part[c].dims
                           or c in TABLE_DIMS])
    n = part.sizes.get(dim, 0)
    if names and n:
        part.to_zarr(store, region={dim: slice(start, start + n)}, mode="r+", zarr_format=2,
                     safe_chunks=dim == "patient")


def publish(tmp: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Give the complete output ``tmp`` (a file or a directory) the name ``path``.

    Without ``overwrite`` an existing ``path`` is never replaced; with it, the
    old output is renamed aside first and removed only once the new one is in
    place.  Only a regular file or a Zarr store paget wrote is ever replaced
    (:func:`paget.files.replaceable`): anything else at ``path`` raises
    :class:`paget.errors.PathError` and is left as it is.
    """
    import shutil

    from .errors import OutputExistsError, PathError
    from .files import refusal, replaceable
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        os.rename(tmp, path)
        return path
    what = replaceable(path)
    if what is not None:
        raise PathError(refusal("output", path, what))
    if not overwrite:
        raise OutputExistsError(f"output {str(path)!r} exists; pass --overwrite to replace it")
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    old = aside / path.name
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)        # put the old output back
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return path
