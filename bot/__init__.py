"""Apple Music ratings for Discord: like or dislike what your server shares, in your own Apple Music account."""

__version__ = "0.1.0"
