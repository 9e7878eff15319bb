"""Figures of a result, as PNG files: what ``paget plot OUT`` draws.

Six figures (the two migration ones in :mod:`paget.plot_migration`), each a
function taking the result Dataset and the path of the PNG to write (see
:func:`plot_all`).  Matplotlib is imported only when a figure is
drawn, and only its object-oriented API with the Agg canvas is used (never
``pyplot``), so drawing changes no global state of a notebook or a script.

Every figure works on a Dataset from any paget so far: variables that only some
runs have (``arm``, ``therapy_line``, ``diagnosis_time``, ``surgery_time``,
``first_detected_metastasis_time``) are drawn where present and left out
otherwise.  Time axes are in years (365.25 days) since the start of the run,
or, in the survival figure with ``origin="diagnosis"``, since each patient's
diagnosis.
"""
from __future__ import annotations

import os
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import analysis
from .errors import plural

__all__ = ["read_result", "plot_all", "plot_survival", "plot_burden", "plot_sites",
           "plot_swimmer", "swimmer_patients", "check_origin", "FIGURES", "DAYS_PER_YEAR",
           "ORIGINS"]

DAYS_PER_YEAR = 365.25
#: Variables every figure needs; :func:`read_result` checks them up front.
REQUIRED = ("death_time", "tumor_cells", "alive", "detectable_lesions")
#: PNG file names, in the order :func:`plot_all` writes them.
FIGURES = ("survival.png", "burden.png", "sites.png", "swimmer.png", "migration_graph.png",
           "migration_patterns.png")
#: Where the survival figure's time counts from: origin -> what the axis says.
ORIGINS = {"start": "the start of the run", "diagnosis": "diagnosis"}


def read_result(path: str | os.PathLike) -> xr.Dataset:
    """Read a result written by ``paget run -o OUT.nc`` (or ``OUT.zarr``) into memory.

    Raises
    ------
    ValueError
        If the file does not exist, cannot be read as netCDF (or zarr), or lacks
        a variable the figures need (the message names the file and the variable).
    """
    path = Path(path)
    zarr = path.suffix == ".zarr"
    if not (path.is_dir() if zarr else path.is_file()):
        raise ValueError(f"{str(path)!r}: no such " + ("zarr store" if zarr else "file"))
    try:
        # time: float days since the start (its units' reference date is nominal)
        with xr.open_dataset(path, engine="zarr" if zarr else "h5netcdf",
                             decode_times=False) as ds:
            ds = ds.load()
    except Exception as exc:  # h5py/h5netcdf/zarr raise OSError, ValueError or their own
        raise ValueError(f"{str(path)!r}: cannot be read as a paget result (netCDF or zarr "
                         f"written by paget run -o): {type(exc).__name__}: {exc}") from None
    missing = [n for n in REQUIRED if n not in ds.variables]
    if missing or "config_json" not in ds.attrs:
        what = f"the variable {missing[0]!r}" if missing else "the attribute 'config_json'"
        raise ValueError(f"{str(path)!r}: not a paget result, it lacks {what}")
    try:
        analysis.metastasis_variable(ds)
        analysis.primary_organ(ds)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from None
    return ds


def plot_all(ds: xr.Dataset, directory: str | os.PathLike, *, patients: int = 20,
             origin: str = "start") -> list[Path]:
    """Write the six figures into ``directory`` (created if needed).

    ``survival.png`` (:func:`plot_survival`, time from ``origin``),
    ``burden.png`` (:func:`plot_burden`), ``sites.png`` (:func:`plot_sites`)
    and ``swimmer.png`` (:func:`plot_swimmer` of ``patients`` patients, per
    arm), ``migration_graph.png`` and ``migration_patterns.png``
    (:mod:`paget.plot_migration`; a note in the figure for a result without a
    seeding log).  Returns the paths written, in that order.

    Raises
    ------
    ValueError
        Before anything is written, if ``patients`` is below 1 or ``origin``
        cannot be used with this Dataset (see :func:`check_origin`).
    """
    if patients < 1:
        raise ValueError(f"patients={patients!r}: the swimmer plot needs at least 1 patient")
    check_origin(ds, origin)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    from .plot_migration import plot_migration_graph, plot_migration_patterns
    drawers = (lambda d, p: plot_survival(d, p, origin=origin), plot_burden, plot_sites,
               lambda d, p: plot_swimmer(d, p, patients=patients), plot_migration_graph,
               plot_migration_patterns)
    paths = []
    for name, draw in zip(FIGURES, drawers):
        path = directory / name
        draw(ds, path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------
# matplotlib, lazily
# --------------------------------------------------------------------------

def _figure(**kw):
    """A Figure on the Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=120)


def _arm_list(ds: xr.Dataset) -> list[str | None]:
    return analysis.arms(ds) or [None]


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _years(days) -> np.ndarray:
    return np.asarray(days, dtype=np.float64) / DAYS_PER_YEAR


def _time_ticks(end_years: float) -> np.ndarray:
    """Ticks from 0 to the end of follow-up (years); see :func:`plot_survival`."""
    from matplotlib.ticker import MaxNLocator
    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(0, end_years)
    # 2 years of whole days end at day 730 = 1.9986 years: keep the tick at 2
    return ticks[(ticks >= 0) & (ticks <= end_years * 1.001 + 1e-9)]


def _wrap(text: str, width: int) -> str:
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


# --------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------

def check_origin(ds: xr.Dataset, origin: str) -> None:
    """Check that the survival figure can count time from ``origin``.

    ``"start"`` (the start of the run) always can.  ``"diagnosis"`` needs the
    variable ``diagnosis_time`` (recorded by the imaging plugin) and at least
    one patient diagnosed during follow-up.

    Raises
    ------
    ValueError
        Naming the origin and what the Dataset lacks.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin={origin!r}: choose 'start' (time from the start of the run) "
                         f"or 'diagnosis' (from each patient's diagnosis_time)")
    if origin != "diagnosis":
        return
    if "diagnosis_time" not in ds.variables:
        raise ValueError("survival from diagnosis needs the variable 'diagnosis_time' (each "
                         "patient's time of diagnosis, recorded by the imaging plugin), which "
                         "the dataset lacks")
    diag = np.asarray(ds["diagnosis_time"].values, dtype=np.float64)
    if not (np.isfinite(diag) & (diag <= float(ds["time"].values[-1]))).any():
        raise ValueError("survival from diagnosis: no patient was diagnosed during follow-up "
                         "(diagnosis_time is NaN throughout)")


def _left_out_note(left_out: dict, patients: int) -> str:
    """Says how many patients were never diagnosed (per arm where they differ)."""
    counts = set(left_out.values())
    per_arm = " per arm" if None not in left_out else ""
    if counts == {0}:
        return f"{'all ' if patients > 1 else ''}{plural(patients, 'patient')}{per_arm} " \
               f"diagnosed during follow-up"
    if len(counts) == 1:
        k = counts.pop()
        return (f"{k} of {plural(patients, 'patient')}{per_arm} never diagnosed during follow-up, "
                f"left out")
    return "never diagnosed during follow-up, left out: " + "; ".join(
        f"{arm}: {k} of {patients}" for arm, k in left_out.items())


def plot_survival(ds: xr.Dataset, path: str | os.PathLike, *, origin: str = "start") -> Path:
    """Kaplan–Meier curves of overall and metastasis-free survival, per arm.

    Two panels, one curve per arm with its censorings marked and its median
    in the panel's legend, and the numbers at risk under each panel.  Overall
    survival: the event is death.  Metastasis-free survival: the event is the
    first metastasis (detected by imaging where the run has it, else
    detectable; see :func:`paget.analysis.survival`) or death, whichever
    comes first; each panel's title says so.

    ``origin``: ``"start"`` counts time from the start of the run (every
    patient at the same point of the natural history); ``"diagnosis"`` from
    each patient's ``diagnosis_time``, leaving out the patients never
    diagnosed during follow-up (the figure's title says how many).  The
    x axis says which.

    Raises
    ------
    ValueError
        If ``origin`` cannot be used with this Dataset (:func:`check_origin`).
    """
    from matplotlib.lines import Line2D
    check_origin(ds, origin)
    path = Path(path)
    arm_names = _arm_list(ds)
    has_arms = arm_names != [None]
    colors = _colors(len(arm_names))
    end = float(ds["time"].values[-1])
    data: dict[tuple[str, str | None], tuple[np.ndarray, np.ndarray]] = {}
    left_out: dict[str | None, int] = {}
    for endpoint in ("os", "mfs"):
        for arm in arm_names:
            s = analysis.survival(ds, endpoint, arm=arm, origin=origin)
            t, e = s["time"].values, s["event"].values
            if origin == "diagnosis":
                keep = s["included"].values
                left_out[arm] = int((~keep).sum())
                t, e = t[keep], e[keep]
            data[endpoint, arm] = (t, e)
    horizon = end if origin == "start" else max(float(t.max()) for t, _ in data.values()
                                                if t.size)
    ticks = _time_ticks(horizon / DAYS_PER_YEAR)
    rows = len(arm_names)
    row_labels = [_wrap(a, 22) if a else "all" for a in arm_names]
    row_lines = max(label.count("\n") + 1 for label in row_labels)
    row_h = 0.08 + 0.15 * row_lines                      # inches per row of the table
    table_h = 0.55 + rows * row_h
    key_h = 0.25 * (-(-rows // 3)) if has_arms else 0.0   # the arms' legend, 3 a row
    title_h = 0.35 if origin == "diagnosis" else 0.0
    fig = _figure(figsize=(11, 3.9 + table_h + key_h + title_h), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[3.5, table_h])
    mfs_from = analysis.metastasis_variable(ds).removesuffix("_time").replace("_", " ")
    titles = {"os": "Overall survival\n(event: death)",
              "mfs": f"Metastasis-free survival\n(event: {mfs_from} or death)"}
    for col, endpoint in enumerate(("os", "mfs")):
        ax = fig.add_subplot(grid[0, col])
        table = fig.add_subplot(grid[1, col], sharex=ax)
        handles = []
        for i, (arm, color) in enumerate(zip(arm_names, colors)):
            t, e = data[endpoint, arm]
            who = "" if has_arms else "all patients: "
            if not t.size:
                handles.append(Line2D([], [], color=color, label=f"{who}no patient diagnosed"))
                continue
            km = analysis.kaplan_meier(t, e)
            med = analysis.median_survival(t, e)
            handles.append(Line2D([], [], color=color, label=who + (
                f"median {med / DAYS_PER_YEAR:.1f} y" if np.isfinite(med) else
                "median not reached")))
            x = np.concatenate([[0.0], _years(km.t)])
            y = np.concatenate([[1.0], km.survival])
            ax.step(x, y, where="post", color=color)
            cens = km.censored > 0
            ax.plot(_years(km.t[cens]), km.survival[cens], "|", color=color, markersize=8)
            # a tick just past the end (2 y = 730.5 d, follow-up ends on day 730)
            # counts those followed to the end
            n_risk = km.number_at_risk(np.minimum(ticks * DAYS_PER_YEAR, horizon))
            for tick, n in zip(ticks, n_risk):
                # clip_on=False: the layout then keeps a number at the last tick inside
                table.text(tick, rows - 1 - i, str(int(n)), ha="center", va="center",
                           fontsize=8, color=color, clip_on=False)
        handles.append(Line2D([], [], color="0.3", marker="|", linestyle="", markersize=8,
                              label="censored"))
        ax.set_title(titles[endpoint], fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, max(horizon / DAYS_PER_YEAR, ticks[-1]))
        ax.set_ylabel("probability event-free" if endpoint == "mfs" else "probability alive")
        ax.legend(handles=handles, loc="best", fontsize=8, frameon=False)
        ax.tick_params(labelbottom=False)
        ax.grid(alpha=0.3)
        table.set_xticks(ticks)
        table.set_ylim(-0.6, rows - 0.4)
        table.set_yticks(range(rows), list(reversed(row_labels)) if col == 0 else [],
                         fontsize=8)
        table.set_xlabel(f"years since {ORIGINS[origin]}")
        table.set_title("number at risk", fontsize=8, loc="left")
        for side in ("top", "right", "left"):
            table.spines[side].set_visible(False)
        table.tick_params(axis="y", length=0, pad=14)
    if has_arms:
        fig.legend(handles=[Line2D([], [], color=c) for c in colors],
                   labels=[_wrap(a, 40) for a in arm_names], loc="outside lower center",
                   ncols=min(rows, 3), fontsize=8, frameon=False)
    if origin == "diagnosis":
        fig.suptitle(_wrap("Time from each patient's diagnosis; "
                           + _left_out_note(left_out, ds.sizes["patient"]), 120), fontsize=10)
    _save(fig, path)
    return path


# --------------------------------------------------------------------------
# burden
# --------------------------------------------------------------------------

def plot_burden(ds: xr.Dataset, path: str | os.PathLike, max_organs: int = 8) -> Path:
    """Median and interquartile range of tumour cells per organ over time, per arm.

    One panel per organ (the primary's and up to ``max_organs - 1`` others
    with the largest upper quartile), log scale from one cell.  At each
    recorded time the statistics are over the patients alive then (a dead
    patient's burden is frozen at death in the output, which would otherwise
    hold the curves up).
    """
    path = Path(path)
    analysis._require(ds, "tumor_cells", "alive", purpose="plot_burden")
    arm_names = _arm_list(ds)
    colors = _colors(len(arm_names))
    cells = ds["tumor_cells"].where(ds["alive"])
    with warnings.catch_warnings():   # a time at which every patient of an arm has died
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        q = cells.quantile([0.25, 0.5, 0.75], dim="patient", skipna=True)
    primary = analysis.primary_organ(ds)
    peak = q.sel(quantile=0.75).fillna(0)
    peak = peak.max([d for d in peak.dims if d != "organ"])
    organs = [primary] + [str(o) for o in peak.sortby(peak, ascending=False).organ.values
                          if str(o) != primary and float(peak.sel(organ=o)) > 0]
    organs = organs[:max_organs]
    ncol = min(4, len(organs))
    nrow = -(-len(organs) // ncol)
    fig = _figure(figsize=(max(3.2 * ncol + 0.5, 5.5), 2.8 * nrow + 0.6), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True)
    x = _years(ds["time"].values)
    top = max(float(q.max()), 10.0) if np.isfinite(float(q.max())) else 10.0
    for k, organ in enumerate(organs):
        ax = axes.flat[k]
        for arm, color in zip(arm_names, colors):
            qa = q.sel(organ=organ) if arm is None else q.sel(organ=organ, arm=arm)
            lo, med, hi = (qa.sel(quantile=v).values for v in (0.25, 0.5, 0.75))
            ax.fill_between(x, np.maximum(lo, 0.5), np.maximum(hi, 0.5), color=color,
                            alpha=0.25, linewidth=0)
            ax.plot(x, np.where(med > 0, med, np.nan), color=color, label=arm or "median")
        ax.set_yscale("log")
        ax.set_ylim(1, top * 3)
        ax.set_title(organ + (" (primary)" if organ == primary else ""), fontsize=10)
        ax.grid(alpha=0.3)
        if k % ncol == 0:
            ax.set_ylabel("tumour cells")
        if k >= len(organs) - ncol:
            ax.set_xlabel("years since the start of the run")
    for ax in list(axes.flat)[len(organs):]:
        ax.set_visible(False)
    if arm_names == [None]:
        axes.flat[0].legend(fontsize=8, frameon=False, title="median, IQR shaded",
                            title_fontsize=8)
    else:   # long arm names: one legend under the panels, not over them
        fig.legend(handles=axes.flat[0].get_lines(),
                   labels=[_wrap(a, 40) for a in arm_names], loc="outside lower center",
                   ncols=min(len(arm_names), 3), fontsize=8, frameon=False,
                   title="median per arm, interquartile range shaded", title_fontsize=8)
    fig.suptitle("Tumour cells per organ, patients alive at each time", fontsize=11)
    _save(fig, path)
    return path


# --------------------------------------------------------------------------
# metastatic sites
# --------------------------------------------------------------------------

def plot_sites(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Heat map of the metastatic pattern: share of patients per organ.

    Rows are the arms (or one row, labelled with the primary's organ, for a
    run without arms), columns the organs other than the primary's; see
    :func:`paget.analysis.metastatic_pattern` for what counts.  The colours
    (viridis, perceptually uniform) run from 0 to the largest share rounded
    up to a tick of the colour bar (at least 1 %), so that shares of a few
    per cent are told apart; each cell also prints its share.
    """
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator
    path = Path(path)
    share = analysis.metastatic_pattern(ds)
    primary = share.attrs["primary_organ"]
    data = share.values[None, :] if share.ndim == 1 else share.values
    labels = [f"primary: {primary}"] if share.ndim == 1 else \
        [_wrap(str(a), 30) for a in share.arm.values]
    organs = [str(o) for o in share.organ.values]
    fig = _figure(figsize=(1.0 + 0.55 * len(organs), 1.9 + 0.45 * len(labels)),
                  layout="constrained")
    ax = fig.add_subplot()
    top = 100 * float(np.nanmax(data)) if data.size else 0.0
    locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    vmax = min(float(locator.tick_values(0, max(top, 1.0))[-1]), 100.0)
    im = ax.imshow(100 * data, cmap=colormaps["viridis"], vmin=0, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(organs)), organs, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = 100 * data[i, j]
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if im.norm(v) > 0.6 else "white")
    fig.colorbar(im, ax=ax, label="share of patients (%)", shrink=0.9, ticks=locator)
    ax.set_title(f"Patients with a detectable metastasis in the organ at any recorded time "
                 f"({plural(share.attrs['patients'], 'patient')}"
                 f"{' per arm' if share.ndim == 2 else ''})", fontsize=10)
    _save(fig, path)
    return path


# --------------------------------------------------------------------------
# swimmer
# --------------------------------------------------------------------------

#: Marker of each event time drawn on a swimmer bar: variable -> (marker, label).
_MARKERS = {
    "diagnosis_time": ("D", "diagnosis"),
    "surgery_time": ("s", "surgery"),
    "first_detected_metastasis_time": ("*", "first detected metastasis"),
    "first_detectable_metastasis_time": ("*", "first detectable metastasis"),
    "death_time": ("X", "death"),
}


def swimmer_patients(ds: xr.Dataset, patients: int = 20) -> tuple[list[int], str]:
    """The patients of the swimmer plot, and the rule that chose them, in words.

    Every patient if there are at most ``patients``; else ``patients`` of them
    evenly spaced in the ranking by overall survival (time to death or to the
    end of follow-up; ties by metastasis-free survival, then by patient id),
    the longest and the shortest included.  In a trial the ranking is the
    first arm's and the same patients are shown in every arm: the arms share
    their patients (the same seed), so each row compares one patient's
    treatments.  No random draw: the same file always gives the same patients.

    Returns
    -------
    (list of int, str)
        The patient ids, longest survival first (the order of the rows), and
        the rule, as the figure states it.
    """
    if patients < 1:
        raise ValueError(f"patients={patients!r}: the swimmer plot needs at least 1 patient")
    arm_names = _arm_list(ds)
    ref = arm_names[0]
    os_t = analysis.survival(ds, "os", arm=ref)["time"].values
    mfs_t = analysis.survival(ds, "mfs", arm=ref)["time"].values
    ids = np.asarray(ds["patient"].values)
    order = np.lexsort((ids, -mfs_t, -os_t))            # longest survival first
    total = ids.size
    paired = "; the same patients in every arm" if ref is not None else ""
    if patients >= total:
        every = "all " if total > 1 else ""
        return [int(p) for p in ids[order]], f"{every}{plural(total, 'patient')}{paired}"
    if patients == 1:
        picks = np.array([(total - 1) // 2])
    else:
        picks = np.arange(patients) * (total - 1) // (patients - 1)
    where = f" in the arm {ref!r}" if ref is not None else ""
    how = "the middle of" if patients == 1 else "evenly spaced in"
    rule = (f"{patients} of {total} patients, {how} the ranking by overall survival "
            f"(ties: metastasis-free survival){where}{paired}")
    return [int(p) for p in ids[order[picks]]], rule


def plot_swimmer(ds: xr.Dataset, path: str | os.PathLike, *, patients: int = 20) -> Path:
    """Swimmer plot of up to ``patients`` patients (per arm), chosen by
    :func:`swimmer_patients`; the figure's title states the rule.

    One bar per patient from the start of the run to death or the end of
    follow-up, coloured by ``therapy_line`` where the run has it (grey: no
    systemic therapy; line k: the k-th line running), with markers at
    diagnosis, surgery, the first (detected, else detectable) metastasis and
    death; an arrow marks a patient alive at the end.  In a trial, one panel
    per arm with the same patients in the same rows, longest survival (in
    the first arm) at the top.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    path = Path(path)
    analysis._require(ds, "death_time", purpose="plot_swimmer")
    ids, rule = swimmer_patients(ds, patients)
    end = float(ds["time"].values[-1])
    times = ds["time"].values
    arm_names = _arm_list(ds)
    met = analysis.metastasis_variable(ds)
    markers = [v for v in ("diagnosis_time", "surgery_time", met, "death_time")
               if v in ds.variables]
    lines = "therapy_line" in ds.variables
    width = 2.6 + (6.5 if len(arm_names) == 1 else 3.4 * len(arm_names))
    fig = _figure(figsize=(width, 1.8 + 0.28 * len(ids)), layout="constrained")
    axes = fig.subplots(1, len(arm_names), sharex=True, sharey=True, squeeze=False)[0]
    line_colors = _colors(10)
    used_lines: set[int] = set()
    for ax, arm in zip(axes, arm_names):
        sub = ds if arm is None else ds.sel(arm=arm)
        for y, p in enumerate(ids):
            sel = sub.sel(patient=p)
            death = float(sel["death_time"])
            dead = np.isfinite(death) and death <= end
            stop = death if dead else end
            if lines:
                tl = np.nan_to_num(sel["therapy_line"].values.astype(np.float64)).astype(np.int64)
                for k in np.unique(tl):
                    # the line recorded at times[i] runs until times[i + 1]
                    segs = [(times[i], min(times[i + 1] if i + 1 < times.size else end, stop)
                             - times[i]) for i in np.flatnonzero(tl == k) if times[i] < stop]
                    segs = [(_years(a), _years(w)) for a, w in segs if w > 0]
                    ax.broken_barh(segs, (y - 0.35, 0.7), color="0.8" if k == 0 else
                                   line_colors[(k - 1) % 10], linewidth=0)
                    used_lines.add(int(k))
            else:
                ax.barh(y, _years(stop), height=0.7, color="0.75", linewidth=0)
            for var in markers:
                t = float(sel[var])
                if np.isfinite(t) and t <= end:
                    marker, _ = _MARKERS[var]
                    ax.plot(_years(t), y, marker,
                            color="black" if var != "death_time" else "firebrick",
                            markersize=7 if marker == "*" else 5, markeredgewidth=0)
            if not dead:
                ax.plot(_years(end), y, ">", color="0.3", markersize=5)
        if arm is not None:
            ax.set_title(_wrap(arm, 34), fontsize=9)
        ax.set_xlabel("years since the start of the run")
    axes[0].set_yticks(range(len(ids)), [str(p) for p in ids], fontsize=7)
    axes[0].set_ylim(len(ids) - 0.5, -0.5)            # first row at the top
    axes[0].set_xlim(0, _years(end) * 1.03)
    axes[0].set_ylabel("patient")
    handles = []
    if lines:
        handles += [Patch(color="0.8" if k == 0 else line_colors[(k - 1) % 10],
                          label="no systemic therapy" if k == 0 else f"therapy line {k}")
                    for k in sorted(used_lines)]
    handles += [Line2D([], [], marker=_MARKERS[v][0], linestyle="", markeredgewidth=0,
                       color="firebrick" if v == "death_time" else "black", label=_MARKERS[v][1])
                for v in markers]
    handles.append(Line2D([], [], marker=">", linestyle="", color="0.3",
                          label="alive at the end of follow-up"))
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", frameon=False,
               ncols=min(len(handles), 4))
    fig.suptitle(_wrap(rule, int(11 * width)), fontsize=10)
    _save(fig, path)
    return path
