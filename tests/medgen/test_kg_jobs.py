"""The completion job as library calls: config files, run ids, the graph fingerprint, and
a killed run resumed."""

from __future__ import annotations

import json

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from medgen import kg_jobs as jobs
from medgen.errors import RunError
from tests.kg import phenotype_toy as toy

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")

FAST_MODEL = {"dim": 16, "loss": "ce", "lr": 0.05, "batch_size": 512}


# ---- configuration --------------------------------------------------------------------

def test_defaults_and_file_and_options_take_precedence_in_that_order(tmp_path):
    default = jobs.load_config(None)
    assert (default.model.encoder, default.model.decoder, default.model.dim,
            default.targets) == ("none", "rotate", 128, ["ASSOCIATED_WITH"])
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
    # the saved model's own decoder may be given again; another one may not
    more = jobs.resume_config(saved, epochs=5, max_time=60.0, top_k=3,
                              decoder=saved.model.decoder)
    assert more.train["max_epochs"] == 5 and more.train["max_time_s"] == 60.0
    assert more.top_k == 3 and more.model == saved.model
    other = next(d for d in ("complex", "rotate") if d != saved.model.decoder)
    with pytest.raises(RunError, match="change its model"):
        jobs.resume_config(saved, decoder=other)
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
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
    with pytest.raises(RunError, match="has not finished training"):
        jobs.load_diagnoser(run)

    outcome = jobs.train_job(store, config, run, run_id="r1", resume=True)
    assert outcome.resumed_from == run / "checkpoints" / "last.ckpt"
    assert outcome.epochs == 6
    assert jobs.read_job(run)["status"] == "done" and (run / jobs.MODEL_FILE).exists()
    assert jobs.latest_run() == run.resolve()
    assert outcome.predictions["PREDICTED_ASSOCIATED_WITH"] > 0
    assert outcome.embeddings == len(toy.TERM_NAMES) + len(toy.DISEASES) + len(toy.GENES)
    with pytest.raises(RunError, match="already holds run 'r1'"):
        jobs.train_job(store, config, run, run_id="r1")
