"""The kernels' modules: ``paget.ext.kernels`` keeps every public name, the
samplers' constant tables hold what they say, and a new Cython module can
cimport the samplers from the installed ``.pxd`` files and draw exactly as the
kernels do.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import mpmath
import numpy as np
import pytest

import paget.ext
from paget.ext import _testing, dissemination, draws, kernels, numerics, step, tables

#: The names ``paget.ext.kernels`` had when it was one module, and where each lives now.
PUBLIC = {
    step: ["step_rows"],
    dissemination: ["disseminate"],
    tables: ["derive_uids", "lesion_groups", "match_pools", "add_rows_at", "UID_PRIMARY",
             "UID_FOUNDER", "UID_POOL", "UID_REACTIVATED", "UID_MUTANT"],
    numerics: ["bounds_check", "fold_terms", "whole_and_nonnegative", "lpt_assign"],
    draws: ["keyed_uniform", "poisson_invert_many", "poisson_quantile_small"],
    _testing: ["philox_block", "stream_raw", "stream_binomial", "stream_poisson",
               "stream_negbin", "log_pmf_check", "bd_alpha_beta", "below_exp_many"],
}
CONSTANTS = {"FLAG_DORMANT": 1, "FLAG_PRIMARY": 2, "PURPOSE_STEP": 1, "PURPOSE_DISSEMINATE": 2,
             "PURPOSE_MUTATION": 3, "PURPOSE_TEST": 99, "MAX_EXACT_CELLS": 2.0**53}


def test_kernels_re_exports_every_public_name_from_its_module():
    for module, names in PUBLIC.items():
        for name in names:
            assert getattr(kernels, name) is getattr(module, name), (module.__name__, name)
    for name, value in CONSTANTS.items():
        assert getattr(kernels, name) == value, name
    every = {n for names in PUBLIC.values() for n in names} | set(CONSTANTS)
    assert set(kernels.__all__) == every


def test_the_reciprocal_table_is_exact():
    recip, _ = _testing.sampler_tables()
    assert recip.size == 256 and recip[0] == 0.0
    np.testing.assert_array_equal(recip[1:], 1.0 / np.arange(1, 256))


def test_the_stirling_table_is_fc_to_the_rounding_of_log_k_factorial():
    """fc(k) = log k! - ((k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2); the table
    holds it as double precision computed it from lgamma, whose rounding of
    log k! (<= 78 for k < 32) bounds the error by ~1e-14."""
    _, fc = _testing.sampler_tables()
    mpmath.mp.dps = 50
    for k, got in enumerate(fc):
        kk = mpmath.mpf(k)
        exact = mpmath.loggamma(kk + 1) - ((kk + 0.5) * mpmath.log(kk + 1) - (kk + 1)
                                           + mpmath.log(2 * mpmath.pi) / 2)
        assert abs(got - float(exact)) <= 5e-14, (k, got, float(exact))
    # fc(k) ~ 1 / (12 (k + 1)): the series the table hands over to at k = 32
    assert abs(fc[-1] - 1 / (12 * 32.0)) < 1e-6


PLUGIN_KERNEL = '''
from libc.stdint cimport uint64_t
from numpy.random cimport bitgen_t

from keyed_stream cimport paget_stream_init, paget_stream_t
from paget_kernels cimport PGT_PURPOSE_TEST, count_t, uid_t
from samplers cimport SMALL_MEAN, draw_binomial

import numpy as np
import pytest


def binomials(uint64_t seed, const uid_t[::1] uid, count_t n, double p):
    cdef paget_stream_t s
    cdef bitgen_t bg
    cdef Py_ssize_t i
    out = np.empty(uid.shape[0], np.int64)
    cdef count_t[::1] o = out
    for i in range(uid.shape[0]):
        paget_stream_init(&s, &bg, seed, uid[i], 0, PGT_PURPOSE_TEST, 0)
        o[i] = draw_binomial(&bg, NULL, p, n, SMALL_MEAN)
    return out
'''

PLUGIN_SETUP = '''
import os, sys
import numpy as np
import pytest
from Cython.Build import cythonize
from setuptools import Extension, setup

ext = sys.argv.pop(1)
setup(script_args=["build_ext", "--inplace", "-q"], ext_modules=cythonize(
    [Extension("plugin_kernel", ["plugin_kernel.pyx"], include_dirs=[np.get_include(), ext],
               library_dirs=[os.path.join(os.path.dirname(np.__file__), "random", "lib")],
               libraries=["npyrandom"])],
    language_level=3, include_path=[ext], quiet=True))
'''


def test_a_new_module_cimports_the_samplers_and_draws_as_the_kernels_do(tmp_path):
    """What a plugin author's own kernel does: cimport the stream, the types and
    a sampler from the ``.pxd`` files installed in ``paget/ext`` (inline, so
    nothing is looked up at run time), and draw from a keyed stream."""
    (tmp_path / "plugin_kernel.pyx").write_text(PLUGIN_KERNEL)
    (tmp_path / "setup.py").write_text(textwrap.dedent(PLUGIN_SETUP))
    ext = Path(paget.ext.__file__).parent
    proc = subprocess.run([sys.executable, "setup.py", str(ext)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = next(p for p in tmp_path.iterdir() if p.name.startswith("plugin_kernel.")
                 and p.suffix in (".so", ".pyd"))
    spec = importlib.util.spec_from_file_location("plugin_kernel", built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    uid = np.arange(1, 2001, dtype=np.uint64) * np.uint64(7919)
    for n, p in [(20, 0.1), (1000, 0.3), (10**9, 0.7)]:   # inversion, BTRS, BTRS flipped
        np.testing.assert_array_equal(module.binomials(5, uid, n, p),
                                      kernels.stream_binomial(5, uid, n, p))


def _step_rows_arguments(n):
    """step_rows' row arrays and outputs for ``n`` quiet rows, by name."""
    rows = dict(cells=np.ones(n), flags=np.zeros(n, np.uint8),
                uid=np.arange(1, n + 1, dtype=np.uint64), patient=np.zeros(n, np.int64),
                birth=np.zeros(n), death=np.zeros(n), shed_rate=np.zeros(n),
                deterministic=np.zeros(n, np.uint8))
    return rows, dict(shed_out=np.empty(n, np.int64), react_out=np.empty(n, np.int64))


def test_the_kernels_refuse_arrays_of_the_wrong_length():
    """step_rows and disseminate check every row array's length (and the
    outputs' shape) before their loops, each naming what is wrong."""
    n = 4
    rows, outs = _step_rows_arguments(n)
    for name in list(rows)[1:] + list(outs):
        args = {**rows, **outs}
        args[name] = args[name][:-1]
        with pytest.raises(ValueError, match="every row array must have the length of cells"):
            kernels.step_rows(*[args[k] for k in rows], 1.0, 1, 0,
                              *[args[k] for k in outs])
    m, n_org = 2, 3
    fb = np.full((1, n_org, n_org + 1), 1.0 / (n_org + 1))
    ins = dict(uid=np.arange(1, m + 1, dtype=np.uint64), patient=np.zeros(m, np.int64),
               organ=np.zeros(m, np.int16), fate_class=np.zeros(m, np.int64),
               shed=np.zeros(m, np.int64), lymph=np.zeros(m))
    grids = {k: np.empty((m, n_org), np.int64) for k in ("arrested", "extravasated",
                                                          "dtc_died", "dormant", "founded")}

    def call(**over):
        a = {**ins, **grids, "died": np.empty(m, np.int64), **over}
        kernels.disseminate(a["uid"], a["patient"], a["organ"], a["fate_class"], a["shed"],
                            a["lymph"], fb, fb.copy(), np.ones((m, n_org)),
                            np.tile([0.0, 0.0, 1.0], (m, n_org, 1)), 1, 0, a["arrested"],
                            a["died"], a["extravasated"], a["dtc_died"], a["dormant"],
                            a["founded"])

    call()
    for name in list(ins)[1:] + ["died"]:
        with pytest.raises(ValueError, match="every row array must have one length"):
            call(**{name: (ins[name] if name in ins else np.empty(m, np.int64))[:-1]})
    for name in grids:
        for shape in ((m - 1, n_org), (m, n_org - 1)):
            with pytest.raises(ValueError, match=r"outputs must be \(rows, organs\)"):
                call(**{name: np.empty(shape, np.int64)})


def test_the_kernels_refuse_arrays_of_the_wrong_kind():
    """step_rows and disseminate read their arrays through NumPy's C API (not
    typed memoryviews): each must be a C-contiguous array of its dtype, an output
    writable and a grid of its number of axes, or the call raises naming it."""
    n = 4
    rows, outs = _step_rows_arguments(n)

    def step(**over):
        a = {**rows, **outs, **over}
        kernels.step_rows(*[a[k] for k in rows], 1.0, 1, 0, *[a[k] for k in outs])

    step()
    for name, bad in [("cells", np.ones(n, np.float32)), ("uid", np.arange(n, dtype=np.int64)),
                      ("birth", np.zeros(2 * n)[::2]), ("flags", [0] * n)]:
        with pytest.raises(TypeError, match=name):
            step(**{name: bad})
    for name in ("cells", "shed_out", "react_out"):
        frozen = (rows if name in rows else outs)[name].copy()
        frozen.flags.writeable = False
        with pytest.raises(ValueError, match=f"{name}: the array is read-only"):
            step(**{name: frozen})
    with pytest.raises(ValueError, match="mut_out: the array is read-only"):
        frozen = np.empty(n, np.int64)
        frozen.flags.writeable = False
        kernels.step_rows(*rows.values(), 1.0, 1, 0, *outs.values(), np.zeros(n), frozen)
    m, n_org = 2, 3
    fb = np.full((1, n_org, n_org + 1), 1.0 / (n_org + 1))
    ins = dict(uid=np.arange(1, m + 1, dtype=np.uint64), patient=np.zeros(m, np.int64),
               organ=np.zeros(m, np.int16), fate_class=np.zeros(m, np.int64),
               shed=np.full(m, 50, np.int64), lymph=np.zeros(m), f_blood=fb,
               f_lymph=fb.copy(), p_extravasate=np.ones((m, n_org)),
               dtc_fates=np.tile([0.0, 0.0, 1.0], (m, n_org, 1)))
    grids = {k: np.empty((m, n_org), np.int64) for k in ("arrested", "extravasated",
                                                          "dtc_died", "dormant", "founded")}

    def spread(**over):
        a = {**ins, **grids, "died": np.empty(m, np.int64), **over}
        kernels.disseminate(a["uid"], a["patient"], a["organ"], a["fate_class"], a["shed"],
                            a["lymph"], a["f_blood"], a["f_lymph"], a["p_extravasate"],
                            a["dtc_fates"], 1, 0, a["arrested"], a["died"], a["extravasated"],
                            a["dtc_died"], a["dormant"], a["founded"])
        return a

    got = spread()
    assert got["founded"].sum() + got["died"].sum() == 100     # every cell has a fate
    for name, bad in [("organ", np.zeros(m, np.int64)), ("lymph", np.zeros(2 * m)[::2]),
                      ("f_blood", np.asfortranarray(np.tile(fb, (2, 1, 1)))[:1])]:
        with pytest.raises(TypeError, match=name):
            spread(**{name: bad})
    for name, bad in [("f_lymph", fb[0]), ("p_extravasate", np.ones(m * n_org)),
                      ("arrested", np.empty(m * n_org, np.int64))]:
        with pytest.raises(ValueError, match=f"{name}: expected {bad.ndim + 1} axes"):
            spread(**{name: bad})
    for name in list(grids) + ["died"]:
        frozen = np.empty((m, n_org) if name in grids else m, np.int64)
        frozen.flags.writeable = False
        with pytest.raises(ValueError, match=f"{name}: the array is read-only"):
            spread(**{name: frozen})


def test_keyed_uniform_takes_read_only_arrays_and_refuses_the_wrong_kind():
    """keyed_uniform reads uid and patient through NumPy's C API: read-only
    arrays (the engine's patient keys) are taken, another dtype, a strided
    array or another length refused naming the argument; none of its rows
    depends on the others (one draw of three rows is the draws of each)."""
    uid, patient = np.array([7, 8, 9], np.uint64), np.array([0, 4, 2], np.int64)
    uid.flags.writeable = patient.flags.writeable = False
    got = kernels.keyed_uniform(3, uid, 5, 11, patient)
    assert got.dtype == np.float64 and got.shape == (3,) and ((got >= 0) & (got < 1)).all()
    for i in range(3):
        assert kernels.keyed_uniform(3, uid[i:i + 1].copy(), 5, 11, patient[i:i + 1].copy()) \
            == got[i]
    assert kernels.keyed_uniform(3, uid[:0].copy(), 5, 11, patient[:0].copy()).shape == (0,)
    with pytest.raises(TypeError, match="uid"):
        kernels.keyed_uniform(3, uid.astype(np.int64), 5, 11, patient)
    with pytest.raises(TypeError, match="patient"):
        kernels.keyed_uniform(3, uid, 5, 11, np.zeros(6, np.int64)[::2])
    with pytest.raises(ValueError, match="one length"):
        kernels.keyed_uniform(3, uid, 5, 11, patient[:2].copy())
