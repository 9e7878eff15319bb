"""The engine's direct hook calls (paget.engine.hooks) and the lesion table's cached views."""
from __future__ import annotations

import inspect
import types
import warnings

import numpy as np
import pluggy
import pytest

import paget
import paget.hookspecs
from paget.contract import OUTPUTS
from paget.engine.hooks import StepHooks
from paget.ext import kernels
from paget.manager import DEFAULT_PLUGINS, make_plugin_manager
from paget.state import LesionTable, Rates

NONE = [n for n, _ in DEFAULT_PLUGINS]


def _manager(*plugins):
    pm, _ = make_plugin_manager(disable=NONE, entry_points_too=False, extra=plugins)
    return pm


def _ordered_plugins(log):
    """Three plugins of paget_invasion: tryfirst, plain and trylast, registered in
    an order that differs from the call order; each logs its call and returns its name."""
    def make(name, **opts):
        mod = types.ModuleType(name)

        @paget.hookimpl(**opts)
        def paget_invasion(rates, lesions):
            log.append((name, lesions))
            rates.invasive[:] = rates.invasive * 0.5 + 0.01 * len(log)
            return name
        mod.paget_invasion = paget_invasion
        return name, mod
    return [make("late", trylast=True), make("first", tryfirst=True), make("plain"),
            make("silent")]


def test_direct_calls_do_what_pluggy_does():
    """Same order (tryfirst, then the last registered first, trylast last), same
    arguments, same results, same outputs; and the direct path is taken."""
    runs = []
    for direct in (False, True):
        log = []
        pm = _manager(*_ordered_plugins(log))
        hooks = StepHooks(pm.hook) if direct else pm.hook
        if direct:
            assert hooks.paget_invasion is not pm.hook.paget_invasion
            assert hooks.paget_invasion is hooks.paget_invasion    # built once
        rates = Rates.neutral(3)
        got = hooks.paget_invasion(rates=rates, lesions="L", state=None, config=None, body=None,
                                   patients=None, t=0.0)
        runs.append((got, log, rates.invasive.tolist()))
    assert runs[0] == runs[1]
    assert [name for name, _ in runs[1][1]] == ["first", "silent", "plain", "late"]


def test_an_exception_names_plugin_and_hook_as_through_pluggy():
    mod = types.ModuleType("boom")

    @paget.hookimpl
    def paget_growth(rates):
        raise ZeroDivisionError("no rate")
    mod.paget_growth = paget_growth
    pm = _manager(("boom", mod))
    kwargs = dict(rates=Rates.neutral(2), lesions=None, state=None, config=None, body=None,
                  patients=None, t=0.0, dt=1.0)
    messages = []
    for hooks in (pm.hook, StepHooks(pm.hook)):
        with pytest.raises(paget.PluginError) as err:
            hooks.paget_growth(**kwargs)
        assert (err.value.plugin, err.value.hook) == ("boom", "paget_growth")
        assert isinstance(err.value.__cause__, ZeroDivisionError)
        messages.append(str(err.value))
    assert messages[0] == messages[1] == \
        "plugin 'boom' raised in hook paget_growth: ZeroDivisionError: no rate"


def _writer(out, value):
    """A plugin whose implementation of ``out.hook`` writes ``value`` into ``out``."""
    def impl(target):
        (getattr(target, out.name) if out.arg == "rates" else target)[...] = value
    ns = {"impl": impl}
    exec(f"def {out.hook}({out.arg}):\n    impl({out.arg})\n", ns)
    mod = types.ModuleType("bad")
    setattr(mod, out.hook, paget.hookimpl(ns[out.hook]))
    return mod


@pytest.mark.parametrize("out", [o for o in OUTPUTS if o.dtype != "bool"],
                         ids=lambda o: o.label)
def test_each_output_is_checked_as_through_pluggy(out):
    """A value outside an output's declared range (or NaN) is refused with the
    error the manager's wrapper gives; its edge passes."""
    shape = {"(n_rows,)": (3,), "(m, n_organs)": (2, 4), "(m, n_organs, 3)": (2, 4, 3)}
    for value, bad in ((out.lo, False), (np.nan, True), (out.lo - 0.5, True)):
        pm = _manager(("bad", _writer(out, value)))
        messages = []
        for hooks in (pm.hook, StepHooks(pm.hook)):
            arg = Rates.neutral(3) if out.arg == "rates" else np.zeros(shape[out.shape])
            kwargs = {a: None for a in inspect.signature(getattr(paget.hookspecs, out.hook))
                      .parameters}
            kwargs[out.arg] = arg
            try:
                getattr(hooks, out.hook)(**kwargs)
                messages.append(None)
            except paget.PluginError as exc:
                messages.append(str(exc))
        assert messages[0] == messages[1], messages
        assert (messages[0] is not None) == bad
        if bad:
            assert f"plugin 'bad' set {out.label} in hook {out.hook}" in messages[1]


def test_wrappers_firstresult_and_traced_managers_go_through_pluggy():
    sim = paget.Simulation.from_scenario("default", {"cohort": {"patients": 1, "years": 0.01}},
                                         entry_points=False)
    pm = sim.plugin_manager
    hooks = StepHooks(pm.hook)
    assert hooks.paget_fate_matrix is pm.hook.paget_fate_matrix   # transcoelomic wraps it
    assert hooks.paget_mutation is pm.hook.paget_mutation         # firstresult
    assert hooks.paget_growth is not pm.hook.paget_growth
    seen = []
    undo = pm.add_hookcall_monitoring(lambda name, impls, kw: seen.append(name),
                                      lambda *a: None)
    try:
        traced = StepHooks(pm.hook)
        assert traced.paget_growth is pm.hook.paget_growth
        sim.run()
    finally:
        undo()
    assert "paget_growth" in seen and "paget_update_state" in seen


def test_a_direct_caller_calls_call_plan_as_its_module_holds_it(monkeypatch):
    """``direct_caller`` gives a compiled ``HookCaller`` named after its hook, which
    calls ``call_plan`` through its module, so that a function put in its place
    (the benchmark harness's timers, :mod:`benchmarks.compiled`) is called."""
    from paget.ext import engine_hooks
    log = []
    hooks = StepHooks(_manager(*_ordered_plugins(log)).hook)
    caller = hooks.paget_invasion
    assert isinstance(caller, engine_hooks.HookCaller)
    assert caller.__name__ == "paget_invasion" and len(caller.plan) == 4
    seen = []
    call_plan = engine_hooks.call_plan

    def timed(plan, kwargs, name, errors):
        seen.append((name, sorted(kwargs)))
        return call_plan(plan, kwargs, name, errors)

    monkeypatch.setattr(engine_hooks, "call_plan", timed)
    got = caller(rates=Rates.neutral(2), lesions="L", state=None, config=None, body=None,
                 patients=None, t=0.0)
    assert got == ["first", "silent", "plain", "late"]
    assert seen == [("paget_invasion", ["body", "config", "lesions", "patients", "rates",
                                        "state", "t"])]


def test_a_stand_in_relay_is_used_as_it_is():
    relay = types.SimpleNamespace(paget_growth=lambda **kw: ["called"])
    assert StepHooks(relay).paget_growth(rates=None) == ["called"]


# ---------------------------------------------------- the lesion table's views

def _rows(table, uids, cells):
    k = len(uids)
    table.append(uid=np.asarray(uids, np.uint64), parent=np.zeros(k, np.uint64),
                 lesion=np.asarray(uids, np.uint64), clone=np.asarray(uids, np.uint64),
                 genotype=np.zeros(k, np.uint64), cells=np.asarray(cells, float),
                 patient=np.zeros(k, np.int64), birth_step=np.zeros(k, np.int32),
                 organ=np.zeros(k, np.int16), flags=np.zeros(k, np.uint8))


def test_table_views_follow_appends_growth_and_compaction():
    tab = LesionTable(capacity=16, extra={"x": ("float64", 2.5)})
    _rows(tab, [1, 2], [10, 20])
    assert tab.cells is tab.cells and tab.column("x") is tab.column("x")
    les = tab.view(1.0)
    assert les.cells is tab.view(1.0).cells            # shared while the rows stay
    tab.cells[0] = 11.0                                # in place: every view sees it
    assert les.cells.tolist() == [11.0, 20.0] and not les.cells.flags.writeable
    for name in ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ", "cells"):
        a = getattr(les, name)          # the table's columns, read-only, in one call
        assert a.dtype == tab.column(name).dtype and np.array_equal(a, tab.column(name))
        assert not a.flags.writeable and np.shares_memory(a, tab.column(name)), name
    assert les.row.tolist() == [0, 1] and les.row.dtype == np.int64
    assert not les.row.flags.writeable
    kept = tab.frozen_columns()
    _rows(tab, [40], [5])                               # an append: new views
    assert tab.frozen_columns() is not kept and tab.view(1.0).uid.tolist() == [1, 2, 40]
    assert les.uid.tolist() == [1, 2]                   # the old view keeps its rows
    tab.compact(tab.uid != 40)
    _rows(tab, list(range(3, 40)), np.arange(3, 40))   # grows the buffers
    assert tab.uid.size == 39 and tab.uid[-1] == 39 and tab.cells[0] == 11.0
    assert tab.column("x").size == 39 and (tab.column("x") == 2.5).all()
    assert tab.view(1.0).row.tolist() == list(range(39))
    tab.compact(tab.cells > 20)
    assert tab.cells.tolist() == list(range(21, 40)) == tab.uid.astype(float).tolist()
    assert tab.view(1.0).row.tolist() == list(range(19)) and tab.column("x").size == 19
    tab.compact(np.zeros(19, bool))
    assert tab.n == 0 and tab.cells.size == 0 and tab.view(1.0).uid.size == 0


def test_a_method_name_is_never_taken_for_a_column():
    tab = LesionTable(capacity=16)
    _rows(tab, [1], [1])
    assert callable(tab.append) and callable(tab.view) and tab.n == 1
    with pytest.raises(AttributeError):
        tab.no_such_column


def test_pluggy_is_the_version_the_fast_path_was_checked_against():
    """pluggy's call loop moved between versions: the direct path must still be
    found (otherwise every hook silently goes through pluggy, slower)."""
    from paget.engine import hooks
    assert hooks._PLUGGY_MULTICALL is not None
    pm = pluggy.PluginManager("paget")
    assert pm._inner_hookexec is hooks._PLUGGY_MULTICALL


# ------------------------------------------------------- per-step buffers

def test_reused_rate_buffers_start_each_step_neutral():
    """A step's rates are views of buffers kept between steps: each step finds
    them at their neutral values again, whatever the last step wrote, at any n."""
    from paget.contract import RATES
    buffers = {}
    for n in (3, 3, 50, 7, 0, 64):
        rates = Rates.neutral(n, buffers)
        for r in RATES:
            a = getattr(rates, r.name)
            assert a.shape == (n,) and a.dtype == np.dtype(r.dtype), r.name
            assert a.flags.c_contiguous and (a == r.neutral).all(), (n, r.name)
            a[...] = not r.neutral if r.dtype == "bool" else r.neutral + 0.5


def test_neutral_outputs_have_their_shape_and_value():
    from paget.contract import neutral
    fates = neutral("fates", (np.int64(2), 3))
    assert fates.shape == (2, 3, 3) and (fates == (0.0, 0.0, 1.0)).all()
    assert neutral("fates", np.int64(4)).shape == (4, 3)
    dying = neutral("dying", 5)
    assert dying.dtype == bool and not dying.any()
    p = neutral("probability", (2, 4))
    p[0, 0] = 0.5                       # a new array each call
    assert (neutral("probability", (2, 4)) == 1.0).all()
    # the fates of (sources, organs), filled from a kept block: a new array each
    # call, for any number of sources and organs, whatever a hook wrote before
    for m, n_org in ((5, 29), (0, 29), (7, 3), (5, 29), (1, 1)):
        f = neutral("fates", (m, n_org))
        assert f.shape == (m, n_org, 3) and f.flags.writeable and f.flags.c_contiguous
        assert np.array_equal(f, np.broadcast_to([0.0, 0.0, 1.0], (m, n_org, 3)))
        f[...] = 0.25


def test_a_missing_argument_is_pluggys_error():
    log = []
    pm = _manager(*_ordered_plugins(log))
    for hooks in (pm.hook, StepHooks(pm.hook)):
        with pytest.raises(pluggy.HookCallError, match="must provide argument 'lesions'"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")     # pluggy's warning of the missing arguments
            hooks.paget_invasion(rates=Rates.neutral(1))


def test_a_wrapper_around_the_managers_is_called_as_it_is():
    """A timer put around an implementation (as the benchmarks do) is called, not
    skipped for the plugin function it wraps; the checks still apply."""
    import functools
    calls = []
    mod = types.ModuleType("p")

    @paget.hookimpl
    def paget_growth(rates):
        rates.birth[:] = np.nan
    mod.paget_growth = paget_growth
    pm = _manager(("p", mod))
    impl = pm.hook.paget_growth.get_hookimpls()[0]
    inner = impl.function

    @functools.wraps(inner)
    def timer(*args):
        calls.append(1)
        return inner(*args)
    impl.function = timer
    with pytest.raises(paget.PluginError, match="plugin 'p' set rates.birth"):
        StepHooks(pm.hook).paget_growth(rates=Rates.neutral(2))
    assert calls == [1]


# --------------------------------------------------------- set-up of a manager

def test_the_quicker_manager_finds_what_pluggy_finds():
    """Every built-in module and a plugin object (a class instance, a module with
    a hook under another name) give the same implementations as pluggy's own."""
    from paget import hookspecs, manager

    class Obj:
        @paget.hookimpl(tryfirst=True)
        def paget_growth(self, rates):
            pass
    mod = types.ModuleType("renamed")
    mod.grow = paget.hookimpl(specname="paget_growth")(lambda rates: None)
    mod.np, mod.Rates, mod.helper, mod.N = np, Rates, lambda: None, 3
    mod.static = staticmethod(paget.hookimpl(specname="paget_invasion")(lambda rates: None))
    mod.marked_builtin = len        # a builtin is never an implementation
    found = []
    for cls in (pluggy.PluginManager, manager._PluginManager):
        pm = cls("paget")
        pm.add_hookspecs(hookspecs)
        for name, module in DEFAULT_PLUGINS:
            pm.register(__import__(module, fromlist=["x"]), name=name)
        pm.register(Obj(), name="obj")
        pm.register(mod, name="renamed")
        found.append(sorted((hook, i.plugin_name, i.tryfirst, i.trylast, i.wrapper)
                            for hook in dir(pm.hook) if hook.startswith("paget_")
                            for i in getattr(pm.hook, hook).get_hookimpls()))
    assert found[0] == found[1] and ("paget_growth", "renamed", False, False, False) in found[1]
    assert ("paget_invasion", "renamed", False, False, False) in found[1]


def test_entry_points_are_read_again_when_sys_path_changes(tmp_path, monkeypatch):
    from paget import manager

    def dist(folder, name):
        info = folder / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[paget]\n{name} = {name}_module\n")

    names = lambda: {ep.name for ep in manager._entry_points()}  # noqa: E731
    before = names()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    dist(a, "first_plugin")
    monkeypatch.syspath_prepend(str(a))
    assert names() == before | {"first_plugin"}
    assert manager._entry_points() is manager._entry_points()     # read once
    dist(a, "second_plugin")                  # installed into a folder already on the path
    assert names() == before | {"first_plugin", "second_plugin"}
    monkeypatch.syspath_prepend(str(b))
    dist(b, "third_plugin")
    assert names() == before | {"first_plugin", "second_plugin", "third_plugin"}


# ------------------------------------------- what a step takes from the last one

def _rank_run(patients=3):
    from paget.model import make_run
    sim = paget.Simulation.from_scenario("default", {"cohort": {"patients": patients,
                                                                "years": 0.1}, "seed": 4},
                                         entry_points=False)
    run = make_run(sim, 0, patients, None)
    run._record(0)
    return run


def test_a_step_starts_from_the_last_steps_view_only_while_its_rows_stay():
    run = _rank_run()
    for step in range(3):
        run._step(step)
    les = run._last_view[3]
    fresh = run._lesions()
    for name in ("uid", "cells", "organ", "patient", "dormant", "pidx", "lesion_cells",
                 "primary"):
        assert np.array_equal(getattr(les, name), getattr(fresh, name)), name
    assert run._view_of_last_step() is les
    assert run._view_of_last_step() is None                 # used once
    run._step(3)
    run._compact(np.arange(run.table.n) != 0)                # the rows change
    assert run._view_of_last_step() is None


@pytest.mark.parametrize("m", [1, 6])
def test_put_rows_is_the_assignment_it_replaces(m):
    """``put_rows`` against ``b[start:start + m] = v`` per buffer: arrays of the
    buffer's type copied, float and bool defaults written, and casts,
    broadcasts, lists, strided and byte-swapped values as NumPy assigns them;
    the rows around left alone; and its refusals."""
    from paget.ext.engine_rows import put_rows
    rng = np.random.default_rng(m)
    dtypes = (np.uint64, np.float64, np.int64, np.int32, np.int16, np.uint8, bool, np.float64,
              bool, np.int64, np.float64, np.float64, np.float64, np.float64)
    values = (rng.integers(0, 9, m).astype(np.uint64), rng.normal(size=m),
              rng.integers(-9, 9, m), rng.integers(-9, 9, m).astype(np.int32),
              rng.integers(-9, 9, m).astype(np.int16), rng.integers(0, 9, m).astype(np.uint8),
              rng.random(m) < 0.5, 2.5, True, 3, rng.normal(size=m).astype(np.float32),
              np.repeat(rng.normal(size=m), 2)[::2], rng.normal(size=m).astype(">f8"),
              list(rng.normal(size=m)))
    got = tuple(np.zeros(m + 5, dt) for dt in dtypes)
    want = tuple(g.copy() for g in got)
    for w, v in zip(want, values):
        w[2:2 + m] = v
    put_rows(got, 2, m, values)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)
    with pytest.raises(ValueError, match="values for"):
        put_rows(got, 2, m, values[:-1])
    with pytest.raises(ValueError, match="rows"):
        put_rows(got[:1], 6, m, values[:1])
    with pytest.raises(TypeError, match="C-contiguous"):
        put_rows((got[0][::2],), 0, 1, values[:1])


@pytest.mark.parametrize("n", [0, 1, 9])
def test_readonly_heads_are_the_read_only_slices_they_replace(n):
    """``readonly_heads`` against ``b[:n]`` made read-only, for the table's
    dtypes: equal, read-only, on the buffer's memory (they see its changes),
    then ``arange(n)``; and its refusals."""
    from paget.ext.engine_rows import readonly_heads
    rng = np.random.default_rng(5 + n)
    buffers = tuple(rng.integers(0, 99, n + 4).astype(dt) for dt in
                    (np.uint64, np.int64, np.int32, np.int16, np.uint8, np.float64))
    got = readonly_heads(buffers, n)
    assert len(got) == len(buffers) + 1
    for g, b in zip(got, buffers):
        assert g.dtype == b.dtype and np.array_equal(g, b[:n]) and not g.flags.writeable
        assert g.shape == (n,) and g.flags.c_contiguous and g.flags.aligned
        if n:
            b[0] = 7
            assert g[0] == 7 and g.base is b
    assert got[-1].dtype == np.int64 and got[-1].tolist() == list(range(n))
    assert not got[-1].flags.writeable
    with pytest.raises(ValueError, match="values of a buffer"):
        readonly_heads(buffers, n + 5)
    with pytest.raises(TypeError, match="C-contiguous"):
        readonly_heads((buffers[0][::2],), 1)
    with pytest.raises(TypeError, match="C-contiguous"):
        readonly_heads(([1, 2],), 1)


@pytest.mark.parametrize("n", [0, 1, 9])
def test_view_masks_are_the_numpy_they_replace(n):
    """``view_masks`` (a view's dormant, primary and pidx) against the NumPy
    expressions, read-only, also for patients of another integer dtype or
    strided columns (copied), and a view's own attributes are them."""
    from paget.ext.engine_rows import view_masks
    rng = np.random.default_rng(11 + n)
    flags = rng.integers(0, 8, n).astype(np.uint8)
    patient = rng.integers(3, 9, n).astype(np.int64)
    for f, p in ((flags, patient), (flags, patient.astype(np.int32)),
                 (np.repeat(flags, 2)[::2], np.repeat(patient, 2)[::2])):
        got = view_masks(f, p, 3)
        want = ((flags & kernels.FLAG_DORMANT) != 0, (flags & kernels.FLAG_PRIMARY) != 0,
                patient - 3)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and np.array_equal(g, w) and not g.flags.writeable
    tab = LesionTable(capacity=16)
    _rows(tab, np.arange(1, n + 1), np.ones(n))
    tab.flags[:] = flags
    tab.patient[:] = patient
    les = tab.view(1.0, lo=3)
    assert np.array_equal(les.dormant, want[0]) and np.array_equal(les.primary, want[1])
    assert np.array_equal(les.pidx, want[2]) and not les.pidx.flags.writeable


def test_the_step_scratch_is_kept_while_the_rows_stay_and_grown_for_more():
    """``RankRun._scratch``: eight distinct C-contiguous arrays of ``n`` values
    (five float64, three int64), the same ones for the same ``n``, new ones
    holding ``n`` values for another; a run over them is the same as one whose
    scratch is made anew each step."""
    run = _rank_run()
    first = run._scratch(5)
    assert [a.dtype for a in first] == [np.float64] * 5 + [np.int64] * 3
    assert all(a.shape == (5,) and a.flags.c_contiguous and a.flags.writeable for a in first)
    assert len({a.__array_interface__["data"][0] for a in first}) == 8
    assert all(a is b for a, b in zip(run._scratch(5), first))
    more = run._scratch(300)             # beyond the buffers: grown
    assert all(a.shape == (300,) for a in more) and run._scratch(2)[0].shape == (2,)
    runs = [_rank_run(), _rank_run()]
    runs[1]._scratch = lambda n: tuple(np.full(n, -7.0) for _ in range(5)) + \
        tuple(np.full(n, -7, np.int64) for _ in range(3))
    for step in range(20):
        for r in runs:
            r._step(step)
    assert np.array_equal(runs[0].table.cells, runs[1].table.cells)
    assert all(np.array_equal(runs[0].acc[k], runs[1].acc[k]) for k in runs[0].acc)


def test_a_renewed_view_is_a_fresh_one_after_cells_change_in_place():
    run = _rank_run()
    for step in range(3):
        run._step(step)
    tab = run.table
    les = run._lesions()
    names = ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ", "row",
             "dormant", "primary", "pidx", "birth_time", "lesion_index", "single_clone")
    for name in names + ("lesion_cells",):
        getattr(les, name)                                   # made and cached
    before = les.lesion_cells.copy()
    tab.cells[:] = tab.cells * 2.0 + 1.0                     # as a step's draws do, in place
    new, fresh = les.renewed(), run._lesions()
    assert new is not les and len(new) == len(fresh)
    for name in names + ("cells", "lesion_cells"):
        assert np.array_equal(getattr(new, name), getattr(fresh, name)), name
    assert not np.array_equal(new.lesion_cells, before)      # made again, from the new cells
    assert np.array_equal(les.lesion_cells, before)          # the old view keeps its own
    assert not new.lesion_cells.flags.writeable and not new.dormant.flags.writeable
    assert np.array_equal(new.lesion_sum(new.cells), fresh.lesion_sum(fresh.cells))


def test_a_steps_end_renews_the_steps_view_only_while_its_rows_stay():
    run = _rank_run()
    run._step(0)
    made = []
    real = type(run)._lesions

    def counted(self, rows=None):
        made.append(rows is None)
        return real(self, rows)
    run._lesions = types.MethodType(counted, run)
    version = run.table.version
    run._step(1)                         # (this step adds and drops no row)
    assert run.table.version == version
    assert True not in made              # the step's view renewed: no view of all rows made
    run._step_view = None                # (as after a step that changed the rows)
    made.clear()
    run._after_step(2)
    assert made == [True]                # a fresh view of the live rows


def test_a_view_of_some_rows_renews_with_their_cells_now():
    run = _rank_run()
    for step in range(3):
        run._step(step)
    tab, rows = run.table, np.array([0, 2, 4], np.int64)
    some = run._lesions(rows)
    some.lesion_cells, some.dormant, some.pidx            # (made and cached)
    tab.cells[:] = tab.cells + 3.0
    new, fresh = some.renewed(tab.cells[rows]), run._lesions(rows)
    for name in ("uid", "lesion", "patient", "organ", "row", "cells", "dormant", "pidx",
                 "primary", "lesion_cells"):
        assert np.array_equal(getattr(new, name), getattr(fresh, name)), name
    assert not new.cells.flags.writeable
    with pytest.raises(ValueError, match="cells must be float64 of shape"):
        some.renewed(tab.cells[:2])


def test_the_shedding_rows_view_is_renewed_only_while_the_same_rows_shed():
    run = _rank_run()
    run._step(0)
    tab, src = run.table, np.array([0, 1], np.int64)
    first = run._sources(src)
    tab.cells[:] = tab.cells + 1.0
    again = run._sources(src.copy())
    assert again is not first and again.uid is first.uid     # renewed: the same columns
    assert np.array_equal(again.cells, tab.cells[src])       # the cells now
    other = run._sources(np.array([0, 2], np.int64))         # other rows: a new view
    assert other.uid is not again.uid and np.array_equal(other.uid, tab.uid[[0, 2]])
    assert run._sources(np.array([0, 2], np.int32)).uid is not other.uid   # another dtype
    run._sources(src)
    run._compact(np.arange(tab.n) != 3)                      # the rows change
    fresh = run._sources(src)
    assert np.array_equal(fresh.uid, tab.uid[src]) and np.array_equal(fresh.cells,
                                                                      tab.cells[src])


def test_a_step_starts_from_the_last_steps_patients_only_while_they_stay():
    run = _rank_run()
    run._step(0)
    patients = run._last_patients[0]
    fresh = run._patients()
    for name in ("index", "alive", "burden", "ctc_shed", "cell_death"):
        assert np.array_equal(getattr(patients, name), getattr(fresh, name)), name
    assert run._patients_of_last_step() is patients
    run._step(1)
    run.burden = run.burden.copy()       # as a loaded state would: not the same arrays
    assert run._patients_of_last_step() is None


def test_no_reuse_changes_no_result():
    """The same dataset with the view and the patients made afresh every step."""
    from paget.engine import loop
    cfg = {"cohort": {"patients": 4, "years": 0.5}, "seed": 9}
    reused = paget.Simulation.from_scenario("default", cfg, entry_points=False).run()
    saved = loop.RankRun._view_of_last_step, loop.RankRun._patients_of_last_step
    try:
        loop.RankRun._view_of_last_step = lambda self: None
        loop.RankRun._patients_of_last_step = lambda self: None
        # and the end of each step never renews the step's view, nor a step
        # the last one's view of the shedding rows
        loop.RankRun._step_view = property(lambda self: None, lambda self, value: None)
        loop.RankRun._last_sources = property(lambda self: None, lambda self, value: None)
        fresh = paget.Simulation.from_scenario("default", cfg, entry_points=False).run()
    finally:
        loop.RankRun._view_of_last_step, loop.RankRun._patients_of_last_step = saved
        del loop.RankRun._step_view, loop.RankRun._last_sources
    import xarray as xr
    xr.testing.assert_equal(fresh, reused)      # values, NaN where NaN
    assert fresh.sizes["lesion"] > 4            # (the patients did seed)


# ------------------------------------------------------------ draws for hooks

def test_patient_uniforms_follow_the_patients_they_are_drawn_for():
    from paget.random import Draws
    from paget.state import Patients

    def patients(index):
        n = len(index)
        return Patients(index=index, alive=np.ones(n, bool), burden=np.zeros(n))

    frozen = lambda a: np.frombuffer(np.asarray(a, np.int64).tobytes(), np.int64)  # noqa: E731
    draws = Draws(11, 3)
    want = {lo: draws.uniform_patients(patients(np.arange(lo, lo + 4)), "p") for lo in (0, 4)}
    for lo in (0, 4, 0, 4):      # the engine's immutable index arrays, in turn
        assert np.array_equal(draws.uniform_patients(patients(frozen(np.arange(lo, lo + 4))),
                                                     "p"), want[lo])
    index = np.arange(0, 4)      # a writable one, changed in place: never taken as known
    assert np.array_equal(draws.uniform_patients(patients(index), "p"), want[0])
    index += 4
    assert np.array_equal(draws.uniform_patients(patients(index), "p"), want[4])


def test_poisson_quantile_is_the_same_with_and_without_its_fast_path():
    from paget.random import poisson_quantile
    rng = np.random.default_rng(5)
    u, lam = rng.random(200), rng.random(200) * 30.0 + 1e-9
    fast = poisson_quantile(u, lam)                      # every mean in (0, 30]
    mixed = poisson_quantile(np.r_[u, 0.5, 0.5], np.r_[lam, 0.0, 45.0])   # the general path
    assert fast.dtype == np.int64 and np.array_equal(fast, mixed[:200])
    assert mixed[200] == 0
    assert poisson_quantile(u.reshape(20, 10), lam.reshape(20, 10)).shape == (20, 10)
    assert np.array_equal(poisson_quantile(u.reshape(20, 10), lam.reshape(20, 10)).ravel(), fast)
    assert np.array_equal(poisson_quantile(u[::2], lam[::2]), fast[::2])   # strided views
    scalar = poisson_quantile(np.float64(0.3), 2.0)
    assert scalar.shape == () and int(scalar) == int(poisson_quantile(np.r_[0.3, 0.3],
                                                                      np.r_[2.0, 0.0])[0])


def test_poisson_quantile_small_is_the_numpy_inversion_or_declines():
    """The compiled usual case gives the counts of the NumPy path it replaces
    (``np.exp(-lam)`` then the walk, 0 where the mean is 0), including the
    means whose exp NumPy's SIMD loop rounds otherwise than libm; anything
    but 1-D contiguous float64 means in [0, 30] of u's size gives None."""
    small = kernels.poisson_quantile_small
    rng = np.random.default_rng(11)
    u = rng.random(5000)
    lam = rng.uniform(0.0, 30.0, u.size)
    lam[:40] = 0.0
    lam[40:45] = 30.0
    lam[45:50] = rng.random(5) * 1e-12
    u[50:55] = 0.0
    want = kernels.poisson_invert_many(u, lam, np.exp(-lam))
    want[lam == 0.0] = 0
    got = small(u, lam)
    assert got.dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(small(u[:5], lam[:5]), want[:5])        # a patient-sized call
    assert small(u[:0], lam[:0]).shape == (0,)
    for bad in (np.nan, -1e-300, 30.000001, np.inf):
        m = lam.copy()
        m[7] = bad
        assert small(u, m) is None
    assert small(u[::2], lam[::2]) is None                      # not contiguous
    assert small(u.reshape(50, 100), lam.reshape(50, 100)) is None
    assert small(u[:10], lam[:11]) is None
    assert small(u.astype(np.float32), lam) is None
    assert small([0.5], lam[:1]) is None


def test_sums_by_organ_follow_the_rows_and_their_organs_in_every_view():
    """patient_sum(by_organ=True) keeps each row's (patient, organ) index per
    view: the same sums as an explicit per-(patient, organ) addition, again and
    again, over chosen rows, and in a renewed view or a view of other rows."""
    rng = np.random.default_rng(3)
    n, lo, n_pat, n_org = 40, 7, 5, 4
    tab = LesionTable(capacity=16)
    uid = np.arange(1, n + 1, dtype=np.uint64)
    tab.append(uid=uid, parent=np.zeros(n, np.uint64), lesion=uid, clone=uid,
               genotype=np.zeros(n, np.uint64), cells=rng.integers(1, 100, n).astype(float),
               patient=rng.integers(lo, lo + n_pat, n), birth_step=np.zeros(n, np.int32),
               organ=rng.integers(0, n_org, n).astype(np.int16), flags=np.zeros(n, np.uint8))

    def want(les, values, rows=None):
        rows = np.arange(len(les)) if rows is None else rows
        out = np.zeros((n_pat, n_org))
        np.add.at(out, (les.pidx[rows], les.organ[rows]), values)
        return out

    les = tab.view(1.0, lo, n_patients=n_pat, n_organs=n_org)
    values = rng.random(n)
    for _ in range(2):                              # made, then taken from the view
        assert np.allclose(les.patient_sum(values, by_organ=True), want(les, values))
    rows = np.array([0, 3, 3, 17, 39])
    assert np.allclose(les.patient_sum(values[rows], rows=rows, by_organ=True),
                       want(les, values[rows], rows))
    tab.cells[:] += 1.0
    assert np.array_equal(les.renewed().patient_sum(tab.cells, by_organ=True),
                          want(les, tab.cells))     # exact: whole numbers
    some = tab.view(1.0, lo, np.arange(5, 25), n_patients=n_pat, n_organs=n_org)
    assert np.array_equal(some.patient_sum(some.cells, by_organ=True), want(some, some.cells))


def test_a_renewed_view_copies_every_slot_but_the_cache():
    les = _rank_run()._lesions()
    les.birth_time                                           # (cached)
    new = les.renewed()
    from paget.state import Lesions
    for name in Lesions.__slots__:
        if name != "_cache":
            assert getattr(new, name) is getattr(les, name), name
    assert new._cache is not les._cache and new.birth_time is les.birth_time


def test_poisson_quantile_gives_zero_for_a_zero_mean_among_others():
    """Means of 0 (and -0.0) among means in (0, 30] take the unindexed path and
    still give 0, whatever the uniform (up to the largest float below 1); each
    other count is the one its mean gives alone."""
    from paget.random import poisson_quantile
    rng = np.random.default_rng(8)
    u = rng.random(300)
    u[:3] = [0.0, np.nextafter(1.0, 0.0), 0.5]
    lam = rng.random(300) * 30.0
    lam[:3] = [0.0, 0.0, -0.0]
    lam[3:60:4] = 0.0
    lam[5], lam[6] = 30.0, 1e-300
    got = poisson_quantile(u, lam)
    alone = np.array([poisson_quantile(u[i:i + 1], lam[i:i + 1])[0] if lam[i] > 0 else 0
                      for i in range(u.size)])
    assert got.dtype == np.int64 and np.array_equal(got, alone)
    assert not got[lam == 0].any()
    mixed = poisson_quantile(np.r_[u, 0.5], np.r_[lam, 45.0])      # the general path
    assert np.array_equal(mixed[:-1], got)
    # a uniform of 1 (outside [0, 1)) with a mean of 0: still 0, as before (the
    # walk alone would run to its stop at 200)
    assert np.array_equal(poisson_quantile(np.r_[1.0, 0.5], np.r_[0.0, 2.0]),
                          poisson_quantile(np.r_[1.0, 0.5, 0.5], np.r_[0.0, 2.0, 45.0])[:2])
    assert poisson_quantile(np.r_[1.0, 0.5], np.r_[0.0, 2.0])[0] == 0
    for lam in (np.zeros(4), np.r_[0.0, -0.0, 0.0, 0.0]):     # every mean 0: no walk at all
        got = poisson_quantile(np.r_[0.2, 0.9, 1.0, 0.0], lam)
        assert got.dtype == np.int64 and got.shape == (4,) and not got.any()
    assert poisson_quantile(np.float64(0.7), 0.0).shape == ()
    nan = poisson_quantile(np.r_[0.5, 0.5, 0.5], np.r_[np.nan, 0.0, -1.0])   # as before: 0
    assert np.array_equal(nan, [0, 0, 0])


def test_lesion_cells_add_the_growing_rows_of_each_lesion():
    """lesion_cells (summed in place) against lesion_sum and an explicit sum per
    lesion, with lesions of several clones and dormant pools among them."""
    from paget.ext.kernels import FLAG_DORMANT
    rng = np.random.default_rng(12)
    n = 60
    tab = LesionTable(capacity=16)
    uid = np.arange(1, n + 1, dtype=np.uint64)
    # about 40 % of the rows are clones in one of the first ten rows' lesions
    lesion = np.where(rng.random(n) < 0.4, uid[rng.integers(0, 10, n)], uid)
    flags = np.where(rng.random(n) < 0.3, FLAG_DORMANT, 0).astype(np.uint8)
    cells = rng.integers(0, 1000, n).astype(float)
    tab.append(uid=uid, parent=np.zeros(n, np.uint64), lesion=lesion, clone=uid,
               genotype=np.zeros(n, np.uint64), cells=cells, patient=np.zeros(n, np.int64),
               birth_step=np.zeros(n, np.int32), organ=np.zeros(n, np.int16), flags=flags)
    les = tab.view(1.0, n_patients=1, n_organs=1)
    growing = np.where(flags & FLAG_DORMANT, 0.0, cells)
    want = np.array([growing[lesion == lesion[i]].sum() for i in range(n)])
    assert not les.single_clone
    assert np.array_equal(les.lesion_cells, want)
    assert np.array_equal(les.lesion_cells, les.lesion_sum(growing))
    assert not les.lesion_cells.flags.writeable


def test_poisson_quantile_fast_paths_agree_with_its_general_path():
    """Any mix of means (0, -0.0, tiny, up to 30, NaN, negative) and shapes gives
    the counts of the general path (forced by one mean above 30 appended)."""
    from paget.random import poisson_quantile
    rng = np.random.default_rng(21)
    means = np.array([0.0, -0.0, 1e-300, 0.5, 3.0, 29.9, 30.0, np.nan, -1.0])
    for _ in range(300):
        n = int(rng.integers(1, 9))
        u, lam = rng.random(n), rng.choice(means, n)
        general = poisson_quantile(np.r_[u, 0.5], np.r_[lam, 45.0])[:-1]
        assert np.array_equal(poisson_quantile(u, lam), general), (u, lam)
        assert np.array_equal(poisson_quantile(u.reshape(1, n), lam.reshape(1, n)).ravel(),
                              general)
        assert np.array_equal(poisson_quantile(np.repeat(u, 2)[::2], np.repeat(lam, 2)[::2]),
                              general)                      # strided inputs
