"""The loopback Discord: :class:`LoopbackDiscord`, REST API + gateway on 127.0.0.1, for the real discord.py.

It is built in layers, one module each, bottom up; each class extends the one before (read the one you need):

* :mod:`.world` — users, guilds, roles/permissions, channels, messages, reactions (plain state and rules)
* :mod:`.payloads` — Discord's JSON for all of that
* :mod:`.gateway` — websockets, HELLO/IDENTIFY/RESUME, zlib-stream, sessions, shards, ordered dispatch
* :mod:`.events` — what users do (post, edit, delete, react) and how messages and reactions are dispatched
* :mod:`.interactions` — synced commands; sending interactions; the interaction clock and deadline
* :mod:`.rest` — REST plumbing: routing, auth, recording, errors, rate-limit headers, failures, latency
* :mod:`.routes` — REST resources: gateway discovery, users, application commands, guilds, channels, messages
* :mod:`.responses` — interaction callbacks (deadline, double ack), follow-ups and ``@original`` webhooks
* :mod:`.oauth2` — OAuth2: the browser's sign-in, the authorize page, token exchange and revocation, Bearer ``@me``
* this module — the constructor (every setting), start/close, the route table, ``wait_for_*``

:mod:`.model` and :mod:`.validation` hold the records and Discord's checks; :mod:`.clients` points discord.py at
a server; :mod:`.admin` and ``__main__`` run it as its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from loopback.discord.gateway import GatewaySession
from loopback.discord.model import JSON, CallbackRecord, Intents, InteractionRecord, Message, RecordedRequest
from loopback.discord.oauth2 import OAuth2
from loopback.process import listen


class LoopbackDiscord(OAuth2):
    """The loopback Discord (see the package docstring). Settings are constructor arguments, kept as attributes of
    the same name (tests may change most of them later, e.g. ``server.privileged_intents = 0``).

    ``interaction_deadline`` (Discord: 3 s) and ``interaction_token_lifetime`` (15 min) are seconds of ``clock``
    (default ``time.monotonic``): a test about them passes a clock it moves. ``max_concurrency`` is what
    ``GET /gateway/bot`` reports in ``session_start_limit``, and what the gateway's identify budget is counted by
    (one IDENTIFY per 5 s of ``clock`` per bucket ``shard_id % max_concurrency``). ``oauth2_code_lifetime`` is how
    long (seconds of ``clock``) an OAuth2 authorization code can be exchanged.
    """

    def __init__(
        self,
        bot_token: str = "loopback-bot-token",
        application_id: int | None = None,
        bot_user_id: int | None = None,
        *,
        bot_name: str = "Loopback Bot",
        heartbeat_interval: int = 41250,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        interaction_deadline: float = 3.0,
        interaction_token_lifetime: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
        privileged_intents: int = Intents.PRIVILEGED,
        gateway_compression: bool = True,
        max_guilds_per_shard: int = 2500,
        oauth2_code_lifetime: float = 600.0,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            application_id=application_id,
            bot_user_id=bot_user_id,
            bot_name=bot_name,
            privileged_intents=privileged_intents,
            heartbeat_interval=heartbeat_interval,
            recommended_shards=recommended_shards,
            max_concurrency=max_concurrency,
            gateway_compression=gateway_compression,
            max_guilds_per_shard=max_guilds_per_shard,
            interaction_deadline=interaction_deadline,
            interaction_token_lifetime=interaction_token_lifetime,
            clock=clock,
            oauth2_code_lifetime=oauth2_code_lifetime,
        )
        self._register_routes()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._rest_handler)
        app.router.add_get("/", self._gateway_handler)
        app.router.add_get("/resume", self._gateway_handler)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment_handler)
        self._add_oauth2_routes(app)
        self._runner, self.port = await listen(app, handle_signals=False)

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

    async def _attachment_handler(self, request: web.Request) -> web.Response:
        """An attachment's ``url`` (Discord's CDN): the bytes uploaded, or 404."""
        try:
            data = self.attachment_data[int(request.match_info["attachment_id"])]
        except (KeyError, ValueError):
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def __aenter__(self) -> LoopbackDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<LoopbackDiscord port={self.port} guilds={len(self.guilds)} sessions={len(self.sessions)}>"

    # ----------------------------------------------------------------------------------------- REST routes
    def _register_routes(self) -> None:
        r = self._route
        r("GET", "/gateway", self._h_gateway, auth=False)
        r("GET", "/gateway/bot", self._h_gateway_bot)
        r("GET", "/users/@me", self._h_me, auth=False)  # Bot or Bearer: the handler checks (see .oauth2)
        r("GET", "/users/@me/guilds", self._h_my_guilds)
        r("DELETE", "/users/@me/guilds/{guild_id}", self._h_leave_guild)
        r("POST", "/users/@me/channels", self._h_create_dm)
        r("GET", "/users/{user_id}", self._h_user)
        r("GET", "/oauth2/applications/@me", self._h_application)
        r("GET", "/applications/@me", self._h_application)
        self._register_oauth2_routes()
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
        r("POST", "/channels/{channel_id}/messages/bulk-delete", self._h_bulk_delete)
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

    # --------------------------------------------------------------------------------------------- waiting
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
        mid: int = await self._wait_for_item(rec.followup_ids, index, timeout, f"follow-up #{index} of {rec.id}")
        return self.messages[mid]

    async def wait_for_original_edit(
        self, interaction: InteractionRecord | int, index: int = 0, timeout: float = 5.0
    ) -> JSON:
        """The body of the ``index``-th accepted PATCH of ``@original`` (the stored message is up to date)."""
        rec = self._interaction(interaction)
        what = f"edit #{index} of @original of {rec.id}"
        body: JSON = await self._wait_for_item(rec.original_edits, index, timeout, what)
        return body

    async def _wait_for_item(self, items: list[Any], index: int, timeout: float, what: str) -> Any:
        """``items[index]`` once the list (which the server appends to) is long enough."""
        return await self._wait_until(lambda: items[index] if len(items) > index else None, timeout, what)

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
