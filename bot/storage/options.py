"""Tuning of the storage engines (placeholder until the storage work lands)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoreOptions:
    token_cache_seconds: float = 60.0
    token_cache_size: int = 10_000
    touch_interval: float = 60.0
    busy_timeout: float = 10.0
    pool_min_size: int = 1
    pool_max_size: int = 10
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
