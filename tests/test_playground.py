"""Issue 21: the playground (``python -m bot playground``) in a real headless Chromium.

* The README's command, as a subprocess (``--port 0``: it prints the page's address once the bot is ready), driven
  end to end as a visitor would: link two members through the bot's real linking page and the stand-in MusicKit,
  ``/share`` a song (picked through the bot's live autocomplete), react 👍 as both, see both ratings in their Apple
  panels, page through ``/rating tracks``, turn Apple down, react, see Apple turn the bot away while the rating waits,
  turn Apple up, see it applied.
* The page draws what the bot sent: the playground in this process, every message the page shows compared with the
  loopback Discord's record of the bot's requests and interaction callbacks, in the page's API and in the DOM.

Every wait is for the page's DOM (or a printed line), never a fixed sleep; timeouts only stop a hung run.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.services.weeks import Week
from playground.cli import playground
from playground.render import DEFAULT_NPM_DIR, install
from playground.world import ENTROPY, HOUNDS
from tests.fixtures.e2e import ROOT
from tests.fixtures.musickit import CHROMIUM_ARGS, chromium  # noqa: F401  (fixture)


@pytest.fixture(autouse=True, scope="module")
def renderer_installed() -> None:
    """The renderer's npm packages, installed with npm at their pinned versions when missing (as the command does)."""
    install(DEFAULT_NPM_DIR)


#: a hang guard for each wait on the page (ms); nothing is asserted about how long anything took
WAIT = 30_000
BOT = "Music Ratings"


@contextlib.asynccontextmanager
async def playground_process(data: Path) -> AsyncIterator[str]:
    """``python -m bot playground --port 0 --data DIR`` as the README runs it; the address it prints."""
    log = (data / "playground.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "playground",
        "--port",
        "0",
        "--data",
        str(data),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        printed: list[str] = []
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            if not line:
                raise AssertionError(f"the playground exited: {printed} (see {data / 'playground.log'})")
            printed.append(line)
            found = re.search(r"playground ready at (http://\S+)", line)
            if found:
                break
        assert any("Nothing here is real Discord or Apple" in p for p in printed)
        yield found.group(1)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        log.close()
    assert proc.returncode == 0


async def act_as(page: Any, name: str) -> None:
    await page.click(f"#members [data-member-name='{name}']")
    await page.wait_for_selector(f"#members [data-member-name='{name}'][aria-checked='true']", timeout=WAIT)


async def open_channel(page: Any, name: str) -> None:
    await page.click(f"[data-channel-name='{name}']")
    await page.wait_for_selector(f"[data-channel-name='{name}'][aria-current='true']", timeout=WAIT)


async def slash(page: Any, name: str, **options: str) -> None:
    """Type ``/``, pick the command in the list, fill its options, send."""
    await page.fill("#composer", "/" + name.split()[0])
    await page.click(f"#command-list li[data-command='{name}']", timeout=WAIT)
    for option, value in options.items():
        await page.fill(f"#command-options [data-option='{option}']", value)
    await page.click("#send")
    await page.wait_for_selector("#command-form", state="hidden", timeout=WAIT)


async def link(page: Any, context: Any, name: str) -> None:
    """``/link`` as ``name``, open the link the bot DMs, sign in with the stand-in MusicKit."""
    await act_as(page, name)
    await open_channel(page, "music")
    await slash(page, "link")
    await page.wait_for_selector(f"discord-message[data-ephemeral] discord-command[author='{name}']", timeout=WAIT)
    await open_channel(page, "dm")
    embed = await page.wait_for_selector(
        "discord-message[data-author='Music Ratings'] discord-embed[url]", timeout=WAIT
    )
    url = await embed.get_attribute("url")
    linking = await context.new_page()
    await linking.goto(url)
    await linking.wait_for_selector("body[data-ready='true']", state="attached", timeout=WAIT)
    if await linking.is_visible("#confirm"):
        await linking.check("#confirm")
    await linking.click("#connect")
    await linking.wait_for_selector("body[data-linked='true']", state="attached", timeout=WAIT)
    await linking.close()
    await page.wait_for_selector(f".account[data-member-name='{name}'] .linked[data-linked='true']", timeout=WAIT)
    await open_channel(page, "music")


def rating(name: str, item: str, value: int) -> str:
    return f".account[data-member-name='{name}'] li[data-rating='{item}'][data-value='{value}']"


async def test_the_readme_command_brings_up_a_page_that_works_end_to_end(
    chromium: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with playground_process(tmp_path) as url:
        context = await chromium.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_selector("body[data-ready='true']", state="attached", timeout=WAIT)
        assert "Nothing here is real Discord or Apple" in (await page.text_content("#notice") or "")

        await link(page, context, "alice")
        await link(page, context, "bob")

        # /share a song picked through the bot's own autocomplete
        await act_as(page, "alice")
        await page.fill("#composer", "/share")
        await page.click("#command-list li[data-command='share']", timeout=WAIT)
        await page.fill("#command-options [data-option='item']", "Entropy")
        choice = await page.wait_for_selector("#choices li[data-value]", timeout=WAIT)
        assert "Entropy" in (await choice.text_content() or "")
        await choice.click()
        await page.click("#send")
        post = await page.wait_for_selector(
            "discord-message:not([data-ephemeral]):has(discord-command[command='/share']):has(discord-embed)",
            timeout=WAIT,
        )
        post_id = await post.get_attribute("data-message-id")
        mine = f"discord-message[data-message-id='{post_id}']"
        await page.wait_for_selector(f"{mine} discord-reaction[data-emoji='👍']", timeout=WAIT)

        # 👍 as alice and as bob: both land in their Apple accounts
        await page.click(f"{mine} .pg-actions [data-react='👍']")
        await page.wait_for_selector(f"{mine} discord-reaction[data-emoji='👍'][reacted]", timeout=WAIT)
        await act_as(page, "bob")
        await page.click(f"{mine} .pg-actions [data-react='👍']")
        await page.wait_for_selector(rating("alice", f"songs:{ENTROPY}", 1), timeout=WAIT)
        await page.wait_for_selector(rating("bob", f"songs:{ENTROPY}", 1), timeout=WAIT)

        # /rating tracks on an album of 24 tracks: the pager's Next shows the next page
        await act_as(page, "alice")
        await slash(page, "rating tracks", item=f"https://music.apple.com/us/album/hounds-of-love/{HOUNDS}")
        card = "discord-message[data-ephemeral]:has(discord-button[data-custom-id$=':next'])"
        await page.wait_for_selector(card, timeout=WAIT)
        first_page = await page.inner_text(card)
        await page.click(f"{card} discord-button[data-custom-id$=':next']")
        await page.wait_for_function(
            '(before) => { const m = document.querySelector("discord-message[data-ephemeral]:has(discord-button'
            "[data-custom-id$=':prev'])\"); return m !== null && m.innerText !== before; }",
            arg=first_page,
            timeout=WAIT,
        )

        # Apple down: alice's 👎 waits (Apple turns the bot away); Apple up: it lands
        await page.click("#apple-modes [data-mode='down']")
        await page.wait_for_selector("#apple-modes [data-mode='down'][aria-checked='true']", timeout=WAIT)
        refused_before = int(await page.get_attribute("#apple-refused", "data-count") or 0)
        await page.click(f"{mine} .pg-actions [data-react='👎']")
        await page.wait_for_function(
            "(n) => Number(document.querySelector('#apple-refused').dataset.count) > n",
            arg=refused_before,
            timeout=WAIT,
        )
        assert await page.query_selector(rating("alice", f"songs:{ENTROPY}", 1)) is not None
        await page.click("#apple-modes [data-mode='normal']")
        await page.wait_for_selector(rating("alice", f"songs:{ENTROPY}", -1), timeout=WAIT)
        await context.close()


# ------------------------------------------------------------------------------------- the page draws the bot
def sent_bodies(discord: Any) -> list[dict[str, Any]]:
    """Every message body the bot sent: REST creates and edits, interaction callbacks with a message, follow-ups
    and ``@original`` edits (the loopback Discord's record)."""
    bodies: list[dict[str, Any]] = []
    for r in discord.requests:
        if r.method in ("POST", "PATCH") and isinstance(r.json, dict) and re.search(r"/(messages|webhooks)/", r.path):
            bodies.append(r.json)
        elif r.method == "POST" and re.search(r"/webhooks/\d+/[^/]+$", r.path) and isinstance(r.json, dict):
            bodies.append(r.json)
    for c in discord.callbacks:
        if c.accepted and isinstance(c.data, dict) and c.type in (4, 7):
            bodies.append(c.data)
    return bodies


def last_body_for(discord: Any, message: Any) -> dict[str, Any] | None:
    """The last body the bot sent whose content/embeds are this message's now."""
    found = None
    for body in sent_bodies(discord):
        if "embeds" in body and body["embeds"] == message.embeds:
            found = body
        elif "content" in body and body.get("content") == message.content and message.content:
            found = body
    return found


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]{3,}", re.sub(r"<[^>]+>|\(https?://[^)]+\)|https?://\S+", " ", text))


async def test_the_page_draws_the_payloads_the_bot_sent(chromium: Any, tmp_path: Path) -> None:  # noqa: F811
    async with playground(port=0, data=tmp_path) as started:
        world = started.app.world
        assert world is not None
        discord = world.discord
        alice = world.members[0].id
        music = world.channels["music"]
        async with aiohttp.ClientSession() as http:

            async def post(path: str, body: dict[str, Any]) -> Any:
                async with http.post(started.url + path.lstrip("/"), json=body) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            for name, options in [
                ("about", {}),
                ("share", {"item": ENTROPY}),
                ("rating show", {"item": ENTROPY}),
                ("rating tracks", {"item": HOUNDS}),
            ]:
                sent = await post("/api/command", {"member": alice, "channel": music, "name": name, "options": options})
                rec = discord.interactions[int(sent["interaction"])]
                await discord.wait_for_callback(rec, timeout=15)
                await discord.wait_for_message(
                    music, author_id=discord.bot_user_id, predicate=lambda m, r=rec: _answered(m, r), timeout=15
                )
            async with http.get(started.url + f"api/messages?channel={music}&member={alice}") as r:
                shown = (await r.json())["messages"]

            context = await chromium.new_context(viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            await page.goto(started.url)
            await page.wait_for_selector("body[data-ready='true']", state="attached", timeout=WAIT)
            for item in shown:
                await page.wait_for_selector(f"discord-message[data-message-id='{item['id']}']", timeout=WAIT)

            bot_messages = [m for m in shown if m["bot"] and not m["loading"]]
            assert len(bot_messages) >= 4
            for item in bot_messages:
                message = discord.messages[int(item["id"])]
                body = last_body_for(discord, message)
                assert body is not None, f"no request of the bot's carries message {item['id']}"
                # the page's API: exactly what the bot sent
                assert item["payload"]["content"] == (body.get("content") or message.content)
                assert item["payload"]["embeds"] == body.get("embeds", message.embeds)
                assert item["payload"]["components"] == body.get("components", message.components)
                # the DOM: titles, field names, button labels, and every word of descriptions and field values
                el = f"discord-message[data-message-id='{item['id']}']"
                embeds = await page.query_selector_all(f"{el} discord-embed")
                assert len(embeds) == len(body.get("embeds", []))
                for embed_el, embed in zip(embeds, body.get("embeds", []), strict=True):
                    assert (await embed_el.get_attribute("embed-title") or "") == embed.get("title", "")
                    text = await embed_el.inner_text()
                    for w in words(embed.get("description", "")):
                        assert w in text, f"{w!r} of the description is not on the page"
                    names = [
                        await f.get_attribute("field-title")
                        for f in await embed_el.query_selector_all("discord-embed-field")
                    ]
                    assert names == [f["name"] for f in embed.get("fields", [])]
                    for f in embed.get("fields", []):
                        for w in words(f["value"]):
                            assert w in text
                labels = [
                    (await b.text_content() or "").strip()
                    for b in await page.query_selector_all(f"{el} discord-button")
                ]
                assert labels == [
                    str(c.get("label") or "")
                    for row in body.get("components", [])
                    for c in row.get("components", [])
                    if c.get("type") == 2
                ]
                for w in words(body.get("content") or ""):
                    assert w in await page.inner_text(el)
            await context.close()


def _answered(message: Any, rec: Any) -> bool:
    """The interaction's answer, no longer "thinking"."""
    return message.interaction_id == rec.id and not message.flags & (1 << 7) and bool(message.embeds or message.content)


async def test_the_apple_panel_shows_the_library_playlists_the_bot_made(tmp_path: Path) -> None:
    """A member's weekly mixtape lands in their Apple library; the side panel lists it with its songs, in order."""
    async with playground(port=0, data=tmp_path) as started:
        world = started.app.world
        assert world is not None
        bot, store = world.bot, world.bot.svc.store
        alice = world.members[0]
        await store.link_account(alice.id, alice.apple_token, "us")
        assert (await bot.svc.mixtape.join(world.guild_id, alice.id, world.guild_name)).new
        now = time.time()  # the playground's store runs on the real clock
        await store.record_share(1, world.guild_id, world.channels["music"], alice.id, "songs", ENTROPY, now - 60)
        await store.record_vote(world.guild_id, alice.id, "songs", ENTROPY, 1, now - 30)
        assert await bot.svc.mixtape.week_closed(Week(world.guild_id, now - 3600, now + 1, "2026-W49")) == 1
        await bot.svc.mixtape.worker.wait_until_drained(timeout=20)
        async with aiohttp.ClientSession() as http, http.get(started.url + "api/apple") as r:
            accounts = {a["name"]: a for a in (await r.json())["accounts"]}
        song = world.apple.catalog["songs"][ENTROPY]["name"]
        assert accounts[alice.name]["playlists"] == [{"name": f"{world.guild_name} — 2026-W49", "tracks": [song]}]
        assert all(a["playlists"] == [] for name, a in accounts.items() if name != alice.name)
