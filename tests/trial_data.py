"""A synthetic result Dataset with trial arms and treatment readouts.

It follows the output contract of a run with several arms (an ``arm``
dimension first in every per-patient variable; ``lesion_arm``/``clone_arm`` in
the tables) and carries the optional variables (``diagnosis_time``,
``surgery_time``, ``first_detected_metastasis_time``, ``therapy_line``), so the
analysis and the figures are tested on what the engine does not make yet.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

ORGANS = ("lung", "liver", "bone", "brain", "breast", "other")
DETECTABLE = 6.5e7


def trial_dataset(patients: int = 12, arms=("control", "treatment"), years: float = 3.0,
                  seed: int = 0, interval: float = 30.0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    end = round(years * 365.25)
    time = np.append(np.arange(0.0, end, interval), float(end))
    A, P, T, O = len(arms), patients, time.size, len(ORGANS)
    hazard = np.array([1.0 / (1 + a) for a in range(A)])[:, None] / 700.0
    death = rng.exponential(1.0 / hazard, (A, P))
    death[death > end] = np.nan
    detectable = rng.uniform(0, end * 1.2, (A, P))
    detectable[(detectable > end) | (detectable > np.nan_to_num(death, nan=np.inf))] = np.nan
    detected = detectable + 45.0
    detected[detected > np.nan_to_num(death, nan=end)] = np.nan
    diagnosis = np.full((A, P), 60.0)
    surgery = np.full((A, P), 90.0)
    t = time[None, None, :]
    alive = t < np.nan_to_num(death, nan=np.inf)[..., None]
    lines = np.zeros((A, P, T), np.int64)
    lines[t >= np.nan_to_num(detected, nan=np.inf)[..., None]] = 1
    lines[t >= np.nan_to_num(detected, nan=np.inf)[..., None] + 200] = 2
    lines[~alive] = 0
    cells = np.zeros((A, P, T, O))
    cells[..., ORGANS.index("breast")] = 1e6 * np.exp(t / 120.0) * (t < 90)
    site = rng.integers(0, 3, (A, P))      # lung, liver or bone
    grow = np.where(np.isfinite(detectable)[..., None],
                    DETECTABLE * np.exp((t - np.nan_to_num(detectable)[..., None]) / 90.0), 0.0)
    for a in range(A):
        for p in range(P):
            cells[a, p, :, site[a, p]] = np.where(grow[a, p] >= 1, grow[a, p], 0)
    # frozen after death, as the engine records it
    for a in range(A):
        for p in range(P):
            dead = ~alive[a, p]
            if dead.any():
                cells[a, p, dead] = cells[a, p, np.flatnonzero(~dead)[-1]]
    lesions = (cells > 0).astype(np.int64)
    detect = (cells >= DETECTABLE).astype(np.int64)
    pat = ("arm", "patient")
    config = {"seed": seed, "primary": {"organ": "breast", "cells": 1e6},
              "outcome": {"detectable_cells": DETECTABLE, "lethal_cells": 1e12},
              "cohort": {"patients": patients, "years": years}}
    # one primary row and one clone per patient and arm
    la = np.repeat(np.asarray(arms, dtype=str), P)
    lp = np.tile(np.arange(P), A)
    uid = (1000 + lp).astype(np.uint64)
    ds = xr.Dataset(
        {
            "tumor_cells": (pat + ("time", "organ"), cells, {"units": "cells"}),
            "lesions": (pat + ("time", "organ"), lesions, {"units": "1"}),
            "detectable_lesions": (pat + ("time", "organ"), detect, {"units": "1"}),
            "alive": (pat + ("time",), alive, {"units": "1"}),
            "therapy_line": (pat + ("time",), lines, {"units": "1"}),
            "death_time": (pat, death, {"units": "days"}),
            "first_seeding_time": (pat, np.full((A, P), 10.0), {"units": "days"}),
            "first_detectable_metastasis_time": (pat, detectable, {"units": "days"}),
            "first_detected_metastasis_time": (pat, detected, {"units": "days"}),
            "diagnosis_time": (pat, diagnosis, {"units": "days"}),
            "surgery_time": (pat, surgery, {"units": "days"}),
            "lesion_uid": ("lesion", uid), "lesion_id": ("lesion", uid),
            "lesion_parent": ("lesion", np.zeros(A * P, np.uint64)),
            "lesion_genotype": ("lesion", np.zeros(A * P, np.uint64)),
            "lesion_patient": ("lesion", lp), "lesion_organ": ("lesion", np.full(A * P, "breast")),
            "lesion_birth_time": ("lesion", np.zeros(A * P)),
            "lesion_clone": ("lesion", uid), "lesion_cells": ("lesion", np.full(A * P, 1e6)),
            "lesion_dormant": ("lesion", np.zeros(A * P, bool)), "lesion_arm": ("lesion", la),
            "clone_id": ("clone", uid), "clone_parent": ("clone", np.zeros(A * P, np.uint64)),
            "clone_patient": ("clone", lp), "clone_birth_time": ("clone", np.zeros(A * P)),
            "clone_genotype": ("clone", np.zeros(A * P, np.uint64)),
            "clone_lesion": ("clone", uid), "clone_organ": ("clone", np.full(A * P, "breast")),
            "clone_arm": ("clone", la),
        },
        coords={"arm": np.asarray(arms, dtype=str), "patient": np.arange(P),
                "time": time, "organ": np.asarray(ORGANS, dtype=str)},
        attrs={"title": "paget simulation", "config_json": json.dumps(config)},
    )
    return ds
