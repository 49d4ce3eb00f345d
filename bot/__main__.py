"""``python -m bot`` — run the bot, or one of its maintenance subcommands.

    python -m bot                 run the bot (same as ``python -m bot run``)
    python -m bot check           validate the configuration and sign a developer token; no gateway
    python -m bot doctor          check the setup against Apple, Discord, the database and the linking page
    python -m bot sync [--guild ID]   register the slash commands (globally, or in one guild at once)
    python -m bot token [--hours N] [--origin URL]   print a developer token for MusicKit pages and curl
    python -m bot gen-key         print a new TOKEN_ENCRYPTION_KEY
    python -m bot rotate-keys     re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEY (refused while
                                  a running bot process does not have that key first)
    python -m bot migrate         apply database migrations and exit
    python -m bot copy-db --from SOURCE_URL [--to TARGET_URL]   copy every row into an empty database
                                  (default target: DATABASE_URL), e.g. from SQLite to PostgreSQL
    python -m bot playground [--port P] [--host H] [--data DIR]   try the real bot in a browser against a loopback
                                  Discord and Apple on this machine (no configuration; nothing real is contacted)

Exit codes: 0 success, 1 failure while running, 2 unusable configuration or arguments.
Output meant for the operator goes to standard output/error through ``sys.stdout``/``sys.stderr``;
the running bot itself logs through ``logging`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import RUN_REQUIRED, ConfigError, Settings, load_settings
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.storage import Store

log = logging.getLogger("bot")

APPLE_REQUIRED = {k: v for k, v in RUN_REQUIRED.items() if k.startswith("APPLE_")}
DISCORD_REQUIRED = {"DISCORD_TOKEN": RUN_REQUIRED["DISCORD_TOKEN"]}
STORE_REQUIRED = {"TOKEN_ENCRYPTION_KEY": RUN_REQUIRED["TOKEN_ENCRYPTION_KEY"]}


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Apple Music ratings bot for Discord.")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="optional .env file (default: ./.env)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the default)")
    sub.add_parser("check", help="validate the configuration and sign a developer token, without connecting")
    sub.add_parser(
        "doctor",
        help="check the setup for real: the Apple key, the Discord token, intents and permissions, the database, "
        "the linking page and the OAuth2 secret (a checklist; exit 1 on any failure)",
    )
    sync = sub.add_parser("sync", help="register the slash commands with Discord")
    sync.add_argument("--guild", type=int, default=None, help="sync to this guild only (instant); default: global")
    token = sub.add_parser("token", help="print a developer token for MusicKit pages and curl")
    token.add_argument("--hours", type=float, default=12.0, help="lifetime in hours (default 12, at most 4320)")
    token.add_argument("--origin", action="append", default=[], help="allowed web origin (repeatable)")
    sub.add_parser("gen-key", help="print a new TOKEN_ENCRYPTION_KEY")
    sub.add_parser(
        "rotate-keys",
        help="re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEY (refused while a running bot "
        "process does not have that key first)",
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    playground = sub.add_parser(
        "playground",
        help="try the real bot in a browser against a loopback Discord and Apple on this machine (needs no "
        "configuration; nothing there is real Discord or Apple)",
    )
    _playground_arguments(playground)
    copy = sub.add_parser(
        "copy-db",
        help="copy every row from another database into an empty one (e.g. SQLite to PostgreSQL)",
        description="Copy accounts, link states, share channels, shared messages, the ratings outbox and notices "
        "from SOURCE_URL into the empty database TARGET_URL, in one transaction. Stop every bot process first.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="SOURCE_URL", help="the database to copy")
    copy.add_argument("--to", dest="target", default=None, metavar="TARGET_URL", help="default: DATABASE_URL")
    copy.add_argument("--batch", type=int, default=2000, help="rows read and written at a time (default 2000)")
    return parser


def _playground_arguments(parser: argparse.ArgumentParser) -> None:
    """The playground is not part of the bot: it is imported only when asked for (it needs a source checkout)."""
    try:
        from playground.cli import add_arguments
    except ImportError:  # an installed bot without the playground: the subcommand says so when run
        parser.set_defaults(playground_missing=True)
        return
    add_arguments(parser)


def cmd_playground(args: argparse.Namespace) -> int:
    if getattr(args, "playground_missing", False):
        _err("The playground is not installed here: run it from a checkout of the project (scripts/run playground).")
        return 2
    from playground.cli import run

    return run(args)


def _require(settings: Settings, names: Mapping[str, str]) -> None:
    settings.require(names)


def _database_location(url: str) -> str:
    """Where ``url`` points, without a user name or password."""
    from bot.storage import UnsupportedDatabaseURL, parse_database_url

    try:
        return parse_database_url(url).location
    except UnsupportedDatabaseURL:
        return "(DATABASE_URL is not usable: see below)"


def cmd_check(settings: Settings) -> int:
    problems = [*settings.problems, *settings.missing()]
    token_ok = False
    apple_missing = settings.missing(APPLE_REQUIRED)
    if not apple_missing and not any(p.startswith("APPLE_") for p in settings.problems):
        try:
            header, claims = settings.developer_token().describe()
            _out("Developer token signed with your MusicKit key:")
            _out("  header: " + json.dumps(header, sort_keys=True))
            _out("  claims: " + json.dumps(claims, sort_keys=True))
            token_ok = True
        except ValueError as exc:
            problems.append(f"APPLE_PRIVATE_KEY_PATH: {exc}")
    _out(f"Discord API: {settings.discord_api_base}  gateway: {settings.discord_gateway_url}")
    _out(f"Apple Music API: {settings.apple_music_api_base}")
    _out(f"Database: {_database_location(settings.database_url)}")
    _out(f"Linking page: {settings.link_base_url} (listening on {settings.web_host}:{settings.web_port})")
    _out(f"Message content intent: {'on' if settings.message_content_intent else 'off'}")
    if settings.discord_client_secret is None:
        _out(
            "Recommended: set DISCORD_CLIENT_SECRET (Developer Portal > your application > OAuth2) and add "
            f"{settings.link_base_url}/link/discord as a redirect there: the linking page then checks which Discord "
            "account opens a link, so a forwarded link cannot be used by someone else."
        )
    else:
        _out("Linking page: checks the Discord account with Discord's sign-in (DISCORD_CLIENT_SECRET is set).")
    if problems:
        _err(ConfigError(problems).explain())
        return 2
    _out("Configuration OK." if token_ok else "Configuration OK (no developer token signed).")
    return 0


async def cmd_doctor(settings: Settings) -> int:
    """The checklist of :mod:`bot.doctor`: ✓, ✗ with what to do, or – for what could not be checked."""
    from bot.doctor import failed, run_checks

    checks = await run_checks(settings)
    for check in checks:
        mark = {True: "✓", False: "✗", None: "–"}[check.ok]
        first, *rest = check.detail.splitlines()
        _out(f"{mark} {check.name}: {first}")
        for line in rest:
            _out(f"    {line}")
        if check.fix and check.ok is not True:
            _out(f"    → {check.fix}")
        elif check.fix:
            _out(f"    ({check.fix})")
    bad = [c for c in checks if c.ok is False]
    _out("")
    _out(f"{len(bad)} problem(s) found." if failed(checks) else "Everything checked is in order.")
    return 1 if bad else 0


def cmd_token(settings: Settings, hours: float, origins: list[str]) -> int:
    _require(settings, APPLE_REQUIRED)
    if not 0 < hours <= 2160:
        _err("--hours must be more than 0 and at most 2160 (90 days; Apple rejects tokens near 180 days).")
        return 2
    _out(settings.developer_token().sign_for(origin=origins or None, lifetime=hours * 3600))
    return 0


def cmd_gen_key() -> int:
    from bot.storage import TokenCipher

    _out(TokenCipher.generate_key())
    return 0


@asynccontextmanager
async def _opened_store(settings: Settings) -> AsyncIterator[Store]:
    """The configured store, opened (and migrated) for one maintenance command, closed afterwards."""
    _require(settings, STORE_REQUIRED)
    from bot.app import store_options_from
    from bot.storage import open_store

    store = await open_store(settings.database_url, settings.cipher(), options=store_options_from(settings))
    async with store:
        yield store


async def cmd_rotate_keys(settings: Settings) -> int:
    """Re-encrypt every token with the first key, unless a running bot process does not have that key first (it
    would keep writing tokens with another key, and lose every token once the old key is dropped). Exit 2 then."""
    from bot.services.presence import STALE_AFTER_SECONDS, holdouts

    first_key = settings.cipher().fingerprints[0]
    async with _opened_store(settings) as store:
        now = time.time()
        running = await store.live_processes(now - STALE_AFTER_SECONDS)
        behind = holdouts(running, first_key)
        if behind:
            _err(
                f"Not rotating: {len(behind)} running bot process(es) do not have the first key of this "
                "TOKEN_ENCRYPTION_KEY as their first key:"
            )
            for process in behind:
                since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(process.started_at))
                ago = max(0, round(now - process.seen_at))
                _err(f"  {process.name} (running since {since}, last seen {ago} s ago)")
            _err(
                "Restart each of them with this TOKEN_ENCRYPTION_KEY (the new key first, the old key after it), then "
                "run rotate-keys again. Nothing was re-encrypted."
            )
            _err(
                f"A process that stopped without shutting down counts as running until {STALE_AFTER_SECONDS:.0f} s "
                "after it was last seen."
            )
            return 2
        count = await store.rotate_keys()
    _out(f"Re-encrypted {count} stored token(s) with the first key.")
    _out("Next: drop the old key from TOKEN_ENCRYPTION_KEY (keep only the first key), then restart each process.")
    if running:
        _out("Running now: " + ", ".join(p.name for p in running) + ".")
    return 0


async def cmd_migrate(settings: Settings) -> int:
    async with _opened_store(settings) as store:
        version = await store.schema_version()
    _out(f"Database is up to date (schema version {version}).")
    return 0


def cmd_copy_db(settings: Settings, source_url: str, target_url: str | None, batch: int) -> int:
    """Copy SOURCE into the empty TARGET (default ``DATABASE_URL``). Exit 2 when the copy is refused."""
    _require(settings, STORE_REQUIRED)
    from bot.storage import UnsupportedDatabaseURL, parse_database_url

    if batch <= 0:
        _err("--batch must be a positive number of rows.")
        return 2
    try:
        source = parse_database_url(source_url)
    except UnsupportedDatabaseURL as exc:
        _err(f"--from: {exc}.")
        return 2
    if source.engine == "sqlite" and (source.target == ":memory:" or not Path(source.target).is_file()):
        # never create an empty source by mistake
        _err(f"The source database {source.location} does not exist; nothing was copied.")
        return 2
    target_flag = "--to" if target_url else "DATABASE_URL"
    return asyncio.run(_copy_db(settings, source_url, target_url or settings.database_url, target_flag, batch))


async def _copy_db(settings: Settings, source_url: str, target_url: str, target_flag: str, batch: int) -> int:
    from bot.storage import CopyRefused, UnsupportedDatabaseURL, copy_database, open_store

    cipher = settings.cipher()
    stores: list[Store] = []
    try:
        for flag, url in (("--from", source_url), (target_flag, target_url)):
            try:
                stores.append(await open_store(url, cipher))
            except UnsupportedDatabaseURL as exc:
                _err(f"{flag}: {exc}.")
                return 2
        source, target = stores
        _out(f"Copying {source.location} into {target.location} ...")
        try:
            report = await copy_database(source, target, batch=batch)
        except CopyRefused as exc:
            _err(str(exc))
            return 2
    finally:
        for store in reversed(stores):
            await store.close()
    _out("")
    for line in report.table_lines():
        _out("  " + line)
    _out("")
    if report.undecryptable_tokens:
        _out(
            f"Warning: {report.undecryptable_tokens} of {report.tokens} stored token(s) cannot be decrypted with "
            "the current TOKEN_ENCRYPTION_KEY (nor could they in the source): add the key they were encrypted "
            "with, or those users must link again."
        )
    else:
        _out(f"All {report.tokens} stored token(s) can be decrypted with the current TOKEN_ENCRYPTION_KEY.")
    _out("Copied. Point DATABASE_URL at the new database and start the bot.")
    return 0


async def cmd_sync(settings: Settings, guild_id: int | None) -> int:
    _require(settings, DISCORD_REQUIRED)
    from bot.app import RatingsBot

    bot = RatingsBot(settings, mode="sync")
    async with bot:
        await bot.login(settings.token())
        synced = await bot.sync_commands(guild_id)
    where = f"guild {guild_id}" if guild_id else "every server (global commands can take up to an hour to appear)"
    _out(f"Synced {len(synced)} commands to {where}.")
    return 0


async def cmd_run(settings: Settings) -> int:
    settings.require()
    from bot.app import RatingsBot

    bot = RatingsBot(settings)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def _stop() -> None:
        if not closing:
            log.info("shutting down")
            closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _stop)
    async with bot:
        await bot.start(settings.token())
    await asyncio.gather(*closing)
    return 0


def _explain_failure(exc: Exception) -> int:
    """Known ways a start fails, each as one clear sentence (no traceback, no secret)."""
    import aiohttp
    import discord

    from bot.storage import SchemaTooNew, StorageError

    if isinstance(exc, discord.LoginFailure):
        _err("Discord refused DISCORD_TOKEN. Copy the bot token again (developer portal > Bot > Reset Token).")
        return 2
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        _err(
            "Discord refused the Message Content intent. Enable it in the developer portal (Bot > Privileged "
            "Gateway Intents) or set MESSAGE_CONTENT_INTENT=false."
        )
        return 2
    if isinstance(exc, SchemaTooNew):
        _err(str(exc))
        return 2
    if isinstance(exc, StorageError):
        _err(f"The database could not be used: {exc}")
        return 1
    if isinstance(exc, aiohttp.ClientError | OSError | discord.GatewayNotFound):
        _err(
            f"Could not reach Discord ({type(exc).__name__}): check DISCORD_API_BASE / DISCORD_GATEWAY_URL "
            "and the network."
        )
        return 1
    raise exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "playground":  # its own world: no .env, no settings of this machine
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return cmd_playground(args)
    settings = load_settings(env_file=args.env_file)
    configure_logging(settings.log_level, settings.log_format)
    command = args.command or "run"
    try:
        if command == "check":
            return cmd_check(settings)
        if command == "doctor":
            return asyncio.run(cmd_doctor(settings))
        if command == "gen-key":
            return cmd_gen_key()
        if command == "token":
            return cmd_token(settings, args.hours, args.origin)
        if command == "rotate-keys":
            return asyncio.run(cmd_rotate_keys(settings))
        if command == "migrate":
            return asyncio.run(cmd_migrate(settings))
        if command == "copy-db":
            return cmd_copy_db(settings, args.source, args.target, args.batch)
        if command == "sync":
            return asyncio.run(cmd_sync(settings, args.guild))
        return asyncio.run(cmd_run(settings))
    except ConfigError as exc:
        _err(exc.explain())
        return 2
    except ValueError as exc:  # invalid key material and the like: messages are written to be shown
        _err(f"The bot cannot start: {exc}")
        return 2
    except Exception as exc:
        return _explain_failure(exc)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
