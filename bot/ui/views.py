"""Buttons. They are ``DynamicItem``s: their ``custom_id`` carries what they act on, so they keep working after
a restart, and they act for whoever presses them.

A press is handed to the cogs as a bot event (``on_rating_button``, ``on_link_button``, ``on_page_button``)
so that this module only renders, and the cogs decide.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import discord

from bot.applemusic import ResourceType

RATING_ACTIONS = ("like", "dislike", "clear")
_TYPES = "|".join(re.escape(t.value) for t in ResourceType)


class RatingButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"rating:(?P<action>like|dislike|clear):(?P<type>{_TYPES}):(?P<id>[A-Za-z0-9._-]{{1,64}})",
):
    """Like / Dislike / Clear for one item: ``rating:like:songs:1440857781``."""

    STYLE: ClassVar[dict[str, discord.ButtonStyle]] = {
        "like": discord.ButtonStyle.success,
        "dislike": discord.ButtonStyle.danger,
        "clear": discord.ButtonStyle.secondary,
    }
    LABEL: ClassVar[dict[str, str]] = {"like": "Like", "dislike": "Dislike", "clear": "Clear"}
    EMOJI: ClassVar[dict[str, str]] = {"like": "👍", "dislike": "👎", "clear": "✖️"}

    def __init__(self, action: str, rtype: ResourceType, item_id: str, *, row: int | None = None) -> None:
        self.action = action
        self.rtype = rtype
        self.item_id = item_id
        super().__init__(
            discord.ui.Button(
                style=self.STYLE[action],
                label=self.LABEL[action],
                emoji=self.EMOJI[action],
                custom_id=f"rating:{action}:{rtype.value}:{item_id}",
                row=row,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RatingButton:
        return cls(match["action"], ResourceType(match["type"]), match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        interaction.client.dispatch("rating_button", interaction, self.action, self.rtype, self.item_id)


class LinkButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"link:start"):
    """Starts the link flow for whoever presses it."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                label="Link Apple Music",
                emoji="🔗",
                custom_id="link:start",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> LinkButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        interaction.client.dispatch("link_button", interaction)


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"page:(?P<type>{_TYPES}):(?P<id>[A-Za-z0-9._-]{{1,64}}):(?P<page>\d{{1,4}}):(?P<dir>prev|next)",
):
    """Previous / next page of a track list: ``page:albums:1613600183:2:next`` (the page to show)."""

    def __init__(self, rtype: ResourceType, item_id: str, page: int, direction: str, *, disabled: bool = False) -> None:
        self.rtype = rtype
        self.item_id = item_id
        self.page = page
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label="Previous" if direction == "prev" else "Next",
                emoji="◀️" if direction == "prev" else "▶️",
                custom_id=f"page:{rtype.value}:{item_id}:{page}:{direction}",
                disabled=disabled,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(ResourceType(match["type"]), match["id"], int(match["page"]), match["dir"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        interaction.client.dispatch("page_button", interaction, self.rtype, self.item_id, self.page)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (RatingButton, LinkButton, PageButton)


def link_button_view() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(LinkButton())
    return view


def rating_view(rtype: ResourceType, item_id: str, *, actions: tuple[str, ...] = RATING_ACTIONS) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(RatingButton(action, rtype, item_id))
    return view


def multi_rating_view(items: list[tuple[ResourceType, str]]) -> discord.ui.View:
    """One row of Like / Dislike / Clear per item (at most five items: Discord's five rows)."""
    view = discord.ui.View(timeout=None)
    for row, (rtype, item_id) in enumerate(items[:5]):
        for action in RATING_ACTIONS:
            view.add_item(RatingButton(action, rtype, item_id, row=row))
    return view


def pager_view(rtype: ResourceType, item_id: str, page: int, pages: int) -> discord.ui.View | None:
    if pages <= 1:
        return None
    page = min(max(page, 0), pages - 1)
    view = discord.ui.View(timeout=None)
    # a disabled button still needs a valid custom_id: it names the page it would show, clamped
    view.add_item(PageButton(rtype, item_id, max(page - 1, 0), "prev", disabled=page <= 0))
    view.add_item(PageButton(rtype, item_id, min(page + 1, pages - 1), "next", disabled=page >= pages - 1))
    return view
