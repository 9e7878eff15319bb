"""Run under ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi``."""
from __future__ import annotations

import types

import pytest
import xarray as xr

import paget

from ..conftest import busy


@pytest.mark.mpi(min_size=2)
def test_distributed_run_equals_serial_run():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    cfg = busy(cohort={"patients": comm.Get_size() * 2 + 1, "years": 0.2})
    ds = paget.Simulation(cfg, entry_points=False).run(comm=comm)
    if comm.Get_rank() == 0:
        xr.testing.assert_identical(ds, paget.Simulation(cfg, entry_points=False).run())
    else:
        assert ds is None


@pytest.mark.mpi(min_size=2)
def test_an_error_on_one_rank_is_raised_on_every_rank():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    mod = types.ModuleType("rank1_fails")

    @paget.hookimpl
    def paget_growth(lesions):
        if comm.Get_rank() == 1:
            raise RuntimeError("disk on fire")

    mod.paget_growth = paget_growth
    sim = paget.Simulation(busy(cohort={"patients": 4, "years": 0.05}),
                           plugins=[("rank1_fails", mod)], entry_points=False)
    with pytest.raises(paget.PagetError, match="disk on fire"):
        sim.run(comm=comm)
