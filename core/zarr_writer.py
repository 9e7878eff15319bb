"""The parallel Zarr writer: a cohort's run written to one store by every rank, none
holding the whole cohort."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from . import trial
from .coordination import _Coordinator

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Simulation


def write_zarr(sim: "Simulation", path: Path, comm, overwrite, progress, checkpoint, resume
               ) -> xr.Dataset | None:
    """Run ``sim`` (every arm of a trial) and write it to the Zarr store ``path``
    (see :meth:`paget.Simulation.write`); on rank 0 the store opened lazily."""
    # looked up at each call (the tests replace them to fail on purpose)
    from .files import umask_mode
    from .output import (TABLE_DIMS, publish, write_zarr_block, write_zarr_schema,
                         zarr_patient_chunk)
    size = 1 if comm is None else comm.Get_size()
    rank = 0 if comm is None else comm.Get_rank()
    P = sim.config.cohort.patients
    per_patient = 8.0 * len(sim.plan.record_steps) * sim.body.n_organs
    chunk = zarr_patient_chunk(P, size, per_patient)
    arms = sim.arms or [(None, sim)]
    parts = []
    follow = None
    for _, arm in arms:      # the arms of a trial: the same patient blocks
        # the later arms move as the first did, so that all end on one layout
        # and a rank's block is the same patient range in every arm
        part, lo, hi = arm._run_block(comm, progress, checkpoint, resume, chunk=chunk,
                                      gather=False, follow=follow)
        parts.append((arm, part))
        follow = arm.layouts if follow is None else follow
    coord = _Coordinator(comm, lockstep=True, n_steps=0)
    tmp: str | None = None

    def agree(error: BaseException | None) -> None:
        """Every rank raises if any failed; rank 0 removes the unfinished store."""
        try:
            coord.agree(error)
        except BaseException:
            if rank == 0 and tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise

    error: BaseException | None = None
    tables = TABLE_DIMS
    block, rows = None, np.zeros((len(arms), len(tables)), np.int64)
    try:
        blocks = [arm._dataset([part], first_patient=lo, n_patients=hi - lo)
                  for arm, part in parts]
        rows[:] = [[b.sizes.get(d, 0) for d in tables] for b in blocks]
        block = blocks[0]
        if sim.arms:    # as run() combines them: an arm dimension, tables arm after arm
            block = trial.combine(sim, blocks)
    except Exception as exc:
        error = exc
    agree(error)
    every = np.array([rows] if comm is None else comm.allgather(rows))  # (ranks, arms, 2)
    per_arm = every.sum(axis=0)                                        # (arms, 2)
    # where each (arm, table) slice of this rank's block goes in the whole table:
    # after the earlier arms' rows and this arm's rows on the lower ranks
    dest = np.cumsum(per_arm, axis=0) - per_arm + every[:rank].sum(axis=0)
    src = np.cumsum(rows, axis=0) - rows
    try:   # a KeyboardInterrupt, say, too: never leave the unfinished store behind
        if rank == 0:
            try:
                tmp = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.chmod(tmp, umask_mode(0o777))   # mkdtemp makes it 0o700 whatever the umask
                write_zarr_schema(block, tmp, P,
                                  dict(zip(tables, per_arm.sum(axis=0).tolist())), chunk)
            except Exception as exc:
                error = exc
        tmp = tmp if comm is None else comm.bcast(tmp, root=0)
        agree(error)
        try:
            write_zarr_block(block, tmp, "patient", lo)
        except Exception as exc:
            error = exc
        for r in range(size):       # the tables' blocks share chunks: one rank at a time
            if r == rank and error is None:
                try:
                    for a in range(len(arms)):
                        for i, dim in enumerate(tables):
                            piece = block.isel({dim: slice(src[a, i], src[a, i] + rows[a, i])})
                            write_zarr_block(piece, tmp, dim, int(dest[a, i]))
                except Exception as exc:
                    error = exc
            if comm is not None:
                comm.Barrier()
        agree(error)
        if rank == 0:
            try:
                publish(tmp, path, overwrite=overwrite)
            except Exception as exc:
                error = exc
        agree(error)
    except BaseException:
        if rank == 0 and tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)   # (gone once published)
        raise
    return xr.open_zarr(path, chunks=None, decode_times=False) if rank == 0 else None
