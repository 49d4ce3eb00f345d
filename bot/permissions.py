"""The permissions the bot asks for when it is installed in a server: the one list the install link, ``doctor`` and
the README's "Setting up" agree on (``tests/test_doctor.py`` compares them)."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

import discord

#: what the bot needs in a server, with the words the Discord Developer Portal and server settings use
REQUIRED: Final[dict[str, str]] = {
    "view_channel": "View Channels",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "add_reactions": "Add Reactions",
    "read_message_history": "Read Message History",
}
#: what the bot uses when it has it (removing a member's opposite reaction, deleting a token pasted in a channel)
OPTIONAL: Final[dict[str, str]] = {"manage_messages": "Manage Messages"}
#: the scopes of the install link
SCOPES: Final = ("bot", "applications.commands")


def permissions(names: dict[str, str]) -> discord.Permissions:
    return discord.Permissions(**dict.fromkeys(names, True))


#: the permission integer of the install link: the required ones and the optional ones
INSTALL_PERMISSIONS: Final = permissions(REQUIRED) | permissions(OPTIONAL)


def install_url(authorize_url: str, application_id: int) -> str:
    """The link that adds the bot to a server with :data:`INSTALL_PERMISSIONS` (``authorize_url``:
    ``DISCORD_OAUTH_AUTHORIZE_URL``)."""
    query = {"client_id": application_id, "permissions": INSTALL_PERMISSIONS.value, "scope": " ".join(SCOPES)}
    return f"{authorize_url}?{urlencode(query)}"


def missing(granted: discord.Permissions, names: dict[str, str]) -> list[str]:
    """The words for the permissions of ``names`` that ``granted`` lacks (Administrator grants all)."""
    if granted.administrator:
        return []
    return [word for name, word in names.items() if not getattr(granted, name)]
