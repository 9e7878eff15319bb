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
import types
import typing
from collections.abc import Mapping as _AbcMapping
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Union

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from .body import ORGANS, Body
from .errors import ConfigError, plural

__all__ = [
    "Table", "Organ", "organ_map", "resolve_organ_map", "build_config_model",
    "validate_config", "read_toml", "format_validation_error", "config_toml", "field_notes",
    "plural",
]

Organ = Literal[ORGANS]  # type: ignore[valid-type]
OrganOrDefault = Literal[ORGANS + ("default",)]  # type: ignore[valid-type]


class Table(BaseModel):
    """Base of every configuration table: unknown keys are errors, values are
    validated on assignment, and types are strict: a number is never made from
    a string or a boolean, nor a whole number from a fraction (``patients =
    2.5``, ``rate = "0.1"`` and ``seed = true`` are refused, not guessed).
    Integers are accepted where a float is asked for.  Use ``list`` (not
    ``tuple``) fields: TOML arrays arrive as lists.  NaN and infinities are
    refused in every float of a table (``allow_inf_nan=False``, here once)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              frozen=True, allow_inf_nan=False)


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
    mapping = isinstance(value, _AbcMapping)   # (typing.Mapping's check is ~10x slower)
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

    # at most 2**31 - 1: MPI counts the per-patient arrays it moves in C ints
    patients: int = Field(1, ge=1, le=2**31 - 1, description="number of virtual patients")
    years: float = Field(10.0, gt=0, le=200,
                         description="follow-up, years (365.25 days)")
    dt: float = Field(1.0, gt=0, le=30,
                      description="time step, days; rates are updated once a step")


class PrimaryTable(Table):
    """The primary tumour at time zero."""

    organ: Organ = Field("breast", description="organ of the primary tumour")
    # 1 mm^3 ~ 1e6 cells (ASSUMPTION: the conventional 1e9 cells per cm^3; Del
    # Monte 2009, Cell Cycle 8:505 [READ abstract], argues that carcinomas hold
    # about ten times fewer); ~1-2 mm is the
    # avascular limit before the angiogenic switch (Folkman 1971, N Engl J Med
    # 285:1182) [RECALLED].  ASSUMPTION:
    # the default run starts from a 1 mm^3 primary.
    cells: float = Field(1e6, ge=1, le=1e13,
                         description="cells in the primary at time zero (a whole number)",
                         json_schema_extra={"source": "assumption: a 1 mm^3 primary, near the "
                                                      "avascular limit of 1-2 mm (Folkman 1971, "
                                                      "N Engl J Med 285:1182), at the conventional "
                                                      "1e6 cells/mm^3 (Del Monte 2009, Cell "
                                                      "Cycle 8:505, argues for ~10 times fewer "
                                                      "in carcinomas)"})

    injection: Literal["none", "portal", "tail_vein", "left_ventricle"] = Field(
        "none", description="experimental metastasis: 'none' grows a primary in primary.organ; "
                            "a vessel puts primary.cells single cells of primary.genotype into "
                            "that vessel's blood at t = 0 (portal -> liver bed first, tail_vein "
                            "-> lung bed first, left_ventricle -> arterial split) and no primary")
    genotype: int = Field(0, ge=0, le=2**63 - 1,
                          description="driver alterations of the initial cells (one bit each)")
    # The cancer's level as the autopsy table states it (DiSibio & French 2008,
    # Arch Pathol Lab Med 132:931: 1.5-5.2 for the five calibrated primaries).
    # The engine only carries it: the intravasation plugin turns it into its
    # shedding rate (paget.plugins.level); at most 30, the table's sites.
    sites_per_patient: float | None = Field(
        None, gt=0, le=30,
        description="mean number of metastatic sites per patient at autopsy, all sites "
                    "counted (DiSibio & French 2008); sets intravasation.rate through the "
                    "relation of paget.plugins.level; unset: intravasation.rate applies")

    @pydantic.model_serializer(mode="wrap")
    def _drop_unset_level(self, handler):
        # an unset level is left out of the resolved configuration, so that the
        # records of runs that do not use it stay as they were
        out = handler(self)
        if isinstance(out, dict) and out.get("sites_per_patient", 0) is None:
            del out["sites_per_patient"]
        return out

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
    # The vertebral venous route (Batson 1940, Ann Surg 112:138; paget.body.
    # VERTEBRAL_TERRITORY): not measured; 0 closes it, and the cancer
    # scenarios share a value [DERIVED] fitted on the autopsy table.
    vertebral_share: float = Field(
        0.0, ge=0, le=1,
        description="share of the pelvic organs' (and a third of the breast's) caval venous "
                    "blood that passes the vertebral venous plexus, and so the vertebral "
                    "marrow (bone), before the lung (Batson 1940); 0 closes the route",
        json_schema_extra={"source": "derived: fitted on the autopsy table of DiSibio & "
                                     "French 2008 (Arch Pathol Lab Med 132:931); route: "
                                     "Batson 1940 (Ann Surg 112:138)"})

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


class OutputTable(Table):
    """What is recorded."""

    interval: float = Field(30.0, gt=0,
                            description="days between recorded states, rounded to the nearest "
                                        "whole number of steps of cohort.dt (at least one), "
                                        "with a note naming the interval used (e.g. 365.25 "
                                        "at dt = 1: 365 days)")
    seeding_graph: bool = Field(True, description="log every lesion founded by a disseminated or "
                                                  "reactivated cell (the seeding_* variables, "
                                                  "about 50 bytes per founding event; false: "
                                                  "none are logged, and migration_pattern is "
                                                  "not computed)")


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
    """Read a TOML config file; errors become ConfigError naming the file.

    A file that is missing, a directory, unreadable, not UTF-8 (as TOML must
    be; a UTF-8 byte-order mark is allowed) or not valid TOML is refused in
    one line naming the file and, for bad bytes, their offset and line.
    """
    path = Path(path)
    name = repr(str(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {name} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {name} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {name} cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        raise ConfigError(
            f"config file {name} is not UTF-8 text: byte 0x{data[offset]:02x} at offset "
            f"{offset} (line {line}); TOML files must be UTF-8: save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {name} is not valid TOML: {exc}") from None


def _field_at(model: type[BaseModel], loc: tuple) -> Any:
    """The FieldInfo at ``loc`` inside ``model`` (None where ``loc`` leaves the tables)."""
    current: Any = model
    field = None
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    return field


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """Field names of the table at ``loc`` inside ``model``, if it is a table."""
    current = model if not loc else getattr(_field_at(model, loc), "annotation", None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _bounds(annotation: Any, metadata: list) -> dict[str, float]:
    """The ge/gt/le/lt bounds of a number field (the number of an organ map)."""
    found: dict[str, float] = {}
    for m in metadata:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(m, name, None) is not None:
                found[name] = getattr(m, name)
        if isinstance(m, pydantic.fields.FieldInfo):
            found.update(_bounds(None, m.metadata))
    if not found and annotation is not None:
        extra = getattr(annotation, "__metadata__", None)
        if extra:
            return _bounds(None, list(extra))
        for arg in typing.get_args(annotation):
            got = _bounds(arg, [])
            if got:
                return got
    return found


def _range_text(bounds: Mapping[str, float]) -> str:
    """"within [0, 1]", "within (0, 30]", ">= 0", "> 0" for a field's bounds."""
    lo = ("[", bounds["ge"]) if "ge" in bounds else ("(", bounds["gt"]) if "gt" in bounds else None
    hi = ("]", bounds["le"]) if "le" in bounds else (")", bounds["lt"]) if "lt" in bounds else None
    if lo and hi:
        return f"within {lo[0]}{_num(lo[1])}, {_num(hi[1])}{hi[0]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {_num(lo[1])}"
    if hi:
        return f"{'<=' if hi[0] == ']' else '<'} {_num(hi[1])}"
    return ""


def _num(x: float) -> str:
    """A bound as written: 0.5, 1e+12, and whole numbers in full where %g would round."""
    short = f"{x:g}"
    if float(short) == x or not float(x).is_integer():
        return short
    return str(int(x))


def _is_organ_map(field: Any) -> bool:
    """The field's type is :func:`organ_map`'s (a number or an organ table)."""
    args = typing.get_args(getattr(field, "annotation", None))
    return any(typing.get_origin(a) is dict for a in args) and \
        any(typing.get_origin(a) is not dict and a is not type(None) for a in args)


def _suggest(word: Any, choices: Iterable[str]) -> str:
    """" (did you mean 'x'?)" when ``word`` is close to one of ``choices``."""
    import difflib
    if not isinstance(word, str):
        return ""
    from .body import REMOVED_ORGANS
    parts = REMOVED_ORGANS.get(word)
    if parts and set(parts) <= set(choices):
        return (f" ({word!r} is no longer one organ: it was split into "
                f"{', '.join(parts[:-1])} and {parts[-1]}; name those)")
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _short(value: Any) -> str:
    """repr of a value, cut to keep a message on one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


#: pydantic's error types for numbers out of range
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
#: ... and for a value of the wrong type, by what was asked
_TYPE_NAMES = {"float_type": "a number", "float_parsing": "a number", "int_type": "a whole number",
               "int_from_float": "a whole number", "int_parsing": "a whole number",
               "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
               "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table"}


def _plugin_hint(name: str, data: Any) -> str:
    """Why a top-level table may be unknown: its plugin is not loaded."""
    from .manager import builtin_table_owners
    owner = builtin_table_owners().get(name)
    disabled = _lookup(data, ("plugins", "disable"), [])
    if owner is not None and isinstance(disabled, list) and owner in disabled:
        return f"; it belongs to the plugin {owner!r}, which [plugins] disable switches off"
    if owner is not None:
        return f"; it belongs to the built-in plugin {owner!r}, which is not loaded"
    return ("; is its plugin loaded? add it under [plugins] load = [...] "
            "or pass --plugin MODULE")


def _message(err: dict, key: str, loc: tuple, model: type[BaseModel], data: Any) -> str:
    """One problem as ``key = value: what is allowed``."""
    kind, value = err["type"], err.get("input")
    field = _field_at(model, loc)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) or []
        if len(loc) == 1 and isinstance(value, Mapping):    # a whole table: whose is it?
            return (f"[{key}]: unknown table{_suggest(loc[-1], allowed)}"
                    f"{_plugin_hint(str(loc[-1]), data)}; allowed top-level keys: "
                    f"{', '.join(allowed)}")
        text = f"{key}: unknown key{_suggest(loc[-1], allowed)}"
        return text + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind in _RANGE_ERRORS:
        bounds = dict(err.get("ctx") or {})
        if field is not None:
            bounds = {**_bounds(field.annotation, field.metadata), **bounds}
        return f"{key} = {_short(value)}: must be {_range_text(bounds)}"
    if kind == "finite_number":
        bounds = _bounds(field.annotation, field.metadata) if field is not None else {}
        allowed = _range_text(bounds)
        return f"{key} = {_short(value)}: must be a finite number" + \
            (f" {allowed}" if allowed else "")
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return (f"{key} = {_short(value)}{_suggest(value, _quoted(expected))}: must be one "
                f"of {expected}")
    if kind in _TYPE_NAMES:
        what = _TYPE_NAMES[kind]
        if kind in ("model_type", "model_attributes_type", "dict_type") and field is not None \
                and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            what = f"a table [{key}]"
        allowed = _range_text(_bounds(field.annotation, field.metadata)) if field is not None \
            and what.endswith("number") else ""
        return f"{key} = {_short(value)}: must be {what}" + (f" {allowed}" if allowed else "")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{key} = {_short(value)}: {msg}"


def _quoted(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


_BRANCH = re.compile(r"^(float|constrained-float|int|str|bool|none|dict\[.*|list\[.*|"
                     r"function-.*|literal\[.*)$")


def _branch_at(model: type[BaseModel], loc: tuple) -> int | None:
    """Where pydantic put the label of a union's branch in an error's ``loc``
    (right after the key of a field whose type is a union), or None."""
    for i in range(1, len(loc)):
        field = _field_at(model, loc[:i])
        if field is None:
            return None
        union = typing.get_origin(field.annotation) in (Union, types.UnionType)
        if union and isinstance(loc[i], str) and _BRANCH.match(loc[i]):
            return i
    return None


def format_validation_error(exc: pydantic.ValidationError, model: type[BaseModel],
                            data: Any = None) -> str:
    """One message per key: ``key = value: what is allowed``, joined by "; ".

    ``data`` is what was validated (to quote the value given where pydantic's
    error holds only a part of it).  A per-organ value (:func:`organ_map`) is a
    number or a table; pydantic reports a bad one against both, and only the
    branch matching what was given (a table, or anything else) is kept: a bad
    organ name is reported as an unknown organ, a bad number against its range.
    """
    by_key: dict[str, str] = {}

    def say(key: str, line: str) -> None:
        by_key.setdefault(key, line)    # a list reports each item: one message per key

    for err in exc.errors(include_url=False):
        raw = tuple(err["loc"])
        cut = _branch_at(model, raw)
        field_loc = raw if cut is None else raw[:cut]
        rest = () if cut is None else raw[cut + 1:]
        field = _field_at(model, field_loc)
        organ_map_field = _is_organ_map(field)
        given = _lookup(data, field_loc, err.get("input") if cut is None else None)
        if cut is not None:
            branch = raw[cut]
            if organ_map_field and isinstance(given, Mapping) != branch.startswith("dict["):
                continue                       # the other branch's complaint
            if branch == "none" and given is not None:
                continue                       # "or leave it out" is not news
        key = _dotted(field_loc)
        if raw and raw[-1] == "[key]":         # a bad key of a {name: value} table
            base = raw[:-2]
            name = raw[-2]
            expected = str((err.get("ctx") or {}).get("expected", ""))
            organs = organ_map_field or "'lung'" in expected
            choices = list(ORGANS) if organs else _quoted(expected)
            what = "organ" if organs else "key"
            base = base if cut is None else base[:cut] + base[cut + 1:]
            path = _dotted(base + (name,))
            value = _lookup(data, base + (name,), _MISSING)
            shown = "" if value is _MISSING else f" = {_short(value)}"
            also = " (or default)" if organs and organ_map_field else ""
            say(path, f"{path}{shown}: unknown {what} {name!r}"
                      f"{_suggest(name, choices + (['default'] if also else []))}; "
                      f"{what}s are: {', '.join(choices)}{also}")
            continue
        if rest:                               # a value inside the table given
            sub = _dotted(field_loc + rest)
            say(sub, _message(err, sub, field_loc, model, data))
            continue
        if organ_map_field and not isinstance(given, Mapping) and \
                (not isinstance(given, (int, float)) or isinstance(given, bool)):
            allowed = _range_text(_bounds(field.annotation, field.metadata))
            say(key, f"{key} = {_short(given)}: must be a number"
                     f"{' ' + allowed if allowed else ''}, or a per-organ table "
                     f"{{default = x, <organ> = y, ...}}")
            continue
        say(key, _message(err, key, field_loc, model, data))
    return "; ".join(by_key.values())


_MISSING = object()


def _dotted(loc: tuple) -> str:
    """A key as messages write it: ``colonization.growth.rate``, ``plugins.load[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<config>"


def _lookup(data: Any, loc: tuple, default: Any) -> Any:
    """``data[loc[0]][loc[1]]...``, or ``default`` where there is no such value."""
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and -len(data) <= part < len(data):
            data = data[part]
        else:
            return default
    return data


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
        raise ConfigError(format_validation_error(exc, model, _plain(dict(data)))) from None
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
    it can count in steps.  (The interval is rounded to whole steps, at least
    one, where the time grid is built, :class:`paget.engine.StepPlan`.)"""
    steps = cohort.years * DAYS_PER_YEAR / cohort.dt
    if steps > MAX_STEPS:
        raise ConfigError(f"cohort.dt = {cohort.dt!r}: {plural(cohort.years, 'year')} "
                          f"(cohort.years) in steps of {plural(cohort.dt, 'day')} make "
                          f"{steps:.4g} steps; at most {MAX_STEPS} are allowed (a longer "
                          f"cohort.dt, or fewer years)")
    if output.interval / cohort.dt > 2.0**53:
        raise ConfigError(f"output.interval = {output.interval!r}: "
                          f"{output.interval / cohort.dt:.4g} steps of cohort.dt = "
                          f"{plural(cohort.dt, 'day')}; at most 2**53")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge nested mappings; ``override`` wins, tables merge key by key."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out

