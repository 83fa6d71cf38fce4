"""The completion job and the diagnoser, as library calls: config files, the ontology
closure, the vectorised diagnosis against a slow obvious one, and a killed run resumed."""

from __future__ import annotations

import json
import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from medgen import kg_jobs as jobs
from medgen.errors import RunError
from training import seed_everything

from . import kg_toy as toy

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")

FAST_MODEL = {"dim": 16, "loss": "ce", "lr": 0.05, "batch_size": 512}


# ---- configuration --------------------------------------------------------------------

def test_defaults_and_file_and_options_take_precedence_in_that_order(tmp_path):
    default = jobs.load_config(None)
    assert (default.model.encoder, default.model.decoder, default.targets) == (
        "none", "complex", ["ASSOCIATED_WITH"])
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"model": {"decoder": "rotate", "dim": 32},
                                "train": {"max_epochs": 7, "accelerator": "cpu"},
                                "split": {"fractions": [0.7, 0.15, 0.15], "seed": 3},
                                "top_k": 5}))
    config = jobs.load_config(path, decoder="distmult", epochs=9, targets=["IS_A"])
    assert config.model.decoder == "distmult" and config.model.dim == 32
    assert config.model.loss == default.model.loss  # unspecified fields keep the defaults
    assert config.train == {"max_epochs": 9, "accelerator": "cpu"}
    assert config.split.fractions == (0.7, 0.15, 0.15) and config.targets == ["IS_A"]
    assert config.top_k == 5
    assert jobs.JobConfig.from_dict(config.to_dict()) == config  # what job.json keeps
    yaml_path = tmp_path / "job.yaml"
    yaml_path.write_text("model:\n  encoder: rgcn\ntrain:\n  max_epochs: 3\n")
    assert jobs.load_config(yaml_path).model.encoder == "rgcn"


@pytest.mark.parametrize(("content", "fragment"), [
    ({"modle": {}}, "unknown JobConfig field(s) ['modle']"),
    ({"model": {"decoder": "transe"}}, "unknown decoder 'transe'"),
    ({"model": {"encoder": "gat"}}, "unknown encoder 'gat'"),
    ({"train": {"max_epoch": 3}}, "unknown TrainConfig field(s) ['max_epoch']"),
    ({"train": {"log_dir": "x"}}, "set by the job itself"),
    ({"split": {"holdout": "some"}}, "split.holdout"),
    ({"top_k": 0}, "top_k must be >= 1"),
    ([1, 2], "must hold a mapping"),
])
def test_bad_config_files_name_the_problem(tmp_path, content, fragment):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(content))
    with pytest.raises(RunError) as info:
        jobs.load_config(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_unparsable_and_unknown_config_files(tmp_path):
    bad = tmp_path / "job.json"
    bad.write_text("{model: ")
    with pytest.raises(RunError, match="does not parse"):
        jobs.load_config(bad)
    toml = tmp_path / "job.toml"
    toml.write_text("")
    with pytest.raises(RunError, match=r"\.json, \.yaml or \.yml"):
        jobs.load_config(toml)


def test_resume_takes_a_new_budget_but_not_a_new_model():
    saved = jobs.load_config(None, epochs=2)
    more = jobs.resume_config(saved, epochs=5, max_time=60.0, top_k=3, decoder="complex")
    assert more.train["max_epochs"] == 5 and more.train["max_time_s"] == 60.0
    assert more.top_k == 3 and more.model == saved.model
    with pytest.raises(RunError, match="change its model"):
        jobs.resume_config(saved, decoder="rotate")
    with pytest.raises(RunError, match="change its split, seed"):
        jobs.resume_config(saved, seed=4)


def test_run_ids_are_plain_names():
    assert jobs.check_run_id("2025-01-01_a.b") == "2025-01-01_a.b"
    for bad in ("", "../up", "a/b", "-x", "a b"):
        with pytest.raises(RunError, match="plain name"):
            jobs.check_run_id(bad)


def test_graph_fingerprint_tells_other_node_ids_apart(tmp_path):
    info = jobs.graph_info({"Gene": ["G1", "G2"]}, ["R"])
    assert info == jobs.graph_info({"Gene": ["G1", "G2"]}, ["R"])
    jobs.check_same_graph(info, info, tmp_path)
    other_ids = jobs.graph_info({"Gene": ["G1", "G3"]}, ["R"])
    with pytest.raises(RunError, match="same node counts but other node ids"):
        jobs.check_same_graph(info, other_ids, tmp_path)
    with pytest.raises(RunError, match="2 Gene; relations R, S"):
        jobs.check_same_graph(info, jobs.graph_info({"Gene": ["G1", "G2"]}, ["R", "S"]),
                              tmp_path)


# ---- the ontology and the diagnoser ---------------------------------------------------

def test_ancestor_closure_follows_every_path_of_a_dag():
    import numpy as np
    import scipy.sparse as sp

    # 0 <- 1 <- 3, 0 <- 2 <- 3 (a diamond), 4 alone; rows: child, columns: parent
    parent = sp.csr_matrix((np.ones(4), ([1, 2, 3, 3], [0, 0, 1, 2])), shape=(5, 5))
    closure = jobs.ancestor_closure(parent).toarray()
    expected = np.eye(5, dtype=int)
    expected[1, 0] = expected[2, 0] = 1
    expected[3, [0, 1, 2]] = 1
    assert (closure == expected).all()


@pytest.fixture(scope="module")
def toy_graph() -> TripleGraph:
    return TripleGraph.from_export(toy.export(), seed=0, holdout_relations=["ASSOCIATED_WITH"])


def make_task(graph: TripleGraph, decoder: str = "complex", reciprocal: bool = True
              ) -> LinkPredictionTask:
    seed_everything(0)
    return LinkPredictionTask(LinkPredictionConfig(dim=8, decoder=decoder,
                                                   reciprocal=reciprocal), graph)


@torch.no_grad()
def slow_diagnosis(task: LinkPredictionTask, graph: TripleGraph, terms: list[str],
                   noise: float, pseudo: float, prior: dict[str, float] | None
                   ) -> dict[str, float]:
    """The diagnosis score written out term by term, disease by disease, from the toy's
    own lists (annotations, genes, ontology) and the model's scores."""
    ids = graph.node_ids
    kind = [graph.node_types[t] for t in graph.node_type.tolist()]
    diseases = [i for i, k in enumerate(kind) if k == "Disease"]
    phenotypes = [i for i, k in enumerate(kind) if k == "Phenotype"]
    r = graph.relations.index("HAS_PHENOTYPE")
    weights = dict(jobs.PRIOR_WEIGHTS if prior is None else prior)
    weights = {n: weights.get(n, 0.0) / sum(weights.values()) for n in jobs.PRIOR_WEIGHTS}

    def below(term: str) -> set[str]:
        found, todo = {term}, [term]
        while todo:
            parent = todo.pop()
            for child, up in toy.PARENT.items():
                if up == parent and child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def above(term: str) -> set[str]:
        found = {term}
        while term in toy.PARENT:
            term = toy.PARENT[term]
            found.add(term)
        return found

    names = [ids[d] for d in diseases]
    annotated = toy.DISEASE_TERMS
    implied = {d: set().union(*(above(t) for t in annotated[d])) for d in names}
    ic = {t: math.log(len(names) / sum(t in implied[d] for d in names)) for t in toy.TERM_NAMES
          if any(t in implied[d] for d in names)}

    def cosine(a: str, b: str) -> float:
        dot = sum(ic[t] ** 2 for t in implied[a] & implied[b])
        return dot / math.sqrt(sum(ic[t] ** 2 for t in implied[a])
                               * sum(ic[t] ** 2 for t in implied[b]))

    def share(d: str, subterms: set[str]) -> float:  # of d's annotations, those below q
        return sum(t in subterms for t in annotated[d]) / len(annotated[d])

    def neighbours(d: str, weight: dict[str, float], subterms: set[str]) -> float:
        total = sum(weight.values())
        return sum(w * share(o, subterms) for o, w in weight.items()) / total if total else 0.0

    genes_of = {d: [g for g, ds in toy.GENE_DISEASES.items() if d in ds] for d in names}
    emb = task.eval().embed()
    out = {}
    for d in diseases:
        name = ids[d]
        scores = {ids[p]: float(task.model.score(emb, torch.tensor([d]), torch.tensor([r]),
                                                 torch.tensor([p]))) for p in phenotypes}
        norm = math.log(sum(math.exp(s) for s in scores.values()))
        relatives = {o: max(cosine(name, o), 0) ** 3 + jobs.RELATIVE_FLOOR for o in names
                     if o != name and any(name in toy.GENE_DISEASES[g] for g in genes_of[o])}
        similar = {o: max(cosine(name, o), 0) ** 3 for o in names if o != name}  # k >= 7
        own = len(annotated[name]) / (len(annotated[name]) + pseudo)
        total = 0.0
        for term in terms:
            subterms = below(term)
            parts = {
                "model": sum(math.exp(scores[t] - norm) for t in subterms),
                "relatives": neighbours(name, relatives, subterms),
                "similar": neighbours(name, similar, subterms),
                "genes": sum(sum(t in subterms for t in toy.GENE_TERMS[g])
                             / len(toy.GENE_TERMS[g]) for g in genes_of[name])
                / max(len(genes_of[name]), 1),
            }
            mass = own * share(name, subterms) + (1 - own) * sum(
                weights[n] * v for n, v in parts.items())
            total += math.log((1 - noise) * mass + noise * len(subterms) / len(phenotypes))
        out[name] = total / len(terms)
    return out


@pytest.mark.parametrize(("decoder", "reciprocal", "pseudo", "prior"), [
    ("complex", True, 25.0, None), ("rotate", False, 0.0, None),
    ("distmult", True, 3.0, {"model": 1.0, "genes": 2.0}), ("complex", False, 1e9, {"model": 1})])
@pytest.mark.parametrize("terms", [["HP:0000202"], ["HP:0000302", "HP:0000400", toy.ROOT],
                                   [toy.SYSTEMS[1], "HP:0000503"]])
def test_vectorised_diagnosis_equals_the_slow_obvious_one(toy_graph, decoder, reciprocal,
                                                          pseudo, prior, terms):
    task = make_task(toy_graph, decoder, reciprocal)
    diagnoser = jobs.Diagnoser(task, toy_graph, noise=0.2, pseudo_count=pseudo, prior=prior,
                               chunk=5)  # chunks of 5 terms
    expected = slow_diagnosis(task, toy_graph, terms, 0.2, pseudo, prior)
    got = diagnoser.rank(terms, k=len(toy.DISEASES))
    assert [c.rank for c in got] == list(range(1, 9))
    for c in got:
        assert c.score == pytest.approx(expected[c.disease], abs=1e-5)
        for s in c.support:  # the parts add up to the probability scored
            assert sum(s.sources.values()) == pytest.approx(s.probability, abs=1e-6)
    assert sum(c.posterior for c in got) == pytest.approx(1.0)
    assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)


def test_similar_diseases_are_the_nearest_by_cosine_in_every_block():
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    dense = rng.random((11, 30)) * (rng.random((11, 30)) < 0.4)
    dense[:, 0] = rng.random(11) + 0.1  # a term every disease holds: the dense part
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    evidence = object.__new__(jobs.PhenotypeEvidence)
    evidence.profiles = sp.csr_matrix(dense.astype(np.float32))
    got = evidence._nearest(3, 2.0, block=4, common=0.5).toarray()
    cos = dense @ dense.T
    np.fill_diagonal(cos, -1)
    for i in range(11):
        top = np.argsort(-cos[i])[:3]
        assert sorted(np.flatnonzero(got[i])) == sorted(top)
        assert got[i, top] == pytest.approx(cos[i, top] ** 2, abs=1e-5)


def test_graph_evidence_predicts_what_a_disease_lacks(toy_graph):
    """D1 and D5 share gene 1: D5's annotations reach D1 through ``relatives`` and the
    gene's phenotypes, never through D1's own (empty) share."""
    diagnoser = jobs.Diagnoser(make_task(toy_graph), toy_graph)
    d1 = diagnoser.disease_ids.index("OMIM:100001")
    parts = diagnoser.parts(["HP:0000203"], every=True)  # D5's, not D1's
    assert parts["annotations"][d1, 0] == 0
    assert parts["relatives"][d1, 0] == pytest.approx(1 / 4)  # D1's one relative: D5
    assert parts["genes"][d1, 0] == pytest.approx(1 / 8)  # gene 1: D1's 4 terms + D5's 4
    assert 0 < parts["similar"][d1, 0] < 1


def test_support_names_annotations_and_the_subterms_that_imply_a_term(toy_graph):
    diagnoser = jobs.Diagnoser(make_task(toy_graph), toy_graph)
    terms = ["HP:0000203", toy.SYSTEMS[2], "HP:0000302"]  # D5: 0.2 and 2.2/2.3 below system 2
    by_disease = {c.disease: c for c in diagnoser.rank(terms, k=8)}
    d5 = {s.phenotype: s.observed for s in by_disease["OMIM:100005"].support}
    assert d5 == {"HP:0000203": "annotated", toy.SYSTEMS[2]: "via HP:0000403, HP:0000404",
                  "HP:0000302": None}
    d1 = {s.phenotype: s.observed for s in by_disease["OMIM:100001"].support}
    assert d1 == {"HP:0000203": None, toy.SYSTEMS[2]: None, "HP:0000302": "annotated"}
    rows = jobs.candidate_rows([by_disease["OMIM:100005"]], {"OMIM:100005": "Syndrome 5"})
    assert rows[0]["name"] == "Syndrome 5" and rows[0]["supported"] == "2/3"
    # candidates restrict the ranking
    only = diagnoser.rank(terms, k=8, candidates=["OMIM:100002", "OMIM:100003", "nope"])
    assert sorted(c.disease for c in only) == ["OMIM:100002", "OMIM:100003"]


def test_diagnosis_refuses_bad_terms(toy_graph):
    diagnoser = jobs.Diagnoser(make_task(toy_graph), toy_graph)
    with pytest.raises(RunError, match="at least one phenotype"):
        diagnoser.rank([" ", ""])
    with pytest.raises(RunError, match=r"unknown phenotype id\(s\) HP:9999999, HP:x"):
        diagnoser.rank(["HP:0000201", "HP:9999999", "HP:x"])
    with pytest.raises(RunError, match="OMIM:100001 name.* not Phenotype terms"):
        diagnoser.rank(["OMIM:100001"])
    with pytest.raises(RunError, match="noise must be in"):
        jobs.Diagnoser(make_task(toy_graph), toy_graph, noise=1.0)
    with pytest.raises(RunError, match="pseudo_count must be >= 0"):
        jobs.Diagnoser(make_task(toy_graph), toy_graph, pseudo_count=-1.0)
    with pytest.raises(RunError, match="unknown prior part.* cousins; the parts are model"):
        jobs.Diagnoser(make_task(toy_graph), toy_graph, prior={"cousins": 1.0})
    with pytest.raises(RunError, match="not all 0"):
        jobs.Diagnoser(make_task(toy_graph), toy_graph, prior={"model": 0.0})


def test_prior_weights_parse_from_the_command_line_form():
    assert jobs.parse_prior("model=1, genes=0.5") == {"model": 1.0, "genes": 0.5}
    for bad in ("model", "model=x", "model=1,,genes=2", "model=nan"):
        with pytest.raises(RunError, match="name=number pairs"):
            jobs.parse_prior(bad)


def test_diagnosis_needs_a_phenotype_graph():
    from tests.kg.linkpred.toy import toy_graph as other_graph  # no phenotypes at all

    graph = other_graph()
    with pytest.raises(RunError, match="no node label Phenotype"):
        jobs.Diagnoser(make_task(graph), graph)


def test_predicted_links_skip_known_triples_and_rank_from_one(toy_graph):
    task = make_task(toy_graph)
    with torch.no_grad():
        groups = jobs.predict_links(task, toy_graph, task.embed(), "ASSOCIATED_WITH", 3)
    assert list(groups) == [("Gene", "Disease")]
    rows = groups["Gene", "Disease"]
    known = {(a, b) for a, bs in toy.GENE_DISEASES.items() for b in bs}
    assert not {(a, b) for a, b in zip(rows["start"], rows["end"], strict=True)} & known
    assert rows.groupby("start")["rank"].apply(list).tolist() == [[1, 2, 3]] * 8
    assert ((rows["score"] > 0) & (rows["score"] < 1)).all()


# ---- a killed run, resumed (real Neo4j) -----------------------------------------------

class Killed(Exception):
    pass


class Kill(Callback):
    """Dies at the start of epoch ``at`` as a killed process would: after the checkpoint
    of the epoch before, before anything else. (Not KeyboardInterrupt: Lightning turns
    that into sys.exit and ignores SIGINT from then on, in the test process too.)"""

    def __init__(self, at: int):
        self.at = at

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.at:
            raise Killed


@pytest.mark.neo4j
def test_a_killed_run_resumes_from_its_last_checkpoint(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGEN_STATE_DIR", str(tmp_path / "state"))
    store.write(toy.tables())
    config = jobs.load_config(None, epochs=6)
    config = jobs.JobConfig.from_dict({**config.to_dict(), "model": FAST_MODEL,
                                       "train": {"max_epochs": 6, "accelerator": "cpu"}})
    run = tmp_path / "run"
    with pytest.raises(Killed):
        jobs.train_job(store, config, run, run_id="r1", callbacks=[Kill(at=3)])
    job = jobs.read_job(run)
    assert job["status"] == "training" and not (run / jobs.MODEL_FILE).exists()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 2
    with pytest.raises(RunError, match="has not finished training"):
        jobs.Diagnoser.load(run)

    outcome = jobs.train_job(store, config, run, run_id="r1", resume=True)
    assert outcome.resumed_from == run / "checkpoints" / "last.ckpt"
    assert outcome.epochs == 6
    assert jobs.read_job(run)["status"] == "done" and (run / jobs.MODEL_FILE).exists()
    assert jobs.latest_run() == run.resolve()
    assert outcome.predictions["PREDICTED_ASSOCIATED_WITH"] > 0
    assert outcome.embeddings == len(toy.TERM_NAMES) + len(toy.DISEASES) + len(toy.GENES)
    with pytest.raises(RunError, match="already holds run 'r1'"):
        jobs.train_job(store, config, run, run_id="r1")
