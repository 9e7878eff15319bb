"""Bayesian calibration of the model to a data table: ``paget calibrate`` (ABC-SMC with pyABC).

``paget calibrate SPEC.toml --data TABLE.csv -o POST.nc`` fits the
parameters named in the spec to a table of observed summary statistics by
approximate Bayesian computation with sequential Monte Carlo (ABC-SMC; Toni
et al. 2009, J R Soc Interface 6:187), as implemented by pyABC (Schälte et
al. 2022, Bioinformatics 38:2692).  The model is paget itself, run through
:func:`paget.simulate`: no likelihood is needed.

The spec (TOML) holds the common keys of :mod:`paget.explore.parameters`
(``scenario``, ``seed``, ``[base]``) and::

    [parameters."intravasation.rate"]
    prior = "loguniform"          # or "uniform"
    low = 1e-4                    # within the key's allowed values
    high = 1e-1

    [abc]
    populations = 4               # SMC generations (at most)
    population_size = 100         # accepted particles per generation
    epsilon = "median"            # first threshold: the median distance of a
                                  # prior sample, or a number
    quantile = 0.5                # later thresholds: this quantile of the
                                  # previous generation's distances
    min_epsilon = 0.0             # stop once the threshold is this small
    patients = 20                 # patients per simulated cohort
    involved_cells = 1e5          # cells for an organ to count as involved
    weights = {liver = 2.0}       # weight of a column in the distance (default 1)
    predictive = 100              # posterior-predictive simulations (default:
                                  # population_size; 0: none)

The data table (CSV; lines starting with ``#`` are comments) has a header and
one row of observed values.  Each column is an organ (the share of patients
with a metastasis of at least ``involved_cells`` cells there at death or at the
end of follow-up, fraction 0-1, as :func:`paget.explore.summaries.involvement`
computes) or an anchor: ``sites`` (mean involved organs per patient),
``ctc_positive`` (share of patients whose last CellSearch draw, at death or
the end of follow-up, is positive) or ``ctc_per_7_5ml`` (median CTC per 7.5 mL
at that draw).  With a first column ``scenario`` the table has a row per
scenario, each simulated for every particle; a parameter key
``"SCENARIO:dotted.key"`` is that scenario's own, a plain key is shared by all.
The distance between a simulation and the data is the weighted Euclidean
distance over the observed values.

Each generation's simulations run in parallel over MPI ranks
(``mpiexec -n K paget calibrate ...``: rank 0 drives pyABC, ranks 1 .. K-1
simulate, through :class:`mpi4py.futures.MPICommExecutor`).  The evaluations
are seeded from the spec's seed (:mod:`paget.explore.abc_sampler`), so the
posterior is the same on any number of ranks.  pyABC's history database
(``--db``, default ``POST.db``) holds every finished generation: the same
command after a kill continues from it, and a database made by another spec
is refused.  The posterior is written as a netCDF dataset, with a
posterior-predictive figure (``--figure``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, PagetError, PathError, plural
from .abc_data import ANCHORS, read_data
from .abc_posterior import posterior, predictive_figure, weighted_quantile
from .parameters import check_keys

__all__ = ["read_calibration", "read_data", "Calibration", "run", "posterior",
           "predictive_figure", "weighted_quantile", "add_arguments", "command", "ANCHORS"]

#: the top-level keys a calibration spec adds to the common ones
SPEC_KEYS = ("abc",)
#: the keys of the [abc] table and their defaults
ABC_DEFAULTS: dict[str, Any] = {"populations": 4, "population_size": 100,
                                "epsilon": "median", "quantile": 0.5, "min_epsilon": 0.0,
                                "patients": 20, "involved_cells": None, "weights": {},
                                "predictive": None}
#: the keys of a [parameters."key"] table
PRIOR_KEYS = ("prior", "low", "high", "log")
PRIORS = ("uniform", "loguniform")

# ------------------------------------------------------------------- the spec
def read_calibration(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a calibration spec.

    Returns
    -------
    dict
        ``scenario``, ``seed``, ``base`` (as :func:`paget.explore.parameters.read_spec`
        fills them), ``priors`` (``{key: (low, high, log)}``, within the key's
        allowed values) and ``abc`` (the [abc] table with its defaults).

    Raises
    ------
    paget.ConfigError
        One line naming the file, the key, the bad value and what is allowed.
    """
    from ..config import _suggest, read_toml
    from . import parameters
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise PathError(f"{name!r}: no such spec file")
    raw = read_toml(path)
    params = raw.get("parameters", {})
    if not isinstance(params, Mapping) or not params:
        raise ConfigError(f"{name}: [parameters]: name at least one parameter to calibrate, "
                          f"e.g. [parameters.\"intravasation.rate\"] prior = \"loguniform\", "
                          f"low = 1e-4, high = 1e-1")
    # the priors as the common [parameters] ranges (log: loguniform), checked by
    # parameter_ranges against the keys' allowed values
    ranges = {}
    for key, table in params.items():
        where = f"parameters.{json.dumps(key)}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name}: {where} = {table!r}: must be a table with prior, "
                              f"low and high")
        check_keys(table, PRIOR_KEYS, f"{name}: {where}.")
        prior = table.get("prior", "loguniform" if table.get("log") else "uniform")
        if prior not in PRIORS:
            raise ConfigError(f"{name}: {where}.prior = {prior!r}: unknown prior"
                              f"{_suggest(str(prior), PRIORS)}; priors: {', '.join(PRIORS)}")
        if "log" in table and table["log"] != (prior == "loguniform"):
            raise ConfigError(f"{name}: {where}: log = {table['log']!r} contradicts prior = "
                              f"{prior!r}; give one of them")
        ranges[key] = {k: v for k, v in table.items() if k in ("low", "high")}
        ranges[key]["log"] = prior == "loguniform"
    spec = _common(raw, path)
    priors = {}
    for key, table in ranges.items():   # "SCENARIO:key": that scenario's own parameter
        scen, _, dotted = key.rpartition(":")
        try:
            got = parameters.parameter_ranges({**spec, "scenario": scen or spec["scenario"],
                                               "parameters": {dotted: table}})
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}".replace(f'"{dotted}"', json.dumps(key))) \
                from None
        priors[key] = got[dotted]
    spec["priors"] = priors
    spec["abc"] = _abc_table(raw.get("abc", {}), name)
    spec["path"] = name
    spec["text"] = path.read_text(encoding="utf-8")
    return spec


def _common(raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The common keys of a spec checked as :func:`paget.explore.parameters.read_spec`
    checks them (scenario, seed, [base]; no unknown top-level key)."""
    from .parameters import COMMON_KEYS, check_common
    spec = dict(raw)
    try:
        check_common(spec, path, list(COMMON_KEYS) + list(SPEC_KEYS))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return {k: spec[k] for k in ("scenario", "seed", "base")}


def _abc_table(table: Any, name: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{name}: abc = {table!r}: must be a table [abc]")
    check_keys(table, ABC_DEFAULTS, f"{name}: abc.")
    abc = {**ABC_DEFAULTS, **table}

    def whole(k, least):
        v = abc[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise ConfigError(f"{name}: abc.{k} = {v!r}: must be a whole number >= {least}")
    whole("populations", 1)
    whole("population_size", 2)
    whole("patients", 1)
    if abc["predictive"] is None:
        abc["predictive"] = abc["population_size"]
    whole("predictive", 0)
    eps = abc["epsilon"]
    if eps != "median" and not (_number(eps) and eps > 0):
        raise ConfigError(f"{name}: abc.epsilon = {eps!r}: must be \"median\" (of a prior "
                          f"sample's distances) or a number > 0")
    q = abc["quantile"]
    if not (_number(q) and 0 < q < 1):
        raise ConfigError(f"{name}: abc.quantile = {q!r}: must be a number within (0, 1)")
    m = abc["min_epsilon"]
    if not (_number(m) and m >= 0):
        raise ConfigError(f"{name}: abc.min_epsilon = {m!r}: must be a number >= 0")
    c = abc["involved_cells"]
    if c is not None and not (_number(c) and c > 0):
        raise ConfigError(f"{name}: abc.involved_cells = {c!r}: must be a number of cells > 0")
    w = abc["weights"]
    if not isinstance(w, Mapping) or not all(_number(v) and v >= 0 for v in w.values()):
        raise ConfigError(f"{name}: abc.weights = {w!r}: must be a table of column = "
                          f"weight >= 0")
    abc["weights"] = dict(w)
    return abc


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------- the problem
class Calibration:
    """A checked calibration problem: spec, data, and what runs each simulation.

    Instances are pickled to the MPI workers (inside pyABC's ``simulate_one``);
    calling one with a pyABC parameter returns the simulated statistics.
    """

    def __init__(self, spec: Mapping[str, Any], data: Mapping[str, float]):
        from ..config import deep_merge
        from .parameters import config_for, parameter_ranges
        where = spec.get("path", "spec")
        self.scenario = spec["scenario"]
        self.seed = int(spec["seed"])
        self.abc = dict(spec["abc"])
        self.priors = {k: tuple(v) for k, v in spec["priors"].items()}
        self.keys = list(self.priors)
        self.data = dict(data)
        self.base = deep_merge(dict(spec.get("base", {})),
                               {"cohort": {"patients": int(self.abc["patients"])}})
        # the scenarios simulated for each particle, with their data columns
        self.rows: dict[str, list[str]] = {}
        for key in self.data:
            scen, _, col = key.rpartition(":")
            self.rows.setdefault(scen or self.scenario, []).append(col)
        per_scenario = any(":" in k for k in self.data)
        for key in self.keys:
            scen, _, dotted = key.rpartition(":")
            if scen and scen not in self.rows:
                raise ConfigError(f"{where}: parameters.{json.dumps(key)}: no row of the data "
                                  f"table is scenario {scen!r}; its scenarios: "
                                  f"{', '.join(self.rows)}")
            if not scen and per_scenario:    # shared: allowed in every row's scenario
                lo, hi, log = self.priors[key]
                for row in self.rows:
                    try:
                        parameter_ranges({"scenario": row, "base": spec.get("base", {}),
                                          "parameters": {key: {"low": lo, "high": hi,
                                                               "log": log}}})
                    except ConfigError as exc:
                        raise ConfigError(f"{where}: scenario {row!r} of the data table: "
                                          f"{exc}") from None
        columns = {k.rpartition(":")[2] for k in self.data}
        unknown = sorted(w for w in self.abc["weights"] if w not in self.data
                         and w not in columns)
        if unknown:
            raise ConfigError(f"{where}: abc.weights: {', '.join(map(repr, unknown))} not a "
                              f"column of the data table; its columns: {', '.join(self.data)}")
        for scen, cols in self.rows.items():
            ctc = [c for c in cols if c.startswith("ctc_")]
            off = config_for(scen, self.base).get("plugins", {}).get("disable", [])
            if ctc and "liquid_biopsy" in off:
                raise ConfigError(f"--data: column {ctc[0]!r} needs the liquid_biopsy "
                                  f"plugin, which the configuration of {scen!r} disables")
        self.spec_text = spec.get("text", "")
        self.fingerprint = self._fingerprint(spec)

    def _fingerprint(self, spec) -> str:
        """What the stored generations depend on: not the stopping rules
        ``populations`` and ``min_epsilon`` (raise or lower them to go on) nor
        the posterior-predictive runs after the last generation."""
        from .parameters import config_for
        abc = {k: v for k, v in self.abc.items()
               if k not in ("populations", "min_epsilon", "predictive")}
        blob = json.dumps({"config": {s: config_for(s, self.base) for s in self.rows},
                           "seed": self.seed, "priors": self.priors, "abc": abc,
                           "data": self.data}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def split(self, key: str) -> tuple[str, str]:
        """(scenario, dotted configuration key) of a parameter."""
        scen, _, dotted = key.rpartition(":")
        return scen or self.scenario, dotted

    # pyABC's view: parameters p0, p1, ... on the sampling scale (log10 for loguniform)
    def names(self) -> list[str]:
        return [f"p{i}" for i in range(len(self.keys))]

    def prior(self):
        import pyabc
        rvs = {}
        for name, key in zip(self.names(), self.keys):
            lo, hi, log = self.priors[key]
            if log:
                lo, hi = math.log10(lo), math.log10(hi)
            rvs[name] = pyabc.RV("uniform", lo, hi - lo)
        return pyabc.Distribution(**rvs)

    def values(self, par: Mapping[str, float]) -> dict[str, float]:
        """The configuration values of a pyABC parameter."""
        out = {}
        for name, key in zip(self.names(), self.keys):
            lo, hi, log = self.priors[key]
            v = float(par[name])
            out[key] = float(min(max(10.0 ** v if log else v, lo), hi))
        return out

    def __call__(self, par: Mapping[str, float]) -> dict[str, float]:
        """Simulate each scenario of the data table at ``par``: the statistics."""
        from .simulate import simulate
        values = self.values(par)
        out: dict[str, float] = {}
        for scen, cols in self.rows.items():
            mine = {}
            for key, v in values.items():
                s, dotted = self.split(key)
                if s == scen or ":" not in key:
                    mine[dotted] = v
            seed = int(np.random.randint(0, 2**62, dtype=np.int64))
            ds = simulate(mine, seed=seed, scenario=scen, base=self.base)
            prefix = f"{scen}:" if any(":" in k for k in self.data) else ""
            out.update({prefix + c: v for c, v in self.statistics(ds, cols).items()})
        return out

    def statistics(self, ds, columns: list[str] | None = None) -> dict[str, float]:
        """The data table's columns (default: those of a one-row table), computed
        from a run's dataset."""
        from . import summaries
        cols = list(self.data) if columns is None else list(columns)
        cells = self.abc["involved_cells"] or summaries.INVOLVED_CELLS
        out: dict[str, float] = {}
        organs = [c for c in cols if c not in ANCHORS]
        if organs:
            share = summaries.involvement(ds, cells)
            for c in organs:
                out[c] = float(share.sel(organ=c))
        if "sites" in cols:
            out["sites"] = float(summaries.sites(ds, cells))
        for c in ("ctc_positive", "ctc_per_7_5ml"):
            if c in cols:
                if c not in ds:
                    raise ConfigError(f"data column {c!r} needs the liquid_biopsy plugin, "
                                      f"which the scenario switches off")
                last = ds[c].isel(time=-1).values
                out[c] = float(np.mean(last) if c == "ctc_positive" else np.median(last))
        return out

    def distance(self, x: Mapping[str, float], y: Mapping[str, float]) -> float:
        """Weighted Euclidean distance over the data columns."""
        w = self.abc["weights"]
        return math.sqrt(sum(w.get(c, w.get(c.rpartition(":")[2], 1.0)) * (x[c] - y[c]) ** 2
                             for c in self.data))


# ------------------------------------------------------------------ running
def _history_meta(db: Path) -> dict | None:
    """The paget meta information stored in a pyABC database (None: none)."""
    import ast
    import pyabc
    h = pyabc.History(f"sqlite:///{db}", _id=1)
    try:
        text = h.get_abc().json_parameters
        meta = ast.literal_eval(text) if text else {}
    except Exception:
        return None
    return meta if isinstance(meta, dict) and "paget_fingerprint" in meta else None


def check_history(db: Path, problem: Calibration) -> bool:
    """True if ``db`` holds generations of this problem (to continue), False if
    there is none; ConfigError if it was made by another spec."""
    if not db.exists():
        return False
    if db.is_dir() or db.stat().st_size == 0:
        raise PathError(f"--db {str(db)!r}: is not a pyABC history database")
    try:
        meta = _history_meta(db)
    except Exception:
        raise PathError(f"--db {str(db)!r}: is not a pyABC history database; remove it or "
                        f"choose another --db") from None
    if meta is None:
        raise ConfigError(f"--db {str(db)!r}: was not made by paget calibrate; remove it or "
                          f"choose another --db")
    if meta["paget_fingerprint"] != problem.fingerprint:
        raise ConfigError(f"--db {str(db)!r}: holds a calibration of another spec or data "
                          f"table (it is continued only by the same scenario, seed, [base], "
                          f"priors, [abc] and data); remove it or choose another --db")
    return True


def run(problem: Calibration, db: str | os.PathLike, *, comm=None, progress: bool = True):
    """Run (or continue) the ABC-SMC of ``problem``, storing generations in ``db``.

    On rank 0 of ``comm`` returns the :class:`pyabc.History` and the
    posterior-predictive statistics (``[abc] predictive`` simulations at
    particles drawn from the final population, array (draws, columns)); the
    other ranks simulate for rank 0 and return None.  Without ``comm`` (or on one rank)
    everything runs in this process.
    """
    if comm is None or comm.Get_size() == 1:
        return _run(problem, Path(db), None, 1, progress)
    from mpi4py.futures import MPICommExecutor
    with MPICommExecutor(comm, root=0) as executor:
        if executor is not None:
            return _run(problem, Path(db), executor, comm.Get_size() - 1, progress)
    return None


def _run(problem: Calibration, db: Path, executor, workers: int, progress: bool):
    import logging
    import random
    import pyabc
    from .abc_sampler import SeededSampler
    for name in ("ABC", "ABC.History", "ABC.Epsilon", "ABC.Distance", "ABC.Sampler",
                 "ABC.Population", "ABC.Transition", "ABC.Adaptation"):
        logging.getLogger(name).setLevel(logging.INFO if progress and name == "ABC"
                                         else logging.WARNING)
    np.random.seed(problem.seed % 2**32)
    random.seed(problem.seed)
    abc_cfg = problem.abc
    eps0 = "from_sample" if abc_cfg["epsilon"] == "median" else float(abc_cfg["epsilon"])
    epsilon = pyabc.QuantileEpsilon(initial_epsilon=eps0, alpha=float(abc_cfg["quantile"]))
    sampler = SeededSampler(problem.seed, executor, workers)
    sampler.show_progress = False
    abc = pyabc.ABCSMC(problem, problem.prior(), problem.distance,
                       population_size=int(abc_cfg["population_size"]),
                       eps=epsilon, sampler=sampler)
    url = f"sqlite:///{db.resolve()}"
    if check_history(db, problem):
        history = abc.load(url, 1)
    else:
        history = abc.new(url, problem.data,
                          meta_info={"paget_fingerprint": problem.fingerprint,
                                     "paget_spec": problem.spec_text})
    done = history.max_t + 1
    left = int(abc_cfg["populations"]) - done
    if done > 0:
        last = history.get_all_populations()
        if float(last.epsilon.iloc[-1]) <= float(abc_cfg["min_epsilon"]):
            left = 0
    if left > 0:
        history = abc.run(minimum_epsilon=float(abc_cfg["min_epsilon"]),
                          max_nr_populations=left)
    return history, _predictive(problem, history, executor)


def _predict(problem: Calibration, par: Mapping[str, float], i: int) -> list[float]:
    """Posterior-predictive simulation ``i``: a fresh seed from (seed, i)."""
    from .abc_sampler import evaluation_seed
    np.random.seed(evaluation_seed(problem.seed, PREDICTIVE_T, i))
    stats = problem(par)
    return [stats[c] for c in problem.data]


#: the "population" index keying the seeds of the posterior-predictive simulations
PREDICTIVE_T = 2**31 - 2


def _predictive(problem: Calibration, history, executor) -> np.ndarray:
    """``[abc] predictive`` simulations at particles drawn from the final population
    by weight, each with a fresh seed: (draws, statistics)."""
    n = int(problem.abc["predictive"])
    if n == 0 or history.max_t < 0:
        return np.zeros((0, len(problem.data)))
    particles = history.get_population(history.max_t).particles
    w = np.array([p.weight for p in particles], dtype=float)
    rng = np.random.default_rng([problem.seed, PREDICTIVE_T])
    pick = rng.choice(len(particles), size=n, p=w / w.sum())
    pars = [dict(particles[k].parameter) for k in pick]
    if executor is None:
        rows = [_predict(problem, par, i) for i, par in enumerate(pars)]
    else:
        rows = list(executor.map(_predict, [problem] * n, pars, range(n)))
    return np.array(rows, dtype=float).reshape(n, len(problem.data))


# --------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``paget calibrate``."""
    parser.add_argument("spec", metavar="SPEC.toml", help="the calibration spec: scenario, "
                        "seed, [base], [parameters.\"key\"] priors and [abc]")
    parser.add_argument("--data", required=True, metavar="TABLE.csv",
                        help="observed values: a header of organs (shares of patients with "
                             "a metastasis there, 0-1) or anchors, and one row")
    parser.add_argument("-o", "--output", required=True, metavar="POST.nc",
                        help="write the posterior (every population's particles) here")
    parser.add_argument("--db", metavar="HISTORY.db", default=None,
                        help="pyABC's history database (default: POST.db); an existing one "
                             "made by the same spec is continued")
    parser.add_argument("--figure", metavar="FIG.png", default=None,
                        help="also draw the posterior-predictive figure here")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing POST.nc and FIG.png (the database is "
                             "always continued, never replaced)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no line per population on stderr")


def _check_paths(args) -> tuple[Path, Path, Path | None]:
    from ..files import check_output
    out = Path(args.output)
    if out.suffix != ".nc":
        raise PathError(f"-o {str(out)!r}: the posterior is written as netCDF: name it "
                        f"*.nc")
    check_output(out, overwrite=args.overwrite, flag="-o")
    db = Path(args.db) if args.db else out.with_suffix(".db")
    if db.suffix == ".nc" or db.resolve() == out.resolve():
        raise PathError(f"--db {str(db)!r}: must differ from -o and not end in .nc")
    if not db.parent.is_dir():
        raise PathError(f"--db {str(db)!r}: directory {str(db.parent)!r} does not exist; "
                        f"create it first")
    fig = Path(args.figure) if args.figure else None
    if fig is not None:
        if fig.suffix.lower() != ".png":
            raise PathError(f"--figure {str(fig)!r}: the figure is a PNG: name it *.png")
        if not fig.parent.is_dir():
            raise PathError(f"--figure {str(fig)!r}: directory {str(fig.parent)!r} does not "
                            f"exist; create it first")
        if fig.exists() and not args.overwrite:
            raise PathError(f"--figure {str(fig)!r}: exists; pass --overwrite to replace it")
    return out, db, fig


def prepare(args) -> tuple[Calibration, Path, Path, Path | None, bool]:
    """Check everything before anything is written: pyABC, spec, data, paths, database."""
    from importlib.util import find_spec
    if find_spec("pyabc") is None:
        raise PagetError("paget calibrate needs pyABC, an optional dependency: "
                         "pip install 'paget[calibrate]'")
    spec = read_calibration(args.spec)
    problem = Calibration(spec, read_data(args.data))
    out, db, fig = _check_paths(args)
    resume = check_history(db, problem)
    return problem, out, db, fig, resume


def command(args, comm) -> int:
    """``paget calibrate``: check, run or continue the ABC-SMC, write the posterior."""
    import sys
    rank = 0 if comm is None else comm.Get_rank()
    error = None
    problem = out = db = fig = None
    resume = False
    try:
        if rank == 0:
            problem, out, db, fig, resume = prepare(args)
    except Exception as exc:   # every rank must hear of it, or the workers wait forever
        error = exc
    if comm is not None and comm.Get_size() > 1:
        error = comm.bcast(error, root=0)
        problem, db = comm.bcast((problem, db) if error is None else (None, None), root=0)
    if error is not None:
        raise error
    progress = not args.no_progress
    if rank == 0 and progress and resume:
        print(f"paget calibrate: continuing {str(db)!r}", file=sys.stderr, flush=True)
    result = run(problem, db, comm=comm, progress=progress)
    if rank != 0:
        return 0
    ds = posterior(*result, problem)
    tmp = out.with_name(f".{out.name}.part")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    if fig is not None:
        predictive_figure(ds, fig)
    if progress:
        eps = float(ds.epsilon.values[-1])
        print(f"paget calibrate: {plural(ds.sizes['population'], 'population')}, "
              f"{plural(int(ds.attrs['total_simulations']), 'simulation')}, final epsilon "
              f"{eps:.4g}; posterior in {str(out)!r}", file=sys.stderr, flush=True)
    return 0
