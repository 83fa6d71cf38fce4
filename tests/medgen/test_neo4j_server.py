"""The managed Neo4j server: configuration, the password file, refusals, and one real
start/stop cycle. The Neo4j jars come from the shared cache (``install_jars``)."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import neo4j
import pytest

from medgen.errors import ServerError
from medgen.neo4j_server import (
    ENTRY_POINT,
    ManagedServer,
    _java,
    _pid_alive,
    free_port,
    install_browser,
    install_jars,
    port_is_open,
)
from medgen.settings import BROWSER_VERSION, NEO4J_VERSION


def read_conf(server: ManagedServer) -> dict[str, str]:
    lines = (server.conf_dir / "neo4j.conf").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture
def server(tmp_path) -> ManagedServer:
    return ManagedServer(home=tmp_path / "home", port=free_port(), http_port=free_port(),
                         heap="256m", pagecache="32m")


def test_install_jars_reuses_the_cache():
    t0 = time.monotonic()
    lib = install_jars()
    assert time.monotonic() - t0 < 5  # a finished install is never redone
    assert (lib.parent / "complete").read_text().strip() == NEO4J_VERSION
    assert any(p.name == f"neo4j-{NEO4J_VERSION}.jar" for p in lib.iterdir())


def test_install_jars_without_maven_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDGEN_CACHE_DIR", str(tmp_path / "cache"))  # an empty cache
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn
    with pytest.raises(ServerError, match=r"Maven \(mvn\).*NEO4J_URI"):
        install_jars()
    assert not (tmp_path / "cache" / "neo4j" / NEO4J_VERSION / "complete").exists()


def test_java_missing_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerError, match="JAVA_HOME"):
        _java()


def test_configure_binds_localhost_with_auth_and_a_private_password(server):
    server.configure()
    conf = read_conf(server)
    assert conf["server.default_listen_address"] == "127.0.0.1"
    assert conf["server.bolt.listen_address"] == f"127.0.0.1:{server.port}"
    assert conf["server.bolt.advertised_address"] == f"127.0.0.1:{server.port}"
    assert conf["dbms.security.auth_enabled"] == "true"
    # HTTP serves Neo4j Browser on loopback only; no HTTPS
    assert conf["server.http.enabled"] == "true" and conf["server.https.enabled"] == "false"
    assert conf["server.http.listen_address"] == f"127.0.0.1:{server.http_port}"
    assert server.browser_url == f"http://127.0.0.1:{server.http_port}/browser/"
    assert stat.S_IMODE(server.home.stat().st_mode) == 0o700
    assert conf["server.memory.pagecache.size"] == "32m"
    for key, folder in [("data", server.data_dir), ("logs", server.logs_dir),
                        ("run", server.pid_file.parent), ("plugins", server.home / "plugins")]:
        assert conf[f"server.directories.{key}"] == str(folder)
        assert Path(conf[f"server.directories.{key}"]).is_relative_to(server.home)
    assert server.data_dir.is_dir() and server.logs_dir.is_dir()

    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    password = server.password()
    # hex only: neo4j-admin once took a generated password starting with '-' for an option
    assert re.fullmatch(r"[0-9a-f]{36}", password)

    # a second configure (another port, say) rewrites the config, keeps the password
    server.port = free_port()
    server.configure()
    assert read_conf(server)["server.bolt.listen_address"] == f"127.0.0.1:{server.port}"
    assert server.password() == password
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600


def test_defaults_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDGEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MEDGEN_NEO4J_PORT", "23456")
    monkeypatch.setenv("MEDGEN_NEO4J_HEAP", "300m")
    monkeypatch.delenv("MEDGEN_NEO4J_PAGECACHE", raising=False)
    s = ManagedServer()
    assert (s.home, s.port, s.uri, s.heap, s.pagecache) == (
        tmp_path / "neo4j", 23456, "bolt://127.0.0.1:23456", "300m", "256m")


def test_status_of_a_never_started_home(server):
    st = server.status()
    assert not st.running and st.pid is None
    assert (st.uri, st.home, st.log) == (server.uri, server.home,
                                        server.home / "logs" / "console.log")
    assert not server.home.exists()  # asking does not create anything


def test_password_before_the_first_start_says_what_to_do(server):
    with pytest.raises(ServerError, match="medgen neo4j start"):
        server.password()


def test_stop_when_not_running_returns_false(server):
    assert server.stop() is False


def test_a_stale_pid_file_naming_another_program_is_never_signalled(server):
    # the kernel reuses pids: a pid file left by a killed server may name anything now
    other = subprocess.Popen(["sleep", "60"])
    try:
        server.pid_file.parent.mkdir(parents=True)
        server.pid_file.write_text(f"{other.pid}\n")
        assert _pid_alive(other.pid) and not server.owns(other.pid)
        assert server.pid() is None and server.status().running is False
        assert server.stop() is False
        time.sleep(0.2)
        assert other.poll() is None  # still running: never signalled
        assert not server.pid_file.exists()
    finally:
        other.kill()
        other.wait()


def test_owns_needs_the_entry_point_and_this_home(server, tmp_path):
    # a process whose command line names the entry point but another home is not ours
    fake = subprocess.Popen(["bash", "-c", "sleep 60; true", ENTRY_POINT,
                             f"--home-dir={tmp_path / 'elsewhere'}"])
    mine = subprocess.Popen(["bash", "-c", "sleep 60; true", ENTRY_POINT,
                             f"--home-dir={server.home}"])
    try:
        time.sleep(0.1)
        assert not server.owns(fake.pid)
        assert server.owns(mine.pid)
        assert not server.owns(os.getpid())
    finally:
        for p in (fake, mine):
            p.kill()
            p.wait()


def test_the_password_never_shows_on_a_command_line(server):
    """set-initial-password runs while /proc is watched: the JVM is seen, the password is
    not in any process's command line."""
    seen_admin, done = [], threading.Event()

    def watch():
        while not done.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as fh:
                        cmd = fh.read()
                except OSError:
                    continue
                if b"org.neo4j.cli.AdminTool" in cmd:
                    seen_admin.append(cmd)  # checked below against the password
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        server.configure()
    finally:
        done.set()
        watcher.join()
    password = server.password().encode()
    assert seen_admin, "the watcher never saw neo4j-admin run: the check proved nothing"
    assert all(password not in cmd for cmd in seen_admin)
    assert any(b"set-initial-password" in cmd for cmd in seen_admin)
    # the argument file it read is gone
    assert not list(server.pid_file.parent.glob(".args-*"))


def test_state_folder_that_cannot_be_created_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    server = ManagedServer(home=blocker / "neo4j", port=free_port(), http_port=free_port())
    with pytest.raises(ServerError, match="cannot create the Neo4j state folder.*MEDGEN_STATE_DIR"):
        server.configure()


def test_install_browser_reuses_the_cache():
    lib = install_browser()
    assert (lib.parent / "complete").read_text().strip() == BROWSER_VERSION
    assert any(p.name == f"neo4j-browser-{BROWSER_VERSION}.jar" for p in lib.iterdir())


def test_stop_with_a_stale_pid_file_returns_false_and_cleans_up(server):
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: its pid names no process now
    server.pid_file.parent.mkdir(parents=True)
    server.pid_file.write_text(f"{proc.pid}\n")
    assert server.pid() is None
    assert server.stop() is False
    assert not server.pid_file.exists()


def test_a_zombie_is_not_alive():
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    # wait until it has exited but is not yet reaped (poll() would reap it)
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat") as fh:
            if fh.read().split(")")[-1].split()[0] == "Z":
                break
        time.sleep(0.01)
    assert not _pid_alive(proc.pid)
    proc.wait()
    assert not _pid_alive(proc.pid)
    assert _pid_alive(os.getpid())


def test_start_on_a_taken_port_refuses_and_names_the_setting(server):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        server.port = other.getsockname()[1]
        assert port_is_open("127.0.0.1", server.port)
        with pytest.raises(ServerError, match=f"port {server.port} is taken.*MEDGEN_NEO4J_PORT"):
            server.start()
    assert not server.pid_file.exists()
    assert not (server.conf_dir / "neo4j.conf").exists()  # refused before touching anything


def test_start_reports_a_server_that_exits(server):
    server.heap = "not-a-size"  # the JVM refuses to start
    with pytest.raises(ServerError, match="exited with code.*console.log"):
        server.start(timeout=60)
    assert server.status().running is False


@pytest.mark.neo4j
@pytest.mark.slow
def test_start_status_stop_cycle(server):
    st = server.start(timeout=120)
    try:
        assert st.running and isinstance(st.pid, int) and _pid_alive(st.pid)
        assert server.start().pid == st.pid  # already running: the same server
        again = ManagedServer(home=server.home, port=server.port).status()
        assert again.running and again.pid == st.pid  # another process sees it too
        with neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", server.password())) as d:
            d.verify_connectivity()
            assert d.execute_query("RETURN 1 AS one").records[0]["one"] == 1
        with pytest.raises(neo4j.exceptions.AuthError):
            with neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", "wrong")) as d:
                d.verify_connectivity()
        # Neo4j Browser on loopback: the page, and the discovery document pointing at Bolt
        assert st.browser == server.browser_url
        with urllib.request.urlopen(server.browser_url, timeout=10) as page:
            assert page.status == 200
            assert "text/html" in page.headers["Content-Type"]
            assert b"<html" in page.read().lower()
        # nothing listens on the machine's other addresses
        for host in _other_addresses():
            assert not port_is_open(host, server.port) and not port_is_open(host, server.http_port)
    finally:
        stopped = server.stop()
    assert stopped is True
    assert not _pid_alive(st.pid)
    assert not server.pid_file.exists()
    assert not port_is_open("127.0.0.1", server.port)
    assert server.status().running is False and server.status().pid is None
    assert server.stop() is False


def _other_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (may be none in a sandbox)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [a for a in out if "." in a and not a.startswith("127.")]
