"""Figure 6 — the storage backends under the bot's hot storage paths: SQLite beside PostgreSQL.

* 6a. The outbox cycle of one reaction rating: ``enqueue`` (8 producers at once, as reactions arrive), then the
  worker's ``claim_due(limit=8)`` and a ``complete`` per claimed row (the 8 completes of a batch at once, as the
  worker's 8 concurrent applies finish), pipelined, until every rating is completed. Debounce 0: the storage is
  measured, not the outbox's deliberate 1 s wait, and Apple is left out. Variants: SQLite with one store (the
  reference), PostgreSQL with one store, and PostgreSQL with TWO stores (two connection pools, as two bot
  processes) each enqueuing half and both draining the one outbox at once; every claim is recorded and the rows
  claimed more than once are counted (it must be 0: ``FOR UPDATE SKIP LOCKED`` plus the lease).
* 6b. ``get_user_token`` reads, 8 at once, over the linked accounts: SQLite (caches tokens in memory, the
  reference), SQLite with its cache off (what the database read costs), PostgreSQL (reads and decrypts every time,
  by design: another process may have unlinked the user).

PostgreSQL runs crash-safe (fsync and full-page writes on, unlike the test cluster) with
``synchronous_commit=off``, the durability of the bot's SQLite (WAL, ``synchronous=NORMAL``: a power cut may lose
the last commits, never corrupts); one more 6a row uses PostgreSQL's default ``synchronous_commit=on``.

Each measurement follows an unmeasured warm-up on the same stores (connection pools grown, statements prepared),
as in a bot that has been running. The two PostgreSQL stores of 6a share this process's event loop: the row
shows what the database does with two pools competing for one outbox, not two processes' worth of client CPU.

Each store opens a fresh database: a new SQLite file, or a new database in a throwaway PostgreSQL cluster started
with :func:`tests.fixtures.storage.start_postgres`. Without PostgreSQL the PostgreSQL rows say ``skipped: <reason>``
and the run still succeeds, except under ``CI`` (which installs PostgreSQL), where it fails. No target is set:
these numbers inform operators choosing a backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.storage import OutboxEntry, SqliteStore, Store, StoreOptions, TokenCipher
from tests.fixtures.storage import PostgresServer, PostgresUnavailable, start_postgres

NO_TARGET = "no target (information for operators)"
PRODUCERS = 8  # reactions enqueued at once
CLAIM_LIMIT = 8  # the outbox worker's batch (OutboxConfig.concurrency)
LEASE = 120.0  # OutboxConfig.lease
READERS = 8  # get_user_token calls at once (the worker's concurrent applies each read one)
#: The cluster's settings: crash-safe (fsync, full-page writes), and commits not waiting for their WAL flush, which
#: is the durability of the bot's SQLite (WAL, synchronous=NORMAL): a power cut may lose the last commits, never
#: corrupt. One row uses PostgreSQL's default, synchronous_commit=on (each commit waits for the flush).
DURABLE_SETTINGS = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "off"}


def _token(i: int) -> str:
    return f"AgStore{i:07d}" + "y" * 180


class Latencies:
    """Per-operation wall times (seconds) of awaited store calls."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    async def time(self, op: str, call: Awaitable[Any]) -> Any:
        start = time.perf_counter()
        result = await call
        self.samples.setdefault(op, []).append(time.perf_counter() - start)
        return result

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for op, values in self.samples.items():
            ordered = sorted(values)
            out[op] = {
                "count": len(ordered),
                "p50_ms": _quantile(ordered, 0.50) * 1000,
                "p99_ms": _quantile(ordered, 0.99) * 1000,
            }
        return out


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


StoreOpener = Callable[[], Awaitable[Store]]


async def outbox_cycle(stores: list[Store], n: int, *, first_item: int = 1_000_000) -> dict[str, Any]:
    """Enqueue ``n`` ratings through ``stores`` (producers split evenly) while one worker per store claims batches
    of ``CLAIM_LIMIT`` and completes them, until all ``n`` are completed. Returns rates, latencies and claims."""
    lat = Latencies()
    claims: Counter[int] = Counter()
    per_worker = [0] * len(
        stores
    )  # rows claimed by each store's worker: both must take part for the check to mean much
    completed = 0
    enqueued = 0
    producers_done = asyncio.Event()
    wake = asyncio.Event()
    users = max(1, n // 10)

    async def produce(k: int) -> None:
        nonlocal enqueued
        store = stores[k % len(stores)]
        for i in range(k, n, PRODUCERS):
            await lat.time("enqueue", store.enqueue(1000 + i % users, "songs", str(first_item + i), 1, debounce=0.0))
            enqueued += 1
            wake.set()

    async def drain(w: int, store: Store) -> None:
        nonlocal completed
        worker_id = f"bench-worker-{w}"
        deadline = time.perf_counter() + 300.0
        while True:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"figure 6: the outbox did not drain ({completed}/{enqueued} completed)")
            wake.clear()
            batch: list[OutboxEntry] = await lat.time(
                "claim_due", store.claim_due(worker_id, limit=CLAIM_LIMIT, lease=LEASE)
            )
            claims.update(e.id for e in batch)
            per_worker[w] += len(batch)
            if batch:
                done = await asyncio.gather(*(lat.time("complete", store.complete(e)) for e in batch))
                completed += sum(1 for ok in done if ok)
                continue
            if producers_done.is_set() and completed >= enqueued:
                return
            if producers_done.is_set():
                await asyncio.sleep(0.001)  # the other worker holds the last rows
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.05)

    async def producers() -> None:
        await asyncio.gather(*(produce(k) for k in range(PRODUCERS)))
        producers_done.set()
        wake.set()

    start = time.perf_counter()
    await asyncio.gather(producers(), *(drain(w, s) for w, s in enumerate(stores)))
    seconds = time.perf_counter() - start
    left = await stores[0].outbox_size()
    return {
        "seconds": seconds,
        "ops": n,
        "per_s": n / seconds,
        "completed": completed,
        "left_in_outbox": left,
        "claims": sum(claims.values()),
        "claimed_twice": sum(1 for c in claims.values() if c > 1),
        "claims_per_store": per_worker,
        "latency": lat.summary(),
    }


async def warmed_outbox_cycle(stores: list[Store], n: int) -> dict[str, Any]:
    """:func:`outbox_cycle` after an unmeasured one of 64 other ratings: pools grown, statements prepared."""
    await outbox_cycle(stores, 64, first_item=9_000_000)
    return await outbox_cycle(stores, n)


async def token_reads(store: Store, accounts: int, reads: int) -> dict[str, Any]:
    """Link ``accounts`` users, then ``reads`` ``get_user_token`` calls, ``READERS`` at once, round robin (after
    64 unmeasured reads of users who are not linked: pools grown, statements prepared, nothing cached)."""
    for i in range(accounts):
        await store.link_account(5000 + i, _token(i), "us")
    await asyncio.gather(*(store.get_user_token(900_000 + i) for i in range(64)))
    lat = Latencies()
    wrong = 0

    async def reader(k: int) -> None:
        nonlocal wrong
        for i in range(k, reads, READERS):
            user = i % accounts
            token = await lat.time("get_user_token", store.get_user_token(5000 + user))
            if token != _token(user):
                wrong += 1

    start = time.perf_counter()
    await asyncio.gather(*(reader(k) for k in range(READERS)))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "ops": reads, "per_s": reads / seconds, "wrong": wrong, "latency": lat.summary()}


async def _with_stores(openers: list[StoreOpener], run: Callable[[list[Store]], Awaitable[dict[str, Any]]]) -> Any:
    stores: list[Store] = []
    try:
        for opener in openers:
            stores.append(await opener())
        return await run(stores)
    finally:
        for store in stores:
            await store.close()


async def figure_storage(tmp: Path, quick: bool) -> list[dict[str, Any]]:
    """Figure 6 (two result entries: the outbox cycle and the token reads)."""
    n = 300 if quick else 4000
    accounts, reads = (100, 500) if quick else (1000, 8000)
    cipher = TokenCipher.from_setting(TokenCipher.generate_key())
    files = iter(range(1, 100))

    def sqlite(options: StoreOptions | None = None) -> StoreOpener:
        async def opener() -> Store:
            return await SqliteStore.open(tmp / f"fig6-{next(files)}.db", cipher, options=options)

        return opener

    cycle: dict[str, dict[str, Any]] = {}
    tokens: dict[str, dict[str, Any]] = {}
    cycle["SQLite, one process (reference)"] = await _with_stores([sqlite()], lambda s: warmed_outbox_cycle(s, n))
    tokens["SQLite, cached (reference)"] = await _with_stores([sqlite()], lambda s: token_reads(s[0], accounts, reads))
    no_cache = StoreOptions(token_cache_seconds=0)
    tokens["SQLite, cache off"] = await _with_stores([sqlite(no_cache)], lambda s: token_reads(s[0], accounts, reads))

    pg_rows = (
        "PostgreSQL, one process",
        "PostgreSQL, two processes (2 pools)",
        "PostgreSQL, one process, synchronous_commit=on",
    )
    stack = contextlib.ExitStack()
    try:
        try:
            server: PostgresServer | None = await asyncio.to_thread(
                stack.enter_context, start_postgres(settings=DURABLE_SETTINGS)
            )
            reason = ""
        except PostgresUnavailable as exc:
            if os.environ.get("CI"):
                raise RuntimeError(f"figure 6 must run on PostgreSQL in CI, but: {exc}") from None
            server, reason = None, str(exc)
        if server is None:
            for name in pg_rows:
                cycle[name] = {"skipped": reason}
            tokens["PostgreSQL (reads the database each time)"] = {"skipped": reason}
        else:
            import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

            from bot.storage.postgres import PostgresStore

            pg = server

            async def fresh_database(synchronous_commit: str = "off") -> str:
                url = await pg.create_database()
                conn = await asyncpg.connect(pg.url())
                try:
                    name = url.rsplit("/", 1)[1]
                    await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = {synchronous_commit}')
                finally:
                    await conn.close()
                return url

            def postgres(url: str) -> StoreOpener:
                async def opener() -> Store:
                    return await PostgresStore.open(url, cipher)

                return opener

            url = await fresh_database()
            cycle[pg_rows[0]] = await _with_stores([postgres(url)], lambda s: warmed_outbox_cycle(s, n))
            url = await fresh_database()
            cycle[pg_rows[1]] = await _with_stores([postgres(url), postgres(url)], lambda s: warmed_outbox_cycle(s, n))
            url = await fresh_database("on")
            cycle[pg_rows[2]] = await _with_stores([postgres(url)], lambda s: warmed_outbox_cycle(s, n))
            url = await fresh_database()
            tokens["PostgreSQL (reads the database each time)"] = await _with_stores(
                [postgres(url)], lambda s: token_reads(s[0], accounts, reads)
            )
    finally:
        await asyncio.to_thread(stack.close)

    return [
        _figure(
            f"6a. outbox cycle, {n} ratings: enqueue (8 at once) -> claim_due(limit=8) -> complete",
            "ratings/s",
            cycle,
        ),
        _figure(f"6b. get_user_token, {reads} reads of {accounts} linked accounts, 8 at once", "reads/s", tokens),
    ]


def _figure(title: str, unit: str, variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    reference_name = next(iter(variants))
    reference_rate = variants[reference_name]["per_s"]
    for v in variants.values():
        if "per_s" in v:
            v["ratio_to_reference"] = v["per_s"] / reference_rate
    return {
        "kind": "storage",
        "figure": title,
        "unit": unit,
        "reference": reference_name,
        "variants": variants,
        "target": NO_TARGET,
    }


def storage_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Table rows for a figure 6 entry: seconds, operations, then rate, ratio to the reference, p50/p99 per op."""
    rows: list[tuple[str, str, str, str]] = []
    for name, v in fig["variants"].items():
        if "skipped" in v:
            rows.append((name, "", "", f"skipped: {v['skipped']}"))
            continue
        parts = [f"{v['per_s']:.0f} {fig['unit']}"]
        if name == fig["reference"]:
            parts[0] += " (reference)"
        else:
            parts[0] += f", {v['ratio_to_reference']:.2f}x the reference"
        lat = "; ".join(
            f"{op} {s['p50_ms']:.2f}/{s['p99_ms']:.2f}" for op, s in sorted(v["latency"].items(), key=_op_order)
        )
        parts.append(f"p50/p99 ms: {lat}")
        if "claimed_twice" in v:
            parts.append(
                f"{v['completed']}/{v['ops']} completed, {v['left_in_outbox']} left, {v['claims']} claims"
                + (
                    f" ({'/'.join(map(str, v['claims_per_store']))} per store)"
                    if len(v["claims_per_store"]) > 1
                    else ""
                )
                + f", rows claimed twice: {v['claimed_twice']}"
            )
        if v.get("wrong"):
            parts.append(f"WRONG TOKENS: {v['wrong']}")
        if name == fig["reference"]:
            parts.append(fig["target"])
        rows.append((name, f"{v['seconds']:.3f}", str(v["ops"]), "; ".join(parts)))
    return rows


def _op_order(item: tuple[str, Any]) -> int:
    order = ("enqueue", "claim_due", "complete", "get_user_token")
    return order.index(item[0]) if item[0] in order else len(order)
