"""Links of other music services (Spotify, YouTube, Deezer, Tidal, SoundCloud, Amazon Music) matched to Apple Music.

Never imports ``discord``. :func:`find_music_link` finds a link in a message; :class:`LinkResolver` matches a
:class:`ForeignLink` to an Apple Music item, most trusted method first: the ISRC/UPC the source gives (Spotify Web
API, Deezer API) looked up in Apple's catalog; Odesli (song.link); Apple catalog search by the title and artist of
the source's public page (oEmbed, Open Graph), scored.
"""

from .links import MAX_LINKS_PER_MESSAGE, SERVICES, ForeignLink, find_music_link, find_music_links, parse_foreign_link
from .model import Match, MatchMethod, listen_elsewhere_url
from .resolver import LinkResolver, ResolverConfig

__all__ = [
    "MAX_LINKS_PER_MESSAGE",
    "SERVICES",
    "ForeignLink",
    "LinkResolver",
    "Match",
    "MatchMethod",
    "ResolverConfig",
    "find_music_link",
    "find_music_links",
    "listen_elsewhere_url",
    "parse_foreign_link",
]
