"""Accounts: CRUD, encryption at rest, unlink leaving no trace, key rotation, stale links."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.storage import (
    Account,
    AccountStatus,
    HoldReason,
    SqliteStore,
    TokenCipher,
    TokenDecryptError,
)
from tests.fixtures.storage import FakeClock, StoreFactory, raw_database_bytes, wal_file_exists

USER = 111_222_333_444_555_666
OTHER = 999_888_777_666_555_444
TOKEN = "MUT-Aq1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ-secret-user-token-0001"
TOKEN2 = "MUT-Zz9Y8x7W6v5U4t3S2r1Q0pOnMlKjIhGfEdCbA-secret-user-token-0002"


def _ciphertext(db_path: Path, user_id: int) -> bytes:
    with closing(sqlite3.connect(db_path)) as conn:
        row = conn.execute("SELECT token_enc FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
    assert row is not None
    return bytes(row[0])


async def test_link_get_replace_and_count(store_factory: StoreFactory, fake_clock: FakeClock) -> None:
    store = await store_factory(clock=fake_clock)
    assert await store.get_account(USER) is None
    assert await store.get_user_token(USER) is None
    assert await store.count_rows("accounts") == 0

    account = await store.link_account(USER, TOKEN, "us")
    assert account == Account(USER, "us", fake_clock.now, fake_clock.now, AccountStatus.ACTIVE, False)
    assert await store.get_account(USER) == account
    assert await store.get_user_token(USER) == TOKEN

    fake_clock.advance(100)
    replaced = await store.link_account(USER, TOKEN2, "gb")
    assert replaced.storefront == "gb" and replaced.linked_at == fake_clock.now
    assert await store.get_account(USER) == replaced
    assert await store.get_user_token(USER) == TOKEN2  # the cached TOKEN was invalidated
    other = await store.link_account(OTHER, TOKEN, "jp")
    assert await store.count_rows("accounts") == 2
    assert await store.get_account(OTHER) == other and other.is_active


async def test_account_survives_restart(store_factory: StoreFactory) -> None:
    first = await store_factory()
    await first.link_account(USER, TOKEN, "us")
    await first.close()
    second = await store_factory()
    assert await second.get_user_token(USER) == TOKEN
    account = await second.get_account(USER)
    assert account is not None and account.storefront == "us"


async def test_link_rejects_empty_token(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="empty"):
        await store.link_account(USER, "", "us")


@pytest.mark.sqlite_only  # raw file bytes; PostgreSQL: test_storage_postgres.py
async def test_token_never_in_database_files_in_clear(store: SqliteStore, db_path: Path) -> None:
    await store.link_account(USER, TOKEN, "us")
    await store.link_account(OTHER, TOKEN2, "us")
    assert await store.get_user_token(USER) == TOKEN
    raw = raw_database_bytes(db_path)
    assert len(raw) > 0 and wal_file_exists(db_path)  # WAL mode really is on
    for secret in (TOKEN, TOKEN2, TOKEN[10:40]):
        assert secret.encode() not in raw
    await store.close()
    raw = raw_database_bytes(db_path)
    assert TOKEN.encode() not in raw and TOKEN2.encode() not in raw
    # ...but the encrypted rows are there (the grep above is not vacuous).
    assert _ciphertext(db_path, USER) in raw_database_bytes(db_path)


async def test_unlink_deletes_everything_and_leaves_no_trace(
    store: SqliteStore, db_path: Path, fake_clock: FakeClock, store_backend: str
) -> None:
    sqlite = store_backend == "sqlite"  # the raw-file checks are SQLite's; the behaviour is every backend's
    now = fake_clock.now
    await store.link_account(USER, TOKEN, "us")
    await store.link_account(OTHER, TOKEN2, "us")
    await store.enqueue(USER, "songs", "1", 1, now)
    await store.enqueue(OTHER, "songs", "1", 1, now)
    await store.create_link_state("nonce-user", USER, now + 600, now=now)
    assert await store.claim_notice(USER, "not-linked", now)
    assert await store.get_user_token(USER) == TOKEN  # now cached in memory
    if sqlite:
        ciphertext = _ciphertext(db_path, USER)
        assert ciphertext in raw_database_bytes(db_path)

    assert await store.unlink(USER) is True
    assert await store.get_account(USER) is None
    assert await store.get_user_token(USER) is None  # cache invalidated
    assert await store.pending_for_user(USER) == []
    assert await store.pending_link(USER, now) is None
    assert await store.claim_notice(USER, "not-linked", now)  # notice history forgotten too
    if sqlite:
        raw = raw_database_bytes(db_path)
        for trace in (ciphertext, ciphertext[40:80], TOKEN.encode()):
            assert trace not in raw
    # The other user is untouched.
    assert await store.get_user_token(OTHER) == TOKEN2
    assert len(await store.pending_for_user(OTHER)) == 1
    assert await store.unlink(USER) is False


async def test_mark_stale_transitions_once_and_holds_outbox(store: SqliteStore, fake_clock: FakeClock) -> None:
    now = fake_clock.now
    assert await store.mark_stale(USER) is False  # no account
    await store.link_account(USER, TOKEN, "us", now=now)
    await store.enqueue(USER, "songs", "1", 1, now, debounce=0)
    assert await store.get_user_token(USER) == TOKEN

    assert await store.mark_stale(USER) is True
    assert await store.mark_stale(USER) is False  # told once
    account = await store.get_account(USER)
    assert account is not None and account.status is AccountStatus.STALE and not account.is_active
    assert await store.get_user_token(USER) is None  # cached token dropped, stale token not handed out
    assert [e.held for e in await store.pending_for_user(USER)] == [HoldReason.STALE]
    assert await store.claim_due("w", now + 5) == []

    assert account.stale_notified is False
    assert await store.mark_stale_notified(USER) is True
    assert await store.mark_stale_notified(USER) is False
    account = await store.get_account(USER)
    assert account is not None and account.stale_notified

    # Linking again makes the account active and the held rating due.
    await store.link_account(USER, TOKEN2, "us", now=now + 10)
    assert await store.get_user_token(USER) == TOKEN2
    claimed = await store.claim_due("w", now + 10)
    assert [(e.user_id, e.item_id, e.held) for e in claimed] == [(USER, "1", None)]


async def test_touch_account_is_throttled(store: SqliteStore, fake_clock: FakeClock) -> None:
    start = fake_clock.now
    await store.link_account(USER, TOKEN, "us", now=start)
    await store.touch_account(USER, now=start + 30)
    account = await store.get_account(USER)
    assert account is not None and account.last_used == start  # within a minute: no write
    await store.touch_account(USER, now=start + 61)
    account = await store.get_account(USER)
    assert account is not None and account.last_used == start + 61
    await store.touch_account(OTHER, now=start)  # unknown user: no error


async def test_rotate_keys_re_encrypts_every_row(store_factory: StoreFactory, tmp_path: Path) -> None:
    path = tmp_path / "rotate.db"
    old_key, new_key = TokenCipher.generate_key(), TokenCipher.generate_key()
    old_store = await store_factory(path, cipher=TokenCipher.from_setting(old_key))
    tokens = {user: f"token-of-{user}-" + "x" * 30 for user in range(1, 21)}
    for user, token in tokens.items():
        await old_store.link_account(user, token, "us")
    await old_store.close()

    # Only the new key: the old rows cannot be read, and the error says so without leaking anything.
    new_only = await store_factory(path, cipher=TokenCipher.from_setting(new_key))
    assert await new_only.count_undecryptable_tokens() == 20
    with pytest.raises(TokenDecryptError, match="user 1 cannot be decrypted") as info:
        await new_only.get_user_token(1)
    assert tokens[1] not in str(info.value) and new_key not in str(info.value)
    with pytest.raises(TokenDecryptError, match="nothing was changed"):
        await new_only.rotate_keys()
    await new_only.close()

    # New key first, old key second: old rows read before rotation; then rotate.
    both = await store_factory(path, cipher=TokenCipher.from_setting(f"{new_key},{old_key}"))
    assert await both.get_user_token(1) == tokens[1]
    await both.link_account(99, "token-written-with-new-key-" + "y" * 20, "us")
    assert await both.rotate_keys() == 21
    await both.close()

    rotated = await store_factory(path, cipher=TokenCipher.from_setting(new_key))
    assert await rotated.count_undecryptable_tokens() == 0
    for user, token in tokens.items():
        assert await rotated.get_user_token(user) == token
    assert await rotated.get_user_token(99) == "token-written-with-new-key-" + "y" * 20


async def test_tokens_and_keys_never_logged_or_in_reprs(
    store: SqliteStore, caplog: pytest.LogCaptureFixture, encryption_key: str, fake_clock: FakeClock
) -> None:
    caplog.set_level(logging.DEBUG)
    now = fake_clock.now
    account = await store.link_account(USER, TOKEN, "us")
    await store.get_user_token(USER)
    entry = await store.enqueue(USER, "songs", "1", 1, now, debounce=0)
    [claimed] = await store.claim_due("w", now)
    await store.retry_later(claimed, now + 1, f"HTTP 403 for token {TOKEN}")
    await store.mark_stale(USER)
    await store.link_account(USER, TOKEN, "us")
    await store.rotate_keys()
    await store.unlink(USER)
    texts = [caplog.text, repr(account), str(account), repr(entry), repr(store)]
    for text in texts:
        assert TOKEN not in text and TOKEN[8:30] not in text and encryption_key not in text
    assert "Unlinked user" in caplog.text  # logging did happen


async def test_retry_error_text_is_redacted_and_short(store: SqliteStore, fake_clock: FakeClock) -> None:
    now = fake_clock.now
    await store.enqueue(USER, "songs", "1", 1, now, debounce=0)
    [entry] = await store.claim_due("w", now)
    assert await store.retry_later(entry, now + 5, f"403 with Music-User-Token {TOKEN} " + "z" * 500)
    [stored] = await store.pending_for_user(USER)
    assert stored.last_error is not None
    assert TOKEN not in stored.last_error and "[redacted]" in stored.last_error
    assert stored.last_error.startswith("403 with Music-User-Token")
    assert len(stored.last_error) <= 200
