"""MusicKit developer tokens: ES256 JWTs signed with the team's `.p8` key, cached, re-signed before expiry."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import DeveloperKeyError

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
    "DeveloperToken",
    "generate_private_key",
    "load_private_key",
    "public_key_pem",
]

log = logging.getLogger(__name__)

DEFAULT_LIFETIME = 12 * 3600.0
#: Apple rejects tokens 15777000 s (~182 days) ahead or more; stay well under that.
MAX_LIFETIME = 90 * 24 * 3600.0
MIN_LIFETIME = 60.0
#: Re-sign when less than this fraction of the lifetime is left (but at most `_MAX_MARGIN` seconds before).
_REFRESH_FRACTION = 0.1
_MAX_MARGIN = 1800.0
_ID_RE = re.compile(r"^[A-Z0-9]{10}$")


def _load_key(private_key_pem: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(private_key_pem, str) or "PRIVATE KEY" not in private_key_pem:
        raise DeveloperKeyError("The MusicKit private key is not a PEM private key (a .p8 file's text)")
    try:
        key = serialization.load_pem_private_key(private_key_pem.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        # The exception text of `cryptography` never contains key material, but we do not pass it on anyway.
        raise DeveloperKeyError("The MusicKit private key could not be read (malformed PEM)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise DeveloperKeyError("The MusicKit private key must be an EC P-256 key (ES256), as Apple issues")
    return key


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise DeveloperKeyError(f"The MusicKit {what} must be 10 characters (capital letters and digits)")
    return value


def _seconds(lifetime: float | timedelta) -> float:
    seconds = lifetime.total_seconds() if isinstance(lifetime, timedelta) else float(lifetime)
    if not MIN_LIFETIME <= seconds <= MAX_LIFETIME:
        raise DeveloperKeyError(
            f"Developer token lifetime must be between {MIN_LIFETIME:.0f} s and "
            f"{MAX_LIFETIME / 86400:.0f} days (Apple rejects tokens of 180 days or more)"
        )
    return seconds


def _check_origins(origin: Sequence[str]) -> list[str]:
    if isinstance(origin, str) or not origin:
        raise ValueError("origin must be a non-empty list of URLs such as ['https://example.com']")
    checked: list[str] = []
    for item in origin:
        parts = urlsplit(item) if isinstance(item, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("each origin must be an http(s) URL such as https://example.com")
        checked.append(item)
    return checked


class DeveloperToken:
    """Signs and caches the developer token. `token` is cheap: it signs only when the cached one nears expiry.

    The private key is parsed once and never kept as text; neither the key nor a token appear in `repr`.
    """

    __slots__ = ("_cached", "_exp", "_key", "_margin", "_now", "key_id", "lifetime", "sign_count", "team_id")

    def __init__(
        self,
        team_id: str,
        key_id: str,
        private_key_pem: str,
        lifetime: float | timedelta = DEFAULT_LIFETIME,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.team_id = _check_id(team_id, "team id")
        self.key_id = _check_id(key_id, "key id")
        self.lifetime = _seconds(lifetime)
        self._key = _load_key(private_key_pem)
        self._now = now
        self._margin = min(self.lifetime * _REFRESH_FRACTION, _MAX_MARGIN)
        self._cached: str | None = None
        self._exp = 0.0
        #: How many tokens were signed for `token` (tests use it to prove reuse).
        self.sign_count = 0

    def __repr__(self) -> str:
        return f"DeveloperToken(team_id={self.team_id!r}, key_id={self.key_id!r}, lifetime={self.lifetime:.0f})"

    def _sign(self, lifetime: float, origin: list[str] | None = None) -> tuple[str, float]:
        issued = int(self._now())
        expires = issued + int(lifetime)
        claims: dict[str, Any] = {"iss": self.team_id, "iat": issued, "exp": expires}
        if origin is not None:
            claims["origin"] = origin
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.key_id})
        return token, float(expires)

    @property
    def token(self) -> str:
        """The current token; a new one is signed shortly before the cached one expires."""
        if self._cached is None or self._now() >= self._exp - self._margin:
            self._cached, self._exp = self._sign(self.lifetime)
            self.sign_count += 1
            log.debug("signed a new developer token (kid %s), valid %.0f s", self.key_id, self.lifetime)
        return self._cached

    @property
    def expires_at(self) -> float:
        """Expiry (epoch seconds) of the token `token` returns now."""
        self.token  # noqa: B018 - refreshes the cache if needed
        return self._exp

    def sign_for(self, origin: Sequence[str] | None = None, lifetime: float | timedelta = 3600.0) -> str:
        """A fresh, uncached token (default one hour), restricted to web `origin`s when given.

        For MusicKit JS pages (`origin=["https://bot.example"]`) and for `python -m bot token`.
        """
        origins = None if origin is None else _check_origins(origin)
        token, _ = self._sign(_seconds(lifetime), origins)
        return token

    def describe(self, token: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(header, claims) of `token` (default: the current one), for a `check` command. Never the key."""
        token = token if token is not None else self.token
        return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def load_private_key(path: str | Path) -> str:
    """Read a MusicKit `.p8` file and check it is a usable P-256 key. Returns its PEM text.

    Raises `DeveloperKeyError` with a clear message when the file is missing, unreadable or malformed.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise DeveloperKeyError(f"MusicKit private key file not found: {p}") from exc
    except IsADirectoryError as exc:
        raise DeveloperKeyError(f"MusicKit private key path is a directory, not a .p8 file: {p}") from exc
    except PermissionError as exc:
        raise DeveloperKeyError(f"MusicKit private key file is not readable, permission denied: {p}") from exc
    except UnicodeDecodeError as exc:
        raise DeveloperKeyError(f"MusicKit private key file is not a text .p8 file: {p}") from exc
    except OSError as exc:
        raise DeveloperKeyError(f"MusicKit private key file could not be read: {p}") from exc
    try:
        _load_key(text)
    except DeveloperKeyError as exc:
        raise DeveloperKeyError(f"{exc.message}: {p}") from None
    return text


def generate_private_key() -> str:
    """A new P-256 private key as PKCS#8 PEM, like the `.p8` files Apple issues (for tests and `gen-key`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_pem(private_key_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a private key (what a verifier needs)."""
    return (
        _load_key(private_key_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
