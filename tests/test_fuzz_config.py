"""Property-based test of configuration validation: thousands of mutated configs.

Each example takes the fully resolved default configuration and applies one to
three mutations: a key dropped, an unknown key added, a value (or a whole
table) replaced by one of the wrong type, a negative, NaN, infinite, huge or
tiny number, a probability outside [0, 1], an unknown organ or plugin, an
empty cohort, an interval that is no whole number of steps.  Every result must
be either refused with a :class:`paget.ConfigError` or :class:`paget.PluginError`
whose message names a mutated key (or the plugin), or accepted and then run
(one patient, five steps) without any exception but paget's own.
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import paget
from paget.config import deep_merge

BASE = paget.Simulation({}, entry_points=False).resolved_config()


def _paths(d: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _paths(v, prefix + (k,))
    return out


def _get(d: dict, path: tuple):
    for k in path:
        d = d[k]
    return d


PATHS = _paths(BASE)
TABLES = [()] + [p for p in PATHS if isinstance(_get(BASE, p), dict)]
NUMBERS = [p for p in PATHS if isinstance(_get(BASE, p), (int, float)) and
           not isinstance(_get(BASE, p), bool)]

SPECIAL = [-1, -1.0, 0, 0.0, 1e-300, 1e300, -1e300, math.nan, math.inf, -math.inf, 1.5, -0.5,
           2**63, 0.5, 1, 2, 30.0, 0.7, True, False, "", "0.5", "lung", "atlantis", None, [],
           [1], ["invasion"], ["no_such_plugin"], {}, {"default": 0.5}, {"lung": 2.0},
           {"atlantis": 0.1}, {"default": math.nan}]
VALUES = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-2**70, max_value=2**70),
    st.text(max_size=6),
)


SPECIAL_CASES = [
    (("cohort", "patients"), 0), (("cohort", "patients"), -3),
    (("cohort", "dt"), 0.7), (("cohort", "dt"), 0.0), (("cohort", "years"), 1e-9),
    (("output", "interval"), 10.5), (("output", "interval"), 0.25),
    (("primary", "organ"), "spleeen"), (("plugins", "disable"), ["immune_x"]),
    (("plugins", "load"), ["no_such_module_xyz"]), (("plugins", "load"), ["os; rm -rf /"]),
    (("colonization", "fate", "die"), 0.5), (("circulation", "arrest"), {"lungz": 0.1}),
    (("extravasation", "probability"), {"default": 1.2}),
    (("body", "flow_percent"), {"lung": 50.0, "liver": 50.0}),
]


@st.composite
def mutated(draw):
    """(config, mutated key paths)."""
    cfg = copy.deepcopy(BASE)
    touched = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "unknown", "replace", "replace", "replace",
                                   "table", "special", "scale", "scale", "scale"]))
        if op == "special":   # targeted: empty cohort, bad schedule, unknown organ/plugin
            path, value = draw(st.sampled_from(SPECIAL_CASES))
            parent = cfg
            for k in path[:-1]:
                parent = parent.setdefault(k, {}) if isinstance(parent, dict) else None
            if isinstance(parent, dict):
                parent[path[-1]] = copy.deepcopy(value)
                touched.append(path)
            continue
        if op == "scale":   # a valid-looking but extreme number: often accepted, then run
            path = draw(st.sampled_from(NUMBERS))
            parent = cfg
            for k in path[:-1]:
                parent = parent.get(k) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and isinstance(parent.get(path[-1]), (int, float)) \
                    and not isinstance(parent.get(path[-1]), bool):
                factor = draw(st.sampled_from([0, 1e-6, 1e-2, 0.5, 2, 1e2, 1e6, 1e12]))
                old = parent[path[-1]]
                parent[path[-1]] = type(old)(old * factor) if isinstance(old, float) else \
                    int(old * factor)
                touched.append(path)
            continue
        if op in ("drop", "replace"):
            path = draw(st.sampled_from(PATHS))
        else:
            path = draw(st.sampled_from(TABLES[1:] if op == "table" else TABLES))
        parent = cfg
        for k in (path if op == "unknown" else path[:-1]):
            parent = parent.get(k) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue   # an earlier mutation replaced the table
        if op == "drop":
            parent.pop(path[-1], None)
        elif op == "unknown":
            key = draw(st.sampled_from(["zz_unknown", "patiens", "lungs", "Rate"]))
            parent[key] = copy.deepcopy(draw(VALUES))
            path = path + (key,)
        else:
            parent[path[-1]] = copy.deepcopy(draw(VALUES))
        touched.append(path)
    return cfg, touched


def names_a_key(exc: BaseException, touched: list[tuple]) -> bool:
    msg = str(exc)
    if isinstance(exc, paget.PluginError) and (exc.plugin or "plugin '" in msg):
        return True
    for path in touched:
        if not path:
            continue
        parts = [str(p) for p in path]
        need = min(2, len(parts))
        for n in range(len(parts), need - 1, -1):
            if ".".join(parts[:n]) in msg:
                return True
        if len(parts) >= 2 and f"[{parts[0]}] {parts[1]}" in msg:
            return True
    return False


def tiny(sim: paget.Simulation) -> dict:
    cfg = sim.resolved_config()
    dt = cfg["cohort"]["dt"]
    return deep_merge(cfg, {"cohort": {"patients": 1,
                                       "years": min(cfg["cohort"]["years"], 5 * dt / 365.25)}})


@settings(max_examples=1000, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_every_mutated_config_is_run_or_refused_naming_the_key(case):
    cfg, touched = case
    try:
        sim = paget.Simulation(cfg, entry_points=False)
    except (paget.ConfigError, paget.PluginError) as exc:
        event(f"refused: {type(exc).__name__}")
        assert names_a_key(exc, touched), (touched, str(exc))
        assert str(exc).strip() and "Traceback" not in str(exc)
        return
    event("accepted")
    small = paget.Simulation(tiny(sim), entry_points=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # overflow inside a plugin's maths
        try:
            ds = small.run()
        except paget.PagetError as exc:   # refused while running (e.g. beyond 2**53 cells)
            event(f"refused while running: {type(exc).__name__}")
            assert str(exc).strip()
            return
    for name in ("tumor_cells", "dormant_cells", "lesion_cells"):
        v = ds[name].values
        assert (v[~(v != v)] >= 0).all(), name


@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated())
def test_refused_configs_exit_2_with_one_line_from_the_cli(tmp_path, case):
    """A sample through ``paget run CONFIG.toml``: exit 2, one line, no traceback, nothing written."""
    import tomli_w

    from paget.cli import main
    cfg, _ = case
    try:
        paget.Simulation(cfg)
    except (paget.ConfigError, paget.PluginError):
        pass
    else:
        return   # accepted: covered above
    try:
        text = tomli_w.dumps(cfg)
    except (TypeError, ValueError):
        return   # None and the like have no TOML form
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out.nc"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(path), "-o", str(out), "--no-progress"])
    lines = err.getvalue().strip().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith("paget: ") and "Traceback" not in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("cfg, key", [
    ({"cohort": {"patients": 0}}, "cohort.patients"),
    ({"cohort": {"patients": "3"}}, "cohort.patients"),
    ({"seed": True}, "seed"),
    ({"cohort": {"dt": 1e-300}}, "cohort.dt"),
    ({"output": {"interval": 1e300}}, "output.interval"),
    ({"plugins": {"load": ["os.system('ls')"]}}, "plugins.load"),
    ({"plugins": {"load": ["a.b", "a.b"]}}, "plugins.load"),
    ({"intravasation": {"metastases_shed": 1}}, "intravasation.metastases_shed"),
], ids=["empty-cohort", "string-number", "bool-number", "steps-overflow", "interval-overflow",
        "code-as-module", "module-twice", "int-as-bool"])
def test_findings_of_the_fuzzer_stay_fixed(cfg, key):
    """Each crashed or was silently accepted before validation was tightened."""
    with pytest.raises(paget.ConfigError, match=key.replace(".", r"\.")):
        paget.Simulation(cfg, entry_points=False)


def test_naming_a_built_in_plugin_in_load_is_redundant_not_a_crash():
    sim = paget.Simulation({"plugins": {"load": ["paget.plugins.invasion"]}}, entry_points=False)
    assert sim.plugin_names.count("invasion") == 1


def test_a_config_that_is_not_a_table_is_refused():
    with pytest.raises(paget.ConfigError, match="must be a table"):
        paget.Simulation([1, 2], entry_points=False)


def test_numpy_numbers_are_accepted_as_numbers():
    import numpy as np
    sim = paget.Simulation({"cohort": {"patients": np.int64(3), "years": np.float32(0.5)}},
                           entry_points=False)
    assert sim.config.cohort.patients == 3 and isinstance(sim.config.cohort.patients, int)


# --------------------------------------------------------------------------
# A corpus of bad configuration files through the command line
# --------------------------------------------------------------------------

#: (TOML text, what the one line must name)
BAD_FILES = {
    # wrong types
    "text-for-integer": ('[cohort]\npatients = "3"\n', "cohort.patients = '3'"),
    "bool-for-integer": ("seed = true\n", "seed = True"),
    "text-for-number": ('[cohort]\nyears = "ten"\n', "cohort.years = 'ten'"),
    "number-for-table": ("cohort = 3\n", "cohort = 3: must be a table [cohort]"),
    "number-for-choice": ("[colonization.growth]\nlaw = 1\n", "colonization.growth.law = 1"),
    "text-for-list": ('[plugins]\nload = "slow_shedding"\n', "plugins.load = 'slow_shedding'"),
    "list-for-organ-map": ("[invasion]\nfraction = [0.5]\n", "invasion.fraction = [0.5]"),
    # NaN, infinities, huge and negative numbers
    "nan": ("[cohort]\nyears = nan\n", "cohort.years = nan: must be a finite number"),
    "inf": ("[intravasation]\nrate = inf\n", "intravasation.rate = inf"),
    "minus-inf": ("[circulation]\narrest = -inf\n", "circulation.arrest = -inf"),
    "nan-in-organ-map": ("[extravasation]\nprobability = { liver = nan }\n",
                         "extravasation.probability.liver = nan"),
    "huge-rate": ("[intravasation]\nrate = 1e300\n", "intravasation.rate = 1e+300: must be "
                                                     "within [0, 10]"),
    "huge-integer": ("[cohort]\npatients = 99999999999999999999999\n", "cohort.patients"),
    "huge-cells": ("[primary]\ncells = 1e300\n", "primary.cells = 1e+300"),
    "negative-step": ("[cohort]\ndt = -1\n", "cohort.dt = -1: must be within (0, 30]"),
    "negative-rate": ("[colonization.growth]\nrate = -0.1\n", "colonization.growth.rate = -0.1"),
    "negative-lethal": ("[outcome]\nlethal_cells = -5\n", "outcome.lethal_cells = -5"),
    # unknown keys and tables
    "key-typo": ("[cohort]\npatiens = 3\n", "cohort.patiens: unknown key (did you mean"),
    "unknown-table": ("[nonsense]\nx = 1\n", "[nonsense]: unknown table"),
    "plugin-not-loaded": ("[slow_shedding]\nfactor = 0.5\n",
                          "[slow_shedding]: unknown table; is its plugin loaded?"),
    "unknown-top-level-key": ("nonsense = 1\n", "nonsense: unknown key"),
    # unknown organs and organ-map typos
    "unknown-organ": ('[primary]\norgan = "spleeen"\n', "primary.organ = 'spleeen'"),
    "organ-map-typo": ("[extravasation]\nprobability = { lvier = 0.5 }\n",
                       "extravasation.probability.lvier = 0.5: unknown organ 'lvier'"),
    "flow-table-typo": ("[body.flow_percent]\nlungz = 100.0\n", "body.flow_percent.lungz"),
    # unknown plugins
    "load-unknown-module": ('[plugins]\nload = ["no_such_module_xyz"]\n', "'no_such_module_xyz'"),
    "load-code": ('[plugins]\nload = ["os; rm -rf /"]\n', "plugins.load"),
    "disable-unknown": ('[plugins]\ndisable = ["immune_x"]\n', "'immune_x'"),
    # probabilities out of range
    "probability>1": ("[extravasation]\nprobability = 1.5\n",
                      "extravasation.probability = 1.5: must be within [0, 1]"),
    "organ-probability>1": ("[circulation]\narrest = { default = 0.2, lung = 1.2 }\n",
                            "circulation.arrest.lung = 1.2: must be within [0, 1]"),
    "fate<0": ("[colonization.fate]\ngrow = -0.1\n", "colonization.fate.grow = -0.1"),
    # thresholds and schedule
    "lethal-below-primary": ("[outcome]\nlethal_cells = 1\n", "outcome.lethal_cells = 1: must "
                                                              "be more than primary.cells"),
    "not-toml": ("[cohort\n", "not valid TOML"),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, case, command):
    from paget.cli import main
    text, fragment = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    argv = [command, str(path)]
    if command == "run":
        argv += ["-o", str(out / "result.nc"), "--no-progress"]
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith("paget: "), lines
    assert "Traceback" not in captured.err and captured.out == ""
    assert fragment in lines[0], lines[0]
    assert "Input should" not in lines[0]
    assert list(out.iterdir()) == []


#: valid but unusual configurations (two patients, a month): they run
UNUSUAL_FILES = {
    "no-extravasation": "[extravasation]\nprobability = 0.0\n",
    "certain-extravasation": "[extravasation]\nprobability = { default = 1.0 }\n",
    "highest-shedding": "[intravasation]\nrate = 10.0\n",
    "longest-step": "[cohort]\ndt = 30.0\nyears = 0.25\n[output]\ninterval = 30.0\n",
    # rounded to 43 steps (30.1 days), with a note
    "interval-not-whole-steps": "[cohort]\ndt = 0.7\nyears = 0.1\n",
    "lethal-just-above-primary": "[outcome]\nlethal_cells = 1000001.0\n",
    "exponential-growth": '[colonization.growth]\nlaw = "exponential"\nrate = 0.05\n',
    "widest-heterogeneity": "[heterogeneity]\ngrowth_sigma = 3.0\nshedding_sigma = 5.0\n",
    "disabled-plugin-with-its-table": '[plugins]\ndisable = ["immune"]\n[immune]\nctc_kill = 0.5\n',
    "integer-for-float": "[cohort]\nyears = 0\n",
}


@pytest.mark.parametrize("case", list(UNUSUAL_FILES))
def test_an_unusual_but_valid_file_runs(tmp_path, capsys, case):
    from paget.cli import main
    text = UNUSUAL_FILES[case]
    if "years" not in text:
        text = "[cohort]\nyears = 0.1\n" + text
    text = text.replace("[cohort]\n", "[cohort]\npatients = 2\n", 1)
    path = tmp_path / "unusual.toml"
    path.write_text(text)
    out = tmp_path / "result.nc"
    code = main(["run", str(path), "-o", str(out), "--no-progress"])
    captured = capsys.readouterr()
    if case == "integer-for-float":      # 0 years is an integer where a float is asked...
        assert code == 2 and "cohort.years = 0: must be within (0, 200]" in captured.err
        return                           # ...accepted as a number, refused for its value
    assert code == 0, captured.err
    assert out.exists()
