"""Where things live and which Neo4j to talk to, from the environment.

With no ``NEO4J_URI`` the project manages its own local server (see
:mod:`medgen.neo4j_server`); with it, every command uses that server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from medgen.errors import SettingsError
from training.paths import cache_dir, state_dir  # noqa: F401  (re-exported)

NEO4J_VERSION = "5.26.30"
DEFAULT_BOLT_PORT = 17687  # not 7687, so a user's own Neo4j on the default port is left alone


def bolt_port() -> int:
    """The managed server's Bolt port: ``MEDGEN_NEO4J_PORT`` or the default."""
    text = os.environ.get("MEDGEN_NEO4J_PORT") or str(DEFAULT_BOLT_PORT)
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise SettingsError(f"MEDGEN_NEO4J_PORT must be a port number (1-65535), got {text!r}")
    return port


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str
    user: str
    password: str | None  # None: read the managed server's password file
    database: str | None
    managed: bool  # True when the project runs the server itself

    @classmethod
    def from_env(cls) -> Neo4jSettings:
        uri = os.environ.get("NEO4J_URI")
        database = os.environ.get("NEO4J_DATABASE") or None
        if uri:
            password = os.environ.get("NEO4J_PASSWORD")
            if password is None:
                raise SettingsError(
                    "NEO4J_URI is set but NEO4J_PASSWORD is not: set it too "
                    "(and NEO4J_USER if it is not 'neo4j')"
                )
            return cls(uri, os.environ.get("NEO4J_USER", "neo4j"), password, database, False)
        return cls(f"bolt://127.0.0.1:{bolt_port()}", "neo4j", None, database, True)
