"""Settings: declared once (bot/config.py), documented in the README's tables and .env.example, reported kindly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import RUN_REQUIRED, ConfigError, Settings, load_settings
from bot.storage import TokenCipher, UnsupportedDatabaseURL, parse_database_url

ROOT = Path(__file__).resolve().parents[1]
ENV_NAMES = sorted(name.upper() for name in Settings.model_fields)


def readme_settings() -> dict[str, str]:
    """NAME -> the default the README's settings tables state (rows like ``| `A` / `B` | `1` / `2` | ... |``)."""
    rows: dict[str, str] = {}
    in_table = False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| name | default |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table or line.startswith("|---"):
            continue
        names_cell, default_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        names = re.findall(r"`([A-Z_]+)`", names_cell)
        defaults = [d.strip() for d in default_cell.split(" / ")]
        if len(defaults) == 1:  # one default for all the names ("—")
            defaults *= len(names)
        assert len(defaults) == len(names), line
        rows.update(zip(names, defaults, strict=True))
    return rows


def shown(value: object) -> str | None:
    """A default as the README writes it (None: "—", not set)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).rstrip("/")


def test_every_setting_is_in_the_readme_with_its_real_default() -> None:
    documented = readme_settings()
    assert sorted(documented) == ENV_NAMES
    defaults = load_settings({}, env_file=None)
    for name, cell in documented.items():
        value = shown(getattr(defaults, name.lower()))
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if value is None:
            assert cell.startswith("—"), (name, cell)
        elif literal is not None:
            assert literal.group(1).rstrip("/") == value, (name, cell, value)
        else:  # prose, e.g. "Apple's CDN"
            assert name == "MUSICKIT_JS_URL" and "apple.com" in value


def test_every_setting_is_in_env_example() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    listed = sorted(line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line))
    assert listed == ENV_NAMES
    # the example itself is a valid configuration apart from what it leaves for the operator to fill in
    values = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    settings = load_settings({k: v for k, v in values.items() if k != "APPLE_PRIVATE_KEY_PATH"}, env_file=None)
    assert settings.problems == ()
    assert {line.split(" ")[0] for line in settings.missing()} == set(RUN_REQUIRED)


def test_malformed_values_are_explained_one_per_line_and_left_at_their_defaults() -> None:
    settings = load_settings(
        {
            "WEB_PORT": "eighty",
            "APPLE_TEAM_ID": "short",
            "MESSAGE_CONTENT_INTENT": "maybe",
            "OUTBOX_LEASE_SECONDS": "1",
            "SHARD_COUNT": "2",
            "SHARD_IDS": "0,2",
            "APPLE_REQUESTS_PER_SECOND": "0",
            "AUTOCOMPLETE_BUDGET_SECONDS": "5",
            "LOG_LEVEL": "loud",
            "DISCORD_API_BASE": "ftp://discord.example",
        },
        env_file=None,
    )
    assert sorted(settings.problems) == sorted(
        [
            "WEB_PORT must be a whole number, got 'eighty'.",
            "APPLE_TEAM_ID must be exactly 10 letters or digits (as shown by Apple), got 5 characters.",
            "MESSAGE_CONTENT_INTENT must be true or false, got 'maybe'.",
            "OUTBOX_LEASE_SECONDS must be between 2 and 86400, got 1.",
            "SHARD_IDS must each be between 0 and SHARD_COUNT-1 (1).",
            "APPLE_REQUESTS_PER_SECOND must be more than 0 and at most 1000, got 0.",
            "AUTOCOMPLETE_BUDGET_SECONDS must be between 0.1 and 2.9, got 5.",
            "LOG_LEVEL must be one of 'CRITICAL', 'ERROR', 'WARNING', 'INFO' or 'DEBUG', got 'loud'.",
            "DISCORD_API_BASE must be a http/https URL such as http://host, got 'ftp://discord.example'.",
        ]
    )
    assert (settings.web_port, settings.outbox_lease_seconds, settings.shard_ids) == (8080, 120, None)
    with pytest.raises(ConfigError) as caught:
        settings.require()
    explained = caught.value.explain()
    assert all(problem in explained for problem in settings.problems)
    assert all(name in explained for name in RUN_REQUIRED)


def test_values_are_read_case_insensitively_trimmed_and_empty_means_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WEB_PORT=9000\nLINK_MINUTES=15\nDEV_GUILD_ID=\nlog_level=debug\n", encoding="utf-8")
    settings = load_settings({"LINK_MINUTES": " 20 ", "SHARD_COUNT": "2", "SHARD_IDS": "0, 1"}, env_file=env_file)
    assert settings.problems == ()
    assert settings.web_port == 9000 and settings.link_base_url == "http://localhost:9000"
    assert settings.link_minutes == 20  # the environment wins over .env
    assert settings.dev_guild_id is None and settings.log_level == "DEBUG"
    assert settings.shard_ids == (0, 1)


def test_secrets_are_parsed_once_and_never_shown() -> None:
    first, second = TokenCipher.generate_key(), TokenCipher.generate_key()
    settings = load_settings(
        {
            "TOKEN_ENCRYPTION_KEY": f"{first}, {second}",
            "DISCORD_TOKEN": "discord-secret-token",
            "DISCORD_CLIENT_SECRET": "oauth-client-secret",
        },
        env_file=None,
    )
    assert settings.problems == ()
    assert settings.cipher().key_count == 2
    assert settings.token() == "discord-secret-token"
    assert settings.client_secret() == "oauth-client-secret"
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert first not in text and second not in text and "discord-secret-token" not in text
        assert "oauth-client-secret" not in text
    broken = load_settings({"TOKEN_ENCRYPTION_KEY": f"{first},{first[:-4]}"}, env_file=None)
    assert broken.problems == (
        "TOKEN_ENCRYPTION_KEY: key #2 of 2 is not a valid Fernet key: expected 44 characters of url-safe base64 "
        "(32 random bytes), as printed by `python -m bot gen-key`.",
    )
    assert first[:-4] not in broken.problems[0]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/bot.db",
        "sqlite:////var/lib/bot/bot.db",
        "sqlite3:///x.db",
        "sqlite://localhost/x.db",
        "sqlite://host/x.db",
        "sqlite:///",
        "sqlite:///x.db?mode=ro",
        "postgresql://bot:pw@db:5432/bot",
        "postgres://db/bot",
        "postgresql+asyncpg://db/bot",
        "postgresql://",
        "mysql://db/bot",
        "bot.db",
    ],
)
def test_database_url_is_accepted_exactly_when_the_storage_factory_accepts_it(url: str) -> None:
    try:
        parse_database_url(url)
        accepted = True
    except UnsupportedDatabaseURL:
        accepted = False
    problems = load_settings({"DATABASE_URL": url}, env_file=None).problems
    assert (problems == ()) is accepted, problems
    if not accepted:
        assert problems[0].startswith("DATABASE_URL ") and "pw" not in problems[0]
