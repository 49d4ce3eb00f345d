"""The loopback Discord's data: constants (intents, permissions, flags, opcodes), snowflakes and the records the
server keeps (users, guilds, channels, messages, interactions, what clients sent).

Everything here is plain data: no aiohttp, no discord.py. :mod:`.payloads` turns these records into Discord's
documented JSON; :mod:`.validation` holds Discord's checks on what a client sends.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

JSON = dict[str, Any]

#: What recordings show in place of a secret (the bot token in IDENTIFY/RESUME, ``Authorization`` headers).
REDACTED = "[redacted]"


# --------------------------------------------------------------------------------------------------- intents
class Intents:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
    ALL = (1 << 26) - 1


# ----------------------------------------------------------------------------------------------- permissions
class Permissions:
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1

    #: What the @everyone role of a new loopback guild grants (kept small so per-member roles decide).
    EVERYONE_DEFAULT = VIEW_CHANNEL | READ_MESSAGE_HISTORY
    #: What a bot invited with the usual scopes gets (no MANAGE_MESSAGES).
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | ADD_REACTIONS
        | READ_MESSAGE_HISTORY
        | EMBED_LINKS
        | ATTACH_FILES
        | USE_EXTERNAL_EMOJIS
        | USE_APPLICATION_COMMANDS
    )
    #: A typical human member (given through the member's own role): a bot's grant, and threads.
    MEMBER_DEFAULT = BOT_DEFAULT | SEND_MESSAGES_IN_THREADS
    #: What Discord reports as ``app_permissions`` in a DM (the same set as a bot's usual grant).
    DM = BOT_DEFAULT


class MessageFlags:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    IS_COMPONENTS_V2 = 1 << 15


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
    MODAL = 9
    LAUNCH_ACTIVITY = 12


#: Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    InteractionType.APPLICATION_COMMAND: frozenset({4, 5, 9, 12}),
    InteractionType.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    InteractionType.AUTOCOMPLETE: frozenset({8}),
    InteractionType.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


# ------------------------------------------------------------------------------------------------ snowflakes
class SnowflakeGenerator:
    """Timestamp-based, strictly increasing snowflakes: ``(ms - EPOCH) << 22 | worker | process | inc``."""

    def __init__(self, worker_id: int = 1, process_id: int = 0) -> None:
        self._worker = worker_id & 0x1F
        self._process = process_id & 0x1F
        self._last_ms = 0
        self._inc = 0

    def next(self) -> int:
        ms = int(time.time() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._inc += 1
            if self._inc > 0xFFF:
                ms += 1
                self._inc = 0
        else:
            self._inc = 0
        self._last_ms = ms
        return ((ms - DISCORD_EPOCH_MS) << 22) | (self._worker << 17) | (self._process << 12) | self._inc

    def for_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh snowflake whose ``(id >> 22) % shard_count == shard_id`` (for guild ids in shard tests)."""
        value = self.next()
        offset = (shard_id - (value >> 22)) % shard_count
        if not offset:
            return value
        self._last_ms += offset  # a few ms ahead: still unique and increasing
        self._inc = 0
        return ((self._last_ms - DISCORD_EPOCH_MS) << 22) | (self._worker << 17) | (self._process << 12)


def snowflake_time(snowflake: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def shard_for_guild(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


# -------------------------------------------------------------------------------------------------- records
@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    dms_open: bool = True
    global_name: str | None = None
    locale: str = "en-US"
    avatar: str | None = None  # an avatar hash (CDN ``avatars/{id}/{hash}.png``); None: the default avatar

    def to_dict(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None
    color: int = 0
    hoist: bool = False
    mentionable: bool = False

    def to_dict(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    user_id: int
    role_ids: list[int]
    joined_at: dt.datetime
    nick: str | None = None


@dataclass
class Emoji:
    id: int
    name: str
    animated: bool = False

    def to_dict(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "roles": [],
            "require_colons": True,
            "managed": False,
            "animated": self.animated,
            "available": True,
        }


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4


@dataclass
class Channel:
    id: int
    type: int  # a :class:`ChannelType`: 0 guild text, 1 DM, 2 guild voice, 4 category
    guild_id: int | None = None
    name: str | None = None
    position: int = 0
    recipient_ids: list[int] = field(default_factory=list)
    last_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    parent_id: int | None = None  # the category a guild channel is in
    #: Discord's ``permission_overwrites`` objects (``{"id", "type", "allow", "deny"}``); shown to clients only, the
    #: world's permission rules (:meth:`World.member_permissions`) do not apply them
    overwrites: list[JSON] = field(default_factory=list)


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    everyone_permissions: int
    bot_role_id: int | None = None
    preferred_locale: str = "en-US"
    channel_ids: list[int] = field(default_factory=list)
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    emojis: dict[int, Emoji] = field(default_factory=dict)
    bot_joined_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: members counted in ``member_count`` (and ``large``) but not modelled one by one: a big server's crowd
    crowd: int = 0
    #: who is in which voice channel now (user id -> channel id): GUILD_CREATE's ``voice_states``
    voice_states: dict[int, int] = field(default_factory=dict)

    @property
    def member_count(self) -> int:
        return len(self.members) + self.crowd


@dataclass
class Reaction:
    emoji: JSON  # {"id": str|None, "name": str, "animated"?: bool}
    user_ids: list[int] = field(default_factory=list)


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    tts: bool = False
    mention_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    edited_at: dt.datetime | None = None
    reactions: dict[str, Reaction] = field(default_factory=dict)
    application_id: int | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    message_reference: JSON | None = None
    poll: JSON | None = None
    nonce: str | int | None = None
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlags.EPHEMERAL)

    @property
    def created_at(self) -> dt.datetime:
        return snowflake_time(self.id)


@dataclass
class CallbackRecord:
    """One POST to ``/interactions/{id}/{token}/callback``, accepted or refused."""

    interaction_id: int
    type: int | None
    data: JSON | None
    elapsed: float  # seconds between the INTERACTION_CREATE dispatch and the callback's arrival
    status: int
    error_code: int | None
    with_response: bool

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class InteractionRecord:
    """An interaction the server dispatched; the handle tests get back from ``send_*``."""

    id: int
    token: str
    type: int
    application_id: int
    user_id: int
    channel_id: int
    guild_id: int | None
    data: JSON
    payload: JSON
    shard_id: int
    dispatched_at: float = 0.0  # the server's clock (``LoopbackDiscord.clock``) when the frame was written
    callbacks: list[CallbackRecord] = field(default_factory=list)
    response_type: int | None = None
    original_message_id: int | None = None
    source_message_id: int | None = None  # the message a component was on
    followup_ids: list[int] = field(default_factory=list)
    original_edits: list[JSON] = field(default_factory=list)
    modal: JSON | None = None

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def callback(self) -> CallbackRecord | None:
        return self.callbacks[0] if self.callbacks else None

    def __repr__(self) -> str:  # keep the token out of reprs
        return f"<InteractionRecord id={self.id} type={self.type} response_type={self.response_type}>"


@dataclass
class RecordedRequest:
    """One REST request as the server saw it. ``Authorization`` is never stored in clear."""

    method: str
    path: str  # without the /api/v10 prefix, percent-decoded
    raw_path: str
    query: dict[str, str]
    json: Any
    files: list[JSON]
    headers: dict[str, str]
    authorized: bool
    time: float
    status: int = 0
    response: Any = None
    content_type: str | None = None
    route: str | None = None  # the route template that handled it; None for an unknown route


@dataclass(frozen=True)
class IdentifyRecord:
    """An IDENTIFY the gateway judged (valid token, intents and shard): started a session, or was refused with an
    op 9 Invalid Session because another one of its ``max_concurrency`` bucket came less than 5 s before."""

    shard: tuple[int, int]
    bucket: int  # shard_id % max_concurrency
    at: float  # the server's clock when it arrived
    accepted: bool


@dataclass
class GatewayFrame:
    """A frame a client sent on the gateway (tokens redacted)."""

    session_id: str | None
    shard: tuple[int, int] | None
    op: int | None
    d: Any
    time: float


# ---------------------------------------------------------------------------------------------------- emoji
def parse_emoji(text: str) -> JSON:
    """``👍`` → {"id": None, "name": "👍"}; ``name:123`` / ``a:name:123`` / ``<:name:123>`` → custom emoji."""
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1]
    parts = raw.split(":")
    if len(parts) >= 2 and parts[-1].isdigit():
        animated = len(parts) == 3 and parts[0] == "a"
        name = parts[-2]
        emoji: JSON = {"id": parts[-1], "name": name}
        if animated:
            emoji["animated"] = True
        return emoji
    return {"id": None, "name": raw}


def emoji_key(emoji: JSON) -> str:
    return str(emoji["id"]) if emoji.get("id") else str(emoji["name"])
