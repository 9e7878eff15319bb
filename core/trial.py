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
