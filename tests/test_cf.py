"""The dataset as an analyst opens it: CF conventions, provenance, time 0.

Units are checked with cf-units (UDUNITS-2, the library CF names), axes and
flags with cf_xarray.
"""
from __future__ import annotations

import re
import types
from datetime import datetime, timedelta, timezone

import cf_units
import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import pytest
import xarray as xr

import paget
from paget.errors import PluginError
from paget.output import COORDS, VARIABLES, config_attrs

from .conftest import busy
from .helpers import assert_same_result

#: every built-in plugin, two patients, a few weeks
SMALL = {"cohort": {"patients": 2, "years": 0.1}}


@pytest.fixture(scope="module")
def full():
    """A run of the breast scenario (every built-in plugin) and its Simulation."""
    sim = paget.Simulation.from_scenario("breast", SMALL)
    return sim, sim.run()


@pytest.fixture(scope="module")
def mutating():
    """A run in which clones acquire driver alterations."""
    cfg = busy(cohort={"patients": 2, "years": 0.1}, genetics={"mutation_rate": 1e-6})
    return paget.Simulation(cfg, entry_points=False).run()


# ------------------------------------------------------------------- units

def test_every_unit_parses_as_udunits(full):
    _, ds = full
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            assert "units" not in var.attrs, name       # strings have none
            continue
        units = var.attrs["units"]
        unit = cf_units.Unit(units, calendar=var.attrs.get("calendar"))
        assert not unit.is_unknown(), (name, units)
        assert var.attrs["long_name"], name


def test_counts_of_cells_are_numbers_not_cells(full):
    _, ds = full
    assert not [n for n, v in ds.variables.items() if v.attrs.get("units") == "cells"]
    for name in ("tumor_cells", "ctc_shed", "lesion_cells", "ctc_per_7_5ml"):
        assert ds[name].attrs["units"] == "1"
        assert ds[name].attrs["long_name"].startswith("number of"), name
    assert cf_units.Unit(ds.ctc_blood.attrs["units"]) == cf_units.Unit("1/mL")


def test_event_times_are_durations_since_the_start(full):
    _, ds = full
    for name in ("death_time", "first_seeding_time", "first_detectable_metastasis_time",
                 "first_detected_metastasis_time", "diagnosis_time", "lesion_birth_time"):
        unit = cf_units.Unit(ds[name].attrs["units"])
        assert unit == cf_units.Unit("days") and not unit.is_time_reference(), name
        assert "since the start of the run" in ds[name].attrs["long_name"], name


# -------------------------------------------------------------------- time

def test_time_is_the_cf_time_axis(full):
    _, ds = full
    time = ds.time
    assert ds.cf.axes["T"] == ["time"]
    assert ds.cf.standard_names["time"] == ["time"]
    assert time.attrs["axis"] == "T" and time.attrs["standard_name"] == "time"
    unit = cf_units.Unit(time.attrs["units"], calendar=time.attrs["calendar"])
    assert unit.is_time_reference()
    # in memory: float days since the start, the same on every read with paget
    assert time.dtype == np.float64 and time.values[0] == 0.0
    assert "paget.open_dataset" in time.attrs["comment"]


def test_a_file_decodes_to_the_nominal_dates_or_reads_as_days(full, tmp_path):
    sim, ds = full
    out = tmp_path / "out.nc"
    written = sim.write(out)
    decoded = xr.open_dataset(out).time.values          # xarray's default: dates
    start = np.datetime64("2000-01-01T00:00:00")
    np.testing.assert_array_equal((decoded - start) / np.timedelta64(1, "D"), ds.time.values)
    with paget.open_dataset(out) as back:
        assert_same_result(back.load(), written)
    zarr = sim.write(tmp_path / "out.zarr")
    assert zarr.time.dtype == np.float64
    with paget.open_dataset(tmp_path / "out.zarr") as back:
        assert_same_result(back.load(), zarr.load())


# ------------------------------------------------------------- lesion, clone

def test_lesion_and_clone_have_index_coordinates(full):
    _, ds = full
    for dim in ("lesion", "clone"):
        assert dim in ds.coords and ds.sizes[dim] > 0
        np.testing.assert_array_equal(ds[dim].values, np.arange(ds.sizes[dim]))
        assert ds[dim].attrs == COORDS[dim].cf_attrs()


def test_a_trial_numbers_the_rows_of_all_arms_and_its_zarr_store_too(tmp_path):
    cfg = {**SMALL, "arms": [{"name": "a"}, {"name": "b"}]}
    trial = paget.Simulation.from_scenario("breast", cfg)
    ds = trial.run()
    np.testing.assert_array_equal(ds.lesion.values, np.arange(ds.sizes["lesion"]))
    assert set(ds.lesion_arm.values.tolist()) == {"a", "b"}
    trial.write(tmp_path / "t.zarr")
    with paget.open_dataset(tmp_path / "t.zarr") as back:
        np.testing.assert_array_equal(back.lesion.values, np.arange(ds.sizes["lesion"]))
        np.testing.assert_array_equal(back.clone.values, np.arange(ds.sizes["clone"]))


# ------------------------------------------------------------------- flags

def _check_flags(var, key):
    words = var.attrs["flag_meanings"].split(" ")
    assert all(re.fullmatch(r"[A-Za-z0-9_.+@-]+", w) for w in words), words
    values = np.atleast_1d(var.attrs[key])
    assert values.size == len(words) and values.dtype == var.dtype
    return words, values


def test_genotypes_carry_the_catalogue_as_flag_masks(mutating):
    from paget.plugins.genetics import DEFAULT_ALTERATIONS
    for name in ("lesion_genotype", "clone_genotype"):
        var = mutating[name]
        words, masks = _check_flags(var, "flag_masks")
        assert words == list(DEFAULT_ALTERATIONS)
        np.testing.assert_array_equal(masks, np.uint64(1) << np.arange(len(words), dtype=np.uint64))
    genotype = mutating.clone_genotype
    assert (genotype > 0).any()
    for k, word in enumerate(words):
        np.testing.assert_array_equal((genotype.cf == word).values,
                                      (genotype.values >> np.uint64(k)) & np.uint64(1) == 1)


def test_genotype_flags_follow_the_configuration():
    cfg = {**SMALL, "genetics": {"alterations": {"my driver": {"traits": {"proliferation": 2.0}}},
                                 "initial": ["KRAS"]}}
    ds = paget.Simulation.from_scenario("breast", cfg).run()
    words = ds.lesion_genotype.attrs["flag_meanings"].split()
    assert words[-1] == "my_driver" and len(words) == ds.lesion_genotype.attrs["flag_masks"].size
    assert "KRAS (genetics.initial)" in ds.lesion_genotype.attrs["comment"]
    off = paget.Simulation.from_scenario("breast", {**SMALL, "plugins": {"disable": ["genetics"]}})
    off = off.run()
    assert not {"flag_masks", "flag_meanings"} & set(off.lesion_genotype.attrs)
    assert not {"flag_values", "flag_meanings"} & set(off.targeted_alteration.attrs)


def test_enumerated_integers_carry_flag_values(full):
    sim, ds = full
    words, values = _check_flags(ds.performance_status, "flag_values")
    np.testing.assert_array_equal(values, np.arange(5))
    assert words[0] == "fully_active"
    words, values = _check_flags(ds.therapy_line, "flag_values")
    lines = sim.config.treatment.lines
    assert words == ["none"] + [f"line_{k}_{a}" for k, a in enumerate(lines, 1)]
    words, values = _check_flags(ds.targeted_alteration, "flag_values")
    assert values[0] == -1 and words[0] == "none" and words[1:] == list(
        sim.config.genetics.alterations)


def test_trial_arms_with_other_catalogues_keep_no_wrong_flags():
    cfg = {**SMALL, "arms": [{"name": "a"}, {"name": "b", "genetics": {
        "alterations": {"NEW": {"traits": {"proliferation": 2.0}}}}}]}
    ds = paget.Simulation.from_scenario("breast", cfg).run()
    attrs = ds.lesion_genotype.attrs
    assert "flag_masks" not in attrs and "flag_meanings" not in attrs
    assert "config_json" in attrs["comment"]
    assert "flag_values" in ds.performance_status.attrs      # the same in both arms: kept


def test_detectable_and_detected_explain_each_other(full):
    _, ds = full
    detectable = ds.first_detectable_metastasis_time.attrs
    detected = ds.first_detected_metastasis_time.attrs
    assert "detectable" in detectable["long_name"] and "detected" in detected["long_name"]
    for attrs in (detectable, detected):
        assert "first_detectable_metastasis_time" in attrs["comment"]
        assert "first_detected_metastasis_time" in attrs["comment"]
        assert "scan" in attrs["comment"] and "outcome.detectable_cells" in attrs["comment"]


def _probe(**hooks) -> types.ModuleType:
    mod = types.ModuleType("probe")
    for name, fn in hooks.items():
        setattr(mod, name, paget.hookimpl(fn))
    return mod


@pytest.mark.parametrize("attrs, message", [
    ({"no_such_variable": {"comment": "x"}}, "not an output variable"),
    ({"tumor_cells": {"units": "mL"}}, "already set by its declaration"),
    ({"performance_status": {"flag_values": [0]}}, "already set by 'supportive'"),
])
def test_bad_output_attrs_name_the_plugin(attrs, message):
    def paget_output_attrs():
        return attrs
    sim = paget.Simulation.from_scenario("breast", SMALL,
                                         plugins=[("probe", _probe(paget_output_attrs=paget_output_attrs))])
    with pytest.raises(PluginError, match=rf"plugin 'probe'.*{message}"):
        sim._output_attrs()


# ------------------------------------------------------------------ time 0

def test_time_0_holds_the_initial_plugin_state(full):
    _, ds = full
    # the biomarker's baseline, the drawn immune competence: not the declared defaults
    assert (ds.biomarker.isel(time=0) > 1.0).all()
    competence = ds.immune_competence.values
    assert (competence[:, 0] != 1.0).all() and (competence == competence[:, :1]).all()


def test_time_0_records_what_the_first_state_update_set():
    from paget.state import StateVariable

    def paget_state_variables():
        return [StateVariable("probe_value", "patient", "float64", -1.0)]

    def paget_update_state(state, patients, t):
        state.patient["probe_value"][:] = 100.0 + t + patients.index

    sim = paget.Simulation(busy(cohort={"patients": 3, "years": 0.1}), entry_points=False,
                           plugins=[("probe", _probe(paget_state_variables=paget_state_variables,
                                                     paget_update_state=paget_update_state))])
    ds = sim.run()
    np.testing.assert_array_equal(ds.probe_value.isel(time=0), 100.0 + np.arange(3))
    # later records: as the last step's update left it (its start time)
    t_last = ds.time.values[1:] - sim.plan.dt
    np.testing.assert_array_equal(ds.probe_value.isel(time=slice(1, None)),
                                  100.0 + t_last[None, :] + np.arange(3)[:, None])


def test_per_patient_constants_have_no_time(full):
    _, ds = full
    for name in ("growth_multiplier", "shedding_multiplier", "age_at_onset"):
        assert ds[name].dims == ("patient",), name


# -------------------------------------------------------------- provenance

def test_provenance_attributes(full, tmp_path):
    _, ds = full
    assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["scenario"] == "breast"
    created = datetime.fromisoformat(ds.attrs["date_created"])
    assert created.tzinfo == timezone.utc and ds.attrs["date_created"].endswith("Z")
    assert abs(datetime.now(timezone.utc) - created) < timedelta(hours=1)
    assert ds.attrs["history"].startswith(ds.attrs["date_created"] + ": ")
    for key in ("paget_version", "seed", "plugins", "config_json", "title"):
        assert key in ds.attrs
    path = tmp_path / "c.toml"
    path.write_text("[cohort]\npatients = 1\nyears = 0.05\n")
    assert paget.Simulation.from_toml(path).run().attrs["scenario"] == str(path)
    assert "Python" in paget.Simulation(SMALL).run().attrs["scenario"]


def test_history_is_the_dated_command_line():
    now = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=timezone.utc)
    attrs = config_attrs({}, 1, "0", [], scenario="lung", now=now,
                         argv=["/usr/bin/paget", "run", "my scenario.toml", "-o", "a.nc"])
    assert attrs["date_created"] == "2026-01-02T03:04:05Z"
    assert attrs["history"] == "2026-01-02T03:04:05Z: paget run 'my scenario.toml' -o a.nc"


def test_same_result_ignores_only_the_run_attributes(full):
    sim, ds = full
    again = paget.Simulation.from_scenario("breast", SMALL).run()
    again.attrs.update(date_created="1999-01-01T00:00:00Z", history="1999-01-01T00:00:00Z: x")
    assert_same_result(again, ds)
    for key, value in (("scenario", "other"), ("seed", np.int64(2))):
        changed = again.copy()
        changed.attrs[key] = value
        with pytest.raises(AssertionError):
            assert_same_result(changed, ds)


def test_every_declared_variable_is_documented():
    for name, var in {**COORDS, **VARIABLES}.items():
        assert var.long_name and (var.units or var.dtype == "str"), name


def test_the_cli_records_the_scenario_it_ran(tmp_path):
    from paget.cli import main
    common = ["--patients", "1", "--years", "0.05", "--no-progress"]
    assert main(["run", "breast", *common, "-o", str(tmp_path / "a.nc")]) == 0
    config = tmp_path / "c.toml"
    config.write_text("seed = 3\n")
    assert main(["run", str(config), *common, "-o", str(tmp_path / "b.nc")]) == 0
    assert main(["run", *common, "-o", str(tmp_path / "c.nc")]) == 0
    for name, scenario in (("a.nc", "breast"), ("b.nc", str(config)), ("c.nc", "default")):
        with paget.open_dataset(tmp_path / name) as ds:
            assert ds.attrs["scenario"] == scenario
