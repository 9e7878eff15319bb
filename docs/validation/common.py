"""Shared pieces of the validation scripts: the published table, the site map,
running a scenario cohort to death and reading site involvement from it."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: the published data (DiSibio & French 2008), shipped in the repository
DATA = HERE / "disibio2008_calibration.csv"
RESULTS = HERE / "results"

from paget.body import ORGANS  # noqa: E402


# The one place that says which sites are compared and with which organ: every
# validation script (calibrate, report, crossval, level) reads these.
#: calibrated primaries: table row -> (scenario, paget organ of the primary)
PRIMARIES = {"lung": ("lung", "lung"), "breast": ("breast", "breast"),
             "colorectal": ("colorectal", "colon"),  # the row pools colon and rectum
             "prostate": ("prostate", "prostate"), "pancreas": ("pancreas", "pancreas")}
#: every site of the autopsy table -> the paget organ compared with it
TABLE_SITES = {"lymph_nodes_regional": "lymph_nodes", "lymph_nodes_distant": "distant_nodes",
               "liver": "liver", "lung": "lung", "bone": "bone", "adrenal": "adrenal",
               "brain": "brain", "kidney": "kidney", "spleen": "spleen",
               "pancreas": "pancreas", "heart": "heart", "skin": "skin",
               "pleura": "pleura", "peritoneum": "peritoneum"}
#: the compared sites: those whose organ the body has (pleura and peritoneum,
#: the serosal surfaces, only once the body has them as compartments)
SITES = {s: o for s, o in TABLE_SITES.items() if o in ORGANS}
NOT_MODELLED = tuple(s for s in TABLE_SITES if s not in SITES)
#: primaries drained by the portal vein (their liver/lung ratio is a routing check)
PORTAL = ("colorectal", "pancreas")

# ASSUMPTION: a site counts as involved at autopsy when it holds a metastatic
# lesion of >= 1e5 cells (~0.6 mm across at 1e6 cells/mm^3, docs/reference/sources.md),
# i.e. found on microscopic examination of the organ (DiSibio & French 2008 call
# their data "based primarily on postmortem tissue analyses" [READ abstract]).
# The size matters for the clinical time axis: clinical_fit.py's pancreas scan
# measures the calibration at 6.5e7 cells (5 mm), what an eye would find.
INVOLVED_CELLS = 1e5

#: what every calibration and validation run overrides in a scenario: long
#: enough that (nearly) every patient reaches the lethal burden, untreated;
#: 3-day steps (the birth-death step is exact, dt only sets how often rates
#: are updated; docs/explanation/engine.md); only the final state is needed
RUN_OVERRIDES = {"cohort": {"years": 40.0, "dt": 3.0}, "output": {"interval": 14610.0 - 0.0}}


def organ_map(value) -> dict[str, float]:
    """A per-organ setting (a plain number, or a map with an optional 'default')
    as a map of floats; a plain number becomes its 'default'."""
    if isinstance(value, dict):
        return {k: float(v) for k, v in value.items()}
    return {"default": float(value)}


def pooled_fraction(fractions) -> float:
    """The typical value of per-primary fractions (e.g. the lymphatic share of
    the shed cells): the inverse logit of their mean logit, so that a fraction
    near 0 or 1 weighs as much as one near 0.5 and the result stays in (0, 1)."""
    f = np.clip(np.asarray(fractions, float), 1e-6, 1 - 1e-6)
    return float(1.0 / (1.0 + np.exp(-np.mean(np.log(f / (1 - f))))))


def read_table() -> dict[str, dict[str, float]]:
    rows = {}
    with open(DATA) as fh:
        for row in csv.DictReader(ln for ln in fh if not ln.startswith("#")):
            rows[row["primary"]] = {k: float(v) for k, v in row.items() if k != "primary"}
    return rows


def targets() -> tuple[np.ndarray, np.ndarray]:
    """(share of patients with each site involved, fraction; published mets per
    patient) per calibrated primary, rows in PRIMARIES order, columns in SITES order."""
    t = read_table()
    shares = np.array([[t[p][s] / 100.0 for s in SITES] for p in PRIMARIES])
    mets = np.array([t[p]["mets_per_primary"] for p in PRIMARIES])
    return shares, mets


def run_scenario(args) -> dict:
    """Run one scenario cohort to death; return involvement per site and more.
    ``args``: (scenario, patients, seed, overrides[, involved_cells]), the last
    the size from which a site counts as involved (default
    :data:`INVOLVED_CELLS`; other sizes are for diagnostic scans)."""
    scenario, patients, seed, overrides, *rest = args
    import paget
    ds = paget.Simulation.from_scenario(scenario, run_overrides(patients, seed, overrides)).run()
    return involvement(ds, *rest)


def run_overrides(patients: int, seed: int, extra: dict | None = None) -> dict:
    """RUN_OVERRIDES for a cohort of ``patients`` with ``seed`` (and ``extra``),
    recording only the final state (one output interval spanning the run)."""
    from paget.config import deep_merge
    over = deep_merge(RUN_OVERRIDES, {"cohort": {"patients": patients}, "seed": seed})
    over = deep_merge(over, extra or {})
    steps = int(round(over["cohort"]["years"] * 365.25 / over["cohort"]["dt"]))
    over["output"] = {"interval": steps * over["cohort"]["dt"]}
    return over


def metastatic_lesions(ds) -> dict:
    """The growing metastatic lesions at the end (or at death), all clones of a
    lesion together: ``organs`` (names), ``keep`` (their rows of the lesion
    table), ``inverse`` (lesion of each kept row), ``cells``, ``patient`` and
    ``organ`` (index into ``organs``) per lesion."""
    organs = [str(o) for o in ds.organ.values]
    lorg = ds.lesion_organ.values
    if lorg.dtype.kind in "US O":
        lorg = np.array([organs.index(str(o)) for o in lorg])
    lid = ds.lesion_id.values
    primary_ids = set(ds.lesion_uid.values[ds.lesion_parent.values == 0].tolist())
    keep = (~ds.lesion_dormant.values) & ~np.isin(lid, list(primary_ids))
    ids, inv = np.unique(lid[keep], return_inverse=True)
    cells = np.bincount(inv, weights=ds.lesion_cells.values[keep])
    first = np.zeros(ids.size, np.int64)
    first[inv[::-1]] = np.flatnonzero(keep)[::-1]
    return {"organs": organs, "keep": keep, "inverse": inv, "cells": cells,
            "patient": ds.lesion_patient.values[first], "organ": lorg[first]}


def involvement(ds, involved_cells: float | None = None) -> dict:
    """Per compared site, the share of patients with a metastatic lesion of at
    least ``involved_cells`` (None: :data:`INVOLVED_CELLS`, read at the call)
    there at the end (or at death); the sites per patient (mean and sd), and the
    deaths."""
    if involved_cells is None:
        involved_cells = INVOLVED_CELLS
    les = metastatic_lesions(ds)
    organs, cells, pat, org = les["organs"], les["cells"], les["patient"], les["organ"]
    P = ds.sizes["patient"]
    big = cells >= involved_cells
    inv_mat = np.zeros((P, len(organs)), bool)
    inv_mat[pat[big], org[big]] = True
    share = {site: float(inv_mat[:, organs.index(o)].mean()) for site, o in SITES.items()}
    sites = inv_mat[:, [organs.index(o) for o in SITES.values()]].sum(axis=1)
    death = ds.death_time.values
    return {"share": share, "mets_mean": float(sites.mean()),
            "mets_sd": float(sites.std(ddof=1)) if P > 1 else 0.0,
            "patients": int(P), "dead": int(np.isfinite(death).sum()),
            "median_death_years": float(np.nanmedian(death) / 365.25) if np.isfinite(death).any()
            else float("nan")}


def chunk_sizes(patients: int, chunk: int) -> list[int]:
    """``patients`` split into cohorts of ``chunk`` (the last one smaller), in order:
    the chunked runs give chunk ``k`` the seed ``seed + k``, so the split is part
    of what a result depends on."""
    if patients < 0 or chunk < 1:
        raise ValueError(f"need patients >= 0 and chunk >= 1, got {patients} and {chunk}")
    return [min(chunk, patients - i) for i in range(0, patients, chunk)]


def pool_map(func, jobs, processes=None):
    processes = processes or min(len(jobs), os.cpu_count() or 1)
    if processes <= 1:
        return [func(j) for j in jobs]
    import multiprocessing as mp
    with mp.get_context("fork").Pool(processes) as pool:
        return pool.map(func, jobs, chunksize=1)
