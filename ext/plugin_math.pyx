# cython: freethreading_compatible = False
"""The built-in plugins' per-step math, compiled: one namespace for the plugins' hook bodies.

Issue 21 decided that each built-in plugin keeps its hooks, and that its hook
bodies call compiled functions for their per-row and per-patient math, one call
where the hook has no collective sum in between (around
``lesions.patient_sum`` and the keyed draws, which stay the engine's), with no
NumPy temporaries.  Third-party plugins keep writing NumPy; nothing here is
part of the plugin contract.

Every function gives the same float64 results, to the bit, as the NumPy
expressions it replaced: the same operations in the same order, NaN handled as
NumPy's ``maximum``/``minimum`` handle it, and the transcendental functions
(log, log10, log1p, expm1, exp, cbrt, power) computed by NumPy's own float64
inner loops, called directly on the same contiguous data
(``plugin_support.pxd``): NumPy's SIMD loops round some values otherwise than
the C library's ``log`` or ``exp``, so a libm call would change results.
``tests/test_plugin_math.py`` compares each function with the NumPy it
replaced, on random inputs, for equality.

Arrays are read through NumPy's C API (typed memoryviews cost more to acquire
than a step's pass over a few hundred rows); each must be a C-contiguous,
aligned, native-order array of the dtype named, else ``TypeError`` naming the
argument.  The functions live in modules of one job each:

============================  ======================================================
``plugin_support.pxd``        NumPy's inner loops, argument checks, NaN-aware
                              min/max, inline
``plugin_rates.pyx``          per-row rates: colonization's growth and dormancy,
                              genetics' traits and scalings, heterogeneity,
                              angiogenesis, the immune kill, shedding
``plugin_dissemination.pyx``  per (source row, organ): extravasation
                              probabilities and fates
``plugin_readouts.pyx``       per patient: outcome, supportive care,
                              microenvironment, imaging, liquid biopsy
============================  ======================================================

and :func:`once`, ``paget.plugins._memo.once`` compiled (hook bodies call it
about a dozen times a step).
"""
from paget.ext.plugin_dissemination import (
    fill_fates, fill_rows, genetics_extravasation, niche_extravasation, niche_fates,
)
from paget.ext.plugin_rates import (
    avascular_cap, avascular_rows, direct_shares, divide_where_not, dormancy_rates, genetics_growth,
    genetics_invasion, genetics_traits, growth_rates, heterogeneity_growth, hypoxia_invasion,
    immune_ctc_survival, immune_lesion_kill, multiply_at, per_organ_rows, scale_by_patient,
    share_vessels, shed_scale, shed_terms,
)
from paget.ext.plugin_readouts import (
    LIQUID_BIOPSY_CONSTANTS, add_where, any_nan_where, detectable_rows, diagnose,
    diagnose_serial, growing_cells,
    hypoxia_rows, imaging_scan_terms, imaging_write, inflammation_update, liquid_biopsy_update,
    microenvironment_serial,
    niche_update, numpy_loop, outcome_serial, outcome_update, scan_due, supportive_serial,
    supportive_update,
)

__all__ = [
    "MEMO_MAX_ENTRIES", "once",
    "fill_fates", "fill_rows", "genetics_extravasation", "niche_extravasation", "niche_fates",
    "avascular_cap", "avascular_rows", "direct_shares", "divide_where_not", "dormancy_rates", "genetics_growth",
    "genetics_invasion", "genetics_traits", "growth_rates", "heterogeneity_growth",
    "hypoxia_invasion", "immune_ctc_survival", "immune_lesion_kill", "multiply_at", "per_organ_rows",
    "scale_by_patient", "share_vessels", "shed_scale", "shed_terms",
    "LIQUID_BIOPSY_CONSTANTS", "add_where", "any_nan_where", "detectable_rows", "diagnose",
    "diagnose_serial",
    "growing_cells", "hypoxia_rows", "imaging_scan_terms", "imaging_write",
    "inflammation_update", "liquid_biopsy_update", "microenvironment_serial",
    "niche_update", "numpy_loop",
    "outcome_serial", "outcome_update", "scan_due", "supportive_serial",
    "supportive_update",
]


#: entries a cache of :func:`once` holds before it is emptied
#: (``paget.plugins._memo.MAX_ENTRIES``)
MEMO_MAX_ENTRIES = 64


def once(dict cache, tuple objects, make):
    """``make()`` for ``objects`` (tables, a body: compared by identity), made
    the first time and remembered in ``cache`` (a dict the caller keeps): see
    ``paget.plugins._memo``, which documents it."""
    cdef Py_ssize_t i, n = len(objects)
    cdef tuple seen
    cdef object got = cache.get(None)
    # most often the objects of the last call: that entry first (key None)
    if got is not None:
        seen = <tuple>(<tuple>got)[0]
        if len(seen) == n:
            for i in range(n):
                if seen[i] is not objects[i]:
                    break
            else:
                return (<tuple>got)[1]
    key = tuple([id(o) for o in objects])
    got = cache.get(key)
    if got is not None:
        seen = <tuple>(<tuple>got)[0]
        for i in range(n):
            if seen[i] is not objects[i]:
                got = None
                break
    if got is None:
        if len(cache) >= MEMO_MAX_ENTRIES:
            cache.clear()
        got = cache[key] = (objects, make())
    cache[None] = got
    return (<tuple>got)[1]
