"""Runs with a chosen few of the built-in factor plugins, the others switched off.

The factor plugins are built in (``paget.manager.DEFAULT_PLUGINS``).  A test of
one of them compares a run in which it is the only factor (or one of a chosen
few) with a control without it, so that its expectations need not account for
the others: ``run(cfg, "immune")`` is the five stages and immune,
``run(cfg)`` the five stages alone.
"""
from __future__ import annotations

from typing import Any, Iterable

import paget
from paget.manager import DEFAULT_PLUGINS

FACTORS = ("genetics", "microenvironment", "angiogenesis", "immune")
assert set(FACTORS) <= {name for name, _ in DEFAULT_PLUGINS}


def only(cfg: dict, *names: str) -> dict:
    """``cfg`` with every factor plugin not in ``names`` disabled (the table of a
    disabled plugin is left unread)."""
    unknown = set(names) - set(FACTORS)
    assert not unknown, f"not factor plugins: {sorted(unknown)}"
    plugins = dict(cfg.get("plugins", {}))
    off = [n for n in FACTORS if n not in names]
    plugins["disable"] = list(dict.fromkeys([*plugins.get("disable", []), *off]))
    return {**cfg, "plugins": plugins}


def simulation(cfg: dict, *names: str, extra: Iterable[tuple[str, Any]] = ()) -> paget.Simulation:
    """A simulation with the factor plugins ``names`` only (and ``extra`` ones)."""
    return paget.Simulation(only(cfg, *names), plugins=list(extra), entry_points=False)


def run(cfg: dict, *names: str, extra: Iterable[tuple[str, Any]] = ()):
    return simulation(cfg, *names, extra=extra).run()
