"""Plugin loading, validation at registration, errors attributed to plugins."""
from __future__ import annotations

import types

import numpy as np
import pytest

import paget
from paget.manager import DEFAULT_PLUGINS

from .conftest import busy


def test_builtin_plugins_are_listed_with_their_hooks():
    sim = paget.Simulation({}, entry_points=False)
    info = {p.name: p for p in sim.plugin_info}
    assert [name for name, _ in DEFAULT_PLUGINS] == list(info)
    assert list(info) == ["invasion", "intravasation", "circulation", "transcoelomic",
                          "extravasation",
                          "colonization", "genetics", "microenvironment", "angiogenesis", "immune",
                          "heterogeneity", "imaging", "liquid_biopsy", "supportive", "treatment",
                          "outcome"]
    assert "paget_intravasation" in info["intravasation"].hooks
    assert "paget_growth" in info["immune"].hooks
    assert all(p.origin == "builtin" for p in info.values())


def test_builtin_plugins_are_called_in_the_documented_order():
    """The call order that paget.manager documents by DEFAULT_PLUGINS: stages
    first (tryfirst); the factors' order matters where one clips, caps or adds
    (see the comment there and the plugins' docstrings)."""
    sim = paget.Simulation({}, entry_points=False)

    def order(hook):  # pluggy calls the implementations from the last one listed
        return [i.plugin_name for i in reversed(getattr(sim.plugin_manager.hook, hook)
                                                .get_hookimpls())]

    assert order("paget_update_state") == ["genetics", "supportive", "liquid_biopsy", "imaging",
                                           "heterogeneity", "angiogenesis", "microenvironment",
                                           "treatment"]
    assert order("paget_removal") == ["treatment"]
    assert order("paget_invasion") == ["invasion", "genetics", "microenvironment"]
    assert order("paget_intravasation") == ["intravasation", "heterogeneity", "angiogenesis",
                                            "transcoelomic"]
    assert order("paget_growth") == ["colonization", "heterogeneity", "genetics", "angiogenesis",
                                     "immune", "treatment"]
    assert order("paget_dormancy") == ["colonization"]
    assert order("paget_circulation") == ["treatment", "immune", "genetics"]
    assert order("paget_extravasation") == ["extravasation", "genetics", "microenvironment"]
    assert order("paget_dtc_fate") == ["colonization", "microenvironment"]
    assert order("paget_mutation") == ["genetics"]
    # transcoelomic wraps the circulation's result (a pluggy wrapper: entered
    # first, it receives the circulation's FateMatrix and adds its direct rows)
    assert order("paget_fate_matrix") == ["transcoelomic", "circulation"]
    assert order("paget_outcome") == ["outcome"]


def test_a_misspelt_hook_is_refused_at_load():
    bad = types.ModuleType("badplugin")

    @paget.hookimpl
    def paget_intravasaton(lesions, rates):  # noqa: ARG001 (misspelt on purpose)
        pass

    bad.paget_intravasaton = paget_intravasaton
    with pytest.raises(paget.PluginError, match="badplugin|paget_intravasaton"):
        paget.Simulation({}, plugins=[("badplugin", bad)], entry_points=False)


def test_a_hook_with_an_unknown_argument_is_refused_at_load():
    bad = types.ModuleType("badargs")

    @paget.hookimpl
    def paget_invasion(lesions, rates, wrong_argument):  # noqa: ARG001
        pass

    bad.paget_invasion = paget_invasion
    with pytest.raises(paget.PluginError, match="badargs"):
        paget.Simulation({}, plugins=[("badargs", bad)], entry_points=False)


def test_an_exception_in_a_hook_names_plugin_and_hook():
    boom = types.ModuleType("boom")

    @paget.hookimpl
    def paget_growth(lesions, rates):
        raise RuntimeError("kaput")

    boom.paget_growth = paget_growth
    sim = paget.Simulation(busy(), plugins=[("boom", boom)], entry_points=False)
    with pytest.raises(paget.PluginError, match=r"'boom' raised in hook paget_growth.*kaput"):
        sim.run()


def test_nan_rates_from_a_plugin_stop_the_run():
    nan = types.ModuleType("nanplugin")

    @paget.hookimpl
    def paget_intravasation(rates):
        rates.shed[:] = np.nan

    nan.paget_intravasation = paget_intravasation
    sim = paget.Simulation(busy(), plugins=[("nanplugin", nan)], entry_points=False)
    with pytest.raises(paget.PluginError, match="plugin .nanplugin. set rates.shed in hook paget_intravasation"):
        sim.run()


def test_a_factor_plugin_scales_a_stage():
    """A third-party plugin that halves shedding halves it (same seed otherwise)."""
    class Halve:
        @paget.hookimpl
        def paget_intravasation(self, rates):
            rates.shed *= 0.0

    sim = paget.Simulation(busy(), plugins=[("halve", Halve())], entry_points=False)
    ds = sim.run()
    assert int(ds.ctc_shed.sum()) == 0
    assert "halve" in sim.plugin_names


def test_a_plugin_declares_its_own_validated_table():
    from pydantic import Field

    from paget.config import Table

    class MyTable(Table):
        strength: float = Field(1.0, ge=0)

    mod = types.ModuleType("mine")

    @paget.hookimpl
    def paget_config_tables():
        return {"mine": MyTable}

    mod.paget_config_tables = paget_config_tables
    sim = paget.Simulation({"mine": {"strength": 2.0}}, plugins=[("mine", mod)], entry_points=False)
    assert sim.config.mine.strength == 2.0
    with pytest.raises(paget.ConfigError, match=r"mine.strength = -1"):
        paget.Simulation({"mine": {"strength": -1}}, plugins=[("mine", mod)], entry_points=False)


def test_load_a_plugin_module_by_name_from_the_config():
    sim = paget.Simulation({"plugins": {"load": ["tests.plugin_example"]}}, entry_points=False)
    assert "tests.plugin_example" in sim.plugin_names


def test_an_unimportable_plugin_module_is_named():
    with pytest.raises(paget.PluginError, match="no_such_module"):
        paget.Simulation({"plugins": {"load": ["no_such_module"]}}, entry_points=False)


def _growth(rates):
    rates.birth[:] = -1.0


def _invasion(rates):
    rates.invasive[:] = 2.0


def _dormancy(rates):
    rates.dormant_death[:] = np.inf


def _extravasation(probability):
    probability[:] = np.nan


def _dtc_fate(fates):
    fates[..., 0] = -0.5


@pytest.mark.parametrize("hook, func, variable", [
    ("paget_growth", _growth, "rates.birth"),
    ("paget_invasion", _invasion, "rates.invasive"),
    ("paget_dormancy", _dormancy, "rates.dormant_death"),
    ("paget_extravasation", _extravasation, "probability"),
    ("paget_dtc_fate", _dtc_fate, "fates"),
], ids=["negative-birth", "invasive>1", "inf-death", "nan-probability", "negative-fate"])
def test_bad_values_written_by_a_plugin_name_plugin_hook_and_variable(hook, func, variable):
    mod = types.ModuleType("writer")
    setattr(mod, hook, paget.hookimpl(specname=hook)(func))
    sim = paget.Simulation(busy(), plugins=[("writer", mod)], entry_points=False)
    with pytest.raises(paget.PluginError, match=f"plugin 'writer' set {variable} in hook {hook}"):
        sim.run()
