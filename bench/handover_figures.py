"""A rolling restart's handover (issue 17), figure H: how soon another process applies what a stopping one held.

Two ``python -m bot run`` processes (``SHARD_COUNT=2``, one shard each) on one PostgreSQL (a throwaway cluster),
against the loopback Apple and Discord in their own processes (the stand-ins of ``bench/budget_figures.py``). Each
run: ``posts`` songs are shared, half in a guild of each shard; a different linked member reacts 👍 to each post
(so a song names one outbox row). Apple holds every ratings call (its ``hold``): both processes claim the rows and
send their PUTs, which stay unanswered. The benchmark then sends ``SIGTERM`` to the process of shard 0 while it holds
claims. It drains: its calls in flight are cut short at ``SHUTDOWN_GRACE_SECONDS`` (set to a small ``GRACE`` here:
the calls are held, so the grace always runs out, and ``SIGTERM`` -> PUT includes it), its claims are released in
one statement, whose ``NOTIFY`` wakes the other process, which claims the rows and sends their PUTs (Apple records
their arrival, still holding them). The lease is three hours: only a release can hand the rows over in the run.

Measured per run, on ``CLOCK_MONOTONIC`` (Apple's request log and this process read the same clock):

* ``SIGTERM`` -> the first PUT of a released row reaching Apple;
* the release (the ``NOTIFY``, as heard by this benchmark's own ``LISTEN`` on the database) -> that PUT.

Target: the release -> first PUT within a second in every run (issue 17: "within a second, not after the lease").
The full run has ``RUNS`` runs, ``--quick`` ``QUICK_RUNS``; each run has fresh processes and a fresh database. The
loopback Apple answers the held calls after each run, so the processes stop cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from bench.budget_figures import RATINGS, Group, Run, deployment, stand_ins, until
from bot.storage.dialect import OUTBOX_RELEASED_CHANNEL

GROUP = "handover"
RUNS, QUICK_RUNS = 5, 2
POSTS, QUICK_POSTS = 16, 8  # one row each, half on each shard
GRACE = 1  # SHUTDOWN_GRACE_SECONDS for the figure (the default is 10)
LEASE = 3 * 3600  # OUTBOX_LEASE_SECONDS: far beyond the run, so only a release hands rows over
TARGET_S = 1.0


async def claims(run: Run, pid: int) -> set[str]:
    """The songs of the rows the process ``pid`` has claimed (a worker id is ``host:pid:random``)."""
    songs: set[str] = set()
    for uid, _ in run.users:
        for entry in await run.store.pending_for_user(uid):
            if entry.claimed_by is not None and entry.claimed_by.split(":")[1] == str(pid):
                songs.add(entry.item_id)
    return songs


def puts(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in summary if r["method"] == "PUT" and r["path"].startswith(RATINGS)]


async def handover_run(group: Group, posts: int) -> dict[str, Any]:
    env = {
        "OUTBOX_LEASE_SECONDS": str(LEASE),
        "SHUTDOWN_GRACE_SECONDS": str(GRACE),
        "OUTBOX_CONCURRENCY": "64",
    }
    async with deployment(group, env, shards=2, members=posts) as run:
        apple, discord = group.apple, group.discord
        victim, survivor = run.bots
        songs = await run.add_songs(posts)
        shared = await run.share([(i % 2, s) for i, s in enumerate(songs)])
        released_at: list[float] = []
        conn = await asyncpg.connect(run.database_url)
        await conn.add_listener(OUTBOX_RELEASED_CHANNEL, lambda *_: released_at.append(time.monotonic()))
        try:
            await apple.admin("hold", path_contains=RATINGS)
            reactions = [
                {"channel_id": p.channel_id, "message_id": p.message_id, "user_id": uid, "emoji": "👍"}
                for (uid, _), p in zip(run.users, shared, strict=True)
            ]
            await discord.admin("add_reactions", reactions=reactions)

            async def all_claimed_and_sent() -> set[str] | None:
                held = await claims(run, victim.proc.pid)
                both = held | await claims(run, survivor.proc.pid)
                sent = {r["path"].rsplit("/", 1)[1] for r in puts(await apple.summary())}
                return held if both == set(songs) <= sent and held else None

            victim_songs: set[str] = await until(
                all_claimed_and_sent, 120, "every row claimed (some by shard 0) and its PUT held", run.bots
            )
            sent_before = len(await apple.summary())
            victim.proc.send_signal(signal.SIGTERM)
            sigterm = time.monotonic()
            code = await asyncio.wait_for(victim.proc.wait(), 60)

            async def first_released_put() -> dict[str, Any] | None:
                later = puts((await apple.summary())[sent_before:])
                return next((r for r in later if r["path"].rsplit("/", 1)[1] in victim_songs), None)

            put = await until(first_released_put, 60, "the survivor's first PUT of a released row", [survivor])
        finally:
            await apple.admin("release")
            await conn.close()
        released = released_at[0] if released_at else None
        return {
            "victim_exit": code,
            "victim_claims": len(victim_songs),
            "released_logged": f"released {len(victim_songs)} claimed ratings" in victim.log(),
            "sigterm_to_put_s": put["timestamp"] - sigterm,
            "release_to_put_s": put["timestamp"] - released if released is not None else None,
            "sigterm_to_release_s": released - sigterm if released is not None else None,
            "errors_logged": run.errors_logged(),
        }


async def figures(tmp: Path, session: aiohttp.ClientSession, pem: str, key_path: Path, quick: bool) -> list[Any]:
    """Figure H (one result entry)."""
    runs, posts = (QUICK_RUNS, QUICK_POSTS) if quick else (RUNS, POSTS)
    tmp = tmp / GROUP
    tmp.mkdir()
    title = f"H. rolling restart: SIGTERM one of two processes holding claims ({posts} ratings held by Apple)"
    async with stand_ins(tmp, session, pem, key_path, postgres_for="figure H") as group:
        if group.postgres is None:
            return [{"kind": GROUP, "group": GROUP, "figure": title, "skipped": group.postgres_skipped}]
        results = [await handover_run(group, posts) for _ in range(runs)]
    handovers = [r["release_to_put_s"] for r in results]
    return [
        {
            "kind": GROUP,
            "group": GROUP,
            "figure": title,
            "runs": results,
            "grace_s": GRACE,
            "target": f"release -> first PUT within {TARGET_S:g} s in every run",
            "met": all(h is not None and h <= TARGET_S for h in handovers),
        }
    ]


def _spread(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    missing = f", {len(values) - len(known)} not measured" if len(known) < len(values) else ""
    return f"min {min(known):.3f}s, median {statistics.median(known):.3f}s, max {max(known):.3f}s{missing}"


def handover_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of figure H: ``seconds`` is the median over the runs, ``requests`` the number of runs."""
    if "skipped" in fig:
        return [("", "", "", f"skipped: {fig['skipped']}")]
    runs = fig["runs"]
    n = str(len(runs))

    def median(key: str) -> str:
        known = [r[key] for r in runs if r[key] is not None]
        return f"{statistics.median(known):.3f}" if known else "n/a"

    clean = all(r["victim_exit"] == 0 and r["released_logged"] and not r["errors_logged"] for r in runs)
    claims = "/".join(str(r["victim_claims"]) for r in runs)
    return [
        (
            "SIGTERM -> survivor's first PUT of a released row",
            median("sigterm_to_put_s"),
            n,
            f"{_spread([r['sigterm_to_put_s'] for r in runs])}; includes SHUTDOWN_GRACE_SECONDS={fig['grace_s']} "
            f"(the victim's calls were held, so the grace ran out); rows held by the victim per run: {claims}",
        ),
        (
            "SIGTERM -> release (NOTIFY heard)",
            median("sigterm_to_release_s"),
            n,
            f"{_spread([r['sigterm_to_release_s'] for r in runs])}; "
            f"victim exited 0 and logged the release, no ERROR: {'yes' if clean else 'NO'}",
        ),
        (
            "release (NOTIFY) -> survivor's first PUT",
            median("release_to_put_s"),
            n,
            f"{_spread([r['release_to_put_s'] for r in runs])}; target: {fig['target']} -> "
            f"{'met' if fig['met'] else 'NOT met'}",
        ),
    ]
