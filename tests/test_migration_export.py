"""Export for Metient (``paget export-migration``) and the sequencing readout."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import paget
from paget.cli import main
from paget.migration_export import PRESENCE_COLUMNS, READS_COLUMNS, metient_tables
from paget.plugins import sequencing

from .conftest import busy

#: the columns Metient's README ("Inputs", 1a and 1b) documents, in its order
METIENT_1A = ["anatomical_site_index", "anatomical_site_label", "character_index",
              "character_label", "cluster_index", "ref", "var", "site_category",
              "var_read_prob"]
METIENT_1B = ["anatomical_site_index", "anatomical_site_label", "cluster_index",
              "cluster_label", "present", "site_category", "num_mutations"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    cfg = busy(cohort={"patients": 2, "years": 0.3}, genetics={"mutation_rate": 1e-8})
    path = tmp_path_factory.mktemp("mig") / "b.nc"
    paget.Simulation(cfg, entry_points=False).write(path)
    return path, paget.open_dataset(path).load()


def test_the_tables_have_metients_documented_columns(result):
    _, ds = result
    reads, presence, tree = metient_tables(ds, 0)
    assert list(READS_COLUMNS) == METIENT_1A and list(PRESENCE_COLUMNS) == METIENT_1B
    assert list(reads.columns) == METIENT_1A and list(presence.columns) == METIENT_1B
    assert set(presence.site_category) <= {"primary", "metastasis"}
    assert (presence.groupby("anatomical_site_index").site_category.first() == "primary").sum() == 1
    assert ((reads.ref + reads["var"]) == 100).all() and (reads.var_read_prob == 0.35).all()
    # indices are zero-based and consecutive; the tree's are cluster indices
    sites = presence.drop_duplicates("anatomical_site_index")
    assert list(sites.anatomical_site_index) == list(range(len(sites)))
    clusters = set(presence.cluster_index)
    assert clusters == set(range(len(clusters)))
    assert all(a in clusters and b in clusters for a, b in tree)
    assert len(tree) == len(clusters) - 1, "one founding clone, every other with a parent"


def test_presence_follows_the_lesion_table(result):
    _, ds = result
    _, presence, _ = metient_tables(ds, 1)
    lt = pd.DataFrame({"p": ds.lesion_patient.values, "organ": ds.lesion_organ.values,
                       "clone": ds.lesion_clone.values, "cells": ds.lesion_cells.values,
                       "dormant": ds.lesion_dormant.values})
    lt = lt[(lt.p == 1) & ~lt.dormant & (lt.cells > 0)]
    assert set(presence.anatomical_site_label) == set(lt.organ)
    clones = ds.clone_id.values[ds.clone_patient.values == 1]
    present = {(o, int(np.flatnonzero(clones == c)[0])) for o, c in zip(lt.organ, lt.clone)}
    got = {(o, c) for o, c, x in zip(presence.anatomical_site_label, presence.cluster_index,
                                      presence.present) if x}
    assert got == present


def test_cli_writes_three_files_and_refuses_bad_input(result, tmp_path, capsys):
    path, _ = result
    assert main(["export-migration", str(path), "--patient", "1", "-o", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["P1_SNVs.tsv", "P1_clusters.tsv", "P1_tree.txt"]
    assert list(pd.read_csv(tmp_path / "P1_SNVs.tsv", sep="\t").columns) == METIENT_1A
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, fragment in ((["--patient", "7"], "--patient 7: no such patient"),
                           (["--patient", "0", "--purity", "1.5"], "--purity 1.5"),
                           (["--patient", "0", "--depth", "0"], "--depth 0")):
        assert main(["export-migration", str(path), *args, "-o", str(empty)]) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not list(empty.iterdir())
    # a directory that does not exist yet is made, but not for a refused export
    assert main(["export-migration", str(path), "--patient", "7", "-o",
                 str(tmp_path / "new" / "dir")]) == 2
    assert not (tmp_path / "new").exists()
    capsys.readouterr()
    assert main(["export-migration", str(path), "--patient", "0", "-o",
                 str(tmp_path / "new" / "dir")]) == 0
    assert list((tmp_path / "new" / "dir").iterdir())
    capsys.readouterr()
    (tmp_path / "file").write_text("")
    assert main(["export-migration", str(path), "--patient", "0", "-o",
                 str(tmp_path / "file")]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def _lesions(cells, genotype, dormant=None):
    """One patient's lesion table: one row per (lesion id, cells, genotype)."""
    n = len(cells)
    return xr.Dataset({
        "lesion_patient": ("lesion", np.zeros(n, np.int64)),
        "lesion_id": ("lesion", np.array([c[0] for c in cells], np.uint64)),
        "lesion_organ": ("lesion", np.array(["lung"] * n)),
        "lesion_cells": ("lesion", np.array([c[1] for c in cells], float)),
        "lesion_genotype": ("lesion", np.array(genotype, np.uint64),
                            {"flag_meanings": "TP53 KRAS"}),
        "lesion_dormant": ("lesion", np.zeros(n, bool) if dormant is None else dormant),
    }, attrs={"seed": 11})


def test_sequencing_vaf_is_purity_times_cell_fraction_over_two():
    # lesion 1: 3/4 of its cells carry TP53, 1/4 carry both; lesion 2 is too small
    ds = _lesions([(1, 300.0), (1, 100.0), (2, 10.0)], [1, 3, 1])
    out = sequencing.sequence(ds, depth=200, purity=0.6, min_cells=50)
    assert out.sizes["sample"] == 1 and int(out.sample_lesion[0]) == 1
    np.testing.assert_allclose(out.cell_fraction.values[0], [1.0, 0.25])
    np.testing.assert_allclose(out.vaf.values[0], [0.3, 0.075])
    again = sequencing.sequence(ds, depth=200, purity=0.6, min_cells=50)
    np.testing.assert_array_equal(out.var_reads.values, again.var_reads.values)


def test_sequencing_reads_are_binomial():
    """4000 lesions of VAF 0.25 at depth 100: the mean reads are 25 within 4
    standard errors (sd of one count sqrt(100 * 0.25 * 0.75) = 4.33)."""
    n = 4000
    ds = _lesions([(i + 1, 1000.0) for i in range(n)], [1] * n)
    out = sequencing.sequence(ds, depth=100, purity=0.5, min_cells=1)
    reads = out.var_reads.values[:, 0]
    assert abs(reads.mean() - 25.0) < 4 * 4.33 / np.sqrt(n)
    assert abs(reads.std() - 4.33) < 0.3
    assert (out.var_reads.values[:, 1] == 0).all()   # no cell carries KRAS
