"""The loopback Discord in its own process (benchmarks): ``python -m loopback.discord``.

``python -m loopback.discord [--bot-token T] [--admin-host H] [--admin-port P] [--interaction-deadline S]``
starts the server with the default world (:meth:`LoopbackDiscord.populate_default_world`), prints ``listening on
<api_base> <gateway_url> <admin_url>`` and serves until SIGINT/SIGTERM (see :mod:`loopback.process`).
``POST <admin_url>/_admin/<op>`` with a JSON object of keyword arguments calls the whitelisted operation of that
name on :class:`DiscordAdmin` and answers ``{"result": ...}`` (errors: ``{"error": ...}``, 400/404). The admin API
listens on its own port, so the Discord routes are exactly those of the in-process server.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp import web

from loopback.admin import call_admin_op
from loopback.discord.model import JSON
from loopback.discord.server import LoopbackDiscord
from loopback.discord.world import GuildShape
from loopback.process import listen


class DiscordAdmin:
    """The admin operations of an out-of-process :class:`LoopbackDiscord` (benchmarks)."""

    OPS = frozenset(
        {
            "world",
            "add_guild",
            "add_populated_guilds",
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
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the server with the default world and the admin API; returns ``<api_base> <gateway_url>
        <admin_url>``."""
        await self.server.start()
        self.server.populate_default_world()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/_admin/{op}", self.handle)
        self._runner, admin_port = await listen(app, host, port, handle_signals=False)
        return f"{self.server.api_base} {self.server.gateway_url} http://{host}:{admin_port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.server.close()

    def world(self) -> JSON:
        s = self.server
        return {
            "guild_id": s.guild_id,
            "channel_id": s.channel_id,
            "alice_id": s.alice_id,
            "bot_user_id": s.bot_user_id,
            "application_id": s.application_id,
        }

    def add_guild(self, name: str, shard_id: int = 0, shard_count: int = 1) -> JSON:
        """A new guild with the bot in it, on shard ``shard_id`` of ``shard_count``, and a text channel "music":
        ``{"guild_id", "channel_id"}`` (benchmarks of several bot processes, one per shard)."""
        guild = self.server.add_guild(name, self.server.make_guild_id(int(shard_id), int(shard_count)))
        return {"guild_id": guild.id, "channel_id": self.server.add_text_channel(guild.id, "music")}

    def add_populated_guilds(self, count: int, seed: int = 0, shard_id: int = 0, shard_count: int = 1) -> JSON:
        """``count`` guilds as servers look (:meth:`GuildShape.varied` from ``seed``: channels, roles, emojis, members
        in voice, a crowd) with the bot in them, on shard ``shard_id`` of ``shard_count``: ``{"guild_ids",
        "channels", "roles", "emojis", "large"}`` (the ids, and totals over the guilds)."""
        rng = random.Random(seed)
        s = self.server
        guilds = [
            s.add_populated_guild(
                f"server {i}", GuildShape.varied(rng), s.make_guild_id(int(shard_id), int(shard_count))
            )
            for i in range(int(count))
        ]
        return {
            "guild_ids": [g.id for g in guilds],
            "channels": sum(len(g.channel_ids) for g in guilds),
            "roles": sum(len(g.roles) for g in guilds),
            "emojis": sum(len(g.emojis) for g in guilds),
            "large": sum(1 for g in guilds if g.member_count > 250),
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
