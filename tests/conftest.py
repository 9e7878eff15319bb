"""Shared fixtures: small, fast configurations that exercise every stage."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from paget.config import deep_merge

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level package of the repository
    sys.path.insert(0, str(ROOT))

from benchmarks.cohort import LARGE_PATIENT  # noqa: E402

#: A configuration in which every cascade stage acts within weeks: a large
#: primary that sheds, efficient extravasation and colonization, dormancy
#: with reactivation, and metastases that shed too.  The benchmarks' one large
#: patient is this configuration; here four patients, for half a year.
BUSY = deep_merge(copy.deepcopy(LARGE_PATIENT), {"cohort": {"patients": 4, "years": 0.5}})


def busy(**overrides) -> dict:
    """BUSY with nested overrides, e.g. busy(cohort={"patients": 2})."""
    return deep_merge(copy.deepcopy(BUSY), overrides)


@pytest.fixture(scope="session")
def busy_dataset():
    import paget
    return paget.Simulation(busy(), entry_points=False).run()
