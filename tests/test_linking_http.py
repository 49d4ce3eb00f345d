"""The linking page over plain HTTP (the real bot's web server): headers, JSON-only POST, and forged, replayed
and expired states refused with the right message while nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.app import RatingsBot
from tests.servers.apple import LoopbackApple
from tests.servers.discord import LoopbackDiscord

#: linking stores tokens: every test here runs on both engines
pytestmark = pytest.mark.both_engines

TOKEN = "Ag" + "Http0nlyMUT+" * 30


async def new_state(bot: RatingsBot, user_id: int) -> str:
    url = await bot.svc.linking.start(user_id)
    return url.split("state=", 1)[1]


def check_headers(headers: Any) -> None:
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def post(session: aiohttp.ClientSession, base: str, state: str, token: str) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{base}/link/complete", json={"state": state, "token": token}) as resp:
        check_headers(resp.headers)
        body = await resp.json()
        assert token not in json.dumps(body)
        return resp.status, body


async def test_page_headers_methods_and_refusals(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(TOKEN, storefront="de")
    base = running_bot.settings.link_base_url
    alice = discord_server.alice_id
    bob = discord_server.add_user("bob")
    store = running_bot.svc.store
    linking = running_bot.svc.linking
    state = await new_state(running_bot, alice)
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/link", params={"state": state}) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            check_headers(resp.headers)
            assert "developerToken" in await resp.text()
        async with s.get(f"{base}/link/complete") as resp:
            assert resp.status == 405
            check_headers(resp.headers)
        async with s.get(f"{base}/nowhere") as resp:
            assert resp.status == 404
            check_headers(resp.headers)
        form = {"state": state, "token": TOKEN}
        async with s.post(f"{base}/link/complete", data=form) as resp:
            assert resp.status == 415 and (await resp.json())["code"] == "bad_request"
        async with s.post(
            f"{base}/link/complete", data=json.dumps(form), headers={"Content-Type": "text/plain"}
        ) as resp:
            assert resp.status == 415
        async with s.post(
            f"{base}/link/complete", data="{not json", headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400
        async with s.post(f"{base}/link/complete", json=[state, TOKEN]) as resp:
            assert resp.status == 400
        assert await store.get_account(alice) is None

        # forged: the state moved to bob (HMAC mismatch) — refused before Apple is asked, nothing stored
        nonce, _user, expires, mac = state.split(".")
        before = apple_server.count()
        status, body = await post(s, base, f"{nonce}.{bob}.{expires}.{mac}", TOKEN)
        assert (status, body["code"]) == (400, "invalid_link") and "not valid" in body["message"]
        status, body = await post(s, base, f"{nonce}.{alice}.{int(expires) + 3600}.{mac}", TOKEN)
        assert (status, body["code"]) == (400, "invalid_link")
        assert apple_server.count() == before
        assert await store.get_account(bob) is None and await store.get_account(alice) is None

        # expired: a real state signed by the bot whose ten minutes are over
        now = linking.clock()
        await store.create_link_state("old-nonce-abcdefghijklmnop", bob, now - 1, now=now - 601)
        expired = linking.signer.sign("old-nonce-abcdefghijklmnop", bob, int(now - 1))
        status, body = await post(s, base, expired, TOKEN)
        assert (status, body["code"]) == (410, "expired") and "expired" in body["message"]
        async with s.get(f"{base}/link", params={"state": expired}) as resp:
            assert resp.status == 410 and "expired" in await resp.text()
        assert await store.get_account(bob) is None

        # the real one works once; the replay is refused as already used
        status, body = await post(s, base, state, TOKEN)
        assert status == 200 and body["ok"] and "DE" in body["message"]
        account = await store.get_account(alice)
        assert account is not None and account.storefront == "de"
        apple_server.add_user("Ag" + "Other+" * 30)
        status, body = await post(s, base, state, "Ag" + "Other+" * 30)
        assert (status, body["code"]) == (409, "already_used") and "already used" in body["message"]
        assert await store.get_user_token(alice) == TOKEN
        # reopening the used link says so at once, before anyone signs in to Apple Music again
        async with s.get(f"{base}/link", params={"state": state}) as resp:
            page = await resp.text()
            assert resp.status == 409 and "already used" in page and "developerToken" not in page
