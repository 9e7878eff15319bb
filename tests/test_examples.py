"""Every example script runs and its own assertions hold; the example plugin
loads in each documented way and does what docs/howto/plugin.md says."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import paget

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLUGINS = EXAMPLES / "plugins"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env["COLUMNS"] = "250"   # rich tables: one row per line
    return env


def test_there_are_examples():
    names = {p.name for p in SCRIPTS}
    assert {"single_patient.py", "cohort_analysis.py"} <= names
    assert (PLUGINS / "slow_shedding.py").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs_and_its_assertions_hold(script, tmp_path):
    """Each script asserts on its own results; run it as a user would."""
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip(), "an example should print what it found"
    assert not any(tmp_path.iterdir()), "examples write only to their own temporary dirs"


def _paget(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paget", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_plugin_loads_by_module_name_on_the_command_line():
    proc = _paget("plugins", "--plugin", "slow_shedding", env=_env(PLUGINS))
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "slow_shedding" in ln)
    assert "config" in line and "paget_intravasation" in line


def test_plugin_table_is_validated_on_the_command_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[plugins]\nload = ["slow_shedding"]\n[slow_shedding]\nfactor = 1.5\n')
    proc = _paget("validate", str(cfg), env=_env(PLUGINS))
    assert proc.returncode == 2
    assert "slow_shedding.factor = 1.5" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plugin_registers_through_its_entry_point(tmp_path):
    """What `pip install ./examples/plugins` leaves behind, made by hand.

    Installed metadata is a ``*.dist-info`` folder whose ``entry_points.txt``
    lists the groups of the package's pyproject.toml; writing it from that
    file checks the declared group, name and module without a build.
    """
    project = tomllib.loads((PLUGINS / "pyproject.toml").read_text())["project"]
    eps = project["entry-points"]["paget"]
    info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    (info / "entry_points.txt").write_text(
        "[paget]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    proc = _paget("plugins", env=_env(tmp_path, PLUGINS))
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "slow_shedding" in ln)
    assert "entry point" in line and "paget_intravasation" in line


@pytest.fixture
def slow_shedding(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import slow_shedding
    return slow_shedding


# The test below is shown in docs/howto/plugin.md ("Test a plugin").
def test_slow_shedding_factor_zero_stops_all_shedding(slow_shedding):
    config = {"seed": 1, "cohort": {"patients": 2, "years": 0.2},
              "primary": {"cells": 1e8}, "slow_shedding": {"factor": 0.0}}
    sim = paget.Simulation(config, plugins=[("slow_shedding", slow_shedding)],
                           entry_points=False)
    assert sim.config.slow_shedding.factor == 0.0
    ds = sim.run()
    assert int(ds.ctc_shed.sum()) == 0
    assert int(ds.colonies_founded.sum()) == 0 and ds.first_seeding_time.isnull().all()
    # without the plugin the same patients shed
    base = paget.Simulation({k: v for k, v in config.items() if k != "slow_shedding"},
                            entry_points=False).run()
    assert int(base.ctc_shed.sum()) > 0


def test_slow_shedding_rejects_a_factor_above_one(slow_shedding):
    with pytest.raises(paget.ConfigError, match=r"slow_shedding\.factor = 2"):
        paget.Simulation({"slow_shedding": {"factor": 2.0}},
                         plugins=[("slow_shedding", slow_shedding)], entry_points=False)
