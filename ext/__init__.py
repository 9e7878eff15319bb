"""Compiled kernels (Cython): the step, dissemination, table operations and numerics; ``paget.ext.kernels`` re-exports them."""
