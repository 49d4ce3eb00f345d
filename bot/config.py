"""One typed settings object, read once from the environment and an optional ``.env`` file.

Nothing else in the bot reads ``os.environ``: the entry point builds a :class:`Settings` and passes it down.
Every problem with the configuration is reported at once, one clear line per setting, and no secret value
is ever echoed back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from dotenv import dotenv_values

DISCORD_API_DEFAULT: Final = "https://discord.com/api/v10"
DISCORD_GATEWAY_DEFAULT: Final = "wss://gateway.discord.gg/"
APPLE_MUSIC_API_DEFAULT: Final = "https://api.music.apple.com"
MUSICKIT_JS_DEFAULT: Final = "https://js-cdn.music.apple.com/musickit/v3/musickit.js"
DATABASE_URL_DEFAULT: Final = "sqlite:///data/bot.db"

#: The settings a running bot cannot do without, with the hint printed when one is missing.
RUN_REQUIRED: Final[dict[str, str]] = {
    "DISCORD_TOKEN": "the bot token from the Discord developer portal (Bot > Reset Token)",
    "APPLE_TEAM_ID": "your 10-character Apple Developer team id",
    "APPLE_KEY_ID": "the 10-character id of your MusicKit key",
    "APPLE_PRIVATE_KEY_PATH": "the path of the MusicKit .p8 private key file",
    "TOKEN_ENCRYPTION_KEY": "a Fernet key for tokens at rest: make one with `python -m bot gen-key`",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LOG_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}


class Secret:
    """A string that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))

    def explain(self) -> str:
        lines = ["The bot cannot start: its configuration is incomplete."]
        lines += [f"  - {p}" for p in self.problems]
        lines.append(
            "Set these as environment variables or in a .env file in the working directory "
            "(copy .env.example to .env and fill it in); the README explains where each value comes from."
        )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot is configured with. Secrets are wrapped in :class:`Secret`."""

    discord_token: Secret | None = None
    discord_api_base: str = DISCORD_API_DEFAULT
    discord_gateway_url: str = DISCORD_GATEWAY_DEFAULT
    dev_guild_id: int | None = None
    apple_team_id: str | None = None
    apple_key_id: str | None = None
    apple_private_key_path: Path | None = None
    apple_music_api_base: str = APPLE_MUSIC_API_DEFAULT
    musickit_js_url: str = MUSICKIT_JS_DEFAULT
    database_url: str = DATABASE_URL_DEFAULT
    token_encryption_key: Secret | None = None
    link_base_url: str = "http://localhost:8080"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    message_content_intent: bool = False
    log_level: str = "INFO"
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    #: outbox claim lease in seconds (None: the OutboxConfig default); see OUTBOX_LEASE_SECONDS in .env.example
    outbox_lease: int | None = None
    #: ratings the outbox applies at once per process (None: the OutboxConfig default)
    outbox_concurrency: int | None = None
    #: this process's ceiling for Apple Music requests per second (None: no pacing, 429s are retried)
    apple_requests_per_second: float | None = None
    #: settings that were malformed (already explained); kept so callers can report them together
    problems: tuple[str, ...] = field(default=(), compare=False)

    def missing(self, names: Mapping[str, str] = RUN_REQUIRED) -> list[str]:
        """One line per required setting that is not set."""
        values = {
            "DISCORD_TOKEN": self.discord_token,
            "APPLE_TEAM_ID": self.apple_team_id,
            "APPLE_KEY_ID": self.apple_key_id,
            "APPLE_PRIVATE_KEY_PATH": self.apple_private_key_path,
            "TOKEN_ENCRYPTION_KEY": self.token_encryption_key,
        }
        return [f"{name} is not set: {hint}." for name, hint in names.items() if values.get(name) is None]

    def require(self, names: Mapping[str, str] = RUN_REQUIRED) -> None:
        """Raise :class:`ConfigError` listing malformed values and missing required ones."""
        problems = [*self.problems, *self.missing(names)]
        if problems:
            raise ConfigError(problems)

    # Typed accessors for code that runs after ``require``.
    def token(self) -> str:
        assert self.discord_token is not None, "require() first"
        return self.discord_token.get()

    def encryption_key(self) -> str:
        assert self.token_encryption_key is not None, "require() first"
        return self.token_encryption_key.get()


def _read_env(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _url(name: str, raw: str, schemes: set[str], problems: list[str]) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        problems.append(
            f"{name} must be a {'/'.join(sorted(schemes))} URL such as {sorted(schemes)[0]}://host, got {raw!r}."
        )
    return raw.rstrip("/")


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Read settings from ``environ`` (default: the process environment) over an optional ``.env`` file.

    Malformed values are collected in ``Settings.problems``; missing required values are reported by
    :meth:`Settings.require`, so subcommands that need only part of the configuration can still run.
    """
    env = _read_env(environ, env_file)
    problems: list[str] = []

    def get(name: str) -> str | None:
        value = env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def integer(name: str, low: int, high: int) -> int | None:
        raw = get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name} must be a whole number, got {raw!r}.")
            return None
        if not low <= value <= high:
            problems.append(f"{name} must be between {low} and {high}, got {value}.")
            return None
        return value

    def positive_number(name: str, high: float) -> float | None:
        raw = get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"{name} must be a number such as 20 or 7.5, got {raw!r}.")
            return None
        if not 0 < value <= high:
            problems.append(f"{name} must be more than 0 and at most {high:g}, got {raw}.")
            return None
        return value

    def ten_chars(name: str) -> str | None:
        raw = get(name)
        if raw is not None and (len(raw) != 10 or not raw.isalnum()):
            problems.append(
                f"{name} must be exactly 10 letters or digits (as shown by Apple), got {len(raw)} characters."
            )
        return raw

    token = get("DISCORD_TOKEN")
    key_path_raw = get("APPLE_PRIVATE_KEY_PATH")
    key_path = Path(key_path_raw).expanduser() if key_path_raw else None
    if key_path is not None and not key_path.is_file():
        problems.append(f"APPLE_PRIVATE_KEY_PATH points to {str(key_path)!r}, which is not a readable file.")

    enc = get("TOKEN_ENCRYPTION_KEY")

    mci_raw = (get("MESSAGE_CONTENT_INTENT") or "false").lower()
    if mci_raw in _TRUE:
        message_content = True
    elif mci_raw in _FALSE:
        message_content = False
    else:
        problems.append(f"MESSAGE_CONTENT_INTENT must be true or false, got {mci_raw!r}.")
        message_content = False

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(sorted(_LOG_LEVELS))}, got {log_level!r}.")
        log_level = "INFO"

    web_host = get("WEB_HOST") or "127.0.0.1"
    web_port = integer("WEB_PORT", 0, 65535)
    web_port = 8080 if web_port is None else web_port
    link_base = get("LINK_BASE_URL") or f"http://localhost:{web_port}"

    database_url = get("DATABASE_URL") or DATABASE_URL_DEFAULT
    if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        problems.append(
            f"DATABASE_URL must start with sqlite:/// (a file) or postgresql://, got {database_url.split(':', 1)[0]!r}."
        )

    shard_count = integer("SHARD_COUNT", 1, 100_000)
    shard_ids: tuple[int, ...] | None = None
    raw_ids = get("SHARD_IDS")
    if raw_ids is not None:
        try:
            shard_ids = tuple(int(p) for p in raw_ids.split(",") if p.strip())
        except ValueError:
            problems.append(f"SHARD_IDS must be comma-separated whole numbers such as 0,1, got {raw_ids!r}.")
        else:
            if shard_count is None:
                problems.append("SHARD_IDS is set but SHARD_COUNT is not: set both, e.g. SHARD_COUNT=2 SHARD_IDS=0,1.")
            elif any(not 0 <= s < shard_count for s in shard_ids):
                problems.append(f"SHARD_IDS must each be between 0 and SHARD_COUNT-1 ({shard_count - 1}).")

    return Settings(
        discord_token=Secret(token) if token else None,
        discord_api_base=_url(
            "DISCORD_API_BASE", get("DISCORD_API_BASE") or DISCORD_API_DEFAULT, {"https", "http"}, problems
        ),
        discord_gateway_url=_url(
            "DISCORD_GATEWAY_URL",
            get("DISCORD_GATEWAY_URL") or DISCORD_GATEWAY_DEFAULT,
            {"wss", "ws"},
            problems,
        ),
        dev_guild_id=integer("DEV_GUILD_ID", 1, 2**63 - 1),
        apple_team_id=ten_chars("APPLE_TEAM_ID"),
        apple_key_id=ten_chars("APPLE_KEY_ID"),
        apple_private_key_path=key_path,
        apple_music_api_base=_url(
            "APPLE_MUSIC_API_BASE",
            get("APPLE_MUSIC_API_BASE") or APPLE_MUSIC_API_DEFAULT,
            {"https", "http"},
            problems,
        ),
        musickit_js_url=_url(
            "MUSICKIT_JS_URL", get("MUSICKIT_JS_URL") or MUSICKIT_JS_DEFAULT, {"https", "http"}, problems
        ),
        database_url=database_url,
        token_encryption_key=Secret(enc) if enc else None,
        link_base_url=_url("LINK_BASE_URL", link_base, {"https", "http"}, problems),
        web_host=web_host,
        web_port=web_port,
        message_content_intent=message_content,
        log_level=log_level,
        shard_count=shard_count,
        shard_ids=shard_ids,
        outbox_lease=integer("OUTBOX_LEASE_SECONDS", 2, 86_400),
        outbox_concurrency=integer("OUTBOX_CONCURRENCY", 1, 256),
        apple_requests_per_second=positive_number("APPLE_REQUESTS_PER_SECOND", 1000.0),
        problems=tuple(problems),
    )


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # At DEBUG, discord.py logs request bodies and whole gateway events (a DM may hold a pasted token) and
    # aiosqlite logs SQL parameters (encrypted tokens): those loggers never go below INFO.
    floor = max(logging.INFO, getattr(logging, level, logging.INFO))
    for name in ("discord.http", "discord.gateway", "discord.client", "discord.state", "aiosqlite"):
        logging.getLogger(name).setLevel(floor)
