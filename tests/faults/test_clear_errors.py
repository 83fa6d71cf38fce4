"""What a user sees when the world is wrong: Neo4j unreachable, a wrong password, a
database that does not exist, a file-size limit hit while writing (RLIMIT_FSIZE, as a
full disk), a state folder that cannot be created. Each: one clear line, a non-zero
exit, no traceback. Real processes, the faults' own Neo4j."""

from __future__ import annotations

import resource

import pytest

from medgen.neo4j_server import free_port
from tests.faults.conftest import assert_one_clear_line, finish, medgen

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def test_unreachable(fault_server):
    env = fault_server.env(NEO4J_URI=f"bolt://127.0.0.1:{free_port()}")
    code, _, err = finish(medgen("kg", "stats", env=env))
    assert_one_clear_line(code, err, "not reachable", "NEO4J_URI")


def test_wrong_database(fault_server):
    env = fault_server.env(NEO4J_DATABASE="nosuchdb")
    code, _, err = finish(medgen("kg", "stats", env=env))
    assert_one_clear_line(code, err, "nosuchdb")


def test_disk_full_while_exporting(fault_server, tmp_path):
    """A 16 KiB file-size limit (the process's RLIMIT_FSIZE) stands in for a full disk."""
    fault_server.query("UNWIND range(1, 3000) AS i MERGE (:Entity {id: 'fsize-' + i})")
    try:
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

        out = tmp_path / "graph.pt"
        code, _, err = finish(medgen("kg", "export", "--out", str(out),
                                     env=fault_server.env(), preexec_fn=limit))
        assert_one_clear_line(code, err, str(out), "cannot write")
        assert not out.exists() and not list(tmp_path.glob("*.partial"))
    finally:
        fault_server.query("MATCH (n:Entity) WHERE n.id STARTS WITH 'fsize-' DELETE n")


def test_state_folder_that_cannot_be_created(fault_server, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = fault_server.env(MEDGEN_STATE_DIR=str(blocker / "state"),
                           MEDGEN_NEO4J_PORT=str(free_port()),
                           MEDGEN_NEO4J_HTTP_PORT=str(free_port()))
    del env["NEO4J_URI"]  # the managed server, whose home lies under the state folder
    code, _, err = finish(medgen("neo4j", "start", env=env))
    assert_one_clear_line(code, err, "cannot create", "MEDGEN_STATE_DIR")


def test_wrong_password(fault_server):
    # last in this module: Neo4j slows logins down after failed attempts
    env = fault_server.env(NEO4J_PASSWORD=fault_server.password + "-wrong")
    code, _, err = finish(medgen("kg", "stats", env=env))
    assert_one_clear_line(code, err, "refused the credentials", "NEO4J_PASSWORD")
    assert fault_server.password not in err
