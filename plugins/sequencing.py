"""Sequencing readout: reads of each driver alteration in each sampled lesion.

Model
-----
A lesion is **sampled** (biopsied) when its growing cells reach ``min_cells``;
smaller lesions and dormant cells are not, as in a biopsy.  For alteration
``k`` (bit ``k`` of the genotype, named by ``lesion_genotype``'s
``flag_meanings``) in a sampled lesion, the **cancer cell fraction** ``f`` is
the share of the lesion's cells whose clone carries it, and the variant
allele fraction is

    VAF = purity * f / 2

(a heterozygous alteration at a diploid locus with no copy-number change,
sampled with normal cells making up ``1 - purity`` of the DNA: an
ASSUMPTION, the standard relation used by clone-deconvolution tools, e.g.
Metient's ``var_read_prob = purity / 2`` for major and minor copy number 1,
Koyyalagunta et al. 2025, Nat Cancer).  The variant reads are
``Binomial(depth, VAF)``, drawn by inverting the binomial distribution at a
keyed uniform (:func:`paget.ext.kernels.keyed_uniform`, purpose
``"paget.sequencing"``, keyed by the run's seed, the lesion, the alteration
and the patient): the same reads on any number of ranks, for any split of
the cohort, and after a restart.

Defaults (ASSUMPTIONS): ``depth`` 100 reads (a typical whole-exome depth),
``purity`` 0.7, ``min_cells`` 6.5e7 (a 5 mm lesion, the CT threshold of
:mod:`paget.plugins.imaging`, at 10^6 cells per mm^3).

The readout works on a finished result (:func:`sequence`): the engine has no
hook that runs on the whole dataset after the last step.  ``[sequencing]``
in a configuration (:class:`SequencingTable`, registered when this module is
loaded as a plugin) holds the parameters that :func:`sequence` reads from the
dataset's ``config_json``.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field

from paget.config import Table
from paget.manager import hookimpl

#: keyed-uniform purpose of the reads
PURPOSE = "paget.sequencing"
#: cells of a 5 mm spherical lesion at 10^6 cells per mm^3 (see the module)
FIVE_MM_CELLS = float(np.pi / 6.0 * 5.0 ** 3 * 1e6)


class SequencingTable(Table):
    """Parameters of the sequencing readout (:func:`paget.plugins.sequencing.sequence`)."""

    depth: int = Field(100, ge=1, description="reads covering each alteration's locus "
                                              "(ASSUMPTION: a typical whole-exome depth)")
    purity: float = Field(0.7, gt=0, le=1, description="share of the sample's DNA from tumour "
                                                       "cells (ASSUMPTION)")
    min_cells: float = Field(FIVE_MM_CELLS, ge=1,
                             description="growing cells a lesion needs to be sampled (default: "
                                         "a 5 mm lesion, the CT threshold of the imaging "
                                         "plugin)")


@hookimpl
def paget_config_tables():
    return {"sequencing": SequencingTable}


def vaf(purity: float, fraction) -> np.ndarray:
    """Variant allele fraction of a heterozygous diploid alteration carried by a
    ``fraction`` of the tumour cells: ``purity * fraction / 2`` (see the module)."""
    return purity * np.asarray(fraction, dtype=np.float64) / 2.0


def binomial_reads(u: np.ndarray, depth: int, p: np.ndarray) -> np.ndarray:
    """``Binomial(depth, p)`` variates by inversion of keyed uniforms ``u`` (int64)."""
    from scipy.stats import binom
    k = binom.ppf(np.asarray(u, dtype=np.float64), depth, np.asarray(p, dtype=np.float64))
    return np.nan_to_num(k, nan=0.0).astype(np.int64)


def keyed_uniforms(seed: int, lesion: np.ndarray, index: np.ndarray,
                   patient: np.ndarray) -> np.ndarray:
    """One uniform per (lesion, alteration or clone index, patient), from the
    project's keyed stream (the index takes the place of the step)."""
    from paget.ext import kernels
    from paget.random import purpose_id
    out = np.empty(lesion.size)
    for i in np.unique(index):
        at = index == i
        out[at] = kernels.keyed_uniform(int(seed), np.ascontiguousarray(lesion[at], np.uint64),
                                        int(i), purpose_id(PURPOSE),
                                        np.ascontiguousarray(patient[at], np.int64))
    return out


def parameters(ds: xr.Dataset, **overrides) -> SequencingTable:
    """The ``[sequencing]`` table of the run (its defaults where the run had none),
    with ``overrides``."""
    given = json.loads(ds.attrs.get("config_json", "{}")).get("sequencing", {})
    return SequencingTable(**{**given, **{k: v for k, v in overrides.items() if v is not None}})


def sequence(ds: xr.Dataset, *, depth: int | None = None, purity: float | None = None,
             min_cells: float | None = None, seed: int | None = None) -> xr.Dataset:
    """The reads of every driver alteration in every sampled lesion of ``ds``.

    Returns a Dataset along ``sample`` (a sampled lesion) and ``alteration``:
    ``sample_patient``, ``sample_lesion`` (``lesion_id``), ``sample_organ``,
    ``sample_cells``; ``cell_fraction``, ``vaf``, ``depth`` and ``var_reads``
    (sample, alteration).  Parameters default to the run's ``[sequencing]``.
    """
    par = parameters(ds, depth=depth, purity=purity, min_cells=min_cells)
    seed = int(ds.attrs.get("seed", 0) if seed is None else seed)
    names = str(ds["lesion_genotype"].attrs.get("flag_meanings", "")).split()
    lt = pd.DataFrame({"patient": ds["lesion_patient"].values, "lesion": ds["lesion_id"].values,
                       "organ": ds["lesion_organ"].values.astype(str),
                       "genotype": ds["lesion_genotype"].values.astype(np.uint64),
                       "cells": ds["lesion_cells"].values,
                       "dormant": ds["lesion_dormant"].values.astype(bool)})
    lt = lt[~lt["dormant"] & (lt["cells"] > 0)]
    size = lt.groupby(["patient", "lesion", "organ"], sort=True)["cells"].sum()
    size = size[size >= par.min_cells].reset_index()
    lt = lt.merge(size[["patient", "lesion"]], on=["patient", "lesion"])
    n, m = len(size), len(names)
    fraction = np.zeros((n, m))
    row_of = {(p, l): i for i, (p, l) in enumerate(zip(size["patient"], size["lesion"]))}
    at = np.array([row_of[(p, l)] for p, l in zip(lt["patient"], lt["lesion"])], np.int64)
    for k in range(m):
        carries = (lt["genotype"].values >> np.uint64(k)) & np.uint64(1)
        fraction[:, k] = np.bincount(at, weights=lt["cells"].values * carries,
                                     minlength=n)[:n] if n else 0.0
    if n:
        fraction /= size["cells"].values[:, None]
    p = vaf(par.purity, fraction)
    lesion = np.repeat(size["lesion"].values.astype(np.uint64), m)
    patient = np.repeat(size["patient"].values.astype(np.int64), m)
    index = np.tile(np.arange(m, dtype=np.int64), n)
    u = keyed_uniforms(seed, lesion, index, patient) if n * m else np.zeros(0)
    reads = binomial_reads(u, par.depth, p.ravel()).reshape(n, m)
    dims = ("sample", "alteration")
    return xr.Dataset({
        "sample_patient": ("sample", size["patient"].values.astype(np.int64),
                           {"long_name": "patient of the sampled lesion", "units": "1"}),
        "sample_lesion": ("sample", size["lesion"].values.astype(np.uint64),
                          {"long_name": "lesion_id of the sampled lesion", "units": "1"}),
        "sample_organ": ("sample", size["organ"].values.astype(str),
                         {"long_name": "organ of the sampled lesion"}),
        "sample_cells": ("sample", size["cells"].values,
                         {"long_name": "growing cells of the sampled lesion", "units": "1"}),
        "cell_fraction": (dims, fraction, {"long_name": "share of the lesion's cells carrying "
                                                        "the alteration", "units": "1"}),
        "vaf": (dims, p, {"long_name": "variant allele fraction, purity * cell_fraction / 2",
                          "units": "1"}),
        "depth": ((), np.int64(par.depth), {"long_name": "reads covering each locus",
                                            "units": "1"}),
        "var_reads": (dims, reads, {"long_name": "reads of the variant allele, "
                                                 "Binomial(depth, vaf)", "units": "1"}),
    }, coords={"alteration": ("alteration", np.asarray(names, dtype=str)),
               "sample": ("sample", np.arange(n, dtype=np.int64))},
        attrs={"purity": par.purity, "min_cells": par.min_cells, "seed": seed})
