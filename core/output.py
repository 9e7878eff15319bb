"""The output schema and the assembly of the xarray Dataset.

Every variable is declared once here with its dimensions, units and meaning;
the Dataset, its attributes and the output reference in the docs all derive
from :data:`VARIABLES`.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

__all__ = ["Variable", "VARIABLES", "COORDS", "build_dataset", "combine_arms", "write_dataset",
           "output_format"]


@dataclass(frozen=True)
class Variable:
    dims: tuple[str, ...]
    units: str
    long_name: str
    dtype: str


COORDS = {
    "patient": Variable(("patient",), "1", "index of the virtual patient in the cohort", "int64"),
    "time": Variable(("time",), "days", "time since the start of the run", "float64"),
    "organ": Variable(("organ",), "1", "organ (compartment) of the body", "str"),
    "lesion": Variable(("lesion",), "1", "row of the final lesion table", "int64"),
    "clone": Variable(("clone",), "1", "row of the clone table", "int64"),
}

_PTO = ("patient", "time", "organ")
_FLUX = "summed over the steps since the previous recorded time"
VARIABLES: dict[str, Variable] = {
    # state at each recorded time
    "tumor_cells": Variable(_PTO, "cells", "tumour cells in growing lesions", "float64"),
    "dormant_cells": Variable(_PTO, "cells", "solitary dormant disseminated cells", "float64"),
    "lesions": Variable(_PTO, "1", "growing lesions with at least one cell", "int64"),
    "detectable_lesions": Variable(_PTO, "1", "lesions at or above outcome.detectable_cells", "int64"),
    "alive": Variable(("patient", "time"), "1", "patient alive at this time", "bool"),
    # flux counters
    "ctc_shed": Variable(_PTO, "cells", f"CTCs shed by lesions of this organ, {_FLUX}", "int64"),
    "ctc_arrested": Variable(_PTO, "cells", f"CTCs arrested in this organ's capillaries, {_FLUX}", "int64"),
    "ctc_died": Variable(("patient", "time"), "cells", f"CTCs that died in circulation, {_FLUX}", "int64"),
    "dtc_extravasated": Variable(_PTO, "cells", f"arrested CTCs that extravasated, {_FLUX}", "int64"),
    "dtc_died": Variable(_PTO, "cells", f"extravasated cells that died, {_FLUX}", "int64"),
    "dtc_dormant": Variable(_PTO, "cells", f"extravasated cells that became dormant, {_FLUX}", "int64"),
    "colonies_founded": Variable(_PTO, "1", f"lesions founded by extravasated cells, {_FLUX}", "int64"),
    "dtc_reactivated": Variable(_PTO, "1", f"lesions founded by reactivated dormant cells, {_FLUX}", "int64"),
    "dormant_died": Variable(_PTO, "cells", f"dormant cells that died, {_FLUX}", "int64"),
    "cells_removed": Variable(_PTO, "cells", f"cells removed from the body (resection, biopsy; paget_removal), {_FLUX}", "int64"),
    # event times
    "first_seeding_time": Variable(("patient",), "days", "first time a disseminated cell survived extravasation (NaN: never)", "float64"),
    "first_detectable_metastasis_time": Variable(("patient",), "days", "first time a metastasis reached outcome.detectable_cells (NaN: never)", "float64"),
    "death_time": Variable(("patient",), "days", "time the total burden reached outcome.lethal_cells (NaN: alive at the end)", "float64"),
    # the final lesion table
    "lesion_uid": Variable(("lesion",), "1", "identity of the row (one clone in one lesion), derived from what founded it", "uint64"),
    "lesion_id": Variable(("lesion",), "1", "identity of the lesion the row belongs to (rows of one lesion are its clones)", "uint64"),
    "lesion_parent": Variable(("lesion",), "1", "uid of the row whose cell founded this row (0: the primary)", "uint64"),
    "lesion_genotype": Variable(("lesion",), "1", "driver alterations of the row's clone, one bit each", "uint64"),
    "lesion_patient": Variable(("lesion",), "1", "patient of the lesion", "int64"),
    "lesion_organ": Variable(("lesion",), "1", "organ of the lesion", "str"),
    "lesion_birth_time": Variable(("lesion",), "days", "time the lesion was founded", "float64"),
    "lesion_clone": Variable(("lesion",), "1", "clone of the row (for a metastasis: the clone that seeded it)", "uint64"),
    "lesion_cells": Variable(("lesion",), "cells", "cells at the end of the run (or at the patient's death)", "float64"),
    "lesion_dormant": Variable(("lesion",), "1", "the row is a pool of solitary dormant cells", "bool"),
    # the clone phylogeny
    "clone_id": Variable(("clone",), "1", "clone identity (uid of the row that founded it)", "uint64"),
    "clone_parent": Variable(("clone",), "1", "clone it arose from by mutation (0: the founding clone of a primary)", "uint64"),
    "clone_patient": Variable(("clone",), "1", "patient of the clone", "int64"),
    "clone_birth_time": Variable(("clone",), "days", "time the clone arose", "float64"),
    "clone_genotype": Variable(("clone",), "1", "driver alterations of the clone, one bit each", "uint64"),
    "clone_lesion": Variable(("clone",), "1", "lesion in which the clone arose", "uint64"),
    "clone_organ": Variable(("clone",), "1", "organ in which the clone arose", "str"),
}

FLUX_VARIABLES = ("ctc_shed", "ctc_arrested", "dtc_extravasated", "dtc_died", "dtc_dormant",
                  "colonies_founded", "dtc_reactivated", "dormant_died", "cells_removed")
STATE_VARIABLES = ("tumor_cells", "dormant_cells", "lesions", "detectable_lesions")


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
                  first_patient: int = 0) -> xr.Dataset:
    """Assemble the Dataset from per-variable arrays (in patient order).

    The arrays hold patients ``first_patient`` to ``first_patient +
    n_patients - 1``: the whole cohort, or one rank's block of it (for a
    ``.zarr`` output, which each rank writes itself).  ``variables`` are the
    plugins' StateVariables; those marked for output become variables too.
    """
    data_vars = {}
    extra = plugin_variables(variables)
    clash = set(extra) & set(VARIABLES)
    if clash:
        raise ValueError(f"plugin state variables clash with output variables: {sorted(clash)}")
    for name, (key, var) in [(n, (n, v)) for n, v in VARIABLES.items()] + list(extra.items()):
        values = np.asarray(parts[key])
        if name in ("lesion_organ", "clone_organ"):
            # as wide as the longest organ name, whichever organs occur: the
            # blocks of a .zarr output written by different ranks then agree
            values = np.asarray(organs, dtype=str)[values.astype(np.int64)]
        elif values.dtype != np.dtype(var.dtype) and var.dtype != "str":
            values = values.astype(var.dtype)
        data_vars[name] = xr.Variable(var.dims, values,
                                      attrs={"units": var.units, "long_name": var.long_name})
    coords = {
        "patient": ("patient", np.arange(first_patient, first_patient + n_patients,
                                         dtype=np.int64)),
        "time": ("time", np.asarray(times, dtype=np.float64)),
        "organ": ("organ", np.asarray(organs, dtype=str)),
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs=dict(attrs))
    for name, var in COORDS.items():
        if name in ds.coords:
            ds[name].attrs.update(units=var.units, long_name=var.long_name)
    return ds


def combine_arms(datasets: list[xr.Dataset], names: list[str]) -> xr.Dataset:
    """One Dataset from the arms of a trial (same patients, times and organs).

    Variables over patients gain a leading ``arm`` dimension; the lesion and
    clone tables, whose lengths differ between arms, are concatenated along
    ``lesion`` / ``clone`` with ``lesion_arm`` / ``clone_arm`` naming each
    row's arm.
    """
    tables = {"lesion": "lesion_arm", "clone": "clone_arm"}
    per_arm, table_vars = [], {dim: [] for dim in tables}
    for ds, name in zip(datasets, names):
        keep = [v for v in ds.data_vars if not set(ds[v].dims) & set(tables)]
        per_arm.append(ds[keep])
        for dim, arm_var in tables.items():
            part = ds[[v for v in ds.data_vars if dim in ds[v].dims]]
            part[arm_var] = xr.Variable((dim,), np.array([name] * ds.sizes.get(dim, 0), dtype=str),
                                        attrs={"units": "1", "long_name": f"trial arm of the {dim} row"})
            table_vars[dim].append(part)
    out = xr.concat(per_arm, dim=xr.DataArray(np.asarray(names, dtype=str), dims="arm",
                                              name="arm"),
                    data_vars="all", coords="minimal", compat="equals", join="exact",
                    combine_attrs="override")
    out["arm"].attrs.update(units="1", long_name="trial arm")
    for dim in tables:
        cat = xr.concat(table_vars[dim], dim=dim, data_vars="all", combine_attrs="override")
        for v in cat.data_vars:
            out[v] = cat[v].variable
    return out


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``ds`` to netCDF (``.nc``) atomically: a temporary file, then a rename.

    A file at ``path`` is never half-written: it appears only when complete
    (and flushed to disk).  If the write fails, nothing is left behind and a
    file already at ``path`` is untouched.  Without ``overwrite`` an existing
    file is never replaced, even one created while this was writing (the
    final step is a hard link, which fails if the name exists).

    Numeric variables are compressed (gzip level 1 after HDF5's byte shuffle,
    lossless): a 300-patient, 3-year default run's file shrinks from 25.5 MB to
    2.4 MB, for ~0.1 s more to write and to read.
    """
    path = Path(path)
    if path.suffix != ".nc":
        raise ValueError(f"output {str(path)!r}: only netCDF (.nc) is written so far")
    if path.exists() and not overwrite:
        raise FileExistsError(f"output {str(path)!r} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
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
                 plugins: list[str]) -> dict[str, Any]:
    return {
        "title": "paget simulation",
        "paget_version": version,
        "seed": np.int64(seed),
        "plugins": ", ".join(plugins),
        "config_json": json.dumps(config_json, sort_keys=True),
        "Conventions": "CF-1.10",
    }


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
    part = part.drop_vars([c for c in part.coords if dim not in part[c].dims])
    n = part.sizes.get(dim, 0)
    if names and n:
        part.to_zarr(store, region={dim: slice(start, start + n)}, mode="r+", zarr_format=2,
                     safe_chunks=dim == "patient")


def publish(tmp: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Give the complete output ``tmp`` (a file or a directory) the name ``path``.

    Without ``overwrite`` an existing ``path`` is never replaced; with it, the
    old output is renamed aside first and removed only once the new one is in
    place.
    """
    import shutil
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        os.rename(tmp, path)
        return path
    if not overwrite:
        raise FileExistsError(f"output {str(path)!r} exists; pass --overwrite to replace it")
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
