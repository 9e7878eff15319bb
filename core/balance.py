"""Load balancing: when to move a cohort's patients between the ranks of a run, and the move.

The policy's numbers are the ``REGROUP_*``, ``PATIENT_ROWS`` and
``GROUP_EFFICIENCY`` attributes of :class:`paget.Simulation` (``policy`` below).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .domains import Group, group_speedup, layout_time, plan_groups
from .engine import RankRun, select_patients
from .errors import PagetError
from .model import make_run

if TYPE_CHECKING:  # pragma: no cover
    from .coordination import _Coordinator
    from .simulation import Simulation

Layout = list[tuple[int, int, int]]


def group_of(comm, layout: Layout, coord: "_Coordinator") -> Group | None:
    """This rank's group in ``layout`` (None: it holds its block alone).
    Collective over ``comm`` (``Split``), blocking: call it only where no
    rank can have failed since the last agreement."""
    rank = comm.Get_rank()
    g = layout[rank][0]
    sub = comm.Split(color=g, key=rank)
    if sum(1 for h, _, _ in layout if h == g) > 1:
        return Group(sub, poll=coord.peer_failed)
    sub.Free()
    return None


def loads(policy: "Simulation", run: RankRun) -> np.ndarray:
    """This rank's share of every patient's expected work per step, in lesion
    rows; summed over the ranks, the patients' loads."""
    out = np.zeros(policy.config.cohort.patients, np.int64)
    out[run.lo:run.hi] = np.bincount(run.table.patient - run.lo, minlength=run.P)
    if run.leader():        # a group's per-patient share counted once
        out[run.lo:run.hi] += policy.PATIENT_ROWS * run.alive
    return out


def new_layout(policy: "Simulation", loads: np.ndarray, layout: Layout, size: int,
               chunk: int) -> Layout | None:
    """A better layout of ``size`` ranks for the patients' ``loads``, or None to
    keep this one (every rank decides alike from the same loads)."""
    loads = loads.astype(np.float64)
    eff = policy.GROUP_EFFICIENCY
    now = layout_time(loads, layout, eff)
    # no layout beats the total shared evenly nor the largest patient on
    # every rank: skip the search when even that would not gain enough
    bound = max(loads.sum() / size, loads.max() / group_speedup(size, eff))
    if now < policy.REGROUP_MIN_ROWS or now <= policy.REGROUP_ABOVE * bound:
        return None
    new = plan_groups(loads, size, chunk, efficiency=eff)
    if new == layout or now <= policy.REGROUP_ABOVE * layout_time(loads, new, eff):
        return None
    return new


def move_patients(sim: "Simulation", run: RankRun, group: Group | None, layout: Layout,
                  new: Layout, world: Group, coord: "_Coordinator"
                  ) -> tuple[RankRun, Group | None]:
    """Move the patients to the ranks of layout ``new`` (collective): the run's
    state as a checkpoint holds it, cut by :func:`select_patients`, sent in
    one exchange and loaded as a restart does, so that the results are those
    of any other layout, to the bit."""
    rank = world.rank
    state = run.state_dict()       # in a group: on its first rank, the others none
    _, lo, hi = layout[rank]
    pieces: list = [None] * world.size
    if run.leader():
        for r, (_, a, b) in enumerate(new):
            a, b = max(a, lo), min(b, hi)
            if a < b:
                pieces[r] = select_patients([state], a, b)
    del state
    got = [p for p in world.exchange_arrays(pieces) if p is not None]
    del pieces
    _, lo, hi = new[rank]
    mine, failure = None, None
    try:
        mine = select_patients(got, lo, hi)
    except Exception as exc:
        failure = exc
    # every rank agrees it has its patients before the blocking Split
    world.raise_if_any_failed(failure, PagetError(
        "another rank could not take its patients when they moved between ranks"))
    del got
    joined = group_of(world.comm, new, coord)
    moved = make_run(sim, lo, hi, joined)
    moved.load_state(mine)
    if group is not None:     # only now: on an error the caller frees the old one
        group.close()
    return moved, joined
