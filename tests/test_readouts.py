"""Regional against distant metastasis in the readouts: a metastasis in the
regional lymph nodes (N in TNM) sets the "any metastasis" times of the outcome
and imaging plugins but not their distant (M1) times, and survival can take
either as its metastasis event."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import paget
from paget.analysis import metastasis_variable, survival
from paget.config import deep_merge

from .conftest import busy
from .factors import only

ANY = ("first_detectable_metastasis_time", "first_detected_metastasis_time")
DISTANT = ("first_detectable_distant_metastasis_time", "first_detected_distant_metastasis_time")

#: two patients, a quarter of a year of the busy cascade, the five stages only;
#: metastases become detectable at 200 cells, and a scan (every 10 days from
#: diagnosis, at step 0) sees a lesion of 0.08 mm (268 cells)
CFG = only(busy(cohort={"patients": 2, "years": 0.25, "dt": 1.0}, output={"interval": 10.0},
                outcome={"detectable_cells": 200.0}, diagnosis={"diameter": 0.05},
                imaging={"interval": 10.0, "threshold": 0.08}))


def run(**overrides) -> xr.Dataset:
    return paget.Simulation(deep_merge(CFG, overrides), entry_points=False).run()


def lesions_outside(ds: xr.Dataset, *organs: str) -> xr.DataArray:
    """Per patient and record: detectable lesions in organs other than ``organs``."""
    return ds.detectable_lesions.drop_sel(organ=list(organs)).sum("organ")


def test_a_metastasis_only_in_the_regional_nodes_is_not_distant():
    """Every shed cell takes the lymph and arrests in the regional nodes;
    metastases do not shed: the only metastases are nodal, so the "any" times
    are set and the distant ones stay NaN."""
    ds = run(intravasation={"lymph_fraction": 1.0, "metastases_shed": False},
             circulation={"lymph_node_arrest": 1.0})
    primary = json.loads(ds.attrs["config_json"])["primary"]["organ"]
    assert (ds.detectable_lesions.sel(organ="lymph_nodes") > 0).any("time").all()
    assert (lesions_outside(ds, primary, "lymph_nodes") == 0).all()
    for name in ANY:
        assert np.isfinite(ds[name]).all(), name
    for name in DISTANT:
        assert np.isnan(ds[name]).all(), name


def test_a_distant_metastasis_sets_both_readouts():
    """Blood only, and no cell extravasates in the nodes: every metastasis is
    distant, so each distant time equals its "any" time."""
    ds = run(intravasation={"lymph_fraction": 0.0},
             extravasation={"probability": {"lymph_nodes": 0.0}})
    assert (ds.detectable_lesions.sel(organ="lymph_nodes") == 0).all()
    assert np.isfinite(ds.first_detectable_distant_metastasis_time).all()
    assert np.isfinite(ds.first_detected_distant_metastasis_time).any()
    for every, distant in zip(ANY, DISTANT):
        np.testing.assert_array_equal(ds[distant].values, ds[every].values)


@pytest.fixture(scope="module")
def mixed() -> xr.Dataset:
    """Nodal and distant metastases: a third of the lymph-borne cells pass the
    regional nodes (to the distant nodes, M1), and the blood seeds every organ."""
    return run(intravasation={"lymph_fraction": 0.5}, circulation={"lymph_node_arrest": 0.7},
               cohort={"patients": 3})


def test_the_distant_times_follow_distant_lesions(mixed):
    """Never before the "any" time; no record has a detectable lesion outside the
    primary's organ and the regional nodes before first_detectable_distant_metastasis_time;
    a patient whose nodes came first has a later distant time."""
    ds = mixed
    primary = json.loads(ds.attrs["config_json"])["primary"]["organ"]
    distant = lesions_outside(ds, primary, "lymph_nodes")
    t_any, t_distant = (ds[n].values for n in ANY[:1] + DISTANT[:1])
    assert np.isfinite(t_distant).all(), "the test needs distant metastases"
    assert (t_distant >= t_any).all()
    assert (t_distant > t_any).any(), "the test needs a patient whose nodes came first"
    for p in range(ds.sizes["patient"]):
        seen = ds.time.values[distant.sel(patient=p).values > 0]
        assert seen.size and seen[0] >= t_distant[p]
    never = np.inf                              # NaN: not (yet) seen
    detected, detected_distant = (np.nan_to_num(ds[n].values, nan=never)
                                  for n in (ANY[1], DISTANT[1]))
    assert (detected_distant >= detected).all()


def test_the_readouts_explain_regional_and_distant(mixed):
    for name in (*ANY, *DISTANT):
        attrs = mixed[name].attrs
        assert attrs["units"] == "days" and "since the start of the run" in attrs["long_name"]
        assert "regional lymph nodes" in attrs["long_name"], name
        assert "first_detectable_distant_metastasis_time" in attrs["comment"], name
        assert "first_detectable_metastasis_time" in attrs["comment"], name


# ------------------------------------------------------------------ analysis

def _dataset(death, detected, detected_distant, detectable, distant, end=100.0):
    f = lambda v: ("patient", np.asarray(v, float))   # noqa: E731
    return xr.Dataset({"death_time": f(death),
                       "first_detected_metastasis_time": f(detected),
                       "first_detected_distant_metastasis_time": f(detected_distant),
                       "first_detectable_metastasis_time": f(detectable),
                       "first_detectable_distant_metastasis_time": f(distant)},
                      coords={"patient": np.arange(len(death)), "time": [0.0, end]})


def test_dmfs_takes_the_distant_readout_and_mfs_any_metastasis():
    nan = np.nan
    ds = _dataset(death=[90.0, nan, nan], detected=[20.0, 30.0, nan],
                  detected_distant=[60.0, nan, nan], detectable=[5.0, 6.0, nan],
                  distant=[50.0, 40.0, nan])
    mfs, dmfs = survival(ds, "mfs"), survival(ds, "dmfs")
    np.testing.assert_array_equal(mfs.time, [20.0, 30.0, 100.0])
    np.testing.assert_array_equal(dmfs.time, [60.0, 100.0, 100.0])
    np.testing.assert_array_equal(dmfs.event, [True, False, False])
    assert dmfs.attrs["event_variables"] == "first_detected_distant_metastasis_time, death_time"
    assert "distant metastasis or death" in dmfs.time.attrs["long_name"]
    # without imaging: the size-based distant time
    size_based = ds.drop_vars(["first_detected_metastasis_time",
                               "first_detected_distant_metastasis_time"])
    assert metastasis_variable(size_based, distant=True) == \
        "first_detectable_distant_metastasis_time"
    np.testing.assert_array_equal(survival(size_based, "dmfs").time, [50.0, 40.0, 100.0])
    np.testing.assert_array_equal(survival(size_based, "mfs").time, [5.0, 6.0, 100.0])


def test_dmfs_of_a_file_without_distant_readouts_names_them():
    ds = _dataset([1.0], [1.0], [1.0], [1.0], [1.0]).drop_vars(list(DISTANT))
    with pytest.raises(ValueError, match="first_detected_distant_metastasis_time.*"
                                         "first_detectable_distant_metastasis_time"):
        survival(ds, "dmfs")
    assert survival(ds, "mfs").attrs["event_variables"].startswith(ANY[1])
