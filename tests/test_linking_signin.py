"""Linking bound to the Discord account (issue 13), in a real headless Chromium: with ``DISCORD_CLIENT_SECRET`` set
the linking page signs the browser in with the loopback Discord's OAuth2 first. The member who ran /link goes on
to Apple's sign-in and links; another Discord user opening the same link (the forwarded-link hijack) is refused
with a page that says why, and nothing is stored."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.config import load_settings
from bot.services.linking import digest
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.axe import assert_accessible
from tests.fixtures.bot import BotFactory
from tests.fixtures.musickit import MusicKitStub, chromium, musickit_stub  # noqa: F401  (fixtures)
from tests.test_linking_browser import GOOD_TOKEN, assert_finished, click_with_token, dm_link, status_of

pytestmark = pytest.mark.both_engines

SECRET = "loopback-oauth2-client-secret"


async def open_as(context: Any, discord_server: LoopbackDiscord, user_id: int, url: str) -> Any:
    """A page of ``context`` signed in to Discord as ``user_id`` that opens ``url`` (the link) and is sent on to
    Discord's authorize page."""
    page = await context.new_page()
    await page.goto(discord_server.browser_sign_in_url(user_id, next=url))
    await page.wait_for_selector("button[value='authorize']")
    return page


async def test_only_the_member_who_ran_link_can_use_it(
    bot_factory: BotFactory,
    bot_env: dict[str, str],
    musickit_stub: MusicKitStub,  # noqa: F811
    chromium: Any,  # noqa: F811
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    settings = load_settings(
        {
            **bot_env,
            "MUSICKIT_JS_URL": musickit_stub.url,
            "DISCORD_CLIENT_SECRET": SECRET,
            "DISCORD_OAUTH_AUTHORIZE_URL": discord_server.authorize_url,
        },
        env_file=None,
    )
    settings.require()
    base = settings.link_base_url
    discord_server.set_oauth2_client(secret=SECRET, redirect_uris=[f"{base}/link/discord"])
    apple_server.add_user(GOOD_TOKEN, storefront="gb")
    alice = discord_server.alice_id
    bob = discord_server.add_user("bob")

    async with bot_factory(settings) as bot:
        store = bot.svc.store
        url = await dm_link(discord_server, alice)
        state = url.split("state=", 1)[1]
        key = digest(state)

        # bob (signed in to Discord as bob) opens alice's link and lets Discord tell the page who he is
        victim = await chromium.new_context()
        page = await open_as(victim, discord_server, bob, url)
        await page.click("button[value='authorize']")
        text, error = await status_of(page)
        assert error == "wrong_account"
        assert "another Discord account" in text and "run /link" in text.lower() and "@alice" in text
        await assert_finished(page, "This link is for another Discord account")
        await assert_accessible(page, "wrong Discord account")
        # he can still not go on: the link page sends him to Discord again, and posting a token is refused
        async with aiohttp.ClientSession() as s:
            body = {"state": state, "token": GOOD_TOKEN, "confirmed": True}
            async with s.post(f"{base}/link/complete", json=body) as resp:
                assert resp.status == 403 and (await resp.json())["code"] == "not_signed_in"
            async with s.get(f"{base}/link", params={"state": state}, allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"].startswith(discord_server.authorize_url)
        await victim.close()
        # nothing stored, nobody linked, Apple never asked; the link is still alice's to use (one try spent)
        assert await store.get_account(bob) is None and await store.get_account(alice) is None
        assert apple_server.count() == 0
        link = await store.get_link_state(key)
        assert link is not None and link.used_at is None and link.attempts == 1 and link.browser_hash is None

        # alice cancels at Discord first: the page says so; then she opens the link again and authorizes
        context = await chromium.new_context()
        page = await open_as(context, discord_server, alice, url)
        await page.click("button[value='cancel']")
        text, error = await status_of(page)
        assert error == "discord_cancelled" and "cancelled" in text
        await assert_finished(page, "Discord sign-in cancelled")
        await assert_accessible(page, "Discord sign-in cancelled")
        await page.goto(url)
        await page.click("button[value='authorize']")
        await page.wait_for_selector("body[data-ready='true']")
        assert page.url == url  # back on her link, now signed in as herself
        assert await page.text_content("#member-name") == "@alice"
        assert not await page.is_visible("#confirm")  # Discord vouched for her: no "this is me" needed
        assert await page.is_enabled("#connect")
        await assert_accessible(page, "ready, signed in with Discord")
        cookies = {c["name"]: c for c in await context.cookies(f"{base}/link")}
        assert cookies["link_browser"]["httpOnly"] and cookies["link_browser"]["sameSite"] == "Lax"
        assert state not in str(await store.get_link_state(key))
        text, error = await click_with_token(page, GOOD_TOKEN)
        assert error is None, text
        assert "country or region: GB" in text
        await assert_finished(page, "Your Apple Music is linked")
        await context.close()
    account = None
    async with bot_factory(settings) as bot:
        account = await bot.svc.store.get_account(alice)
        assert await bot.svc.store.get_account(bob) is None
    assert account is not None and account.storefront == "gb"
