"""The migration figures of ``paget plot``: a patient's graph, the cohort's classes.

Drawn only for results with a seeding log (``[output] seeding_graph``, the
default); see :mod:`paget.migration` for what the graph and the classes are.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from . import migration
from .errors import plural

__all__ = ["MIGRATION_FIGURES", "plot_migration_graph", "plot_migration_patterns",
           "graph_patient"]

#: PNG file names, in the order :func:`paget.plot.plot_all` writes them
MIGRATION_FIGURES = ("migration_graph.png", "migration_patterns.png")
#: what the figures say for a result without a seeding log
NO_LOG = "no seeding log in this result (run with [output] seeding_graph = true)"


def _note(path: Path, title: str) -> Path:
    """A figure holding only a note (a result without a seeding log)."""
    from .plot import _figure, _save
    fig = _figure(figsize=(6.4, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, NO_LOG, ha="center", va="center", transform=ax.transAxes)
    _save(fig, path)
    return path


def _one_arm(ds: xr.Dataset) -> tuple[xr.Dataset, str]:
    """The first arm of a trial (and its name), or the run itself."""
    if "arm" not in ds.dims:
        return ds, ""
    arm = str(ds.arm.values[0])
    tables = ("lesion", "clone", "seeding_edge")
    keep = {d: np.flatnonzero(ds[f"{d.split('_')[0]}_arm"].values == arm) for d in tables
            if f"{d.split('_')[0]}_arm" in ds}
    return ds.sel(arm=arm).isel(keep), arm


def graph_patient(ds: xr.Dataset) -> int:
    """The patient whose migration graph has the most pairs of sites (ties: the
    lowest index; the first patient if none has a metastasis)."""
    best, best_n = int(ds.patient.values[0]), -1
    edges = migration._edges(ds)
    for p in np.unique(edges["patient"]):
        n = len(migration.migration_graph(migration.seeding_graph(ds, int(p))))
        if n > best_n:
            best, best_n = int(p), n
    return best


def plot_migration_graph(ds: xr.Dataset, path: str | os.PathLike,
                         patient: int | None = None) -> Path:
    """One patient's migration graph: organs as nodes on a circle (the primary's
    first, at the top), one arrow per clone that moved between two organs, its
    width growing with the seeding events (log scale), coloured by clone."""
    from matplotlib import colormaps
    from matplotlib.patches import FancyArrowPatch
    from .plot import _figure, _save
    path = Path(path)
    if "seeding_patient" not in ds or "migration_pattern" not in ds:
        return _note(path, "Migration graph")
    ds, arm = _one_arm(ds)
    patient = graph_patient(ds) if patient is None else patient
    hist = migration.seeding_graph(ds, patient)
    primary = migration.primary_organ(migration.seeding_graph(ds, patient, history=False))
    moved = hist[hist["source_organ"] != hist["target_organ"]]
    per_clone = moved.groupby(["source_organ", "target_organ", "source_clone"]).size() \
        .reset_index(name="events")
    organs = sorted(set(moved["source_organ"]) | set(moved["target_organ"]),
                    key=lambda o: (o != primary, o))
    fig = _figure(figsize=(6.4, 6.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    title = f"Migration graph of patient {patient}" + (f" ({arm})" if arm else "")
    pattern = migration.migration_pattern(ds, patient)
    ax.set_title(f"{title}: {pattern}", fontsize=10)
    if not organs:
        ax.text(0.5, 0.5, "no growing metastasis at the end", ha="center", va="center",
                transform=ax.transAxes)
        _save(fig, path)
        return path
    angle = np.pi / 2 - 2 * np.pi * np.arange(len(organs)) / len(organs)
    xy = {o: (np.cos(a), np.sin(a)) for o, a in zip(organs, angle)}
    clones = sorted(set(per_clone["source_clone"]))
    cmap = colormaps["tab10"]
    colour = {c: cmap(i % 10) for i, c in enumerate(clones)}
    seen: dict[tuple[str, str], int] = {}
    for s, t, c, n in per_clone.itertuples(index=False):
        k = seen.get((s, t), 0)
        seen[(s, t)] = k + 1
        ax.add_patch(FancyArrowPatch(xy[s], xy[t], arrowstyle="-|>", mutation_scale=14,
                                     connectionstyle=f"arc3,rad={0.12 + 0.1 * k}",
                                     lw=1.0 + 1.5 * np.log10(n), color=colour[c], alpha=0.8,
                                     shrinkA=22, shrinkB=22))
    for o, (x, y) in xy.items():
        ax.text(x, y, o + ("\n(primary)" if o == primary else ""), ha="center", va="center",
                fontsize=8, bbox={"boxstyle": "round", "fc": "white", "ec": "0.3"})
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=colour[c], lw=2, label=f"clone {i}")
               for i, c in enumerate(clones[:10])]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False,
              title="width: log10 seeding events", title_fontsize=7)
    _save(fig, path)
    return path


def plot_migration_patterns(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Bar chart of the cohort's migration pattern classes (share of patients, %;
    one bar per arm in each class), ``none`` (no growing metastasis) last."""
    from .plot import _colors, _figure, _save
    path = Path(path)
    if "migration_pattern" not in ds:
        return _note(path, "Migration patterns")
    values = ds["migration_pattern"]
    arms = [str(a) for a in ds.arm.values] if "arm" in values.dims else [None]
    fig = _figure(figsize=(7.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(migration.PATTERNS))
    width = 0.8 / len(arms)
    for i, (arm, colour) in enumerate(zip(arms, _colors(len(arms)))):
        v = values.sel(arm=arm).values if arm is not None else values.values
        shares = migration.pattern_shares(v)
        ax.bar(x + (i - (len(arms) - 1) / 2) * width,
               [100 * shares[k] for k in migration.PATTERNS], width, color=colour,
               label=arm if arm is not None else None)
    ax.set_xticks(x, migration.PATTERNS)
    ax.set_ylabel("share of patients (%)")
    ax.set_xlabel("MACHINA class (m/p: monoclonal/polyclonal; PS primary single-source, "
                  "S single-source, M multi-source, R reseeding)", fontsize=8)
    ax.set_title(f"Migration patterns ({plural(ds.sizes['patient'], 'patient')}"
                 f"{' per arm' if arms[0] is not None else ''})", fontsize=10)
    if arms[0] is not None:
        ax.legend(fontsize=8, frameon=False)
    _save(fig, path)
    return path
