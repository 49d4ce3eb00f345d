"""The small admin HTTP API both loopback servers expose when they run in their own process (benchmarks)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from aiohttp import web


async def call_admin_op(request: web.Request, op: str, target: object, ops: Collection[str]) -> web.Response:
    """``POST /_admin/<op>`` with a JSON object of keyword arguments calls ``target.<op>(**kwargs)``
    (awaited when it is a coroutine) and answers ``{"result": ...}``, or ``{"error": ...}`` with 4xx."""
    if op not in ops:
        return web.json_response({"error": f"unknown admin op {op[:40]!r}"}, status=404)
    kwargs: Any = {}
    if request.can_read_body:
        try:
            kwargs = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be a JSON object"}, status=400)
    if not isinstance(kwargs, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    try:
        result = getattr(target, op)(**kwargs)
        if asyncio.iscoroutine(result):
            result = await result
    except (TypeError, ValueError, KeyError, LookupError, RuntimeError) as exc:
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
    return web.json_response({"result": result})
