"""Shared fixtures: small, fast configurations that exercise every stage."""
from __future__ import annotations

import copy

import pytest

from paget.config import deep_merge

#: A configuration in which every cascade stage acts within weeks: a large
#: primary that sheds, efficient extravasation and colonization, dormancy
#: with reactivation, and metastases that shed too.
BUSY = {
    "seed": 11,
    "cohort": {"patients": 4, "years": 0.5, "dt": 1.0},
    "primary": {"organ": "breast", "cells": 1e8},
    "intravasation": {"rate": 0.01, "exponent": 0.67, "lymph_fraction": 0.2},
    "extravasation": {"probability": {"default": 0.3, "liver": 0.8}},
    "colonization": {
        "growth": {"law": "gompertz", "rate": 0.002, "death": 0.05},
        "fate": {"die": 0.745, "dormant": 0.25, "grow": 0.005},
        "dormancy": {"reactivation": 0.001, "death": 0.02},
    },
    "output": {"interval": 7.0},
}


def busy(**overrides) -> dict:
    """BUSY with nested overrides, e.g. busy(cohort={"patients": 2})."""
    return deep_merge(copy.deepcopy(BUSY), overrides)


@pytest.fixture(scope="session")
def busy_dataset():
    import paget
    return paget.Simulation(busy(), entry_points=False).run()
