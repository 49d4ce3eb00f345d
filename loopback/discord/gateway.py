"""The loopback Discord's gateway: websockets, sessions, shards, and dispatching events in order.

* A client connects to ``ws://127.0.0.1:PORT/`` (``/resume`` after READY's ``resume_gateway_url``), gets HELLO,
  heartbeats (op 1 → op 11), IDENTIFYs (token, intents, ``shard``) and gets READY then one GUILD_CREATE per guild
  of its shard (``(guild_id >> 22) % shard_count``); RESUME replays what it missed; REQUEST_GUILD_MEMBERS gets a
  chunk. Close codes are Discord's (4004 bad token, 4013/4014 intents, 4010 invalid shard, 4011 sharding
  required, ...).
* Identify budget, as Discord's Gateway documentation states it ("Identifying": clients are limited by maximum
  concurrency when identifying, and beyond it the gateway answers an Opcode 9 Invalid Session; "Max Concurrency":
  a shard's rate limit key is ``shard_id % max_concurrency``; ``session_start_limit.max_concurrency`` is "the
  number of identify requests allowed per 5 seconds"; discord/discord-api-docs ``docs/topics/Gateway.md``, and
  issue #1328 where a second shard identifying within 5 s got INVALID_SESSION): a second IDENTIFY of a bucket within
  :data:`IDENTIFY_INTERVAL` seconds of the server's ``clock`` after the last accepted one gets op 9 with ``d:
  false`` and starts no session (a RESUME is not limited). Every judged IDENTIFY is on :attr:`Gateway.identifies`.
* ``compress=zlib-stream`` in the query is honoured (binary frames ending with a Z_SYNC_FLUSH suffix), like
  Discord; otherwise frames are JSON text.
* Every frame a client sends is recorded (:attr:`Gateway.gateway_frames`, tokens redacted); every dispatch a session
  got is on :attr:`GatewaySession.events`.
* Dispatches are ordered: a world change made synchronously by a test (``add_guild``, ``set_bot_permissions``,
  ...) is dispatched after every dispatch already scheduled (:meth:`Gateway._later`), and an event dispatched by
  an ``async`` call waits for those first (:meth:`Gateway._drain`).
* Server-side operations for tests: :meth:`Gateway.disconnect`, :meth:`Gateway.request_reconnect`,
  :meth:`Gateway.invalidate_session`; :meth:`Gateway.hold_ready` / :meth:`Gateway.release_ready` keep an accepted
  IDENTIFY waiting for its READY (as a slow gateway does) until the test lets it go.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from loopback.discord.model import (
    JSON,
    REDACTED,
    Channel,
    GatewayFrame,
    Guild,
    IdentifyRecord,
    Intents,
    Op,
    Role,
    iso,
    shard_for_guild,
)
from loopback.discord.payloads import Payloads

#: Discord's identify rate: one IDENTIFY per this many seconds per ``max_concurrency`` bucket
IDENTIFY_INTERVAL = 5.0


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


class Gateway(Payloads):
    """Gateway sessions and ordered dispatch on top of the world (see the module docstring)."""

    def __init__(
        self,
        *,
        heartbeat_interval: int,
        recommended_shards: int,
        max_concurrency: int,
        gateway_compression: bool,
        max_guilds_per_shard: int,
        clock: Callable[[], float],
        **world: Any,
    ) -> None:
        super().__init__(**world)
        #: Where the server's times come from (identify turns, interactions, OAuth2 codes); seconds, monotonic.
        self.clock = clock
        #: Discord's identify rate (seconds of :attr:`clock` between two IDENTIFYs of a bucket)
        self.identify_interval = IDENTIFY_INTERVAL
        #: every IDENTIFY judged against the budget, in order of arrival
        self.identifies: list[IdentifyRecord] = []
        #: Gateway knobs (HELLO's interval; ``GET /gateway/bot``'s ``shards`` and ``max_concurrency``).
        self.heartbeat_interval = heartbeat_interval
        self.recommended_shards = recommended_shards
        self.max_concurrency = max_concurrency
        self.gateway_compression = gateway_compression
        self.max_guilds_per_shard = max_guilds_per_shard
        self.session_start_total = 1000
        self.session_start_remaining = 1000
        self.gateway_frames: list[GatewayFrame] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []  # every websocket ever accepted (``.closed``, ``.query``)
        self._tail: asyncio.Future[None] | None = None
        #: set: READY follows an accepted IDENTIFY at once; cleared by :meth:`hold_ready`
        self._ready_released = asyncio.Event()
        self._ready_released.set()

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume"

    # ------------------------------------------------------------------------------------------- recording
    @property
    def identify_payloads(self) -> list[JSON]:
        """Every IDENTIFY ``d`` clients sent (token redacted)."""
        return [f.d for f in self.gateway_frames if f.op == Op.IDENTIFY]

    @property
    def refused_identifies(self) -> list[IdentifyRecord]:
        """The IDENTIFYs answered with op 9 because their bucket had one less than 5 s before."""
        return [i for i in self.identifies if not i.accepted]

    def sessions_for_shard(self, shard_id: int) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.shard_id == shard_id and not s.invalidated]

    # ------------------------------------------------------------------------------- world changes → events
    def _guild_created(self, guild: Guild) -> None:
        # a guild joined while connected: Discord's GUILD_CREATE then has no ``unavailable`` (``false`` is for a
        # guild of READY, or one back from an outage); discord.py tells the two apart by it (join vs available)
        self._announce_later(
            guild.id,
            "GUILD_CREATE",
            Intents.GUILDS,
            lambda s: {k: v for k, v in self._guild_create_payload(guild, s).items() if k != "unavailable"},
        )

    def _guild_deleted(self, guild: Guild) -> None:
        # no ``unavailable`` key: the bot was removed (with ``unavailable: true`` it would be an outage)
        self._announce_later(guild.id, "GUILD_DELETE", Intents.GUILDS, lambda _s: {"id": str(guild.id)})

    def _channel_created(self, channel: Channel) -> None:
        self._announce_later(
            channel.guild_id, "CHANNEL_CREATE", Intents.GUILDS, lambda _s: self._channel_payload(channel)
        )

    def _member_added(self, guild: Guild, user_id: int) -> None:
        self._announce_later(
            guild.id,
            "GUILD_MEMBER_ADD",
            Intents.GUILD_MEMBERS,
            lambda _s: {**self._member_payload(guild, user_id), "guild_id": str(guild.id)},
        )

    def _role_updated(self, guild: Guild, role: Role) -> None:
        self._announce_later(
            guild.id,
            "GUILD_ROLE_UPDATE",
            Intents.GUILDS,
            lambda _s: {"guild_id": str(guild.id), "role": role.to_dict()},
        )

    def _announce_later(
        self, guild_id: int | None, event: str, intent: int, build: Callable[[GatewaySession], JSON]
    ) -> None:
        self._later(self._dispatch_guild_event, guild_id, event, intent, build)

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

    # ------------------------------------------------------------------------------------ gateway payloads
    def _guild_create_payload(self, guild: Guild, session: GatewaySession) -> JSON:
        # Discord: without GUILD_PRESENCES (or in a guild of over 75k members) ``members`` holds only the bot and the
        # members in voice channels; past ``large_threshold`` (50 to 250) members the gateway stops sending offline
        # members (the loopback models no presence: every member is offline but the bot)
        large_threshold = int(session.identify.get("large_threshold") or 50)
        large = guild.member_count > large_threshold
        if session.intents & Intents.GUILD_PRESENCES and not large and guild.member_count <= 75_000:
            member_ids = list(guild.members)
        else:
            member_ids = [self.bot_user_id, *(u for u in guild.voice_states if u != self.bot_user_id)]
        data = self._guild_payload(guild)
        data.update(
            {
                "joined_at": iso(guild.bot_joined_at),
                "large": large,
                "unavailable": False,
                "member_count": guild.member_count,
                "voice_states": [self._voice_state_payload(guild, u) for u in guild.voice_states],
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

    # ---------------------------------------------------------------------------------------- gateway ops
    def hold_ready(self) -> None:
        """From now on, an accepted IDENTIFY gets its READY only after :meth:`release_ready`."""
        self._ready_released.clear()

    def release_ready(self) -> None:
        """Send the READY of every IDENTIFY held back, and of every later one at once."""
        self._ready_released.set()

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
            not_found = json.dumps({"message": "404: Not Found", "code": 0}).encode()  # as the REST API answers
            return web.Response(status=404, body=not_found, headers={"Content-Type": "application/json"})
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
        if not self._identify_allowed(shard_id, shard_count):
            await conn.send(json.dumps({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None}))
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
        await self._ready_released.wait()
        await self._dispatch(session, "READY", ready)
        if intents & Intents.GUILDS:
            for guild in guilds:
                await self._dispatch(session, "GUILD_CREATE", self._guild_create_payload(guild, session))

    def _identify_allowed(self, shard_id: int, shard_count: int) -> bool:
        """Whether the bucket's last accepted IDENTIFY is at least :attr:`identify_interval` old (recorded)."""
        bucket = shard_id % max(1, self.max_concurrency)
        now = self.clock()
        last = max((i.at for i in self.identifies if i.accepted and i.bucket == bucket), default=None)
        accepted = last is None or now - last >= self.identify_interval
        self.identifies.append(IdentifyRecord((shard_id, shard_count), bucket, now, accepted))
        return accepted

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
