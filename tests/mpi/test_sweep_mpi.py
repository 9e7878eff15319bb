"""Sweeps over MPI ranks: the same store and dataset as a serial sweep.

Run under ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi`` (or 3 ranks).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import paget
from paget.explore import sweep as S

from ..test_explore_sweep import store_files

BASE = {"cohort": {"patients": 2, "years": 0.1}, "output": {"interval": 10.0}}
DESIGN = {"intravasation.rate": [0.01, 0.1, 0.3, 1.0], "circulation.arrest": [0.1, 0.2, 0.3, 0.4]}


@pytest.fixture
def shared_dir():
    """One temporary directory that every rank sees (rank 0 makes and removes it)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    path = tempfile.mkdtemp(prefix="paget-sweep-mpi-") if comm.Get_rank() == 0 else None
    path = Path(comm.bcast(path, root=0))
    yield path
    comm.Barrier()
    if comm.Get_rank() == 0:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.mpi(min_size=2)
def test_a_sweep_store_is_the_same_on_any_number_of_ranks(shared_dir):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    kw = dict(base=BASE, replicates=2, seed=9, progress=False, tables="keep")
    got = S.run_design(DESIGN, store=shared_dir / "ranks.zarr", comm=comm, **kw)
    if comm.Get_rank() != 0:
        assert got is None
        return
    S.run_design(DESIGN, store=shared_dir / "serial.zarr", **kw)
    assert store_files(shared_dir / "ranks.zarr") == store_files(shared_dir / "serial.zarr")


@pytest.mark.mpi(min_size=2)
def test_a_sweep_in_memory_is_the_same_on_any_number_of_ranks():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    kw = dict(base=BASE, seed=9, progress=False, summary=["sites", "involvement"])
    got = S.run_design(DESIGN, comm=comm, **kw)
    if comm.Get_rank() == 0:
        xr.testing.assert_identical(got, S.run_design(DESIGN, **kw))
    else:
        assert got is None


@pytest.mark.mpi(min_size=2)
def test_a_failed_run_on_one_rank_stops_every_rank_and_the_sweep_resumes(shared_dir,
                                                                         monkeypatch):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    real = S._run_unit

    def fails_on_rank_1(**kw):
        if comm.Get_rank() == 1 and kw["s"] >= 2:
            raise RuntimeError("node lost")
        return real(**kw)

    monkeypatch.setattr(S, "_run_unit", fails_on_rank_1)
    store = shared_dir / "s.zarr"
    with pytest.raises((RuntimeError, paget.PagetError), match="node lost"):
        S.run_design(DESIGN, base=BASE, seed=9, progress=False, store=store, comm=comm)
    monkeypatch.setattr(S, "_run_unit", real)
    done = comm.bcast(xr.open_zarr(store).done.values if comm.Get_rank() == 0 else None)
    assert 0 < done.sum() < done.size
    S.run_design(DESIGN, base=BASE, seed=9, progress=False, store=store, comm=comm)
    if comm.Get_rank() == 0:
        S.run_design(DESIGN, base=BASE, seed=9, progress=False, store=shared_dir / "w.zarr")
        assert store_files(store) == store_files(shared_dir / "w.zarr")
        assert np.all(xr.open_zarr(store).done.values)
