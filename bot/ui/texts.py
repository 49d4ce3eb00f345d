"""Short member-facing sentences the cogs send (embeds are in ``bot.ui.embeds``, errors in ``bot.ui.errors``)."""

from __future__ import annotations

from collections.abc import Collection

DM_HELP = (
    "Hi! To link your Apple Music, run `/link` (here or in a server) and open the page I send you. "
    "`/about` lists what I can do.\n"
    "Can't use the page? As a fallback, if you have your Apple Music code, paste it here right after `/link`."
)

#: ``/account`` after reactions made before linking waited in vain (told once)
RATINGS_EXPIRED = (
    "Some 👍/👎 you gave before linking were not applied: you did not link your Apple Music account in time. "
    "React again now that you are linked (or after `/link`)."
)


def link_sent_by_dm(minutes: int) -> str:
    return f"📬 I sent you a DM with your personal link (valid {minutes} minutes)."


def unlinked(removed: bool, dropped: int = 0) -> str:
    """The answer to ``/unlink``: what was deleted, and how many ratings waiting to be sent were dropped."""
    if dropped:
        ratings = "1 rating" if dropped == 1 else f"{dropped} ratings"
        waited = f" {ratings} waiting to be sent to Apple Music {'was' if dropped == 1 else 'were'} dropped."
    else:
        waited = ""
    if removed:
        return (
            "🗑️ Unlinked. The bot no longer has access to your Apple Music account and sends nothing more to it."
            + waited
        )
    return "You had no Apple Music account linked; there was nothing to delete." + waited


def token_in_channel(deleted: bool) -> str:
    note = "I deleted it. " if deleted else "I could not delete it: please delete it yourself. "
    return (
        "⚠️ You posted what looks like an Apple Music code in a channel: it gives access to your Apple Music. "
        + note
        + "It was not stored. Use `/link` to link your Apple Music privately."
    )


_WAITING_WORDS = {
    "stale": "your Apple Music link needs renewing: run /link",
    "unlinked": "waiting for you to link: run /link",
    "retrying": "Apple Music is busy; retrying",
    "queued": "being sent",
}


def waiting_reasons(reasons: Collection[str]) -> str | None:
    """Why ratings wait, in words (``/account``); None when nothing waits."""
    return "; ".join(_WAITING_WORDS.get(r, r) for r in sorted(reasons)) or None


def channel_added(channel_id: int, added: bool, *, sees_messages: bool) -> str:
    text = f"<#{channel_id}> is {'now' if added else 'already'} a sharing channel."
    if not sees_messages:
        text += (
            "\nNote: the message content intent is off, so I cannot see links in messages yet; "
            "`/share` works anyway. The bot's operator can set `MESSAGE_CONTENT_INTENT=true`."
        )
    return text


def channel_removed(channel_id: int, removed: bool) -> str:
    if removed:
        return f"<#{channel_id}> is no longer a sharing channel."
    return f"<#{channel_id}> was not a sharing channel."


def channel_list(channel_ids: list[int]) -> str:
    if not channel_ids:
        return "No sharing channels yet."
    return "Sharing channels: " + ", ".join(f"<#{c}>" for c in channel_ids)


FORGET_CONFIRM = (
    "⚠️ This deletes everything the bot keeps about you, at once: your Apple Music link, your ratings still on "
    "their way to Apple Music, your link requests and the reminders it sent you. Ratings already in your Apple Music "
    "stay there. `/export` first if you want a copy. Delete everything?"
)
FORGET_CANCELLED = "Nothing was deleted."
NOT_YOUR_BUTTON = "This button belongs to the member who ran the command; run it yourself if you want it."
EXPORT_READY = "📦 Everything the bot keeps about you, as a JSON file (your Apple Music access is never included)."


def forgotten(removed: bool, dropped: int) -> str:
    """The answer once ``/forget-me`` is confirmed."""
    link = "your Apple Music link, " if removed else ""
    ratings = f"{dropped} rating{'' if dropped == 1 else 's'} waiting to be sent, " if dropped else ""
    return f"🗑️ Done: the bot deleted {link}{ratings}and everything else it kept about you. It no longer knows you."


def share_buttons_set(on: bool, changed: bool) -> str:
    """The answer to ``/ratings-admin share-buttons``."""
    state = "have Like and Dislike buttons besides 👍 👎" if on else "have only the 👍 👎 reactions, no buttons"
    return f"From now on, `/share` cards in this server {state}." if changed else f"`/share` cards already {state}."


def recap_set(channel_id: int, weekday: str, hour: int, timezone: str, next_post: float) -> str:
    """The answer to ``/ratings-admin recap set``: when the recap comes, and the first one (as Discord's timestamp,
    which each member reads in their own time)."""
    return (
        f"Every {weekday.capitalize()} at {hour:02d}:00 ({timezone}), I will post the week's most liked songs in "
        f"<#{channel_id}>. The first one comes <t:{int(next_post)}:F>. Members who did not choose to be named are "
        "counted, never named."
    )


def recap_off(was_on: bool) -> str:
    """The answer to ``/ratings-admin recap off``."""
    return "The weekly recap is off: I will not post it any more." if was_on else "The weekly recap was already off."
