"""The public entry point: ``paget.Simulation``."""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import xarray as xr
from pydantic import BaseModel

from .body import human_adult
from .config import PluginsTable, build_config_model, deep_merge, read_toml, validate_config
from .engine import RankRun, StepPlan
from .errors import ConfigError, PagetError, PluginError
from .manager import make_plugin_manager
from .output import build_dataset, config_attrs

__all__ = ["Simulation", "list_scenarios", "scenario_path"]


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("paget")
    except Exception:  # pragma: no cover - running from a source tree
        return "0+unknown"


def list_scenarios() -> dict[str, str]:
    """Built-in scenarios: name -> first line of the file's description."""
    out = {}
    for entry in sorted(resources.files("paget.scenarios").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            first = next((ln[1:].strip() for ln in entry.read_text().splitlines()
                          if ln.startswith("#")), "")
            out[entry.name[:-5]] = first
    return out


def scenario_path(name: str):
    res = resources.files("paget.scenarios") / f"{name}.toml"
    if not res.is_file():
        raise ConfigError(f"unknown scenario {name!r}; scenarios: {', '.join(list_scenarios())}")
    return res


class Simulation:
    """A configured run of a virtual cohort.

    Parameters
    ----------
    config : mapping, optional
        The configuration as nested dicts (the TOML tables); missing keys take
        their defaults.  Validated at once: a bad value raises
        :class:`paget.ConfigError` naming the key, the value and what is allowed.
    plugins : iterable of (name, object), optional
        Extra plugin objects (modules or instances with ``@paget.hookimpl``
        methods) to register besides the built-ins, entry points and
        ``[plugins] load``.
    entry_points : bool
        Load third-party plugins from the ``paget`` entry-point group.

    Examples
    --------
    >>> sim = paget.Simulation({"cohort": {"patients": 4, "years": 1}, "seed": 7})
    >>> ds = sim.run()
    >>> ds.tumor_cells.sel(organ="liver").isel(time=-1)
    """

    def __init__(self, config: Mapping[str, Any] | None = None, *,
                 plugins: Iterable[tuple[str, Any]] = (), entry_points: bool = True):
        data = copy.deepcopy(dict(config or {}))
        plugin_cfg = validate_config(_plugins_only_model(), {"plugins": data.get("plugins", {})})
        self.plugin_manager, self.plugin_info = make_plugin_manager(
            load=plugin_cfg.plugins.load, disable=plugin_cfg.plugins.disable,
            entry_points_too=entry_points, extra=plugins)
        tables: dict[str, type[BaseModel]] = {}
        for impl in self.plugin_manager.hook.paget_config_tables.get_hookimpls():
            result = impl.function() or {}
            for name, model in result.items():
                if name in tables:
                    raise PluginError(f"plugins declare table [{name}] twice (second: "
                                      f"{impl.plugin_name!r})", plugin=impl.plugin_name)
                tables[name] = model
        self.config_model = build_config_model(tables)
        # the table of a disabled plugin is left unread, so a scenario keeps
        # working with one of its stages switched off
        for name in plugin_cfg.plugins.disable:
            if name not in self.config_model.model_fields:
                data.pop(name, None)
        self.config = validate_config(self.config_model, data)
        try:
            self.body = human_adult(self.config.body.flow_percent)
        except ValueError as exc:
            raise ConfigError(f"body.flow_percent: {exc}") from None
        self.plan = StepPlan.from_config(self.config)
        self.variables = self._collect_variables()
        #: the fate matrix of the default circulation class (None: no provider)
        self.fates = self.fate_matrix(1.0, 1.0)
        self.version = _version()

    # ----------------------------------------------------------- constructors
    @classmethod
    def from_scenario(cls, name: str = "default", overrides: Mapping[str, Any] | None = None,
                      **kwargs) -> "Simulation":
        """A built-in scenario (see ``paget scenarios``), with nested overrides."""
        return cls(deep_merge(_read_resource(scenario_path(name)), overrides or {}), **kwargs)

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Mapping[str, Any] | None = None,
                  **kwargs) -> "Simulation":
        return cls(deep_merge(read_toml(path), overrides or {}), **kwargs)

    def _collect_variables(self) -> list:
        from .state import COLUMNS, StateVariable
        variables, owner = [], {}
        for impl in self.plugin_manager.hook.paget_state_variables.get_hookimpls():
            for v in impl.function() or ():
                if not isinstance(v, StateVariable):
                    raise PluginError(f"plugin {impl.plugin_name!r}: paget_state_variables must "
                                      f"return StateVariable objects", plugin=impl.plugin_name)
                if v.name in owner or v.name in COLUMNS:
                    raise PluginError(f"plugin {impl.plugin_name!r} declares state variable "
                                      f"{v.name!r}, already declared by "
                                      f"{owner.get(v.name, 'the engine')!r}", plugin=impl.plugin_name)
                owner[v.name] = impl.plugin_name
                variables.append(v)
        return variables

    def fate_matrix(self, survival: float = 1.0, arrest: float = 1.0):
        """The circulation's fate matrix for one class (see ``paget_fate_matrix``)."""
        fm = self.plugin_manager.hook.paget_fate_matrix(config=self.config, body=self.body,
                                                        survival=survival, arrest=arrest)
        if fm is not None:
            _check_fates(fm, self.body.n_organs)
        return fm

    # ---------------------------------------------------------------- queries
    def resolved_config(self) -> dict[str, Any]:
        """The full configuration with every default filled in (JSON types)."""
        return self.config.model_dump(mode="json")

    @property
    def plugin_names(self) -> list[str]:
        return [p.name for p in self.plugin_info]

    # -------------------------------------------------------------------- run
    def run(self, comm=None, progress: Callable[[int], None] | None = None) -> xr.Dataset | None:
        """Simulate the cohort and return the Dataset.

        Parameters
        ----------
        comm : mpi4py communicator, optional
            Patients are split into contiguous blocks over its ranks; each rank
            simulates its block and rank 0 gathers the result.  Defaults to a
            serial run.  Results do not depend on the number of ranks.
        progress : callable, optional
            Called with the number of steps just completed (on each rank).

        Returns
        -------
        xarray.Dataset on rank 0 (and in a serial run); None on other ranks.
        """
        size = 1 if comm is None else comm.Get_size()
        rank = 0 if comm is None else comm.Get_rank()
        P = self.config.cohort.patients
        lo, hi = P * rank // size, P * (rank + 1) // size
        error: BaseException | None = None
        part: dict[str, np.ndarray] | None = None
        try:
            run = RankRun(self.config, self.body, self.plugin_manager.hook, lo, hi,
                          None if self.fates is None else self.fate_matrix, self.variables)
            part = run.run(progress=progress)
        except Exception as exc:  # reported on every rank below, never left hanging
            error = exc
        if comm is not None:
            errors = comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
            if error is None and any(errors):
                first = next(e for e in errors if e)
                raise PagetError(f"another rank failed: {first}")
        if error is not None:
            raise error
        parts = [part] if comm is None else comm.gather(part, root=0)
        if rank != 0:
            return None
        return self._dataset(parts)

    def _dataset(self, parts: list[dict[str, np.ndarray]]) -> xr.Dataset:
        merged = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
        attrs = config_attrs(self.resolved_config(), self.config.seed, self.version,
                             self.plugin_names)
        return build_dataset(merged, times=self.plan.times, organs=self.body.organs,
                             n_patients=self.config.cohort.patients, attrs=attrs,
                             variables=self.variables)


def _plugins_only_model():
    """A model that validates only the [plugins] table (read before plugins load)."""
    return _PluginsOnly


class _PluginsOnly(BaseModel):
    model_config = {"extra": "ignore"}
    plugins: PluginsTable = PluginsTable()


def _read_resource(res) -> dict[str, Any]:
    import tomllib
    return tomllib.loads(res.read_text())


def _check_fates(fates, n_org: int) -> None:
    blood, lymph = np.asarray(fates.blood), np.asarray(fates.lymph)
    if blood.shape != (n_org, n_org + 1) or lymph.shape != (n_org + 1,):
        raise PluginError(f"paget_fate_matrix returned shapes {blood.shape}, {lymph.shape}; "
                          f"expected ({n_org}, {n_org + 1}) and ({n_org + 1},)",
                          hook="paget_fate_matrix")
    for name, a in (("blood", blood), ("lymph", lymph)):
        if not (np.all(np.isfinite(a)) and a.min() >= 0 and
                np.allclose(a.sum(axis=-1), 1.0, atol=1e-9)):
            raise PluginError(f"paget_fate_matrix: {name} rows must be probabilities summing to 1",
                              hook="paget_fate_matrix")
