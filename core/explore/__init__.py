"""Model exploration: many runs of one model, as one call, one sweep, one analysis.

:func:`simulate` runs one configuration given as flat dotted keys
(``{"intravasation.rate": 1e-3}``) and returns its dataset or summary
statistics; :func:`paget.explore.sweep.run_design` runs a design of such
configurations crossed with replicates, over MPI ranks, into one Zarr store.
:mod:`paget.explore.parameters` validates the keys and reads the specs
(TOML) of ``paget sweep``, ``paget sensitivity`` and ``paget calibrate``.
"""
from .simulate import simulate

__all__ = ["simulate"]
