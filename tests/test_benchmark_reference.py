"""The NumPy reference step of the benchmarks takes the same step as ``kernels.step_rows``.

``benchmarks/reference.py`` is the baseline the kernel's speed is compared
with, so it must draw from the same distributions.  Each row type below is
replicated R times (distinct uids: independent kernel streams); per type, the
means of N', of the CTCs shed and of the cells reactivated agree within 5
standard errors of the difference of two sample means, from the sample
variances.  (A correct pair misses a 5-SE band with probability ~6e-7; seeds
are fixed, so the test is deterministic.)  No timing is measured here.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from paget.ext import kernels

from benchmarks.reference import alpha_beta, step_numpy  # on sys.path by conftest.py

from .conftest import ROOT

R = 4000
DORMANT = int(kernels.FLAG_DORMANT)

# (name, cells, birth, death, shed_rate, flags): growing rows with Gompertz-like
# rates, the critical and pure-death limits, a big row that sheds, dormant pools.
TYPES = [
    ("one cell", 1.0, 0.0333, 0.02, 9.3e-3, 0),
    ("ten cells", 10.0, 0.031, 0.02, 0.043, 0),
    ("critical", 50.0, 0.3, 0.3, 0.0, 0),
    ("pure death", 30.0, 0.0, 0.2, 0.0, 0),
    ("fast growth", 5.0, 1.5, 0.1, 0.0, 0),
    ("medium, sheds", 1e5, 0.028, 0.02, 20.0, 0),
    ("large, sheds", 1e10, 0.0225, 0.02, 4.3e4, 0),
    ("dormant pool", 40.0, 0.05, 0.1, 0.0, DORMANT),
]


def _table():
    m = len(TYPES) * R
    col = lambda j, dt: np.repeat(np.array([t[j] for t in TYPES], dtype=dt), R)  # noqa: E731
    return dict(cells=col(1, np.float64), birth=col(2, np.float64), death=col(3, np.float64),
                shed_rate=col(4, np.float64), flags=col(5, np.uint8),
                deterministic=np.zeros(m, np.uint8),
                uid=np.arange(1, m + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
                patient=np.zeros(m, np.int64))


def _kernel_step(t, seed=5, step=3):
    cells = t["cells"].copy()
    m = cells.size
    shed, react = np.empty(m, np.int64), np.empty(m, np.int64)
    kernels.step_rows(cells, t["flags"], t["uid"], t["patient"], t["birth"], t["death"],
                      t["shed_rate"], t["deterministic"], 1.0, seed, step, shed, react)
    return cells, shed, react


def _numpy_step(t, seed=6):
    cells = t["cells"].copy()
    shed, react = step_numpy(cells, t["flags"], t["birth"], t["death"], t["shed_rate"],
                             t["deterministic"], 1.0, np.random.Generator(np.random.PCG64(seed)))
    return cells, shed, react


@pytest.fixture(scope="module")
def both():
    t = _table()
    return _kernel_step(t), _numpy_step(t)


@pytest.mark.parametrize("i", range(len(TYPES)), ids=[t[0] for t in TYPES])
@pytest.mark.parametrize("what", [0, 1, 2], ids=["cells", "shed", "reactivated"])
def test_reference_matches_kernel_in_mean(both, i, what):
    rows = slice(i * R, (i + 1) * R)
    x = both[0][what][rows].astype(np.float64)
    y = both[1][what][rows].astype(np.float64)
    se = np.sqrt(x.var(ddof=1) / R + y.var(ddof=1) / R)
    if se == 0.0:
        assert x.mean() == y.mean()
    else:
        assert abs(x.mean() - y.mean()) < 5 * se, (TYPES[i][0], x.mean(), y.mean(), se)


def test_reference_deterministic_rows_match_kernel_exactly():
    t = _table()
    t["deterministic"][:] = 1
    t["shed_rate"][:] = 0.0
    grow = t["flags"] == 0
    k, n = _kernel_step(t)[0], _numpy_step(t)[0]
    # Same formula; the C library's exp and NumPy's (SIMD) exp may differ in
    # the last bit on some CPUs, so equality is to a couple of ulp.
    np.testing.assert_array_max_ulp(k[grow], n[grow], maxulp=2)


def test_reference_alpha_beta_matches_kernel():
    for b, d in [(0.0333, 0.02), (0.3, 0.3), (0.0, 0.2), (1.5, 0.1), (0.3, 0.3 + 1e-15)]:
        a, be = alpha_beta(np.array([b]), np.array([d]), 1.0)
        ka, kb = kernels.bd_alpha_beta(b, d, 1.0)
        assert a[0] == pytest.approx(ka, rel=1e-14, abs=1e-300)
        assert be[0] == pytest.approx(kb, rel=1e-14, abs=1e-300)


def test_benchmarks_help_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--json" in proc.stdout
