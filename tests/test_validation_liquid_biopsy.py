"""docs/validation/liquid_biopsy.py: when Cristofanilli's CellSearch split counts as held."""
from __future__ import annotations

import pytest

from .helpers import validation_module


@pytest.fixture(scope="module")
def lb():
    return validation_module("liquid_biopsy")


def _split(high, low, os_high, os_low):
    return {"high": high, "low": low, "median_os_months_high": os_high,
            "median_os_months_low": os_low}


@pytest.mark.parametrize("split, holds", [
    (_split(12, 31, 7.9, 25.4), True),      # the >= 5 group dies sooner, the < 5 above 18
    (_split(12, 31, 7.9, 15.0), False),     # the < 5 group's median not above 18 months
    (_split(12, 31, 30.0, 25.4), False),    # the >= 5 group lives longer
    (_split(30, 0, 10.8, None), False),     # everyone >= 5: no split (the untreated cohort)
    (_split(0, 30, None, 25.0), False),     # no one >= 5
])
def test_the_split_holds_only_in_cristofanillis_direction_and_size(lb, split, holds):
    assert lb.split_holds(split) is holds
