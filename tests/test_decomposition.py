"""The same seed gives the same dataset on any number of ranks (launched with mpiexec)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

import paget

from .conftest import busy
from .factors import only
from .helpers import assert_same_result
from .test_cli import write_toml


def mpiexec() -> str:
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpiexec not found: install the test extra (mpi4py with the mpich wheel)")
    return found


ROOT = Path(__file__).resolve().parent.parent


def run_ranks(k: int, config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([mpiexec(), "-n", str(k), sys.executable, "-m", "paget", "run",
                           str(config), "-o", str(out), "--no-progress", *extra],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def datasets_on_ranks(config: Path, ranks, tmp_path: Path, *extra: str) -> list:
    """Run ``config`` under ``mpiexec -n K`` for each K and load each dataset."""
    outs = []
    for k in ranks:
        out = tmp_path / f"r{k}.nc"
        r = run_ranks(k, config, out, *extra)
        assert r.returncode == 0, r.stderr
        outs.append(paget.open_dataset(out).load())
    return outs


def load(path: Path) -> xr.Dataset:
    return (paget.open_dataset(path) if path.suffix == ".zarr" else paget.open_dataset(path)).load()


def test_cohort_is_identical_on_1_2_3_4_and_8_ranks_in_either_format(tmp_path):
    """netCDF gathered on rank 0 and zarr written by every rank alike (7
    patients: blocks of 7, 3+4, 2+2+3 and 1+2+2+2, zarr chunks of 7, 3, 2, 1;
    on 8 ranks, oversubscribed here, one patient split over a group of two)."""
    cfg = write_toml(tmp_path / "c.toml", busy(cohort={"patients": 7, "years": 0.25}))
    outs = []
    for k, suffix in ((1, ".nc"), (2, ".zarr"), (3, ".nc"), (4, ".zarr"), (8, ".nc")):
        out = tmp_path / f"r{k}{suffix}"
        r = run_ranks(k, cfg, out)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("wrote") == 1        # the summary: rank 0 alone
        outs.append(load(out))
    assert outs[0].sizes["lesion"] > 1000
    for other in outs[1:]:
        assert_same_result(outs[0], other)
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["c.toml", "r1.nc", "r2.zarr", "r3.nc", "r4.zarr", "r8.nc"]      # no temporaries


def test_one_patient_split_over_1_2_3_and_4_ranks_gives_one_dataset(tmp_path):
    """One patient's rows spread over every rank (paget.domains): the same dataset,
    gathered (.nc) or written by the group's first rank (.zarr)."""
    cfg = write_toml(tmp_path / "c.toml", busy(cohort={"patients": 1, "years": 0.5}))
    outs = []
    for k, suffix in ((1, ".nc"), (2, ".zarr"), (3, ".nc"), (4, ".zarr")):
        out = tmp_path / f"r{k}{suffix}"
        r = run_ranks(k, cfg, out)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("wrote") == 1
        outs.append(load(out))
    assert outs[0].sizes["lesion"] > 1000
    for other in outs[1:]:
        assert_same_result(outs[0], other)


def test_patients_shared_by_groups_checkpointed_and_restarted_on_other_ranks(tmp_path):
    """Three patients on four ranks (groups of 2, 1 and 1 ranks) write checkpoints;
    the run restarted on five ranks (groups of 2, 2 and 1) rewrites the serial
    dataset, to the bit."""
    cfg = write_toml(tmp_path / "c.toml", busy(cohort={"patients": 3, "years": 0.2}))
    serial = run_ranks(1, cfg, tmp_path / "serial.nc")
    assert serial.returncode == 0, serial.stderr
    expected = load(tmp_path / "serial.nc")
    ck = tmp_path / "ck"
    r = run_ranks(4, cfg, tmp_path / "out.nc", "--overwrite", "--checkpoint", str(ck),
                  "--checkpoint-every", "30", "--checkpoint-keep", "1")
    assert r.returncode == 0, r.stderr
    assert_same_result(load(tmp_path / "out.nc"), expected)
    restart = subprocess.run([mpiexec(), "-n", "5", sys.executable, "-m", "paget", "run",
                              "--restart", str(ck), "--no-progress"],
                             capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert restart.returncode == 0, restart.stderr
    assert_same_result(load(tmp_path / "out.nc"), expected)


def test_clones_plugin_state_and_keyed_draws_are_rank_independent(tmp_path):
    """Mutation, plugin state of every level, keyed plugin draws and several
    circulation classes (tests/plugin_features.py): same dataset on 1 and 3 ranks.
    (The built-in factors are off: genetics would set the mutation rate.)"""
    cfg = write_toml(tmp_path / "c.toml", only(busy(cohort={"patients": 4, "years": 0.2})))
    outs = []
    for k in (1, 3):
        out = tmp_path / f"r{k}.nc"
        r = run_ranks(k, cfg, out, "--plugin", "tests.plugin_features")
        assert r.returncode == 0, r.stderr
        outs.append(paget.open_dataset(out).load())
    assert outs[0].sizes["clone"] > 4 and "lesion_marked" in outs[0]
    assert_same_result(outs[0], outs[1])


@pytest.mark.parametrize("arms", [None, [{"name": "control"},
                                  {"name": "surgery", "surgery": {"enabled": True}}]])
def test_summary_without_output_is_the_serial_one_on_any_ranks(tmp_path, arms):
    """Without -o no rank gathers the cohort: rank 0 merges the ranks' sums and
    per-patient times, and prints what a serial run prints (4 ranks for 3
    patients: one rank has none)."""
    config = busy(cohort={"patients": 3, "years": 0.1})
    if arms is not None:
        config["arms"] = arms
    cfg = write_toml(tmp_path / "c.toml", config)
    printed = []
    for k in (1, 2, 4):
        r = subprocess.run([mpiexec(), "-n", str(k), sys.executable, "-m", "paget", "run",
                            str(cfg), "--no-progress"],
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        printed.append(r.stdout)
    assert "seeded:" in printed[0] and ("trial arms" in printed[0]) == (arms is not None)
    assert printed[1] == printed[0] and printed[2] == printed[0]


def test_config_error_under_mpiexec_exits_2_and_prints_once(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[cohort]\npatients = 0\n")
    r = run_ranks(2, cfg, tmp_path / "o.nc")
    assert r.returncode == 2
    assert r.stderr.count("cohort.patients") == 1
    assert not (tmp_path / "o.nc").exists()


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_a_failed_write_under_mpiexec_exits_1_and_prints_once(tmp_path, suffix, monkeypatch):
    # the output's directory passes the checks before step 0, then the plugin
    # removes it while the run steps: the write fails at the end
    cfg = write_toml(tmp_path / "c.toml", busy(cohort={"patients": 3, "years": 0.02}))
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.setenv("PAGET_TEST_REMOVE", str(gone))
    r = run_ranks(2, cfg, gone / f"out{suffix}", "--plugin", "tests.test_files")
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("paget: error:") == 1 and "gone" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_every_run_option_under_mpiexec_then_a_restart_on_other_ranks(tmp_path):
    """Options on the command line override the file, a plugin module loads and a
    built-in is disabled on every rank, checkpoints are written, the zarr output
    equals a serial netCDF run, and a restart on another rank count rewrites it
    identically."""
    cfg = write_toml(tmp_path / "c.toml", busy())
    options = ["--patients", "5", "--years", "0.2", "--seed", "3",
               "--plugin", "tests.plugin_features", "--disable", "immune"]
    serial = run_ranks(1, cfg, tmp_path / "serial.nc", *options)
    assert serial.returncode == 0, serial.stderr
    ck = tmp_path / "ck"
    r = run_ranks(3, cfg, tmp_path / "out.zarr", *options, "--overwrite", "--checkpoint",
                  str(ck), "--checkpoint-every", "14", "--checkpoint-keep", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("wrote") == 1 and r.stderr == ""
    expected = load(tmp_path / "serial.nc")
    assert expected.sizes["patient"] == 5 and "lesion_marked" in expected
    assert "immune" not in expected.attrs["plugins"]
    assert_same_result(load(tmp_path / "out.zarr"), expected)
    assert [p.name for p in ck.glob("step-*")] == ["step-000000070"]
    restart = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "paget", "run",
                              "--restart", str(ck), "--no-progress"],
                             capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert restart.returncode == 0, restart.stderr
    assert_same_result(load(tmp_path / "out.zarr"), expected)


def test_print_config_under_mpiexec_prints_once(tmp_path):
    r = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "paget", "run", "breast",
                        "--print-config"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("[cohort]") == 1


def test_a_cohort_whose_patients_move_between_ranks_gives_one_dataset(tmp_path):
    """Patients of very different sizes (log-normal shedding, sigma 1.5): on 2 and
    3 ranks they move between ranks as they grow (after step 40;
    tests/mpi/test_domains.py checks that they do), written as .nc and .zarr;
    on 8 ranks (oversubscribed here) in groups from the start."""
    cfg = write_toml(tmp_path / "c.toml",
                     busy(cohort={"patients": 6, "years": 0.5},
                          heterogeneity={"shedding_sigma": 1.5}, seed=3))
    outs = []
    for k, suffix in ((1, ".nc"), (2, ".nc"), (3, ".zarr"), (8, ".zarr")):
        out = tmp_path / f"r{k}{suffix}"
        r = run_ranks(k, cfg, out)
        assert r.returncode == 0, r.stderr
        outs.append(load(out))
    assert outs[0].sizes["lesion"] > 50_000
    for other in outs[1:]:
        assert_same_result(outs[0], other)
