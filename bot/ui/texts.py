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


#: the music services whose links the bot matches to Apple Music, as members know them
SERVICE_NAMES = {
    "spotify": "Spotify",
    "youtube": "YouTube",
    "youtube-music": "YouTube Music",
    "deezer": "Deezer",
    "tidal": "Tidal",
    "soundcloud": "SoundCloud",
    "amazon-music": "Amazon Music",
}


#: the answer "No" to "Is this the song you meant?" leaves
MATCH_DECLINED = {
    "like": "Nothing was rated. Try an Apple Music link, or search for the song by name.",
    "dislike": "Nothing was rated. Try an Apple Music link, or search for the song by name.",
    "clear": "Nothing was changed. Try an Apple Music link, or search for the song by name.",
    "share": "Nothing was shared. Try an Apple Music link, or search for the song by name.",
}


def service_name(service: str) -> str:
    """A music service's name as members know it ("Spotify", "YouTube Music")."""
    return SERVICE_NAMES.get(service, service)


def listen_elsewhere_set(on: bool, changed: bool) -> str:
    """The answer to ``/ratings-admin listen-elsewhere``."""
    if on:
        if changed:
            return "From now on, shared songs in this server carry a “Listen on other services” button."
        return "Shared songs already carry a “Listen on other services” button."
    if changed:
        return "From now on, shared songs in this server have no “Listen on other services” button."
    return "Shared songs already have no “Listen on other services” button."


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


def taste_named_set(on: bool, changed: bool) -> str:
    """The answer to ``/ratings name-me``."""
    if on:
        state = "you are named in this server's tops and recaps (for what you shared) and taste matches are on for you"
        undo = " `/ratings name-me setting:off` stops it at any time."
    else:
        state = "you are not named in this server's tops, recaps or taste matches; your votes still count, unnamed"
        undo = ""
    return (f"From now on, {state}." if changed else f"Already so: {state}.") + undo


def mixtape_joined(server: str, *, new: bool, linked: bool) -> str:
    """``/mixtape join``: joined (or already in), and whether a playlist can be made (it needs a link)."""
    first = f"You joined the weekly mixtape of **{server}**." if new else f"You are already in **{server}**'s mixtape."
    if linked:
        return (
            f"{first} Each week, a playlist of the songs liked most here that week is added to your Apple Music "
            "library. `/mixtape leave` stops it."
        )
    return (
        f"{first} Your Apple Music is not linked yet, so no playlist can be made for you: link it with `/link` and "
        "next week's mixtape is added to your library. `/mixtape leave` stops it."
    )


def mixtape_left(server: str, left: bool) -> str:
    if left:
        return (
            f"You left **{server}**'s mixtape: no more weekly playlists from this server. Playlists already made "
            "stay in your library."
        )
    return f"You are not in **{server}**'s mixtape. `/mixtape join` adds you."
