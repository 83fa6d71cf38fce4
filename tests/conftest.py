"""Shared fixtures. Integration tests run against a real Neo4j:

- by default the suite starts its own throwaway server (the project's own
  ManagedServer) on a free port in a temporary folder, and removes it at the end;
- with MEDGEN_TEST_NEO4J_URI (+ MEDGEN_TEST_NEO4J_USER / _PASSWORD) it uses that
  server instead, which must hold an empty database: the suite then deletes
  only what it wrote (everything, since it started empty).
"""

from __future__ import annotations

import os
from pathlib import Path

import neo4j
import pytest

from kg.store import GraphStore

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"../shared/data is missing (looked in {SHARED_DATA})")
    return SHARED_DATA


class Neo4jUnderTest:
    def __init__(self, driver: neo4j.Driver, uri: str, user: str, password: str, server=None):
        self.driver, self.uri, self.user, self.password, self.server = (
            driver, uri, user, password, server)

    def env(self) -> dict[str, str]:
        """Environment that points the CLI at this server."""
        return {"NEO4J_URI": self.uri, "NEO4J_USER": self.user, "NEO4J_PASSWORD": self.password}


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory) -> Neo4jUnderTest:
    uri = os.environ.get("MEDGEN_TEST_NEO4J_URI")
    if uri:
        user = os.environ.get("MEDGEN_TEST_NEO4J_USER", "neo4j")
        password = os.environ["MEDGEN_TEST_NEO4J_PASSWORD"]
        driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))
        n = driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]
        if n:
            pytest.exit(f"MEDGEN_TEST_NEO4J_URI names a database with {n} nodes; the tests "
                        "need an empty one (they delete what they write)", returncode=3)
        yield Neo4jUnderTest(driver, uri, user, password)
        GraphStore(driver).clear()
        driver.close()
        return
    from medgen.neo4j_server import ManagedServer, free_port

    home = tmp_path_factory.mktemp("neo4j-home")
    server = ManagedServer(home=home, port=free_port(), http_port=free_port(), heap="768m",
                           pagecache="128m")
    server.start()
    driver = neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", server.password()))
    driver.verify_connectivity()
    try:
        yield Neo4jUnderTest(driver, server.uri, "neo4j", server.password(), server)
    finally:
        driver.close()
        server.stop()


@pytest.fixture
def store(neo4j_server) -> GraphStore:
    """A GraphStore on an empty database."""
    s = GraphStore(neo4j_server.driver)
    s.clear()
    return s


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny tensors run fastest on one thread: OpenMP's start-up and barriers cost more
    than the work, and on a busy 2-core machine (CI beside other jobs) ten times more.
    Session-scoped, so module-scoped fixtures that train a model run on one thread too."""
    import torch  # here, not at the top: most Neo4j-only tests never need it

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- no silent skips in CI -------------------------------------------------------------
def _skips_fail() -> bool:
    """In CI (CI=true, as .ci/run sets it) a skipped test is a failure: a missing
    dependency or data set must turn CI red, not shrink what it tests."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _skips_fail() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skips: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _skips_fail() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI=true, which allows no skips: {reason}"
