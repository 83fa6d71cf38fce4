"""Runs last (pytest collects folders by name): no log or report the suite produced holds a
Neo4j password. Every managed server the suite started keeps its password in a file named
``password`` under pytest's temporary folder; every other file there (Neo4j's logs, run
folders, reports, dumps' neighbours, CSV and JSON outputs) is searched for each of them."""

from __future__ import annotations

from pathlib import Path


def test_no_password_in_any_log_or_report(neo4j_server, tmp_path_factory):
    base = Path(tmp_path_factory.getbasetemp())
    password_files = [p for p in base.rglob("password") if p.is_file()]
    passwords = {p.read_bytes().strip() for p in password_files} - {b""}
    if neo4j_server.password:
        passwords.add(neo4j_server.password.encode())
    assert passwords, "no server password found: the check would prove nothing"
    searched, leaks = 0, []
    for path in base.rglob("*"):
        # the password files themselves, and Neo4j's store files (binary, the hashed auth)
        if (not path.is_file() or path.name == "password" or "databases" in path.parts
                or "transactions" in path.parts or path.suffix == ".dump"):
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        searched += 1
        leaks += [str(path) for pw in passwords if pw in data]
    assert searched > 0
    assert leaks == []
