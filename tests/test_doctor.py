"""``python -m bot doctor`` against the loopback Discord and Apple and the running bot's linking page: all ✓ on a
good setup (exit 0), and each injected fault reported as ✗ with what to do (exit 1), never with a secret."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from bot.app import RatingsBot
from bot.applemusic import generate_private_key
from bot.config import load_settings
from bot.doctor import Check, run_checks
from bot.permissions import INSTALL_PERMISSIONS, OPTIONAL, REQUIRED, install_url
from bot.storage import TokenCipher, open_store
from loopback.discord import LoopbackDiscord
from loopback.discord.model import Intents, Permissions
from tests.fixtures.apple import AppleKey
from tests.fixtures.bot import free_port
from tests.fixtures.e2e import ROOT, process_env, secret_values

SECRET = "loopback-client-secret-0123456789"


@pytest.fixture
def good_env(bot_env: dict[str, str], discord_server: LoopbackDiscord) -> dict[str, str]:
    """The running bot's settings, with the OAuth2 client set up as the README says."""
    discord_server.set_oauth2_client(secret=SECRET, redirect_uris=[bot_env["LINK_BASE_URL"] + "/link/discord"])
    return {**bot_env, "DISCORD_CLIENT_SECRET": SECRET}


async def checks_with(env: dict[str, str]) -> dict[str, Check]:
    checks = await run_checks(load_settings(env, env_file=None))
    return {c.name: c for c in checks}


def failures(checks: dict[str, Check]) -> dict[str, Check]:
    return {name: c for name, c in checks.items() if c.ok is False}


async def doctor_process(env: dict[str, str]) -> tuple[int, str]:
    """``python -m bot doctor`` as an operator runs it (the event loop keeps serving the bot meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "doctor",
        cwd=ROOT,
        env=process_env(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode() + stderr.decode()


@pytest.mark.both_engines
async def test_a_good_setup_is_all_checked_and_exits_0(running_bot: RatingsBot, good_env: dict[str, str]) -> None:
    code, output = await doctor_process(good_env)
    assert code == 0, output
    lines = [line for line in output.splitlines() if line and line[0] in "✓✗–"]
    assert [line.split(":")[0] for line in lines] == [
        "✓ Configuration",
        "✓ Apple MusicKit key",
        "✓ Discord bot token",
        "✓ Gateway intents",
        "✓ Install link",
        "✓ Permissions in servers",
        "✓ Database",
        "✓ Linking page",
        "✓ Discord sign-in (OAuth2)",
    ], output
    assert "Everything checked is in order." in output
    assert f"permissions={INSTALL_PERMISSIONS.value}&scope=bot+applications.commands" in output
    for secret in secret_values(good_env):
        assert secret not in output


async def test_each_fault_is_reported_by_the_command_with_its_fix(
    running_bot: RatingsBot, good_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    discord_server.set_bot_permissions(discord_server.guild_id, Permissions.BOT_DEFAULT & ~Permissions.EMBED_LINKS)
    code, output = await doctor_process({**good_env, "APPLE_KEY_ID": "WRONGKEY12"})
    assert code == 1, output
    assert "✗ Apple MusicKit key: Apple refused the developer token signed with this key (401)" in output
    assert "→ APPLE_KEY_ID must be the Key ID of this .p8 key" in output
    lacking = r"✗ Permissions in servers: the bot lacks permissions in 1 of \d+ server\(s\): .*Embed Links"
    assert re.search(lacking, output)
    assert "2 problem(s) found." in output
    for secret in secret_values(good_env):
        assert secret not in output


async def test_a_key_apple_does_not_trust(running_bot: RatingsBot, good_env: dict[str, str], tmp_path: Path) -> None:
    other = AppleKey(pem=generate_private_key(), public_pem="").write(tmp_path / "AuthKey_OTHER.p8")
    checks = await checks_with({**good_env, "APPLE_PRIVATE_KEY_PATH": str(other)})
    assert list(failures(checks)) == ["Apple MusicKit key"]
    assert "Media Services (MusicKit)" in checks["Apple MusicKit key"].fix


async def test_wrong_intents(
    running_bot: RatingsBot, good_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    discord_server.privileged_intents = Intents.GUILD_MEMBERS  # no Message Content on the application
    checks = await checks_with({**good_env, "MESSAGE_CONTENT_INTENT": "true"})
    assert list(failures(checks)) == ["Gateway intents"]
    check = checks["Gateway intents"]
    assert check.detail == "the bot asks for Message Content Intent, which the application does not have"
    assert "Bot > Privileged Gateway Intents" in check.fix and "MESSAGE_CONTENT_INTENT=false" in check.fix
    # without the setting, the bot asks for no privileged intent: nothing to turn on
    checks = await checks_with(good_env)
    assert not failures(checks)


async def test_a_missing_permission_names_the_server_and_the_permission(
    running_bot: RatingsBot, good_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    second = discord_server.add_guild("Second server", bot_permissions=Permissions.VIEW_CHANNEL)
    checks = await checks_with(good_env)
    assert list(failures(checks)) == ["Permissions in servers"]
    check = checks["Permissions in servers"]
    assert f"Second server ({second.id}): Send Messages, Embed Links, Add Reactions" in check.detail
    assert "Roles > the bot's role" in check.fix
    # Manage Messages is optional: its absence is noted, not failed
    discord_server.set_bot_permissions(second.id, Permissions.BOT_DEFAULT)
    checks = await checks_with(good_env)
    assert checks["Permissions in servers"].ok is True
    assert "without the optional Manage Messages" in checks["Permissions in servers"].detail


async def test_every_server_is_checked_across_pages(
    running_bot: RatingsBot, good_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    for n in range(201):
        discord_server.add_guild(f"server {n}", with_bot=True)
    last = discord_server.add_guild("the last one", bot_permissions=Permissions.VIEW_CHANNEL)
    checks = await checks_with(good_env)
    assert f"the last one ({last.id})" in checks["Permissions in servers"].detail
    assert "in 1 of 203 server(s)" in checks["Permissions in servers"].detail
    pages = [r for r in discord_server.requests if r.path.endswith("/users/@me/guilds")]
    assert len(pages) == 2


async def test_an_unreachable_linking_page(running_bot: RatingsBot, good_env: dict[str, str]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    checks = await checks_with({**good_env, "LINK_BASE_URL": nowhere})
    failed = failures(checks)
    assert "Linking page" in failed
    assert failed["Linking page"].detail.startswith(f"nothing answered at LINK_BASE_URL {nowhere}")
    assert "make LINK_BASE_URL reach WEB_HOST:WEB_PORT" in failed["Linking page"].fix


@pytest.mark.both_engines
async def test_an_undecryptable_row(running_bot: RatingsBot, good_env: dict[str, str]) -> None:
    old_key = TokenCipher.generate_key()
    other = await open_store(good_env["DATABASE_URL"], TokenCipher([old_key]))
    async with other:
        await other.link_account(4242, "Ag" + "x" * 120, "us")
    checks = await checks_with(good_env)
    assert list(failures(checks)) == ["Database"]
    check = checks["Database"]
    assert check.detail == "1 stored token(s) cannot be decrypted with any key of TOKEN_ENCRYPTION_KEY"
    assert "add the key they were encrypted with" in check.fix
    # the key they were encrypted with, after the current one: all decrypt
    checks = await checks_with({**good_env, "TOKEN_ENCRYPTION_KEY": f"{good_env['TOKEN_ENCRYPTION_KEY']},{old_key}"})
    assert checks["Database"].ok is True


async def test_a_database_behind_this_release_is_not_migrated_by_the_doctor(
    discord_server: LoopbackDiscord, good_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "new" / "bot.db"
    checks = await checks_with({**good_env, "DATABASE_URL": f"sqlite:///{missing}"})
    assert checks["Database"].ok is False
    assert "does not exist yet" in checks["Database"].detail
    assert "python -m bot migrate" in checks["Database"].fix
    assert not missing.exists()


async def test_a_bad_discord_token(running_bot: RatingsBot, good_env: dict[str, str]) -> None:
    checks = await checks_with({**good_env, "DISCORD_TOKEN": "not-the-token"})
    check = checks["Discord bot token"]
    assert check.ok is False
    assert check.detail == "Discord refused DISCORD_TOKEN (401 Unauthorized)"
    assert "Bot > Reset Token" in check.fix and "DISCORD_TOKEN" in check.fix
    assert "not-the-token" not in repr(list(checks.values()))


async def test_a_bad_oauth2_secret(
    running_bot: RatingsBot, good_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    checks = await checks_with({**good_env, "DISCORD_CLIENT_SECRET": "wrong-secret"})
    assert list(failures(checks)) == ["Discord sign-in (OAuth2)"]
    check = checks["Discord sign-in (OAuth2)"]
    assert check.detail == f"Discord refused DISCORD_CLIENT_SECRET for client {discord_server.application_id}"
    assert "OAuth2 > Reset Secret" in check.fix
    assert "wrong-secret" not in repr(list(checks.values()))
    # the good secret's test token was revoked at once
    await checks_with(good_env)
    grant = [r for r in discord_server.requests if r.path.endswith("/oauth2/token/revoke")]
    assert grant and all(r.status == 200 for r in grant)


def test_the_readme_lists_the_permissions_of_the_install_link() -> None:
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("Bot permissions:") : readme.index("Open the install link")]
    named = [" ".join(name.split()) for name in re.findall(r"\*\*([^*]+)\*\*", paragraph)]
    assert named == [*REQUIRED.values(), *OPTIONAL.values()]
    assert "optionally, **Manage Messages**" in paragraph
    assert "permissions=93248" in install_url("https://discord.com/oauth2/authorize", 1)
