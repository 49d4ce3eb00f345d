"""The loopback Discord's REST resources: gateway discovery, users, the application and its commands, guilds,
channels, messages, reactions.

Each handler takes the request's :class:`~loopback.discord.rest.Ctx` and answers ``(status, body)`` with
Discord's documented JSON, or raises :class:`~loopback.discord.rest.DiscordApiError` with Discord's code
(10003 Unknown Channel, 10008 Unknown Message, 50013 Missing Permissions, 50035 Invalid Form Body, ...).
Permissions are the bot's effective guild permissions (no channel overwrites). The route table is
:meth:`~loopback.discord.server.LoopbackDiscord._register_routes`; interaction callbacks and webhooks are in
:mod:`.responses`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from loopback.discord.model import JSON, Intents, Permissions, emoji_key, snowflake_time
from loopback.discord.rest import (
    MISSING_ACCESS,
    Ctx,
    DiscordApiError,
    Rest,
    invalid_form,
    query_flag,
    unknown,
)
from loopback.discord.validation import FormErrors, validate_commands


class Routes(Rest):
    """REST resource handlers (see the module docstring)."""

    # gateway / users / application ---------------------------------------------------------------------
    async def _h_gateway(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url.rstrip("/")}

    async def _h_gateway_bot(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url.rstrip("/"),
            "shards": self.recommended_shards,
            "session_start_limit": {
                "total": self.session_start_total,
                "remaining": self.session_start_remaining,
                "reset_after": 86_400_000,
                "max_concurrency": self.max_concurrency,
            },
        }

    async def _h_me(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, {
            **self.users[self.bot_user_id].to_dict(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }

    async def _h_my_guilds(self, ctx: Ctx) -> tuple[int, Any]:
        """Discord's ``GET /users/@me/guilds``: ``limit`` 1 to 200 (default 200), ``before``/``after`` a guild id,
        in id order; ``permissions`` is the bot's in the guild (roles only, as Discord documents)."""
        try:
            limit = int(ctx.query.get("limit", "200"))
            before = int(ctx.query["before"]) if "before" in ctx.query else None
            after = int(ctx.query.get("after", "0"))
        except ValueError:
            errors = FormErrors()
            errors.add(["limit"], "NUMBER_TYPE_COERCE", "Value is not int.")
            raise invalid_form(errors) from None
        if not 1 <= limit <= 200:
            errors = FormErrors()
            errors.add(["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 200.")
            raise invalid_form(errors)
        mine = sorted((g for g in self.guilds.values() if self._bot_in(g)), key=lambda g: g.id)
        if before is not None:
            guilds = [g for g in mine if g.id < before][-limit:]
        else:
            guilds = [g for g in mine if g.id > after][:limit]
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

    async def _h_user(self, ctx: Ctx) -> tuple[int, Any]:
        try:
            return 200, self.users[ctx.int_param("user_id")].to_dict()
        except (KeyError, ValueError):
            raise unknown("User", 10013) from None

    async def _h_leave_guild(self, ctx: Ctx) -> tuple[int, Any]:
        """``DELETE /users/@me/guilds/{guild_id}``: the bot leaves; 204, and a GUILD_DELETE to its shard."""
        guild = self._rest_guild(ctx)
        self.remove_bot_from_guild(guild.id)
        return 204, None

    async def _h_create_dm(self, ctx: Ctx) -> tuple[int, Any]:
        body = ctx.json_object()
        try:
            user_id = int(body["recipient_id"])
            self.users[user_id]
        except (KeyError, ValueError, TypeError):
            raise unknown("User", 10013) from None
        return 200, self._channel_payload(self.channels[self.dm_channel(user_id)])

    async def _h_application(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._application_payload()

    # commands --------------------------------------------------------------------------------------------
    def _command_scope(self, ctx: Ctx) -> int | None:
        if ctx.params["app_id"] != str(self.application_id):
            raise DiscordApiError(*MISSING_ACCESS)
        if "guild_id" in ctx.params:
            return self._rest_guild(ctx).id
        return None

    async def _h_get_commands(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self.commands.get(self._command_scope(ctx), [])

    async def _h_put_commands(self, ctx: Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        errors = validate_commands(ctx.body)
        if errors:
            raise invalid_form(errors)
        return 200, self._overwrite_commands(ctx.body, scope)

    async def _h_post_command(self, ctx: Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        body = ctx.json_object()
        errors = validate_commands([body])
        if errors:
            raise invalid_form(errors)
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

    def _find_command_by_id(self, ctx: Ctx, scope: int | None) -> JSON:
        for command in self.commands.get(scope, []):
            if command["id"] == ctx.params["command_id"]:
                return command
        raise unknown("application command", 10063)

    async def _h_get_command(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._find_command_by_id(ctx, self._command_scope(ctx))

    async def _h_patch_command(self, ctx: Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        command = self._find_command_by_id(ctx, scope)
        merged = {**command, **ctx.json_object()}
        errors = validate_commands([merged])
        if errors:
            raise invalid_form(errors)
        obj = self._command_object(merged, scope, int(command["id"]), self._ids.next())
        self.commands[scope] = [obj if c is command else c for c in self.commands[scope]]
        return 200, obj

    async def _h_delete_command(self, ctx: Ctx) -> tuple[int, Any]:
        scope = self._command_scope(ctx)
        command = self._find_command_by_id(ctx, scope)
        self.commands[scope] = [c for c in self.commands[scope] if c is not command]
        return 204, None

    # guilds ------------------------------------------------------------------------------------------------
    async def _h_guild(self, ctx: Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        data = self._guild_payload(guild)
        if query_flag(ctx.query.get("with_counts")):
            data["approximate_member_count"] = guild.member_count
            data["approximate_presence_count"] = 0
        return 200, data

    async def _h_guild_channels(self, ctx: Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        return 200, [self._channel_payload(self.channels[c]) for c in guild.channel_ids]

    async def _h_guild_roles(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, [r.to_dict() for r in self._rest_guild(ctx).roles.values()]

    async def _h_guild_members(self, ctx: Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        if not self.privileged_intents & Intents.GUILD_MEMBERS:
            raise DiscordApiError(*MISSING_ACCESS)
        limit = int(ctx.query.get("limit", "1"))
        after = int(ctx.query.get("after", "0"))
        if not 1 <= limit <= 1000:
            errors = FormErrors()
            errors.add(["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 1000.")
            raise invalid_form(errors)
        ids = sorted(u for u in guild.members if u > after)[:limit]
        return 200, [self._member_payload(guild, u) for u in ids]

    async def _h_guild_member(self, ctx: Ctx) -> tuple[int, Any]:
        guild = self._rest_guild(ctx)
        try:
            user_id = ctx.int_param("user_id")
        except ValueError:
            raise unknown("Member", 10007) from None
        if user_id not in guild.members:
            raise unknown("Member", 10007)
        return 200, self._member_payload(guild, user_id)

    # channels & messages --------------------------------------------------------------------------------
    async def _h_channel(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._channel_payload(self._rest_channel(ctx))

    async def _h_typing(self, ctx: Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        if channel.guild_id is not None:
            self._require(channel, Permissions.SEND_MESSAGES)
        return 204, None

    async def _h_list_messages(self, ctx: Ctx) -> tuple[int, Any]:
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
            raise invalid_form(errors)
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

    async def _h_get_message(self, ctx: Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        self._require(channel, Permissions.READ_MESSAGE_HISTORY)
        msg = self._rest_message(ctx, channel)
        strip = not self.privileged_intents & Intents.MESSAGE_CONTENT and self._strip_for(msg, 0)
        return 200, self._message_payload(msg, strip_content=strip)

    async def _h_create_message(self, ctx: Ctx) -> tuple[int, Any]:
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
                    raise invalid_form(errors)
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

    async def _h_edit_message(self, ctx: Ctx) -> tuple[int, Any]:
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

    async def _h_delete_message(self, ctx: Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        if msg.author_id != self.bot_user_id:
            if channel.guild_id is None:
                raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
            self._require(channel, Permissions.MANAGE_MESSAGES)
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)
        return 204, None

    async def _h_bulk_delete(self, ctx: Ctx) -> tuple[int, Any]:
        """Discord's bulk delete: 2 to 100 distinct ids, Manage Messages, none older than two weeks (ids of
        messages that do not exist count, and are skipped); guild channels only; one MESSAGE_DELETE_BULK."""
        channel = self._rest_channel(ctx)
        if channel.guild_id is None:
            raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
        self._require(channel, Permissions.MANAGE_MESSAGES)
        ids = ctx.json_object().get("messages")
        errors = FormErrors()
        if not isinstance(ids, list) or not 2 <= len(ids) <= 100:
            errors.add(["messages"], "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
            raise invalid_form(errors)
        try:
            wanted = [int(i) for i in ids]
        except (TypeError, ValueError):
            errors.add(["messages"], "NUMBER_TYPE_COERCE", "Value is not snowflake.")
            raise invalid_form(errors) from None
        if len(set(wanted)) != len(wanted):
            raise DiscordApiError(400, 50016, "Provided too few or too many messages to delete.")
        two_weeks_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=14)
        if any(snowflake_time(i) < two_weeks_ago for i in wanted):
            raise DiscordApiError(400, 50034, "You can only bulk delete messages that are under 14 days old.")
        found = [m for i in wanted if (m := self.messages.get(i)) and m.channel_id == channel.id and not m.deleted]
        for msg in found:
            msg.deleted = True
        await self._dispatch_bulk_delete(channel.id, [m for m in found if not m.ephemeral])
        return 204, None

    # reactions ----------------------------------------------------------------------------------------------
    async def _h_add_own_reaction(self, ctx: Ctx) -> tuple[int, Any]:
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

    async def _h_remove_own_reaction(self, ctx: Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        if self._drop_reaction(msg, self.bot_user_id, emoji):
            await self._dispatch_reaction(msg, self.bot_user_id, emoji, add=False)
        return 204, None

    async def _h_remove_user_reaction(self, ctx: Ctx) -> tuple[int, Any]:
        channel = self._rest_channel(ctx)
        msg = self._rest_message(ctx, channel)
        emoji = self._rest_emoji(ctx)
        try:
            user_id = ctx.int_param("user_id")
        except ValueError:
            raise unknown("User", 10013) from None
        if user_id != self.bot_user_id:
            if channel.guild_id is None:
                raise DiscordApiError(403, 50003, "Cannot execute action on a DM channel")
            self._require(channel, Permissions.MANAGE_MESSAGES)
        if self._drop_reaction(msg, user_id, emoji):
            await self._dispatch_reaction(msg, user_id, emoji, add=False)
        return 204, None

    async def _h_list_reactions(self, ctx: Ctx) -> tuple[int, Any]:
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
            raise invalid_form(errors)
        if ctx.query.get("type", "0") == "1":  # burst reactions: none in the loopback
            return 200, []
        reaction = msg.reactions.get(emoji_key(emoji))
        user_ids = sorted(u for u in (reaction.user_ids if reaction else []) if u > after)[:limit]
        return 200, [self.users[u].to_dict() for u in user_ids]

    async def _h_clear_emoji(self, ctx: Ctx) -> tuple[int, Any]:
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

    async def _h_clear_reactions(self, ctx: Ctx) -> tuple[int, Any]:
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
