"""Size at diagnosis per patient: ``diagnosis.diameter_distribution`` draws each
patient's diameter once, keyed per patient; ``diagnosis.diameter`` stays one
size for every patient; giving both, or a bad distribution, is refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

import paget
from paget.errors import ConfigError, ConfigWarning
from paget.plugins.imaging import DiagnosisTable, cells_of_diameter, diagnosis_diameters
from paget.state import Patients

#: T1/T2/T3-like categories, mm, with unequal shares
EDGES = [0.0, 10.0, 20.0, 50.0, 80.0]
SHARES = [0.15, 0.45, 0.35, 0.05]


def cohort(n: int, index=None) -> Patients:
    index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, np.int64)
    return Patients(index=index, alive=np.ones(len(index), bool), burden=np.zeros(len(index)))


def table(**kw) -> DiagnosisTable:
    return DiagnosisTable(diameter_distribution={"edges": EDGES, "shares": SHARES}, **kw)


def test_drawn_sizes_follow_the_shares():
    """4000 patients: category counts against the shares (chi-square, 3 degrees
    of freedom, refused at p < 0.001), and uniform within each category (its
    mean at the midpoint within 4 standard errors, sd = width / sqrt(12))."""
    n = 4000
    d = diagnosis_diameters(11, cohort(n), table())
    assert ((d >= EDGES[0]) & (d <= EDGES[-1])).all()
    counts, _ = np.histogram(d, bins=EDGES)
    expected = n * np.asarray(SHARES)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.ppf(0.999, len(SHARES) - 1), (counts, expected)
    for lo, hi in zip(EDGES[:-1], EDGES[1:]):
        inside = d[(d >= lo) & (d < hi)]
        se = (hi - lo) / np.sqrt(12.0) / np.sqrt(inside.size)
        assert abs(inside.mean() - (lo + hi) / 2) < 4 * se, (lo, hi, inside.mean())


def test_an_empty_category_is_never_drawn():
    t = DiagnosisTable(diameter_distribution={"edges": [0.0, 10.0, 20.0, 30.0],
                                              "shares": [0.5, 0.0, 0.5]})
    d = diagnosis_diameters(3, cohort(2000), t)
    assert not ((d > 10.0) & (d < 20.0)).any()
    assert (d <= 10.0).any() and (d >= 20.0).any()


def test_the_draw_is_keyed_per_patient():
    """A patient's size depends on the seed and its cohort index alone: the same
    for a subset of the cohort in any order (as on another rank, or after a
    restart), another for another seed."""
    full = diagnosis_diameters(5, cohort(50), table())
    some = np.array([41, 7, 13, 0, 49])
    np.testing.assert_array_equal(diagnosis_diameters(5, cohort(0, some), table()), full[some])
    assert not np.array_equal(diagnosis_diameters(6, cohort(50), table()), full)
    assert np.unique(full).size == full.size


def test_a_fixed_diameter_is_every_patients_size():
    d = diagnosis_diameters(5, cohort(7), DiagnosisTable(diameter=12.5))
    np.testing.assert_array_equal(d, np.full(7, 12.5))


def small(**diagnosis) -> paget.Simulation:
    return paget.Simulation.from_scenario(
        "default", {"seed": 1, "cohort": {"patients": 3, "years": 1},
                    "output": {"interval": 1.0}, "diagnosis": diagnosis})


def test_the_output_records_a_fixed_diameter():
    ds = small(diameter=2.0).run()
    np.testing.assert_array_equal(ds.diagnosis_diameter.values, [2.0, 2.0, 2.0])
    assert ds.diagnosis_diameter.dims == ("patient",)
    assert ds.diagnosis_diameter.attrs["units"] == "mm"


def test_each_patient_is_diagnosed_when_its_primary_reaches_its_own_size():
    """Three patients with distinct drawn sizes: each is diagnosed at the first
    day its primary organ holds the cells of its own diameter (one size for
    all would miss at least two of them)."""
    ds = small(diameter_distribution={"edges": [1.5, 2.0, 2.5, 3.0],
                                      "shares": [0.3, 0.3, 0.4]}).run()
    size = ds.diagnosis_diameter.values
    assert np.unique(size).size == 3, size
    organ = json.loads(ds.attrs["config_json"])["primary"]["organ"]
    for p in range(3):
        when = ds.diagnosis_time.values[p]
        assert np.isfinite(when), f"patient {p} is never diagnosed"
        cells = ds.tumor_cells.isel(patient=p).sel(organ=organ)
        need = cells_of_diameter(size[p])
        assert cells.sel(time=when - 1.0) < need <= cells.sel(time=when), p


def test_screening_still_finds_the_tumour_at_its_own_diameter():
    """A daily screening visit with a 1.6 mm screening diameter finds every
    tumour before its drawn size (2-3 mm) is reached."""
    dist = {"edges": [2.0, 3.0], "shares": [1.0]}
    late = small(diameter_distribution=dist).run().diagnosis_time.values
    early = small(diameter_distribution=dist, screening_interval=1.0,
                  screening_diameter=1.6).run().diagnosis_time.values
    assert (early < late).all(), (early, late)


def one_line_error(**diagnosis) -> str:
    with pytest.raises(ConfigError) as err:
        small(**diagnosis)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_an_explicit_diameter_wins_over_a_distribution_with_a_note():
    """A scenario's distribution (breast's registry mix) cannot be unset from TOML,
    so a diameter given explicitly is used for every patient, and a note says so."""
    with pytest.warns(ConfigWarning, match=r"diagnosis.diameter = 2.7 mm is given: every "
                      r"patient is diagnosed at it, and diagnosis.diameter_distribution is not"):
        sim = paget.Simulation.from_scenario(
            "breast", {"seed": 1, "cohort": {"patients": 3, "years": 0.1},
                       "diagnosis": {"diameter": 2.7}})
    assert (sim.run().diagnosis_diameter.values == 2.7).all()


@pytest.mark.parametrize("edges, shares, says", [
    (EDGES, [-0.05, 0.65, 0.35, 0.05], "non-negative"),
    (EDGES, [0.15, 0.45, 0.35, 0.06], "sum to 1"),
    ([0.0, 20.0, 10.0, 50.0, 80.0], SHARES, "strictly increasing"),
    ([0.0, 10.0, 10.0, 50.0, 80.0], SHARES, "strictly increasing"),
    (EDGES, [0.5, 0.5], "shares must have 4 values"),
    ([-1.0, 10.0], [1.0], "at least 0"),
])
def test_a_bad_distribution_is_refused_naming_the_key(edges, shares, says):
    msg = one_line_error(diameter_distribution={"edges": edges, "shares": shares})
    assert msg.startswith("diagnosis.diameter_distribution"), msg
    assert says in msg, msg


def test_shares_within_rounding_of_one_are_accepted():
    shares = [0.15, 0.45, 0.35, 0.05 + 5e-7]
    DiagnosisTable(diameter_distribution={"edges": EDGES, "shares": shares})


def test_a_restart_before_diagnosis_gives_the_same_sizes_and_times(tmp_path):
    """Checkpointed on day 200, before any of the three is diagnosed (days
    ~230-310), and restarted there: the same sizes and diagnosis times."""
    from paget.checkpoint import Checkpoints
    sim = small(diameter_distribution={"edges": [1.5, 2.0, 2.5, 3.0],
                                       "shares": [0.3, 0.3, 0.4]})
    ds = sim.run(checkpoint=Checkpoints(tmp_path, every=200, keep=9))
    assert (ds.diagnosis_time.values > 200).all()
    again = paget.Simulation.from_checkpoint(tmp_path / "step-000000200").run()
    for name in ("diagnosis_diameter", "diagnosis_time", "tumor_cells"):
        np.testing.assert_array_equal(again[name].values, ds[name].values, err_msg=name)


def test_one_category_is_said_in_the_singular():
    msg = one_line_error(diameter_distribution={"edges": [0.0, 10.0], "shares": [0.5, 0.5]})
    assert "2 edges make 1 category, so shares must have 1 value, got 2" in msg, msg
