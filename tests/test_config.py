"""Configuration: defaults, overrides, and errors that name key, value and what is allowed."""
from __future__ import annotations

import numpy as np
import pytest

import paget
import paget.errors
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
    ({"cohort": {"patients": 0}}, "cohort.patients", "must be within [1, 2147483647]"),
    ({"cohort": {"patiens": 3}}, "cohort.patiens", "allowed keys: patients, years, dt"),
    ({"intravasation": {"rate": -1.0}}, "intravasation.rate", "must be within [0, 10]"),
    ({"circulation": {"arrest": 1.5}}, "circulation.arrest", "must be within [0, 1]"),
    ({"circulation": {"arrest": {"lungs": 0.2}}}, "circulation.arrest", "lung"),
    ({"primary": {"organ": "spleeen"}}, "primary.organ", "'lung'"),
    ({"primary": {"cells": 2.5}}, "primary.cells", "whole number"),
    ({"colonization": {"fate": {"die": 0.5, "dormant": 0.1, "grow": 0.1}}},
     "colonization.fate", "must be 1"),
    ({"colonization": {"growth": {"law": "weibull"}}}, "colonization.growth.law", "gompertz"),
    ({"nonsense": 1}, "nonsense", "allowed keys"),
    ({"seed": -3}, "seed", "must be within [0, 9223372036854775807]"),
    ({"body": {"flow_percent": {"lung": 100.0}}}, "body.flow_percent", "missing"),
], ids=["zero-patients", "misspelt-key", "negative-rate", "probability>1", "unknown-organ-key",
        "unknown-organ", "fractional-cells", "fates-not-summing", "unknown-law",
        "unknown-table", "negative-seed", "incomplete-flow"])
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


# --------------------------------------------------------------------------
# Messages: the key at fault, its value and what is allowed, on one line
# --------------------------------------------------------------------------

def refusal(cfg) -> str:
    with pytest.raises(paget.ConfigError) as info:
        make(cfg)
    return str(info.value)


def test_a_huge_shedding_rate_is_refused_naming_its_key_not_the_capacity():
    """It was accepted, then the run stopped blaming colonization.growth.capacity."""
    msg = refusal({"intravasation": {"rate": 1e300}})
    assert msg == "intravasation.rate = 1e+300: must be within [0, 10]"


@pytest.mark.parametrize("cfg, expected", [
    ({"extravasation": {"probability": 1.5}},
     "extravasation.probability = 1.5: must be within [0, 1]"),
    ({"extravasation": {"probability": {"liver": 1.5}}},
     "extravasation.probability.liver = 1.5: must be within [0, 1]"),
    ({"extravasation": {"probability": {"lvier": 0.5}}},
     "extravasation.probability.lvier = 0.5: unknown organ 'lvier' (did you mean 'liver'?); "
     "organs are: lung, liver, bone, brain, adrenal, kidney, spleen, skin, muscle, heart, "
     "stomach, small_intestine, colon, rectum, esophagus, pancreas, breast, prostate, bladder, "
     "uterus, cervix, ovary, testis, thyroid, pleura, peritoneum, lymph_nodes, distant_nodes, "
     "other (or default)"),
    ({"circulation": {"arrest": "high"}},
     "circulation.arrest = 'high': must be a number within [0, 1], or a per-organ table "
     "{default = x, <organ> = y, ...}"),
    ({"colonization": {"growth": {"capacity": {"lung": 0.5}}}},
     "colonization.growth.capacity.lung = 0.5: must be within [1, 4503599627370496]"),
    ({"body": {"flow_percent": {"lungs": 100.0}}},
     "body.flow_percent.lungs = 100.0: unknown organ 'lungs' (did you mean 'lung'?); organs "
     "are: lung, liver, bone, brain, adrenal, kidney, spleen, skin, muscle, heart, stomach, "
     "small_intestine, colon, rectum, esophagus, pancreas, breast, prostate, bladder, uterus, "
     "cervix, ovary, testis, thyroid, pleura, peritoneum, lymph_nodes, distant_nodes, other"),
    ({"cohort": {"patients": "3"}},
     "cohort.patients = '3': must be a whole number within [1, 2147483647]"),
    ({"cohort": {"years": float("inf")}},
     "cohort.years = inf: must be a finite number within (0, 200]"),
    ({"primary": {"organ": "spleeen"}},
     "primary.organ = 'spleeen' (did you mean 'spleen'?): must be one of 'lung', 'liver', "
     "'bone', 'brain', 'adrenal', 'kidney', 'spleen', 'skin', 'muscle', 'heart', 'stomach', "
     "'small_intestine', 'colon', 'rectum', 'esophagus', 'pancreas', 'breast', 'prostate', "
     "'bladder', 'uterus', 'cervix', 'ovary', 'testis', 'thyroid', 'pleura', 'peritoneum', "
     "'lymph_nodes', 'distant_nodes' or 'other'"),
    ({"plugins": {"load": [1]}}, "plugins.load[0] = 1: must be a string"),
    ({"cohort": {"patiens": 3}},
     "cohort.patiens: unknown key (did you mean 'patients'?); allowed keys: patients, years, dt"),
], ids=["probability>1", "organ-probability>1", "organ-typo", "text-for-organ-map",
        "organ-capacity<1", "flow-organ-typo", "text-for-integer", "infinite", "organ-name-typo",
        "list-item", "key-typo"])
def test_each_bad_value_is_one_message_naming_key_value_and_what_is_allowed(cfg, expected):
    """pydantic reports a per-organ value against both of its forms ("Input should
    be a valid number; ..."); the message keeps the form that was given."""
    msg = refusal(cfg)
    assert msg == expected
    assert "Input should" not in msg and "\n" not in msg


def test_the_lethal_burden_must_exceed_the_initial_primary():
    """lethal_cells = 1 was accepted and every patient died on day 1."""
    msg = refusal({"outcome": {"lethal_cells": 1}})
    assert msg.startswith("outcome.lethal_cells = 1: must be more than primary.cells = 1e+06")
    msg = refusal({"primary": {"cells": 1e12}})          # the default lethal burden
    assert msg.startswith("outcome.lethal_cells = 1e+12: must be more than "
                          "primary.cells = 1e+12")
    # an injection has no primary: its cells are not a burden at time zero
    make({"primary": {"injection": "tail_vein", "cells": 1e6},
          "outcome": {"lethal_cells": 1e5, "detectable_cells": 1e4}})
    # a lesion too large to be seen before death: nothing is detected, not an error
    make({"outcome": {"detectable_cells": 2e12}})


def test_an_unknown_table_asks_whether_its_plugin_is_loaded():
    msg = refusal({"slow_shedding": {"factor": 0.5}})
    assert msg.startswith("[slow_shedding]: unknown table; is its plugin loaded? add it under "
                          "[plugins] load = [...] or pass --plugin MODULE; allowed top-level keys:")
    msg = refusal({"plugins": {"disable": ["treatment"]}, "chemotherapy": {"cycles": 4}})
    assert msg.startswith("[chemotherapy]: unknown table; it belongs to the plugin 'treatment', "
                          "which [plugins] disable switches off")
    # a misspelt key at the top level is not a table: no hint about plugins
    assert "plugin" not in refusal({"sede": 3}).split(";")[0]


@pytest.mark.parametrize("count, unit, text", [
    (1, "day", "1 day"), (1.0, "day", "1 day"), (2, "day", "2 days"), (0.5, "day", "0.5 days"),
    (10, "year", "10 years")])
def test_plural(count, unit, text):
    from paget.config import plural
    assert plural(count, unit) == text


def test_schedule_messages_use_plurals():
    assert refusal({"cohort": {"dt": 1.0, "years": 1e-9}}).endswith("(cohort.dt = 1 day)")
    assert refusal({"cohort": {"dt": 2.0, "years": 1e-9}}).endswith("(cohort.dt = 2 days)")
    with pytest.warns(paget.errors.ConfigWarning, match="steps of cohort.dt = 0.7 days; "):
        make({"cohort": {"dt": 0.7}})


# --------------------------------------------------------------------------
# output.interval: rounded to whole steps, with a note
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dt, interval, every, note", [
    (1.0, 365.25, 365, "output.interval = 365.25 days is not a whole number of steps of "
                       "cohort.dt = 1 day; rounded to 365 days (365 steps)"),
    (2.0, 365.25, 183, "output.interval = 365.25 days is not a whole number of steps of "
                       "cohort.dt = 2 days; rounded to 366 days (183 steps)"),
    (0.7, 30.0, 43, "output.interval = 30 days is not a whole number of steps of "
                    "cohort.dt = 0.7 days; rounded to 30.1 days (43 steps)"),
    (1.0, 0.25, 1, "output.interval = 0.25 days is shorter than one step of cohort.dt = "
                   "1 day; rounded up to 1 day (1 step)"),
    (3.0, 1.5, 1, "output.interval = 1.5 days is shorter than one step of cohort.dt = "
                  "3 days; rounded up to 3 days (1 step)"),
], ids=["year-at-1-day", "year-at-2-days", "month-at-0.7-days", "below-one-step",
        "half-a-step"])
def test_an_interval_of_no_whole_number_of_steps_is_rounded_with_a_note(dt, interval, every,
                                                                         note):
    """The nearest whole number of steps (halves up), at least one; the note
    names the interval asked for and the one used, in days."""
    with pytest.warns(paget.errors.ConfigWarning) as record:
        sim = make({"cohort": {"dt": dt, "years": 2.0}, "output": {"interval": interval}})
    assert [str(w.message) for w in record] == [note]
    assert sim.plan.record_every == every
    assert sim.plan.times[1] == pytest.approx(every * dt)


@pytest.mark.parametrize("dt, interval", [(1.0, 30.0), (0.1, 30.0), (0.7, 7.0), (2.0, 2.0)])
def test_a_whole_number_of_steps_is_used_as_it_is_without_a_note(dt, interval):
    """30 days at dt = 0.1 is 299.99999999999994 steps in floating point: whole."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim = make({"cohort": {"dt": dt, "years": 0.2}, "output": {"interval": interval}})
    assert sim.plan.record_every == round(interval / dt)


def test_a_rounded_interval_gives_the_dataset_the_times_used():
    with pytest.warns(paget.errors.ConfigWarning, match="rounded to 30.1 days"):
        ds = make({"cohort": {"patients": 1, "dt": 0.7, "years": 0.2},
                   "output": {"interval": 30.0}}).run()
    # 0.2 years = 73.05 days: 104 steps of 0.7 days; records every 43 steps and at the end
    np.testing.assert_allclose(ds.time.values, [0.0, 30.1, 60.2, 72.8], rtol=0, atol=1e-9)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_the_cli_says_the_interval_used_in_one_note(tmp_path, capsys, command):
    """One line on stderr, once (not once per place the time grid is built),
    and the run goes on: exit status 0."""
    from paget.cli import main
    path = tmp_path / "year.toml"
    path.write_text("[cohort]\npatients = 1\nyears = 0.1\ndt = 2.0\n"
                    "[output]\ninterval = 7.0\n")
    argv = [command, str(path)]
    if command == "run":
        argv += ["-o", str(tmp_path / "out.nc"), "--no-progress"]
    assert main(argv) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["paget: note: output.interval = 7 days is not a whole number of steps of "
                     "cohort.dt = 2 days; rounded to 8 days (4 steps)"]


# --------------------------------------------------------------------------
# --print-config: every key with its description, allowed values and source
# --------------------------------------------------------------------------

def _fields(model, prefix=""):
    """(dotted key, FieldInfo) of every key of a configuration model."""
    from pydantic import BaseModel
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _fields(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_every_key_of_the_engine_and_built_in_plugins_has_a_description():
    missing = [key for key, field in _fields(make({}).config_model) if not field.description]
    assert missing == []


def print_config(capsys, *argv) -> str:
    from paget.cli import main
    assert main(["run", *map(str, argv), "--print-config"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_print_config_comments_every_key(capsys):
    import tomllib
    text = print_config(capsys)
    fields = dict(_fields(make({}).config_model))
    header, seen = "", []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("["):
            header = line.strip("[]") + "."
            if header[:-1] in fields:   # a long per-organ or catalogue table: its own header
                seen.append(header[:-1])
                assert lines[i + 1].startswith("# "), lines[i: i + 2]
        elif line and not line.startswith("#"):
            key = header + line.split(" = ")[0]
            if key in fields:       # a key (not an entry of a per-organ or catalogue table)
                seen.append(key)
                assert lines[i - 1].startswith("# "), lines[i - 1: i + 1]
    # every key is written (but those not set), each right under its comment
    unset = {"body.flow_percent", "imaging.threshold", "diagnosis.diameter_distribution",
             "primary.sites_per_patient",
             *(f"colonization.metastasis_growth.{k}"
               for k in ("law", "rate", "rate_factor", "capacity", "death", "mode"))}
    assert sorted(seen) == sorted(set(fields) - unset)
    # descriptions, allowed values and sources of the engine and of plugins
    assert "# m in m (f N)^alpha, CTC per day per cell^alpha; allowed: within [0, 10]" in text
    assert "# source: derived from Coumans et al. 2013 (BMC Cancer 13:283)" in text
    assert "# total tumour cells at which a patient dies; allowed: > 0\n" \
           "# source: a lethal burden of ~1e12 cells" in text
    assert "# growth law of the primary, and of the metastases unless " \
           "colonization.metastasis_growth\n# sets one; allowed: one of exponential, logistic, " \
           "gompertz" in text
    assert "[colonization.metastasis_growth]" in text and "# rate: not set" in text
    assert "# flow_percent: not set" in text
    assert make(tomllib.loads(text)).resolved_config() == make({}).resolved_config()


def test_print_config_names_the_default_a_given_value_replaces(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[intravasation]\nlymph_fraction = 0.25\n")
    text = print_config(capsys, cfg)
    assert "# default 0.1, source: assumption\nlymph_fraction = 0.25\n" in text


@pytest.mark.parametrize("target", ["default", "breast", "assay_luzzi", "trial", "plugin"])
def test_print_config_round_trips_byte_for_byte(capsys, tmp_path, monkeypatch, target):
    """Printing, reading that file as the configuration and printing again gives
    the same bytes, and the file resolves to the same configuration."""
    import tomllib
    from pathlib import Path

    argv: list = [target]
    if target == "trial":
        argv = [tmp_path / "trial.toml"]
        argv[0].write_text('seed = 3\n[cohort]\npatients = 2\n[surgery]\nenabled = true\n'
                           '[[arms]]\nname = "surgery alone"\n[[arms]]\nname = "chemo"\n'
                           'treatment = { lines = ["chemotherapy"] }\n')
    elif target == "plugin":
        monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "examples" / "plugins"))
        argv = ["--plugin", "slow_shedding"]
    first = print_config(capsys, *argv)
    path = tmp_path / "printed.toml"
    path.write_text(first)
    extra = argv[:0] if target != "plugin" else []
    second = print_config(capsys, path, *extra)
    assert second == first
    a = paget.Simulation(tomllib.loads(first)).resolved_config()
    if target == "plugin":
        assert "# multiplies every lesion's shedding rate (dimensionless); allowed: within " \
               "[0, 1]\nfactor = 0.5" in first
        assert 'load = ["slow_shedding"]' in first
    elif target == "trial":
        assert [arm["name"] for arm in a["arms"]] == ["surgery alone", "chemo"]
        assert a == paget.Simulation(tomllib.loads(argv[0].read_text())).resolved_config()
    else:
        assert a == paget.Simulation.from_scenario(target).resolved_config()


def test_every_number_of_a_table_is_finite_without_its_field_saying_so():
    """``allow_inf_nan=False`` is set once, on paget.config.Table: a plugin's table
    refuses NaN and infinities in every float, nested ones included."""
    import math

    from pydantic import Field

    from paget.config import Table

    class ExampleTable(Table):
        strength: float = Field(0.5, ge=0)
        weights: dict[str, float] = Field(default_factory=dict)

    class Plugin:
        @paget.hookimpl
        def paget_config_tables(self):
            return {"example": ExampleTable}

    for table, message in (({"strength": math.nan}, "example.strength = nan: must be a "
                            "finite number >= 0"),
                           ({"strength": math.inf}, "example.strength = inf: must be a "
                            "finite number >= 0"),
                           ({"weights": {"a": -math.inf}}, "example.weights.a = -inf: must "
                            "be a finite number")):
        with pytest.raises(paget.ConfigError) as info:
            paget.Simulation({"example": table}, plugins=[("example", Plugin())],
                             entry_points=False)
        assert str(info.value) == message
