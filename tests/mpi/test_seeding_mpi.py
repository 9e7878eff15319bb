"""The seeding log and the migration patterns do not depend on the number of ranks:
one patient's rows shared by every rank (routed founders, pools registered on
one rank and reactivated on another) or patients spread over the ranks.

Run under ``mpiexec -n 2`` and ``mpiexec -n 3``:
``mpiexec -n 3 python -m pytest --with-mpi tests/mpi/test_seeding_mpi.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

import paget

from ..conftest import busy
from ..helpers import assert_same_result


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("patients", [1, 4])
def test_the_seeding_graph_equals_the_serial_run(patients):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    cfg = busy(cohort={"patients": patients, "years": 0.25})
    ds = paget.Simulation(cfg, entry_points=False).run(comm=comm)
    if comm.Get_rank() == 0:
        serial = paget.Simulation(cfg, entry_points=False).run()
        kind = serial.seeding_kind.values
        assert (kind == 0).any() and (kind == 1).any(), "the test needs both kinds of edge"
        assert_same_result(ds, serial)
        np.testing.assert_array_equal(ds.migration_pattern.values, serial.migration_pattern.values)
    else:
        assert ds is None
