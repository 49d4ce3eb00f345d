"""``python -m bot playground``: the real bot against a loopback Discord and Apple, and a page to use it.

Starts, in this process: the loopback Discord, the loopback Apple and the stand-in MusicKit (127.0.0.1, free ports),
a small world (the server "Listening Club" with #music, where shared links get 👍 👎, and #general; members alice,
bob and carol, each with a playground Apple Music account; songs, albums and a playlist with drawn covers), the
real :class:`~bot.app.RatingsBot` on SQLite (a temporary folder, or ``--data DIR``), and the page. Prints the page's
address once the bot is ready, then serves until Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.services.outbox import OutboxConfig
from bot.storage import TokenCipher
from playground import world as catalog
from playground.app import Member as PlaygroundMember
from playground.app import PlaygroundApp, PlaygroundWorld
from playground.render import DEFAULT_NPM_DIR, RendererMissing, install
from playground.servers import LoopbackApple
from playground.world import BOT_NAME, GUILD, Loopbacks, bot_env, bot_settings, loopbacks, running_bot

#: hosts that mean "this machine only"; anything else is listening beyond it
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 8765
MEMBERS = ("alice", "bob", "carol")
#: a playground outbox: a reaction lands a second after the last change, and is retried every few seconds while
#: Apple is down (production waits longer between retries)
OUTBOX = OutboxConfig(debounce=1.0, max_delay=5.0, poll_interval=1.0, retry_base=1.0, retry_max=4.0)
LATE_NIGHT = "pl.playground0late0night0listening"
EXTRA_SONGS = {
    "1613600190": ("Gone", "Beach Bunny", "Emotional Creature", catalog.ENTROPY_ALBUM, "f25c8c"),
    "1613600191": ("Oxygen", "Beach Bunny", "Emotional Creature", catalog.ENTROPY_ALBUM, "f25c8c"),
    "1613600192": ("Fire Escape", "Beach Bunny", "Emotional Creature", catalog.ENTROPY_ALBUM, "f25c8c"),
    "1440857782": ("Go Your Own Way", "Fleetwood Mac", "Rumours", "1440857780", "d9a441"),
    "1440857783": ("The Chain", "Fleetwood Mac", "Rumours", "1440857780", "d9a441"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the page and the linking page listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the page's port (default {DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="keep the bot's SQLite database here (default: a temporary folder)"
    )
    parser.add_argument(
        "--npm-dir",
        type=Path,
        default=DEFAULT_NPM_DIR,
        help="where the message renderer's npm packages are (installed there with npm when missing)",
    )


def seed_playground_catalog(apple: LoopbackApple, artwork_base: str) -> None:
    """The docs' catalog, plus a small album, a second Fleetwood Mac album's songs and a playlist; covers drawn by
    the page's ``/artwork`` route."""
    catalog.seed_catalog(apple)
    for sid, (name, artist, album, album_id, colour) in EXTRA_SONGS.items():
        apple.add_song(sid, name=name, artist=artist, album=album, album_id=album_id, bg_color=colour)
    apple.add_album(
        catalog.ENTROPY_ALBUM,
        name="Emotional Creature",
        artist="Beach Bunny",
        tracks=[catalog.ENTROPY, "1613600190", "1613600191", "1613600192"],
        bg_color="f25c8c",
    )
    apple.add_album(
        "1440857780",
        name="Rumours",
        artist="Fleetwood Mac",
        tracks=[catalog.DREAMS, "1440857782", "1440857783"],
        bg_color="d9a441",
    )
    apple.add_playlist(
        LATE_NIGHT,
        name="Late Night Listening",
        curator="Listening Club",
        tracks=[catalog.ENTROPY, catalog.DREAMS, catalog.HOUNDS_TRACKS[3], "1440857783", catalog.HOUNDS_TRACKS[0]],
        bg_color="1d3557",
    )
    catalog.point_artwork(apple, artwork_base)


@dataclass
class Started:
    url: str
    app: PlaygroundApp


def apple_token(name: str) -> str:
    """The music user token of a member's playground Apple account (long, like a real one)."""
    return "Ag" + f"Playground{name.capitalize()}" * 20


@contextlib.asynccontextmanager
async def playground(
    *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, data: Path | None = None, npm_dir: Path = DEFAULT_NPM_DIR
) -> AsyncIterator[Started]:
    """Everything started (see the module docstring); the page's address once the bot is ready."""
    modules = install(npm_dir)
    link_host = "127.0.0.1" if host in ("0.0.0.0", "::", *LOCAL_HOSTS) else host  # noqa: S104 - a comparison
    with contextlib.ExitStack() as stack:
        folder = (
            data if data is not None else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="playground-")))
        )
        folder.mkdir(parents=True, exist_ok=True)
        async with loopbacks() as lb:
            app = PlaygroundApp(modules)
            runner = web.AppRunner(app.app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            await site.start()
            try:
                bound = runner.addresses[0][1]
                url = f"http://{link_host if host in ('0.0.0.0', '::') else host}:{bound}/"  # noqa: S104
                if ":" in host and not host.startswith("["):
                    url = f"http://[{host}]:{bound}/"
                world = _seed(lb, url.rstrip("/") + "/artwork")
                env = bot_env(lb, folder, guild_id=world.guild_id, web_host=host, link_host=link_host)
                env["TOKEN_ENCRYPTION_KEY"] = _kept_key(folder) if data is not None else env["TOKEN_ENCRYPTION_KEY"]
                async with running_bot(bot_settings(env), outbox_config=OUTBOX) as bot:
                    await bot.svc.store.add_share_channel(world.guild_id, world.channels["music"])
                    app.world = PlaygroundWorld(
                        lb, bot, world.guild_id, GUILD, world.channels, world.members, acting=world.acting
                    )
                    app.world.act_as(world.acting)
                    yield Started(url, app)
            finally:
                await runner.cleanup()


@dataclass
class _Seeded:
    guild_id: int
    channels: dict[str, int]
    members: list[PlaygroundMember]
    acting: int


def _seed(lb: Loopbacks, artwork_base: str) -> _Seeded:
    discord, apple = lb.discord, lb.apple
    guild = discord.add_guild(GUILD)
    discord.guild_id = guild.id
    channels = {
        "music": discord.add_text_channel(guild.id, "music"),
        "general": discord.add_text_channel(guild.id, "general"),
    }
    discord.channel_id = channels["music"]
    members = []
    for name in MEMBERS:
        uid = discord.add_user(name)
        discord.add_member(guild.id, uid)
        members.append(PlaygroundMember(uid, name, apple.add_user(apple_token(name), storefront="us")))
    discord.alice_id = members[0].id
    seed_playground_catalog(apple, artwork_base)
    return _Seeded(guild.id, channels, members, members[0].id)


def _kept_key(folder: Path) -> str:
    """The encryption key of a kept database (``--data``): made once, kept beside it (mode 0600)."""
    path = folder / "token-encryption-key"
    if not path.exists():
        path.write_text(TokenCipher.generate_key(), encoding="ascii")
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with playground(host=args.host, port=args.port, data=args.data, npm_dir=args.npm_dir) as started:
        _say(f"{BOT_NAME} playground: the real bot against a loopback Discord and Apple on this machine.")
        _say("Nothing here is real Discord or Apple; nothing leaves this machine.")
        if args.host not in LOCAL_HOSTS:
            _say(f"Listening on {args.host}: other machines can open it.")
        _say(f"playground ready at {started.url}")
        _say("Ctrl+C stops it.")
        await stop.wait()
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(serve(args))
    except RendererMissing as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"The playground cannot start: {exc} (another --port?)\n")
        return 2
