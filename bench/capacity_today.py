"""``python -m bench.capacity_today [ARGS]``: ``python -m bot [ARGS]`` with discord.py's default caches, the bot as it
was before its lean caches (issue 17): the capacity figures' "today" (see :mod:`bench.capacity_figures`).

Everything is the bot's own ``main`` and ``RatingsBot``; only the cache options passed to discord.py differ: those
discord.py chooses when it is given none (member cache from the intents, i.e. members seen in voice; chunking at
start only with the members intent; 1,000 messages).
"""

from __future__ import annotations

import sys
from typing import Any

import discord

import bot.app
from bot.__main__ import main
from bot.config import Settings


class TodayBot(bot.app.RatingsBot):
    def __init__(self, settings: Settings, **options: Any) -> None:
        intents = discord.Intents.default()  # the members and voice states intents are the bot's own
        defaults = {
            "member_cache_flags": discord.MemberCacheFlags.from_intents(intents),
            "chunk_guilds_at_startup": intents.members,
            "max_messages": 1000,
        }
        super().__init__(settings, **{**defaults, **options})


if __name__ == "__main__":
    bot.app.RatingsBot = TodayBot  # type: ignore[misc]  # ``cmd_run`` builds the bot from this name
    sys.exit(main())
