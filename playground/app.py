"""The playground's web page and its API: a Discord channel drawn from the loopback Discord's record, where a visitor
acts as one of the members.

Everything a visitor does goes through the loopback Discord as the member would through Discord: a slash command or
its autocomplete is an interaction (``send_command`` / ``send_autocomplete``), a pasted link a message, a reaction a
reaction, a button press a component interaction; the real bot answers as it answers Discord. Messages are drawn by
the shared renderer (:class:`playground.render.Page`) from what the loopback Discord stored; an ephemeral answer is
shown only to the member whose interaction it answers, a DM only to its member.

API (JSON; every page of it says nothing is real):

* ``GET /api/state`` — the server, channels, members, the acting member, the bot's synced slash commands (flattened,
  with their options), Apple's mode.
* ``GET /api/messages?channel=ID&member=ID`` — the messages that member sees there: ``html`` (drawn) and ``payload``
  (content, embeds, components as the bot sent them).
* ``POST /api/member``, ``/api/command``, ``/api/autocomplete``, ``/api/message``, ``/api/reaction``,
  ``/api/button``, ``/api/apple-mode``; ``GET /api/apple`` (each member's Apple Music account: link and ratings).
* ``GET /api/events`` — server-sent events: ``change`` whenever the loopback Discord or Apple saw something new.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import RatingsBot
from playground.markdown import Markdown
from playground.model import JSON, shot_of
from playground.render import Page, Twemoji, add_asset_routes, import_map
from playground.servers import InteractionType, LoopbackApple, LoopbackDiscord, Message
from playground.world import Loopbacks

log = logging.getLogger("playground")

STATIC = Path(__file__).resolve().parent / "static"
LOADING = 1 << 7
#: what each Apple mode does to the loopback Apple (its own fault controls, deterministic: no random draws)
APPLE_MODES = {
    "normal": "Apple answers at once",
    "slow": "Apple takes 4 s to answer each request",
    "limited": "Apple allows one request every 5 s (429 beyond)",
    "down": "Apple answers every request with 503",
}
SLOW_SECONDS = 4.0
#: how often the event stream looks for changes
WATCH_INTERVAL = 0.2


@dataclass
class Member:
    id: int
    name: str
    #: the music user token of this member's playground Apple account (what the stand-in MusicKit signs in as)
    apple_token: str


@dataclass
class PlaygroundWorld:
    lb: Loopbacks
    bot: RatingsBot
    guild_id: int
    guild_name: str
    #: text channels by name, in the order shown
    channels: dict[str, int]
    members: list[Member]
    acting: int = 0
    apple_mode: str = "normal"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def discord(self) -> LoopbackDiscord:
        return self.lb.discord

    @property
    def apple(self) -> LoopbackApple:
        return self.lb.apple

    def member(self, member_id: int) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise web.HTTPBadRequest(text=json.dumps({"error": f"no member {member_id}"}), content_type="application/json")

    def act_as(self, member_id: int) -> Member:
        """The visitor acts as this member now: the stand-in MusicKit signs in as their Apple account."""
        member = self.member(member_id)
        self.acting = member.id
        self.lb.musickit.token = member.apple_token
        return member

    def set_apple_mode(self, mode: str) -> None:
        if mode not in APPLE_MODES:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"unknown mode {mode!r}"}), content_type="application/json"
            )
        apple = self.apple
        apple.stop_faults()
        apple.rate_limit(None)
        apple.set_latency(0.0)
        if mode == "slow":
            apple.set_latency(SLOW_SECONDS)
        elif mode == "limited":
            apple.rate_limit(0.2, burst=1)
        elif mode == "down":
            apple.inject_faults(1.0, (503,), seed=0)
        self.apple_mode = mode


# ------------------------------------------------------------------------------------------------ what is shown
def command_entries(discord: LoopbackDiscord, guild_id: int) -> list[JSON]:
    """The slash commands a member can pick, as Discord's picker lists them: one entry per leaf ("rating like"),
    with its options."""
    entries: list[JSON] = []
    synced = discord.commands.get(guild_id, []) + discord.commands.get(None, [])
    for command in synced:
        if int(command.get("type", 1)) != 1:
            continue
        entries.extend(_leaves(command["name"], command.get("description", ""), command.get("options") or []))
    return sorted(entries, key=lambda e: str(e["name"]))


def _leaves(name: str, description: str, options: list[JSON]) -> list[JSON]:
    subs = [o for o in options if o.get("type") in (1, 2)]
    if not subs:
        leaf = [
            {
                "name": o["name"],
                "description": o.get("description", ""),
                "type": o.get("type"),
                "required": bool(o.get("required")),
                "autocomplete": bool(o.get("autocomplete")),
                "choices": o.get("choices") or [],
            }
            for o in options
        ]
        return [{"name": name, "description": description, "options": leaf}]
    found: list[JSON] = []
    for sub in subs:
        found.extend(_leaves(f"{name} {sub['name']}", sub.get("description", ""), sub.get("options") or []))
    return found


def invoked_name(data: JSON) -> str:
    """ "rating like" from an interaction's ``data`` (the command and its subcommand group / subcommand)."""
    parts = [str(data.get("name", ""))]
    options = data.get("options") or []
    while options and options[0].get("type") in (1, 2):
        parts.append(str(options[0]["name"]))
        options = options[0].get("options") or []
    return " ".join(parts)


def visible_to(world: PlaygroundWorld, message: Message, viewer: int) -> bool:
    """Discord shows an ephemeral answer only to the member whose interaction it answers."""
    if not message.ephemeral:
        return True
    rec = world.discord.interactions.get(message.interaction_id or 0)
    return rec is not None and rec.user_id == viewer


def payload_of(message: Message) -> JSON:
    return {"content": message.content, "embeds": message.embeds, "components": message.components}


class Drawing:
    """Messages as HTML, with the shared renderer."""

    def __init__(self, modules: Path) -> None:
        self.emoji = Twemoji(modules)
        self.imports = import_map(modules)

    def page(self, world: PlaygroundWorld) -> Page:
        discord = world.discord
        names = {uid: u.global_name or u.username for uid, u in discord.users.items()}
        names.update({cid: c.name for cid, c in discord.channels.items() if c.name})
        now = time.time()
        md = Markdown(self.emoji, names, captured_at=now, shown_at=dt.datetime.fromtimestamp(now))
        return Page(md, self.emoji, self.imports)

    def message(self, world: PlaygroundWorld, page: Page, message: Message, viewer: int) -> JSON:
        discord = world.discord
        command = command_user = target = None
        command_type = "slash_command"
        rec = discord.interactions.get(message.interaction_id or 0)
        if rec is not None and rec.type == InteractionType.APPLICATION_COMMAND:
            command = invoked_name(rec.data)
            user = discord.users[rec.user_id]
            command_user = user.global_name or user.username
            if int(rec.data.get("type", 1)) == 3:
                command_type = "message_command"
                target_message = discord.messages.get(int(rec.data.get("target_id") or 0))
                if target_message is not None:
                    author = discord.users[target_message.author_id]
                    target = author.global_name or author.username
        shot = shot_of(
            message,
            discord.users,
            viewer=viewer,
            command=command,
            command_user=command_user,
            command_type=command_type,
            command_target=target,
        )
        if message.flags & LOADING:
            shot.content = f"*{shot.author} is thinking…*"
        return {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": shot.author,
            "bot": shot.bot,
            "ephemeral": message.ephemeral,
            "loading": bool(message.flags & LOADING),
            "html": page.message(shot),
            "payload": payload_of(message),
            "reactions": [
                {"emoji": emoji.get("name"), "count": count, "me": mine} for emoji, count, mine in shot.reactions
            ],
        }


# ------------------------------------------------------------------------------------------------------- app
def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{what} must be a number"}), content_type="application/json"
        ) from None


def _option_value(option: JSON | None, value: Any) -> Any:
    """A typed option value (the page sends text): integers, numbers and booleans as Discord sends them."""
    kind = (option or {}).get("type")
    with contextlib.suppress(TypeError, ValueError):
        if kind == 4:
            return int(value)
        if kind == 10:
            return float(value)
        if kind == 5:
            return str(value).lower() in ("1", "true", "yes")
        if kind in (6, 7, 8):
            return int(value)
    return value


class PlaygroundApp:
    """The aiohttp application (see the module docstring)."""

    def __init__(self, modules: Path) -> None:
        #: set once the bot is ready; until then every route but the assets answers 503
        self.world: PlaygroundWorld | None = None
        self.drawing = Drawing(modules)
        self.app = web.Application(middlewares=[self._headers])
        #: set when the server shuts down: open event streams end then (else shutdown would wait for them)
        self._closing = asyncio.Event()
        self.app.on_shutdown.append(self._close_streams)
        add_asset_routes(self.app, modules)
        r = self.app.router
        r.add_get("/", self._index)
        r.add_static("/static", STATIC)
        r.add_get("/api/state", self._state)
        r.add_get("/api/messages", self._messages)
        r.add_get("/api/apple", self._apple)
        r.add_get("/api/events", self._events)
        r.add_post("/api/member", self._member)
        r.add_post("/api/command", self._command)
        r.add_post("/api/autocomplete", self._autocomplete)
        r.add_post("/api/message", self._message)
        r.add_post("/api/reaction", self._reaction)
        r.add_post("/api/button", self._button)
        r.add_post("/api/apple-mode", self._apple_mode)

    @property
    def w(self) -> PlaygroundWorld:
        if self.world is None:
            raise web.HTTPServiceUnavailable(text="The playground is starting.", headers={"Retry-After": "1"})
        return self.world

    @web.middleware
    async def _headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        response.headers["X-Playground"] = "nothing here is real Discord or Apple"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _index(self, _: web.Request) -> web.Response:
        self.w  # noqa: B018 - 503 until the bot is ready
        text = (STATIC / "index.html").read_text(encoding="utf-8")
        text = text.replace("__IMPORTS__", json.dumps(self.drawing.imports))
        return web.Response(text=text, content_type="text/html")

    async def _state(self, _: web.Request) -> web.Response:
        w = self.w
        dms = {str(m.id): str(w.discord.dm_channel(m.id)) for m in w.members}
        return web.json_response(
            {
                "notice": "A playground: nothing here is real Discord or Apple. The bot is real.",
                "guild": {"id": str(w.guild_id), "name": w.guild_name},
                "channels": [{"id": str(cid), "name": name} for name, cid in w.channels.items()],
                "dm_channels": dms,
                "members": [{"id": str(m.id), "name": m.name} for m in w.members],
                "acting": str(w.acting),
                "bot": {"id": str(w.discord.bot_user_id), "name": w.discord.users[w.discord.bot_user_id].username},
                "commands": command_entries(w.discord, w.guild_id),
                "apple_mode": w.apple_mode,
                "apple_modes": APPLE_MODES,
                "ready": w.bot.is_ready(),
            }
        )

    async def _messages(self, request: web.Request) -> web.Response:
        w = self.w
        channel = _int(request.query.get("channel"), "channel")
        viewer = _int(request.query.get("member", w.acting), "member")
        if channel not in w.discord.channels:
            raise web.HTTPNotFound()
        ch = w.discord.channels[channel]
        if ch.guild_id is None and viewer not in (ch.recipient_ids or []):
            return web.json_response({"messages": []})  # someone else's DMs
        page = self.drawing.page(w)
        shown = [
            self.drawing.message(w, page, m, viewer)
            for m in w.discord.channel_messages(channel)
            if visible_to(w, m, viewer)
        ]
        return web.json_response({"messages": shown})

    async def _apple(self, _: web.Request) -> web.Response:
        w = self.w
        accounts = []
        for m in w.members:
            linked = await w.bot.svc.store.get_account(m.id) is not None
            ratings = []
            for rtype, rid, value in w.apple.ratings_of(m.apple_token):
                attrs = w.apple.catalog.get(rtype, {}).get(rid, {})
                ratings.append(
                    {
                        "type": rtype,
                        "id": rid,
                        "name": attrs.get("name", rid),
                        "artist": attrs.get("artistName") or attrs.get("curatorName") or "",
                        "value": value,
                    }
                )
            playlists = [
                {"name": pl["name"], "tracks": [self._song_name(tid) for tid in pl["tracks"]]}
                for pl in w.apple.library_playlists(m.apple_token)
            ]
            accounts.append(
                {"member": str(m.id), "name": m.name, "linked": linked, "ratings": ratings, "playlists": playlists}
            )
        refused = sum(1 for r in w.apple.requests if r.status is not None and (r.status == 429 or r.status >= 500))
        return web.json_response({"mode": w.apple_mode, "refused": refused, "accounts": accounts})

    def _song_name(self, song_id: str) -> str:
        return str(self.w.apple.catalog.get("songs", {}).get(song_id, {}).get("name", song_id))

    def _version(self) -> str:
        w = self.w
        d = w.discord
        reactions = sum(len(r.user_ids) for m in d.messages.values() for r in m.reactions.values())
        edits = sum(len(rec.original_edits) + len(rec.followup_ids) for rec in d.interactions.values())
        parts = (len(d.requests), len(d.callbacks), len(d.messages), reactions, edits, len(w.apple.requests))
        return hashlib.sha1(repr((parts, w.apple_mode, w.acting)).encode(), usedforsecurity=False).hexdigest()[:12]

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        last = ""
        with contextlib.suppress(ConnectionResetError):
            while not self._closing.is_set():
                version = self._version()
                if version != last:
                    last = version
                    await response.write(f"event: change\ndata: {version}\n\n".encode())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), WATCH_INTERVAL)
        return response

    async def _close_streams(self, _: web.Application) -> None:
        self._closing.set()

    async def _body(self, request: web.Request) -> JSON:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "a JSON object, please"}), content_type="application/json"
            )
        return body

    def _actor(self, body: JSON) -> int:
        return self.w.member(_int(body.get("member", self.w.acting), "member")).id

    async def _member(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        member = self.w.act_as(_int(body.get("member"), "member"))
        return web.json_response({"acting": str(member.id)})

    def _command_options(self, name: str, options: JSON) -> dict[str, Any]:
        entry = next((e for e in command_entries(self.w.discord, self.w.guild_id) if e["name"] == name), None)
        defs = {o["name"]: o for o in (entry or {}).get("options", [])}
        return {k: _option_value(defs.get(k), v) for k, v in options.items() if v not in ("", None)}

    async def _command(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = str(body.get("name", ""))
        channel = _int(body.get("channel"), "channel")
        options = self._command_options(name, body.get("options") or {})
        try:
            rec = await self.w.discord.send_command(name, self._actor(body), channel, options)
        except (LookupError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"interaction": str(rec.id)})

    async def _autocomplete(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = str(body.get("name", ""))
        focused = str(body.get("focused", ""))
        raw = dict(body.get("options") or {})
        options = self._command_options(name, {k: v for k, v in raw.items() if k != focused})
        options[focused] = str(raw.get(focused, ""))
        d = self.w.discord
        try:
            rec = await d.send_autocomplete(
                name, self._actor(body), _int(body.get("channel"), "channel"), options, focused
            )
            callback = await d.wait_for_callback(rec, timeout=d.interaction_deadline)
        except (LookupError, ValueError, TimeoutError) as exc:
            return web.json_response({"choices": [], "error": str(exc)})
        return web.json_response({"choices": (callback.data or {}).get("choices", [])})

    async def _message(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        content = str(body.get("content", "")).strip()
        if not content:
            return web.json_response({"error": "an empty message"}, status=400)
        msg = await self.w.discord.send_message(_int(body.get("channel"), "channel"), self._actor(body), content)
        return web.json_response({"message": str(msg.id)})

    async def _reaction(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        d = self.w.discord
        args = (_int(body.get("channel"), "channel"), _int(body.get("message"), "message"), self._actor(body))
        emoji = str(body.get("emoji", ""))
        done = await (d.add_reaction(*args, emoji) if body.get("on", True) else d.remove_reaction(*args, emoji))
        return web.json_response({"changed": done})

    async def _button(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            rec = await self.w.discord.send_component(
                self._actor(body),
                _int(body.get("channel"), "channel"),
                _int(body.get("message"), "message"),
                str(body.get("custom_id", "")),
            )
        except (LookupError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"interaction": str(rec.id)})

    async def _apple_mode(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.w.set_apple_mode(str(body.get("mode", "")))
        return web.json_response({"mode": self.w.apple_mode, "what": APPLE_MODES[self.w.apple_mode]})
