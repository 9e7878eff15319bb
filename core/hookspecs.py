"""Hook specifications: the whole contract between the engine and plugins.

Each hook is called **once per step per MPI rank** with arrays covering every
lesion (or patient) that rank owns, never once per lesion.  Hooks are called by
keyword; an implementation declares only the arguments it needs.  Per-step hooks
*fill arrays in place*: the engine sets each array to its neutral value (each
hook's "Outputs", generated from :data:`paget.contract.OUTPUTS`), then calls the implementations in pluggy order.  Built-in stage plugins
are marked ``tryfirst`` so that they set base values and factor plugins,
called after them, scale those values.

Arguments common to several hooks
---------------------------------
config : pydantic model
    The fully resolved configuration; ``config.<table>.<key>``.  Read-only.
body : paget.body.Body
    The anatomy: ``body.organs`` (names), ``body.flow`` (fraction of cardiac
    output, shape ``(n_organs,)``), ``body.drains``.
lesions : paget.state.Lesions
    Read-only arrays, shape ``(n_rows,)``, one row per subpopulation (the cells
    of one clone in one lesion, or a pool of dormant cells) of this rank:
    ``uid`` (uint64, the row), ``lesion`` (uint64, the lesion it belongs to),
    ``clone`` (uint64), ``genotype`` (uint64, one bit per driver alteration),
    ``parent`` (uint64 uid of the founding row; 0 for the primary),
    ``patient`` (int64, cohort index), ``pidx`` (int64, index among this rank's
    patients), ``row`` (int64, index into ``state.lesion`` arrays), ``organ``
    (int16, index into ``body.organs``), ``cells`` (float64, whole cells),
    ``dormant`` (bool: a pool of solitary dormant cells), ``primary`` (bool),
    ``birth_time`` (float64, days).  A patient's rows may be spread over
    several ranks (fewer patients than ranks): sum over a patient with
    ``lesions.patient_sum(values)`` (``by_organ=True`` per organ; ``rows=``
    for some rows), and find its largest lesion with
    ``lesions.largest_lesion()``, not with ``np.bincount(lesions.pidx, ...)``,
    which would see this rank's part.  Both are collective: call them on
    every rank, never inside an ``if`` that depends on this rank's rows.
    Per-lesion sums (``lesion_cells``, ``lesion_sum``) are local: a lesion's
    rows are always on one rank.
sources : paget.state.Lesions
    The same arrays for the rows that shed CTCs in this step, shape ``(m,)``.
state : paget.state.State
    Plugin-declared variables (``paget_state_variables``), writable:
    ``state.lesion[name]`` shape ``(n_rows,)``, ``state.patient[name]`` shape
    ``(n_patients,)`` or ``(n_patients, n_organs)``.
draws : paget.random.Draws
    Keyed random numbers for plugins: ``draws.uniform(lesions, "purpose")``
    gives one uniform per row that depends on (seed, row, step, purpose) only,
    so a plugin's random decisions do not depend on the number of ranks;
    ``draws.uniform(lesions, "purpose", rows=idx)`` gives those of the rows
    ``idx`` only (the same values), and ``draws.uniform_patients(patients,
    "purpose")`` one per patient.
rates : paget.state.Rates
    Writable arrays of shape ``(n_rows,)`` that the step kernel will use; each
    hook documents which it fills.
patients : paget.state.Patients
    Read-only arrays, shape ``(n_patients,)`` over this rank's patients:
    ``index`` (int64, cohort index), ``alive`` (bool), ``burden`` (float64,
    total tumour cells), ``ctc_shed`` (int64, CTCs shed into blood or lymph in
    the previous step, all organs; cells a direct route took into a serosal
    cavity are not counted), ``cell_death`` (float64, cells/day: the expected rate of
    tumour-cell death in the previous step, sum over growing rows of
    ``death * cells``; the source of circulating tumour DNA).
t : float
    Time at the start of the step, days since the start of the run.
dt : float
    Step length, days.
"""
from __future__ import annotations

import pluggy

from .contract import outputs_text

hookspec = pluggy.HookspecMarker("paget")

__all__ = ["hookspec"]


def _outputs(spec):
    """Append the hook's declared outputs (:mod:`paget.contract`) to its docstring."""
    spec.__doc__ = f"{spec.__doc__.rstrip()}\n\n    {outputs_text(spec.__name__)}"
    return spec


# --------------------------------------------------------------------------
# Set-up (called once per run, before step 0)
# --------------------------------------------------------------------------

@hookspec
def paget_config_tables():
    """Declare this plugin's configuration tables.

    Returns
    -------
    dict[str, type[pydantic.BaseModel]]
        Table name -> model.  Each becomes ``[name]`` in TOML and
        ``config.name`` in hooks; its fields are validated like the engine's.
        Derive models from :class:`paget.config.Table` to forbid unknown keys.
    """


@hookspec
def paget_state_variables():
    """Declare variables this plugin keeps in the engine's state.

    Returns
    -------
    list of paget.state.StateVariable
        Each is allocated by the engine, carried through new rows, compaction,
        checkpoints and MPI decomposition, handed to hooks in ``state`` and
        written to the output.  Names must be unique across plugins.
    """


@hookspec
def paget_state_reads(config):
    """Declare the other plugins' state variables this plugin reads.

    Returns
    -------
    list of paget.state.StateRead
        Each names a variable another plugin declares and the hook it is read
        in; it may depend on the configuration (e.g. required only when a
        feature that needs it is switched on).  Checked before step 0: a
        required variable no loaded plugin declares, or a call order that
        would hand the read the wrong step's value, is a ``PluginError``
        naming both plugins (:func:`paget.model.check_state_reads`).
    """


@hookspec
def paget_check_config(config, body):
    """Refuse, before step 0, a configuration this plugin cannot run.

    Called once when a Simulation is built (and once per trial arm), after each
    table was validated on its own: for what spans several tables or needs the
    body, which a table's own validators cannot see (e.g. a threshold against
    another plugin's parameter).  Raise :class:`paget.ConfigError` naming the
    key, its value and what is allowed; it reaches the user as bad input (one
    line, exit status 2).  Return nothing.
    """


@hookspec
def paget_output_attrs(config):
    """Add attributes to output variables that depend on the configuration.

    Called once per Dataset built (after a run).  For CF flags of enumerated
    or bit-mask integers (``flag_values`` or ``flag_masks``, with
    ``flag_meanings``: words separated by blanks), and a ``comment``.

    Returns
    -------
    dict[str, dict[str, Any]]
        Output variable name -> attributes to add.  The variable must exist
        in the output; ``units`` and ``long_name`` come from the variable's
        declaration and may not be replaced, and two plugins may not set the
        same attribute of one variable.
    """


@hookspec(firstresult=True)
def paget_fate_matrix(config, body, survival, arrest):
    """Fates of a circulating tumour cell, solved once per circulation class.

    ``survival`` and ``arrest`` (floats: the class's ``rates.ctc_survival`` and
    ``rates.ctc_arrest``) multiply the per-pass survival and arrest
    probabilities (see ``paget_circulation``);
    the engine caches the result per distinct pair, so this is called once per
    class in a run, not per step.

    Returns
    -------
    paget.state.FateMatrix or None
        ``blood``: shape ``(n_organs, n_organs + 1)``; row i is the
        distribution of fates of a CTC shed into the venous blood of organ i:
        column j < n_organs, arrested in organ j; last column, died in
        circulation.  ``lymph``: shape ``(n_organs + 1,)``, the same for a
        cell shed into lymph.  ``lymph_by_source`` (optional, default None:
        ``lymph`` for every source): shape ``(n_organs, n_organs + 1)``, row i
        the fates of a cell shed into lymph by a lesion of organ i (the
        built-in ``circulation`` sets it: a lesion's lymph enters the node
        chain at the station its organ drains to).  ``direct`` (optional, default None: no such
        route): shape ``(n_organs, n_organs + 1)``, row i the fates of a cell
        that leaves a lesion of organ i by a direct route (a serosal cavity),
        for the share ``rates.direct_fraction`` of its shed cells; a plugin
        adds it by wrapping this hook (the built-in ``transcoelomic`` does).
        Rows are probabilities summing to 1.
        The first non-None result wins.  With no implementation CTCs cannot
        be routed, and a run whose lesions shed is refused before step 0.
    """


# --------------------------------------------------------------------------
# The cascade, per step (each called once per step per rank)
# --------------------------------------------------------------------------

@hookspec
def paget_update_state(lesions, state, patients, config, body, t, dt, draws):
    """Advance plugin state by one step; called first in every step.

    It is also called before step 0 with ``t = 0`` and ``dt = 0``: once to
    record the state at time 0 (the output's first time; every array the hook
    writes is then restored), and in a run that starts by injecting cells into
    a vessel (``primary.injection``) once more, so that state the injected
    cells' fate depends on (e.g. genetics' traits) is set.  A plugin that draws
    or accumulates per unit time should do nothing when ``dt == 0``.

    Write ``state.lesion[...]`` and ``state.patient[...]`` in place (e.g. the
    vascular switch of avascular lesions, a pre-metastatic niche building up).
    """


@hookspec
@_outputs
def paget_removal(lesions, fraction, state, patients, config, body, t):
    """Remove cells from lesions at the start of a step: set ``fraction``.

    ``fraction``: the share of each row's cells taken out of the body now.
    The engine keeps ``floor(cells * (1 - fraction) + u)`` cells,
    ``u`` a keyed uniform per row, so the expected count is exact and the
    result does not depend on the number of ranks; removed cells are counted
    in the output variable ``cells_removed``.  Called after
    ``paget_update_state`` and before the rates of the step are set.
    """


@hookspec
@_outputs
def paget_invasion(lesions, rates, state, patients, config, body, t):
    """Local invasion: set ``rates.invasive``, the invasive fraction of each lesion."""


@hookspec
@_outputs
def paget_intravasation(lesions, rates, state, patients, config, body, t):
    """Intravasation: set ``rates.shed``, ``rates.lymph_fraction`` and ``rates.direct_fraction``."""


@hookspec
@_outputs
def paget_growth(lesions, rates, state, patients, config, body, t, dt):
    """Growth of non-dormant lesions: set ``rates.birth``, ``rates.death`` and ``rates.mutation``.

    The kernel takes the exact birth-death transition (Kendall 1948) over
    ``dt``, or, where ``rates.deterministic`` is set, the mean.  At the
    neutral values a lesion does not change.  Rows that are dormant pools are
    ignored.
    """


@hookspec
@_outputs
def paget_circulation(lesions, rates, state, patients, config, body, t):
    """Per-row circulation classes: set ``rates.ctc_survival`` and ``rates.ctc_arrest``.

    Multipliers of the per-pass survival and arrest probabilities of the CTCs
    each row sheds (NK-cell kill, clusters, clone traits).  Rows sharing a pair share a fate matrix (``paget_fate_matrix``).
    """


@hookspec(firstresult=True)
def paget_mutation(parents, uniform, config):
    """Genotypes of new clones: return a uint64 array of shape ``(k,)``.

    ``parents`` are the rows (``Lesions``) of the k cells that mutated in this
    step (a row repeats if several of its cells did); ``uniform`` is one
    keyed uniform in [0, 1) per new clone.  Return each new clone's genotype
    (usually the parent's plus one alteration bit).  The first non-None result
    wins; with no implementation a new clone keeps its parent's genotype.
    """


@hookspec
@_outputs
def paget_dormancy(lesions, rates, state, patients, config, body, t):
    """Dormant pools: set ``rates.reactivation`` and ``rates.dormant_death``.

    Competing risks of solitary dormant cells; at the neutral values dormancy
    lasts forever.  Only rows with ``lesions.dormant`` are read.
    """


@hookspec
@_outputs
def paget_extravasation(sources, probability, state, patients, config, body, t):
    """Extravasation: set ``probability``, one row per ``sources`` row.

    Called in steps in which some row shed CTCs.
    """


@hookspec
@_outputs
def paget_dtc_fate(sources, fates, state, patients, config, body, t):
    """Colonization: set ``fates``, one row per ``sources`` row.

    A growing cell founds a one-cell lesion; a dormant
    one joins the pool of its organ and source row.
    """


@hookspec
@_outputs
def paget_outcome(lesions, patients, state, config, body, t_end, dying):
    """Outcomes at the end of a step: which patients die, and the events they reach.

    Called after every step's growth and dissemination, with the patients'
    ``burden`` of the step's end, before the state is recorded.  Set
    ``dying[i] = True`` for the patients who die at ``t_end``; the engine then freezes them: their
    time of death is recorded as ``death_time``, their rows leave the table, and
    their recorded state stays as it is now.  A patient already dead
    (``patients.alive`` False) cannot die again (``dying`` is ignored there).
    Record event times in the plugin's own patient-level state
    (``paget_state_variables``, ``over_time=False``), at ``t_end``.

    ``t_end`` (float, days) is the end of the step.  The hook is also called at
    ``t_end = 0`` before step 0, to record the state at time 0; every array it
    writes then is restored, and ``dying`` is ignored.  Collective, like
    ``lesions.patient_sum``: called on every rank, in the same order.
    """
