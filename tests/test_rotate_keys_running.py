"""Issue 13: key rotation that a running bot survives. ``python -m bot rotate-keys`` (a real process) refuses, naming
``host:pid``, while a running bot does not have the new key first, and re-encrypts nothing; the bot's members keep
working. Once the bot was restarted with the new list, it rotates, and the bot still reads every token."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bot.app import RatingsBot
from bot.services.presence import STALE_AFTER_SECONDS, this_process
from bot.storage import TokenCipher, open_store
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT, BotFactory
from tests.fixtures.e2e import run_bot

#: python -m bot rotate-keys against each engine
pytestmark = pytest.mark.both_engines

#: this test process: the bots of ``bot_factory`` run in it
HERE = f"{socket.gethostname()}:{os.getpid()}"


async def rotate_keys(keys: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bot rotate-keys`` as an operator runs it (off the event loop: the bot keeps running)."""
    env = {"TOKEN_ENCRYPTION_KEY": keys, "DATABASE_URL": database_url}
    return await asyncio.to_thread(run_bot, "rotate-keys", env=env, cwd=cwd)


async def unreadable(database_url: str, keys: str) -> int:
    """How many stored tokens a store with only ``keys`` cannot decrypt."""
    store = await open_store(database_url, TokenCipher.from_setting(keys))
    try:
        return await store.count_undecryptable_tokens()
    finally:
        await store.close()


async def rate(bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, value: str) -> int | None:
    """Alice runs ``/rating <value>`` on a new song; Apple's rating of it afterwards."""
    song = apple_server.add_song()
    rec = await discord_server.send_command(
        f"rating {value}", discord_server.alice_id, discord_server.channel_id, {"item": song}
    )
    await discord_server.wait_for_original_edit(rec)
    return apple_server.rating(ALICE_MUT, "songs", song)


async def test_rotate_keys_refuses_while_the_bot_lacks_the_new_key_and_rotates_after_its_restart(
    bot_factory: BotFactory,
    bot_env: dict[str, str],
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    tmp_path: Path,
) -> None:
    url, old, new = bot_env["DATABASE_URL"], bot_env["TOKEN_ENCRYPTION_KEY"], TokenCipher.generate_key()
    both = f"{new},{old}"
    apple_server.add_user(ALICE_MUT, storefront="us")
    no_cache = {"TOKEN_CACHE_SECONDS": "0"}  # the bot reads the stored token at every use

    async with bot_factory(env=no_cache) as bot:
        await bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
        refused = await rotate_keys(both, url, tmp_path)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.startswith(
            "Not rotating: 1 running bot process(es) do not have the first key of this TOKEN_ENCRYPTION_KEY as their "
            "first key:\n"
        )
        assert f"\n  {HERE} (running since " in refused.stderr
        assert "Nothing was re-encrypted." in refused.stderr
        assert refused.stdout == ""
        assert await unreadable(url, old) == 0, "every token is still encrypted with the old key"
        assert await rate(bot, discord_server, apple_server, "like") == 1, "the bot's members still work"

    store = await open_store(url, TokenCipher.from_setting(both))
    try:
        assert await store.live_processes(0) == [], "a bot that stopped cleanly removed its row"
    finally:
        await store.close()

    async with bot_factory(env={**no_cache, "TOKEN_ENCRYPTION_KEY": both}) as bot:
        [process] = await bot.svc.store.live_processes(0)
        assert process.name == HERE and process.key_fingerprints == TokenCipher.from_setting(both).fingerprints
        rotated = await rotate_keys(both, url, tmp_path)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert rotated.stdout == (
            "Re-encrypted 1 stored token(s) with the first key.\n"
            "Next: drop the old key from TOKEN_ENCRYPTION_KEY (keep only the first key), then restart each process.\n"
            f"Running now: {HERE}.\n"
        )
        assert await unreadable(url, new) == 0 and await unreadable(url, old) == 1, "rotated to the new key"
        assert await bot.svc.store.get_user_token(discord_server.alice_id) == ALICE_MUT
        assert await rate(bot, discord_server, apple_server, "dislike") == -1, "the bot reads every token"
    for result in (refused, rotated):
        for secret in (old, new, ALICE_MUT):
            assert secret not in result.stdout + result.stderr


async def test_a_process_that_died_blocks_rotation_only_until_its_row_is_stale(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    url, old, new = bot_env["DATABASE_URL"], bot_env["TOKEN_ENCRYPTION_KEY"], TokenCipher.generate_key()
    store = await open_store(url, TokenCipher.from_setting(old))
    try:
        await store.link_account(7, ALICE_MUT, "us")
        now = time.time()
        ready = this_process(TokenCipher.from_setting(f"{new},{old}").fingerprints, now=now)
        dead = this_process(TokenCipher.from_setting(old).fingerprints, now=now - STALE_AFTER_SECONDS - 60)
        await store.announce_process(ready)
        await store.announce_process(dead)
    finally:
        await store.close()
    result = await rotate_keys(f"{new},{old}", url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(f"Running now: {ready.name}.\n")
    assert await unreadable(url, new) == 0
