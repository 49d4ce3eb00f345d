"""``python -m bot`` as a real process against the loopback servers: it starts, serves, and stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from loopback.discord import LoopbackDiscord
from tests.fixtures.e2e import ROOT, process_env

#: python -m bot as a real process, with each engine's DATABASE_URL
pytestmark = pytest.mark.both_engines


async def test_the_bot_process_serves_and_stops_cleanly_on_sigterm(
    bot_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    env = process_env({**bot_env, "SHARD_COUNT": "1", "LOG_LEVEL": "INFO"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await discord_server.wait_for_session(0, timeout=20)
        await discord_server.wait_for_request("PUT", r"/guilds/\d+/commands$", timeout=20)
        rec = await discord_server.send_command("about", discord_server.alice_id, discord_server.channel_id)
        callback = await discord_server.wait_for_callback(rec, timeout=10)
        assert callback.accepted
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{bot_env['LINK_BASE_URL']}/healthz") as resp:
                assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    log = stderr.decode() + stdout.decode()
    assert "shutting down" in log
    assert "Traceback" not in log, log[-4000:]
    for secret in (bot_env["DISCORD_TOKEN"], bot_env["TOKEN_ENCRYPTION_KEY"]):
        assert secret not in log
