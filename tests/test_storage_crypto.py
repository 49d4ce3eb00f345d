"""TokenCipher: Fernet/MultiFernet encryption of music user tokens, key parsing and rotation."""

from __future__ import annotations

import base64
import copy
import hashlib
import pickle

import pytest
from cryptography.fernet import Fernet

from bot.storage import InvalidEncryptionKey, TokenCipher, TokenDecryptError

TOKEN = "AmMusicUserToken+abc/DEF=ghi-0123456789-" * 4


def test_round_trip_and_ciphertext_hides_token(cipher: TokenCipher) -> None:
    blob = cipher.encrypt(TOKEN)
    assert isinstance(blob, bytes)
    assert TOKEN.encode() not in blob
    assert cipher.decrypt(blob) == TOKEN
    assert cipher.encrypt(TOKEN) != blob  # random IV: equal tokens do not give equal rows


def test_generate_key_is_a_valid_fernet_key() -> None:
    key = TokenCipher.generate_key()
    assert isinstance(key, str) and len(key) == 44
    Fernet(key)  # does not raise
    assert TokenCipher.generate_key() != key


def test_from_setting_encrypts_with_first_decrypts_with_any() -> None:
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    old_only = TokenCipher.from_setting(old)
    both = TokenCipher.from_setting(f" {new} , {old} ")
    assert both.key_count == 2
    assert both.decrypt(old_only.encrypt(TOKEN)) == TOKEN
    new_blob = both.encrypt(TOKEN)
    assert TokenCipher.from_setting(new).decrypt(new_blob) == TOKEN
    with pytest.raises(TokenDecryptError):
        old_only.decrypt(new_blob)


def test_rotate_re_encrypts_with_first_key() -> None:
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    blob = TokenCipher.from_setting(old).encrypt(TOKEN)
    rotated = TokenCipher.from_setting(f"{new},{old}").rotate(blob)
    assert TokenCipher.from_setting(new).decrypt(rotated) == TOKEN


@pytest.mark.parametrize("setting", ["", "   ", None])
def test_empty_setting_is_a_clear_error(setting: str | None) -> None:
    with pytest.raises(InvalidEncryptionKey, match=r"TOKEN_ENCRYPTION_KEY is empty.*gen-key"):
        TokenCipher.from_setting(setting)  # type: ignore[arg-type]


def test_malformed_key_names_its_position_and_never_echoes_key_material() -> None:
    good = TokenCipher.generate_key()
    bad = "not-a-key-SECRETMATERIAL-xyz"
    with pytest.raises(InvalidEncryptionKey) as info:
        TokenCipher.from_setting(f"{good},{bad},{good}")
    message = str(info.value)
    assert "key #2 of 3" in message
    assert bad not in message and "SECRETMATERIAL" not in message and good not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert isinstance(info.value, ValueError)


def test_key_of_wrong_length_and_empty_entries_are_rejected() -> None:
    good = TokenCipher.generate_key()
    with pytest.raises(InvalidEncryptionKey, match="key #1 of 1 is not a valid Fernet key"):
        TokenCipher.from_setting(good[:-4])  # valid base64, wrong length
    with pytest.raises(InvalidEncryptionKey, match="key #2 of 2 is empty"):
        TokenCipher.from_setting(f"{good},")
    with pytest.raises(InvalidEncryptionKey, match="key #1 of 2 is empty"):
        TokenCipher.from_setting(f",{good}")


def test_decrypt_garbage_is_a_clear_error(cipher: TokenCipher) -> None:
    with pytest.raises(TokenDecryptError, match="cannot be decrypted"):
        cipher.decrypt(b"garbage")


def test_repr_and_pickle_never_expose_keys(encryption_key: str) -> None:
    cipher = TokenCipher.from_setting(f"{encryption_key},{TokenCipher.generate_key()}")
    assert repr(cipher) == "<TokenCipher with 2 keys>"
    assert encryption_key not in str(cipher)
    with pytest.raises(TypeError):
        pickle.dumps(cipher)
    with pytest.raises(TypeError):
        copy.deepcopy(cipher)


def test_fingerprints_tell_keys_apart_in_order_and_reveal_nothing() -> None:
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    both = TokenCipher.from_setting(f"{new},{old}")
    assert both.fingerprints == (TokenCipher.from_setting(new).fingerprints[0], TokenCipher([old]).fingerprints[0])
    assert TokenCipher.from_setting(f" {new} , {old} ").fingerprints == both.fingerprints  # stable, spaces aside
    first, second = both.fingerprints
    assert first != second
    assert all(len(f) == 16 and int(f, 16) >= 0 for f in both.fingerprints)
    # an HMAC of a label under the key: neither the key nor a plain hash of it
    for key, fingerprint in ((new, first), (old, second)):
        assert fingerprint not in key
        assert fingerprint not in hashlib.sha256(key.encode()).hexdigest()
        assert fingerprint not in hashlib.sha256(base64.urlsafe_b64decode(key)).hexdigest()
