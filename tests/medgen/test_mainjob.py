"""`medgen run` on a tiny profile against the real Neo4j: killed during a stage and run
again, it skips what finished and leaves exact counts; a changed stage replaces only its
own outputs; the report's ten queries give, through `medgen cypher`, the answers shown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .mainjob_toy import write_config

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def medgen(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("medgen")
    return [str(script), *args]


@pytest.fixture
def job(tmp_path, neo4j_server, store):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")},
           **neo4j_server.env(), "MEDGEN_STATE_DIR": str(tmp_path / "state"),
           "MEDGEN_CACHE_DIR": str(tmp_path / "cache")}
    config = write_config(tmp_path)
    report = tmp_path / "report"

    def run(*extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(medgen("run", "--config", str(config), "--report", str(report),
                                     *extra), env=env, capture_output=True, text=True,
                              timeout=timeout, cwd=tmp_path)

    state = tmp_path / "state" / "mainjob" / "demo" / "state.json"
    return {"run": run, "env": env, "config": config, "report": report, "state": state,
            "store": store, "tmp": tmp_path}


def _counts(store) -> dict:
    counts = store.counts()
    return {"nodes": counts["nodes"], "relationships": counts["relationships"]}


def _duplicates(store) -> int:
    nodes = store.run_read("MATCH (n) WITH labels(n)[0] AS l, n.id AS id, count(*) AS c "
                           "WHERE c > 1 RETURN count(*) AS n")[0]["n"]
    links = store.run_read("MATCH (a)-[r]->(b) WITH a, b, type(r) AS t, r.run_id AS run, "
                           "count(*) AS c WHERE c > 1 RETURN count(*) AS n")[0]["n"]
    return nodes + links


def test_killed_mid_stage_then_rerun_skips_finished_stages_with_exact_counts(job):
    env, state_path = job["env"], job["state"]
    proc = subprocess.Popen(medgen("run", "--config", str(job["config"]), "--report",
                                   str(job["report"])), env=env, cwd=job["tmp"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # kill it with SIGKILL once the molecules stage (VAE training, the longest) has begun
    deadline = time.monotonic() + 1200  # generous: a loaded machine is slow to get there
    reached = False
    while time.monotonic() < deadline and proc.poll() is None:
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        if state.get("molecules", {}).get("status") == "started":
            reached = True
            time.sleep(2)
            break
        time.sleep(0.5)
    if not reached:
        proc.kill()
    assert reached and proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads(state_path.read_text())
    assert [s for s in state if state[s]["status"] == "done"] == ["graph", "completion",
                                                                 "explanations"]

    done = job["run"]()
    assert done.returncode == 0, done.stdout + done.stderr
    for stage in ("graph", "completion", "explanations"):
        assert f"{stage}: finished before, skipped" in done.stdout
    assert "molecules: resuming" in done.stdout
    state = json.loads(state_path.read_text())
    assert all(record["status"] == "done" for record in state.values())

    store = job["store"]
    counts = _counts(store)
    assert counts["nodes"]["Disease"] == 8 and counts["nodes"]["Phenotype"] == 22
    assert counts["relationships"]["ASSOCIATED_WITH"] == 10
    predicted = sum(state["completion"]["outputs"]["predictions"].values())
    assert predicted > 0
    assert counts["relationships"]["PREDICTED_ASSOCIATED_WITH"] == predicted
    assert counts["nodes"].get("Candidate", 0) == state["candidates"]["outputs"]["candidates"]
    assert state["candidates"]["outputs"]["candidates"] > 0
    assert _duplicates(store) == 0
    report = job["report"]
    html = (report / "index.html").read_text()
    for picture in ("completion_training.png", "prediction_scores.png", "candidates.png"):
        assert (report / "img" / picture).stat().st_size > 1000
        assert f"img/{picture}" in html
    assert "Research use only" in html

    # a second rerun does nothing but say so, and changes no count
    again = job["run"]()
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished before, skipped") == 7
    assert _counts(store) == counts


def test_a_changed_stage_replaces_its_own_outputs_and_the_queries_answer_as_shown(job):
    first = job["run"]()
    assert first.returncode == 0, first.stdout + first.stderr
    state = json.loads(job["state"].read_text())
    old_run = state["completion"]["outputs"]["run_id"]
    store = job["store"]
    # another run's predictions (a user's own `kg train`) must survive the replacement
    # a plain session: execute_query's driver-wide bookmarks go stale once an earlier
    # test's bulk import has replaced the database
    with store.driver.session() as session:
        session.run(
            "MATCH (g:Gene {id: 'NCBIGene:8'}), (d:Disease {id: 'OMIM:100001'}) "
            "MERGE (g)-[p:PREDICTED_ASSOCIATED_WITH {run_id: 'someone-else'}]->(d) "
            "SET p.score = 0.5").consume()

    config = json.loads(job["config"].read_text())
    config["completion"]["top_k"] = 2
    job["config"].write_text(json.dumps(config))
    second = job["run"]()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "graph: finished before, skipped" in second.stdout
    assert "molecules: finished before, skipped" in second.stdout
    assert "completion: running" in second.stdout
    state = json.loads(job["state"].read_text())
    new_run = state["completion"]["outputs"]["run_id"]
    assert new_run != old_run
    by_run = {r["run"]: r["n"] for r in store.run_read(
        "MATCH ()-[p:PREDICTED_ASSOCIATED_WITH]->() RETURN p.run_id AS run, count(*) AS n")}
    assert by_run == {new_run: sum(state["completion"]["outputs"]["predictions"].values()),
                      "someone-else": 1}

    answers = json.loads((job["report"] / "queries.json").read_text())
    assert len(answers) == 10
    for answer in answers:
        proc = subprocess.run(medgen("cypher", answer["query"], "--format", "json"),
                              env=job["env"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (answer["title"], proc.stderr)
        rows = json.loads(proc.stdout)
        assert rows[:len(answer["rows"])] == answer["rows"], answer["title"]
        assert len(rows) == answer["total_rows"]
