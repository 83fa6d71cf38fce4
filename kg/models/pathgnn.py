"""A path-based link predictor in the NBFNet / A*Net family, on PyG's message passing.

NBFNet (Zhu et al., NeurIPS 2021) scores a query ``(u, q, ?)`` by running message
passing *conditioned on the query*: every node starts from zero except ``u``, which
starts from the query relation's vector (the boundary condition); a message along
``x -r-> y`` is ``h_x * w_r(q)`` with relation vectors computed from the query; after
L layers a node's vector sums over the paths of length <= L from ``u`` to it, and an
MLP reads it (with the query) into a score. The prediction then comes from the paths
between the two nodes, so it holds for nodes that did not exist at training time: the
model has no node embeddings (it is inductive over whatever graph it is given).

What makes it affordable on a CPU (full NBFNet costs ~20-35 CPU-minutes per DDB14
epoch at width 32 and 6 layers):

- **A*Net-style pruning** (Zhu et al., ICML 2023), ``node_limit``: a node propagates
  only once it has been reached from the anchor, and in each layer only the
  ``node_limit`` reached nodes of highest *learned priority* (an MLP of the node's
  state and the query) send messages; their messages are scaled by that priority, so
  the priority learns from the loss. Nodes that receive no message in a layer keep
  their state. The state is kept compactly, for reached nodes only, so a step costs
  ``O(batch x layers x node_limit x degree)`` instead of ``O(batch x layers x E)``.
  ``node_limit=None`` runs the same model densely on every node, (B, N, d), which is
  the cheaper path on small graphs (UMLS) and the reference the pruned path is tested
  against (equal when ``node_limit`` >= N).
- **Query subsampling** is the task's (``LinkPredictionConfig.train_fraction``): each
  epoch trains on a fresh random part of the training triples.

Training hides the batch's own triples (both directions) from the graph, as NBFNet
does: otherwise the one-hop path to the answer is always there and the model learns
nothing else. Aggregation is ``sum`` or ``pna`` (sum, mean and max concatenated, a
light form of NBFNet's PNA). Edge weights (default 1) multiply messages, which gives
explanations: the gradient of a score with respect to them (``kg.linkpred.explain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from kg.models.encoders import ENCODERS, EncoderConfig, _check_dropout, with_inverse

AGGREGATIONS = {"sum": ["sum"], "pna": ["sum", "mean", "max"]}


class PathGraph(NamedTuple):
    """The graph a path model propagates over, with inverse edges, sorted by source (CSR).

    Built by :meth:`PathGraph.build` from the facts ``edge_index (2, E)``,
    ``edge_type (E,)`` in ``[0, R)``; directed edge ``e < E`` is fact ``e`` and
    ``e + E`` its inverse (type ``r + R``).
    """

    num_nodes: int
    num_relations: int  # without inverses
    edge_index: Tensor  # (2, E) the facts, as given
    edge_type: Tensor  # (E,)
    rowptr: Tensor  # (N + 1,) out-edges of node v are positions rowptr[v]:rowptr[v + 1]
    dst: Tensor  # (2E',) target of each out-edge, in CSR order
    rel: Tensor  # (2E',) type in [0, 2R)
    eid: Tensor  # (2E',) directed edge id in [0, 2E): what edge weights index

    @classmethod
    def build(cls, edge_index: Tensor, edge_type: Tensor, num_nodes: int, num_relations: int,
              hide: Tensor | None = None) -> PathGraph:
        """``hide`` (B, 3): triples left out of the propagation graph, both directions
        (training hides the batch's own triples)."""
        ei, et = with_inverse(edge_index, edge_type, num_relations)
        eid = torch.arange(ei.size(1), device=ei.device)
        if hide is not None and len(hide):
            keep = ~torch.isin(_codes(ei[0], et, ei[1], num_nodes, num_relations),
                               torch.cat([_codes(hide[:, 0], hide[:, 1], hide[:, 2], num_nodes,
                                                 num_relations),
                                          _codes(hide[:, 2], hide[:, 1] + num_relations,
                                                 hide[:, 0], num_nodes, num_relations)]))
            ei, et, eid = ei[:, keep], et[keep], eid[keep]
        order = torch.argsort(ei[0], stable=True)
        count = torch.bincount(ei[0], minlength=num_nodes)
        rowptr = torch.cat([count.new_zeros(1), count.cumsum(0)])
        return cls(num_nodes, num_relations, edge_index, edge_type, rowptr, ei[1, order],
                   et[order], eid[order])

    def hide(self, triples: Tensor) -> PathGraph:
        return PathGraph.build(self.edge_index, self.edge_type, self.num_nodes,
                               self.num_relations, triples)

    @property
    def num_directed_edges(self) -> int:
        return 2 * self.edge_index.size(1)

    def out_edges(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """CSR positions of the out-edges of ``nodes`` (K,), and which of ``nodes`` each
        belongs to: (P,), (P,)."""
        start = self.rowptr[nodes]
        count = self.rowptr[nodes + 1] - start
        owner = torch.repeat_interleave(torch.arange(len(nodes), device=nodes.device), count)
        first = torch.repeat_interleave(start - (count.cumsum(0) - count), count)
        return first + torch.arange(len(owner), device=nodes.device), owner


def _codes(h: Tensor, r: Tensor, t: Tensor, num_nodes: int, num_relations: int) -> Tensor:
    return (h * (2 * num_relations) + r) * num_nodes + t


@dataclass
class NBFNetConfig(EncoderConfig):
    # dim: the width of every layer. num_nodes is not used: the model has no node
    # embeddings, so it scores any graph, new nodes included.
    num_layers: int = 4
    aggregation: str = "sum"  # "sum" | "pna" (sum, mean, max)
    # A*Net pruning: reached nodes that send messages per query and layer; None: all
    node_limit: int | None = None
    # and of their out-edges, at most this many per query and layer, those of the senders
    # of highest priority first (a hub would otherwise flood the layer); None: all
    edge_limit: int | None = None
    dropout: float = 0.0
    short_cut: bool = True  # residual connection around each layer
    layer_norm: bool = True

    def check(self) -> None:
        super().check()
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; choose one of "
                             f"{sorted(AGGREGATIONS)}")
        if self.node_limit is not None and self.node_limit < 1:
            raise ValueError(f"node_limit must be >= 1 or None, got {self.node_limit}")
        if self.edge_limit is not None and (self.edge_limit < 1 or self.node_limit is None):
            raise ValueError(f"edge_limit must be >= 1 and needs a node_limit, got "
                             f"{self.edge_limit} with node_limit={self.node_limit}")
        _check_dropout(self.dropout)


class PathConv(MessagePassing):
    """One query-conditioned layer: ``h'_y = h_y + relu(LN(W [h_y, AGG_x (g_x h_x *
    w_r(q) * a_e)]))`` over edges ``x -r-> y`` into the nodes that receive messages, where
    ``g_x`` is the sender's priority, ``w_r(q)`` a relation vector computed from the query
    and ``a_e`` the edge weight. The anchor also receives the boundary message ``q``."""

    def __init__(self, dim: int, num_relations: int, aggregation: str = "sum",
                 dropout: float = 0.0, short_cut: bool = True, layer_norm: bool = True):
        aggrs = AGGREGATIONS[aggregation]
        super().__init__(aggr=aggrs if len(aggrs) > 1 else aggrs[0],
                         aggr_kwargs={"mode": "cat"} if len(aggrs) > 1 else None)
        self.dim, self.num_relations = dim, num_relations  # without inverses
        self.aggregation = aggregation
        self.short_cut = short_cut
        # relation vectors as a function of the query (NBFNet's "dependent" relations)
        self.relation = nn.Linear(dim, 2 * num_relations * dim)
        self.update_lin = nn.Linear(dim * (1 + len(aggrs)), dim)
        self.norm = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        # A*Net's priority of a node for this layer: an MLP of [h, q]
        self.priority = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.relation.reset_parameters()
        self.update_lin.reset_parameters()
        if isinstance(self.norm, nn.LayerNorm):
            self.norm.reset_parameters()
        for m in self.priority:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def relation_vectors(self, query: Tensor) -> Tensor:
        """(B, dim) -> (B, 2R, dim)."""
        return self.relation(query).view(len(query), 2 * self.num_relations, self.dim)

    def gate(self, h: Tensor, query: Tensor) -> Tensor:
        """Priority in (0, 1) of nodes (M, dim) whose queries' vectors are (M, dim): (M,)."""
        return torch.sigmoid(self.priority(torch.cat([h, query], dim=-1))).squeeze(-1)

    def forward(self, x: Tensor, edge_index: Tensor, relation: Tensor, weight: Tensor,
                size: int) -> Tensor:
        """x (S, dim): the senders' gated states; edge_index (2, P): sender row -> receiver
        row in ``[0, size)``; relation (P, dim); weight (P,). Returns (size, A * dim)."""
        return self.propagate(edge_index, x=x, relation=relation, weight=weight,
                              size=(x.size(0), size))

    def message(self, x_j: Tensor, relation: Tensor, weight: Tensor) -> Tensor:
        return x_j * relation * weight.unsqueeze(-1)  # (P, dim)

    def combine(self, h: Tensor, aggregated: Tensor) -> Tensor:
        """The new states of receiving nodes: (K, dim), (K, A * dim) -> (K, dim)."""
        out = self.dropout(torch.relu(self.norm(self.update_lin(torch.cat([h, aggregated],
                                                                          dim=-1)))))
        return out + h if self.short_cut else out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.dim}, num_relations={self.num_relations}, "
                f"aggregation={self.aggregation!r})")


@ENCODERS.register("nbfnet", NBFNetConfig)
class NBFNetEncoder(nn.Module):
    """Query-conditioned path encoder; scores every node as the answer of a query.

    Unlike the node encoders it has no ``forward(edge_index, edge_type)`` giving one
    vector per node: a node's vector depends on the query. :class:`LinkPredictor`
    sees ``conditional = True`` and hands it the :class:`PathGraph` and the queries.
    """

    config: NBFNetConfig
    learns_relations = True  # its query vectors are its relations: no table in the model
    conditional = True

    def __init__(self, config: NBFNetConfig):
        super().__init__()
        config.check()
        self.config = config
        c = config
        self.query = nn.Embedding(2 * c.num_relations, c.dim)
        self.convs = nn.ModuleList(
            PathConv(c.dim, c.num_relations, c.aggregation, c.dropout, c.short_cut,
                     c.layer_norm) for _ in range(c.num_layers))
        self.score_mlp = nn.Sequential(nn.Linear(2 * c.dim, c.dim), nn.ReLU(),
                                       nn.Linear(c.dim, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.query.weight)
        for conv in self.convs:
            conv.reset_parameters()
        for m in self.score_mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    @property
    def relations(self) -> Tensor:
        return self.query.weight  # (2R, dim)

    def graph(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int) -> PathGraph:
        return PathGraph.build(edge_index, edge_type, num_nodes, self.config.num_relations)

    def forward(self, graph: PathGraph, anchor: Tensor, rel: Tensor,
                edge_weight: Tensor | None = None) -> Tensor:
        """Scores of every node as the answer of ``(anchor, rel, ?)``: (B,), (B,) with
        ``rel`` in [0, 2R) -> (B, N). ``edge_weight`` (2E,): one per directed edge
        (fact ``e``, then its inverse ``e + E``), multiplying its messages."""
        if graph.num_relations != self.config.num_relations:
            raise ValueError(f"the graph has {graph.num_relations} relations, the model "
                             f"{self.config.num_relations}")
        nodes, h = self.propagate(graph, anchor, rel, edge_weight)
        return self.read_out(graph.num_nodes, nodes, h, self.query(rel))

    def propagate(self, graph: PathGraph, anchor: Tensor, rel: Tensor,
                  edge_weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The final states of the reached nodes: flat ids ``b * N + v`` (M,), (M, dim)."""
        if self.config.node_limit is None:
            return self._dense(graph, anchor, rel, edge_weight)
        return self._pruned(graph, anchor, rel, edge_weight, self.config.node_limit)

    def read_out(self, num_nodes: int, nodes: Tensor, h: Tensor, query: Tensor) -> Tensor:
        """(B, N) scores; a node the query never reached reads as a zero state."""
        b = len(query)
        unreached = self.score_mlp(torch.cat([torch.zeros_like(query), query], -1))  # (B, 1)
        reached = self.score_mlp(torch.cat([h, query[nodes // num_nodes]], -1)).squeeze(-1)
        out = unreached.expand(b, num_nodes).reshape(-1)
        return out.index_put((nodes,), reached).view(b, num_nodes)

    # ---- the two propagation paths --------------------------------------------------------

    def _layer(self, conv: PathConv, h: Tensor, b_of: Tensor, query: Tensor,
               graph: PathGraph, senders: Tensor, positions: Tensor,
               owner: Tensor, receivers: Tensor, weight: Tensor | None, anchor_rows: Tensor
               ) -> Tensor:
        """One layer on compact rows: h (M, dim) with b_of (M,) their queries; senders
        (S,) rows sending along CSR ``positions`` (P,) (``owner`` (P,) indexes senders) to
        ``receivers`` (P,) rows; the anchors' rows get the boundary message."""
        m = h.size(0)
        gate = conv.gate(h[senders], query[b_of[senders]])  # (S,)
        x = torch.cat([h[senders] * gate.unsqueeze(-1), query])  # (S + B, dim)
        rel_vec = conv.relation_vectors(query)  # (B, 2R, dim)
        w = h.new_ones(len(positions)) if weight is None else weight[graph.eid[positions]]
        b = len(query)
        src = torch.cat([owner, len(senders) + torch.arange(b, device=h.device)])
        dst = torch.cat([receivers, anchor_rows])
        relation = torch.cat([rel_vec[b_of[senders[owner]], graph.rel[positions]],
                              torch.ones_like(query)])  # the boundary message is q itself
        agg = conv(x, torch.stack([src, dst]), relation, torch.cat([w, h.new_ones(b)]), m)
        updated = torch.unique(dst)
        return h.index_copy(0, updated, conv.combine(h[updated], agg[updated]))

    def _dense(self, graph: PathGraph, anchor: Tensor, rel: Tensor,
               edge_weight: Tensor | None) -> tuple[Tensor, Tensor]:
        # every node of every query in one (B * N, dim) state; nodes not reached yet are
        # zero and do not send (so that this equals the pruned path without pruning)
        n, b = graph.num_nodes, len(anchor)
        query = self.query(rel)  # (B, dim)
        flat = torch.arange(b * n, device=anchor.device)
        b_of, v_of = flat // n, flat % n
        anchor_rows = torch.arange(b, device=anchor.device) * n + anchor
        h = query.new_zeros(b * n, self.config.dim).index_copy(0, anchor_rows, query)
        reached = torch.zeros(b * n, dtype=torch.bool, device=anchor.device)
        reached[anchor_rows] = True
        for conv in self.convs:
            senders = reached.nonzero().squeeze(1)
            positions, owner = graph.out_edges(v_of[senders])
            receivers = b_of[senders[owner]] * n + graph.dst[positions]
            h = self._layer(conv, h, b_of, query, graph, senders,
                            positions, owner, receivers, edge_weight, anchor_rows)
            reached = reached.index_fill(0, receivers, True)
        return flat[reached], h[reached]

    def _pruned(self, graph: PathGraph, anchor: Tensor, rel: Tensor,
                edge_weight: Tensor | None, limit: int) -> tuple[Tensor, Tensor]:
        # the state of reached nodes only: row i is node nodes[i] (flat id b * N + v)
        n, b = graph.num_nodes, len(anchor)
        device = anchor.device
        query = self.query(rel)
        nodes = torch.arange(b, device=device) * n + anchor  # (M,), anchors first
        anchor_rows = torch.arange(b, device=device)
        row_of = torch.full((b * n,), -1, dtype=torch.long, device=device)
        row_of[nodes] = anchor_rows
        h = query
        for conv in self.convs:
            b_of = nodes // n
            with torch.no_grad():  # the choice is discrete; the gate scales the messages
                priority = conv.gate(h, query[b_of])
                senders = _top_per_group(b_of, priority, limit)
            positions, owner = graph.out_edges(nodes[senders] % n)
            if self.config.edge_limit is not None:
                positions, owner = _edge_budget(positions, owner, b_of[senders], priority[
                    senders], graph.eid, self.config.edge_limit)
            targets = b_of[senders[owner]] * n + graph.dst[positions]
            new = torch.unique(targets[row_of[targets] < 0])
            row_of[new] = len(nodes) + torch.arange(len(new), device=device)
            nodes = torch.cat([nodes, new])
            h = torch.cat([h, h.new_zeros(len(new), h.size(1))])
            h = self._layer(conv, h, nodes // n, query, graph, senders, positions,
                            owner, row_of[targets], edge_weight, anchor_rows)
        return nodes, h

    def extra_repr(self) -> str:
        c = self.config
        return (f"num_relations={c.num_relations}, dim={c.dim}, num_layers={c.num_layers}, "
                f"node_limit={c.node_limit}")


def _edge_budget(positions: Tensor, owner: Tensor, sender_query: Tensor,
                 sender_priority: Tensor, eid: Tensor, limit: int) -> tuple[Tensor, Tensor]:
    """At most ``limit`` of the edges ``positions`` (P,) of each query, by their sender's
    priority; among one sender's edges a fixed pseudo-random order (a hash of the edge
    id), the same in training and evaluation, so a hub sends along a spread of its edges
    rather than the first ones in file order."""
    # priority in (0, 1); the hash adds less than the gap float32 can tell apart from it
    # only when priorities tie, which is what it is for
    tie = ((eid[positions] * 2654435761) % 1048576).to(sender_priority.dtype) / 2.0 ** 40
    keep = _top_per_group(sender_query[owner], sender_priority[owner] + tie, limit)
    keep = keep.sort().values  # back in CSR order
    return positions[keep], owner[keep]


def _top_per_group(group: Tensor, score: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` highest scores within each group (all of a smaller group),
    ties broken by index: (M,), (M,) -> (K,)."""
    # one stable sort by score (descending), then one by group, keeps score order in groups
    order = torch.argsort(score, descending=True, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    g = group[order]
    start = torch.searchsorted(g, g, right=False)
    rank = torch.arange(len(g), device=g.device) - start
    return order[rank < k]
