"""The posterior of ``paget calibrate`` as an xarray Dataset, and its posterior-predictive figure."""
from __future__ import annotations

import json
import os

import numpy as np

from ..errors import ConfigError

__all__ = ["posterior", "predictive_figure", "weighted_quantile"]


def _anchors() -> dict:
    """The data columns other than organs (:data:`paget.explore.abc_data.ANCHORS`)."""
    from .abc_data import ANCHORS
    return ANCHORS


def _units(key: str, scenario: str) -> tuple[str, str]:
    """(long_name, units) of a configuration key, from its description."""
    from .parameters import _locate, _model, scenario_data
    try:
        _, field, organ = _locate(key, _model(scenario_data(scenario)))
        text = field.description or key
    except ConfigError:
        return key, "1"
    # descriptions end in their units after a comma ("..., 1/day"); probabilities,
    # shares and multipliers are dimensionless
    head, _, tail = text.rpartition(", ")
    unit_words = ("day", "cells", "mm", "year", "CTC", "mL", "hour", "minute", "ng")
    units = tail if head and any(w in tail for w in unit_words) else "1"
    return f"{key}: {text}", units


def posterior(history, predictive: np.ndarray, problem):
    """The calibration as an :class:`xarray.Dataset`.

    Parameters
    ----------
    history : pyabc.History
        The finished run.
    predictive : array (draws, columns)
        Posterior-predictive statistics (fresh simulations at particles drawn
        from the final population by weight).
    problem : paget.explore.calibrate.Calibration

    Returns
    -------
    xarray.Dataset
        Every generation's particles (one variable per parameter, its dotted
        key, over ``population`` x ``particle``), ``weight``, ``distance``,
        ``epsilon`` and ``simulations`` per generation, the ``observed`` data,
        the final generation's accepted statistics (``simulated``) and the
        ``predictive`` ones; the spec in ``attrs["spec"]``.
    """
    import pyabc
    import xarray as xr
    from ..simulation import _version
    paget_version = _version()
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    ts = [int(t) for t in pops.t]
    size = max(history.get_nr_particles_per_population().loc[ts]) if ts else 0
    cols = list(problem.data)
    values = {k: np.full((len(ts), size), np.nan) for k in problem.keys}
    weight = np.full((len(ts), size), np.nan)
    dist = np.full((len(ts), size), np.nan)
    simulated = np.full((size, len(cols)), np.nan)
    for i, t in enumerate(ts):
        particles = history.get_population(t).particles
        for p, part in enumerate(particles):
            for k, v in problem.values(part.parameter).items():
                values[k][i, p] = v
            weight[i, p] = part.weight
            dist[i, p] = part.distance
            if t == ts[-1]:
                simulated[p] = [part.sum_stat[c] for c in cols]
    data_vars = {}
    for k in problem.keys:
        long_name, units = _units(problem.split(k)[1], problem.split(k)[0])
        lo, hi, log = problem.priors[k]
        data_vars[k] = (("population", "particle"), values[k],
                        {"long_name": long_name, "units": units,
                         "prior": "loguniform" if log else "uniform",
                         "prior_low": lo, "prior_high": hi})
    anchors = _anchors()
    col_units = {c: anchors[c][1] if c in anchors else "1" for c in cols}
    data_vars.update(
        weight=(("population", "particle"), weight,
                {"long_name": "importance weight of the particle (summing to 1 per "
                              "population)", "units": "1"}),
        distance=(("population", "particle"), dist,
                  {"long_name": "weighted Euclidean distance of the particle's simulation "
                                "to the data", "units": "1"}),
        epsilon=(("population",), pops.epsilon.to_numpy(dtype=float),
                 {"long_name": "acceptance threshold of the population's distances",
                  "units": "1"}),
        simulations=(("population",), pops.samples.to_numpy(dtype=np.int64),
                     {"long_name": "simulations run for the population", "units": "1"}),
        observed=(("statistic",), np.array([problem.data[c] for c in cols]),
                  {"long_name": "observed value of the statistic (the data table)",
                   "units": "1", "statistic_units": json.dumps(col_units)}),
        simulated=(("particle", "statistic"), simulated,
                   {"long_name": "the statistic simulated for each particle of the final "
                                 "population (accepted, within its epsilon)", "units": "1"}),
        predictive=(("draw", "statistic"), np.asarray(predictive, dtype=float),
                    {"long_name": "posterior-predictive statistic: a fresh simulation at a "
                                  "particle drawn from the final population by weight",
                     "units": "1"}),
    )
    ds = xr.Dataset(data_vars, coords={
        "population": ("population", np.array(ts, np.int64),
                       {"long_name": "SMC generation", "units": "1"}),
        "particle": ("particle", np.arange(size, dtype=np.int64),
                     {"long_name": "particle of a generation", "units": "1"}),
        "draw": ("draw", np.arange(len(predictive), dtype=np.int64),
                 {"long_name": "posterior-predictive draw", "units": "1"}),
        "statistic": ("statistic", np.array(cols, dtype=str),
                      {"long_name": "column of the data table (organ: share of patients "
                                    "with a metastasis there)"})})
    ds.attrs.update(title="paget calibration", spec=problem.spec_text,
                    spec_fingerprint=problem.fingerprint, scenario=problem.scenario,
                    seed=problem.seed, data_json=json.dumps(problem.data),
                    parameters=", ".join(problem.keys), paget_version=str(paget_version),
                    pyabc_version=pyabc.__version__, method="ABC-SMC (pyABC)",
                    total_simulations=int(history.total_nr_simulations))
    return ds


def weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Quantiles ``q`` of the values ``x`` with weights ``w`` (inverse of the weighted
    empirical CDF, interpolated at the midpoints of the weights)."""
    keep = np.isfinite(x) & np.isfinite(w)
    x, w = np.asarray(x)[keep], np.asarray(w)[keep]
    order = np.argsort(x)
    x, w = x[order], w[order] / w.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return np.interp(q, cdf, x)


def predictive_figure(ds, path: str | os.PathLike) -> None:
    """Data against the posterior-predictive simulations (median and 90 % interval
    per column) as a PNG.

    Without predictive draws (``[abc] predictive = 0``) the final population's
    accepted simulations stand in, weighted (each within that population's
    epsilon of the data, so narrower than a true predictive interval)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = [str(c) for c in ds.statistic.values]
    anchors = _anchors()
    fresh = ds.sizes.get("draw", 0) > 0
    sims = ds.predictive if fresh else ds.simulated
    w = (np.ones(ds.sizes["draw"]) if fresh else ds.weight.isel(population=-1).values)
    what = "posterior predictive" if fresh else "accepted simulations"
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(cols) + 2), 3.6), dpi=120)
    xs = np.arange(len(cols))
    for i, c in enumerate(cols):
        lo, med, hi = weighted_quantile(sims.sel(statistic=c).values, w, [0.05, 0.5, 0.95])
        ax.errorbar(i + 0.12, med, yerr=[[med - lo], [hi - med]], fmt="o", color="C0",
                    capsize=3, label=f"{what} (median, 90 % interval)" if i == 0 else None)
    ax.plot(xs - 0.12, ds.observed.values, "s", color="C3", label="data")
    ax.set_xticks(xs, cols, rotation=45, ha="right")
    ax.set_xlim(-0.6, len(cols) - 0.4)
    if all(c not in anchors or anchors[c][2][1] == 1.0 for c in cols):
        ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("share of patients" if all(c not in anchors for c in cols)
                  else "share of patients (anchors: their units)")
    ax.set_title(f"{what}, population {int(ds.population.values[-1])}",
                 fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


