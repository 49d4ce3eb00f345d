"""Migrations, database URLs, connection settings, and the no-discord rule for bot/storage."""

from __future__ import annotations

import ast
import asyncio
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

import bot.storage
from bot.storage import (
    DatabaseURL,
    Migration,
    MigrationError,
    SchemaTooNew,
    SqliteStore,
    Store,
    StoreOptions,
    TokenCipher,
    UnsupportedDatabaseURL,
    load_migrations,
    open_store,
    parse_database_url,
)
from bot.storage.sqlite import split_statements
from tests.fixtures.storage import StoreFactory

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0


def _versions(db_path: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(db_path)) as conn:
        return [(int(v), str(n)) for v, n in conn.execute("SELECT version, name FROM schema_version ORDER BY 1")]


def _tables(db_path: Path) -> set[str]:
    with closing(sqlite3.connect(db_path)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_shipped_migrations_are_numbered_and_split() -> None:
    migrations = load_migrations()
    assert [(m.version, m.name) for m in migrations][:2] == [(1, "initial"), (2, "outbox")]
    for migration in migrations:
        assert split_statements(migration.sql)


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_fresh_database_gets_every_migration(store: SqliteStore, db_path: Path) -> None:
    latest = load_migrations()[-1].version
    assert await store.schema_version() == latest
    assert _versions(db_path) == [(m.version, m.name) for m in load_migrations()]
    assert {"accounts", "link_states", "guild_share_channels", "shared_messages", "outbox", "notices"} <= (
        _tables(db_path)
    )


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_connection_settings(store: SqliteStore) -> None:
    assert await store.pragmas() == {
        "journal_mode": "wal",
        "synchronous": "1",  # NORMAL
        "foreign_keys": "1",
        "secure_delete": "1",
        "busy_timeout": "10000",
    }


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_database_from_migration_1_is_upgraded_in_place(
    store_factory: StoreFactory, db_path: Path, cipher: TokenCipher
) -> None:
    old = await store_factory(migrations=load_migrations()[:1])
    assert await old.schema_version() == 1
    await old.add_share_channel(1, 2)
    await old.close()
    # An account row and a link state as the version-1 code wrote them (plain SQL: that code knew nothing of
    # the outbox, and its link states were signed nonces).
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            "INSERT INTO link_states (nonce, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            ("nonce-7", 7, T0, T0 + 600),
        )
        conn.execute(
            "INSERT INTO accounts (user_id, token_enc, storefront, linked_at, last_used) VALUES (?, ?, ?, ?, ?)",
            (7, cipher.encrypt("token-seven-" + "q" * 30), "us", T0, T0),
        )
    assert "outbox" not in _tables(db_path) and "accounts" in _tables(db_path)

    new = await store_factory()
    assert await new.schema_version() == load_migrations()[-1].version
    assert await new.get_user_token(7) == "token-seven-" + "q" * 30
    account = await new.get_account(7)
    assert account is not None and account.linked_at == T0
    assert await new.is_share_channel(1, 2)
    assert await new.pending_link(7, T0 + 1) is None  # migration 3 drops open links of the old kind
    entry = await new.enqueue(7, "songs", "1", 1, T0, debounce=0)  # the new tables work
    assert [e.id for e in await new.claim_due("w", T0)] == [entry.id]


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_newer_schema_stops_with_a_clear_message(store_factory: StoreFactory, db_path: Path) -> None:
    current = await store_factory()
    await current.close()
    with pytest.raises(SchemaTooNew) as info:
        await store_factory(migrations=load_migrations()[:1])
    message = str(info.value)
    assert f"schema version {load_migrations()[-1].version}" in message
    assert "up to 1" in message and "upgrade the bot" in message and str(db_path) in message

    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'from_the_future', 0)")
    with pytest.raises(SchemaTooNew, match="schema version 99") as info:
        await store_factory()
    assert info.value.db_version == 99 and info.value.code_version == load_migrations()[-1].version
    assert _versions(db_path)[-1] == (99, "from_the_future")  # nothing was touched


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_reopening_is_idempotent(store_factory: StoreFactory, db_path: Path) -> None:
    for round_ in range(3):
        store = await store_factory()
        await store.add_share_channel(1, round_)
        await store.close()
    assert _versions(db_path) == [(m.version, m.name) for m in load_migrations()]
    store = await store_factory()
    assert await store.list_share_channels(1) == [0, 1, 2]


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_concurrent_first_opens_apply_each_migration_once(store_factory: StoreFactory, db_path: Path) -> None:
    stores = await asyncio.gather(*(store_factory() for _ in range(3)))
    assert all(isinstance(s, SqliteStore) for s in stores)
    assert _versions(db_path) == [(m.version, m.name) for m in load_migrations()]


@pytest.mark.sqlite_only  # SQLite's own migrations and files; PostgreSQL: test_storage_postgres.py
async def test_failed_migration_is_rolled_back(store_factory: StoreFactory, db_path: Path) -> None:
    broken = (
        *load_migrations(),
        Migration(
            len(load_migrations()) + 1,
            "broken",
            "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        ),
    )
    with pytest.raises(MigrationError, match="broken failed and was rolled back"):
        await store_factory(migrations=broken)
    assert "half_done" not in _tables(db_path)
    assert _versions(db_path)[-1][0] == load_migrations()[-1].version
    store = await store_factory()  # the database is still usable
    assert await store.outbox_size() == 0


def test_split_statements_handles_semicolons_in_strings_comments_and_triggers() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    /* block; comment */
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d' WHERE rowid = new.rowid;
        SELECT 1;
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT 'a;b');") and statements[1].endswith("END;")
    with pytest.raises(MigrationError, match="unterminated"):
        split_statements("CREATE TABLE a (x);\nCREATE TABLE b (y)")


def test_migration_files_must_be_numbered_without_gaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fake_migration_pkg"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "0001_first.sql").write_text("CREATE TABLE a (x);")
    (package / "migrations" / "0003_third.sql").write_text("CREATE TABLE c (x);")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="expected 0002, found 0003_third"):
        load_migrations("fake_migration_pkg")
    (package / "migrations" / "0003_third.sql").rename(package / "migrations" / "2_Bad-Name.sql")
    with pytest.raises(MigrationError, match="NNNN_lowercase_name"):
        load_migrations("fake_migration_pkg")


# ---------------------------------------------------------------------- URLs and the factory
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/bot.db", "data/bot.db"),
        ("sqlite:///bot.db", "bot.db"),
        ("sqlite:////var/lib/bot/bot.db", "/var/lib/bot/bot.db"),
        ("sqlite:///my%20dir/bot.db", "my dir/bot.db"),
        ("SQLITE:///x.db", "x.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    assert parse_database_url(url) == DatabaseURL("sqlite", path, path)


@pytest.mark.parametrize(
    ("url", "dsn", "location"),
    [
        (
            "postgresql://bot:s3cr3t@db:5433/ratings",
            "postgresql://bot:s3cr3t@db:5433/ratings",
            "postgresql://db:5433/ratings",
        ),
        ("postgres://bot@127.0.0.1/bot", "postgresql://bot@127.0.0.1/bot", "postgresql://127.0.0.1:5432/bot"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql://u:p@h/d", "postgresql://h:5432/d"),
        (" POSTGRESQL://h ", "postgresql://h", "postgresql://h:5432/(default)"),
        (
            "postgresql:///bot?host=/run/postgresql",
            "postgresql:///bot?host=/run/postgresql",
            "postgresql://localhost:5432/bot",
        ),
    ],
)
def test_postgresql_urls(url: str, dsn: str, location: str) -> None:
    parsed = parse_database_url(url)
    assert (parsed.engine, parsed.target, parsed.location) == ("postgres", dsn, location)
    assert "s3cr3t" not in repr(parsed) and "s3cr3t" not in str(parsed)


def test_parsing_a_url_opens_nothing_and_never_loads_asyncpg(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from bot.storage import parse_database_url\n"
        f"parse_database_url('sqlite:///{tmp_path}/never.db')\n"
        "parse_database_url('postgresql://bot:pw@127.0.0.1:1/bot')\n"
        "assert 'asyncpg' not in sys.modules, 'asyncpg was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok" and not (tmp_path / "never.db").exists()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sqlite://data/bot.db", "three slashes"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///data/", "names no database file"),
        ("sqlite:///bot.db?mode=ro", "no query string"),
        ("mysql://u:hunter2@h/db", "'mysql' is not supported"),
        ("data/bot.db", "'missing' is not supported"),
        ("postgresql://", "names no server"),
        ("postgres:bot", "names no server"),
    ],
)
async def test_bad_urls_are_clear_errors(url: str, match: str, cipher: TokenCipher) -> None:
    with pytest.raises(UnsupportedDatabaseURL, match=match) as info:
        parse_database_url(url)
    assert "hunter2" not in str(info.value)
    with pytest.raises(UnsupportedDatabaseURL, match=match):
        await open_store(url, cipher)


async def test_unreachable_postgresql_is_a_clear_error_without_the_password(cipher: TokenCipher) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for scheme in ("postgresql", "postgres"):
        url = f"{scheme}://bot:s3cr3t-pw@127.0.0.1:{port}/bot"
        expected = f"cannot connect to the PostgreSQL database postgresql://127.0.0.1:{port}/bot"
        with pytest.raises(bot.storage.StorageError, match=expected) as info:
            await open_store(url, cipher)
        assert "s3cr3t-pw" not in str(info.value) and info.value.__cause__ is None


async def test_open_store_creates_parent_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cipher: TokenCipher
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = await open_store("sqlite:///data/sub/bot.db", cipher)
    absolute = await open_store(f"sqlite:///{tmp_path}/abs/dir/bot.db", cipher)
    try:
        assert isinstance(relative, Store) and isinstance(absolute, Store)
        await relative.add_share_channel(1, 1)
        assert (tmp_path / "data" / "sub" / "bot.db").exists()
        assert (tmp_path / "abs" / "dir" / "bot.db").exists()
    finally:
        await relative.close()
        await absolute.close()
    async with await open_store("sqlite:///:memory:", cipher) as memory:
        assert await memory.outbox_size() == 0


async def test_store_options_reach_the_engine(
    store_backend: str, db_path: Path, cipher: TokenCipher, request: pytest.FixtureRequest
) -> None:
    """Defaults are today's values; a changed knob changes what the store does (one per engine here)."""
    assert StoreOptions() == StoreOptions(60.0, 10_000, 60.0, 10.0, 1, 10, 10.0, 60.0)
    options = StoreOptions(busy_timeout=2.5, touch_interval=5.0, pool_min_size=2, pool_max_size=3)
    if store_backend == "sqlite":
        url = f"sqlite:///{db_path}"
    else:
        url = await request.getfixturevalue("postgres_server").create_database()
    async with await open_store(url, cipher, clock=lambda: T0, options=options) as store:
        await store.link_account(1, "token-" + "t" * 40, "us", now=T0)
        await store.touch_account(1, now=T0 + 5)
        account = await store.get_account(1)
        assert account is not None and account.last_used == T0 + 5  # not 60 s: the option's 5 s
        if isinstance(store, SqliteStore):
            assert (await store.pragmas())["busy_timeout"] == "2500"
        else:
            conn = await asyncpg.connect(url)
            try:
                name = url.rsplit("/", 1)[1]
                count = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'ratings-%'"
                assert await conn.fetchval(count, name) == 2  # pool_min_size connections opened at once
            finally:
                await conn.close()
    for bad in ({"pool_min_size": 4, "pool_max_size": 3}, {"token_cache_size": 0}, {"touch_interval": -1}):
        with pytest.raises(ValueError, match="StoreOptions"):
            StoreOptions(**bad)  # type: ignore[arg-type]


@pytest.mark.sqlite_only  # PostgreSQL never caches tokens: test_an_unlink_by_another_process_takes_effect_at_once
async def test_the_token_cache_follows_the_options(
    store_factory: StoreFactory, db_path: Path, cipher: TokenCipher
) -> None:
    token = "token-cached-" + "c" * 40
    writer = await store_factory()
    await writer.link_account(1, token, "us")
    cached = await SqliteStore.open(db_path, cipher)
    uncached = await SqliteStore.open(db_path, cipher, options=StoreOptions(token_cache_seconds=0))
    try:
        assert await cached.get_user_token(1) == token and await uncached.get_user_token(1) == token
        assert await writer.unlink(1)  # another connection (another process) unlinks
        assert await cached.get_user_token(1) == token  # cached for up to token_cache_seconds
        assert await uncached.get_user_token(1) is None  # no cache: reads the file every time
    finally:
        await cached.close()
        await uncached.close()


async def test_closed_store_refuses_work(store: SqliteStore) -> None:
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(bot.storage.StorageError, match="closed"):
        await store.outbox_size()


# ---------------------------------------------------------------------- never import discord
def test_storage_never_imports_discord() -> None:
    package_dir = Path(bot.storage.__file__).parent
    modules = sorted(f"bot.storage.{p.stem}" for p in package_dir.glob("*.py") if p.stem != "__init__")
    assert "bot.storage.sqlite" in modules
    for source in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "discord" or n.startswith("discord.") for n in names), source
    code = (
        "import importlib, sys\n"
        f"for name in {['bot.storage', *modules]!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'discord' or m.startswith('discord.'))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
