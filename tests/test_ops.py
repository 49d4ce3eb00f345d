"""Issue 17: liveness, readiness and Prometheus metrics of the real bot, over real HTTP.

* ``/readyz`` is 503 until Discord's READY (held back by the loopback Discord), 200 after; 503 while the outbox
  worker is stopped, while the bot shuts down, and while the database is down (a real PostgreSQL outage), 200 again
  after.
* Every metric changes when its event happens (scraped over HTTP, parsed with prometheus_client's parser).
* The listener binds to 127.0.0.1 by default; on the public linking server ``/metrics`` needs the bearer token, and
  is not served there at all without one.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import RatingsBot
from bot.config import load_settings
from bot.metrics import Metrics
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, running_client
from tests.fixtures.bot import BotFactory, BotMaker
from tests.fixtures.e2e import FAST_OUTBOX, eventually, share
from tests.test_database_outage import outage

METRICS_TOKEN = "metrics-bearer-for-tests-0123456789"
PASTED = "Ag" + "0psL1nk3d+/" * 30
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


def ops_url(bot: RatingsBot, path: str) -> str:
    ops = bot.svc.ops
    assert ops is not None
    return f"http://127.0.0.1:{ops.bound_port}{path}"


async def readyz(bot: RatingsBot) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(ops_url(bot, "/readyz")) as resp:
        return resp.status, await resp.json()


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(bot: RatingsBot) -> Samples:
    status, text = await get(ops_url(bot, "/metrics"))
    assert status == 200
    return parse(text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def metric_reaches(bot: RatingsBot, name: str, target: float, **labels: str) -> Samples:
    """Scrape until ``name{labels}`` is ``target``; returns that scrape."""

    async def check() -> Samples | None:
        samples = await scrape(bot)
        return samples if value(samples, name, **labels) == target else None

    found: Samples = await eventually(check, what=f"{name}{labels} == {target}")
    return found


# ---------------------------------------------------------------------------------------------- readiness
@pytest.mark.both_engines
async def test_readyz_is_503_until_ready_then_200_and_healthz_always_answers(
    bot_maker: BotMaker, discord_server: LoopbackDiscord
) -> None:
    discord_server.hold_ready()
    bot = bot_maker()
    seen: dict[str, Any] = {}

    async def before_ready() -> None:
        # the listener is up (set-up done) and the IDENTIFY was sent: Discord has not answered READY yet
        await eventually(lambda: bot.services is not None and discord_server.identify_payloads, what="IDENTIFY")
        seen["healthz"] = await get(ops_url(bot, "/healthz"))
        seen["readyz"] = await readyz(bot)
        discord_server.release_ready()

    probe = asyncio.ensure_future(before_ready())
    async with running_client(bot, discord_server.bot_token, timeout=15):
        await probe
        assert seen["healthz"] == (200, '{"ok": true}')
        status, body = seen["readyz"]
        assert status == 503 and body["ready"] is False
        assert body["checks"]["shards"] == "not connected to Discord yet"
        assert {k: v for k, v in body["checks"].items() if k != "shards"} == {
            "database": "ok",
            "outbox": "ok",
            "process": "ok",
        }

        assert await readyz(bot) == (
            200,
            {"ready": True, "checks": {"shards": "ok", "database": "ok", "outbox": "ok", "process": "ok"}},
        )
        ops = bot.svc.ops
        assert ops is not None and ops.bound_host == "127.0.0.1"  # the default OPS_HOST

        # the outbox worker stopped: not ready; started again: ready
        await bot.svc.outbox.stop()
        status, body = await readyz(bot)
        assert status == 503 and body["checks"]["outbox"] == "the outbox worker is not running"
        await bot.svc.outbox.start()
        assert (await readyz(bot))[0] == 200

        # shutting down: not ready from the moment close begins
        health = bot.svc.health
        closing = asyncio.ensure_future(bot.close())
        await bot.wait_until_draining()
        readiness = await health.readiness()
        assert not readiness.ready and readiness.checks["process"] == "shutting down"
        await closing


def test_the_operations_listener_is_on_localhost_by_default() -> None:
    settings = load_settings({}, env_file=None)
    assert (settings.ops_listener, settings.ops_host, settings.ops_port) == ("own", "127.0.0.1", 9108)
    assert settings.metrics_token is None


@pytest.mark.postgres_only
async def test_readyz_is_503_while_the_database_is_down_and_store_errors_are_counted(
    bot_factory: BotFactory, database_url: str
) -> None:
    async with bot_factory() as bot:
        assert (await readyz(bot))[0] == 200
        before = await scrape(bot)
        assert value(before, "amrb_database_up") == 1
        async with outage(database_url):
            status, body = await readyz(bot)
            assert status == 503 and body["ready"] is False
            assert body["checks"]["database"] == "unavailable (unreachable)"
            assert body["checks"]["shards"] == "ok" and body["checks"]["outbox"] == "ok"
            during = await scrape(bot)
            assert value(during, "amrb_database_up") == 0
            assert value(during, "amrb_store_errors_total", fault="unreachable") > value(
                before, "amrb_store_errors_total", fault="unreachable"
            )
        await eventually(lambda: _ready(bot), what="ready again once the database is back")
        assert value(await scrape(bot), "amrb_database_up") == 1


async def _ready(bot: RatingsBot) -> bool:
    return (await readyz(bot))[0] == 200


# ---------------------------------------------------------------------------------------------- metrics
@pytest.mark.both_engines
async def test_every_metric_changes_when_its_event_happens(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    alice, channel = discord_server.alice_id, discord_server.channel_id
    async with bot_factory(outbox_config=FAST_OUTBOX) as bot:
        first = await scrape(bot)
        # gateway: one guild, shard 0's heartbeat latency
        assert value(first, "amrb_guilds") == 1
        latency = value(first, "amrb_gateway_latency_seconds", shard="0")
        assert math.isfinite(latency) and latency >= 0
        assert ("amrb_gateway_latency_seconds", (("shard", "0"),)) in first
        for status in ("active", "stale"):
            assert value(first, "amrb_linked_accounts", status=status) == 0

        # a command that works: counted "ok", its first response timed
        rec = await discord_server.send_command("account", alice, channel)
        assert (await discord_server.wait_for_callback(rec)).accepted
        samples = await metric_reaches(bot, "amrb_interactions_total", 1, command="account", outcome="ok")
        assert value(samples, "amrb_first_response_seconds_count", command="account") == 1
        assert value(samples, "amrb_first_response_seconds_sum", command="account") >= 0

        # a command that fails for the member: counted with its error's kind, and timed too
        song = apple_server.add_song()
        rec = await discord_server.send_command("rating like", alice, channel, {"item": song})
        assert (await discord_server.wait_for_callback(rec)).accepted
        samples = await metric_reaches(bot, "amrb_interactions_total", 1, command="rating like", outcome="not_linked")
        assert value(samples, "amrb_first_response_seconds_count", command="rating like") == 1

        # a link attempt refused (a pasted token without /link first), then a link
        dm = discord_server.dm_channel(alice)
        msg = await discord_server.send_message(dm, alice, PASTED)
        await discord_server.wait_for_message(dm, author_id=discord_server.bot_user_id, after=msg.id)
        await metric_reaches(bot, "amrb_link_refused_total", 1, reason="no_pending_link")
        apple_server.add_user(PASTED, storefront="us")
        rec = await discord_server.send_command("link", alice, channel)
        await discord_server.wait_for_original_edit(rec)
        await discord_server.send_message(dm, alice, PASTED)
        samples = await metric_reaches(bot, "amrb_linked_accounts", 1, status="active")
        assert value(samples, "amrb_apple_requests_total", kind="storefront", status="200") >= 1

        # Apple answers 429 once: counted as a request and a 429, and the learned rate drops
        pacer_rate = value(samples, "amrb_apple_rate")
        assert pacer_rate > 0
        assert value(samples, "amrb_apple_rate_limited_total") == 0
        apple_server.fail_next(1, 429, path_contains="/v1/catalog/")
        shared_song = apple_server.add_song()
        mid = await share(bot, discord_server, alice, shared_song)
        samples = await scrape(bot)
        assert value(samples, "amrb_apple_requests_total", kind="catalog", status="429") == 1
        assert value(samples, "amrb_apple_rate_limited_total") == 1
        assert value(samples, "amrb_apple_requests_total", kind="catalog", status="200") >= 1
        assert value(samples, "amrb_apple_rate") < pacer_rate

        # a rating queued for later: the outbox's depth and the age of its oldest row
        assert value(samples, "amrb_outbox_waiting") == 0
        await bot.svc.store.enqueue(alice, "songs", song, 1, debounce=3600.0, max_delay=3600.0)
        samples = await metric_reaches(bot, "amrb_outbox_waiting", 1)
        assert value(samples, "amrb_outbox_oldest_seconds") > 0

        # a reaction by someone not linked: held, by reason
        bob = discord_server.add_user("bob")
        discord_server.add_member(discord_server.guild_id, bob)
        assert value(samples, "amrb_outbox_held", reason="unlinked") == 0
        assert await discord_server.add_reaction(channel, mid, bob, "👍")
        await metric_reaches(bot, "amrb_outbox_held", 1, reason="unlinked")

        # the bot joins another server
        discord_server.add_guild("Second Guild")
        await metric_reaches(bot, "amrb_guilds", 2)


# ---------------------------------------------------------------------------------------------- where served
async def test_on_the_public_server_metrics_need_the_bearer_token(bot_factory: BotFactory) -> None:
    env = {"OPS_LISTENER": "web", "METRICS_TOKEN": METRICS_TOKEN}
    async with bot_factory(env=env) as bot:
        assert bot.svc.ops is None  # no listener of its own
        base = f"http://127.0.0.1:{bot.svc.web.bound_port}"
        assert (await get(base + "/metrics"))[0] == 401
        assert (await get(base + "/metrics", {"Authorization": "Bearer not-the-token-at-all-00000"}))[0] == 401
        assert (await get(base + "/metrics", {"Authorization": METRICS_TOKEN}))[0] == 401  # not as a bearer
        status, text = await get(base + "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200 and value(parse(text), "amrb_guilds") == 1
        assert (await get(base + "/readyz"))[0] == 200
        assert (await get(base + "/healthz"))[0] == 200


async def test_on_the_public_server_without_a_token_metrics_are_not_served(bot_factory: BotFactory) -> None:
    async with bot_factory(env={"OPS_LISTENER": "web"}) as bot:
        base = f"http://127.0.0.1:{bot.svc.web.bound_port}"
        assert (await get(base + "/metrics"))[0] == 404
        assert (await get(base + "/readyz"))[0] == 200
    async with bot_factory(env={"OPS_LISTENER": "off"}) as bot:
        base = f"http://127.0.0.1:{bot.svc.web.bound_port}"
        assert bot.svc.ops is None
        assert (await get(base + "/metrics"))[0] == 404
        assert (await get(base + "/readyz"))[0] == 404
        assert (await get(base + "/healthz"))[0] == 200


def test_each_bot_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()  # as two bots in one process (the tests run many)
    one.guilds.set(3)
    assert value(parse(one.render().decode()), "amrb_guilds") == 3
    assert value(parse(two.render().decode()), "amrb_guilds") == 0
