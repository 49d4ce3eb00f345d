"""The playground (issue 21): ``python -m bot playground --port 0`` in its own process, timed from the process start
to the first successful ``GET /`` of the page (answered only once the bot is ready: 503 before), over a few runs.
The target: under 5 s to a usable page."""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


async def one_start(session: aiohttp.ClientSession) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-playground-") as data:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "playground", "--port", "0", "--data", data,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            url = None
            while url is None:
                line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
                if not line:
                    raise RuntimeError("the playground exited before printing its address")
                found = re.search(r"playground ready at (http://\S+)", line)
                url = found.group(1) if found else None
            while True:
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
                await asyncio.sleep(0.02)
        finally:
            proc.terminate()
            await proc.wait()


async def figures(session: aiohttp.ClientSession, quick: bool) -> list[dict[str, Any]]:
    runs = [await one_start(session) for _ in range(1 if quick else 3)]
    median = statistics.median(runs)
    return [
        {
            "group": "playground",
            "kind": "playground",
            "figure": "P",
            "runs_s": runs,
            "median_s": median,
            "target": f"under {TARGET_S:.0f} s from start to a usable page",
            "met": median < TARGET_S,
        }
    ]


def playground_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    runs = ", ".join(f"{r:.2f}" for r in fig["runs_s"])
    note = f"start -> usable page, median of {len(fig['runs_s'])} ({runs} s); target: {fig['target']} -> "
    note += "met" if fig["met"] else "NOT met"
    return [("python -m bot playground", f"{fig['median_s']:.3f}", "", note)]
