"""Parameters of an exploration: dotted configuration keys checked against the model, and the specs.

A parameter is a dotted key of the configuration (``"intravasation.rate"``,
``"colonization.growth.rate"``, ``"cohort.patients"``); a per-organ value
(``extravasation.probability``) may be addressed per organ with one more part
(``"extravasation.probability.liver"``, or ``.default``).  Keys are checked
against the configuration model of the scenario (its plugins' tables), so an
unknown key or a value outside the key's allowed range is refused before any
run, in one line naming the key, the value and what is allowed.

The specs of ``paget sweep``, ``paget sensitivity`` and ``paget calibrate``
are TOML files sharing these top-level keys::

    scenario = "default"          # a built-in scenario or a CONFIG.toml
    seed = 1                      # root seed of every run
    [base]                        # configuration overrides, as in a config file
    cohort = {patients = 5, years = 1}
    [parameters."intravasation.rate"]
    low = 1e-3                    # the range explored (within the key's allowed values)
    high = 1e-1
    log = true                    # sampled uniformly in log(value)

and each command adds its own tables (:func:`read_spec`'s ``keys``).

Interface notes for the other exploration modules: :func:`resolve` returns the
*nested* overrides (``{"intravasation": {"rate": 0.001}}``), ready for
:func:`paget.config.deep_merge`; :func:`nest` does the nesting alone.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import typing
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel

from ..config import (_bounds, _is_organ_map, _num, _range_text, _suggest,
                      deep_merge, read_toml, validate_config)
from ..errors import ConfigError, PluginError

__all__ = ["resolve", "bounds", "nest", "is_integer", "scenario_data", "config_for",
           "read_spec", "parameter_ranges", "COMMON_KEYS"]

#: the top-level keys every spec may hold (each command adds its own)
COMMON_KEYS = ("scenario", "seed", "base", "parameters")


# ------------------------------------------------------------------ scenarios
def scenario_data(scenario: str | None) -> dict[str, Any]:
    """The configuration of a built-in scenario (by name) or of a TOML file (a path
    ending in ``.toml``); ``None`` is the default scenario.  A copy: change it freely."""
    return copy.deepcopy(_scenario_data(scenario or "default"))


@functools.lru_cache(maxsize=32)
def _scenario_data(scenario: str) -> dict[str, Any]:
    from ..scenario_files import _read_resource, scenario_path
    if scenario.endswith(".toml") or Path(scenario).is_file():
        return read_toml(scenario)
    return _read_resource(scenario_path(scenario))


def config_for(scenario: str | None, base: Mapping[str, Any] | None = None,
               overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The configuration data of ``scenario`` with ``base`` then ``overrides`` merged in."""
    return deep_merge(deep_merge(scenario_data(scenario), base or {}), overrides or {})


def _model(data: Mapping[str, Any]) -> type[BaseModel]:
    """The configuration model for ``data`` (its [plugins] table decides the tables)."""
    return _assembly(data)[1]


def _assembly(data: Mapping[str, Any]):
    """(plugin manager, configuration model) for ``data``'s [plugins] table."""
    plugins = json.dumps(data.get("plugins", {}), sort_keys=True, default=str)
    return _assembly_for_plugins(plugins)


@functools.lru_cache(maxsize=32)
def _assembly_for_plugins(plugins_json: str):
    from ..model import load_plugins
    try:
        manager, _, model = load_plugins({"plugins": json.loads(plugins_json)}, (), True)
    except PluginError as exc:
        raise ConfigError(str(exc)) from None
    return manager, model


def check_config(data: Mapping[str, Any]) -> BaseModel:
    """``data`` checked as building its Simulation checks it, short of running:
    each table, then the plugins' checks across tables (``paget_check_config``,
    e.g. the lethal burden against the primary's size).  Raises
    :class:`paget.ConfigError`; returns the validated configuration."""
    from ..body import make_body
    manager, model = _assembly(data)
    config = validate_config(model, data)
    try:
        body = make_body(config.body.model, config.body.flow_percent,
                         config.body.vertebral_share)
    except ValueError as exc:
        raise ConfigError(f"body.flow_percent: {exc}") from None
    manager.hook.paget_check_config(config=config, body=body)
    return config


# ----------------------------------------------------------------------- keys
def _organ_parts() -> tuple[str, ...]:
    from ..body import ORGANS
    return tuple(ORGANS) + ("default",)


def _locate(key: str, model: type[BaseModel]) -> tuple[tuple[str, ...], Any, str | None]:
    """(path of the field, its FieldInfo, organ part or None) of a dotted key;
    ConfigError naming the key when there is no such number in the model."""
    if not isinstance(key, str) or not key:
        raise ConfigError(f"parameter {key!r}: must be a dotted configuration key, "
                          f"e.g. 'intravasation.rate'")
    parts = tuple(key.split("."))
    current: Any = model
    for i, part in enumerate(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            break
        fields = current.model_fields
        field = fields.get(part)
        where = ".".join(parts[:i])
        if field is None:
            close = [".".join(parts[:i] + (f,)) for f in fields]
            hint = _suggest(key, _all_keys(model)) or _suggest(".".join(parts[:i + 1]), close)
            allowed = (f"; keys of [{where}]: {', '.join(fields)}" if where else
                       f"; tables: {', '.join(f for f in fields if f != 'seed')}")
            raise ConfigError(f"parameter {key!r}: unknown key{hint}{allowed}")
        current = field.annotation
        if i == len(parts) - 1:
            if isinstance(current, type) and issubclass(current, BaseModel):
                raise ConfigError(f"parameter {key!r}: is a table, not a number; its keys: "
                                  f"{', '.join(current.model_fields)}")
            return parts, field, None
        if _is_organ_map(field) and i == len(parts) - 2:
            organ = parts[-1]
            if organ not in _organ_parts():
                raise ConfigError(f"parameter {key!r}: unknown organ {organ!r}"
                                  f"{_suggest(organ, _organ_parts())}; organs are: "
                                  f"{', '.join(_organ_parts())}")
            return parts[:-1], field, organ
    raise ConfigError(f"parameter {key!r}: {'.'.join(parts[:-1])!r} is a value, not a table")


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of the model (for "did you mean")."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _all_keys(ann, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def _number_type(field: Any) -> type | None:
    """``int`` or ``float`` for a number field (or organ map), else None."""
    ann = field.annotation
    for arg in (ann, *typing.get_args(ann)):
        base = typing.get_args(arg)[0] if typing.get_origin(arg) is typing.Annotated else arg
        if base is bool:
            return None
        if base in (int, float):
            return base
    return None


def is_integer(key: str, scenario: str | None = None) -> bool:
    """Whether the key takes whole numbers (a design rounds its values)."""
    _, field, _ = _locate(key, _model(scenario_data(scenario)))
    return _number_type(field) is int


def bounds(key: str, scenario: str | None = None) -> tuple[float, float]:
    """The closed range ``(low, high)`` the configuration model allows for ``key``
    (``-inf``/``inf`` where open); ConfigError for an unknown key or one that is
    not a number (a table, a string, true/false)."""
    _, field, _ = _locate(key, _model(scenario_data(scenario)))
    if _number_type(field) is None:
        raise ConfigError(f"parameter {key!r}: is not a number (its type: "
                          f"{_type_name(field.annotation)}); only numbers can be explored")
    b = _bounds(field.annotation, field.metadata)
    lo = b.get("ge", b.get("gt", -math.inf))
    hi = b.get("le", b.get("lt", math.inf))
    return float(lo), float(hi)


def _open_ends(key: str, scenario: str | None) -> dict[str, float]:
    _, field, _ = _locate(key, _model(scenario_data(scenario)))
    return _bounds(field.annotation, field.metadata)


def _type_name(ann: Any) -> str:
    return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")


def nest(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b.c": 1}`` as ``{"a": {"b": {"c": 1}}}`` (no checks)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        *tables, last = key.split(".")
        node = out
        for t in tables:
            node = node.setdefault(t, {})
        node[last] = value
    return out


def _plain_value(key: str, value: Any, kind: type) -> Any:
    """A NumPy or Python number as the field's type (a whole float as int for an
    int field); anything else is left for the model to refuse."""
    import numpy as np
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int):
        return float(value)
    return value


def resolve(params: Mapping[str, Any], scenario: str | None = None, *,
            base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check flat dotted parameters against the scenario's configuration model.

    Parameters
    ----------
    params : mapping
        Dotted key -> value, e.g. ``{"intravasation.rate": 1e-3}``; a per-organ
        value per organ as ``"extravasation.probability.liver"``.
    scenario : str, optional
        A built-in scenario or a CONFIG.toml (default: ``"default"``).
    base : mapping, optional
        Nested configuration overrides applied before ``params``.

    Returns
    -------
    dict
        The nested overrides (``{"intravasation": {"rate": 0.001}}``), values
        as the key's type; a per-organ key merged into the organ table the
        scenario (and ``base``) give.

    Raises
    ------
    paget.ConfigError
        An unknown key (with "did you mean" when one is close), a value of the
        wrong type or outside the key's allowed range, in one line.
    """
    if not isinstance(params, Mapping):
        raise ConfigError(f"params = {params!r}: must be a mapping of dotted keys to values")
    data = config_for(scenario, base)
    model = _model(data)
    flat: dict[str, Any] = {}
    resolved = None
    for key, value in params.items():
        path, field, organ = _locate(key, model)
        kind = _number_type(field)
        if kind is not None:
            value = _plain_value(key, value, kind)
        if organ is None:
            flat[".".join(path)] = value
            continue
        dotted = ".".join(path)
        table = flat.get(dotted)
        if table is None:    # the value in force: the scenario's (and base's) or the default
            if resolved is None:
                resolved = validate_config(model, data)
            table = _value_at(resolved, path)
            table = dict(table) if isinstance(table, Mapping) else {"default": table}
        table[organ] = value
        flat[dotted] = table
    overrides = nest(flat)
    check_config(deep_merge(data, overrides))
    return overrides


def _value_at(config: BaseModel, path: tuple[str, ...]) -> Any:
    """The validated configuration's value at ``path``."""
    for part in path:
        config = getattr(config, part)
    return config


# ---------------------------------------------------------------------- specs
def read_spec(path: str | Path, keys: Mapping[str, Any] | tuple = (),
              command: str | None = None) -> dict[str, Any]:
    """Read an exploration spec (TOML) and check its common keys.

    Parameters
    ----------
    path : path
        The spec file.
    keys : iterable of str
        The top-level keys the command adds (``("design", "replicates")`` for a
        sweep); any other key besides :data:`COMMON_KEYS` is refused.
    command : str, optional
        The command's name, for messages ("allowed top-level keys of a sweep spec").

    Returns
    -------
    dict
        The spec, with ``scenario`` (default ``"default"``), ``seed`` (default
        1), ``base`` (default ``{}``) and ``parameters`` (default ``{}``)
        filled in; ``base`` checked against the scenario, ``parameters``
        checked by :func:`parameter_ranges`.  A path ``scenario`` is taken
        relative to the spec's directory.
    """
    path = Path(path)
    spec = read_toml(path)
    try:
        _check_spec(spec, path, list(COMMON_KEYS) + list(keys), command)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return spec


def check_keys(table: Mapping[str, Any], allowed, where: str = "",
               what: str = "allowed keys") -> None:
    """Refuse a key of a spec's ``table`` that is not in ``allowed``: one line,
    ``<where><key>: unknown key (did you mean ...?); <what>: <allowed>``."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}{key}: unknown key{_suggest(key, allowed)}; {what}: "
                              f"{', '.join(allowed)}")


def _check_spec(spec: dict[str, Any], path: Path, allowed: list[str],
                command: str | None) -> None:
    check_common(spec, path, allowed, f"allowed top-level keys of a {command or 'paget'} spec")
    spec.setdefault("parameters", {})
    parameter_ranges(spec)


def check_common(spec: dict[str, Any], path: Path, allowed: list[str],
                 what: str = "allowed top-level keys") -> None:
    """Check a spec's top-level keys and its common ones in place: ``scenario``
    (a relative CONFIG.toml path made relative to the spec's directory),
    ``seed`` and ``[base]`` (validated as configuration overrides)."""
    check_keys(spec, allowed, what=what)
    scenario = spec.get("scenario", "default")
    if not isinstance(scenario, str) or not scenario:
        raise ConfigError(f"scenario = {scenario!r}: must be a built-in scenario name or a "
                          f"CONFIG.toml path")
    if scenario.endswith(".toml") and not Path(scenario).is_absolute():
        scenario = str(path.parent / scenario)
    spec["scenario"] = scenario
    try:
        scenario_data(scenario)     # refuses an unknown scenario or an unreadable file
    except ConfigError as exc:
        raise ConfigError(f"scenario = {scenario!r}: {exc}") from None
    seed = spec.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2**63 - 1:
        raise ConfigError(f"seed = {seed!r}: must be a whole number within [0, {2**63 - 1}]")
    spec["seed"] = seed
    base = spec.get("base", {})
    if not isinstance(base, Mapping):
        raise ConfigError(f"base = {base!r}: must be a table [base] of configuration "
                          f"overrides")
    spec["base"] = dict(base)
    try:
        check_config(config_for(scenario, base))
    except ConfigError as exc:
        raise ConfigError(f"[base]: {exc}") from None


#: the keys of a ``[parameters."key"]`` table
RANGE_KEYS = ("low", "high", "log", "values")


def parameter_ranges(spec: Mapping[str, Any]) -> dict[str, tuple[float, float, bool]]:
    """The ``[parameters]`` of a spec as ``{key: (low, high, log)}``, checked.

    Each ``[parameters."key"]`` table gives ``low`` and ``high`` (numbers,
    ``low < high``, both within :func:`bounds` of the key) and optionally
    ``log = true`` (sampled uniformly in log(value): then ``low > 0``), or
    ``values = [...]`` (a grid's levels: ``low``/``high`` are then their
    least and greatest).  The key itself must be a number of the scenario's
    configuration (with the spec's ``base``), and ``seed`` is never a
    parameter (each run's seed derives from the spec's).
    """
    params = spec.get("parameters", {})
    scenario = spec.get("scenario", "default")
    if not isinstance(params, Mapping):
        raise ConfigError(f"parameters = {params!r}: must be tables "
                          f"[parameters.\"key\"] with low, high (and log)")
    out: dict[str, tuple[float, float, bool]] = {}
    for key, table in params.items():
        where = f"parameters.{json.dumps(key)}"
        if key == "seed":
            raise ConfigError(f"{where}: the seed cannot be a parameter; each run's seed "
                              f"derives from the spec's seed and the run's index")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} = {table!r}: must be a table with low and high "
                              f"(and log = true for a log scale)")
        check_keys(table, RANGE_KEYS, f"{where}.")
        try:
            lo_ok, hi_ok = bounds(key, scenario)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
        ends = _open_ends(key, scenario)
        allowed = _range_text(ends) or "any number"
        values = table.get("values")
        if values is not None:
            if not isinstance(values, list) or len(values) < 1 or not all(
                    _is_number(v) for v in values):
                raise ConfigError(f"{where}.values = {values!r}: must be a list of numbers")
            for v in values:
                if not _inside(v, ends):
                    raise ConfigError(f"{where}.values: {_num(float(v))} is outside the "
                                      f"allowed values of {key}: {allowed}")
            lo, hi = float(min(values)), float(max(values))
        else:
            for k in ("low", "high"):
                if k not in table:
                    raise ConfigError(f"{where}.{k}: required key is missing (or give "
                                      f"values = [...])")
                if not _is_number(table[k]):
                    raise ConfigError(f"{where}.{k} = {table[k]!r}: must be a number")
            lo, hi = float(table["low"]), float(table["high"])
            for k, v in (("low", lo), ("high", hi)):
                if not _inside(v, ends):
                    raise ConfigError(f"{where}.{k} = {_num(v)}: outside the allowed values "
                                      f"of {key}: must be {allowed}")
            if not lo < hi:
                raise ConfigError(f"{where}: low = {_num(lo)} must be less than high = "
                                  f"{_num(hi)}")
        log = table.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{where}.log = {log!r}: must be true or false")
        if log and lo <= 0:
            raise ConfigError(f"{where}: log = true needs low > 0, not {_num(lo)}")
        # the whole range must also hold in the scenario (e.g. a lethal burden above
        # the primary's size): checked at its two ends
        base = spec.get("base", {})
        for end, v in (("low", lo), ("high", hi)):
            try:
                resolve({key: v}, scenario, base=base)
            except ConfigError as exc:
                raise ConfigError(f"{where}.{end} = {_num(v)}: {exc}") from None
        out[key] = (lo, hi, bool(log))
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _inside(v: float, ends: Mapping[str, float]) -> bool:
    return not (("ge" in ends and v < ends["ge"]) or ("gt" in ends and v <= ends["gt"])
                or ("le" in ends and v > ends["le"]) or ("lt" in ends and v >= ends["lt"]))
