"""Apple's budget (issue 15): figures B1-B5, each measured twice in one run, "today" beside "default".

Apple rate-limits the whole developer team, publishes no number, and answers 429 without ``Retry-After``. Here the
loopback Apple (``python -m loopback.apple``, its own process) allows ``Scale.limit`` requests per second (its
``rate_limit``: a token bucket of one second's worth, 429 without ``Retry-After`` beyond it), a number the bot is
not told. The bot runs as ``python -m bot run`` (one process, or two for B4), against the loopback Discord
(``python -m loopback.discord``, its own process); the benchmark plays the members and the operator.

* B1. Goodput and waste: ``users`` linked members each react 👍 to ``posts`` ``/share`` posts at once (400 writes
  from 20 users in the full run). Goodput: ratings written (Apple answered 200) per second, from Apple's first
  request of the backlog to its last successful write, as a share of the limit; waste: 429s as a share of all Apple
  requests (and per write, as issue 15 counts it). Target: >= 90% of the limit, 429s <= 5% of requests.
  Apple's bucket is full when the backlog starts (one second's worth), so a short backlog (``--quick``) can show
  more than 100%.
* B2. Fairness (same run as B1): a newcomer reacts to a post of their own ``newcomer_at`` seconds into that
  backlog; time from their reaction to Apple's state changed (the 200 answer to its PUT). Target: <= 2 s.
* B3. Priority: the same backlog, and ``likes`` ``/rating like`` commands (one every ``like_every`` seconds from
  ``like_start`` on, each a different member and song), dispatch -> Apple's state changed; p50/p99/max.
  Target: p99 <= 1 s.
* B4. Shared budget: the B1 backlog split across two bot processes (``SHARD_COUNT=2``, one shard each, half the
  posts in a guild of each shard) on one PostgreSQL (a throwaway cluster). Target: combined goodput >= 85% of
  the limit, 429s <= 5% of requests. Without PostgreSQL the rows say "skipped: <reason>" (an error under ``CI``).
* B5. Catalog reuse: one ``/share`` of a song, then ``shows`` members react 👍 to it and the same members ask
  ``/rating show`` for it, all at once: Apple requests by kind (catalog, ratings reads, ratings writes, other)
  and 429s. No target; the floor is 1 catalog request (plus one read and one write per member).

Each figure runs twice, interleaved: "today" is the default configuration plus the baseline settings (``--baseline-env
KEY=VALUE``, repeatable; default ``APPLE_PACING=off``, the switch proposed for the pacing work of issue 15, which
turns adaptive pacing off to reproduce the behaviour before it), and "default" the default configuration. A
baseline setting this code does not know is ignored by the bot, and the table says so: "today" then measures the
default configuration too. Each row of "default" prints its ratio to "today".

Every run (one variant of one figure) has fresh bot processes on a fresh database (SQLite; PostgreSQL for B4),
new members and new songs: no run inherits a learned rate, a cache or a queue. The stand-ins are shared by the
group's runs; the benchmark re-arms Apple's limit (a full bucket) right before each measured phase and lifts it
while it sets a run up. Times: Apple's request log records arrival times with ``time.monotonic()``, the
system-wide ``CLOCK_MONOTONIC`` on Linux, which is also what the benchmark reads when it dispatches a reaction or
a command; the loopback Apple answers at once (no added latency), so arrival is when the state changed. Every
wait is on a condition (Apple's log or state, Discord's request log, the store) with a generous timeout; a run
that times out reports what was applied and its figure says "NOT met", it does not fail the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import bot_figures as bf
from bot.config import Settings
from bot.storage import Store, TokenCipher, open_store
from tests.fixtures.e2e import process_env
from tests.fixtures.storage import PostgresServer, PostgresUnavailable, start_postgres

ROOT = Path(__file__).resolve().parents[1]
GROUP = "budget"
RATINGS = "/v1/me/ratings/"
CATALOG = "/v1/catalog/"
STOREFRONT = "/v1/me/storefront"
OWN_REACTION = r"/reactions/[^/]+/@me$"
EDIT_ORIGINAL = r"/messages/@original$"
#: The switch proposed to the pacing work of issue 15: the behaviour before adaptive pacing, on request.
DEFAULT_BASELINE = ("APPLE_PACING=off",)
TODAY, DEFAULT = "today", "default"
POLL = 0.25  # seconds between looks at the stand-ins while waiting for a condition


@dataclass(frozen=True)
class Scale:
    users: int  # members reacting in the backlog
    posts: int  # shared posts each of them reacts to: users * posts writes
    newcomer_at: float  # B2: seconds into the backlog
    likes: int  # B3: /rating like commands
    like_start: float  # B3: seconds into the backlog of the first
    like_every: float  # B3: seconds between two
    shows: int  # B5: members reacting and asking /rating show
    limit: float = 20.0  # Apple's requests per second (the bot is not told)

    @property
    def writes(self) -> int:
        return self.users * self.posts

    def timeout(self, writes: int) -> float:
        """How long a run may take before it is reported incomplete: generous (3x the floor, plus a minute)."""
        return 60.0 + 3.0 * writes / self.limit


FULL = Scale(users=20, posts=20, newcomer_at=2.0, likes=20, like_start=2.0, like_every=0.5, shows=20)
QUICK = Scale(users=4, posts=10, newcomer_at=0.5, likes=4, like_start=0.5, like_every=0.2, shows=4)


def parse_baseline(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict (``--baseline-env``)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--baseline-env takes KEY=VALUE, got {item!r}")
        out[key.strip().upper()] = value
    return out


def unknown_settings(env: dict[str, str]) -> list[str]:
    """The names in ``env`` that are no setting of this code (the bot ignores them)."""
    known = {name.upper() for name in Settings.model_fields}
    return sorted(k for k in env if k not in known)


# ------------------------------------------------------------------------------------------------ processes
@dataclass
class BotProcess:
    name: str
    proc: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def errors_logged(self) -> int:
        return sum(1 for line in self.log().splitlines() if " ERROR " in line or line.startswith("Traceback"))

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while "ready as" not in self.log():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bot process {self.name} did not get ready:\n{self.log()[-3000:]}")
            await asyncio.sleep(POLL)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_bot(tmp: Path, name: str, env: dict[str, str], *args: str) -> BotProcess:
    """``python -m bot ARGS`` (``run`` by default) with only ``env`` as its configuration, logging to a file."""
    log_path = tmp / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            str(tmp / "no.env"),
            *(args or ("run",)),
            cwd=ROOT,
            env=process_env(env),
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    return BotProcess(name, proc, log_path)


@dataclass
class Group:
    """The stand-ins every run of the group shares, and what a run needs to start bot processes."""

    tmp: Path
    apple: bf.AppleProcess
    discord: bf.DiscordProcess
    env: dict[str, str]
    world: dict[str, Any]
    postgres: PostgresServer | None = None
    postgres_skipped: str = ""
    _runs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_run(self) -> int:
        return next(self._runs)


@dataclass
class Post:
    channel_id: int
    message_id: int
    song: str


@dataclass
class Run:
    """One variant of one figure: its bot process(es), database, guilds (one per shard) and linked members."""

    group: Group
    number: int
    store: Store
    bots: list[BotProcess]
    guilds: list[tuple[int, int]]  # (guild id, channel id); index = shard
    users: list[tuple[int, str]]  # (discord id, music user token)

    def song(self, i: int) -> str:
        """A song id of this run only."""
        return str(1_700_000_000 + self.number * 10_000 + i)

    async def add_songs(self, n: int, first: int = 0) -> list[str]:
        songs = [self.song(first + i) for i in range(n)]
        for sid in songs:
            await self.group.apple.admin("add_song", id=sid)
        return songs

    async def share(self, songs: list[tuple[int, str]]) -> list[Post]:
        """``/share`` each (shard, song) at once, by the first member; the posts once the bot recorded them and
        added its own 👍 👎."""
        discord = self.group.discord
        own_before = await discord.admin("requests_count", method="PUT", path_regex=OWN_REACTION)
        commands = [
            {"name": "share", "user_id": self.users[0][0], "channel_id": self.guilds[shard][1], "options": {"item": s}}
            for shard, s in songs
        ]
        await discord.admin("send_commands", commands=commands)
        wanted = {s for _, s in songs}

        async def recorded() -> dict[str, Post] | None:
            found = {
                m.item_id: Post(m.channel_id, m.message_id, m.item_id)
                for m in await self.store.recent_shared_messages(0, limit=10_000)
                if m.item_id in wanted
            }
            return found if len(found) == len(wanted) else None

        posts = await until(recorded, 120, f"{len(wanted)} /share posts recorded", self.bots)

        async def own_reactions() -> bool:
            n = await discord.admin("requests_count", method="PUT", path_regex=OWN_REACTION)
            return bool(n - own_before >= 2 * len(songs))

        await until(own_reactions, 60, "the bot's 👍 👎 on its posts", self.bots)
        return [posts[s] for _, s in songs]

    def errors_logged(self) -> int:
        return sum(b.errors_logged() for b in self.bots)


async def until(check: Callable[[], Awaitable[Any]], timeout: float, what: str, bots: list[BotProcess]) -> Any:
    """Poll ``check`` until it returns something true (a hang guard: how long it took is not the measure)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        dead = [b for b in bots if b.proc.returncode is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {b.name}\n{b.log()[-2000:]}" for b in bots)
            raise RuntimeError(f"budget figures: waiting for {what} {'failed' if dead else 'timed out'}\n{logs}")
        await asyncio.sleep(POLL)


@contextlib.asynccontextmanager
async def deployment(group: Group, variant_env: dict[str, str], *, shards: int, members: int) -> AsyncIterator[Run]:
    """Fresh bot process(es) with ``variant_env`` over the group's base settings, on a fresh database (SQLite for
    one process; PostgreSQL for several, one shard each), with ``members`` new members linked to Apple."""
    number = group.next_run()
    name = f"run{number}"
    if shards == 1:
        database_url = f"sqlite:///{group.tmp / name / 'bot.db'}"
        guilds = [(int(group.world["guild_id"]), int(group.world["channel_id"]))]
    else:
        assert group.postgres is not None
        database_url = await group.postgres.create_database()
        guilds = []
        for shard in range(shards):
            g = await group.discord.admin("add_guild", name=f"{name} shard {shard}", shard_id=shard, shard_count=shards)
            guilds.append((int(g["guild_id"]), int(g["channel_id"])))
    await group.apple.admin("rate_limit", per_second=None)  # set-up is not measured
    store = await open_store(database_url, TokenCipher.from_setting(group.env["TOKEN_ENCRYPTION_KEY"]))
    bots: list[BotProcess] = []
    try:
        uids: list[int] = await group.discord.admin("add_members", count=members, prefix=name, guild_id=guilds[0][0])
        for guild_id, _ in guilds[1:]:
            for uid in uids:
                await group.discord.admin("add_member", guild_id=guild_id, user_id=uid)
        users = []
        for i, uid in enumerate(uids):
            token = bf.music_user_token(number * 1000 + i)
            await group.apple.admin("add_user", token=token, storefront="us")
            await store.link_account(uid, token, "us")
            users.append((uid, token))
        for shard in range(shards):
            port = bf.free_port()
            env = {
                **group.env,
                "DATABASE_URL": database_url,
                "WEB_PORT": str(port),
                "LINK_BASE_URL": f"http://127.0.0.1:{port}",
                "LOG_LEVEL": "INFO",
                **({"SHARD_COUNT": str(shards), "SHARD_IDS": str(shard)} if shards > 1 else {}),
                **variant_env,
            }
            bots.append(await start_bot(group.tmp, f"{name}-shard{shard}", env))
        await asyncio.gather(*(b.wait_ready() for b in bots))
        yield Run(group, number, store, bots, guilds, users)
    finally:
        await asyncio.gather(*(b.stop() for b in bots))
        await store.close()
        await group.apple.admin("rate_limit", per_second=None)


# ------------------------------------------------------------------------------------------------ Apple's log
def successful_writes(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in summary if r["method"] == "PUT" and r["path"].startswith(RATINGS) and r["status"] == 200]


def first_write_at(summary: list[dict[str, Any]], song: str) -> float | None:
    """When Apple first accepted a rating PUT of ``song`` (monotonic), or None."""
    times = [r["timestamp"] for r in successful_writes(summary) if r["path"].rsplit("/", 1)[1] == song]
    return min(times) if times else None


async def ratings_in_place(apple: bf.AppleProcess, wanted: list[tuple[str, str]]) -> bool:
    """Every (token, song) of ``wanted`` is liked in Apple's state."""
    for token, song in wanted:
        if await apple.admin("rating", token=token, type="songs", id=song) != 1:
            return False
    return True


async def wait_applied(
    run: Run,
    wanted: list[tuple[str, str]],
    commanded: list[tuple[str, str]],
    *,
    answers: int,
    edits_before: int,
    timeout: float,
) -> tuple[list[dict[str, Any]], bool]:
    """Wait until Apple holds every (token, song) of ``wanted`` (reactions, through the outbox) liked and the
    ``answers`` commands dispatched since ``edits_before`` were all answered (the bot answers a command after its
    Apple call, so the state of ``commanded`` is then final). Returns Apple's request log, and False if the wait
    timed out."""
    apple, discord = run.group.apple, run.group.discord
    deadline = time.monotonic() + timeout
    while True:
        summary = await apple.summary()
        answered = 0
        if answers:
            answered = await discord.admin("requests_count", method="PATCH", path_regex=EDIT_ORIGINAL) - edits_before
        if answered >= answers and len(successful_writes(summary)) >= len(wanted):
            if await ratings_in_place(apple, wanted):
                return summary, True
        if time.monotonic() > deadline or any(b.proc.returncode is not None for b in run.bots):
            return await apple.summary(), False
        await asyncio.sleep(POLL)


def spend(summary: list[dict[str, Any]], limit: float, writes: int, made_at: float) -> dict[str, Any]:
    """Goodput and waste of a backlog from Apple's log: successful writes per second from Apple's first request to
    the last successful write, as a share of ``limit`` (and end to end: from ``made_at``, when the first reaction
    was made, which adds the outbox's debounce and the bot's intake); 429s as a share of requests and of the
    writes."""
    ok = successful_writes(summary)
    n429 = sum(1 for r in summary if r["status"] == 429)
    start = min((r["timestamp"] for r in summary), default=0.0)
    end = max((r["timestamp"] for r in ok), default=start)
    window = end - start
    return {
        "seconds": window,
        "writes": writes,
        "applied": len(ok),
        "requests": len(summary),
        "429s": n429,
        "share_429": n429 / max(1, len(summary)),
        "429_per_write": n429 / max(1, writes),
        "goodput_share": len(ok) / window / limit if window > 0 else float("nan"),
        "end_to_end_s": end - made_at,
        "goodput_share_end_to_end": len(ok) / (end - made_at) / limit if end > made_at else float("nan"),
    }


# ------------------------------------------------------------------------------------------------ the runs
async def backlog_run(
    group: Group, scale: Scale, variant_env: dict[str, str], *, shards: int = 1, newcomer: bool, likes: int
) -> dict[str, Any]:
    """The backlog of B1 (across ``shards`` processes), with B2's newcomer and/or B3's ``/rating like`` commands."""
    async with deployment(group, variant_env, shards=shards, members=scale.users + 1) as run:
        apple, discord = group.apple, group.discord
        post_songs = await run.add_songs(scale.posts)
        newcomer_song = (await run.add_songs(1, first=scale.posts))[0]
        like_songs = await run.add_songs(likes, first=scale.posts + 1)
        to_share = [(i % shards, s) for i, s in enumerate(post_songs)] + ([(0, newcomer_song)] if newcomer else [])
        posts = await run.share(to_share)
        backlog_posts = posts[: scale.posts]
        members, (newcomer_id, newcomer_token) = run.users[: scale.users], run.users[scale.users]
        reactions = [
            {"channel_id": p.channel_id, "message_id": p.message_id, "user_id": uid, "emoji": "👍"}
            for uid, _ in members
            for p in backlog_posts
        ]
        wanted = [(token, p.song) for _, token in members for p in backlog_posts]
        if newcomer:
            wanted.append((newcomer_token, newcomer_song))
        like_users = [members[i % len(members)] for i in range(likes)]
        commanded = [(token, song) for (_, token), song in zip(like_users, like_songs, strict=True)]
        edits_before = await discord.admin("requests_count", method="PATCH", path_regex=EDIT_ORIGINAL)

        await apple.admin("reset_requests")
        await apple.admin("rate_limit", per_second=scale.limit)  # a full bucket, the limit the bot is not told
        start = time.monotonic()
        made: dict[str, float] = {}  # song -> when its reaction or command was made (monotonic)

        async def at(offset: float) -> None:
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))

        async def newcomer_reacts() -> None:
            await at(scale.newcomer_at)
            post = posts[scale.posts]
            made[newcomer_song] = time.monotonic()
            await discord.admin(
                "add_reaction", channel_id=post.channel_id, message_id=post.message_id, user_id=newcomer_id, emoji="👍"
            )

        async def members_like() -> None:
            for i, ((uid, _), song) in enumerate(zip(like_users, like_songs, strict=True)):
                await at(scale.like_start + i * scale.like_every)
                made[song] = time.monotonic()
                channel = run.guilds[0][1]
                command = {"name": "rating like", "user_id": uid, "channel_id": channel, "options": {"item": song}}
                await discord.admin("send_commands", commands=[command])

        dispatched: list[float] = []  # when the backlog's reactions were all made

        async def react() -> None:
            await discord.admin("add_reactions", reactions=reactions)
            dispatched.append(time.monotonic())

        await asyncio.gather(react(), members_like(), *([newcomer_reacts()] if newcomer else []))
        summary, complete = await wait_applied(
            run, wanted, commanded, answers=likes, edits_before=edits_before, timeout=scale.timeout(len(wanted) + likes)
        )
        result = spend(summary, scale.limit, len(wanted) + likes, start)
        result["reactions_dispatched_s"] = dispatched[0] - start
        result["complete"] = complete
        result["processes"] = shards
        if newcomer:
            done = first_write_at(summary, newcomer_song)
            result["newcomer_s"] = done - made[newcomer_song] if done is not None else None
        if likes:
            times = [first_write_at(summary, s) for s in like_songs]
            waits = [t - made[s] for s, t in zip(like_songs, times, strict=True) if t is not None]
            result.update(
                {
                    "likes": likes,
                    "likes_applied": len(waits),
                    "likes_p50_s": bf.percentile(waits, 50),
                    "likes_p99_s": bf.percentile(waits, 99),
                    "likes_max_s": max(waits, default=float("nan")),
                }
            )
        result["errors_logged"] = run.errors_logged()
        return result


async def catalog_run(group: Group, scale: Scale, variant_env: dict[str, str]) -> dict[str, Any]:
    """B5: one ``/share`` of a song, then ``shows`` reactions 👍 to it and ``shows`` ``/rating show`` of it at once."""
    async with deployment(group, variant_env, shards=1, members=scale.shows) as run:
        apple, discord = group.apple, group.discord
        (song,) = await run.add_songs(1)
        await apple.admin("reset_requests")
        await apple.admin("rate_limit", per_second=scale.limit)
        (post,) = await run.share([(0, song)])
        edits_before = await discord.admin("requests_count", method="PATCH", path_regex=EDIT_ORIGINAL)
        reactions = [
            {"channel_id": post.channel_id, "message_id": post.message_id, "user_id": uid, "emoji": "👍"}
            for uid, _ in run.users
        ]
        shows = [
            {"name": "rating show", "user_id": uid, "channel_id": post.channel_id, "options": {"item": song}}
            for uid, _ in run.users
        ]
        await asyncio.gather(
            discord.admin("add_reactions", reactions=reactions), discord.admin("send_commands", commands=shows)
        )
        wanted = [(token, song) for _, token in run.users]
        summary, complete = await wait_applied(
            run, wanted, [], answers=len(shows), edits_before=edits_before, timeout=scale.timeout(4 * len(wanted))
        )

        def kind(r: dict[str, Any]) -> str:
            if r["status"] == 429:
                return "429s"
            if r["path"].startswith(CATALOG):
                return "catalog"
            if r["path"].startswith(RATINGS):
                return "ratings writes" if r["method"] in ("PUT", "DELETE") else "ratings reads"
            return "storefront" if r["path"].startswith(STOREFRONT) else "other"

        kinds = {k: 0 for k in ("catalog", "ratings reads", "ratings writes", "storefront", "other", "429s")}
        for r in summary:
            kinds[kind(r)] += 1
        return {
            "seconds": max((r["timestamp"] for r in summary), default=0.0)
            - min((r["timestamp"] for r in summary), default=0.0),
            "requests": len(summary),
            "by_kind": kinds,
            "members": len(run.users),
            "complete": complete,
            "errors_logged": run.errors_logged(),
        }


# ------------------------------------------------------------------------------------------------ figures
Measure = Callable[[dict[str, str]], Awaitable[dict[str, Any]]]


async def paired(baseline: dict[str, str], measure: Measure) -> dict[str, dict[str, Any]]:
    """``measure`` as "today" (the baseline settings), then with the default configuration."""
    return {TODAY: await measure(baseline), DEFAULT: await measure({})}


def _figure(
    title: str, variants: dict[str, dict[str, Any]], target: str, met: bool | None, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "budget",
        "group": GROUP,
        "figure": title,
        "variants": variants,
        "target": target,
        "met": met,
        **extra,
    }


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b != b or a != a:
        return "n/a"
    if b == 0:
        return "inf" if a else "1.00x"
    return f"{a / b:.2f}x"


async def figures(
    tmp: Path, session: aiohttp.ClientSession, pem: str, key_path: Path, quick: bool, baseline: dict[str, str]
) -> list[dict[str, Any]]:
    """Figures B1-B5 (a result entry each), "today" beside "default"."""
    scale = QUICK if quick else FULL
    tmp = tmp / "budget"
    tmp.mkdir()
    (tmp / "no.env").write_text("")
    apple = await bf.start_apple(tmp, session, pem)
    stack = contextlib.ExitStack()
    try:
        async with bf.discord_process(session) as discord:
            env = bf.bot_env(tmp, discord, apple.base_url, key_path, bf.TEAM, bf.KID)
            sync = await start_bot(tmp, "sync", env, "sync")
            if await sync.proc.wait() != 0:
                raise RuntimeError(f"python -m bot sync failed:\n{sync.log()[-2000:]}")
            group = Group(tmp, apple, discord, env, await discord.admin("world"))
            try:
                group.postgres = await asyncio.to_thread(stack.enter_context, start_postgres())
            except PostgresUnavailable as exc:
                if os.environ.get("CI"):
                    raise RuntimeError(f"figure B4 must run on PostgreSQL in CI, but: {exc}") from None
                group.postgres_skipped = str(exc)
            return await _measure_all(group, scale, baseline)
    finally:
        await asyncio.to_thread(stack.close)
        apple.proc.terminate()
        apple.proc.wait(10)


async def _measure_all(group: Group, scale: Scale, baseline: dict[str, str]) -> list[dict[str, Any]]:
    ignored = unknown_settings(baseline)
    common = {
        "baseline_env": baseline,
        "baseline_ignored": ignored,
        "limit_per_s": scale.limit,
        "scale": vars(scale) | {"writes": scale.writes},
    }
    w, u = scale.writes, scale.users

    b12 = await paired(baseline, lambda e: backlog_run(group, scale, e, newcomer=True, likes=0))
    b3 = await paired(baseline, lambda e: backlog_run(group, scale, e, newcomer=False, likes=scale.likes))
    if group.postgres is not None:
        b4: dict[str, dict[str, Any]] = await paired(
            baseline, lambda e: backlog_run(group, scale, e, shards=2, newcomer=False, likes=0)
        )
    else:
        b4 = {v: {"skipped": group.postgres_skipped} for v in (TODAY, DEFAULT)}
    b5 = await paired(baseline, lambda e: catalog_run(group, scale, e))

    d1, d4 = b12[DEFAULT], b4[DEFAULT]
    newcomer = d1.get("newcomer_s")
    p99 = b3[DEFAULT].get("likes_p99_s")
    return [
        _figure(
            f"B1. goodput and waste: {w} reaction writes from {u} users, Apple allows {scale.limit:g}/s (untold)",
            b12,
            ">= 90% of the limit, 429s <= 5% of requests",
            d1["complete"] and d1["goodput_share"] >= 0.9 and d1["share_429"] <= 0.05,
            metric="backlog",
            **common,
        ),
        _figure(
            f"B2. fairness: a newcomer's reaction made {scale.newcomer_at:g} s into that backlog -> applied",
            b12,
            "applied within 2 s",
            newcomer is not None and newcomer <= 2.0,
            metric="newcomer",
            **common,
        ),
        _figure(
            f"B3. priority: {scale.likes} /rating like during the backlog, dispatch -> Apple's state changed",
            b3,
            "p99 <= 1 s",
            b3[DEFAULT].get("likes_applied") == scale.likes and p99 is not None and p99 <= 1.0,
            metric="likes",
            **common,
        ),
        _figure(
            f"B4. shared budget: the {w} writes split across two bot processes on one PostgreSQL",
            b4,
            "combined goodput >= 85% of the limit, 429s <= 5% of requests",
            None if "skipped" in d4 else d4["complete"] and d4["goodput_share"] >= 0.85 and d4["share_429"] <= 0.05,
            metric="backlog",
            **common,
        ),
        _figure(
            f"B5. catalog reuse: Apple requests for one /share + {scale.shows} reactions + {scale.shows} "
            "/rating show of the same song",
            b5,
            f"no target; floor: 1 catalog request, {scale.shows} ratings reads, {scale.shows} writes",
            None,
            metric="catalog",
            **common,
        ),
    ]


# ------------------------------------------------------------------------------------------------ the table
def _describe(metric: str, v: dict[str, Any]) -> str:
    if "skipped" in v:
        return f"skipped: {v['skipped']}"
    text = ""
    if metric == "backlog":
        text = (
            f"goodput {v['goodput_share']:.0%} of the limit ({v['applied']}/{v['writes']} written in "
            f"{v['seconds']:.1f}s from Apple's first request; {v['goodput_share_end_to_end']:.0%} end to end, "
            f"{v['end_to_end_s']:.1f}s from the first reaction); 429s {v['share_429']:.1%} of requests "
            f"({v['429s']}, {v['429_per_write']:.0%} of the writes)"
        )
    elif metric == "newcomer":
        s = v.get("newcomer_s")
        text = f"applied after {s:.2f}s" if s is not None else "NOT applied"
        text += f" (the backlog's reactions took {v['reactions_dispatched_s']:.2f}s to dispatch)"
    elif metric == "likes":
        text = (
            f"p50 {v['likes_p50_s']:.2f}s, p99 {v['likes_p99_s']:.2f}s, max {v['likes_max_s']:.2f}s; "
            f"{v['likes_applied']}/{v['likes']} applied"
        )
    elif metric == "catalog":
        text = ", ".join(f"{k} {n}" for k, n in v["by_kind"].items())
    if not v.get("complete", True):
        text += "; INCOMPLETE (timed out)"
    if v.get("errors_logged"):
        text += f"; {v['errors_logged']} ERROR lines in the bot's log"
    return text


def _headline(metric: str, v: dict[str, Any]) -> tuple[str, float | None]:
    """The figure's main number for the "seconds" column and the ratio."""
    if "skipped" in v:
        return "", None
    value: float | None = {
        "backlog": v.get("goodput_share"),
        "newcomer": v.get("newcomer_s"),
        "likes": v.get("likes_p99_s"),
        "catalog": float(v["requests"]) if "requests" in v else None,
    }[metric]
    if metric == "catalog":
        return f"{v['seconds']:.3f}", value
    if metric == "backlog":
        return f"{v['seconds']:.3f}", value
    return (f"{value:.3f}" if value is not None else "n/a"), value


def budget_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows "today" and "default" of a B figure: ``seconds`` is the backlog's window (B1, B4), the time to applied
    (B2), the p99 (B3) or the span of Apple's requests (B5); ``requests`` is Apple's requests in the run."""
    metric = fig["metric"]
    today, default = fig["variants"][TODAY], fig["variants"][DEFAULT]
    rows: list[tuple[str, str, str, str]] = []
    for name, v in ((TODAY, today), (DEFAULT, default)):
        seconds, value = _headline(metric, v)
        note = _describe(metric, v)
        if name == TODAY:
            env = " ".join(f"{k}={val}" for k, val in fig["baseline_env"].items()) or "nothing"
            note += f" [default + {env}"
            if fig["baseline_ignored"]:
                note += f"; {', '.join(fig['baseline_ignored'])} unknown to this code: same as default"
            note += "]"
        else:
            note += (
                f"; target: {fig['target']} -> {'n/a' if fig['met'] is None else 'met' if fig['met'] else 'NOT met'}"
            )
            _, before = _headline(metric, today)
            note += f"; default/today {_ratio(value, before)}"
            if metric == "backlog" and "share_429" in v and "share_429" in today:
                note += f" (429s {_ratio(v['share_429'], today['share_429'])})"
        rows.append((name, seconds, str(v.get("requests", "")), note))
    return rows
