"""Wrap every compiled paget function (``paget.ext.*``) by a timer wherever paget holds it.

cProfile does not see Cython functions (they are not built with profiling
hooks), so their time would land in their Python callers' own time.  To
measure the time spent in compiled code, :func:`timed_compiled` replaces
each function defined in a ``paget.ext.*`` module (the kernels, and any
compiled plugin math or bookkeeping added there) by a timing wrapper, in
every loaded ``paget`` module whose namespace holds it (``kernels.step_rows``
as well as a ``from paget.ext.kernels import bounds_check``), and restores
them after.  A call from one compiled function to another stays inside the
compiled code and is not seen, which is the point: it is compiled time.
Functions held elsewhere (in a closure, a dict built at import) are missed;
:func:`timed_compiled` reports how many calls it saw per function, so a
compiled function with no calls is visible.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

__all__ = ["compiled_functions", "timed_compiled"]


def _is_compiled(obj) -> bool:
    return (callable(obj) and not isinstance(obj, type)
            and str(getattr(obj, "__module__", "") or "").startswith("paget.ext")
            and type(obj).__name__ in ("cython_function_or_method",
                                       "builtin_function_or_method", "fused_cython_function"))


def compiled_functions() -> dict[int, tuple[str, Callable]]:
    """id -> (name, function) of every compiled function of the loaded ``paget.ext.*``
    modules; the name is the module it is defined in and its own name."""
    import paget.ext.kernels  # noqa: F401  (loads every compiled module)
    import paget.ext.plugin_math  # noqa: F401  (the built-in plugins' math: not re-exported
    #                                            by kernels, and imported only with them)
    found: dict[int, tuple[str, Callable]] = {}
    for mname, mod in list(sys.modules.items()):
        if not (mname == "paget.ext" or mname.startswith("paget.ext.")) or mod is None:
            continue
        for obj in vars(mod).values():
            if _is_compiled(obj) and id(obj) not in found:
                found[id(obj)] = (f"{obj.__module__}.{obj.__name__}", obj)
    return found


@contextlib.contextmanager
def timed_compiled(wrap: Callable[[Callable, str], Callable]) -> Iterator[dict[str, int]]:
    """Within the block, each compiled function is ``wrap(function, name)`` in every
    loaded ``paget`` module holding it; yields {name: places replaced}."""
    functions = compiled_functions()
    wrappers = {i: wrap(fn, name) for i, (name, fn) in functions.items()}
    saved = []
    places: dict[str, int] = {name: 0 for name, _ in functions.values()}
    for mname, mod in list(sys.modules.items()):
        if mod is None or not (mname == "paget" or mname.startswith("paget.")):
            continue
        namespace = vars(mod)
        for attr, obj in list(namespace.items()):
            if id(obj) in functions and functions[id(obj)][1] is obj:
                saved.append((mod, attr, obj))
                setattr(mod, attr, wrappers[id(obj)])
                places[functions[id(obj)][0]] += 1
    try:
        yield places
    finally:
        for mod, attr, obj in saved:
            setattr(mod, attr, obj)
