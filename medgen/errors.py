"""Errors of the application layer."""

from training.errors import MedgenError


class SettingsError(MedgenError):
    """The environment names an impossible configuration."""


class ServerError(MedgenError):
    """The managed Neo4j server could not be installed, started or stopped."""


class RunError(MedgenError):
    """A training run or its folder cannot be used as asked (missing, from another graph,
    a bad job config, an input the trained model does not know)."""
