"""``python -m bot`` as an operator runs it: real subprocesses, real files."""

from __future__ import annotations

import json
from pathlib import Path

import jwt

from bot.storage import TokenCipher
from tests.fixtures.apple import AppleKey
from tests.fixtures.e2e import run_bot


def test_no_configuration_exits_2_naming_every_missing_setting(tmp_path: Path) -> None:
    result = run_bot(cwd=tmp_path)
    assert result.returncode == 2
    for name in ("DISCORD_TOKEN", "APPLE_TEAM_ID", "APPLE_KEY_ID", "APPLE_PRIVATE_KEY_PATH", "TOKEN_ENCRYPTION_KEY"):
        assert name in result.stderr
    assert "gen-key" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_values_are_reported_one_per_line(tmp_path: Path) -> None:
    result = run_bot(
        env={
            "DISCORD_TOKEN": "x",
            "WEB_PORT": "eighty",
            "APPLE_TEAM_ID": "short",
            "MESSAGE_CONTENT_INTENT": "maybe",
            "OUTBOX_LEASE_SECONDS": "1",
            "SHARD_COUNT": "2",
            "SHARD_IDS": "0,2",
        },
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any("WEB_PORT" in line and "whole number" in line for line in lines)
    assert any("APPLE_TEAM_ID" in line and "10" in line for line in lines)
    assert any("MESSAGE_CONTENT_INTENT" in line for line in lines)
    assert any("OUTBOX_LEASE_SECONDS must be between 2 and 86400, got 1." in line for line in lines)
    assert any("SHARD_IDS must each be between 0 and SHARD_COUNT-1 (1)." in line for line in lines)
    assert "Traceback" not in result.stderr


def test_check_prints_the_developer_token_header_and_claims_never_the_key(tmp_path: Path, apple_key: AppleKey) -> None:
    key_path = apple_key.write(tmp_path / "AuthKey.p8")
    env = {
        "DISCORD_TOKEN": "discord-token-for-check",
        "APPLE_TEAM_ID": apple_key.team_id,
        "APPLE_KEY_ID": apple_key.key_id,
        "APPLE_PRIVATE_KEY_PATH": str(key_path),
        "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
    }
    result = run_bot("check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("header:"))
    claims_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("claims:"))
    header = json.loads(header_line.split(":", 1)[1])
    claims = json.loads(claims_line.split(":", 1)[1])
    assert header == {"alg": "ES256", "kid": apple_key.key_id, "typ": "JWT"}
    assert claims["iss"] == apple_key.team_id and claims["exp"] > claims["iat"]
    body = apple_key.pem.strip().splitlines()[1]
    assert body not in result.stdout + result.stderr
    assert "discord-token-for-check" not in result.stdout + result.stderr
    assert env["TOKEN_ENCRYPTION_KEY"] not in result.stdout + result.stderr
    # without Discord sign-in on the linking page, check recommends it (with the redirect to register)
    assert "Recommended: set DISCORD_CLIENT_SECRET" in result.stdout
    assert "http://localhost:8080/link/discord" in result.stdout
    with_secret = run_bot("check", env={**env, "DISCORD_CLIENT_SECRET": "client-secret-for-check"}, cwd=tmp_path)
    assert with_secret.returncode == 0, with_secret.stderr
    assert "Recommended: set DISCORD_CLIENT_SECRET" not in with_secret.stdout
    assert "client-secret-for-check" not in with_secret.stdout + with_secret.stderr


def test_token_prints_a_verifiable_developer_token_with_origin(tmp_path: Path, apple_key: AppleKey) -> None:
    key_path = apple_key.write(tmp_path / "AuthKey.p8")
    env = {
        "APPLE_TEAM_ID": apple_key.team_id,
        "APPLE_KEY_ID": apple_key.key_id,
        "APPLE_PRIVATE_KEY_PATH": str(key_path),
    }
    result = run_bot("token", "--hours", "2", "--origin", "https://link.example.org", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, apple_key.public_pem, algorithms=["ES256"])
    assert claims["origin"] == ["https://link.example.org"]
    assert 7100 <= claims["exp"] - claims["iat"] <= 7200


def test_gen_key_prints_a_usable_key(tmp_path: Path) -> None:
    result = run_bot("gen-key", cwd=tmp_path)
    assert result.returncode == 0
    cipher = TokenCipher.from_setting(result.stdout.strip())
    assert cipher.decrypt(cipher.encrypt("x")) == "x"


def test_bad_discord_token_is_a_clear_message(tmp_path: Path) -> None:
    result = run_bot("sync", env={"DISCORD_TOKEN": "x", "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10"}, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
