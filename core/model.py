"""Model assembly: the plugins, the configuration they validate, their state variables and output attributes.

The parts :class:`paget.Simulation` is built from, and the checks of what the
plugins return (tables, state variables, fate matrices, output attributes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pydantic import BaseModel

from .config import PluginsTable, build_config_model, validate_config
from .engine import RankRun
from .errors import PagetError, PluginError
from .manager import DEFAULT_PLUGINS, make_plugin_manager

if TYPE_CHECKING:  # pragma: no cover
    from .domains import Group
    from .simulation import Simulation


def load_plugins(data: dict[str, Any], plugins: Iterable[tuple[str, Any]], entry_points: bool):
    """The plugin manager, its plugins' info and the configuration model with
    their tables, for the configuration ``data``, from which the tables of
    disabled plugins are dropped (left unread)."""
    plugin_cfg = validate_config(_plugins_only_model(), {"plugins": data.get("plugins", {})})
    # naming a built-in module in [plugins] load is redundant, not an error:
    # it is loaded already (pluggy would refuse the second registration)
    builtin = {module for _, module in DEFAULT_PLUGINS}
    load = [m for m in plugin_cfg.plugins.load if m not in builtin]
    try:
        manager, info = make_plugin_manager(
            load=load, disable=plugin_cfg.plugins.disable,
            entry_points_too=entry_points, extra=plugins)
    except ValueError as exc:  # pluggy: one module registered under two names
        if isinstance(exc, PagetError):
            raise
        raise PluginError(f"plugins.load = {load!r}: a plugin module is registered twice "
                          f"(loaded already under another name, e.g. as an entry point): "
                          f"{str(exc).split(':', 1)[0]}") from None
    tables: dict[str, type[BaseModel]] = {}
    for impl in manager.hook.paget_config_tables.get_hookimpls():
        result = impl.function() or {}
        if not isinstance(result, Mapping):
            raise PluginError(f"plugin {impl.plugin_name!r}: paget_config_tables returned "
                              f"{type(result).__name__}, not a dict of tables",
                              plugin=impl.plugin_name, hook="paget_config_tables")
        for name, model in result.items():
            if name in tables:
                raise PluginError(f"plugins declare table [{name}] twice (second: "
                                  f"{impl.plugin_name!r})", plugin=impl.plugin_name)
            tables[name] = model
    config_model = build_config_model(tables)
    # the table of a disabled plugin is left unread, so a scenario keeps
    # working with one of its stages switched off
    for name in plugin_cfg.plugins.disable:
        if name not in config_model.model_fields:
            data.pop(name, None)
    return manager, info, config_model


def _plugins_only_model():
    """A model that validates only the [plugins] table (read before plugins load)."""
    return _PluginsOnly


class _PluginsOnly(BaseModel):
    model_config = {"extra": "ignore"}
    plugins: PluginsTable = PluginsTable()


def collect_variables(manager, owner: dict[str, str] | None = None) -> list:
    """The state variables the plugins declare (``paget_state_variables``);
    ``owner``, if given, receives {variable: plugin declaring it}."""
    from .state import COLUMNS, StateVariable
    variables = []
    owner = {} if owner is None else owner
    for impl in manager.hook.paget_state_variables.get_hookimpls():
        for v in impl.function() or ():
            if not isinstance(v, StateVariable):
                raise PluginError(f"plugin {impl.plugin_name!r}: paget_state_variables must "
                                  f"return StateVariable objects", plugin=impl.plugin_name)
            if v.name in owner or v.name in COLUMNS:
                raise PluginError(f"plugin {impl.plugin_name!r} declares state variable "
                                  f"{v.name!r}, already declared by "
                                  f"{owner.get(v.name, 'the engine')!r}", plugin=impl.plugin_name)
            owner[v.name] = impl.plugin_name
            variables.append(v)
    return variables


def _call_order(manager, hook: str) -> list[str]:
    """The plugins implementing ``hook``, in the order pluggy calls them: the
    reverse of ``get_hookimpls()`` (tryfirst ones, then ordinary ones, the
    plugin registered later first, then trylast ones, the one registered
    earlier first)."""
    return [impl.plugin_name for impl in reversed(getattr(manager.hook, hook).get_hookimpls())]


def check_state_reads(manager, config) -> None:
    """Refuse, before step 0, the plugins' state reads (``paget_state_reads``) that
    could not be served as declared.

    For each :class:`paget.state.StateRead` of plugin R, of a variable of plugin W:

    * a required variable that no loaded plugin declares: W not loaded;
    * R must implement the hook it reads in;
    * call order: W writes its variables in the hooks it implements, most in
      ``paget_update_state``, the first hook of a step
      (:data:`paget.contract.STEP_HOOKS` gives the order of the hooks).  What
      W writes in an earlier hook of the step R sees, what it writes in a
      later one it does not, whatever the order of the plugins.  Where W also
      implements the hook R reads in, W's implementation must be called
      before R's (R sees what W writes there) or, with
      ``previous_step=True``, after it (R sees the value from before).
      Pluggy's order (see :func:`_call_order`) is set by
      ``tryfirst``/``trylast`` and the order of registration
      (``paget.manager.DEFAULT_PLUGINS``, then entry points, then
      ``[plugins] load``, then programmatic plugins).

    Each refusal is a :class:`PluginError` naming R and W.
    """
    from .manager import builtin_variable_owners
    from .state import StateRead
    owner: dict[str, str] = {}
    collect_variables(manager, owner)
    disabled = set(config.plugins.disable)
    for impl in manager.hook.paget_state_reads.get_hookimpls():
        reader = impl.plugin_name
        reads = impl.function(**{a: config for a in impl.argnames}) or ()
        for read in reads:
            if not isinstance(read, StateRead):
                raise PluginError(f"plugin {reader!r}: paget_state_reads must return "
                                  f"StateRead objects, got {type(read).__name__}",
                                  plugin=reader, hook="paget_state_reads")
            writer = owner.get(read.name)
            if writer == reader:
                continue
            order = _call_order(manager, read.hook)
            if reader not in order:
                raise PluginError(f"plugin {reader!r} declares a read of {read.name!r} in "
                                  f"{read.hook}, which it does not implement",
                                  plugin=reader, hook="paget_state_reads")
            if writer is None:
                if not read.required:
                    continue
                builtin = builtin_variable_owners().get(read.name)
                which = ("which no loaded plugin declares" if builtin is None else
                         f"declared by plugin {builtin!r}, which is "
                         + ("disabled ([plugins] disable)" if builtin in disabled
                            else "not loaded"))
                raise PluginError(f"plugin {reader!r} needs state variable {read.name!r}, "
                                  f"{which}" + (f": {read.reason}" if read.reason else ""),
                                  plugin=reader, hook="paget_state_reads")
            if writer not in order:
                continue          # W does not act in this hook: the order does not matter
            if (order.index(writer) < order.index(reader)) == read.previous_step:
                want, seen = (("after", f"the value from before {writer!r} writes it there")
                              if read.previous_step else
                              ("before", f"the value {writer!r} writes there"))
                raise PluginError(
                    f"plugin {reader!r} reads {read.name!r} of plugin {writer!r} in "
                    f"{read.hook} expecting {writer!r}'s implementation to be called {want} "
                    f"its own ({seen}), but pluggy "
                    f"calls them in the order "
                    f"{', '.join(p for p in order if p in (reader, writer))} (mark {reader!r}'s "
                    f"{read.hook} {'tryfirst' if read.previous_step else 'trylast'}, "
                    f"or declare the read previous_step={not read.previous_step})",
                    plugin=reader, hook=read.hook)


def output_attrs(manager, config, variables) -> dict[str, dict[str, Any]]:
    """The attributes the plugins add to output variables (``paget_output_attrs``)."""
    from .output import VARIABLES, plugin_variables
    known = set(VARIABLES) | set(plugin_variables(variables))
    out: dict[str, dict[str, Any]] = {}
    owner: dict[tuple[str, str], str] = {}
    for impl in manager.hook.paget_output_attrs.get_hookimpls():
        result = impl.function(**{a: config for a in impl.argnames}) or {}
        plugin = impl.plugin_name
        if not isinstance(result, Mapping) or not all(
                isinstance(a, Mapping) for a in result.values()):
            raise PluginError(f"plugin {plugin!r}: paget_output_attrs returned "
                              f"{type(result).__name__}, not a dict of attribute dicts",
                              plugin=plugin, hook="paget_output_attrs")
        for name, attrs in result.items():
            if name not in known:
                raise PluginError(f"plugin {plugin!r}: paget_output_attrs names {name!r}, "
                                  f"not an output variable", plugin=plugin,
                                  hook="paget_output_attrs")
            for key, value in attrs.items():
                if key in ("units", "long_name") or (name, key) in owner:
                    by = owner.get((name, key), "its declaration")
                    raise PluginError(f"plugin {plugin!r}: paget_output_attrs sets {name}."
                                      f"{key}, already set by {by}", plugin=plugin,
                                      hook="paget_output_attrs")
                owner[(name, key)] = repr(plugin)
                out.setdefault(name, {})[key] = value
    return out


def make_run(sim: "Simulation", lo: int, hi: int, group: "Group | None") -> RankRun:
    """The engine's run of patients ``lo:hi`` of ``sim``'s model (on ``group``'s ranks)."""
    return RankRun(sim.config, sim.body, sim.plugin_manager.hook, lo, hi, sim.variables,
                   group=group)
