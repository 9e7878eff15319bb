"""A third-party plugin package, installed for real: examples/paget-ctc-clusters.

The package is pip-installed into the running interpreter (once per session,
from a copy, so the source tree gets no build litter), after which it
registers itself through the entry-point group ``paget`` in every run, as a
user's install would.  Its defaults are neutral (``cluster_fraction = 0``), so
the rest of the suite is unaffected; its own tests show that bit for bit.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import paget

from .conftest import busy

PACKAGE = Path(__file__).resolve().parents[1] / "examples" / "paget-ctc-clusters"
SOURCE = PACKAGE / "src" / "paget_ctc_clusters"
ORIGIN = "entry point (paget-ctc-clusters)"


def _installed_and_current() -> bool:
    """The entry point is registered and the installed modules are the source's."""
    eps = [ep for ep in entry_points(group="paget", name="ctc_clusters")
           if ep.dist is not None and ep.dist.name == "paget-ctc-clusters"]
    spec = importlib.util.find_spec("paget_ctc_clusters")
    if not eps or spec is None or spec.origin is None:
        return False
    installed = Path(spec.origin).parent
    return all((installed / f.name).is_file() and (installed / f.name).read_bytes() == f.read_bytes()
               for f in SOURCE.glob("*.py"))


@contextlib.contextmanager
def _install_lock():
    """Serialize installs by concurrent test sessions sharing one environment."""
    try:
        import fcntl
    except ImportError:          # not POSIX: no lock
        yield
        return
    with open(Path(tempfile.gettempdir()) / "paget-ctc-clusters-install.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install the package (no network: setuptools is already present) unless
    the current source is installed already."""
    with _install_lock():
        if _installed_and_current():
            return
        if importlib.util.find_spec("pip") is None:
            pytest.skip("pip is not available in this interpreter, so the example package "
                        "examples/paget-ctc-clusters cannot be installed")
        copy = tmp_path_factory.mktemp("ctc") / PACKAGE.name
        shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".pytest_cache"))
        # With setuptools in the environment (Python 3.11 venvs, paget's own
        # build) no network is needed; without it pip must fetch the backend.
        isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *isolation,
                               "--force-reinstall", "-q", str(copy)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
        importlib.invalidate_caches()
        for name in [m for m in sys.modules if m.split(".")[0] == "paget_ctc_clusters"]:
            del sys.modules[name]
        assert _installed_and_current(), "installed, yet the entry point or the modules differ"


def test_paget_plugins_lists_it_as_an_entry_point(installed, tmp_path):
    env = {**os.environ, "COLUMNS": "300"}          # one table row per line
    proc = subprocess.run([sys.executable, "-m", "paget", "plugins"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "ctc_clusters" in line]
    assert len(rows) == 1, proc.stdout
    assert ORIGIN in rows[0] and "paget_ctc_clusters.plugin" in rows[0], rows[0]
    assert "paget_circulation" in rows[0] and "paget_dtc_fate" in rows[0], rows[0]


def _founded_per_shed(cfg: dict) -> tuple[float, int]:
    ds = paget.Simulation(cfg).run()
    shed = int(ds.ctc_shed.sum())
    return int(ds.colonies_founded.sum()) / shed, shed


def test_clusters_found_more_colonies_per_ctc_shed(installed):
    """Same seed, plugin on (a tenth of shed cells in clusters) against plugin off.

    Given the CTCs shed, each founds a colony independently with a probability
    p_i set by its source, so Var(founded) = sum p_i (1 - p_i) <= n p (1 - p)
    for the mean p: the binomial variance bounds the founded fraction's.  The
    model predicts a ~3-fold rise (grow x 0.9 + 0.1 * 23 = 3.2); the test asks
    only for a rise of more than 5 standard deviations of the difference.
    """
    base = busy(cohort={"patients": 2, "years": 0.25})
    on = {**base, "ctc_clusters": {"cluster_fraction": 0.1}}
    off = {**base, "plugins": {"disable": ["ctc_clusters"]}}
    assert "ctc_clusters" in paget.Simulation(on).plugin_names
    assert "ctc_clusters" not in paget.Simulation(off).plugin_names
    p1, n1 = _founded_per_shed(on)
    p0, n0 = _founded_per_shed(off)
    sd = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    assert p0 > 0 and p1 - p0 > 5 * sd, (p1, p0, sd)


def test_its_config_table_is_validated(installed):
    sim = paget.Simulation(busy(ctc_clusters={"cluster_fraction": 0.2}))
    assert ORIGIN in {p.origin for p in sim.plugin_info if p.name == "ctc_clusters"}
    assert sim.config.ctc_clusters.cluster_fraction == 0.2
    with pytest.raises(paget.ConfigError, match=r"ctc_clusters\.cluster_fraction"):
        paget.Simulation(busy(ctc_clusters={"cluster_fraction": 1.5}))


def test_the_package_own_tests_pass():
    """They run against the package's source (pytest's ``pythonpath = src``)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=PACKAGE, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
