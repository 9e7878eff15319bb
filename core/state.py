"""Structure-of-arrays state of a rank: the lesion table, per-step rates, patients."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .contract import RATES, STEP_HOOKS, describe
from .domains import fold_sum
from .ext import kernels
from .ext.engine_rows import lesion_cells, put_rows, readonly_heads, take_rows, view_masks
from .ext.engine_step import fill_rows
from .ext.engine_sums import fold_sum_serial
from .ext.kernels import FLAG_DORMANT, FLAG_PRIMARY, bounds_check  # noqa: F401 (paget.state.FLAG_*)

__all__ = ["LesionTable", "Lesions", "Rates", "Patients", "FateMatrix", "State",
           "StateVariable", "StateRead", "out_of_bounds", "lesion_groups", "COLUMNS"]


class FateMatrix(NamedTuple):
    """Absorbing fates of a CTC (see ``paget_fate_matrix``).

    ``direct`` (optional): row i is the fate of a cell that leaves a lesion of
    organ i by a direct route (a serosal cavity), for the share
    ``rates.direct_fraction`` of its shed cells; None: there is no such route.

    ``lymph_by_source`` (optional): row i is the fate of a cell shed into lymph
    by a lesion of organ i, where lymph enters the node chain at a station that
    depends on the source (a nodal metastasis drains into the next station, a
    visceral one into nodes that are distant for the primary); None: every
    lesion's lymph has the fates ``lymph``.
    """

    blood: np.ndarray  # (n_organs, n_organs + 1)
    lymph: np.ndarray  # (n_organs + 1,)
    direct: np.ndarray | None = None  # (n_organs, n_organs + 1) or None
    lymph_by_source: np.ndarray | None = None  # (n_organs, n_organs + 1) or None


#: Columns of the lesion table and their dtypes: 63 bytes per row.  A row is a
#: subpopulation: the cells of one clone in one lesion.
COLUMNS: dict[str, np.dtype] = {
    "uid": np.dtype(np.uint64),        # identity of the row (keys its random streams)
    "parent": np.dtype(np.uint64),     # uid of the row whose cell founded it (0: primary)
    "lesion": np.dtype(np.uint64),     # identity of the lesion the row belongs to
    "clone": np.dtype(np.uint64),      # identity of the clone (uid of its founding row)
    "genotype": np.dtype(np.uint64),   # set of driver alterations, one bit each
    "cells": np.dtype(np.float64),
    "patient": np.dtype(np.int64),
    "birth_step": np.dtype(np.int32),
    "organ": np.dtype(np.int16),
    "flags": np.dtype(np.uint8),
}


@dataclass(frozen=True)
class StateVariable:
    """A variable a plugin keeps in the engine's state (``paget_state_variables``).

    The engine allocates it, carries it through new rows, compaction,
    checkpoints and MPI decomposition, hands it to every hook in ``state``, and
    writes it to the output.

    Attributes
    ----------
    name : str
        Key in ``state.lesion`` or ``state.patient``; output name
        ``lesion_<name>`` (lesion level) or ``<name>`` (patient levels).
    level : {"lesion", "patient", "patient_organ"}
        One value per lesion-table row, per patient, or per (patient, organ).
    dtype : {"float64", "int64", "bool"}
    default : value of a new row or patient.
    units, long_name : str
        Written as the output variable's attributes.
    inherit : bool
        Lesion level: a row founded by another row (a metastasis, a new clone,
        a dormant pool) copies its founder's value instead of the default.
    output : bool
        Write it to the dataset (lesion level: the final lesion table; patient
        levels: recorded at every output time).
    over_time : bool
        Patient levels: record the value at every output time (dims
        ``(patient, time[, organ])``); False writes only its value at the end
        of the run (dims ``(patient[, organ])``), as for an event time.
    """

    name: str
    level: str
    dtype: str = "float64"
    default: float | int | bool = 0.0
    units: str = "1"
    long_name: str = ""
    inherit: bool = False
    output: bool = True
    over_time: bool = True

    def __post_init__(self):
        if self.level not in ("lesion", "patient", "patient_organ"):
            raise ValueError(f"state variable {self.name!r}: level must be lesion, patient "
                             f"or patient_organ, got {self.level!r}")
        if self.dtype not in ("float64", "int64", "bool"):
            raise ValueError(f"state variable {self.name!r}: dtype must be float64, int64 or "
                             f"bool, got {self.dtype!r}")
        if not self.name.isidentifier():
            raise ValueError(f"state variable name {self.name!r} is not an identifier")


@dataclass(frozen=True)
class StateRead:
    """Another plugin's state variable a plugin reads (``paget_state_reads``).

    Checked when the model is assembled, before step 0 (see
    :func:`paget.model.check_state_reads`): a required variable that no loaded
    plugin declares, or a read the call order would serve the wrong step's
    value, is a :class:`paget.PluginError` naming both plugins.

    Parameters
    ----------
    name : str
        The variable (``state.lesion[name]`` or ``state.patient[name]``).
    hook : str
        The (earliest) per-step hook in which the plugin reads it.  The owner
        writes its variables in the hooks it implements, most in
        ``paget_update_state``, the first of a step: a read in a later hook
        sees what the owner wrote in the earlier ones, whatever the order of
        the plugins.
    required : bool
        The plugin cannot work without it.  False: the plugin checks whether it
        is there (``state.patient.get(name)``) and does without.
    previous_step : bool
        Read *before* the owner's implementation of the same hook updates it
        (e.g. in ``paget_update_state``, the previous step's value): the
        owner's implementation must be called after the reader's.  False: the
        owner's implementation of the hook, if it has one, must be called
        first.
    reason : str
        Why it is needed, for the error message of a missing provider.
    """

    name: str
    hook: str = "paget_update_state"
    required: bool = True
    previous_step: bool = False
    reason: str = ""

    def __post_init__(self):
        if self.hook not in STEP_HOOKS:
            raise ValueError(f"state read {self.name!r}: hook must be one of "
                             f"{', '.join(STEP_HOOKS)}, got {self.hook!r}")


class LesionTable:
    """Growable structure-of-arrays of every lesion subpopulation a rank owns.

    Rows ``[0, n)`` are live.  ``append`` grows the buffers geometrically;
    ``compact`` drops rows, keeping the order of the others (row order never
    affects a result: every draw is keyed by uid).  ``extra`` adds plugin
    columns: name -> (dtype, default).
    """

    def __init__(self, capacity: int = 1024, extra: dict[str, tuple[str, Any]] | None = None):
        self._cap = max(int(capacity), 16)
        self.extra = dict(extra or {})
        self._data = {k: np.zeros(self._cap, dtype=dt) for k, dt in COLUMNS.items()}
        for k, (dt, default) in self.extra.items():
            self._data[k] = np.full(self._cap, default, dtype=dt)
        # the live views handed out, kept until the rows or the buffers change
        # (a step reads each column dozens of times): writable ones, also set
        # as attributes (``table.cells``), and read-only ones for hooks
        self._live: dict[str, np.ndarray] = {}
        self._frozen: tuple[np.ndarray, ...] | None = None
        self._extras: dict[str, np.ndarray] | None = None
        self._view_cols: tuple[np.ndarray, ...] | None = None
        #: counts the changes of rows (appends, compactions); a view made at one
        #: version shows the same rows as long as the version stays
        self.version = 0
        #: counts the compactions that dropped rows: while it stays, every row
        #: keeps its position and its columns but ``cells`` (an append only adds
        #: rows after the others), so a view of some rows (which holds copies)
        #: renewed with their cells is what a fresh view of them would be
        self.layout = 0
        self._resize(0)

    def _resize(self, n: int) -> None:
        """Set the number of live rows; drop the views of the old rows."""
        d = self.__dict__
        for name in self._live:
            d.pop(name, None)
        self._live.clear()
        self._frozen = None
        self._extras = None
        self._view_cols = None
        self.n = n
        self.version += 1

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:
        data = self.__dict__.get("_data")
        if data is not None and name in data:
            view = self.__dict__[name] = self.column(name)   # until the next _resize
            return view
        raise AttributeError(name)

    def column(self, name: str) -> np.ndarray:
        """The live part of any column, core or extra (a writable view)."""
        view = self._live.get(name)
        if view is None:
            view = self._live[name] = self._data[name][: self.n]
        return view

    def extra_columns(self) -> dict[str, np.ndarray]:
        """The live parts of the extra (plugin) columns, a new dict of writable views."""
        if self._extras is None:
            self._extras = {name: self.column(name) for name in self.extra}
        return dict(self._extras)

    def view_columns(self) -> tuple[np.ndarray, ...]:
        """The live parts of the columns a view of some rows takes
        (:data:`_VIEW_COLUMNS`), the same tuple until the rows change."""
        if self._view_cols is None:
            self._view_cols = tuple(self.column(k) for k in _VIEW_COLUMNS)
        return self._view_cols

    def frozen_columns(self) -> tuple[np.ndarray, ...]:
        """The live parts of the columns a view takes (:data:`_VIEW_COLUMNS`), then
        each row's position (``arange(n)``), read-only, made in one compiled call
        (:func:`paget.ext.engine_rows.readonly_heads`): the same tuple until the
        rows change."""
        if self._frozen is None:
            data = self._data
            self._frozen = readonly_heads(tuple(data[k] for k in _VIEW_COLUMNS), self.n)
        return self._frozen

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._data)

    @property
    def nbytes_per_row(self) -> int:
        return sum(a.dtype.itemsize for a in self._data.values())

    def append(self, **cols: np.ndarray) -> None:
        """Append rows: every core column is required; extra columns take their
        default where not given."""
        m = len(cols["uid"])
        if m == 0:
            return
        data = self._data
        if not (cols.keys() >= COLUMNS.keys() and cols.keys() <= data.keys()):
            missing = set(COLUMNS) - set(cols)
            unknown = set(cols) - set(data)
            raise ValueError(f"append: missing columns {sorted(missing)}, unknown {sorted(unknown)}")
        need = self.n + m
        if need > self._cap:
            cap = max(need, 2 * self._cap)
            for k, arr in data.items():
                new = np.zeros(cap, dtype=arr.dtype)
                new[: self.n] = arr[: self.n]
                data[k] = new
            self._cap = cap
        # every column's new rows in one compiled call: the given columns copied,
        # the extra ones not given set to their defaults
        put_rows(tuple(data.values()), self.n, m,
                 tuple([cols[k] if k in cols else self.extra[k][1] for k in data]))
        self._resize(need)

    def take(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows selected by a boolean mask or index array."""
        return {k: arr[: self.n][keep].copy() for k, arr in self._data.items()}

    def compact(self, keep: np.ndarray) -> None:
        """Keep only the rows selected by the boolean mask ``keep``."""
        m = int(np.count_nonzero(keep))
        if m == self.n:
            return
        for k, arr in self._data.items():
            arr[:m] = arr[: self.n][keep]
        self.layout += 1
        self._resize(m)

    def view(self, dt: float, lo: int = 0, rows: np.ndarray | None = None, *,
             n_patients: int | None = None, n_organs: int | None = None,
             group=None) -> "Lesions":
        """Read-only views of the live rows (or of ``rows``), for hooks.

        ``dt`` converts steps to days; ``lo`` is the rank's first patient;
        ``n_patients``, ``n_organs`` and ``group`` (a :class:`paget.domains.Group`
        or None) are those of the per-patient reductions."""
        return Lesions(self, dt, lo, rows, n_patients=n_patients, n_organs=n_organs,
                       group=group)


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.setflags(write=False)     # (a little cheaper than v.flags.writeable = False)
    return v


def lesion_groups(lesion: np.ndarray, uid: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The rows that share their lesion with other rows, without sorting them all.

    A lesion of several rows holds a row founded as a clone inside it (``lesion``
    differs from ``uid``), so its id is among the few distinct ``lesion`` ids of
    such rows; every other row is a lesion of its own.  Returns (positions of
    the rows of those lesions, ascending; each one's group index, the rank of its
    lesion id among them; the number of groups), by one compiled pass over the
    rows with a hash table of those ids (:func:`paget.ext.kernels.lesion_groups`).
    """
    return kernels.lesion_groups(np.ascontiguousarray(lesion, dtype=np.uint64),
                                 np.ascontiguousarray(uid, dtype=np.uint64))


#: the columns a view of some rows takes (:class:`Lesions`)
_VIEW_COLUMNS = ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ", "cells",
                 "flags", "birth_step")


class Lesions:
    """Read-only per-row arrays handed to hooks (see :mod:`paget.hookspecs`).

    ``dormant``, ``primary`` and ``pidx``, which nearly every hook reads, are
    made with the view; the other derived arrays (``birth_time``,
    ``lesion_cells``, ``lesion_index``) on first access, so a hook pays only
    for what it reads.  ``row``
    is each row's index in the rank's table (``state.lesion`` arrays are
    indexed by it); ``pidx`` its patient's index among the rank's patients
    (``state.patient`` and ``patients`` arrays are indexed by it).

    A patient's rows may be spread over several ranks (one patient, or fewer
    patients than ranks: see :mod:`paget.domains`).  What needs all of a
    patient's rows comes from :meth:`patient_sum` and :meth:`largest_lesion`,
    which reduce over those ranks; ``np.bincount(lesions.pidx, ...)`` would
    see only this rank's part.  Per-lesion arrays (``lesion_cells``,
    :meth:`lesion_sum`) are whole: a lesion's rows are always on one rank.
    """

    __slots__ = ("uid", "parent", "lesion", "clone", "genotype", "patient", "organ", "cells",
                 "row", "dormant", "primary", "pidx", "_flags", "_birth_step", "_dt", "_lo",
                 "_cache", "_n_patients", "_n_organs", "_group")

    def __init__(self, table: "LesionTable", dt: float, lo: int = 0,
                 rows: np.ndarray | None = None, *, n_patients: int | None = None,
                 n_organs: int | None = None, group=None):
        if rows is None:    # the table's read-only views, shared until its rows change
            (self.uid, self.parent, self.lesion, self.clone, self.genotype, self.patient,
             self.organ, self.cells, self._flags, self._birth_step, self.row) = \
                table.frozen_columns()
        else:
            # the rows' columns in one compiled gather where ``rows`` are int64
            # positions (the engine's), else by NumPy's indexing
            columns = table.view_columns()
            got = take_rows(rows, columns)
            if got is None:
                got = tuple(c[rows] for c in columns)
            (uid, parent, lesion, clone, genotype, patient, organ, cells, self._flags,
             self._birth_step) = got
            self.row = _ro(np.asarray(rows))
            self.uid, self.parent, self.lesion = _ro(uid), _ro(parent), _ro(lesion)
            self.clone, self.genotype = _ro(clone), _ro(genotype)
            self.patient, self.organ, self.cells = _ro(patient), _ro(organ), _ro(cells)
        self._dt = dt
        self._lo = lo
        # read by nearly every hook, several times a step: plain attributes (a
        # property call each read cost ~0.2 us, ~30 reads a step), made here in
        # one compiled pass: dormant (bool: the row is a pool of solitary
        # dormant cells), primary (bool: the row belongs to its patient's
        # primary tumour), pidx (int64: index of the row's patient among this
        # rank's patients), read-only
        self.dormant, self.primary, self.pidx = view_masks(self._flags, self.patient, lo)
        self._cache: dict[str, Any] = {}
        self._n_patients = n_patients
        self._n_organs = n_organs
        self._group = group

    def renewed(self, cells: np.ndarray | None = None) -> "Lesions":
        """This view again, after the rows' cells changed in place (a step's
        draws, a removal), keeping what derives from the other columns.

        Only ``cells`` ever changes in place; any other change of the rows (an
        append, a compaction) makes the table's views anew.  So for a view
        taken at the table's current version, the new view holds the same
        arrays as a fresh one would, and the same derived arrays but
        ``lesion_cells``, which is made again when read.  A view of the
        table's live rows (``rows`` None) shows their cells as they are; a
        view of some rows holds a copy of their cells, so give ``cells``, the
        rows' cells now (a new array, which the view takes read-only).  Such a
        view holds copies of its rows' columns, so rows appended since leave
        it as it is: it may be renewed while the table's ``layout`` stays.
        """
        new = Lesions.__new__(Lesions)
        # every slot but the cache (one statement: a loop of setattr is ~4x slower)
        (new.uid, new.parent, new.lesion, new.clone, new.genotype, new.patient, new.organ,
         new.cells, new.row, new.dormant, new.primary, new.pidx, new._flags, new._birth_step,
         new._dt, new._lo, new._n_patients, new._n_organs, new._group) = (
            self.uid, self.parent, self.lesion, self.clone, self.genotype, self.patient,
            self.organ, self.cells, self.row, self.dormant, self.primary, self.pidx, self._flags,
            self._birth_step, self._dt, self._lo, self._n_patients, self._n_organs, self._group)
        if cells is not None:
            if cells.shape != self.cells.shape or cells.dtype != self.cells.dtype:
                raise ValueError(f"renewed: cells must be {self.cells.dtype} of shape "
                                 f"{self.cells.shape}, got {cells.dtype} {cells.shape}")
            new.cells = _ro(cells)
        cache = new._cache = self._cache.copy()
        cache.pop("lesion_cells", None)
        return new

    def _derived(self, name: str, make) -> np.ndarray:
        # (the derived arrays read by most hooks inline this, a call less each)
        a = self._cache.get(name)
        if a is None:
            a = self._cache[name] = _ro(make())
        return a

    @property
    def birth_time(self) -> np.ndarray:
        """float64, days: when the row was founded."""
        return self._derived("birth_time", lambda: self._birth_step * self._dt)

    @property
    def single_clone(self) -> bool:
        """True when every lesion is one row (no lesion holds several clones)."""
        return self._multi_row_lesions()[2] == 0

    @property
    def lesion_index(self) -> np.ndarray:
        """int64: index of the row's lesion among the distinct lesion ids of these
        rows (``np.unique(lesion, return_inverse=True)``), to group rows by lesion."""
        return self._derived("lesion_index", lambda: np.unique(
            self.lesion, return_inverse=True)[1].ravel().astype(np.int64))

    @property
    def lesion_cells(self) -> np.ndarray:
        """float64: per row, the cells of its lesion (all its growing rows; 0 for a
        dormant pool's own cells).  Sums of whole numbers below 2**53: exact and
        independent of row order.  Computed once per step and shared by hooks."""
        a = self._cache.get("lesion_cells")
        if a is None:
            # lesion_sum of np.where(dormant, 0.0, cells), in one compiled call
            a = self._cache["lesion_cells"] = _ro(lesion_cells(self.dormant, self.cells,
                                                               *self._multi_row_lesions()))
        return a

    def lesion_sum(self, values: np.ndarray) -> np.ndarray:
        """float64: per row, the sum of ``values`` (one per row) over the rows of
        its lesion.

        Rows are added in row order, as ``np.bincount(lesion_index,
        weights=values)[lesion_index]`` adds them, so the sums are the same to
        the bit (a lone ``-0.0`` stays ``-0.0``, where bincount gives ``0.0``); for
        ``bool`` values, ``lesion_sum(mask) > 0`` tells whether any row of the
        lesion is set.  Only the lesions of several rows (clones) are grouped,
        without sorting the table: most rows are lesions of their own.
        """
        values = np.asarray(values)
        if values.shape != self.uid.shape:
            raise ValueError(f"lesion_sum: values must have one entry per row "
                             f"({self.uid.size}), got shape {values.shape}")
        out = values.astype(np.float64)      # a copy: the caller's array is left alone
        rows, group, n_groups = self._multi_row_lesions()
        if n_groups:
            out[rows] = np.bincount(group, weights=out[rows], minlength=n_groups)[group]
        return out

    @property
    def serial(self) -> bool:
        """True when no other rank holds a row of these rows' patients and the view
        knows its patients' and organs' counts: then a patient's sum over these
        rows is the whole :meth:`patient_sum` (a sum of whole numbers, to the bit),
        which a built-in plugin's compiled hook body may take in the same pass
        as the rest of its work."""
        return self._group is None and self._n_patients is not None \
            and self._n_organs is not None

    def _n(self) -> int:
        if self._n_patients is not None:
            return self._n_patients
        return int(self.pidx.max()) + 1 if self.pidx.size else 0

    def patient_sum(self, values: np.ndarray, *, rows: np.ndarray | None = None,
                    by_organ: bool = False) -> np.ndarray:
        """float64, per patient (``(n_patients,)``, indexed like ``patients``) or
        per (patient, organ) with ``by_organ``: the sum of ``values`` over the
        patient's rows, on every rank that holds part of the patient.

        ``values`` has one entry per row, or per entry of ``rows`` (positions
        among these rows) to add only those.  Collective: when a patient is
        split over ranks, each of them must call it, in the same order of
        calls, whatever its own rows are (so never inside ``if`` on this
        rank's rows).  The sum is the same to the bit however the rows are
        split (:func:`paget.domains.fold_sum`): exact for whole numbers such
        as cells, within float64 rounding otherwise.
        """
        values = np.asarray(values)
        if rows is None and not by_organ and self._group is None \
                and self._n_patients is not None:   # the usual: one call, compiled
            if values.shape != self.uid.shape:
                raise ValueError(f"patient_sum: values must have one entry per row "
                                 f"({self.uid.shape[0]}), got shape {values.shape}")
            return fold_sum_serial(self.pidx, values, self._n_patients)
        where = slice(None) if rows is None else np.asarray(rows, dtype=np.intp)
        expected = self.uid.shape if rows is None else where.shape
        if values.shape != expected:
            raise ValueError(f"patient_sum: values must have one entry per row "
                             f"({expected[0]}), got shape {values.shape}")
        n = self._n()
        if by_organ:
            if self._n_organs is None:
                raise ValueError("patient_sum(by_organ=True): this view was made without "
                                 "n_organs (LesionTable.view(..., n_organs=))")
            # each row's (patient, organ) index, once per view (hooks sum by organ
            # several times a step)
            cell = self._cache.get("_patient_organ")
            if cell is None:
                cell = self._cache["_patient_organ"] = self.pidx * self._n_organs + self.organ
            index = cell if rows is None else cell[where]
            return self._fold_sum(index, values, n * self._n_organs).reshape(n, self._n_organs)
        index = self.pidx if rows is None else self.pidx[where]
        return self._fold_sum(index, values, n)

    def _fold_sum(self, index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
        """:func:`paget.domains.fold_sum` over this view's group; alone, its
        compiled serial form (the same to the bit, one call)."""
        if self._group is None:
            return fold_sum_serial(index, values, n)
        return fold_sum(index, values, n, self._group)

    def largest_lesion(self) -> tuple[np.ndarray, np.ndarray]:
        """Per patient: the id (uint64) and cells (float64) of its largest growing
        lesion among these rows (ties: the lowest id); id 0 and 0 cells where it
        has none.  Collective, as :meth:`patient_sum`."""
        n = self._n()
        rows = np.flatnonzero(~self.dormant & (self.cells > 0))
        ids, first, inverse = np.unique(self.lesion[rows], return_index=True,
                                        return_inverse=True)
        size = np.bincount(inverse.ravel(), weights=self.cells[rows], minlength=ids.size)
        pidx = self.pidx[rows][first]
        order = np.lexsort((ids, -size, pidx))
        top = order[np.r_[True, pidx[order][1:] != pidx[order][:-1]]] if order.size else order
        best = np.zeros(n, np.uint64)
        cells = np.zeros(n)
        best[pidx[top]] = ids[top]
        cells[pidx[top]] = size[top]
        if self._group is not None:
            all_cells = self._group.allgather(cells)
            all_ids = self._group.allgather(best)
            cells = all_cells.max(axis=0)
            mask = (all_cells == cells) & (cells > 0)
            best = np.where(mask, all_ids, np.iinfo(np.uint64).max).min(axis=0)
            best[cells == 0] = 0
        return best, cells

    def _multi_row_lesions(self) -> tuple[np.ndarray, np.ndarray, int]:
        """:func:`lesion_groups` of these rows, once per view (no groups: every
        lesion is one row)."""
        got = self._cache.get("_multi")
        if got is None:
            got = self._cache["_multi"] = lesion_groups(self.lesion, self.uid)
        return got

    def __len__(self) -> int:
        return len(self.uid)


class State:
    """Plugin-declared state (``paget_state_variables``), writable by hooks.

    ``lesion[name]``: shape ``(n_rows,)``, indexed like ``lesions``;
    ``patient[name]``: shape ``(n_patients,)`` or ``(n_patients, n_organs)``,
    indexed by ``lesions.pidx`` / ``patients`` order.
    """

    __slots__ = ("lesion", "patient")

    def __init__(self, lesion: dict[str, np.ndarray], patient: dict[str, np.ndarray]):
        self.lesion = lesion
        self.patient = patient


def _rates_doc() -> str:
    lines = ["Per-row rates a step's hooks fill; each starts at its neutral value.", "",
             "Generated from :data:`paget.contract.RATES`: one float64 (or bool) array",
             "of shape ``(n_rows,)`` per attribute, set by the hook named.", "",
             "Attributes", "----------"]
    for r in RATES:
        lines += [f"{r.name} : numpy.ndarray", f"    Set by ``{r.hook}``. {describe(r)}"]
    return "\n".join(lines)


@dataclass
class Rates:
    __doc__ = _rates_doc()
    # the fields, in the order of paget.contract.RATES (one declaration per rate)
    __annotations__ = {r.name: "np.ndarray" for r in RATES}

    #: name -> neutral value of each rate
    NEUTRAL = {r.name: r.neutral for r in RATES}

    @classmethod
    def neutral(cls, n: int, buffers: dict | None = None) -> "Rates":
        """Rates of ``n`` rows at their neutral values.

        With ``buffers`` (a dict kept by the caller) the arrays are views of
        buffers grown as needed, so a step allocates nothing: the float rates
        are rows of one 2-D buffer, set to their neutral values by one
        compiled call (:func:`paget.ext.engine_step.fill_rows`).  The Rates
        object itself is new each step, so a hook that rebinds an attribute
        affects only that step.
        """
        if buffers is None:
            return cls(**{name: np.full(n, v, dtype=dtype) for name, v, dtype in _RATE_FIELDS})
        got = buffers.get("_views")
        if got is None or got[0] != n:
            block, flags = buffers.get("_float"), buffers.get("_bool")
            if block is None or block.shape[1] < n:
                cap = max(n, 2 * (0 if block is None else block.shape[1]))
                block = buffers["_float"] = np.empty((len(_FLOAT_RATES), cap))
                flags = buffers["_bool"] = np.empty((len(_BOOL_RATES), cap), dtype=bool)
            views = {name: block[i, :n] for i, name in enumerate(_FLOAT_RATES)}
            views.update({name: flags[i, :n] for i, name in enumerate(_BOOL_RATES)})
            got = buffers["_views"] = (n, block[:, :n], flags[:, :n], views)
        _, block, flags, views = got
        fill_rows(block, _FLOAT_NEUTRAL)
        fill_rows(flags, _BOOL_NEUTRAL)
        rates = cls.__new__(cls)
        rates.__dict__.update(views)
        return rates


#: (name, neutral value, dtype) of each rate, in field order
_RATE_FIELDS = tuple((r.name, r.neutral, bool if r.dtype == "bool" else np.float64)
                     for r in RATES)
#: the float and the bool rates, and their neutral values
_FLOAT_RATES = tuple(name for name, _, dtype in _RATE_FIELDS if dtype is np.float64)
_BOOL_RATES = tuple(name for name, _, dtype in _RATE_FIELDS if dtype is bool)
_FLOAT_NEUTRAL = np.array([v for name, v, dtype in _RATE_FIELDS if dtype is np.float64],
                          dtype=np.float64)
_BOOL_NEUTRAL = np.array([v for name, v, dtype in _RATE_FIELDS if dtype is bool], dtype=bool)

_min, _max = np.minimum.reduce, np.maximum.reduce


def out_of_bounds(a: np.ndarray, lo: float, hi: float) -> bool:
    """True if ``a`` holds NaN, +-inf or a value outside [lo, hi].

    The engine checks every rate array after every hook implementation, so
    contiguous float64 arrays (all of the engine's) take the compiled one-pass
    check, ``kernels.bounds_check``; anything else takes NumPy's reductions.
    """
    found = bounds_check(a, lo, hi)
    if found >= 0:
        return found == 1
    if a.size == 0 or a.dtype == bool:
        return False
    amin, amax = _min(a, axis=None), _max(a, axis=None)
    # NaN fails every comparison; the strict ones against inf exclude infinities
    return not (amin >= lo and amax <= hi and -np.inf < amin and amax < np.inf)


@dataclass(frozen=True)
class Patients:
    """Read-only per-patient arrays handed to hooks."""

    index: np.ndarray   # int64, cohort index of each of this rank's patients
    alive: np.ndarray   # bool
    burden: np.ndarray  # float64, total tumour cells
    #: int64: CTCs shed by the patient's lesions in the previous step
    ctc_shed: np.ndarray | None = None
    #: float64, cells/day: expected tumour-cell deaths per day in the previous
    #: step (sum of death rate x cells over growing rows)
    cell_death: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.index)
        if self.ctc_shed is None:
            object.__setattr__(self, "ctc_shed", np.zeros(n, np.int64))
        if self.cell_death is None:
            object.__setattr__(self, "cell_death", np.zeros(n))

    @classmethod
    def of(cls, index: np.ndarray, alive: np.ndarray, burden: np.ndarray,
           ctc_shed: np.ndarray, cell_death: np.ndarray) -> "Patients":
        """The patients with every array given, without the frozen dataclass's
        ``__init__`` (an ``object.__setattr__`` per field and ``__post_init__``,
        ~1 us): the engine makes one each step (:meth:`paget.engine.RankRun._patients`)."""
        patients = object.__new__(cls)
        patients.__dict__.update(index=index, alive=alive, burden=burden, ctc_shed=ctc_shed,
                                 cell_death=cell_death)
        return patients

    def __len__(self) -> int:
        return len(self.index)
