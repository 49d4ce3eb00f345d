"""Errors raised by the storage layer.

Messages name settings, positions, versions and Discord ids, never key material, tokens or database passwords.
"""

from __future__ import annotations

from enum import StrEnum


class StorageError(Exception):
    """Base class for everything the storage layer raises on purpose."""


class StorageFault(StrEnum):
    """Why the database cannot be used right now: each is an outage that ends by itself (or by an operator's
    hand), never a fault of the data or of the query. Each engine maps its own errors to these
    (:meth:`bot.storage.sql.SqlStore._fault`)."""

    UNREACHABLE = "unreachable"  # refused or lost connections, the server shutting down or starting
    FULL = "disk full"  # no space left for the database (SQLITE_FULL, SQLSTATE 53100)
    READ_ONLY = "read-only"  # read-only file system or file, a read-only server or transaction
    IO = "I/O error"  # the disk or file system failed a read or a write; a file could not be opened
    BUSY = "busy"  # a lock or a statement timed out (another connection holds the database or a row)
    RESOURCES = "out of resources"  # memory, connection slots


class StoreUnavailable(StorageError):
    """The database cannot be used right now (:class:`StorageFault`: server down or refusing connections,
    connection lost, disk full, read-only, I/O errors, lock timeouts).

    Nothing was written by the call that raised it (its transaction was rolled back). Callers may retry later.
    """

    def __init__(self, database: str, reason: str, fault: StorageFault = StorageFault.UNREACHABLE) -> None:
        self.database = database
        self.fault = fault
        super().__init__(f"the database {database} is unavailable right now: {fault} ({reason})")


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
