"""Calling a step's hooks without pluggy's per-call machinery, with the same effect.

A step calls ten hooks and about thirty implementations; a small run takes
thousands of steps, so what pluggy and the error-naming wrapper of
:mod:`paget.manager` do per call (build the argument list of every
implementation, look up wrappers, call through two more frames) was a tenth of
a 5-patient run.  :class:`StepHooks` stands in for the manager's ``hook`` relay
in :class:`paget.engine.RankRun`: for a hook whose implementations are all plain
(no wrappers, no keyword-only arguments, not ``firstresult``) and a manager that
is not traced (``add_hookcall_monitoring``), it calls the implementations
itself, in pluggy's order, and checks each one's outputs as the wrapper does;
any other hook goes to pluggy.  The callers are built once per run, when first
used, so a plugin (un)registered later is seen by the next run, not this one.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import pluggy

from ..errors import ConfigError, PluginError
from ..ext.engine_hooks import HookCaller
from ..manager import bad_output, plugin_raised
from ..state import out_of_bounds

__all__ = ["StepHooks", "direct_caller"]

try:   # pluggy's own call loop: anything else means the manager is traced
    from pluggy._callers import _multicall as _PLUGGY_MULTICALL
except ImportError:  # pragma: no cover - a pluggy that moved it: always call through pluggy
    _PLUGGY_MULTICALL = None


def _no_arguments(kwargs) -> tuple:
    return ()


class _Errors:
    """The errors :func:`paget.ext.engine_hooks.call_plan` raises, made as
    pluggy and :func:`paget.manager._wrap_errors` make them."""

    passthrough = (PluginError, ConfigError)
    out_of_bounds = staticmethod(out_of_bounds)
    raised = staticmethod(plugin_raised)

    @staticmethod
    def missing(e: KeyError) -> pluggy.HookCallError:
        return pluggy.HookCallError(f"hook call must provide argument {e.args[0]!r}")

    @staticmethod
    def bad_output(plugin: str, name: str, check: tuple, args: tuple) -> PluginError:
        pos, arg, field, lo, hi = check
        a = args[pos] if field is None else getattr(args[pos], field)
        return bad_output(plugin, name, arg if field is None else f"{arg}.{field}", a, lo, hi)


_ERRORS = _Errors()


def _plain(caller: Any) -> bool:
    """True if pluggy would do nothing but call ``caller``'s implementations in
    order with their arguments (so :func:`direct_caller` may)."""
    try:
        manager = caller._hookexec.__self__
        if _PLUGGY_MULTICALL is None or manager._inner_hookexec is not _PLUGGY_MULTICALL:
            return False
        if caller.spec is None or caller.spec.opts.get("firstresult") or \
                caller.spec.opts.get("historic"):
            return False
        return all(not (impl.hookwrapper or impl.wrapper or impl.kwargnames)
                   for impl in caller.get_hookimpls())
    except AttributeError:     # not a pluggy HookCaller as this module knows it
        return False


def direct_caller(caller: pluggy.HookCaller) -> Callable[..., list]:
    """A callable (a compiled :class:`paget.ext.engine_hooks.HookCaller`) that
    does what ``caller(**kwargs)`` does for a plain hook (see :func:`_plain`):
    each implementation, last registered first (pluggy's order,
    ``tryfirst``/``trylast`` included), gets its arguments by position; an
    exception or an output out of its declared range raises the
    :class:`paget.PluginError` of :func:`paget.manager._wrap_errors`; the
    results that are not None are returned in a list."""
    name = caller.name
    plan = []
    for impl in reversed(caller.get_hookimpls()):
        fn = impl.function
        if getattr(fn, "_paget_self", None) is fn:    # paget.manager's wrapper: unwrap it
            plain, checks = fn._paget_function, fn._paget_checks
        else:   # anything else (a timer around that wrapper, or no wrapper): as it is
            plain, checks = fn, ()
        argnames = tuple(impl.argnames)
        if not argnames:
            get = _no_arguments
        elif len(argnames) == 1:
            one = argnames[0]
            get = (lambda kwargs, one=one: (kwargs[one],))
        else:
            get = operator.itemgetter(*argnames)    # a tuple, in argnames' order
        plan.append((plain, get, checks, impl.plugin_name))
    return HookCaller(tuple(plan), name, _ERRORS)     # the loop over the plan, compiled


class StepHooks:
    """The engine's view of a plugin manager's ``hook`` relay: ``hooks.paget_x(...)``
    as ``relay.paget_x(...)``, by :func:`direct_caller` where the hook is plain.

    Anything that is not a pluggy relay (a test's stand-in) is used as it is.
    """

    def __init__(self, relay: Any):
        self._relay = relay

    def __getattr__(self, name: str):
        caller = getattr(self._relay, name)
        fast = direct_caller(caller) if _plain(caller) else caller
        setattr(self, name, fast)   # built once: later lookups are plain attributes
        return fast
