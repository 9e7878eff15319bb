"""The transcoelomic route is rank-invariant: run under ``mpiexec -n 2 python -m
pytest --with-mpi tests/mpi``."""
from __future__ import annotations

import pytest

import paget

from ..conftest import busy
from ..helpers import assert_same_result


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("patients", [1, 5], ids=["one-patient-split", "five"])
def test_a_colon_primary_seeding_the_peritoneum_is_the_same_on_any_ranks(patients):
    """A colon primary sends cells by blood, lymph and into the peritoneal cavity:
    the distributed run equals the serial one to the bit (one patient: its
    lesions spread over the ranks)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    cfg = busy(cohort={"patients": patients, "years": 0.2}, primary={"organ": "colon"})
    ds = paget.Simulation(cfg, entry_points=False).run(comm=comm)
    if comm.Get_rank() == 0:
        serial = paget.Simulation(cfg, entry_points=False).run()
        assert_same_result(ds, serial)
        assert int(serial.ctc_arrested.sel(organ="peritoneum").sum()) > 0
    else:
        assert ds is None
