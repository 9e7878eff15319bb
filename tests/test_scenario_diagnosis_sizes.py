"""The shipped scenarios' sizes at diagnosis: each scenario with a registry size
mix (``[diagnosis] diameter_distribution``) loads it and draws inside its
edges with its shares; prostate and melanoma, staged by PSA/Gleason and by
Breslow thickness rather than by diameter, keep the one fixed diameter; and in
an untreated run the size mix changes the diagnosis readouts only."""
from __future__ import annotations

import numpy as np
import pytest

import paget
from paget.plugins.imaging import diagnosis_diameters
from paget.state import Patients

#: the scenarios that draw the diameter at diagnosis from a cited size mix
WITH_MIX = ["breast", "lung", "colorectal", "pancreas"]
#: those that keep diagnosis.diameter for every patient (the toml says why)
FIXED = ["prostate", "melanoma"]


def cohort(n: int) -> Patients:
    return Patients(index=np.arange(n, dtype=np.int64), alive=np.ones(n, bool),
                    burden=np.zeros(n))


@pytest.mark.parametrize("name", WITH_MIX)
def test_a_scenario_draws_inside_its_edges_with_its_shares(name):
    """20,000 patients (seed 17): every size within the outer edges, and each
    category's count within 4 binomial standard deviations, sqrt(n p (1 - p)),
    of n x its share (a false alarm has probability ~6e-5 per category)."""
    cfg = paget.Simulation.from_scenario(name).config.diagnosis
    dist = cfg.diameter_distribution
    assert dist is not None, f"{name} has no diagnosis.diameter_distribution"
    assert "diameter" not in cfg.model_fields_set     # no fixed size overriding the mix
    edges, shares = np.asarray(dist.edges), np.asarray(dist.shares)
    n = 20_000
    d = diagnosis_diameters(17, cohort(n), cfg)
    assert ((d >= edges[0]) & (d <= edges[-1])).all(), (d.min(), d.max())
    if name != "breast":     # breast's T1 starts at 1 mm (T1mi), set before this check
        # the smallest size lies above the 1e6-cell primary a run starts from
        # (1.24 mm), so no patient is diagnosed on the first day
        start = paget.Simulation.from_scenario(name).config.primary.cells
        assert edges[0] > np.cbrt(6.0 * start / (np.pi * 1e6))
    counts, _ = np.histogram(d, bins=edges)
    sd = np.sqrt(n * shares * (1.0 - shares))
    assert (np.abs(counts - n * shares) <= 4.0 * sd).all(), (counts, n * shares, sd)


@pytest.mark.parametrize("name", WITH_MIX)
def test_the_shipped_distribution_runs(name):
    """Two patients, one year: the drawn sizes are in the output, inside the edges."""
    ds = paget.Simulation.from_scenario(
        name, {"seed": 2, "cohort": {"patients": 2, "years": 1}}).run()
    dist = paget.Simulation.from_scenario(name).config.diagnosis.diameter_distribution
    size = ds.diagnosis_diameter.values
    assert ((size >= dist.edges[0]) & (size <= dist.edges[-1])).all(), size
    assert size[0] != size[1]


@pytest.mark.parametrize("name", FIXED)
def test_a_scenario_without_a_size_mix_keeps_one_diameter(name):
    cfg = paget.Simulation.from_scenario(name).config.diagnosis
    assert cfg.diameter_distribution is None
    ds = paget.Simulation.from_scenario(
        name, {"seed": 2, "cohort": {"patients": 2, "years": 0.1}}).run()
    np.testing.assert_array_equal(ds.diagnosis_diameter.values, [cfg.diameter] * 2)


#: what the size at diagnosis may change in an untreated run: the diagnosis and
#: the imaging scans counted from it
DIAGNOSIS_READOUTS = {"diagnosis_diameter", "diagnosis_time", "imaged_diameter_sum",
                      "imaged_lesions", "first_detected_metastasis_time",
                      "first_detected_distant_metastasis_time"}


def test_an_untreated_run_differs_in_the_diagnosis_readouts_only():
    """Pancreas, 3 patients, 2 years, untreated (the scenario's default, as the
    autopsy calibration runs it): the size mix against one fixed 10 mm.  The
    diagnosis times differ; every other variable (cells, lesions, seeding, CTCs,
    deaths) is identical, because the size is a keyed draw of its own and
    nothing but imaging reads the diagnosis when there is no treatment."""
    run = {"seed": 3, "cohort": {"patients": 3, "years": 2}}
    mixed = paget.Simulation.from_scenario("pancreas", run).run()
    fixed = paget.Simulation.from_scenario(
        "pancreas", run | {"diagnosis": {"diameter_distribution": None}}).run()
    assert not np.array_equal(mixed.diagnosis_time.values, fixed.diagnosis_time.values,
                              equal_nan=True)
    assert set(mixed.data_vars) == set(fixed.data_vars)
    differ = sorted(v for v in mixed.data_vars
                    if not np.array_equal(mixed[v].values, fixed[v].values,
                                          equal_nan=mixed[v].dtype.kind in "fc"))
    assert set(differ) <= DIAGNOSIS_READOUTS, differ
