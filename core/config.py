"""The configuration: engine tables, plugin tables, validation and messages.

The schema is assembled at run time: the engine's own tables (below) plus one
table per loaded plugin, which each plugin declares through the
``paget_config_tables`` hook.  Everything is validated before step 0; an error
names the dotted key, the value given and what is allowed.
"""
from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from .body import ORGANS, Body
from .errors import ConfigError

__all__ = [
    "Table", "Organ", "organ_map", "resolve_organ_map", "build_config_model",
    "validate_config", "read_toml", "format_validation_error",
]

Organ = Literal[ORGANS]  # type: ignore[valid-type]
OrganOrDefault = Literal[ORGANS + ("default",)]  # type: ignore[valid-type]


class Table(BaseModel):
    """Base of every configuration table: unknown keys are errors, values are
    validated on assignment, and types are strict: a number is never made from
    a string or a boolean, nor a whole number from a fraction (``patients =
    2.5``, ``rate = "0.1"`` and ``seed = true`` are refused, not guessed).
    Integers are accepted where a float is asked for.  Use ``list`` (not
    ``tuple``) fields: TOML arrays arrive as lists."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              frozen=True)


def organ_map(lo: float = 0.0, hi: float | None = None, *, probability: bool = False):
    """Type of a per-organ value: one number, or ``{default = x, organ = y, ...}``.

    With ``probability=True`` every value must lie in [0, 1].
    """
    if probability:
        lo, hi = 0.0, 1.0
    value = Annotated[float, Field(ge=lo, le=hi, allow_inf_nan=False)]
    return Union[value, dict[OrganOrDefault, value]]  # type: ignore[valid-type]


def resolve_organ_map(value: float | Mapping[str, float], body: Body,
                      default: float) -> np.ndarray:
    """An (n_organs,) array from a number or a {default, organ: value} map.

    Plugins resolve their per-organ parameters every step, so the arrays are
    remembered by the body's organs and the value (a new array is returned
    each time: the caller may change it).
    """
    mapping = isinstance(value, Mapping)
    key = (body.organs, tuple(value.items()) if mapping else float(value), float(default))
    got = _ORGAN_MAPS.get(key)
    if got is None:
        if mapping:
            values = dict(value)
            base = values.pop("default", default)
            got = body.per_organ(values, base)
        else:
            got = np.full(body.n_organs, float(value))
        if len(_ORGAN_MAPS) >= 1024:
            _ORGAN_MAPS.clear()
        _ORGAN_MAPS[key] = got
    return got.copy()


#: resolve_organ_map's arrays, by (organs, value, default)
_ORGAN_MAPS: dict[tuple, np.ndarray] = {}


# --------------------------------------------------------------------------
# Engine tables
# --------------------------------------------------------------------------

class CohortTable(Table):
    """Who is simulated, for how long, in which steps."""

    patients: int = Field(1, ge=1, description="number of virtual patients")
    years: float = Field(10.0, gt=0, le=200, allow_inf_nan=False,
                         description="follow-up, years (365.25 days)")
    dt: float = Field(1.0, gt=0, le=30, allow_inf_nan=False,
                      description="time step, days; rates are updated once a step")


class PrimaryTable(Table):
    """The primary tumour at time zero."""

    organ: Organ = Field("breast", description="organ of the primary tumour")
    # 1 mm^3 ~ 1e6 cells (REFERENCE.md s.5, [READ]); ~1-2 mm is the avascular
    # limit before the angiogenic switch (Folkman, [RECALLED]).  ASSUMPTION:
    # the default run starts from a 1 mm^3 primary.
    cells: float = Field(1e6, ge=1, le=1e13, allow_inf_nan=False,
                         description="cells in the primary at time zero (a whole number)")

    injection: Literal["none", "portal", "tail_vein", "left_ventricle"] = Field(
        "none", description="experimental metastasis: 'none' grows a primary in primary.organ; "
                            "a vessel puts primary.cells single cells of primary.genotype into "
                            "that vessel's blood at t = 0 (portal -> liver bed first, tail_vein "
                            "-> lung bed first, left_ventricle -> arterial split) and no primary")
    genotype: int = Field(0, ge=0, le=2**63 - 1,
                          description="driver alterations of the initial cells (one bit each)")

    @pydantic.field_validator("cells")
    @classmethod
    def _whole(cls, v: float) -> float:
        if v != np.floor(v):
            raise ValueError("must be a whole number of cells")
        return v


class BodyTable(Table):
    """The anatomy: which reference body, optionally with another flow table."""

    model: Literal["human_adult", "mouse"] = Field(
        "human_adult", description="reference body: human_adult (Williams & Leggett 1989) or "
                                   "mouse (Brown et al. 1997), for experimental-metastasis assays")
    flow_percent: dict[Organ, Annotated[float, Field(ge=0, le=100)]] | None = Field(  # type: ignore[valid-type]
        None, description="replace the blood-flow table: % of cardiac output for "
                          "every organ, summing to 100")

    @pydantic.field_validator("flow_percent")
    @classmethod
    def _complete(cls, v):
        if v is None:
            return v
        missing = [o for o in ORGANS if o not in v]
        if missing:
            raise ValueError(f"must name every organ; missing {', '.join(missing)}")
        total = sum(v.values())
        if abs(total - 100.0) > 0.5:
            raise ValueError(f"percentages must sum to 100 (+-0.5), they sum to {total:.4g}")
        return v


class OutcomeTable(Table):
    """Thresholds that turn cell counts into clinical events."""

    # Lethal tumour burden ~1e12 cells, ~1 kg (Coumans, Siesling & Terstappen
    # 2013, BMC Cancer 13:283, supplement) [READ].
    lethal_cells: float = Field(1e12, gt=0, allow_inf_nan=False,
                                description="total tumour cells at which a patient dies")
    # CT detects lesions of ~3-5 mm [RECALLED]; a 5 mm sphere holds
    # (pi/6) 5^3 1e6 = 6.5e7 cells at 1e6 cells/mm^3 [READ, REFERENCE.md s.5].
    detectable_cells: float = Field(6.5e7, gt=0, allow_inf_nan=False,
                                    description="cells at which a lesion counts as detectable")


class OutputTable(Table):
    """What is recorded."""

    interval: float = Field(30.0, gt=0, allow_inf_nan=False,
                            description="days between recorded states (a whole number of steps)")


_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class PluginsTable(Table):
    """Which plugins run.

    ``load`` names modules to import (nothing else in a configuration is ever
    imported or executed); each must be a dotted module name.
    """

    disable: list[str] = Field(default_factory=list, description="plugin names to switch off")
    load: list[str] = Field(default_factory=list,
                            description="importable modules to register as plugins")

    @pydantic.field_validator("load")
    @classmethod
    def _module_names(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if not _MODULE_NAME.match(m)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a module name (dotted Python identifiers, "
                             f"e.g. 'my_package.my_plugin')")
        twice = sorted({m for m in v if v.count(m) > 1})
        if twice:
            raise ValueError(f"names {twice[0]!r} twice")
        return v


ENGINE_TABLES: dict[str, type[Table]] = {
    "cohort": CohortTable,
    "primary": PrimaryTable,
    "body": BodyTable,
    "outcome": OutcomeTable,
    "output": OutputTable,
    "plugins": PluginsTable,
}


def build_config_model(plugin_tables: Mapping[str, type[BaseModel]]) -> type[BaseModel]:
    """The full configuration model: engine tables plus each plugin's table.

    Built once per set of tables (pydantic compiles a schema per model, about
    a third of the cost of making a Simulation); the model is immutable, so
    simulations with the same plugins share it.
    """
    clash = set(plugin_tables) & (set(ENGINE_TABLES) | {"seed"})
    if clash:
        raise ConfigError(f"plugin tables {sorted(clash)} clash with engine tables")
    return _config_model(tuple(plugin_tables.items()))


@functools.lru_cache(maxsize=64)
def _config_model(plugin_tables: tuple[tuple[str, type[BaseModel]], ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "seed": (int, Field(1, ge=0, le=2**63 - 1, description="seed of every random draw")),
    }
    for name, table in {**ENGINE_TABLES, **dict(plugin_tables)}.items():
        fields[name] = (table, Field(default_factory=table))
    return pydantic.create_model("PagetConfig", __base__=Table, **fields)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file; errors become ConfigError naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """Field names of the table at ``loc`` inside ``model``, if it is a table."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def format_validation_error(exc: pydantic.ValidationError, model: type[BaseModel]) -> str:
    """One line per problem: ``key = value: what is allowed``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        # drop union-branch labels pydantic inserts (e.g. 'float', 'dict[...]')
        loc = tuple(p for p in loc if p not in ("float", "constrained-float") and
                    not (isinstance(p, str) and p.startswith(("dict[", "function-"))))
        key = ".".join(str(p) for p in loc) or "<config>"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{key}: unknown key{hint}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            lines.append(f"{key} = {err['input']!r}: {msg}")
    # a union of number / table reports each branch; keep one line per key
    seen, unique = set(), []
    for line in lines:
        k = line.split(" ", 1)[0]
        if k not in seen:
            seen.add(k)
            unique.append(line)
    return "; ".join(unique)


#: Most steps a run may have: a lesion's birth step is stored as int32.
MAX_STEPS = 2**31 - 1
DAYS_PER_YEAR = 365.25


def validate_config(model: type[BaseModel], data: Mapping[str, Any]) -> BaseModel:
    """Validate ``data`` against ``model``; raise ConfigError with a clear message.

    NumPy scalars are taken as the Python numbers they hold.  After the
    tables, the schedule is checked as a whole (cohort and output together).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"<config> = {data!r}: must be a table (a mapping of keys to values)")
    try:
        config = model.model_validate(_plain(dict(data)))
    except pydantic.ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model)) from None
    cohort, output = getattr(config, "cohort", None), getattr(config, "output", None)
    if cohort is not None and output is not None:
        _check_schedule(cohort, output)
    return config


def _plain(obj: Any) -> Any:
    """Nested data with NumPy scalars made Python numbers (and tuples lists)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _check_schedule(cohort, output) -> None:
    """A schedule the engine can run: a step count it can store, a record interval
    it can count in steps.  (Whole multiples and "at least one step" are checked
    where the time grid is built, :class:`paget.engine.StepPlan`.)"""
    steps = cohort.years * DAYS_PER_YEAR / cohort.dt
    if steps > MAX_STEPS:
        raise ConfigError(f"cohort.dt = {cohort.dt!r}: {cohort.years:g} years (cohort.years) "
                          f"in steps of {cohort.dt:g} days make {steps:.4g} steps; at most "
                          f"{MAX_STEPS} are allowed (a longer cohort.dt, or fewer years)")
    if output.interval / cohort.dt > 2.0**53:
        raise ConfigError(f"output.interval = {output.interval!r}: {output.interval / cohort.dt:.4g} "
                          f"steps of cohort.dt = {cohort.dt:g} days; at most 2**53")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge nested mappings; ``override`` wins, tables merge key by key."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
