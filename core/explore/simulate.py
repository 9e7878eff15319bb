"""One run of the model from flat dotted parameters: ``paget.simulate``."""
from __future__ import annotations

from typing import Any, Mapping

import xarray as xr

from .parameters import config_for, resolve

__all__ = ["simulate", "simulation"]


def simulation(params: Mapping[str, Any] | None = None, *, seed: int,
               scenario: str | None = None, base: Mapping[str, Any] | None = None):
    """The :class:`paget.Simulation` that :func:`simulate` runs (not run yet).

    Its configuration is the scenario's, with ``base`` (nested overrides) then
    ``params`` (flat dotted keys, checked by
    :func:`paget.explore.parameters.resolve`) merged in, and ``seed``.
    """
    from ..simulation import Simulation
    overrides = resolve(params or {}, scenario, base=base)
    data = config_for(scenario, base, overrides)
    data["seed"] = seed
    sim = Simulation(data)
    sim.scenario = scenario or "default"
    return sim


def simulate(params: Mapping[str, Any] | None = None, *, seed: int,
             scenario: str | None = None, summary: Any = None,
             base: Mapping[str, Any] | None = None, comm=None) -> xr.Dataset | None:
    """Run the model once, for flat dotted parameters, in this process.

    Parameters
    ----------
    params : mapping, optional
        Dotted configuration keys and their values, e.g.
        ``{"intravasation.rate": 1e-3, "extravasation.probability.liver": 0.5}``
        (see :mod:`paget.explore.parameters`).  An unknown key or a value
        outside the key's allowed range raises :class:`paget.ConfigError`
        before anything runs.
    seed : int
        Seed of every random draw of the run (the configuration's ``seed``).
    scenario : str, optional
        A built-in scenario or a CONFIG.toml (default ``"default"``).
    summary : str, callable or list, optional
        Return summary statistics instead of the dataset:
        ``"involvement"``, ``"sites"``, ``"survival"``, a callable
        ``f(ds) -> dict`` or a list of these (:mod:`paget.explore.summaries`).
    base : mapping, optional
        Nested configuration overrides applied before ``params``, e.g.
        ``{"cohort": {"patients": 20, "years": 5}}``.
    comm : mpi4py communicator, optional
        Run the cohort's patients over these ranks (as :meth:`paget.Simulation.run`).

    Returns
    -------
    xarray.Dataset
        The run's dataset, identical to
        ``paget.Simulation.from_scenario(scenario, overrides).run()`` for the
        same configuration and seed; or, with ``summary``, the small Dataset
        of :func:`paget.explore.summaries.summarize`.  None on ranks other
        than 0 of ``comm``.

    Notes
    -----
    Every call runs in the calling process, with no start-up of its own: the
    scenario files and the configuration models are read once and kept; each
    call builds its :class:`paget.Simulation` (its plugins registered anew,
    some 40 ms on one core).  Against ``Simulation(...).run()`` of the same
    configuration the overhead is a few per cent (``python -m
    benchmarks.explore``).

    Examples
    --------
    >>> paget.simulate({"intravasation.rate": 0.02}, seed=3,
    ...                base={"cohort": {"patients": 4, "years": 1}}, summary="sites")
    """
    sim = simulation(params, seed=seed, scenario=scenario, base=base)
    ds = sim.run(comm=comm)
    if ds is None or summary is None:
        return ds
    from .summaries import summarize
    return summarize(ds, summary)
