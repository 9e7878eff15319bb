"""A virtual trial: surgery alone vs adjuvant chemotherapy vs chemotherapy then immunotherapy.

Thirty virtual patients with a fast-growing, early-shedding breast primary
(Gompertz rate 2e-3/day, shedding rate 0.1, both ASSUMPTIONS chosen so that
relapse after surgery is common within ten years), diagnosed at 20 mm and
resected four weeks later.  The three arms treat the *same* patients (same
seed, so the arms are paired): every difference between arms is the
treatment's.  Prints deaths, median overall survival and metastasis-free
survival per arm, and the paired comparison.  Takes about half a minute::

    python examples/virtual_trial.py
"""
from __future__ import annotations

import numpy as np

import paget

CONFIG = {
    "seed": 3,
    "cohort": {"patients": 30, "years": 10},
    "colonization": {"growth": {"rate": 2e-3}},
    "intravasation": {"rate": 0.1},
    "diagnosis": {"diameter": 20.0},
    "surgery": {"enabled": True, "delay": 28.0},
    "arms": [
        {"name": "surgery alone"},
        {"name": "adjuvant chemotherapy", "treatment": {"lines": ["chemotherapy"]}},
        {"name": "chemotherapy, then immunotherapy at progression",
         "treatment": {"lines": ["chemotherapy", "immunotherapy"]}},
    ],
}


def main() -> None:
    ds = paget.Simulation(CONFIG).run()
    end = float(ds.time[-1])

    # overall survival: death, censored at the end of follow-up
    died = ds.death_time.notnull()
    os_days = ds.death_time.fillna(end)
    # metastasis-free survival: the first scan that shows a metastasis, or death
    mfs_days = np.fmin(ds.first_detected_metastasis_time.fillna(end), os_days)

    print(f"{ds.sizes['patient']} patients per arm, {end / 365.25:.0f} years of follow-up")
    for arm in ds.arm.values:
        d = died.sel(arm=arm)
        median_os = os_days.sel(arm=arm).median().item() if d.mean() > 0.5 else float("nan")
        print(f"  {arm:<50} deaths {int(d.sum()):>2}, median OS "
              f"{'not reached' if np.isnan(median_os) else f'{median_os:.0f} days'}, "
              f"mean MFS {mfs_days.sel(arm=arm).mean().item() / 365.25:.1f} years")

    # paired: the same patient with and without adjuvant chemotherapy
    gain = (os_days.sel(arm="adjuvant chemotherapy") - os_days.sel(arm="surgery alone")) / 365.25
    print(f"adjuvant chemotherapy: {int((gain > 0).sum())} patients live longer, "
          f"{int((gain < 0).sum())} shorter; mean gain {gain.mean().item():.2f} years "
          f"(censored at {end / 365.25:.0f} years)")

    deaths = died.sum("patient")
    assert ds.death_time.dims == ("arm", "patient")
    assert (ds.surgery_time.notnull()).all(), "every patient is diagnosed and resected"
    # the arms share their patients: identical up to the first dose of chemotherapy
    start = float(ds.diagnosis_time.min()) + 56
    before = ds.tumor_cells.sel(time=slice(None, start))
    assert (before.sel(arm="surgery alone") == before.sel(arm="adjuvant chemotherapy")).all()
    assert deaths.sel(arm="adjuvant chemotherapy") < deaths.sel(arm="surgery alone")
    assert (ds.doses_given.sel(arm="surgery alone") == 0).all()


if __name__ == "__main__":
    main()
