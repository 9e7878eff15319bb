"""The time grid of a run: the step length, the number of steps, the recorded steps."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class StepPlan:
    """The time grid of a run."""

    dt: float
    n_steps: int
    record_every: int

    @classmethod
    def from_config(cls, config) -> "StepPlan":
        from ..errors import plural
        dt = config.cohort.dt
        n_steps = int(round(config.cohort.years * DAYS_PER_YEAR / dt))
        if n_steps < 1:
            raise ConfigError(f"cohort.years = {config.cohort.years!r}: shorter than one step "
                              f"(cohort.dt = {plural(dt, 'day')})")
        ratio = config.output.interval / dt
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio) or round(ratio) < 1:
            raise ConfigError(f"output.interval = {config.output.interval!r}: must be a whole "
                              f"number (>= 1) of steps of cohort.dt = {plural(dt, 'day')}")
        return cls(dt, n_steps, int(round(ratio)))

    @property
    def record_steps(self) -> np.ndarray:
        steps = np.arange(0, self.n_steps + 1, self.record_every)
        if steps[-1] != self.n_steps:
            steps = np.append(steps, self.n_steps)
        return steps

    @property
    def times(self) -> np.ndarray:
        return self.record_steps * self.dt
