"""A 20-patient cohort: where metastases grow, when seeding starts, survival.

Twenty virtual patients with a breast primary of 1e9 cells (about 1 cm^3 at the
1e6 cells per mm^3 that ``paget.config`` uses), every other parameter at its
documented default, followed for ten years.  Prints the share of patients with a
metastasis in each organ, the median time of first seeding and how many patients
reached the lethal burden, then writes the dataset to netCDF in a temporary
directory and reads it back.  Takes a few seconds::

    python examples/cohort_analysis.py
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

import paget

CONFIG = {
    "seed": 1,
    "cohort": {"patients": 20, "years": 10},
    "primary": {"organ": "breast", "cells": 1e9},
}


def main() -> None:
    ds = paget.Simulation(CONFIG).run()
    n = ds.sizes["patient"]
    primary = CONFIG["primary"]["organ"]

    # A growing lesion in any organ but the primary's is a metastasis.  (The
    # state of a patient who died is frozen at death, so "at the end" means at
    # the end of follow-up or at death.)
    last = ds.isel(time=-1)
    with_met = (last.lesions > 0).drop_sel(organ=primary)          # (patient, organ)
    share = with_met.mean("patient").to_series().sort_values(ascending=False)
    print(f"share of {n} patients with a metastasis, by organ:")
    print(share[share > 0].to_string(float_format="{:.0%}".format))

    seeding = ds.first_seeding_time                                # days, NaN: never
    seeded = int(seeding.notnull().sum())
    median_days = float(seeding.median())                          # skips NaN
    print(f"\nseeded: {seeded}/{n} patients, median first seeding on day {median_days:.0f}")

    died = ds.death_time.notnull()
    print(f"reached the lethal burden: {int(died.sum())}/{n} patients, median on day "
          f"{float(ds.death_time.median()):.0f}")
    detected = ds.first_detectable_metastasis_time
    print(f"a detectable metastasis: {int(detected.notnull().sum())}/{n} patients")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cohort.nc"
        ds.to_netcdf(path, engine="h5netcdf")
        print(f"\nwrote {path.name}: {path.stat().st_size / 1e6:.2f} MB")
        with paget.open_dataset(path) as back:     # time: float days, as in memory
            xr.testing.assert_equal(back.tumor_cells, ds.tumor_cells)
            assert back.tumor_cells.attrs["units"] == "1"     # a number of cells
            assert int(back.attrs["seed"]) == CONFIG["seed"]
            reloaded_share = (back.isel(time=-1).lesions > 0).drop_sel(organ=primary) \
                .mean("patient")

    # What the analysis promises (checked by tests/test_examples.py):
    assert n == 20 and primary not in share.index
    assert ((share >= 0) & (share <= 1)).all()
    np.testing.assert_array_equal(reloaded_share.values, with_met.mean("patient").values)
    assert 0 < seeded <= n and 0 <= median_days <= float(ds.time[-1])
    # a patient's first metastasis cannot be detectable before anything seeded
    assert bool(((detected >= seeding) | detected.isnull()).all())


if __name__ == "__main__":
    main()
