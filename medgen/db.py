"""Builds the Neo4j driver from settings: the only place in the project that does."""

from __future__ import annotations

import neo4j
from neo4j.exceptions import AuthError, ServiceUnavailable

from medgen.errors import ServerError
from medgen.neo4j_server import ManagedServer
from medgen.settings import Neo4jSettings


def connect(settings: Neo4jSettings | None = None, *, start: bool = True) -> neo4j.Driver:
    """A verified driver. With the managed server, start it first when ``start``."""
    settings = settings or Neo4jSettings.from_env()
    password = settings.secret()
    if settings.managed:
        server = ManagedServer()
        if start:
            server.start()
        elif not server.status().running:
            raise ServerError(
                "the managed Neo4j is not running: start it with `medgen neo4j start`")
        password = server.password()
    driver = neo4j.GraphDatabase.driver(settings.uri, auth=(settings.user, password))
    try:
        driver.verify_connectivity()
    except AuthError as err:
        driver.close()
        raise ServerError(
            f"Neo4j at {settings.uri} refused the credentials for user {settings.user!r}: "
            "check NEO4J_USER / NEO4J_PASSWORD"
        ) from err
    except (ServiceUnavailable, OSError, ValueError) as err:
        driver.close()
        hint = ("start it with `medgen neo4j start`" if settings.managed
                else "check NEO4J_URI and that the server is up")
        raise ServerError(f"Neo4j at {settings.uri} is not reachable: {hint}") from err
    return driver
