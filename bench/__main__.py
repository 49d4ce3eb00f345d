"""Benchmarks: ``python -m bench [--quick]`` prints a table and writes ``bench/results.json``.

The loopback Apple Music API (``python -m loopback.apple``) and the loopback Discord (``python -m
loopback.discord``, REST + gateway, default world) each run in their own process, so the bot's code measured
here has this process's CPU to itself. Each figure is measured beside its reference in the same run, and the claim
is the ratio; absolute times are printed too. The figures of issue 7 (1-5) and issue 8 (6):

  1. Reading the ratings of a 250-track playlist with Apple answering each request after 50 ms, through the
     bot's RatingService, beside (a) one request per track and (b) 200 ids per request sent one after another.
  2. N ``/rating like`` commands dispatched at once by the loopback Discord to the real ``RatingsBot`` (in this
     process) while Apple takes 1 s per request: time from the gateway dispatch to the first callback (measured by
     the loopback Discord), p50/p99/max and how many were late (3 s); beside the same burst of ``/about`` (no
     Apple call). The full run repeats the pair three times and reports the median burst by p99.
  3. M users each reacting 👍 to K ``/share`` posts at once (5,000 reactions in the full run): ratings applied to
     Apple through the outbox per second (end to end, and from the first Apple write on, i.e. after the
     outbox's debounce), and this process's CPU seconds per rating.
  4. Apple allowing 20 requests/s (429 beyond, no Retry-After): N writes queued at once through the client
     with the bot's pacer, beside the same client without a pacer.
  5. ``python -m bot`` in its own process on a SQLite database with 10,000 linked accounts: time from process
     start to the gateway READY (polled at the loopback Discord) and VmRSS after READY, median of three starts;
     beside the same on an empty database.
  6. Storage, SQLite beside PostgreSQL (no Apple, no Discord; see ``bench/storage_figures.py``): (a) the outbox
     cycle per reaction rating, ``enqueue`` -> ``claim_due(limit=8)`` -> ``complete``, in ratings/s with one store,
     and on PostgreSQL also with two stores (two pools, as two processes) draining one outbox at once, counting
     rows claimed twice; (b) ``get_user_token`` reads/s (SQLite caches, PostgreSQL reads the database each time).
     p50/p99 per operation; the reference is SQLite in one process, and each row prints its ratio to it. No target:
     information for operators. PostgreSQL is a throwaway cluster (``tests.fixtures.storage.start_postgres``);
     without it its rows say "skipped: <reason>" (under ``CI`` that is an error).

Apple's budget (issue 15), figures B1-B5 (see ``bench/budget_figures.py``): the bot as ``python -m bot run``
against an Apple stand-in allowing 20 requests/s that the bot is not told (429 without ``Retry-After``), each figure
run as "today" (the default plus ``--baseline-env`` settings, by default ``APPLE_PACING=off``) and as "default",
printed side by side with their ratio: B1 goodput and waste of 400 reaction writes from 20 users; B2 a newcomer's
reaction 2 s into that backlog; B3 20 ``/rating like`` during the backlog; B4 the 400 writes across two processes
on one PostgreSQL; B5 Apple requests for one ``/share`` + 20 reactions + 20 ``/rating show`` of one song.

Capacity (issue 17), figure C (see ``bench/capacity_figures.py``): ``python -m bot`` with 100, 1,000 and 2,500 guilds
(channels, roles, emojis) on one shard of the loopback Discord: seconds to READY and to ``on_ready``, VmRSS and VmHWM,
with discord.py's default caches ("today") beside the bot's lean ones; target under 250 MB at 2,500 guilds.

Playground (issue 21), figure P (see ``bench/playground_figures.py``): ``python -m bot playground --port 0`` from
process start to the first successful GET of its page (the bot ready), median of three starts; target under 5 s.

``--quick`` uses small sizes and one round and asserts nothing about speed. ``--only GROUP`` (repeatable) runs one
group: ``bot`` (1-5), ``storage`` (6), ``budget`` (B1-B5), ``capacity`` (C) or ``playground`` (P); a full run of some
groups replaces only their entries in ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench import bot_figures as bf
from bench import budget_figures as budget
from bench import capacity_figures as capacity
from bench import playground_figures as playground
from bench import storage_figures as sf
from bench.bot_figures import AppleProcess, start_apple
from bot import applemusic as am
from bot.services.ratings import ItemRef, RatingService, UserContext

ROOT = Path(__file__).resolve().parents[1]
TEAM, KID = bf.TEAM, bf.KID
USER = "Ag" + "BenchUser" * 20


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await fn()
    return time.perf_counter() - start, result


async def figure_playlist(
    apple: AppleProcess, client: am.AppleMusicClient, dev: am.DeveloperToken, n: int
) -> dict[str, Any]:
    latency = 0.05
    pid = await apple.admin("add_playlist", n_tracks=n)
    await apple.admin("set_latency", seconds=latency)
    service = RatingService(client, store=None)  # type: ignore[arg-type]  # tracks() needs no storage
    ctx = UserContext(user_id=1, token=USER, storefront="us", language=None)
    ref = ItemRef(am.ResourceType.PLAYLISTS, pid)

    await apple.admin("reset_requests")
    ours_s, (_parent, rows) = await timed(lambda: service.tracks(ctx, ref))
    ours_requests = len(await apple.summary())
    track_ids = [r.ref.id for r in rows]

    # (a) one request per track (bounded to 8 at once, as a polite client would)
    await apple.admin("reset_requests")
    sem = asyncio.Semaphore(8)

    async def one(tid: str) -> None:
        async with sem:
            await client.get_rating(am.ResourceType.SONGS, tid, USER)

    async def per_track() -> None:
        tracks = await client.get_tracks(am.ResourceType.PLAYLISTS, pid, "us")
        await asyncio.gather(*(one(t.id) for t in tracks))

    per_track_s, _ = await timed(per_track)
    per_track_requests = len(await apple.summary())

    # (b) 200 ids per request, one request after another
    await apple.admin("reset_requests")
    headers = {"Authorization": f"Bearer {dev.token}", "Music-User-Token": USER}

    async def sequential_200() -> None:
        await client.get_catalog_item(am.ResourceType.PLAYLISTS, pid, "us")
        tracks = await client.get_tracks(am.ResourceType.PLAYLISTS, pid, "us")
        ids = [t.id for t in tracks]
        for i in range(0, len(ids), 200):
            url = f"{apple.base_url}/v1/me/ratings/songs"
            async with apple.session.get(url, params={"ids": ",".join(ids[i : i + 200])}, headers=headers) as r:
                await r.read()

    seq_s, _ = await timed(sequential_200)
    seq_requests = len(await apple.summary())
    pages = -(-n // 100)
    floor = latency * (pages + 1)
    await apple.admin("set_latency", seconds=0.0)
    return {
        "figure": f"1. ratings of a {len(track_ids)}-track playlist, Apple +50 ms/request",
        "ours": {"seconds": ours_s, "requests": ours_requests},
        "references": {
            "one request per track": {"seconds": per_track_s, "requests": per_track_requests},
            "200 ids per request, sequential": {"seconds": seq_s, "requests": seq_requests},
        },
        "floor_seconds": floor,
        "ratio_to_floor": ours_s / floor,
        "target": "within 1.5x of the floor",
        "met": ours_s <= 1.5 * floor,
    }


async def figure_rate_limit(
    apple: AppleProcess, session: aiohttp.ClientSession, dev: am.DeveloperToken, writes: int
) -> dict[str, Any]:
    allowed = 20.0
    songs = [str(9_000_000 + i) for i in range(writes)]

    async def run(pacer: am.Pacer | None) -> dict[str, Any]:
        await apple.admin("rate_limit", per_second=None)
        await apple.admin("add_user", token=USER)
        await apple.admin("reset_requests")
        await apple.admin("rate_limit", per_second=allowed)
        retry = am.RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=4.0, max_total_wait=60.0, timeout=10.0)
        client = am.AppleMusicClient(dev, session=session, base_url=apple.base_url, retry=retry, pacer=pacer)
        sem = asyncio.Semaphore(8)
        failed = 0

        async def write(sid: str) -> None:
            nonlocal failed
            async with sem:
                try:
                    await client.set_rating(am.ResourceType.SONGS, sid, 1, USER)
                except am.RateLimited:
                    failed += 1

        seconds, _ = await timed(lambda: asyncio.gather(*(write(s) for s in songs)))
        summary = await apple.summary()
        limited = sum(1 for r in summary if r.get("status") == 429)
        done = writes - failed
        return {
            "seconds": seconds,
            "applied": done,
            "requests": len(summary),
            "429s": limited,
            "share_429": limited / max(1, len(summary)),
            "goodput_share": (done / seconds) / allowed,
        }

    ours = await run(am.AdaptivePacer(allowed * 0.95))
    reference = await run(None)
    await apple.admin("rate_limit", per_second=None)
    return {
        "figure": f"4. {writes} writes queued at once, Apple allows 20 req/s",
        "ours": ours,
        "references": {"no pacing (retry on 429 only)": reference},
        "target": ">= 90% of the allowed rate, 429s under 5% of requests",
        "met": ours["goodput_share"] >= 0.9 and ours["share_429"] < 0.05,
    }


def _legacy_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    ours = fig["ours"]
    note = f"target: {fig['target']} -> {'met' if fig['met'] else 'NOT met'}"
    if "ratio_to_floor" in fig:
        note += f" (ours/floor = {fig['ratio_to_floor']:.2f}, floor {fig['floor_seconds']:.3f}s)"
    if "goodput_share" in ours:
        note += f" (goodput {ours['goodput_share']:.0%}, 429s {ours['share_429']:.1%})"
    rows = [("ours", f"{ours['seconds']:.3f}", str(ours["requests"]), note)]
    for name, ref in fig["references"].items():
        extra = ""
        if "goodput_share" in ref:
            extra = f"goodput {ref['goodput_share']:.0%}, 429s {ref['share_429']:.1%}"
        ratio = ref["seconds"] / ours["seconds"] if ours["seconds"] else float("inf")
        rows.append((name, f"{ref['seconds']:.3f}", str(ref["requests"]), f"{ratio:.1f}x ours' time {extra}"))
    return rows


def _ack_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def describe(s: dict[str, Any]) -> str:
        text = (
            f"p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms, "
            f"late {s['late']}/{s['interactions']}"
        )
        if len(s.get("rounds", ())) > 1:
            p99s = "/".join(f"{r['p99_ms']:.0f}" for r in s["rounds"])
            text += f" (median of {len(s['rounds'])} bursts by p99; p99s {p99s} ms)"
        return text

    ours = fig["ours"]
    note = f"{describe(ours)}; target: {fig['target']} -> {'met' if fig['met'] else 'NOT met'}"
    note += f" ({ours['answered']} answered, all within {ours['all_answered_s']:.1f}s)"
    rows = [("ours", f"{ours['p99_ms'] / 1000:.3f}", str(ours["callbacks"]), note)]
    for name, ref in fig["references"].items():
        ratio = ours["p99_ms"] / ref["p99_ms"] if ref["p99_ms"] else float("inf")
        rows.append(
            (name, f"{ref['p99_ms'] / 1000:.3f}", str(ref["callbacks"]), f"{describe(ref)}; ours/ref p99 {ratio:.1f}x")
        )
    rows.append(
        (
            "Discord's deadline",
            f"{bf.DEADLINE:.3f}",
            "",
            f"ours' p99 is {ours['p99_ms'] / 1000 / bf.DEADLINE:.1%} of it",
        )
    )
    return rows


def _footprint_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def describe(s: dict[str, Any]) -> str:
        on_ready = f"{s['on_ready_s']:.2f}s" if s["on_ready_s"] is not None else "n/a"
        return f"RSS {s['rss_mb']:.1f} MB; on_ready at {on_ready} (with discord.py's 2 s guild wait)"

    ours = fig["ours"]
    note = f"{describe(ours)}; target: {fig['target']} -> {'met' if fig['met'] else 'NOT met'}"
    rows = [("ours", f"{ours['ready_s']:.3f}", "", note)]
    for name, ref in fig["references"].items():
        rows.append((name, f"{ref['ready_s']:.3f}", "", describe(ref)))
    return rows


def _outbox_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    ours = fig["ours"]
    note = (
        f"{ours['applied']}/{ours['ratings']} applied, {ours['ratings_per_s']:.0f} ratings/s end to end "
        f"({ours['ratings_per_s_after_first_write']:.0f}/s after the first Apple write at "
        f"{ours['first_apple_write_s'] or 0:.2f}s), bot CPU {ours['cpu_ms_per_rating']:.2f} ms/rating; "
        f"target: {fig['target']} -> {'met' if fig['met'] else 'NOT met'}"
    )
    return [("ours", f"{ours['seconds']:.3f}", str(ours["apple_puts"]), note)]


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per variant; for figure 2 ``seconds`` is the p99 acknowledgement time and ``requests`` the
    callbacks received; for figure 5 ``seconds`` is process start -> gateway READY; for figure 6 ``requests`` is
    the number of store operations measured (ratings cycled, tokens read)."""
    rows: list[tuple[str, ...]] = [("figure", "variant", "seconds", "requests", "notes")]
    for fig in results:
        kind = str(fig.get("kind", ""))
        renderers = {
            "ack": _ack_rows,
            "outbox": _outbox_rows,
            "footprint": _footprint_rows,
            "storage": sf.storage_rows,
            "budget": budget.budget_rows,
            "capacity": capacity.capacity_rows,
            "playground": playground.playground_rows,
        }
        renderer = renderers.get(kind, _legacy_rows)
        fig_rows = renderer(fig)
        for i, cells in enumerate(fig_rows):
            rows.append((fig["figure"] if i == 0 else "", *cells))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


GROUPS = ("bot", "storage", "budget", "capacity", "playground")


def group_of(fig: dict[str, Any]) -> str:
    """The group a result entry belongs to (entries written before groups existed have none)."""
    return str(fig.get("group") or ("storage" if fig.get("kind") == "storage" else "bot"))


async def bot_group(tmp: Path, session: aiohttp.ClientSession, pem: str, key_path: Path, quick: bool) -> list[Any]:
    """Figures 1-5."""
    dev = am.DeveloperToken(TEAM, KID, pem)
    apple = await start_apple(tmp, session, pem)
    try:
        await apple.admin("add_user", token=USER)
        client = am.AppleMusicClient(dev, session=session, base_url=apple.base_url)
        results = [
            await figure_playlist(apple, client, dev, 250),
            await figure_rate_limit(apple, session, dev, 60 if quick else 1000),
        ]
        async with bf.discord_process(session) as discord:
            env = bf.bot_env(tmp, discord, apple.base_url, key_path, TEAM, KID)
            # figures 2 and 3 measure the bot's own work (acknowledging, the outbox) against an Apple without a
            # limit: unpaced, so the pacer's learning from 10 requests/s is not what they time (B1-B5 measure it)
            async with bf.bench_bot(discord, {**env, "APPLE_PACING": "off"}) as (bot, world):
                ack = await bf.figure_ack(discord, apple, bot, world, 20 if quick else 200, rounds=1 if quick else 3)
                outbox = await bf.figure_outbox(discord, apple, bot, world, 50 if quick else 500, 4 if quick else 10)
            footprint = await bf.figure_footprint(discord, env, tmp, 200 if quick else 10_000, runs=1 if quick else 3)
        results[1:1] = [{"kind": "ack", **ack}, outbox]
        results.append({"kind": "footprint", **footprint})
    finally:
        apple.proc.terminate()
        apple.proc.wait(10)
    return results


def write_results(results: list[dict[str, Any]], quick: bool, groups: tuple[str, ...]) -> None:
    """``bench/results.json``: a run of some groups only replaces those groups' entries and keeps the others."""
    path = ROOT / "bench" / "results.json"
    kept: list[dict[str, Any]] = []
    if set(groups) != set(GROUPS) and path.exists():
        kept = [f for f in json.loads(path.read_text())["figures"] if group_of(f) not in groups]
    figures = sorted([*kept, *results], key=lambda f: GROUPS.index(group_of(f)))
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    path.write_text(json.dumps({"machine": machine, "quick": quick, "figures": figures}, indent=2))


async def main(quick: bool, groups: tuple[str, ...], baseline: dict[str, str]) -> int:
    pem = am.generate_private_key()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key_path = tmp / "AuthKey_BENCH.p8"
        key_path.write_text(pem)
        async with aiohttp.ClientSession() as session:
            if "bot" in groups:
                results += await bot_group(tmp, session, pem, key_path, quick)
            if "storage" in groups:
                results += await sf.figure_storage(tmp, quick)
            if "budget" in groups:
                results += await budget.figures(tmp, session, pem, key_path, quick, baseline)
            if "capacity" in groups:
                results += await capacity.figures(tmp, session, pem, key_path, quick)
            if "playground" in groups:
                results += await playground.figures(session, quick)
    print_table(results)
    if not quick:
        write_results(results, quick, groups)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds; asserts nothing about speed")
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        help="run only this group of figures (repeatable): bot (1-5), storage (6), budget (B1-B5), capacity (C), "
        "playground (P)",
    )
    parser.add_argument(
        "--baseline-env",
        action="append",
        metavar="KEY=VALUE",
        help="a setting of the budget figures' 'today' rows (repeatable; default: "
        + " ".join(budget.DEFAULT_BASELINE)
        + ")",
    )
    args = parser.parse_args()
    baseline = budget.parse_baseline(args.baseline_env or budget.DEFAULT_BASELINE)
    sys.exit(asyncio.run(main(args.quick, tuple(args.only or GROUPS), baseline)))
