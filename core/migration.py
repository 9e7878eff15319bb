"""Migration histories: each patient's seeding graph, classified as inference tools classify them.

The engine logs every lesion founded by a disseminated or reactivated cell (the
``seeding_*`` variables along ``seeding_edge``: source lesion, organ and clone,
target lesion and organ, time, founding cells).  This module turns that log into
what migration-history inference reports:

- the **seeding graph** of a patient (:func:`seeding_graph`): the founding events
  behind the lesions present at the end, with their ancestors;
- the **migration graph** (:func:`migration_graph`): organs as sites, one
  multi-edge per clone that moved from one site to another;
- per site, **monoclonal or polyclonal** seeding (:func:`site_clones`);
- per patient, the **migration pattern** (:func:`migration_pattern`) in the
  classes of MACHINA (El-Kebir, Satas & Raphael 2018, Nat Genet 50:1217): primary
  single-source (PS), single-source (S), multi-source (M) or reseeding (R), each
  monoclonal (m) or polyclonal (p), decided as Metient decides them (Koyyalagunta
  et al. 2025, Nat Cancer; its ``get_seeding_pattern``).

Definitions (the choices paget makes, where the literature works on sequenced samples):

- **sites** are organs.  A lesion is *present* if it is growing (not a dormant
  pool) and holds at least ``min_cells`` cells at the end of the run (or at the
  patient's death); dormant cells are never a site (a biopsy does not sample
  them) but a lesion a reactivated cell founded is, with the edge from the
  lesion that shed the cell into the pool.
- the graph holds the edges founding the present lesions and, recursively, the
  edges founding the lesions that seeded them (even if those died since): the
  true history of what a sequencing study would see.
- the **primary site** is the organ of the lesion at the root of the log (the
  primary tumour; with ``primary.injection``, the injected organ).
- the migration graph's multiplicity from site *i* to site *j* is the number of
  distinct clones whose cells founded present (or ancestral) lesions in *j* from
  *i*: cells of one clone moving twice are one migration of a clone tree.  Edges
  within one organ are no migration.
- **polyclonal**: some pair of sites is joined by more than one clone (Metient's
  rule); per site, a site is polyclonal if more than one clone seeded it.
- **R**: the migration graph has a cycle (a metastasis seeded the primary's organ,
  or two metastatic sites seeded each other); else **PS** if the primary's organ is
  the only source; else **S** if every site is seeded from one site only; else **M**.
- a patient with no present metastatic site has the pattern ``"none"``.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["PATTERNS", "classify", "seeding_graph", "migration_graph", "site_clones",
           "migration_pattern", "migration_patterns", "pattern_shares", "add_migration",
           "primary_organ"]

#: the pattern classes, in MACHINA's order, and ``"none"`` (no metastasis)
PATTERNS = ("mPS", "pPS", "mS", "pS", "mM", "pM", "mR", "pR", "none")

_EDGE_VARS = {"seeding_patient": "patient", "seeding_time": "time", "seeding_kind": "kind",
              "seeding_source_lesion": "source_lesion", "seeding_source_organ": "source_organ",
              "seeding_source_clone": "source_clone", "seeding_target_lesion": "target_lesion",
              "seeding_target_organ": "target_organ", "seeding_cells": "cells"}


def _require_log(ds: xr.Dataset) -> None:
    missing = [v for v in _EDGE_VARS if v not in ds]
    if missing:
        raise ValueError(f"the dataset has no seeding log ({missing[0]} is missing): run with "
                         f"[output] seeding_graph = true (the default)")


def _edges(ds: xr.Dataset, patient: int | None = None) -> pd.DataFrame:
    """The seeding log of one patient (or all) as a DataFrame."""
    _require_log(ds)
    df = pd.DataFrame({short: np.asarray(ds[name].values) for name, short in _EDGE_VARS.items()})
    for c in ("source_organ", "target_organ"):
        df[c] = df[c].astype(str)
    return df if patient is None else df[df["patient"] == patient].reset_index(drop=True)


def _present(ds: xr.Dataset, patient: int | None, min_cells: float) -> pd.DataFrame:
    """Per present lesion (growing, at least ``min_cells`` cells): patient, lesion, organ, cells."""
    lt = pd.DataFrame({"patient": ds["lesion_patient"].values,
                       "lesion": ds["lesion_id"].values,
                       "organ": ds["lesion_organ"].values.astype(str),
                       "cells": ds["lesion_cells"].values,
                       "dormant": ds["lesion_dormant"].values.astype(bool)})
    lt = lt[~lt["dormant"]]
    if patient is not None:
        lt = lt[lt["patient"] == patient]
    size = lt.groupby(["patient", "lesion", "organ"], sort=True)["cells"].sum().reset_index()
    return size[size["cells"] >= min_cells].reset_index(drop=True)


def primary_organ(edges: pd.DataFrame) -> str | None:
    """The organ of the root of a patient's log: the source lesions that no edge
    founded (the primary tumour); the most frequent organ among their edges (None:
    no edges)."""
    if edges.empty:
        return None
    roots = edges[~edges["source_lesion"].isin(edges["target_lesion"])]
    organs = Counter(roots["source_organ"]) or Counter(edges["source_organ"])
    return sorted(organs.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def _history(edges: pd.DataFrame, present: Iterable[int]) -> pd.DataFrame:
    """The edges founding the ``present`` lesions and, recursively, their ancestors."""
    by_target = edges.set_index("target_lesion", drop=False)
    keep: set[int] = set()
    frontier = {int(x) for x in present} & set(int(t) for t in by_target.index)
    while frontier:
        keep |= frontier
        sources = {int(s) for s in by_target.loc[list(frontier), "source_lesion"]}
        frontier = (sources & set(int(t) for t in by_target.index)) - keep
    return edges[edges["target_lesion"].isin(list(keep))].reset_index(drop=True)


def seeding_graph(ds: xr.Dataset, patient: int, *, min_cells: float = 1.0,
                  history: bool = True) -> pd.DataFrame:
    """The founding events of one patient: one row per lesion founded.

    Columns: ``time`` (days), ``kind`` (0 founded, 1 reactivated), ``source_lesion``,
    ``source_organ``, ``source_clone``, ``target_lesion``, ``target_organ``,
    ``cells``.  With ``history`` (the default) only the edges behind the lesions
    present at the end (growing, at least ``min_cells`` cells) and their
    ancestors; without, every founding event, most of whose lesions died at once.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with the seeding log (``seeding_*``) and the lesion table.
    patient : int
        The patient's index.
    min_cells : float, default 1
        Growing cells a lesion needs to count as present (a detection size).
    history : bool, default True
        Only the history of the present lesions (True) or the whole log.

    Returns
    -------
    pandas.DataFrame
        One row per founding event, in the log's order.

    Raises
    ------
    ValueError
        If ``ds`` has no seeding log.
    """
    edges = _edges(ds, patient)
    if not history:
        return edges
    present = _present(ds, patient, min_cells)["lesion"]
    return _history(edges, present)


def migration_graph(edges: pd.DataFrame) -> pd.DataFrame:
    """Sites (organs) and the clones that moved between them, from a seeding graph.

    One row per (``source_organ``, ``target_organ``) pair of different organs:
    ``clones`` (distinct clones: the multiplicity of the migration graph),
    ``events`` (founding events) and ``cells`` (founding cells).
    """
    moved = edges[edges["source_organ"] != edges["target_organ"]]
    if moved.empty:
        return pd.DataFrame({"source_organ": pd.Series([], dtype=str),
                             "target_organ": pd.Series([], dtype=str),
                             "clones": pd.Series([], dtype=np.int64),
                             "events": pd.Series([], dtype=np.int64),
                             "cells": pd.Series([], dtype=np.int64)})
    g = moved.groupby(["source_organ", "target_organ"], sort=True)
    return pd.DataFrame({"clones": g["source_clone"].nunique(), "events": g.size(),
                         "cells": g["cells"].sum()}).reset_index()


def site_clones(edges: pd.DataFrame, primary: str | None = None) -> pd.Series:
    """Per seeded site (organ, the primary's too if reseeded): the number of
    distinct clones that seeded it from other organs (1: monoclonal, more:
    polyclonal)."""
    moved = edges[edges["source_organ"] != edges["target_organ"]]
    return moved.groupby("target_organ", sort=True)["source_clone"].nunique() \
        .rename("clones").astype(np.int64)


def classify(migrations: Iterable[tuple[str, str, object]], primary: str) -> str:
    """The MACHINA class of a history given as (source site, target site, clone) triples.

    Triples within one site are ignored; a clone moving twice between the same
    pair of sites counts once.

    Parameters
    ----------
    migrations : iterable of (str, str, hashable)
        (source site, target site, clone) of each migration.
    primary : str
        The primary's site.

    Returns
    -------
    str
        One of :data:`PATTERNS` (``"none"``: no migration between two sites).
    """
    pairs: dict[tuple[str, str], set] = {}
    for src, dst, clone in migrations:
        if src != dst:
            pairs.setdefault((str(src), str(dst)), set()).add(clone)
    if not pairs:
        return "none"
    clonality = "p" if any(len(c) > 1 for c in pairs.values()) else "m"
    succ: dict[str, set[str]] = {}
    for s, d in pairs:
        succ.setdefault(s, set()).add(d)
    if _cyclic(succ):
        topology = "R"
    elif set(succ) == {primary}:
        topology = "PS"
    elif max(Counter(d for _, d in pairs).values()) <= 1:
        topology = "S"
    else:
        topology = "M"
    return clonality + topology


def _cyclic(succ: dict[str, set[str]]) -> bool:
    """The directed graph ``succ`` has a cycle (depth-first search, iterative)."""
    state: dict[str, int] = {}          # 1: on the stack, 2: done
    for root in succ:
        if state.get(root):
            continue
        stack = [(root, iter(succ.get(root, ())))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return True
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, ()))))
    return False


def _pattern_of(edges: pd.DataFrame, all_edges: pd.DataFrame) -> str:
    primary = primary_organ(all_edges)
    if primary is None:
        return "none"
    return classify(zip(edges["source_organ"], edges["target_organ"], edges["source_clone"]),
                    primary)


def migration_pattern(ds: xr.Dataset, patient: int, *, min_cells: float = 1.0) -> str:
    """The MACHINA class of one patient's history (:data:`PATTERNS`): see the module."""
    all_edges = _edges(ds, patient)
    present = _present(ds, patient, min_cells)["lesion"]
    return _pattern_of(_history(all_edges, present), all_edges)


def migration_patterns(ds: xr.Dataset, *, min_cells: float = 1.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per patient of ``ds``: (the pattern, strings; the number of clones seeding
    each organ, ``(patient, organ)`` int64)."""
    patients = ds["patient"].values
    organs = [str(o) for o in ds["organ"].values]
    patterns = np.full(patients.size, "none", dtype="<U4")
    clones = np.zeros((patients.size, len(organs)), np.int64)
    _require_log(ds)
    if ds["seeding_patient"].size == 0:
        # no lesion founded by a disseminated cell (a short run's usual): no
        # pattern, no clone, without the ~5 ms of the DataFrames below
        return patterns, clones
    col = {o: j for j, o in enumerate(organs)}
    edges = _edges(ds)
    present = _present(ds, None, min_cells)
    by_patient = dict(tuple(edges.groupby("patient", sort=False)))
    lesions = dict(tuple(present.groupby("patient", sort=False)))
    for i, p in enumerate(patients):
        e = by_patient.get(p)
        if e is None:
            continue
        hist = _history(e, lesions[p]["lesion"] if p in lesions else ())
        patterns[i] = _pattern_of(hist, e)
        for organ, n in site_clones(hist).items():
            clones[i, col[organ]] = n
    return patterns, clones


def add_migration(ds: xr.Dataset, *, min_cells: float = 1.0) -> xr.Dataset:
    """``ds`` with ``migration_pattern(patient)`` and ``site_seeding_clones(patient,
    organ)`` added (nothing added without a seeding log; with trial arms, per arm)."""
    if "seeding_patient" not in ds:
        return ds
    if "arm" in ds.dims:
        raise ValueError("add_migration: one arm at a time (select it with ds.sel(arm=...))")
    patterns, clones = migration_patterns(ds, min_cells=min_cells)
    from .output import VARIABLES
    # both in one update: each assignment is a merge of its own (~0.8 ms)
    ds.update({name: xr.Variable(VARIABLES[name].dims, values,
                                 attrs=VARIABLES[name].cf_attrs())
               for name, values in (("migration_pattern", patterns.astype(str)),
                                    ("site_seeding_clones", clones))})
    return ds


def pattern_shares(patterns: Iterable[str]) -> dict[str, float]:
    """The share (0 to 1) of each class of :data:`PATTERNS` among ``patterns``."""
    values = [str(p) for p in np.asarray(list(patterns)).ravel()]
    n = len(values)
    count = Counter(values)
    return {k: (count[k] / n if n else 0.0) for k in PATTERNS}
