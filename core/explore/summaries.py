"""Summary statistics of one run: a few numbers an exploration compares across runs.

Named summaries (``summary="involvement"`` of :func:`paget.simulate`, of a
sweep, of a sensitivity analysis or a calibration):

``"involvement"``
    per organ, the share of patients (fraction, 0 to 1) with a metastasis of
    at least :data:`INVOLVED_CELLS` cells in the organ at death or at the end
    of follow-up, as an autopsy would find it (final lesion table);
``"sites"``
    the mean number of organs so involved per patient;
``"survival"``
    quantiles of overall survival, days (Kaplan-Meier; NaN: not reached).

A summary may also be a callable ``f(ds) -> dict[str, float | array | DataArray]``,
or a list of names and callables.  :func:`summarize` makes one small
:class:`xarray.Dataset` of them; :func:`flatten` turns it into flat scalar
outputs (``"involvement.liver"``, ``"survival.0.5"``) for sensitivity
indices and distances.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from ..errors import ConfigError

__all__ = ["INVOLVED_CELLS", "SURVIVAL_QUANTILES", "NAMED", "involvement", "sites",
           "survival", "summarize", "flatten", "check_summary"]

#: ASSUMPTION: an organ counts as involved, as at autopsy, when it holds a
#: metastatic lesion of at least 1e5 cells, ~0.6 mm across at 1e6 cells/mm^3
#: (the conventional density, an ASSUMPTION: Del Monte 2009, Cell Cycle 8:505,
#: argues that carcinomas hold about ten times fewer): found on microscopic
#: examination.
INVOLVED_CELLS = 1e5
#: the quantiles of the ``"survival"`` summary
SURVIVAL_QUANTILES = (0.25, 0.5, 0.75)


def _involved(ds: xr.Dataset, cells: float) -> np.ndarray:
    """(patients, organs) bool: a metastatic lesion of >= ``cells`` cells in the organ."""
    for name in ("lesion_id", "lesion_uid", "lesion_parent", "lesion_dormant", "lesion_cells",
                 "lesion_patient", "lesion_organ"):
        if name not in ds.variables:
            raise ValueError(f"the involvement summaries need the lesion table (variable "
                             f"{name!r}), which the dataset lacks")
    if "arm" in ds.dims:
        raise ValueError("the named summaries take a dataset without trial arms; select one "
                         "with ds.sel(arm=...)")
    organs = [str(o) for o in ds.organ.values]
    lorg = ds.lesion_organ.values
    if lorg.dtype.kind in "USO":
        index = {o: i for i, o in enumerate(organs)}
        lorg = np.array([index[str(o)] for o in lorg], dtype=np.int64)
    lid = ds.lesion_id.values
    primary = ds.lesion_uid.values[ds.lesion_parent.values == 0]
    keep = ~ds.lesion_dormant.values.astype(bool) & ~np.isin(lid, primary)
    ids, inverse = np.unique(lid[keep], return_inverse=True)
    total = np.bincount(inverse, weights=ds.lesion_cells.values[keep], minlength=ids.size)
    first = np.zeros(ids.size, np.int64)   # a row of each lesion: its patient and organ
    first[inverse[::-1]] = np.flatnonzero(keep)[::-1]
    patients = ds.patient.values
    row = np.searchsorted(patients, ds.lesion_patient.values[first])
    out = np.zeros((patients.size, len(organs)), bool)
    big = total >= cells
    out[row[big], lorg[first][big]] = True
    return out


def involvement(ds: xr.Dataset, cells: float = INVOLVED_CELLS) -> xr.DataArray:
    """Per organ, the share of patients with a metastasis of >= ``cells`` cells there
    at death or at the end of follow-up (fraction, 0 to 1).

    A metastasis is a growing lesion other than the primary (all its clones
    together); dormant cells do not count.  The primary's organ counts its
    metastases (not the primary itself).
    """
    inv = _involved(ds, cells)
    share = inv.mean(axis=0) if inv.shape[0] else np.full(inv.shape[1], np.nan)
    return xr.DataArray(share, dims=("organ",), coords={"organ": ds.organ.values},
                        name="involvement",
                        attrs={"units": "1", "involved_cells": float(cells),
                               "long_name": "share of patients with a metastasis of at least "
                                            "involved_cells cells in the organ at death or "
                                            "the end of follow-up"})


def sites(ds: xr.Dataset, cells: float = INVOLVED_CELLS) -> xr.DataArray:
    """The mean number of organs with a metastasis of >= ``cells`` cells per patient."""
    inv = _involved(ds, cells)
    mean = float(inv.sum(axis=1).mean()) if inv.shape[0] else float("nan")
    return xr.DataArray(mean, name="sites", attrs={"units": "1", "involved_cells": float(cells),
                                     "long_name": "mean number of organs with a metastasis "
                                                  "per patient at death or the end of "
                                                  "follow-up"})


def survival(ds: xr.Dataset, quantiles: Sequence[float] = SURVIVAL_QUANTILES) -> xr.DataArray:
    """Quantiles of overall survival from the start of the run, days: the first time
    the Kaplan-Meier estimate falls to ``1 - q`` or below (NaN: not reached by the
    end of follow-up)."""
    from ..analysis import kaplan_meier, survival as os_times
    if "arm" in ds.dims:
        raise ValueError("the named summaries take a dataset without trial arms; select one "
                         "with ds.sel(arm=...)")
    s = os_times(ds)
    q = np.asarray(quantiles, dtype=np.float64)
    out = np.full(q.size, np.nan)
    if s.sizes.get("patient", 0):
        km = kaplan_meier(s.time.values, s.event.values)
        for i, p in enumerate(q):
            below = np.flatnonzero(km.survival <= 1.0 - p)
            if below.size:
                out[i] = km.t[below[0]]
    return xr.DataArray(out, dims=("quantile",), coords={"quantile": q}, name="survival",
                        attrs={"units": "days", "long_name": "quantiles of overall survival "
                               "from the start of the run (Kaplan-Meier; NaN: not reached)"})


#: the named summaries
NAMED: dict[str, Callable[[xr.Dataset], Any]] = {
    "involvement": involvement, "sites": sites, "survival": survival}


def check_summary(summary: Any, where: str = "summary") -> list:
    """``summary`` as a list of names and callables; ConfigError for an unknown name."""
    items = [summary] if isinstance(summary, str) or callable(summary) else summary
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{where} = {summary!r}: must be a name ({', '.join(NAMED)}), a "
                          f"callable f(ds) -> dict, or a list of these")
    from ..config import _suggest
    for item in items:
        if isinstance(item, str) and item not in NAMED:
            raise ConfigError(f"{where} = {item!r}: unknown summary"
                              f"{_suggest(item, NAMED)}; named summaries: {', '.join(NAMED)}")
        if not isinstance(item, str) and not callable(item):
            raise ConfigError(f"{where}: {item!r} is neither a summary name nor a callable")
    return list(items)


def summarize(ds: xr.Dataset, summary: Any) -> xr.Dataset:
    """The summary statistics of a run as one small Dataset.

    A named summary gives the variable of its name; a callable's dict gives
    one variable per key (a number: a scalar; an array: dims
    ``{key}_dim_0, ...``; a DataArray: its own dims).
    """
    data: dict[str, xr.DataArray] = {}
    for item in check_summary(summary):
        got = {item: NAMED[item](ds)} if isinstance(item, str) else item(ds)
        if not isinstance(got, Mapping):
            raise ValueError(f"summary {getattr(item, '__name__', item)!r} returned "
                             f"{type(got).__name__}, not a dict of name -> value")
        for name, value in got.items():
            if name in data:
                raise ValueError(f"summary {name!r} is given twice")
            if isinstance(value, xr.DataArray):
                data[name] = value.drop_vars([c for c in value.coords if c not in value.dims])
            else:
                arr = np.asarray(value)
                data[name] = xr.DataArray(arr, dims=[f"{name}_dim_{i}"
                                                     for i in range(arr.ndim)])
    return xr.Dataset(data)


def flatten(summary: xr.Dataset) -> dict[str, float]:
    """Flat scalar outputs of a summary: ``"sites"``, ``"involvement.liver"``,
    ``"survival.0.5"`` (one key per element; coordinates joined by ".")."""
    out: dict[str, float] = {}
    for name, var in summary.data_vars.items():
        if var.ndim == 0:
            out[str(name)] = float(var.values)
            continue
        for idx in np.ndindex(var.shape):
            labels = [str(_label(var, d, i)) for d, i in zip(var.dims, idx)]
            out[".".join([str(name), *labels])] = float(var.values[idx])
    return out


def _label(var: xr.DataArray, dim: str, i: int) -> Any:
    if dim in var.coords:
        v = var.coords[dim].values[i]
        return v.item() if isinstance(v, np.generic) else v
    return i
