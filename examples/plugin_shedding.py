"""A third-party plugin at work: examples/plugins/slow_shedding.py halves shedding.

Runs one patient twice with the same seed, without and with the plugin (loaded
by module name through ``[plugins] load``), and compares the circulating tumour
cells shed in the first 30 days.  Then shows that the plugin's own table is
validated like paget's: ``factor = 2`` is refused before anything runs::

    python examples/plugin_shedding.py
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import paget

# make examples/plugins importable by module name (an installed plugin package
# would not need this, see examples/plugins/pyproject.toml)
sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))

BASE = {
    "seed": 5,
    "cohort": {"patients": 1, "years": 0.25},
    "primary": {"cells": 1e9},
    "output": {"interval": 30.0},
}


def shed_first_month(config: dict) -> int:
    """CTCs shed by all lesions over the first recorded interval (30 days)."""
    ds = paget.Simulation(config, entry_points=False).run()
    return int(ds.ctc_shed.isel(patient=0, time=1).sum())


def main() -> None:
    full = shed_first_month(BASE)
    slow = shed_first_month({**BASE, "plugins": {"load": ["slow_shedding"]},
                             "slow_shedding": {"factor": 0.5}})
    print(f"CTCs shed in the first 30 days: {full} without the plugin, {slow} with factor 0.5 "
          f"(ratio {slow / full:.4f})")

    try:
        paget.Simulation({**BASE, "plugins": {"load": ["slow_shedding"]},
                          "slow_shedding": {"factor": 2}}, entry_points=False)
    except paget.ConfigError as exc:
        message = str(exc)
        print(f"factor = 2 is refused: {message}")
    else:
        raise AssertionError("factor = 2 should have been refused")

    # Shedding is Poisson: the counts have variance equal to their means
    # (full ~ lam, slow ~ lam / 2), so slow - full / 2 has a standard deviation
    # of at most sqrt(lam / 2 + lam / 4) if the two draws were independent
    # (draws keyed by the same lesion and step are positively correlated, which
    # only narrows it).  Four standard deviations:
    assert full > 0
    assert abs(slow - full / 2) < 4 * math.sqrt(0.75 * full), (full, slow)
    assert "slow_shedding.factor" in message and "2" in message


if __name__ == "__main__":
    main()
