"""The world of the loopback Discord: users, guilds, roles and permissions, channels, messages and reactions.

:class:`World` is the bottom layer of :class:`~loopback.discord.server.LoopbackDiscord`: plain state and the
rules that need no network (effective permissions, mentions, which flags a message may carry). Tests build the
world with ``add_user``, ``add_guild``, ``add_text_channel``, ``add_member``, ... ; changes that connected gateway
sessions must hear about go through the ``_guild_created`` / ``_channel_created`` / ``_member_added`` /
``_role_updated`` hooks, which the gateway layer (:mod:`.gateway`) turns into dispatches. The JSON shapes of all
this live in :mod:`.payloads`.

The layers, bottom up: world → payloads → gateway → events → interactions → rest → routes → responses → server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopback.discord.model import (
    JSON,
    Channel,
    ChannelType,
    Emoji,
    Guild,
    InteractionRecord,
    Member,
    Message,
    MessageFlags,
    Permissions,
    Reaction,
    Role,
    SnowflakeGenerator,
    User,
    emoji_key,
)

_EDITABLE_FLAGS = (1 << 2) | MessageFlags.IS_COMPONENTS_V2  # SUPPRESS_EMBEDS, IS_COMPONENTS_V2
_SENDABLE_FLAGS = _EDITABLE_FLAGS | MessageFlags.EPHEMERAL | (1 << 12)  # + SUPPRESS_NOTIFICATIONS
_MENTION = re.compile(r"<@!?(\d+)>")


@dataclass(frozen=True)
class GuildShape:
    """What a populated guild holds (:meth:`World.add_populated_guild`). The defaults are a typical community server
    that adds a music bot: a few dozen channels in four categories, about 20 roles and 30 custom emojis."""

    categories: int = 4
    text_channels: int = 24
    voice_channels: int = 6
    roles: int = 20  # with @everyone and the bot's own role
    emojis: int = 30
    in_voice: int = 2  # members sitting in voice channels (sent in GUILD_CREATE whatever the intents)
    member_count: int = 120

    @classmethod
    def varied(cls, rng: random.Random) -> GuildShape:
        """A shape around the defaults, as servers differ (``rng`` seeded: the same seed, the same servers): members
        from 5 to 20,000, most servers small (median 40), about a third ``large`` at discord.py's threshold (250)."""
        return cls(
            categories=rng.randint(2, 6),
            text_channels=rng.randint(12, 36),
            voice_channels=rng.randint(2, 10),
            roles=rng.randint(10, 30),
            emojis=rng.randint(10, 50),
            in_voice=rng.randint(0, 4),
            member_count=round(5 * 4000 ** (rng.random() ** 2)),
        )


class World:
    """Users, guilds, channels, messages and commands, with the bot and its application (see the module docstring)."""

    def __init__(
        self,
        *,
        bot_token: str,
        application_id: int | None,
        bot_user_id: int | None,
        bot_name: str,
        privileged_intents: int,
    ) -> None:
        self._ids = SnowflakeGenerator()
        self.bot_token = bot_token
        self.application_id = application_id or self._ids.next()
        self.bot_user_id = bot_user_id or self._ids.next()
        #: The privileged intents enabled "in the developer portal"; IDENTIFY asking for others → close 4014.
        self.privileged_intents = privileged_intents
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.commands: dict[int | None, list[JSON]] = {}  # None → global commands
        self.interactions: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}
        self._dm_by_user: dict[int, int] = {}
        #: attachment id -> the bytes uploaded (served at the attachment's ``url``, as Discord's CDN does)
        self.attachment_data: dict[int, bytes] = {}
        self.app_owner_id = self._ids.next()
        self.users[self.bot_user_id] = User(self.bot_user_id, bot_name, bot=True)
        self.users[self.app_owner_id] = User(self.app_owner_id, "app-owner")
        self.verify_key = secrets.token_hex(32)
        #: The port the server listens on (0 until started); attachment URLs point there.
        self.port = 0
        #: Ids of the default world (see :meth:`populate_default_world`); 0 until it is built.
        self.guild_id = 0
        self.channel_id = 0
        self.alice_id = 0
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------------------------- change signal
    # Every layer calls ``_notify`` after a change a test may wait for; ``_wait_until`` re-checks then.
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
            self._guild_created(guild)
        return guild

    def _add_bot_to_guild(self, guild: Guild, permissions: int) -> None:
        role = Role(self._ids.next(), self.users[self.bot_user_id].username, permissions, 1, managed=True)
        role.bot_id = self.bot_user_id
        guild.roles[role.id] = role
        guild.bot_role_id = role.id
        guild.bot_joined_at = dt.datetime.now(dt.UTC)
        guild.members[self.bot_user_id] = Member(self.bot_user_id, [role.id], guild.bot_joined_at)

    def remove_bot_from_guild(self, guild_id: int) -> None:
        """The bot is removed from the guild (kicked or banned by an admin, or it left): it is no longer a member, its
        managed role goes, and its shard gets a GUILD_DELETE without ``unavailable``, as Discord sends."""
        guild = self._guild(guild_id)
        if not self._bot_in(guild):
            raise ValueError("the bot is not in this guild")
        del guild.members[self.bot_user_id]
        if guild.bot_role_id is not None:
            guild.roles.pop(guild.bot_role_id, None)
            guild.bot_role_id = None
        self._guild_deleted(guild)

    def add_bot_to_guild(self, guild_id: int, permissions: int = Permissions.BOT_DEFAULT) -> None:
        """The bot is invited (again) to an existing guild: its shard gets a GUILD_CREATE."""
        guild = self._guild(guild_id)
        if self._bot_in(guild):
            raise ValueError("the bot is already in this guild")
        self._add_bot_to_guild(guild, permissions)
        self._guild_created(guild)

    def add_text_channel(self, guild_id: int, name: str) -> int:
        return self.add_channel(guild_id, name)

    def add_channel(
        self,
        guild_id: int,
        name: str,
        type_: int = ChannelType.GUILD_TEXT,
        *,
        parent_id: int | None = None,
        overwrites: list[JSON] | None = None,
    ) -> int:
        """A guild channel (text, voice or category; ``parent_id``: its category) at the end of the list."""
        guild = self._guild(guild_id)
        if type_ not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_VOICE, ChannelType.GUILD_CATEGORY):
            raise ValueError(f"not a guild channel type the loopback models: {type_}")
        if parent_id is not None and self.channels[parent_id].type != ChannelType.GUILD_CATEGORY:
            raise ValueError("a channel's parent is a category")
        channel = Channel(
            self._ids.next(),
            type_,
            guild_id=guild_id,
            name=name,
            position=len(guild.channel_ids),
            parent_id=parent_id,
            overwrites=list(overwrites or []),
        )
        self.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        if self._bot_in(guild):
            self._channel_created(channel)
        return channel.id

    def add_role(self, guild_id: int, name: str, permissions: int = 0, **style: Any) -> int:
        """A role (above the others) that no member holds yet; ``style``: ``color``, ``hoist``, ``mentionable``."""
        guild = self._guild(guild_id)
        role = Role(self._ids.next(), name, permissions, position=len(guild.roles), **style)
        guild.roles[role.id] = role
        return role.id

    def join_voice(self, guild_id: int, user_id: int, channel_id: int) -> None:
        """A member sits in a voice channel (GUILD_CREATE's ``voice_states``; no VOICE_STATE_UPDATE is sent)."""
        guild = self._guild(guild_id)
        self._member(guild, user_id)
        if self.channels[channel_id].type != ChannelType.GUILD_VOICE or channel_id not in guild.channel_ids:
            raise ValueError(f"{channel_id} is not a voice channel of guild {guild_id}")
        guild.voice_states[user_id] = channel_id

    def add_populated_guild(self, name: str, shape: GuildShape, guild_id: int | None = None) -> Guild:
        """A guild as servers that add a bot look: ``shape``'s categories, text and voice channels (a "Staff" role
        allowed to manage messages in each, as a permission overwrite), roles, custom emojis, members sitting in
        voice and a crowd of members not modelled one by one. The bot is a member; its shard hears GUILD_CREATE
        once, with everything in it."""
        guild = self.add_guild(name, guild_id, with_bot=False)
        gid = guild.id
        staff = self.add_role(gid, "Staff", Permissions.MANAGE_MESSAGES, color=0x3498DB, hoist=True, mentionable=True)
        for i in range(shape.roles - 3):  # @everyone, Staff and the bot's own role make up the rest
            self.add_role(gid, f"role-{i}", 0, color=(i * 0x1F3D5B) & 0xFFFFFF, hoist=i % 5 == 0)
        overwrite = {"id": str(staff), "type": 0, "allow": str(Permissions.MANAGE_MESSAGES), "deny": "0"}
        categories = [
            self.add_channel(gid, f"category-{i}", ChannelType.GUILD_CATEGORY, overwrites=[overwrite])
            for i in range(shape.categories)
        ]

        def parent(i: int) -> int | None:
            return categories[i % len(categories)] if categories else None

        for i in range(shape.text_channels):
            self.add_channel(gid, "general" if i == 0 else f"text-{i}", parent_id=parent(i), overwrites=[overwrite])
        voice = [
            self.add_channel(gid, f"voice-{i}", ChannelType.GUILD_VOICE, parent_id=parent(i), overwrites=[overwrite])
            for i in range(shape.voice_channels)
        ]
        for i in range(shape.emojis):
            self.add_emoji(gid, f"emoji_{i}", animated=i % 6 == 0)
        for i in range(shape.in_voice if voice else 0):
            uid = self.add_user(f"{name} talker {i}")
            self.add_member(gid, uid, permissions=0)
            self.join_voice(gid, uid, voice[i % len(voice)])
        guild.crowd = max(0, shape.member_count - len(guild.members) - 1)  # the bot, added next, counts too
        self._add_bot_to_guild(guild, Permissions.BOT_DEFAULT)
        self._guild_created(guild)
        return guild

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
            self._member_added(guild, user_id)

    def set_member_permissions(self, guild_id: int, user_id: int, permissions: int) -> None:
        guild = self._guild(guild_id)
        member = self._member(guild, user_id)
        own = [rid for rid in member.role_ids if not guild.roles[rid].managed]
        if own:
            guild.roles[own[0]].permissions = permissions
            self._role_updated(guild, guild.roles[own[0]])
        else:
            self.add_member(guild_id, user_id, permissions)

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        """Sets the bot's managed role permissions (dispatches GUILD_ROLE_UPDATE to connected sessions)."""
        guild = self._guild(guild_id)
        if guild.bot_role_id is None:
            raise ValueError("the bot is not in this guild")
        role = guild.roles[guild.bot_role_id]
        role.permissions = permissions
        self._role_updated(guild, role)

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

    # ----------------------------------------------------------------------------- hooks for the gateway
    # A world alone tells nobody; :class:`~loopback.discord.gateway.Gateway` dispatches these changes to the
    # connected sessions, in order, after the dispatches already scheduled.
    def _guild_created(self, guild: Guild) -> None:
        """The bot joined ``guild`` (GUILD_CREATE)."""

    def _guild_deleted(self, guild: Guild) -> None:
        """The bot was removed from ``guild`` (GUILD_DELETE without ``unavailable``)."""

    def _channel_created(self, channel: Channel) -> None:
        """A channel appeared in a guild the bot is in (CHANNEL_CREATE)."""

    def _member_added(self, guild: Guild, user_id: int) -> None:
        """A user joined a guild the bot is in (GUILD_MEMBER_ADD)."""

    def _role_updated(self, guild: Guild, role: Role) -> None:
        """A role's permissions changed (GUILD_ROLE_UPDATE)."""

    # ---------------------------------------------------------------------------------- messages (storage)
    # Storing a message and applying a create/edit body to it; dispatching is the events layer's business.
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
        self.attachment_data[aid] = bytes(upload.get("data") or b"")
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

    def attachment_bytes(self, attachment: JSON) -> bytes:
        """The bytes uploaded for an attachment of a message (as its ``url`` serves them)."""
        return self.attachment_data[int(attachment["id"])]

    def _message_in(self, channel_id: int, message_id: int) -> Message:
        msg = self.messages.get(message_id)
        if msg is None or msg.channel_id != channel_id or msg.deleted:
            raise ValueError(f"unknown message {message_id} in channel {channel_id}")
        return msg

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
