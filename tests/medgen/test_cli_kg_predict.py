"""`medgen kg predict` and `kg explain --run` with a run of the path model, in-process
against the suite's Neo4j: a disease removed before training and added back after (with
its phenotypes only) gets its gene predicted without retraining, through the paths that
now reach it; explanations are the model's weighted paths."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from kg.store import GraphStore
from tests.kg import phenotype_toy as toy

from .test_cli import query_json, run_cli

pytestmark = [pytest.mark.neo4j,
              pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")]

NEW, GENE = toy.DISEASES[7], toy.GENES[7]  # OMIM:100008 and its one gene, NCBIGene:8
CONFIG = {"model": {"encoder": "nbfnet", "encoder_options": {"num_layers": 2}, "dim": 16,
                    "loss": "ce", "lr": 0.01, "batch_size": 64, "label_smoothing": 0.0},
          "train": {"max_epochs": 30, "patience": None, "accelerator": "cpu"},
          "top_k": 2}
RUN_ID = "path-run"


@pytest.fixture(scope="module")
def env(neo4j_server, tmp_path_factory):
    store = GraphStore(neo4j_server.driver)
    store.clear()
    store.write(toy.tables())
    with neo4j_server.driver.session() as s:  # the new disease is not there at training
        s.run("MATCH (d:Disease {id: $id}) DETACH DELETE d", id=NEW).consume()
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in neo4j_server.env().items():
            mp.setenv(name, value)
        mp.delenv("NEO4J_DATABASE", raising=False)
        mp.setenv("MEDGEN_STATE_DIR", str(state))
        yield state, neo4j_server.driver
    store.clear()


@pytest.fixture
def cli(env, capsys):
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture(scope="module")
def run_dir(env, tmp_path_factory) -> Path:
    from medgen.cli import main

    state, driver = env
    config = tmp_path_factory.mktemp("config") / "job.json"
    config.write_text(json.dumps(CONFIG))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["kg", "train", "--config", str(config), "--run-id", RUN_ID])
        except SystemExit as e:
            assert not e.code, err.getvalue()
    # after training: the disease comes back with its phenotypes, not its gene
    with driver.session() as s:
        s.run("MERGE (d:Disease {id: $id}) SET d.name = 'Syndrome 8' WITH d "
              "UNWIND $terms AS t MATCH (p:Phenotype {id: t}) MERGE (d)-[:HAS_PHENOTYPE]->(p)",
              id=NEW, terms=toy.DISEASE_TERMS[NEW]).consume()
    return state / "runs" / RUN_ID


def test_a_disease_added_after_training_gets_its_gene(run_dir, cli):
    result = cli("kg", "predict", NEW, "--rel", "ASSOCIATED_WITH", "--as-tail", "-k", "3",
                 "--run", str(run_dir), "--format", "json", "--write")
    assert result.code == 0, result
    got = json.loads(result.out)
    partners = [p["partner"] for p in got["partners"]]
    assert partners[0] == GENE, got
    assert all(p in toy.GENES for p in partners)  # the relation's head type only
    assert got["written"] == 3
    rows = query_json(cli, "MATCH (g:Gene)-[p:PREDICTED_ASSOCIATED_WITH]->(d:Disease {id: $d}) "
                      "RETURN g.id AS gene, p.rank AS rank, p.run_id AS run ORDER BY rank",
                      f"d={NEW}")
    assert [r["gene"] for r in rows] == partners and {r["run"] for r in rows} == {RUN_ID}


def test_predict_refuses_what_the_run_cannot_answer(run_dir, cli):
    result = cli("kg", "predict", NEW, "--rel", "TREATS", "--run", str(run_dir))
    assert result.code != 0 and "did not learn" in result.err
    result = cli("kg", "predict", "OMIM:999", "--rel", "ASSOCIATED_WITH", "--run", str(run_dir))
    assert result.code != 0 and "no node" in result.err


def test_explain_with_a_path_run_weighs_the_model_paths(run_dir, cli):
    gene, disease = toy.GENES[0], toy.DISEASES[0]
    result = cli("kg", "explain", gene, "ASSOCIATED_WITH", disease, "--run", str(run_dir),
                 "--format", "json")
    assert result.code == 0, result
    paths = json.loads(result.out)
    assert paths and all(1 <= p["hops"] <= 2 for p in paths)
    assert paths[0]["path"].startswith(gene) and paths[0]["path"].endswith(disease)
    assert [p["weight"] for p in paths] == sorted((p["weight"] for p in paths), reverse=True)
    assert "HAS_PHENOTYPE" in paths[0]["path"]
    table = cli("kg", "explain", gene, "ASSOCIATED_WITH", disease, "--run", str(run_dir))
    assert table.code == 0 and "path weights" in table.out
