"""Reliability: atomic output, faults on any rank, numerical safety, no code from data.

Loaded as a plugin (``--plugin tests.test_reliability``) this module raises in
``paget_growth`` on the rank named by ``PAGET_TEST_FAIL_RANK`` from day
``PAGET_TEST_FAIL_DAY`` on; without those variables it does nothing.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import paget
from paget.output import write_dataset

from .conftest import busy
from .test_cli import write_toml
from .test_decomposition import mpiexec
from .helpers import assert_same_result

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the plugin

@paget.hookimpl
def paget_growth(t):
    rank = os.environ.get("PAGET_TEST_FAIL_RANK")
    if rank is None:
        return
    from mpi4py import MPI
    if MPI.COMM_WORLD.Get_rank() == int(rank) and t >= float(os.environ["PAGET_TEST_FAIL_DAY"]):
        raise RuntimeError("a deliberate failure")


# ---------------------------------------------------------------- atomic results

@pytest.fixture(scope="module")
def small():
    return paget.Simulation(busy(cohort={"patients": 2, "years": 0.05}), entry_points=False).run()


def failing_to_netcdf(monkeypatch):
    """Make the writer die half-way: after some bytes are on disk."""
    real = xr.Dataset.to_netcdf

    def half(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)
        with open(path, "r+b") as fh:
            fh.truncate(fh.seek(0, 2) // 2)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half)


def test_output_appears_only_when_complete(small, tmp_path, monkeypatch):
    failing_to_netcdf(monkeypatch)
    target = tmp_path / "out.nc"
    with pytest.raises(OSError, match="disk full"):
        write_dataset(small, target)
    assert list(tmp_path.iterdir()) == []       # neither the file nor a temporary


def test_a_failed_overwrite_leaves_the_old_file(small, tmp_path, monkeypatch):
    target = tmp_path / "out.nc"
    target.write_bytes(b"the previous result")
    failing_to_netcdf(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(small, target, overwrite=True)
    assert target.read_bytes() == b"the previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]


def test_numeric_variables_are_compressed_losslessly(small, tmp_path):
    import h5py
    path = write_dataset(small, tmp_path / "out.nc")
    with h5py.File(path) as f:
        assert f["tumor_cells"].compression == "gzip" and f["tumor_cells"].shuffle
    assert_same_result(paget.open_dataset(path).load(), small)


def test_existing_output_needs_overwrite(small, tmp_path):
    target = tmp_path / "out.nc"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_dataset(small, target)
    assert target.read_bytes() == b"precious"
    write_dataset(small, target, overwrite=True)
    assert_same_result(paget.open_dataset(target).load(), small)


def test_an_output_created_while_writing_is_not_replaced(small, tmp_path, monkeypatch):
    target = tmp_path / "out.nc"
    real = xr.Dataset.to_netcdf

    def racing(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)
        target.write_bytes(b"someone else's")    # appears after the check, before the rename

    monkeypatch.setattr(xr.Dataset, "to_netcdf", racing)
    with pytest.raises(FileExistsError, match="appeared while writing"):
        write_dataset(small, target)
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]


def test_cli_overwrite(tmp_path, capsys):
    from paget.cli import main
    out = tmp_path / "out.nc"
    out.write_text("precious")
    args = ["run", "--patients", "1", "--years", "0.02", "-o", str(out), "--no-progress"]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "precious"
    assert main(args + ["--overwrite"]) == 0
    with paget.open_dataset(out) as ds:
        assert ds.sizes["patient"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]


# ---------------------------------------------------------------- rank faults

@pytest.mark.parametrize("checkpointing", [False, True], ids=["independent", "lockstep"])
def test_a_plugin_raising_on_rank_1_ends_the_job_fast_naming_it_once(tmp_path, checkpointing):
    """Rank 1 fails on day 5 of a 30-year run: the job ends in seconds, not hours."""
    cfg = write_toml(tmp_path / "c.toml", {"seed": 3, "cohort": {"patients": 4, "years": 30}})
    out = tmp_path / "out.nc"
    cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "paget", "run", str(cfg), "-o", str(out),
           "--plugin", "tests.test_reliability", "--no-progress"]
    if checkpointing:
        cmd += ["--checkpoint", str(tmp_path / "ck"), "--checkpoint-every", "1000"]
    env = {**os.environ, "PAGET_TEST_FAIL_RANK": "1", "PAGET_TEST_FAIL_DAY": "5"}
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("plugin 'tests.test_reliability' raised in hook paget_growth") == 1, \
        r.stderr
    assert "rank 1" in r.stderr and "a deliberate failure" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.nc*"))
    assert elapsed < 60   # the whole run would take minutes (startup is ~2 s)


def test_a_failure_keeps_its_kind_across_ranks():
    """A config error raised on one rank is a config error on every rank."""
    from paget.simulation import _describe, _raise_first
    err = paget.ConfigError("cohort.patients = 0: nope")
    with pytest.raises(paget.ConfigError, match="cohort.patients"):
        _raise_first([None, _describe(err, 1)], None)
    perr = paget.PluginError("plugin 'x' raised", plugin="x", hook="paget_growth")
    with pytest.raises(paget.PluginError, match="rank 1: plugin 'x'") as info:
        _raise_first([None, _describe(perr, 1)], None)
    assert info.value.plugin == "x" and info.value.hook == "paget_growth"


# ---------------------------------------------------------------- numerical safety

def stages_only(cfg: dict) -> dict:
    """The cascade stages alone: factor plugins (caps, kills) switched off, so that
    growth follows the law and the expected sizes below are exact."""
    from paget.manager import DEFAULT_PLUGINS
    stages = {"invasion", "intravasation", "circulation", "extravasation", "colonization"}
    return {**cfg, "plugins": {"disable": [n for n, _ in DEFAULT_PLUGINS if n not in stages]}}


def test_deterministic_growth_to_1e13_cells_follows_the_law():
    """Exponential law from 1e12 cells, 25 days at r = 0.1/day: N0 e^{rt} > 1e13."""
    cfg = busy(cohort={"patients": 1, "years": 25 / 365.25}, primary={"cells": 1e12},
               outcome={"lethal_cells": 1e15, "detectable_cells": 1e9},
               intravasation={"rate": 0.0}, output={"interval": 1.0},
               colonization={"growth": {"law": "exponential", "rate": 0.1, "death": 0.0,
                                        "mode": "deterministic"}})
    ds = paget.Simulation(stages_only(cfg), entry_points=False).run()
    n = ds.tumor_cells.sel(organ="breast", patient=0).values
    exact = 1e12 * np.exp(0.1 * ds.time.values)
    assert n[-1] > 1e13
    np.testing.assert_allclose(n, exact, rtol=1e-12)


def test_stochastic_growth_to_1e13_cells_keeps_exact_integer_counts():
    """1e12 cells grow past 1e13 while shedding; every count stays a whole number,
    every total equals the sum of its parts exactly, every CTC is accounted for."""
    b, d, T = 0.12, 0.02, 25.0
    cfg = busy(cohort={"patients": 2, "years": T / 365.25}, primary={"cells": 1e12},
               outcome={"lethal_cells": 1e15, "detectable_cells": 1e9},
               intravasation={"rate": 1e-6}, output={"interval": 5.0},
               colonization={"growth": {"law": "exponential", "rate": b - d, "death": d}})
    ds = paget.Simulation(stages_only(cfg), entry_points=False).run()
    primary = ds.tumor_cells.sel(organ="breast").isel(time=-1).values
    assert (primary > 1e13).all()
    for name in ("tumor_cells", "dormant_cells", "lesion_cells"):
        v = ds[name].values
        assert np.isfinite(v).all() and (v >= 0).all()
        np.testing.assert_array_equal(v, np.floor(v))
    for p in range(2):   # the table's cells add up to the recorded totals, to the cell
        rows = (ds.lesion_patient.values == p) & ~ds.lesion_dormant.values
        assert ds.lesion_cells.values[rows].sum() == float(ds.tumor_cells.sel(patient=p)
                                                          .isel(time=-1).sum())
    xr.testing.assert_equal(ds.ctc_shed.sum("organ"), ds.ctc_arrested.sum("organ") + ds.ctc_died)
    assert int(ds.ctc_shed.sum()) > 0
    # the mean law: N0 e^{(b-d)T}, relative sd sqrt((b+d)/(b-d) / N0) ~ 1e-6
    expected = 1e12 * np.exp((b - d) * T)
    sd = expected * np.sqrt((b + d) / (b - d) * (1 - np.exp(-(b - d) * T)) / 1e12)
    assert np.all(np.abs(primary - expected) < 6 * sd + 1e-6 * expected)  # + shedding, ~1e-6


@pytest.mark.parametrize("overrides", [
    {"intravasation": {"rate": 1e300}},
    {"intravasation": {"rate": 1e6, "exponent": 1.0}},
    {"colonization": {"growth": {"rate": 1e300}}},
    {"colonization": {"growth": {"law": "logistic", "rate": 1e300}}},
    {"colonization": {"growth": {"death": 1e300}}},
    {"colonization": {"dormancy": {"reactivation": 1e300, "death": 1e300}}},
    {"colonization": {"growth": {"law": "exponential", "rate": 50.0, "mode": "deterministic"}}},
    {"colonization": {"growth": {"law": "exponential", "rate": 50.0}}},
    {"primary": {"cells": 1e13}, "outcome": {"lethal_cells": 1e300}},
], ids=["shed-1e300", "shed-all", "gompertz-1e300", "logistic-1e300", "death-1e300",
        "dormancy-1e300", "deterministic-explosion", "stochastic-explosion", "1e13-primary"])
def test_extreme_rates_never_give_negative_or_overflowing_counts(overrides):
    """Either the run is refused with a message, or every count is finite and >= 0."""
    cfg = busy(cohort={"patients": 2, "years": 0.03}, **overrides)
    try:
        ds = paget.Simulation(cfg, entry_points=False).run()
    except paget.PagetError as exc:
        assert str(exc)
        return
    for name, var in ds.data_vars.items():
        if var.dtype.kind in "fiu":
            v = var.values
            if name.endswith("_time"):
                v = v[np.isfinite(v)]
            if var.attrs["long_name"].endswith("(-1: none)"):   # a documented sentinel
                v = v[v != -1]
            assert np.isfinite(v).all() and (v >= 0).all(), name


def test_stochastic_growth_past_the_float_range_is_refused_not_extinct():
    cfg = busy(cohort={"patients": 1, "years": 0.01}, intravasation={"rate": 0.0},
               colonization={"growth": {"law": "exponential", "rate": 800.0}})
    with pytest.raises(paget.PagetError, match="2\\*\\*53"):
        paget.Simulation(cfg, entry_points=False).run()


# ---------------------------------------------------------------- security

SOURCES = sorted([*REPO.glob("core/*.py"), *REPO.glob("plugins/*.py"), *REPO.glob("ext/*.pyx")])


def test_the_code_never_evaluates_unpickles_or_imports_from_data():
    """No eval/exec/compile, no pickle/marshal/shelve, no __import__; modules are
    imported by name only where plugins named by the user are loaded."""
    forbidden_calls = {"eval", "exec", "compile", "__import__"}
    forbidden_modules = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "yaml"}
    problems = []
    for path in SOURCES:
        text = path.read_text()
        if re.search(r"allow_pickle\s*=\s*True", text):
            problems.append(f"{path.name}: allow_pickle=True")
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in forbidden_calls:
                problems.append(f"{path.name}:{node.lineno}: {node.func.id}()")
            if isinstance(node, ast.Import):
                problems += [f"{path.name}:{node.lineno}: import {a.name}" for a in node.names
                             if a.name.split(".")[0] in forbidden_modules]
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in \
                    forbidden_modules:
                problems.append(f"{path.name}:{node.lineno}: from {node.module}")
            if isinstance(node, ast.Attribute) and node.attr == "import_module" and \
                    path.name != "manager.py":
                problems.append(f"{path.name}:{node.lineno}: import_module outside the "
                                f"plugin manager")
    assert problems == []


def test_config_values_are_data_never_code(tmp_path):
    """Strings in a config are never run or imported; only [plugins] load imports."""
    sys.modules.pop("tests.plugin_example", None)
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    for cfg in ({"primary": {"organ": payload}},
                {"primary": {"organ": "tests.plugin_example"}},
                {"colonization": {"growth": {"law": payload}}},
                {"plugins": {"load": [payload]}},
                {"plugins": {"disable": [payload]}},
                {payload: 1}):
        with pytest.raises(paget.PagetError):
            paget.Simulation(cfg, entry_points=False)
    assert not marker.exists()
    assert "tests.plugin_example" not in sys.modules
    sim = paget.Simulation({"plugins": {"load": ["tests.plugin_example"]}}, entry_points=False)
    assert "tests.plugin_example" in sys.modules and "tests.plugin_example" in sim.plugin_names


def test_outputs_and_checkpoints_load_without_pickling(tmp_path):
    from paget.checkpoint import Checkpoints, find_checkpoint
    cfg = busy(cohort={"patients": 2, "years": 0.05})
    ds = paget.Simulation(cfg, entry_points=False).run(
        checkpoint=Checkpoints(tmp_path / "ck", every=7))
    write_dataset(ds, tmp_path / "out.nc")
    # netCDF through h5py: no pickle anywhere; attributes are plain strings and numbers
    with paget.open_dataset(tmp_path / "out.nc", engine="h5netcdf") as back:
        assert_same_result(back.load(), ds)
        assert all(isinstance(v, (str, int, float, np.generic, np.ndarray))
                   for v in back.attrs.values())
    step = find_checkpoint(tmp_path / "ck")
    for shard in step.glob("*.npz"):
        with np.load(shard, allow_pickle=False) as npz:
            for k in npz.files:
                assert not npz[k].dtype.hasobject, k


# ---------------------------------------------------------------- the docs page

def test_every_test_named_on_the_reliability_page_exists():
    page = (REPO / "docs" / "reliability.md").read_text()
    named = re.findall(r"`((?:mpi/)?test_\w+\.py)::(\w+)`", page)
    assert len(named) > 25
    for file, name in named:
        tree = ast.parse((REPO / "tests" / file).read_text())
        functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in functions, f"docs/reliability.md names {file}::{name}, which does not exist"


def test_every_package_directory_is_in_the_wheel():
    """pyproject.toml lists the packages by hand (core/ installs as paget): a new
    subpackage missing there imports from a checkout but not from a wheel
    (paget.engine once did exactly that)."""
    import tomllib
    root = Path(__file__).resolve().parents[1]
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    found = set()
    for name, base in setup["package-dir"].items():
        for init in (root / base).rglob("__init__.py"):
            rel = init.parent.relative_to(root / base)
            if "__pycache__" not in rel.parts:
                found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), f"packages missing from pyproject.toml: {found - listed}"
