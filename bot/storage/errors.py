"""Errors raised by the storage layer.

Messages name settings, positions, versions and Discord ids, never key material, tokens or database passwords.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class for everything the storage layer raises on purpose."""


class StoreUnavailable(StorageError):
    """The database cannot be reached right now (server down, refusing connections, connection lost).

    Nothing was written by the call that raised it. Callers may retry later.
    """

    def __init__(self, database: str, reason: str) -> None:
        self.database = database
        super().__init__(f"the database {database} is unavailable right now ({reason})")


class InvalidEncryptionKey(ValueError):
    """``TOKEN_ENCRYPTION_KEY`` is missing or one of its comma-separated keys is malformed."""


class TokenDecryptError(StorageError):
    """A stored token cannot be decrypted with any configured key (wrong or removed key, or corrupt row)."""


class SchemaTooNew(StorageError):
    """The database was migrated by a newer version of the bot than this one."""

    def __init__(self, database: str, db_version: int, code_version: int) -> None:
        self.database = database
        self.db_version = db_version
        self.code_version = code_version
        super().__init__(
            f"The database {database} has schema version {db_version}, but this version of the bot only "
            f"knows schema versions up to {code_version}. It was used by a newer release of the bot: "
            "upgrade the bot, or point DATABASE_URL at a backup made with this release. "
            "Refusing to start rather than risk damaging your data."
        )


class MigrationError(StorageError):
    """A migration file is invalid or failed to apply (the failed migration was rolled back)."""


class UnsupportedDatabaseURL(StorageError, ValueError):
    """``DATABASE_URL`` names a backend this release cannot use, or is malformed."""
