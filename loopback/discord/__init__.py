"""A loopback Discord (REST API + gateway on 127.0.0.1) that the real, unpatched discord.py 2.7 runs against.

It follows Discord's documented payloads and error codes (not our bot's needs):

* REST under ``/api/v10`` (and ``/api/v9``): bot auth on every route except interaction callbacks and webhooks,
  ``Content-Type: application/json`` with no charset, ``X-RateLimit-*`` headers, Discord's error bodies and codes.
* Gateway on ``ws://127.0.0.1:PORT/``: HELLO, heartbeats, IDENTIFY (token, intents, ``shard``), READY, one
  GUILD_CREATE per guild of the shard, RESUME with replay, REQUEST_GUILD_MEMBERS, ``compress=zlib-stream``;
  GUILD_DELETE (no ``unavailable``) when the bot is removed from a guild or leaves it, GUILD_CREATE when it joins.
* Files sent with messages and interaction callbacks (multipart ``payload_json`` + ``files[n]``) are kept and served
  at their attachment ``url``.
* A world model (users, guilds, roles/permissions, channels, messages, reactions, commands) and an event
  injection API (``send_message``, ``add_reaction``, ``send_command``, ...) for tests.
* Every REST request and every client gateway frame is recorded (secrets redacted); failure injection
  (``fail_next``: 429 with ``Via``/``retry_after``, 500, ...) and latency knobs.
* OAuth2 as Discord documents it (:mod:`.oauth2`): a browser signs in as a user through
  ``browser_sign_in_url(user_id, next=...)``; ``/oauth2/authorize`` (the authorize page), ``POST
  /api/v10/oauth2/token`` and ``/token/revoke``, ``GET /api/v10/users/@me`` with a Bearer token. The client secret
  and redirect URIs: ``set_oauth2_client(secret=..., redirect_uris=[...])``.
* Identify budget: one IDENTIFY per 5 s (of the server's ``clock``) per ``max_concurrency`` bucket, else op 9
  Invalid Session (``identifies``, ``refused_identifies``).
* Interaction rules: first callback within ``interaction_deadline`` (3 s) of the server's ``clock``, else 404
  10062; a second callback is 400 40060; follow-ups and edits for ``interaction_token_lifetime`` (15 min).

Typical use::

    server = LoopbackDiscord(bot_token="...")
    await server.start()
    guild = server.add_guild("Test Guild")
    with point_discordpy_at(server):
        ...  # run a discord.Client / commands.Bot
    await server.close()

Where things are: :mod:`.server` (the :class:`LoopbackDiscord` class, with a map of its layers), :mod:`.world`,
:mod:`.payloads`, :mod:`.gateway`, :mod:`.events`, :mod:`.interactions`, :mod:`.rest`, :mod:`.routes`,
:mod:`.responses`, :mod:`.oauth2`, :mod:`.model`, :mod:`.validation`, :mod:`.clients`;
``python -m loopback.discord`` (:mod:`.admin`) runs it as its own process.
"""

from __future__ import annotations

from loopback.discord.clients import point_discordpy_at, running_client, set_discordpy_urls
from loopback.discord.gateway import GatewayConnection, GatewaySession
from loopback.discord.interactions import ATTACHMENT_SIZE_LIMIT, CommandUnavailable
from loopback.discord.model import (
    ALLOWED_CALLBACKS,
    JSON,
    REDACTED,
    CallbackRecord,
    CallbackType,
    Channel,
    ChannelType,
    Emoji,
    GatewayFrame,
    Guild,
    IdentifyRecord,
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
)
from loopback.discord.rest import MISSING_ACCESS, MISSING_PERMISSIONS, DiscordApiError
from loopback.discord.server import LoopbackDiscord
from loopback.discord.validation import (
    FormErrors,
    validate_command_choices,
    validate_commands,
    validate_message_body,
    validate_modal,
)
from loopback.discord.world import GuildShape

__all__ = [
    "ALLOWED_CALLBACKS",
    "ATTACHMENT_SIZE_LIMIT",
    "JSON",
    "MISSING_ACCESS",
    "MISSING_PERMISSIONS",
    "REDACTED",
    "CallbackRecord",
    "CallbackType",
    "Channel",
    "ChannelType",
    "CommandUnavailable",
    "DiscordApiError",
    "Emoji",
    "FormErrors",
    "GatewayConnection",
    "GatewayFrame",
    "GatewaySession",
    "Guild",
    "GuildShape",
    "IdentifyRecord",
    "Intents",
    "InteractionRecord",
    "InteractionType",
    "LoopbackDiscord",
    "Member",
    "Message",
    "MessageFlags",
    "Op",
    "Permissions",
    "Reaction",
    "RecordedRequest",
    "Role",
    "SnowflakeGenerator",
    "User",
    "emoji_key",
    "iso",
    "parse_emoji",
    "point_discordpy_at",
    "running_client",
    "set_discordpy_urls",
    "shard_for_guild",
    "validate_command_choices",
    "validate_commands",
    "validate_message_body",
    "validate_modal",
]
