"""Link prediction as a LightningModule: the loss, the negatives and the metrics.

The model (encoder + decoder from the registries) knows nothing of training;
the engine in ``training`` owns the loop. By default each step runs
full-graph message passing over the training triples and scores a batch of
them (suited to graphs up to a few hundred thousand edges). With
``num_neighbors`` set, each step instead encodes only a sampled k-hop subgraph
around the batch's triples and their negatives (``kg.linkpred.sampling``).
Validation, :meth:`LinkPredictionTask.evaluate`, calibration, proposals and
write-back always run full-graph: inference over the whole graph fits in
memory, and its embeddings are then exact. The training graph is kept in the
module as buffers, so a checkpoint alone can score triples; the splits,
negatives and filter come from the :class:`TripleGraph` given for training and
evaluation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from kg.linkpred.dataset import TripleGraph
from kg.linkpred.errors import LinkPredictionError
from kg.linkpred.evaluation import (
    HITS_AT,
    FilterIndex,
    RankingReport,
    binary_metrics,
    evaluate_ranking,
    rank_triples,
)
from kg.linkpred.negatives import TypeConstrainedSampler
from kg.linkpred.sampling import NeighbourBatches, SampledBatch, check_fanouts, require_backend
from kg.models import ENCODERS, MODELS, Embeddings, LinkPredictor, LinkPredictorConfig
from training import config_from, config_to_dict

LOSSES = ("ce", "bce", "softplus")


@dataclass
class LinkPredictionConfig:
    # the model
    model: str = "kge"  # "kge" | "vgae"
    encoder: str = "none"
    encoder_options: dict[str, Any] = field(default_factory=dict)
    decoder: str = "distmult"
    decoder_options: dict[str, Any] = field(default_factory=dict)
    dim: int = 128
    reciprocal: bool = True
    # the loss
    loss: str = "ce"  # "ce": 1-N softmax; "bce" / "softplus": against sampled negatives
    label_smoothing: float = 0.1  # ce
    num_negatives: int = 32  # bce, softplus
    adversarial_temperature: float = 0.0  # softplus: > 0 weighs hard negatives up (RotatE)
    # negatives, the 1-N loss and ranking keep to the node types each relation is seen
    # with in training (no effect on a graph with one node type)
    type_constrained: bool = True
    kl_weight: float = 1e-3  # vgae
    # N3 regularisation of the factors of each training triple (Lacroix et al. 2018):
    # weight x sum |x|^3 over head, relation and tail vectors, per triple; what makes
    # 1-N ComplEx/DistMult generalise on sparse graphs
    n3_weight: float = 0.0
    # optimisation
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    eval_batch_size: int = 256
    # neighbour-sampled training: per-hop fan-outs (-1: all neighbours) of the subgraph
    # each step encodes around its triples and negatives; None: full-graph message
    # passing. Sampled losses only ("bce", "softplus"). Fewer hops than encoder layers
    # is allowed (the outer layers then see fewer neighbours), more only cost time.
    # Needs torch-sparse or pyg-lib (scripts/build_sampling_wheels.sh).
    num_neighbors: list[int] | None = None
    # query subsampling: each epoch trains on a fresh random draw of this fraction of the
    # training triples (a path model's step is costly; validation then comes more often)
    train_fraction: float = 1.0
    # validate on a fixed random subset of this many validation triples (None: all), for
    # models whose ranking costs a propagation per query
    valid_limit: int | None = None
    # the graph, filled in from the TripleGraph at construction
    num_nodes: int = 0
    relations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {LOSSES}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.num_negatives < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("num_negatives, batch_size and eval_batch_size must be positive")
        if self.adversarial_temperature < 0 or self.kl_weight < 0 or self.n3_weight < 0:
            raise ValueError("adversarial_temperature, kl_weight and n3_weight must be >= 0")
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if self.valid_limit is not None and self.valid_limit < 1:
            raise ValueError(f"valid_limit must be >= 1 or None, got {self.valid_limit}")
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {MODELS.names()}")
        if self.num_neighbors is not None:
            if getattr(ENCODERS.get(self.encoder).cls, "conditional", False):
                raise ValueError(f"encoder {self.encoder!r} prunes its own propagation "
                                 "(node_limit): train it without num_neighbors")
            self.num_neighbors = check_fanouts(self.num_neighbors)
            if self.loss == "ce":
                raise ValueError("num_neighbors needs a sampled loss ('bce' or 'softplus'): "
                                 "the 'ce' loss scores every node of the graph as an answer, "
                                 "and a sampled subgraph only holds the batch's neighbourhood")

    def model_config(self) -> LinkPredictorConfig:
        return LinkPredictorConfig(
            num_nodes=self.num_nodes, num_relations=len(self.relations), dim=self.dim,
            encoder=self.encoder, encoder_options=dict(self.encoder_options),
            decoder=self.decoder, decoder_options=dict(self.decoder_options),
            reciprocal=self.reciprocal)


def validation_subset(valid: Tensor, limit: int | None) -> Tensor:
    """``limit`` validation triples drawn once with a fixed seed (all when None): the same
    subset every epoch and in every process, so validations compare (benchmarks hand the
    same subset to other tools)."""
    if limit is None or limit >= len(valid):
        return valid
    pick = torch.randperm(len(valid), generator=torch.Generator().manual_seed(0))
    return valid[pick[:limit].sort().values]


class LinkPredictionTask(L.LightningModule):
    def __init__(self, config: LinkPredictionConfig | dict | None = None,
                 graph: TripleGraph | None = None):
        super().__init__()
        config = config_from(LinkPredictionConfig, config)
        if graph is not None:
            if not config.relations:
                config = dataclasses.replace(config, num_nodes=graph.num_nodes,
                                             relations=list(graph.relations))
            _check_same_graph(config, graph)
            if config.num_neighbors is not None:
                require_backend()  # a task built to train: fail before any training starts
        if not config.relations or config.num_nodes < 1:
            raise LinkPredictionError("the task needs a graph, or a config with num_nodes and "
                                      "relations (as saved in a checkpoint)")
        self.config = config
        self.save_hyperparameters({"config": config_to_dict(config)})
        self.model: LinkPredictor = MODELS.get(config.model).cls(config.model_config())
        # the message-passing graph; saved with the weights and resized on loading
        self.register_buffer("edge_index", torch.empty(2, 0, dtype=torch.long))
        self.register_buffer("edge_type", torch.empty(0, dtype=torch.long))
        self.graph: TripleGraph | None = None
        self.sampler: TypeConstrainedSampler | None = None
        self.filter: FilterIndex | None = None
        self.allowed: Tensor | None = None  # (2R, N) candidate answers per query relation
        if graph is not None:
            self.attach(graph)

    @property
    def num_relations(self) -> int:
        return len(self.config.relations)

    def attach(self, graph: TripleGraph) -> LinkPredictionTask:
        """Use ``graph`` for training and evaluation (e.g. after loading a checkpoint)."""
        _check_same_graph(self.config, graph)
        edge_index, edge_type = graph.message_passing_graph()
        device = self.edge_index.device
        if self.edge_index.numel() and not (
                torch.equal(self.edge_index.cpu(), edge_index)
                and torch.equal(self.edge_type.cpu(), edge_type)):
            # evaluating on another split would rank triples the model trained on
            raise LinkPredictionError("the checkpoint was trained on other training triples "
                                      "than this graph's (another split?)")
        self.graph = graph
        self.edge_index, self.edge_type = edge_index.to(device), edge_type.to(device)
        self.sampler = self._negative_sampler(graph).to(device)
        self.filter = FilterIndex(graph.all_triples(), graph.num_nodes, graph.num_relations)
        # a plain attribute, not a buffer: it is derived from the graph, not saved
        self.allowed = self.sampler.allowed_answers() if self.config.type_constrained else None
        if self.allowed is not None and bool(self.allowed.all()):
            # nothing to mask (one node type, as in UMLS or DDB14): the unmasked paths give
            # the same loss and ranks, and the fused cross-entropy is cheaper
            self.allowed = None
        return self

    def _negative_sampler(self, graph: TripleGraph) -> TypeConstrainedSampler:
        return TypeConstrainedSampler(graph.train, graph.node_type, graph.num_relations,
                                      len(graph.node_types),
                                      constrained=self.config.type_constrained)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning calls this before load_state_dict: give the graph buffers the saved shapes
        state = checkpoint["state_dict"]
        self.edge_index = torch.empty_like(state["edge_index"], device=self.edge_index.device)
        self.edge_type = torch.empty_like(state["edge_type"], device=self.edge_type.device)

    # ---- the model on the training graph --------------------------------------------------

    def embed(self) -> Embeddings:
        return self.model.embed(self.edge_index, self.edge_type)

    def score_fn(self, emb: Embeddings):
        return lambda anchor, rel: self.model.score_queries(emb, anchor, rel)

    # ---- data -----------------------------------------------------------------------------

    def _require_graph(self) -> TripleGraph:
        if self.graph is None:
            raise LinkPredictionError("no graph attached: build the task with a graph or "
                                      "call attach(graph) after loading a checkpoint")
        return self.graph

    def train_dataloader(self) -> DataLoader:
        graph = self._require_graph()
        c = self.config
        collate = None
        if c.num_neighbors is not None:
            # the subgraphs are sampled in the loader (num_workers can parallelise that)
            collate = NeighbourBatches(
                *graph.message_passing_graph(), graph.num_nodes, graph.num_relations,
                c.num_neighbors, self._negative_sampler(graph), c.num_negatives)
        data = TensorDataset(graph.train)
        if c.train_fraction < 1.0:
            draw = RandomSampler(data, num_samples=max(1, round(c.train_fraction * len(data))))
            return DataLoader(data, batch_size=c.batch_size, sampler=draw, collate_fn=collate)
        return DataLoader(data, batch_size=c.batch_size, shuffle=True, collate_fn=collate)

    def val_dataloader(self) -> DataLoader:
        valid = validation_subset(self._require_graph().valid, self.config.valid_limit)
        return DataLoader(TensorDataset(valid), batch_size=self.config.eval_batch_size)

    # ---- training -------------------------------------------------------------------------

    def training_step(self, batch: list[Tensor] | SampledBatch, batch_idx: int) -> Tensor:
        if isinstance(batch, SampledBatch):  # local node ids of a sampled subgraph
            emb = self.model.embed_subgraph(batch.subgraph)
            triples, negatives = batch.positives, batch.negatives
        else:
            (triples,) = batch  # (B, 3)
            # a path model must not see the batch's own triples as one-hop paths
            emb, negatives = self.model.hide(self.embed(), triples), None
        loss = self._loss(emb, triples, negatives)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(triples))
        if self.config.n3_weight > 0:
            loss = loss + self.config.n3_weight * self._n3(emb, triples)
        if emb.kl is not None:
            self.log("train_kl", emb.kl, on_step=False, on_epoch=True, batch_size=len(triples))
            loss = loss + self.config.kl_weight * emb.kl
        return loss

    def _loss(self, emb: Embeddings, triples: Tensor, negatives: Tensor | None = None
              ) -> Tensor:
        """The loss of a batch (B, 3); a sampled loss draws its negatives (B, k, 3) here
        unless given (sampled batches bring theirs)."""
        c = self.config
        if c.loss == "ce":
            # 1-N: each triple asks for its tail and (as the inverse relation) its head
            h, r, t = triples.unbind(1)
            rel = torch.cat([r, r + self.num_relations])
            logits = self.model.score_queries(emb, torch.cat([h, t]), rel)  # (2B, N)
            allowed = self._allowed()
            return smoothed_cross_entropy(logits, torch.cat([t, h]), c.label_smoothing,
                                          None if allowed is None else allowed[rel])
        if negatives is None:
            assert self.sampler is not None
            negatives = self.sampler(triples, c.num_negatives)  # (B, k, 3)
        loss = self._sampled_loss(emb, triples, negatives)
        if self.model.config.reciprocal:
            # head queries are answered by the inverse relations: train them on (t, r+R, h)
            # with the same negatives read backwards (each is still a false triple)
            flip = torch.tensor([2, 1, 0], device=triples.device)
            shift = torch.tensor([0, self.num_relations, 0], device=triples.device)
            loss = 0.5 * (loss + self._sampled_loss(emb, triples[:, flip] + shift,
                                                    negatives[..., flip] + shift))
        return loss

    def _n3(self, emb: Embeddings, triples: Tensor) -> Tensor:
        """Mean over the batch of sum |x|^3 of each triple's head, relation(s) and tail."""
        h, r, t = triples.unbind(1)
        factors = [emb.nodes[h], emb.nodes[t], emb.relations[r]]
        if self.model.config.reciprocal:  # the inverse relation answers the head queries
            factors.append(emb.relations[r + self.num_relations])
        return sum(f.abs().pow(3).sum() for f in factors) / len(triples)

    def _sampled_loss(self, emb: Embeddings, triples: Tensor, negatives: Tensor) -> Tensor:
        c = self.config
        pos = self.model.score(emb, *triples.unbind(1))  # (B,)
        neg = self.model.score(emb, *negatives.reshape(-1, 3).unbind(1)).view_as(
            negatives[..., 0])  # (B, k)
        if c.loss == "bce":  # positives and negatives as two equally weighted classes
            return 0.5 * (F.softplus(-pos).mean() + F.softplus(neg).mean())
        # softplus per positive against its own negatives, optionally self-adversarial
        if c.adversarial_temperature > 0:
            weight = torch.softmax(c.adversarial_temperature * neg.detach(), dim=1)
        else:
            weight = torch.full_like(neg, 1.0 / c.num_negatives)
        return (F.softplus(-pos) + (weight * F.softplus(neg)).sum(1)).mean()

    def _allowed(self) -> Tensor | None:
        if self.allowed is not None and self.allowed.device != self.device:
            self.allowed = self.allowed.to(self.device)
        return self.allowed

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.config.lr,
                                weight_decay=self.config.weight_decay)

    # ---- validation: filtered MRR, summed per process and reduced over all ----------------

    def on_validation_epoch_start(self) -> None:
        self._val_emb: Embeddings | None = None
        self._val_sums = torch.zeros(2 + len(HITS_AT), dtype=torch.double, device=self.device)

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        (triples,) = batch
        if self._val_emb is None:  # one encoder pass per validation epoch
            self._val_emb = self.embed()
        assert self.filter is not None
        self.filter.to(self.device)
        ranks = rank_triples(self.score_fn(self._val_emb), triples, self.filter, self._allowed())
        self._val_sums += torch.stack([
            torch.tensor(float(len(ranks)), dtype=torch.double, device=self.device),
            (1.0 / ranks).sum(), *[(ranks <= k).sum().double() for k in HITS_AT]])

    def on_validation_epoch_end(self) -> None:
        sums = self.trainer.strategy.reduce(self._val_sums, reduce_op="sum")
        count = sums[0].clamp(min=1)
        self.log("val_mrr", float(sums[1] / count), prog_bar=True)
        for k, total in zip(HITS_AT, sums[2:], strict=True):
            self.log(f"val_hits@{k}", float(total / count))
        self._val_emb = None

    # ---- evaluation outside the Trainer ---------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: str = "test") -> RankingReport:
        """Filtered ranking of a split of the attached graph, both directions."""
        graph = self._require_graph()
        assert self.filter is not None
        was_training = self.training
        self.eval()
        try:
            emb = self.embed()
            self.filter.to(self.device)
            return evaluate_ranking(self.score_fn(emb), getattr(graph, split).to(self.device),
                                    self.filter, graph.relations, self.config.eval_batch_size,
                                    self._allowed())
        finally:
            self.train(was_training)

    def _labelled(self, split: str, relation: int | None, negatives_per_positive: int,
                  seed: int) -> tuple[Tensor, Tensor]:
        """Triples of ``split`` (of one relation, or all) and type-constrained corruptions
        of them that are not known triples: (P, 3), (M, 3)."""
        graph = self._require_graph()
        assert self.sampler is not None and self.filter is not None
        positives = getattr(graph, split)
        if relation is not None:
            positives = positives[positives[:, 1] == relation]
        if len(positives) == 0:
            raise LinkPredictionError(f"no triples to score in the {split} split")
        positives = positives.to(self.device)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        negatives = self.sampler(positives, negatives_per_positive, generator).reshape(-1, 3)
        self.filter.to(self.device)
        return positives, negatives[~self.filter.contains(*negatives.unbind(1))]

    @torch.no_grad()
    def _score_labelled(self, positives: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        was_training = self.training
        self.eval()
        try:
            emb = self.embed()
            return (self.model.score(emb, *positives.unbind(1)),
                    self.model.score(emb, *negatives.unbind(1)))
        finally:
            self.train(was_training)

    def evaluate_relation(self, relation: str, split: str = "test",
                          negatives_per_positive: int = 10, seed: int = 0) -> dict[str, float]:
        """AUROC/AUPRC of one relation: its triples in ``split`` against type-constrained
        corruptions of them that are not known triples."""
        r = self._require_graph().relation_index(relation)
        return binary_metrics(*self._score_labelled(
            *self._labelled(split, r, negatives_per_positive, seed)))

    def calibrate(self, split: str = "valid", negatives_per_positive: int = 10,
                  seed: int = 0) -> Tensor:
        """Fit the model's score-to-probability scaling on ``split`` (see
        :meth:`LinkPredictor.calibrate`); the result is saved with the next checkpoint."""
        return self.model.calibrate(*self._score_labelled(
            *self._labelled(split, None, negatives_per_positive, seed)))


def smoothed_cross_entropy(logits: Tensor, target: Tensor, smoothing: float,
                           allowed: Tensor | None = None) -> Tensor:
    """Cross-entropy with label smoothing over each row's allowed candidates only.

    logits (B, N), target (B,), allowed (B, N) bool or None (all). Without a
    mask this is ``F.cross_entropy(..., label_smoothing=smoothing)``; with one,
    disallowed candidates get neither probability mass nor smoothing mass
    (targets come from training triples, so they are always allowed).
    """
    if allowed is None:
        return F.cross_entropy(logits, target, label_smoothing=smoothing)
    logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=1)
    nll = -logp.gather(1, target.unsqueeze(1)).squeeze(1)
    uniform = -logp.masked_fill(~allowed, 0.0).sum(1) / allowed.sum(1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def _check_same_graph(config: LinkPredictionConfig, graph: TripleGraph) -> None:
    if config.relations and (config.num_nodes != graph.num_nodes
                             or list(config.relations) != list(graph.relations)):
        raise LinkPredictionError(
            f"the model was built for {config.num_nodes} nodes and relations "
            f"{config.relations}, the graph has {graph.num_nodes} nodes and relations "
            f"{graph.relations}: a checkpoint from another graph?")
