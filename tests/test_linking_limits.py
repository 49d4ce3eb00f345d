"""Limits where a stranger can knock (issue 13), over real HTTP against the real bot: 100 tries on one link and 100
from one address across links reach Apple at most as often as configured, while another member links from another
address meanwhile; the DM paste counts against the member's limit; the page's requests per address are limited.

Visitors' addresses come from ``X-Forwarded-For``, believed because the peer (127.0.0.1) is in ``TRUSTED_PROXIES``.
The linking's clock is frozen (``link_clock``): the windows cannot roll over during the test, however slow it runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bot.errors import AppleRefusedToken, TooManyTries
from bot.ui.errors import describe_error
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import BotFactory
from tests.fixtures.storage import FakeClock

pytestmark = pytest.mark.both_engines

REFUSED = "Ag" + "Unkn0wnT0k3n" * 30  # the loopback Apple does not know it: 403, one Apple request per check
GOOD = "Ag" + "Car0lsGoodMUT" * 25
MAX_ATTEMPTS, PER_IP, PER_USER = 3, 4, 5
LIMITS = {
    "TRUSTED_PROXIES": "127.0.0.1",
    "LINK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "LINK_CHECKS_PER_IP": str(PER_IP),
    "LINK_CHECKS_PER_USER": str(PER_USER),
    "LINK_REQUESTS_PER_IP_MINUTE": "1000",
}


async def attempt(s: aiohttp.ClientSession, base: str, state: str, token: str, ip: str) -> tuple[int, str, Any]:
    body = {"state": state, "token": token, "confirmed": True}
    async with s.post(f"{base}/link/complete", json=body, headers={"X-Forwarded-For": ip}) as resp:
        return resp.status, (await resp.json())["code"], resp.headers.get("Retry-After")


def storefront_checks(apple_server: LoopbackApple) -> int:
    return apple_server.count("GET", "/v1/me/storefront")


async def test_floods_reach_apple_only_as_often_as_configured(
    bot_factory: BotFactory, apple_server: LoopbackApple, discord_server: LoopbackDiscord
) -> None:
    apple_server.add_user(GOOD, storefront="ca")
    async with bot_factory(env=LIMITS, link_clock=FakeClock()) as bot:
        base = bot.settings.link_base_url
        linking = bot.svc.linking
        victim_user, carol = 5001, 5999
        one_state = (await linking.start(victim_user)).split("state=", 1)[1]
        many_states = [(await linking.start(6000 + i)).split("state=", 1)[1] for i in range(20)]
        carol_state = (await linking.start(carol)).split("state=", 1)[1]

        async with aiohttp.ClientSession() as s:
            flood_one = [attempt(s, base, one_state, REFUSED, "203.0.113.1") for _ in range(100)]
            flood_many = [attempt(s, base, many_states[i % 20], REFUSED, "203.0.113.2") for i in range(100)]
            carol_links = attempt(s, base, carol_state, GOOD, "198.51.100.7")
            results = await asyncio.gather(*flood_one, *flood_many, carol_links)
        on_one, on_many, carols = results[:100], results[100:200], results[200]

        # carol, from her own address, linked while the floods ran
        assert carols[:2] == (200, "linked")
        assert await bot.svc.store.get_user_token(carol) == GOOD
        # 100 tries on one link: LINK_MAX_ATTEMPTS reached Apple, the rest were refused (the link is spent)
        assert sorted(code for _, code, _ in on_one).count("apple_refused") == MAX_ATTEMPTS
        # (the others: the link is spent, or this address used up its LINK_CHECKS_PER_IP on the way)
        others = {(status, code) for status, code, _ in on_one if code != "apple_refused"}
        assert others <= {(410, "too_many_attempts"), (429, "rate_limited")} and others
        # 100 tries from one address over 20 links: LINK_CHECKS_PER_IP reached Apple, the rest got 429 + Retry-After
        assert [code for _, code, _ in on_many].count("apple_refused") == PER_IP
        refused = [(status, retry) for status, code, retry in on_many if code != "apple_refused"]
        assert len(refused) == 100 - PER_IP
        assert all(status == 429 and retry is not None and int(retry) >= 1 for status, retry in refused)
        # Apple saw exactly those checks (one storefront request each; carol's check also probed the ratings)
        assert storefront_checks(apple_server) == MAX_ATTEMPTS + PER_IP + 1
        assert apple_server.count() == MAX_ATTEMPTS + PER_IP + 2

        # the spent link says so on the page too
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/link", params={"state": one_state}) as resp:
                assert resp.status == 410 and "tried too many times" in await resp.text()

        # a member's own limit holds across links and for the DM paste (a fresh member: no checks spent yet)
        member = 5002
        before = storefront_checks(apple_server)
        for _ in range(PER_USER):
            await linking.start(member)  # a new link each time: one link allows only MAX_ATTEMPTS tries
            with pytest.raises(AppleRefusedToken):
                await linking.complete_with_paste(member, REFUSED)
        await linking.start(member)
        with pytest.raises(TooManyTries) as limited:
            await linking.complete_with_paste(member, REFUSED)
        assert "wait" in describe_error(limited.value) and "minutes" in describe_error(limited.value)
        assert storefront_checks(apple_server) == before + PER_USER


async def test_requests_per_address_are_limited_before_anything_else(
    bot_factory: BotFactory, apple_server: LoopbackApple
) -> None:
    env = {**LIMITS, "LINK_REQUESTS_PER_IP_MINUTE": "5"}
    async with bot_factory(env=env, link_clock=FakeClock()) as bot:
        base = bot.settings.link_base_url
        state = (await bot.svc.linking.start(5001)).split("state=", 1)[1]
        async with aiohttp.ClientSession() as s:
            statuses = []
            for _ in range(7):
                async with s.get(
                    f"{base}/link", params={"state": state}, headers={"X-Forwarded-For": "203.0.113.9"}
                ) as r:
                    statuses.append(r.status)
                    if r.status == 429:
                        assert int(r.headers["Retry-After"]) >= 1
                        assert "Too many tries" in await r.text()
            assert statuses == [200] * 5 + [429] * 2
            status, code, _ = await attempt(s, base, state, REFUSED, "203.0.113.9")
            assert (status, code) == (429, "rate_limited")
            # another address is not affected; an untrusted peer's X-Forwarded-For would not be believed
            async with s.get(f"{base}/link", params={"state": state}, headers={"X-Forwarded-For": "203.0.113.10"}) as r:
                assert r.status == 200
        assert apple_server.count() == 0
