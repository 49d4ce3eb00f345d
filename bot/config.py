"""One typed settings object, declared with pydantic-settings and read once from the environment and ``.env``.

Nothing else in the bot reads ``os.environ``: the entry point builds a :class:`Settings` with
:func:`load_settings` and passes it down. Every problem with the configuration is reported at once, one
clear line per setting, and no secret value is ever echoed back. A malformed value does not stop the
subcommands that do not need it (``gen-key``, ``token``...): it is kept in :attr:`Settings.problems` and
reported by :meth:`Settings.require` and ``check``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

if TYPE_CHECKING:
    from bot.applemusic import DeveloperToken

from bot.applemusic.transport import DEFAULT_MAX_RESPONSE_BYTES
from bot.storage import InvalidEncryptionKey, TokenCipher, UnsupportedDatabaseURL, parse_database_url

DISCORD_API_DEFAULT: Final = "https://discord.com/api/v10"
DISCORD_GATEWAY_DEFAULT: Final = "wss://gateway.discord.gg/"
DISCORD_AUTHORIZE_DEFAULT: Final = "https://discord.com/oauth2/authorize"
DISCORD_CDN_DEFAULT: Final = "https://cdn.discordapp.com"
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

#: The shortest ``METRICS_TOKEN`` accepted (a bearer token on a public server must not be guessable).
METRICS_TOKEN_MIN: Final = 16
LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]

#: the environment ``load_settings`` reads, while it builds a Settings (see ``_Environment``)
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("settings_environment", default=None)


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


# ---------------------------------------------------------------------- value types
def _between(default: float, low: float, high: float) -> Any:
    """A number with a default and inclusive bounds (reported as "must be between LOW and HIGH")."""
    return Field(default=default, ge=low, le=high)


def _url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        kinds = "/".join(sorted(schemes))
        raise ValueError(f"must be a {kinds} URL such as {sorted(schemes)[0]}://host, got {value!r}")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Everything the bot is configured with; each field is the environment variable of the same name in
    capitals (``web_port`` is ``WEB_PORT``). Secrets are :class:`~pydantic.SecretStr`."""

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, str_strip_whitespace=True, env_ignore_empty=True, validate_default=True
    )

    # --- Discord
    discord_token: SecretStr | None = None
    discord_api_base: str = DISCORD_API_DEFAULT
    discord_gateway_url: str = DISCORD_GATEWAY_DEFAULT
    dev_guild_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    message_content_intent: bool = False
    # the linking page's Discord sign-in (OAuth2): the client id is the application id unless set
    discord_client_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    discord_client_secret: SecretStr | None = None
    discord_oauth_authorize_url: str = DISCORD_AUTHORIZE_DEFAULT
    discord_cdn_url: str = DISCORD_CDN_DEFAULT
    # --- Apple Music
    apple_team_id: str | None = None
    apple_key_id: str | None = None
    apple_private_key_path: Path | None = None
    apple_music_api_base: str = APPLE_MUSIC_API_DEFAULT
    musickit_js_url: str = MUSICKIT_JS_DEFAULT
    # "adaptive": every Apple request is paced at the rate learned from Apple's 429s; "off": no pacing at all
    apple_pacing: Literal["adaptive", "off"] = "adaptive"
    # the most Apple requests per second the processes together send (None: only what the pacer learns)
    apple_requests_per_second: float | None = Field(default=None, gt=0, le=1000)
    # the share of the learned rate background work leaves to commands while people use the bot
    apple_interactive_reserve: float = _between(0.1, 0, 0.5)
    apple_max_response_bytes: int = _between(DEFAULT_MAX_RESPONSE_BYTES, 65_536, 268_435_456)
    # --- storage
    database_url: str = DATABASE_URL_DEFAULT
    token_encryption_key: Annotated[tuple[SecretStr, ...] | None, NoDecode] = None
    database_pool_min_size: int = _between(1, 1, 1000)
    database_pool_max_size: int = _between(10, 1, 1000)
    token_cache_seconds: float = _between(60.0, 0, 3600)
    token_cache_size: int = _between(10_000, 1, 10_000_000)
    # --- linking page
    web_host: str = "127.0.0.1"
    web_port: int = _between(8080, 0, 65535)
    link_base_url: str | None = None  # after web_port: its default names that port
    link_minutes: int = _between(10, 1, 1440)
    link_page_token_minutes: int = _between(30, 5, 1440)
    link_max_attempts: int = _between(5, 1, 100)
    link_checks_per_user: int = _between(10, 1, 10_000)
    link_checks_per_ip: int = _between(20, 1, 100_000)
    link_check_window_minutes: int = _between(60, 1, 1440)
    link_requests_per_ip_minute: int = _between(60, 1, 100_000)
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...] | None, NoDecode] = None
    # --- health and metrics: /healthz, /readyz, /metrics on their own listener ("own"), on the linking page's
    # server ("web"; /metrics there only with METRICS_TOKEN), or nowhere ("off")
    ops_listener: Literal["own", "web", "off"] = "own"
    ops_host: str = "127.0.0.1"
    ops_port: int = _between(9108, 0, 65535)
    metrics_token: SecretStr | None = None
    # --- reactions and the outbox
    shard_count: int | None = Field(default=None, ge=1, le=100_000)
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None
    outbox_lease_seconds: int = _between(120, 2, 86_400)
    outbox_concurrency: int = _between(8, 1, 256)
    shutdown_grace_seconds: float = _between(10.0, 0, 3600)
    outbox_max_per_user: int = _between(500, 1, 1_000_000)
    mixtape_size: int = _between(25, 1, 100)
    mixtape_concurrency: int = _between(2, 1, 64)
    reaction_retry_seconds: float = _between(120.0, 0, 86_400)
    unlinked_reaction_minutes: int = _between(10, 1, 1440)
    reaction_cache_size: int = _between(100_000, 1, 10_000_000)
    catch_up_hours: float = _between(24.0, 0, 24 * 14)
    catch_up_messages: int = _between(500, 0, 100_000)
    # --- retention (README, "What the bot keeps")
    shared_message_days: int = _between(90, 1, 3650)
    notice_days: int = _between(30, 1, 3650)
    left_guild_days: int = _between(7, 0, 365)
    taste_days: int = _between(365, 7, 3650)
    # --- the weekly recap
    recap_check_seconds: float = _between(600.0, 10, 86_400)
    recap_lease_seconds: float = _between(300.0, 30, 86_400)
    # --- commands and caches
    autocomplete_budget_seconds: float = _between(2.0, 0.1, 2.9)
    catalog_cache_size: int = _between(20_000, 1, 10_000_000)
    catalog_cache_seconds: float = _between(3600.0, 0, 604_800)
    search_cache_size: int = _between(2_000, 1, 10_000_000)
    search_cache_seconds: float = _between(300.0, 0, 604_800)
    track_list_cache_size: int = _between(500, 1, 10_000_000)
    track_list_cache_seconds: float = _between(600.0, 0, 604_800)
    language_cache_size: int = _between(10_000, 1, 10_000_000)
    language_cache_seconds: float = _between(86_400.0, 0, 604_800)
    # --- links of other music services (bot.crossref): every outside service's base URL
    odesli_enabled: bool = True
    odesli_api_base: str = "https://api.song.link"
    odesli_api_key: SecretStr | None = None
    # requests a minute sent to Odesli (its public limit is about 10 a minute without a key)
    odesli_requests_per_minute: int = _between(10, 1, 10_000)
    spotify_client_id: str | None = None
    spotify_client_secret: SecretStr | None = None
    spotify_accounts_base: str = "https://accounts.spotify.com"
    spotify_api_base: str = "https://api.spotify.com"
    spotify_oembed_base: str = "https://open.spotify.com"
    deezer_api_base: str = "https://api.deezer.com"
    youtube_oembed_base: str = "https://www.youtube.com"
    soundcloud_oembed_base: str = "https://soundcloud.com"
    # where the Tidal and Amazon Music pages are read (their Open Graph title); empty = the link's own host
    tidal_page_base: str | None = None
    amazon_music_page_base: str | None = None
    # where short links (spotify.link, deezer.page.link, link.deezer.com, on.soundcloud.com) are expanded;
    # empty = the link's own host. For a loopback server only.
    short_link_base: str | None = None
    match_confidence: float = _between(0.8, 0.0, 1.0)
    match_cache_size: int = _between(10_000, 1, 10_000_000)
    match_cache_seconds: float = _between(86_400.0, 0, 604_800)
    match_request_seconds: float = _between(2.0, 0.1, 30.0)
    # links of other services matched by one member's commands per minute (each may ask several outside services)
    match_lookups_per_minute: int = _between(10, 1, 1000)
    # posts in sharing channels matched at once (the others wait their turn)
    match_concurrency: int = _between(4, 1, 64)
    # posts of one server kept waiting to be matched while the matching services are unavailable
    pending_matches_per_guild: int = _between(100, 0, 100_000)
    # tries of a waiting post before it is dropped, the wait before the first retry (doubling, at most an hour),
    # and how long a waiting post is kept at most
    pending_match_attempts: int = _between(10, 1, 100)
    pending_match_retry_seconds: float = _between(60.0, 1.0, 3600.0)
    pending_match_hours: float = _between(24.0, 1.0, 168.0)
    # --- logs
    log_level: LogLevel = "INFO"
    # "json": one JSON object per line (time, level, logger, message, shard, guild, user, exc)
    log_format: Literal["text", "json"] = "text"

    _problems: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings has already merged the .env file under the environment (the environment wins)
        return (init_settings, _Environment(settings_cls))

    # ------------------------------------------------------------------ validation
    @field_validator("apple_team_id", "apple_key_id")
    @classmethod
    def _ten_characters(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 10 or not value.isalnum()):
            raise ValueError(f"must be exactly 10 letters or digits (as shown by Apple), got {len(value)} characters")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < METRICS_TOKEN_MIN:
            raise ValueError(f"must be at least {METRICS_TOKEN_MIN} characters (make one with `openssl rand -hex 32`)")
        return value

    @field_validator("apple_private_key_path")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        if not path.is_file():
            raise ValueError(f"points to {str(path)!r}, which is not a readable file")
        return path

    @field_validator(
        "discord_api_base",
        "apple_music_api_base",
        "musickit_js_url",
        "discord_oauth_authorize_url",
        "discord_cdn_url",
        "odesli_api_base",
        "spotify_accounts_base",
        "spotify_api_base",
        "spotify_oembed_base",
        "deezer_api_base",
        "youtube_oembed_base",
        "soundcloud_oembed_base",
        "tidal_page_base",
        "amazon_music_page_base",
        "short_link_base",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else _url(value, ("http", "https"))

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        return _url(value, ("ws", "wss"))

    @field_validator("link_base_url")
    @classmethod
    def _link_base_url(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:  # default: the page's own port on localhost
            return f"http://localhost:{info.data.get('web_port', 8080)}"
        return _url(value, ("http", "https"))

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # accepted exactly when the storage factory accepts it
        try:
            parse_database_url(value)
        except UnsupportedDatabaseURL as exc:
            text = str(exc)
            raise ValueError(text if text.startswith("DATABASE_URL") else f"is not usable: {text}") from None
        return value

    @field_validator("token_encryption_key", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:  # the one place the key list is parsed and checked; messages never contain key material
            TokenCipher.from_setting(value)
        except InvalidEncryptionKey as exc:
            raise ValueError(str(exc)) from None
        return tuple(part.strip() for part in value.split(","))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks: list[IPv4Network | IPv6Network] = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"must be comma-separated IP addresses or networks such as 10.0.0.1,192.168.0.0/16, got {part!r}"
                ) from None
        return tuple(networks) or None

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return tuple(int(part) for part in value.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"must be comma-separated whole numbers such as 0,1, got {value!r}") from None

    @field_validator("shard_ids")
    @classmethod
    def _shards_in_range(cls, value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        if value is None:
            return None
        count = info.data.get("shard_count")
        if count is None:
            raise ValueError("is set but SHARD_COUNT is not: set both, e.g. SHARD_COUNT=2 SHARD_IDS=0,1")
        if any(not 0 <= shard < count for shard in value):
            raise ValueError(f"must each be between 0 and SHARD_COUNT-1 ({count - 1})")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    # ------------------------------------------------------------------ use
    @property
    def problems(self) -> tuple[str, ...]:
        """Malformed settings (already explained, one line each); they were left at their defaults."""
        return self._problems

    def missing(self, names: Mapping[str, str] = RUN_REQUIRED) -> list[str]:
        """One line per required setting that is not set."""
        return [f"{name} is not set: {hint}." for name, hint in names.items() if getattr(self, name.lower()) is None]

    def require(self, names: Mapping[str, str] = RUN_REQUIRED) -> None:
        """Raise :class:`ConfigError` listing malformed values and missing required ones."""
        problems = [*self.problems, *self.missing(names)]
        if problems:
            raise ConfigError(problems)

    # Typed accessors for code that runs after ``require``.
    def token(self) -> str:
        assert self.discord_token is not None, "require() first"
        return self.discord_token.get_secret_value()

    def cipher(self) -> TokenCipher:
        """The token cipher of ``TOKEN_ENCRYPTION_KEY`` (first key encrypts, any key decrypts)."""
        assert self.token_encryption_key is not None, "require() first"
        return TokenCipher([key.get_secret_value() for key in self.token_encryption_key])

    def developer_token(self) -> DeveloperToken:
        """The MusicKit developer token signer of ``APPLE_*`` (reads the .p8 key file)."""
        from bot.applemusic import DeveloperToken, load_private_key

        assert self.apple_team_id and self.apple_key_id and self.apple_private_key_path, "require() first"
        return DeveloperToken(self.apple_team_id, self.apple_key_id, load_private_key(self.apple_private_key_path))

    def metrics_bearer(self) -> str | None:
        """``METRICS_TOKEN``: the bearer token ``/metrics`` requires on the linking page's server."""
        return None if self.metrics_token is None else self.metrics_token.get_secret_value()

    def client_secret(self) -> str | None:
        """``DISCORD_CLIENT_SECRET``: when set, the linking page signs the browser in to Discord first."""
        return None if self.discord_client_secret is None else self.discord_client_secret.get_secret_value()


class _Environment(EnvSettingsSource):
    """The environment as :func:`load_settings` merged it (``.env`` under the process environment)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRONMENT.get()
        values = os.environ if environ is None else environ
        # case-insensitive, as pydantic-settings reads the process environment; an empty value means "not set"
        return {name.lower(): value for name, value in values.items() if value.strip()}


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRONMENT.set(environ)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


def _read_env(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _explain(error: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str, str]:
    """(setting name, one sentence) for one pydantic error; never echoes a secret."""
    field = str(error["loc"][0]) if error["loc"] else ""
    name = field.upper()
    raw = environ.get(name, "")
    kind = error["type"]
    info = Settings.model_fields.get(field)
    metadata = info.metadata if info is not None else []
    limits = {name: getattr(m, name) for m in metadata for name in ("gt", "ge", "le") if hasattr(m, name)}
    if kind == "value_error":
        text = str(error["ctx"]["error"]).rstrip(".")
        return name, (text if text.startswith(name) else f"{name} {text}") + "."
    if kind in ("int_parsing", "int_from_float"):
        return name, f"{name} must be a whole number, got {raw!r}."
    if kind == "float_parsing":
        return name, f"{name} must be a number such as 20 or 7.5, got {raw!r}."
    if kind == "bool_parsing":
        return name, f"{name} must be true or false, got {raw!r}."
    if kind == "literal_error":
        return name, f"{name} must be one of {error['ctx']['expected']}, got {raw!r}."
    if "ge" in limits and "le" in limits:
        return name, f"{name} must be between {_number(limits['ge'])} and {_number(limits['le'])}, got {raw}."
    if "gt" in limits and "le" in limits:
        return name, f"{name} must be more than {_number(limits['gt'])} and at most {_number(limits['le'])}, got {raw}."
    return name, f"{name} is not valid ({error['msg']})."


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Read settings from ``environ`` (default: the process environment) over an optional ``.env`` file.

    Malformed values are left at their defaults and explained in ``Settings.problems``; missing required
    values are reported by :meth:`Settings.require`, so subcommands that need only part of the
    configuration can still run.
    """
    values = _read_env(environ, env_file)
    problems: list[str] = []
    for _ in range(len(Settings.model_fields) + 1):
        try:
            with _reading(values):
                settings = Settings()
        except ValidationError as exc:
            bad: set[str] = set()
            for error in exc.errors(include_url=False, include_input=False):
                name, sentence = _explain(error, values)
                bad.add(name)
                problems.append(sentence)
            values = {k: v for k, v in values.items() if k.upper() not in bad}
            continue
        settings._problems = tuple(dict.fromkeys(problems))
        return settings
    raise AssertionError("unreachable: every pass removes at least one malformed setting")
