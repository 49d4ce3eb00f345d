"""``python -m bot doctor``: what an operator checks after setting the bot up, one :class:`Check` per item.

Each check makes at most a few requests, to the configured base URLs only (``APPLE_MUSIC_API_BASE``,
``DISCORD_API_BASE``, ``LINK_BASE_URL``), and changes nothing: the database is opened without migrating, the
OAuth2 test token is revoked at once. A failed check says what to do, naming the setting or the Developer Portal
switch. No text here ever holds a secret: answers from Discord and Apple are summarised by status, never echoed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import discord

from bot import applemusic as am
from bot import permissions as perms
from bot.app import bot_intents
from bot.config import APPLE_MUSIC_API_DEFAULT, Settings
from bot.web import SIGNIN_RETURN_PATH

#: Discord's application flags for the privileged gateway intents (the full grant and the one under 100 servers),
#: https://discord.com/developers/docs/resources/application#application-object-application-flags
INTENT_FLAGS: Final[dict[str, tuple[int, str]]] = {
    "presences": ((1 << 12) | (1 << 13), "Presence Intent"),
    "members": ((1 << 14) | (1 << 15), "Server Members Intent"),
    "message_content": ((1 << 18) | (1 << 19), "Message Content Intent"),
}
#: any catalog song: the Apple check only needs an answer that is not 401
_PROBE = ("us", "1440857781")
#: ``GET /users/@me/guilds`` pages (Discord's maximum)
GUILD_PAGE: Final = 200
#: at most this many servers are named in one failed check
NAMED_GUILDS: Final = 10
PORTAL: Final = "the Discord Developer Portal (discord.com/developers/applications > your application)"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist: ``ok`` None means not checked (what it needs failed or is not set)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


class _Failed(Exception):
    """A check failed: ``detail`` says what was found, ``fix`` what to do."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class _Discord:
    """The few Discord REST calls of the checks, with the bot token (never shown)."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session = session
        self.base = settings.discord_api_base
        self.headers = {"Authorization": f"Bot {settings.token()}"} if settings.discord_token else {}

    async def get(self, path: str, **params: str | int) -> Any:
        try:
            async with self.session.get(self.base + path, headers=self.headers, params=params) as resp:
                if resp.status == 401:
                    raise _Failed(
                        "Discord refused DISCORD_TOKEN (401 Unauthorized)",
                        f"copy the bot token again: {PORTAL} > Bot > Reset Token, into DISCORD_TOKEN",
                    )
                if resp.status != 200:
                    raise _Failed(f"Discord answered {resp.status} to GET {path}", "try again later")
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unreachable("Discord", "DISCORD_API_BASE", self.base, exc) from None


def _unreachable(what: str, setting: str, url: str, exc: BaseException) -> _Failed:
    return _Failed(
        f"could not reach {what} at {url} ({type(exc).__name__})", f"check {setting} and this machine's network"
    )


class Doctor:
    """The checks, in the order they are shown; :meth:`run` returns them all."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session
        self.discord = _Discord(session, settings)
        self.application: dict[str, Any] | None = None

    async def run(self) -> list[Check]:
        s = self.settings
        checks = [self.configuration()]
        steps: list[tuple[str, list[str], Callable[[], Awaitable[str]]]] = [
            ("Apple MusicKit key", ["APPLE_TEAM_ID", "APPLE_KEY_ID", "APPLE_PRIVATE_KEY_PATH"], self.apple),
            ("Discord bot token", ["DISCORD_TOKEN"], self.discord_token),
            ("Gateway intents", ["DISCORD_TOKEN"], self.intents),
            ("Install link", ["DISCORD_TOKEN"], self.install_link),
            ("Permissions in servers", ["DISCORD_TOKEN"], self.guild_permissions),
            ("Database", ["TOKEN_ENCRYPTION_KEY"], self.database),
            ("Linking page", [], self.linking_page),
        ]
        if s.discord_client_secret is not None:
            steps.append(("Discord sign-in (OAuth2)", ["DISCORD_TOKEN"], self.oauth2))
        for name, needs, step in steps:
            checks.append(await self._one(name, needs, step))
        if s.discord_client_secret is None:
            checks.append(
                Check(
                    "Discord sign-in (OAuth2)",
                    True,
                    "DISCORD_CLIENT_SECRET is not set: the linking page asks visitors to confirm who they are",
                    f"recommended: {PORTAL} > OAuth2 > Reset Secret, into DISCORD_CLIENT_SECRET",
                )
            )
        return checks

    async def _one(self, name: str, needs: list[str], step: Callable[[], Awaitable[str]]) -> Check:
        unset = [n for n in needs if getattr(self.settings, n.lower()) is None or _malformed(self.settings, n)]
        if unset:
            return Check(name, None, "not checked: " + ", ".join(unset) + " is not usable (see Configuration)")
        try:
            return Check(name, True, await step())
        except _Failed as exc:
            return Check(name, False, exc.detail, exc.fix)

    # ------------------------------------------------------------------ the checks
    def configuration(self) -> Check:
        problems = [*self.settings.problems, *self.settings.missing()]
        if problems:
            return Check(
                "Configuration",
                False,
                "; ".join(problems),
                "set these in the environment or .env (see .env.example and the README, Configuration)",
            )
        return Check("Configuration", True, "every setting is valid and every required one is set")

    async def apple(self) -> str:
        try:
            token = self.settings.developer_token()
        except ValueError as exc:
            raise _Failed(str(exc), "APPLE_PRIVATE_KEY_PATH must be the .p8 file downloaded with the key") from None
        client = am.AppleMusicClient(
            token,
            session=self.session,
            base_url=self.settings.apple_music_api_base,
            retry=am.RetryPolicy(max_attempts=1, timeout=10.0),
        )
        try:
            await client.get_catalog_item(am.ResourceType.SONGS, _PROBE[1], _PROBE[0])
        except am.DeveloperTokenRejected:
            raise _Failed(
                "Apple refused the developer token signed with this key (401)",
                "APPLE_KEY_ID must be the Key ID of this .p8 key and APPLE_TEAM_ID your Team ID, and the key must "
                "have Media Services (MusicKit) enabled (developer.apple.com > Certificates, Identifiers & Profiles "
                "> Keys)",
            ) from None
        except (am.AppleMusicError, aiohttp.ClientError, OSError) as exc:
            raise _unreachable("Apple Music", "APPLE_MUSIC_API_BASE", self.settings.apple_music_api_base, exc) from None
        where = "" if self.settings.apple_music_api_base == APPLE_MUSIC_API_DEFAULT else " at APPLE_MUSIC_API_BASE"
        return f"signed a developer token (key {self.settings.apple_key_id}) and Apple Music accepted it{where}"

    async def discord_token(self) -> str:
        me = await self.discord.get("/users/@me")
        return f"logged in as {me.get('username')} ({me.get('id')})"

    async def _application(self) -> dict[str, Any]:
        if self.application is None:
            self.application = await self.discord.get("/applications/@me")
        return self.application

    async def intents(self) -> str:
        flags = int((await self._application()).get("flags") or 0)
        asked = bot_intents(self.settings)
        lacking = [word for name, (bits, word) in INTENT_FLAGS.items() if getattr(asked, name) and not flags & bits]
        if lacking:
            raise _Failed(
                "the bot asks for " + " and ".join(lacking) + ", which the application does not have",
                f"turn on {' and '.join(lacking)} in {PORTAL} > Bot > Privileged Gateway Intents"
                + (", or set MESSAGE_CONTENT_INTENT=false" if "Message Content Intent" in lacking else ""),
            )
        privileged = [word for name, (_bits, word) in INTENT_FLAGS.items() if getattr(asked, name)]
        return "privileged intents asked for: " + (", ".join(privileged) or "none") + "; the application has them"

    async def install_link(self) -> str:
        application_id = int((await self._application())["id"])
        words = [*perms.REQUIRED.values(), *(f"{w} (optional)" for w in perms.OPTIONAL.values())]
        return (
            f"{perms.install_url(self.settings.discord_oauth_authorize_url, application_id)}\n"
            f"permissions: {', '.join(words)}"
        )

    async def guild_permissions(self) -> str:
        lacking: list[str] = []
        optional: list[str] = []
        count = 0
        after = 0
        while True:
            page = await self.discord.get("/users/@me/guilds", limit=GUILD_PAGE, after=after)
            for guild in page:
                count += 1
                granted = discord.Permissions(int(guild.get("permissions") or 0))
                name = f"{guild.get('name')} ({guild.get('id')})"
                if missed := perms.missing(granted, perms.REQUIRED):
                    lacking.append(f"{name}: {', '.join(missed)}")
                elif perms.missing(granted, perms.OPTIONAL):
                    optional.append(name)
            if len(page) < GUILD_PAGE:
                break
            after = int(page[-1]["id"])
        if lacking:
            shown = lacking[:NAMED_GUILDS] + (
                [f"and {len(lacking) - NAMED_GUILDS} more"] if lacking[NAMED_GUILDS:] else []
            )
            raise _Failed(
                f"the bot lacks permissions in {len(lacking)} of {count} server(s): " + "; ".join(shown),
                "in each server: Server Settings > Roles > the bot's role, turn these on (or remove and add the bot "
                "again with the install link above)",
            )
        note = f" ({len(optional)} without the optional Manage Messages)" if optional else ""
        return f"the bot has the permissions it needs in all {count} server(s) it is in{note}"

    async def database(self) -> str:
        from bot.storage import StorageError, latest_schema_version, open_store, parse_database_url

        url = parse_database_url(self.settings.database_url)
        if url.engine == "sqlite" and url.target != ":memory:" and not await asyncio.to_thread(_is_file, url.target):
            raise _Failed(
                f"{url.location} does not exist yet", "run `python -m bot migrate` (or start the bot) to create it"
            )
        try:
            store = await open_store(url, self.settings.cipher(), migrate=False)
        except (StorageError, OSError) as exc:
            raise _Failed(
                f"could not open {url.location}: {exc}", "check DATABASE_URL and the database server"
            ) from None
        async with store:
            try:
                version, latest = await store.schema_version(), latest_schema_version(url)
                if version < latest:
                    raise _Failed(
                        f"{url.location} is at schema version {version}, this release needs {latest}",
                        "run `python -m bot migrate` (the bot also migrates when it starts)",
                    )
                if version > latest:
                    raise _Failed(
                        f"{url.location} is at schema version {version}, newer than this release knows ({latest})",
                        "upgrade the bot, or point DATABASE_URL at a database of this release",
                    )
                bad = await store.count_undecryptable_tokens()
            except StorageError as exc:
                raise _Failed(f"{url.location} could not be read: {exc}", "check DATABASE_URL") from None
        if bad:
            raise _Failed(
                f"{bad} stored token(s) cannot be decrypted with any key of TOKEN_ENCRYPTION_KEY",
                "add the key they were encrypted with to TOKEN_ENCRYPTION_KEY (after the current one), or those "
                "members must /link again",
            )
        return f"{url.location} is reachable, at schema version {version} (the latest), and every stored token decrypts"

    async def linking_page(self) -> str:
        base = self.settings.link_base_url or ""
        try:
            async with self.session.get(base + "/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Failed(
                f"nothing answered at LINK_BASE_URL {base} ({type(exc).__name__})",
                "start the bot, and make LINK_BASE_URL reach WEB_HOST:WEB_PORT "
                f"({self.settings.web_host}:{self.settings.web_port}) through your reverse proxy",
            ) from None
        if status != 200:
            raise _Failed(
                f"{base}/healthz answered {status}, not the bot's linking page",
                f"make LINK_BASE_URL reach WEB_HOST:WEB_PORT ({self.settings.web_host}:{self.settings.web_port})",
            )
        return f"the linking page answers at {base}"

    async def oauth2(self) -> str:
        application = await self._application()
        client_id = str(self.settings.discord_client_id or application["id"])
        secret = self.settings.client_secret() or ""
        auth = {"Authorization": aiohttp.encode_basic_auth(client_id, secret)}
        url = self.settings.discord_api_base + "/oauth2/token"
        # Discord's client credentials grant: a token for the application's owner, revoked at once
        form = {"grant_type": "client_credentials", "scope": "identify"}
        try:
            async with self.session.post(url, data=form, headers=auth) as resp:
                status, body = resp.status, await resp.json(content_type=None)
            if status == 200 and isinstance(body, dict) and body.get("access_token"):
                revoke = {"token": str(body["access_token"]), "token_type_hint": "access_token"}
                async with self.session.post(url + "/revoke", data=revoke, headers=auth) as resp:
                    await resp.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise _unreachable("Discord", "DISCORD_API_BASE", self.settings.discord_api_base, exc) from None
        if status == 401:
            raise _Failed(
                f"Discord refused DISCORD_CLIENT_SECRET for client {client_id}",
                f"{PORTAL} > OAuth2 > Reset Secret, into DISCORD_CLIENT_SECRET"
                + (" (and DISCORD_CLIENT_ID must be that application's id)" if self.settings.discord_client_id else ""),
            )
        if status != 200:
            raise _Failed(f"Discord answered {status} to the client credentials check", "try again later")
        redirect = (self.settings.link_base_url or "") + SIGNIN_RETURN_PATH
        if self.settings.discord_client_id is None and redirect not in application.get("redirect_uris", []):
            raise _Failed(
                f"the client secret works, but {redirect} is not a registered redirect",
                f"add {redirect} under {PORTAL} > OAuth2 > Redirects",
            )
        return "Discord accepted the client secret"


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def _malformed(settings: Settings, name: str) -> bool:
    return any(p.startswith(name + " ") or p.startswith(name + ":") for p in settings.problems)


async def run_checks(settings: Settings, *, session: aiohttp.ClientSession | None = None) -> list[Check]:
    """Every check, in order (a session of its own unless one is given)."""
    if session is not None:
        return await Doctor(settings, session).run()
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as own:
        return await Doctor(settings, own).run()


def failed(checks: list[Check]) -> bool:
    return any(c.ok is False for c in checks)


__all__ = ["Check", "Doctor", "failed", "run_checks"]
