"""``python -m bot rotate-keys`` as an operator runs it: tokens encrypted with key A still read with
``TOKEN_ENCRYPTION_KEY=B,A``; after the rotation a store with only B reads every one of them."""

from __future__ import annotations

from pathlib import Path

from bot.storage import TokenCipher, open_store
from tests.fixtures.e2e import run_bot
from tests.fixtures.storage import stored_bytes

TOKENS = {1000 + i: f"Ag{i}" + "R0tat3Me+/" * 20 for i in range(3)}


async def undecryptable(url: str, keys: str) -> int:
    store = await open_store(url, TokenCipher.from_setting(keys))
    try:
        return await store.count_undecryptable_tokens()
    finally:
        await store.close()


async def read_all(url: str, keys: str) -> dict[int, str | None]:
    store = await open_store(url, TokenCipher.from_setting(keys))
    try:
        return {user: await store.get_user_token(user) for user in TOKENS}
    finally:
        await store.close()


async def test_rotate_keys_reencrypts_every_row(tmp_path: Path, database_url: str) -> None:
    key_a, key_b = TokenCipher.generate_key(), TokenCipher.generate_key()
    url = database_url
    store = await open_store(url, TokenCipher.from_setting(key_a))
    try:
        for user, token in TOKENS.items():
            await store.link_account(user, token, "us")
    finally:
        await store.close()

    assert await read_all(url, f"{key_b},{key_a}") == TOKENS, "old-key tokens read before rotation"
    assert await undecryptable(url, key_b) == 3, "B alone cannot read A's tokens yet"

    result = run_bot("rotate-keys", env={"TOKEN_ENCRYPTION_KEY": f"{key_b},{key_a}", "DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3" in result.stdout
    for secret in (key_a, key_b, *TOKENS.values()):
        assert secret not in result.stdout + result.stderr

    assert await read_all(url, key_b) == TOKENS
    assert await undecryptable(url, key_b) == 0
    assert await undecryptable(url, key_a) == 3, "A no longer reads anything"
    raw = await stored_bytes(url)
    for token in TOKENS.values():
        assert token.encode() not in raw
