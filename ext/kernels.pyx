# cython: freethreading_compatible = False
"""The public face of paget's compiled kernels: every public name of ``paget.ext``, re-exported.

The engine, plugins, tests and benchmarks import the kernels from here.

The kernels work on whole arrays of the lesion table at once, in ``nogil``
loops over their data (``step_rows`` and ``disseminate`` read it through
NumPy's C API, the cheaper to acquire per call; the others through typed
memoryviews), and draw their random variates by exact samplers
of their own (inversion; Hormann's transformed rejection) and NumPy's C gamma,
over the keyed Philox stream of ``keyed_stream.h``.  The Python wrappers check
shapes and allocate; the loops allocate nothing.  They live in modules of one
job each, laid out as ``numpy.random`` lays out its own:

=========================  =====================================================
``paget_kernels.pxd``      the shared typedefs (count_t, cells_t, uid_t, ...),
                           the purposes of draws and the row flags
``keyed_stream.pxd``       the keyed Philox stream (``keyed_stream.h``)
``special.pxd``            special functions of the samplers, inline
``samplers.pxd``           the exact samplers, inline and cimportable
``birth_death.pxd``        one row's exact birth-death step, inline
``sampler_constants.h``    the samplers' thresholds and tables
``step.pyx``               ``step_rows``
``dissemination.pyx``      ``disseminate``
``tables.pyx``             ``derive_uids``, ``lesion_groups``, ``match_pools``,
                           ``add_rows_at``
``numerics.pyx``           ``bounds_check`` (``bounds.h``), ``fold_terms``,
                           ``whole_and_nonnegative``, ``lpt_assign``
``draws.pyx``              ``keyed_uniform``, ``poisson_invert_many``,
                           ``poisson_quantile_small``
``_testing.pyx``           entry points for tests only
=========================  =====================================================

A Cython module of a new kernel cimports what it needs from the ``.pxd`` files
(``from samplers cimport draw_binomial``, with ``ext/`` on Cython's include
path); the samplers are ``inline``, so they compile into its loops.

Representation of cell counts
-----------------------------
The table's ``cells`` column is ``float64`` holding whole numbers in stochastic
mode.  Every integer up to 2**53 (about 9.0e15 cells, some 9,000 times the
lethal burden of ~1e12 cells, Coumans 2013) is exact in a double, so sums and
differences of counts are exact in any order; deterministic mode stores the
fractional solution of the growth law in the same column.  The engine refuses
capacities above ``MAX_EXACT_CELLS``.  Rejected: ``int64`` counts, which would
need a second column for deterministic mode and buy no exactness that matters.
"""
from paget_kernels cimport (
    PGT_FLAG_DORMANT, PGT_FLAG_PRIMARY, PGT_PURPOSE_DISSEMINATE, PGT_PURPOSE_MUTATION,
    PGT_PURPOSE_STEP, PGT_PURPOSE_TEST,
)

from paget.ext._testing import (
    bd_alpha_beta, below_exp_many, log_pmf_check, philox_block, stream_binomial,
    stream_negbin, stream_poisson, stream_raw,
)
from paget.ext.dissemination import disseminate
from paget.ext.draws import keyed_uniform, poisson_invert_many, poisson_quantile_small
from paget.ext.numerics import bounds_check, fold_terms, lpt_assign, whole_and_nonnegative
from paget.ext.step import step_rows
from paget.ext.tables import (
    UID_FOUNDER, UID_MUTANT, UID_POOL, UID_PRIMARY, UID_REACTIVATED, add_rows_at, derive_uids,
    lesion_groups, match_pools,
)

#: Row flags of the lesion table (bits of ``flags``).
FLAG_DORMANT = PGT_FLAG_DORMANT
FLAG_PRIMARY = PGT_FLAG_PRIMARY
#: Purposes: the third word of a stream's counter.
PURPOSE_STEP = PGT_PURPOSE_STEP
PURPOSE_DISSEMINATE = PGT_PURPOSE_DISSEMINATE
PURPOSE_MUTATION = PGT_PURPOSE_MUTATION
PURPOSE_TEST = PGT_PURPOSE_TEST

#: Largest cell count the float64 column holds exactly (2**53).
MAX_EXACT_CELLS = 9007199254740992.0

__all__ = [
    "FLAG_DORMANT", "FLAG_PRIMARY", "PURPOSE_STEP", "PURPOSE_DISSEMINATE", "PURPOSE_MUTATION",
    "PURPOSE_TEST", "MAX_EXACT_CELLS", "UID_PRIMARY", "UID_FOUNDER", "UID_POOL",
    "UID_REACTIVATED", "UID_MUTANT",
    "step_rows", "disseminate", "derive_uids", "lesion_groups", "match_pools", "add_rows_at",
    "bounds_check", "fold_terms", "whole_and_nonnegative", "lpt_assign", "keyed_uniform",
    "poisson_invert_many", "poisson_quantile_small",
    "philox_block", "stream_raw", "stream_binomial", "stream_poisson", "stream_negbin",
    "log_pmf_check", "bd_alpha_beta", "below_exp_many",
]
