"""Fault injection with real processes and a real Neo4j.

These tests kill things, so they never touch the suite's shared server: each module gets
a throwaway managed server of its own (``fault_server``), and the commands under test run
as separate ``python -m medgen.cli`` processes pointed at it through ``NEO4J_URI``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import neo4j
import pytest

from kg.sources.hpo import default_data_dir
from medgen.neo4j_server import ManagedServer, _pid_alive, free_port

REPO = Path(__file__).resolve().parents[2]


class FaultServer:
    """A managed server the tests may SIGKILL and start again."""

    def __init__(self, server: ManagedServer):
        self.server = server
        self.password = server.password()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NEO4J_", "MEDGEN_TEST_"))}
        env.update({"NEO4J_URI": self.server.uri, "NEO4J_USER": "neo4j",
                    "NEO4J_PASSWORD": self.password, "PYTHONPATH": str(REPO)})
        env.update(extra)
        return env

    def driver(self) -> neo4j.Driver:
        return neo4j.GraphDatabase.driver(self.server.uri, auth=("neo4j", self.password),
                                          connection_timeout=5, max_connection_lifetime=30)

    def query(self, cypher: str, **params) -> list[dict]:
        with self.driver() as d:
            return [r.data() for r in d.execute_query(cypher, params).records]

    def clear(self) -> None:
        # CALL ... IN TRANSACTIONS needs an implicit (auto-commit) transaction
        with self.driver() as d, d.session() as s:
            s.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS").consume()

    def sigkill(self) -> int:
        pid = self.server.pid()
        assert pid is not None, "the fault server is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:  # it is this process's child: reap it
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        return pid

    def restart(self) -> None:
        self.server.start(timeout=240)


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory) -> FaultServer:
    """One for all fault modules (a start costs half a minute); a test that kills it
    starts it again before it ends."""
    home = tmp_path_factory.mktemp("fault-neo4j")
    server = ManagedServer(home=home, port=free_port(), http_port=free_port(), heap="512m",
                           pagecache="64m")
    server.start(timeout=240)
    try:
        yield FaultServer(server)
    finally:
        server.stop()


def medgen(*args: str, env: dict[str, str], **kw) -> subprocess.Popen:
    """``medgen ARGS`` as its own process (stdout and stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "medgen.cli", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_one_clear_line(code: int, err: str, *fragments: str) -> None:
    """Non-zero exit, no traceback, one ``error:`` line on stderr naming ``fragments``."""
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def hpo_subset(folder: Path, terms: int, diseases: int) -> Path:
    """A small but real HPO release: the first ``terms`` [Term] stanzas of hp.obo, and the
    annotation rows of the first ``diseases`` diseases of phenotype.hpoa that use only
    those terms (genes_to_phenotype.txt likewise)."""
    src = default_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    obo = (src / "hp.obo").read_text(encoding="utf-8")
    head, *stanzas = obo.split("\n[Term]\n")
    kept = stanzas[:terms]
    (folder / "hp.obo").write_text(head + "".join("\n[Term]\n" + s for s in kept).rstrip("\n")
                                   + "\n", encoding="utf-8")
    ids = {s.split("\n", 1)[0].removeprefix("id: ").strip() for s in kept}
    chosen: dict[str, None] = {}
    # (file, term column, disease column)
    for name, term_col, disease_col in (("phenotype.hpoa", 3, 0),
                                        ("genes_to_phenotype.txt", 2, 5)):
        out, header_seen = [], False
        for line in (src / name).read_text(encoding="utf-8").splitlines(keepends=True):
            if line.startswith("#") or not header_seen:
                out.append(line)
                header_seen = header_seen or not line.startswith("#")
                continue
            fields = line.rstrip("\n").split("\t")
            disease = fields[disease_col]
            if name == "phenotype.hpoa" and disease not in chosen and len(chosen) < diseases:
                chosen[disease] = None
            if fields[term_col] in ids and disease in chosen:
                out.append(line)
        (folder / name).write_text("".join(out), encoding="utf-8")
    return folder


def graph_counts(fs: FaultServer) -> dict:
    nodes = {r["label"]: r["n"] for r in fs.query(
        "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n")}
    rels = {r["type"]: r["n"] for r in fs.query(
        "MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS n")}
    return {"nodes": nodes, "relationships": rels}


def duplicates(fs: FaultServer) -> int:
    """Nodes sharing a label and id, plus relationships sharing type, ends and run id."""
    nodes = fs.query("MATCH (n) UNWIND labels(n) AS label WITH label, n.id AS id, count(*) AS c "
                     "WHERE c > 1 RETURN count(*) AS d")[0]["d"]
    # properties(r).run_id: no "unknown property key" notice on graphs without predictions
    rels = fs.query("MATCH (a)-[r]->(b) WITH a, b, type(r) AS t, properties(r).run_id AS run, "
                    "count(*) AS c WHERE c > 1 RETURN count(*) AS d")[0]["d"]
    return nodes + rels


def missing_rows(expected: dict, counts: dict) -> int:
    """Expected nodes and relationships absent from ``counts`` (both as graph_counts)."""
    return sum(max(0, n - counts[kind].get(key, 0))
               for kind in ("nodes", "relationships") for key, n in expected[kind].items())


def missing_provenance(fs: FaultServer) -> int:
    """Nodes and relationships without a source, source version or load time."""
    return fs.query(
        "CALL () { MATCH (n) WHERE n.source IS NULL OR n.source_version IS NULL "
        "OR n.loaded_at IS NULL RETURN count(n) AS c UNION ALL "
        "MATCH ()-[r]->() WHERE NOT type(r) STARTS WITH 'PREDICTED_' AND (r.source IS NULL "
        "OR r.source_version IS NULL OR r.loaded_at IS NULL) RETURN count(r) AS c } "
        "RETURN sum(c) AS missing")[0]["missing"]


FAULT_LOG = "MEDGEN_FAULT_LOG"


@pytest.fixture
def fault_log(request):
    """``record(fault, **figures)``: one JSON line per try of a fault, appended to the file
    MEDGEN_FAULT_LOG names (``benchmarks/faults.py`` sets it and tabulates the lines);
    nothing without it. Tests record what they measured before asserting on it."""
    path = os.environ.get(FAULT_LOG)

    def record(fault: str, **figures) -> None:
        if path:
            with open(path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"test": request.node.nodeid, "fault": fault, **figures})
                          + "\n")
    return record

