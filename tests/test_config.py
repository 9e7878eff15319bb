"""Configuration: defaults, overrides, and errors that name key, value and what is allowed."""
from __future__ import annotations

import pytest

import paget
from paget.config import deep_merge


def make(cfg):
    return paget.Simulation(cfg, entry_points=False)


def test_defaults_resolve_every_table():
    resolved = make({}).resolved_config()
    for table in ("cohort", "primary", "body", "outcome", "output", "plugins", "invasion",
                  "intravasation", "circulation", "extravasation", "colonization"):
        assert table in resolved
    assert resolved["colonization"]["growth"]["law"] == "gompertz"
    assert resolved["extravasation"]["probability"]["liver"] == 0.8


def test_python_and_toml_configs_agree(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('seed = 5\n[cohort]\npatients = 3\n[circulation]\narrest = { default = 0.3, lung = 0.9 }\n')
    a = paget.Simulation.from_toml(toml, entry_points=False).resolved_config()
    b = make({"seed": 5, "cohort": {"patients": 3},
              "circulation": {"arrest": {"default": 0.3, "lung": 0.9}}}).resolved_config()
    assert a == b


def test_scenario_with_overrides():
    sim = paget.Simulation.from_scenario("default", {"cohort": {"patients": 7}}, entry_points=False)
    assert sim.config.cohort.patients == 7


@pytest.mark.parametrize("cfg, key, fragment", [
    ({"cohort": {"patients": 0}}, "cohort.patients", "greater than or equal to 1"),
    ({"cohort": {"patiens": 3}}, "cohort.patiens", "allowed keys: patients, years, dt"),
    ({"intravasation": {"rate": -1.0}}, "intravasation.rate", "greater than or equal to 0"),
    ({"circulation": {"arrest": 1.5}}, "circulation.arrest", "less than or equal to 1"),
    ({"circulation": {"arrest": {"lungs": 0.2}}}, "circulation.arrest", "lung"),
    ({"primary": {"organ": "spleeen"}}, "primary.organ", "'lung'"),
    ({"primary": {"cells": 2.5}}, "primary.cells", "whole number"),
    ({"colonization": {"fate": {"die": 0.5, "dormant": 0.1, "grow": 0.1}}},
     "colonization.fate", "must be 1"),
    ({"colonization": {"growth": {"law": "weibull"}}}, "colonization.growth.law", "gompertz"),
    ({"cohort": {"dt": 0.7}, "output": {"interval": 30.0}}, "output.interval", "whole number"),
    ({"nonsense": 1}, "nonsense", "allowed keys"),
    ({"seed": -3}, "seed", "greater than or equal to 0"),
    ({"body": {"flow_percent": {"lung": 100.0}}}, "body.flow_percent", "missing"),
], ids=["zero-patients", "misspelt-key", "negative-rate", "probability>1", "unknown-organ-key",
        "unknown-organ", "fractional-cells", "fates-not-summing", "unknown-law",
        "interval-not-multiple", "unknown-table", "negative-seed", "incomplete-flow"])
def test_bad_values_are_named(cfg, key, fragment):
    with pytest.raises(paget.ConfigError) as info:
        make(cfg)
    msg = str(info.value)
    assert key in msg and fragment in msg, msg


def test_unknown_plugin_to_disable_is_named():
    with pytest.raises(paget.PluginError, match="unknown plugins.*'chemotherapy'"):
        make({"plugins": {"disable": ["chemotherapy"]}})


def test_missing_toml_file_is_a_config_error(tmp_path):
    with pytest.raises(paget.ConfigError, match="does not exist"):
        paget.Simulation.from_toml(tmp_path / "nope.toml")


def test_invalid_toml_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cohort\npatients = 3")
    with pytest.raises(paget.ConfigError, match="not valid TOML"):
        paget.Simulation.from_toml(bad)


def test_deep_merge_merges_tables_key_by_key():
    assert deep_merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}}) == \
        {"a": {"x": 1, "y": 3}, "b": 1}


def test_resolved_config_round_trips():
    sim = make({"seed": 3, "colonization": {"growth": {"mode": "deterministic"}}})
    again = make(sim.resolved_config())
    assert again.resolved_config() == sim.resolved_config()


def test_resolve_organ_map_remembers_values_but_hands_out_fresh_arrays():
    """Plugins resolve their per-organ parameters every step, so the arrays are
    remembered; each call still returns its own array (a caller may change it),
    the default takes part in the key, and an unknown organ fails every time."""
    import numpy as np

    from paget.body import make_body
    from paget.config import resolve_organ_map

    body = make_body("human_adult")
    liver = body.organ_index("liver")
    a = resolve_organ_map({"liver": 0.5}, body, 0.1)
    assert a[liver] == 0.5 and np.all(np.delete(a, liver) == 0.1)
    a[:] = -1.0                                   # the caller's array is its own
    b = resolve_organ_map({"liver": 0.5}, body, 0.1)
    assert b is not a and b[liver] == 0.5 and np.all(np.delete(b, liver) == 0.1)
    c = resolve_organ_map({"liver": 0.5}, body, 0.2)          # another default
    assert np.all(np.delete(c, liver) == 0.2)
    d = resolve_organ_map({"default": 0.3, "liver": 0.5}, body, 0.2)
    assert np.all(np.delete(d, liver) == 0.3)
    np.testing.assert_array_equal(resolve_organ_map(0.25, body, 1.0),
                                  np.full(body.n_organs, 0.25))
    for _ in range(2):
        with pytest.raises(Exception, match="nowhere"):
            resolve_organ_map({"nowhere": 1.0}, body, 0.0)
