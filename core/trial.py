"""Trial arms: their validation, and running them on the same virtual patients."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import xarray as xr

from .config import deep_merge
from .errors import ConfigError
from .output import combine_arms, config_attrs

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Simulation

#: tables an arm may not override: the arms of a trial share their patients
#: (seed, cohort), time grid (output) and plugins, so that they are paired
_ARM_FIXED = ("seed", "cohort", "output", "plugins", "arms")


def check_arms(arms) -> list[dict[str, Any]]:
    """Validate the shape of ``[[arms]]``: tables with a unique ``name``."""
    if arms is None:
        return []
    if not isinstance(arms, list) or not arms:
        raise ConfigError(f"arms = {arms!r}: must be a non-empty array of tables "
                          f"([[arms]] with a name and the tables the arm changes)")
    names = set()
    for i, arm in enumerate(arms):
        if not isinstance(arm, Mapping):
            raise ConfigError(f"arms[{i}] = {arm!r}: must be a table")
        name = arm.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"arms[{i}].name = {name!r}: every arm needs a name (a "
                              f"non-empty string)")
        if name in names:
            raise ConfigError(f"arms[{i}].name = {name!r}: arm names must be unique")
        names.add(name)
        fixed = sorted(set(arm) & set(_ARM_FIXED))
        if fixed:
            raise ConfigError(f"arms[{i}] ({name!r}) sets {', '.join(fixed)}: the arms of a "
                              f"trial share {', '.join(_ARM_FIXED[:-1])}; set them outside "
                              f"the arms")
    return arms


def make_arms(cls: type["Simulation"], data: dict[str, Any], arms: list[dict[str, Any]],
              plugins: Iterable[tuple[str, Any]], entry_points: bool
              ) -> list[tuple[str, "Simulation"]]:
    """(name, simulation of the arm's configuration: ``data`` with its overrides) per arm."""
    out = []
    for i, arm in enumerate(arms):
        overrides = {k: v for k, v in arm.items() if k != "name"}
        try:
            sim = cls(deep_merge(data, overrides), plugins=plugins, entry_points=entry_points)
        except ConfigError as exc:
            raise ConfigError(f"arms[{i}] ({arm['name']!r}): {exc}") from None
        out.append((arm["name"], sim))
    return out


def run_arms(sim: "Simulation", comm, progress, checkpoint, resume, gather=True
             ) -> xr.Dataset | None:
    """Run every arm on the same virtual patients; combine on an ``arm`` dimension."""
    refuse_checkpoints(sim, checkpoint, resume)
    parts = [arm.run(comm=comm, progress=progress, gather=gather) for _, arm in sim.arms]
    if parts[0] is None:
        return None
    return combine(sim, parts)


def refuse_checkpoints(sim: "Simulation", checkpoint, resume) -> None:
    """Refuse checkpoints (or a resume) for a trial with arms."""
    if sim.arms and (checkpoint is not None or resume is not None):
        raise ConfigError("arms: checkpoints of a multi-arm trial are not supported yet; "
                          "run the arms as separate configurations to checkpoint them")


def combine(sim: "Simulation", parts: list[xr.Dataset]) -> xr.Dataset:
    """The arms' Datasets (or blocks) on an ``arm`` dimension, tables arm after arm,
    with the whole trial's configuration."""
    ds = combine_arms(parts, [name for name, _ in sim.arms])
    ds.attrs["config_json"] = json.dumps(sim.resolved_config(), sort_keys=True)
    ds.attrs["scenario"] = config_attrs({}, 0, "", [], scenario=sim.scenario)["scenario"]
    return ds


def logrank_hazard_ratio(time_control, event_control, time_treated, event_treated,
                         level: float = 0.95) -> dict[str, float]:
    """Hazard ratio of the treated arm against the control arm, Peto's log-rank estimate.

    ``ln HR = (O - E) / V`` for the treated arm, with ``O`` its observed events,
    ``E`` those expected under equal hazards and ``V`` the hypergeometric
    variance, summed over the distinct event times (ties handled as in the
    log-rank test); ``SE(ln HR) = 1 / sqrt(V)`` (Yusuf, Peto et al. 1985, Prog
    Cardiovasc Dis 27:335 [the paper READ in its abstract, the estimator in it
    RECALLED]; the estimator READ in the Cochrane Handbook 5.1, section 9.4.9).
    This is the "log-rank rate ratio" the
    EBCTCG meta-analyses report; close to Cox's estimate while the ratio is
    within about 0.5-2.

    Parameters
    ----------
    time_control, time_treated : array of float
        Time of the event or of censoring of each patient (any unit, the same in both).
    event_control, event_treated : array of bool
        True where the patient had the event at that time, False where censored.
    level : float
        Confidence level of the interval.

    Returns
    -------
    dict
        ``hr``, ``ci_low``, ``ci_high`` (Wald interval on the log scale), ``se_log_hr``,
        ``observed``, ``expected``, ``variance`` (treated arm), ``chi2`` (log-rank
        statistic, 1 degree of freedom) and ``p`` (two-sided).
    """
    import numpy as np
    from scipy.stats import chi2 as chi2_dist
    from scipy.stats import norm

    arrays = []
    for name, value in (("time_control", time_control), ("event_control", event_control),
                        ("time_treated", time_treated), ("event_treated", event_treated)):
        a = np.asarray(value).ravel()
        if name.startswith("time") and (a.size == 0 or not np.all(np.isfinite(a.astype(float)))
                                        or np.any(a.astype(float) < 0)):
            raise ValueError(f"{name}: every time must be finite and >= 0 (got "
                             f"{a.size} values)")
        arrays.append(a)
    tc, ec, tt, et = arrays
    if tc.size != ec.size or tt.size != et.size:
        raise ValueError("logrank_hazard_ratio: each arm needs one event flag per time")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level!r}: must be in (0, 1)")
    t = np.concatenate([tc, tt]).astype(float)
    ev = np.concatenate([ec, et]).astype(bool)
    treated = np.concatenate([np.zeros(tc.size, bool), np.ones(tt.size, bool)])
    times = np.unique(t[ev])
    # at risk at each event time: time >= it; events at it
    at_risk = t.size - np.searchsorted(np.sort(t), times, side="left")
    at_risk_t = tt.size - np.searchsorted(np.sort(tt.astype(float)), times, side="left")
    d = np.bincount(np.searchsorted(times, t[ev]), minlength=times.size)
    d_t = np.bincount(np.searchsorted(times, t[ev & treated]), minlength=times.size)
    n, n1 = at_risk.astype(float), at_risk_t.astype(float)
    expected = float(np.sum(d * n1 / n))
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(n > 1, d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1), 0.0)
    variance = float(v.sum())
    observed = float(d_t.sum())
    if variance <= 0:
        raise ValueError("logrank_hazard_ratio: no event with both arms at risk; the hazard "
                         "ratio is not estimable")
    log_hr = (observed - expected) / variance
    se = 1.0 / np.sqrt(variance)
    z = float(norm.ppf(0.5 + level / 2))
    chi2 = (observed - expected) ** 2 / variance
    return {"hr": float(np.exp(log_hr)), "ci_low": float(np.exp(log_hr - z * se)),
            "ci_high": float(np.exp(log_hr + z * se)), "se_log_hr": float(se),
            "observed": observed, "expected": expected, "variance": variance,
            "chi2": float(chi2), "p": float(chi2_dist.sf(chi2, 1))}


def hazard_ratio(ds: xr.Dataset, control: str, treated: str, endpoint: str = "os",
                 origin: str = "diagnosis", level: float = 0.95) -> dict[str, float]:
    """Hazard ratio of arm ``treated`` against arm ``control`` of a trial Dataset.

    The times and events of :func:`paget.analysis.survival` (``endpoint``,
    ``origin``; patients never diagnosed left out when ``origin`` is
    ``"diagnosis"``), then :func:`logrank_hazard_ratio`.  Raises ValueError
    naming the arms the Dataset has when one is not among them.
    """
    from . import analysis
    import numpy as np

    arms = [str(a) for a in np.atleast_1d(ds["arm"].values)] if "arm" in ds.coords else []
    for name in (control, treated):
        if name not in arms:
            raise ValueError(f"arm {name!r}: not in the dataset; its arms are "
                             f"{', '.join(map(repr, arms)) or 'none (not a trial)'}")
    parts = []
    for name in (control, treated):
        s = analysis.survival(ds, endpoint, arm=name, origin=origin)
        keep = np.asarray(s.included.values, bool) if "included" in s else slice(None)
        parts += [np.asarray(s.time.values)[keep], np.asarray(s.event.values, bool)[keep]]
    return logrank_hazard_ratio(*parts, level=level)
