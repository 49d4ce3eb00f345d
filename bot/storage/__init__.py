"""Storage: linked accounts, link states, guild settings, shared messages, notices, the ratings outbox and the
bot processes running on the database.

The rest of the bot uses the :class:`Store` interface only (``await open_store(settings.database_url,
settings.cipher(), options=...)``); no SQL lives outside this package, and this
package never imports ``discord``. The SQL is written once (:mod:`bot.storage.sql`) for both engines,
SQLite (:mod:`bot.storage.sqlite`) and PostgreSQL (:mod:`bot.storage.postgres`, loaded only when used).
"""

from bot.storage.base import Clock, RawRow, Store
from bot.storage.crypto import TokenCipher
from bot.storage.errors import (
    InvalidEncryptionKey,
    MigrationError,
    SchemaTooNew,
    StorageError,
    StorageFault,
    StoreUnavailable,
    TokenDecryptError,
    UnsupportedDatabaseURL,
)
from bot.storage.factory import DatabaseURL, latest_schema_version, open_store, parse_database_url
from bot.storage.models import (
    EXPIRED_HOLDS_NOTICE,
    Account,
    AccountStatus,
    ClosedWeek,
    HoldReason,
    LinkState,
    LinkStateResult,
    MixtapeJob,
    MixtapeMember,
    OutboxEntry,
    PendingMatch,
    ProcessRecord,
    RatingValue,
    RecapSettings,
    SharedMessage,
    StoreCounts,
    TopItem,
    TopSharer,
)
from bot.storage.options import StoreOptions
from bot.storage.schema import Migration, load_migrations
from bot.storage.sqlite import SqliteStore
from bot.storage.transfer import CopyRefused, CopyReport, CopyVerificationFailed, copy_database

__all__ = [
    "EXPIRED_HOLDS_NOTICE",
    "Account",
    "AccountStatus",
    "Clock",
    "ClosedWeek",
    "CopyRefused",
    "CopyReport",
    "CopyVerificationFailed",
    "DatabaseURL",
    "HoldReason",
    "InvalidEncryptionKey",
    "LinkState",
    "LinkStateResult",
    "Migration",
    "MigrationError",
    "MixtapeJob",
    "MixtapeMember",
    "OutboxEntry",
    "PendingMatch",
    "ProcessRecord",
    "RatingValue",
    "RawRow",
    "RecapSettings",
    "SchemaTooNew",
    "SharedMessage",
    "SqliteStore",
    "StorageError",
    "StorageFault",
    "Store",
    "StoreCounts",
    "StoreOptions",
    "StoreUnavailable",
    "TokenCipher",
    "TokenDecryptError",
    "TopItem",
    "TopSharer",
    "UnsupportedDatabaseURL",
    "copy_database",
    "latest_schema_version",
    "load_migrations",
    "open_store",
    "parse_database_url",
]
