"""The link-prediction task under Lightning DDP on CPU (gloo): two processes, each on
half of every epoch's batches with gradients averaged, reach the single-process test
MRR on the toy graph within 0.05 (measured: see the assertion message)."""

from __future__ import annotations

import pytest
import torch

from kg.linkpred import LinkPredictionConfig, LinkPredictionTask
from training import TrainConfig, fit, seed_everything

from .toy import toy_graph

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOLERANCE = 0.05


def train(tmp_path, devices: int) -> tuple[float, object]:
    seed_everything(0)
    graph = toy_graph()
    task = LinkPredictionTask(LinkPredictionConfig(dim=16, lr=0.05, batch_size=64,
                                                   eval_batch_size=64, loss="ce"), graph)
    config = TrainConfig(max_epochs=10, accelerator="cpu", devices=devices,
                         strategy="ddp_spawn" if devices > 1 else "auto",
                         log_dir=str(tmp_path), run_name=f"d{devices}", monitor="val_mrr",
                         mode="max", progress_bar=False, num_sanity_val_steps=0,
                         log_every_n_steps=1)
    result = fit(task, None, config)
    return task.evaluate("test").mrr, result


@pytest.mark.slow
def test_two_cpu_processes_reach_the_single_process_mrr(tmp_path):
    single, _ = train(tmp_path, 1)
    torch.set_num_threads(1)  # each process one thread, as on a 2-core machine
    double, result = train(tmp_path, 2)
    assert abs(double - single) <= TOLERANCE, (single, double)
    # the best checkpoint is the one validation chose, found by the main process too
    assert result.best_checkpoint is not None and result.best_checkpoint.name.startswith("best")
