"""What users do in the loopback Discord, and how messages and reactions reach the bot.

:class:`Events` is the event-injection API tests call: a user posts, edits or deletes a message, adds or removes
a reaction. Each change is stored, then dispatched to the sessions of the right shard with Discord's rules: the
MESSAGE_CONTENT rule (``_strip_for``), ephemeral messages never dispatched, ``member`` only on a guild reaction
add. The bot's own messages and reactions (REST) are dispatched by the same ``_dispatch_message`` /
``_dispatch_reaction``.
"""

from __future__ import annotations

import datetime as dt

from loopback.discord.gateway import Gateway
from loopback.discord.model import JSON, Intents, Message, parse_emoji


class Events(Gateway):
    """Message and reaction events (see the module docstring)."""

    # --------------------------------------------------------------------------------------- what users do
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

    async def bulk_delete_messages(self, channel_id: int, message_ids: list[int]) -> None:
        """A moderator deletes several messages at once (a client's purge, or a ban that deletes a member's
        recent messages): MESSAGE_DELETE_BULK with every id, one event."""
        msgs = [self._message_in(channel_id, mid) for mid in message_ids]
        for msg in msgs:
            msg.deleted = True
        await self._dispatch_bulk_delete(channel_id, [m for m in msgs if not m.ephemeral])

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

    # --------------------------------------------------------------------------- dispatching messages & reactions
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

    async def _dispatch_bulk_delete(self, channel_id: int, msgs: list[Message]) -> None:
        """MESSAGE_DELETE_BULK: ``ids``, ``channel_id`` and, in a guild, ``guild_id`` (GUILD_MESSAGES intent)."""
        if not msgs:
            return
        await self._drain()
        guild_id = self.channels[channel_id].guild_id
        intent = Intents.GUILD_MESSAGES if guild_id is not None else Intents.DIRECT_MESSAGES
        data: JSON = {"ids": [str(m.id) for m in msgs], "channel_id": str(channel_id)}
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        await self._dispatch_guild_event(guild_id, "MESSAGE_DELETE_BULK", intent, lambda _s: data)

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
