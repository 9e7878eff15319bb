"""Build the Cython kernels of ``paget.ext``; all other metadata is in pyproject.toml.

The kernels draw from NumPy's C distributions (``numpy/random/c_distributions.pxd``),
which live in the static library ``libnpyrandom`` shipped inside the NumPy wheel.

Set ``PAGET_DEBUG_KERNELS=1`` to build with bounds checking and wrap-around on,
for a debugging test run.
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

NUMPY_RANDOM_LIB = os.path.join(os.path.dirname(np.__file__), "random", "lib")
DEBUG = os.environ.get("PAGET_DEBUG_KERNELS", "") not in ("", "0")

#: One extension module per job (ext/kernels.pyx re-exports their public names);
#: the .pxd files they cimport are compiled into each, inline.
MODULES = ("kernels", "step", "dissemination", "tables", "numerics", "draws", "_testing",
           "plugin_rates", "plugin_dissemination", "plugin_readouts", "plugin_math",
           "engine_step", "engine_rows", "engine_sums", "engine_hooks")

extensions = [
    Extension(
        f"paget.ext.{name}",
        [f"ext/{name}.pyx"],
        include_dirs=[np.get_include(), "ext"],
        library_dirs=[NUMPY_RANDOM_LIB],
        libraries=["npyrandom"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        include_path=["ext"],
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "cdivision": not DEBUG,
            "initializedcheck": DEBUG,
            "embedsignature": True,
        },
    )
)
