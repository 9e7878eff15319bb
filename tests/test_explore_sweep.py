"""Sweeps: designs, seeds, the store (resume, identity, foreign specs) and ``paget sweep``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import paget
from paget.cli import main
from paget.explore import sweep as S
from paget.explore.parameters import read_spec

BASE = {"cohort": {"patients": 2, "years": 0.1}, "output": {"interval": 10.0}}
DESIGN = {"intravasation.rate": [0.01, 0.3, 1.0]}


def store_files(path: Path) -> dict[str, bytes]:
    """Every file of a store by its relative path: equal dicts, identical stores."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


SPEC = """\
seed = 4
replicates = 2
[base]
cohort = {patients = 2, years = 0.1}
output = {interval = 10}
[design]
kind = "grid"
levels = 2
[parameters."intravasation.rate"]
low = 0.01
high = 1.0
log = true
"""


def write_spec(tmp_path, text=SPEC) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------- designs
def _design(kind, extra="", **table):
    spec = {"scenario": "default", "seed": 3, "base": {},
            "parameters": {"intravasation.rate": {"low": 0.001, "high": 0.1, "log": True},
                           "circulation.arrest": {"low": 0.1, "high": 0.5}},
            "design": {"kind": kind, **table}}
    return S.make_design(spec)


def test_a_grid_is_every_combination_of_levels():
    d = _design("grid", levels=3)
    assert len(d["intravasation.rate"]) == 9
    np.testing.assert_allclose(np.unique(d["intravasation.rate"]), [0.001, 0.01, 0.1])
    np.testing.assert_allclose(np.unique(d["circulation.arrest"]), [0.1, 0.3, 0.5])
    pairs = set(zip(d["intravasation.rate"].round(6), d["circulation.arrest"].round(6)))
    assert len(pairs) == 9


def test_a_latin_hypercube_has_one_value_per_stratum_and_is_reproducible():
    d = _design("lhs", samples=10)
    u = (np.log(d["intravasation.rate"]) - np.log(0.001)) / (np.log(0.1) - np.log(0.001))
    assert sorted(np.floor(u * 10).astype(int)) == list(range(10))   # log scale
    v = (d["circulation.arrest"] - 0.1) / 0.4
    assert sorted(np.floor(v * 10).astype(int)) == list(range(10))
    again = _design("lhs", samples=10)
    np.testing.assert_array_equal(d["circulation.arrest"], again["circulation.arrest"])


def test_a_sobol_design_is_scrambled_by_the_seed_and_needs_a_power_of_two():
    d = _design("sobol", samples=8)
    assert len(d["circulation.arrest"]) == 8
    assert np.all((d["circulation.arrest"] >= 0.1) & (d["circulation.arrest"] <= 0.5))
    with pytest.raises(paget.ConfigError, match=r"design.samples = 10: a Sobol' design needs "
                                                r"a power of 2 \(e.g. 8 or 16\)"):
        _design("sobol", samples=10)


def test_a_key_that_changes_the_runs_shape_cannot_vary():
    with pytest.raises(paget.ConfigError, match="'cohort.years' cannot vary in a sweep"):
        S.run_design({"cohort.years": [0.1, 0.2]}, base=BASE, progress=False)


# ------------------------------------------------------------------ the runs
def test_unit_seeds_depend_on_the_root_seed_and_the_index_only():
    seeds = {S.unit_seed(7, s, r) for s in range(20) for r in range(5)}
    assert len(seeds) == 100 and all(0 <= x < 2**63 for x in seeds)
    assert S.unit_seed(7, 3, 1) == S.unit_seed(7, 3, 1) != S.unit_seed(8, 3, 1)


def test_each_run_of_a_sweep_is_simulate_with_its_seed():
    ds = S.run_design(DESIGN, base=BASE, replicates=2, seed=5, progress=False)
    assert dict(ds.sizes)["sample"] == 3 and dict(ds.sizes)["replicate"] == 2
    np.testing.assert_array_equal(ds["intravasation.rate"].values, DESIGN["intravasation.rate"])
    for s, r in [(0, 0), (2, 1)]:
        one = paget.simulate({"intravasation.rate": DESIGN["intravasation.rate"][s]},
                             seed=S.unit_seed(5, s, r), base=BASE)
        assert int(ds.seed[s, r]) == S.unit_seed(5, s, r)
        for name in ("tumor_cells", "ctc_shed", "death_time", "alive"):
            np.testing.assert_array_equal(ds[name].isel(sample=s, replicate=r).values,
                                          one[name].values)
    assert "lesion_cells" not in ds        # tables dropped by default


def test_a_sweep_of_summaries():
    ds = S.run_design(DESIGN, base=BASE, seed=5, summary=["sites", "involvement"],
                      progress=False)
    one = paget.simulate({"intravasation.rate": 1.0}, seed=S.unit_seed(5, 2, 0), base=BASE,
                         summary="involvement")
    np.testing.assert_array_equal(ds.involvement.isel(sample=2, replicate=0).values,
                                  one.involvement.values)
    assert ds.sites.dims == ("sample", "replicate")


# ------------------------------------------------------------------ the store
def test_the_store_holds_what_the_sweep_returns_and_the_tables_per_run(tmp_path):
    mem = S.run_design(DESIGN, base=BASE, replicates=2, seed=5, progress=False)
    got = S.run_design(DESIGN, base=BASE, replicates=2, seed=5, progress=False,
                       store=tmp_path / "s.zarr", tables="keep")
    assert bool(got.done.all())
    xr.testing.assert_identical(got.drop_vars("done").load(),
                                mem.assign_attrs(got.attrs))
    one = paget.simulate({"intravasation.rate": 0.3}, seed=S.unit_seed(5, 1, 1), base=BASE)
    tables = S.open_tables(tmp_path / "s.zarr", 1, 1)
    np.testing.assert_array_equal(tables.lesion_cells.values, one.lesion_cells.values)
    np.testing.assert_array_equal(tables.clone_id.values, one.clone_id.values)


def test_a_killed_sweep_resumes_to_an_identical_store(tmp_path, monkeypatch):
    whole = tmp_path / "whole.zarr"
    S.run_design(DESIGN, base=BASE, replicates=2, seed=5, progress=False, store=whole,
                 tables="keep")
    real, calls = S._run_unit, []

    def fail_after_three(**kw):
        calls.append((kw["s"], kw["r"]))
        if len(calls) > 3:
            raise RuntimeError("killed")
        return real(**kw)

    monkeypatch.setattr(S, "_run_unit", fail_after_three)
    part = tmp_path / "part.zarr"
    with pytest.raises(RuntimeError, match="killed"):
        S.run_design(DESIGN, base=BASE, replicates=2, seed=5, progress=False, store=part,
                     tables="keep")
    done = xr.open_zarr(part).done.values
    assert done.sum() == 3
    monkeypatch.setattr(S, "_run_unit", real)
    ran = []
    monkeypatch.setattr(S, "_run_unit", lambda **kw: ran.append((kw["s"], kw["r"])) or real(**kw))
    S.run_design(DESIGN, base=BASE, replicates=2, seed=5, progress=False, store=part,
                 tables="keep")
    assert len(ran) == 3 and not any(done[u] for u in ran)     # finished runs skipped
    assert store_files(part) == store_files(whole)


def test_a_store_of_another_spec_is_refused_unless_overwritten(tmp_path):
    store = tmp_path / "s.zarr"
    S.run_design(DESIGN, base=BASE, seed=5, progress=False, store=store)
    before = store_files(store)
    with pytest.raises(paget.errors.PathError, match="holds a sweep of another spec"):
        S.run_design(DESIGN, base=BASE, seed=6, progress=False, store=store)
    assert store_files(store) == before
    S.run_design(DESIGN, base=BASE, seed=6, progress=False, store=store, overwrite=True)
    assert xr.open_zarr(store).attrs["root_seed"] == 6


# ------------------------------------------------------------------------ CLI
def test_paget_sweep_writes_the_store(tmp_path, capsys):
    out = tmp_path / "out.zarr"
    assert main(["sweep", str(write_spec(tmp_path)), "-o", str(out), "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    ds = xr.open_zarr(out, decode_times=False)
    assert dict(ds.sizes)["sample"] == 2 and dict(ds.sizes)["replicate"] == 2
    np.testing.assert_allclose(ds["intravasation.rate"].values, [0.01, 1.0])
    assert read_spec(write_spec(tmp_path), keys=S.SWEEP_KEYS)["seed"] == ds.attrs["root_seed"]


@pytest.mark.parametrize("edit, message", [
    (lambda t: "replicate = 3\n" + t, "replicate: unknown key (did you mean 'replicates'?)"),
    (lambda t: t.replace("high = 1.0", "high = 11"),
     'parameters."intravasation.rate".high = 11: outside the allowed values of '
     'intravasation.rate: must be within [0, 10]'),
    (lambda t: t.replace('"intravasation.rate"', '"intravasation.rte"'),
     "unknown key (did you mean 'intravasation.rate'?)"),
    (lambda t: t.replace('kind = "grid"', 'kind = "random"'),
     "design.kind = 'random': must be one of grid, lhs, sobol"),
    (lambda t: t.replace("replicates = 2", "replicates = 0"),
     "replicates = 0: must be a whole number >= 1"),
])
def test_bad_sweep_specs_exit_2_in_one_line_with_nothing_written(tmp_path, capsys, edit,
                                                                 message):
    out = tmp_path / "out.zarr"
    spec = write_spec(tmp_path, edit(SPEC))
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_paget_sweep_refuses_a_store_of_another_spec(tmp_path, capsys):
    out = tmp_path / "out.zarr"
    assert main(["sweep", str(write_spec(tmp_path)), "-o", str(out), "--no-progress"]) == 0
    before = store_files(out)
    other = write_spec(tmp_path, SPEC.replace("seed = 4", "seed = 5"))
    assert main(["sweep", str(other), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds a sweep of another spec" in err and err.count("\n") == 1
    assert store_files(out) == before


def test_a_resume_clears_the_temporary_file_of_a_chunk_write_killed_midway(tmp_path):
    """SIGKILL in the middle of a chunk write leaves zarr's temporary
    '<key>.<uuid>.partial' beside the chunk; running the sweep again removes it,
    and the store ends identical to an uninterrupted one."""
    spec = write_spec(tmp_path)
    whole, part = tmp_path / "whole.zarr", tmp_path / "part.zarr"
    assert main(["sweep", str(spec), "-o", str(whole), "--no-progress"]) == 0
    assert main(["sweep", str(spec), "-o", str(part), "--no-progress"]) == 0
    chunk = next(p for p in sorted((part / "done").iterdir()) if not p.name.startswith("."))
    litter = chunk.with_name(chunk.name + ".0123456789abcdef.partial")
    litter.write_bytes(b"half a chunk")
    assert main(["sweep", str(spec), "-o", str(part), "--no-progress"]) == 0
    assert not litter.exists()
    assert store_files(part) == store_files(whole)


def test_a_sweep_killed_by_sigkill_resumes_with_the_same_command(tmp_path):
    """The real thing: ``paget sweep`` killed (SIGKILL) mid-sweep, then run again."""
    spec = write_spec(tmp_path, SPEC.replace("levels = 2", "levels = 3"))
    whole, part = tmp_path / "whole.zarr", tmp_path / "part.zarr"
    assert main(["sweep", str(spec), "-o", str(whole), "--no-progress"]) == 0
    cmd = [sys.executable, "-m", "paget", "sweep", str(spec), "-o", str(part), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = part / "done"
            if done.is_dir() and sum(1 for p in done.iterdir() if not p.name.startswith(".")) >= 2:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    assert not xr.open_zarr(part).done.values.all()
    subprocess.run(cmd, check=True)
    assert store_files(part) == store_files(whole)


@pytest.mark.parametrize("kw, message", [
    (dict(replicates=0), "replicates = 0: must be a whole number >= 1"),
    (dict(tables="all"), "tables = 'all': must be one of drop, keep"),
    (dict(tables="keep"), "tables = 'keep': the tables are kept per run in a store's groups"),
    (dict(summary="site"), "summary = 'site': unknown summary (did you mean 'sites'?)"),
])
def test_bad_arguments_of_run_design_are_refused_before_any_run(kw, message, monkeypatch):
    monkeypatch.setattr(S, "_run_unit", lambda **kw: pytest.fail("a run started"))
    with pytest.raises(paget.ConfigError) as err:
        S.run_design(DESIGN, base=BASE, progress=False, **kw)
    assert message in str(err.value)


def test_paget_sweep_needs_a_zarr_output(tmp_path, capsys):
    assert main(["sweep", str(write_spec(tmp_path)), "-o", str(tmp_path / "out.nc")]) == 2
    err = capsys.readouterr().err
    assert "-o" in err and "must end in .zarr" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_the_example_spec_is_valid():
    """examples/sweep.toml (run by hand: under a minute on 2 cores) reads and draws."""
    spec = S.read_sweep_spec(Path(__file__).resolve().parents[1] / "examples" / "sweep.toml")
    assert spec["replicates"] == 2 and spec["tables"] == "drop"
    assert {k: len(v) for k, v in spec["values"].items()} == {
        "intravasation.rate": 8, "extravasation.probability.liver": 8}
