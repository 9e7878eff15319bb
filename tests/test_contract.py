"""The contract declared once: hook outputs (paget.contract) and plugins' state reads."""
from __future__ import annotations

import ast
import importlib
import inspect
import math
import re
import types
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import paget
import paget.hookspecs
from paget.config import deep_merge
from paget.contract import OUTPUTS, RATES, STEP_HOOKS, describe, neutral
from paget.manager import DEFAULT_PLUGINS, builtin_variable_owners, make_plugin_manager
from paget.state import Rates, StateRead, StateVariable

from .conftest import busy

SMALL = {"seed": 3, "cohort": {"patients": 2, "years": 0.1}}


# ------------------------------------------------------------ the outputs

def test_rates_fields_and_neutral_values_are_the_declared_ones():
    assert [f.name for f in fields(Rates)] == [r.name for r in RATES]
    buffers: dict = {}
    for n in (4, 4, 9, 0, 3):   # the buffers set to neutral again, grown, and their views
        rates = Rates.neutral(n, buffers)
        for r in RATES:
            a = getattr(rates, r.name)
            assert a.dtype == np.dtype(r.dtype) and a.shape == (n,), r.name
            assert (a == r.neutral).all() and a.flags.writeable, r.name
            assert f"{r.name} : numpy.ndarray" in Rates.__doc__
            a[...] = not r.neutral if r.dtype == "bool" else r.neutral + 0.5   # a hook's


def _bad_plugin(out, value):
    """A plugin whose implementation of ``out.hook`` writes ``value`` into ``out``."""
    def impl(**kwargs):
        target = kwargs[out.arg]
        (getattr(target, out.name) if out.arg == "rates" else target)[...] = value
    src = f"def {out.hook}({out.arg}):\n    impl(**{{{out.arg!r}: {out.arg}}})\n"
    ns = {"impl": impl}
    exec(src, ns)
    mod = types.ModuleType("bad")
    setattr(mod, out.hook, paget.hookimpl(ns[out.hook]))
    return mod


def _call(out, value):
    pm, _ = make_plugin_manager(disable=[n for n, _ in DEFAULT_PLUGINS], entry_points_too=False,
                                extra=[("bad", _bad_plugin(out, value))])
    shape = {"(n_rows,)": (3,), "(m, n_organs)": (2, 4), "(m, n_organs, 3)": (2, 4, 3)}
    arg = Rates.neutral(3) if out.arg == "rates" else np.zeros(shape[out.shape])
    spec = getattr(paget.hookspecs, out.hook)
    kwargs = {a: None for a in inspect.signature(spec).parameters}
    getattr(pm.hook, out.hook)(**{**kwargs, out.arg: arg})


@pytest.mark.parametrize("out", [o for o in OUTPUTS if o.dtype != "bool"],
                         ids=lambda o: o.label)
def test_each_declared_range_is_what_the_manager_checks(out):
    """The edges of the declared range pass; just outside them, or NaN, is a
    PluginError naming the plugin, the output and the range."""
    _call(out, out.lo)
    if math.isfinite(out.hi):
        _call(out, out.hi)
    outside = [out.lo - 0.5, out.hi + 0.5 if math.isfinite(out.hi) else np.inf, np.nan]
    for value in outside:
        with pytest.raises(paget.PluginError, match=re.escape(
                f"plugin 'bad' set {out.label} in hook {out.hook} to values outside "
                f"[{out.lo}, {out.hi}]")):
            _call(out, value)


def test_the_hook_reference_states_each_output_from_its_declaration():
    for o in OUTPUTS:
        assert describe(o) in inspect.getdoc(getattr(paget.hookspecs, o.hook)), o.label
    # and no docstring restates a neutral value by hand
    source = Path(paget.hookspecs.__file__).read_text()
    assert not re.search(r"[Nn]eutral values?[:]|neutral \d", source)


@pytest.mark.parametrize("shape", [0, 1, 5, (0, 4), (1, 4), (3, 4)], ids=str)
def test_a_reused_output_array_is_set_to_its_neutral_value_again(shape):
    """``neutral(name, shape, buffers)`` hands out the same array for the same
    name and shape, set again to what a new one holds after a hook wrote it;
    another shape gets an array of its own (a view of the name's one block),
    another name one of its own block."""
    buffers: dict = {}
    for o in OUTPUTS:
        if o.arg == "rates" or (o.name in ("probability", "fates")) != isinstance(shape, tuple):
            continue
        fresh = neutral(o.name, shape)
        a = neutral(o.name, shape, buffers)
        assert a.dtype == fresh.dtype and a.shape == fresh.shape and (a == fresh).all()
        a[...] = not o.neutral if o.dtype == "bool" else 0.25
        again = neutral(o.name, shape, buffers)
        assert again is a and (again == fresh).all(), o.name
        other = neutral(o.name, (shape + 1) if isinstance(shape, int) else (shape[0] + 1, 4),
                        buffers)
        assert other is not a and (other == neutral(o.name, other.shape[:-1] if
                                                    o.name == "fates" else other.shape)).all()
    assert len({id(got[0]) for got in buffers.values()}) == len(buffers)


def test_reused_output_arrays_keep_one_block_per_output_whatever_the_shapes():
    """A run's row counts change from step to step: the buffers keep one block
    per output, at most twice the rows of the largest shape asked for (not an
    array per shape: that held 130 MiB more at the peak of a 1,000-patient,
    10-year default run), and each view holds the neutral value."""
    buffers: dict = {}
    rng = np.random.default_rng(3)
    sizes = rng.integers(0, 300, 200)
    for m in sizes:
        fates = neutral("fates", (int(m), 7), buffers)
        fraction = neutral("fraction", np.int64(m), buffers)
        fates[...] = 0.5
        fraction[...] = 0.5
        assert fates.shape == (m, 7, 3) and fraction.shape == (m,)
        assert (neutral("fates", (int(m), 7), buffers) == neutral("fates", (int(m), 7))).all()
        assert (neutral("fraction", int(m), buffers) == neutral("fraction", int(m))).all()
        assert fates.flags.c_contiguous and fraction.flags.c_contiguous
    assert sorted(buffers) == ["fates", "fraction"]
    for block, *_ in buffers.values():
        assert sizes.max() <= block.shape[0] <= 2 * sizes.max()
    # another trailing shape (another body's organs) replaces the block
    assert neutral("fates", (2, 9), buffers).shape == (2, 9, 3)
    assert buffers["fates"][0].shape == (2, 9, 3)


class _Recorder:
    """Called first in every per-step hook (tryfirst, registered last): records
    the hook and whether its outputs hold their neutral values."""

    def __init__(self):
        self.calls: list[str] = []
        self.not_neutral: set[str] = set()

    def _see(self, hook, **arrays):
        self.calls.append(hook)
        for o in OUTPUTS:
            if o.hook != hook:
                continue
            a = getattr(arrays["rates"], o.name) if o.arg == "rates" else arrays[o.arg]
            if not (a == np.asarray(o.neutral, dtype=a.dtype)).all():
                self.not_neutral.add(o.label)


def _recorder() -> _Recorder:
    rec = _Recorder()
    for hook in STEP_HOOKS:
        args = {"rates"} if any(o.hook == hook and o.arg == "rates" for o in OUTPUTS) else \
            {o.arg for o in OUTPUTS if o.hook == hook}
        params = ", ".join(sorted(args))
        ns = {"rec": rec}
        exec(f"def {hook}({params}):\n    rec._see({hook!r}, "
             f"{', '.join(f'{a}={a}' for a in sorted(args))})\n", ns)
        setattr(rec, hook, paget.hookimpl(tryfirst=True)(ns[hook]))
    return rec


def test_the_engine_fills_the_declared_neutral_values_and_calls_hooks_in_step_order():
    rec = _recorder()
    paget.Simulation(busy(cohort={"patients": 2, "years": 0.1}), plugins=[("rec", rec)],
                     entry_points=False).run()
    assert set(rec.calls) == set(STEP_HOOKS)          # the run sheds and colonizes
    assert rec.not_neutral == set()
    position = [STEP_HOOKS.index(h) for h in rec.calls]
    # within a step (from one paget_update_state to the next) the order is STEP_HOOKS'
    for i in range(1, len(position)):
        assert position[i] > position[i - 1] or position[i] == 0, rec.calls[i - 1: i + 1]


# ------------------------------------------------------------ the state reads

def _reader(*reads, tryfirst=False, trylast=False, hooks=("paget_update_state",)):
    mod = types.ModuleType("reader")
    mod.paget_state_reads = paget.hookimpl(lambda: list(reads))
    for hook in hooks:
        setattr(mod, hook, paget.hookimpl(tryfirst=tryfirst, trylast=trylast)(
            lambda state: None))
    return mod


def _simulation(*reads, config=SMALL, **kw):
    return paget.Simulation(config, plugins=[("reader", _reader(*reads, **kw))],
                            entry_points=False)


def test_a_read_in_the_writers_hook_needs_the_writer_called_first():
    # imaging writes diagnosis_time in paget_update_state; a tryfirst reader is
    # called before it and would see the previous step's value
    with pytest.raises(paget.PluginError) as err:
        _simulation(StateRead("diagnosis_time"), tryfirst=True)
    msg = str(err.value)
    assert msg == ("plugin 'reader' reads 'diagnosis_time' of plugin 'imaging' in "
                   "paget_update_state expecting 'imaging''s implementation to be called "
                   "before its own (the value 'imaging' writes there), but pluggy calls them "
                   "in the order reader, imaging (mark 'reader''s paget_update_state trylast, "
                   "or declare the read previous_step=True)")
    assert err.value.plugin == "reader"
    _simulation(StateRead("diagnosis_time"), trylast=True)          # called after: accepted
    _simulation(StateRead("diagnosis_time", previous_step=True), tryfirst=True)
    with pytest.raises(paget.PluginError, match="expecting 'imaging''s implementation to be "
                       r"called after its own \(the value from before 'imaging' writes it "
                       r"there\), but pluggy calls them in the order imaging, reader"):
        _simulation(StateRead("diagnosis_time", previous_step=True), trylast=True)


def test_a_read_in_a_later_hook_needs_no_order():
    _simulation(StateRead("diagnosis_time", "paget_growth"), hooks=("paget_growth",))
    _simulation(StateRead("diagnosis_time", "paget_growth", previous_step=True),
                hooks=("paget_growth",))


def test_the_order_is_checked_in_whichever_hook_the_owner_writes():
    """The outcome plugin writes first_detectable_metastasis_time in paget_outcome:
    a reader there must be called after it (ordinary, registered later: before)."""
    read = StateRead("first_detectable_metastasis_time", "paget_outcome")
    with pytest.raises(paget.PluginError, match="reads 'first_detectable_metastasis_time' "
                       "of plugin 'outcome' in paget_outcome expecting 'outcome''s "
                       "implementation to be called before its own"):
        _simulation(read, hooks=("paget_outcome",))
    _simulation(read, hooks=("paget_outcome",), trylast=True)


def test_a_read_in_a_hook_the_reader_does_not_implement_is_refused():
    with pytest.raises(paget.PluginError, match="plugin 'reader' declares a read of "
                       "'diagnosis_time' in paget_growth, which it does not implement"):
        _simulation(StateRead("diagnosis_time", "paget_growth"))


def test_a_missing_provider_is_named_or_said_to_be_missing():
    with pytest.raises(paget.PluginError, match=re.escape(
            "plugin 'reader' needs state variable 'no_such_thing', which no loaded plugin "
            "declares: it is the thing")):
        _simulation(StateRead("no_such_thing", reason="it is the thing"), trylast=True)
    _simulation(StateRead("no_such_thing", required=False), trylast=True)
    off = deep_merge(SMALL, {"plugins": {"disable": ["immune"]}})
    with pytest.raises(paget.PluginError, match="'immune_competence', declared by plugin "
                       r"'immune', which is disabled \(\[plugins\] disable\)$"):
        _simulation(StateRead("immune_competence"), config=off, trylast=True)


def test_reads_are_declared_as_state_reads():
    bad = types.ModuleType("bad")
    bad.paget_state_reads = paget.hookimpl(lambda: ["diagnosis_time"])
    with pytest.raises(paget.PluginError, match="plugin 'bad': paget_state_reads must return "
                       "StateRead objects, got str"):
        paget.Simulation(SMALL, plugins=[("bad", bad)], entry_points=False)
    with pytest.raises(ValueError, match="hook must be one of"):
        StateRead("x", "paget_config_tables")


def test_a_plugin_reading_its_own_state_needs_no_provider_check():
    mod = types.ModuleType("own")
    mod.paget_state_variables = paget.hookimpl(lambda: [StateVariable("mine", "patient")])
    mod.paget_state_reads = paget.hookimpl(lambda: [StateRead("mine", "paget_growth")])
    paget.Simulation(SMALL, plugins=[("own", mod)], entry_points=False)


def test_every_other_plugins_variable_a_builtin_names_is_a_declared_read():
    """Each built-in plugin's source names (outside docstrings) only the state
    variables of other plugins that its paget_state_reads declares, for a plan
    that uses every readout."""
    owners = builtin_variable_owners()
    config = paget.Simulation(deep_merge(SMALL, {"surgery": {"enabled": True}, "treatment": {
        "lines": ["chemotherapy"], "switch_on": ["progression", "ctdna"]}}),
        entry_points=False).config
    for name, module in DEFAULT_PLUGINS:
        mod = importlib.import_module(module)
        tree = ast.parse(Path(mod.__file__).read_text())
        docs = {id(n.value) for n in ast.walk(tree)
                if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                 and isinstance(n.value, str) and id(n) not in docs
                 and owners.get(n.value) not in (None, name)}
        declare = getattr(mod, "paget_state_reads", None)
        if declare is None:
            assert named == set(), name
            continue
        reads = declare(**({"config": config} if "config" in
                           inspect.signature(declare).parameters else {}))
        assert named == {r.name for r in reads}, name
        assert all(owners.get(r.name) not in (None, name) for r in reads), name
