"""Run under ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi``."""
from __future__ import annotations

import types

import numpy as np
import pytest
import xarray as xr

import paget

from ..conftest import busy
from ..helpers import assert_same_result


@pytest.mark.mpi(min_size=2)
def test_distributed_run_equals_serial_run():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    cfg = busy(cohort={"patients": comm.Get_size() * 2 + 1, "years": 0.2})
    ds = paget.Simulation(cfg, entry_points=False).run(comm=comm)
    if comm.Get_rank() == 0:
        assert_same_result(ds, paget.Simulation(cfg, entry_points=False).run())
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


class _NoGather:
    """COMM_WORLD, except that gathering to one rank is an error."""

    def __init__(self, comm):
        self._comm = comm

    def __getattr__(self, name):
        if name in ("gather", "Gather", "Gatherv"):
            raise AssertionError(f"comm.{name}: this run must not gather the cohort")
        return getattr(self._comm, name)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("arms", [None, [{"name": "a"},
                                  {"name": "b", "intravasation": {"rate": 0.02}}]])
def test_zarr_is_written_by_every_rank_without_gathering(mpi_tmp_path, arms):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    cfg = busy(cohort={"patients": comm.Get_size() * 2 + 1, "years": 0.2})
    if arms is not None:       # a trial: tables arm after arm, each arm's rank blocks
        cfg["arms"] = arms
    target = mpi_tmp_path / "out.zarr"
    ds = paget.Simulation(cfg, entry_points=False).write(target, comm=_NoGather(comm))
    if comm.Get_rank() == 0:
        expected = paget.Simulation(cfg, entry_points=False).run()
        assert_same_result(ds.load(), expected)
        assert [p.name for p in mpi_tmp_path.iterdir()] == ["out.zarr"]
    else:
        assert ds is None


def _join(blocks: list[xr.Dataset]) -> xr.Dataset:
    """The ranks' blocks as one Dataset, as run() gathers them: variables over
    patients in rank order, table rows arm after arm (rank order within an arm)."""
    from paget.output import TABLE_DIMS as tables   # lesion, clone, seeding_edge
    first = blocks[0]
    out = xr.concat([b[[v for v in b.data_vars if not set(b[v].dims) & set(tables)]]
                     for b in blocks], dim="patient", data_vars="minimal",
                    combine_attrs="override")
    for dim in tables:
        names = [v for v in first.data_vars if dim in first[v].dims]
        rows = [b[names] for b in blocks]
        arm_var = f"{dim.split('_')[0]}_arm"   # lesion_arm, clone_arm, seeding_arm
        if arm_var in first:
            rows = [r.isel({dim: (r[arm_var] == arm).values})
                    for arm in first.arm.values for r in rows]
        cat = xr.concat(rows, dim=dim, combine_attrs="override")
        for v in names:
            out[v] = cat[v].variable
        # each block numbers its own rows from 0; the joined table numbers them all
        out.coords[dim] = (dim, np.arange(out.sizes.get(dim, 0), dtype=np.int64),
                           first[dim].attrs)
    return out[list(first.data_vars)]


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("arms", [None, [{"name": "a"},
                                  {"name": "b", "intravasation": {"rate": 0.02}}]])
def test_run_without_gather_returns_each_ranks_own_patients(arms):
    """run(gather=False): no rank gathers; the blocks joined are the gathered run."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    cfg = busy(cohort={"patients": size * 2 + 1, "years": 0.2})
    if arms is not None:
        cfg["arms"] = arms
    block = paget.Simulation(cfg, entry_points=False).run(comm=_NoGather(comm), gather=False)
    first = sum(b for b in comm.allgather(block.sizes["patient"])[:rank])
    assert block.patient.values.tolist() == list(range(first, first + block.sizes["patient"]))
    blocks = comm.gather(block, root=0)
    if rank == 0:
        expected = paget.Simulation(cfg, entry_points=False).run()
        assert_same_result(_join(blocks), expected)


@pytest.mark.mpi(min_size=2)
def test_a_write_failing_on_one_rank_raises_everywhere_and_leaves_nothing(mpi_tmp_path,
                                                                          monkeypatch):
    from mpi4py import MPI

    from paget import output
    comm = MPI.COMM_WORLD
    real = output.write_zarr_block

    def full_disk_on_rank_1(block, store, dim, start):
        if comm.Get_rank() == 1 and dim == "patient":
            raise OSError("disk full (simulated)")
        real(block, store, dim, start)

    monkeypatch.setattr(output, "write_zarr_block", full_disk_on_rank_1)
    cfg = busy(cohort={"patients": comm.Get_size() * 2, "years": 0.05})
    with pytest.raises((OSError, paget.PagetError), match="disk full"):
        paget.Simulation(cfg, entry_points=False).write(mpi_tmp_path / "out.zarr", comm=comm)
    comm.Barrier()
    assert list(mpi_tmp_path.iterdir()) == []


@pytest.mark.mpi(min_size=2)
def test_a_block_failing_on_one_rank_without_gather_raises_everywhere(monkeypatch):
    """run(gather=False): a rank that cannot build its block makes every rank
    raise, so none is left waiting in the caller's next collective."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    real = paget.Simulation._dataset

    def no_room_on_rank_1(self, parts, first_patient=0, n_patients=None):
        if comm.Get_rank() == 1:
            raise MemoryError("no room for the block (simulated)")
        return real(self, parts, first_patient=first_patient, n_patients=n_patients)

    monkeypatch.setattr(paget.Simulation, "_dataset", no_room_on_rank_1)
    cfg = busy(cohort={"patients": comm.Get_size(), "years": 0.02})
    try:
        with pytest.raises((MemoryError, paget.PagetError), match="no room for the block"):
            paget.Simulation(cfg, entry_points=False).run(comm=comm, gather=False)
    finally:
        comm.Barrier()      # a rank that did not raise fails here, not in a hang


@pytest.mark.mpi(min_size=2)
def test_a_summary_failing_on_one_rank_raises_everywhere(monkeypatch):
    """The CLI's summary without -o gathers per-rank parts: a rank that cannot
    make its part makes every rank raise before the gather."""
    from mpi4py import MPI

    from paget import cli
    comm = MPI.COMM_WORLD
    real = cli._summary_part

    def broken_on_rank_1(ds):
        if comm.Get_rank() == 1:
            raise ValueError("summary part failed (simulated)")
        return real(ds)

    monkeypatch.setattr(cli, "_summary_part", broken_on_rank_1)
    cfg = busy(cohort={"patients": comm.Get_size(), "years": 0.02})
    block = paget.Simulation(cfg, entry_points=False).run(comm=comm, gather=False)
    try:
        with pytest.raises((ValueError, paget.PagetError), match="summary part failed"):
            cli._gather_summary(block, comm)
    finally:
        comm.Barrier()
