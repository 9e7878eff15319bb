"""paget.simulate, the parameters' checks and specs, and the summary statistics."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import paget
from paget.config import deep_merge
from paget.explore import parameters as P
from paget.explore import summaries as S

from .helpers import assert_same_result

BASE = {"cohort": {"patients": 2, "years": 0.3}, "output": {"interval": 10.0}}


# --------------------------------------------------------------------- simulate
def test_simulate_equals_simulation_run_to_the_bit():
    params = {"intravasation.rate": 0.05, "extravasation.probability.liver": 0.5,
              "colonization.growth.rate": 0.01}
    got = paget.simulate(params, seed=11, scenario="breast", base=BASE)
    nested = {"intravasation": {"rate": 0.05}, "colonization": {"growth": {"rate": 0.01}},
              "seed": 11}
    sim = paget.Simulation.from_scenario("breast", deep_merge(BASE, nested))
    # a per-organ key changes that organ only: the scenario's other organs stay
    soil = dict(sim.config.extravasation.probability)
    soil["liver"] = 0.5
    sim = paget.Simulation.from_scenario(
        "breast", deep_merge(BASE, {**nested, "extravasation": {"probability": soil}}))
    assert_same_result(got, sim.run())


def test_simulate_returns_summaries_of_that_run():
    ds = paget.simulate({"intravasation.rate": 0.3}, seed=2, base=BASE)
    got = paget.simulate({"intravasation.rate": 0.3}, seed=2, base=BASE,
                         summary=["involvement", "sites", "survival"])
    xr.testing.assert_identical(got["involvement"], S.involvement(ds))
    assert float(got["sites"]) == float(S.sites(ds))
    xr.testing.assert_identical(got["survival"], S.survival(ds))


def test_a_different_seed_gives_a_different_run():
    a = paget.simulate({"intravasation.rate": 0.3}, seed=1, base=BASE)
    b = paget.simulate({"intravasation.rate": 0.3}, seed=2, base=BASE)
    assert not np.array_equal(a.ctc_shed.values, b.ctc_shed.values)


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("params, message", [
    ({"intravasation.rat": 1e-3}, "parameter 'intravasation.rat': unknown key (did you mean "
                                  "'intravasation.rate'?)"),
    ({"intravasaton.rate": 1e-3}, "did you mean 'intravasation.rate'?"),
    ({"intravasation.rate": 20.0}, "intravasation.rate = 20.0: must be within [0, 10]"),
    ({"extravasation.probability.livr": 0.5}, "unknown organ 'livr' (did you mean 'liver'?)"),
    ({"extravasation.probability.liver": 1.5},
     "extravasation.probability.liver = 1.5: must be within [0, 1]"),
    ({"intravasation": 1.0}, "parameter 'intravasation': is a table, not a number"),
    ({"cohort.patients": 2.5}, "cohort.patients = 2.5: must be a whole number"),
])
def test_bad_parameters_are_refused_in_one_line(params, message):
    with pytest.raises(paget.ConfigError) as err:
        paget.simulate(params, seed=1, base=BASE)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_resolve_nests_the_keys_and_takes_whole_floats_for_integers():
    got = P.resolve({"intravasation.rate": np.float64(0.01), "cohort.patients": 3.0})
    assert got == {"intravasation": {"rate": 0.01}, "cohort": {"patients": 3}}
    assert type(got["cohort"]["patients"]) is int


def test_a_per_organ_key_changes_that_organ_of_the_value_in_force():
    # the default scenario sets nothing: the table's default map is the value in force
    got = P.resolve({"extravasation.probability.liver": 0.5})
    assert got == {"extravasation": {"probability": {"default": 0.1, "liver": 0.5,
                                                     "brain": 0.01}}}
    # a single number becomes the default of a per-organ table
    got = P.resolve({"circulation.arrest.liver": 0.5}, base={"circulation": {"arrest": 0.3}})
    assert got == {"circulation": {"arrest": {"default": 0.3, "liver": 0.5}}}


def test_bounds_are_the_configuration_models():
    assert P.bounds("intravasation.rate") == (0.0, 10.0)
    assert P.bounds("extravasation.probability.liver") == (0.0, 1.0)
    assert P.bounds("colonization.growth.rate") == (0.0, np.inf)
    assert P.bounds("cohort.years") == (0.0, 200.0)      # (0, 200]: gt 0
    with pytest.raises(paget.ConfigError, match="'primary.organ': is not a number"):
        P.bounds("primary.organ")


def _spec(tmp_path, text: str):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_read_spec_fills_the_common_keys(tmp_path):
    spec = P.read_spec(_spec(tmp_path, '[parameters."intravasation.rate"]\nlow = 0.001\n'
                                       'high = 0.1\nlog = true\n'))
    assert (spec["scenario"], spec["seed"], spec["base"]) == ("default", 1, {})
    assert P.parameter_ranges(spec) == {"intravasation.rate": (0.001, 0.1, True)}


@pytest.mark.parametrize("text, message", [
    ("sed = 3\n", "sed: unknown key (did you mean 'seed'?); allowed top-level keys of a paget spec: scenario, "
                  "seed, base, parameters"),
    ('scenario = "brest"\n', "unknown scenario 'brest'"),
    ("seed = -1\n", "seed = -1: must be a whole number within [0, "),
    ("[base]\ncohort = {patients = 0}\n", "[base]: cohort.patients = 0: must be within [1, "),
    ('[parameters."intravasation.rate"]\nlow = 0.001\nhigh = 20\n',
     'parameters."intravasation.rate".high = 20: outside the allowed values of '
     'intravasation.rate: must be within [0, 10]'),
    ('[parameters."intravasation.rate"]\nlow = 0\nhigh = 1\nlog = true\n',
     "log = true needs low > 0, not 0"),
    ('[parameters."intravasation.rate"]\nlow = 0.5\nhigh = 0.1\n',
     "low = 0.5 must be less than high = 0.1"),
    ('[parameters."intravasation.rat"]\nlow = 0.1\nhigh = 0.5\n',
     "unknown key (did you mean 'intravasation.rate'?)"),
    ('[parameters."intravasation.rate"]\nlow = 0.1\nhi = 0.5\n',
     'parameters."intravasation.rate".hi: unknown key; allowed keys: low, high, log, values'),
    ('[parameters.seed]\nlow = 1\nhigh = 5\n', "the seed cannot be a parameter"),
    ('[parameters."outcome.lethal_cells"]\nlow = 10\nhigh = 1e12\n',
     'parameters."outcome.lethal_cells".low = 10: outcome.lethal_cells = 10: must be more '
     'than primary.cells'),
])
def test_bad_specs_are_refused_in_one_line_naming_the_file(tmp_path, text, message):
    path = _spec(tmp_path, text)
    with pytest.raises(paget.ConfigError) as err:
        P.read_spec(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------- summaries
def _toy() -> xr.Dataset:
    """Three patients, known lesion tables: patient 0 has a liver metastasis of two
    clones (6e4 + 6e4 cells: involved) and a 1e4-cell lung one (not); patient 1 a
    dormant pool in bone (not) and a 2e5-cell metastasis in its primary's organ
    (breast: involved); patient 2 none.  Deaths at days 100 and 300, one censored."""
    organs = ["lung", "liver", "bone", "breast"]
    rows = [  # uid, id, parent, patient, organ, cells, dormant
        (1, 1, 0, 0, 3, 1e9, False),      # primaries (parent 0)
        (2, 2, 0, 1, 3, 1e9, False),
        (3, 3, 0, 2, 3, 1e9, False),
        (10, 10, 1, 0, 1, 6e4, False),    # liver lesion, two clones
        (11, 10, 1, 0, 1, 6e4, False),
        (12, 12, 1, 0, 0, 1e4, False),    # small lung lesion
        (20, 20, 2, 1, 2, 1e6, True),     # dormant pool
        (21, 21, 2, 1, 3, 2e5, False),    # metastasis in the primary's organ
    ]
    cols = list(zip(*rows))
    return xr.Dataset(
        {"lesion_uid": ("lesion", np.array(cols[0], np.uint64)),
         "lesion_id": ("lesion", np.array(cols[1], np.uint64)),
         "lesion_parent": ("lesion", np.array(cols[2], np.uint64)),
         "lesion_patient": ("lesion", np.array(cols[3], np.int64)),
         "lesion_organ": ("lesion", np.array(organs)[list(cols[4])]),
         "lesion_cells": ("lesion", np.array(cols[5], float)),
         "lesion_dormant": ("lesion", np.array(cols[6], bool)),
         "death_time": ("patient", np.array([100.0, 300.0, np.nan]))},
        coords={"patient": np.arange(3), "organ": organs, "time": [0.0, 365.0]})


def test_involvement_counts_metastases_at_autopsy_size():
    ds = _toy()
    got = S.involvement(ds)
    np.testing.assert_array_equal(got.values, [0.0, 1 / 3, 0.0, 1 / 3])
    assert float(S.sites(ds)) == pytest.approx(2 / 3)
    # a lower threshold counts the small lung lesion too
    assert float(S.involvement(ds, cells=1e4).sel(organ="lung")) == pytest.approx(1 / 3)


def test_survival_quantiles_are_kaplan_meiers():
    got = S.survival(_toy())
    # S(t) = 2/3 after day 100, 1/3 after day 300; the last patient is censored at 365
    np.testing.assert_array_equal(got.values, [100.0, 300.0, np.nan])
    assert got.attrs["units"] == "days"


def test_flatten_names_each_element_and_takes_callables():
    ds = _toy()
    out = S.summarize(ds, ["sites", lambda d: {"deaths": int(np.isfinite(d.death_time).sum()),
                                                "pair": np.array([1.0, 2.0])}])
    flat = S.flatten(out)
    assert flat == {"sites": pytest.approx(2 / 3), "deaths": 2.0, "pair.0": 1.0, "pair.1": 2.0}
    flat = S.flatten(S.summarize(ds, "involvement"))
    assert flat["involvement.liver"] == pytest.approx(1 / 3)


def test_an_unknown_summary_is_refused():
    with pytest.raises(paget.ConfigError, match="'site': unknown summary "
                                                r"\(did you mean 'sites'\?\)"):
        paget.simulate({}, seed=1, base=BASE, summary="site")
