"""The loopback servers the playground runs the real bot against: the only module that imports them.

They are the project's ``loopback`` package, which the tests, the benchmarks and the README pictures use too.
"""

from __future__ import annotations

from loopback.apple import LoopbackApple
from loopback.discord import InteractionRecord, InteractionType, LoopbackDiscord, Message, running_client
from loopback.musickit import MusicKitStub

__all__ = [
    "InteractionRecord",
    "InteractionType",
    "LoopbackApple",
    "LoopbackDiscord",
    "Message",
    "MusicKitStub",
    "running_client",
]
