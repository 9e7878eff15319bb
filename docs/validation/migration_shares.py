"""Regenerate the "Shares per scenario" table of docs/howto/migration.md.

Runs each shipped cancer scenario untreated for ten years (``--patients`` each,
seed 1, through ``paget.Simulation.run``) and
rewrites the table between the markers ``<!-- BEGIN SHARES -->`` and
``<!-- END SHARES -->`` of the how-to with each class's share of patients.

Usage::

    python docs/validation/migration_shares.py [--patients 100]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import paget
from paget.migration import PATTERNS

PAGE = Path(__file__).resolve().parents[1] / "howto" / "migration.md"
SCENARIOS = ("breast", "colorectal", "lung", "melanoma", "pancreas", "prostate")
BEGIN, END = "<!-- BEGIN SHARES -->", "<!-- END SHARES -->"
#: the table's columns: every class, ``none`` (no metastasis) once, last
KEYS = (*(k for k in PATTERNS if k != "none"), "none")


def shares(scenario: str, patients: int, seed: int = 1) -> dict[str, float]:
    """Percent of patients in each migration class (and ``none``)."""
    sim = paget.Simulation.from_scenario(
        scenario, {"cohort": {"patients": patients, "years": 10.0}, "seed": seed})
    values = [str(v) for v in sim.run().migration_pattern.values]
    return {k: 100.0 * values.count(k) / len(values) for k in KEYS}


def table(rows: dict[str, dict[str, float]], patients: int) -> str:
    keys = KEYS
    lines = ["| scenario | patients | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for name, s in rows.items():
        lines.append(f"| {name} | {patients} | " + " | ".join(f"{s[k]:.1f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100, help="patients per scenario")
    a = ap.parse_args(argv)
    t0 = time.time()
    rows = {}
    for name in SCENARIOS:
        rows[name] = shares(name, a.patients)
        print(f"{name}: {rows[name]}  ({time.time() - t0:.0f} s)", flush=True)
    text = PAGE.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{BEGIN}\n{table(rows, a.patients)}\n{END}{tail}")
    print(f"rewrote {PAGE} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
