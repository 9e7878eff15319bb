"""Loading, validating and calling plugins.

Order (as tox does it): hook specifications, the built-in plugins of
:data:`DEFAULT_PLUGINS`, third-party plugins of the entry-point group ``paget``,
then modules named in the config or on the command line; disabled plugins are
unregistered; ``check_pending`` then refuses any hook implementation whose name
matches no specification, so a misspelt hook fails at load, not on day 900.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys
import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Iterable

import numpy as np
import pluggy

from . import hookspecs
from .contract import hook_outputs
from .errors import ConfigError, PluginError
from .ext.engine_hooks import first_out_of_bounds
from .state import out_of_bounds

__all__ = ["DEFAULT_PLUGINS", "PluginInfo", "make_plugin_manager", "hookimpl", "describe",
           "builtin_table_owners", "builtin_variable_owners"]

hookimpl = pluggy.HookimplMarker("paget")

#: The built-in plugins: one per cascade stage, then the factors that modify
#: the stages.  Each is an ordinary plugin using only public hooks, so every
#: hook has a reference implementation; any of them can be switched off with
#: ``[plugins] disable``.
#:
#: Call order where several act (pluggy: ``tryfirst`` implementations, then
#: ordinary ones, then ``trylast`` ones; among ``tryfirst`` and ordinary ones
#: the plugin registered *later* is called first, among ``trylast`` ones the
#: plugin registered *earlier*; tests/test_plugins.py checks this list):
#:
#: * paget_update_state: genetics (tryfirst: its traits are read by the
#:   others), the readouts supportive, liquid_biopsy, imaging (independent of
#:   each other), heterogeneity (draws each patient's parameters once),
#:   angiogenesis, microenvironment (the switch reads the previous step's
#:   hypoxia; hypoxia reads this step's ``vascular``), treatment (trylast: its
#:   decisions read this step's readouts)
#: * paget_removal: treatment (surgery)
#: * paget_invasion: invasion (tryfirst), genetics, microenvironment (trylast)
#: * paget_intravasation: intravasation (tryfirst), heterogeneity, angiogenesis
#:   (multipliers: the order only rounds), transcoelomic (trylast: it splits
#:   the lymph share that intravasation set)
#: * paget_fate_matrix: circulation (tryfirst), wrapped by transcoelomic (which
#:   adds the serosal cavities' ``direct`` fates to its result)
#: * paget_growth: colonization (tryfirst), heterogeneity and genetics (both
#:   scale net growth: the order only rounds),
#:   angiogenesis (trylast: the cap), immune (trylast: the kill, on the capped
#:   rates), treatment (trylast: the agents' kill, added last)
#: * paget_circulation: treatment (immunotherapy), immune, genetics
#:   (multipliers: the order only rounds)
#: * paget_extravasation: extravasation (tryfirst), genetics, microenvironment
#:   (trylast)
#: * paget_dtc_fate: colonization (tryfirst), microenvironment
#:
#: Microenvironment's factors are >= 1 and clip at 1; applied last, the result
#: is the once-clipped product whatever genetics' factors are.
#:
#: Where a plugin reads another's state in paget_update_state, the order is
#: declared (``paget_state_reads``) and checked when the model is assembled
#: (:func:`paget.model.check_state_reads`).
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("invasion", "paget.plugins.invasion"),
    ("intravasation", "paget.plugins.intravasation"),
    ("circulation", "paget.plugins.circulation"),
    ("transcoelomic", "paget.plugins.transcoelomic"),
    ("extravasation", "paget.plugins.extravasation"),
    ("colonization", "paget.plugins.colonization"),
    ("genetics", "paget.plugins.genetics"),
    ("microenvironment", "paget.plugins.microenvironment"),
    ("angiogenesis", "paget.plugins.angiogenesis"),
    ("immune", "paget.plugins.immune"),
    ("heterogeneity", "paget.plugins.heterogeneity"),
    ("imaging", "paget.plugins.imaging"),
    ("liquid_biopsy", "paget.plugins.liquid_biopsy"),
    ("supportive", "paget.plugins.supportive"),
    ("treatment", "paget.plugins.treatment"),
    ("outcome", "paget.plugins.outcome"),
)

ENTRY_POINT_GROUP = "paget"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    origin: str      # "builtin", "entry point <dist>", "config"
    module: str
    hooks: tuple[str, ...]


#: What each per-step hook may write, with the allowed range: checked after
#: every implementation, so a NaN, an inf or an out-of-range value is reported
#: with the plugin that wrote it, before any kernel sees it.  Generated from
#: the declaration of each output, :data:`paget.contract.OUTPUTS`.
HOOK_OUTPUTS: dict[str, tuple[tuple[str, str | None, float, float], ...]] = hook_outputs()


def plugin_raised(plugin: str, hook_name: str, exc: Exception) -> PluginError:
    """The error that names ``plugin`` when its implementation of ``hook_name``
    raised ``exc`` (raise it ``from exc``)."""
    return PluginError(f"plugin {plugin!r} raised in hook {hook_name}: "
                       f"{type(exc).__name__}: {exc}", plugin, hook_name)


def bad_output(plugin: str, hook_name: str, name: str, a: np.ndarray, lo: float,
               hi: float) -> PluginError:
    """The error that names ``plugin`` when it set output ``name`` (the array
    ``a``) to values outside ``[lo, hi]`` or not finite."""
    bad = a[~((a >= lo) & (a <= hi) & np.isfinite(a))].ravel()[:3]
    return PluginError(f"plugin {plugin!r} set {name} in hook {hook_name} "
                       f"to values outside [{lo}, {hi}] or not finite, e.g. "
                       f"{bad.tolist()}", plugin, hook_name)


def _wrap_errors(impl: pluggy.HookImpl, hook_name: str) -> None:
    """Make an exception inside a hook, or a bad value it wrote, name its plugin.

    The wrapper keeps the plain function (``_paget_function``) and its checks
    (``_paget_checks``), so that :mod:`paget.engine.hooks` can call an
    implementation and check its outputs in one step, without this layer."""
    func = impl.function
    if getattr(func, "_paget_wrapped", False):
        return
    argnames = impl.argnames
    # (position, name, attribute or None, lo, hi) of each output this
    # implementation takes: pluggy passes every argument by position
    checks = tuple((argnames.index(arg), arg, field, lo, hi)
                   for arg, field, lo, hi in HOOK_OUTPUTS.get(hook_name, ()) if arg in argnames)

    @functools.wraps(func)
    def call(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except (PluginError, ConfigError):
            raise        # a ConfigError is bad input (exit 2), e.g. refused before step 0
        except Exception as exc:
            raise plugin_raised(impl.plugin_name, hook_name, exc) from exc
        todo = checks
        if checks and not kwargs:   # pluggy passes every argument by position: one compiled
            bad = first_out_of_bounds(args, checks, out_of_bounds)   # call finds the bad one
            todo = checks[bad:bad + 1] if bad >= 0 else ()
        for pos, arg, field, lo, hi in todo:
            obj = args[pos] if len(args) > pos else kwargs[arg]
            a = obj if field is None else getattr(obj, field)
            if out_of_bounds(a, lo, hi):
                raise bad_output(impl.plugin_name, hook_name,
                                 arg if field is None else f"{arg}.{field}", a, lo, hi)
        return result

    call._paget_wrapped = True  # type: ignore[attr-defined]
    call._paget_function = func  # type: ignore[attr-defined]
    call._paget_checks = checks  # type: ignore[attr-defined]
    # (functools.wraps copies these to a wrapper around this one, e.g. a
    # benchmark's timer: ``_paget_self is fn`` tells this wrapper itself)
    call._paget_self = call  # type: ignore[attr-defined]
    impl.function = call


def _import(module: str, origin: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise PluginError(f"plugin module {module!r} ({origin}) could not be imported: "
                          f"{type(exc).__name__}: {exc}", plugin=module) from None


@functools.lru_cache(maxsize=None)
def _builtin_owners(hook: str) -> dict[str, str]:
    """{name: built-in plugin} of what the built-in plugins declare with the
    set-up hook ``hook`` (table names, or the ``name`` of each declaration).
    Only the modules of :data:`DEFAULT_PLUGINS` are imported, never a name
    from a configuration."""
    owners: dict[str, str] = {}
    for plugin, module in DEFAULT_PLUGINS:
        try:
            declared = getattr(importlib.import_module(module), hook, lambda: None)()
        except Exception:   # pragma: no cover - a broken built-in fails elsewhere
            continue
        for item in declared or ():
            owners[getattr(item, "name", item)] = plugin
    return owners


def builtin_table_owners() -> dict[str, str]:
    """{configuration table: built-in plugin name} of the tables the built-in
    plugins declare (``paget_config_tables``), so that a table of a plugin that
    is switched off can be named as such rather than as an unknown key."""
    return _builtin_owners("paget_config_tables")


def builtin_variable_owners() -> dict[str, str]:
    """{state variable: built-in plugin name} of the variables the built-in
    plugins declare (``paget_state_variables``), so that the provider of a
    state read can be named when it is not loaded."""
    return _builtin_owners("paget_state_variables")


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, quicker to fill from modules: registering looks at every
    attribute of a plugin (a built-in module has ~40: its imports, helpers,
    constants), and pluggy's static lookup of each is most of a simulation's
    set-up.  An attribute of a module that cannot be an implementation (a
    module, a class, a constant, a function without ``@paget.hookimpl``'s
    mark) is passed over here, as pluggy would pass it over; anything else
    goes to pluggy."""

    def parse_hookimpl_opts(self, plugin, name):
        # pluggy takes a module's function, staticmethod, classmethod or bound
        # method, and the options of its mark; nothing else is a candidate
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name, _ABSENT)
            if isinstance(value, types.FunctionType):
                if f"{self.project_name}_impl" not in value.__dict__:
                    return None
            elif value is not _ABSENT and not isinstance(
                    value, (staticmethod, classmethod, types.MethodType)):
                return None
        return super().parse_hookimpl_opts(plugin, name)


_ABSENT = object()


#: the entry points of the group ``paget``, by what ``sys.path`` holds (its
#: folders and their modification times: an install or removal changes them)
_ENTRY_POINTS: dict[tuple, tuple] = {}


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _entry_points() -> tuple:
    """``entry_points(group="paget")``, read once while ``sys.path`` and its
    folders stay as they are (reading every installed package's metadata costs
    milliseconds, a calibration builds thousands of simulations)."""
    key = tuple((p, _mtime(p)) for p in sys.path)
    got = _ENTRY_POINTS.get(key)
    if got is None:
        _ENTRY_POINTS.clear()
        got = _ENTRY_POINTS[key] = tuple(entry_points(group=ENTRY_POINT_GROUP))
    return got


def make_plugin_manager(load: Iterable[str] = (), disable: Iterable[str] = (),
                        entry_points_too: bool = True,
                        extra: Iterable[tuple[str, Any]] = ()) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """Build and validate the plugin manager.

    Parameters
    ----------
    load : module names to import and register (``[plugins] load``, ``--plugin``).
    disable : plugin names to leave out (``[plugins] disable``).
    extra : (name, plugin object) pairs registered directly, for tests and
        programmatic use.

    Returns the manager and a description of each registered plugin.
    """
    pm = _PluginManager("paget")
    pm.add_hookspecs(hookspecs)
    disable = set(disable)
    origins: dict[str, tuple[str, str]] = {}
    candidates: list[tuple[str, Any, str]] = []
    for name, module in DEFAULT_PLUGINS:
        candidates.append((name, module, "builtin"))
    if entry_points_too:
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else "?"
            candidates.append((ep.name, ep, f"entry point ({dist})"))
    for module in load:
        candidates.append((module, module, "config"))
    for name, obj in extra:
        candidates.append((name, obj, "programmatic"))

    known = {c[0] for c in candidates}
    unknown = disable - known
    if unknown:
        raise PluginError(f"[plugins] disable names unknown plugins {sorted(unknown)}; "
                          f"known plugins: {', '.join(sorted(known))}")
    for name, obj, origin in candidates:
        if name in disable:
            continue
        if pm.has_plugin(name):
            raise PluginError(f"two plugins are named {name!r}", plugin=name)
        if isinstance(obj, str):
            plugin = _import(obj, origin)
            modname = obj
        elif hasattr(obj, "load") and hasattr(obj, "group"):  # an entry point
            try:
                plugin = obj.load()
            except Exception as exc:
                raise PluginError(f"plugin {name!r} ({origin}) could not be loaded: "
                                  f"{type(exc).__name__}: {exc}", plugin=name) from None
            modname = obj.value
        else:
            plugin, modname = obj, getattr(obj, "__name__", type(obj).__name__)
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} ({origin}) is invalid: {exc}", plugin=name) from None
        origins[name] = (origin, modname)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) if exc.plugin is not None else None
        raise PluginError(f"plugin {name!r} implements an unknown hook: {exc}",
                          plugin=name) from None
    for hook_name in dir(pm.hook):
        if not hook_name.startswith("paget_"):
            continue
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            _wrap_errors(impl, hook_name)
    return pm, describe(pm, origins)


def describe(pm: pluggy.PluginManager, origins: dict[str, tuple[str, str]]) -> list[PluginInfo]:
    infos = []
    for name, plugin in pm.list_name_plugin():
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        origin, module = origins.get(name, ("?", "?"))
        infos.append(PluginInfo(name, origin, module, hooks))
    return infos
