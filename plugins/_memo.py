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

from paget.ext import plugin_math

#: entries a cache holds before it is emptied
MAX_ENTRIES = plugin_math.MEMO_MAX_ENTRIES

#: ``once(cache, objects, make)``: ``make()`` for ``objects`` (a tuple of tables,
#: a body: compared by identity), made the first time and remembered in
#: ``cache`` (a dict the caller keeps).  Hook bodies call it every step, most
#: often for the objects of the last call: that entry first (under the key
#: None), then by the objects' ids.  Compiled (``plugin_math.once``): a
#: dozen calls a step, ~0.3 us each in Python
once = plugin_math.once
