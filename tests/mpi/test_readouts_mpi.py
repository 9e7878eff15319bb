"""The regional and distant metastasis readouts do not depend on the number of
ranks, a patient's lesions split over them included (``patient_sum`` is
collective: every rank calls it, whether or not it holds the patient's rows).

Run under ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi`` (any size >= 2).
"""
from __future__ import annotations

import numpy as np
import pytest

import paget
from paget.config import deep_merge

from ..helpers import assert_same_result
from ..test_readouts import ANY, CFG, DISTANT


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("patients", [1, 3])
def test_regional_and_distant_readouts_equal_the_serial_run(patients):
    """One patient split over every rank, or patients spread over them, with
    nodal metastases first and distant ones later in some patients."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    cfg = deep_merge(CFG, {"cohort": {"patients": patients},
                           "intravasation": {"lymph_fraction": 0.5},
                           "circulation": {"lymph_node_arrest": 0.7},
                           "imaging": {"interval": 5.0, "threshold": 0.07}})
    ds = paget.Simulation(cfg, entry_points=False).run(comm=comm)
    if comm.Get_rank() == 0:
        serial = paget.Simulation(cfg, entry_points=False).run()
        for name in (*ANY, *DISTANT):
            assert np.isfinite(serial[name]).any(), f"the test needs a {name}"
        assert (serial[DISTANT[0]] > serial[ANY[0]]).any(), "the test needs nodes first"
        assert_same_result(ds, serial)
    else:
        assert ds is None
