"""The virtual patient's body: organs and the anatomy of the circulation.

A :class:`Body` is pure anatomy (which organs exist, what share of the cardiac
output each receives, where its venous blood goes first).  What happens to a
circulating cell in each capillary bed is physiology and belongs to the
circulation plugin; :func:`absorbing_fates` solves the resulting chain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

__all__ = ["ORGANS", "Body", "human_adult", "mouse", "BODIES", "make_body", "absorbing_fates",
           "VERTEBRAL_TERRITORY", "vertebral_drains",
           "DRAINS", "VESSELS", "injection_entry", "drain_fractions", "REMOVED_ORGANS"]

#: The organs (compartments) of the default human body, in output order: a
#: compartment for each primary and each metastatic site of the autopsy table
#: that calibrates the model (DiSibio & French 2008, Arch Pathol Lab Med
#: 132:931).  ``bone`` is the skeleton with its marrow (red and yellow marrow,
#: trabecular and cortical bone); ``pleura`` and ``peritoneum`` are the serosal
#: linings of the chest and abdominal cavities.
ORGANS: tuple[str, ...] = (
    "lung", "liver", "bone", "brain", "adrenal", "kidney", "spleen", "skin",
    "muscle", "heart", "stomach", "small_intestine", "colon", "rectum", "esophagus",
    "pancreas", "breast", "prostate", "bladder", "uterus", "cervix", "ovary", "testis",
    "thyroid", "pleura", "peritoneum", "lymph_nodes", "distant_nodes", "other",
)
# ``lymph_nodes`` are the primary's regional nodes, ``distant_nodes`` every other
# node group: the autopsy table counts the two apart, and lymph reaches the
# regional nodes first, then the distant ones, then the venous blood.
# One body for both sexes: it holds a prostate and testis as well as a uterus,
# cervix and ovary.  Their flows are small (0.05-0.4 % of cardiac output), so a
# cell's chance of reaching any other organ moves by less than 1 % for holding
# the other sex's organs; a sex-specific primary simply names its organ.

#: Organs of earlier versions that are now split; a configuration naming one is
#: refused with a line naming its parts (see :func:`paget.config.resolve_organ_map`).
REMOVED_ORGANS: dict[str, tuple[str, ...]] = {
    "gut": ("stomach", "small_intestine", "colon", "rectum"),
}

#: Where an organ's venous blood goes first.
#: ``"caval"``: the right heart, then the lung bed; ``"portal"``: the liver bed
#: (the digestive tract, spleen and pancreas drain through the portal vein);
#: ``"pulmonary"``: the left heart and the arterial split (the lung's own blood
#: drains into the pulmonary veins, so a lung primary's CTCs reach the systemic
#: arteries first); ``"vertebral"``: the vertebral venous plexus, whose cells
#: meet the marrow of the vertebrae (the ``bone`` bed) before the caval return
#: (Batson 1940, see :data:`VERTEBRAL_TERRITORY`).
DRAINS = ("caval", "portal", "pulmonary", "vertebral")

#: The vertebral venous route (Batson OV (1940) Ann Surg 112:138-149): the
#: valveless vertebral venous plexus communicates with the pelvic venous
#: plexuses and with the intercostal veins, so that blood from the pelvic
#: organs and the breast can reach the vertebral bodies without passing the
#: lung.  Batson filled the veins of the sacrum, lumbar spine and iliac wings
#: by injecting the deep dorsal vein of the penis, whose connections are those
#: of the prostatic plexus, and proposed the route for the bone metastases of
#: prostate cancer [READ]; he recovered dye injected into the breast in the
#: vertebral veins [READ-2, from secondary summaries of the paper].  Per organ, the share of its caval venous blood that drains into a
#: plexus communicating with the vertebral veins:
#:
#: * the pelvic organs (prostate, bladder, uterus, cervix and the caval part
#:   of the rectum) drain into the internal iliac veins through the vesical,
#:   prostatic, uterine and rectal plexuses (Standring S, ed. (2016) Gray's
#:   Anatomy, 41st ed., Elsevier [RECALLED]): all of it;
#: * the breast drains by three groups of veins, the perforating branches of
#:   the internal thoracic vein, tributaries of the axillary vein and
#:   perforating branches of the posterior intercostal veins (ibid.), of which
#:   the intercostal veins join the vertebral plexus.  ASSUMPTION: a third,
#:   one per group.
#:
#: Of that blood, a share ``vertebral_share`` (``[body]``; not measured:
#: fitted on the autopsy table, docs/validation/calibrate.py) passes through
#: the vertebral system first; 0 closes the route.
VERTEBRAL_TERRITORY: dict[str, float] = {
    "prostate": 1.0, "bladder": 1.0, "uterus": 1.0, "cervix": 1.0, "rectum": 1.0,
    "breast": 1.0 / 3.0,
}

# Resting blood flow, % of cardiac output, reference adult male: Williams LR,
# Leggett RW (1989) Clin Phys Physiol Meas 10:187-217, as tabulated in NRC
# (1999) Risk Assessment of Radon in Drinking Water, Table A-1 (values underlying
# ICRP Publication 89, 2002).  Source rows -> paget organs:
#   stomach 1.0 (stomach wall); small_intestine 10.0 (small intestine wall)
#   colon = upper large intestine 2.0 + lower large intestine 2.0 less the rectum
#   rectum 0.5: ASSUMPTION, a quarter of the lower large intestine (descending
#           colon, sigmoid colon and rectum), roughly the rectum's share of its length
#   bone = red marrow 3.0 + yellow marrow 3.0 + trabecular 0.9 + cortical 0.6
#   liver = hepatic artery 6.5 (the portal inflow arrives through the gut beds)
#   lung = bronchial 2.5 (the pulmonary circulation takes 100 % of venous return)
#   thyroid 1.5; testis 0.05 (testes)
#   other = adipose 5.0 + other 3.2, less the organs the table does not list:
# ASSUMPTION (not in the source table; round values of the order of each
# tissue's mass (ICRP Publication 89, 2002, Ann ICRP 32(3-4) [READ-2: its
# reference masses as tabulated elsewhere, e.g. esophagus 40 g, bladder wall 50
# g, uterus 80 g]) times ~0.3 mL/min/g of
# resting visceral perfusion, out of 6.5 L/min): breast 0.5, prostate 0.1,
# lymph nodes 0.5 (regional and distant 0.25 each), esophagus 0.2 (~40 g),
# bladder 0.2 (wall ~50 g), uterus 0.4 (~80 g), cervix 0.05, ovary 0.05
# (~11 g for both), pleura 0.1 and peritoneum 0.2 (serosal linings), taken out
# of adipose/other so the total is unchanged.
_HUMAN_FLOW_PERCENT = {
    "lung": 2.5, "liver": 6.5, "bone": 7.5, "brain": 12.0, "adrenal": 0.3,
    "kidney": 19.0, "spleen": 3.0, "skin": 5.0, "muscle": 17.0, "heart": 4.0,
    "stomach": 1.0, "small_intestine": 10.0, "colon": 3.5, "rectum": 0.5,
    "esophagus": 0.2, "pancreas": 1.0, "breast": 0.5, "prostate": 0.1, "bladder": 0.2,
    "uterus": 0.4, "cervix": 0.05, "ovary": 0.05, "testis": 0.05, "thyroid": 1.5,
    "pleura": 0.1, "peritoneum": 0.2, "lymph_nodes": 0.25, "distant_nodes": 0.25,
    "other": 5.0 + 3.2 - 0.5 - 0.1 - 0.5 - 0.2 - 0.2 - 0.4 - 0.05 - 0.05 - 0.1 - 0.2,
}
# Blood volume of the reference adult, 5.6 L (ICRP Publication 89, 2002, Ann
# ICRP 32(3-4), values as used in PBPK code) [READ].
_HUMAN_BLOOD_VOLUME_ML = 5600.0

# The laboratory mouse (25 g), % of cardiac output: Brown RP, Delp MD, Lindstedt
# SL, Rhomberg LR, Beliles RP (1997) Toxicol Ind Health 13:407-484, Table 23.
#   [READ-2, as tabulated from Brown 1997 in a mouse/human PBPK table]: kidney 9.1,
#   heart 6.6, skin 5.8, gut (portal) 14.1, liver hepatic artery 2.0.
#   [RECALLED, same table, not re-checked]: brain 3.3, skeletal muscle 15.9,
#   bone 11.0, adipose 7.0, lung (bronchial) 0.5.
# ASSUMPTIONS: the portal 14.1 % is split spleen 1.0, pancreas 1.0 and the
# digestive tract 12.1 in the human proportions (stomach 1.0 : small intestine
# 10.0 : colon 3.5 : rectum 0.5, the rectum's non-portal part included);
# adrenal 0.3, breast 0.5, prostate 0.1, regional and distant nodes 0.25 each
# and the organs the human table does not list (esophagus ... peritoneum) at the
# human values; "other" is the rest (adipose and unlisted tissue).
_MOUSE_FLOW_PERCENT = {
    "lung": 0.5, "liver": 2.0, "bone": 11.0, "brain": 3.3, "adrenal": 0.3,
    "kidney": 9.1, "spleen": 1.0, "skin": 5.8, "muscle": 15.9, "heart": 6.6,
    "stomach": 12.1 * 1.0 / 15.0, "small_intestine": 12.1 * 10.0 / 15.0,
    "colon": 12.1 * 3.5 / 15.0, "rectum": 12.1 * 0.5 / 15.0,
    "pancreas": 1.0, "breast": 0.5, "prostate": 0.1, "testis": 0.05, "thyroid": 1.5,
    "lymph_nodes": 0.25, "distant_nodes": 0.25,
}
_MOUSE_FLOW_PERCENT.update({o: _HUMAN_FLOW_PERCENT[o] for o in (
    "esophagus", "bladder", "uterus", "cervix", "ovary", "pleura", "peritoneum")})
_MOUSE_FLOW_PERCENT["other"] = 100.0 - sum(_MOUSE_FLOW_PERCENT.values())
# Mouse blood volume 1.7 mL and cardiac output 8.0 mL/min for a 20 g mouse:
# Davies B, Morris T (1993) Pharm Res 10:1093-1095 [RECALLED, not re-checked].
_MOUSE_BLOOD_VOLUME_ML = 1.7

# Venous drainage, from the anatomy of the veins (Standring S, ed. (2016)
# Gray's Anatomy, 41st ed., Elsevier) [RECALLED, not re-checked]:
# * stomach (left and right gastric veins, short gastric veins via the splenic
#   vein), small intestine (superior mesenteric vein), colon (superior and
#   inferior mesenteric veins), spleen and pancreas: the portal vein;
# * rectum: the superior rectal vein (upper third) joins the inferior mesenteric
#   vein, portal; the middle and inferior rectal veins (middle and lower
#   thirds) the internal iliac veins, caval.  ASSUMPTION: a third of the
#   rectum's venous blood is portal, by the thirds of its length;
# * esophagus: the lower third drains through the left gastric vein, portal;
#   the upper two thirds through the inferior thyroid and azygos veins, caval.
#   ASSUMPTION: a third portal, by the thirds of its length;
# * pleura: the visceral pleura drains with the lung into the pulmonary veins,
#   the parietal pleura through the intercostal veins into the azygos system,
#   caval.  ASSUMPTION: half each;
# * peritoneum: the visceral peritoneum drains with the organs it covers,
#   mostly portal, the parietal peritoneum into the systemic veins of the body
#   wall, caval.  ASSUMPTION: 70 % portal, 30 % caval, the parietal lining
#   taken as about a third of the surface;
# * lung: the pulmonary veins (the bronchial supply's venous blood mostly
#   joins them), so a lung primary's cells reach the left heart first;
# * every other organ: the caval veins, then the right heart and the lung bed.
_HUMAN_DRAINS: dict[str, str | Mapping[str, float]] = {organ: "caval" for organ in ORGANS}
_HUMAN_DRAINS.update(stomach="portal", small_intestine="portal", colon="portal",
                     spleen="portal", pancreas="portal", lung="pulmonary",
                     rectum={"portal": 1.0 / 3.0, "caval": 2.0 / 3.0},
                     esophagus={"portal": 1.0 / 3.0, "caval": 2.0 / 3.0},
                     pleura={"pulmonary": 0.5, "caval": 0.5},
                     peritoneum={"portal": 0.7, "caval": 0.3})


def drain_fractions(organs: tuple[str, ...], drains) -> np.ndarray:
    """The ``(n_organs, 4)`` share of each organ's venous blood going to each of
    :data:`DRAINS`, from one drain kind per organ (a string) or a
    ``{kind: fraction}`` map summing to 1."""
    if len(drains) != len(organs):
        raise ValueError(f"drains must give one drain per organ ({len(organs)}), "
                         f"got {len(drains)}")
    out = np.zeros((len(organs), len(DRAINS)))
    for i, (organ, d) in enumerate(zip(organs, drains)):
        if isinstance(d, str):
            if d not in DRAINS:
                raise ValueError(f"organ {organ!r}: drain {d!r} is not one of "
                                 f"{', '.join(DRAINS)}")
            out[i, DRAINS.index(d)] = 1.0
            continue
        if not isinstance(d, Mapping) or not d:
            raise ValueError(f"organ {organ!r}: a drain is one of {', '.join(DRAINS)} or "
                             f"a {{kind: fraction}} map, got {d!r}")
        for kind, share in d.items():
            if kind not in DRAINS:
                raise ValueError(f"organ {organ!r}: drain {kind!r} is not one of "
                                 f"{', '.join(DRAINS)}")
            share = float(share)
            if not (np.isfinite(share) and 0.0 <= share <= 1.0):
                raise ValueError(f"organ {organ!r}: drain fraction {kind} = {share!r} must "
                                 f"be in [0, 1]")
            out[i, DRAINS.index(kind)] = share
        if not np.isclose(out[i].sum(), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"organ {organ!r}: drain fractions sum to {out[i].sum():.6g}, "
                             f"expected 1")
    return out


@dataclass(frozen=True)
class Body:
    """Anatomy of one virtual patient.

    Attributes
    ----------
    name : str
        Label written to the output.
    organs : tuple of str
        Organ names; their order is the ``organ`` coordinate of every output.
    flow : ndarray, shape (n_organs,)
        Fraction of cardiac output reaching each organ's arterial supply
        (dimensionless, sums to 1).
    drains : tuple of (str or mapping)
        Per organ, one of :data:`DRAINS` (all its venous blood goes there), or
        a ``{kind: fraction}`` map over them summing to 1 where the anatomy is
        partial (the rectum: a third portal, two thirds caval).
    lymph_node : str
        The organ that receives lymphatic spread first (regional nodes).
    distant_node : str or None
        The organ lymph reaches next (distant nodes), before the venous blood;
        None: lymph goes from the regional nodes straight to the blood.
    blood_volume_ml : float or None
        Blood volume, mL (informational; readouts may scale by it).
    drain_fraction : ndarray, shape (n_organs, 4)
        Derived from ``drains``: the share of each organ's venous blood going to
        each kind of :data:`DRAINS`, in that order (rows sum to 1).
    """

    name: str
    organs: tuple[str, ...]
    flow: np.ndarray
    drains: tuple[str, ...]
    lymph_node: str = "lymph_nodes"
    distant_node: str | None = None
    blood_volume_ml: float | None = None
    index: Mapping[str, int] = field(init=False, repr=False, compare=False)
    drain_fraction: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flow = np.asarray(self.flow, dtype=np.float64)
        if flow.shape != (len(self.organs),):
            raise ValueError(f"body {self.name!r}: flow has shape {flow.shape}, "
                             f"expected ({len(self.organs)},)")
        if np.any(flow < 0) or not np.isclose(flow.sum(), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"body {self.name!r}: flow fractions must be >= 0 and "
                             f"sum to 1, got sum {flow.sum():.6g}")
        try:
            fractions = drain_fractions(tuple(self.organs), tuple(self.drains))
        except ValueError as exc:
            raise ValueError(f"body {self.name!r}: {exc}") from None
        if "liver" not in self.organs and fractions[:, DRAINS.index("portal")].any():
            raise ValueError(f"body {self.name!r}: portal drainage needs a liver")
        if "bone" not in self.organs and fractions[:, DRAINS.index("vertebral")].any():
            raise ValueError(f"body {self.name!r}: vertebral drainage needs a bone")
        if "lung" not in self.organs:
            raise ValueError(f"body {self.name!r}: the venous return needs a lung")
        if self.lymph_node not in self.organs:
            raise ValueError(f"body {self.name!r}: lymph node organ {self.lymph_node!r} missing")
        if self.distant_node is not None and (self.distant_node not in self.organs
                                              or self.distant_node == self.lymph_node):
            raise ValueError(f"body {self.name!r}: distant node organ {self.distant_node!r} "
                             f"missing or the same as the regional nodes")
        flow.setflags(write=False)
        fractions.setflags(write=False)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "drains", tuple(
            d if isinstance(d, str) else dict(d) for d in self.drains))
        object.__setattr__(self, "drain_fraction", fractions)
        object.__setattr__(self, "index", {o: i for i, o in enumerate(self.organs)})

    @property
    def n_organs(self) -> int:
        return len(self.organs)

    def organ_index(self, name: str) -> int:
        try:
            return self.index[name]
        except KeyError:
            raise KeyError(f"unknown organ {name!r}; organs are {', '.join(self.organs)}") from None

    def per_organ(self, values: Mapping[str, float], default: float) -> np.ndarray:
        """An (n_organs,) array from a {organ: value} map with a default."""
        out = np.full(self.n_organs, float(default))
        for organ, v in values.items():
            out[self.organ_index(organ)] = v
        return out


def vertebral_drains(share: float) -> tuple[str | dict[str, float], ...]:
    """The human drainage per organ (in :data:`ORGANS` order) with the vertebral
    route open at ``share`` (:data:`VERTEBRAL_TERRITORY`): of each territory
    organ's caval blood, the fraction territory x ``share`` goes to the
    vertebral plexus instead.  ``share`` 0 gives the drainage without the route."""
    share = float(share)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"vertebral_share must be in [0, 1], got {share!r}")
    out = []
    for organ in ORGANS:
        d = _HUMAN_DRAINS[organ]
        w = VERTEBRAL_TERRITORY.get(organ, 0.0) * share
        if w > 0.0:
            d = {d: 1.0} if isinstance(d, str) else dict(d)
            caval = d.get("caval", 0.0)
            d["caval"], d["vertebral"] = caval * (1.0 - w), caval * w
        out.append(d)
    return tuple(out)


def human_adult(flow_percent: Mapping[str, float] | None = None,
                vertebral_share: float = 0.0) -> Body:
    """The reference adult human body (Williams & Leggett 1989; ICRP 89).

    ``flow_percent`` replaces the whole flow table (percent of cardiac output per
    organ, every organ named, summing to 100); ``vertebral_share`` opens the
    vertebral venous route (:func:`vertebral_drains`).
    """
    table = dict(_HUMAN_FLOW_PERCENT if flow_percent is None else flow_percent)
    missing = set(ORGANS) - set(table)
    if missing:
        raise ValueError(f"flow table is missing organs: {', '.join(sorted(missing))}")
    flow = np.array([table[o] for o in ORGANS], dtype=np.float64)
    total = flow.sum()
    if flow_percent is not None and not np.isclose(total, 100.0, rtol=0, atol=0.5):
        raise ValueError(f"flow percentages sum to {total:.4g}, expected 100 (+-0.5)")
    # The table's systemic flows sum to 100.05 % and the bronchial supply of the
    # lung adds 2.5 % (Williams & Leggett 1989 list it apart); the arterial split
    # includes it, so the 102.55 % total is renormalised to exactly 1.
    return Body("human_adult", ORGANS, flow / total, vertebral_drains(vertebral_share),
                distant_node="distant_nodes", blood_volume_ml=_HUMAN_BLOOD_VOLUME_ML)


def mouse(flow_percent: Mapping[str, float] | None = None,
          vertebral_share: float = 0.0) -> Body:
    """The laboratory mouse (Brown et al. 1997; Davies & Morris 1993), for
    experimental-metastasis assays.  Same organs and drainage as the human body
    (the digestive tract, spleen and pancreas drain through the portal vein;
    ``vertebral_share`` as for :func:`human_adult`)."""
    table = dict(_MOUSE_FLOW_PERCENT if flow_percent is None else flow_percent)
    missing = set(ORGANS) - set(table)
    if missing:
        raise ValueError(f"flow table is missing organs: {', '.join(sorted(missing))}")
    flow = np.array([table[o] for o in ORGANS], dtype=np.float64)
    return Body("mouse", ORGANS, flow / flow.sum(), vertebral_drains(vertebral_share),
                distant_node="distant_nodes", blood_volume_ml=_MOUSE_BLOOD_VOLUME_ML)


#: Reference bodies by name (``[body] model``).
BODIES = {"human_adult": human_adult, "mouse": mouse}


def make_body(model: str, flow_percent: Mapping[str, float] | None = None,
              vertebral_share: float = 0.0) -> Body:
    return BODIES[model](flow_percent, vertebral_share)


#: Vessels a cell suspension can be injected into, and the kind of venous
#: blood it joins there: the portal (mesenteric) vein leads to the liver bed,
#: a tail vein to the caval return and the lung bed, the left ventricle to the
#: arterial split.
VESSELS = {"portal": "portal", "tail_vein": "caval", "left_ventricle": "pulmonary"}


def injection_entry(body: Body, vessel: str) -> int:
    """An organ whose venous outflow is where cells injected into ``vessel``
    go first (its row of the fate matrix is the fate of an injected cell): the
    first organ draining wholly like the vessel."""
    kind = VESSELS[vessel]
    for i, d in enumerate(body.drains):
        if d == kind:
            return i
    raise ValueError(f"body {body.name!r} has no organ draining like {vessel!r} ({kind})")


def absorbing_fates(body: Body, arrest: np.ndarray, death: np.ndarray,
                    entry: np.ndarray | None = None) -> np.ndarray:
    """Fate probabilities of a circulating cell, from an absorbing Markov chain.

    The transient states are the organs' capillary beds plus the arterial
    split.  A cell arriving in bed j dies there with probability ``death[j]``;
    if it survives it arrests with probability ``arrest[j]``; otherwise it leaves
    with the bed's venous blood: caval -> lung bed, portal -> liver bed,
    vertebral -> bone bed (the vertebral marrow, whose own venous blood is
    caval), pulmonary -> arterial split, which sends it to bed k with probability
    ``body.flow[k]``.  An organ of fractional drainage sends its venous blood
    to each of these by ``body.drain_fraction``.

    Parameters
    ----------
    arrest, death : ndarray, shape (n_organs,)
        Per-pass probabilities (dimensionless, in [0, 1]).
    entry : ndarray, shape (n_starts, n_organs + 1), optional
        Distribution of where a cell starts, over the beds and (last column)
        the arterial split.  By default row i is "the venous outflow of organ
        i", i.e. where a cell shed into the blood of organ i goes first (a
        mixture of beds where the organ's drainage is fractional).

    Returns
    -------
    ndarray, shape (n_starts, n_organs + 1)
        Column j < n_organs: probability of ending arrested in organ j; last
        column: probability of dying in circulation.  Rows sum to 1.

    Notes
    -----
    With Q the transient-to-transient and R the transient-to-absorbing
    transition blocks, the absorption probabilities are ``(I - Q)^{-1} R``
    (Kemeny & Snell 1960, Finite Markov Chains, thm 3.3.7).  The chain is
    solved once, not walked per cell: transit takes minutes, a step a day.
    """
    n = body.n_organs
    arrest = np.asarray(arrest, dtype=np.float64)
    death = np.asarray(death, dtype=np.float64)
    for name, a in (("arrest", arrest), ("death", death)):
        if a.shape != (n,) or np.any(a < 0) or np.any(a > 1) or not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be {n} probabilities in [0, 1]")
    if np.all(arrest == 0) and np.all(death == 0):
        raise ValueError("no cell ever leaves the circulation: every arrest and "
                         "death probability is 0")
    art = n  # index of the arterial split among transient states
    Q = np.zeros((n + 1, n + 1))
    R = np.zeros((n + 1, n + 1))
    lung, liver, bone = body.organ_index("lung"), body.index.get("liver"), body.index.get("bone")
    # outflow[j, k]: share of organ j's venous blood reaching transient state k
    outflow = np.zeros((n, n + 1))
    for kind, target in zip(DRAINS, (lung, liver, art, bone)):
        share = body.drain_fraction[:, DRAINS.index(kind)]
        if target is not None:
            outflow[:, target] += share
    for j in range(n):
        survive = 1.0 - death[j]
        R[j, j] = survive * arrest[j]
        R[j, n] = death[j]
        Q[j] += survive * (1.0 - arrest[j]) * outflow[j]
    Q[art, :n] = body.flow
    if entry is None:
        entry = outflow
    entry = np.asarray(entry, dtype=np.float64)
    try:
        B = np.linalg.solve(np.eye(n + 1) - Q, R)
    except np.linalg.LinAlgError:
        raise ValueError("the circulation chain has a closed loop with no arrest "
                         "or death: some cells would circulate forever") from None
    F = entry @ B
    if not np.allclose(F.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError("the circulation chain does not absorb every cell: a "
                         "loop of beds has neither arrest nor death")
    return np.clip(F, 0.0, 1.0)
