"""The time grid of a run: the step length, the number of steps, the recorded steps."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ConfigWarning

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
        return cls(dt, n_steps, record_steps_of(config.output.interval, dt))

    @property
    def record_steps(self) -> np.ndarray:
        steps = np.arange(0, self.n_steps + 1, self.record_every)
        if steps[-1] != self.n_steps:
            steps = np.append(steps, self.n_steps)
        return steps

    @property
    def times(self) -> np.ndarray:
        return self.record_steps * self.dt


def record_steps_of(interval: float, dt: float) -> int:
    """Steps between two records for ``output.interval = interval`` days at
    ``cohort.dt = dt`` days: the nearest whole number of steps (halves round
    up), at least one.

    An interval that is not a whole number of steps (e.g. 365.25 days at
    dt = 1 day, or one shorter than a step) is rounded, with a
    :class:`paget.errors.ConfigWarning` naming the interval asked for and the
    one used, in days; the Dataset's ``time`` coordinate holds the times used.
    """
    from ..errors import plural
    ratio = interval / dt
    steps = max(1, math.floor(ratio + 0.5))
    if abs(ratio - steps) > 1e-9 * max(1.0, ratio):
        used = steps * dt
        why = ("shorter than one step", "rounded up to") if ratio < 1 else \
            ("not a whole number of steps", "rounded to")
        warnings.warn(f"output.interval = {plural(float(interval), 'day')} is {why[0]} of "
                      f"cohort.dt = {plural(float(dt), 'day')}; {why[1]} "
                      f"{plural(float(used), 'day')} ({plural(steps, 'step')})",
                      ConfigWarning, stacklevel=2)
    return steps
