"""Encryption of Apple Music user tokens at rest (Fernet / MultiFernet from ``cryptography``).

``TOKEN_ENCRYPTION_KEY`` holds one or more comma-separated Fernet keys. The first key encrypts; any key
decrypts, so keys can be rotated: put a new key first, run ``rotate-keys``, then drop the old one.
Nothing here ever puts key material or a token into a message, a repr or a log line.

A key's *fingerprint* (:attr:`TokenCipher.fingerprints`) is a short HMAC-SHA256 of a fixed label under the key:
it tells two keys apart (a running process records the fingerprints of its keys, so ``rotate-keys`` can see
whether it holds the new key) and reveals nothing of the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import NoReturn

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.storage.errors import InvalidEncryptionKey, TokenDecryptError

__all__ = ["InvalidEncryptionKey", "TokenCipher", "TokenDecryptError"]

SETTING_NAME = "TOKEN_ENCRYPTION_KEY"
#: what a key's fingerprint is the HMAC of (a fixed label: fingerprints are comparable across processes)
FINGERPRINT_LABEL = b"applemusic-ratings-bot key fingerprint v1"
#: hex digits kept of the HMAC (64 bits: two different keys never collide in practice)
FINGERPRINT_LENGTH = 16


class TokenCipher:
    """Encrypts with the first key, decrypts with any of them."""

    __slots__ = ("_fernet", "_fingerprints", "_key_count")

    def __init__(self, keys: Sequence[str | bytes], *, setting_name: str = SETTING_NAME) -> None:
        if isinstance(keys, str | bytes):
            raise TypeError("TokenCipher takes a sequence of keys; use TokenCipher.from_setting(text)")
        if not keys:
            raise InvalidEncryptionKey(
                f"{setting_name} is empty: generate a key with `python -m bot gen-key` and set it"
            )
        fernets: list[Fernet] = []
        total = len(keys)
        for position, key in enumerate(keys, start=1):
            fernets.append(_make_fernet(key, position, total, setting_name))
        self._fernet = MultiFernet(fernets)
        self._key_count = total
        self._fingerprints = tuple(_fingerprint(key) for key in keys)

    @classmethod
    def from_setting(cls, text: str, *, setting_name: str = SETTING_NAME) -> TokenCipher:
        """Parse ``key1,key2,...`` (whitespace around keys is ignored; empty entries are errors)."""
        if not text or not text.strip():
            raise InvalidEncryptionKey(
                f"{setting_name} is empty: generate a key with `python -m bot gen-key` and set it"
            )
        return cls([part.strip() for part in text.split(",")], setting_name=setting_name)

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key (44 characters of url-safe base64)."""
        return Fernet.generate_key().decode("ascii")

    @property
    def key_count(self) -> int:
        return self._key_count

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """Each key's fingerprint, in the keys' order (the first one's is the encrypting key's)."""
        return self._fingerprints

    def encrypt(self, token: str) -> bytes:
        """Encrypt with the first (primary) key."""
        return self._fernet.encrypt(token.encode("utf-8"))

    def decrypt(self, blob: bytes) -> str:
        """Decrypt with whichever configured key matches; :class:`TokenDecryptError` if none does."""
        try:
            return self._fernet.decrypt(bytes(blob)).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise TokenDecryptError(
                "a stored token cannot be decrypted with any key in TOKEN_ENCRYPTION_KEY "
                "(was a key removed before running rotate-keys?)"
            ) from None

    def decrypt_token(self, blob: bytes, user_id: int) -> str:
        """``decrypt`` for a stored account token, with an error that names the account (never the token)."""
        try:
            return self.decrypt(bytes(blob))
        except TokenDecryptError:
            raise TokenDecryptError(
                f"the stored Apple Music token of user {user_id} cannot be decrypted with any key in "
                "TOKEN_ENCRYPTION_KEY (was a key removed before running rotate-keys?)"
            ) from None

    def rotate_token(self, blob: bytes, user_id: int) -> bytes:
        """``rotate`` for a stored account token, with an error that names the account (never the token)."""
        try:
            return self.rotate(bytes(blob))
        except TokenDecryptError:
            raise TokenDecryptError(
                f"cannot re-encrypt the token of user {user_id}: no key in "
                "TOKEN_ENCRYPTION_KEY decrypts it; nothing was changed"
            ) from None

    def rotate(self, blob: bytes) -> bytes:
        """Re-encrypt ``blob`` with the first key (it may currently be encrypted with any key)."""
        try:
            return self._fernet.rotate(bytes(blob))
        except InvalidToken:
            raise TokenDecryptError(
                "a stored token cannot be decrypted with any key in TOKEN_ENCRYPTION_KEY, so it cannot be "
                "re-encrypted (was a key removed before running rotate-keys?)"
            ) from None

    def __repr__(self) -> str:
        return f"<TokenCipher with {self._key_count} key{'s' if self._key_count != 1 else ''}>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("TokenCipher holds secret keys and cannot be pickled or copied")


def _fingerprint(key: str | bytes) -> str:
    """A short HMAC-SHA256 of :data:`FINGERPRINT_LABEL` under the key's 32 bytes (a valid Fernet key)."""
    raw = key.strip()
    secret = base64.urlsafe_b64decode(raw.encode("ascii") if isinstance(raw, str) else raw)
    return hmac.new(secret, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:FINGERPRINT_LENGTH]


def _make_fernet(key: str | bytes, position: int, total: int, setting_name: str) -> Fernet:
    where = f"{setting_name}: key #{position} of {total}"
    raw = key.strip()
    if not raw:
        raise InvalidEncryptionKey(f"{where} is empty (check for a stray comma); keys are separated by commas")
    try:
        return Fernet(raw)
    except (ValueError, TypeError):
        # Never chain or echo the underlying error: keep key material out of messages and tracebacks.
        raise InvalidEncryptionKey(
            f"{where} is not a valid Fernet key: expected 44 characters of url-safe base64 "
            "(32 random bytes), as printed by `python -m bot gen-key`"
        ) from None
