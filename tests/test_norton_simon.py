"""Norton-Simon with patient factors: a patient whose tumour grows faster loses
more logs per dose, in proportion to its untreated net growth rate (Norton &
Simon 1977, Cancer Treat Rep 61:1307)."""
from __future__ import annotations

import types

import numpy as np

import paget
import paget.plugins.imaging as imaging
from paget.config import deep_merge

from .factors import only
from .test_management import BASE, N0, R, first_day, primary


def faster(patient: int, factor: float) -> types.ModuleType:
    """A factor plugin: cohort patient ``patient``'s tumour grows ``factor``
    times as fast (its net rate scaled; it runs after colonization and before
    treatment's agents)."""
    mod = types.ModuleType(f"faster_{patient}_{factor}")

    @paget.hookimpl
    def paget_growth(lesions, rates, patients):
        rows = np.asarray(patients.index)[lesions.pidx] == patient
        rates.birth[rows] += (factor - 1.0) * (rates.birth[rows] - rates.death[rows])

    mod.paget_growth = paget_growth
    return mod


def test_a_patient_growing_twice_as_fast_loses_twice_the_logs_per_dose():
    """Deterministic exponential growth, one dose at diagnosis: patient 0 grows
    at R and loses log_kill = 1 log; patient 1 grows at 2R and loses 2 logs."""
    cfg = deep_merge(BASE, {"diagnosis": {"diameter": 10.0},
                            "treatment": {"lines": ["chemotherapy"], "start": 0.0},
                            "chemotherapy": {"cycles": 1, "log_kill": 1.0, "toxicity": 0.0},
                            "cohort": {"years": 0.5}})
    plugin = faster(1, 2.0)
    ds = paget.Simulation(only(cfg), plugins=[(plugin.__name__, plugin)],
                          entry_points=False).run()
    t = ds.time.values
    cells = imaging.cells_of_diameter(10.0)
    for p, (rate, logs) in enumerate(((R, 1.0), (2 * R, 2.0))):
        t_d = first_day(cells, rate)
        expected = N0 * np.exp(rate * t) / np.where(t > t_d, 10.0 ** logs, 1.0)
        np.testing.assert_allclose(primary(ds).values[p], expected, rtol=1e-9)
