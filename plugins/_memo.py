"""What a built-in plugin derives from frozen configuration tables and the body, made once.

A hook body runs every step; what it derives from its configuration tables (a
law's capacities per organ, the metastases' law, flattened catalogues) never
changes during a run, since the tables are frozen.  :func:`once` makes such a
value the first time and hands it back after.  It keys on the objects'
identities and keeps the objects themselves, so an id is never reused while
its entry lives; a cache holds at most :data:`MAX_ENTRIES` entries (a process
that builds many simulations, e.g. a calibration, starts it again when full).
"""
from __future__ import annotations

from typing import Any, Callable

#: entries a cache holds before it is emptied
MAX_ENTRIES = 64


def once(cache: dict, objects: tuple, make: Callable[[], Any]) -> Any:
    """``make()`` for ``objects`` (tables, a body: compared by identity), made
    the first time and remembered in ``cache`` (a dict the caller keeps)."""
    # (a loop, not any() over a generator: hook bodies call this every step)
    key = tuple(map(id, objects))
    got = cache.get(key)
    if got is not None:
        for a, b in zip(got[0], objects):
            if a is not b:
                break
        else:
            return got[1]
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    got = cache[key] = (objects, make())
    return got[1]
