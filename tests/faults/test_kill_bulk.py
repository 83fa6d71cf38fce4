"""A bulk build (`kg build --bulk`: stop the server, `neo4j-admin database import` into a
staging folder, swap the store in, start again) SIGKILLed while neo4j-admin runs: the
database the user had is intact when the server starts again, and a rerun completes.

The build runs in its own process through ``medgen.pipeline.build_bulk`` (what `kg build
--bulk` calls) on a triples graph, so the kill lands in the import in seconds."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from tests.faults.conftest import REPO, duplicates, graph_counts, missing_rows

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

BULK = textwrap.dedent("""
    import sys
    from pathlib import Path

    import neo4j

    from kg.sources.triples import load_triples
    from kg.store import GraphStore
    from kg.tables import with_provenance
    from medgen.neo4j_server import ManagedServer
    from medgen.pipeline import build_bulk

    home, port, http_port, triples = sys.argv[1:]
    server = ManagedServer(home=Path(home), port=int(port), http_port=int(http_port),
                           heap="512m", pagecache="64m")
    tables = with_provenance(load_triples(triples))
    with neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", server.password())) as d:
        store = GraphStore(d)
        store.schema.extend_for(["Entity"], sorted({t.type for t in tables.edges}))
        build_bulk(server, store, [tables])
""")


def bulk(fs, triples) -> subprocess.Popen:
    s = fs.server
    return subprocess.Popen([sys.executable, "-c", BULK, str(s.home), str(s.port),
                             str(s.http_port), str(triples)], env=fs.env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_import(proc: subprocess.Popen) -> psutil.Process:
    """The build's neo4j-admin import process, once it runs."""
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the import never started"
        for child in psutil.Process(proc.pid).children():
            try:
                if "import" in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.02)


def test_bulk_build_killed_during_the_import_leaves_the_old_graph(fault_server, tmp_path,
                                                                  fault_log):
    fs = fault_server
    fs.clear()
    fs.query("UNWIND range(1, 50) AS i CREATE (:Entity {id: 'old-' + i, source: 'old', "
             "source_version: '1', loaded_at: 'then'})")
    before = graph_counts(fs)
    triples = tmp_path / "t.tsv"
    triples.write_text("".join(f"h{i}\trel{i % 3}\tt{i}\n" for i in range(2000)),
                       encoding="utf-8")

    proc = bulk(fs, triples)
    admin = wait_for_import(proc)
    # freeze the build first, so it cannot mark the import complete between the check that
    # neo4j-admin still runs and the kill (on a loaded machine the import may finish first)
    proc.send_signal(signal.SIGSTOP)
    assert admin.is_running() and admin.status() != psutil.STATUS_ZOMBIE, \
        "neo4j-admin finished before the build could be frozen"
    assert not (fs.server.home / "staging" / "complete").exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # neo4j-admin dies with it (PR_SET_PDEATHSIG), and the server is down, as the build
    # stopped it; the next start discards the unfinished import
    assert fs.server.pid() is None
    fs.restart()
    assert not (fs.server.home / "staging").exists()
    after_kill = graph_counts(fs)
    fault_log("`kg build --bulk` SIGKILLed during neo4j-admin import: the old graph",
              where="during the import",
              lost=missing_rows(before, after_kill), duplicates=duplicates(fs),
              exact_counts=after_kill == before)
    assert after_kill == before

    # the rerun completes: exactly the triples' graph (the bulk build replaces the store)
    proc = bulk(fs, triples)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    counts, dup = graph_counts(fs), duplicates(fs)
    fault_log("... and the bulk build rerun", lost=max(0, 4000 - counts["nodes"].get("Entity", 0))
              + max(0, 2000 - sum(counts["relationships"].values())), duplicates=dup,
              exact_counts=counts["nodes"] == {"Entity": 4000}
              and sum(counts["relationships"].values()) == 2000)
    assert counts["nodes"] == {"Entity": 4000}
    assert sum(counts["relationships"].values()) == 2000
    assert dup == 0
    assert fs.server.status().running
