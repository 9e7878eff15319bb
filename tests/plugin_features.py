"""A test plugin exercising the engine's extension points at once: plugin state
at every level, keyed draws, mutation with genotypes, circulation classes.

Loaded by name (``--plugin tests.plugin_features``) in decomposition tests.
"""
import numpy as np

import paget
from paget.state import StateVariable


@paget.hookimpl
def paget_state_variables():
    return [
        StateVariable("marked", "lesion", "bool", False, "1", "row was marked by a keyed draw",
                      inherit=True),
        StateVariable("age_steps", "lesion", "int64", 0, "steps", "steps the row has lived"),
        StateVariable("exposure", "patient", "float64", 0.0, "cell days", "integral of burden"),
        StateVariable("seen", "patient_organ", "float64", 0.0, "1", "organ ever held a lesion"),
    ]


@paget.hookimpl
def paget_update_state(lesions, state, patients, dt, draws):
    u = draws.uniform(lesions, "features:mark")
    state.lesion["marked"] |= u < 0.01
    state.lesion["age_steps"] += 1
    state.patient["exposure"] += patients.burden * dt
    live = ~lesions.dormant & (lesions.cells > 0)
    state.patient["seen"][lesions.pidx[live], lesions.organ[live]] = 1.0


@paget.hookimpl
def paget_growth(lesions, rates):
    rates.mutation[:] = np.where(lesions.dormant, 0.0, 1e-7)


@paget.hookimpl
def paget_mutation(parents, uniform):
    bit = (uniform * 8).astype(np.uint64)
    return parents.genotype | (np.uint64(1) << bit)


@paget.hookimpl
def paget_circulation(lesions, rates, state):
    # marked rows shed hardier, stickier CTCs: a second circulation class
    rates.ctc_survival[state.lesion["marked"]] = 1.02
    rates.ctc_arrest[state.lesion["marked"]] = 1.5
