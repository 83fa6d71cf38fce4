"""Write-back killed half-way (SIGKILL of the writing process), then rerun with the same
run id: exactly one set of predictions (or candidates) for that run, other runs' left
alone. The writes are batched MERGEs keyed on the pair and the run id (predictions) or
on the InChIKey (candidates)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from kg.sources.drugs import load_approved_drugs
from kg.store import GraphStore
from kg.tables import EdgeTable, GraphTables, NodeTable, Provenance, with_provenance
from medgen.pipeline import standardise_drug
from tests.faults import writer
from tests.faults.conftest import REPO, duplicates

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

WRITER = Path(writer.__file__)


def start_writer(fs, kind: str, run_id: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WRITER), kind, run_id], env=fs.env(),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(fs, proc: subprocess.Popen, cypher: str, at_least: int) -> int:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        n = fs.query(cypher)[0]["n"]
        if n >= at_least:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return n
        if proc.poll() is not None:
            pytest.fail(f"the writer ended before the kill point: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("the writer never reached the kill point")


@pytest.fixture
def gene_disease_graph(fault_server):
    fault_server.clear()
    genes = pd.DataFrame({"id": [f"NCBIGene:{g}" for g in range(writer.GENES)]})
    diseases = pd.DataFrame({"id": [f"OMIM:{d}" for d in range(writer.DISEASES)]})
    observed = pd.DataFrame({"start": ["NCBIGene:0"], "end": ["OMIM:0"]})
    tables = with_provenance(GraphTables(
        Provenance("fault-test", "1"), [NodeTable("Gene", genes), NodeTable("Disease", diseases)],
        [EdgeTable("ASSOCIATED_WITH", "Gene", "Disease", observed)]))
    with fault_server.driver() as driver:
        GraphStore(driver).write(tables)
    return fault_server


PREDICTED = ("MATCH ()-[p:PREDICTED_ASSOCIATED_WITH {run_id: $run}]->() "
             "RETURN count(p) AS n")


def test_predictions_killed_mid_write_then_rerun(gene_disease_graph, fault_log):
    fs = gene_disease_graph
    expected = writer.GENES * writer.DISEASES - 1  # the observed pair is never predicted
    code = subprocess.run([sys.executable, str(WRITER), "predictions", "older"], env=fs.env(),
                          cwd=REPO, capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    proc = start_writer(fs, "predictions", "r1")
    seen = kill_when(fs, proc, PREDICTED.replace("$run", "'r1'"), 2000)
    partial = fs.query(PREDICTED, run="r1")[0]["n"]
    assert seen <= partial < expected  # killed half-way: some batches committed, not all
    rerun = subprocess.run([sys.executable, str(WRITER), "predictions", "r1"], env=fs.env(),
                           cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    mine, other = (fs.query(PREDICTED, run=run)[0]["n"] for run in ("r1", "older"))
    dup = duplicates(fs)
    fault_log("prediction write-back SIGKILLed mid-write, rerun",
              where=f"{partial} of {expected} written",
              lost=max(0, expected - mine) + max(0, expected - other), duplicates=dup,
              exact_counts=mine == other == expected)
    assert mine == expected
    assert other == expected  # the other run untouched
    assert dup == 0
    # the observed link is still one, never predicted over
    assert fs.query("MATCH (:Gene {id: 'NCBIGene:0'})-[r]->(:Disease {id: 'OMIM:0'}) "
                    "RETURN count(r) AS n")[0]["n"] == 1


def test_candidates_killed_mid_write_then_rerun(fault_server, fault_log):
    fs = fault_server
    fs.clear()
    with fs.driver() as driver:
        GraphStore(driver).write(load_approved_drugs(standardise_drug))
    before = fs.query("MATCH (n:Compound) RETURN count(n) AS n")[0]["n"]
    proc = start_writer(fs, "candidates", "gen-1")
    seen = kill_when(fs, proc, "MATCH (c:Candidate) RETURN count(c) AS n", 50)
    rerun = subprocess.run([sys.executable, str(WRITER), "candidates", "gen-1"], env=fs.env(),
                           cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    # the same run written once more from scratch must give the same graph
    counts = fs.query("MATCH (c:Candidate) OPTIONAL MATCH (c)-[r:ANALOG_OF]->() "
                      "RETURN count(DISTINCT c) AS c, count(r) AS r, "
                      "collect(DISTINCT c.run_id) AS runs")[0]
    again = subprocess.run([sys.executable, str(WRITER), "candidates", "gen-1"], env=fs.env(),
                           cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    written_again = fs.query("MATCH (c:Candidate) OPTIONAL MATCH (c)-[r:ANALOG_OF]->() "
                             "RETURN count(DISTINCT c) AS c, count(r) AS r, "
                             "collect(DISTINCT c.run_id) AS runs")[0]
    dup = duplicates(fs)
    # lost: what a clean write of the same run has that the rerun after the kill has not
    fault_log("candidate write-back SIGKILLed mid-write, rerun",
              where=f"{seen} Candidate nodes written",
              lost=max(0, written_again["c"] - counts["c"])
              + max(0, written_again["r"] - counts["r"]), duplicates=dup,
              exact_counts=written_again == counts)
    assert written_again == counts
    assert counts["runs"] == ["gen-1"] and counts["c"] > 300 and counts["r"] > 0
    assert dup == 0
    assert fs.query("MATCH (n:Compound) RETURN count(n) AS n")[0]["n"] == before
