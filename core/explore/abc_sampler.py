"""A pyABC sampler whose populations do not depend on the number of MPI ranks or on timing.

pyABC's :class:`~pyabc.sampler.ConcurrentFutureSampler` runs each evaluation
(draw a parameter from the proposal, simulate, compute the distance, accept or
not) on any :class:`concurrent.futures.Executor`, e.g.
:class:`mpi4py.futures.MPICommExecutor`, and keeps the first ``n`` accepted
evaluations in the order they were started.  But each evaluation reseeds
NumPy's global generator from the operating system, so no two runs agree.

:class:`SeededSampler` keeps that scheme and seeds evaluation ``j`` of
population ``t`` from ``(seed, t, j)`` instead (:class:`numpy.random.SeedSequence`),
so evaluation ``j`` draws the same parameter and the same simulation seed
whichever rank runs it and whenever it finishes.  The population is the
evaluations ``0 .. k``, ``k`` the ``n``-th accepted one in index order: the
same on 1 or K ranks, in a run resumed after a kill (pyABC refits the proposal
from the stored population) or not.  Evaluations past ``k`` that were started
speculatively on idle ranks are discarded.
"""
from __future__ import annotations

import random
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Any

import numpy as np
from pyabc.sampler import Sampler

__all__ = ["SeededSampler", "evaluation_seed"]


def evaluation_seed(seed: int, t: int, j: int) -> np.ndarray:
    """The 4 x 32-bit state seeding NumPy's global generator for evaluation ``j``
    of population ``t`` (``t = -1``: pyABC's calibration sample)."""
    return np.random.SeedSequence([int(seed), int(t) + 1, int(j)]).generate_state(4)


def _evaluate(payload: bytes, seed: int, t: int, j: int):
    """Run one evaluation on a worker: seed NumPy's and Python's global generators
    from ``(seed, t, j)``, then call the pickled ``simulate_one``."""
    import cloudpickle
    state = evaluation_seed(seed, t, j)
    np.random.seed(state)
    random.seed(int(state[0]))
    return cloudpickle.loads(payload)()


class SeededSampler(Sampler):
    """Evaluate a population's candidates over an executor, reproducibly.

    Parameters
    ----------
    seed : int
        Root seed; evaluation ``j`` of population ``t`` is seeded from
        ``(seed, t, j)``.
    executor : concurrent.futures.Executor, optional
        Where evaluations run (e.g. ``mpi4py.futures.MPICommExecutor``'s).
        None: one after the other in this process.
    workers : int
        How many evaluations to keep in flight on ``executor`` (its workers;
        more only queue).
    """

    def __init__(self, seed: int, executor: Any = None, workers: int = 1):
        super().__init__()
        self.seed = int(seed)
        self.executor = executor
        self.workers = max(1, int(workers))

    def __getstate__(self):
        d = dict(self.__dict__)
        d["executor"] = None
        return d

    def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf,
                                all_accepted=False, ana_vars=None):
        import cloudpickle
        payload = cloudpickle.dumps(simulate_one)
        results: dict[int, Any] = {}
        if self.executor is None:
            j = accepted = 0
            while accepted < n and j < max_eval:
                results[j] = _evaluate(payload, self.seed, t, j)
                accepted += bool(results[j].accepted)
                j += 1
            return self._sample(results, n)
        running: dict[Any, int] = {}
        next_j = accepted_done = 0
        while True:
            if self._prefix_end(results, n) is not None:
                break
            while (len(running) < self.workers and accepted_done < n
                   and next_j < max_eval):
                fut = self.executor.submit(_evaluate, payload, self.seed, t, next_j)
                running[fut] = next_j
                next_j += 1
            if not running:   # max_eval reached: return what there is
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                j = running.pop(fut)
                results[j] = fut.result()
                accepted_done += bool(results[j].accepted)
        for fut in running:   # speculative evaluations past the population: not needed
            fut.cancel()
        return self._sample(results, n)

    @staticmethod
    def _prefix_end(results: dict[int, Any], n: int) -> int | None:
        """The index of the ``n``-th accepted evaluation when every evaluation
        before it has finished, else None."""
        accepted = 0
        j = 0
        while j in results:
            accepted += bool(results[j].accepted)
            if accepted == n:
                return j
            j += 1
        return None

    def _sample(self, results: dict[int, Any], n: int):
        end = self._prefix_end(results, n)
        last = end if end is not None else (max(results) if results else -1)
        sample = self._create_empty_sample()
        for j in range(last + 1):
            if j in results:
                sample.append(results[j])
        self.nr_evaluations_ = last + 1
        if sample.n_accepted < n:
            sample.ok = False
        return sample
