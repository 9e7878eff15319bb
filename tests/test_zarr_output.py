"""``.zarr`` output: the same Dataset as ``.nc``, blocks aligned to chunks, atomic.

The runs under ``mpiexec`` are in tests/test_decomposition.py (files compared
across rank counts) and tests/mpi/test_comm.py (no gather, a failing rank).
"""
from __future__ import annotations

import pytest
import zarr
from hypothesis import given, strategies as st

import paget
from paget import output
from paget.output import patient_blocks, zarr_patient_chunk

from .conftest import busy
from .helpers import assert_same_result


@pytest.fixture(scope="module")
def sim():
    return paget.Simulation(busy(cohort={"patients": 3, "years": 0.1}), entry_points=False)


@pytest.fixture(scope="module")
def expected(sim):
    return sim.run()


def test_zarr_holds_the_same_dataset_as_run(sim, expected, tmp_path):
    lazy = sim.write(tmp_path / "out.zarr")      # opened from the store, not yet loaded
    assert_same_result(paget.open_dataset(tmp_path / "out.zarr").load(), expected)
    assert_same_result(lazy.load(), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]   # no temporary left


def test_netcdf_through_write_equals_run(sim, expected, tmp_path):
    ds = sim.write(tmp_path / "out.nc")
    assert_same_result(ds, expected)
    assert_same_result(paget.open_dataset(tmp_path / "out.nc").load(), expected)


def test_an_existing_store_needs_overwrite(sim, expected, tmp_path):
    target = tmp_path / "out.zarr"
    sim.write(target)                          # a store paget wrote: --overwrite may replace it
    (target / "precious").write_text("keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        sim.write(target)
    assert (target / "precious").read_text() == "keep me"
    sim.write(target, overwrite=True)
    assert_same_result(paget.open_dataset(target).load(), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_a_failed_write_leaves_the_old_store_and_no_temporary(sim, tmp_path, monkeypatch):
    target = tmp_path / "out.zarr"
    sim.write(target)                          # a store paget wrote: --overwrite may replace it
    (target / "precious").write_text("keep me")
    real = output.write_zarr_block

    def fail_on_tables(block, store, dim, start):
        if dim == "lesion":
            raise OSError("disk full (simulated)")
        real(block, store, dim, start)

    monkeypatch.setattr(output, "write_zarr_block", fail_on_tables)
    with pytest.raises(OSError, match="disk full"):
        sim.write(target, overwrite=True)
    assert (target / "precious").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_other_suffixes_are_refused_before_running(sim, tmp_path):
    with pytest.raises(ValueError, match=r"\.nc .*\.zarr"):
        sim.write(tmp_path / "out.h5")


def test_a_trial_in_zarr_holds_the_same_dataset_as_run(tmp_path):
    cfg = {**busy(cohort={"patients": 3, "years": 0.1}),
           "arms": [{"name": "control"},
                    {"name": "more_seeding", "intravasation": {"rate": 0.02}}]}
    trial = paget.Simulation(cfg, entry_points=False)
    expected = trial.run()
    assert expected.sizes["arm"] == 2
    n = (expected.lesion_arm == "control").sum()
    assert 0 < n < expected.sizes["lesion"]       # the arms' tables differ in length
    trial.write(tmp_path / "trial.zarr")
    assert_same_result(paget.open_dataset(tmp_path / "trial.zarr").load(), expected)


def test_the_cli_writes_zarr_and_refuses_other_names(tmp_path, capsys):
    from paget.cli import main
    args = ["run", "--patients", "2", "--years", "0.02", "--no-progress"]
    assert main(args + ["-o", str(tmp_path / "out.csv")]) == 2
    assert ".zarr" in capsys.readouterr().err
    assert main(args + ["-o", str(tmp_path / "out.zarr")]) == 0
    assert "wrote" in capsys.readouterr().out
    with paget.open_dataset(tmp_path / "out.zarr") as ds:
        assert ds.sizes["patient"] == 2
    assert main(args + ["-o", str(tmp_path / "out.zarr")]) == 2       # exists
    assert "--overwrite" in capsys.readouterr().err


def test_the_store_is_chunked_by_patient_blocks(sim, tmp_path):
    sim.write(tmp_path / "out.zarr")
    group = zarr.open_group(tmp_path / "out.zarr", mode="r")
    assert group["tumor_cells"].chunks[0] == zarr_patient_chunk(3, 1, 1.0) == 3
    assert group["lesion_uid"].chunks[0] == max(1, min(output.ZARR_TABLE_CHUNK,
                                                       group["lesion_uid"].shape[0]))


@given(st.integers(0, 500), st.integers(1, 40), st.integers(1, 64))
def test_patient_blocks_tile_the_cohort_in_whole_chunks(n, ranks, chunk):
    blocks = patient_blocks(n, ranks, chunk)
    assert len(blocks) == ranks and blocks[0][0] == 0 and blocks[-1][1] == n
    for (a, b), (c, _) in zip(blocks, blocks[1:]):
        assert a <= b == c
    for a, b in blocks:       # a block starts on a chunk and ends on one (or at the end)
        assert a % chunk == 0 and (b % chunk == 0 or b == n)
    sizes = [-(-(b - a) // chunk) for a, b in blocks]   # chunks per rank
    assert max(sizes) - min(sizes) <= 1


@given(st.integers(0, 500), st.integers(1, 40))
def test_patient_blocks_of_single_patients_are_the_even_split(n, ranks):
    assert patient_blocks(n, ranks) == [(n * r // ranks, n * (r + 1) // ranks)
                                        for r in range(ranks)]


def test_chunks_stay_within_their_byte_budget():
    assert zarr_patient_chunk(10_000, 2, 8.0 * 3650 * 17) * 8.0 * 3650 * 17 \
        <= output.ZARR_CHUNK_BYTES
    assert zarr_patient_chunk(10, 16, 1.0) == 1          # fewer patients than ranks
    assert zarr_patient_chunk(1000, 3, 1.0) == 333        # a rank's share


def test_plot_reads_a_zarr_result(sim, tmp_path):
    from paget.plot import read_result
    sim.write(tmp_path / "out.zarr")
    assert read_result(tmp_path / "out.zarr").sizes["patient"] == 3
    with pytest.raises(ValueError, match="no such zarr store"):
        read_result(tmp_path / "missing.zarr")


def test_a_cohort_too_large_to_gather_points_to_zarr(sim, monkeypatch):
    """Rank 0 gathers the whole cohort for run() and .nc, and the memory check
    says so (a .zarr output needs only each rank's block)."""
    import os

    from paget.output import FLUX_VARIABLES, STATE_VARIABLES
    real = os.sysconf
    one_patient = 8 * len(sim.plan.record_steps) * sim.body.n_organs * (
        len(STATE_VARIABLES) + len(FLUX_VARIABLES))
    memory = {"SC_PAGE_SIZE": 1, "SC_PHYS_PAGES": 2 * one_patient}   # 2 of the 3 patients
    monkeypatch.setattr(os, "sysconf", lambda name: memory.get(name) or real(name))
    with pytest.raises(paget.ConfigError, match=r"gathers the whole cohort.*OUT\.zarr"):
        sim.run()


def test_a_failed_rename_puts_the_old_output_back(tmp_path, monkeypatch):
    import os

    from paget.output import publish
    target, new = tmp_path / "out.zarr", tmp_path / "new"
    target.mkdir()
    (target / "precious").write_text("keep me")
    (target / ".zattrs").write_text('{"title": "paget simulation", "paget_version": "0"}')
    new.mkdir()
    real = os.rename

    def refuse_the_new(src, dst):
        if str(src) == str(new):
            raise OSError("rename refused (simulated)")
        real(src, dst)

    monkeypatch.setattr(os, "rename", refuse_the_new)
    with pytest.raises(OSError, match="refused"):
        publish(new, target, overwrite=True)
    assert (target / "precious").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out.zarr"]
