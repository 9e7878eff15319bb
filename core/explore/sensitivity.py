"""Which parameters matter: Sobol' indices and Morris screening of a model's outputs.

The analysis takes any *vectorised model*: a function that maps a design
(``{name: values}``, one value per model evaluation) to its outputs
(``{output: values}``, one value per evaluation).  :func:`sensitivity` draws
the design with SALib, calls the model once on all of it, and analyses the
outputs with SALib; paget itself is one such model (:class:`PagetModel`,
which runs the design through :func:`paget.explore.sweep.run_design`, so the
evaluations spread over MPI ranks and resume from a store after a kill).
``paget sensitivity SPEC.toml -o OUT.nc`` (:mod:`paget.explore.sensitivity_cli`)
is that path with the spec read from TOML, a figure and the file written.

Notes
-----
*Sobol'* (``method = "sobol"``): first-order (``S1``) and total-order
(``ST``) indices by Saltelli's scheme on Sobol' sequences
(:func:`SALib.sample.sobol.sample`, :func:`SALib.analyze.sobol.analyze`;
Saltelli et al. 2010, Comput. Phys. Commun. 181:259, for the estimators).
``samples`` base samples ``N`` (a power of two: a Sobol' sequence is balanced
only then) cost ``N (D + 2)`` model evaluations for ``D`` parameters.
Second-order indices are not computed (they would double the cost).

*Morris* (``method = "morris"``): elementary effects on a grid of ``levels``
levels (Morris 1991, Technometrics 33:161), summarised as ``mu_star`` (the
mean absolute effect, a screening measure close to the total-order index;
Campolongo et al. 2007, Environ. Model. Softw. 22:1509), ``mu`` and ``sigma``
(interactions or non-linearity).  ``samples`` trajectories cost
``samples (D + 1)`` evaluations.  Effects are per whole range of a parameter
(the range scaled to [0, 1]), so they are in the output's units.

A parameter declared ``log = true`` is sampled uniformly in ``log10`` of its
value: its indices are those of its order of magnitude.

A stochastic model (paget) is run ``replicates`` times per design point, and
the indices are those of the mean over replicates (the conditional expectation
of the output given the parameters); the share of that mean's variance that is
replicate noise is reported as ``noise_share``: when it is not small, the
indices are blurred by noise and more replicates are needed.

Confidence intervals are SALib's bootstrap intervals (``resamples`` resamples
of the evaluations, ``confidence`` level), given as half-widths: the index is
``S1 +- S1_conf``.  Every random draw (the design's scrambling or
trajectories, the bootstrap) derives from the spec's ``seed``, so the same
spec gives the same file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import xarray as xr

from ..errors import ConfigError, plural

__all__ = ["METHODS", "Problem", "make_problem", "draw_design", "analyse",
           "sensitivity", "plot_indices", "PagetModel"]

#: The methods ``[sensitivity] method`` accepts.
METHODS = ("sobol", "morris")

#: A vectorised model: ``{parameter: values}`` -> ``{output: values}``, one value
#: per evaluation (and, optionally, a trailing ``replicate`` axis).  On MPI
#: ranks other than 0 it may return None (the analysis is made on rank 0).
Model = Callable[[Mapping[str, np.ndarray]], "Mapping[str, np.ndarray] | None"]


# ----------------------------------------------------------------- the problem

@dataclass(frozen=True)
class Problem:
    """The parameters varied, their ranges and scales.

    Attributes
    ----------
    names : tuple of str
        The parameters, in the order of the design's columns.
    low, high : tuple of float
        Each parameter's range, in its own units.
    log : tuple of bool
        Sampled uniformly in ``log10`` of the value (``low > 0`` then).
    integer : tuple of bool
        The parameter takes whole numbers: its values are rounded (the
        analysis still sees the continuous draw, so the effect of a step
        between two whole numbers is spread over the interval).  Empty: none.
    """

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    log: tuple[bool, ...]
    integer: tuple[bool, ...] = ()

    def salib(self) -> dict[str, Any]:
        """SALib's problem dictionary: bounds in the sampling space (log10 where ``log``)."""
        bounds = [[math.log10(lo), math.log10(hi)] if lg else [lo, hi]
                  for lo, hi, lg in zip(self.low, self.high, self.log)]
        return {"num_vars": len(self.names), "names": list(self.names), "bounds": bounds}

    def values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The parameter values of design rows ``x`` (sampling space, shape (n, D))."""
        x = np.asarray(x, dtype=np.float64)
        out = {}
        for j, name in enumerate(self.names):
            v = 10.0 ** x[:, j] if self.log[j] else x[:, j].copy()
            # 10**log10(high) may round past high: keep the values in the declared range
            v = np.clip(v, self.low[j], self.high[j])
            if self.integer and self.integer[j]:
                v = np.clip(np.round(v), math.ceil(self.low[j]), math.floor(self.high[j]))
            out[name] = v
        return out


def make_problem(ranges: Mapping[str, tuple], integer: tuple[str, ...] = ()) -> Problem:
    """A :class:`Problem` from ``{name: (low, high)}`` or ``{name: (low, high, log)}``;
    the parameters named in ``integer`` take whole numbers.

    Raises
    ------
    ConfigError
        No parameter, a range that is empty, not finite, or (``log``) not positive.
    """
    if not ranges:
        raise ConfigError("parameters: none given; declare at least one, e.g. "
                          "[parameters.\"intravasation.rate\"] low = 1e-3, high = 1e-2")
    names, low, high, log = [], [], [], []
    for name, rng in ranges.items():
        lo, hi, lg = (tuple(rng) + (False,))[:3]
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"parameters.{name}: low = {lo:g}, high = {hi:g}: need finite "
                              f"low < high")
        if lg and lo <= 0:
            raise ConfigError(f"parameters.{name}: log = true needs low > 0 (got low = {lo:g})")
        if name in integer and math.floor(hi) - math.ceil(lo) < 1:
            raise ConfigError(f"parameters.{name}: takes whole numbers: low = {lo:g}, "
                              f"high = {hi:g} must span at least two")
        names.append(str(name))
        low.append(lo)
        high.append(hi)
        log.append(bool(lg))
    return Problem(tuple(names), tuple(low), tuple(high), tuple(log),
                   tuple(n in integer for n in names))


# ------------------------------------------------------------------ the design

def _seed(seed: int, purpose: int) -> int:
    """A positive integer seed for one purpose (0: design, 1: bootstrap), derived from
    ``seed``.  Never 0: SALib's ``analyze`` takes a seed of 0 for none and then
    draws from numpy's global state, which would make the intervals irreproducible."""
    return int(np.random.SeedSequence([int(seed), 0x5A11B, purpose]).generate_state(1)[0]) | 1


def draw_design(problem: Problem, method: str, samples: int, *, seed: int,
                levels: int = 4) -> np.ndarray:
    """The design's rows, in the sampling space (shape (evaluations, D)).

    ``sobol``: Saltelli's scheme on a scrambled Sobol' sequence, ``samples``
    base samples (a power of two).  ``morris``: ``samples`` trajectories on a
    grid of ``levels`` levels.
    """
    import warnings
    if method == "sobol":
        from SALib.sample import sobol as sample
        with warnings.catch_warnings():
            # SALib warns when N is not a power of 2; specs are refused before that
            warnings.simplefilter("ignore", UserWarning)
            return sample.sample(problem.salib(), samples, calc_second_order=False,
                                 scramble=True, seed=_seed(seed, 0))
    if method == "morris":
        from SALib.sample import morris as sample
        return sample.sample(problem.salib(), samples, num_levels=levels,
                             seed=_seed(seed, 0))
    raise ConfigError(f"sensitivity.method = {method!r}: unknown; allowed: "
                      f"{', '.join(repr(m) for m in METHODS)}")


# ------------------------------------------------------------------ the analysis

_SOBOL = {
    "S1": "first-order Sobol' index",
    "S1_conf": "half-width of the confidence interval of S1",
    "ST": "total-order Sobol' index",
    "ST_conf": "half-width of the confidence interval of ST",
}
_MORRIS = {
    "mu": "mean elementary effect (per whole parameter range)",
    "mu_star": "mean absolute elementary effect (per whole parameter range)",
    "mu_star_conf": "half-width of the confidence interval of mu_star",
    "sigma": "standard deviation of the elementary effects (per whole parameter range)",
}


def _replicate_mean(y: np.ndarray, n: int, name: str) -> tuple[np.ndarray, float]:
    """The mean over replicates of output ``y`` (shape (n,) or (n, R)) and the
    share of that mean's variance that is replicate noise (NaN with one replicate)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"output {name!r}: the model returned shape {y.shape}; expected "
                         f"({n},) or ({n}, replicates)")
    mean = y.mean(axis=1)
    reps = y.shape[1]
    if reps < 2 or not np.all(np.isfinite(y)):
        return mean, math.nan
    noise = float(np.mean(y.var(axis=1, ddof=1))) / reps   # variance of a mean of R
    total = float(mean.var(ddof=1))
    return mean, (min(noise / total, 1.0) if total > 0 else math.nan)


def analyse(problem: Problem, x: np.ndarray, outputs: Mapping[str, np.ndarray], method: str, *,
            seed: int, levels: int = 4, confidence: float = 0.95,
            resamples: int = 1000, units: Mapping[str, str] | None = None) -> xr.Dataset:
    """The sensitivity indices of each output, as a Dataset.

    Parameters
    ----------
    problem : Problem
    x : ndarray, shape (n, D)
        The design (:func:`draw_design`), in the sampling space.
    outputs : mapping of str to ndarray, shape (n,) or (n, R)
        Each output's value per evaluation (and replicate: averaged here).
    method : {"sobol", "morris"}
    seed : int
        Root seed of the bootstrap.
    units : mapping, optional
        Each output's units (default ``"1"``).

    Returns
    -------
    xarray.Dataset
        Dims ``parameter`` and ``output`` (and ``sample`` for the design and
        the model's values): ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (Sobol')
        or ``mu``, ``mu_star``, ``mu_star_conf``, ``sigma`` (Morris);
        ``noise_share`` per output; ``design`` (sample, parameter) and
        ``model_output`` (sample, output).  An output that is not finite in
        every evaluation, or constant, has NaN indices and says why in its
        ``note`` (output) variable.
    """
    import warnings
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    units = dict(units or {})
    names = list(outputs)
    kinds = _SOBOL if method == "sobol" else _MORRIS
    table = {k: np.full((len(names), len(problem.names)), np.nan) for k in kinds}
    means = np.empty((n, len(names)))
    noise = np.full(len(names), np.nan)
    notes = []
    for i, name in enumerate(names):
        y, noise[i] = _replicate_mean(outputs[name], n, name)
        means[:, i] = y
        bad = int(np.count_nonzero(~np.isfinite(y)))
        if bad:
            notes.append(f"not finite in {plural(bad, 'evaluation')} of {n}: no indices")
            continue
        if np.ptp(y) == 0:
            notes.append(f"constant ({y[0]:g}) in every evaluation: no indices")
            continue
        notes.append("")
        with warnings.catch_warnings():
            # SALib warns of constant stretches of the output (and numpy of their
            # 0/0): a constant output is reported in its note above; a partly
            # constant one (a count over a few patients) is no error
            warnings.simplefilter("ignore")
            if method == "sobol":
                from SALib.analyze import sobol as analyze
                res = analyze.analyze(problem.salib(), y, calc_second_order=False,
                                      num_resamples=resamples, conf_level=confidence,
                                      seed=_seed(seed, 1))
            else:
                from SALib.analyze import morris as analyze
                res = analyze.analyze(problem.salib(), x, y, num_resamples=resamples,
                                      conf_level=confidence, num_levels=levels,
                                      seed=_seed(seed, 1))
        for k in kinds:
            table[k][i] = np.asarray(res[k], dtype=np.float64)
    return _dataset(problem, x, names, means, table, noise, notes, method, units,
                    confidence=confidence, resamples=resamples, levels=levels)


def _dataset(problem, x, names, means, table, noise, notes, method, units, *,
             confidence, resamples, levels) -> xr.Dataset:
    kinds = _SOBOL if method == "sobol" else _MORRIS
    pct = f"{100 * confidence:g} %"
    data = {}
    for k, text in kinds.items():
        if k.endswith("_conf"):
            text = text.replace("the confidence interval", f"the {pct} confidence interval")
        u = "1" if method == "sobol" else None
        data[k] = (("output", "parameter"), table[k],
                   {"long_name": text, "units": u or "(the output's, see output_units)"})
    data["noise_share"] = ("output", noise, {
        "long_name": "share of the variance of the replicate mean that is replicate noise "
                     "(NaN with one replicate)", "units": "1"})
    data["note"] = ("output", np.array(notes, dtype=str),
                    {"long_name": "why an output has no indices (empty when it has)"})
    data["design"] = (("sample", "parameter"),
                      np.column_stack([problem.values(x)[p] for p in problem.names]),
                      {"long_name": "parameter value of each model evaluation",
                       "units": "(the parameter's)"})
    data["model_output"] = (("sample", "output"), means,
                            {"long_name": "each output per model evaluation (mean over "
                                          "replicates)", "units": "(see output_units)"})
    coords = {
        "parameter": ("parameter", list(problem.names), {"long_name": "parameter varied"}),
        "output": ("output", names, {"long_name": "model output analysed"}),
        "sample": ("sample", np.arange(x.shape[0]), {"long_name": "model evaluation"}),
        "low": ("parameter", np.array(problem.low),
                {"long_name": "lower end of the range", "units": "(the parameter's)"}),
        "high": ("parameter", np.array(problem.high),
                 {"long_name": "upper end of the range", "units": "(the parameter's)"}),
        "log": ("parameter", np.array(problem.log),
                {"long_name": "sampled uniformly in log10 of the value"}),
        "output_units": ("output", np.array([units.get(o, "1") for o in names], dtype=str),
                         {"long_name": "units of the output"}),
    }
    attrs = {"title": "paget sensitivity analysis", "method": method,
             "confidence_level": confidence, "bootstrap_resamples": resamples,
             "evaluations": int(x.shape[0])}
    if method == "morris":
        attrs["levels"] = levels
    attrs["salib_version"] = _salib_version()
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _salib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("SALib")
    except PackageNotFoundError:  # pragma: no cover - SALib is a dependency
        return "unknown"


def sensitivity(model: Model, ranges: Mapping[str, tuple] | Problem, *, method: str = "sobol",
                samples: int, seed: int, levels: int = 4, confidence: float = 0.95,
                resamples: int = 1000,
                units: Mapping[str, str] | None = None) -> xr.Dataset | None:
    """Draw a design, evaluate ``model`` on it, and analyse its outputs.

    Parameters
    ----------
    model : callable
        ``{parameter: values}`` -> ``{output: values}`` (one value per row of
        the design, or an (n, replicates) array), called once with the whole
        design.  Under MPI it is called on every rank and may return None on
        ranks other than 0; so does this function then.
    ranges : mapping or Problem
        ``{name: (low, high)}`` or ``{name: (low, high, log)}``.
    method : {"sobol", "morris"}
    samples : int
        Base samples (Sobol': a power of two) or trajectories (Morris).
    seed : int
        Root seed of the design and the bootstrap.

    Returns
    -------
    xarray.Dataset or None
        See :func:`analyse`.

    Examples
    --------
    >>> def model(p):
    ...     return {"y": p["a"] + 2 * p["b"]}
    >>> ds = sensitivity(model, {"a": (0, 1), "b": (0, 1)}, samples=256, seed=1)
    >>> ds.ST.sel(output="y").values.round(1)
    array([0.2, 0.8])
    """
    problem = ranges if isinstance(ranges, Problem) else make_problem(ranges)
    x = draw_design(problem, method, samples, seed=seed, levels=levels)
    y = model(problem.values(x))
    if y is None:
        return None
    return analyse(problem, x, y, method, seed=seed, levels=levels, confidence=confidence,
                   resamples=resamples, units=units)


# ------------------------------------------------------------------ the figure

def plot_indices(ds: xr.Dataset, path) -> None:
    """Bars of the indices with their confidence intervals, one panel per output
    (Sobol': S1 and ST side by side; Morris: mu_star), written as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    outputs = [str(o) for o in ds.output.values]
    params = [str(p) for p in ds.parameter.values]
    cols = min(3, len(outputs))
    rows = -(-len(outputs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 + 0.9 * len(params) * cols + 1.5 * cols,
                                                  3.2 * rows), squeeze=False)
    pos = np.arange(len(params))
    sobol = ds.attrs["method"] == "sobol"
    for ax, out in zip(axes.ravel(), outputs):
        sel = ds.sel(output=out)
        if sobol:
            for k, (name, shift) in enumerate((("S1", -0.2), ("ST", 0.2))):
                ax.bar(pos + shift, sel[name].values, width=0.4,
                       yerr=sel[f"{name}_conf"].values, capsize=3, label=name,
                       color=("tab:blue", "tab:orange")[k])
            ax.set_ylabel("index (1)")
            ax.axhline(0, color="0.5", linewidth=0.5)
        else:
            ax.bar(pos, sel.mu_star.values, yerr=sel.mu_star_conf.values, capsize=3,
                   color="tab:blue", label="mu*")
            ax.set_ylabel(f"mu* ({sel.output_units.item()})")
        note = str(sel.note.item())
        title = out if not note else f"{out}\n({note})"
        ax.set_title(title, fontsize=9)
        ax.set_xticks(pos, params, rotation=20, ha="right", fontsize=8)
    for ax in axes.ravel()[len(outputs):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=8)
    conf = ds.attrs.get("confidence_level", 0.95)
    what = "Sobol' indices" if sobol else "Morris screening"
    fig.suptitle(f"{what} ({100 * conf:g} % confidence intervals)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ paget as the model

class PagetModel:
    """paget as a vectorised model: a design in, the outputs per run and replicate out.

    Each call runs the whole design (``replicates`` runs per design point)
    through :func:`paget.explore.sweep.run_design`, so the runs spread over
    the ranks of ``comm`` and, with a ``store``, are written there as they
    finish and skipped when the same call is made again (after a kill).

    Parameters
    ----------
    outputs : sequence of str
        Flat output names, as :func:`paget.explore.summaries.flatten` makes them
        (``"sites"``, ``"involvement.liver"``, ``"survival.0.5"``).
    scenario, base, replicates, seed, store, comm, progress, spec
        As for :func:`~paget.explore.sweep.run_design`.
    overwrite : bool
        Replace a ``store`` that holds the runs of another design (one of this
        design is always resumed, never replaced).

    Attributes
    ----------
    units : dict
        Each output's units, known after a call (on rank 0).
    """

    def __init__(self, outputs, *, scenario: str | None = None,
                 base: Mapping[str, Any] | None = None, replicates: int = 1, seed: int = 0,
                 store=None, comm=None, progress: bool = False, overwrite: bool = False,
                 spec: Mapping[str, Any] | None = None):
        self.outputs = tuple(outputs)
        self.summaries = sorted({o.split(".", 1)[0] for o in self.outputs})
        self.scenario, self.base = scenario, dict(base or {})
        self.replicates, self.seed = replicates, seed
        self.store, self.comm, self.progress = store, comm, progress
        self.overwrite, self.spec = overwrite, spec
        self.units: dict[str, str] = {}

    def __call__(self, design: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        from ..errors import PathError
        from .sweep import run_design
        kw = dict(scenario=self.scenario, base=self.base, replicates=self.replicates,
                  seed=self.seed, summary=self.summaries, store=self.store, comm=self.comm,
                  progress=self.progress, spec=self.spec)
        try:
            # never overwrite at first: run_design would replace a store of this very
            # design too, and a resumed analysis would start again from nothing
            ds = run_design(design, **kw, overwrite=False)
        except PathError as exc:     # raised on every rank, before any run
            if not self.overwrite:
                text = str(exc)
                raise PathError("runs' store " + (text[3:] if text.startswith("-o ") else text)
                                ) from None
            ds = run_design(design, **kw, overwrite=True)    # a store of another design
        if ds is None:
            return None
        return self.extract(ds)

    def extract(self, ds: xr.Dataset) -> dict[str, np.ndarray]:
        """The outputs, each (sample, replicate), from a sweep's summary dataset
        (names as :func:`paget.explore.summaries.flatten` makes them)."""
        from .summaries import _label
        found: dict[str, np.ndarray] = {}
        for name in self.summaries:
            var = ds[name].transpose("sample", "replicate", ...)
            extra = var.dims[2:]
            for idx in np.ndindex(*[var.sizes[d] for d in extra]):
                labels = [str(_label(var, d, i)) for d, i in zip(extra, idx)]
                flat = ".".join([name, *labels])
                if flat in self.outputs:
                    found[flat] = np.asarray(var.values[(slice(None), slice(None), *idx)],
                                             dtype=np.float64)
                    self.units[flat] = str(var.attrs.get("units", "1"))
        missing = [o for o in self.outputs if o not in found]
        if missing:
            raise ConfigError(f"sensitivity.outputs: {', '.join(map(repr, missing))} not in "
                              f"the runs' summaries")
        return {o: found[o] for o in self.outputs}
