"""The real bot against the loopback Discord and Apple servers, in this process: what the README's pictures
(``python -m docs.shots``) and the playground (``python -m bot playground``) both start.

* :func:`loopbacks` — the loopback Discord, the loopback Apple (trusting a fresh MusicKit key) and the stand-in
  MusicKit script, started and closed.
* :func:`seed_catalog` / :func:`point_artwork` — a fixed Apple Music catalog (ids, names, cover colours), and its
  artwork URLs pointed at a route that draws covers (:func:`playground.render.artwork_svg`).
* :func:`bot_settings` and :func:`running_bot` — the bot's settings for those servers (SQLite in a folder) and the
  real :class:`~bot.app.RatingsBot`, started until its commands are synced and it is ready.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import RatingsBot
from bot.applemusic import generate_private_key, public_key_pem
from bot.config import Settings, load_settings
from bot.storage import TokenCipher
from playground.servers import LoopbackApple, LoopbackDiscord, MusicKitStub, running_client

BOT_NAME = "Music Ratings"
GUILD = "Listening Club"
CHANNEL = "music"
BOT_TOKEN = "loopback.playground-bot-token"  # noqa: S105 - the loopback Discord's, nothing real
TEAM_ID, KEY_ID = "TEAMID1234", "KEYID12345"

ENTROPY = "1613600188"
ENTROPY_ALBUM = "1613600183"
HOUNDS = "1558149830"
#: 24 tracks (the album and its B-sides and mixes): more than a page, so a list of its tracks shows the pager
HOUNDS_TRACKS = [str(1558149831 + n) for n in range(24)]
CLOUDBUSTING = "1558149834"
DREAMS = "1440857781"
UNKNOWN_ID = "9999999999"
HOUNDS_NAMES = [
    "Running Up That Hill",
    "Hounds of Love",
    "The Big Sky",
    "Cloudbusting",
    "Mother Stands for Comfort",
    "And Dream of Sheep",
    "Under Ice",
    "Waking the Witch",
    "Watching You Without Me",
    "Jig of Life",
    "Hello Earth",
    "The Morning Fog",
    "Be Kind to My Mistakes",
    "Under the Ivy",
    "Burning Bridge",
    "My Lagan Love",
    "Not This Time",
    "Sat in Your Lap (Live)",
    'Running Up That Hill (12" Mix)',
    "Cloudbusting (The Orgonon Mix)",
    "The Big Sky (Meteorological Mix)",
    "Hounds of Love (Alternative Mix)",
    "The Handsome Cabin Boy",
    "Experiment IV",
]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Loopbacks:
    discord: LoopbackDiscord
    apple: LoopbackApple
    musickit: MusicKitStub
    #: the MusicKit private key (PKCS#8 text) the loopback Apple trusts: the bot signs with it
    pem: str


@contextlib.asynccontextmanager
async def loopbacks(*, clock: Callable[[], float] | None = None) -> AsyncIterator[Loopbacks]:
    """The three loopback servers, started on 127.0.0.1 (free ports) and closed afterwards. ``clock`` is the
    loopback Discord's (its identify budget and interaction deadlines)."""
    pem = generate_private_key()
    options: dict[str, Any] = {"clock": clock} if clock is not None else {}
    discord = LoopbackDiscord(bot_token=BOT_TOKEN, bot_name=BOT_NAME, **options)
    apple = LoopbackApple(public_key_pem(pem), TEAM_ID, KEY_ID)
    musickit = MusicKitStub()
    await discord.start()
    await apple.start()
    await musickit.start()
    try:
        yield Loopbacks(discord, apple, musickit, pem)
    finally:
        await musickit.close()
        await apple.close()
        await discord.close()


def seed_catalog(apple: LoopbackApple) -> None:
    """Songs and albums with fixed ids, names and cover colours (the README's pictures show them)."""
    apple.add_song(
        ENTROPY,
        name="Entropy",
        artist="Beach Bunny",
        album="Emotional Creature",
        album_id=ENTROPY_ALBUM,
        bg_color="f25c8c",
    )
    for n, (sid, name) in enumerate(zip(HOUNDS_TRACKS, HOUNDS_NAMES, strict=True), start=1):
        apple.add_song(
            sid,
            name=name,
            artist="Kate Bush",
            album="Hounds of Love",
            album_id=HOUNDS,
            track_number=n,
            duration_ms=200_000 + n * 17_000,
            bg_color="3b2f5c",
        )
    apple.add_album(HOUNDS, name="Hounds of Love", artist="Kate Bush", tracks=HOUNDS_TRACKS, bg_color="3b2f5c")
    apple.add_song(DREAMS, name="Dreams", artist="Fleetwood Mac", album="Rumours", bg_color="d9a441")


def point_artwork(apple: LoopbackApple, base: str) -> None:
    """Every catalog item's artwork at ``<base>/<type>-<id>-<bgColor>/{w}x{h}bb.jpg`` (a route that draws a cover
    from the key, see :func:`playground.render.artwork_svg`)."""
    for rtype, items in apple.catalog.items():
        for rid, attrs in items.items():
            art = attrs.get("artwork")
            if art:
                art["url"] = f"{base}/{rtype}-{rid}-{art['bgColor']}/{{w}}x{{h}}bb.jpg"


def bot_env(
    lb: Loopbacks,
    folder: Path,
    *,
    guild_id: int,
    web_host: str = "127.0.0.1",
    web_port: int | None = None,
    link_host: str = "127.0.0.1",
    log_level: str = "WARNING",
) -> dict[str, str]:
    """The bot's environment for the loopback servers: the MusicKit key written into ``folder``, SQLite there, a
    fresh encryption key, commands synced to ``guild_id``, the linking page on ``web_host`` (a free port unless
    ``web_port``), health and metrics on a free port."""
    key_path = folder / "AuthKey_LOOPBACK.p8"
    key_path.write_text(lb.pem, encoding="ascii")
    key_path.chmod(0o600)
    port = web_port or free_port(web_host)
    return {
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_API_BASE": lb.discord.api_base,
        "DISCORD_GATEWAY_URL": lb.discord.gateway_url,
        "DEV_GUILD_ID": str(guild_id),
        "APPLE_TEAM_ID": TEAM_ID,
        "APPLE_KEY_ID": KEY_ID,
        "APPLE_PRIVATE_KEY_PATH": str(key_path),
        "APPLE_MUSIC_API_BASE": lb.apple.base_url,
        "DATABASE_URL": f"sqlite:///{folder / 'bot.db'}",
        "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
        "LINK_BASE_URL": f"http://{link_host}:{port}",
        "WEB_HOST": web_host,
        "WEB_PORT": str(port),
        "OPS_PORT": "0",
        "MUSICKIT_JS_URL": lb.musickit.url,
        "LOG_LEVEL": log_level,
    }


def bot_settings(env: Mapping[str, str]) -> Settings:
    settings = load_settings(dict(env), env_file=None)
    settings.require()
    return settings


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, **options: Any) -> AsyncIterator[RatingsBot]:
    """The real bot on ``settings``, started (ready, commands synced) and stopped afterwards; ``options`` go to
    :class:`~bot.app.RatingsBot`."""
    options.setdefault("guild_ready_timeout", 0.05)
    options.setdefault("shard_count", 1)
    bot = RatingsBot(settings, **options)
    async with running_client(bot, BOT_TOKEN, timeout=30):
        yield bot
