"""``python -m loopback.discord``: the loopback Discord in its own process (see :mod:`.admin`)."""

from __future__ import annotations

import argparse

from loopback.discord.admin import DiscordAdmin
from loopback.discord.server import LoopbackDiscord
from loopback.process import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loopback.discord", description="Loopback Discord (REST + gateway) for benchmarks"
    )
    parser.add_argument("--bot-token", default="loopback-bot-token")
    parser.add_argument("--admin-host", default="127.0.0.1")
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--interaction-deadline", type=float, default=3.0)
    args = parser.parse_args(argv)
    admin = DiscordAdmin(LoopbackDiscord(bot_token=args.bot_token, interaction_deadline=args.interaction_deadline))
    run(lambda: admin.start(args.admin_host, args.admin_port), admin.close)


if __name__ == "__main__":
    main()
