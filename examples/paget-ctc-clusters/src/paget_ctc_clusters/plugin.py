"""ctc_clusters: circulating tumour cells that travel in clusters, as a per-row mixture.

The model
---------
A fraction ``f`` (``cluster_fraction``) of the cells a lesion sheds travel in
multicellular clusters instead of alone.  Compared with a single CTC, a cell
in a cluster

* arrests more readily in a capillary bed (``arrest_factor``, A),
* survives a passage better (``survival_factor``, S), and
* founds a growing colony more often once it has extravasated
  (``colonization_factor``, C).

paget routes every row's CTCs through **one** circulation class (one pair of
per-pass multipliers, ``rates.ctc_survival`` and ``rates.ctc_arrest``) and one
array of fates per source row.  This plugin therefore does not split the shed
cells into two populations; it gives each shedding row the *cell-weighted
mixture* of the two classes' multipliers::

    ctc_arrest   *= (1 - f) + f A          (paget_circulation)
    ctc_survival *= (1 - f) + f S          (paget_circulation)
    grow         *= (1 - f) + f C          (paget_dtc_fate; the added mass is
    die          -= the probability added to grow    taken from 'die', so each
                                                     row still sums to 1)

The grow probability is clipped where 'die' runs out (grow may take all of
'die' but never 'dormant'); the circulation plugin caps per-pass arrest at 1
and per-pass death at 0 (a survival multiplier beyond ``1 / (1 - death)`` has no
further effect).

This is an approximation
------------------------
The mixture of multipliers is **not** the mixture of outcomes.  Two classes
would give each row the fates ``(1 - f) F(1, 1) + f F(S, A)`` and the grow
probability ``(1 - f) g + f C g``, paid out to cells *according to where each
class arrested*; the plugin gives every cell the fates ``F(1 - f + f S,
1 - f + f A)`` of one averaged cell.  Because the fate matrix ``F`` is
nonlinear in its multipliers (a cell that arrests with probability a per bed
stops in the first bed with probability a, in the second with (1 - a) a, ...),
the averaged cell arrests in different organs than the mixture of the two
classes would, and the colonization advantage of clusters is spread over all
arrested cells instead of going with the clusters to where they arrested.
The expected number of cells shed is unchanged, and both ends are exact
(``f = 0``: single cells; ``f = 1``: every cell behaves as a cluster cell).
In between, with the default body and parameters, the averaged cell dies in
circulation 1-4 percentage points less often than the two-class mixture
would, and founds colonies per shed cell within about +7 % (caval-drained
primaries such as breast) to -36 % (portal-drained primaries such as colon,
whose clusters would stop in the liver, where extravasation is likely) of
the two-class value; ``tests/test_ctc_clusters.py`` measures these numbers
and README.md lists them.  Clusters are also not shed as units: cell counts
stay Poisson per row, a cluster cell that founds a colony founds a one-cell
lesion, and there are no polyclonal lesions.

What a future engine hook would need: a **second circulation class per row**,
e.g. a per-row ``rates.cluster_fraction`` with its own ``(ctc_survival,
ctc_arrest)`` pair, a binomial split of each row's shed cells between the two
classes in the dissemination kernel (keyed like every other draw), and a class
axis on the arrays of ``paget_extravasation`` and ``paget_dtc_fate`` (shape
``(m, 2, n_organs[, 3])``), so that each class is routed by its own fate
matrix and colonizes with its own fates.  Flux counters per class
(``ctc_cluster_shed`` ...) would make the split checkable.  Shedding whole
clusters (a size distribution, multi-cell founders) would be a further step.

Numbers
-------
* ``colonization_factor = 23``: CTC clusters have 23-50-fold higher metastatic
  potential than single CTCs (Aceto N et al. 2014, Cell 158:1110) [READ].
  The lower end is used because that figure measures the
  whole cascade in mice, part of which this plugin already credits to arrest
  and survival (A, S > 1); applying it at colonization alone is an
  ASSUMPTION.  It is applied per cell in a cluster.
* ``arrest_factor = 3``: ASSUMPTION with a reason.  Size restriction: a
  cluster is several cell diameters across and far less deformable than one
  cell, so a capillary bed stops it more often.  In mice clusters clear from
  the blood in ~6-10 min against ~25-30 min for single cells (Aceto et al.
  2014) [RECALLED, not re-checked], a 2.5-5-fold faster removal; 3 sits at the
  lower end because part of that removal may be death rather than arrest.
* ``survival_factor = 1.025``: ASSUMPTION.  Cells in a cluster keep cell-cell
  contact and are shielded from anoikis and shear; 1.025 roughly halves the
  default per-pass death (0.05 -> 1 - 0.95 * 1.025 = 0.026).  No measured
  value is used.
* ``cluster_fraction = 0`` by default, so an installed but unconfigured
  package changes no result.  No published fraction of shed cells
  that travel in clusters is used: set it from your own data.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

import paget
from paget.config import Table

__all__ = ["CTCClustersTable", "mixture", "paget_config_tables", "paget_circulation",
           "paget_dtc_fate"]

TABLE = "ctc_clusters"


class CTCClustersTable(Table):
    """Parameters of the ctc_clusters plugin (table ``[ctc_clusters]``)."""

    # Neutral default: clusters are off until a config turns them on.
    cluster_fraction: float = Field(
        0.0, ge=0, le=1, allow_inf_nan=False,
        description="fraction of shed CTCs that travel in clusters (dimensionless); "
                    "0 switches the plugin's effect off")
    # ASSUMPTION (size restriction); [RECALLED] 2.5-5-fold faster clearance of
    # clusters in mice (Aceto et al. 2014): see the module docstring.
    arrest_factor: float = Field(
        3.0, ge=0, allow_inf_nan=False,
        description="multiplies a cluster cell's per-pass arrest probability (capped at 1)")
    # ASSUMPTION: protection from anoikis and shear; halves per-pass death 0.05.
    survival_factor: float = Field(
        1.025, ge=0, allow_inf_nan=False,
        description="multiplies a cluster cell's per-pass survival probability (capped at 1)")
    # Aceto et al. 2014, Cell 158:1110 [READ]: 23-50-fold metastatic potential.
    colonization_factor: float = Field(
        23.0, ge=0, allow_inf_nan=False,
        description="multiplies a cluster cell's probability of founding a growing colony")


def mixture(fraction: float, factor: float) -> float:
    """The cell-weighted multiplier ``(1 - fraction) + fraction * factor``."""
    return (1.0 - fraction) + fraction * factor


@paget.hookimpl
def paget_config_tables():
    """Declare the ``[ctc_clusters]`` table."""
    return {TABLE: CTCClustersTable}


# trylast: the mixture scales whatever single-cell values the stage plugins
# and every other factor plugin have produced, so it is applied last.
@paget.hookimpl(trylast=True)
def paget_circulation(rates, config):
    """Scale ``rates.ctc_arrest`` and ``rates.ctc_survival`` of every row by the mixture.

    The same multiplier for every row keeps the number of circulation classes
    (distinct pairs, each one fate matrix) what the other plugins made it.
    """
    cfg = getattr(config, TABLE)
    f = cfg.cluster_fraction
    if f == 0.0:        # neutral: leave the arrays untouched, bit for bit
        return
    rates.ctc_arrest *= mixture(f, cfg.arrest_factor)
    rates.ctc_survival *= mixture(f, cfg.survival_factor)


@paget.hookimpl(trylast=True)
def paget_dtc_fate(fates, config):
    """Raise the grow probability by the mixture, taking the mass from 'die'.

    ``fates`` has shape ``(m, n_organs, 3)`` over (die, dormant, grow).  Where
    'die' cannot pay for the whole increase, grow takes all of it and stops
    there; 'dormant' is never touched, so every row still sums to 1.
    """
    cfg = getattr(config, TABLE)
    f = cfg.cluster_fraction
    if f == 0.0:
        return
    multiplier = mixture(f, cfg.colonization_factor)
    die, grow = fates[..., 0], fates[..., 2]
    # a negative shift (colonization_factor < 1) moves mass from grow to die
    shift = np.minimum(grow * (multiplier - 1.0), die)
    fates[..., 2] = np.clip(grow + shift, 0.0, 1.0)
    fates[..., 0] = np.clip(die - shift, 0.0, 1.0)
