"""`medgen kg train / similar / explain / diagnose` in-process against the suite's Neo4j,
on a tiny HPO-like graph: one trained run shared by the module, a second one resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kg.linkpred.evaluation import evaluate_ranking
from kg.store import GraphStore
from medgen.kg_runs import load_run
from tests.kg import phenotype_toy as toy

from .test_cli import Result, assert_one_line_error, query_json, run_cli

pytestmark = [pytest.mark.neo4j,
              pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")]

# small enough for a few seconds on one CPU, big enough to learn the toy graph
CONFIG = {"model": {"decoder": "complex", "dim": 16, "loss": "ce", "lr": 0.05, "batch_size": 512},
          "train": {"max_epochs": 40, "patience": None, "accelerator": "cpu"},
          "top_k": 3}
RUN_ID = "toy-run"


@pytest.fixture(scope="module")
def env(neo4j_server, tmp_path_factory):
    """The CLI pointed at the suite's server and a state folder of its own, the toy graph
    loaded; at the end the graph and the vector indexes the runs made are removed."""
    store = GraphStore(neo4j_server.driver)
    store.clear()
    store.write(toy.tables())
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in neo4j_server.env().items():
            mp.setenv(name, value)
        mp.delenv("NEO4J_DATABASE", raising=False)
        mp.setenv("MEDGEN_STATE_DIR", str(state))
        yield state
    store.clear()
    with neo4j_server.driver.session() as s:
        for r in list(s.run("SHOW VECTOR INDEXES YIELD name RETURN name")):
            s.run(f"DROP INDEX `{r['name']}` IF EXISTS").consume()


@pytest.fixture
def cli(env, capsys):
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "job.json"
    path.write_text(json.dumps(CONFIG))
    return path


@pytest.fixture(scope="module")
def trained(env, config_file) -> tuple[Result, Path]:
    """`medgen kg train` once for the module (capsys is per test: capture by hand)."""
    import contextlib
    import io

    from medgen.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["kg", "train", "--config", str(config_file), "--run-id", RUN_ID])
        except SystemExit as e:
            code = int(e.code or 0)
    return Result(code, out.getvalue(), err.getvalue()), env / "runs" / RUN_ID


def random_scorer_mrr(task, seeds: int = 5) -> float:
    """Filtered MRR of uniform random scores on the run's own test split and candidate
    types: what a model that learnt nothing gets."""
    graph, generator = task.graph, torch.Generator().manual_seed(0)
    return sum(evaluate_ranking(
        lambda heads, rels: torch.rand(len(heads), graph.num_nodes, generator=generator),
        graph.test, task.filter, allowed=task._allowed()).mrr for _ in range(seeds)) / seeds


# ---- help -------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "words"), [
    (["kg"], ["train", "similar", "explain", "diagnose"]),
    (["kg", "train"], ["--config", "--encoder", "--decoder", "--epochs", "--max-time",
                       "--target", "--top-k", "--run-id", "--keep-older-runs", "--resume",
                       "--out", "--format"]),
    (["kg", "similar"], ["NODE_ID", "-k", "--format"]),
    (["kg", "explain"], ["HEAD", "REL", "TAIL", "--limit", "--format"]),
    (["kg", "diagnose"], ["HP:", "--run", "-k", "--pseudo-count", "--prior", "--format"]),
])
def test_help_names_the_options(capsys, args, words):
    result = run_cli(capsys, *args, "--help")
    assert result.code == 0, result
    for word in words:
        assert word in result.out, word


def test_train_help_states_the_defaults_the_job_uses(capsys):
    from medgen.kg_jobs import default_model

    lines = run_cli(capsys, "kg", "train", "--help").out.splitlines()
    start = next(i for i, line in enumerate(lines) if "--dim " in line)
    block = " ".join(lines[start:start + 3])  # rich wraps an option's help over lines
    assert f"(default {default_model().dim})" in block, block


# ---- train ------------------------------------------------------------------------------
def test_train_reports_ranking_and_saves_the_run(trained):
    result, run = trained
    assert result.code == 0, result
    for text in ("ASSOCIATED_WITH", "given", "MRR", "Hits@10", "PREDICTED_ASSOCIATED_WITH",
                 "node embeddings", "run saved in"):
        assert text in result.out, text
    job = json.loads((run / "job.json").read_text())
    assert job["status"] == "done" and job["run_id"] == RUN_ID
    assert job["result"]["epochs"] == 40
    ranking = {(r["relation"], r["predicts"]): r for r in job["result"]["ranking"]}
    assert set(ranking) == {("ASSOCIATED_WITH", "Disease given Gene"),
                            ("ASSOCIATED_WITH", "Gene given Disease"),
                            ("(all)", "every test triple")}
    # the saved figure is the saved model's, and it clearly beats an untrained scorer
    task, _ = load_run(run)
    assert ranking[("(all)", "every test triple")]["mrr"] == pytest.approx(
        task.evaluate("test").mrr, abs=1e-6)
    baseline = random_scorer_mrr(task)
    assert all(r["mrr"] > 1.5 * baseline for r in ranking.values()), (ranking, baseline)
    for name in ("train.txt", "valid.txt", "test.txt", "nodes.tsv", "relations.tsv"):
        assert (run / "split" / name).exists(), name
    assert (run / "model.ckpt").exists() and (run / "checkpoints" / "last.ckpt").exists()
    assert (run / "split" / "relations.tsv").read_text().split() == [
        "relation", "ASSOCIATED_WITH", "HAS_PHENOTYPE", "IS_A"]


def test_predictions_are_in_neo4j_and_never_on_observed_pairs(trained, cli):
    rows = query_json(cli, "MATCH (g:Gene)-[p:PREDICTED_ASSOCIATED_WITH]->(d:Disease) "
                      "RETURN g.id AS gene, d.id AS disease, p.score AS score, p.rank AS rank, "
                      "p.model AS model, p.run_id AS run, p.created_at AS at "
                      "ORDER BY gene, rank")
    assert len(rows) == 3 * len(toy.GENES)  # top 3 per gene, none observed
    observed = {(g, d) for g, ds in toy.GENE_DISEASES.items() for d in ds}
    assert not {(r["gene"], r["disease"]) for r in rows} & observed
    assert {r["run"] for r in rows} == {RUN_ID} and all(0 < r["score"] < 1 for r in rows)
    assert {r["rank"] for r in rows} == {1, 2, 3} and all(r["model"] and r["at"] for r in rows)
    both = query_json(cli, "MATCH (g)-[:PREDICTED_ASSOCIATED_WITH]->(d) "
                      "WHERE (g)-[:ASSOCIATED_WITH]->(d) RETURN count(*) AS n")
    assert both == [{"n": 0}]
    # the observed links are untouched
    assert query_json(cli, "MATCH ()-[r:ASSOCIATED_WITH]->() RETURN count(r) AS n") == [
        {"n": len(observed)}]


def test_similar_answers_from_the_embeddings(trained, cli):
    result = cli("kg", "similar", "OMIM:100005", "-k", "3", "--format", "json")
    assert result.code == 0, result
    rows = json.loads(result.out)
    assert len(rows) == 3 and all(r["id"] in toy.DISEASES for r in rows)
    assert "OMIM:100005" not in {r["id"] for r in rows}
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    table = cli("kg", "similar", "NCBIGene:1")
    assert table.code == 0 and "GENE" in table.out  # genes are named by their symbol


def test_explain_returns_supporting_paths(trained, cli):
    # gene 1 and disease 2 share no link, but phenotypes and genes join them
    result = cli("kg", "explain", "NCBIGene:3", "ASSOCIATED_WITH", "OMIM:100002",
                 "--format", "json")
    assert result.code == 0, result
    paths = json.loads(result.out)
    assert paths and all(1 <= p["hops"] <= 3 for p in paths)
    assert paths[0]["path"].startswith("Gene NCBIGene:3")
    assert paths[0]["path"].endswith("Disease OMIM:100002 (Syndrome 2)")
    assert [p["cost"] for p in paths] == sorted(p["cost"] for p in paths)
    table = cli("kg", "explain", "NCBIGene:3", "ASSOCIATED_WITH", "OMIM:100002", "--limit", "2")
    assert table.code == 0 and "-[HAS_PHENOTYPE]->" in table.out and "why" in table.out


# The toy's diseases have 4 annotations each, complete: a pseudo-count of the toy's scale
# (the default, 25, suits HPO's incomplete annotations; see the next test)
@pytest.mark.parametrize(("terms", "options"), [
    # three of D6's four terms; D8 has two of them
    (["HP:0000303", "HP:0000304", "HP:0000503"], ["--pseudo-count", "2"]),
    # one replaced by its parent
    (["HP:0000303", "HP:0000304", toy.SYSTEMS[3]], ["--pseudo-count", "2"]),
    (["HP:0000303", "HP:0000304", toy.SYSTEMS[3]], ["--pseudo-count", "0"]),
    # the model alone
    (["HP:0000303", "HP:0000304", toy.SYSTEMS[3]], ["--pseudo-count", "1e9", "--prior",
                                                    "model=1"]),
])
def test_diagnose_ranks_the_disease_whose_phenotypes_were_given_first(trained, cli, terms,
                                                                      options):
    result = cli("kg", "diagnose", *terms, "-k", "3", *options, "--format", "json")
    assert result.code == 0, result
    rows = json.loads(result.out)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    first = rows[0]
    assert first["disease"] == "OMIM:100006" and first["name"] == "Syndrome 6"
    assert first["supported"] == "3/3"
    notes = {s["phenotype"]: s["observed"] for s in first["support"]}
    assert notes["HP:0000303"] == "annotated"
    assert notes[terms[2]] == ("annotated" if terms[2] == "HP:0000503"
                               else "via HP:0000503, HP:0000504")
    assert first["score"] > rows[1]["score"] and first["posterior"] > 0.5
    for s in first["support"]:  # what the probability is made of
        assert set(s["sources"]) <= {"annotations", "model", "relatives", "genes", "similar"}
        assert sum(s["sources"].values()) == pytest.approx(s["probability"], rel=1e-3)


def test_diagnose_by_default_lifts_a_disease_whose_gene_sibling_shows_the_terms(trained, cli):
    """With the default pseudo-count, 4 annotations weigh little against the prior: D2,
    which shares gene 2 with D6 but none of D6's terms, ranks with D6 on D6's terms,
    through its relative and its gene, and says so."""
    result = cli("kg", "diagnose", "HP:0000303", "HP:0000304", "HP:0000503", "-k", "3",
                 "--format", "json")
    assert result.code == 0, result
    rows = {r["disease"]: r for r in json.loads(result.out)}
    assert {"OMIM:100002", "OMIM:100006"} <= set(rows)
    assert rows["OMIM:100006"]["supported"] == "3/3" and rows["OMIM:100002"]["supported"] == "0/3"
    for s in rows["OMIM:100002"]["support"]:
        assert s["sources"]["annotations"] == 0
        assert s["sources"]["relatives"] > s["sources"]["model"]


def test_diagnose_defaults_are_the_diagnosers():
    import inspect
    import typing

    from kg.diagnosis import PRIOR_WEIGHTS, PSEUDO_COUNT
    from medgen.cli import kg as cli_kg

    params = inspect.signature(cli_kg.kg_diagnose).parameters
    assert params["pseudo_count"].default == PSEUDO_COUNT
    assert params["prior"].default is None  # the diagnoser's PRIOR_WEIGHTS, as the help says
    hints = typing.get_type_hints(cli_kg.kg_diagnose, include_extras=True)
    option = typing.get_args(hints["prior"])[1]
    assert ",".join(f"{k}={v}" for k, v in PRIOR_WEIGHTS.items()) in option.help


def test_diagnose_table_names_diseases_and_support(trained, cli):
    result = cli("kg", "diagnose", "HP:0000203", "HP:0000204", "HP:0000403",
                 "--run", str(trained[1]))
    assert result.code == 0, result
    assert "Syndrome 5" in result.out and "annotated" in result.out and "p=" in result.out


# ---- resume -----------------------------------------------------------------------------
def test_a_stopped_run_resumes_to_more_epochs(trained, cli, config_file, tmp_path):
    run = tmp_path / "resumed"
    first = cli("kg", "train", "--config", str(config_file), "--epochs", "2", "--out", str(run),
                "--format", "json")
    assert first.code == 0, first
    assert json.loads(first.out)["epochs"] == 2
    again = cli("kg", "train", "--out", str(run), "--resume", "--epochs", "5", "--format",
                "json")
    assert again.code == 0, again
    outcome = json.loads(again.out)
    assert outcome["epochs"] == 5 and outcome["resumed_from"].endswith("last.ckpt")
    assert outcome["run_id"] == json.loads(first.out)["run_id"]
    # the model may not change under a resumed run
    changed = cli("kg", "train", "--out", str(run), "--resume", "--decoder", "rotate")
    assert_one_line_error(changed, "--resume", "model")


# ---- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "fragments"), [
    (["kg", "similar", "NOPE:1"], ["no node with id 'NOPE:1'"]),
    (["kg", "explain", "NCBIGene:1", "CAUSES", "OMIM:100002"],
     ["unknown relation 'CAUSES'", "ASSOCIATED_WITH"]),
    (["kg", "explain", "NCBIGene:1", "ASSOCIATED_WITH", "NOPE:1"], ["no node with id"]),
    (["kg", "diagnose"], ["at least one phenotype"]),
    (["kg", "diagnose", "HP:0000201", "HP:9999999"], ["unknown phenotype id(s) HP:9999999"]),
    (["kg", "diagnose", "OMIM:100001"], ["not Phenotype terms"]),
    (["kg", "diagnose", "HP:0000201", "--prior", "cousins=1"], ["unknown prior part"]),
    (["kg", "diagnose", "HP:0000201", "--prior", "model"], ["name=number pairs"]),
    (["kg", "train", "--target", "CAUSES"],
     ["unknown target relation(s) CAUSES", "ASSOCIATED_WITH"]),
    (["kg", "train", "--encoder", "gat"], ["unknown encoder 'gat'"]),
    (["kg", "train", "--resume"], ["--resume needs", "--run-id"]),
    (["kg", "train", "--resume", "--run-id", "never-trained"], ["not a training run"]),
    (["kg", "train", "--run-id", RUN_ID], ["already holds run 'toy-run'", "--resume"]),
    (["kg", "train", "--run-id", "../escape"], ["plain name"]),
])
def test_bad_input_is_one_clear_line(trained, cli, args, fragments):
    assert_one_line_error(cli(*args), *fragments)


def test_a_run_from_another_graph_is_refused(trained, cli, tmp_path, neo4j_server):
    _, run = trained
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    assert_one_line_error(cli("kg", "diagnose", "HP:0000201", "--run", str(not_a_run)),
                          "not a training run")
    with neo4j_server.driver.session() as s:
        s.run("CREATE (:Gene {id: 'NCBIGene:99', symbol: 'NEW'})").consume()
    try:
        assert_one_line_error(cli("kg", "diagnose", "HP:0000201", "--run", str(run)),
                              "trained on another graph", "9 Gene")
        assert_one_line_error(cli("kg", "train", "--resume", "--run-id", RUN_ID),
                              "trained on another graph")
    finally:
        with neo4j_server.driver.session() as s:
            s.run("MATCH (g:Gene {id: 'NCBIGene:99'}) DETACH DELETE g").consume()


# ---- neighbour-sampled training -----------------------------------------------------------
SAMPLED = {"model": {"encoder": "rgcn", "decoder": "distmult", "dim": 16, "loss": "softplus",
                     "lr": 0.05, "batch_size": 64, "num_neighbors": [5, 5]},
           "train": {"max_epochs": 3, "patience": None, "accelerator": "cpu"},
           "top_k": 3, "embeddings": False}


def sampled_config(tmp_path: Path, **model) -> Path:
    path = tmp_path / "sampled.json"
    path.write_text(json.dumps({**SAMPLED, "model": {**SAMPLED["model"], **model}}))
    return path


def test_train_with_neighbour_sampling(cli, tmp_path):
    pytest.importorskip("torch_sparse")
    run = tmp_path / "sampled"  # outside the state folder: not the "latest run" of diagnose
    result = cli("kg", "train", "--config", str(sampled_config(tmp_path)), "--out", str(run),
                 "--format", "json")
    assert result.code == 0, result
    outcome = json.loads(result.out)
    assert outcome["epochs"] == 3
    task, _ = load_run(run)
    everything = next(r for r in outcome["ranking"] if r["relation"] == "(all)")
    # three epochs test the plumbing, not learning (tests/kg/linkpred/test_sampling.py
    # shows sampled training beating a random scorer): the figure is the saved model's
    assert everything["mrr"] == pytest.approx(task.evaluate("test").mrr, abs=1e-6)
    assert json.loads((run / "job.json").read_text())["config"]["model"]["num_neighbors"] == [
        5, 5]


@pytest.mark.parametrize(("model", "fragments"), [
    ({"num_neighbors": "10,x"}, ["num_neighbors must be a non-empty list", "'10,x'"]),
    ({"num_neighbors": [10, 0]}, ["num_neighbors must be", "-1 (all neighbours)"]),
    ({"num_neighbors": [10, 10], "loss": "ce"}, ["num_neighbors needs a sampled loss"]),
])
def test_bad_neighbour_sampling_configs_are_one_clear_line(cli, tmp_path, model, fragments):
    result = cli("kg", "train", "--config", str(sampled_config(tmp_path, **model)), "--out",
                 str(tmp_path / "run"))
    assert_one_line_error(result, *fragments)


def test_num_neighbors_option_sets_sampling_on_a_config_without_it(cli, tmp_path):
    pytest.importorskip("torch_sparse")
    config = tmp_path / "full.json"
    config.write_text(json.dumps({**SAMPLED, "model": {k: v for k, v in SAMPLED["model"].items()
                                                        if k != "num_neighbors"},
                                  "train": {**SAMPLED["train"], "max_epochs": 1}}))
    run = tmp_path / "flag"
    result = cli("kg", "train", "--config", str(config), "--num-neighbors", "4,-1", "--out",
                 str(run), "--format", "json")
    assert result.code == 0, result
    assert json.loads((run / "job.json").read_text())["config"]["model"]["num_neighbors"] == [
        4, -1]


@pytest.mark.parametrize(("value", "code", "fragment"), [
    ("10,x", 2, "whole numbers separated by commas"),
    ("", 2, "whole numbers separated by commas"),
    ("10,0", 1, "-1 (all neighbours)"),
])
def test_bad_num_neighbors_option(cli, tmp_path, value, code, fragment):
    result = cli("kg", "train", "--config", str(sampled_config(tmp_path)), "--num-neighbors",
                 value, "--out", str(tmp_path / "run"))
    if code == 1:
        assert_one_line_error(result, fragment)
    else:  # a usage error, printed in a box that wraps lines
        words = " ".join(result.err.replace("│", " ").split())
        assert result.code == 2 and fragment in words and "Traceback" not in result.err


def test_sampling_without_its_backend_names_the_build_script(cli, tmp_path, monkeypatch):
    import torch_geometric.typing

    monkeypatch.setattr(torch_geometric.typing, "WITH_PYG_LIB", False)
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SPARSE", False)
    result = cli("kg", "train", "--config", str(sampled_config(tmp_path)), "--out",
                 str(tmp_path / "run"))
    assert_one_line_error(result, "build_sampling_wheels.sh")


# ---- runs: listed, and removed with what they wrote ------------------------------------
def test_runs_list_and_rm_remove_a_run_with_its_links_and_embeddings(cli, trained,
                                                                     config_file, env):
    assert trained[0].code == 0
    second = cli("kg", "train", "--config", str(config_file), "--run-id", "second-run")
    assert second.code == 0, second.err
    listed = json.loads(cli("runs", "list", "--format", "json").out)
    mine = {r["run"]: r for r in listed if r["kind"] == "kg"}
    assert set(mine) == {RUN_ID, "second-run"}
    assert mine["second-run"]["metric"].startswith("test MRR ")
    assert mine["second-run"]["status"] == "done" and mine["second-run"]["size MB"] > 0

    def links(run_id: str) -> int:
        return query_json(cli, "MATCH ()-[p:PREDICTED_ASSOCIATED_WITH {run_id: $r}]->() "
                               "RETURN count(p) AS n", f"r={run_id}")[0]["n"]

    def embedded(run_id: str) -> int:
        return query_json(cli, "MATCH (n) WHERE n.embedding_run_id = $r RETURN count(n) AS n",
                          f"r={run_id}")[0]["n"]

    assert links("second-run") > 0 and links(RUN_ID) > 0 and embedded("second-run") > 0
    removed = cli("runs", "rm", "second-run", "--yes")
    assert removed.code == 0, removed.err
    assert not (env / "runs" / "second-run").exists() and trained[1].exists()
    assert links("second-run") == 0 and embedded("second-run") == 0
    assert links(RUN_ID) > 0  # the other run's predictions stay
    assert_one_line_error(cli("runs", "rm", "no-such-run", "--yes"), "no run 'no-such-run'")
