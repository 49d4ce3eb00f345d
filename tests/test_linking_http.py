"""The linking page over plain HTTP (the real bot's web server): headers on every answer, JSON-only POST, opaque
states, forged, replayed and expired states refused with the right message while nothing is stored, one developer
token for every visitor, and links that survive a key rotation."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
import jwt
import pytest

from bot.app import RatingsBot
from bot.services.linking import Member, digest
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.apple import AppleKey
from tests.fixtures.bot import BotFactory
from tests.fixtures.storage import stored_bytes

#: linking stores tokens: every test here runs on both engines
pytestmark = pytest.mark.both_engines

TOKEN = "Ag" + "Http0nlyMUT+" * 30


async def new_state(bot: RatingsBot, user_id: int, member: Member | None = None) -> str:
    url = await bot.svc.linking.start(user_id, member)
    return url.split("state=", 1)[1]


def check_headers(headers: Any, *, https: bool = False) -> None:
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" not in headers, headers.get("Server")  # no server software or version
    assert ("Strict-Transport-Security" in headers) is https


async def post(
    session: aiohttp.ClientSession, base: str, state: str, token: str, *, confirmed: bool = True
) -> tuple[int, dict[str, Any]]:
    body = {"state": state, "token": token, "confirmed": confirmed}
    async with session.post(f"{base}/link/complete", json=body) as resp:
        check_headers(resp.headers)
        answer = await resp.json()
        assert token not in json.dumps(answer)
        return resp.status, answer


def page_config(page: str) -> dict[str, Any]:
    match = re.search(r'<script id="link-config" type="application/json">(.*?)</script>', page, re.S)
    assert match is not None
    config: dict[str, Any] = json.loads(match.group(1))
    return config


async def test_page_headers_methods_and_refusals(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(TOKEN, storefront="de")
    base = running_bot.settings.link_base_url
    alice = discord_server.alice_id
    bob = discord_server.add_user("bob")
    store = running_bot.svc.store
    linking = running_bot.svc.linking
    state = await new_state(running_bot, alice, Member("Alice (@alice)"))
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/link", params={"state": state}) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            check_headers(resp.headers)
            config = page_config(await resp.text())
            assert config["developerToken"] and config["confirm"] is True
            assert config["member"] == {"name": "Alice (@alice)", "avatar": None}
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
            check_headers(resp.headers)
        async with s.post(f"{base}/link/complete", json=[state, TOKEN]) as resp:
            assert resp.status == 400
        assert await store.get_account(alice) is None

        # made up, or another link's state with a character changed: refused before Apple is asked
        before = apple_server.count()
        for forged in ("A" * 43, state[:-1] + ("A" if state[-1] != "A" else "B"), state + ".1", ""):
            status, body = await post(s, base, forged, TOKEN)
            assert (status, body["code"]) == (400, "invalid_link") and "not valid" in body["message"]
        # the page did not confirm whose account it links: refused
        status, body = await post(s, base, state, TOKEN, confirmed=False)
        assert (status, body["code"]) == (400, "not_confirmed")
        assert apple_server.count() == before
        assert await store.get_account(bob) is None and await store.get_account(alice) is None

        # expired: a real state whose ten minutes are over
        now = linking.clock()
        expired = "E" * 43
        await store.create_link_state(digest(expired), bob, now - 1, now=now - 601)
        status, body = await post(s, base, expired, TOKEN)
        assert (status, body["code"]) == (410, "expired") and "expired" in body["message"]
        async with s.get(f"{base}/link", params={"state": expired}) as resp:
            assert resp.status == 410 and "expired" in await resp.text()
            check_headers(resp.headers)
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


async def test_the_state_is_opaque_and_only_its_hash_is_stored(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    alice = discord_server.alice_id
    url = await running_bot.svc.linking.start(alice)
    state = url.split("state=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", state)  # 32 random bytes, nothing else
    assert str(alice) not in url
    raw = await stored_bytes(running_bot.settings.database_url)
    assert state.encode() not in raw
    assert digest(state).encode() in raw
    stored = await running_bot.svc.store.get_link_state(digest(state))
    assert stored is not None and stored.user_id == alice


async def test_one_developer_token_serves_every_visitor(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_key: AppleKey
) -> None:
    base = running_bot.settings.link_base_url
    tokens = []
    async with aiohttp.ClientSession() as s:
        for user in (discord_server.alice_id, discord_server.add_user("bob"), discord_server.add_user("carol")):
            state = await new_state(running_bot, user)
            for _ in range(2):
                async with s.get(f"{base}/link", params={"state": state}) as resp:
                    assert resp.status == 200
                    tokens.append(page_config(await resp.text())["developerToken"])
    assert len(set(tokens)) == 1, "each GET /link signed a new developer token"
    claims = jwt.decode(tokens[0], apple_key.public_pem, algorithms=["ES256"])
    assert claims["origin"] == [base]
    assert claims["exp"] - claims["iat"] == running_bot.settings.link_page_token_minutes * 60


async def test_bad_charset_and_big_bodies_are_4xx_with_headers_and_no_error_log(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = running_bot.settings.link_base_url
    state = await new_state(running_bot, discord_server.alice_id)
    body = json.dumps({"state": state, "token": TOKEN, "confirmed": True}).encode()
    async with aiohttp.ClientSession() as s:
        for charset in ("bogus", "latin-1", "utf-16"):
            headers = {"Content-Type": f"application/json; charset={charset}"}
            async with s.post(f"{base}/link/complete", data=body, headers=headers) as resp:
                assert resp.status == 415, charset
                check_headers(resp.headers)
                assert (await resp.json())["code"] == "bad_request"
        async with s.post(
            f"{base}/link/complete", data=b'{"state": "\xff\xfe"}', headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400
            check_headers(resp.headers)
        async with s.post(
            f"{base}/link/complete", data=b"{" + b" " * 20_000 + b"}", headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 413
            check_headers(resp.headers)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert await running_bot.svc.store.get_account(discord_server.alice_id) is None


async def test_https_base_url_sends_hsts(bot_factory: BotFactory, bot_env: dict[str, str]) -> None:
    port = bot_env["WEB_PORT"]
    async with bot_factory(env={"LINK_BASE_URL": "https://link.example.org"}) as bot:
        state = await new_state(bot, 1001)
        async with aiohttp.ClientSession() as s:
            for path in (f"/link?state={state}", "/nowhere", "/static/link.js"):
                async with s.get(f"http://127.0.0.1:{port}{path}") as resp:
                    check_headers(resp.headers, https=True)
                    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_an_open_link_survives_a_key_rotation(
    bot_factory: BotFactory, bot_env: dict[str, str], apple_server: LoopbackApple, discord_server: LoopbackDiscord
) -> None:
    apple_server.add_user(TOKEN, storefront="fr")
    alice = discord_server.alice_id
    old_key = bot_env["TOKEN_ENCRYPTION_KEY"]
    async with bot_factory() as bot:
        state = await new_state(bot, alice)
    # the operator rotates: a new key first, the old one after it, and restarts
    from bot.storage import TokenCipher

    rotated = f"{TokenCipher.generate_key()},{old_key}"
    async with bot_factory(env={"TOKEN_ENCRYPTION_KEY": rotated}) as bot:
        base = bot.settings.link_base_url
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/link", params={"state": state}) as resp:
                assert resp.status == 200
            status, body = await post(s, base, state, TOKEN)
        assert status == 200 and body["ok"], body
        assert await bot.svc.store.get_user_token(alice) == TOKEN
