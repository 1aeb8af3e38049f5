"""The broker's exceptions, each with a stable code."""

from __future__ import annotations


class BrokerError(Exception):
    """Base of the broker's own failures."""

    code = "broker_error"
    description = "The broker failed."
    status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.description)


class ConfigError(BrokerError):
    code = "config_error"
    description = "The broker's configuration is incomplete or invalid."


class InputError(BrokerError):
    """Bad input from an operator or a client: names the field, and nothing was written."""

    code = "invalid_input"
    description = "The input is not valid."
    status = 400

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


class SchemaMissingError(BrokerError):
    code = "schema_missing"
    description = "The database has no schema yet. Run `broker db upgrade` first."
    status = 503
