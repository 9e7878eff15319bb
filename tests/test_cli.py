"""The command line: runs, output files, exit codes and one-line errors."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import paget

from .conftest import busy
from .helpers import assert_same_result


def paget_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "paget", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def write_toml(path: Path, cfg: dict) -> Path:
    import tomli_w
    path.write_text(tomli_w.dumps(cfg))
    return path


def test_run_default_scenario_writes_a_dataset(tmp_path):
    out = tmp_path / "out.nc"
    r = paget_cli("run", "--patients", 2, "--years", 0.2, "--seed", 4, "-o", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "with lesions" in r.stdout and "median first seeding" in r.stdout
    ds = paget.open_dataset(out)
    assert ds.sizes["patient"] == 2 and int(ds.attrs["seed"]) == 4
    assert ds.tumor_cells.attrs["units"] == "1"
    assert ds.tumor_cells.attrs["long_name"].startswith("number of")


def test_run_config_file_equals_python_api(tmp_path):
    import paget
    cfg = busy(cohort={"patients": 2, "years": 0.1})
    out = tmp_path / "a.nc"
    toml = write_toml(tmp_path / "c.toml", cfg)
    r = paget_cli("run", toml, "-o", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    ds = paget.open_dataset(out).load()
    assert ds.attrs["scenario"] == str(toml)
    # the run of the same configuration in Python: the same result, but for the
    # attribute that says how it was given
    expected = paget.Simulation(cfg).run()
    assert_same_result(ds.drop_attrs(deep=False), expected.drop_attrs(deep=False))
    assert_same_result(ds, paget.Simulation.from_toml(toml).run())


def test_print_config_shows_every_default_and_round_trips(tmp_path):
    r = paget_cli("run", "--print-config", "--patients", 3)
    assert r.returncode == 0, r.stderr
    assert "[colonization.growth]" in r.stdout and "patients = 3" in r.stdout
    again = paget_cli("validate", write_toml(tmp_path / "r.toml", __import__("tomllib").loads(r.stdout)))
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("toml, fragment", [
    ("[cohort]\npatients = -2\n", "cohort.patients = -2"),
    ("[circulation]\narrest = 2.0\n", "circulation.arrest = 2.0"),
    ("[colonization.growth]\nlaw = 'weibull'\n", "colonization.growth.law"),
    ("[cohort\n", "not valid TOML"),
    ("[plugins]\ndisable = ['imaging']\n[surgery]\nenabled = true\n",
     "plugin 'treatment' needs state variable 'diagnosis_time', declared by plugin 'imaging', "
     "which is disabled"),
], ids=["negative", "probability", "law", "syntax", "missing-provider"])
def test_config_error_exit_2_one_line_no_traceback_no_output(tmp_path, toml, fragment):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    out = tmp_path / "out.nc"
    r = paget_cli("run", cfg, "-o", out)
    assert r.returncode == 2
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [cfg]


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "out.nc"
    out.write_text("precious")
    r = paget_cli("run", "--patients", 1, "--years", 0.05, "-o", out, "--no-progress")
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert out.read_text() == "precious"


def test_unknown_scenario_is_named():
    r = paget_cli("run", "atlantis")
    assert r.returncode == 2 and "atlantis" in r.stderr and "default" in r.stderr


def test_scenarios_and_plugins_commands():
    r = paget_cli("scenarios")
    assert r.returncode == 0 and any(ln.startswith("default ") for ln in r.stdout.splitlines())
    r = paget_cli("plugins")
    assert r.returncode == 0
    for name in ("invasion", "intravasation", "circulation", "extravasation", "colonization"):
        assert name in r.stdout


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "paget"
    assert exe.exists() or shutil.which("paget")


def test_run_a_trial_writes_the_arm_dimension_and_a_summary_per_arm(tmp_path):
    cfg = {"seed": 2, "cohort": {"patients": 2, "years": 0.1}, "primary": {"cells": 6e8},
           "arms": [{"name": "control"},
                    {"name": "surgery", "surgery": {"enabled": True, "delay": 10.0}}]}
    out = tmp_path / "trial.nc"
    r = paget_cli("run", write_toml(tmp_path / "trial.toml", cfg), "-o", out)
    assert r.returncode == 0, r.stderr
    assert "trial arms" in r.stdout and "control" in r.stdout and "surgery" in r.stdout
    ds = paget.open_dataset(out)
    assert ds.arm.values.tolist() == ["control", "surgery"]
    assert ds.death_time.dims == ("arm", "patient")


def test_the_summary_counts_the_causes_of_death_a_plugin_records():
    """A CF flag variable ``death_cause`` is counted over the dead patients only,
    by its flag meanings; without it the summary has no causes."""
    import numpy as np
    import xarray as xr

    from paget.cli import _cause_counts
    ds = xr.Dataset({
        "death_time": ("patient", np.array([10.0, np.nan, 30.0, 40.0])),
        "death_cause": ("patient", np.array([1, 1, 3, 1], np.int16),
                        {"flag_values": np.array([0, 1, 2, 3], np.int16),
                         "flag_meanings": "alive total_burden primary_local liver_failure"})})
    assert _cause_counts(ds) == {"alive": 0, "total_burden": 2, "primary_local": 0,
                                 "liver_failure": 1}
    assert _cause_counts(ds.drop_vars("death_cause")) is None
