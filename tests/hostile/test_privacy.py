"""What must never reach a log: a patient's phenotype list given to `kg diagnose`."""

from __future__ import annotations

import json
import logging

import pytest

from medgen import kg_jobs as jobs
from tests.hostile.conftest import run_cli
from tests.kg import phenotype_toy as toy

FAST = {"model": {"dim": 8, "loss": "ce", "lr": 0.05, "batch_size": 512},
        "train": {"max_epochs": 2, "accelerator": "cpu"}, "embeddings": False}


@pytest.mark.neo4j
@pytest.mark.slow
def test_kg_diagnose_never_logs_the_phenotypes(neo4j_server, store, monkeypatch, capsys,
                                                caplog, tmp_path):
    for name, value in neo4j_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    monkeypatch.setenv("MEDGEN_STATE_DIR", str(tmp_path / "state"))
    store.write(toy.tables())
    config = jobs.JobConfig.from_dict({**jobs.load_config(None).to_dict(), **FAST})
    run = tmp_path / "run"
    jobs.train_job(store, config, run, run_id="privacy")

    patient = toy.DISEASE_TERMS[toy.DISEASES[2]][:3]
    caplog.set_level(logging.DEBUG)  # every logger, every level
    logs_before = {p: p.stat().st_size for p in (neo4j_server.server.logs_dir.glob("*")
                                                if neo4j_server.server else [])}
    result = run_cli(capsys, "kg", "diagnose", *patient, "--run", str(run), "--format", "json")
    assert result.code == 0, result
    assert json.loads(result.out)[0]["disease"] == toy.DISEASES[2]  # it did diagnose

    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.args)
        assert not any(term in text for term in patient), record
    # nor in what the run folder or the state folder keep, nor in Neo4j's own logs
    written = [p for p in [*run.rglob("*"), *(tmp_path / "state").rglob("*")]
               if p.is_file() and p.stat().st_mtime >= result_time(run)]
    for path in written:
        data = path.read_bytes()
        assert not any(term.encode() in data for term in patient), path
    for path, size in logs_before.items():
        with open(path, "rb") as fh:
            fh.seek(size)
            tail = fh.read()
        assert not any(term.encode() in tail for term in patient), path


def result_time(run) -> float:
    """Files changed after training finished (the diagnosis ran later)."""
    return (run / jobs.MODEL_FILE).stat().st_mtime + 0.001
