"""The engine: the step loop of one rank, its patients, their lesion table, the cascade.

The engine knows no stage, factor or cancer.  Each step it asks the plugins for
per-row rates (one hook call per stage per step for the whole table), runs the
compiled kernels, and does the bookkeeping: new lesions, dormant pools,
compaction, counters, events and recorded states.

:class:`RankRun` is composed of one mixin per room (see
``docs/explanation/engine.md``, "Rooms of the engine"):

- :mod:`.loop`: the step loop (:class:`RankRun`);
- :mod:`.founding`: new rows (primaries, reactivated cells, mutants, founders,
  dormant pools) and the clone log;
- :mod:`.dissemination`: CTCs from shedding to their fates;
- :mod:`.records`: counters, states, events, results;
- :mod:`.decomposition`: a patient block shared by a group of ranks;
- :mod:`.snapshot`: a rank's state for checkpoints and moves;
- :mod:`.plan`: the time grid;
- :mod:`.seeding`: the seeding log (every lesion founded by a disseminated or
  reactivated cell).
"""
from __future__ import annotations

from .loop import RankRun
from .plan import DAYS_PER_YEAR, StepPlan  # noqa: F401 (paget.engine.DAYS_PER_YEAR)
from .snapshot import select_patients

__all__ = ["StepPlan", "RankRun", "select_patients"]
