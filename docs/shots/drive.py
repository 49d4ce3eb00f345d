"""The real bot against the loopback Discord and Apple servers, driven through the moments the README shows.

Everything is fixed so a rerun draws the same pictures: the server and member names, the Apple Music catalog
(ids, names, artwork colours) and the artwork itself (the catalog's artwork URLs are rewritten to fixed paths the
renderer answers with a drawn cover, see :func:`playground.render.artwork_svg`).

A moment is found by what the bot sends, not by how it words it: a button is pressed by its ``custom_id``'s action
(``like``, ``next``…) or, failing that, by its label, so a wording change needs no change here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import RatingsBot
from bot.config import Settings
from playground.model import Panel, Scene, Shot, shot_of
from playground.servers import LoopbackApple, LoopbackDiscord, MusicKitStub
from playground.world import (
    BOT_NAME,
    CLOUDBUSTING,
    DREAMS,
    ENTROPY,
    ENTROPY_ALBUM,
    HOUNDS,
    HOUNDS_TRACKS,
    UNKNOWN_ID,
    bot_env,
    bot_settings,
    loopbacks,
    point_artwork,
    running_bot,
    seed_catalog,
)
from tests.fixtures.apple import FAST_RETRY
from tests.fixtures.discord import GatewayTime
from tests.fixtures.e2e import FAST_OUTBOX

log = logging.getLogger("docs.shots")

GUILD = "Listening Club"
CHANNEL = "music"
#: music user tokens the loopback Apple knows (long, like real ones)
ALICE_MUT = "Ag" + "D0csAl1ce" * 24
#: where the pictures' artwork is asked for (the host the bot expects Apple's artwork on; the drawing routes it)
ARTWORK_BASE = "https://is1-ssl.mzstatic.com/image/thumb/docs"


@dataclass
class World:
    discord: LoopbackDiscord
    apple: LoopbackApple
    bot: RatingsBot
    settings: Settings
    musickit: MusicKitStub
    alice: int
    bob: int

    @property
    def channel(self) -> int:
        return self.discord.channel_id

    def names(self) -> dict[int, Any]:
        return self.discord.users


async def quiet(discord: LoopbackDiscord, bot: RatingsBot, *, for_seconds: float = 0.6, timeout: float = 20.0) -> None:
    """Wait until the bot has nothing left to send: its reaction work is idle, the outbox is drained, and no request
    reached the loopback Discord for ``for_seconds``."""
    await bot.svc.sharing.idle()
    await bot.svc.outbox.wait_until_drained(timeout=timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = -1
    while loop.time() < deadline:
        count = len(discord.requests) + len(discord.callbacks)
        if count == seen:
            return
        seen = count
        await asyncio.sleep(for_seconds)


async def answered(w: World, rec: Any) -> Any:
    """The interaction's answer message once the bot has finished with it."""
    callback = await w.discord.wait_for_callback(rec, timeout=15)
    if not callback.accepted:
        raise RuntimeError(f"the bot's answer was refused: {callback.status} {callback.error_code}")
    await quiet(w.discord, w.bot)
    if rec.original_message_id is None and rec.followup_ids:
        return w.discord.messages[rec.followup_ids[-1]]
    return await w.discord.wait_for_original(rec, timeout=15)


async def command(w: World, name: str, options: dict[str, Any] | None = None, *, user: int | None = None) -> Shot:
    """Run ``/name`` as ``user`` (alice) in #music; the answer as a shot under "alice used /name"."""
    user = user or w.alice
    rec = await w.discord.send_command(name, user, w.channel, options or {})
    message = await answered(w, rec)
    who = w.discord.users[user].username
    return shot_of(message, w.names(), viewer=user, command=name, command_user=who)


def buttons(message: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(components: list[Any]) -> None:
        for c in components:
            if c.get("type") == 2 and c.get("custom_id"):
                found.append(c)
            walk(c.get("components") or [])
            if isinstance(c.get("accessory"), dict):
                walk([c["accessory"]])

    walk(message.components)
    return found


def find_button(message: Any, action: str) -> dict[str, Any]:
    """The button for ``action``: a ``custom_id`` part equal to it, else a label that starts with it."""
    candidates = buttons(message)
    for c in candidates:
        if action in str(c["custom_id"]).split(":"):
            return c
    for c in candidates:
        if str(c.get("label") or "").lower().startswith(action):
            return c
    ids = [c["custom_id"] for c in candidates]
    raise LookupError(f"no {action!r} button on message {message.id} (buttons: {ids})")


async def press(w: World, message: Any, action: str, *, user: int | None = None) -> Any:
    """Press the ``action`` button of ``message``; returns the message after the bot's answer (the same one when
    the bot edits in place)."""
    button = find_button(message, action)
    rec = await w.discord.send_component(user or w.alice, message.channel_id, message.id, button["custom_id"])
    callback = await w.discord.wait_for_callback(rec, timeout=15)
    if not callback.accepted:
        raise RuntimeError(f"the button press was refused: {callback.status}")
    await quiet(w.discord, w.bot)
    if rec.original_message_id is not None:
        return w.discord.messages[rec.original_message_id]
    if rec.followup_ids:
        return w.discord.messages[rec.followup_ids[-1]]
    return w.discord.messages[message.id]


# ------------------------------------------------------------------------------------------------ the moments
LinkPage = Callable[[str], Awaitable[None]]


async def scene_link(w: World, link_page: LinkPage) -> Scene:
    rec = await w.discord.send_command("link", w.alice, w.channel)
    reply = await answered(w, rec)
    dm_channel = w.discord.dm_channel(w.alice)
    dm = await w.discord.wait_for_message(dm_channel, author_id=w.discord.bot_user_id, timeout=15)
    url = next((e.get("url") for e in dm.embeds if e.get("url")), None)
    if url is None:
        url = next((b.get("url") for row in dm.components for b in row.get("components", []) if b.get("url")), None)
    shots = [
        Panel(None, [shot_of(reply, w.names(), viewer=w.alice, command="link", command_user="alice")]),
        Panel(f"Direct message from {BOT_NAME}", [shot_of(dm, w.names(), viewer=w.alice)], channel=""),
    ]
    if url:
        await link_page(url)
        await quiet(w.discord, w.bot)
    else:
        log.warning("the /link DM carries no link URL: the linking page is not drawn")
    if await w.bot.svc.store.get_account(w.alice) is None:
        log.warning("alice is not linked through the page; linking her through the store")
        await w.bot.svc.store.link_account(w.alice, ALICE_MUT, "us")
    return Scene("link", shots)


async def scene_like(w: World) -> Scene:
    shot = await command(
        w, "rating like", {"item": f"https://music.apple.com/us/album/entropy/{ENTROPY_ALBUM}?i={ENTROPY}"}
    )
    return Scene("like", [Panel(None, [shot])])


async def scene_show(w: World) -> Scene:
    w.apple.set_state(ALICE_MUT, "songs", CLOUDBUSTING, -1)
    shot = await command(
        w, "rating show", {"item": f"https://music.apple.com/us/album/hounds-of-love/{HOUNDS}?i={CLOUDBUSTING}"}
    )
    return Scene("show", [Panel(None, [shot])])


async def scene_tracks(w: World) -> Scene:
    w.apple.set_state(ALICE_MUT, "songs", HOUNDS_TRACKS[0], 1)
    w.apple.set_state(ALICE_MUT, "songs", HOUNDS_TRACKS[2], 1)
    shot = await command(w, "rating tracks", {"item": f"https://music.apple.com/us/album/hounds-of-love/{HOUNDS}"})
    return Scene("tracks", [Panel(None, [shot])])


async def scene_button(w: World) -> Scene:
    """A private card before and after pressing Like: the bot edits it in place."""
    rec = await w.discord.send_command("rating show", w.alice, w.channel, {"item": DREAMS})
    card = await answered(w, rec)
    before = shot_of(card, w.names(), viewer=w.alice, command="rating show", command_user="alice")
    after_message = await press(w, card, "like")
    after = shot_of(after_message, w.names(), viewer=w.alice, command="rating show", command_user="alice")
    return Scene("button", [Panel("Before", [before]), Panel("After pressing Like: the same card, updated", [after])])


async def scene_share_and_dm(w: World) -> tuple[Scene, Scene]:
    """/share in #music; alice and bob react 👍 (bob is not linked: the bot writes to him)."""
    rec = await w.discord.send_command("share", w.alice, w.channel, {"item": ENTROPY})
    post = await answered(w, rec)
    await w.discord.add_reaction(w.channel, post.id, w.alice, "👍")
    await w.discord.add_reaction(w.channel, post.id, w.bob, "👍")
    await quiet(w.discord, w.bot)
    share = Scene(
        "share",
        [Panel(None, [shot_of(post, w.names(), viewer=w.alice, command="share", command_user="alice")])],
    )
    dm_channel = w.discord.dm_channel(w.bob)
    dm = await w.discord.wait_for_message(dm_channel, author_id=w.discord.bot_user_id, timeout=15)
    dm_scene = Scene(
        "dm", [Panel(f"Direct message from {BOT_NAME} to bob", [shot_of(dm, w.names(), viewer=w.bob)], channel="")]
    )
    return share, dm_scene


async def scene_error(w: World) -> Scene:
    shot = await command(w, "rating like", {"item": UNKNOWN_ID})
    return Scene("error", [Panel(None, [shot])])


async def scene_menu(w: World) -> Scene:
    """The message menu (Apps → Apple Music ratings) on a message with two links."""
    text = (
        "two for the road: https://music.apple.com/us/song/dreams/1440857781 and "
        f"https://music.apple.com/us/album/hounds-of-love/{HOUNDS}"
    )
    posted = await w.discord.send_message(w.channel, w.bob, text)
    menu = next(
        (
            c["name"]
            for c in w.discord.commands.get(w.discord.guild_id, []) + w.discord.commands.get(None, [])
            if c.get("type") == 3
        ),
        "Apple Music ratings",
    )
    rec = await w.discord.send_message_command(menu, w.alice, w.channel, posted.id)
    answer = await answered(w, rec)
    return Scene(
        "menu",
        [
            Panel(
                None,
                [
                    shot_of(posted, w.names(), viewer=w.alice),
                    shot_of(
                        answer,
                        w.names(),
                        viewer=w.alice,
                        command=menu,
                        command_user="alice",
                        command_type="message_command",
                        command_target="bob",
                    ),
                ],
            )
        ],
    )


async def scene_about(w: World) -> Scene:
    shot = await command(w, "about", user=w.bob)
    return Scene("about", [Panel(None, [shot])])


# ---------------------------------------------------------------------------------------------- the servers
@contextlib.asynccontextmanager
async def world() -> AsyncIterator[World]:
    """The loopback servers with the docs' world, the MusicKit stand-in, and the real bot, started."""
    clock = GatewayTime()
    async with loopbacks(clock=clock) as lb:
        discord, apple = lb.discord, lb.apple
        guild = discord.add_guild(GUILD)
        discord.guild_id = guild.id
        discord.channel_id = discord.add_text_channel(guild.id, CHANNEL)
        alice = discord.add_user("alice")
        bob = discord.add_user("bob")
        for user in (alice, bob):
            discord.add_member(guild.id, user)
        discord.alice_id = alice
        apple.add_user(ALICE_MUT, storefront="us")
        lb.musickit.token = ALICE_MUT
        seed_catalog(apple)
        point_artwork(apple, ARTWORK_BASE)
        with tempfile.TemporaryDirectory(prefix="docs-shots-") as tmp:
            settings = bot_settings(bot_env(lb, Path(tmp), guild_id=guild.id))
            async with running_bot(
                settings,
                identify_clock=clock,
                identify_sleep=clock.sleep,
                apple_retry=FAST_RETRY,
                outbox_config=FAST_OUTBOX,
            ) as bot:
                yield World(discord, apple, bot, settings, lb.musickit, alice, bob)


@dataclass
class Capture:
    scenes: list[Scene]
    #: "moment: error" for each moment that failed (the others are still drawn)
    failures: list[str]
    #: user and channel names by id (for mentions in the bot's text)
    names: dict[int, str]
    #: when the moments ran (``time.time()``): ``<t:…>`` times are drawn relative to it
    captured_at: float


async def capture(link_page: LinkPage) -> Capture:
    """Every moment, in order (linking first: the later ones need alice linked). A moment that fails is reported
    and left out; the others are still drawn."""
    scenes: list[Scene] = []
    failures: list[str] = []
    captured_at = time.time()
    async with world() as w:
        steps: list[tuple[str, Callable[[], Awaitable[Scene | tuple[Scene, ...]]]]] = [
            ("link", lambda: scene_link(w, link_page)),
            ("like", lambda: scene_like(w)),
            ("show", lambda: scene_show(w)),
            ("tracks", lambda: scene_tracks(w)),
            ("button", lambda: scene_button(w)),
            ("share+dm", lambda: scene_share_and_dm(w)),
            ("menu", lambda: scene_menu(w)),
            ("error", lambda: scene_error(w)),
            ("about", lambda: scene_about(w)),
        ]
        for name, step in steps:
            try:
                result = await step()
            except Exception as exc:
                log.exception("moment %s failed", name)
                failures.append(f"{name}: {exc!r}")
                continue
            scenes.extend(result if isinstance(result, tuple) else (result,))
        names = {uid: u.global_name or u.username for uid, u in w.discord.users.items()}
        names.update({cid: c.name for cid, c in w.discord.channels.items() if c.name})
    return Capture(scenes, failures, names, captured_at)
