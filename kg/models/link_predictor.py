"""Encoder + decoder = a link predictor (an auto-encoder of the graph's edges).

The model knows nothing about training or files: it turns the message-passing
graph into node and relation vectors (:meth:`LinkPredictor.embed`) and scores
triples or whole rows of candidates from them. Relation ids in a *query*
run over ``[0, 2R)``: ``r < R`` asks for tails of ``(h, r, ?)`` and ``r + R``
asks for heads of ``(?, r, t)`` with ``t`` as the anchor, so evaluation and
the 1-N loss treat both directions alike.

A *query-conditioned* encoder (``conditional = True``: the path model of
``kg.models.pathgnn``) has no vector per node: a node's representation depends on
the query. For it, :meth:`LinkPredictor.embed` returns the propagation graph in
``Embeddings.graph`` (and an empty ``(N, 0)`` node table), and the scoring methods
run the encoder on the queries; it scores with its own MLP, so no decoder is built,
and head queries always go through the inverse relations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kg.models.decoders import DECODERS
from kg.models.encoders import ENCODERS, Encoded, Subgraph
from kg.models.registry import Registry

QUERY_CHUNK = 64  # queries a path model propagates at once


class Embeddings(NamedTuple):
    nodes: Tensor  # (N, dim)
    relations: Tensor  # (2R, dim) forward then inverse, or (R, dim) without reciprocal ones
    kl: Tensor | None = None  # scalar KL term of a variational model
    graph: Any = None  # a query-conditioned encoder's PathGraph; None for the others


class Proposals(NamedTuple):
    heads: Tensor  # (M,)
    tails: Tensor  # (M,)
    scores: Tensor  # (M,) raw decoder scores
    probabilities: Tensor  # (M,) calibrated sigmoid of the scores


@dataclass
class LinkPredictorConfig:
    num_nodes: int
    num_relations: int  # without inverses
    dim: int = 128
    encoder: str = "none"
    encoder_options: dict[str, Any] = field(default_factory=dict)
    decoder: str = "distmult"
    decoder_options: dict[str, Any] = field(default_factory=dict)
    # Learn a separate vector for each inverse relation and answer head queries
    # (?, r, t) as tail queries (t, r^-1, ?). Otherwise heads are scored
    # exactly with the forward relation.
    reciprocal: bool = True


class LinkPredictor(nn.Module):
    def __init__(self, config: LinkPredictorConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = ENCODERS.build(c.encoder, c.encoder_options, num_nodes=c.num_nodes,
                                      num_relations=c.num_relations, dim=c.dim)
        self.conditional = bool(getattr(self.encoder, "conditional", False))
        # a path model scores with its own MLP: a decoder would be an unused parameter set
        self.decoder = (None if self.conditional else
                        DECODERS.build(c.decoder, c.decoder_options, dim=c.dim))
        # an encoder that learns relation vectors (CompGCN) makes this table unnecessary
        self.relation: nn.Parameter | None = None
        if not self.encoder.learns_relations:
            rows = 2 * c.num_relations if c.reciprocal else c.num_relations
            self.relation = nn.Parameter(torch.empty(rows, c.dim))
        # Platt scaling of scores into probabilities: p = sigmoid(a * score + b)
        self.register_buffer("calibration", torch.tensor([1.0, 0.0]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        if self.decoder is not None:
            self.decoder.reset_parameters()
        if self.relation is not None:
            nn.init.xavier_uniform_(self.relation)
        self.calibration.copy_(torch.tensor([1.0, 0.0]))

    @property
    def num_relations(self) -> int:
        return self.config.num_relations

    def embed(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int | None = None
              ) -> Embeddings:
        """Node and relation vectors from the message-passing graph (2, E), (E,).

        ``num_nodes``: the graph's size when it is not the trained one's (a path model
        scores a graph with nodes added after training; the others cannot)."""
        n = self.config.num_nodes if num_nodes is None else num_nodes
        if self.conditional:
            return Embeddings(self.encoder.relations.new_zeros(n, 0), self.encoder.relations,
                              graph=self.encoder.graph(edge_index, edge_type, n))
        if n != self.config.num_nodes:
            raise ValueError(f"this model embeds its {self.config.num_nodes} trained nodes "
                             f"only, not a graph of {n}")
        return self._embeddings(self.encoder(edge_index, edge_type))

    def hide(self, emb: Embeddings, triples: Tensor) -> Embeddings:
        """``emb`` without ``triples`` (B, 3) in the propagation graph of a path model, so a
        training batch cannot read its answers off one-hop paths; other models' embeddings
        are returned as they are."""
        return emb if emb.graph is None else emb._replace(graph=emb.graph.hide(triples))

    def embed_subgraph(self, sub: Subgraph) -> Embeddings:
        """Vectors of a sampled subgraph's seed nodes, by local id ``[0, num_seeds)``, and
        of all relations (neighbour-sampled training)."""
        if self.conditional:
            raise ValueError("a path model prunes its own propagation: train it full-graph "
                             "(num_neighbors=None)")
        return self._embeddings(self.encoder.forward_subgraph(sub))

    def _embeddings(self, encoded: Encoded) -> Embeddings:
        relations = encoded.relations if encoded.relations is not None else self.relation
        return Embeddings(encoded.nodes, relations)

    def score(self, emb: Embeddings, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of triples (B,), (B,), (B,) -> (B,); r in [0, 2R) with reciprocal relations.

        A path model runs one query per distinct (h, r) and reads the t's off its rows."""
        if self.conditional:
            keys, inverse = torch.unique(torch.stack([h, r]), dim=1, return_inverse=True)
            parts = []
            for start in range(0, keys.size(1), QUERY_CHUNK):
                rows = self.score_queries(emb, keys[0, start:start + QUERY_CHUNK],
                                          keys[1, start:start + QUERY_CHUNK])  # (C, N)
                hit = ((inverse >= start) & (inverse < start + QUERY_CHUNK)).nonzero()[:, 0]
                parts.append((hit, rows[inverse[hit] - start, t[hit]]))
            order = torch.cat([p[0] for p in parts])
            return torch.cat([p[1] for p in parts])[torch.argsort(order)]
        return self.decoder.score(emb.nodes[h], emb.relations[r], emb.nodes[t])

    def score_queries(self, emb: Embeddings, anchor: Tensor, rel: Tensor) -> Tensor:
        """Scores of every node as the answer to each query: (B,), (B,) in [0, 2R) -> (B, N)."""
        num_rel = self.config.num_relations
        if self.conditional:
            # a path model's memory grows with queries x reached nodes: a few at a time
            return torch.cat([self.encoder(emb.graph, a, q) for a, q in
                              zip(anchor.split(QUERY_CHUNK), rel.split(QUERY_CHUNK),
                                  strict=True)]) if len(anchor) else emb.nodes.new_empty(
                0, emb.nodes.size(0))
        if self.config.reciprocal:
            return self.decoder.score_tails(emb.nodes[anchor], emb.relations[rel], emb.nodes)
        out = emb.nodes.new_empty(anchor.size(0), emb.nodes.size(0))
        tail = rel < num_rel
        if tail.any():
            out[tail] = self.decoder.score_tails(emb.nodes[anchor[tail]],
                                                 emb.relations[rel[tail]], emb.nodes)
        if (~tail).any():
            out[~tail] = self.decoder.score_heads(emb.nodes, emb.relations[rel[~tail] - num_rel],
                                                  emb.nodes[anchor[~tail]])
        return out

    def probability(self, scores: Tensor) -> Tensor:
        a, b = self.calibration
        return torch.sigmoid(a * scores + b)

    @torch.no_grad()
    def calibrate(self, positive: Tensor, negative: Tensor, steps: int = 100) -> Tensor:
        """Fit the Platt scaling on held-out scores of true and false triples.

        A model trained with a ranking or 1-N loss orders triples well but its
        raw sigmoid is not a probability; two parameters fitted by maximum
        likelihood on validation scores make it one. Returns ``(a, b)``.
        """
        scores = torch.cat([positive, negative]).detach().float()
        labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)]).float()
        ab = torch.tensor([1.0, 0.0], device=scores.device, requires_grad=True)
        opt = torch.optim.LBFGS([ab], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(ab[0] * scores + ab[1], labels)
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        self.calibration.copy_(ab.detach())
        return self.calibration.clone()

    @torch.no_grad()
    def propose(self, emb: Embeddings, relation: int, heads: Tensor, k: int = 10, *,
                allowed_tails: Tensor | None = None, known: Tensor | None = None) -> Proposals:
        """The ``k`` most probable new tails of ``relation`` for each of ``heads`` (B,).

        ``allowed_tails`` (N,) bool keeps candidates of the relation's range
        only; ``known`` (E, 3) triples are never proposed (nor is a head itself).
        """
        if not 0 <= relation < self.config.num_relations:
            raise ValueError(f"relation {relation} is not in [0, {self.config.num_relations})")
        n = emb.nodes.size(0)
        rel = torch.full_like(heads, relation)
        scores = self.score_queries(emb, heads, rel)  # (B, N)
        blocked = torch.zeros_like(scores, dtype=torch.bool)
        blocked[torch.arange(len(heads)), heads] = True
        if allowed_tails is not None:
            blocked |= ~allowed_tails.to(scores.device).bool().unsqueeze(0)
        if known is not None:
            known = known[known[:, 1] == relation]
            row_of = torch.full((n,), -1, dtype=torch.long, device=scores.device)
            row_of[heads] = torch.arange(len(heads), device=scores.device)
            rows = row_of[known[:, 0]]
            hit = rows >= 0
            blocked[rows[hit], known[hit, 2]] = True
        scores = scores.masked_fill(blocked, float("-inf"))
        k = min(k, n)
        top, tails = scores.topk(k, dim=1)  # (B, k)
        keep = torch.isfinite(top)  # fewer than k allowed candidates leave -inf slots
        heads_out = heads.unsqueeze(1).expand_as(tails)[keep]
        return Proposals(heads_out, tails[keep], top[keep], self.probability(top[keep]))

    def extra_repr(self) -> str:
        c = self.config
        return (f"encoder={c.encoder!r}, decoder={c.decoder!r}, dim={c.dim}, "
                f"reciprocal={c.reciprocal}")


MODELS: Registry[LinkPredictor] = Registry("model")
MODELS.register("kge", LinkPredictorConfig)(LinkPredictor)
