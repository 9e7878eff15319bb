# cython: freethreading_compatible = False
"""The engine's hook calls compiled: the loop over a hook's implementations and the checks of their outputs.

``call_plan`` is ``paget.engine.hooks.direct_caller``'s loop, with the same
order, arguments, errors and results, and ``HookCaller`` the callable that
runs it for one hook; ``first_out_of_bounds`` checks all of an
implementation's outputs in one call (also used by ``paget.manager``'s
wrapper).  ``tests/test_step_hooks.py`` compares the engine's calls with
pluggy's, ``tests/test_engine_step.py`` the checks with the Python loop.
"""
cimport numpy as cnp

cnp.import_array()


cdef extern from "bounds.h" nogil:
    int paget_out_of_bounds_f64(const double *p, Py_ssize_t m, double lo, double hi)


cdef Py_ssize_t _first_bad(tuple args, tuple checks, object fallback) except -2:
    cdef Py_ssize_t k
    cdef tuple c
    cdef object a
    cdef cnp.ndarray arr
    cdef Py_ssize_t n
    cdef int t
    for k in range(len(checks)):
        c = <tuple>checks[k]
        a = args[<Py_ssize_t>c[0]]
        if c[2] is not None:
            a = getattr(a, c[2])
        if cnp.PyArray_Check(a):
            arr = <cnp.ndarray>a
            n = cnp.PyArray_SIZE(arr)
            t = cnp.PyArray_TYPE(arr)
            if n == 0 or t == cnp.NPY_BOOL:
                continue
            if (t == cnp.NPY_DOUBLE and cnp.PyArray_IS_C_CONTIGUOUS(arr) and
                    cnp.PyArray_ISALIGNED(arr) and cnp.PyArray_ISNOTSWAPPED(arr)):
                if paget_out_of_bounds_f64(<const double *>cnp.PyArray_DATA(arr), n,
                                           <double>c[3], <double>c[4]):
                    return k
                continue
        if fallback(a, c[3], c[4]):
            return k
    return -1


def first_out_of_bounds(tuple args, tuple checks, object fallback):
    """The index of the first of ``checks`` that an output in ``args`` fails, or -1.

    ``checks`` are ``(position, name, field or None, lo, hi)`` (those of
    ``paget.manager._wrap_errors``): output ``args[position]`` (its attribute
    ``field`` when not None) must hold no NaN, no infinity and nothing outside
    ``[lo, hi]``.  A C-contiguous float64 array is checked here
    (``bounds.h``, as ``paget.ext.kernels.bounds_check``); an empty or a boolean
    array passes; anything else is checked by ``fallback(a, lo, hi)``
    (``paget.state.out_of_bounds``).  One call per implementation of a hook
    where the engine made one call per output.
    """
    return _first_bad(args, checks, fallback)


def call_plan(tuple plan, dict kwargs, str name, object errors):
    """Call a hook's implementations as ``paget.engine.hooks.direct_caller``
    plans them, in order, and return their results that are not None (a list).

    ``plan`` holds ``(function, get, checks, plugin)`` per implementation:
    ``get(kwargs)`` gives its arguments (a tuple), ``checks`` its outputs'
    ranges (:func:`first_out_of_bounds`).  ``errors`` makes the errors as the
    Python loop made them: ``missing(KeyError)`` (a missing argument, as pluggy
    says it), ``passthrough`` (the exception types raised as they are),
    ``raised(plugin, hook, exc)`` (any other exception, chained),
    ``bad_output(plugin, hook, check, args)`` and ``out_of_bounds`` (the
    checks' fallback)."""
    cdef list results = []
    cdef tuple entry, args, checks
    cdef Py_ssize_t bad
    for entry in plan:
        fn, get, checks, plugin = entry
        try:
            args = get(kwargs)
        except KeyError as e:
            raise errors.missing(e) from e
        try:
            res = fn(*args)
        except errors.passthrough:
            raise
        except Exception as exc:
            raise errors.raised(plugin, name, exc) from exc
        if checks:
            bad = _first_bad(args, checks, errors.out_of_bounds)
            if bad >= 0:
                raise errors.bad_output(plugin, name, checks[bad], args)
        if res is not None:
            results.append(res)
    return results


cdef class HookCaller:
    """One hook's caller for ``paget.engine.hooks.direct_caller``: ``caller(**kwargs)``
    is ``call_plan(plan, kwargs, name, errors)``, a Python frame less than a
    closure around it (~0.25 us of a dozen hook calls a step).  ``call_plan`` is
    looked up in this module at each call, so a timer put in its place (the
    benchmark harness's) still sees it."""

    cdef readonly tuple plan
    cdef readonly str __name__
    cdef object errors

    def __init__(self, tuple plan, str name, object errors):
        self.plan = plan
        self.__name__ = name
        self.errors = errors

    def __call__(self, **kwargs):
        return call_plan(self.plan, kwargs, self.__name__, self.errors)
