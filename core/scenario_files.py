"""The built-in scenarios: their names, descriptions, sources and configuration files."""
from __future__ import annotations

from importlib import resources
from typing import Any

from .errors import ConfigError


def list_scenarios() -> dict[str, str]:
    """Built-in scenarios: name -> first line of the file's description."""
    out = {}
    for entry in sorted(resources.files("paget.scenarios").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            first = next((ln[1:].strip() for ln in entry.read_text().splitlines()
                          if ln.startswith("#")), "")
            out[entry.name[:-5]] = first
    return out


def scenario_sources(name: str) -> str:
    """The ``# Sources:`` line of a built-in scenario ('' if it has none)."""
    for ln in scenario_path(name).read_text().splitlines():
        if ln.startswith("# Sources:"):
            return ln[len("# Sources:"):].strip()
    return ""


def scenario_path(name: str):
    """The file of the built-in scenario ``name`` (a ConfigError listing them if none)."""
    res = resources.files("paget.scenarios") / f"{name}.toml"
    if not res.is_file():
        raise ConfigError(f"unknown scenario {name!r}; scenarios: {', '.join(list_scenarios())}")
    return res


def _read_resource(res) -> dict[str, Any]:
    import tomllib
    return tomllib.loads(res.read_text())
