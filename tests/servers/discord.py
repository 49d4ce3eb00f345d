"""A loopback Discord (REST API + gateway on 127.0.0.1) that the real, unpatched discord.py 2.7 runs against.

It follows Discord's documented payloads and error codes (not our bot's needs):

* REST under ``/api/v10`` (and ``/api/v9``): ``Authorization: Bot <token>`` on every route except interaction
  callbacks and webhooks (401 ``{"message": "401: Unauthorized", "code": 0}`` otherwise). JSON responses carry
  ``Content-Type: application/json`` with no charset, and ``X-RateLimit-*`` headers.
* Gateway on ``ws://127.0.0.1:PORT/``: HELLO, heartbeats/ACK, IDENTIFY (token, intents, ``shard``), READY,
  GUILD_CREATE per guild of the shard (``(guild_id >> 22) % shard_count``), RESUME/RESUMED with replay,
  sequence numbers, REQUEST_GUILD_MEMBERS. ``compress=zlib-stream`` in the query is honoured (binary frames
  with a Z_SYNC_FLUSH suffix), like Discord; other values fall back to plain JSON text frames.
* An in-process world model (users, guilds, roles/permissions, channels, messages, reactions, commands) and an
  event injection API (``send_message``, ``add_reaction``, ``send_command``, ...) for tests.
* Every REST request and every client gateway frame is recorded (secrets redacted); failure injection
  (``fail_next``: 429 with ``Via``/``retry_after``, 500, ...) and latency knobs.
* Interaction rules: first callback within ``interaction_deadline`` (3 s) else 404 10062; a second callback is
  400 40060; follow-ups and edits for ``interaction_token_lifetime`` (15 min) once acknowledged.

Typical use::

    server = LoopbackDiscord(bot_token="...")
    await server.start()
    guild = server.add_guild("Test Guild")
    with point_discordpy_at(server):
        ...  # run a discord.Client / commands.Bot
    await server.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import math
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from tests.servers.admin import call_admin_op
from tests.servers.discord_model import (
    ALLOWED_CALLBACKS,
    JSON,
    CallbackRecord,
    CallbackType,
    Channel,
    Emoji,
    FormErrors,
    GatewayFrame,
    Guild,
    Intents,
    InteractionRecord,
    InteractionType,
    Member,
    Message,
    MessageFlags,
    Op,
    Permissions,
    Reaction,
    RecordedRequest,
    Role,
    SnowflakeGenerator,
    User,
    emoji_key,
    iso,
    parse_emoji,
    shard_for_guild,
    validate_command_choices,
    validate_commands,
    validate_message_body,
    validate_modal,
)

__all__ = [
    "CallbackRecord",
    "DiscordApiError",
    "GatewayConnection",
    "GatewaySession",
    "Intents",
    "InteractionRecord",
    "LoopbackDiscord",
    "Message",
    "Permissions",
    "RecordedRequest",
    "point_discordpy_at",
    "running_client",
    "set_discordpy_urls",
]

REDACTED = "[redacted]"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
_EDITABLE_FLAGS = (1 << 2) | MessageFlags.IS_COMPONENTS_V2  # SUPPRESS_EMBEDS, IS_COMPONENTS_V2
_SENDABLE_FLAGS = _EDITABLE_FLAGS | MessageFlags.EPHEMERAL | (1 << 12)  # + SUPPRESS_NOTIFICATIONS


# ---------------------------------------------------------------------------------------- discord.py clients
@contextlib.asynccontextmanager
async def running_client(client: Any, token: str, *, timeout: float = 10.0) -> AsyncIterator[Any]:
    """Start a ``discord.Client`` (``client.start(token)``) in a task, wait until ready, yield it, close it.

    Raises what ``start`` raised if the client dies before it is ready (e.g. ``LoginFailure``,
    ``PrivilegedIntentsRequired``), ``TimeoutError`` if it is not ready in ``timeout`` seconds.
    """
    task = asyncio.ensure_future(client.start(token))
    ready = asyncio.ensure_future(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            raise RuntimeError("the client stopped before it was ready")
        if ready not in done:
            raise TimeoutError(f"the client was not ready after {timeout}s")
        yield client
    finally:
        ready.cancel()
        await client.close()
        if not task.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 5)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: errors after close are not the test's business


# ---------------------------------------------------------------------------------------- discord.py globals
def set_discordpy_urls(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Point discord.py's URL globals at a server; returns a function that restores the previous values.

    The globals (all of them; checked against discord.py 2.7.1):

    * ``discord.http.Route.BASE`` — every REST route, including the webhook adapter's routes
      (``discord.webhook.async_.Route`` *is* ``discord.http.Route``): interaction callbacks
      (``/interactions/{id}/{token}/callback``), follow-ups and ``@original`` edits all go through it.
      ``Route`` reads it when a route object is built, so changing it affects later requests only.
    * ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` — the first gateway connection of a ``Client`` (an
      ``AutoShardedClient`` without ``shard_count`` asks ``GET /gateway/bot`` instead, served here too;
      reconnects use READY's ``resume_gateway_url``).

    Not changed (never contacted by a bot in tests): ``Webhook.url`` strings and CDN asset URLs.
    """
    import discord.gateway
    import discord.http

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore


@contextlib.contextmanager
def point_discordpy_at(server: LoopbackDiscord) -> Iterator[LoopbackDiscord]:
    """Context manager: discord.py talks to ``server`` inside the block (see :func:`set_discordpy_urls`)."""
    restore = set_discordpy_urls(server.api_base, server.gateway_url)
    try:
        yield server
    finally:
        restore()


# -------------------------------------------------------------------------------------------------- errors
class DiscordApiError(Exception):
    """Raised inside route handlers; becomes Discord's JSON error body."""

    def __init__(self, status: int, code: int, message: str, errors: FormErrors | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors.tree
        return body


def _form_error(errors: FormErrors) -> DiscordApiError:
    return DiscordApiError(400, 50035, "Invalid Form Body", errors)


def _unknown(what: str, code: int) -> DiscordApiError:
    return DiscordApiError(404, code, f"Unknown {what}")


MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
MISSING_ACCESS = (403, 50001, "Missing Access")


# ------------------------------------------------------------------------------------------------- gateway
class GatewayConnection:
    """One websocket; a session may move between connections (RESUME)."""

    def __init__(self, ws: web.WebSocketResponse, *, compress: bool, path: str, query: dict[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query = query
        self.session: GatewaySession | None = None
        self.compressed = compress
        self._compressor = zlib.compressobj() if compress else None
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, text: str) -> None:
        async with self._lock:
            if self.closed or self.ws.closed:
                return
            try:
                if self._compressor is not None:
                    data = self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                self.closed = True

    async def close(self, code: int, message: str = "") -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=message.encode())


@dataclass
class GatewaySession:
    """An identified gateway session (survives disconnects until invalidated, for RESUME)."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    identify: JSON  # the IDENTIFY ``d`` with the token redacted
    seq: int = 0
    conn: GatewayConnection | None = None
    invalidated: bool = False
    resumes: int = 0
    events: list[tuple[str, JSON]] = field(default_factory=list)  # every dispatch sent, in order
    buffer: list[tuple[int, str]] = field(default_factory=list)
    presence_updates: list[JSON] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def events_named(self, name: str) -> list[JSON]:
        return [data for event, data in self.events if event == name]


@dataclass
class _Failure:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: float
    global_: bool
    body: Any


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Callable[[_Ctx], Awaitable[tuple[int, Any]]]
    auth: bool


@dataclass
class _Ctx:
    request: web.Request
    params: dict[str, str]
    body: Any
    files: list[JSON]
    query: dict[str, str]
    record: RecordedRequest

    def json_object(self) -> JSON:
        if not isinstance(self.body, dict):
            raise DiscordApiError(400, 50109, "The request body contains invalid JSON.")
        return self.body

    def int_param(self, name: str) -> int:
        return int(self.params[name])


def _bool_query(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


_MENTION = re.compile(r"<@!?(\d+)>")


# -------------------------------------------------------------------------------------------------- server
class LoopbackDiscord:
    """The loopback Discord. See the module docstring; public attributes are documented inline."""

    def __init__(
        self,
        bot_token: str = "loopback-bot-token",
        application_id: int | None = None,
        bot_user_id: int | None = None,
        *,
        bot_name: str = "Loopback Bot",
        heartbeat_interval: int = 41250,
        recommended_shards: int = 1,
        interaction_deadline: float = 3.0,
        interaction_token_lifetime: float = 15 * 60.0,
        privileged_intents: int = Intents.PRIVILEGED,
        gateway_compression: bool = True,
        max_guilds_per_shard: int = 2500,
    ) -> None:
        self._ids = SnowflakeGenerator()
        self.bot_token = bot_token
        self.application_id = application_id or self._ids.next()
        self.bot_user_id = bot_user_id or self._ids.next()
        #: Gateway knobs.
        self.heartbeat_interval = heartbeat_interval
        self.recommended_shards = recommended_shards
        self.gateway_compression = gateway_compression
        self.max_guilds_per_shard = max_guilds_per_shard
        #: The privileged intents enabled "in the developer portal"; IDENTIFY asking for others → close 4014.
        self.privileged_intents = privileged_intents
        #: Interaction timing rules (seconds).
        self.interaction_deadline = interaction_deadline
        self.interaction_token_lifetime = interaction_token_lifetime
        #: Seconds added before answering every REST request (see also :meth:`set_latency`).
        self.latency = 0.0
        self.session_start_total = 1000
        self.session_start_remaining = 1000

        # world
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.commands: dict[int | None, list[JSON]] = {}  # None → global commands
        self.interactions: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}
        self._dm_by_user: dict[int, int] = {}
        self.app_owner_id = self._ids.next()
        self.users[self.bot_user_id] = User(self.bot_user_id, bot_name, bot=True)
        self.users[self.app_owner_id] = User(self.app_owner_id, "app-owner")
        self.verify_key = secrets.token_hex(32)

        # recording
        self.requests: list[RecordedRequest] = []
        self.gateway_frames: list[GatewayFrame] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []  # every websocket ever accepted (``.closed``, ``.query``)
        self.callbacks: list[CallbackRecord] = []

        self._failures: list[_Failure] = []
        self._latencies: list[tuple[str | None, re.Pattern[str], float]] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self._tail: asyncio.Future[None] | None = None
        self._routes: list[_Route] = []
        self._register_routes()
        self._runner: web.AppRunner | None = None
        self.port = 0
        #: Ids of the default world (see :meth:`populate_default_world`); 0 until it is built.
        self.guild_id = 0
        self.channel_id = 0
        self.alice_id = 0

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._rest_handler)
        app.router.add_get("/", self._gateway_handler)
        app.router.add_get("/resume", self._gateway_handler)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._tail is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._tail), 2)
        for conn in self.connections:
            if not conn.closed:
                await conn.close(1001, "server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume"

    def __repr__(self) -> str:
        return f"<LoopbackDiscord port={self.port} guilds={len(self.guilds)} sessions={len(self.sessions)}>"

    # ----------------------------------------------------------------------------------------- world model
    def new_id(self) -> int:
        """A fresh, realistic (timestamp-based) snowflake."""
        return self._ids.next()

    def make_guild_id(self, shard_id: int, shard_count: int) -> int:
        """A fresh guild id that lands on ``shard_id`` of ``shard_count``."""
        return self._ids.for_shard(shard_id, shard_count)

    def populate_default_world(self) -> None:
        """Guild "Test Guild" (bot member with :attr:`Permissions.BOT_DEFAULT`), text channel "music", human
        member "alice"; their ids go to :attr:`guild_id`, :attr:`channel_id`, :attr:`alice_id`."""
        guild = self.add_guild("Test Guild")
        self.guild_id = guild.id
        self.channel_id = self.add_text_channel(guild.id, "music")
        self.alice_id = self.add_user("alice")
        self.add_member(guild.id, self.alice_id)

    def add_user(self, name: str, bot: bool = False, dms_open: bool = True, *, locale: str = "en-US") -> int:
        user = User(self._ids.next(), name, bot=bot, dms_open=dms_open, locale=locale)
        self.users[user.id] = user
        return user.id

    def add_guild(
        self,
        name: str,
        guild_id: int | None = None,
        *,
        owner_id: int | None = None,
        with_bot: bool = True,
        bot_permissions: int = Permissions.BOT_DEFAULT,
        everyone_permissions: int = Permissions.EVERYONE_DEFAULT,
        locale: str = "en-US",
    ) -> Guild:
        """A guild with an @everyone role, an owner (all permissions) and, by default, the bot as member.

        Effective permissions of a member = @everyone | the member's roles (no channel overwrites); the owner
        and ADMINISTRATOR have all. If gateway sessions are connected, the bot's shard gets a GUILD_CREATE.
        """
        gid = guild_id or self._ids.next()
        if gid in self.guilds:
            raise ValueError(f"guild {gid} exists")
        if owner_id is None:
            owner_id = self.add_user(f"{name} owner")
        guild = Guild(gid, name, owner_id, everyone_permissions, preferred_locale=locale)
        guild.roles[gid] = Role(gid, "@everyone", everyone_permissions, position=0)
        self.guilds[gid] = guild
        guild.members[owner_id] = Member(owner_id, [], dt.datetime.now(dt.UTC))
        if with_bot:
            self._add_bot_to_guild(guild, bot_permissions)
            self._later(self._announce_guild, guild)
        return guild

    def _add_bot_to_guild(self, guild: Guild, permissions: int) -> None:
        role = Role(self._ids.next(), self.users[self.bot_user_id].username, permissions, 1, managed=True)
        role.bot_id = self.bot_user_id
        guild.roles[role.id] = role
        guild.bot_role_id = role.id
        guild.bot_joined_at = dt.datetime.now(dt.UTC)
        guild.members[self.bot_user_id] = Member(self.bot_user_id, [role.id], guild.bot_joined_at)

    def add_text_channel(self, guild_id: int, name: str) -> int:
        guild = self._guild(guild_id)
        channel = Channel(self._ids.next(), 0, guild_id=guild_id, name=name, position=len(guild.channel_ids))
        self.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        if self._bot_in(guild):
            self._later(
                self._dispatch_guild_event,
                guild_id,
                "CHANNEL_CREATE",
                Intents.GUILDS,
                lambda _s: self._channel_payload(channel),
            )
        return channel.id

    def add_member(self, guild_id: int, user_id: int, permissions: int = Permissions.MEMBER_DEFAULT) -> None:
        """Adds the user to the guild with a personal role carrying ``permissions`` (0 → no extra role)."""
        guild = self._guild(guild_id)
        user = self._user(user_id)
        roles: list[int] = []
        if permissions:
            role = Role(self._ids.next(), f"{user.username} role", permissions, position=1)
            guild.roles[role.id] = role
            roles.append(role.id)
        guild.members[user_id] = Member(user_id, roles, dt.datetime.now(dt.UTC))
        if self._bot_in(guild):
            self._later(
                self._dispatch_guild_event,
                guild_id,
                "GUILD_MEMBER_ADD",
                Intents.GUILD_MEMBERS,
                lambda _s: {**self._member_payload(guild, user_id), "guild_id": str(guild_id)},
            )

    def set_member_permissions(self, guild_id: int, user_id: int, permissions: int) -> None:
        guild = self._guild(guild_id)
        member = self._member(guild, user_id)
        own = [rid for rid in member.role_ids if not guild.roles[rid].managed]
        if own:
            guild.roles[own[0]].permissions = permissions
            self._later(self._announce_role, guild, guild.roles[own[0]])
        else:
            self.add_member(guild_id, user_id, permissions)

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        """Sets the bot's managed role permissions (dispatches GUILD_ROLE_UPDATE to connected sessions)."""
        guild = self._guild(guild_id)
        if guild.bot_role_id is None:
            raise ValueError("the bot is not in this guild")
        role = guild.roles[guild.bot_role_id]
        role.permissions = permissions
        self._later(self._announce_role, guild, role)

    def add_emoji(self, guild_id: int, name: str, animated: bool = False) -> int:
        emoji = Emoji(self._ids.next(), name, animated)
        self._guild(guild_id).emojis[emoji.id] = emoji
        return emoji.id

    def dm_channel(self, user_id: int) -> int:
        """The DM channel between the bot and ``user_id`` (made on first use, as POST /users/@me/channels)."""
        self._user(user_id)
        channel_id = self._dm_by_user.get(user_id)
        if channel_id is None:
            channel = Channel(self._ids.next(), 1, recipient_ids=[user_id])
            self.channels[channel.id] = channel
            self._dm_by_user[user_id] = channel.id
            channel_id = channel.id
        return channel_id

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self._guild(guild_id)
        if user_id == guild.owner_id:
            return Permissions.ALL
        member = self._member(guild, user_id)
        perms = guild.roles[guild.id].permissions
        for role_id in member.role_ids:
            perms |= guild.roles[role_id].permissions
        return Permissions.ALL if perms & Permissions.ADMINISTRATOR else perms

    def bot_permissions(self, channel_id: int) -> int:
        channel = self.channels[channel_id]
        if channel.guild_id is None:
            return Permissions.DM
        return self.member_permissions(channel.guild_id, self.bot_user_id)

    def channel_messages(self, channel_id: int, *, include_deleted: bool = False) -> list[Message]:
        """Messages of a channel, oldest first (ephemeral interaction messages included)."""
        messages = (self.messages[mid] for mid in self.channels[channel_id].message_ids)
        return [m for m in messages if include_deleted or not m.deleted]

    def message_payload(self, message_id: int) -> JSON:
        """The REST representation of a stored message."""
        return self._message_payload(self.messages[message_id])

    def _guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise ValueError(f"unknown guild {guild_id}") from None

    def _user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}") from None

    def _member(self, guild: Guild, user_id: int) -> Member:
        try:
            return guild.members[user_id]
        except KeyError:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}") from None

    def _bot_in(self, guild: Guild) -> bool:
        return self.bot_user_id in guild.members

    # --------------------------------------------------------------------------------------------- payloads
    def _member_payload(self, guild: Guild, user_id: int, *, with_user: bool = True, permissions: bool = False) -> JSON:
        member = guild.members[user_id]
        data: JSON = {
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.role_ids],
            "joined_at": iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            data["user"] = self.users[user_id].to_dict()
        if permissions:
            data["permissions"] = str(self.member_permissions(guild.id, user_id))
        return data

    def _channel_payload(self, channel: Channel) -> JSON:
        if channel.type == 1:
            return {
                "id": str(channel.id),
                "type": 1,
                "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
                "recipients": [self.users[u].to_dict() for u in channel.recipient_ids],
                "flags": 0,
            }
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def _guild_payload(self, guild: Guild) -> JSON:
        system_channel = guild.channel_ids[0] if guild.channel_ids else None
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.to_dict() for role in guild.roles.values()],
            "emojis": [emoji.to_dict() for emoji in guild.emojis.values()],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(system_channel) if system_channel else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "public_updates_channel_id": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "incidents_data": None,
        }

    def _guild_create_payload(self, guild: Guild, session: GatewaySession) -> JSON:
        large_threshold = int(session.identify.get("large_threshold") or 50)
        large = len(guild.members) > large_threshold
        if session.intents & Intents.GUILD_MEMBERS and not large:
            member_ids = list(guild.members)
        else:
            member_ids = [self.bot_user_id]
        data = self._guild_payload(guild)
        data.update(
            {
                "joined_at": iso(guild.bot_joined_at),
                "large": large,
                "unavailable": False,
                "member_count": len(guild.members),
                "voice_states": [],
                "members": [self._member_payload(guild, uid) for uid in member_ids],
                "channels": [self._channel_payload(self.channels[c]) for c in guild.channel_ids],
                "threads": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "lazy": True,
                "application_command_counts": {},
            }
        )
        return data

    def _message_payload(self, msg: Message, *, strip_content: bool = False, gateway: bool = False) -> JSON:
        author = self.users[msg.author_id]
        data: JSON = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "type": msg.type,
            "content": msg.content,
            "author": author.to_dict(),
            "attachments": list(msg.attachments),
            "embeds": list(msg.embeds),
            "mentions": [self.users[u].to_dict() for u in msg.mention_ids if u in self.users],
            "mention_roles": [],
            "mention_everyone": msg.mention_everyone,
            "pinned": False,
            "tts": msg.tts,
            "timestamp": iso(msg.created_at),
            "edited_timestamp": iso(msg.edited_at) if msg.edited_at else None,
            "flags": msg.flags,
            "components": list(msg.components),
        }
        if msg.reactions:
            data["reactions"] = [
                {
                    "count": len(r.user_ids),
                    "count_details": {"burst": 0, "normal": len(r.user_ids)},
                    "me": self.bot_user_id in r.user_ids,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": dict(r.emoji),
                }
                for r in msg.reactions.values()
                if r.user_ids
            ]
        if msg.webhook_id is not None:
            data["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            data["application_id"] = str(msg.application_id)
        if msg.interaction_id is not None and msg.interaction_id in self.interactions:
            rec = self.interactions[msg.interaction_id]
            user = self.users[rec.user_id].to_dict()
            owners = rec.payload.get("authorizing_integration_owners", {})
            data["interaction_metadata"] = {
                "id": str(rec.id),
                "type": rec.type,
                "user": user,
                "authorizing_integration_owners": owners,
            }
            if rec.type == InteractionType.APPLICATION_COMMAND:
                data["interaction_metadata"]["name"] = rec.data.get("name")
                data["interaction"] = {
                    "id": str(rec.id),
                    "type": rec.type,
                    "name": rec.data.get("name"),
                    "user": user,
                }
        if msg.message_reference is not None:
            data["message_reference"] = msg.message_reference
            ref_id = int(msg.message_reference.get("message_id") or 0)
            ref = self.messages.get(ref_id)
            data["referenced_message"] = (
                self._message_payload(ref, strip_content=strip_content) if ref and not ref.deleted else None
            )
        if msg.poll is not None:
            data["poll"] = msg.poll
        if msg.nonce is not None:
            data["nonce"] = msg.nonce
        if gateway and msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            guild = self.guilds[msg.guild_id]
            if msg.author_id in guild.members and msg.webhook_id is None:
                data["member"] = self._member_payload(guild, msg.author_id, with_user=False)
        if strip_content:
            data.update({"content": "", "embeds": [], "attachments": [], "components": []})
            data.pop("poll", None)
        return data

    def _application_payload(self) -> JSON:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & Intents.GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & Intents.GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & Intents.MESSAGE_CONTENT:
            flags |= 1 << 19
        bot = self.users[self.bot_user_id]
        return {
            "id": str(self.application_id),
            "name": bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": self.verify_key,
            "owner": self.users[self.app_owner_id].to_dict(),
            "flags": flags,
            "team": None,
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "integration_types_config": {"0": {}, "1": {}},
            "approximate_guild_count": sum(1 for g in self.guilds.values() if self._bot_in(g)),
            "approximate_user_install_count": 0,
            "bot": bot.to_dict(),
        }

    # ------------------------------------------------------------------------------------------- recording
    def requests_to(self, method: str | None, path_regex: str) -> list[RecordedRequest]:
        """Recorded REST requests whose method matches (None = any) and path (no /api/v10) re.search-es."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if (method is None or r.method == method.upper()) and pattern.search(r.path)]

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes this server does not implement (answered 404 / code 0)."""
        return [r for r in self.requests if r.route is None and r.status in (404, 405)]

    @property
    def identify_payloads(self) -> list[JSON]:
        """Every IDENTIFY ``d`` clients sent (token redacted)."""
        return [f.d for f in self.gateway_frames if f.op == Op.IDENTIFY]

    def sessions_for_shard(self, shard_id: int) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.shard_id == shard_id and not s.invalidated]

    # ------------------------------------------------------------------------------------------- knobs
    def fail_next(
        self,
        method: str | None,
        path_regex: str,
        status: int = 429,
        *,
        count: int = 1,
        retry_after: float = 0.2,
        global_: bool = False,
        body: Any = None,
    ) -> None:
        """The next ``count`` requests matching (method None = any; re.search on the path) get ``status``.

        429 answers as Discord does: ``Via: 1.1 google``, ``Retry-After``, ``X-RateLimit-*`` headers (scope,
        global) and ``{"message": "You are being rate limited.", "retry_after": x, "global": bool}``. Other
        statuses answer ``{"message": "<status>: <reason>", "code": 0}`` unless ``body`` is given.
        """
        self._failures.append(
            _Failure(
                method.upper() if method else None,
                re.compile(path_regex),
                status,
                count,
                retry_after,
                global_,
                body,
            )
        )

    def set_latency(self, method: str | None, path_regex: str, seconds: float) -> None:
        """Delay answers to matching REST requests (added to :attr:`latency`)."""
        self._latencies.append((method.upper() if method else None, re.compile(path_regex), seconds))

    def age_interaction(self, interaction: InteractionRecord | int, seconds: float) -> None:
        """Pretend the interaction was dispatched ``seconds`` earlier (tests the 3 s / 15 min rules fast)."""
        rec = self._interaction(interaction)
        rec.dispatched_at -= seconds

    # --------------------------------------------------------------------------------------------- waiting
    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _wait_until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None and result is not False:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"loopback Discord: timed out after {timeout}s waiting for {what}")
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.add(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, remaining)

    def _interaction(self, interaction: InteractionRecord | int) -> InteractionRecord:
        iid = interaction.id if isinstance(interaction, InteractionRecord) else interaction
        return self.interactions[iid]

    async def wait_for_callback(self, interaction: InteractionRecord | int, timeout: float = 5.0) -> CallbackRecord:
        """The first callback POST for the interaction, accepted or refused (``.status``, ``.error_code``)."""
        rec = self._interaction(interaction)
        result: CallbackRecord = await self._wait_until(lambda: rec.callback, timeout, f"callback of {rec.id}")
        return result

    async def wait_for_followup(
        self, interaction: InteractionRecord | int, index: int = 0, timeout: float = 5.0
    ) -> Message:
        """The ``index``-th follow-up message (one that replaced a deferred 'thinking' message counts)."""
        rec = self._interaction(interaction)
        mid: int = await self._wait_until(
            lambda: rec.followup_ids[index] if len(rec.followup_ids) > index else None,
            timeout,
            f"follow-up #{index} of {rec.id}",
        )
        return self.messages[mid]

    async def wait_for_original_edit(
        self, interaction: InteractionRecord | int, index: int = 0, timeout: float = 5.0
    ) -> JSON:
        """The body of the ``index``-th accepted PATCH of ``@original`` (the stored message is up to date)."""
        rec = self._interaction(interaction)
        body: JSON = await self._wait_until(
            lambda: rec.original_edits[index] if len(rec.original_edits) > index else None,
            timeout,
            f"edit #{index} of @original of {rec.id}",
        )
        return body

    async def wait_for_original(self, interaction: InteractionRecord | int, timeout: float = 5.0) -> Message:
        """The original response message (once a type 4/5/7 callback created or chose it)."""
        rec = self._interaction(interaction)
        mid: int = await self._wait_until(lambda: rec.original_message_id, timeout, f"@original of {rec.id}")
        return self.messages[mid]

    async def wait_for_message(
        self,
        channel_id: int | None = None,
        *,
        author_id: int | None = None,
        predicate: Callable[[Message], bool] | None = None,
        after: int | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """The first stored message (oldest first, ids > ``after``) matching channel/author/predicate."""

        def check() -> Message | None:
            for msg in self.messages.values():
                if msg.deleted or (after is not None and msg.id <= after):
                    continue
                if channel_id is not None and msg.channel_id != channel_id:
                    continue
                if author_id is not None and msg.author_id != author_id:
                    continue
                if predicate is not None and not predicate(msg):
                    continue
                return msg
            return None

        result: Message = await self._wait_until(check, timeout, "a message")
        return result

    async def wait_for_request(
        self, method: str | None, path_regex: str, *, count: int = 1, timeout: float = 5.0
    ) -> RecordedRequest:
        """Waits until ``count`` matching requests were answered; returns the ``count``-th."""

        def check() -> RecordedRequest | None:
            done = [r for r in self.requests_to(method, path_regex) if r.status]
            return done[count - 1] if len(done) >= count else None

        result: RecordedRequest = await self._wait_until(check, timeout, f"{method} {path_regex} x{count}")
        return result

    async def wait_for_session(self, shard_id: int = 0, *, count: int = 1, timeout: float = 5.0) -> GatewaySession:
        """Waits until ``count`` sessions identified on ``shard_id`` (READY sent); returns the latest."""

        def check() -> GatewaySession | None:
            sessions = [s for s in self.sessions.values() if s.shard_id == shard_id]
            return sessions[-1] if len(sessions) >= count else None

        result: GatewaySession = await self._wait_until(check, timeout, f"session on shard {shard_id}")
        return result

    async def wait_for_dispatch(
        self,
        event: str,
        *,
        shard_id: int | None = None,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 5.0,
    ) -> JSON:
        """Waits until a dispatch ``event`` was sent to some session; returns its ``d``."""

        def check() -> JSON | None:
            for session in self.sessions.values():
                if shard_id is not None and session.shard_id != shard_id:
                    continue
                for name, data in session.events:
                    if name == event and (predicate is None or predicate(data)):
                        return data
            return None

        result: JSON = await self._wait_until(check, timeout, f"dispatch {event}")
        return result

    # ------------------------------------------------------------------------------------- ordered dispatch
    def _later(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run an async dispatch after all earlier ones (world mutations are sync, sessions may be live)."""
        if not self.sessions:
            return
        previous = self._tail

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            await fn(*args)

        self._tail = asyncio.ensure_future(run())

    async def _drain(self) -> None:
        if self._tail is not None:
            with contextlib.suppress(Exception):
                await self._tail

    def _sessions_for(self, guild_id: int | None, intent: int | None) -> list[GatewaySession]:
        out: list[GatewaySession] = []
        for session in self.sessions.values():
            if session.invalidated:
                continue
            if guild_id is None:
                if session.shard_id != 0:
                    continue
            elif session.shard_id != shard_for_guild(guild_id, session.shard_count):
                continue
            if intent is not None and not session.intents & intent:
                continue
            out.append(session)
        return out

    async def _dispatch(self, session: GatewaySession, event: str, data: JSON) -> None:
        session.seq += 1
        text = json.dumps({"op": Op.DISPATCH, "t": event, "s": session.seq, "d": data})
        session.events.append((event, data))
        session.buffer.append((session.seq, text))
        del session.buffer[:-2000]
        if session.conn is not None:
            await session.conn.send(text)
        self._notify()

    async def _dispatch_guild_event(
        self, guild_id: int | None, event: str, intent: int | None, build: Callable[[GatewaySession], JSON]
    ) -> None:
        for session in self._sessions_for(guild_id, intent):
            await self._dispatch(session, event, build(session))

    async def _announce_guild(self, guild: Guild) -> None:
        for session in self._sessions_for(guild.id, Intents.GUILDS):
            await self._dispatch(session, "GUILD_CREATE", self._guild_create_payload(guild, session))

    async def _announce_role(self, guild: Guild, role: Role) -> None:
        await self._dispatch_guild_event(
            guild.id,
            "GUILD_ROLE_UPDATE",
            Intents.GUILDS,
            lambda _s: {"guild_id": str(guild.id), "role": role.to_dict()},
        )

    def _strip_for(self, msg: Message, intents: int) -> bool:
        """Discord's MESSAGE_CONTENT rule: guild messages lose content unless own, mentioning the bot."""
        if intents & Intents.MESSAGE_CONTENT or msg.guild_id is None:
            return False
        return msg.author_id != self.bot_user_id and self.bot_user_id not in msg.mention_ids

    async def _dispatch_message(self, event: str, msg: Message) -> None:
        if msg.ephemeral:
            return  # ephemeral messages are never dispatched
        await self._drain()
        intent = Intents.GUILD_MESSAGES if msg.guild_id is not None else Intents.DIRECT_MESSAGES
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            await self._dispatch_guild_event(msg.guild_id, event, intent, lambda _s: data)
            return
        await self._dispatch_guild_event(
            msg.guild_id,
            event,
            intent,
            lambda s: self._message_payload(msg, strip_content=self._strip_for(msg, s.intents), gateway=True),
        )

    async def _dispatch_reaction(self, msg: Message, user_id: int, emoji: JSON, *, add: bool) -> None:
        await self._drain()
        intent = Intents.GUILD_MESSAGE_REACTIONS if msg.guild_id is not None else Intents.DIRECT_MESSAGE_REACTIONS
        data: JSON = {
            "user_id": str(user_id),
            "channel_id": str(msg.channel_id),
            "message_id": str(msg.id),
            "emoji": dict(emoji),
            "burst": False,
            "type": 0,
        }
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
        if add:
            data["message_author_id"] = str(msg.author_id)
            data["burst_colors"] = []
            if msg.guild_id is not None:
                guild = self.guilds[msg.guild_id]
                if user_id in guild.members:
                    data["member"] = self._member_payload(guild, user_id)
        event = "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE"
        await self._dispatch_guild_event(msg.guild_id, event, intent, lambda _s: data)

    # ---------------------------------------------------------------------------------------- gateway ops
    async def disconnect(self, shard_id: int = 0, *, code: int = 4000, resumable: bool = True) -> None:
        """Close the websocket(s) of the sessions on ``shard_id`` (4000 = unknown error: clients RESUME)."""
        for session in self.sessions_for_shard(shard_id):
            if not resumable:
                session.invalidated = True
            if session.conn is not None:
                conn, session.conn = session.conn, None
                await conn.close(code, "loopback disconnect")

    async def request_reconnect(self, shard_id: int = 0) -> None:
        """Send op 7 RECONNECT to the sessions on ``shard_id``."""
        for session in self.sessions_for_shard(shard_id):
            if session.conn is not None:
                await session.conn.send(json.dumps({"op": Op.RECONNECT, "d": None, "s": None, "t": None}))

    async def invalidate_session(self, shard_id: int = 0, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (``d`` = resumable) to the sessions on ``shard_id``."""
        for session in self.sessions_for_shard(shard_id):
            if not resumable:
                session.invalidated = True
            if session.conn is not None:
                await session.conn.send(json.dumps({"op": Op.INVALID_SESSION, "d": resumable, "s": None, "t": None}))

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        if not ws.can_prepare(request).ok:
            return self._json(404, {"message": "404: Not Found", "code": 0})
        await ws.prepare(request)
        query = dict(request.query)
        compress = self.gateway_compression and query.get("compress") == "zlib-stream"
        conn = GatewayConnection(ws, compress=compress, path=request.path, query=query)
        self.connections.append(conn)
        try:
            if query.get("v", "10") not in ("9", "10"):
                await conn.close(4012, "Invalid API version.")
                return ws
            if query.get("encoding", "json") != "json":
                await conn.close(4002, "Error while decoding payload.")
                return ws
            hello = {"heartbeat_interval": self.heartbeat_interval, "_trace": ['["loopback-gateway",{}]']}
            await conn.send(json.dumps({"op": Op.HELLO, "d": hello, "s": None, "t": None}))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_frame(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await conn.close(4002, "Error while decoding payload.")
                if conn.closed:
                    break
        finally:
            conn.closed = True
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001):
                    session.invalidated = True  # a client's clean close ends the session
            self._notify()
        return ws

    def _token_ok(self, token: Any) -> bool:
        if not isinstance(token, str):
            return False
        token = token.removeprefix("Bot ")
        return hmac.compare_digest(token.encode(), self.bot_token.encode())

    async def _on_frame(self, conn: GatewayConnection, text: str) -> None:
        try:
            payload = json.loads(text)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            await conn.close(4002, "Error while decoding payload.")
            return
        op = payload.get("op")
        data = payload.get("d")
        recorded = data
        if isinstance(data, dict) and "token" in data:
            recorded = {**data, "token": REDACTED}
        session = conn.session
        self.gateway_frames.append(
            GatewayFrame(
                session.session_id if session else None,
                (session.shard_id, session.shard_count) if session else None,
                op,
                recorded,
                time.monotonic(),
            )
        )
        if op == Op.HEARTBEAT:
            await conn.send(json.dumps({"op": Op.HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
        elif op == Op.IDENTIFY:
            await self._identify(
                conn, data if isinstance(data, dict) else {}, recorded if isinstance(recorded, dict) else {}
            )
        elif op == Op.RESUME:
            await self._resume(conn, data if isinstance(data, dict) else {})
        elif session is None:
            await conn.close(4003, "Not authenticated.")
        elif op == Op.PRESENCE_UPDATE:
            if isinstance(data, dict):
                session.presence_updates.append(data)
        elif op == Op.REQUEST_GUILD_MEMBERS:
            await self._request_members(session, data if isinstance(data, dict) else {})
        elif op == Op.VOICE_STATE_UPDATE:
            pass
        else:
            await conn.close(4001, "Unknown opcode.")
        self._notify()

    async def _identify(self, conn: GatewayConnection, data: JSON, recorded: JSON) -> None:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        if not self._token_ok(data.get("token")):
            await conn.close(4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents & ~Intents.ALL:
            await conn.close(4013, "Invalid intent(s).")
            return
        if intents & Intents.PRIVILEGED & ~self.privileged_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        if (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(isinstance(x, int) for x in shard)
            or shard[1] < 1
            or not 0 <= shard[0] < shard[1]
        ):
            await conn.close(4010, "Invalid shard.")
            return
        shard_id, shard_count = shard
        guilds = [g for g in self.guilds.values() if self._bot_in(g) and shard_for_guild(g.id, shard_count) == shard_id]
        if len(guilds) > self.max_guilds_per_shard:
            await conn.close(4011, "Sharding required.")
            return
        self.session_start_remaining = max(0, self.session_start_remaining - 1)
        session = GatewaySession(secrets.token_hex(16), shard_id, shard_count, intents, recorded)
        session.conn = conn
        conn.session = session
        self.sessions[session.session_id] = session
        ready: JSON = {
            "v": 10,
            "user": {
                **self.users[self.bot_user_id].to_dict(),
                "verified": True,
                "mfa_enabled": False,
                "email": None,
            },
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_payload()["flags"]},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["loopback"],
            "user_settings": {},
            "_trace": ['["loopback-gateway",{}]'],
        }
        if data.get("shard") is not None:
            ready["shard"] = [shard_id, shard_count]
        await self._dispatch(session, "READY", ready)
        if intents & Intents.GUILDS:
            for guild in guilds:
                await self._dispatch(session, "GUILD_CREATE", self._guild_create_payload(guild, session))

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        if not self._token_ok(data.get("token")):
            await conn.close(4004, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if session is None or session.invalidated or not isinstance(seq, int) or seq > session.seq:
            await conn.send(json.dumps({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None}))
            return
        old = session.conn
        session.conn = conn
        conn.session = session
        session.resumes += 1
        if old is not None and old is not conn:
            await old.close(4000, "session resumed elsewhere")
        for number, text in list(session.buffer):
            if number > seq:
                await conn.send(text)
        await self._dispatch(session, "RESUMED", {"_trace": ['["loopback-gateway",{}]']})

    async def _request_members(self, session: GatewaySession, data: JSON) -> None:
        try:
            guild = self.guilds[int(data.get("guild_id") or 0)]
        except (KeyError, ValueError):
            return
        user_ids = [int(u) for u in data.get("user_ids") or []]
        query = data.get("query")
        if user_ids:
            found = [u for u in user_ids if u in guild.members]
        elif session.intents & Intents.GUILD_MEMBERS:
            prefix = str(query or "").lower()
            found = [u for u in guild.members if self.users[u].username.lower().startswith(prefix)]
        else:
            found = []
        limit = int(data.get("limit") or 0)
        if limit:
            found = found[:limit]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [self._member_payload(guild, u) for u in found],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in user_ids if u not in guild.members],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------------------------ event injection
    def _new_message(
        self, channel: Channel, author_id: int, body: JSON, *, type_: int = 0, files: list[JSON] | None = None
    ) -> Message:
        msg = Message(self._ids.next(), channel.id, channel.guild_id, author_id)
        self._apply_body(msg, body, files or [], creating=True)
        msg.type = type_
        msg.tts = bool(body.get("tts"))
        nonce = body.get("nonce")
        if isinstance(nonce, str | int):
            msg.nonce = nonce
        if body.get("poll"):
            msg.poll = body["poll"]
        self.messages[msg.id] = msg
        channel.message_ids.append(msg.id)
        channel.last_message_id = msg.id
        return msg

    def _apply_body(self, msg: Message, body: JSON, files: list[JSON], *, creating: bool) -> None:
        if "content" in body:
            msg.content = body["content"] or ""
        if "embeds" in body:
            msg.embeds = [{"type": "rich", **e} for e in (body["embeds"] or [])]
        if "components" in body:
            msg.components = list(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            allowed = _SENDABLE_FLAGS if creating else _EDITABLE_FLAGS
            msg.flags = (msg.flags & ~allowed) | (int(body["flags"]) & allowed)
        if "attachments" in body or files:
            by_index = {str(f["field"]).removeprefix("files[").rstrip("]"): f for f in files}
            attachments: list[JSON] = []
            for att in body.get("attachments") or []:
                if not isinstance(att, dict):
                    continue
                existing = [a for a in msg.attachments if a["id"] == str(att.get("id"))]
                if existing:
                    attachments.append(existing[0])
                    continue
                upload = by_index.get(str(att.get("id")))
                if upload is not None:
                    attachments.append(self._attachment(msg, upload, att))
            if not body.get("attachments"):
                attachments = [self._attachment(msg, f, {}) for f in files]
            msg.attachments = attachments
        self._set_mentions(msg, body)

    def _attachment(self, msg: Message, upload: JSON, meta: JSON) -> JSON:
        aid = self._ids.next()
        filename = str(meta.get("filename") or upload.get("filename") or "file")
        url = f"{self.base_url}/attachments/{msg.channel_id}/{aid}/{filename}"
        return {
            "id": str(aid),
            "filename": filename,
            "size": int(upload.get("size") or 0),
            "url": url,
            "proxy_url": url,
            "content_type": upload.get("content_type"),
            "description": meta.get("description"),
        }

    def _set_mentions(self, msg: Message, body: JSON) -> None:
        allowed = body.get("allowed_mentions")
        ids = [int(m) for m in _MENTION.findall(msg.content) if int(m) in self.users]
        if isinstance(allowed, dict):
            parse = allowed.get("parse") or []
            explicit = {int(u) for u in allowed.get("users") or []}
            ids = [u for u in ids if "users" in parse or u in explicit]
        if msg.message_reference and (not isinstance(allowed, dict) or allowed.get("replied_user", True)):
            ref = self.messages.get(int(msg.message_reference.get("message_id") or 0))
            if ref is not None and ref.author_id not in ids:
                ids.append(ref.author_id)
        msg.mention_ids = list(dict.fromkeys(ids))
        everyone = "@everyone" in msg.content or "@here" in msg.content
        if isinstance(allowed, dict):
            everyone = everyone and "everyone" in (allowed.get("parse") or [])
        if everyone and msg.guild_id is not None:
            everyone = (
                bool(self.member_permissions(msg.guild_id, msg.author_id) & Permissions.MENTION_EVERYONE)
                if msg.author_id in self.guilds[msg.guild_id].members
                else False
            )
        msg.mention_everyone = everyone

    async def send_message(
        self,
        channel_id: int,
        author_id: int,
        content: str = "",
        embeds: list[JSON] | None = None,
        *,
        components: list[JSON] | None = None,
        reply_to: int | None = None,
    ) -> Message:
        """A user posts a message: stored, then MESSAGE_CREATE to the right shard (content rules applied)."""
        channel = self.channels[channel_id]
        self._user(author_id)
        if channel.guild_id is not None:
            self._member(self.guilds[channel.guild_id], author_id)
        elif author_id not in channel.recipient_ids and author_id != self.bot_user_id:
            raise ValueError(f"user {author_id} is not in DM channel {channel_id}")
        body: JSON = {"content": content}
        if embeds:
            body["embeds"] = embeds
        if components:
            body["components"] = components
        msg = self._new_message(channel, author_id, {}, type_=0)
        if reply_to is not None:
            msg.message_reference = {"type": 0, "message_id": str(reply_to), "channel_id": str(channel_id)}
            if channel.guild_id is not None:
                msg.message_reference["guild_id"] = str(channel.guild_id)
            msg.type = 19
        self._apply_body(msg, body, [], creating=True)
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return msg

    async def edit_message(self, message_id: int, content: str) -> Message:
        """A user edits their message: MESSAGE_UPDATE."""
        msg = self.messages[message_id]
        msg.content = content
        msg.edited_at = dt.datetime.now(dt.UTC)
        self._set_mentions(msg, {})
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        return msg

    async def delete_message(self, message_id: int) -> None:
        """A message is deleted (by its author or a moderator): MESSAGE_DELETE."""
        msg = self.messages[message_id]
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)

    def _message_in(self, channel_id: int, message_id: int) -> Message:
        msg = self.messages.get(message_id)
        if msg is None or msg.channel_id != channel_id or msg.deleted:
            raise ValueError(f"unknown message {message_id} in channel {channel_id}")
        return msg

    async def add_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> bool:
        """A user reacts: stored and MESSAGE_REACTION_ADD dispatched. False if they had already reacted."""
        msg = self._message_in(channel_id, message_id)
        self._user(user_id)
        parsed = parse_emoji(emoji) if isinstance(emoji, str) else dict(emoji)
        if not self._store_reaction(msg, user_id, parsed):
            return False
        await self._dispatch_reaction(msg, user_id, parsed, add=True)
        return True

    async def remove_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> bool:
        """A user removes a reaction: MESSAGE_REACTION_REMOVE (no ``member``). False if there was none."""
        msg = self._message_in(channel_id, message_id)
        parsed = parse_emoji(emoji) if isinstance(emoji, str) else dict(emoji)
        if not self._drop_reaction(msg, user_id, parsed):
            return False
        await self._dispatch_reaction(msg, user_id, parsed, add=False)
        return True

    def _store_reaction(self, msg: Message, user_id: int, emoji: JSON) -> bool:
        reaction = msg.reactions.setdefault(emoji_key(emoji), Reaction(emoji))
        if user_id in reaction.user_ids:
            return False
        reaction.user_ids.append(user_id)
        return True

    def _drop_reaction(self, msg: Message, user_id: int, emoji: JSON) -> bool:
        key = emoji_key(emoji)
        reaction = msg.reactions.get(key)
        if reaction is None or user_id not in reaction.user_ids:
            return False
        reaction.user_ids.remove(user_id)
        if not reaction.user_ids:
            del msg.reactions[key]
        return True

    # -------------------------------------------------------------------------------------- interactions
    def find_command(self, name: str, *, guild_id: int | None = None, type_: int = 1) -> JSON | None:
        """A synced command by name/type: the guild's first, then the global ones."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and int(command.get("type", 1)) == type_:
                    return command
        return None

    def register_commands(self, commands: list[JSON], guild_id: int | None = None) -> list[JSON]:
        """As if a previous run had bulk-overwritten these commands (no HTTP)."""
        errors = validate_commands(commands)
        if errors:
            raise ValueError(f"invalid commands: {errors.tree}")
        return self._overwrite_commands(commands, guild_id)

    def _command_or_raise(self, name: str, guild_id: int | None, type_: int) -> JSON:
        command = self.find_command(name, guild_id=guild_id, type_=type_)
        if command is None:
            raise LookupError(
                f"command {name!r} (type {type_}) is not registered: Discord only sends interactions for "
                "synced commands (sync the tree or call register_commands first)"
            )
        return command

    def _build_options(
        self, definitions: list[JSON], values: dict[str, Any], focused: str | None, resolved: JSON
    ) -> list[JSON]:
        by_name = {d["name"]: d for d in definitions}
        out: list[JSON] = []
        for name, value in values.items():
            definition = by_name.get(name)
            if definition is None:
                raise ValueError(f"unknown option {name!r}; known: {sorted(by_name)}")
            otype = int(definition["type"])
            choices = definition.get("choices")
            if choices and name != focused and value not in [c["value"] for c in choices]:
                raise ValueError(f"{value!r} is not a choice of option {name!r}")
            option: JSON = {"name": name, "type": otype, "value": value}
            if otype in (6, 7, 8, 9) and name != focused:
                option["value"] = str(value)
                self._resolve(otype, int(value), resolved)
            if name == focused:
                option["focused"] = True
            out.append(option)
        if focused is None:
            missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"missing required options {missing}")
        return out

    def _resolve(self, otype: int, target: int, resolved: JSON, guild_id: int | None = None) -> None:
        if otype in (6, 9) and target in self.users:
            resolved.setdefault("users", {})[str(target)] = self.users[target].to_dict()
            if guild_id is not None and target in self.guilds[guild_id].members:
                member = self._member_payload(self.guilds[guild_id], target, with_user=False, permissions=True)
                resolved.setdefault("members", {})[str(target)] = member
        elif otype == 7 and target in self.channels:
            ch = self.channels[target]
            resolved.setdefault("channels", {})[str(target)] = {
                "id": str(ch.id),
                "type": ch.type,
                "name": ch.name,
                "permissions": str(Permissions.ALL),
            }
        elif otype in (8, 9) and guild_id is not None and target in self.guilds[guild_id].roles:
            resolved.setdefault("roles", {})[str(target)] = self.guilds[guild_id].roles[target].to_dict()

    def _command_data(self, name: str, channel_id: int, options: dict[str, Any] | None, focused: str | None) -> JSON:
        parts = name.split()
        guild_id = self.channels[channel_id].guild_id
        command = self._command_or_raise(parts[0], guild_id, 1)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        resolved: JSON = {}
        definitions: list[JSON] = command.get("options") or []
        # walk subcommand group / subcommand
        containers: list[JSON] = []
        for part in parts[1:]:
            match = next((d for d in definitions if d["name"] == part and d["type"] in (1, 2)), None)
            if match is None:
                raise ValueError(f"{part!r} is not a subcommand/group of {name!r}")
            containers.append({"name": part, "type": match["type"], "options": []})
            definitions = match.get("options") or []
        if any(d["type"] in (1, 2) for d in definitions):
            raise ValueError(f"{name!r} needs a subcommand")
        leaf = self._build_options(definitions, options or {}, focused, resolved)
        # re-resolve with guild context
        for option in leaf:
            if option["type"] in (6, 7, 8, 9) and not option.get("focused"):
                self._resolve(option["type"], int(option["value"]), resolved, guild_id)
        if containers:
            containers[-1]["options"] = leaf
            for outer, inner in zip(containers[-2::-1], containers[:0:-1], strict=False):
                outer["options"] = [inner]
            data["options"] = [containers[0]]
        elif leaf:
            data["options"] = leaf
        if resolved:
            data["resolved"] = resolved
        return data

    async def send_command(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        options: dict[str, Any] | None = None,
        *,
        installed_by_user: bool = False,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A user runs a synced chat-input command. ``name`` may be ``"group sub"`` / ``"cmd sub"``;
        ``options`` maps leaf option names to values (USER/CHANNEL/ROLE ids are put in ``resolved``)."""
        data = self._command_data(name, channel_id, options, None)
        return await self.send_interaction(
            InteractionType.APPLICATION_COMMAND,
            user_id,
            channel_id,
            data,
            installed_by_user=installed_by_user,
            locale=locale,
        )

    async def send_autocomplete(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        options: dict[str, Any],
        focused: str,
        *,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A user types in an autocomplete option (``focused``); other options are what they typed so far."""
        data = self._command_data(name, channel_id, options, focused)
        return await self.send_interaction(InteractionType.AUTOCOMPLETE, user_id, channel_id, data, locale=locale)

    async def send_user_command(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        target_user_id: int,
        *,
        installed_by_user: bool = False,
    ) -> InteractionRecord:
        guild_id = self.channels[channel_id].guild_id
        command = self._command_or_raise(name, guild_id, 2)
        resolved: JSON = {}
        self._resolve(6, target_user_id, resolved, guild_id)
        data: JSON = {
            "id": command["id"],
            "name": name,
            "type": 2,
            "target_id": str(target_user_id),
            "resolved": resolved,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self.send_interaction(
            InteractionType.APPLICATION_COMMAND,
            user_id,
            channel_id,
            data,
            installed_by_user=installed_by_user,
        )

    async def send_message_command(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        target_message_id: int,
        *,
        installed_by_user: bool = False,
    ) -> InteractionRecord:
        """A message context menu; the target message keeps its content (Discord's intent exception)."""
        guild_id = self.channels[channel_id].guild_id
        command = self._command_or_raise(name, guild_id, 3)
        target = self._message_in(channel_id, target_message_id)
        data: JSON = {
            "id": command["id"],
            "name": name,
            "type": 3,
            "target_id": str(target_message_id),
            "resolved": {"messages": {str(target.id): self._message_payload(target)}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self.send_interaction(
            InteractionType.APPLICATION_COMMAND,
            user_id,
            channel_id,
            data,
            installed_by_user=installed_by_user,
        )

    async def send_component(
        self,
        user_id: int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int | None = None,
        values: list[str] | None = None,
    ) -> InteractionRecord:
        """A user clicks a button / picks in a select of a stored message (the component must exist on it)."""
        msg = self._message_in(channel_id, message_id)
        component = _find_component(msg.components, custom_id)
        if component is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        ctype = component_type or int(component.get("type", 2))
        data: JSON = {"custom_id": custom_id, "component_type": ctype}
        if component.get("id") is not None:
            data["id"] = component["id"]
        if ctype in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        return await self.send_interaction(
            InteractionType.MESSAGE_COMPONENT, user_id, channel_id, data, message_id=message_id
        )

    async def send_modal_submit(
        self, interaction: InteractionRecord | int, values: dict[str, Any], *, user_id: int | None = None
    ) -> InteractionRecord:
        """The user submits the modal the bot answered ``interaction`` with (callback type 9)."""
        rec = self._interaction(interaction)
        if rec.modal is None:
            raise ValueError(f"interaction {rec.id} was not answered with a modal")
        data: JSON = {
            "custom_id": rec.modal["custom_id"],
            "components": [_submitted(c, values) for c in rec.modal.get("components") or []],
        }
        return await self.send_interaction(
            InteractionType.MODAL_SUBMIT,
            user_id or rec.user_id,
            rec.channel_id,
            data,
            message_id=rec.source_message_id,
        )

    async def send_interaction(
        self,
        type_: int,
        user_id: int,
        channel_id: int,
        data: JSON,
        *,
        message_id: int | None = None,
        installed_by_user: bool = False,
        locale: str | None = None,
    ) -> InteractionRecord:
        """Build a complete INTERACTION_CREATE (every documented field) and dispatch it to the right shard
        (guild shard; DMs → shard 0). Returns the handle (id, token, records of what the bot did)."""
        channel = self.channels[channel_id]
        user = self._user(user_id)
        guild = self.guilds[channel.guild_id] if channel.guild_id is not None else None
        iid = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        if guild is not None:
            self._member(guild, user_id)
            context = 0
            app_permissions = self.member_permissions(guild.id, self.bot_user_id)
        else:
            context = 1 if self.bot_user_id in channel.recipient_ids or user_id in channel.recipient_ids else 2
            app_permissions = Permissions.DM
        owners: JSON = {}
        if guild is not None and self._bot_in(guild):
            owners["0"] = str(guild.id)
        elif guild is None and context == 1 and not installed_by_user:
            owners["0"] = "0"
        if installed_by_user:
            owners["1"] = str(user_id)
        channel_payload = self._channel_payload(channel)
        if guild is not None:
            channel_payload["permissions"] = str(self.member_permissions(guild.id, user_id))
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": channel_payload,
            "locale": locale or user.locale,
            "app_permissions": str(app_permissions),
            "entitlements": [],
            "authorizing_integration_owners": owners,
            "context": context,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": guild.preferred_locale, "features": []}
            payload["guild_locale"] = guild.preferred_locale
            payload["member"] = self._member_payload(guild, user_id, permissions=True)
        else:
            payload["user"] = user.to_dict()
        if message_id is not None:
            payload["message"] = self._message_payload(self._message_in(channel_id, message_id))
        shard_sessions = self._sessions_for(guild.id if guild else None, None)
        if not shard_sessions:
            raise RuntimeError("no gateway session for this interaction's shard: is the client connected?")
        rec = InteractionRecord(
            iid,
            token,
            type_,
            self.application_id,
            user_id,
            channel.id,
            channel.guild_id,
            data,
            payload,
            shard_sessions[0].shard_id,
            source_message_id=message_id,
        )
        self.interactions[iid] = rec
        self._by_token[token] = rec
        await self._drain()
        rec.dispatched_at = time.monotonic()
        for session in shard_sessions:
            await self._dispatch(session, "INTERACTION_CREATE", payload)
        return rec

    # ------------------------------------------------------------------------------------------- REST core
    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return web.Response(status=status, body=json.dumps(body).encode(), headers=merged)

    def _route(
        self,
        method: str,
        template: str,
        handler: Callable[[_Ctx], Awaitable[tuple[int, Any]]],
        *,
        auth: bool = True,
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", lambda m: rf"(?P<{m.group(1)}>[^/]+)", template)
        self._routes.append(_Route(method, re.compile(f"^{regex}$"), template, handler, auth))

    async def _read_body(self, request: web.Request) -> tuple[Any, list[JSON], str | None]:
        content_type = request.headers.get("Content-Type")
        files: list[JSON] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    raw = await part.read()
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,
                            "content_type": part.headers.get("Content-Type"),
                            "size": len(raw),
                        }
                    )
            return body, files, content_type
        raw_bytes = await request.read()
        if not raw_bytes:
            return None, files, content_type
        try:
            return json.loads(raw_bytes), files, content_type
        except ValueError:
            return raw_bytes.decode(errors="replace"), files, content_type

    def _ratelimit_headers(self, template: str | None) -> dict[str, str]:
        if template is None:
            return {}
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": hashlib.md5(template.encode(), usedforsecurity=False).hexdigest()[:16],
        }

    def _failure_response(self, failure: _Failure, path: str) -> web.Response:
        if failure.status == 429:
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, math.ceil(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": hashlib.md5(path.encode(), usedforsecurity=False).hexdigest()[:16],
                "X-RateLimit-Scope": "global" if failure.global_ else "user",
            }
            if failure.global_:
                headers["X-RateLimit-Global"] = "true"
            body = (
                failure.body
                if failure.body is not None
                else {
                    "message": "You are being rate limited.",
                    "retry_after": failure.retry_after,
                    "global": failure.global_,
                }
            )
            return self._json(429, body, headers)
        if failure.body is not None:
            return self._json(failure.status, failure.body)
        try:
            reason = HTTPStatus(failure.status).phrase
        except ValueError:
            reason = "Error"
        return self._json(failure.status, {"message": f"{failure.status}: {reason}", "code": 0})

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        match = re.match(r"^/api(?:/v(\d+))?(/.*)?$", request.path)
        version = match.group(1) if match else None
        path = (match.group(2) if match else None) or "/"
        try:
            body, files, content_type = await self._read_body(request)
        except ValueError:
            body, files, content_type = None, [], request.headers.get("Content-Type")
        headers = {k: v for k, v in request.headers.items()}
        auth_header = request.headers.get("Authorization")
        authorized = auth_header is not None and hmac.compare_digest(
            auth_header.encode(), f"Bot {self.bot_token}".encode()
        )
        if "Authorization" in headers:
            headers["Authorization"] = REDACTED
        record = RecordedRequest(
            method=request.method,
            path=path,
            raw_path=request.raw_path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=headers,
            authorized=authorized,
            time=time.monotonic(),
            content_type=content_type,
        )
        self.requests.append(record)
        response_body: Any = None
        response: web.Response
        try:
            delay = self.latency + sum(
                s for m, p, s in self._latencies if (m is None or m == request.method) and p.search(path)
            )
            if delay > 0:
                await asyncio.sleep(delay)
            failure = next(
                (
                    f
                    for f in self._failures
                    if f.remaining > 0 and (f.method is None or f.method == request.method) and f.pattern.search(path)
                ),
                None,
            )
            if failure is not None:
                failure.remaining -= 1
                response = self._failure_response(failure, path)
                record.status = response.status
                record.response = json.loads(response.body) if isinstance(response.body, bytes) else None
                return response
            route, params = self._match(request.method, path, version)
            record.route = route.template
            if route.auth and not authorized:
                raise DiscordApiError(401, 0, "401: Unauthorized")
            ctx = _Ctx(request, params, body, files, dict(request.query), record)
            status, response_body = await route.handler(ctx)
            headers_out = self._ratelimit_headers(route.template)
            if status == 204:
                response = web.Response(status=204, headers=headers_out)
            else:
                response = self._json(status, response_body, headers_out)
        except DiscordApiError as exc:
            response_body = exc.body()
            response = self._json(exc.status, response_body, self._ratelimit_headers(record.route))
        record.status = response.status
        record.response = response_body
        self._notify()
        return response

    def _match(self, method: str, path: str, version: str | None) -> tuple[_Route, dict[str, str]]:
        if version not in ("9", "10"):
            raise DiscordApiError(404, 0, "404: Not Found")
        path_matched = False
        for route in self._routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            path_matched = True
            if route.method == method:
                return route, m.groupdict()
        if path_matched:
            raise DiscordApiError(405, 0, "405: Method Not Allowed")
        raise DiscordApiError(404, 0, "404: Not Found")

    # --------------------------------------------------------------------------------------- REST helpers
    def _rest_channel(self, ctx: _Ctx) -> Channel:
        try:
            channel = self.channels[ctx.int_param("channel_id")]
        except (KeyError, ValueError):
            raise _unknown("Channel", 10003) from None
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            if not self._bot_in(guild):
                raise DiscordApiError(*MISSING_ACCESS)
            if not self.bot_permissions(channel.id) & Permissions.VIEW_CHANNEL:
                raise DiscordApiError(*MISSING_ACCESS)
        elif self.bot_user_id not in channel.recipient_ids and not self._dm_with_bot(channel):
            raise DiscordApiError(*MISSING_ACCESS)
        return channel

    def _dm_with_bot(self, channel: Channel) -> bool:
        return channel.type == 1 and any(self._dm_by_user.get(u) == channel.id for u in channel.recipient_ids)

    def _rest_message(self, ctx: _Ctx, channel: Channel) -> Message:
        try:
            msg = self.messages[ctx.int_param("message_id")]
        except (KeyError, ValueError):
            raise _unknown("Message", 10008) from None
        if msg.channel_id != channel.id or msg.deleted or msg.ephemeral:
            raise _unknown("Message", 10008)
        return msg

    def _require(self, channel: Channel, permission: int) -> None:
        if not self.bot_permissions(channel.id) & permission:
            raise DiscordApiError(*MISSING_PERMISSIONS)

    def _rest_guild(self, ctx: _Ctx) -> Guild:
        try:
            guild = self.guilds[ctx.int_param("guild_id")]
        except (KeyError, ValueError):
            raise _unknown("Guild", 10004) from None
        if not self._bot_in(guild):
            raise DiscordApiError(*MISSING_ACCESS)
        return guild

    def _rest_emoji(self, ctx: _Ctx) -> JSON:
        emoji = parse_emoji(ctx.params["emoji"])
        if emoji.get("id"):
            if not any(int(emoji["id"]) in g.emojis for g in self.guilds.values()):
                raise DiscordApiError(400, 10014, "Unknown Emoji")
            known = next(g.emojis[int(emoji["id"])] for g in self.guilds.values() if int(emoji["id"]) in g.emojis)
            emoji = {"id": str(known.id), "name": known.name}
            if known.animated:
                emoji["animated"] = True
        elif not emoji["name"] or all(ord(ch) < 0x80 for ch in emoji["name"]):
            raise DiscordApiError(400, 10014, "Unknown Emoji")
        return emoji

    def _check_message_body(self, body: JSON, *, require_content: bool = True, files: list[JSON] | None = None) -> None:
        errors = FormErrors()
        non_empty = validate_message_body(body, errors, require_content=require_content)
        if errors:
            raise _form_error(errors)
        if not non_empty and not files:
            raise DiscordApiError(400, 50006, "Cannot send an empty message")

    # ----------------------------------------------------------------------------------------- REST routes
    def _register_routes(self) -> None:
        r = self._route
        r("GET", "/gateway", self._h_gateway, auth=False)
        r("GET", "/gateway/bot", self._h_gateway_bot)
        r("GET", "/users/@me", self._h_me)
        r("GET", "/users/@me/guilds", self._h_my_guilds)
        r("POST", "/users/@me/channels", self._h_create_dm)
        r("GET", "/users/{user_id}", self._h_user)
        r("GET", "/oauth2/applications/@me", self._h_application)
        r("GET", "/applications/@me", self._h_application)
        for prefix in (
            "/applications/{app_id}/commands",
            "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            r("GET", prefix, self._h_get_commands)
            r("PUT", prefix, self._h_put_commands)
            r("POST", prefix, self._h_post_command)
            r("GET", prefix + "/{command_id}", self._h_get_command)
            r("PATCH", prefix + "/{command_id}", self._h_patch_command)
            r("DELETE", prefix + "/{command_id}", self._h_delete_command)
        r("GET", "/guilds/{guild_id}", self._h_guild)
        r("GET", "/guilds/{guild_id}/channels", self._h_guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self._h_guild_roles)
        r("GET", "/guilds/{guild_id}/members", self._h_guild_members)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self._h_guild_member)
        r("GET", "/channels/{channel_id}", self._h_channel)
        r("POST", "/channels/{channel_id}/typing", self._h_typing)
        r("GET", "/channels/{channel_id}/messages", self._h_list_messages)
        r("POST", "/channels/{channel_id}/messages", self._h_create_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self._h_get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self._h_edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self._h_delete_message)
        reactions = "/channels/{channel_id}/messages/{message_id}/reactions"
        r("DELETE", reactions, self._h_clear_reactions)
        r("GET", reactions + "/{emoji}", self._h_list_reactions)
        r("DELETE", reactions + "/{emoji}", self._h_clear_emoji)
        r("PUT", reactions + "/{emoji}/@me", self._h_add_own_reaction)
        r("DELETE", reactions + "/{emoji}/@me", self._h_remove_own_reaction)
        r("DELETE", reactions + "/{emoji}/{user_id}", self._h_remove_user_reaction)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self._h_callback, auth=False)
        hook = "/webhooks/{webhook_id}/{token}"
        r("POST", hook, self._h_followup, auth=False)
        r("GET", hook + "/messages/{message_id}", self._h_webhook_get, auth=False)
        r("PATCH", hook + "/messages/{message_id}", self._h_webhook_edit, auth=False)
        r("DELETE", hook + "/messages/{message_id}", self._h_webhook_delete, auth=False)

    # gateway / users / application ---------------------------------------------------------------------
    async def _h_gateway(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url.rstrip("/")}

    async def _h_gateway_bot(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url.rstrip("/"),
            "shards": self.recommended_shards,
            "session_start_limit": {
                "total": self.session_start_total,
                "remaining": self.session_start_remaining,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def _h_me(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {
            **self.users[self.bot_user_id].to_dict(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }

    async def _h_my_guilds(self, ctx: _Ctx) -> tuple[int, Any]:
        guilds = [g for g in self.guilds.values() if self._bot_in(g)]
        return 200, [
            {
                "id": str(g.id),
                "name": g.name,
                "icon": None,
                "banner": None,
                "owner": False,
                "permissions": str(self.member_permissions(g.id, self.bot_user_id)),
                "features": [],
            }
            for g in guilds
        ]

    async def _h_user(self, ctx: _Ctx) -> tuple[int, Any]:
        try:
            return 200, self.users[ctx.int_param("user_id")].to_dict()
        except (KeyError, ValueError):
            raise _unknown("User", 10013) from None

    async def _h_create_dm(self, ctx: _Ctx) -> tuple[int, Any]:
        body = ctx.json_object()
        try:
            user_id = int(body["recipient_id"])
            self.users[user_id]
        except (KeyError, ValueError, TypeError):
            raise _unknown("User", 10013) from None
        return 200, self._channel_payload(self.channels[self.dm_channel(user_id)])

    async def _h_application(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._application_payload()

    # commands --------------------------------------------------------------------------------------------
    def _command_scope(self, ctx: _Ctx) -> int | None:
        if ctx.params["app_id"] != str(self.application_id):
            raise DiscordApiError(*MISSING_ACCESS)
        if "guild_id" in ctx.params:
            return self._rest_guild(ctx).id
        return None

    def _command_object(self, command: JSON, guild_id: int | None, command_id: int, version: int) -> JSON:
        ctype = int(command.get("type") or 1)
        obj: JSON = {
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(version),
            "default_member_permissions": command.get("default_member_permissions"),
            "type": ctype,
            "name": command["name"],
            "name_localizations": command.get("name_localizations"),
            "description": command.get("description", "") if ctype == 1 else "",
            "description_localizations": command.get("description_localizations"),
            "nsfw": bool(command.get("nsfw", False)),
            "integration_types": command.get("integration_types") or [0],
            "contexts": command.get("contexts"),
        }
        if command.get("options"):
            obj["options"] = command["options"]
        if guild_id is not None:
            obj["guild_id"] = str(guild_id)
            obj.pop("contexts")
            obj.pop("integration_types")
        else:
            obj["dm_permission"] = command.get("dm_permission", True)
        return obj

    def _overwrite_commands(self, commands: list[JSON], guild_id: int | None) -> list[JSON]:
        existing = {(c["name"], c["type"]): int(c["id"]) for c in self.commands.get(guild_id, [])}
        version = self._ids.next()
        stored = [
            self._command_object(
                c, guild_id, existing.get((c["name"], int(c.get("type") or 1))) or self._ids.next(), version
            )
            for c in commands
        ]
        self.commands[guild_id] = stored
        return stored

    async def _h_get_commands(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self.commands.get(self._command_scope(ctx), [])

    async def _h_put_commands(self, ctx: _Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        errors = validate_commands(ctx.body)
        if errors:
            raise _form_error(errors)
        return 200, self._overwrite_commands(ctx.body, scope)

    async def _h_post_command(self, ctx: _Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        body = ctx.json_object()
        errors = validate_commands([body])
        if errors:
            raise _form_error(errors)
        current = list(self.commands.get(scope, []))
        ctype = int(body.get("type") or 1)
        match = next((c for c in current if c["name"] == body["name"] and c["type"] == ctype), None)
        if match is None:
            obj = self._command_object(body, scope, self._ids.next(), self._ids.next())
            self.commands[scope] = [*current, obj]
            return 201, obj
        obj = self._command_object(body, scope, int(match["id"]), self._ids.next())
        self.commands[scope] = [obj if c is match else c for c in current]
        return 200, obj

    def _find_command_by_id(self, ctx: _Ctx, scope: int | None) -> JSON:
        for command in self.commands.get(scope, []):
            if command["id"] == ctx.params["command_id"]:
                return command
        raise _unknown("application command", 10063)

    async def _h_get_command(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._find_command_by_id(ctx, self._command_scope(ctx))

    async def _h_patch_command(self, ctx: _Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        command = self._find_command_by_id(ctx, scope)
        merged = {**command, **ctx.json_object()}
        errors = validate_commands([merged])
        if errors:
            raise _form_error(errors)
        obj = self._command_object(merged, scope, int(command["id"]), self._ids.next())
        self.commands[scope] = [obj if c is command else c for c in self.commands[scope]]
        return 200, obj

    async def _h_delete_command(self, ctx: _Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        command = self._find_command_by_id(ctx, scope)
        self.commands[scope] = [c for c in self.commands[scope] if c is not command]
        return 204, None

    # guilds ------------------------------------------------------------------------------------------------
    async def _h_guild(self, ctx: _Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        data = self._guild_payload(guild)
        if _bool_query(ctx.query.get("with_counts")):
            data["approximate_member_count"] = len(guild.members)
            data["approximate_presence_count"] = 0
        return 200, data

    async def _h_guild_channels(self, ctx: _Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        return 200, [self._channel_payload(self.channels[c]) for c in guild.channel_ids]

    async def _h_guild_roles(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, [r.to_dict() for r in self._rest_guild(ctx).roles.values()]

    async def _h_guild_members(self, ctx: _Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        if not self.privileged_intents & Intents.GUILD_MEMBERS:
            raise DiscordApiError(*MISSING_ACCESS)
        limit = int(ctx.query.get("limit", "1"))
        after = int(ctx.query.get("after", "0"))
        if not 1 <= limit <= 1000:
            errors = FormErrors()
            errors.add(["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 1000.")
            raise _form_error(errors)
        ids = sorted(u for u in guild.members if u > after)[:limit]
        return 200, [self._member_payload(guild, u) for u in ids]

    async def _h_guild_member(self, ctx: _Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        try:
            user_id = ctx.int_param("user_id")
        except ValueError:
            raise _unknown("Member", 10007) from None
        if user_id not in guild.members:
            raise _unknown("Member", 10007)
        return 200, self._member_payload(guild, user_id)

    # channels & messages --------------------------------------------------------------------------------
    async def _h_channel(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._channel_payload(self._rest_channel(ctx))

    async def _h_typing(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        if channel.guild_id is not None:
            self._require(channel, Permissions.SEND_MESSAGES)
        return 204, None

    async def _h_list_messages(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        if channel.guild_id is not None and not self.bot_permissions(channel.id) & Permissions.READ_MESSAGE_HISTORY:
            return 200, []
        try:
            limit = int(ctx.query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            errors = FormErrors()
            errors.add(["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")
            raise _form_error(errors)
        visible = [m for m in self.channel_messages(channel.id) if not m.ephemeral]  # oldest first
        if "around" in ctx.query:
            around = int(ctx.query["around"])
            older = [m for m in visible if m.id <= around][-(limit // 2 + limit % 2) :]
            newer = [m for m in visible if m.id > around][: limit // 2]
            chosen = older + newer
        elif "after" in ctx.query:
            chosen = [m for m in visible if m.id > int(ctx.query["after"])][:limit]
        else:
            before = int(ctx.query["before"]) if "before" in ctx.query else None
            chosen = [m for m in visible if before is None or m.id < before][-limit:]
        strip = not self.privileged_intents & Intents.MESSAGE_CONTENT
        return 200, [
            self._message_payload(m, strip_content=strip and self._strip_for(m, 0))
            for m in sorted(chosen, key=lambda m: m.id, reverse=True)
        ]

    async def _h_get_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        self._require(channel, Permissions.READ_MESSAGE_HISTORY)
        msg = self._rest_message(ctx, channel)
        strip = not self.privileged_intents & Intents.MESSAGE_CONTENT and self._strip_for(msg, 0)
        return 200, self._message_payload(msg, strip_content=strip)

    async def _h_create_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        body = ctx.json_object() if ctx.body is not None else {}
        if channel.guild_id is not None:
            self._require(channel, Permissions.SEND_MESSAGES)
            if ctx.files:
                self._require(channel, Permissions.ATTACH_FILES)
        else:
            recipient = self.users[channel.recipient_ids[0]]
            if recipient.bot or not recipient.dms_open:
                raise DiscordApiError(403, 50007, "Cannot send messages to this user")
        self._check_message_body(body, files=ctx.files)
        reference = body.get("message_reference")
        msg_type = 0
        if isinstance(reference, dict) and reference.get("message_id"):
            ref = self.messages.get(int(reference["message_id"]))
            if ref is None or ref.deleted or ref.channel_id != int(reference.get("channel_id") or channel.id):
                if reference.get("fail_if_not_exists", True):
                    errors = FormErrors()
                    errors.add(["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                    raise _form_error(errors)
                reference = None
            else:
                msg_type = 19
        msg = self._new_message(channel, self.bot_user_id, {}, type_=msg_type, files=None)
        if msg_type == 19 and isinstance(reference, dict):
            msg.message_reference = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(channel.id),
            }
            if channel.guild_id is not None:
                msg.message_reference["guild_id"] = str(channel.guild_id)
        self._apply_body(msg, {k: v for k, v in body.items() if k != "message_reference"}, ctx.files, creating=True)
        msg.tts = bool(body.get("tts"))
        if isinstance(body.get("nonce"), str | int):
            msg.nonce = body["nonce"]
        if body.get("poll"):
            msg.poll = body["poll"]
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return 200, self._message_payload(msg)

    async def _h_edit_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        body = ctx.json_object()
        if msg.author_id != self.bot_user_id:
            if set(body) - {"flags"}:
                raise DiscordApiError(403, 50005, "Cannot edit a message authored by another user")
            self._require(channel, Permissions.MANAGE_MESSAGES)
        self._check_message_body(body, require_content=False)
        self._apply_body(msg, body, ctx.files, creating=False)
        if not (msg.content or msg.embeds or msg.components or msg.attachments or msg.poll):
            raise DiscordApiError(400, 50006, "Cannot send an empty message")
        msg.edited_at = dt.datetime.now(dt.UTC)
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        return 200, self._message_payload(msg)

    async def _h_delete_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        if msg.author_id != self.bot_user_id:
            if channel.guild_id is None:
                raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
            self._require(channel, Permissions.MANAGE_MESSAGES)
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)
        return 204, None

    # reactions ----------------------------------------------------------------------------------------------
    async def _h_add_own_reaction(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        if channel.guild_id is not None:
            self._require(channel, Permissions.READ_MESSAGE_HISTORY)
            if emoji_key(emoji) not in msg.reactions:
                self._require(channel, Permissions.ADD_REACTIONS)
        if len(msg.reactions) >= 20 and emoji_key(emoji) not in msg.reactions:
            raise DiscordApiError(400, 30010, "Maximum number of reactions reached (20)")
        if self._store_reaction(msg, self.bot_user_id, emoji):
            await self._dispatch_reaction(msg, self.bot_user_id, emoji, add=True)
        return 204, None

    async def _h_remove_own_reaction(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        if self._drop_reaction(msg, self.bot_user_id, emoji):
            await self._dispatch_reaction(msg, self.bot_user_id, emoji, add=False)
        return 204, None

    async def _h_remove_user_reaction(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        try:
            user_id = ctx.int_param("user_id")
        except ValueError:
            raise _unknown("User", 10013) from None
        if user_id != self.bot_user_id:
            if channel.guild_id is None:
                raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
            self._require(channel, Permissions.MANAGE_MESSAGES)
        if self._drop_reaction(msg, user_id, emoji):
            await self._dispatch_reaction(msg, user_id, emoji, add=False)
        return 204, None

    async def _h_list_reactions(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        try:
            limit = int(ctx.query.get("limit", "25"))
            after = int(ctx.query.get("after", "0"))
        except ValueError:
            limit, after = 0, 0
        if not 1 <= limit <= 100:
            errors = FormErrors()
            errors.add(["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")
            raise _form_error(errors)
        if ctx.query.get("type", "0") == "1":  # burst reactions: none in the loopback
            return 200, []
        reaction = msg.reactions.get(emoji_key(emoji))
        user_ids = sorted(u for u in (reaction.user_ids if reaction else []) if u > after)[:limit]
        return 200, [self.users[u].to_dict() for u in user_ids]

    async def _h_clear_emoji(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        if channel.guild_id is None:
            raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
        self._require(channel, Permissions.MANAGE_MESSAGES)
        if msg.reactions.pop(emoji_key(emoji), None) is not None:
            data = {
                "channel_id": str(channel.id),
                "guild_id": str(channel.guild_id),
                "message_id": str(msg.id),
                "emoji": emoji,
            }
            await self._dispatch_guild_event(
                channel.guild_id,
                "MESSAGE_REACTION_REMOVE_EMOJI",
                Intents.GUILD_MESSAGE_REACTIONS,
                lambda _s: data,
            )
        return 204, None

    async def _h_clear_reactions(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        if channel.guild_id is None:
            raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
        self._require(channel, Permissions.MANAGE_MESSAGES)
        msg.reactions.clear()
        data = {"channel_id": str(channel.id), "guild_id": str(channel.guild_id), "message_id": str(msg.id)}
        await self._dispatch_guild_event(
            channel.guild_id, "MESSAGE_REACTION_REMOVE_ALL", Intents.GUILD_MESSAGE_REACTIONS, lambda _s: data
        )
        return 204, None

    # interaction callbacks ------------------------------------------------------------
    def _interaction_message_type(self, rec: InteractionRecord) -> int:
        if rec.type == InteractionType.APPLICATION_COMMAND:
            return 20 if int(rec.data.get("type", 1)) == 1 else 23
        return 0 if rec.type == InteractionType.MESSAGE_COMPONENT else 20

    def _interaction_message(self, rec: InteractionRecord, body: JSON, files: list[JSON], *, flags: int = 0) -> Message:
        channel = self.channels[rec.channel_id]
        msg = self._new_message(channel, self.bot_user_id, {}, type_=self._interaction_message_type(rec))
        msg.webhook_id = self.application_id
        msg.application_id = self.application_id
        msg.interaction_id = rec.id
        self._apply_body(msg, body, files, creating=True)
        msg.flags |= flags
        return msg

    async def _h_callback(self, ctx: _Ctx) -> tuple[int, Any]:
        now = time.monotonic()
        try:
            iid = ctx.int_param("interaction_id")
        except ValueError:
            iid = 0
        rec = self.interactions.get(iid)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        cb_type = body.get("type") if isinstance(body.get("type"), int) else None
        cb_data = body.get("data") if isinstance(body.get("data"), dict) else None
        with_response = _bool_query(ctx.query.get("with_response"))
        cb = CallbackRecord(iid, cb_type, cb_data, now - rec.dispatched_at if rec else 0.0, 0, None, with_response)
        self.callbacks.append(cb)
        try:
            if rec is None or not hmac.compare_digest(rec.token.encode(), ctx.params["token"].encode()):
                raise _unknown("interaction", 10062)
            rec.callbacks.append(cb)
            if rec.acknowledged:
                raise DiscordApiError(400, 40060, "Interaction has already been acknowledged.")
            if cb.elapsed > self.interaction_deadline:
                raise _unknown("interaction", 10062)
            status, response = await self._accept_callback(rec, cb_type, cb_data or {}, ctx.files, with_response)
            cb.status = status
            return status, response
        except DiscordApiError as exc:
            cb.status, cb.error_code = exc.status, exc.code
            raise
        finally:
            self._notify()

    async def _accept_callback(
        self, rec: InteractionRecord, cb_type: int | None, data: JSON, files: list[JSON], with_response: bool
    ) -> tuple[int, Any]:
        errors = FormErrors()
        if cb_type is None:
            errors.add(["type"], "BASE_TYPE_REQUIRED", "This field is required")
            raise _form_error(errors)
        if cb_type not in ALLOWED_CALLBACKS.get(rec.type, frozenset()) or (
            cb_type in (6, 7) and rec.source_message_id is None
        ):
            errors.add(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Interaction response type is invalid")
            raise _form_error(errors)
        message: Message | None = None
        if cb_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            self._check_message_body(data, files=files)
            message = self._interaction_message(rec, data, files)
            rec.original_message_id = message.id
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = MessageFlags.LOADING | (int(data.get("flags") or 0) & MessageFlags.EPHEMERAL)
            message = self._interaction_message(rec, {}, [], flags=flags)
            rec.original_message_id = message.id
        elif cb_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            rec.original_message_id = rec.source_message_id
        elif cb_type == CallbackType.UPDATE_MESSAGE:
            self._check_message_body(data, require_content=False)
            assert rec.source_message_id is not None
            message = self.messages[rec.source_message_id]
            self._apply_body(message, data, files, creating=False)
            message.edited_at = dt.datetime.now(dt.UTC)
            rec.original_message_id = message.id
        elif cb_type == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            errors = validate_command_choices(data)
            if errors:
                raise _form_error(errors)
        elif cb_type == CallbackType.MODAL:
            errors = validate_modal(data)
            if errors:
                raise _form_error(errors)
            rec.modal = data
        rec.response_type = cb_type
        if message is not None:
            event = "MESSAGE_UPDATE" if cb_type == CallbackType.UPDATE_MESSAGE else "MESSAGE_CREATE"
            await self._dispatch_message(event, message)
        if not with_response:
            return 204, None
        interaction: JSON = {"id": str(rec.id), "type": rec.type}
        response: JSON = {"interaction": interaction}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = bool(message.flags & MessageFlags.LOADING)
            interaction["response_message_ephemeral"] = message.ephemeral
            response["resource"] = {"type": cb_type, "message": self._message_payload(message)}
        elif cb_type not in (
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
        ):
            response["resource"] = {"type": cb_type}
        return 200, response

    # webhooks (follow-ups, @original) --------------------------------------------------------------------
    def _webhook_interaction(self, ctx: _Ctx) -> InteractionRecord:
        if ctx.params["webhook_id"] != str(self.application_id):
            raise _unknown("Webhook", 10015)
        rec = self._by_token.get(ctx.params["token"])
        if rec is None or time.monotonic() - rec.dispatched_at > self.interaction_token_lifetime:
            raise DiscordApiError(401, 50027, "Invalid Webhook Token")
        return rec

    def _webhook_message(self, ctx: _Ctx, rec: InteractionRecord) -> Message:
        target = ctx.params["message_id"]
        if target == "@original":
            mid = rec.original_message_id
        else:
            try:
                mid = int(target)
            except ValueError:
                mid = None
            if mid != rec.original_message_id and mid not in rec.followup_ids:
                mid = None
        msg = self.messages.get(mid) if mid is not None else None
        if msg is None or msg.deleted:
            raise _unknown("Message", 10008)
        return msg

    async def _h_followup(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        if not rec.acknowledged:
            raise _unknown("Webhook", 10015)
        body = ctx.json_object() if ctx.body is not None else {}
        self._check_message_body(body, files=ctx.files)
        original = self.messages.get(rec.original_message_id or 0)
        if (
            rec.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and original.flags & MessageFlags.LOADING
            and not original.deleted
        ):
            # Discord: the first follow-up after a "thinking" defer replaces the loading message; its
            # ephemerality is the defer's.
            ephemeral = original.flags & MessageFlags.EPHEMERAL
            self._apply_body(original, body, ctx.files, creating=True)
            original.flags = (original.flags & ~(MessageFlags.LOADING | MessageFlags.EPHEMERAL)) | ephemeral
            rec.followup_ids.append(original.id)
            await self._dispatch_message("MESSAGE_UPDATE", original)
            msg = original
        else:
            msg = self._interaction_message(rec, body, ctx.files)
            rec.followup_ids.append(msg.id)
            await self._dispatch_message("MESSAGE_CREATE", msg)
        self._notify()
        if _bool_query(ctx.query.get("wait")):
            return 200, self._message_payload(msg)
        return 204, None

    async def _h_webhook_get(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        return 200, self._message_payload(self._webhook_message(ctx, rec))

    async def _h_webhook_edit(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        msg = self._webhook_message(ctx, rec)
        body = ctx.json_object() if ctx.body is not None else {}
        self._check_message_body(body, require_content=False)
        was_loading = bool(msg.flags & MessageFlags.LOADING)
        self._apply_body(msg, body, ctx.files, creating=False)
        msg.flags &= ~MessageFlags.LOADING
        if not (msg.content or msg.embeds or msg.components or msg.attachments or msg.poll):
            raise DiscordApiError(400, 50006, "Cannot send an empty message")
        if not was_loading:
            msg.edited_at = dt.datetime.now(dt.UTC)
        if ctx.params["message_id"] == "@original" or msg.id == rec.original_message_id:
            rec.original_edits.append(body)
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        self._notify()
        return 200, self._message_payload(msg)

    async def _h_webhook_delete(self, ctx: _Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        msg = self._webhook_message(ctx, rec)
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)
        return 204, None


# ------------------------------------------------------------ component helpers
def _find_component(components: list[Any], custom_id: str) -> JSON | None:
    for component in components:
        if not isinstance(component, dict):
            continue
        if component.get("custom_id") == custom_id:
            return component
        for key in ("components",):
            found = _find_component(component.get(key) or [], custom_id)
            if found is not None:
                return found
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                found = _find_component([child], custom_id)
                if found is not None:
                    return found
    return None


def _submitted(component: JSON, values: dict[str, Any]) -> JSON:
    """The modal-submit shape of one modal component, filled with the user's ``values`` by custom_id."""
    ctype = component.get("type")
    out: JSON = {"type": ctype}
    if component.get("id") is not None:
        out["id"] = component["id"]
    if ctype == 1:
        out["components"] = [_submitted(c, values) for c in component.get("components") or []]
    elif ctype == 18:
        out["component"] = _submitted(component["component"], values)
    elif ctype == 4:
        out["custom_id"] = component["custom_id"]
        out["value"] = str(values.get(component["custom_id"], component.get("value") or ""))
    elif ctype in (3, 5, 6, 7, 8):
        out["custom_id"] = component["custom_id"]
        value = values.get(component["custom_id"], [])
        out["values"] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


# ------------------------------------------------------------------------------------ out-of-process use
# ``python -m tests.servers.discord [--bot-token T] [--port P]`` starts the server with the default world
# (:meth:`LoopbackDiscord.populate_default_world`), prints ``listening on <api_base> <gateway_url> <admin_url>``
# and serves until interrupted. ``POST <admin_url>/_admin/<op>`` with a JSON object of keyword arguments calls
# the whitelisted operation of that name and answers ``{"result": ...}`` (errors: ``{"error": ...}``, 400/404).
# The admin API listens on its own port, so the Discord routes are exactly those of the in-process server.
class _Admin:
    """The admin operations of an out-of-process :class:`LoopbackDiscord` (benchmarks)."""

    OPS = frozenset(
        {
            "world",
            "add_user",
            "add_member",
            "add_members",
            "register_commands",
            "find_command",
            "send_command",
            "send_commands",
            "send_message",
            "add_reaction",
            "add_reactions",
            "callbacks_summary",
            "sessions_summary",
            "requests_count",
            "set_latency",
        }
    )

    def __init__(self, server: LoopbackDiscord) -> None:
        self.server = server

    def world(self) -> JSON:
        s = self.server
        return {
            "guild_id": s.guild_id,
            "channel_id": s.channel_id,
            "alice_id": s.alice_id,
            "bot_user_id": s.bot_user_id,
            "application_id": s.application_id,
        }

    def add_user(self, name: str, bot: bool = False, dms_open: bool = True) -> int:
        return self.server.add_user(name, bot, dms_open)

    def add_member(self, guild_id: int, user_id: int) -> None:
        self.server.add_member(guild_id, user_id)

    def add_members(self, count: int, prefix: str = "user", guild_id: int | None = None) -> list[int]:
        """``count`` new human users, each a member of ``guild_id`` (default: the default world's guild)."""
        gid = guild_id or self.server.guild_id
        ids = []
        for i in range(int(count)):
            uid = self.server.add_user(f"{prefix}{i}")
            self.server.add_member(gid, uid)
            ids.append(uid)
        return ids

    def register_commands(self, commands: list[JSON], guild_id: int | None = None) -> int:
        return len(self.server.register_commands(commands, guild_id))

    def find_command(self, name: str, guild_id: int | None = None, type_: int = 1) -> JSON | None:
        return self.server.find_command(name, guild_id=guild_id, type_=type_)

    async def send_command(
        self, name: str, user_id: int, channel_id: int | None = None, options: dict[str, Any] | None = None
    ) -> int:
        rec = await self.server.send_command(name, user_id, channel_id or self.server.channel_id, options)
        return rec.id

    async def send_commands(self, commands: list[JSON]) -> list[int]:
        """Dispatch many commands at once (each ``{"name", "user_id", "channel_id"?, "options"?}``)."""
        return list(await asyncio.gather(*(self.send_command(**c) for c in commands)))

    async def send_message(self, channel_id: int, author_id: int, content: str) -> int:
        msg = await self.server.send_message(channel_id, author_id, content)
        return msg.id

    async def add_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str) -> bool:
        return await self.server.add_reaction(channel_id, message_id, user_id, emoji)

    async def add_reactions(self, reactions: list[JSON]) -> int:
        """Add many reactions at once (each ``{"channel_id", "message_id", "user_id", "emoji"}``)."""
        done = await asyncio.gather(*(self.add_reaction(**r) for r in reactions))
        return sum(1 for d in done if d)

    def callbacks_summary(self, since: int = 0) -> list[JSON]:
        """Interaction callbacks received (from index ``since``): id, type, ``elapsed`` since dispatch, status."""
        return [
            {
                "interaction_id": cb.interaction_id,
                "type": cb.type,
                "elapsed": cb.elapsed,
                "status": cb.status,
                "error_code": cb.error_code,
            }
            for cb in self.server.callbacks[since:]
        ]

    def sessions_summary(self) -> list[JSON]:
        return [
            {
                "shard_id": s.shard_id,
                "connected": s.connected,
                "ready": bool(s.events_named("READY")),
                "events": len(s.events),
            }
            for s in self.server.sessions.values()
        ]

    def requests_count(self, method: str | None = None, path_regex: str = ".*") -> int:
        return len(self.server.requests_to(method, path_regex))

    def set_latency(self, method: str | None, path_regex: str, seconds: float) -> None:
        self.server.set_latency(method, path_regex, seconds)

    async def handle(self, request: web.Request) -> web.Response:
        return await call_admin_op(request, request.match_info["op"], self, self.OPS)


async def _serve(server: LoopbackDiscord, host: str, admin_port: int) -> None:
    import signal

    await server.start()
    server.populate_default_world()
    admin = _Admin(server)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/_admin/{op}", admin.handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, admin_port)
    await site.start()
    sockets = getattr(site._server, "sockets", None)
    assert sockets
    admin_url = f"http://{host}:{int(sockets[0].getsockname()[1])}"
    # the benchmark reads this line
    print(f"listening on {server.api_base} {server.gateway_url} {admin_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await server.close()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Loopback Discord (REST + gateway) for benchmarks")
    parser.add_argument("--bot-token", default="loopback-bot-token")
    parser.add_argument("--admin-host", default="127.0.0.1")
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--interaction-deadline", type=float, default=3.0)
    args = parser.parse_args(argv)
    server = LoopbackDiscord(bot_token=args.bot_token, interaction_deadline=args.interaction_deadline)
    asyncio.run(_serve(server, args.admin_host, args.admin_port))


if __name__ == "__main__":
    main()
