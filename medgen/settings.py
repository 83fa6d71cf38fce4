"""Where things live and which Neo4j to talk to, from the environment.

Read through pydantic-settings: ``NEO4J_URI`` / ``NEO4J_USER`` /
``NEO4J_PASSWORD`` / ``NEO4J_DATABASE`` pick the server, ``MEDGEN_NEO4J_*``
tune the managed one. With no ``NEO4J_URI`` the project manages its own local
server (see :mod:`medgen.neo4j_server`); with it, every command uses that
server. The password is a :class:`~pydantic.SecretStr`: it prints as stars in
every ``repr``, log line and error message, and only ``get_secret_value()``
(at the driver's door) reveals it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from medgen.errors import SettingsError
from training.paths import cache_dir, state_dir  # noqa: F401  (re-exported)

NEO4J_VERSION = "5.26.30"
# Neo4j Browser's own release line: 5.24.0 is the newest on Maven Central and serves from
# a 5.26 server when its jar is on the classpath
BROWSER_VERSION = "5.24.0"
DEFAULT_BOLT_PORT = 17687  # not 7687, so a user's own Neo4j on the default port is left alone
DEFAULT_HTTP_PORT = 17474  # not 7474, likewise


def _settings_error(err: ValidationError, prefix: str) -> SettingsError:
    """The first problem as one line naming the variable and the value given (never the
    password: no password field is validated beyond being a string)."""
    first = err.errors()[0]
    name = prefix + str(first["loc"][0]).upper() if first["loc"] else prefix.rstrip("_")
    return SettingsError(f"{name} {first['msg'].lower()}, got {first.get('input')!r}")


class ManagedServerSettings(BaseSettings):
    """The managed server's knobs (``MEDGEN_NEO4J_PORT``, ``_HTTP_PORT``, ``_HEAP``,
    ``_PAGECACHE``)."""

    model_config = SettingsConfigDict(env_prefix="MEDGEN_NEO4J_", frozen=True, extra="ignore",
                                      env_ignore_empty=True, str_strip_whitespace=True)

    port: int = Field(DEFAULT_BOLT_PORT, gt=0, lt=65536)
    http_port: int = Field(DEFAULT_HTTP_PORT, gt=0, lt=65536)
    heap: str = "1g"
    pagecache: str = "256m"

    @model_validator(mode="before")
    @classmethod
    def _whole_ports(cls, data: Any) -> Any:
        # pydantic reads "7688.0" as 7688; a port is a whole number as written
        for key in ("port", "http_port"):
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str) and not value.strip().isdigit():
                raise _port_error(key, value)
        return data

    @classmethod
    def from_env(cls) -> ManagedServerSettings:
        try:
            return cls()
        except ValidationError as err:
            first = err.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else ""
            if key in ("port", "http_port"):
                raise _port_error(key, first.get("input")) from None
            raise _settings_error(err, "MEDGEN_NEO4J_") from None


def _port_error(key: str, value: Any) -> SettingsError:
    return SettingsError(f"MEDGEN_NEO4J_{key.upper()} must be a port number (1-65535), "
                         f"got {value!r}")


def bolt_port() -> int:
    """The managed server's Bolt port: ``MEDGEN_NEO4J_PORT`` or the default."""
    return ManagedServerSettings.from_env().port


def http_port() -> int:
    """The managed server's HTTP (Neo4j Browser) port: ``MEDGEN_NEO4J_HTTP_PORT`` or the
    default."""
    return ManagedServerSettings.from_env().http_port


class Neo4jSettings(BaseSettings):
    """Which Neo4j to use. ``managed`` is True when the project runs the server itself;
    ``password`` is None then (the managed server's password file holds it)."""

    model_config = SettingsConfigDict(env_prefix="NEO4J_", frozen=True, extra="ignore")

    uri: str
    user: str = "neo4j"
    password: SecretStr | None = None
    database: str | None = None
    managed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _managed_or_external(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # derived, never read: a stray NEO4J_MANAGED in the environment means nothing
        data.pop("managed", None)
        if not data.get("database"):
            data["database"] = None  # empty means unset
        if not data.get("user"):
            data.pop("user", None)
        if data.get("uri"):
            if data.get("password") is None:
                raise SettingsError(
                    "NEO4J_URI is set but NEO4J_PASSWORD is not: set it too "
                    "(and NEO4J_USER if it is not 'neo4j')"
                )
            data["managed"] = False
        else:
            # a server without auth takes any password, so an empty one is still a
            # password for an external server; the managed one reads its file
            data.update(uri=f"bolt://127.0.0.1:{bolt_port()}", user="neo4j", password=None,
                        managed=True)
        return data

    @classmethod
    def from_env(cls) -> Neo4jSettings:
        try:
            return cls()
        except ValidationError as err:
            raise _settings_error(err, "NEO4J_") from None

    def secret(self) -> str | None:
        """The password itself, for the driver only."""
        return self.password.get_secret_value() if self.password is not None else None
