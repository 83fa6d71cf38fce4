"""The link-prediction task on the shared engine: a smoke training per model
that must beat a random scorer, checkpoints that score on their own, resume."""

from __future__ import annotations

import csv

import pytest
import torch

from kg.linkpred import (
    LinkPredictionConfig,
    LinkPredictionError,
    LinkPredictionTask,
    TripleGraph,
    evaluate_ranking,
)
from kg.linkpred.task import smoothed_cross_entropy
from training import TrainConfig, fit, seed_everything

from .toy import toy_export, toy_graph

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")

# (model, encoder, decoder, loss, epochs, extra options); every registered model appears
SMOKE = [
    ("kge", "none", "distmult", "ce", 30, {}),
    ("kge", "rgcn", "distmult", "bce", 60, {"num_negatives": 8}),
    ("kge", "compgcn", "rotate", "ce", 30, {}),
    ("kge", "compgcn", "complex", "softplus", 60, {"adversarial_temperature": 1.0}),
    ("vgae", "rgcn", "distmult", "ce", 30, {}),
]


@pytest.fixture(scope="module")
def graph() -> TripleGraph:
    return toy_graph()


def train_config(path, **kw) -> TrainConfig:
    base = dict(max_epochs=20, log_dir=str(path), run_name="run", monitor="val_mrr", mode="max",
                progress_bar=False, num_sanity_val_steps=0, log_every_n_steps=1)
    base.update(kw)
    return TrainConfig(**base)


def task_config(**kw) -> LinkPredictionConfig:
    base = dict(dim=16, lr=0.05, batch_size=512, eval_batch_size=64)
    base.update(kw)
    return LinkPredictionConfig(**base)


def random_mrr(graph: TripleGraph, task: LinkPredictionTask, seeds: int = 5) -> float:
    g = torch.Generator().manual_seed(0)
    return sum(evaluate_ranking(lambda a, r: torch.rand(len(a), graph.num_nodes, generator=g),
                                graph.test, task.filter).mrr for _ in range(seeds)) / seeds


@pytest.mark.parametrize(("model", "encoder", "decoder", "loss", "epochs", "extra"), SMOKE,
                         ids=["-".join(c[:4]) for c in SMOKE])
def test_smoke_training_beats_a_random_scorer(graph, tmp_path, model, encoder, decoder, loss,
                                              epochs, extra):
    seed_everything(0)
    task = LinkPredictionTask(task_config(model=model, encoder=encoder, decoder=decoder,
                                          loss=loss, **extra), graph)
    result = fit(task, None, train_config(tmp_path, max_epochs=epochs))
    report = task.evaluate("test")
    baseline = random_mrr(graph, task)
    assert report.mrr > 1.5 * baseline, (report.mrr, baseline)
    # both directions learn: head queries go through the inverse relations, which a
    # sampled loss must train too (it once trained only the forward ones)
    for direction in ("head", "tail"):
        assert report.metrics(direction)["mrr"] > 1.2 * baseline, (direction, report.to_dict())
    assert result.metrics["val_mrr"] > baseline


@pytest.fixture(scope="module")
def trained(graph, tmp_path_factory):
    seed_everything(0)
    task = LinkPredictionTask(task_config(), graph)
    result = fit(task, None, train_config(tmp_path_factory.mktemp("runs")))
    return task, result


def test_val_mrr_is_logged_and_picks_the_best_checkpoint(trained):
    task, result = trained
    rows = list(csv.DictReader((result.run_dir / "csv" / "version_0" / "metrics.csv").open()))
    val = [float(r["val_mrr"]) for r in rows if r.get("val_mrr")]
    assert len(val) == 20 and result.best_score == pytest.approx(max(val))
    assert {"val_hits@1", "val_hits@3", "val_hits@10", "train_loss"} <= set(result.metrics)


def test_a_checkpoint_scores_on_its_own_and_evaluates_the_same(trained, graph):
    task, result = trained
    task.eval()
    back = LinkPredictionTask.load_from_checkpoint(result.last_checkpoint).eval()
    assert back.config == task.config and back.graph is None
    anchor, rel = torch.tensor([0, 5, 30]), torch.tensor([0, 3, 4])
    with torch.no_grad():
        expected = task.model.score_queries(task.embed(), anchor, rel)
        got = back.model.score_queries(back.embed(), anchor, rel)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert back.attach(graph).evaluate("test").to_dict() == task.evaluate("test").to_dict()
    with pytest.raises(LinkPredictionError, match="no graph attached"):
        LinkPredictionTask.load_from_checkpoint(result.last_checkpoint).evaluate()


def test_a_checkpoint_refuses_another_graph(trained):
    _, result = trained
    back = LinkPredictionTask.load_from_checkpoint(result.last_checkpoint)
    other = TripleGraph.from_export(toy_export(), holdout_relations=["SIMILAR_TO"])
    with pytest.raises(LinkPredictionError, match="another split"):
        back.attach(other)
    other.relations = ["A", "B", "C"]
    with pytest.raises(LinkPredictionError, match="another graph"):
        back.attach(other)


def test_relation_auroc_after_training(trained):
    task, _ = trained
    metrics = task.evaluate_relation("ASSOCIATED_WITH", split="test")
    assert metrics["auroc"] > 0.6 and 0 < metrics["auprc"] <= 1
    with pytest.raises(LinkPredictionError, match="unknown relation"):
        task.evaluate_relation("CAUSES")


def test_vgae_calibration_fits_validation_and_is_saved(graph, tmp_path):
    seed_everything(0)
    task = LinkPredictionTask(task_config(model="vgae", encoder="rgcn"), graph)
    fit(task, None, train_config(tmp_path, max_epochs=10))
    task.calibrate("valid", negatives_per_positive=5)
    # a fitted intercept makes the mean probability equal the share of true triples
    pos, neg = task._score_labelled(*task._labelled("valid", None, 5, 0))
    probs = task.model.probability(torch.cat([pos, neg]))
    assert float(probs.sum()) == pytest.approx(len(pos), rel=0.02)
    assert float(task.model.probability(pos).mean()) > float(task.model.probability(neg).mean())
    path = tmp_path / "calibrated.ckpt"
    task.trainer.save_checkpoint(path)
    back = LinkPredictionTask.load_from_checkpoint(path)
    torch.testing.assert_close(back.model.calibration, task.model.calibration)


def test_resume_continues_the_task(graph, tmp_path):
    seed_everything(0)
    first = fit(LinkPredictionTask(task_config(), graph), None,
                train_config(tmp_path, max_epochs=2))
    second = fit(LinkPredictionTask(task_config(), graph), None,
                 train_config(tmp_path, max_epochs=4, resume=True))
    assert second.resumed_from == first.last_checkpoint
    assert (second.epochs, second.global_step) == (4, 4)  # one batch per epoch


def test_bad_configurations(graph):
    with pytest.raises(LinkPredictionError, match="needs a graph"):
        LinkPredictionTask()
    with pytest.raises(ValueError, match="unknown loss"):
        LinkPredictionConfig(loss="hinge")
    with pytest.raises(ValueError, match="unknown model"):
        LinkPredictionConfig(model="transformer")
    with pytest.raises(ValueError, match="label_smoothing"):
        LinkPredictionConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="unknown encoder"):
        LinkPredictionTask(LinkPredictionConfig(encoder="gat"), graph)


def test_smoothed_cross_entropy_over_allowed_candidates():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(4, 6, generator=g), torch.tensor([0, 2, 3, 5])
    expected = torch.nn.functional.cross_entropy(logits, target, label_smoothing=0.2)
    torch.testing.assert_close(smoothed_cross_entropy(logits, target, 0.2), expected)
    everything = torch.ones(4, 6, dtype=torch.bool)
    torch.testing.assert_close(smoothed_cross_entropy(logits, target, 0.2, everything), expected)
    # with a mask: the same loss computed on the allowed columns alone
    allowed = torch.tensor([[1, 1, 0, 1, 0, 0]] * 4, dtype=torch.bool)
    allowed[:, target] = True
    rows = []
    for i in range(4):
        cols = allowed[i].nonzero().squeeze(1)
        t = int((cols == target[i]).nonzero())
        rows.append(torch.nn.functional.cross_entropy(logits[i, cols][None], torch.tensor([t]),
                                                      label_smoothing=0.2))
    torch.testing.assert_close(smoothed_cross_entropy(logits, target, 0.2, allowed),
                               torch.stack(rows).mean())


@pytest.mark.parametrize("loss", ["bce", "softplus", "ce"])
def test_every_loss_trains_the_inverse_relations_that_answer_head_queries(graph, loss):
    seed_everything(0)
    task = LinkPredictionTask(task_config(loss=loss, reciprocal=True), graph)
    assert task.model.relation is not None
    r = task.num_relations
    task._loss(task.embed(), graph.train[:32]).backward()
    grad = task.model.relation.grad  # (2R, dim): forward rows, then inverse rows
    assert grad[:r].abs().sum() > 0
    assert grad[r:].abs().sum() > 0


def test_n3_adds_the_cubed_factors_of_each_triple(graph):
    seed_everything(0)
    plain = LinkPredictionTask(task_config(loss="ce"), graph)
    task = LinkPredictionTask(task_config(loss="ce", n3_weight=0.5), graph)
    task.load_state_dict(plain.state_dict())
    batch = graph.train[:8]
    emb = task.embed()
    h, r, t = batch.unbind(1)
    rows = [emb.nodes[h], emb.nodes[t], emb.relations[r], emb.relations[r + task.num_relations]]
    expected = sum(float((x.abs() ** 3).sum()) for x in rows) / len(batch)
    assert task._n3(emb, batch).item() == pytest.approx(expected, rel=1e-5)
    # the training step adds weight x N3 to the same data loss
    plain_loss = plain.training_step([batch], 0)
    with_n3 = task.training_step([batch], 0)
    assert with_n3.item() == pytest.approx(plain_loss.item() + 0.5 * expected, rel=1e-4)
    with pytest.raises(ValueError, match="n3_weight"):
        LinkPredictionConfig(n3_weight=-1.0)


def test_an_all_true_type_mask_is_dropped_and_changes_nothing():
    # one node type: every answer is allowed, so the task keeps no mask at all
    g = toy_graph()
    single = TripleGraph(g.node_ids, torch.zeros_like(g.node_type), ["Entity"], g.relations,
                         g.train, g.valid, g.test)
    seed_everything(0)
    task = LinkPredictionTask(task_config(loss="ce"), single)
    assert task.allowed is None
    everything = torch.ones(2 * task.num_relations, single.num_nodes, dtype=torch.bool)
    batch = single.train[:16]
    h, r, t = batch.unbind(1)
    rel = torch.cat([r, r + task.num_relations])
    logits = task.model.score_queries(task.embed(), torch.cat([h, t]), rel)
    masked = smoothed_cross_entropy(logits, torch.cat([t, h]), 0.1, everything[rel])
    torch.testing.assert_close(task._loss(task.embed(), batch), masked)
