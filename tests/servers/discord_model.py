"""Data model, constants and validation rules of the loopback Discord server.

Everything here is plain data: no aiohttp, no discord.py. The server in ``tests/servers/discord.py`` builds
Discord's documented JSON payloads from these records.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

JSON = dict[str, Any]


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
    #: A typical human member (given through the member's own role).
    MEMBER_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | ADD_REACTIONS
        | READ_MESSAGE_HISTORY
        | EMBED_LINKS
        | ATTACH_FILES
        | USE_EXTERNAL_EMOJIS
        | USE_APPLICATION_COMMANDS
        | SEND_MESSAGES_IN_THREADS
    )
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
    #: What Discord reports as ``app_permissions`` in a DM.
    DM = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | ADD_REACTIONS
        | READ_MESSAGE_HISTORY
        | EMBED_LINKS
        | ATTACH_FILES
        | USE_EXTERNAL_EMOJIS
        | USE_APPLICATION_COMMANDS
    )


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

    def to_dict(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
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

    def to_dict(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
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


@dataclass
class Channel:
    id: int
    type: int  # 0 guild text, 1 DM
    guild_id: int | None = None
    name: str | None = None
    position: int = 0
    recipient_ids: list[int] = field(default_factory=list)
    last_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)


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
    dispatched_at: float = 0.0  # time.monotonic() when the frame was written
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


@dataclass
class GatewayFrame:
    """A frame a client sent on the gateway (tokens redacted)."""

    session_id: str | None
    shard: tuple[int, int] | None
    op: int | None
    d: Any
    time: float


# ---------------------------------------------------------------------------------------------- validation
class FormErrors:
    """Builds Discord's nested ``errors`` body of a 50035 Invalid Form Body."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: list[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: list[str | int], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def __bool__(self) -> bool:
        return bool(self.tree)


EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}


def validate_message_body(body: JSON, errors: FormErrors, *, require_content: bool = True) -> bool:
    """Validate content/embeds/components of a message body; returns False when it is empty."""
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errors.add(["content"], "BASE_TYPE_STRING", "Must be a string.")
    elif isinstance(content, str) and len(content) > 2000:
        errors.max_len(["content"], 2000)
    embeds = body.get("embeds") or []
    if not isinstance(embeds, list):
        errors.add(["embeds"], "BASE_TYPE_ARRAY", "Must be an array.")
        embeds = []
    if len(embeds) > 10:
        errors.max_len(["embeds"], 10)
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors.add(["embeds", index], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        for key, limit in EMBED_TEXT_LIMITS.items():
            value = embed.get(key)
            if isinstance(value, str):
                total += len(value)
                if len(value) > limit:
                    errors.max_len(["embeds", index, key], limit)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.max_len(["embeds", index, "fields"], 25)
        for f_index, fld in enumerate(fields):
            name, value = str(fld.get("name", "")), str(fld.get("value", ""))
            total += len(name) + len(value)
            if not name:
                errors.add(
                    ["embeds", index, "fields", f_index, "name"],
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            if len(name) > 256:
                errors.max_len(["embeds", index, "fields", f_index, "name"], 256)
            if not value:
                errors.add(
                    ["embeds", index, "fields", f_index, "value"],
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            if len(value) > 1024:
                errors.max_len(["embeds", index, "fields", f_index, "value"], 1024)
        footer = embed.get("footer") or {}
        if len(str(footer.get("text", ""))) > 2048:
            errors.max_len(["embeds", index, "footer", "text"], 2048)
        total += len(str(footer.get("text", "")))
        author = embed.get("author") or {}
        if len(str(author.get("name", ""))) > 256:
            errors.max_len(["embeds", index, "author", "name"], 256)
        total += len(str(author.get("name", "")))
    if total > 6000:
        errors.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    components = body.get("components") or []
    if len(components) > 5 and not (int(body.get("flags") or 0) & MessageFlags.IS_COMPONENTS_V2):
        errors.max_len(["components"], 5)
    _validate_components(components, ["components"], errors)
    has_content = bool(content) or bool(embeds) or bool(components) or bool(body.get("poll"))
    has_content = has_content or bool(body.get("attachments")) or bool(body.get("sticker_ids"))
    return has_content or not require_content


def _validate_components(components: Any, path: list[str | int], errors: FormErrors) -> None:
    if not isinstance(components, list):
        return
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        custom_id = component.get("custom_id")
        if isinstance(custom_id, str) and len(custom_id) > 100:
            errors.max_len([*path, index, "custom_id"], 100)
        if component.get("type") == 1 and len(component.get("components") or []) > 5:
            errors.max_len([*path, index, "components"], 5)
        for key in ("components",):
            if key in component:
                _validate_components(component[key], [*path, index, key], errors)
        if isinstance(component.get("component"), dict):
            _validate_components([component["component"]], [*path, index, "component"], errors)
        if isinstance(component.get("accessory"), dict):
            _validate_components([component["accessory"]], [*path, index, "accessory"], errors)


_CHAT_INPUT_NAME = re.compile(r"^[-_'\w]{1,32}$")
_COMMAND_LIMITS = {1: 100, 2: 5, 3: 5, 4: 1}


def _check_name(name: Any, path: list[str | int], errors: FormErrors, *, chat_input: bool, what: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        errors.add([*path, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        return
    if chat_input and (not _CHAT_INPUT_NAME.match(name) or name != name.lower()):
        errors.add([*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"{what} name is invalid")


def _check_description(desc: Any, path: list[str | int], errors: FormErrors) -> None:
    if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
        errors.add([*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(options: Any, path: list[str | int], errors: FormErrors, depth: int) -> None:
    if options is None:
        return
    if not isinstance(options, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if len(options) > 25:
        errors.max_len(path, 25)
    seen: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        opath: list[str | int] = [*path, index]
        if not isinstance(option, dict):
            errors.add(opath, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        otype = option.get("type")
        if not isinstance(otype, int) or not 1 <= otype <= 11:
            errors.add([*opath, "type"], "BASE_TYPE_CHOICES", f"Value must be one of {set(range(1, 12))}.")
            continue
        _check_name(option.get("name"), opath, errors, chat_input=True, what="Option")
        _check_description(option.get("description"), opath, errors)
        name = option.get("name")
        if isinstance(name, str):
            if name in seen:
                errors.add(
                    [*opath, "name"],
                    "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                    "Option name already exists",
                )
            seen.add(name)
        if otype in (1, 2):
            if (otype == 2 and depth > 0) or (otype == 1 and depth > 1):
                errors.add(
                    [*opath, "type"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Subcommands cannot nest so deep",
                )
            sub_options = option.get("options") or []
            if otype == 2:
                for s_index, sub in enumerate(sub_options):
                    if isinstance(sub, dict) and sub.get("type") != 1:
                        errors.add(
                            [*opath, "options", s_index, "type"],
                            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                            "Subcommand groups can only contain subcommands",
                        )
            _check_options(sub_options, [*opath, "options"], errors, depth + 1)
            continue
        required = bool(option.get("required"))
        if required and optional_seen:
            errors.add(
                [*opath, "required"],
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        optional_seen = optional_seen or not required
        choices = option.get("choices")
        if choices is not None:
            if option.get("autocomplete"):
                errors.add(
                    [*opath, "autocomplete"],
                    "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                    "Autocomplete cannot be set with choices",
                )
            if not isinstance(choices, list):
                errors.add([*opath, "choices"], "BASE_TYPE_ARRAY", "Must be an array.")
            else:
                if len(choices) > 25:
                    errors.max_len([*opath, "choices"], 25)
                for c_index, choice in enumerate(choices):
                    cname = choice.get("name") if isinstance(choice, dict) else None
                    if not isinstance(cname, str) or not 1 <= len(cname) <= 100:
                        errors.add(
                            [*opath, "choices", c_index, "name"],
                            "BASE_TYPE_BAD_LENGTH",
                            "Must be between 1 and 100 in length.",
                        )


def validate_commands(commands: Any) -> FormErrors:
    """Discord's checks on a bulk overwrite body (the ones that matter for a bot)."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add([], "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    counts: dict[int, int] = {}
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        if not isinstance(command, dict):
            errors.add([index], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        ctype = int(command.get("type") or 1)
        if ctype not in _COMMAND_LIMITS:
            errors.add([index, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
            continue
        counts[ctype] = counts.get(ctype, 0) + 1
        name = command.get("name")
        _check_name(name, [index], errors, chat_input=ctype == 1, what="Command")
        if isinstance(name, str):
            if (name, ctype) in seen:
                errors.add(
                    [index, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add((name, ctype))
        if ctype == 1:
            _check_description(command.get("description"), [index], errors)
            _check_options(command.get("options"), [index, "options"], errors, 0)
        elif command.get("description"):
            errors.add(
                [index, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
                "Context menu commands cannot have description",
            )
    for ctype, count in counts.items():
        if count > _COMMAND_LIMITS[ctype]:
            errors.add(
                [],
                "APPLICATION_COMMAND_TOO_MANY",
                f"Maximum number of application commands of type {ctype} reached ({_COMMAND_LIMITS[ctype]})",
            )
    return errors


def validate_command_choices(data: Any) -> FormErrors:
    """Validation of an autocomplete result (callback type 8)."""
    errors = FormErrors()
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        errors.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
        return errors
    if len(choices) > 25:
        errors.max_len(["data", "choices"], 25)
    for index, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors.add(
                ["data", "choices", index, "name"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        value = choice.get("value") if isinstance(choice, dict) else None
        if isinstance(value, str) and len(value) > 100:
            errors.max_len(["data", "choices", index, "value"], 100)
    return errors


def validate_modal(data: Any) -> FormErrors:
    errors = FormErrors()
    if not isinstance(data, dict):
        errors.add(["data"], "BASE_TYPE_REQUIRED", "This field is required")
        return errors
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
        errors.add(["data", "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        errors.add(["data", "title"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
    components = data.get("components")
    if not isinstance(components, list) or not 1 <= len(components) <= 5:
        errors.add(["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    return errors


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
