"""Checkpoint and restart: killed anywhere, restarted on any number of ranks, identical.

Loaded as a plugin (``--plugin tests.test_checkpoint``) this module also makes
patients 0 and 1 grow fast enough to die at the lethal burden in a few weeks,
so on two ranks the first rank's patients are all dead long before the end
(the engine then stops stepping that rank, and its checkpoints hold a frozen
state), and it sleeps each step when ``PAGET_TEST_SLOW`` is set, so a signal
can be sent while the run is going.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import paget
from paget.checkpoint import CheckpointError, Checkpoints, find_checkpoint

from .conftest import busy
from .test_cli import write_toml
from .test_decomposition import mpiexec
from .helpers import assert_same_result

REPO = Path(__file__).resolve().parent.parent
PLUGIN = "tests.test_checkpoint"


# ---------------------------------------------------------------- the plugin

@paget.hookimpl(trylast=True)
def paget_growth(lesions, rates):
    """Patients 0 and 1 grow fast (and die early)."""
    fast = lesions.patient < 2
    rates.birth[fast] += 0.3


@paget.hookimpl
def paget_invasion(rates):
    """Sleep a little each step when asked to (never changes a result)."""
    delay = float(os.environ.get("PAGET_TEST_SLOW", "0"))
    if delay:
        time.sleep(delay)


# ---------------------------------------------------------------- helpers

def config(**overrides) -> dict:
    """5 patients, 110 daily steps, records every 7 days; early deaths with the plugin."""
    return busy(**{"cohort": {"patients": 5, "years": 0.3},
                   "outcome": {"lethal_cells": 1e10}, **overrides})


def with_plugin(cfg: dict) -> dict:
    return {**cfg, "plugins": {"load": [PLUGIN]}}


def reference(cfg: dict, entry_points: bool = True, toml: Path | None = None) -> xr.Dataset:
    """The uninterrupted run (with entry-point plugins, as the CLI loads them);
    ``toml``: ``cfg``'s file, which the CLI ran (the dataset's ``scenario``)."""
    if toml is not None:
        return paget.Simulation.from_toml(toml, entry_points=entry_points).run()
    return paget.Simulation(cfg, entry_points=entry_points).run()


def load(path: Path) -> xr.Dataset:
    with paget.open_dataset(path) as ds:
        return ds.load()


def mpi_run(k: int, *args, env=None, **kw) -> subprocess.Popen:
    cmd = ([mpiexec(), "-n", str(k)] if k > 1 else []) + [sys.executable, "-m", "paget", "run",
                                                          *map(str, args), "--no-progress"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, **kw)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for_checkpoint(directory: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until a complete checkpoint exists (its manifest is written last)."""
    t0 = time.monotonic()
    while not (directory / "latest.json").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "no checkpoint written"
        time.sleep(0.05)


def restart_cli(ck: Path) -> None:
    """``paget run --restart ck`` on one rank, in this process (saves a start-up)."""
    from paget.cli import main
    assert main(["run", "--restart", str(ck), "--no-progress"]) == 0


@pytest.fixture(scope="module")
def serial_checkpoints(tmp_path_factory):
    """A serial run checkpointed every 20 days (all five kept), and its result."""
    cfg = config()
    d = tmp_path_factory.mktemp("ck") / "ck"
    ds = paget.Simulation(cfg, entry_points=False).run(checkpoint=Checkpoints(d, every=20, keep=9))
    return cfg, d, ds


# ---------------------------------------------------------------- restarts

def test_a_checkpointed_run_equals_a_plain_run(serial_checkpoints):
    cfg, d, ds = serial_checkpoints
    assert_same_result(ds, reference(cfg, entry_points=False))
    assert sorted(p.name for p in d.glob("step-*")) == [f"step-{s:09d}" for s in (20, 40, 60, 80, 100)]


@pytest.mark.parametrize("step", [20, 60, 100])
def test_restart_from_any_checkpoint_is_identical(serial_checkpoints, step):
    cfg, d, ds = serial_checkpoints
    sim = paget.Simulation.from_checkpoint(d / f"step-{step:09d}", entry_points=False)
    assert sim.resolved_config() == paget.Simulation(cfg, entry_points=False).resolved_config()
    assert_same_result(sim.run(resume=d / f"step-{step:09d}"), ds)


def test_only_the_last_two_checkpoints_are_kept(tmp_path):
    cfg = config(cohort={"patients": 2, "years": 0.2})
    paget.Simulation(cfg, entry_points=False).run(checkpoint=Checkpoints(tmp_path, every=10))
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-000000060", "step-000000070"]
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["checkpoint"] == "step-000000070" and latest["step"] == 70


def test_checkpoints_are_json_and_plain_arrays_never_pickles(serial_checkpoints):
    _, d, _ = serial_checkpoints
    step = find_checkpoint(d)
    manifest = json.loads((step / "manifest.json").read_text())
    assert manifest["step"] == 100 and manifest["ranks"] == 1
    for shard in manifest["shards"]:
        with np.load(step / shard["file"], allow_pickle=False) as npz:
            assert all(not npz[k].dtype.hasobject for k in npz.files)


def test_restart_across_rank_counts_with_a_rank_whose_patients_all_died(tmp_path):
    """Written by 2 ranks (rank 0's patients die on day 15), restarted on 1 and 3."""
    cfg = with_plugin(config())
    toml = write_toml(tmp_path / "c.toml", cfg)
    ck = tmp_path / "ck"
    code, _, err = finish(mpi_run(2, toml, "-o", tmp_path / "a.nc", "--checkpoint", ck,
                                  "--checkpoint-every", 5, "--checkpoint-keep", 30))
    assert code == 0, err
    want = reference(cfg, toml=toml)
    died = want.death_time.values
    assert np.isfinite(died[:2]).all() and np.isnan(died[2:]).all()   # rank 0 finishes early
    assert_same_result(load(tmp_path / "a.nc"), want)
    first = int(5 * np.ceil(died[:2].max() / 5))   # the first checkpoint after the deaths
    step_dir = ck / f"step-{first + 5:09d}"
    out = tmp_path / "r3.nc"
    code, _, err = finish(mpi_run(3, "--restart", step_dir, "-o", out, "--checkpoint-keep", 30))
    assert code == 0, err
    assert_same_result(load(out), want)
    step_dir = ck / f"step-{first:09d}"                # and on 1 rank, in this process
    sim = paget.Simulation.from_checkpoint(step_dir)
    assert_same_result(sim.run(resume=step_dir), want)


def test_sigkill_then_restart_is_identical(tmp_path):
    cfg = with_plugin(config())
    toml = write_toml(tmp_path / "c.toml", cfg)
    ck, out = tmp_path / "ck", tmp_path / "out.nc"
    proc = mpi_run(2, toml, "-o", out, "--checkpoint", ck, "--checkpoint-every", 10,
                   env={"PAGET_TEST_SLOW": "0.02"}, start_new_session=True)
    wait_for_checkpoint(ck, proc)
    os.killpg(proc.pid, signal.SIGKILL)      # the whole job, as a node failure would
    proc.communicate(timeout=30)
    assert not out.exists() and not list(tmp_path.glob(".out.nc*"))
    restart_cli(ck)                          # the output path comes from the checkpoint
    assert_same_result(load(out), reference(cfg, toml=toml))


def test_sigterm_writes_a_checkpoint_and_exits_75_then_restart_is_identical(tmp_path):
    cfg = with_plugin(config())
    toml = write_toml(tmp_path / "c.toml", cfg)
    ck, out = tmp_path / "ck", tmp_path / "out.nc"
    proc = mpi_run(2, toml, "-o", out, "--checkpoint", ck, "--checkpoint-every", 50,
                   env={"PAGET_TEST_SLOW": "0.02"})
    wait_for_checkpoint(ck, proc)            # the one of step 50: the run is stepping
    proc.send_signal(signal.SIGTERM)         # what a scheduler sends before the kill
    code, _, err = finish(proc, timeout=60)
    assert code == 75, err
    assert "stopped by SIGTERM" in err and "--restart" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    stopped_at = json.loads((ck / "latest.json").read_text())["step"]
    assert 50 < stopped_at < 100             # written on SIGTERM, not on schedule
    restart_cli(ck)
    assert_same_result(load(out), reference(cfg, toml=toml))


# ---------------------------------------------------------------- refusals

def copy_of(serial_checkpoints, tmp_path) -> Path:
    _, d, _ = serial_checkpoints
    dst = tmp_path / "ck"
    shutil.copytree(d, dst)
    return dst


def test_a_corrupt_shard_is_refused_naming_it(serial_checkpoints, tmp_path):
    d = copy_of(serial_checkpoints, tmp_path)
    shard = d / "step-000000100" / "rank-0000-of-0001.npz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    sim = paget.Simulation(serial_checkpoints[0], entry_points=False)
    with pytest.raises(CheckpointError, match=r"rank-0000-of-0001.npz is corrupt.*older "
                                              r"checkpoint is .*step-000000080"):
        sim.run(resume=d)


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m["config"].update(seed=12), "does not match its checksum"),
    (lambda m: m.update(paget_version="9.9.9"), "written by paget '9.9.9'"),
    (lambda m: m.update(paget_build="0123456789ab"), "the code changed"),
    (lambda m: m["shards"][0].update(sha256="0" * 64), "is corrupt"),
], ids=["config", "version", "build", "digest"])
def test_an_edited_manifest_is_refused(serial_checkpoints, tmp_path, edit, fragment):
    d = copy_of(serial_checkpoints, tmp_path)
    path = d / "step-000000100" / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=fragment):
        paget.Simulation(serial_checkpoints[0], entry_points=False).run(resume=d)


def test_an_edited_config_with_a_matching_digest_is_refused_by_the_shards(serial_checkpoints,
                                                                           tmp_path):
    from paget.checkpoint import config_digest
    d = copy_of(serial_checkpoints, tmp_path)
    path = d / "step-000000100" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["seed"] = 12
    manifest["config_sha256"] = config_digest(manifest["config"])
    path.write_text(json.dumps(manifest))
    sim = paget.Simulation.from_checkpoint(d, entry_points=False)   # seed 12
    with pytest.raises(CheckpointError, match="config_sha256"):
        sim.run(resume=d)


def test_a_checkpoint_of_another_configuration_is_refused_naming_the_key(serial_checkpoints):
    cfg, d, _ = serial_checkpoints
    sim = paget.Simulation({**cfg, "seed": 99}, entry_points=False)
    with pytest.raises(CheckpointError, match=r"seed: checkpoint 11, this run 99"):
        sim.run(resume=d)


def test_a_half_written_checkpoint_is_ignored_for_the_previous_complete_one(serial_checkpoints,
                                                                           tmp_path):
    cfg, _, ds = serial_checkpoints
    d = copy_of(serial_checkpoints, tmp_path)
    half = d / "step-000000105"
    half.mkdir()
    shutil.copy(d / "step-000000100" / "rank-0000-of-0001.npz", half / "rank-0000-of-0001.npz")
    (half / ".manifest.json.x.tmp").write_text('{"truncated": ')
    assert find_checkpoint(d).name == "step-000000100"
    assert_same_result(paget.Simulation(cfg, entry_points=False).run(resume=d), ds)


@pytest.mark.parametrize("args, fragment", [
    (("{cfg}", "--checkpoint", "{ck}"), "holds a checkpoint already"),
    (("--restart", "{tmp}/none"), "does not exist"),
    (("--restart", "{ck}", "--seed", "3"), "seed: checkpoint 11, this run 3"),
    (("{cfg}", "--checkpoint", "{tmp}/new", "--checkpoint-every", "0.5"),
     "--checkpoint-every = 0.5"),
    (("{cfg}", "--checkpoint-every", "10"), "need --checkpoint DIR"),
], ids=["dir-in-use", "missing", "other-seed", "every-not-whole-steps", "every-without-dir"])
def test_cli_refusals_exit_2_with_one_line(serial_checkpoints, tmp_path, capsys, args, fragment):
    from paget.cli import main
    d = copy_of(serial_checkpoints, tmp_path)
    cfg = write_toml(tmp_path / "c.toml", serial_checkpoints[0])
    argv = [a.format(cfg=cfg, ck=d, tmp=tmp_path) for a in args]
    assert main(["run", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "new").exists()


def test_a_restart_from_an_older_checkpoint_replaces_the_newer_ones(serial_checkpoints, tmp_path):
    """Restarting from step 40 because step 100 is corrupt: the newer checkpoints of the
    abandoned timeline are removed as the run passes them, never taken for the newest."""
    cfg, _, ds = serial_checkpoints
    d = copy_of(serial_checkpoints, tmp_path)
    shard = d / "step-000000100" / "rank-0000-of-0001.npz"
    shard.write_bytes(shard.read_bytes()[:100])            # corrupt
    sim = paget.Simulation(cfg, entry_points=False)
    out = sim.run(resume=d / "step-000000040", checkpoint=Checkpoints(d, every=20))
    assert_same_result(out, ds)
    assert sorted(p.name for p in d.glob("step-*")) == ["step-000000080", "step-000000100"]
    assert_same_result(sim.run(resume=d), ds)     # step 100, rewritten whole


def test_checkpoints_of_another_configuration_are_never_overwritten(serial_checkpoints, tmp_path):
    cfg, _, _ = serial_checkpoints
    d = copy_of(serial_checkpoints, tmp_path)
    before = sorted(p.name for p in d.iterdir())
    sim = paget.Simulation({**cfg, "seed": 99}, entry_points=False)
    with pytest.raises(CheckpointError, match="holds checkpoints of another configuration"):
        sim.run(checkpoint=Checkpoints(d, every=20))
    assert sorted(p.name for p in d.iterdir()) == before
