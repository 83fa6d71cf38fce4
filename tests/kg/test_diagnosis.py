"""The phenotype diagnoser: the ontology closure, the vectorised diagnosis against a slow
obvious one, its evidence and its refusals."""

from __future__ import annotations

import math

import pytest
import torch

from kg.diagnosis import (
    PRIOR_WEIGHTS,
    RELATIVE_FLOOR,
    Diagnoser,
    PhenotypeEvidence,
    ancestor_closure,
    candidate_rows,
    parse_prior,
)
from kg.errors import DiagnosisError
from kg.linkpred import LinkPredictionConfig, LinkPredictionTask, TripleGraph
from tests.kg import phenotype_toy as toy
from training import seed_everything


def test_ancestor_closure_follows_every_path_of_a_dag():
    import numpy as np
    import scipy.sparse as sp

    # 0 <- 1 <- 3, 0 <- 2 <- 3 (a diamond), 4 alone; rows: child, columns: parent
    parent = sp.csr_matrix((np.ones(4), ([1, 2, 3, 3], [0, 0, 1, 2])), shape=(5, 5))
    closure = ancestor_closure(parent).toarray()
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
    weights = dict(PRIOR_WEIGHTS if prior is None else prior)
    weights = {n: weights.get(n, 0.0) / sum(weights.values()) for n in PRIOR_WEIGHTS}

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
        relatives = {o: max(cosine(name, o), 0) ** 3 + RELATIVE_FLOOR for o in names
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
    diagnoser = Diagnoser(task, toy_graph, noise=0.2, pseudo_count=pseudo, prior=prior,
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
    evidence = object.__new__(PhenotypeEvidence)
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
    diagnoser = Diagnoser(make_task(toy_graph), toy_graph)
    d1 = diagnoser.disease_ids.index("OMIM:100001")
    parts = diagnoser.parts(["HP:0000203"], every=True)  # D5's, not D1's
    assert parts["annotations"][d1, 0] == 0
    assert parts["relatives"][d1, 0] == pytest.approx(1 / 4)  # D1's one relative: D5
    assert parts["genes"][d1, 0] == pytest.approx(1 / 8)  # gene 1: D1's 4 terms + D5's 4
    assert 0 < parts["similar"][d1, 0] < 1


def test_support_names_annotations_and_the_subterms_that_imply_a_term(toy_graph):
    diagnoser = Diagnoser(make_task(toy_graph), toy_graph)
    terms = ["HP:0000203", toy.SYSTEMS[2], "HP:0000302"]  # D5: 0.2 and 2.2/2.3 below system 2
    by_disease = {c.disease: c for c in diagnoser.rank(terms, k=8)}
    d5 = {s.phenotype: s.observed for s in by_disease["OMIM:100005"].support}
    assert d5 == {"HP:0000203": "annotated", toy.SYSTEMS[2]: "via HP:0000403, HP:0000404",
                  "HP:0000302": None}
    d1 = {s.phenotype: s.observed for s in by_disease["OMIM:100001"].support}
    assert d1 == {"HP:0000203": None, toy.SYSTEMS[2]: None, "HP:0000302": "annotated"}
    rows = candidate_rows([by_disease["OMIM:100005"]], {"OMIM:100005": "Syndrome 5"})
    assert rows[0]["name"] == "Syndrome 5" and rows[0]["supported"] == "2/3"
    # candidates restrict the ranking
    only = diagnoser.rank(terms, k=8, candidates=["OMIM:100002", "OMIM:100003", "nope"])
    assert sorted(c.disease for c in only) == ["OMIM:100002", "OMIM:100003"]


def test_diagnosis_refuses_bad_terms(toy_graph):
    diagnoser = Diagnoser(make_task(toy_graph), toy_graph)
    with pytest.raises(DiagnosisError, match="at least one phenotype"):
        diagnoser.rank([" ", ""])
    with pytest.raises(DiagnosisError, match=r"unknown phenotype id\(s\) HP:9999999, HP:x"):
        diagnoser.rank(["HP:0000201", "HP:9999999", "HP:x"])
    with pytest.raises(DiagnosisError, match="OMIM:100001 name.* not Phenotype terms"):
        diagnoser.rank(["OMIM:100001"])
    with pytest.raises(DiagnosisError, match="noise must be in"):
        Diagnoser(make_task(toy_graph), toy_graph, noise=1.0)
    with pytest.raises(DiagnosisError, match="pseudo_count must be >= 0"):
        Diagnoser(make_task(toy_graph), toy_graph, pseudo_count=-1.0)
    with pytest.raises(DiagnosisError, match="unknown prior part.* cousins; the parts are model"):
        Diagnoser(make_task(toy_graph), toy_graph, prior={"cousins": 1.0})
    with pytest.raises(DiagnosisError, match="not all 0"):
        Diagnoser(make_task(toy_graph), toy_graph, prior={"model": 0.0})


def test_prior_weights_parse_from_the_command_line_form():
    assert parse_prior("model=1, genes=0.5") == {"model": 1.0, "genes": 0.5}
    for bad in ("model", "model=x", "model=1,,genes=2", "model=nan"):
        with pytest.raises(DiagnosisError, match="name=number pairs"):
            parse_prior(bad)


def test_diagnosis_needs_a_phenotype_graph():
    from tests.kg.linkpred.toy import toy_graph as other_graph  # no phenotypes at all

    graph = other_graph()
    with pytest.raises(DiagnosisError, match="no node label Phenotype"):
        Diagnoser(make_task(graph), graph)


