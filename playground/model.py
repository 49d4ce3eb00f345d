"""What a picture is made of: scenes of panels of messages, as the loopback Discord stored them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class Shot:
    """One message as a member sees it (a copy, taken when the moment was reached)."""

    author: str
    bot: bool
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    #: (emoji payload, count, the viewer reacted)
    reactions: list[tuple[JSON, int, bool]] = field(default_factory=list)
    ephemeral: bool = False
    edited: bool = False
    #: the slash command shown above an interaction's answer ("rating like"), and who ran it
    command: str | None = None
    command_user: str | None = None
    #: "slash_command" or "message_command"
    command_type: str = "slash_command"
    #: a message menu's target ("alice used Apple Music ratings > bob")
    command_target: str | None = None


@dataclass
class Panel:
    """Messages of one channel, with a caption above them (e.g. "Direct message", "after pressing Like")."""

    caption: str | None
    shots: list[Shot]
    channel: str = "music"


@dataclass
class Scene:
    name: str  # the PNG's file name, without .png
    panels: list[Panel]


def shot_of(
    message: Any,
    users: dict[int, Any],
    *,
    viewer: int | None = None,
    command: str | None = None,
    command_user: str | None = None,
    command_type: str = "slash_command",
    command_target: str | None = None,
) -> Shot:
    """A :class:`Shot` of a loopback Discord ``Message`` (deep copies: later edits do not change it)."""
    author = users[message.author_id]
    reactions = [
        (copy.deepcopy(r.emoji), len(r.user_ids), viewer is not None and viewer in r.user_ids)
        for r in message.reactions.values()
        if r.user_ids
    ]
    return Shot(
        author=author.global_name or author.username,
        bot=bool(author.bot),
        content=message.content or "",
        embeds=copy.deepcopy(message.embeds),
        components=copy.deepcopy(message.components),
        attachments=copy.deepcopy(message.attachments),
        reactions=reactions,
        ephemeral=bool(message.ephemeral),
        edited=message.edited_at is not None and not message.ephemeral and command is None,
        command=command,
        command_user=command_user,
        command_type=command_type,
        command_target=command_target,
    )
