"""Dissemination: the fates of the CTCs shed in a step.

Circulation, arrest and extravasation to death, dormancy or growth: the
fate-matrix cache, the extravasation and DTC-fate hooks and the kernel call."""
from __future__ import annotations

import numpy as np

from ..body import Body
from ..contract import neutral
from ..errors import PluginError
from ..ext import engine_step, kernels
from ..state import FateMatrix


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)`` for two
    float columns: the pairs in lexicographic order, and each row's index among
    them.  A step's few classes in one compiled pass
    (:func:`paget.ext.engine_step.unique_pairs`); where it declines (a zero, a
    NaN, many pairs), by three 1-D uniques (the axis form sorts rows as void
    records, ~10x slower)."""
    got = engine_step.unique_pairs(a, b)
    if got is not None:
        return got
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    codes, inverse = np.unique(ia.ravel() * ub.size + ib.ravel(), return_inverse=True)
    return np.stack([ua[codes // ub.size], ub[codes % ub.size]], 1), inverse.ravel()


def check_fates(fates: FateMatrix, n_org: int) -> None:
    """Refuse a fate matrix of the wrong shape or whose rows are not probabilities."""
    blood, lymph = np.asarray(fates.blood), np.asarray(fates.lymph)
    if blood.shape != (n_org, n_org + 1) or lymph.shape != (n_org + 1,):
        raise PluginError(f"paget_fate_matrix returned shapes {blood.shape}, {lymph.shape}; "
                          f"expected ({n_org}, {n_org + 1}) and ({n_org + 1},)",
                          hook="paget_fate_matrix")
    checks = [("blood", blood), ("lymph", lymph)]
    if fates.lymph_by_source is not None:
        by_source = np.asarray(fates.lymph_by_source)
        if by_source.shape != (n_org, n_org + 1):
            raise PluginError(f"paget_fate_matrix returned lymph_by_source of shape "
                              f"{by_source.shape}; expected ({n_org}, {n_org + 1})",
                              hook="paget_fate_matrix")
        checks.append(("lymph_by_source", by_source))
    if fates.direct is not None:
        direct = np.asarray(fates.direct)
        if direct.shape != (n_org, n_org + 1):
            raise PluginError(f"paget_fate_matrix returned direct fates of shape {direct.shape}; "
                              f"expected ({n_org}, {n_org + 1})", hook="paget_fate_matrix")
        checks.append(("direct", direct))
    for name, a in checks:
        if not (np.all(np.isfinite(a)) and a.min() >= 0 and
                np.allclose(a.sum(axis=-1), 1.0, atol=1e-9)):
            raise PluginError(f"paget_fate_matrix: {name} rows must be probabilities summing to 1",
                              hook="paget_fate_matrix")


def lymph_by_source(fates: FateMatrix) -> np.ndarray:
    """The lymph fates per source organ, ``(n_organs, n_organs + 1)``:
    ``fates.lymph_by_source``, or ``fates.lymph`` for every source."""
    if fates.lymph_by_source is not None:
        return np.asarray(fates.lymph_by_source, dtype=np.float64)
    lymph = np.asarray(fates.lymph, dtype=np.float64)
    return np.broadcast_to(lymph, (np.asarray(fates.blood).shape[0], lymph.size))


def solve_fate_matrix(hook, config, body: Body, survival: float, arrest: float
                      ) -> FateMatrix | None:
    """``paget_fate_matrix`` for one circulation class, checked with
    :func:`check_fates` (None: no plugin implements the hook)."""
    fm = hook.paget_fate_matrix(config=config, body=body, survival=survival, arrest=arrest)
    if fm is not None:
        check_fates(fm, body.n_organs)
    return fm


class Dissemination:
    """The fates of the CTCs a step's rows shed, for :class:`paget.engine.RankRun`."""

    def fate_matrix(self, survival: float, arrest: float) -> FateMatrix:
        """The fate matrix of one circulation class, from ``paget_fate_matrix``
        (checked, and cached per pair)."""
        key = (float(survival), float(arrest))
        fm = self._fate_cache.get(key)
        if fm is None:
            fm = solve_fate_matrix(self.hook, self.config, self.body, *key)
            if fm is None:
                raise PluginError("lesions shed CTCs but no loaded plugin implements "
                                  "paget_fate_matrix (see `paget plugins`; was the one that "
                                  "does disabled in [plugins]?)", hook="paget_fate_matrix")
            self._fate_cache[key] = fm
        return fm

    def _fate_stack(self, key: tuple[tuple[float, float], ...]
                    ) -> tuple[list[FateMatrix], np.ndarray, np.ndarray]:
        """The fate matrices of circulation classes ``key`` (``(survival,
        arrest)`` each, Python floats), and their blood and lymph fates stacked
        for the kernel; the stacks are kept per tuple of classes (most steps
        have the same one)."""
        got = self._stack_cache.get(key)
        if got is None:
            mats = [self.fate_matrix(a, b) for a, b in key]
            got = (mats, np.ascontiguousarray(np.stack([fm.blood for fm in mats])),
                   np.ascontiguousarray(np.stack([lymph_by_source(fm) for fm in mats])))
            if len(self._stack_cache) >= 64:
                self._stack_cache.clear()
            self._stack_cache[key] = got
        return got

    def _direct_route(self, src, rates, mats) -> tuple:
        """The kernel's direct-route arguments (``direct``, ``f_direct``,
        ``exfoliated``) where a source row sends cells by it, else ``()``: a
        run without the route calls the kernel as it always did."""
        d = rates.direct_fraction[src]
        if not engine_step.any_nonzero(d):
            return ()
        if np.max(d + rates.lymph_fraction[src]) > 1.0 + 1e-12:
            raise PluginError("paget_intravasation: lymph_fraction + direct_fraction must be "
                              "<= 1 for every row", hook="paget_intravasation")
        if any(fm.direct is None for fm in mats):
            raise PluginError("rates.direct_fraction > 0 but paget_fate_matrix gave no direct "
                              "fates (FateMatrix.direct is None): which plugin routes those "
                              "cells?", hook="paget_fate_matrix")
        return (np.ascontiguousarray(d, dtype=np.float64),
                np.ascontiguousarray(np.stack([fm.direct for fm in mats])),
                np.zeros(src.size, np.int64))

    def _sources(self, src: np.ndarray):
        """The view of the shedding rows ``src`` for the hooks: the last step's
        renewed with the rows' cells now (:meth:`paget.state.Lesions.renewed`)
        when the same rows of the same table shed again (the usual: the same
        few lesions shed step after step), rows appended since or not (the
        table's ``layout``: a sixth of a small run's steps add a dormant pool),
        else a new one."""
        tab = self.table
        key = (src.dtype, src.tobytes())   # (dtype.str would make a string each call)
        got = self._last_sources
        if got is not None and got[0] is tab and got[1] == tab.layout and got[2] == key \
                and got[3] == (self.lo, self.P, self.group):
            sources = got[4].renewed(tab.cells[src])
        else:
            sources = self._lesions(src)
        self._last_sources = (tab, tab.layout, key, (self.lo, self.P, self.group), sources)
        return sources

    def _kernel_outputs(self, m: int) -> tuple[np.ndarray, ...]:
        """The dissemination kernel's outputs for ``m`` source rows (arrested,
        extravasated, dtc_died, dormant and founded, ``(m, n_organs)`` each, and
        died, ``(m,)``; every value written by the kernel, read within the step),
        and ``m`` zeros as the fate class of one circulation class: the arrays of
        the last step when it had as many sources (the usual), else new ones."""
        got = self._dissemination_scratch
        if got is None or got[0] != m:
            got = self._dissemination_scratch = (
                m, (*np.empty((5, m, self.n_org), np.int64), np.empty(m, np.int64),
                    np.zeros(m, np.int64)))
        return got[1]

    def _disseminate(self, step, t, src, shed, rates, state, patients, exfoliated=None
                     ) -> list[tuple[str, dict[str, np.ndarray]]]:
        """Route the CTCs the rows ``src`` shed; ``exfoliated`` (one per row of
        the table, or None) receives the cells each took by the direct route."""
        tab, n_org, acc = self.table, self.n_org, self.acc
        m = src.size
        sources = self._sources(src)
        # circulation classes: one fate matrix per distinct (survival, arrest) pair
        # the columns of the source rows read here, in one compiled pass
        (src_uid, src_patient, src_organ, src_shed, src_lymph, sp, surv, arr,
         one_class) = engine_step.gather_sources(
            src, shed, tab.uid, tab.patient, tab.organ, rates.lymph_fraction,
            rates.ctc_survival, rates.ctc_arrest, self.lo)
        arrested, extravasated, dtc_died, dormant, founded, died, one_class_index = \
            self._kernel_outputs(m)
        if one_class:   # the usual (item: a Python float, without a NumPy scalar)
            classes, fate_class = ((surv.item(0), arr.item(0)),), one_class_index
        else:
            pairs, fate_class = _unique_pairs(surv, arr)
            classes = tuple((float(a), float(b)) for a, b in pairs)
        mats, f_blood, f_lymph = self._fate_stack(classes)
        direct = self._direct_route(src, rates, mats)
        p_ext = neutral("probability", (m, n_org), self._neutral_buffers)
        fates = neutral("fates", (m, n_org), self._neutral_buffers)
        env = dict(sources=sources, state=state, patients=patients, config=self.config,
                   body=self.body, t=t)
        self.hook.paget_extravasation(probability=p_ext, **env)
        self.hook.paget_dtc_fate(fates=fates, **env)
        # the sum over the last axis, added as NumPy's reduction adds three terms
        if engine_step.fates_off(fates) > 1e-9:
            raise PluginError("paget_dtc_fate: fates must sum to 1 over (die, dormant, grow)",
                              hook="paget_dtc_fate")
        kernels.disseminate(src_uid, src_patient, src_organ,
                            np.ascontiguousarray(fate_class, dtype=np.int64).ravel(), src_shed,
                            src_lymph, f_blood, f_lymph,
                            p_ext, fates, self.seed, step, arrested, died,
                            extravasated, dtc_died, dormant, founded, *direct)
        if direct and exfoliated is not None:
            exfoliated[src] = direct[2]
        # the counters, the first seeding times and the (row, organ) pairs that
        # found colonies or join dormant pools, in one compiled pass (counts add
        # up exactly in any order)
        (fri, foj, fcount), (dri, doj, dcount) = engine_step.tally_fates(
            sp, src_organ, src_shed, died, arrested, extravasated,
            dtc_died, dormant, founded, self.P, n_org, acc["ctc_shed"],
            acc["ctc_died"], acc["ctc_arrested"], acc["dtc_extravasated"], acc["dtc_died"],
            acc["dtc_dormant"], acc["colonies_founded"], self.events["first_seeding_time"],
            self._t(step + 1))
        new = []
        # founders: one new one-cell lesion per growing cell
        if fri.size:
            new.append(("lesion", self._found("founder", src[fri], fcount, step, organ=foj)))
        # dormant cells join the pool of (source row, organ), or found it
        if dri.size:
            new.append(self._pool_cells(src, dri, dcount, doj, step))
        return new
