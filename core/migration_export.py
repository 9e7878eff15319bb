"""Export one patient's clones and sites in Metient's input format (``paget export-migration``).

Metient (Koyyalagunta et al. 2025, Nat Cancer; https://github.com/morrislab/metient,
README "Inputs") takes a tab-separated table per patient and a clone tree:

- ``PREFIX_SNVs.tsv``, its format 1a (reads; Metient estimates which clone is
  where): ``anatomical_site_index, anatomical_site_label, character_index,
  character_label, cluster_index, ref, var, site_category, var_read_prob``;
- ``PREFIX_clusters.tsv``, its format 1b (presence given): ``anatomical_site_index,
  anatomical_site_label, cluster_index, cluster_label, present, site_category,
  num_mutations``;
- ``PREFIX_tree.txt``: one edge ``parent child`` of cluster indices per line.

paget's clones are the clusters (index in order of birth; label ``C<index>``),
each defined by one marker mutation, its character (an ASSUMPTION: a clone is
born with one new alteration, the driver that founded it).  Sites are the
organs holding a present lesion (growing, at least ``min_cells`` cells); the
primary's organ (:func:`paget.migration.primary_organ`) is the ``primary``.
A character's reads in a site come from the share of the site's cells
descending from its clone, as :mod:`paget.plugins.sequencing` reads them
(``var_read_prob = purity / 2``: heterozygous, diploid, no copy-number change).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import migration

#: the columns of Metient's input tables (its README, "Inputs", 1a and 1b)
READS_COLUMNS = ("anatomical_site_index", "anatomical_site_label", "character_index",
                 "character_label", "cluster_index", "ref", "var", "site_category",
                 "var_read_prob")
PRESENCE_COLUMNS = ("anatomical_site_index", "anatomical_site_label", "cluster_index",
                    "cluster_label", "present", "site_category", "num_mutations")


def metient_tables(ds: xr.Dataset, patient: int, *, min_cells: float = 1.0,
                   depth: int = 100, purity: float = 0.7, seed: int | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[int, int]]]:
    """(reads table 1a, presence table 1b, tree edges) of one patient."""
    from .plugins.sequencing import binomial_reads, keyed_uniforms, vaf
    if patient not in set(int(p) for p in ds["patient"].values):
        raise ValueError(f"--patient {patient}: no such patient (the file holds "
                         f"{int(ds['patient'].values.min())} to {int(ds['patient'].values.max())})")
    seed = int(ds.attrs.get("seed", 0) if seed is None else seed)
    mine = ds["clone_patient"].values == patient
    clones = ds["clone_id"].values[mine].astype(np.uint64)
    parents = ds["clone_parent"].values[mine].astype(np.uint64)
    index = {int(c): i for i, c in enumerate(clones)}
    tree = [(index[int(p)], index[int(c)]) for c, p in zip(clones, parents) if int(p) in index]
    # the clones descending from each clone (itself included)
    below = {i: {i} for i in range(len(clones))}
    for _ in range(len(clones)):
        changed = False
        for p, c in tree:
            if not below[c] <= below[p]:
                below[p] |= below[c]
                changed = True
        if not changed:
            break
    lt = pd.DataFrame({"patient": ds["lesion_patient"].values,
                       "lesion": ds["lesion_id"].values,
                       "organ": ds["lesion_organ"].values.astype(str),
                       "clone": ds["lesion_clone"].values.astype(np.uint64),
                       "cells": ds["lesion_cells"].values,
                       "dormant": ds["lesion_dormant"].values.astype(bool)})
    lt = lt[(lt["patient"] == patient) & ~lt["dormant"] & (lt["cells"] > 0)]
    size = lt.groupby("lesion")["cells"].transform("sum")
    lt = lt[size >= min_cells]
    primary = migration.primary_organ(migration.seeding_graph(ds, patient, history=False)) \
        if "seeding_patient" in ds else None
    if primary is None:     # no seeding: the organ of the patient's founding row(s)
        root = (ds["lesion_patient"].values == patient) & (ds["lesion_parent"].values == 0)
        found = sorted(set(ds["lesion_organ"].values[root].astype(str)))
        primary = found[0] if found else None
    organs = sorted(set(lt["organ"]), key=lambda o: (o != primary, o))
    cells = np.zeros((len(organs), len(clones)))
    for j, organ in enumerate(organs):
        here = lt[lt["organ"] == organ]
        for clone, n in here.groupby("clone")["cells"].sum().items():
            cells[j, index[int(clone)]] += n
    category = ["primary" if o == primary else "metastasis" for o in organs]
    presence = pd.DataFrame([(j, organs[j], c, f"C{c}", int(cells[j, c] > 0), category[j], 1)
                             for j in range(len(organs)) for c in range(len(clones))],
                            columns=list(PRESENCE_COLUMNS))
    total = cells.sum(axis=1, keepdims=True)
    fraction = np.array([[cells[j, sorted(below[c])].sum() for c in range(len(clones))]
                         for j in range(len(organs))]).reshape(len(organs), len(clones))
    fraction = np.divide(fraction, total, out=np.zeros_like(fraction), where=total > 0)
    p = vaf(purity, fraction)
    site_key = np.repeat(np.arange(len(organs), dtype=np.uint64), len(clones))
    char = np.tile(np.arange(len(clones), dtype=np.int64), len(organs))
    u = keyed_uniforms(seed, site_key + (np.uint64(patient) << np.uint64(16)), char,
                       np.full(site_key.size, patient, np.int64)) if site_key.size else site_key
    var = binomial_reads(u, depth, p.ravel()) if site_key.size else np.zeros(0, np.int64)
    reads = pd.DataFrame({
        "anatomical_site_index": site_key.astype(np.int64),
        "anatomical_site_label": [organs[j] for j in site_key.astype(np.int64)],
        "character_index": char, "character_label": [f"m{c}" for c in char],
        "cluster_index": char, "ref": depth - var, "var": var,
        "site_category": [category[j] for j in site_key.astype(np.int64)],
        "var_read_prob": np.full(site_key.size, purity / 2.0)})[list(READS_COLUMNS)]
    return reads, presence, tree


def export_patient(ds: xr.Dataset, patient: int, directory: Path, **kw) -> list[Path]:
    """Write ``P<patient>_SNVs.tsv``, ``P<patient>_clusters.tsv`` and ``P<patient>_tree.txt``."""
    reads, presence, tree = metient_tables(ds, patient, **kw)
    directory = Path(directory)
    stem = directory / f"P{patient}"
    paths = [stem.with_name(f"P{patient}_SNVs.tsv"), stem.with_name(f"P{patient}_clusters.tsv"),
             stem.with_name(f"P{patient}_tree.txt")]
    reads.to_csv(paths[0], sep="\t", index=False)
    presence.to_csv(paths[1], sep="\t", index=False)
    paths[2].write_text("".join(f"{a} {b}\n" for a, b in tree))
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", type=Path, metavar="OUT", help="a result file written by paget run")
    p.add_argument("--patient", type=int, required=True, help="the patient to export")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="directory for the files (made if missing)")
    p.add_argument("--min-cells", type=float, default=1.0,
                   help="growing cells a lesion needs to count as a site's (default 1)")
    p.add_argument("--depth", type=int, default=100, help="reads per locus (default 100)")
    p.add_argument("--purity", type=float, default=0.7,
                   help="tumour share of the sample's DNA, in (0, 1] (default 0.7)")


def command(args, comm=None) -> int:
    """``paget export-migration``: one line on stderr and exit status 2 for bad input."""
    import sys

    from .output import open_dataset

    def refuse(message: str) -> int:
        print(f"paget: error: export-migration: {message}", file=sys.stderr)
        return 2

    if comm is not None and comm.Get_rank() != 0:
        return 0
    if args.depth < 1:
        return refuse(f"--depth {args.depth}: must be at least 1 read")
    if not 0.0 < args.purity <= 1.0:
        return refuse(f"--purity {args.purity}: must be in (0, 1]")
    if args.min_cells < 0:
        return refuse(f"--min-cells {args.min_cells}: must be at least 0 cells")
    if args.output.exists() and not args.output.is_dir():
        return refuse(f"-o {str(args.output)!r}: exists and is not a directory")
    try:
        ds = open_dataset(args.result).load()
    except (OSError, ValueError) as exc:
        return refuse(f"{str(args.result)!r}: cannot be read as a paget result "
                      f"({' '.join(str(exc).split())[:120]})")
    if "arm" in ds.dims:
        return refuse(f"{str(args.result)!r}: a trial's result; export one arm's "
                      f"(ds.sel(arm=...)) with paget.migration_export.export_patient")
    for name in ("clone_id", "lesion_id"):
        if name not in ds:
            return refuse(f"{str(args.result)!r}: not a paget result ({name} is missing)")
    made = [d for d in (args.output, *args.output.parents) if not d.exists()]
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        paths = export_patient(ds, args.patient, args.output, min_cells=args.min_cells,
                               depth=args.depth, purity=args.purity)
    except (ValueError, OSError) as exc:
        for d in made:              # a refused export leaves nothing behind
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        return refuse(" ".join(str(exc).split()))
    for path in paths:
        print(path)
    return 0
