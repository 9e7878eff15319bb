"""Figures of a result, as PNG files: what ``paget plot OUT`` draws.

Four figures, each a function taking the result Dataset and the path of the PNG
to write (see :func:`plot_all`).  Matplotlib is imported only when a figure is
drawn, and only its object-oriented API with the Agg canvas is used (never
``pyplot``), so drawing changes no global state of a notebook or a script.

Every figure works on a Dataset from any paget so far: variables that only some
runs have (``arm``, ``therapy_line``, ``diagnosis_time``, ``surgery_time``,
``first_detected_metastasis_time``) are drawn where present and left out
otherwise.  Time axes are in years (365.25 days) since the start of the run.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import analysis

__all__ = ["read_result", "plot_all", "plot_survival", "plot_burden", "plot_sites",
           "plot_swimmer", "FIGURES", "DAYS_PER_YEAR"]

DAYS_PER_YEAR = 365.25
#: Variables every figure needs; :func:`read_result` checks them up front.
REQUIRED = ("death_time", "tumor_cells", "alive", "detectable_lesions")
#: PNG file names, in the order :func:`plot_all` writes them.
FIGURES = ("survival.png", "burden.png", "sites.png", "swimmer.png")


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
        with xr.open_dataset(path, engine="zarr" if zarr else "h5netcdf") as ds:
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


def plot_all(ds: xr.Dataset, directory: str | os.PathLike, *, patients: int = 20
             ) -> list[Path]:
    """Write the four figures into ``directory`` (created if needed).

    ``survival.png`` (:func:`plot_survival`), ``burden.png``
    (:func:`plot_burden`), ``sites.png`` (:func:`plot_sites`) and
    ``swimmer.png`` (:func:`plot_swimmer` of ``patients`` patients).
    Returns the paths written, in that order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    drawers = (plot_survival, plot_burden, plot_sites,
               lambda d, p: plot_swimmer(d, p, patients=patients))
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


# --------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------

def plot_survival(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Kaplan–Meier curves of overall and metastasis-free survival, per arm.

    Two panels (OS; MFS as defined by :func:`paget.analysis.survival`), one
    curve per arm with its censorings marked, the median in the legend, and
    the numbers at risk under each panel.
    """
    path = Path(path)
    arm_names = _arm_list(ds)
    colors = _colors(len(arm_names))
    end = float(ds["time"].values[-1])
    ticks = _time_ticks(end / DAYS_PER_YEAR)
    rows = len(arm_names)
    fig = _figure(figsize=(11, 4.6 + 0.22 * rows), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[4, 0.45 + 0.28 * rows])
    mfs_from = analysis.metastasis_variable(ds).removesuffix("_time").replace("_", " ")
    for col, (endpoint, title) in enumerate((("os", "Overall survival"),
                                             ("mfs", "Metastasis-free survival"))):
        ax = fig.add_subplot(grid[0, col])
        table = fig.add_subplot(grid[1, col], sharex=ax)
        for i, (arm, color) in enumerate(zip(arm_names, colors)):
            s = analysis.survival(ds, endpoint, arm=arm)
            km = analysis.kaplan_meier(s["time"].values, s["event"].values)
            med = analysis.median_survival(s["time"].values, s["event"].values)
            label = (arm or "all patients") + (
                f" (median {med / DAYS_PER_YEAR:.1f} y)" if np.isfinite(med) else
                " (median not reached)")
            x = np.concatenate([[0.0], _years(km.t)])
            y = np.concatenate([[1.0], km.survival])
            ax.step(x, y, where="post", color=color, label=label)
            cens = km.censored > 0
            ax.plot(_years(km.t[cens]), km.survival[cens], "|", color=color, markersize=8)
            # a tick just past the end (2 y = 730.5 d, follow-up ends on day 730)
            # counts those followed to the end
            n_risk = km.number_at_risk(np.minimum(ticks * DAYS_PER_YEAR, end))
            for tick, n in zip(ticks, n_risk):
                table.text(tick, rows - 1 - i, str(int(n)), ha="center", va="center",
                           fontsize=8, color=color)
        ax.set_title(title if endpoint == "os" else f"{title}\n(metastasis: {mfs_from})",
                     fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, max(end / DAYS_PER_YEAR, ticks[-1]))
        ax.set_ylabel("probability event-free" if endpoint == "mfs" else "probability alive")
        ax.legend(loc="lower left", fontsize=8, frameon=False)
        ax.tick_params(labelbottom=False)
        ax.grid(alpha=0.3)
        table.set_xticks(ticks)
        table.set_ylim(-0.6, rows - 0.4)
        table.set_yticks(range(rows),
                         [a or "all" for a in reversed(arm_names)], fontsize=8)
        table.set_xlabel("years since the start of the run")
        table.set_title("number at risk", fontsize=8, loc="left")
        for side in ("top", "right", "left"):
            table.spines[side].set_visible(False)
        table.tick_params(axis="y", length=0, pad=14)
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
            ax.set_xlabel("years")
    for ax in list(axes.flat)[len(organs):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, frameon=False, title="median, IQR shaded",
                        title_fontsize=8)
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
    :func:`paget.analysis.metastatic_pattern` for what counts.
    """
    from matplotlib import colormaps
    path = Path(path)
    share = analysis.metastatic_pattern(ds)
    primary = share.attrs["primary_organ"]
    data = share.values[None, :] if share.ndim == 1 else share.values
    labels = [f"primary: {primary}"] if share.ndim == 1 else [str(a) for a in share.arm.values]
    organs = [str(o) for o in share.organ.values]
    fig = _figure(figsize=(1.0 + 0.55 * len(organs), 1.9 + 0.45 * len(labels)),
                  layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(100 * data, cmap=colormaps["viridis"], vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(organs)), organs, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = 100 * data[i, j]
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if v > 60 else "white")
    fig.colorbar(im, ax=ax, label="% of patients", shrink=0.9)
    ax.set_title(f"Detectable metastases by organ ({share.attrs['patients']} patients"
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


def _sample(ds: xr.Dataset, n: int) -> list[tuple[str | None, int]]:
    """``n`` (arm, patient) pairs, split evenly over the arms, drawn with a fixed
    seed so that the same file always gives the same figure."""
    arm_names = _arm_list(ds)
    patients = ds["patient"].values
    rng = np.random.default_rng(0)
    out: list[tuple[str | None, int]] = []
    for i, arm in enumerate(arm_names):
        k = n // len(arm_names) + (1 if i < n % len(arm_names) else 0)
        k = min(k, patients.size)
        chosen = np.sort(rng.choice(patients.size, size=k, replace=False)) if k < patients.size \
            else np.arange(patients.size)
        out += [(arm, int(patients[j])) for j in chosen]
    return out


def plot_swimmer(ds: xr.Dataset, path: str | os.PathLike, *, patients: int = 20) -> Path:
    """Swimmer plot of a sample of ``patients`` patients.

    One bar per patient from the start of the run to death or the end of
    follow-up, coloured by ``therapy_line`` where the run has it (grey: no
    systemic therapy; line k: the k-th line running), with markers at
    diagnosis, surgery, the first (detected, else detectable) metastasis and
    death; an arrow marks a patient alive at the end.  The sample is drawn
    with a fixed seed, split evenly over the arms; bars are sorted by length
    within each arm.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    if patients < 1:
        raise ValueError(f"patients={patients!r}: the swimmer plot needs at least 1 patient")
    path = Path(path)
    analysis._require(ds, "death_time", purpose="plot_swimmer")
    end = float(ds["time"].values[-1])
    times = ds["time"].values
    has_arms = analysis.arms(ds) is not None
    met = analysis.metastasis_variable(ds)
    markers = [v for v in ("diagnosis_time", "surgery_time", met, "death_time")
               if v in ds.variables]
    lines = "therapy_line" in ds.variables
    rows = []
    for arm, p in _sample(ds, patients):
        sel = ds.sel(patient=p) if arm is None else ds.sel(arm=arm, patient=p)
        death = float(sel["death_time"])
        stop = death if np.isfinite(death) and death <= end else end
        rows.append((arm, p, stop, sel))
    rows.sort(key=lambda r: (_arm_list(ds).index(r[0]), -r[2]))
    fig = _figure(figsize=(9, 1.6 + 0.28 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    line_colors = _colors(10)
    used_lines: set[int] = set()
    for y, (arm, p, stop, sel) in enumerate(rows):
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
                ax.plot(_years(t), y, marker, color="black" if var != "death_time" else "firebrick",
                        markersize=7 if marker == "*" else 5, markeredgewidth=0)
        if not (np.isfinite(float(sel["death_time"])) and float(sel["death_time"]) <= end):
            ax.plot(_years(end), y, ">", color="0.3", markersize=5)
    ax.set_yticks(range(len(rows)), [f"{a}: {p}" if has_arms else str(p)
                                     for a, p, _, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, _years(end) * 1.03)
    ax.set_xlabel("years since the start of the run")
    ax.set_ylabel("arm: patient" if has_arms else "patient")
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
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
              frameon=False)
    n_total = ds.sizes["patient"] * (ds.sizes["arm"] if has_arms else 1)
    ax.set_title(f"{len(rows)} of {n_total} patients" + (" (across arms)" if has_arms else ""),
                 fontsize=10)
    _save(fig, path)
    return path
