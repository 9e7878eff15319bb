"""Treatment plans: surgery, lines of systemic therapy, adaptive and precision policies.

Everything counts from ``diagnosis_time`` (the imaging plugin's diagnosis).

Surgery (``[surgery]``)
    With ``enabled = true`` the primary is resected at diagnosis: in the step
    in which imaging diagnoses it (``delay = 0``, the default), or ``delay``
    days later.  ``residual`` of its cells are left (``paget_removal``); from
    then on only metastases shed.
Lines of systemic therapy (``[treatment] lines``)
    An ordered list of agents, e.g. ``["chemotherapy", "targeted",
    "immunotherapy"]``.  Line 1 starts ``start`` days after diagnosis (adjuvant
    after surgery, or first line); each later line starts when the policy
    (``switch_on``) sees progression on the previous one:

    * ``"progression"``: radiological progression at a scan, RECIST 1.1
      (Eisenhauer et al. 2009, Eur J Cancer 45:228) [READ-2]: the sum of
      diameters of seen lesions at least 20 % and 5 mm above its smallest
      value since the line started (the nadir), or a lesion seen in an organ
      where none was at the nadir;
    * ``"ctdna"``: the ctDNA fraction at least ``ctdna_rise`` times its nadir
      and above ``ctdna_floor``.

    ``therapy_line`` is the line whose agent is acting (0 when none is: before
    the first, after a chemotherapy course, after the last line).
Agents (added per-cell death rates, on growing rows, ``paget_growth``)
    * **chemotherapy**: ``cycles`` doses ``interval`` days apart.  Norton-Simon
      (Norton & Simon 1977, Cancer Treat Rep 61:1307; Gompertzian breast
      cancer: Norton 1988, Cancer Res 48:7067): the fractional kill of a dose
      is proportional to the *unperturbed* (untreated) net growth rate ``g``
      of the row: the growth law's (``colonization.growth``) at the row's
      size ``N``, with the factors that make this patient's or clone's tumour
      grow faster or slower, before any agent acts.  A dose kills
      ``log_kill g / g_ref`` logs, ``g_ref`` the law's rate at
      ``reference_cells`` in the primary's organ without factors: a tumour of
      ``reference_cells`` cells growing at the law's rate loses exactly
      ``log_kill`` logs per dose, smaller ones more, larger ones less
      (Gompertz: ``ln(K/N) / ln(K/N_ref)``), a faster-growing patient's or
      clone's more; under exponential growth without factors every row loses
      ``log_kill`` logs (classic log-kill).  The kill is an added death rate
      ``log_kill ln(10) (g / g_ref) / dt`` over the step of the dose; dormant
      cells and rows that do not grow (``g <= 0``) are spared.
      A dose is held while performance status is ``hold_performance_status``
      or worse (until it improves); each dose may end the course for
      cumulative toxicity with probability ``toxicity x doses given``.
    * **targeted**: continuous; kills rows whose genotype carries the chosen
      target alteration at ``kill_rate`` per day; rows without it are spared,
      so resistant relapse comes from the clonal model.  With ``biopsy =
      true`` the target is the first of ``targets`` found in a biopsy of the
      largest seen lesion at the line's start (clones making up at least
      ``detection_fraction`` of its cells); a biopsy that finds none skips the
      line.  The biopsy samples one lesion: subclones elsewhere are missed.
    * **immunotherapy**: continuous; adds ``kill_rate x v`` per day, ``v`` the
      immune visibility of the row (``paget.plugins.immune.visibility``:
      competence x (1 - immune_evasion)), and multiplies each capillary bed's
      survival of a shed CTC by ``1 - ctc_kill x v``: evading clones are not
      affected.

    Every agent's kill is scaled by ``1 - drug_resistance`` (genetics' trait;
    immunotherapy excepted).
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from paget.config import Table, resolve_organ_map
from paget.errors import ConfigError
from paget.manager import hookimpl
from paget.plugins.colonization import step_net_rate
from paget.state import StateRead, StateVariable

AGENTS = ("chemotherapy", "targeted", "immunotherapy")
Agent = Literal[AGENTS]  # type: ignore[valid-type]
LN10 = np.log(10.0)


class SurgeryTable(Table):
    enabled: bool = Field(False, description="resect the primary, at diagnosis unless delay is "
                                             "set")
    # The default is surgery at diagnosis, in the step of diagnosis: a modelling
    # choice, not a published interval; set delay for the weeks of work-up that
    # pass in practice.
    delay: float = Field(0.0, ge=0,
                         description="days from diagnosis to surgery (0: surgery at "
                                     "diagnosis, in the step in which the primary is "
                                     "diagnosed)",
                         json_schema_extra={"source": "modelling choice: surgery at diagnosis"})
    residual: float = Field(0.0, ge=0, le=1,
                            description="fraction of the primary's cells left behind")


class TreatmentTable(Table):
    lines: list[Agent] = Field(default_factory=list,
                               description="agents of the successive lines of systemic therapy")
    # ASSUMPTION: line 1 about eight weeks after diagnosis (e.g. adjuvant
    # therapy four weeks after a surgery four weeks after diagnosis).
    start: float = Field(56.0, ge=0,
                         description="days from diagnosis to the start of line 1",
                         json_schema_extra={"source": "assumption"})
    switch_on: list[Literal["progression", "ctdna"]] = Field(
        default_factory=lambda: ["progression"],
        description="readouts that move a patient to the next line")
    # ASSUMPTION: a doubling of ctDNA over its nadir, above 0.1 % tumour fraction.
    ctdna_rise: float = Field(2.0, gt=1,
                              description="fold rise of the ctDNA fraction over its nadir that "
                                          "counts as progression",
                              json_schema_extra={"source": "assumption"})
    ctdna_floor: float = Field(1e-3, ge=0, le=1,
                               description="ctDNA fraction below which a rise is not counted")


class ChemotherapyTable(Table):
    # ASSUMPTION: six three-weekly cycles, a common adjuvant schedule.
    cycles: int = Field(6, ge=0, description="doses in a course",
                        json_schema_extra={"source": "assumption: six three-weekly cycles, a "
                                                     "common adjuvant schedule"})
    interval: float = Field(21.0, gt=0, description="days between doses")
    # Log-kill: a dose kills the same fraction of tumour cells whatever the
    # tumour's size (Skipper, Schabel & Wilcox 1964, Cancer Chemother Rep 35:1;
    # the concept READ-2 in Traina & Norton, 'Log-kill hypothesis', Encyclopedia
    # of Cancer, Springer; the volume and page RECALLED).  Solid-tumour
    # chemotherapy kills typically 1-2 logs per cycle at most [RECALLED]: the
    # lower end.
    log_kill: float = Field(1.0, ge=0,
                            description="logs of cells killed by one dose of a tumour of "
                                        "reference_cells cells growing at the growth law's "
                                        "rate (Norton-Simon: each row loses logs in proportion "
                                        "to its untreated net growth rate, so smaller and "
                                        "faster-growing tumours lose more; exactly log_kill at "
                                        "every size under exponential growth without factors)",
                            json_schema_extra={"source": "1-2 logs per cycle at most (Skipper et "
                                                         "al. 1964, Cancer Chemother Rep 35:1): "
                                                         "the lower end"})
    # ASSUMPTION: log-kill is quoted at a clinically evident tumour, ~1 cm^3:
    # 1e9 cells at the conventional density (an ASSUMPTION: Del Monte 2009, Cell
    # Cycle 8:505, argues that carcinomas hold about ten times fewer), 12 mm across.
    reference_cells: float = Field(1e9, ge=1, le=1e13,
                                   description="tumour size at which a dose kills exactly "
                                               "log_kill logs (Norton-Simon reference), cells",
                                   json_schema_extra={"source": "assumption: a 1 cm^3 tumour, "
                                                                "1e9 cells at the conventional "
                                                                "density (Del Monte 2009, Cell "
                                                                "Cycle 8:505, argues for ~10 "
                                                                "times fewer in carcinomas)"})
    # ECOG >= 3: chemotherapy is generally not given: "don't use cancer-directed
    # therapy for solid tumor patients with ... low performance status (3 or 4)"
    # without benefit from prior therapy (Schnipper et al. 2012, J Clin Oncol,
    # ASCO's top five list) [READ abstract].
    hold_performance_status: int = Field(3, ge=1, le=5,
                                         description="ECOG performance status at or above which "
                                                     "a dose is held",
                                         json_schema_extra={"source": "clinical practice: no "
                                                                      "chemotherapy at ECOG >= 3"})
    # ASSUMPTION: 2 % per dose already given that toxicity ends the course.
    toxicity: float = Field(0.02, ge=0, le=1,
                            description="probability per dose given so far that a dose ends "
                                        "the course for toxicity",
                            json_schema_extra={"source": "assumption"})

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """``reference_birth_rate`` (a birth rate, turnover included) is gone."""
        if isinstance(data, dict) and "reference_birth_rate" in data:
            raise ValueError(
                "reference_birth_rate is no longer a key: the kill now scales with the "
                "growth law's net rate, and log_kill is the kill of a tumour of "
                "reference_cells cells (default 1e9); set reference_cells instead")
        return data


class TargetedTable(Table):
    targets: list[str] = Field(default_factory=lambda: ["HER2"],
                               description="alterations a targeted drug is available for, in "
                                           "order of preference (genetics.alterations names)")
    biopsy: bool = Field(True, description="choose the target from a biopsy of the largest "
                                           "seen lesion (else: the first target, unverified)")
    # ASSUMPTION: a clone is seen by sequencing at 5 % of the lesion's cells.
    detection_fraction: float = Field(0.05, gt=0, le=1,
                                      description="share of a biopsied lesion's cells a clone "
                                                  "needs to be found",
                                      json_schema_extra={"source": "assumption"})
    # ASSUMPTION: 0.1/day added death of target-carrying cells.
    kill_rate: float = Field(0.1, ge=0,
                             description="added per-cell death rate of carrying cells, 1/day",
                             json_schema_extra={"source": "assumption"})


class ImmunotherapyTable(Table):
    # ASSUMPTION: 0.05/day added death of fully visible cells; calibrate to the
    # objective response rates of the pivotal trials (pembrolizumab in PD-L1 >=
    # 50 % NSCLC 44.8 %, Reck et al. 2016, N Engl J Med (KEYNOTE-024); nivolumab
    # in melanoma 43.7 %, Larkin et al. 2015, N Engl J Med 373:23 [both READ
    # abstract]; unselected solid tumours 10-25 % [RECALLED]).
    kill_rate: float = Field(0.05, ge=0,
                             description="added per-cell death rate of a fully visible row, 1/day",
                             json_schema_extra={"source": "assumption"})
    # ASSUMPTION: NK/T-cell kill of visible CTCs doubles (immune.ctc_kill 0.05).
    ctc_kill: float = Field(0.05, ge=0, le=1,
                            description="added kill per capillary bed of a fully visible CTC",
                            json_schema_extra={"source": "assumption"})


@hookimpl
def paget_config_tables():
    return {"surgery": SurgeryTable, "treatment": TreatmentTable,
            "chemotherapy": ChemotherapyTable, "targeted": TargetedTable,
            "immunotherapy": ImmunotherapyTable}


@hookimpl
def paget_output_attrs(config):
    lines = config.treatment.lines
    out = {"therapy_line": {
        "flag_values": np.arange(len(lines) + 1, dtype=np.int64),
        "flag_meanings": " ".join(["none"] + [f"line_{k}_{agent}"
                                              for k, agent in enumerate(lines, 1)])}}
    if hasattr(config, "genetics") and config.genetics.alterations:
        from paget.plugins.genetics import paget_output_attrs as genotype_flags
        names = genotype_flags(config)["lesion_genotype"]["flag_meanings"].split()
        out["targeted_alteration"] = {
            "flag_values": np.arange(-1, len(names), dtype=np.int64),
            "flag_meanings": " ".join(["none"] + names)}
    return out


@hookimpl
def paget_state_variables():
    nan = float("nan")

    def hidden(name, dtype, default, units, long_name):
        return StateVariable(name, "patient", dtype, default, units, long_name, output=False)

    return [
        StateVariable("surgery_time", "patient", "float64", nan, "days",
                      "time of surgery, days since the start of the run (NaN: none)",
                      over_time=False),
        StateVariable("therapy_line", "patient", "int64", 0, "1",
                      "line of systemic therapy acting (0: none)"),
        StateVariable("lines_started", "patient", "int64", 0, "1",
                      "lines of systemic therapy started so far", over_time=False),
        StateVariable("first_progression_time", "patient", "float64", nan, "days",
                      "first progression seen by the policy, days since the start of the run "
                      "(NaN: none)", over_time=False),
        StateVariable("doses_given", "patient", "int64", 0, "1",
                      "chemotherapy doses given in the current course"),
        StateVariable("targeted_alteration", "patient", "int64", -1, "1",
                      "genotype bit of the targeted drug's alteration (-1: none)",
                      over_time=False),
        hidden("next_dose_time", "float64", nan, "days",
               "time of the next chemotherapy dose, days since the start of the run"),
        hidden("nadir_diameter_sum", "float64", nan, "mm", "smallest sum of seen diameters"),
        hidden("nadir_organs", "int64", 0, "1", "organs with seen lesions at the nadir"),
        hidden("nadir_ctdna", "float64", nan, "1", "smallest ctDNA fraction on the line"),
        hidden("dose_today", "bool", False, "1", "a chemotherapy dose is given this step"),
    ]


@hookimpl
def paget_state_reads(config):
    """Imaging's diagnosis and scans and the ctDNA fraction, where the plan needs
    them; performance status, genetics' traits and immune competence where
    loaded."""
    tr = config.treatment
    diagnosis = "surgery and lines of therapy start from the diagnosis"
    reads = [StateRead("diagnosis_time", required=config.surgery.enabled or bool(tr.lines),
                       reason=diagnosis)]
    if tr.lines and "progression" in tr.switch_on:
        reads += [StateRead(name, reason="treatment.switch_on = progression compares scans")
                  for name in ("last_scan_time", "imaged_diameter_sum", "imaged_lesions")]
    if tr.lines and "ctdna" in tr.switch_on:
        reads.append(StateRead("ctdna_fraction",
                               reason="treatment.switch_on = ctdna reads the ctDNA fraction"))
    reads.append(StateRead("performance_status", required=False))   # else no dose is held
    reads += [StateRead(name, "paget_growth", required=False)
              for name in ("drug_resistance", "immune_evasion", "immune_competence")]
    return reads


@hookimpl
def paget_check_config(config, body):
    """A chemotherapy line needs a growth law that grows at its reference size."""
    if "chemotherapy" in config.treatment.lines:
        _reference_rate(config, body)


def _reference_rate(config, body, dt: float = 1.0) -> float:
    """Net rate ``g_ref`` of the growth law at ``chemotherapy.reference_cells`` in the
    primary's organ, 1/day (Norton-Simon's reference).

    Raises :class:`paget.ConfigError` where it is not positive (a reference at or
    above capacity, or a rate of 0), or where no growth law is loaded.
    """
    if not hasattr(config, "colonization"):
        raise ConfigError("treatment.lines = [..., 'chemotherapy']: the dose's kill scales "
                          "with the colonization plugin's growth law, which is disabled")
    g_cfg = config.colonization.growth
    if g_cfg.law == "exponential":
        return g_cfg.rate
    cap = g_cfg.capacity
    k = resolve_organ_map(cap, body, 3e12)[body.organ_index(config.primary.organ)]
    n_ref = config.chemotherapy.reference_cells
    g = float(step_net_rate(g_cfg.law, np.array([n_ref]), g_cfg.rate, np.array([float(k)]),
                            dt)[0])
    if not g > 0:
        raise ConfigError(f"chemotherapy.reference_cells = {n_ref:g}: the growth law "
                          f"({g_cfg.law}, rate {g_cfg.rate:g}/day, capacity {float(k):g} cells "
                          f"in the primary's organ) does not grow there; a reference below "
                          f"capacity and a positive colonization.growth.rate are needed")
    return g


def norton_simon(rates, config, body, dt: float) -> np.ndarray:
    """Per row: the logs a dose kills per ``log_kill``, ``g / g_ref``.

    ``g = rates.birth - rates.death`` is the row's net growth rate as the step's
    other hooks set it before any agent acts (this plugin's ``paget_growth``
    runs last): the growth law's rate at the row's size (colonization) with
    the factors that make this patient's or this clone's tumour grow faster or
    slower (heterogeneity, genetics, angiogenesis, immune kill), i.e. the
    unperturbed growth of Norton & Simon 1977 (Cancer Treat Rep 61:1307), whose
    growth rates differ between patients (Norton 1988, Cancer Res 48:7067).
    ``g_ref`` is the law's rate at ``chemotherapy.reference_cells`` in the
    primary's organ, without factors (:func:`_reference_rate`).  Without
    factors: exactly 1 under exponential growth.  0 where ``g <= 0`` (at
    capacity, or held back by the immune response).
    """
    g = rates.birth - rates.death
    return np.maximum(g, 0.0) / _reference_rate(config, body, dt)


def _agent_of_line(config, line: np.ndarray) -> np.ndarray:
    """Per patient: index into AGENTS of line ``line``'s agent (-1: no such line)."""
    agents = np.array([-1] + [AGENTS.index(a) for a in config.treatment.lines], dtype=np.int64)
    line = np.asarray(line)
    inside = (line >= 1) & (line < agents.size)
    return np.where(inside, agents[np.where(inside, line, 0)], -1)


def effective_genotype(lesions, config) -> np.ndarray:
    """Genotype bits each row carries, the genetics plugin's initial alterations included."""
    if not hasattr(config, "genetics"):
        return np.asarray(lesions.genotype)
    from paget.plugins.genetics import initial_mask
    return lesions.genotype | initial_mask(config)


def biopsy(lesions, config, who: np.ndarray) -> np.ndarray:
    """Per patient in ``who``: alteration bits found in a biopsy of the largest lesion.

    The lesion is the patient's largest growing lesion (ties: lowest lesion
    id); an alteration is found if the clones carrying it make up at least
    ``targeted.detection_fraction`` of that lesion's cells.
    """
    seen = np.zeros(who.size, np.uint64)
    # every call below reduces over the ranks holding a patient's rows, so none
    # is skipped on a rank that happens to hold none of them
    sampled, _ = lesions.largest_lesion()
    pidx = lesions.pidx
    rows = (~lesions.dormant & (lesions.cells > 0) & (sampled[pidx] != 0) & who[pidx]
            & (lesions.lesion == sampled[pidx]))
    total = lesions.patient_sum(np.where(rows, lesions.cells, 0.0))
    geno = effective_genotype(lesions, config)
    names = tuple(config.genetics.alterations) if hasattr(config, "genetics") else ()
    for k in range(len(names)):
        b = np.uint64(1) << np.uint64(k)
        carried = lesions.patient_sum(np.where(rows & ((geno & b) != 0), lesions.cells, 0.0))
        found = who & (total > 0) & (carried >= config.targeted.detection_fraction * total)
        seen[found] |= b
    return seen


def _choose_targets(lesions, config, starting: np.ndarray) -> np.ndarray:
    """Per patient starting a targeted line: the chosen alteration's bit index (-1: none)."""
    names = tuple(config.genetics.alterations) if hasattr(config, "genetics") else ()
    choice = np.full(starting.size, -1, np.int64)
    cfg = config.targeted
    available = [names.index(t) for t in cfg.targets if t in names]
    if not available:
        return choice
    if not cfg.biopsy:
        choice[starting] = available[0]
        return choice
    seen = biopsy(lesions, config, starting)
    for k in reversed(available):  # the first target found wins
        choice[starting & ((seen >> np.uint64(k)) & np.uint64(1) == 1)] = k
    return choice


def _start_line(ps, who: np.ndarray, t: float, lesions, config) -> None:
    """Move patients ``who`` to their next line (skipping targeted lines without a target)."""
    n_lines = len(config.treatment.lines)
    switch_on = config.treatment.switch_on
    pending = who.copy()
    while pending.any():
        ps["lines_started"][pending] += 1
        line = ps["lines_started"]
        over = pending & (line > n_lines)
        ps["therapy_line"][over] = 0
        pending &= ~over
        if not pending.any():
            break
        ps["therapy_line"][pending] = line[pending]
        if "progression" in switch_on:
            ps["nadir_diameter_sum"][pending] = ps["imaged_diameter_sum"][pending]
            ps["nadir_organs"][pending] = (ps["imaged_lesions"][pending] > 0).sum(axis=1)
        if "ctdna" in switch_on:
            ps["nadir_ctdna"][pending] = ps["ctdna_fraction"][pending]
        agent = _agent_of_line(config, line)
        chemo = pending & (agent == AGENTS.index("chemotherapy"))
        ps["doses_given"][chemo] = 0
        ps["next_dose_time"][chemo] = t
        targeted = pending & (agent == AGENTS.index("targeted"))
        skip = np.zeros(who.size, bool)
        if targeted.any():
            choice = _choose_targets(lesions, config, targeted)
            ps["targeted_alteration"][targeted] = choice[targeted]
            skip = targeted & (choice < 0)      # no target found: on to the next line
        pending = skip


@hookimpl(trylast=True)
def paget_update_state(lesions, state, patients, config, t, dt, draws):
    """Decisions after every readout of the step (trylast: imaging, blood, supportive first)."""
    if not (config.surgery.enabled or config.treatment.lines):
        return       # nothing planned (then imaging may be absent: paget_state_reads)
    ps = state.patient
    alive = np.asarray(patients.alive)
    diag = ps["diagnosis_time"]
    ps["dose_today"][:] = False
    diagnosed = alive & ~np.isnan(diag)
    if not diagnosed.any():
        return
    eps = 1e-9
    # ---- surgery
    s = config.surgery
    if s.enabled:
        due = diagnosed & np.isnan(ps["surgery_time"]) & (t + eps >= diag + s.delay)
        ps["surgery_time"][due] = t
    # ---- policy: progression on the current line (or after it)
    tr = config.treatment
    if not tr.lines:
        return
    started = ps["lines_started"] > 0
    on_plan = diagnosed & started & (ps["lines_started"] <= len(tr.lines))
    progressed = np.zeros(alive.size, bool)
    if "progression" in tr.switch_on:
        scanned = on_plan & (ps["last_scan_time"] == t)
        dsum = ps["imaged_diameter_sum"]
        nadir = ps["nadir_diameter_sum"]
        organs = (ps["imaged_lesions"] > 0).sum(axis=1)
        grew = (dsum >= 1.2 * nadir) & (dsum - nadir >= 5.0)
        new_site = organs > ps["nadir_organs"]
        progressed |= scanned & (grew | new_site)
        better = scanned & ~progressed
        ps["nadir_diameter_sum"][better] = np.fmin(nadir[better], dsum[better])
        ps["nadir_organs"][better] = np.minimum(ps["nadir_organs"][better], organs[better])
    if "ctdna" in tr.switch_on:
        c = ps["ctdna_fraction"]
        rise = on_plan & (c >= tr.ctdna_rise * ps["nadir_ctdna"]) & (c >= tr.ctdna_floor)
        progressed |= rise
        ps["nadir_ctdna"][on_plan] = np.fmin(ps["nadir_ctdna"][on_plan], c[on_plan])
    first = ps["first_progression_time"]
    first[progressed & np.isnan(first)] = t
    # ---- start line 1, or the next line on progression
    due_first = diagnosed & ~started & (t + eps >= diag + tr.start)
    if (due_first | progressed).any():
        _start_line(ps, due_first | progressed, t, lesions, config)
    # ---- chemotherapy doses
    agent = _agent_of_line(config, ps["therapy_line"])
    chemo = alive & (agent == AGENTS.index("chemotherapy"))
    if chemo.any():
        c = config.chemotherapy
        ecog = ps.get("performance_status", np.zeros(alive.size, np.int64))
        due = chemo & (t + eps >= ps["next_dose_time"]) & (ps["doses_given"] < c.cycles)
        held = due & (ecog >= c.hold_performance_status)
        give = due & ~held
        u = draws.uniform_patients(patients, "treatment.toxicity")
        stop = give & (u < c.toxicity * ps["doses_given"])
        give &= ~stop
        ps["dose_today"][give] = True
        ps["doses_given"][give] += 1
        ps["next_dose_time"][give] = t + c.interval
        done = chemo & ((ps["doses_given"] >= c.cycles) & ~give | stop)
        ps["therapy_line"][done] = 0   # the course is over; the next line waits for progression


@hookimpl
def paget_removal(lesions, fraction, state, config, t):
    s = config.surgery
    if not s.enabled or len(lesions) == 0:
        return
    when = state.patient["surgery_time"][lesions.pidx]
    cut = lesions.primary & (when == t)
    fraction[cut] = 1.0 - s.residual


def _resisted(lesions, state) -> np.ndarray:
    r = state.lesion.get("drug_resistance")
    return np.ones(len(lesions)) if r is None else 1.0 - r[lesions.row]


@hookimpl(trylast=True)
def paget_growth(lesions, rates, state, config, body, dt):
    """Added death of the acting agents (trylast: after growth, factors and immune kill)."""
    if len(lesions) == 0 or not config.treatment.lines:
        return
    ps = state.patient
    pidx = lesions.pidx
    agent = _agent_of_line(config, ps["therapy_line"])[pidx]
    grows = ~lesions.dormant & (lesions.cells > 0)
    chemo = grows & ps["dose_today"][pidx]
    if chemo.any():
        c = config.chemotherapy
        ratio = norton_simon(rates, config, body, dt)
        rates.death[chemo] += (c.log_kill * LN10 / dt * ratio[chemo]
                               * _resisted(lesions, state)[chemo])
    targeted = grows & (agent == AGENTS.index("targeted"))
    if targeted.any():
        k = ps["targeted_alteration"][pidx]
        geno = effective_genotype(lesions, config)
        carries = targeted & (k >= 0) & (
            (geno >> np.maximum(k, 0).astype(np.uint64)) & np.uint64(1) == 1)
        rates.death[carries] += config.targeted.kill_rate * _resisted(lesions, state)[carries]
    immuno = grows & (agent == AGENTS.index("immunotherapy"))
    if immuno.any():
        rates.death[immuno] += config.immunotherapy.kill_rate * _visibility(
            lesions, state, config)[immuno]


def _visibility(lesions, state, config) -> np.ndarray:
    if "immune_competence" in state.patient and hasattr(config, "immune"):
        from paget.plugins.immune import visibility
        return visibility(lesions, state, config)
    evasion = state.lesion.get("immune_evasion")
    return np.ones(len(lesions)) if evasion is None else 1.0 - evasion[lesions.row]


@hookimpl
def paget_circulation(lesions, rates, state, config):
    if len(lesions) == 0 or "immunotherapy" not in config.treatment.lines:
        return
    agent = _agent_of_line(config, state.patient["therapy_line"])[lesions.pidx]
    on = agent == AGENTS.index("immunotherapy")
    if on.any():
        v = _visibility(lesions, state, config)
        rates.ctc_survival[on] *= np.maximum(1.0 - config.immunotherapy.ctc_kill * v[on], 0.0)
