"""Two real bot processes (``python -m bot`` with ``SHARD_COUNT=2`` and ``SHARD_IDS=0`` / ``1``) against one loopback
Discord, one loopback Apple Music and one PostgreSQL database — the multi-process deployment of the README.

* Each process answers only the interactions of its own shard's guilds (``/about`` names the shard it ran on,
  and the loopback Discord records which gateway session each interaction went to).
* A storm of reactions in guilds on both shards ends with Apple's state equal to the intended state, and
  Apple's request log shows exactly one write per intended change: the two processes share one outbox and
  never apply the same row twice.
* Started together, the two processes take turns to IDENTIFY (both shards are in bucket 0 of ``max_concurrency``
  1): the loopback Discord, which refuses a second IDENTIFY of a bucket within 5 s as Discord does, sees them at
  least 5 s apart and refuses none (the turn is a row in the shared database, ``bot/identify.py``).
* ``SIGKILL`` one process while it holds claimed rows: nothing is lost. Its claims are applied by the other
  process once their lease (``OUTBOX_LEASE_SECONDS``) expires, and only those rows may reach Apple twice (the
  killed process may have sent them before it died; a rating PUT/DELETE is idempotent).

The test process plays the operator: it runs ``python -m bot migrate`` and ``python -m bot sync`` first, links
accounts through the store, and reads the outbox with asyncpg to see who holds which claim.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from bot.storage import Store, TokenCipher, open_store
from bot.storage.postgres import application_name
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, shard_for_guild
from tests.fixtures.apple import AppleKey
from tests.fixtures.bot import free_port
from tests.fixtures.e2e import eventually, process_env
from tests.fixtures.storage import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
SHARDS = 2
USERS = 20
MESSAGES_PER_GUILD = 5
LEASE = 3  # OUTBOX_LEASE_SECONDS for both processes: short, so the kill test waits seconds, not minutes
VALUE = {"👍": 1, "👎": -1}
RATINGS = "/v1/me/ratings/songs/"

pytestmark = pytest.mark.timeout(180)


@dataclass
class BotProcess:
    shard: int
    proc: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout=30)

    def applied(self) -> int:
        """Ratings this process's outbox worker applied (its log line at a clean stop)."""
        found = re.findall(r"outbox worker \S+ stopped \(applied (\d+), failed (\d+)\)", self.log())
        assert found, f"shard {self.shard} logged no outbox summary:\n{self.log()[-3000:]}"
        return int(found[-1][0])


@dataclass
class Deployment:
    discord: LoopbackDiscord
    apple: LoopbackApple
    store: Store  # the operator's own connection to the shared database (linking accounts, reading state)
    database_url: str
    env: dict[str, str]
    tmp_path: Path
    guilds: list[tuple[int, int]] = field(default_factory=list)  # (guild id, channel id), index = shard
    users: list[tuple[int, str]] = field(default_factory=list)  # (discord id, music user token)
    messages: list[tuple[int, int, str]] = field(default_factory=list)  # (channel id, message id, song id)
    processes: dict[int, BotProcess] = field(default_factory=dict)

    def process_env(self, shard: int) -> dict[str, str]:
        port = free_port()
        return {
            **self.env,
            "SHARD_COUNT": str(SHARDS),
            "SHARD_IDS": str(shard),
            "WEB_PORT": str(port),
            "OPS_PORT": "0",
            "LINK_BASE_URL": f"http://127.0.0.1:{port}",
        }

    async def start(self, shard: int) -> BotProcess:
        log_path = self.tmp_path / f"shard{shard}.log"
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=ROOT,
                env=self.process_env(shard),
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        process = BotProcess(shard, proc, log_path)
        self.processes[shard] = process
        await self.discord.wait_for_session(shard, count=1, timeout=30)
        return process

    async def share(self, shard: int, song: str) -> int:
        """``/share`` the song in the guild of ``shard``; returns the posted message id once it is recorded."""
        _, channel = self.guilds[shard]
        rec = await self.discord.send_command("share", self.users[0][0], channel, {"item": song})
        callback = await self.discord.wait_for_callback(rec, timeout=10)
        assert callback.accepted, callback
        message = await self.discord.wait_for_original(rec, timeout=10)
        await eventually(
            lambda: self.store.get_shared_message(message.id), timeout=30, what="the shared message record"
        )
        self.messages.append((channel, message.id, song))
        return message.id

    def token_of(self, user_id: int) -> str:
        return next(token for uid, token in self.users if uid == user_id)


async def run_cli(env: dict[str, str], *args: str) -> str:
    """``python -m bot <args>`` as the operator runs it (asynchronously: the loopback servers live in this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, f"python -m bot {' '.join(args)} failed: {err.decode()[-2000:]}"
    return out.decode()


@pytest.fixture
async def deployment(
    tmp_path: Path,
    postgres_server: PostgresServer,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    apple_key: AppleKey,
) -> AsyncIterator[Deployment]:
    database_url = await postgres_server.create_database()
    key = TokenCipher.generate_key()
    env = process_env(
        {
            "DISCORD_TOKEN": discord_server.bot_token,
            "DISCORD_API_BASE": discord_server.api_base,
            "DISCORD_GATEWAY_URL": discord_server.gateway_url,
            "APPLE_TEAM_ID": apple_key.team_id,
            "APPLE_KEY_ID": apple_key.key_id,
            "APPLE_PRIVATE_KEY_PATH": str(apple_key.write(tmp_path / "AuthKey_TEST.p8")),
            "APPLE_MUSIC_API_BASE": apple_server.base_url,
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": key,
            "OUTBOX_LEASE_SECONDS": str(LEASE),
            "LOG_LEVEL": "INFO",
        }
    )
    # the operator's steps before rolling out processes: migrate once, register the commands globally
    assert "up to date" in await run_cli(env, "migrate")
    assert "Synced" in await run_cli(env, "sync")
    store = await open_store(database_url, TokenCipher.from_setting(key))
    deploy = Deployment(discord_server, apple_server, store, database_url, env, tmp_path)

    for shard in range(SHARDS):
        guild = discord_server.add_guild(f"Shard {shard} guild", discord_server.make_guild_id(shard, SHARDS))
        assert shard_for_guild(guild.id, SHARDS) == shard
        deploy.guilds.append((guild.id, discord_server.add_text_channel(guild.id, "music")))
    for n in range(USERS):
        uid = discord_server.add_user(f"listener{n}")
        for guild_id, _ in deploy.guilds:
            discord_server.add_member(guild_id, uid)
        token = f"Ag{n:02d}" + "ShardMut" * 24
        apple_server.add_user(token)
        await deploy.store.link_account(uid, token, "us")
        deploy.users.append((uid, token))
    try:
        yield deploy
    finally:
        for process in deploy.processes.values():
            if process.proc.returncode is None:
                process.proc.kill()
                await process.proc.wait()
        await deploy.store.close()


# ---------------------------------------------------------------------- the storm's bookkeeping
Key = tuple[int, int]  # (user id, message id)


@dataclass
class Storm:
    deploy: Deployment
    shown: dict[Key, str] = field(default_factory=dict)  # the reaction each user shows on each message
    intent: dict[Key, int] = field(default_factory=dict)  # 1 / -1 / 0 (cleared)
    changes: dict[Key, int] = field(default_factory=dict)  # intended changes since the start: Apple writes due

    async def react(self, key: Key, emoji: str) -> None:
        uid, mid = key
        channel = self.channel_of(mid)
        assert await self.deploy.discord.add_reaction(channel, mid, uid, emoji)
        self.shown[key] = emoji
        self.intent[key] = VALUE[emoji]
        self.changes[key] = self.changes.get(key, 0) + 1

    async def unreact(self, key: Key, *, then: str | None = None) -> None:
        """Remove the shown reaction; with ``then``, add that one straight after (one change, coalesced)."""
        uid, mid = key
        channel = self.channel_of(mid)
        assert await self.deploy.discord.remove_reaction(channel, mid, uid, self.shown.pop(key))
        if then is None:
            self.intent[key] = 0
            self.changes[key] = self.changes.get(key, 0) + 1
        else:
            assert await self.deploy.discord.add_reaction(channel, mid, uid, then)
            self.shown[key] = then
            self.intent[key] = VALUE[then]
            self.changes[key] = self.changes.get(key, 0) + 1

    def channel_of(self, message_id: int) -> int:
        return next(channel for channel, mid, _ in self.deploy.messages if mid == message_id)

    def song_of(self, message_id: int) -> str:
        return next(song for _, mid, song in self.deploy.messages if mid == message_id)

    def wrong_for(self, key: Key) -> bool:
        uid, mid = key
        have = self.deploy.apple.rating(self.deploy.token_of(uid), "songs", self.song_of(mid))
        return have != (self.intent[key] or None)

    def wrong(self) -> list[tuple[Key, int, int | None]]:
        """Keys whose Apple rating differs from the intent."""
        apple, out = self.deploy.apple, []
        for (uid, mid), value in self.intent.items():
            have = apple.rating(self.deploy.token_of(uid), "songs", self.song_of(mid))
            if have != (value or None):
                out.append(((uid, mid), value, have))
        return out

    async def settled(self) -> bool:
        return not self.wrong() and await self.deploy.store.outbox_size() == 0

    def key_of_song(self, token: str, song: str) -> Key:
        uid = next(u for u, t in self.deploy.users if t == token)
        mid = next(m for _, m, s in self.deploy.messages if s == song)
        return uid, mid

    def writes(self) -> dict[Key, list[float]]:
        """Successful rating writes Apple recorded, per key: their arrival times (monotonic)."""
        out: dict[Key, list[float]] = {}
        for r in self.deploy.apple.requests:
            if r.method in ("PUT", "DELETE") and r.path.startswith(RATINGS) and r.status in (200, 204):
                token = r.user_token
                assert token is not None
                key = self.key_of_song(token, r.path.rsplit("/", 1)[1])
                out.setdefault(key, []).append(r.timestamp)
        return out

    def keys(self) -> list[Key]:
        return [(uid, mid) for uid, _ in self.deploy.users for _, mid, _ in self.deploy.messages]


def guild_ids(events: list[dict[str, object]]) -> set[int]:
    return {int(str(e["id"])) for e in events}


async def start_both_and_share(deploy: Deployment) -> None:
    await asyncio.gather(*(deploy.start(shard) for shard in range(SHARDS)))
    for shard in range(SHARDS):
        for _ in range(MESSAGES_PER_GUILD):
            await deploy.share(shard, deploy.apple.add_song())


# ---------------------------------------------------------------------- tests
async def test_processes_starting_together_take_turns_to_identify(deployment: Deployment) -> None:
    deploy, discord = deployment, deployment.discord
    assert discord.max_concurrency == 1  # shards 0 and 1 share bucket 0
    await asyncio.gather(*(deploy.start(shard) for shard in range(SHARDS)))
    assert sorted(i.shard for i in discord.identifies) == [(0, SHARDS), (1, SHARDS)]
    assert not discord.refused_identifies
    first, second = sorted(i.at for i in discord.identifies)
    assert second - first >= 5.0  # on the loopback Discord's clock, when each IDENTIFY arrived
    codes = [await p.stop() for p in deploy.processes.values()]
    assert codes == [0, 0]
    for process in deploy.processes.values():
        assert "Traceback" not in process.log(), process.log()[-3000:]


async def test_two_shard_processes_split_the_guilds_and_share_one_outbox(deployment: Deployment) -> None:
    deploy, discord = deployment, deployment.discord
    await start_both_and_share(deploy)

    # each process answers only its own shard's guilds
    answered: dict[int, int] = {}
    for shard, (_, channel) in enumerate(deploy.guilds):
        rec = await discord.send_command("about", deploy.users[1][0], channel)
        callback = await discord.wait_for_callback(rec, timeout=10)
        assert callback.accepted
        assert callback.data is not None
        assert f"Shard {shard} of {SHARDS}." in callback.data["embeds"][0]["footer"]["text"]
        answered[shard] = rec.id
    for session in discord.sessions.values():
        got = {int(d["id"]) for d in session.events_named("INTERACTION_CREATE")}
        other = answered[1 - session.shard_id]
        assert answered[session.shard_id] in got and other not in got, "an interaction reached the wrong shard"
    for shard, (guild_id, _) in enumerate(deploy.guilds):
        told = {s.shard_id for s in discord.sessions.values() if guild_id in guild_ids(s.events_named("GUILD_CREATE"))}
        assert told == {shard}, "each guild is announced to its own shard only"

    # the storm: every listener reacts on every post of both guilds, in random order ...
    rng = random.Random(8)
    storm = Storm(deploy)
    keys = storm.keys()
    rng.shuffle(keys)
    for key in keys:
        await storm.react(key, rng.choice(list(VALUE)))
    await eventually(storm.settled, timeout=60, what="Apple's state equal to the first round's intent")
    # ... then a third switch to the other reaction and a third take theirs back
    rng.shuffle(keys)
    for n, key in enumerate(keys):
        if n % 3 == 0:
            await storm.unreact(key, then="👎" if storm.shown[key] == "👍" else "👍")
        elif n % 3 == 1:
            await storm.unreact(key)
    await eventually(storm.settled, timeout=60, what="Apple's state equal to the intent")
    assert not storm.wrong()

    # exactly one Apple write per intended change: no row was applied twice, by one process or by both
    writes = storm.writes()
    doubled = {k: len(v) for k, v in writes.items() if len(v) != storm.changes[k]}
    assert not doubled, f"{len(doubled)} keys were written a different number of times than they changed"
    total = sum(storm.changes.values())
    assert sum(len(v) for v in writes.values()) == total > len(keys)

    codes = [await p.stop() for p in deploy.processes.values()]
    assert codes == [0, 0], [p.log()[-2000:] for p in deploy.processes.values()]
    applied = {shard: p.applied() for shard, p in deploy.processes.items()}
    assert sum(applied.values()) == total, applied
    assert all(n > 0 for n in applied.values()), f"both processes applied ratings: {applied}"
    for process in deploy.processes.values():
        assert "Traceback" not in process.log(), process.log()[-3000:]
        for secret in (deploy.env["DISCORD_TOKEN"], deploy.env["TOKEN_ENCRYPTION_KEY"], deploy.users[0][1]):
            assert secret not in process.log()


async def claims_of(database_url: str, pid: int) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT user_id, item_id, version, lease_until FROM outbox WHERE split_part(claimed_by, ':', 2) = $1",
            str(pid),
        )
        return rows
    finally:
        await conn.close()


async def no_connections_of(database_url: str, pid: int) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application_name(pid)
        )
        return int(count) == 0
    finally:
        await conn.close()


async def test_killing_a_process_mid_storm_loses_nothing(deployment: Deployment) -> None:
    deploy, apple = deployment, deployment.apple
    await start_both_and_share(deploy)
    victim, survivor = deploy.processes[0], deploy.processes[1]

    apple.set_latency(0.4)  # every Apple call takes a while: claims are held long enough to be caught
    rng = random.Random(3)
    storm = Storm(deploy)
    keys = storm.keys()
    rng.shuffle(keys)
    for key in keys:
        await storm.react(key, rng.choice(list(VALUE)))

    async def everything_queued_or_applied() -> bool:
        queued = {(e.user_id, e.item_id) for uid, _ in deploy.users for e in await deploy.store.pending_for_user(uid)}
        return all((uid, storm.song_of(mid)) in queued or not storm.wrong_for((uid, mid)) for uid, mid in keys)

    await eventually(everything_queued_or_applied, timeout=30, what="every reaction in the shared outbox")
    # mid-storm: a quarter of the ratings are applied, and the victim holds claims now: kill it without warning
    await eventually(
        lambda: sum(map(len, storm.writes().values())) >= len(keys) // 4, timeout=30, what="a quarter applied"
    )
    await eventually(
        lambda: claims_of(deploy.database_url, victim.pid), timeout=30, step=0.01, what="claims held by shard 0"
    )
    victim.proc.send_signal(signal.SIGKILL)
    await victim.proc.wait()
    killed_at, killed_wall = time.monotonic(), time.time()
    # a statement the victim sent just before dying still runs to its end: wait until its connections are gone
    await eventually(
        lambda: no_connections_of(deploy.database_url, victim.pid), timeout=30, what="the victim's connections gone"
    )
    orphans = await claims_of(deploy.database_url, victim.pid)
    assert orphans, "the killed process held claims when it died"
    # when each orphan's lease runs out, on the monotonic clock the loopback Apple stamps requests with
    lease_expiry = {
        storm.key_of_song(deploy.token_of(int(r["user_id"])), str(r["item_id"])): killed_at
        + max(0.0, float(r["lease_until"]) - killed_wall)
        for r in orphans
    }
    orphan_keys = set(lease_expiry)

    await eventually(storm.settled, timeout=60, what="the survivor to apply everything")
    assert not storm.wrong(), "every rating asked for reached Apple"

    writes = storm.writes()
    assert set(writes) == set(keys)
    twice = {k for k, times in writes.items() if len(times) > 1}
    assert twice <= orphan_keys, "only rows the dead process held may have reached Apple twice"
    assert all(len(times) <= 2 for times in writes.values())
    for key in orphan_keys:
        assert max(writes[key]) >= lease_expiry[key] - 0.05, "an orphaned claim is applied again after its lease"
    assert await survivor.stop() == 0
    assert len(orphan_keys) <= survivor.applied() < len(keys), "the victim applied some before it died"
    assert "Traceback" not in survivor.log(), survivor.log()[-3000:]
