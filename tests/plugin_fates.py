"""Test plugins for the hooks that decide what becomes of a disseminated cell:
``paget_extravasation`` (the soil per organ), ``paget_dtc_fate`` (die, dormant
or grow after extravasation) and ``paget_dormancy`` (the dormant pools' rates).

Each factory returns a plugin (a module object, as ``paget.Simulation(...,
plugins=[(name, plugin)])`` takes it) whose hook overrides what the built-in
stage plugins set (they run ``tryfirst``; these ``trylast``), so that a test
can predict the engine's counters exactly.
"""
from __future__ import annotations

import types

import numpy as np

import paget


def extravasation(organ: str | None, p: float) -> types.ModuleType:
    """Sets the probability of extravasation in ``organ`` (every organ if None) to ``p``."""
    mod = types.ModuleType(f"extravasation_{organ}_{p}")

    @paget.hookimpl(trylast=True)
    def paget_extravasation(probability, body):
        if organ is None:
            probability[:] = p
        else:
            probability[:, body.organ_index(organ)] = p

    mod.paget_extravasation = paget_extravasation
    return mod


def dtc_fate(die: float, dormant: float, grow: float) -> types.ModuleType:
    """Every extravasated cell, in every organ: (die, dormant, grow)."""
    mod = types.ModuleType(f"dtc_fate_{die}_{dormant}_{grow}")

    @paget.hookimpl(trylast=True)
    def paget_dtc_fate(fates):
        fates[...] = (die, dormant, grow)

    mod.paget_dtc_fate = paget_dtc_fate
    return mod


def dormancy(reactivation: float, death: float) -> types.ModuleType:
    """Per-cell rates (1/day) of every dormant pool."""
    mod = types.ModuleType(f"dormancy_{reactivation}_{death}")

    @paget.hookimpl(trylast=True)
    def paget_dormancy(lesions, rates):
        rates.reactivation[:] = np.where(lesions.dormant, reactivation, 0.0)
        rates.dormant_death[:] = np.where(lesions.dormant, death, 0.0)

    mod.paget_dormancy = paget_dormancy
    return mod
