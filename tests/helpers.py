"""Assertions and loaders shared by the tests."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import xarray as xr

from paget.output import RUN_ATTRS

#: the validation scripts (not a package: each puts its own folder on sys.path)
VALIDATION = Path(__file__).resolve().parents[1] / "docs" / "validation"


def validation_module(name: str):
    """Import the validation script ``docs/validation/<name>.py`` as a module,
    with its folder on ``sys.path`` only while it (and what it imports) loads."""
    sys.path.insert(0, str(VALIDATION))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(VALIDATION))


def assert_same_result(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray) -> None:
    """``a`` and ``b`` are the same result to the bit: identical variables,
    coordinates and attributes, except the two global attributes that record
    when and how a run was started (``date_created``, ``history``:
    :data:`paget.output.RUN_ATTRS`), which differ from run to run."""
    def strip(x):
        if isinstance(x, xr.Dataset):
            x = x.copy(deep=False)
            x.attrs = {k: v for k, v in x.attrs.items() if k not in RUN_ATTRS}
        return x

    xr.testing.assert_identical(strip(a), strip(b))
