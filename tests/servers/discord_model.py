"""The loopback Discord's data model under its former import path: it now lives in ``tests/servers/discord/``
(:mod:`tests.servers.discord.model` and :mod:`tests.servers.discord.validation`)."""

from tests.servers.discord.model import *  # noqa: F403
from tests.servers.discord.validation import *  # noqa: F403
