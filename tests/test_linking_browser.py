"""Issue 4 end to end in a real headless Chromium: /link → DM with the link → the linking page (with a stub
MusicKit JS the test serves) → Apple checks the token → stored encrypted → confirmation DM.

Everything runs through the loopback Discord and Apple servers with the real bot; after the flows the
database file, every log line and everything the bot sent to Discord are searched for the token.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import jwt
import pytest

from bot.config import load_settings
from bot.services.linking import digest
from bot.storage import AccountStatus
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.apple import AppleKey
from tests.fixtures.axe import assert_accessible
from tests.fixtures.bot import BotFactory
from tests.fixtures.musickit import MusicKitStub, chromium, musickit_stub  # noqa: F401  (fixtures)
from tests.fixtures.storage import stored_bytes

#: linking stores tokens: every test here runs on both engines
pytestmark = pytest.mark.both_engines

EPHEMERAL = 1 << 6
#: requests to /link… per address per minute in the browser test: above what its flows need, reachable on purpose
LIMIT = 40
#: what the stub MusicKit's authorize() gives: long, like a real music user token
GOOD_TOKEN = "Ag" + "Br0wS3rMUT+/" * 30
REFUSED_TOKEN = "Ag" + "Unkn0wnT0k3n" * 30
NO_SUB_TOKEN = "Ag" + "N0SubScr1pt" * 30


async def dm_link(discord_server: LoopbackDiscord, user_id: int, after: int | None = None) -> str:
    """Run /link as ``user_id`` in the guild channel and return the URL the bot DMs."""
    rec = await discord_server.send_command("link", user_id, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted
    assert callback.data is not None and callback.data["flags"] & EPHEMERAL
    dm = discord_server.dm_channel(user_id)
    msg = await discord_server.wait_for_message(dm, author_id=discord_server.bot_user_id, after=after)
    url = msg.embeds[0]["url"]
    assert isinstance(url, str)
    edit = await discord_server.wait_for_original_edit(rec)
    assert "DM" in (edit.get("content") or "")
    return url


def discord_bodies(discord_server: LoopbackDiscord) -> str:
    """Every body the bot sent to the loopback Discord (REST requests and interaction callbacks)."""
    parts: list[Any] = [r.json for r in discord_server.requests]
    parts += [r.files for r in discord_server.requests]
    parts += [c.data for c in discord_server.callbacks]
    return json.dumps(parts, default=str)


async def assert_finished(page: Any, title: str) -> None:
    """The link is done with: the headline says how, and no control is left on the page."""
    assert await page.text_content("h1") == title
    assert not await page.is_visible("#connect")
    assert not await page.is_visible("#confirm")


async def status_of(page: Any) -> tuple[str, str | None]:
    # (a selector, not wait_for_function: the page's CSP forbids the eval that needs)
    await page.wait_for_selector("body[data-linked='true'], body[data-error]", state="attached")
    text = await page.text_content("#status")
    error = await page.evaluate("document.body.dataset.error || null")
    return text or "", error


async def click_with_token(page: Any, token: str) -> tuple[str, str | None]:
    await page.evaluate("(t) => { delete document.body.dataset.error; window.__stubToken = t; }", token)
    if await page.is_visible("#confirm") and not await page.is_checked("#confirm"):
        await page.check("#confirm")
    await page.click("#connect")
    return await status_of(page)


async def test_link_in_a_real_browser(
    bot_factory: BotFactory,
    bot_env: dict[str, str],
    musickit_stub: MusicKitStub,  # noqa: F811
    chromium: Any,  # noqa: F811
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    apple_key: AppleKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = load_settings(
        {**bot_env, "MUSICKIT_JS_URL": musickit_stub.url, "LINK_REQUESTS_PER_IP_MINUTE": str(LIMIT)}, env_file=None
    )
    settings.require()
    apple_server.add_user(GOOD_TOKEN, storefront="gb")
    apple_server.add_user(NO_SUB_TOKEN, storefront="us", subscription=False)
    alice = discord_server.alice_id
    dm = discord_server.dm_channel(alice)

    async with bot_factory(settings) as bot:
        store = bot.svc.store
        url = await dm_link(discord_server, alice)
        assert url.startswith(settings.link_base_url + "/link?state=")

        context = await chromium.new_context()
        page = await context.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        response = await page.goto(url)
        assert response is not None and response.status == 200
        headers = response.headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"

        # the stub MusicKit was loaded and configured with a developer token bound to this page's origin
        await page.wait_for_selector("body[data-ready='true']")
        assert musickit_stub.hits == 1
        configured = await page.evaluate("window.__musickit.configured")
        origin = await page.evaluate("location.origin")
        assert origin == settings.link_base_url
        claims = jwt.decode(configured["developerToken"], apple_key.public_pem, algorithms=["ES256"])
        assert claims["origin"] == [origin]
        assert claims["iss"] == apple_key.team_id
        assert 0 < claims["exp"] - claims["iat"] <= 3600
        assert configured["app"]["name"]
        assert await page.text_content("#connect") == "Sign in with Apple Music"

        # the page names the bot and, without Discord sign-in, the account it links; Apple's sign-in waits for
        # "this is me"
        bot_name = bot.user.display_name if bot.user is not None else ""
        assert bot_name and await page.text_content("#bot-name") == bot_name
        assert bot_name in await page.title()
        assert await page.text_content("h1") == "Link your Apple Music"
        assert await page.text_content("#member-name") == "@alice"
        assert await page.text_content("#confirm-label") == "This is me, @alice"
        assert await page.is_disabled("#connect")
        await page.click("#connect", force=True)  # a click on the disabled button starts nothing
        assert await page.evaluate("window.__musickit.authorizeCalls") == 0
        avatar = await page.get_attribute("#avatar", "src")
        assert avatar is not None and avatar.startswith(settings.discord_cdn_url + "/")
        await assert_accessible(page, "ready, not confirmed")
        await page.check("#confirm")
        assert await page.is_enabled("#connect")
        await assert_accessible(page, "ready, confirmed")

        # Apple refuses the token (403): a specific message, the button works again, nothing stored
        text, error = await click_with_token(page, REFUSED_TOKEN)
        assert error == "apple_refused" and "Apple Music refused" in text
        assert await store.get_account(alice) is None
        assert await page.is_enabled("#connect")
        assert await page.text_content("#outcome-title") == "Apple Music did not accept the sign-in"
        await assert_accessible(page, "Apple refused, try again")

        # signed in, but no Apple Music subscription (the ratings API answers 401)
        text, error = await click_with_token(page, NO_SUB_TOKEN)
        assert error == "no_subscription" and "subscription" in text
        assert await store.get_account(alice) is None

        # a refused or unsubscribed token does not use up the link: reload and sign in for real
        await page.reload()
        await page.wait_for_selector("body[data-ready='true']")
        text, error = await click_with_token(page, GOOD_TOKEN)
        assert error is None, text
        assert "linked" in text and "country or region: GB" in text and "close this page" in text
        await assert_finished(page, "Your Apple Music is linked")
        assert await page.evaluate("document.querySelector('#outcome').className") == "panel ok"
        assert await page.text_content("#member-name") == "@alice"  # the account that was linked
        await assert_accessible(page, "linked")
        account = await store.get_account(alice)
        assert account is not None and account.storefront == "gb" and account.status is AccountStatus.ACTIVE
        assert await store.get_user_token(alice) == GOOD_TOKEN

        confirmation = await discord_server.wait_for_message(
            dm,
            author_id=discord_server.bot_user_id,
            predicate=lambda m: bool(m.embeds) and "linked" in m.embeds[0]["title"].lower(),
        )
        assert "GB" in confirmation.embeds[0]["description"]

        # the same link again: the page says at once that it was used (no sign-in offered), nothing changes
        reopened = await page.reload()
        assert reopened is not None and reopened.status == 409
        assert "already used" in (await page.text_content("#status") or "")
        assert "Run /link" in (await page.text_content("#status") or "")
        await assert_finished(page, "This link was already used")
        assert await page.evaluate("document.body.dataset.error") == "already_used"
        await assert_accessible(page, "already used")
        assert await store.get_user_token(alice) == GOOD_TOKEN

        # an expired link (a real state whose time is up): the page says so at once
        bob = discord_server.add_user("bob")
        now = bot.svc.linking.clock()
        expired_state = "X" * 43
        await store.create_link_state(digest(expired_state), bob, now - 5, now=now - 605)
        expired = await page.goto(f"{settings.link_base_url}/link?state={expired_state}")
        assert expired is not None and expired.status == 410
        assert "expired" in (await page.text_content("#status") or "")
        await assert_finished(page, "This link has expired")
        await assert_accessible(page, "expired")
        assert await store.get_account(bob) is None

        # a made-up state
        forged = await page.goto(f"{settings.link_base_url}/link?state={'F' * 43}")
        assert forged is not None and forged.status == 400
        assert "not valid" in (await page.text_content("#status") or "")
        await assert_finished(page, "This link is not valid")
        await assert_accessible(page, "not valid")

        # too many requests from this address: the page says to wait, and offers nothing to press
        async with aiohttp.ClientSession() as s:
            for _ in range(LIMIT + 1):
                async with s.get(f"{settings.link_base_url}/link", params={"state": "F" * 43}) as resp:
                    if resp.status == 429:
                        break
            assert resp.status == 429
        limited = await page.goto(f"{settings.link_base_url}/link?state={'F' * 43}")
        assert limited is not None and limited.status == 429
        assert "Too many tries" in (await page.text_content("#status") or "")
        await assert_finished(page, "Too many tries")
        await assert_accessible(page, "rate limited")
        assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
        await context.close()

    # the token never reached the database file, a log line, or anything the bot sent to Discord
    secret = GOOD_TOKEN.encode()
    assert secret not in await stored_bytes(settings.database_url)
    for record in caplog.records:
        assert GOOD_TOKEN not in record.getMessage()
    assert GOOD_TOKEN not in caplog.text
    bodies = discord_bodies(discord_server)
    assert "linked" in bodies.lower()  # the search has something to look at
    assert GOOD_TOKEN not in bodies
    for token in (REFUSED_TOKEN, NO_SUB_TOKEN):
        assert token not in caplog.text and token not in bodies
