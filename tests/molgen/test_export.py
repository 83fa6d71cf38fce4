"""Candidate tables and their CSV/SDF files: valid, de-duplicated, properties as SD tags,
3D conformers by ETKDG + MMFF, readable by pandas and RDKit."""

from __future__ import annotations

import pandas as pd
import pytest
from rdkit import Chem

from molgen import chem
from molgen.export import candidate_table, describe_pool, embed_3d, write_csv, write_sdf

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
RHODANINE = "O=C1NC(=S)SC1=Cc1ccccc1"  # a PAINS ene_rhod alert


@pytest.fixture
def table() -> pd.DataFrame:
    smiles = [ASPIRIN, None, "C1CC", "OC(=O)c1ccccc1OC(C)=O", CAFFEINE, RHODANINE]
    extra = pd.DataFrame({"method": ["prior"] * 6, "seed_tanimoto": [0.5] * 6})
    return candidate_table(smiles, extra, training={chem.canonical_smiles(CAFFEINE)})


def test_table_keeps_valid_unique_molecules_with_properties_and_flags(table):
    assert table["smiles"].tolist() == [chem.canonical_smiles(s)
                                        for s in (ASPIRIN, CAFFEINE, RHODANINE)]
    assert table["id"].tolist() == [chem.inchikey(s) for s in (ASPIRIN, CAFFEINE, RHODANINE)]
    assert table.loc[0, "mw"] == pytest.approx(180.159, abs=1e-2)
    assert table["novel"].tolist() == [True, False, True]
    assert table["pains"].iloc[2].startswith("ene_rhod")
    assert table["passes_filters"].tolist() == [True, True, False]
    assert list(table.columns[-2:]) == ["method", "seed_tanimoto"]


def test_empty_input_gives_an_empty_table_with_columns():
    empty = candidate_table([None, "not a molecule"])
    assert empty.empty and {"id", "smiles", "qed", "pains"} <= set(empty.columns)
    with pytest.raises(ValueError, match="rows"):
        candidate_table([ASPIRIN], pd.DataFrame({"x": [1, 2]}))


def test_worker_processes_give_the_same_table():
    """Chunks go to worker processes; duplicates across chunks, invalid entries and
    the per-input extra columns must come out as in one process."""
    smiles = [ASPIRIN, None, CAFFEINE, "C1CC", "OC(=O)c1ccccc1OC(C)=O", RHODANINE,
              CAFFEINE, "CCO", "not a molecule", "CCN"] * 3
    extra = pd.DataFrame({"method": [f"m{i}" for i in range(len(smiles))]})
    training = {chem.canonical_smiles("CCO")}
    one = candidate_table(smiles, extra, training=training)
    steps: dict[str, list[int]] = {"one": [], "pooled": [], "given": []}
    alone = candidate_table(smiles, extra, training=training, chunk_size=4,
                            progress=steps["one"].append)
    pd.testing.assert_frame_equal(alone, one)
    pooled = candidate_table(smiles, extra, training=training, workers=2, chunk_size=4,
                             progress=steps["pooled"].append)
    pd.testing.assert_frame_equal(pooled, one)
    with describe_pool(2) as pool:  # started and warmed before the molecules exist
        given = candidate_table(smiles, extra, training=training, chunk_size=4, pool=pool,
                                progress=steps["given"].append)
    pd.testing.assert_frame_equal(given, one)
    # progress hears of every input once, a chunk at a time, whichever way it ran
    assert all(done == [4] * 7 + [2] for done in steps.values()), steps
    with pytest.raises(ValueError, match="workers"):
        describe_pool(0)
    assert one["method"].tolist() == ["m0", "m2", "m5", "m7", "m9"]  # first occurrences
    with pytest.raises(ValueError, match="workers"):
        candidate_table(smiles, workers=0)


def test_csv_opens_in_pandas(table, tmp_path):
    back = pd.read_csv(write_csv(table, tmp_path / "out" / "c.csv"), keep_default_na=False)
    assert back["smiles"].tolist() == table["smiles"].tolist()
    assert back["qed"].to_numpy() == pytest.approx(table["qed"].to_numpy(), rel=1e-5)


def test_sdf_opens_in_rdkit_with_the_tags(table, tmp_path):
    path = write_sdf(table, tmp_path / "c.sdf")
    mols = list(Chem.SDMolSupplier(str(path)))
    assert len(mols) == 3 and all(m is not None for m in mols)
    for mol, row in zip(mols, table.to_dict("records"), strict=True):
        assert mol.GetProp("_Name") == row["id"]
        assert Chem.MolToSmiles(mol) == row["smiles"]
        assert float(mol.GetProp("qed")) == pytest.approx(row["qed"], rel=1e-5)
        assert mol.GetProp("method") == "prior"
        assert mol.GetConformer().Is3D() is False


def test_sdf_with_conformers_is_3d_and_minimised(table, tmp_path):
    path = write_sdf(table.head(2), tmp_path / "c3d.sdf", conformers=True)
    mols = list(Chem.SDMolSupplier(str(path), removeHs=False))
    assert [m.GetProp("conformer") for m in mols] == ["mmff", "mmff"]
    for mol in mols:
        assert mol.GetConformer().Is3D()
        assert any(a.GetSymbol() == "H" for a in mol.GetAtoms())
        positions = mol.GetConformer().GetPositions()
        assert abs(positions[:, 2]).max() > 0.1  # really out of the plane


def test_embedding_is_reproducible():
    a = embed_3d(chem.to_mol(ASPIRIN), seed=7).GetConformer().GetPositions()
    b = embed_3d(chem.to_mol(ASPIRIN), seed=7).GetConformer().GetPositions()
    assert a == pytest.approx(b)
