"""Issue 20, must-show 2 (the linking page): the page follows the browser's ``Accept-Language``. In a real headless
Chromium a German browser reads the German page (its headline, its text, ``<html lang="de">``) and German messages
written by the page's script (the confirmation label, a cancelled Apple sign-in, the link done); a Japanese browser
reads Japanese; a Swedish one (not shipped) English. Over plain HTTP, the refusals and aiohttp's own 4xx answers
(404, 405, 413, 415, 429) are German for a German browser, with the page's headers and statuses unchanged."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from bot.app import RatingsBot
from bot.config import load_settings
from bot.web.texts import page_html
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import BotFactory
from tests.fixtures.musickit import MusicKitStub, chromium, musickit_stub  # noqa: F401  (fixtures)
from tests.test_linking_browser import click_with_token, dm_link
from tests.test_linking_http import check_headers, new_state, page_config

TOKEN = "Ag" + "Spr4chT3stMUT+" * 25
GERMAN = "de-DE,de;q=0.9,en;q=0.5"


def new_member(discord_server: LoopbackDiscord, name: str) -> int:
    user_id = discord_server.add_user(name)
    discord_server.add_member(discord_server.guild_id, user_id)
    return user_id


async def open_page(chromium: Any, url: str, accept_language: str) -> tuple[Any, Any]:  # noqa: F811
    context = await chromium.new_context(extra_http_headers={"Accept-Language": accept_language})
    page = await context.new_page()
    response = await page.goto(url)
    assert response is not None and response.status == 200
    await page.wait_for_selector("body[data-ready='true']")
    return context, page


#: another language's page: (member, Accept-Language, lang, headline, button, "this is me", cancelled sign-in, its
#: headline)
OTHERS = [
    (
        "bob",
        "ja,en-US;q=0.8",
        "ja",
        "Apple Music を連携する",
        "Apple Music でサインイン",
        "これは私です（@bob）",
        "Apple へのサインインがキャンセルされたか、完了しませんでした。ボタンを押してもう一度お試しください。",
        "まだ連携されていません",
    ),
    # Swedish is not shipped: English, as before
    (
        "carol",
        "sv-SE,sv;q=0.9",
        "en-US",
        "Link your Apple Music",
        "Sign in with Apple Music",
        "This is me, @carol",
        "The Apple sign-in was cancelled or did not finish. Press the button to try again.",
        "Not linked yet",
    ),
]


async def test_the_page_speaks_the_browsers_language(
    bot_factory: BotFactory,
    bot_env: dict[str, str],
    musickit_stub: MusicKitStub,  # noqa: F811
    chromium: Any,  # noqa: F811
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    settings = load_settings({**bot_env, "MUSICKIT_JS_URL": musickit_stub.url}, env_file=None)
    apple_server.add_user(TOKEN, storefront="de")
    alice = discord_server.alice_id
    async with bot_factory(settings) as bot:
        store = bot.svc.store
        url = await dm_link(discord_server, alice)

        # German: the server's words, the script's words, and the answer to the sign-in
        context, page = await open_page(chromium, url, GERMAN)
        assert await page.get_attribute("html", "lang") == "de"
        assert await page.text_content("h1") == "Verknüpfe dein Apple Music"
        assert (await page.title()).startswith("Verknüpfe dein Apple Music · ")
        lead = await page.text_content("p.lead")
        assert (
            lead
            == "Melde dich bei Apple an, damit deine 👍 und 👎 in Discord Songs in deinem Apple-Music-Konto bewerten."
        )
        assert await page.text_content("p.lead strong") == "deinem"  # the markup survives the translation
        scope = await page.text_content("#intro p.small")
        assert scope is not None and "kann deine Bewertungen lesen und setzen, sonst nichts." in scope
        assert await page.text_content("#intro p.small code") == "/trennen"  # /unlink as a German member sees it
        assert await page.text_content("#member .small") == "Discord-Konto"
        assert await page.text_content("#confirm-note code") == "/verknüpfen"
        # written by link.js from the words the server put in the page
        assert await page.text_content("#connect") == "Mit Apple Music anmelden"
        assert await page.text_content("#confirm-label") == "Das bin ich, @alice"
        text, error = await click_with_token(page, "")  # (no token: the stub's sign-in fails)
        assert error == "apple_cancelled"
        assert text == (
            "Die Anmeldung bei Apple wurde abgebrochen oder nicht abgeschlossen. "
            "Drücke den Knopf, um es noch einmal zu versuchen."
        )
        assert await page.text_content("#outcome-title") == "Noch nicht verknüpft"
        # the script's request carries the browser's language: the server answers the link in German
        text, error = await click_with_token(page, TOKEN)
        assert error is None, text
        assert text == (
            "Dein Apple-Music-Konto ist verknüpft (Land oder Region: DE). "
            "Du kannst diese Seite schließen und zu Discord zurückkehren."
        )
        assert await page.text_content("h1") == "Dein Apple Music ist verknüpft"
        assert await store.get_user_token(alice) == TOKEN
        # the used link, reopened: the refusal page is German too
        reopened = await page.reload()
        assert reopened is not None and reopened.status == 409
        assert await page.text_content("h1") == "Dieser Link wurde schon verwendet"
        assert await page.get_attribute("html", "lang") == "de"
        await context.close()

        for name, header, lang, headline, button, me, cancelled, not_yet in OTHERS:
            user_id = new_member(discord_server, name)
            context, page = await open_page(chromium, await dm_link(discord_server, user_id), header)
            assert await page.get_attribute("html", "lang") == lang
            assert await page.text_content("h1") == headline
            assert await page.text_content("#connect") == button
            assert await page.text_content("#confirm-label") == me
            text, error = await click_with_token(page, "")
            assert (text, error) == (cancelled, "apple_cancelled")
            assert await page.text_content("#outcome-title") == not_yet
            await context.close()


async def test_refusals_and_4xx_answers_in_german(
    bot_factory: BotFactory, bot_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    limit = 12
    async with bot_factory(env={"LINK_REQUESTS_PER_IP_MINUTE": str(limit)}) as bot:
        base = bot.settings.link_base_url
        state = await new_state(bot, discord_server.alice_id)
        german = {"Accept-Language": GERMAN}
        async with aiohttp.ClientSession(headers=german) as s:
            # the page itself, and the script's words in its configuration
            async with s.get(f"{base}/link", params={"state": state}) as resp:
                assert resp.status == 200 and resp.headers["Vary"] == "Accept-Language"
                check_headers(resp.headers)
                page = await resp.text()
                assert '<html lang="de">' in page
                assert page_config(page)["text"]["failed"] == (
                    "Die Verknüpfung hat nicht funktioniert. Führe /verknüpfen in Discord aus, um es noch einmal zu "
                    "versuchen."
                )
                assert "<script>" not in page  # the words travel as JSON data, never as an inline script
            # a made-up link
            async with s.get(f"{base}/link", params={"state": "F" * 43}) as resp:
                assert resp.status == 400
                check_headers(resp.headers)
                page = await resp.text()
                assert '<html lang="de">' in page and '<h1 id="title">Dieser Link ist ungültig</h1>' in page
                assert page_config(page)["code"] == "invalid_link"
            # no such address: the page, in German, with a way on
            async with s.get(f"{base}/link/nowhere") as resp:
                assert resp.status == 404
                check_headers(resp.headers)
                page = await resp.text()
                assert '<html lang="de">' in page and '<h1 id="title">Seite nicht gefunden</h1>' in page
                assert page_config(page)["error"] == (
                    "Unter dieser Adresse gibt es nichts. Um dein Apple Music zu verknüpfen, führe /verknüpfen in "
                    "Discord aus."
                )
            # a method the address does not answer: 405, its Allow header kept
            async with s.get(f"{base}/link/complete") as resp:
                assert resp.status == 405 and resp.headers["Allow"] == "POST"
                check_headers(resp.headers)
                config = page_config(await resp.text())
                assert config["error"] == "Diese Adresse beantwortet diese Art von Anfrage nicht."
            # what only a broken client sends: JSON answers in German
            async with s.post(f"{base}/link/complete", data={"state": state}) as resp:
                assert resp.status == 415
                check_headers(resp.headers)
                assert await resp.json() == {"ok": False, "code": "bad_request", "message": "Sende JSON."}
            async with s.post(f"{base}/link/complete", json={"state": state}) as resp:
                assert resp.status == 400
                assert (await resp.json())["message"] == "Die Seite hat eine unvollständige Anfrage gesendet."
            big = b"{" + b" " * 20_000 + b"}"
            async with s.post(f"{base}/link/complete", data=big, headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 413
                check_headers(resp.headers)
                assert await resp.json() == {
                    "ok": False,
                    "code": "bad_request",
                    "title": "Die Seite konnte das nicht senden",
                    "message": "Die Seite hat zu viel auf einmal gesendet.",
                }
            # a refusal of the link itself: the headline is German (the message comes from bot/ui/errors.py)
            async with s.post(f"{base}/link/complete", json={"state": "A" * 43, "token": TOKEN}) as resp:
                assert resp.status == 400
                body = await resp.json()
                assert (body["code"], body["title"]) == ("invalid_link", "Dieser Link ist ungültig")
            # too many requests from this address
            limited = ""
            for _ in range(limit + 1):
                async with s.get(f"{base}/link", params={"state": "F" * 43}) as resp:
                    if resp.status == 429:
                        check_headers(resp.headers)
                        assert int(resp.headers["Retry-After"]) >= 1
                        limited = await resp.text()
                        break
            assert '<h1 id="title">Zu viele Versuche</h1>' in limited
        # (the address is limited now: another language's 404 is asked outside /link)
        async with aiohttp.ClientSession(headers={"Accept-Language": "sv"}) as s:
            async with s.get(f"{base}/nowhere") as resp:
                assert resp.status == 404
                page = await resp.text()
                assert '<html lang="en-US">' in page and '<h1 id="title">Page not found</h1>' in page
                assert page_config(page)["error"] == (
                    "There is nothing at this address. To link your Apple Music, run /link in Discord."
                )


def test_neither_a_name_nor_a_translation_adds_markup() -> None:
    words = page_html("de", '<img src=x onerror="alert(1)">\x00 0\x00')
    assert "<img" not in words["__SCOPE__"] and "&lt;img src=x" in words["__SCOPE__"]
    assert "\x00" not in words["__SCOPE__"]
    assert words["__SCOPE__"].endswith("jederzeit aufheben.")
    assert re.fullmatch(r"[^<>]*<code>/trennen</code>[^<>]*", words["__SCOPE__"].split("sonst nichts.")[1])
    for html_words in words.values():
        assert set(re.findall(r"</?(\w+)", html_words)) <= {"strong", "code"}


@pytest.mark.parametrize("header", ["", "sv", "de;q=0", "*"])
async def test_no_shipped_language_is_english(running_bot: RatingsBot, header: str) -> None:
    base = running_bot.settings.link_base_url
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{base}/link/complete", data="x", headers={"Accept-Language": header}) as resp:
            assert resp.status == 415
            assert json.loads(await resp.text())["message"] == "Send JSON."
