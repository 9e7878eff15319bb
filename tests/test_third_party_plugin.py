"""A third-party plugin package, installed for real: examples/paget-ctc-clusters.

The package is pip-installed (from a copy, so the source tree gets no build
litter) into a temporary folder, never into the running environment: that
folder goes on ``sys.path`` of this process for these tests only, and on
``PYTHONPATH`` of the subprocesses that need it.  There the package registers
itself through the entry-point group ``paget``, as a user's install would;
once these tests end, the environment is as it was (no entry point is left
behind to change later runs).
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
from pathlib import Path

import pytest

import paget

from .conftest import busy

PACKAGE = Path(__file__).resolve().parents[1] / "examples" / "paget-ctc-clusters"
SOURCE = PACKAGE / "src" / "paget_ctc_clusters"
ORIGIN = "entry point (paget-ctc-clusters)"


def _forget_the_package() -> None:
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m.split(".")[0] == "paget_ctc_clusters"]:
        del sys.modules[name]


def _registered(path: Path | None = None) -> bool:
    """The entry point ``ctc_clusters`` is visible (on ``sys.path``, or in ``path``)."""
    from importlib.metadata import distributions
    dists = distributions(path=[str(path)]) if path is not None else distributions()
    return any(ep.group == "paget" and ep.name == "ctc_clusters"
               for d in dists if d.metadata["Name"] == "paget-ctc-clusters" for ep in d.entry_points)


def _pip_list() -> str:
    proc = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze",
                           "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _can_install() -> str | None:
    """Why the package cannot be installed here, or None."""
    if importlib.util.find_spec("pip") is None:
        return ("pip is not available in this interpreter, so the example package "
                "examples/paget-ctc-clusters cannot be installed")
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed; installing the example package would need the network"
    if _registered():
        return ("paget-ctc-clusters is installed in this environment already; these tests "
                "install it into a temporary folder themselves")
    return None


@contextlib.contextmanager
def _installed_into(work: Path):
    """Install a copy of the package into ``work/site`` (no network: setuptools is
    present) and put that folder on this process's ``sys.path`` until the end."""
    copy = work / PACKAGE.name
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    site = work / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                           "--no-build-isolation", "--no-cache-dir", "--disable-pip-version-check",
                           "-q", "--target", str(site), str(copy)],
                          capture_output=True, text=True, timeout=300, cwd=work)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert _registered(site), "installed, yet the entry point is missing"
    sys.path.insert(0, str(site))
    _forget_the_package()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        _forget_the_package()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """The package installed into a temporary folder, on ``sys.path`` while this
    module's tests run."""
    why = _can_install()
    if why:
        pytest.skip(why)
    with _installed_into(tmp_path_factory.mktemp("ctc")) as site:
        yield site


@pytest.fixture
def installed(target):
    """Tests that need the package loaded through its entry point."""
    assert _registered()
    return target


def _env(site: Path) -> dict[str, str]:
    """The environment of a subprocess that sees the package (and only it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    return env


def test_the_install_leaves_the_environment_as_it_was(tmp_path):
    """Installing, using and dropping the package changes nothing ``pip list``
    shows and leaves no entry point behind (issue 19: the suite used to install
    it into the user's environment, so later runs loaded it).  It comes first in
    this file, before the module's own install is on ``sys.path``."""
    why = _can_install()
    if why:
        pytest.skip(why)
    before, path = _pip_list(), list(sys.path)
    with _installed_into(tmp_path) as site:
        assert "ctc_clusters" in paget.Simulation(busy()).plugin_names
        proc = subprocess.run([sys.executable, "-m", "paget", "plugins"], env=_env(site),
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0 and "ctc_clusters" in proc.stdout, proc.stderr
    assert sys.path == path
    assert not _registered() and importlib.util.find_spec("paget_ctc_clusters") is None
    assert "ctc_clusters" not in paget.Simulation(busy()).plugin_names
    assert _pip_list() == before


def test_paget_plugins_lists_it_as_an_entry_point(installed, tmp_path):
    env = {**_env(installed), "COLUMNS": "300"}     # one table row per line
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
