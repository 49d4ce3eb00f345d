"""Loopback stand-ins of the services the bot talks to, shipped with the project: a Discord (gateway, REST,
interactions, OAuth2), Apple's Music API (catalog, ratings, library playlists), Apple's MusicKit sign-in, and the
music services whose links are matched (Odesli, Spotify, Deezer, oEmbed pages, short links).

They follow the services' public documentation, never the bot's needs. The tests, the benchmarks, the README
pictures (``docs/shots``) and ``python -m bot playground`` all run the real bot against them; nothing here is used by
the bot itself (``bot/`` never imports this package).
"""
