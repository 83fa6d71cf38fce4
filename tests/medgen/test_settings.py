"""Settings from the environment: which Neo4j, and where state and cache live."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgen.errors import SettingsError
from medgen.settings import (
    DEFAULT_BOLT_PORT,
    DEFAULT_HTTP_PORT,
    ManagedServerSettings,
    Neo4jSettings,
    bolt_port,
    cache_dir,
    http_port,
    state_dir,
)

ENV = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "NEO4J_MANAGED",
       "MEDGEN_NEO4J_PORT", "MEDGEN_NEO4J_HTTP_PORT", "MEDGEN_NEO4J_HEAP",
       "MEDGEN_NEO4J_PAGECACHE", "MEDGEN_STATE_DIR", "MEDGEN_CACHE_DIR", "XDG_STATE_HOME",
       "XDG_CACHE_HOME")


def plain(s: Neo4jSettings) -> tuple:
    return (s.uri, s.user, s.secret(), s.database, s.managed)


@pytest.fixture
def env(monkeypatch):
    """A clean environment for the settings; returns monkeypatch to set some."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_uri_means_the_managed_server_on_the_default_port(env):
    s = Neo4jSettings.from_env()
    assert plain(s) == (f"bolt://127.0.0.1:{DEFAULT_BOLT_PORT}", "neo4j", None, None, True)
    assert DEFAULT_BOLT_PORT != 7687  # a user's own Neo4j on the default port is left alone


def test_managed_port_and_database_from_env(env):
    env.setenv("MEDGEN_NEO4J_PORT", "12345")
    env.setenv("NEO4J_DATABASE", "graphs")
    s = Neo4jSettings.from_env()
    assert (s.uri, s.database, s.managed, s.secret()) == (
        "bolt://127.0.0.1:12345", "graphs", True, None)


def test_external_server(env):
    env.setenv("NEO4J_URI", "neo4j+s://example.databases.neo4j.io")
    env.setenv("NEO4J_PASSWORD", "s3cret")
    s = Neo4jSettings.from_env()
    assert plain(s) == ("neo4j+s://example.databases.neo4j.io", "neo4j", "s3cret", None, False)
    env.setenv("NEO4J_USER", "alice")
    env.setenv("NEO4J_DATABASE", "kg")
    env.setenv("MEDGEN_NEO4J_PORT", "1")  # ignored for an external server
    s = Neo4jSettings.from_env()
    assert (s.user, s.database, s.uri) == ("alice", "kg", "neo4j+s://example.databases.neo4j.io")


def test_empty_values_mean_unset(env):
    env.setenv("NEO4J_URI", "")
    env.setenv("NEO4J_DATABASE", "")
    s = Neo4jSettings.from_env()
    assert s.managed and s.database is None


def test_empty_password_is_a_password(env):
    # a server without auth takes any password; only a missing one is an error
    env.setenv("NEO4J_URI", "bolt://db:7687")
    env.setenv("NEO4J_PASSWORD", "")
    assert Neo4jSettings.from_env().secret() == ""


def test_uri_without_password_is_an_error(env):
    env.setenv("NEO4J_URI", "bolt://db:7687")
    with pytest.raises(SettingsError, match="NEO4J_PASSWORD"):
        Neo4jSettings.from_env()


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-5", "17687.5"])
def test_bad_port_is_a_settings_error(env, value):
    env.setenv("MEDGEN_NEO4J_PORT", value)
    with pytest.raises(SettingsError, match=f"MEDGEN_NEO4J_PORT.*{value!r}"):
        Neo4jSettings.from_env()


def test_bolt_port(env):
    assert bolt_port() == DEFAULT_BOLT_PORT
    env.setenv("MEDGEN_NEO4J_PORT", " 7688 ")
    assert bolt_port() == 7688


def test_state_dir_overrides(env, tmp_path):
    env.setenv("HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "medgen"
    env.setenv("XDG_STATE_HOME", "")  # empty: as if unset
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "medgen"
    env.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "medgen"
    env.setenv("MEDGEN_STATE_DIR", str(tmp_path / "mine"))
    assert state_dir() == tmp_path / "mine"


def test_cache_dir_overrides(env, tmp_path):
    env.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "medgen"
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "medgen"
    env.setenv("MEDGEN_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    env.setenv("MEDGEN_CACHE_DIR", "")
    assert cache_dir() == tmp_path / "xdg" / "medgen"
    assert isinstance(cache_dir(), Path)


def test_the_password_never_prints(env):
    env.setenv("NEO4J_URI", "bolt://db:7687")
    env.setenv("NEO4J_PASSWORD", "hunter2-secret")
    s = Neo4jSettings.from_env()
    for text in (repr(s), str(s), f"{s}", repr(s.model_dump()), s.model_dump_json()):
        assert "hunter2" not in text, text
    assert s.secret() == "hunter2-secret"


def test_managed_cannot_be_forced_from_the_environment(env):
    env.setenv("NEO4J_MANAGED", "true")
    env.setenv("NEO4J_URI", "bolt://db:7687")
    env.setenv("NEO4J_PASSWORD", "x")
    assert Neo4jSettings.from_env().managed is False
    env.delenv("NEO4J_URI")
    env.setenv("NEO4J_MANAGED", "false")
    assert Neo4jSettings.from_env().managed is True


def test_managed_server_settings(env):
    s = ManagedServerSettings.from_env()
    assert (s.port, s.http_port, s.heap, s.pagecache) == (
        DEFAULT_BOLT_PORT, DEFAULT_HTTP_PORT, "1g", "256m")
    assert http_port() == DEFAULT_HTTP_PORT != 7474
    env.setenv("MEDGEN_NEO4J_HTTP_PORT", "18000")
    env.setenv("MEDGEN_NEO4J_HEAP", "")  # empty: as if unset
    assert (http_port(), ManagedServerSettings.from_env().heap) == (18000, "1g")
    env.setenv("MEDGEN_NEO4J_HTTP_PORT", "1e3")
    with pytest.raises(SettingsError, match="MEDGEN_NEO4J_HTTP_PORT.*'1e3'"):
        http_port()
