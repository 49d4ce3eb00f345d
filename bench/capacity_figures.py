"""Capacity (issue 17): resident memory and time to ready of one bot process with 100, 1,000 and 2,500 guilds on
one shard, with discord.py's default caches ("today") beside the bot's lean caches ("default",
:func:`bot.app.lean_cache_options`).

The loopback Discord (``python -m loopback.discord``, its own process) serves populated guilds
(``add_populated_guilds``: a few dozen channels in categories, text and voice, about 20 roles, 30 custom emojis,
members in voice, member counts from 5 to 20,000, seeded), all on shard 0: READY lists them unavailable, then one
GUILD_CREATE each, as Discord sends them. The guilds are added between sizes (100, then 900 more, then 1,500 more),
so the larger sizes hold the smaller ones' guilds.

Each run starts a real bot process on one SQLite database (migrated before the first run): "default" is
``python -m bot run``; "today" is ``python -m bench.capacity_today run``, the same ``main`` with discord.py's default
cache options passed to the same ``RatingsBot``. Measured: seconds from the process start to the gateway READY
(the loopback Discord's session, polled through its admin API: late while the loopback is busy sending GUILD_CREATEs)
and to ``on_ready`` (the bot's "ready as ... in N guilds" log line, which comes discord.py's ``guild_ready_timeout``,
2 s, after the last GUILD_CREATE was handled: "every guild in" is ``on_ready`` less 2 s; the run checks N), the
process's VmRSS at ``on_ready`` and its VmHWM (peak resident) then, from ``/proc/<pid>/status``. Discord allows one
IDENTIFY per 5 s: a run starts no sooner than that after the one before, outside the timed window.

The target (issue 17): under 250 MB resident at 2,500 guilds with the default caches. Process sizes -> guilds are
derived from the default runs' per-guild slope (least squares over the sizes measured), not measured.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import bot_figures as bf
from bot.identify import IDENTIFY_INTERVAL

SIZES = (100, 1_000, 2_500)
QUICK_SIZES = (20, 100)
TARGET_MB = 250.0
TARGET_GUILDS = 2_500
#: the process sizes the README's table derives a guild count for (MB)
PROCESS_SIZES_MB = (256, 512, 1024)
TODAY, DEFAULT = "today", "default"
#: discord.py's ``guild_ready_timeout`` (the bot keeps the default): ``on_ready`` comes this long after the last
#: GUILD_CREATE was handled
GUILD_READY_TIMEOUT = 2.0
#: the module each variant runs as ``python -m <module> run``
MODULES = {TODAY: "bench.capacity_today", DEFAULT: "bot"}


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, Python, OS."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        fields = dict(line.split("=", 1) for line in release.read_text().splitlines() if "=" in line)
        os_name = fields.get("PRETTY_NAME", os_name).strip('"')
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{os_name}, Linux {platform.release()}",
    }


def slope_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares ``mb = intercept + slope * guilds``: (intercept MB, slope MB per guild)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0
    return mean_y - slope * mean_x, slope


def guilds_for(process_mb: float, intercept: float, slope: float) -> int:
    """Guilds a process of ``process_mb`` holds at the measured slope (derived, not measured)."""
    return max(0, int((process_mb - intercept) / slope)) if slope > 0 else 0


async def figures(tmp: Path, session: aiohttp.ClientSession, pem: str, key_path: Path, quick: bool) -> list[Any]:
    sizes = QUICK_SIZES if quick else SIZES
    apple = await bf.start_apple(tmp, session, pem)
    runs: list[dict[str, Any]] = []
    try:
        async with bf.discord_process(session) as discord:
            env = bf.bot_env(tmp, discord, apple.base_url, key_path, bf.TEAM, bf.KID)
            await bf.seed_accounts(env["DATABASE_URL"], env["TOKEN_ENCRYPTION_KEY"], 0)  # migrated before any run
            present = 1  # the default world's guild
            last_identify = 0.0
            for size in sizes:
                added = await discord.admin("add_populated_guilds", count=size - present, seed=size)
                present = size
                for variant in (TODAY, DEFAULT):
                    # Discord's identify rate (and the bot's turn, kept in the database): it comes before the clock
                    await asyncio.sleep(max(0.0, last_identify + IDENTIFY_INTERVAL - time.monotonic()))
                    started = time.monotonic()
                    run = await bf.start_to_ready(
                        discord, env, tmp, module=MODULES[variant], ready_timeout=60 + size / 10
                    )
                    last_identify = started + run["ready_s"]
                    if run["guilds"] != size:
                        raise RuntimeError(f"the bot was ready in {run['guilds']} guilds, not {size}")
                    runs.append({"variant": variant, "size": size, "added": added if variant == TODAY else None, **run})
    finally:
        apple.proc.terminate()
        apple.proc.wait(10)
    return [capacity_figure(runs, sizes)]


def capacity_figure(runs: list[dict[str, Any]], sizes: tuple[int, ...]) -> dict[str, Any]:
    default = {r["size"]: r for r in runs if r["variant"] == DEFAULT}
    intercept, slope = slope_fit([(s, default[s]["rss_mb_on_ready"]) for s in sizes])
    at_target = default.get(TARGET_GUILDS)
    return {
        "kind": "capacity",
        "group": "capacity",
        "figure": f"C. one process, {'/'.join(str(s) for s in sizes)} guilds on one shard: start -> ready, memory",
        "machine": machine(),
        "runs": runs,
        "intercept_mb": intercept,
        "mb_per_guild": slope,
        "process_sizes": {str(mb): guilds_for(mb, intercept, slope) for mb in PROCESS_SIZES_MB},
        "target": f"RSS < {TARGET_MB:.0f} MB at {TARGET_GUILDS:,} guilds (default caches)",
        "met": None if at_target is None else at_target["rss_mb_on_ready"] < TARGET_MB,
    }


def capacity_rows(fig: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """One row per run (``seconds`` is start -> on_ready), then the target and the derived process sizes."""
    rows: list[tuple[str, str, str, str]] = []
    today = {r["size"]: r for r in fig["runs"] if r["variant"] == TODAY}
    for r in fig["runs"]:
        note = (
            f"RSS {r['rss_mb_on_ready']:.0f} MB (peak {r['hwm_mb']:.0f} MB); READY seen at {r['ready_s']:.2f}s, "
            f"every guild in at {r['on_ready_s'] - GUILD_READY_TIMEOUT:.2f}s (on_ready less discord.py's "
            f"{GUILD_READY_TIMEOUT:g} s guild wait)"
        )
        if r["variant"] == DEFAULT and r["size"] in today:
            before = today[r["size"]]
            note += f"; RSS default/today {r['rss_mb_on_ready'] / before['rss_mb_on_ready']:.2f}x"
        rows.append((f"{r['size']:,} guilds, {r['variant']}", f"{r['on_ready_s']:.3f}", "", note))
    met = fig["met"]
    rows.append(("target", "", "", f"{fig['target']} -> {'n/a' if met is None else 'met' if met else 'NOT met'}"))
    sizes = ", ".join(f"{mb} MB -> {g:,} guilds" for mb, g in fig["process_sizes"].items())
    rows.append(
        (
            "derived",
            "",
            "",
            f"{fig['mb_per_guild'] * 1024:.0f} KB per guild over {fig['intercept_mb']:.0f} MB: {sizes}",
        )
    )
    m = fig["machine"]
    rows.append(("machine", "", "", f"{m['cores']} cores, {m['cpu']}, {m['python']}, {m['os']}"))
    return rows
