"""Developer tokens: ES256 signing, caching, re-signing before expiry, validation at start, key files."""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bot.applemusic import (
    MAX_LIFETIME,
    AppleMusicError,
    DeveloperKeyError,
    DeveloperToken,
    generate_private_key,
    load_private_key,
    public_key_pem,
)
from tests.fixtures.apple import AppleKey

T0 = 1_700_000_000.0


@functools.cache
def _rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_signs_an_es256_jwt_apple_accepts(apple_key: AppleKey) -> None:
    dev = apple_key.developer_token()
    token = dev.token
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == "KEYID12345"
    claims = jwt.decode(token, apple_key.public_pem, algorithms=["ES256"])
    assert claims["iss"] == "TEAMID1234"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert abs(claims["iat"] - time.time()) < 5
    assert "origin" not in claims


def test_signs_once_and_reuses(apple_key: AppleKey) -> None:
    dev = apple_key.developer_token()
    tokens = {dev.token for _ in range(100)}
    assert len(tokens) == 1
    assert dev.sign_count == 1


def test_resigns_shortly_before_expiry_with_a_frozen_clock(apple_key: AppleKey) -> None:
    clock = [T0]
    dev = apple_key.developer_token(lifetime=3600, now=lambda: clock[0])
    first = dev.token
    assert dev.expires_at == T0 + 3600

    clock[0] = T0 + 3000  # 10 minutes left: still well valid
    assert dev.token == first
    assert dev.sign_count == 1

    clock[0] = T0 + 3300  # 5 minutes left: inside the refresh margin (6 minutes for 1 h)
    second = dev.token
    assert second != first
    assert dev.sign_count == 2
    claims = jwt.decode(second, options={"verify_signature": False})
    assert (claims["iat"], claims["exp"]) == (T0 + 3300, T0 + 3300 + 3600)

    # Whatever the time, the token handed out is never about to expire.
    for step in range(0, 48 * 3600, 517):
        clock[0] = T0 + step
        exp = jwt.decode(dev.token, options={"verify_signature": False})["exp"]
        assert exp - clock[0] >= 3600 * 0.1 - 1


def test_long_lifetimes_refresh_at_most_half_an_hour_early(apple_key: AppleKey) -> None:
    clock = [T0]
    dev = apple_key.developer_token(lifetime=timedelta(hours=12), now=lambda: clock[0])
    first = dev.token
    clock[0] = T0 + 12 * 3600 - 1801
    assert dev.token == first
    clock[0] = T0 + 12 * 3600 - 1799
    assert dev.token != first


def test_sign_for_origin_is_fresh_short_and_uncached(apple_key: AppleKey) -> None:
    dev = apple_key.developer_token()
    cached = dev.token
    web = dev.sign_for(origin=["https://bot.example.org"], lifetime=1800)
    claims = jwt.decode(web, apple_key.public_pem, algorithms=["ES256"])
    assert claims["origin"] == ["https://bot.example.org"]
    assert claims["exp"] - claims["iat"] == 1800
    assert dev.token == cached
    assert dev.sign_count == 1
    plain = jwt.decode(dev.sign_for(lifetime=7200), apple_key.public_pem, algorithms=["ES256"])
    assert "origin" not in plain and plain["exp"] - plain["iat"] == 7200


@pytest.mark.parametrize("origin", [[], "https://a.example", ["ftp://a.example"], ["not a url"], [""]])
def test_sign_for_refuses_bad_origins(apple_key: AppleKey, origin: object) -> None:
    with pytest.raises(ValueError, match="origin"):
        apple_key.developer_token().sign_for(origin=origin)  # type: ignore[arg-type]


def test_describe_returns_header_and_claims_never_the_key(apple_key: AppleKey) -> None:
    dev = apple_key.developer_token()
    header, claims = dev.describe()
    assert header["kid"] == "KEYID12345" and header["alg"] == "ES256"
    assert claims["iss"] == "TEAMID1234" and claims["exp"] > claims["iat"]
    text = repr((header, claims))
    assert "PRIVATE" not in text and apple_key.pem.splitlines()[1] not in text
    assert dev.token not in text


def test_repr_shows_neither_key_nor_token(apple_key: AppleKey) -> None:
    dev = apple_key.developer_token()
    token = dev.token
    for text in (repr(dev), str(dev)):
        assert "TEAMID1234" in text
        assert token not in text
        assert "PRIVATE" not in text
        for line in apple_key.pem.splitlines()[1:-1]:
            assert line not in text
    assert not hasattr(dev, "__dict__")  # slots: no stray attribute holds the PEM


def test_the_pem_text_is_not_kept(apple_key: AppleKey) -> None:
    dev = apple_key.developer_token()
    for name in DeveloperToken.__slots__:
        value = getattr(dev, name, None)
        assert not (isinstance(value, str) and "PRIVATE KEY" in value)


@pytest.mark.parametrize(
    ("team_id", "key_id"),
    [
        ("TEAMID123", "KEYID12345"),
        ("TEAMID12345", "KEYID12345"),
        ("TEAMID1234", "KEYID1234"),
        ("TEAMID1234", "keyid12345"),
        ("TEAMID1234", "KEYID 1234"),
        ("", "KEYID12345"),
    ],
)
def test_ids_must_be_ten_characters(apple_key: AppleKey, team_id: str, key_id: str) -> None:
    with pytest.raises(DeveloperKeyError, match="10 characters"):
        DeveloperToken(team_id, key_id, apple_key.pem)


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n\u00e9\u00e9\n-----END PRIVATE KEY-----\n",
    ],
)
def test_malformed_keys_fail_at_start(pem: str) -> None:
    with pytest.raises(DeveloperKeyError, match="private key") as caught:
        DeveloperToken("TEAMID1234", "KEYID12345", pem)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AppleMusicError)


def test_keys_that_are_not_p256_fail_at_start() -> None:
    p384 = _pem(ec.generate_private_key(ec.SECP384R1()))
    small_rsa = _rsa_pem()
    for pem in (p384, small_rsa):
        with pytest.raises(DeveloperKeyError, match="P-256") as caught:
            DeveloperToken("TEAMID1234", "KEYID12345", pem)
        for line in pem.splitlines()[1:-1]:
            assert line not in str(caught.value)


@pytest.mark.parametrize("lifetime", [0, -5, 30, MAX_LIFETIME + 1, 180 * 86400, 15_777_000, timedelta(days=365)])
def test_lifetime_is_capped_well_under_180_days(apple_key: AppleKey, lifetime: float | timedelta) -> None:
    with pytest.raises(DeveloperKeyError, match="lifetime"):
        apple_key.developer_token(lifetime=lifetime)
    with pytest.raises(DeveloperKeyError, match="lifetime"):
        apple_key.developer_token().sign_for(lifetime=lifetime)


def test_max_lifetime_is_accepted(apple_key: AppleKey) -> None:
    assert MAX_LIFETIME < 15_777_000 * 0.6
    claims = jwt.decode(apple_key.developer_token(lifetime=MAX_LIFETIME).token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == MAX_LIFETIME


def test_load_private_key_reads_a_p8_file(apple_key: AppleKey, tmp_path: Path) -> None:
    path = apple_key.write(tmp_path / "AuthKey_KEYID12345.p8")
    assert load_private_key(path) == apple_key.pem
    assert load_private_key(str(path)) == apple_key.pem


def test_load_private_key_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DeveloperKeyError, match="not found") as missing:
        load_private_key(tmp_path / "nope.p8")
    assert "nope.p8" in str(missing.value)
    with pytest.raises(DeveloperKeyError, match="directory"):
        load_private_key(tmp_path)
    garbage = tmp_path / "garbage.p8"
    garbage.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DeveloperKeyError, match="not a text"):
        load_private_key(garbage)
    malformed = tmp_path / "malformed.p8"
    malformed.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(DeveloperKeyError, match="malformed"):
        load_private_key(malformed)
    rsa_file = tmp_path / "rsa.p8"
    rsa_file.write_text(_rsa_pem())
    with pytest.raises(DeveloperKeyError, match="P-256"):
        load_private_key(rsa_file)


def test_generated_keys_round_trip() -> None:
    pem = generate_private_key()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    token = DeveloperToken("TEAMID1234", "KEYID12345", pem).token
    assert jwt.decode(token, public_key_pem(pem), algorithms=["ES256"])["iss"] == "TEAMID1234"
