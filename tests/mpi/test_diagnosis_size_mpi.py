"""Sizes at diagnosis drawn per patient do not depend on the number of ranks:
the draw is keyed by the patient's cohort index, and each patient is diagnosed
at its own size wherever its rows are.

Run under ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi`` (any size >= 2).
"""
from __future__ import annotations

import numpy as np
import pytest

import paget

from ..helpers import assert_same_result

OVERRIDES = {"seed": 1, "cohort": {"patients": 3, "years": 1},
             "diagnosis": {"diameter_distribution": {"edges": [1.5, 2.0, 2.5, 3.0],
                                                     "shares": [0.3, 0.3, 0.4]}}}


@pytest.mark.mpi(min_size=2)
def test_sizes_and_diagnosis_times_equal_the_serial_run():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ds = paget.Simulation.from_scenario("default", OVERRIDES).run(comm=comm)
    if comm.Get_rank() == 0:
        serial = paget.Simulation.from_scenario("default", OVERRIDES).run()
        assert np.unique(serial.diagnosis_diameter.values).size == 3
        assert np.isfinite(serial.diagnosis_time.values).all(), "the test needs diagnoses"
        assert_same_result(ds, serial)
    else:
        assert ds is None
