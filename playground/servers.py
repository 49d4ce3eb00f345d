"""The loopback servers the playground runs the real bot against: the only module that imports them.

They live in ``tests/servers/`` today (the tests start them too); when they move into a package of their own, this
is the one line to change.
"""

from __future__ import annotations

from tests.servers.apple import LoopbackApple
from tests.servers.discord import InteractionRecord, InteractionType, LoopbackDiscord, Message, running_client
from tests.servers.musickit import MusicKitStub

__all__ = [
    "InteractionRecord",
    "InteractionType",
    "LoopbackApple",
    "LoopbackDiscord",
    "Message",
    "MusicKitStub",
    "running_client",
]
