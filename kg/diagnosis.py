"""Phenotype-driven diagnosis: rank every Disease for a patient's phenotype terms with a
trained link predictor and the graph it was trained on (:class:`Diagnoser`).

Reading a run folder (its job file, model and split) is the application's business
(``medgen.kg_jobs.load_diagnoser``); this module takes the model and the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from kg.errors import DiagnosisError
from kg.linkpred import LinkPredictionTask, TripleGraph

DISEASE, PHENOTYPE, GENE = "Disease", "Phenotype", "Gene"
HAS_PHENOTYPE, IS_A, ASSOCIATED_WITH = "HAS_PHENOTYPE", "IS_A", "ASSOCIATED_WITH"
# The prior: what predicts the phenotypes a disease shows beyond its own annotations, as
# relative weights (normalised to sum 1; see Diagnoser). These defaults, PSEUDO_COUNT and
# the neighbourhood below were chosen on patients of our own (``benchmarks/diagnosis.py
# --validate``: Protocol A's recipe on the run's graph, Protocol B's on a second hold-out
# inside the Protocol B training graph), never on the benchmark's patients. A larger
# pseudo-count trades top-1 on complete annotations for recall on incomplete ones.
PRIOR_WEIGHTS = {"model": 0.15, "relatives": 0.4, "genes": 0.2, "similar": 0.15}
PSEUDO_COUNT = 25.0  # annotations' worth of trust in the prior (Dirichlet pseudo-count)
SIMILAR_DISEASES = 50  # neighbours per disease of the "similar" part
SIMILARITY_POWER = 3.0  # neighbour weight: cosine ** power, so the closest dominate
RELATIVE_FLOOR = 1e-3  # a disease sharing a gene counts even with no phenotype in common


@dataclass
class Support:
    phenotype: str
    probability: float  # P(the disease shows this term or a subterm of it), as scored
    observed: str | None  # "annotated", or the annotated subterm(s) that imply it; None
    sources: dict[str, float] = field(default_factory=dict)  # that probability's parts


@dataclass
class Candidate:
    rank: int
    disease: str
    score: float  # mean log-likelihood per given term (nats); higher is better
    posterior: float  # P(disease | terms) over all candidates, uniform prior
    support: list[Support]

    def supported(self) -> list[Support]:
        return [s for s in self.support if s.observed]


def parse_prior(text: str) -> dict[str, float]:
    """``"model=0.2,relatives=0.8"`` -> weights for :class:`Diagnoser`'s ``prior``."""
    out: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value) if sep else float("nan")
        except ValueError:
            out[name.strip()] = float("nan")
        if not sep or not math.isfinite(out[name.strip()]):
            raise DiagnosisError(f"prior weights are name=number pairs joined by commas, e.g. "
                           f"'model=0.5,relatives=0.5'; got {item!r}")
    return out


def _prior_weights(prior: dict[str, float] | None) -> dict[str, float]:
    prior = dict(PRIOR_WEIGHTS if prior is None else prior)
    unknown = sorted(set(prior) - set(PRIOR_WEIGHTS))
    if unknown:
        raise DiagnosisError(f"unknown prior part(s) {', '.join(unknown)}; the parts are "
                       f"{', '.join(PRIOR_WEIGHTS)}")
    if any(not math.isfinite(w) or w < 0 for w in prior.values()) or sum(prior.values()) <= 0:
        raise DiagnosisError(f"prior weights must be >= 0 and not all 0, got {prior}")
    total = sum(prior.values())
    return {name: prior.get(name, 0.0) / total for name in PRIOR_WEIGHTS}


class Diagnoser:
    """Ranks every Disease for a set of phenotype terms with a trained link predictor and
    the graph it was trained on.

    Each disease ``d`` gets a distribution over phenotype terms, ``p(t | d)``: what a
    patient with ``d`` shows. Its own annotations give the empirical one (uniform over its
    ``n_d`` annotated terms), but annotations are incomplete, so they are smoothed towards
    a prior as in a Dirichlet posterior mean with pseudo-count ``pseudo_count`` (``a``):

        p(t | d) = w_d ann_d(t) + (1 - w_d) prior_d(t),   w_d = n_d / (n_d + a)

    (well-annotated diseases keep their annotations, sparse ones lean on the prior; no
    annotations: the prior alone). The prior mixes, with weights ``prior`` (normalised to
    sum 1), distributions that are all computed from the graph the model trained on:

    - ``model``: the trained model scores ``(d, HAS_PHENOTYPE, t)`` for every term; a
      softmax over all Phenotype nodes turns its row into a distribution;
    - ``relatives``: the annotations of the diseases that share a gene with ``d``
      (allelic disorders, and the same disorder catalogued twice, e.g. OMIM and
      Orphanet), each weighted by ``cos(d, d')^3`` (+ a small floor);
    - ``similar``: the annotations of the 50 diseases whose annotations are most alike
      (collaborative filtering, weights ``cos^3``), genes or not;
    - ``genes``: the phenotypes of ``d``'s genes (Gene-HAS_PHENOTYPE->Phenotype),
      averaged over its genes (uniform within a gene).

    ``cos`` compares annotation profiles propagated up the ontology (a term implies its
    ancestors) with each term weighted by its information content ``log(D / #diseases
    showing it)``, so shared rare findings count and shared generic ones barely do. A
    part a disease lacks (no genes, no relatives) contributes no mass.

    A patient's term ``q`` counts as explained by a disease when the disease shows ``q``
    *or any subterm of it* (true-path rule), so its probability is the mass of ``q``'s
    descendants, ``P_d(q) = sum_{t <= q} p(t | d)``. Patients' term lists hold noise
    (unrelated findings, imprecise terms), so each term is a mixture of the disease and a
    uniform background with weight ``noise``:

        score(d) = mean_q log((1 - noise) P_d(q) + noise |desc(q)| / |terms|)

    One unexplained term then costs at most ``log(noise)`` instead of ruling a disease
    out; a term that explains every disease (the root) changes no ranking. Every part is
    linear in ``p``, so a patient costs one (diseases x descendants) product per part
    (sparse neighbour and gene matrices applied to the annotations' share below each
    term): all diseases at once, no loop over them. The model's ``logsumexp`` normaliser
    per disease, the neighbourhoods and the gene matrices are computed once at load.
    """

    def __init__(self, task: LinkPredictionTask, graph: TripleGraph, *, noise: float = 0.1,
                 pseudo_count: float = PSEUDO_COUNT, prior: dict[str, float] | None = None,
                 device: torch.device | str = "cpu", chunk: int = 4096,
                 similar_diseases: int = SIMILAR_DISEASES):
        if not 0.0 < noise < 1.0:
            raise DiagnosisError(f"noise must be in (0, 1), got {noise}")
        if not pseudo_count >= 0.0:
            raise DiagnosisError(f"pseudo_count must be >= 0, got {pseudo_count}")
        self.noise, self.pseudo_count, self.chunk = noise, pseudo_count, chunk
        self.prior = _prior_weights(prior)
        self.node_ids = graph.node_ids
        for name, items, what in ((DISEASE, graph.node_types, "node label"),
                                  (PHENOTYPE, graph.node_types, "node label"),
                                  (HAS_PHENOTYPE, graph.relations, "relation")):
            if name not in items:
                raise DiagnosisError(f"diagnose needs a model trained on a graph with {DISEASE}-"
                               f"[:{HAS_PHENOTYPE}]->{PHENOTYPE}; this run's graph has no "
                               f"{what} {name}")
        self.relation = graph.relations.index(HAS_PHENOTYPE)
        types = graph.node_type
        self.disease_nodes = (types == graph.node_types.index(DISEASE)).nonzero().squeeze(1)
        self.term_nodes = (types == graph.node_types.index(PHENOTYPE)).nonzero().squeeze(1)
        self.term_column = {graph.node_ids[i]: c for c, i in enumerate(self.term_nodes.tolist())}
        self.disease_ids = [graph.node_ids[i] for i in self.disease_nodes.tolist()]
        self.all_ids = set(graph.node_ids)

        task = task.to(device).eval()
        self.model = task.model
        self.device = torch.device(device)
        with torch.no_grad():
            emb = task.embed()
            self.disease_vec = emb.nodes[self.disease_nodes.to(device)]  # (D, d)
            self.term_vec = emb.nodes[self.term_nodes.to(device)]  # (P, d)
            self.rel_vec = emb.relations[self.relation]  # (d,)
            self.log_norm = torch.cat([  # (D,) logsumexp over all terms, per disease
                torch.logsumexp(self._scores(rows, self.term_vec), dim=1)
                for rows in self.disease_vec.split(max(1, chunk // 8))])

        self.evidence = PhenotypeEvidence(graph, self.disease_nodes, self.term_nodes,
                                          similar_diseases=similar_diseases)
        self.annotations = self.evidence.annotations  # (D, P) 0/1
        self.descendants = self.evidence.descendants  # (P, P) row q: q and its subterms
        self.annotation_count = torch.from_numpy(self.evidence.count)  # (D,)

    def _scores(self, diseases: Tensor, terms: Tensor) -> Tensor:
        # (B, d) diseases x (C, d) terms -> (B, C): score of (disease, HAS_PHENOTYPE, term)
        return self.model.decoder.score_tails(diseases, self.rel_vec.expand_as(diseases), terms)

    def check_terms(self, phenotypes: list[str]) -> list[str]:
        terms = list(dict.fromkeys(p.strip() for p in phenotypes if p.strip()))
        if not terms:
            raise DiagnosisError("give at least one phenotype id, e.g. "
                           "`medgen kg diagnose HP:0001166 HP:0001519`")
        unknown = [t for t in terms if t not in self.all_ids]
        if unknown:
            raise DiagnosisError(f"unknown phenotype id(s) {', '.join(unknown)}: not in the graph "
                           "the model was trained on")
        other = [t for t in terms if t not in self.term_column]
        if other:
            raise DiagnosisError(f"{', '.join(other)} name(s) nodes that are not {PHENOTYPE} terms")
        return terms

    @torch.no_grad()
    def probabilities(self, terms: list[str]) -> Tensor:
        """(D, Q): the model's probability that each disease shows each term or one of
        its subterms."""
        cols = [self.term_column[t] for t in terms]
        desc = self.descendants[cols]  # (Q, P) sparse
        union = np.unique(desc.indices)  # every term below any given one
        member = torch.from_numpy(desc[:, union].T.toarray().astype(np.float32))  # (U, Q)
        member = member.to(self.disease_vec.device)
        out = torch.zeros(len(self.disease_ids), len(terms), device=self.disease_vec.device)
        for start in range(0, len(union), self.chunk):
            idx = torch.from_numpy(union[start:start + self.chunk]).to(self.term_vec.device)
            logp = self._scores(self.disease_vec, self.term_vec[idx]) - self.log_norm[:, None]
            out += logp.exp() @ member[start:start + self.chunk]  # (D, U') @ (U', Q)
        return out.clamp_(max=1.0)

    @torch.no_grad()
    def parts(self, terms: list[str], every: bool = False) -> dict[str, Tensor]:
        """(D, Q) per source: ``annotations`` (each disease's share of annotations at or
        below each term) and the prior's parts with a non-zero weight (``every``: all)."""
        cols = [self.term_column[t] for t in terms]
        names = [n for n, w in self.prior.items() if (w > 0 or every) and n != "model"]
        out = {name: torch.from_numpy(value).to(self.device)
               for name, value in self.evidence.parts(cols, names).items()}
        if self.prior["model"] > 0 or every:
            out["model"] = self.probabilities(terms)
        return out

    def _loglik(self, terms: list[str]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        return self.mix(self.parts(terms), [self.term_column[t] for t in terms])

    def mix(self, parts: dict[str, Tensor], cols: list[int]
            ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """From :meth:`parts` of the terms in columns ``cols``: ``P_d(q)`` (D, Q), the
        per-term log-likelihoods (D, Q) and each part as weighted in ``P_d(q)``, with
        this diagnoser's ``pseudo_count``, ``prior`` and ``noise``."""
        count = self.annotation_count.to(self.device)[:, None]
        own = torch.zeros_like(count)
        if math.isfinite(self.pseudo_count):
            own = torch.where(count > 0, count / (count + self.pseudo_count), own)
        weighted = {"annotations": own * parts["annotations"]}
        for name, value in parts.items():
            if name != "annotations" and self.prior[name] > 0:
                weighted[name] = (1 - own) * self.prior[name] * value
        mixed = torch.stack(list(weighted.values())).sum(0).clamp(max=1.0)
        background = torch.tensor(np.diff(self.descendants.indptr)[cols] / len(self.term_column),
                                  dtype=mixed.dtype, device=mixed.device)  # (Q,)
        return mixed, torch.log((1 - self.noise) * mixed + self.noise * background), weighted

    def scores(self, phenotypes: list[str]) -> Tensor:
        """(D,) the score of every disease, in :attr:`disease_ids` order (for benchmarks
        that rank a candidate set of their own)."""
        return self._loglik(self.check_terms(phenotypes))[1].mean(1)

    def rank(self, phenotypes: list[str], k: int = 10,
             candidates: list[str] | None = None) -> list[Candidate]:
        """The ``k`` diseases (of ``candidates``, default all) most likely to show
        ``phenotypes``, each with the terms it explains."""
        if k < 1:
            raise DiagnosisError(f"k must be at least 1, got {k}")
        terms = self.check_terms(phenotypes)
        cols = [self.term_column[t] for t in terms]
        prob, loglik, weighted = self._loglik(terms)  # (D, Q) each
        score = loglik.mean(1)  # (D,)
        if candidates is not None:
            allowed = torch.zeros_like(score, dtype=torch.bool)
            index = {d: i for i, d in enumerate(self.disease_ids)}
            allowed[[index[c] for c in candidates if c in index]] = True
            score = score.masked_fill(~allowed, float("-inf"))
        posterior = torch.softmax(loglik.sum(1).masked_fill(~torch.isfinite(score),
                                                            float("-inf")), dim=0)
        top = torch.topk(score, min(k, int(torch.isfinite(score).sum()))).indices.tolist()
        observed = (self.annotations[top] @ self.descendants[cols].T).toarray()  # (k, Q)
        out = []
        for rank, d in enumerate(top, start=1):
            support = []
            for j, (term, col) in enumerate(zip(terms, cols, strict=True)):
                note = None
                if observed[rank - 1, j]:
                    note = "annotated" if self.annotations[d, col] else self._via(d, col)
                support.append(Support(term, float(prob[d, j]), note,
                                       {n: float(v[d, j]) for n, v in weighted.items()}))
            out.append(Candidate(rank, self.disease_ids[d], float(score[d]),
                                 float(posterior[d]), support))
        return out

    def _via(self, disease: int, col: int, limit: int = 3) -> str:
        below = set(self.descendants[col].indices.tolist())
        mine = [c for c in self.annotations[disease].indices.tolist() if c in below]
        names = sorted(self.node_ids[self.term_nodes[c]] for c in mine)
        more = f" +{len(names) - limit}" if len(names) > limit else ""
        return "via " + ", ".join(names[:limit]) + more


class PhenotypeEvidence:
    """What the graph itself says about each disease's phenotypes (see :class:`Diagnoser`),
    as sparse matrices over the diseases ``D`` and phenotype terms ``P`` of ``graph`` in
    the order of ``disease_nodes`` and ``term_nodes``:

    ``annotations`` (D, P) 0/1 and ``share`` (rows sum to 1 or are empty);
    ``descendants`` (P, P): row ``q`` marks ``q`` and its subterms; ``profiles`` (D, P):
    annotations propagated to ancestors, IC-weighted, unit rows; ``relatives`` and
    ``similar`` (D, D): row-stochastic neighbour weights; ``disease_genes`` (D, G) and
    ``gene_terms`` (G, P), both row-stochastic."""

    def __init__(self, graph: TripleGraph, disease_nodes: Tensor, term_nodes: Tensor, *,
                 similar_diseases: int = SIMILAR_DISEASES, power: float = SIMILARITY_POWER):
        triples = graph.all_triples()
        n_d, n_p = len(disease_nodes), len(term_nodes)
        to_disease = _positions(graph.num_nodes, disease_nodes)
        to_term = _positions(graph.num_nodes, term_nodes)
        has = triples[:, 1] == graph.relations.index(HAS_PHENOTYPE)
        ann = triples[has & (to_disease[triples[:, 0]] >= 0) & (to_term[triples[:, 2]] >= 0)]
        self.annotations = _bool_matrix(to_disease[ann[:, 0]], to_term[ann[:, 2]], (n_d, n_p))
        parents = torch.empty(0, 3, dtype=torch.long)
        if IS_A in graph.relations:
            r = graph.relations.index(IS_A)
            parents = triples[(triples[:, 1] == r) & (to_term[triples[:, 0]] >= 0)
                              & (to_term[triples[:, 2]] >= 0)]
        parent = _bool_matrix(to_term[parents[:, 0]], to_term[parents[:, 2]], (n_p, n_p))
        ancestors = ancestor_closure(parent)  # row t: t and its ancestors
        self.descendants = ancestors.T.tocsr()
        self.count = np.asarray(self.annotations.sum(1)).ravel().astype(np.float32)
        self.share = _row_stochastic(self.annotations)

        implied = self.annotations @ ancestors
        implied.data[:] = 1
        ic = np.log(n_d / np.maximum(np.asarray(implied.sum(0)).ravel(), 1))
        profiles = (implied @ sp.diags(ic.astype(np.float32))).tocsr().astype(np.float32)
        norm = np.sqrt(np.asarray(profiles.multiply(profiles).sum(1)).ravel())
        self.profiles = (sp.diags(1 / np.where(norm > 0, norm, 1)) @ profiles).tocsr()

        genes = torch.empty(0, dtype=torch.long)
        links = torch.empty(0, 3, dtype=torch.long)
        if GENE in graph.node_types:
            genes = (graph.node_type == graph.node_types.index(GENE)).nonzero().squeeze(1)
        to_gene = _positions(graph.num_nodes, genes)
        gene_terms = triples[has & (to_gene[triples[:, 0]] >= 0) & (to_term[triples[:, 2]] >= 0)]
        if ASSOCIATED_WITH in graph.relations:
            links = triples[triples[:, 1] == graph.relations.index(ASSOCIATED_WITH)]
        h, t = links[:, 0], links[:, 2]  # either direction: Gene->Disease or Disease->Gene
        gene = torch.where(to_gene[h] >= 0, to_gene[h], to_gene[t])
        disease = torch.where(to_disease[h] >= 0, to_disease[h], to_disease[t])
        keep = (gene >= 0) & (disease >= 0)
        disease_genes = _bool_matrix(disease[keep], gene[keep], (n_d, len(genes)))
        self.disease_genes = _row_stochastic(disease_genes)
        self.gene_terms = _row_stochastic(_bool_matrix(
            to_gene[gene_terms[:, 0]], to_term[gene_terms[:, 2]], (len(genes), n_p)))

        shared = (disease_genes @ disease_genes.T).tocoo()
        pairs = shared.row != shared.col
        rows, cols = shared.row[pairs], shared.col[pairs]
        cosine = np.asarray(self.profiles[rows].multiply(self.profiles[cols]).sum(1)).ravel()
        self.relatives = _row_stochastic(sp.csr_matrix(
            (np.maximum(cosine, 0) ** power + RELATIVE_FLOOR, (rows, cols)), shape=(n_d, n_d)))
        self.similar = _row_stochastic(self._nearest(similar_diseases, power))

    def _nearest(self, k: int, power: float, block: int = 1024,
                 common: float = 0.05) -> sp.csr_matrix:
        """(D, D) the ``k`` most similar other diseases of each, weight cosine ** power.

        Exact cosines, computed in blocks of rows: terms held by more than ``common`` of
        the diseases (a few hundred near the root) as a dense product, the rest sparse;
        terms held by one disease alone add nothing to any pair and are left out."""
        n = self.profiles.shape[0]
        k = min(k, n - 1)
        if k < 1:
            return sp.csr_matrix((n, n), dtype=np.float32)
        held = np.diff(self.profiles.tocsc().indptr)
        rare = self.profiles[:, np.flatnonzero((held > 1) & (held <= common * n))].tocsr()
        rare_t = rare.T.tocsr()
        dense = torch.from_numpy(self.profiles[:, np.flatnonzero(held > common * n)].toarray())
        rows, cols, vals = [], [], []
        for start in range(0, n, block):
            stop = min(start + block, n)
            sim = torch.from_numpy((rare[start:stop] @ rare_t).toarray())
            sim += dense[start:stop] @ dense.T
            sim[torch.arange(stop - start), torch.arange(start, stop)] = -1.0  # itself
            value, index = torch.topk(sim, k, dim=1)
            rows.append(np.repeat(np.arange(start, stop), k))
            cols.append(index.numpy().ravel())
            vals.append(value.clamp(min=0).numpy().ravel() ** power)
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, n))

    def parts(self, cols: list[int], names: list[str]) -> dict[str, np.ndarray]:
        """(D, Q) float32 per source for the terms in columns ``cols``: ``annotations``
        (the share of each disease's annotations at or below each term) and ``names``
        among ``relatives``, ``similar``, ``genes``."""
        below = self.descendants[cols].T.astype(np.float32)  # (P, Q)
        own = np.asarray((self.share @ below).todense())  # (D, Q)
        out = {"annotations": own}
        for name in names:
            if name == "relatives":
                out[name] = self.relatives @ own
            elif name == "similar":
                out[name] = self.similar @ own
            elif name == "genes":
                out[name] = self.disease_genes @ np.asarray((self.gene_terms @ below).todense())
        return {name: np.asarray(v, dtype=np.float32) for name, v in out.items()}


def _positions(num_nodes: int, nodes: Tensor) -> Tensor:
    """(N,) each node's position in ``nodes``, -1 for the others."""
    out = torch.full((num_nodes,), -1, dtype=torch.long)
    out[nodes] = torch.arange(len(nodes))
    return out


def _row_stochastic(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    total = np.asarray(m.sum(1)).ravel()
    return (sp.diags(np.where(total > 0, 1 / np.where(total > 0, total, 1), 0)
                     .astype(np.float32)) @ m).tocsr()


def _bool_matrix(rows: Tensor, cols: Tensor, shape: tuple[int, int]) -> sp.csr_matrix:
    data = np.ones(len(rows), dtype=np.int32)
    m = sp.csr_matrix((data, (rows.numpy(), cols.numpy())), shape=shape)
    m.data[:] = 1  # duplicates summed: back to 0/1
    return m


def ancestor_closure(parent: sp.csr_matrix, max_depth: int = 1000) -> sp.csr_matrix:
    """(P, P) 0/1: row c marks c and every ancestor of c, from the child -> parent matrix."""
    n = parent.shape[0]
    closure = sp.identity(n, dtype=np.int32, format="csr")
    frontier = closure
    for _ in range(max_depth):
        frontier = frontier @ parent
        frontier.data[:] = 1
        grown = closure + frontier
        grown.data[:] = 1
        if grown.nnz == closure.nnz:
            return closure
        closure = grown
    raise DiagnosisError("the IS_A hierarchy has a cycle deeper than any ontology's")


def candidate_rows(candidates: list[Candidate], names: dict[str, str | None] | None = None
                   ) -> list[dict[str, Any]]:
    """Diagnosis results as rows for a table or JSON."""
    names = names or {}
    rows = []
    for c in candidates:
        rows.append({
            "rank": c.rank, "disease": c.disease, "name": names.get(c.disease),
            "score": round(c.score, 4), "posterior": float(f"{c.posterior:.4g}"),
            "supported": f"{len(c.supported())}/{len(c.support)}",
            "support": [{"phenotype": s.phenotype, "name": names.get(s.phenotype),
                         "probability": float(f"{s.probability:.4g}"), "observed": s.observed,
                         "sources": {k: float(f"{v:.4g}") for k, v in s.sources.items()}}
                        for s in c.support],
        })
    return rows
