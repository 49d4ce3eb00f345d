"""``LOG_FORMAT=json``: the real ``python -m bot`` through a link, a rating and an error writes one JSON object per
line with the stable fields, names the shard, guild and user where a line is about them, and no secret."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

from bot.logs import JsonFormatter, about
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import ROOT, eventually, process_env, secret_values

CLIENT_SECRET = "json-logs-client-secret-0123456789"
FIELDS = {"time", "level", "logger", "message"}


async def test_the_bot_logs_json_lines_without_secrets(
    bot_env: dict[str, str], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    env = {
        **bot_env,
        "SHARD_COUNT": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
        "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
    }
    discord_server.set_oauth2_client(secret=CLIENT_SECRET, redirect_uris=[bot_env["LINK_BASE_URL"] + "/link/discord"])
    apple_server.add_user(ALICE_MUT, storefront="us")
    liked = apple_server.add_song(name="Cloudbusting", artist="Kate Bush")
    failing = apple_server.add_song(name="Running Up That Hill", artist="Kate Bush")
    alice, channel = discord_server.alice_id, discord_server.channel_id
    dm = discord_server.dm_channel(alice)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=process_env(env), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await discord_server.wait_for_session(0, timeout=30)
        await discord_server.wait_for_request("PUT", r"/guilds/\d+/commands$", timeout=30)
        # a link: /link, then the token pasted in a DM
        rec = await discord_server.send_command("link", alice, channel)
        await discord_server.wait_for_original_edit(rec, timeout=15)
        pasted = await discord_server.send_message(dm, alice, ALICE_MUT)
        await discord_server.wait_for_message(dm, author_id=discord_server.bot_user_id, after=pasted.id, timeout=15)
        await eventually(lambda: any(r.path == "/v1/me/storefront" for r in apple_server.requests), 15, "the check")
        # a rating
        rec = await discord_server.send_command("rating like", alice, channel, {"item": liked})
        await discord_server.wait_for_original_edit(rec, timeout=15)
        assert apple_server.rating(ALICE_MUT, "songs", liked) == 1
        # an error: Apple fails every try of the next rating
        apple_server.fail_next(20, 500)
        rec = await discord_server.send_command("rating like", alice, channel, {"item": failing})
        await discord_server.wait_for_original_edit(rec, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    output = stdout.decode() + stderr.decode()
    lines = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    assert lines
    for line in lines:
        assert FIELDS <= set(line), line
        assert line["time"].endswith("Z") and "T" in line["time"]
        for name in ("shard", "guild", "user"):
            assert name not in line or isinstance(line[name], int), line
    about_alice = [x for x in lines if x.get("user") == alice and x.get("guild") == discord_server.guild_id]
    assert about_alice, "no line names the member and the server of a command"
    assert all(x["shard"] == 0 for x in about_alice)
    assert any(x.get("shard") == 0 and x["message"] == "shard 0 is ready" for x in lines)
    assert any(x["level"] in ("WARNING", "ERROR") and x.get("user") == alice for x in lines)
    for secret in (ALICE_MUT, *secret_values(env)):
        assert secret not in output


def test_a_json_line_redacts_tokens_in_the_message_the_traceback_and_extra_fields() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError(f"Apple said no to {ALICE_MUT}")
    except ValueError:
        record = logging.LogRecord("bot.x", logging.ERROR, __file__, 1, "pasted %s", (ALICE_MUT,), sys.exc_info())
    record.paste = {"text": ALICE_MUT}
    record.guild = 7  # extra= wins over the context
    with about(shard=1, guild=5, user=9):
        line = json.loads(formatter.format(record))
    assert ALICE_MUT not in json.dumps(line)
    assert line["message"] == "pasted [redacted]"
    assert "ValueError: Apple said no to [redacted]" in line["exc"]
    assert line["paste"] == {"text": "[redacted]"}
    assert (line["shard"], line["guild"], line["user"]) == (1, 7, 9)
    assert list(line)[:7] == ["time", "level", "logger", "message", "shard", "guild", "user"]
