"""One virtual patient: tumour burden per organ over time, read with xarray.

Runs the default scenario (a 1 mm^3 breast primary, every parameter at its
documented default) for one patient over five years, then prints the burden in
each organ at yearly intervals, the dormant cells at the end and the final lesion
table.  Takes a few seconds::

    python examples/single_patient.py
"""
from __future__ import annotations

import numpy as np

import paget

DAYS_PER_YEAR = 365.25


def main() -> None:
    sim = paget.Simulation({"seed": 3, "cohort": {"patients": 1, "years": 5}})
    ds = sim.run()                                   # an xarray.Dataset

    burden = ds.tumor_cells.isel(patient=0)          # dims (time, organ), a number of cells
    # organs that ever held a growing lesion
    seen = burden.organ[(burden.max("time") > 0).values]
    yearly = burden.sel(time=np.arange(0, 5.01) * DAYS_PER_YEAR, method="nearest")
    table = yearly.sel(organ=seen).to_pandas()
    table.index = [f"year {t / DAYS_PER_YEAR:.0f}" for t in table.index]
    print(f"{burden.attrs['long_name']}, per organ:")
    print(table.to_string(float_format=lambda x: f"{x:.3g}"))

    dormant = ds.dormant_cells.isel(patient=0, time=-1)
    print(f"\ndormant cells at day {float(ds.time[-1]):.0f}, by organ:")
    print(dormant.where(dormant > 0, drop=True).to_series().to_string(float_format="{:.0f}".format))

    lesions = ds[[v for v in ds.data_vars if v.startswith("lesion_")]].to_dataframe()
    growing = lesions[~lesions.lesion_dormant & (lesions.lesion_cells > 0)]
    print(f"\n{len(lesions)} rows in the final lesion table, {len(growing)} growing lesions:")
    print(growing[["lesion_organ", "lesion_birth_time", "lesion_cells"]].to_string())

    first = float(ds.first_seeding_time.isel(patient=0))
    print(f"\nfirst seeding: day {first:.0f}" if np.isfinite(first) else "\nno seeding")

    # What the output promises (checked by tests/test_examples.py):
    assert burden.dims == ("time", "organ") and burden.attrs["units"] == "1"   # CF: a count
    assert burden.attrs["long_name"].startswith("number of tumour cells")
    assert float(burden.sel(organ="breast").isel(time=0)) == 1e6   # primary.cells at t = 0
    assert bool((burden >= 0).all()) and bool((ds.dormant_cells >= 0).all())
    # the lesion table adds up to the burden at the end
    assert np.isclose(growing.lesion_cells.sum(), float(burden.isel(time=-1).sum()))
    assert np.isnan(first) or 0 < first <= float(ds.time[-1])


if __name__ == "__main__":
    main()
