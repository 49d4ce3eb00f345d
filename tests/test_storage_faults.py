"""Storage faults are outages, never silence: a full disk, a read-only database, I/O errors and lock timeouts are
raised as :class:`StoreUnavailable` on both engines, like a database server that went away.

Every fault here is real, made without special privileges:

* SQLite, disk full: ``PRAGMA max_page_count`` on the store's own connection (SQLite's own ``SQLITE_FULL``;
  setting it back is space returning), and a file-size limit (``RLIMIT_FSIZE``) on a child process, which makes
  every append to the write-ahead log fail with ``EFBIG`` (SQLite reports ``SQLITE_IOERR_WRITE``: it keeps
  ``SQLITE_FULL`` for ``ENOSPC``). Python ignores ``SIGXFSZ`` from the start, so the write fails, nothing kills it.
* SQLite, read-only: ``PRAGMA query_only`` on the store's connection (the tests may run as root, for whom a
  ``chmod`` stops no write); locked: another connection holding the write lock past the busy timeout.
* PostgreSQL, read-only (25006): ``ALTER DATABASE ... SET default_transaction_read_only``; lock timeout
  (55P03): ``lock_timeout`` while another connection holds a table lock. A full disk (53100) or an I/O error
  (58030) would need a tablespace on a tiny file system, which needs root: their codes are checked as a table.

The storm runs the real bot (``python -m bot``) on each engine: during the fault every reaction is either
applied once the storage is back or its author is told it was not saved, and a command says the bot cannot save.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import resource
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.storage import SqliteStore, StorageFault, Store, StoreOptions, StoreUnavailable, TokenCipher, open_store
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import ROOT, eventually, message_text, process_env
from tests.fixtures.storage import PostgresServer

#: a filler user id (no real member has it)
FILLER = 10_000
MUT = "AgFaultMut" + "z" * 60


async def on_connection(store: Store, sql: str) -> Any:
    """Run a statement on the SQLite store's own connection (``max_page_count`` and ``query_only`` are settings of
    one connection, not of the file), and return its first value."""
    assert isinstance(store, SqliteStore)
    async with store._session() as db:
        return await db.value(sql)


async def fill_until_full(store: Store) -> int:
    """Enqueue filler rows until the store says it is full; returns how many were saved (the next one was not)."""
    saved = 0
    with pytest.raises(StoreUnavailable) as caught:
        for n in range(100_000):
            await store.enqueue(FILLER + n, "songs", str(n), 1)
            saved += 1
    assert caught.value.fault is StorageFault.FULL, caught.value
    return saved


async def refused_then_resumed(store: Store, fault: StorageFault, lift: Callable[[], Awaitable[object]]) -> None:
    """While ``fault`` lasts (user 1 has a 👍 pending): every write raises it and changes nothing, reads go on;
    once ``lift()`` ends it, writes work again, with nothing more done by the test."""
    for write in (store.enqueue(1, "songs", "1", -1), store.link_account(1, MUT, "us"), store.unlink(1)):
        assert (await _raises(write)).fault is fault
    assert await store.get_account(1) is None
    assert [e.value for e in await store.pending_for_user(1)] == [1], "reads go on; nothing was changed"
    assert (await _raises(store.enqueue(1, "songs", "1", -1))).fault is fault, "still, after reads"
    await lift()
    await store.enqueue(1, "songs", "1", -1)
    await store.link_account(1, MUT, "us")
    assert [e.value for e in await store.pending_for_user(1)] == [-1]


# ---------------------------------------------------------------------- SQLite, in process
@pytest.mark.sqlite_only
async def test_sqlite_disk_full_is_an_outage_until_space_returns(store: Store) -> None:
    unlimited = await on_connection(store, "PRAGMA max_page_count")
    pages = await on_connection(store, "PRAGMA page_count")
    await on_connection(store, f"PRAGMA max_page_count = {pages}")
    saved = await fill_until_full(store)
    assert "disk full" in str(await _raises(store.enqueue(FILLER + saved, "songs", str(saved), 1)))
    # nothing half-done, and the connection still serves
    assert await store.outbox_size() == saved
    assert await store.get_account(FILLER) is None
    await on_connection(store, f"PRAGMA max_page_count = {unlimited}")  # space returns
    await store.enqueue(FILLER + saved, "songs", str(saved), 1)
    await store.link_account(FILLER, MUT, "us")
    assert await store.outbox_size() == saved + 1
    assert await store.get_account(FILLER) is not None


@pytest.mark.sqlite_only
async def test_sqlite_read_only_is_an_outage_until_writable_again(store: Store) -> None:
    await store.enqueue(1, "songs", "1", 1)
    await on_connection(store, "PRAGMA query_only = 1")
    await refused_then_resumed(store, StorageFault.READ_ONLY, lambda: on_connection(store, "PRAGMA query_only = 0"))


@pytest.mark.sqlite_only
async def test_sqlite_locked_past_the_busy_timeout_is_an_outage_until_the_lock_is_released(
    db_path: Path, cipher: TokenCipher
) -> None:
    store = await SqliteStore.open(db_path, cipher, options=StoreOptions(busy_timeout=0.05))
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        await store.enqueue(1, "songs", "1", 1)
        other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock

        async def release() -> None:
            other.execute("COMMIT")

        await refused_then_resumed(store, StorageFault.BUSY, release)
    finally:
        other.close()
        await store.close()


#: a child process: the store under a file-size limit as large as its write-ahead log is now (no write can grow
#: any file), then the limit lifted; prints what each call did, as JSON
_FSIZE_CHILD = """
import asyncio, json, os, resource, sys
from bot.storage import SqliteStore, StoreUnavailable, TokenCipher

async def main(path, key):
    store = await SqliteStore.open(path, TokenCipher.from_setting(key))
    await store.link_account(1, "AgOne" + "x" * 60, "us")
    calls = {
        "enqueue": lambda: store.enqueue(1, "songs", "1001", 1),
        "link": lambda: store.link_account(2, "AgTwo" + "y" * 60, "gb"),
        "unlink": lambda: store.unlink(1),
        "read": lambda: store.get_account(1),
    }
    async def run(name):
        try:
            await calls[name]()
            return "ok"
        except StoreUnavailable as exc:
            return f"unavailable: {exc.fault}"
        except Exception as exc:
            return f"error: {type(exc).__name__}: {exc}"
    limit = os.path.getsize(path + "-wal")
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    full = {name: await run(name) for name in calls}
    during = [await store.get_account(1) is not None, await store.get_account(2) is not None, await store.outbox_size()]
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    after = {name: await run(name) for name in calls}
    await store.close()
    print(json.dumps({"full": full, "during": during, "after": after}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def run_child(script: str, *args: str) -> Any:
    """Run ``script`` in a child Python process (its own resource limits); what it printed, as JSON."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        cwd=ROOT,
        env=process_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out)


@pytest.mark.sqlite_only
async def test_sqlite_files_that_cannot_grow_are_an_outage_until_they_can(db_path: Path, encryption_key: str) -> None:
    report = await run_child(_FSIZE_CHILD, str(db_path), encryption_key)
    faults = {"unavailable: I/O error", "unavailable: disk full"}  # EFBIG: SQLITE_IOERR_WRITE (ENOSPC: FULL)
    assert report["full"]["read"] == "ok"
    assert {report["full"][name] for name in ("enqueue", "link", "unlink")} <= faults, report
    assert report["during"] == [True, False, 0], "nothing half-done: the failed writes left no trace"
    assert report["after"] == dict.fromkeys(("enqueue", "link", "unlink", "read"), "ok"), report
    check = sqlite3.connect(db_path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert check.execute("SELECT user_id FROM accounts").fetchall() == [(2,)]
        assert check.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    finally:
        check.close()


#: a child process: an unlink commits, then the checkpoint that clears its token out of the write-ahead log
#: cannot grow the database file (RLIMIT_FSIZE); once it can, a later use of the store (a minute on) retries it
_SCRUB_CHILD = """
import asyncio, json, os, resource, sqlite3, sys
from bot.storage import SqliteStore, TokenCipher

async def main(path, key):
    now = [1_700_000_000.0]
    store = await SqliteStore.open(path, TokenCipher.from_setting(key), clock=lambda: now[0])
    for n in range(1500):
        await store.enqueue(100 + n, "songs", str(n) * 5, 1)
    await store.link_account(1, "AgOne" + "x" * 60, "us")
    await store.unlink(2)  # a scrub: the WAL is folded into the database file and emptied
    other = sqlite3.connect(path, isolation_level=None)  # new pages, in the WAL only
    other.execute("CREATE TABLE filler (b BLOB)")
    other.execute("BEGIN")
    other.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(3000),) for _ in range(60)])
    other.execute("COMMIT")
    other.close()
    # room for the unlink's own frames in the WAL, not for the database file to take the new pages
    limit = os.path.getsize(path + "-wal") + 65536
    assert limit < os.path.getsize(path) + 60 * 3000
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        unlinked = str(await store.unlink(1))
    except Exception as exc:
        unlinked = f"error: {type(exc).__name__}: {exc}"
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    wal = [os.path.getsize(path + "-wal")]
    await store.get_account(1)  # too soon to try again
    wal.append(os.path.getsize(path + "-wal"))
    now[0] += 61
    linked = await store.get_account(1)
    wal.append(os.path.getsize(path + "-wal"))
    await store.close()
    print(json.dumps({"unlinked": unlinked, "linked": linked is not None, "wal": wal}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.sqlite_only
async def test_sqlite_a_failed_checkpoint_after_unlink_does_not_fail_it_and_is_tried_again(
    db_path: Path, encryption_key: str
) -> None:
    report = await run_child(_SCRUB_CHILD, str(db_path), encryption_key)
    assert report["unlinked"] == "True", "the unlink committed: it says so (the checkpoint after it failed)"
    assert not report["linked"]
    wal = report["wal"]
    assert wal[0] > 0 and wal[1] == wal[0], "the token's old page may still be in the WAL, until..."
    assert wal[2] == 0, "...the checkpoint is tried again a minute later and folds it away"


# ---------------------------------------------------------------------- PostgreSQL
def database_name(store: Store) -> str:
    return store.location.rsplit("/", 1)[1]


@contextlib.asynccontextmanager
async def admin(server: PostgresServer, database: str = "postgres") -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(server.url(database))
    try:
        yield conn
    finally:
        await conn.close()


async def read_only(server: PostgresServer, database: str, on: bool) -> None:
    """Make the database read-only for new sessions (and end the current ones), or lift it (sessions stay)."""
    async with admin(server) as conn:
        if on:
            await conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        else:
            await conn.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')


@pytest.mark.postgres_only
async def test_postgres_read_only_is_an_outage_and_the_store_reconnects_when_it_ends(
    store: Store, postgres_server: PostgresServer
) -> None:
    await store.enqueue(1, "songs", "1", 1)
    await read_only(postgres_server, database_name(store), on=True)
    seen = [(await _raises(store.enqueue(1, "songs", "1", -1))).fault for _ in range(2)]
    # the first may meet a terminated connection; a fresh one is read-only
    assert seen[-1] is StorageFault.READ_ONLY and set(seen) <= {StorageFault.UNREACHABLE, StorageFault.READ_ONLY}
    # the store's connections were made read-only: once it is lifted, it replaces them by itself
    await refused_then_resumed(
        store, StorageFault.READ_ONLY, lambda: read_only(postgres_server, database_name(store), on=False)
    )


@pytest.mark.postgres_only
async def test_postgres_lock_timeout_is_an_outage_until_the_lock_is_released(
    postgres_server: PostgresServer, cipher: TokenCipher
) -> None:
    url = await postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    async with admin(postgres_server) as conn:
        await conn.execute(f"ALTER DATABASE \"{name}\" SET lock_timeout = '100ms'")
    store = await open_store(url, cipher)
    try:
        await store.enqueue(1, "songs", "1", 1)
        async with admin(postgres_server, name) as other:
            locked = other.transaction()
            await locked.start()
            await other.execute("LOCK TABLE outbox, accounts IN EXCLUSIVE MODE")  # readers pass, writers wait
            await refused_then_resumed(store, StorageFault.BUSY, locked.commit)
    finally:
        await store.close()


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (asyncpg.exceptions.DiskFullError, StorageFault.FULL),  # 53100
        (asyncpg.exceptions.OutOfMemoryError, StorageFault.RESOURCES),  # 53200
        (asyncpg.exceptions.PostgresIOError, StorageFault.IO),  # 58030
        (asyncpg.exceptions.ReadOnlySQLTransactionError, StorageFault.READ_ONLY),  # 25006
        (asyncpg.exceptions.LockNotAvailableError, StorageFault.BUSY),  # 55P03
        (asyncpg.exceptions.QueryCanceledError, StorageFault.BUSY),  # 57014 (statement_timeout)
        (asyncpg.exceptions.AdminShutdownError, StorageFault.UNREACHABLE),  # 57P01
        (asyncpg.exceptions.UniqueViolationError, None),  # 23505: the query's fault, not the storage's
    ],
)
def test_postgres_fault_codes_that_need_root_to_cause(store: Store, error: type[Exception], fault: Any) -> None:
    found = store._fault(error("a message that may quote anything"))
    assert (None if found is None else found[0]) is fault
    if found is not None:
        assert "quote" not in found[1] and error.sqlstate in found[1], "the SQLSTATE, never the server's message"


async def _raises(call: Any) -> StoreUnavailable:
    with pytest.raises(StoreUnavailable) as caught:
        await call
    return caught.value


# ---------------------------------------------------------------------- the running bot, both engines
TOLD_USERS = 4  # each reacts once while the storage stays down: each is told
SAVED_USERS = 4  # each reacts on both posts while it is down, then it recovers: both are applied
RETRY_SECONDS = 8  # REACTION_RETRY_SECONDS of the bot under test
VALUE = {"👍": 1, "👎": -1}


def limit_file_size(pid: int, path: str) -> None:
    """From now on, process ``pid`` cannot make any file larger than ``path`` is (``prlimit``: same user, no root)."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (os.path.getsize(path), resource.RLIM_INFINITY))


class Fault:
    """The storage fault of the storm: a file-size limit on the bot's process (SQLite: its database files cannot
    grow, so no write gets into the write-ahead log) or a read-only database (PostgreSQL)."""

    def __init__(self, database_url: str, server: PostgresServer | None) -> None:
        self.database_url = database_url
        self.server = server

    async def begin(self, pid: int) -> None:
        if self.server is None:
            limit_file_size(pid, self.database_url.removeprefix("sqlite:///") + "-wal")
        else:
            await read_only(self.server, self.database_url.rsplit("/", 1)[1], on=True)

    async def end(self, pid: int) -> None:
        if self.server is None:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        else:
            await read_only(self.server, self.database_url.rsplit("/", 1)[1], on=False)


@pytest.mark.both_engines
async def test_a_storage_fault_storm_loses_no_reaction_silently(
    request: pytest.FixtureRequest,
    bot_env: dict[str, str],
    database_url: str,
    store_backend: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    server = request.getfixturevalue("postgres_server") if store_backend == "postgres" else None
    fault = Fault(database_url, server)
    rng = random.Random(14)
    alice = discord_server.alice_id
    apple_server.add_user(ALICE_MUT)
    members: list[tuple[int, str]] = []
    for n in range(TOLD_USERS + SAVED_USERS):
        uid = discord_server.add_user(f"listener{n}")
        discord_server.add_member(discord_server.guild_id, uid)
        token = f"Ag{n:02d}" + "FaultMut" * 12
        apple_server.add_user(token)
        members.append((uid, token))
    store = await open_store(database_url, TokenCipher.from_setting(bot_env["TOKEN_ENCRYPTION_KEY"]))
    try:
        for uid, token in [(alice, ALICE_MUT), *members]:
            await store.link_account(uid, token, "us")
    finally:
        await store.close()
    songs = [apple_server.add_song(), apple_server.add_song()]
    tokens = dict(members)

    def applied(uid: int, emoji: str, index: int) -> bool:
        return apple_server.rating(tokens[uid], "songs", songs[index]) == VALUE[emoji]

    env = process_env(
        {**bot_env, "SHARD_COUNT": "1", "LOG_LEVEL": "INFO", "REACTION_RETRY_SECONDS": str(RETRY_SECONDS)}
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    log: list[str] = []

    async def read_log(stream: asyncio.StreamReader) -> None:
        async for line in stream:
            log.append(line.decode(errors="replace"))

    readers = [asyncio.create_task(read_log(s)) for s in (proc.stdout, proc.stderr) if s is not None]
    told: dict[tuple[int, int], str] = {}
    try:
        await discord_server.wait_for_session(0, timeout=20)
        await discord_server.wait_for_request("PUT", r"/guilds/\d+/commands$", timeout=20)
        # the start-up catch-up is over before anything is shared: only the live reactions count here
        await eventually(lambda: any("catch-up done" in line for line in log), timeout=30, what="the catch-up")
        posts = [await _share(discord_server, alice, song) for song in songs]

        await fault.begin(proc.pid)
        # a command says plainly that nothing can be saved now
        rec = await discord_server.send_command("link", members[0][0], discord_server.channel_id)
        assert (await discord_server.wait_for_callback(rec, timeout=10)).accepted
        answer = str(await discord_server.wait_for_original_edit(rec, timeout=20))
        assert "can't save anything right now" in answer, answer

        # storm, part 1: the storage stays down past every reaction's retry window
        reactions: list[tuple[int, int, str, int]] = []  # (user, post, emoji, song index)
        for uid, _ in members[:TOLD_USERS]:
            index = rng.randrange(len(posts))
            reactions.append((uid, posts[index], rng.choice(list(VALUE)), index))
        for uid, mid, emoji, _ in reactions:
            assert await discord_server.add_reaction(discord_server.channel_id, mid, uid, emoji)

        def not_saved_notes() -> dict[tuple[int, int], str]:
            for uid, mid, _, _ in reactions:
                for m in discord_server.channel_messages(discord_server.dm_channel(uid)):
                    if "could not save" in message_text(m) and str(mid) in message_text(m):
                        told[(uid, mid)] = message_text(m)
            return told

        await eventually(lambda: len(not_saved_notes()) == TOLD_USERS, timeout=60, what="every author told")

        # storm, part 2: reactions while it is down, then it recovers within their retry window
        saving = [
            (uid, mid, rng.choice(list(VALUE)), index)
            for uid, _ in members[TOLD_USERS:]
            for index, mid in enumerate(posts)
        ]
        for uid, mid, emoji, _ in saving:
            assert await discord_server.add_reaction(discord_server.channel_id, mid, uid, emoji)

        def hit(uid: int) -> bool:
            return any(
                re.search(rf"reaction by user {uid} on message \d+ could not be saved yet", line) for line in log
            )

        await eventually(lambda: all(hit(uid) for uid, _ in members[TOLD_USERS:]), timeout=30, what="the fault met")
        await fault.end(proc.pid)
        reactions += saving
        await eventually(
            lambda: all(applied(uid, emoji, index) for uid, _, emoji, index in saving), timeout=30, what="ratings"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)
        await asyncio.gather(*readers)
    text = "".join(log)
    assert proc.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-6000:]
    # every reaction: applied once the storage was back, or its author told (never both, never neither)
    not_saved_notes()
    for uid, mid, emoji, index in reactions:
        is_applied, is_told = applied(uid, emoji, index), (uid, mid) in told
        assert is_applied != is_told, (uid, mid, emoji, is_applied, is_told)
        if is_told:
            assert emoji in told[(uid, mid)] and "react again" in told[(uid, mid)]
            assert apple_server.rating(tokens[uid], "songs", songs[index]) is None
    assert len(told) == TOLD_USERS, "part 1 is told, part 2 is applied"


async def _share(discord: LoopbackDiscord, user_id: int, song: str) -> int:
    """/share a song; the post's id once the bot put its 👍 and 👎 on it (the bot recorded it before)."""
    rec = await discord.send_command("share", user_id, discord.channel_id, {"item": song})
    assert (await discord.wait_for_callback(rec, timeout=10)).accepted
    await discord.wait_for_original_edit(rec, timeout=20)
    message = await discord.wait_for_original(rec)

    def reacted() -> bool:
        return {r.emoji.get("name") for r in message.reactions.values() if discord.bot_user_id in r.user_ids} >= set(
            VALUE
        )

    await eventually(reacted, timeout=20, what="the bot's reactions on the shared post")
    return message.id
