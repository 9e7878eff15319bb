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
    # hook bodies call this every step, most often for the objects of the last
    # call: that entry first (under the key None), then by the objects' ids
    # (loops, not any() over a generator: ~0.3 us a call instead of ~0.5)
    got = cache.get(None)
    if got is not None and len(got[0]) == len(objects):
        for a, b in zip(got[0], objects):
            if a is not b:
                break
        else:
            return got[1]
    key = tuple(map(id, objects))
    got = cache.get(key)
    if got is not None:
        for a, b in zip(got[0], objects):
            if a is not b:
                got = None
                break
    if got is None:
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        got = cache[key] = (objects, make())
    cache[None] = got
    return got[1]
